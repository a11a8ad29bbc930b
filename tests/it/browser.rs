//! The sign-in pages in a real headless Chromium, driven over WebDriver (chromedriver), with the
//! relying party where real ones live: on another origin (its own listener, another port), so
//! the pages' CSP meets the redirect to the app as it does in the world. An administrator and a
//! plain member go through login, tenant choice, approval and consent; the app receives its
//! code by query, fragment and form_post and redeems it with the openidconnect crate; prompt,
//! max_age, RP-initiated logout, a single-page app calling token and userinfo with `fetch`
//! (CORS), the pages in Norwegian for `ui_locales=nb`, and a person of a federated domain
//! signing in at their organisation's provider (another Gatehouse, on `localhost`), which their
//! administrator connected and proved by DNS on the tenant page. Each page is saved as a
//! screenshot under `target/browser-screenshots/`.

use crate::harness::browser::Driver;
use crate::harness::rp::{param, relying_party, response_params, Rp};

use serde_json::{json, Value};

mod signin_in_chromium {
    use super::*;
    use crate::harness::signin::{world, PASSWORD};
    use crate::harness::{Backend, TestServer};
    use gatehouse::apps::{Access, NewApp, Template, UriKind};
    use gatehouse::secret::Secret;

    async fn log_in(driver: &Driver, email: &str) {
        driver.expect_title("Sign in · Gatehouse").await;
        driver.clear("#email").await;
        driver.type_into("#email", email).await;
        driver.type_into("#password", PASSWORD).await;
        driver.click_and_wait("button[type=submit]").await;
    }

    const CTX: &str = "http://schemes.superoffice.net/identity/ctx";

    /// Chromium is heavy on two cores: one browser and one server for the whole story, on
    /// SQLite only (the HTTP-level sign-in tests run on both backends).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn people_sign_in_to_an_app_on_another_origin_in_chromium() {
        let Some(driver) = Driver::start().await else { return };
        let srv = TestServer::start_with(Backend::Sqlite, &crate::harness::fake_dns::env()).await.unwrap();
        let w = world(&srv).await;
        let spa_id = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let rp = relying_party(srv.base.clone(), spa_id.clone()).await;
        assert_ne!(rp.origin, srv.base);
        let reg = &srv.state.registry;
        let callback = rp.url("/cb");
        reg.add_uri(&w.client_id, UriKind::Redirect, &callback, "test").await.unwrap();
        reg.add_uri(&w.client_id, UriKind::PostLogout, &rp.url("/bye"), "test").await.unwrap();
        let app = Rp::discover(&srv.base, &w.client_id, &w.secret, &callback).await;

        // 1. A tenant administrator, first time: login → approval → consent → the app (query).
        let a = app.attempt(&[]);
        driver.goto(&a.url).await;
        driver.screenshot("signin-1-login").await;
        log_in(&driver, "admin@example.com").await;
        driver.expect_title("Approve this app for your tenant · Gatehouse").await;
        driver.screenshot("signin-2-approve").await;
        driver.click_and_wait("button[value=approve]").await;
        driver.expect_title("Allow access? · Gatehouse").await;
        driver.screenshot("signin-3-consent").await;
        driver.click("button[value=allow]").await;
        let landed = driver.wait_for_url(&callback).await;
        driver.screenshot("signin-4-back-at-the-app").await;
        assert_eq!(driver.title().await, "RP callback", "the redirect to another origin is not blocked");
        let params = rp.last("/cb");
        assert_eq!(param(&params, "iss").as_deref(), Some(srv.base.as_str()), "RFC 9207 ({landed})");
        let (claims, id_token) = app.redeem(a, &params).await;
        assert_eq!(claims[CTX], "Cust1");

        // 2. Signed in and consented: fragment and form_post arrive without any page of ours.
        let a = app.attempt(&[("response_mode", "fragment")]);
        driver.goto(&a.url).await;
        let landed = driver.wait_for_url(&format!("{callback}#")).await;
        app.redeem(a, &response_params(&landed)).await;
        let a = app.attempt(&[("response_mode", "form_post")]);
        let before = rp.inbox.lock().unwrap().len();
        driver.goto(&a.url).await;
        driver.expect_title("RP callback").await;
        let (method, _, _) = rp.inbox.lock().unwrap()[before].clone();
        assert_eq!(method, "POST", "form_post posts to the app's origin");
        app.redeem(a, &rp.last("/cb")).await;

        // 3. prompt=none answers at once; prompt=login and an exceeded max_age show the login page.
        let a = app.attempt(&[("prompt", "none")]);
        driver.goto(&a.url).await;
        driver.wait_for_url(&callback).await;
        app.redeem(a, &rp.last("/cb")).await;
        // Within the same second as the last login: still the login page (OIDC Core §3.1.2.1).
        let a = app.attempt(&[("prompt", "login")]);
        driver.goto(&a.url).await;
        log_in(&driver, "admin@example.com").await;
        driver.wait_for_url(&callback).await;
        app.redeem(a, &rp.last("/cb")).await;
        srv.clock.advance(120);
        let a = app.attempt(&[("max_age", "60")]);
        driver.goto(&a.url).await;
        log_in(&driver, "admin@example.com").await;
        driver.wait_for_url(&callback).await;
        let (claims, _) = app.redeem(a, &rp.last("/cb")).await;
        assert!(srv.clock.now() - claims["auth_time"].as_i64().unwrap() < 60, "auth_time is fresh: {claims}");
        // max_age=0 is prompt=login, even in the second of the last login.
        let a = app.attempt(&[("max_age", "0")]);
        driver.goto(&a.url).await;
        log_in(&driver, "admin@example.com").await;
        driver.wait_for_url(&callback).await;
        app.redeem(a, &rp.last("/cb")).await;

        // 4. A single-page app (public client, PKCE) on the RP's origin calls token and
        //    userinfo with fetch: CORS for its registered origin.
        let partner = reg.get(&w.client_id).await.unwrap().partner_id;
        let spa = crate::harness::signin::public_client(&srv, &partner, "Acme SPA", &rp.url("/spa-cb")).await;
        reg.add_uri(&spa.client_id, UriKind::Cors, &rp.origin, "test").await.unwrap();
        *spa_id.lock().unwrap() = spa.client_id.clone();
        driver.goto(&rp.url("/spa")).await;
        driver.expect_title("Approve this app for your tenant · Gatehouse").await;
        driver.click_and_wait("button[value=approve]").await;
        driver.expect_title("Allow access? · Gatehouse").await;
        driver.click("button[value=allow]").await;
        driver.expect_title("SPA done").await;
        let shown = driver.execute("return document.body.textContent").await;
        let shown: Value = serde_json::from_str(shown.as_str().unwrap()).unwrap();
        assert_eq!(shown, json!({"refresh": true, "id_token": true, "email": "admin@example.com"}));
        driver.screenshot("signin-5-spa").await;

        // 5. RP-initiated logout back to the app; afterwards prompt=none needs a login.
        let logout = format!(
            "{}?id_token_hint={id_token}&post_logout_redirect_uri={}&state=bye1",
            srv.url("/logout"),
            form_urlencoded::byte_serialize(rp.url("/bye").as_bytes()).collect::<String>()
        );
        driver.goto(&logout).await;
        driver.wait_for_url(&rp.url("/bye")).await;
        assert_eq!(param(&rp.last("/bye"), "state").as_deref(), Some("bye1"));
        let a = app.attempt(&[("prompt", "none")]);
        driver.goto(&a.url).await;
        driver.wait_for_url(&callback).await;
        assert_eq!(param(&rp.last("/cb"), "error").as_deref(), Some("login_required"));

        // 6. A plain member: the approved app after consent; an app the tenant never approved
        //    is access_denied (only an administrator may approve).
        let dir = &srv.state.directory;
        dir.add_user("bob@example.com", Some("Bob Member"), "Cust1", false, Secret::new(PASSWORD.into()), "test")
            .await
            .unwrap();
        let a = app.attempt(&[]);
        driver.goto(&a.url).await;
        log_in(&driver, "bob@example.com").await;
        driver.expect_title("Allow access? · Gatehouse").await;
        driver.click("button[value=allow]").await;
        driver.wait_for_url(&callback).await;
        let (claims, _) = app.redeem(a, &rp.last("/cb")).await;
        assert_eq!(claims["http://schemes.superoffice.net/identity/is_administrator"], "False");
        let other = reg
            .create(
                NewApp {
                    partner_id: partner.clone(),
                    name: "Not approved".into(),
                    template: Template::Web,
                    redirect_uris: vec![callback.clone()],
                    access: Access::Private,
                    technical_contact: None,
                    justification: None,
                },
                "test",
            )
            .await
            .unwrap();
        let unapproved = Rp {
            metadata: app.metadata.clone(),
            client_id: other.app.client_id.clone(),
            secret: other.client_secret.unwrap().secret.expose().clone(),
            redirect: callback.clone(),
        };
        driver.goto(&unapproved.attempt(&[]).url).await;
        driver.wait_for_url(&callback).await;
        assert_eq!(param(&rp.last("/cb"), "error").as_deref(), Some("access_denied"));

        // 7. A person in two tenants chooses one, approves for it as its administrator, and
        //    the ID token names the tenant chosen.
        driver.goto(&srv.url("/healthz")).await;
        driver.delete_cookies().await;
        dir.add_tenant("Cust2", "Customer Two", None, Some(&partner), "test").await.unwrap();
        dir.add_user("carol@example.com", None, "Cust1", false, Secret::new(PASSWORD.into()), "test").await.unwrap();
        dir.add_user("carol@example.com", None, "Cust2", true, Secret::new(PASSWORD.into()), "test").await.unwrap();
        let a = app.attempt(&[]);
        driver.goto(&a.url).await;
        log_in(&driver, "carol@example.com").await;
        driver.expect_title("Choose a tenant · Gatehouse").await;
        driver.screenshot("signin-6-tenant-choice").await;
        driver.click("input[value=Cust2]").await;
        driver.click_and_wait("button[type=submit]").await;
        driver.expect_title("Approve this app for your tenant · Gatehouse").await;
        driver.click_and_wait("button[value=approve]").await;
        driver.expect_title("Allow access? · Gatehouse").await;
        driver.click("button[value=allow]").await;
        driver.wait_for_url(&callback).await;
        let (claims, _) = app.redeem(a, &rp.last("/cb")).await;
        assert_eq!(claims[CTX], "Cust2");

        // 8. ui_locales (OIDC Core §3.1.2.1): a person whose app asks for Norwegian gets the
        //    login and consent pages in Bokmål, marked as such for screen readers.
        driver.goto(&srv.url("/healthz")).await;
        driver.delete_cookies().await;
        dir.add_user("erik@example.com", Some("Erik Nordmann"), "Cust1", false, Secret::new(PASSWORD.into()), "test")
            .await
            .unwrap();
        let a = app.attempt(&[("ui_locales", "nb-NO en")]);
        driver.goto(&a.url).await;
        driver.expect_title("Logg inn · Gatehouse").await;
        assert_eq!(driver.execute("return document.documentElement.lang").await, "nb");
        driver.screenshot("signin-7-norwegian-login").await;
        driver.type_into("#email", "erik@example.com").await;
        driver.type_into("#password", PASSWORD).await;
        driver.click_and_wait("button[type=submit]").await;
        driver.expect_title("Gi tilgang? · Gatehouse").await;
        let consent = driver.execute("return document.body.textContent").await;
        assert!(consent.as_str().unwrap().contains("se e-postadressen din"), "{consent}");
        driver.click("button[value=allow]").await;
        driver.wait_for_url(&callback).await;
        app.redeem(a, &rp.last("/cb")).await;

        // 9. Federation: Cust1's people of corp.example sign in at their organisation's
        //    provider. The address alone on our page; the provider's own login and consent
        //    (its CSP, its redirect back to our origin); then ours; the app gets amr fed.
        driver.goto(&srv.url("/healthz")).await;
        driver.delete_cookies().await;
        //    Their administrator connects the provider on the tenant page and proves the
        //    domain by DNS first.
        let up = crate::federation::upstream(&srv).await;
        driver.goto(&srv.url("/portal")).await;
        driver.type_into("#email", "admin@example.com").await;
        driver.type_into("#password", PASSWORD).await;
        driver.click_and_wait("button[type=submit]").await;
        driver.goto(&srv.url("/admin/tenant?ctx=Cust1")).await;
        driver.type_into("#idp-issuer", &up.srv.base).await;
        driver.type_into("#idp-client-id", &up.client_id).await;
        driver.type_into("#idp-client-secret", &up.secret).await;
        driver.type_into("#idp-domains", "corp.example").await;
        driver.click_and_wait("button[value=idp-add]").await;
        let page = driver.source().await;
        assert!(page.contains("corp.example: waiting for its DNS record"), "{page}");
        driver.screenshot("signin-9-tenant-connects-a-provider").await;
        let providers = srv.state.upstreams.list("Cust1").await.unwrap();
        let claim = &providers[0].pending[0];
        let (name, text) = gatehouse::federation::domains::txt_record(&claim.domain, &claim.token);
        assert!(page.contains(&text), "the page shows the record to publish");
        crate::harness::fake_dns::publish(&name, &[&text]);
        driver.click_and_wait("button[value=idp-prove]").await;
        assert!(driver.source().await.contains("corp.example (proven)"));
        driver.delete_cookies().await;
        let a = app.attempt(&[]);
        driver.goto(&a.url).await;
        driver.expect_title("Sign in · Gatehouse").await;
        driver.type_into("#email", "pat@corp.example").await;
        driver.click("button[type=submit]").await;
        driver.wait_for_url(&up.srv.base).await;
        driver.expect_title("Sign in · Gatehouse").await;
        assert_eq!(driver.value("#email").await, "pat@corp.example", "login_hint reaches the provider");
        driver.screenshot("signin-8-at-the-upstream").await;
        driver.type_into("#password", PASSWORD).await;
        driver.click_and_wait("button[type=submit]").await;
        driver.expect_title("Allow access? · Gatehouse").await;
        driver.click("button[value=allow]").await;
        driver.wait_for_url(&srv.url("/signin")).await;
        driver.expect_title("Allow access? · Gatehouse").await;
        driver.click("button[value=allow]").await;
        driver.wait_for_url(&callback).await;
        let (claims, _) = app.redeem(a, &rp.last("/cb")).await;
        assert_eq!(claims["amr"], json!(["fed"]));
        assert_eq!(claims[CTX], "Cust1");
    }
}
