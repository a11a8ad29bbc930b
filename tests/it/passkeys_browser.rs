//! Passkeys in headless Chromium (issue 18) with its virtual authenticator (WebDriver's
//! WebAuthn extension), Gatehouse at `http://localhost:<port>` (browsers refuse an IP address as
//! a WebAuthn RP ID) and the app on another origin, whose openidconnect client verifies every
//! ID token. The tenant administrator, asked for a second factor by the default policy, makes
//! a passkey at the portal's set-up page; in a fresh browser session they sign in to the app
//! with the passkey alone, approve the app for the tenant and consent (`amr`
//! ["hwk","user","mfa"]); `max_age=0` asks for the password and then the passkey. A plain
//! member, stepped up by the app's `acr_values`, makes a passkey during the sign-in
//! (`amr` ["pwd","hwk","mfa"]). A person invited by mail makes their account with a
//! passkey instead of a password. Pages are saved under `target/browser-screenshots/`.

use crate::harness::browser::Driver;
use crate::harness::rp::{relying_party, Rp};
use crate::harness::signin::{world, World, PASSWORD};
use crate::harness::{Backend, TestServer, LOCALHOST};
use gatehouse::apps::UriKind;
use gatehouse::secret::Secret;
use gatehouse::tenants::factors::ACR_MFA;

const SUFFIX: &str = " · Gatehouse";
const ADMIN: &str = "admin@example.com";
const MEMBER: &str = "mo@example.com";
const NEWCOMER: &str = "nia@example.com";

async fn expect(driver: &Driver, title: &str) {
    driver.expect_title(&format!("{title}{SUFFIX}")).await;
}

async fn log_in(driver: &Driver, email: &str) {
    driver.type_into("#email", email).await;
    driver.type_into("#password", PASSWORD).await;
    driver.click_and_wait("button[type=submit]").await;
}

/// One browser and one server (SQLite) for the story; the same checks, and the refusals, run
/// over HTTP on both databases in `passkeys.rs`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_and_a_member_make_and_use_passkeys_in_chromium() {
    let Some(driver) = Driver::start().await else { return };
    let env = [
        ("GATEHOUSE_ISSUER", LOCALHOST),
        ("GATEHOUSE_OUTBOUND_ALLOW_PRIVATE_NETWORKS", "true"),
        ("GATEHOUSE_DEFAULT_MFA_POLICY", "admins"),
    ];
    let srv = TestServer::start_with(Backend::Sqlite, &env).await.unwrap();
    assert!(srv.base.starts_with("http://localhost:"), "{}", srv.base);
    let w: World = world(&srv).await;
    srv.state
        .directory
        .add_user(MEMBER, Some("Mo Member"), "Cust1", false, Secret::new(PASSWORD.into()), "test")
        .await
        .unwrap();
    let rp = relying_party(srv.base.clone(), Default::default()).await;
    assert!(!rp.origin.contains("localhost"), "the app lives on another origin: {}", rp.origin);
    let callback = rp.url("/cb");
    srv.state.registry.add_uri(&w.client_id, UriKind::Redirect, &callback, "test").await.unwrap();
    let app = Rp::discover(&srv.base, &w.client_id, &w.secret, &callback).await;
    let authenticator = driver.add_virtual_authenticator().await;

    // 1. The administrator opens their account; the policy asks for a second factor first,
    //    and they make a passkey instead of using an authenticator app.
    driver.goto(&srv.url("/account")).await;
    expect(&driver, "Sign in to the Developer Portal").await;
    log_in(&driver, ADMIN).await;
    expect(&driver, "Set up a second factor").await;
    driver.screenshot("passkeys-1-set-up").await;
    driver.click_and_wait("#passkey").await;
    expect(&driver, "Your account").await;
    assert!(driver.source().await.contains("<td>Passkey</td>"), "the account page lists the passkey");
    driver.screenshot("passkeys-2-account").await;
    let held = driver.passkeys(&authenticator).await;
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0]["rpId"], "localhost");
    assert_eq!(held[0]["isResidentCredential"], true, "a discoverable passkey");
    driver.delete_cookies().await;

    // 2. A new session: the app sends them to us; the passkey alone signs them in. As the
    //    tenant's administrator they approve the app, then consent.
    let a = app.attempt(&[]);
    driver.goto(&a.url).await;
    expect(&driver, "Sign in").await;
    driver.click_and_wait("#with-passkey").await;
    expect(&driver, "Sign in with a passkey").await;
    driver.screenshot("passkeys-3-sign-in").await;
    driver.click_and_wait("#passkey").await;
    expect(&driver, "Approve this app for your tenant").await;
    driver.click_and_wait("button[value=approve]").await;
    expect(&driver, "Allow access?").await;
    driver.click("button[value=allow]").await;
    driver.wait_for_url(&callback).await;
    let (claims, _) = app.redeem(a, &rp.last("/cb")).await;
    assert_eq!(claims["email"], ADMIN);
    assert_eq!(claims["amr"], serde_json::json!(["hwk", "user", "mfa"]), "{claims}");
    assert_eq!(claims["acr"], ACR_MFA);

    // 3. max_age=0: a new sign-in, this time with the password, and the passkey as the second
    //    factor (the authenticator is asked for this person's passkeys only).
    srv.clock.advance(30);
    let a = app.attempt(&[("max_age", "0")]);
    driver.goto(&a.url).await;
    expect(&driver, "Sign in").await;
    log_in(&driver, ADMIN).await;
    expect(&driver, "Use your passkey").await;
    driver.screenshot("passkeys-4-second-factor").await;
    driver.click("#passkey").await;
    driver.wait_for_url(&callback).await;
    let (claims, _) = app.redeem(a, &rp.last("/cb")).await;
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "hwk", "mfa"]), "{claims}");
    // Cookies are deleted for the page's own host: back to ours first.
    driver.goto(&srv.url("/")).await;
    driver.delete_cookies().await;

    // 4. A plain member: the app asks for a second factor (acr_values); they have none, and
    //    make a passkey on the set-up page of the sign-in.
    let a = app.attempt(&[("acr_values", ACR_MFA)]);
    driver.goto(&a.url).await;
    expect(&driver, "Sign in").await;
    log_in(&driver, MEMBER).await;
    expect(&driver, "Set up a second factor").await;
    driver.screenshot("passkeys-5-member-set-up").await;
    driver.click_and_wait("#passkey").await;
    expect(&driver, "Allow access?").await;
    driver.click("button[value=allow]").await;
    driver.wait_for_url(&callback).await;
    let (claims, _) = app.redeem(a, &rp.last("/cb")).await;
    assert_eq!(claims["email"], MEMBER);
    assert_eq!(
        (claims["acr"].as_str(), claims["amr"].clone()),
        (Some(ACR_MFA), serde_json::json!(["pwd", "hwk", "mfa"]))
    );
    assert_eq!(driver.passkeys(&authenticator).await.len(), 2, "the member's passkey is in the authenticator too");

    // 5. A new person, invited by mail, makes their account with a passkey and no password.
    driver.goto(&srv.url("/")).await;
    driver.delete_cookies().await;
    let sent = srv.state.people.invite_to_tenant("Cust1", NEWCOMER, false, "test").await.unwrap();
    driver.goto(&sent.link).await;
    expect(&driver, "Accept your invitation").await;
    driver.type_into("#passkey-name", "Nia New").await;
    driver.screenshot("passkeys-6-invitation").await;
    driver.click_and_wait("#passkey").await;
    expect(&driver, "Welcome").await;
    let user = srv.state.directory.user(NEWCOMER).await.unwrap();
    assert_eq!((user.name.as_str(), user.email_verified), ("Nia New", true));
    let held = driver.passkeys(&authenticator).await;
    // WebDriver gives the user handle in base64url (WebAuthn §11.6); either alphabet is read.
    let handle = |p: &serde_json::Value| {
        let text = p["userHandle"].as_str().unwrap_or("").trim_end_matches('=').replace('+', "-").replace('/', "_");
        gatehouse::crypto::b64url_decode(&text).unwrap_or_default()
    };
    assert!(held.iter().any(|p| handle(p) == user.id.as_bytes()), "the passkey is the new account's: {held:?}");
}
