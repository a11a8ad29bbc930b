//! People in headless Chromium (issue 18), with the relying party on another origin and mail
//! through a real SMTP server: a tenant administrator invites someone on the tenant page; the
//! invitee follows the mailed link, chooses a password, and signs in to the app, whose
//! openidconnect client verifies an ID token with `email_verified: true`; the app asks for a
//! second factor (`acr_values`) and they set up TOTP, and `max_age=0` asks for the password
//! and a code again; they forget the password, reset it from the login page's link and sign
//! in with the new one (and the code); the
//! administrator disables them on the tenant page, and their refresh token and access token
//! stop working. Pages are saved under `target/browser-screenshots/`.

use crate::harness::browser::Driver;
use crate::harness::mail::MailSink;
use crate::harness::rp::{relying_party, Rp};
use crate::harness::signin::{introspect, refresh, totp_code, world, World, PASSWORD};
use crate::harness::{Backend, TestServer};
use gatehouse::apps::UriKind;
use gatehouse::tenants::factors::{ACR_MFA, ACR_PASSWORD};

const SUFFIX: &str = " · Gatehouse";
const NINA: &str = "nina@example.com";
const NEW_PASSWORD: &str = "nina's second passphrase";

async fn expect(driver: &Driver, title: &str) {
    driver.expect_title(&format!("{title}{SUFFIX}")).await;
}

async fn log_in(driver: &Driver, email: &str, password: &str) {
    driver.type_into("#email", email).await;
    driver.type_into("#password", password).await;
    driver.click_and_wait("button[type=submit]").await;
}

/// Chromium is heavy on two cores: one browser and one server (SQLite) for the whole story; the
/// same steps run over HTTP on both databases in `people.rs`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invited_person_joins_signs_in_resets_and_is_offboarded_in_chromium() {
    let Some(driver) = Driver::start().await else { return };
    let Some(sink) = MailSink::start() else { return };
    let url = sink.url();
    // The product's second-factor default (administrators), not the fixtures' `off`.
    let env = [
        ("GATEHOUSE_SMTP_URL", url.as_str()),
        ("GATEHOUSE_OUTBOUND_ALLOW_PRIVATE_NETWORKS", "true"),
        ("GATEHOUSE_DEFAULT_MFA_POLICY", "admins"),
    ];
    let srv = TestServer::start_with(Backend::Sqlite, &env).await.unwrap();
    let w: World = world(&srv).await;
    let rp = relying_party(srv.base.clone(), Default::default()).await;
    assert_ne!(rp.origin, srv.base);
    let callback = rp.url("/cb");
    srv.state.registry.add_uri(&w.client_id, UriKind::Redirect, &callback, "test").await.unwrap();
    let app = Rp::discover(&srv.base, &w.client_id, &w.secret, &callback).await;
    let registered = srv.state.registry.get(&w.client_id).await.unwrap();
    srv.state.approvals.approve("Cust1", &registered, None, "test").await.unwrap();

    // 1. The tenant administrator invites Nina on the tenant page.
    driver.goto(&srv.url("/admin/tenant")).await;
    expect(&driver, "Sign in to the Developer Portal").await;
    log_in(&driver, "admin@example.com", PASSWORD).await;
    // The default policy: an administrator sets up a second factor before the tenant page.
    expect(&driver, "Set up a second factor").await;
    let ada_secret = driver.value("#secret").await;
    driver.type_into("#code", &totp_code(&srv, &ada_secret, 0)).await;
    driver.click_and_wait("button[type=submit]").await;
    expect(&driver, "Save your recovery codes").await;
    driver.click_and_wait("#continue").await;
    expect(&driver, "Customer One (Cust1)").await;
    driver.type_into("#invite-email", NINA).await;
    driver.click_and_wait("button[value=invite]").await;
    expect(&driver, "Customer One (Cust1)").await;
    assert!(driver.source().await.contains("The invitation is on its way"));
    driver.screenshot("people-1-invited").await;
    driver.delete_cookies().await;

    // 2. Nina follows the mailed link and chooses a password; she is in the tenant.
    let mail = sink.wait_for(NINA, 1).await;
    assert!(mail.text.contains("Ada Admin (admin@example.com) invites you to Customer One (Cust1)"), "{}", mail.text);
    driver.goto(&mail.link()).await;
    expect(&driver, "Accept your invitation").await;
    driver.screenshot("people-2-accept").await;
    driver.type_into("#name", "Nina Newcomer").await;
    driver.type_into("#password", PASSWORD).await;
    driver.type_into("#password2", PASSWORD).await;
    driver.click_and_wait("button[type=submit]").await;
    expect(&driver, "Welcome").await;
    driver.screenshot("people-3-welcome").await;

    // 3. She signs in to the app on its own origin (already signed in: consent only).
    let a = app.attempt(&[]);
    driver.goto(&a.url).await;
    expect(&driver, "Allow access?").await;
    driver.click("button[value=allow]").await;
    driver.wait_for_url(&callback).await;
    let (claims, _) = app.redeem(a, &rp.last("/cb")).await;
    assert_eq!(claims["email"], NINA);
    assert_eq!(claims["email_verified"], true, "the invitation went to her address: {claims}");
    assert_eq!(claims["acr"], ACR_PASSWORD, "a member needs no second factor under the default policy");

    // 3b. The app asks for a second factor (acr_values): she sets up TOTP with the code an
    //     authenticator app would show; the ID token says so. Then max_age=0: the password and
    //     a fresh code again.
    let a = app.attempt(&[("acr_values", ACR_MFA)]);
    driver.goto(&a.url).await;
    expect(&driver, "Set up a second factor").await;
    driver.screenshot("people-3b-second-factor").await;
    let secret = driver.value("#secret").await;
    driver.type_into("#code", &totp_code(&srv, &secret, 0)).await;
    driver.click_and_wait("button[type=submit]").await;
    expect(&driver, "Save your recovery codes").await;
    driver.screenshot("people-3c-recovery-codes").await;
    driver.click("button[type=submit]").await;
    driver.wait_for_url(&callback).await;
    let (claims, _) = app.redeem(a, &rp.last("/cb")).await;
    assert_eq!(
        (claims["acr"].as_str(), claims["amr"].clone()),
        (Some(ACR_MFA), serde_json::json!(["pwd", "otp", "mfa"]))
    );
    srv.clock.advance(30);
    let a = app.attempt(&[("max_age", "0")]);
    driver.goto(&a.url).await;
    expect(&driver, "Sign in").await;
    log_in(&driver, NINA, PASSWORD).await;
    expect(&driver, "Enter your code").await;
    driver.type_into("#code", &totp_code(&srv, &secret, 0)).await;
    driver.click("button[type=submit]").await;
    driver.wait_for_url(&callback).await;
    assert_eq!(app.redeem(a, &rp.last("/cb")).await.0["acr"], ACR_MFA);

    // 4. In a fresh browser she has forgotten the password: the login page's link, a mail,
    //    a new password, and a sign-in with it.
    driver.delete_cookies().await;
    let a = app.attempt(&[("prompt", "login")]);
    driver.goto(&a.url).await;
    expect(&driver, "Sign in").await;
    driver.click_and_wait("a[href='/account/reset']").await;
    expect(&driver, "Forgot your password?").await;
    driver.type_into("#email", NINA).await;
    driver.click_and_wait("button[type=submit]").await;
    expect(&driver, "Check your mail").await;
    let mail = sink.wait_for_subject(NINA, "Reset your password").await;
    driver.goto(&mail.link()).await;
    expect(&driver, "Choose a new password").await;
    driver.type_into("#password", NEW_PASSWORD).await;
    driver.type_into("#password2", NEW_PASSWORD).await;
    driver.click_and_wait("button[type=submit]").await;
    expect(&driver, "Your password is changed").await;
    driver.screenshot("people-4-reset").await;
    srv.clock.advance(30);
    let a = app.attempt(&[]);
    driver.goto(&a.url).await;
    expect(&driver, "Sign in").await;
    log_in(&driver, NINA, NEW_PASSWORD).await;
    expect(&driver, "Enter your code").await;
    driver.type_into("#code", &totp_code(&srv, &secret, 0)).await;
    driver.click("button[type=submit]").await;
    driver.wait_for_url(&callback).await;
    let (_, _) = app.redeem(a, &rp.last("/cb")).await;
    // Security notices: a sign-in from a browser she had not used, and Ada's new factor.
    let notice = sink.wait_for_subject(NINA, "New sign-in to your account").await;
    assert!(notice.text.contains("/account"), "{}", notice.text);
    sink.wait_for_subject("admin@example.com", "Your second factor changed").await;

    // 5. A last sign-in with offline access, then the administrator disables her on the
    //    tenant page: her refresh token and access token stop working at once.
    let a = app.attempt(&[("scope", "offline_access"), ("prompt", "consent")]);
    driver.goto(&a.url).await;
    expect(&driver, "Allow access?").await;
    driver.click("button[value=allow]").await;
    driver.wait_for_url(&callback).await;
    let got = app.redeem_all(a, &rp.last("/cb")).await;
    let refresh_token = got.refresh_token.expect("a refresh token for offline_access");
    let access_token = got.access_token;
    assert_eq!(introspect(&srv.base, &w, &access_token, None).await["active"], true);

    driver.delete_cookies().await;
    driver.goto(&srv.url("/admin/tenant")).await;
    expect(&driver, "Sign in to the Developer Portal").await;
    log_in(&driver, "admin@example.com", PASSWORD).await;
    expect(&driver, "Enter your code").await;
    driver.type_into("#code", &totp_code(&srv, &ada_secret, 1)).await;
    driver.click_and_wait("button[type=submit]").await;
    expect(&driver, "Customer One (Cust1)").await;
    driver.click_and_wait(&format!("button[aria-label='Disable: {NINA}']")).await;
    expect(&driver, "Customer One (Cust1)").await;
    driver.screenshot("people-5-disabled").await;
    assert!(srv.state.directory.user(NINA).await.unwrap().disabled_at.is_some());
    let (status, body) = refresh(&srv.base, &w, &refresh_token).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    // RFC 7662 §2.2: a token that is no longer valid is `{"active": false}`.
    assert_eq!(introspect(&srv.base, &w, &access_token, None).await, serde_json::json!({"active": false}));
}
