//! The Developer Portal in headless Chromium: a developer walks the Create App wizard for every
//! template, rotates a secret, uploads each certificate format and a malformed one, enters a
//! bad redirect URL, and a tenant administrator approves and revokes. Every step is checked in
//! the database through the domain API; every page is saved under `target/browser-screenshots/`.

use gatehouse::apps::Template;

use crate::harness::browser::Driver;
use crate::harness::portal::{portal_world, PASSWORD};
use crate::harness::{Backend, TestServer};

const SUFFIX: &str = " · Gatehouse";

async fn expect(driver: &Driver, title: &str) {
    driver.expect_title(&format!("{title}{SUFFIX}")).await;
}

/// Chromium is heavy on two cores: this runs on SQLite only (the pages are the same on both;
/// the HTTP-level portal tests run on both backends).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_developer_registers_and_manages_apps_and_an_administrator_approves_in_chromium() {
    let Some(driver) = Driver::start().await else { return };
    let srv = TestServer::start(Backend::Sqlite).await.unwrap();
    let w = portal_world(&srv).await;
    let reg = &srv.state.registry;

    driver.goto(&srv.url("/portal")).await;
    expect(&driver, "Sign in to the Developer Portal").await;
    driver.screenshot("portal-1-login").await;
    driver.type_into("#email", "dev@example.com").await;
    driver.type_into("#password", PASSWORD).await;
    driver.click_and_wait("button[type=submit]").await;
    expect(&driver, "Your apps").await;

    let mut web_client_id = String::new();
    for t in Template::ALL {
        let shots = *t == Template::Web;
        driver.goto(&srv.url("/portal/apps/new")).await;
        expect(&driver, "New app: template").await;
        if shots {
            driver.screenshot("portal-2-wizard-template").await;
        }
        driver.click(&format!("#template-{}", t.as_str())).await;
        driver.click_and_wait("button[value=next]").await;
        expect(&driver, "New app: name").await;
        let name = format!("Acme {}", t.as_str());
        driver.type_into("#name", &name).await;
        driver.click_and_wait("button[value=next]").await;
        expect(&driver, "New app: redirect urls").await;
        let redirect = match t {
            Template::Native => {
                assert_eq!(
                    driver.value("#redirect_uri_0").await,
                    "http://127.0.0.1/callback",
                    "the loopback rule is proposed"
                );
                Some("http://127.0.0.1/callback")
            }
            Template::Web => {
                driver.type_into("#redirect_uri_0", "https://app.example.com/callback").await;
                // "Add another URL" keeps what was typed and adds a field.
                driver.click_and_wait("button[value=add]").await;
                expect(&driver, "New app: redirect urls").await;
                assert_eq!(driver.value("#redirect_uri_0").await, "https://app.example.com/callback");
                driver.type_into("#redirect_uri_1", "https://app.example.com/other#fragment").await;
                driver.click_and_wait("button[value=next]").await;
                expect(&driver, "New app: redirect urls").await;
                assert!(driver.source().await.contains("fragment"), "the error is shown");
                driver.screenshot("portal-3-wizard-bad-url").await;
                driver.clear("#redirect_uri_1").await;
                Some("https://app.example.com/callback")
            }
            _ => None,
        };
        driver.click_and_wait("button[value=next]").await;
        expect(&driver, "New app: integration points").await;
        if shots {
            driver.screenshot("portal-4-wizard-integration-points").await;
        }
        driver.type_into("#justification", "We sync orders with the SOAP API.").await;
        driver.click_and_wait("button[value=next]").await;
        expect(&driver, "New app: technical contact").await;
        driver.click_and_wait("button[value=next]").await;
        expect(&driver, "New app: review").await;
        driver.click_and_wait("button[value=next]").await;
        expect(&driver, "Your app is ready").await;
        driver.screenshot(&format!("portal-5-created-{}", t.as_str())).await;
        let client_id = driver.value("#client-id").await;
        let app = reg.get(&client_id).await.unwrap();
        assert_eq!((app.name.as_str(), app.template), (name.as_str(), *t));
        assert_eq!(app.redirect_uris, redirect.map(|r| vec![r.to_string()]).unwrap_or_default());
        if *t == Template::Native {
            assert!(reg.secrets(&client_id).await.unwrap().is_empty());
        } else {
            let secret = driver.value("#client-secret").await;
            assert!(reg.verify_secret(&client_id, &secret).await.unwrap(), "the secret shown once works");
        }
        if shots {
            web_client_id = client_id;
        }
    }
    assert_eq!(reg.list(Some(&w.partner)).await.unwrap().len(), Template::ALL.len());

    // The app page: rotate the secret.
    let app_url = srv.url(&format!("/portal/apps/{web_client_id}"));
    driver.goto(&app_url).await;
    expect(&driver, "Acme web").await;
    driver.screenshot("portal-6-app-page").await;
    driver.click_and_wait("form[action$='/secret-new'] button[type=submit]").await;
    expect(&driver, "New client secret").await;
    let second = driver.value("#client-secret").await;
    assert!(reg.verify_secret(&web_client_id, &second).await.unwrap());
    // The secret the wizard showed is the one that does not end like the new one.
    let first = reg.secrets(&web_client_id).await.unwrap().into_iter().find(|s| !second.ends_with(&s.hint)).unwrap();
    driver.goto(&app_url).await;
    driver.click_and_wait(&format!("form[action$='/secret-revoke'] input[value='{}'] ~ button", first.id)).await;
    expect(&driver, "Acme web").await;
    let secrets = reg.secrets(&web_client_id).await.unwrap();
    assert_eq!(secrets.iter().filter(|s| s.active).count(), 1, "the old secret is revoked");
    assert!(reg.verify_secret(&web_client_id, &second).await.unwrap());

    // Certificates: PEM certificate and PEM public key as files, a JWK and RSA XML pasted, then a malformed one.
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/certs");
    for file in ["app-cert.pem", "ec-p256-public.pem"] {
        driver.type_into("#cert-file", fixtures.join(file).to_str().unwrap()).await;
        driver.click_and_wait("form[enctype] button[type=submit]").await;
        expect(&driver, "Acme web").await;
        assert!(driver.source().await.contains("The certificate was added."), "{file}");
    }
    let jwk = gatehouse::jose::certificate::generate_rsa().unwrap().0.to_jwk();
    let other = gatehouse::jose::certificate::generate_rsa().unwrap().0.to_jwk();
    let std_b64 = |s: &str| {
        let raw = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, s).unwrap();
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, raw)
    };
    let xml = format!(
        "<RSAKeyValue><Modulus>{}</Modulus><Exponent>{}</Exponent></RSAKeyValue>",
        std_b64(other["n"].as_str().unwrap()),
        std_b64(other["e"].as_str().unwrap())
    );
    for pasted in [jwk.to_string(), xml] {
        driver.type_into("#cert-pasted", &pasted).await;
        driver.click_and_wait("form[enctype] button[type=submit]").await;
        expect(&driver, "Acme web").await;
        assert!(driver.source().await.contains("The certificate was added."));
    }
    assert_eq!(reg.certificates(&web_client_id).await.unwrap().len(), 4);
    driver
        .type_into("#cert-pasted", "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n")
        .await;
    driver.click_and_wait("form[enctype] button[type=submit]").await;
    expect(&driver, "Acme web").await;
    let source = driver.source().await;
    assert!(source.contains("id=\"cert-error\""), "the error is beside the upload form");
    driver.screenshot("portal-7-bad-certificate").await;
    assert_eq!(reg.certificates(&web_client_id).await.unwrap().len(), 4, "nothing stored");

    // A bad redirect URL on the app page.
    driver.type_into("#uri-redirect", "http://app.example.com/insecure").await;
    driver.click_and_wait("form[action$='/uri-add'] input[value=redirect] ~ button").await;
    expect(&driver, "Acme web").await;
    assert!(driver.source().await.contains("id=\"uri-redirect-error\""));
    assert_eq!(reg.get(&web_client_id).await.unwrap().redirect_uris, vec!["https://app.example.com/callback"]);

    // A webhook added with the form: its signing secret shown once, then removed.
    driver.goto(&srv.url(&format!("/portal/apps/{web_client_id}"))).await;
    driver.type_into("#webhook-url", "https://hooks.example.com/gatehouse").await;
    driver.click_and_wait("form[action$='/webhook-add'] button").await;
    expect(&driver, "New webhook").await;
    assert!(driver.value("#webhook-secret").await.starts_with("whsec_"));
    driver.screenshot("portal-7b-webhook-secret").await;
    driver.goto(&srv.url(&format!("/portal/apps/{web_client_id}"))).await;
    assert_eq!(reg.webhooks(&web_client_id).await.unwrap().len(), 1);
    driver.click_and_wait("form[action$='/webhook-remove'] button").await;
    assert!(driver.source().await.contains("The webhook was removed"));
    assert!(reg.webhooks(&web_client_id).await.unwrap().is_empty());

    // The tenant administrator (the same person here) approves, then revokes.
    let app = reg.get(&web_client_id).await.unwrap();
    let tenant = srv.state.directory.tenant("Cust1").await.unwrap();
    srv.state.store.record_app_request(&app.id, &tenant.id, srv.clock.now()).await.unwrap();
    driver.goto(&srv.url("/admin/tenant")).await;
    expect(&driver, "Customer One (Cust1)").await;
    driver.screenshot("portal-8-tenant-admin").await;
    driver.click_and_wait("button[value=approve]").await;
    expect(&driver, "Customer One (Cust1)").await;
    assert!(srv.state.approvals.admits(&app, &tenant).await.unwrap());
    driver.click_and_wait("button[value=revoke]").await;
    expect(&driver, "Customer One (Cust1)").await;
    assert_eq!(srv.state.store.authorization_status(&app.id, &tenant.id).await.unwrap().as_deref(), Some("revoked"));
    driver.screenshot("portal-9-tenant-admin-revoked").await;
}
