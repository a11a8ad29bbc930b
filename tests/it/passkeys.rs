//! Passkeys (issue 18) over HTTP on both databases, with a software authenticator answering
//! the options each page carries: a person adds a passkey on the account page and signs in to
//! an app with it alone (`amr` ["hwk","user","mfa"], `acr` mfa: RFC 8176 §2, OIDC Core §2); a
//! member steps up with theirs after a password when the app asks (`acr_values`), `amr`
//! ["pwd","hwk","mfa"]; and every wrong answer is refused with the page and 400: the same
//! answer twice (a challenge is answered once), another origin (WebAuthn §7.2 step 9),
//! another person's passkey as a second factor, a user handle that is not the passkey's
//! owner (§7.2 step 6), a counter that went back (§7.2 step 21, a cloned authenticator), a
//! disabled person, and a removed passkey. A new person invited by mail makes their account
//! with a passkey instead of a password, and a passkey made for another origin makes none.

use serde_json::Value;

use crate::harness::authenticator::{options_on, Authenticator};
use crate::harness::signin::{authorize_url, hidden, redeem, world, Browser, World, PASSWORD};
use crate::harness::TestServer;
use gatehouse::secret::Secret;
use gatehouse::tenants::factors::ACR_MFA;

const ADMIN: &str = "admin@example.com";
const MEMBER: &str = "member@example.com";

/// A browser where `email` signed in to the portal (for the account page).
async fn signed_in(srv: &TestServer, email: &str) -> Browser {
    let mut browser = Browser::new();
    let page = browser.get(&srv.url("/portal/login?next=/account")).await.text().await.unwrap();
    let csrf = hidden(&page, "csrf").unwrap();
    let form = [("csrf", csrf.as_str()), ("next", "/account"), ("email", email), ("password", PASSWORD)];
    let res = browser.post(&srv.url("/portal/login"), &form).await;
    assert_eq!(res.headers()["location"], "/account");
    browser
}

/// Adds a passkey from `authenticator` on the account page; returns the page after.
async fn add_passkey(srv: &TestServer, browser: &mut Browser, authenticator: &mut Authenticator, name: &str) -> String {
    let page = browser.get(&srv.url("/account")).await.text().await.unwrap();
    let options = options_on(&page);
    assert_eq!(options["authenticatorSelection"]["userVerification"], "required", "{options}");
    assert_eq!(options["authenticatorSelection"]["residentKey"], "required", "{options}");
    let credential = authenticator.create(&options);
    let csrf = hidden(&page, "csrf").unwrap();
    let form = [("csrf", csrf.as_str()), ("action", "add_passkey"), ("name", name), ("credential", &credential)];
    let res = browser.post(&srv.url("/account"), &form).await;
    assert_eq!(res.headers().get("location").map(|l| l.to_str().unwrap()), Some("/account?done=add_passkey"));
    browser.get(&srv.url("/account?done=add_passkey")).await.text().await.unwrap()
}

/// The page a step of the sign-in shows, with its form's pending request and CSRF token.
struct Step {
    html: String,
    request: String,
    csrf: String,
}

async fn step(browser: &mut Browser, srv: &TestServer, url: &str) -> Step {
    let html = browser.get(url).await.text().await.unwrap();
    let request = hidden(&html, "request").unwrap_or_else(|| panic!("no sign-in form: {html}"));
    let csrf = hidden(&html, "csrf").unwrap();
    let _ = srv;
    Step { html, request, csrf }
}

/// Posts a passkey answer to the sign-in; the status and where it leads (or the page).
async fn answer(srv: &TestServer, browser: &mut Browser, at: &Step, action: &str, credential: &str) -> (u16, String) {
    let form =
        [("request", at.request.as_str()), ("csrf", at.csrf.as_str()), ("action", action), ("credential", credential)];
    let res = browser.post(&srv.url("/signin"), &form).await;
    let status = res.status().as_u16();
    match res.headers().get("location") {
        Some(l) => (status, l.to_str().unwrap().to_string()),
        None => (status, res.text().await.unwrap()),
    }
}

/// Follows the pages after a passkey step (consent) to the app; the ID token's claims.
async fn finish(srv: &TestServer, browser: &mut Browser, w: &World, location: &str) -> Value {
    let result = browser.sign_in(srv, &srv.url(location), "unused@example.com").await;
    let code = result.iter().find(|(k, _)| k == "code").map(|(_, v)| v.clone()).unwrap_or_else(|| panic!("{result:?}"));
    let (status, tokens) = redeem(&srv.base, w, &code).await;
    assert_eq!(status, 200, "{tokens}");
    let payload = tokens["id_token"].as_str().unwrap().split('.').nth(1).unwrap().to_string();
    serde_json::from_slice(&gatehouse::crypto::b64url_decode(&payload).unwrap()).unwrap()
}

/// The passkey-only sign-in page of a new authorization request.
async fn passkey_login_page(srv: &TestServer, browser: &mut Browser, w: &World) -> Step {
    let res = browser.get(&authorize_url(srv, w, &[])).await;
    let location = res.headers()["location"].to_str().unwrap().to_string();
    let login = browser.get(&srv.url(&location)).await.text().await.unwrap();
    assert!(login.contains("with=passkey"), "the login page offers a passkey: {login}");
    step(browser, srv, &srv.url(&format!("{location}&with=passkey"))).await
}

both_backends!(
    async fn a_passkey_signs_in_alone_once_per_answer_and_only_from_our_origin(srv) {
        let w = world(&srv).await;
        let mut authenticator = Authenticator::new(&srv.base);
        let page = add_passkey(&srv, &mut signed_in(&srv, ADMIN).await, &mut authenticator, "Laptop").await;
        assert!(page.contains("Laptop") && page.contains("The passkey is added"), "{page}");

        // Alone: no email, no password; the ID token says how (RFC 8176).
        let mut browser = Browser::new();
        let at = passkey_login_page(&srv, &mut browser, &w).await;
        let options = options_on(&at.html);
        assert_eq!(options["userVerification"], "required", "alone it must be two factors: {options}");
        assert_eq!(options["allowCredentials"], serde_json::json!([]), "any discoverable passkey: {options}");
        let credential = authenticator.get(&options);
        let (status, location) = answer(&srv, &mut browser, &at, "passkey_login", &credential).await;
        assert_eq!((status, location.starts_with("/signin?request=")), (303, true), "{location}");
        let claims = finish(&srv, &mut browser, &w, &location).await;
        assert!(claims["sub"].is_string(), "{claims}");
        assert_eq!(claims["amr"], serde_json::json!(["hwk", "user", "mfa"]), "{claims}");
        assert_eq!(claims["acr"], ACR_MFA, "{claims}");

        // The same answer again: its challenge was answered already.
        let mut replayer = Browser::new();
        let at = passkey_login_page(&srv, &mut replayer, &w).await;
        let (status, page) = answer(&srv, &mut replayer, &at, "passkey_login", &credential).await;
        assert_eq!(status, 400, "{page}");
        assert!(page.contains("That passkey could not be used"), "{page}");

        // An answer made for another origin (a phishing site relaying our challenge).
        let at = passkey_login_page(&srv, &mut replayer, &w).await;
        let mut phished = authenticator.clone_key();
        phished.origin = "https://gatehouse.example.net".into();
        let (status, _) = answer(&srv, &mut replayer, &at, "passkey_login", &phished.get(&options_on(&at.html))).await;
        assert_eq!(status, 400, "another origin is refused");

        // A counter that went back: a cloned authenticator.
        let at = passkey_login_page(&srv, &mut replayer, &w).await;
        let mut clone = authenticator.clone_key();
        clone.counter = 0;
        let (status, _) = answer(&srv, &mut replayer, &at, "passkey_login", &clone.get(&options_on(&at.html))).await;
        assert_eq!(status, 400, "a counter that did not move up is refused");

        // The right authenticator still works (each refusal used up only its own ceremony).
        let at = passkey_login_page(&srv, &mut replayer, &w).await;
        let (status, _) = answer(&srv, &mut replayer, &at, "passkey_login", &authenticator.get(&options_on(&at.html))).await;
        assert_eq!(status, 303);

        // A disabled person's passkey signs in no more.
        srv.state.directory.disable_user(ADMIN, "test").await.unwrap();
        let mut late = Browser::new();
        let at = passkey_login_page(&srv, &mut late, &w).await;
        let (status, _) = answer(&srv, &mut late, &at, "passkey_login", &authenticator.get(&options_on(&at.html))).await;
        assert_eq!(status, 400, "a disabled person is refused");
    }
);

both_backends!(
    async fn a_passkey_is_the_second_factor_of_its_owner_only_and_can_be_removed(srv) {
        let w = world(&srv).await;
        let dir = &srv.state.directory;
        let app = srv.state.registry.get(&w.client_id).await.unwrap();
        srv.state.approvals.approve("Cust1", &app, None, "test").await.unwrap();
        dir.add_user(MEMBER, Some("Mo Member"), "Cust1", false, Secret::new(PASSWORD.into()), "test").await.unwrap();
        let mut admins = Authenticator::new(&srv.base);
        add_passkey(&srv, &mut signed_in(&srv, ADMIN).await, &mut admins, "Admin's key").await;
        let mut members = Authenticator::new(&srv.base);
        let mut member_browser = signed_in(&srv, MEMBER).await;
        add_passkey(&srv, &mut member_browser, &mut members, "Phone").await;

        // The member signs in with the password; having a passkey, they are asked for it.
        let mut browser = Browser::new();
        let res = browser.get(&authorize_url(&srv, &w, &[("acr_values", ACR_MFA)])).await;
        let location = res.headers()["location"].to_str().unwrap().to_string();
        let login = step(&mut browser, &srv, &srv.url(&location)).await;
        let form = [("request", login.request.as_str()), ("csrf", login.csrf.as_str()), ("action", "login"), ("email", MEMBER), ("password", PASSWORD)];
        browser.post(&srv.url("/signin"), &form).await;
        let at = step(&mut browser, &srv, &srv.url(&location)).await;
        assert!(at.html.contains("Use your passkey"), "{}", at.html);
        let options = options_on(&at.html);
        let member_id = srv.state.store.user_by_email(MEMBER).await.unwrap().unwrap().id;
        let allowed: Vec<&str> = options["allowCredentials"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
        assert_eq!(allowed, [gatehouse::crypto::b64url(&members.credential_id)], "only the member's own passkeys");

        // Another person's passkey (the administrator's, with its own valid signature) is refused.
        let (status, page) = answer(&srv, &mut browser, &at, "passkey", &admins.get(&options)).await;
        assert_eq!(status, 400, "{page}");
        // So is the member's own passkey speaking for someone else (a user handle not its owner's).
        let at = step(&mut browser, &srv, &srv.url(&location)).await;
        let mut impostor = members.clone_key();
        impostor.user_handle = member_id.as_bytes().to_vec();
        impostor.user_handle[0] ^= 1;
        let at_options = options_on(&at.html);
        let (status, _) = answer(&srv, &mut browser, &at, "passkey_login", &impostor.get(&at_options)).await;
        assert_eq!(status, 400, "a user handle that is not the passkey's owner is refused");

        // The member's own passkey: the ID token says password and hardware key.
        let at = step(&mut browser, &srv, &srv.url(&location)).await;
        let (status, next) = answer(&srv, &mut browser, &at, "passkey", &members.get(&options_on(&at.html))).await;
        assert_eq!(status, 303, "{next}");
        let claims = finish(&srv, &mut browser, &w, &next).await;
        assert_eq!(claims["amr"], serde_json::json!(["pwd", "hwk", "mfa"]), "{claims}");
        assert_eq!(claims["acr"], ACR_MFA);

        // Removed on the account page, the passkey signs in no more.
        let page = member_browser.get(&srv.url("/account")).await.text().await.unwrap();
        let id = gatehouse::crypto::b64url(&members.credential_id);
        let csrf = hidden(&page, "csrf").unwrap();
        let res = member_browser.post(&srv.url("/account"), &[("csrf", csrf.as_str()), ("action", "remove_passkey"), ("passkey", &id)]).await;
        assert_eq!(res.headers()["location"], "/account?done=remove_passkey");
        let res = member_browser.post(&srv.url("/account"), &[("csrf", csrf.as_str()), ("action", "remove_passkey"), ("passkey", &id)]).await;
        assert_eq!(res.status(), 400, "removing it twice says it is gone");
        let mut later = Browser::new();
        let at = passkey_login_page(&srv, &mut later, &w).await;
        let (status, _) = answer(&srv, &mut later, &at, "passkey_login", &members.get(&options_on(&at.html))).await;
        assert_eq!(status, 400, "a removed passkey is refused");
        let events = srv.state.store.audit_trail(&member_id, 20).await.unwrap();
        let actions: Vec<&str> = events.iter().map(|e| e.action.as_ref()).collect();
        assert!(actions.contains(&"user.second_factor_added") && actions.contains(&"user.second_factor_removed"), "{actions:?}");
    }
);

both_backends!(
    async fn an_invitation_is_accepted_with_a_passkey_instead_of_a_password(srv) {
        let w = world(&srv).await;
        let app = srv.state.registry.get(&w.client_id).await.unwrap();
        srv.state.approvals.approve("Cust1", &app, None, "test").await.unwrap();
        let sent = srv.state.people.invite_to_tenant("Cust1", "keyholder@example.com", false, "test").await.unwrap();
        let token = sent.link.split("token=").nth(1).unwrap().to_string();
        let mut browser = Browser::new();
        let mut authenticator = Authenticator::new(&srv.base);

        // A made-up answer is refused on the page, and the link stays usable.
        let page = browser.get(&sent.link).await.text().await.unwrap();
        let options = options_on(&page);
        assert_eq!(options["authenticatorSelection"]["residentKey"], "required", "{options}");
        assert_eq!(options["user"]["name"], "keyholder@example.com", "{options}");
        let mut stranger = Authenticator::new("https://gatehouse.example.net");
        let forged = stranger.create(&options);
        let form = [("token", token.as_str()), ("action", "passkey"), ("name", "Kim Key"), ("credential", forged.as_str())];
        let res = browser.post(&srv.url("/account/invitation"), &form).await;
        assert_eq!(res.status(), 400, "a passkey made for another origin is refused");
        assert!(srv.state.store.user_by_email("keyholder@example.com").await.unwrap().is_none(), "no account yet");

        // The real one: the account is made, the person is signed in by the passkey.
        let page = browser.get(&sent.link).await.text().await.unwrap();
        let credential = authenticator.create(&options_on(&page));
        let form = [("token", token.as_str()), ("action", "passkey"), ("name", "Kim Key"), ("credential", credential.as_str())];
        let res = browser.post(&srv.url("/account/invitation"), &form).await;
        assert_eq!(res.status(), 200);
        let welcome = res.text().await.unwrap();
        assert!(welcome.contains("Welcome"), "{welcome}");
        let user = srv.state.directory.user("keyholder@example.com").await.unwrap();
        assert_eq!((user.name.as_str(), user.email_verified), ("Kim Key", true));
        assert_eq!(authenticator.user_handle, user.id.as_bytes(), "the passkey belongs to the account made for it");
        // The link is spent.
        let res = browser.post(&srv.url("/account/invitation"), &form).await;
        assert_eq!(res.status(), 400);

        // Later, in another browser, the passkey alone signs in to the app.
        let mut later = Browser::new();
        let at = passkey_login_page(&srv, &mut later, &w).await;
        let (status, location) = answer(&srv, &mut later, &at, "passkey_login", &authenticator.get(&options_on(&at.html))).await;
        assert_eq!(status, 303, "{location}");
        let claims = finish(&srv, &mut later, &w, &location).await;
        assert_eq!(claims["amr"], serde_json::json!(["hwk", "user", "mfa"]), "{claims}");
        assert_eq!(claims["sub"], user.id.as_str(), "{claims}");
    }
);
