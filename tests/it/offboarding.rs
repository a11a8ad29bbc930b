//! Offboarding (issue 18): a disabled person cannot sign in, and their session, tokens,
//! pending codes, consents and JWT credentials stop working at once; enabling them again
//! revives nothing; a person is deleted only once disabled.

use crate::harness::signin::{
    authorize_url, code_of, hidden, introspect, redeem, refresh, world, Browser, World, PASSWORD,
};
use crate::harness::{http, TestServer};

const ADMIN: &str = "admin@example.com";

async fn userinfo(srv: &TestServer, token: &str) -> u16 {
    http().get(srv.url("/userinfo")).bearer_auth(token).send().await.unwrap().status().as_u16()
}

/// Starts an authorization request in `browser` and walks the pages (login with the right
/// password, consent). True when the browser reached the app with a code; false when the
/// login page came back after the right password.
async fn signs_in(srv: &TestServer, browser: &mut Browser, w: &World) -> bool {
    let mut res = browser.get(&authorize_url(srv, w, &[])).await;
    let mut logged_in = false;
    for _ in 0..8 {
        if res.status().is_redirection() {
            let location = res.headers()["location"].to_str().unwrap().to_string();
            if location.starts_with(crate::harness::signin::REDIRECT) {
                return location.contains("code=");
            }
            res = browser.get(&srv.url(&location)).await;
            continue;
        }
        let html = res.text().await.unwrap();
        let action = hidden(&html, "action").unwrap_or_else(|| panic!("no form: {html}"));
        let (request, csrf) = (hidden(&html, "request").unwrap(), hidden(&html, "csrf").unwrap());
        let mut form = vec![("request", request.as_str()), ("csrf", csrf.as_str()), ("action", action.as_str())];
        match action.as_str() {
            "login" if logged_in => return false,
            "login" => {
                logged_in = true;
                form.extend([("email", ADMIN), ("password", PASSWORD)]);
            }
            "consent" => form.push(("decision", "allow")),
            "approve" => form.push(("decision", "approve")),
            other => panic!("unexpected step {other}"),
        }
        res = browser.post(&srv.url("/signin"), &form).await;
    }
    false
}

both_backends!(
    async fn a_disabled_person_cannot_sign_in_and_what_they_held_stops_working_at_once(srv) {
        let w = world(&srv).await;
        let mut browser = Browser::new();
        let code = code_of(&srv, &mut browser, &w, &[]).await;
        let (status, tokens) = redeem(&srv.base, &w, &code).await;
        assert_eq!(status, 200, "{tokens}");
        let access = tokens["access_token"].as_str().unwrap().to_string();
        let refresh_token = tokens["refresh_token"].as_str().unwrap().to_string();
        // A second code from the same session, not redeemed before the person is disabled.
        let waiting_code = code_of(&srv, &mut browser, &w, &[]).await;
        let credential = gatehouse::oauth::credentials::create(&srv.state, ADMIN, "Cust1", std::slice::from_ref(&w.client_id), None, "test").await.unwrap();
        assert_eq!(introspect(&srv.base, &w, &access, None).await["active"], true);
        assert_eq!(userinfo(&srv, &access).await, 200);

        let user = srv.state.directory.disable_user(ADMIN, "test").await.unwrap();
        assert!(user.disabled_at.is_some());

        // RFC 7662 §2.2: a token that can no longer be used is reported inactive.
        assert_eq!(introspect(&srv.base, &w, &access, None).await, serde_json::json!({ "active": false }));
        assert_eq!(introspect(&srv.base, &w, &refresh_token, None).await["active"], false);
        assert_eq!(userinfo(&srv, &access).await, 401);
        let (status, body) = refresh(&srv.base, &w, &refresh_token).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
        let (status, body) = redeem(&srv.base, &w, &waiting_code).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
        let listed = gatehouse::oauth::credentials::list(&srv.state, ADMIN).await.unwrap();
        assert!(listed.iter().find(|c| c.id == credential.credential.id).unwrap().revoked_at.is_some());
        // The session ended with the person: the login page comes again, and the right
        // password is answered like a wrong one.
        assert!(!signs_in(&srv, &mut browser, &w).await);
        assert!(srv.state.directory.verify_password(ADMIN, gatehouse::secret::Secret::new(PASSWORD.into())).await.unwrap().is_none());
        let trail = srv.state.store.audit_trail(&user.id, 5).await.unwrap();
        assert!(trail.iter().any(|e| e.action == "user.disabled"));

        // Enabled again: they sign in, and nothing that was revoked comes back.
        srv.state.directory.enable_user(ADMIN, "test").await.unwrap();
        let mut fresh = Browser::new();
        assert!(signs_in(&srv, &mut fresh, &w).await);
        assert_eq!(introspect(&srv.base, &w, &access, None).await["active"], false);
        let (status, _) = refresh(&srv.base, &w, &refresh_token).await;
        assert_eq!(status, 400);
    }
);

both_backends!(
    async fn a_person_is_deleted_only_once_disabled_and_then_their_tokens_are_gone(srv) {
        let w = world(&srv).await;
        // Opaque access tokens here (the first test holds JWTs): they end by their rows.
        let settings = gatehouse::apps::TokenSettings { format: Some(gatehouse::apps::TokenFormat::Opaque), ..Default::default() };
        srv.state.registry.set_token_settings(&w.client_id, settings, &["RS256"], "test").await.unwrap();
        let mut browser = Browser::new();
        let code = code_of(&srv, &mut browser, &w, &[]).await;
        let (_, tokens) = redeem(&srv.base, &w, &code).await;
        let access = tokens["access_token"].as_str().unwrap().to_string();
        assert!(!access.contains('.'), "an opaque token: {access}");
        assert_eq!(introspect(&srv.base, &w, &access, None).await["active"], true);
        let err = srv.state.directory.delete_user(ADMIN, "test").await.unwrap_err();
        assert!(matches!(err, gatehouse::error::Error::Conflict(_)), "{err}");

        // Through the command line, as an operator offboards someone.
        let disabled = srv.cli(&["--json", "user", "disable", ADMIN], None);
        assert_eq!(disabled.code, 0, "{}", disabled.stderr);
        assert!(disabled.json()["disabled_at"].is_i64());
        assert_eq!(introspect(&srv.base, &w, &access, None).await["active"], false);
        let deleted = srv.cli(&["user", "delete", ADMIN], None);
        assert_eq!(deleted.code, 0, "{}", deleted.stderr);
        assert!(matches!(srv.state.directory.user(ADMIN).await, Err(gatehouse::error::Error::NotFound(_))));
        assert_eq!(introspect(&srv.base, &w, &access, None).await["active"], false);
        assert_eq!(userinfo(&srv, &access).await, 401);
        let again = srv.cli(&["user", "disable", ADMIN], None);
        assert_eq!(again.code, 1, "an unknown user is an error");
    }
);
