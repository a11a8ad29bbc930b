//! The account page `/account` (issue 18) over HTTP on both databases: a person sees where
//! they are signed in and signs another session out, takes back what they allowed an app (its
//! refresh token stops working), changes their password (the current one is checked; other
//! sessions end), renames themselves, asks for a verification link, and sees recent events.

use crate::harness::signin::{authorize_url, hidden, redeem, refresh, world, Browser, PASSWORD};
use crate::harness::{http, TestServer};
use gatehouse::secret::Secret;

const ADMIN: &str = "admin@example.com";

/// Signs in to the portal in `browser` and returns the account page.
async fn account_page(srv: &TestServer, browser: &mut Browser) -> String {
    let page = browser.get(&srv.url("/portal/login?next=/account")).await.text().await.unwrap();
    let csrf = hidden(&page, "csrf").unwrap();
    let res = browser
        .post(
            &srv.url("/portal/login"),
            &[("csrf", &csrf), ("next", "/account"), ("email", ADMIN), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(res.headers()["location"], "/account");
    browser.get(&srv.url("/account")).await.text().await.unwrap()
}

async fn act(srv: &TestServer, browser: &mut Browser, form: &[(&str, &str)]) -> (u16, String) {
    let page = browser.get(&srv.url("/account")).await.text().await.unwrap();
    let csrf = hidden(&page, "csrf").unwrap();
    let mut full = vec![("csrf", csrf.as_str())];
    full.extend_from_slice(form);
    let res = browser.post(&srv.url("/account"), &full).await;
    let status = res.status().as_u16();
    let location = res.headers().get("location").map(|l| l.to_str().unwrap().to_string());
    let body = res.text().await.unwrap();
    (status, location.unwrap_or(body))
}

both_backends!(
    async fn a_person_manages_sessions_allowed_apps_and_password_on_the_account_page(srv) {
        let w = world(&srv).await;
        // Signed in to the app in one browser, with a refresh token.
        let mut app_browser = Browser::new();
        let start = authorize_url(&srv, &w, &[("scope", "openid email offline_access")]);
        let params = app_browser.sign_in(&srv, &start, ADMIN).await;
        let code = params.iter().find(|(k, _)| k == "code").unwrap().1.clone();
        let (_, tokens) = redeem(&srv.base, &w, &code).await;
        let refresh_token = tokens["refresh_token"].as_str().unwrap().to_string();

        // The account page in another browser lists both sessions and the app.
        let mut me = Browser::new();
        let page = account_page(&srv, &mut me).await;
        assert!(page.contains("Your account") && page.contains("this browser"), "{page}");
        assert!(page.contains(&w.client_id) && page.contains("Acme &#60;CRM&#62;"), "the allowed app: {page}");
        assert!(page.contains("login succeeded"), "recent events: {page}");
        let other: Vec<String> = page
            .split("name=\"session\" value=\"")
            .skip(1)
            .map(|s| s.split('"').next().unwrap().to_string())
            .collect();
        assert_eq!(other.len(), 1, "one other session to sign out");

        // Signing the other browser out: its session is gone (OIDC Core §3.1.2.6 login_required).
        let (status, location) = act(&srv, &mut me, &[("action", "end_session"), ("session", &other[0])]).await;
        assert_eq!((status, location.as_str()), (303, "/account?done=end_session"));
        let res = app_browser.get(&authorize_url(&srv, &w, &[("prompt", "none")])).await;
        assert!(res.headers()["location"].to_str().unwrap().contains("error=login_required"));

        // Taking back what the app was allowed: the refresh token ends (RFC 6749 §6 invalid_grant).
        let (status, _) = act(&srv, &mut me, &[("action", "revoke_app"), ("client_id", &w.client_id)]).await;
        assert_eq!(status, 303);
        let (status, body) = refresh(&srv.base, &w, &refresh_token).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
        let user = srv.state.directory.user(ADMIN).await.unwrap();
        let app = srv.state.registry.get(&w.client_id).await.unwrap();
        assert_eq!(srv.state.store.consent(&user.id, &app.id).await.unwrap(), None);
        let (status, page) = act(&srv, &mut me, &[("action", "revoke_app"), ("client_id", "not-an-app")]).await;
        assert_eq!(status, 400);
        assert!(page.contains("not found"), "{page}");

        // A new password needs the current one.
        let change = |current: &'static str| {
            vec![("action", "password"), ("current", current), ("password", "a fresh passphrase here"), ("password2", "a fresh passphrase here")]
        };
        let (status, page) = act(&srv, &mut me, &change("not my password at all")).await;
        assert_eq!(status, 400);
        assert!(page.contains("current password: is not right"), "{page}");
        let (status, _) = act(&srv, &mut me, &change(PASSWORD)).await;
        assert_eq!(status, 303);
        let dir = &srv.state.directory;
        assert!(dir.verify_password(ADMIN, Secret::new("a fresh passphrase here".into())).await.unwrap().is_some());
        assert!(dir.verify_password(ADMIN, Secret::new(PASSWORD.into())).await.unwrap().is_none());
        assert_eq!(me.get(&srv.url("/account")).await.status(), 200, "the session that changed it stays");

        // Name, and a verification link to the (unverified) address.
        let (status, _) = act(&srv, &mut me, &[("action", "rename"), ("name", "Ada Lovelace")]).await;
        assert_eq!(status, 303);
        assert_eq!(dir.user(ADMIN).await.unwrap().name, "Ada Lovelace");
        let (status, _) = act(&srv, &mut me, &[("action", "verify")]).await;
        assert_eq!(status, 303);
        let outbox: Vec<String> = std::fs::read_dir(srv.dir.path().join("outbox"))
            .unwrap()
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .collect();
        assert!(outbox.iter().any(|m| m.contains("Subject: Confirm your email address")), "the verification mail is in the outbox");
        assert!(outbox.iter().any(|m| m.contains("Subject: New sign-in to your account")), "each new browser was reported");

        // Another site's form is refused.
        let res = http()
            .post(srv.url("/account"))
            .header("origin", "https://evil.example")
            .header("cookie", me.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; "))
            .form(&[("action", "rename"), ("name", "Mallory")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403);
        assert_eq!(dir.user(ADMIN).await.unwrap().name, "Ada Lovelace");
    }
);
