//! The device authorization grant (RFC 8628, issue 22) over HTTP on both databases: a native
//! app gets a code pair (§3.2), polls (`authorization_pending`, then `slow_down` with a longer
//! interval when too fast, §3.5), a person types the code on `/device` and goes through the
//! sign-in pages (login, the administrator's approval, consent), and the poll returns the code
//! flow's tokens once. A denial is `access_denied`; a member of a tenant that has not approved
//! the app gets `access_denied` too; an expired code is `expired_token`; a wrong typed code is
//! refused on the page, and guessing is throttled per address. openid-client runs the grant
//! in `conformance/node/rp.mjs`.

use serde_json::Value;

use crate::harness::signin::{hidden, world, Browser, World, PASSWORD};
use crate::harness::{http, TestServer};
use gatehouse::apps::{Access, NewApp, Template};
use gatehouse::secret::Secret;

const GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// A native app (public client) of the partner that owns Cust1.
async fn tv_app(srv: &TestServer, w: &World) -> String {
    let partner = srv.state.registry.get(&w.client_id).await.unwrap().partner_id;
    let new = NewApp {
        partner_id: partner,
        name: "Living room TV".into(),
        template: Template::Native,
        redirect_uris: vec!["http://127.0.0.1/cb".into()],
        access: Access::Private,
        technical_contact: None,
        justification: None,
    };
    srv.state.registry.create(new, "test").await.unwrap().app.client_id
}

async fn start(srv: &TestServer, client_id: &str, scope: &str) -> Value {
    let res = http()
        .post(srv.url("/device_authorization"))
        .form(&[("client_id", client_id), ("scope", scope)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["cache-control"].to_str().unwrap().contains("no-store"));
    res.json().await.unwrap()
}

async fn poll(srv: &TestServer, client_id: &str, device_code: &str) -> (u16, Value) {
    let form = [("grant_type", GRANT), ("device_code", device_code), ("client_id", client_id)];
    let res = http().post(srv.url("/token")).form(&form).send().await.unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

/// Types `code` on /device in `browser` and answers the pages as `email` (`decision` on the
/// consent page); the title of the page it ends on.
async fn type_code(srv: &TestServer, browser: &mut Browser, code: &str, email: &str, decision: &str) -> String {
    let mut res = browser.post(&srv.url("/device"), &[("user_code", code)]).await;
    for _ in 0..10 {
        if res.status().is_redirection() {
            let location = res.headers()["location"].to_str().unwrap().to_string();
            res = browser.get(&srv.url(&location)).await;
            continue;
        }
        let html = res.text().await.unwrap();
        let title = html.split("<title>").nth(1).unwrap().split(" · ").next().unwrap().to_string();
        assert_ne!(title, "Something is not right", "{html}");
        let Some(request) = hidden(&html, "request") else { return title };
        let csrf = hidden(&html, "csrf").unwrap();
        let action = hidden(&html, "action").unwrap();
        let mut form = vec![("request", request.as_str()), ("csrf", csrf.as_str()), ("action", action.as_str())];
        match action.as_str() {
            "login" => form.extend([("email", email), ("password", PASSWORD)]),
            "approve" => form.push(("decision", "approve")),
            "consent" => form.push(("decision", decision)),
            other => panic!("unexpected step {other}: {html}"),
        }
        res = browser.post(&srv.url("/signin"), &form).await;
    }
    panic!("the sign-in did not end");
}

both_backends!(
    async fn a_device_is_signed_in_on_another_browser_and_polls_its_tokens_once(srv) {
        let w = world(&srv).await;
        let tv = tv_app(&srv, &w).await;
        let doc: Value = http().get(srv.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
        assert_eq!(doc["device_authorization_endpoint"], srv.url("/device_authorization"));

        // §3.2: the response, with a code people can type.
        let codes = start(&srv, &tv, "openid email offline_access").await;
        let user_code = codes["user_code"].as_str().unwrap().to_string();
        assert!(user_code.len() == 9 && user_code.chars().nth(4) == Some('-'), "{user_code}");
        assert_eq!(codes["verification_uri"], srv.url("/device"));
        assert_eq!((codes["expires_in"].as_i64(), codes["interval"].as_i64()), (Some(600), Some(5)));
        let device_code = codes["device_code"].as_str().unwrap().to_string();

        // §3.5: pending, then too fast.
        let (status, body) = poll(&srv, &tv, &device_code).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("authorization_pending")), "{body}");
        let (status, body) = poll(&srv, &tv, &device_code).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("slow_down")), "{body}");
        // The interval is now 10 s: 6 s later is still too fast; 11 s later is counted.
        srv.clock.advance(6);
        assert_eq!(poll(&srv, &tv, &device_code).await.1["error"], "slow_down");
        srv.clock.advance(16);
        assert_eq!(poll(&srv, &tv, &device_code).await.1["error"], "authorization_pending");

        // verification_uri_complete fills the code in; the person still presses Continue.
        let page = http().get(codes["verification_uri_complete"].as_str().unwrap()).send().await.unwrap().text().await.unwrap();
        assert!(page.contains(&format!("value=\"{user_code}\"")), "{page}");
        // Typed in lower case without the dash (§6.1), then login, approval and consent.
        let typed = user_code.replace('-', "").to_lowercase();
        let title = type_code(&srv, &mut Browser::new(), &typed, "admin@example.com", "allow").await;
        assert_eq!(title, "Your device is signed in");

        srv.clock.advance(20);
        let (status, tokens) = poll(&srv, &tv, &device_code).await;
        assert_eq!(status, 200, "{tokens}");
        assert!(tokens["id_token"].is_string() && tokens["refresh_token"].is_string(), "{tokens}");
        assert_eq!(tokens["scope"], "openid email offline_access");
        srv.clock.advance(20);
        let (status, body) = poll(&srv, &tv, &device_code).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "only once: {body}");
        // The code cannot be typed again either.
        let mut again = Browser::new();
        let res = again.post(&srv.url("/device"), &[("user_code", user_code.as_str())]).await;
        assert_eq!(res.status(), 400);
    }
);

both_backends!(
    async fn a_denial_an_unapproved_tenant_and_expiry_each_end_the_poll_and_guessing_is_throttled(srv) {
        let w = world(&srv).await;
        let tv = tv_app(&srv, &w).await;
        srv.state.directory.add_user("mo@example.com", Some("Mo"), "Cust1", false, Secret::new(PASSWORD.into()), "test").await.unwrap();

        // The person declines on the consent page.
        let codes = start(&srv, &tv, "openid").await;
        let title = type_code(&srv, &mut Browser::new(), codes["user_code"].as_str().unwrap(), "admin@example.com", "deny").await;
        assert_eq!(title, "Your device was not signed in");
        let (status, body) = poll(&srv, &tv, codes["device_code"].as_str().unwrap()).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("access_denied")), "{body}");

        // A plain member of a tenant that has not approved the app (a new one).
        let unapproved = tv_app(&srv, &w).await;
        let codes = start(&srv, &unapproved, "openid").await;
        let title = type_code(&srv, &mut Browser::new(), codes["user_code"].as_str().unwrap(), "mo@example.com", "allow").await;
        assert_eq!(title, "Your device was not signed in");
        assert_eq!(poll(&srv, &unapproved, codes["device_code"].as_str().unwrap()).await.1["error"], "access_denied");

        // §3.5: expired_token after ten minutes.
        let codes = start(&srv, &tv, "openid").await;
        srv.clock.advance(601);
        let (status, body) = poll(&srv, &tv, codes["device_code"].as_str().unwrap()).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("expired_token")), "{body}");

        // Another app's device code is not valid for this one.
        let codes = start(&srv, &tv, "openid").await;
        let (status, body) = poll(&srv, &unapproved, codes["device_code"].as_str().unwrap()).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
        // A scope the app may not ask for.
        let res = http().post(srv.url("/device_authorization")).form(&[("client_id", tv.as_str()), ("scope", "openid admin")]).send().await.unwrap();
        assert_eq!(res.status(), 400);
        assert_eq!(res.json::<Value>().await.unwrap()["error"], "invalid_scope");
        // An app without the grant.
        let res = http().post(srv.url("/device_authorization")).basic_auth(&w.client_id, Some(&w.secret)).form(&[("scope", "openid")]).send().await.unwrap();
        assert_eq!(res.json::<Value>().await.unwrap()["error"], "unauthorized_client");

        // Oversized or hostile typing is a wrong code, not an error of ours.
        let long = "B".repeat(60_000);
        for typed in [long.as_str(), "<script>alert(1)</script>", "BCDF\u{0}GHJK"] {
            let res = Browser::new().post(&srv.url("/device"), &[("user_code", typed)]).await;
            assert_eq!(res.status(), 400);
            assert!(!res.text().await.unwrap().contains("<script>alert"));
        }
        // §5.1: wrong codes are refused on the page, and a guesser is stopped (in a fresh window:
        // the codes typed above came from this address too).
        srv.clock.advance(gatehouse::config::LOGIN_FAILURE_WINDOW + 1);
        let codes = start(&srv, &tv, "openid").await;
        let mut guesser = Browser::new();
        for i in 0..10 {
            let res = guesser.post(&srv.url("/device"), &[("user_code", &format!("BCDF-GHJ{}", ["K", "L", "M", "N", "P", "Q", "R", "S", "T", "V"][i]))]).await;
            assert_eq!(res.status(), 400, "guess {i}");
        }
        let res = guesser.post(&srv.url("/device"), &[("user_code", codes["user_code"].as_str().unwrap())]).await;
        assert_eq!(res.status(), 429, "even the right code, after ten guesses from this address");
    }
);
