//! OIDC Back-Channel Logout 1.0 over HTTP on both databases: an app that registered a logout
//! URL (a listener on another port) is sent a signed logout token naming the person and the
//! session (`sid`, the same as in its ID token) when that session ends, by RP-initiated logout
//! or by offboarding; a failing or unreachable URL is retried with backoff
//! and given up after the last attempt; two instances deliver one logout once. openid-client's
//! `jose` verifies a logout token in `conformance/node/rp.mjs`.

use serde_json::{json, Value};

use crate::harness::receiver::Receiver;
use crate::harness::signin::{code_of, redeem, world, Browser, World};
use crate::harness::{http, TestServer};
use gatehouse::apps::UriKind;

/// The logout tokens `rp` received so far.
fn logout_tokens(rp: &Receiver) -> Vec<String> {
    rp.all()
        .iter()
        .map(|r| {
            form_urlencoded::parse(r.body.as_bytes())
                .find(|(k, _)| k == "logout_token")
                .map(|(_, v)| v.into_owned())
                .expect("a logout_token in the form")
        })
        .collect()
}

fn part(jwt: &str, i: usize) -> Value {
    serde_json::from_slice(&gatehouse::crypto::b64url_decode(jwt.split('.').nth(i).unwrap()).unwrap()).unwrap()
}

/// The world's app with `url` as its back-channel logout URL, and a signed-in person's ID
/// token for it, with the browser that holds the session.
async fn signed_in(srv: &TestServer, url: &str) -> (World, Browser, Value) {
    let w = world(srv).await;
    srv.state.registry.add_uri(&w.client_id, UriKind::BackchannelLogout, url, "test").await.unwrap();
    let mut browser = Browser::new();
    let code = code_of(srv, &mut browser, &w, &[]).await;
    let (status, body) = redeem(&srv.base, &w, &code).await;
    assert_eq!(status, 200, "{body}");
    let id_token = part(body["id_token"].as_str().unwrap(), 1);
    (w, browser, id_token)
}

async fn deliver(srv: &TestServer) -> gatehouse::outbox::Pass {
    gatehouse::outbox::deliver_due(&srv.state).await.unwrap()
}

both_backends!(
    async fn ending_a_session_sends_each_of_its_apps_a_signed_logout_token(srv) {
        let rp = Receiver::start(&[]).await;
        let (w, mut browser, id_token) = signed_in(&srv, &rp.url).await;
        // Back-Channel Logout §2.1 (sid in ID tokens when session_supported is advertised).
        let sid = id_token["sid"].as_str().expect("the ID token names the session").to_string();
        assert_eq!(deliver(&srv).await, gatehouse::outbox::Pass::default(), "nothing is queued while the session lasts");

        // RP-initiated logout, confirmed on our page.
        let page = browser.get(&srv.url("/logout")).await.text().await.unwrap();
        let csrf = crate::harness::signin::hidden(&page, "csrf").unwrap();
        let res = browser.post(&srv.url("/logout"), &[("csrf", csrf.as_str())]).await;
        assert!(res.status().is_success(), "{}", res.status());
        assert_eq!(deliver(&srv).await.delivered, 1);
        let tokens = logout_tokens(&rp);
        assert_eq!(tokens.len(), 1);
        let token = &tokens[0];
        // §2.4: explicitly typed, signed with a key in our JWKS, naming the app, the person and
        // the session, with the event and a jti, and without a nonce.
        let header = part(token, 0);
        assert_eq!(header["typ"], "logout+jwt");
        let claims = srv.state.keys.verify_own(token, "logout+jwt").expect("signed with a published key");
        let jwks: Value = http().get(srv.url("/jwks")).send().await.unwrap().json().await.unwrap();
        assert!(jwks["keys"].as_array().unwrap().iter().any(|k| k["kid"] == header["kid"]));
        assert_eq!(claims["iss"], srv.base.as_str());
        assert_eq!(claims["aud"], w.client_id.as_str());
        assert_eq!(claims["sub"], id_token["sub"]);
        assert_eq!(claims["sid"], sid.as_str());
        assert_eq!(claims["events"], json!({"http://schemas.openid.net/event/backchannel-logout": {}}));
        assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));
        assert!(claims.get("nonce").is_none(), "§2.4: a logout token MUST NOT contain a nonce");
        assert!(claims["exp"].as_i64().unwrap() > claims["iat"].as_i64().unwrap());

        // Delivered once: later passes send nothing more.
        srv.clock.advance(3_600);
        assert_eq!(deliver(&srv).await, gatehouse::outbox::Pass::default());
        assert_eq!(logout_tokens(&rp).len(), 1);
        let app = srv.state.registry.get(&w.client_id).await.unwrap();
        let shown = srv.state.store.deliveries_of(&app.id, 10).await.unwrap();
        assert_eq!(shown.len(), 1);
        assert!(shown[0].delivered_at.is_some() && shown[0].attempts == 1);
    }
);

both_backends!(
    async fn a_failing_logout_url_is_retried_with_backoff_and_given_up_after_the_last_attempt(srv) {
        let rp = Receiver::start(&[500, 503]).await;
        let (w, mut browser, _) = signed_in(&srv, &rp.url).await;
        let page = browser.get(&srv.url("/logout")).await.text().await.unwrap();
        let csrf = crate::harness::signin::hidden(&page, "csrf").unwrap();
        browser.post(&srv.url("/logout"), &[("csrf", csrf.as_str())]).await;

        assert_eq!(deliver(&srv).await.failed, 1, "HTTP 500 is a failure");
        assert_eq!(deliver(&srv).await, gatehouse::outbox::Pass::default(), "not due again before its backoff");
        srv.clock.advance(gatehouse::outbox::backoff(1));
        assert_eq!(deliver(&srv).await.failed, 1, "HTTP 503 too");
        srv.clock.advance(gatehouse::outbox::backoff(2));
        assert_eq!(deliver(&srv).await.delivered, 1, "the third attempt is taken");
        let tokens = logout_tokens(&rp);
        assert_eq!(tokens.len(), 3);
        let jtis: Vec<Value> = tokens.iter().map(|t| part(t, 1)["jti"].clone()).collect();
        assert!(jtis.iter().all(|j| *j == jtis[0]), "every attempt of one logout has the same jti: {jtis:?}");

        // An unreachable URL: every attempt fails, and after the last the delivery is given up.
        let gone = {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            format!("http://{}/backchannel", l.local_addr().unwrap())
        };
        srv.state.registry.remove_uri(&w.client_id, UriKind::BackchannelLogout, &rp.url, "test").await.unwrap();
        srv.state.registry.add_uri(&w.client_id, UriKind::BackchannelLogout, &gone, "test").await.unwrap();
        let mut browser = Browser::new();
        code_of(&srv, &mut browser, &w, &[]).await;
        let page = browser.get(&srv.url("/logout")).await.text().await.unwrap();
        let csrf = crate::harness::signin::hidden(&page, "csrf").unwrap();
        browser.post(&srv.url("/logout"), &[("csrf", csrf.as_str())]).await;
        for attempt in 1..=gatehouse::outbox::MAX_ATTEMPTS {
            assert_eq!(deliver(&srv).await.failed, 1, "attempt {attempt}");
            srv.clock.advance(gatehouse::outbox::backoff(attempt));
        }
        srv.clock.advance(86_400);
        assert_eq!(deliver(&srv).await, gatehouse::outbox::Pass::default(), "given up: no more attempts");
        let app = srv.state.registry.get(&w.client_id).await.unwrap();
        let newest = &srv.state.store.deliveries_of(&app.id, 1).await.unwrap()[0];
        assert!(newest.abandoned_at.is_some() && newest.delivered_at.is_none());
        assert_eq!(newest.attempts, gatehouse::outbox::MAX_ATTEMPTS);
        assert!(newest.last_error.as_deref().unwrap().contains("could not be reached"), "{:?}", newest.last_error);
        assert!(rp.answers.lock().unwrap().is_empty());
    }
);

both_backends!(
    async fn two_instances_deliver_one_logout_once(srv) {
        let rp = Receiver::start(&[]).await;
        let (_, mut browser, _) = signed_in(&srv, &rp.url).await;
        let other = srv.another_instance().await;
        let page = browser.get(&srv.url("/logout")).await.text().await.unwrap();
        let csrf = crate::harness::signin::hidden(&page, "csrf").unwrap();
        browser.post(&srv.url("/logout"), &[("csrf", csrf.as_str())]).await;
        let (a, b) = tokio::join!(
            gatehouse::outbox::deliver_due(&srv.state),
            gatehouse::outbox::deliver_due(&other.state)
        );
        assert_eq!(a.unwrap().delivered + b.unwrap().delivered, 1);
        assert_eq!(logout_tokens(&rp).len(), 1);
    }
);

both_backends!(
    async fn offboarding_ends_every_session_with_a_logout(srv) {
        let rp = Receiver::start(&[]).await;
        let (_, _, first) = signed_in(&srv, &rp.url).await;
        srv.state.directory.disable_user("admin@example.com", "test").await.unwrap();
        assert_eq!(deliver(&srv).await.delivered, 1);
        let claims = part(&logout_tokens(&rp)[0], 1);
        assert_eq!(claims["sub"], first["sub"]);
        assert_eq!(claims["sid"], first["sid"]);
    }
);

both_backends!(
    async fn the_logout_url_is_registered_like_a_redirect_uri_and_at_most_once(srv) {
        let w = world(&srv).await;
        let reg = &srv.state.registry;
        for bad in ["https://rp.example.com/logout#frag", "relative/logout", "ftp://rp.example.com/logout"] {
            assert!(reg.add_uri(&w.client_id, UriKind::BackchannelLogout, bad, "test").await.is_err(), "{bad}");
        }
        reg.add_uri(&w.client_id, UriKind::BackchannelLogout, "https://rp.example.com/logout", "test").await.unwrap();
        let second = reg.add_uri(&w.client_id, UriKind::BackchannelLogout, "https://rp.example.com/other", "test").await;
        assert!(second.unwrap_err().to_string().contains("at most 1"));

        // Dynamic registration (Back-Channel Logout §2.2): the metadata is taken, checked and
        // echoed; a fragment is invalid_client_metadata.
        let token = gatehouse::oauth::registration::create_initial_token(&srv.state, 1).await.unwrap().0;
        let register = |meta: Value| {
            let req = http().post(srv.url("/register")).bearer_auth(&token).json(&meta);
            async move {
                let res = req.send().await.unwrap();
                (res.status().as_u16(), res.json::<Value>().await.unwrap())
            }
        };
        let (status, body) = register(json!({
            "redirect_uris": ["https://rp.example.com/cb"],
            "backchannel_logout_uri": "https://rp.example.com/logout#x",
        }))
        .await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_client_metadata")), "{body}");
        let (status, body) = register(json!({
            "redirect_uris": ["https://rp.example.com/cb"],
            "backchannel_logout_uri": "https://rp.example.com/logout",
        }))
        .await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["backchannel_logout_uri"], "https://rp.example.com/logout");
        assert_eq!(body["backchannel_logout_session_required"], true);
        let app = reg.get(body["client_id"].as_str().unwrap()).await.unwrap();
        assert_eq!(app.backchannel_logout_uris, vec!["https://rp.example.com/logout".to_string()]);
    }
);
