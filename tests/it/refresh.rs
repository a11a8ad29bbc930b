//! Refresh tokens as certified relying-party suites check them: strict one-time use by default
//! (a reuse ends the family, even when ten copies race), the grace period only as an app's
//! explicit opt-in, and introspection of refresh tokens (RFC 7662 §2.2).

use crate::harness::signin::refresh;
use serde_json::Value;

use crate::harness::signin::{code_of, introspect, redeem, world, Browser, World};
use crate::harness::{http, TestServer};

/// Signs in once and returns the first token response.
async fn first_tokens(srv: &TestServer, w: &World) -> Value {
    let mut browser = Browser::new();
    let code = code_of(srv, &mut browser, w, &[]).await;
    let (status, tokens) = redeem(&srv.base, w, &code).await;
    assert_eq!(status, 200, "{tokens}");
    tokens
}

both_backends!(
    async fn a_rotated_out_refresh_token_is_refused_and_ends_its_family_by_default(srv) {
        let w = world(&srv).await;
        let tokens = first_tokens(&srv, &w).await;
        let first = tokens["refresh_token"].as_str().unwrap().to_string();
        let (status, second) = refresh(&srv.base, &w, &first).await;
        assert_eq!(status, 200, "{second}");
        let second_refresh = second["refresh_token"].as_str().unwrap().to_string();
        let second_access = second["access_token"].as_str().unwrap().to_string();
        // At once, with no time passing: no grace period unless the app opted in.
        let (status, body) = refresh(&srv.base, &w, &first).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
        // RFC 9700 §4.14.2: the reuse revokes the family, the legitimate successor included.
        let (status, _) = refresh(&srv.base, &w, &second_refresh).await;
        assert_eq!(status, 400);
        assert_eq!(introspect(&srv.base, &w, &second_access, None).await["active"], false);
    }
);

both_backends!(
    async fn ten_concurrent_uses_of_one_refresh_token_give_exactly_one_success(srv) {
        let w = world(&srv).await;
        let tokens = first_tokens(&srv, &w).await;
        let token = tokens["refresh_token"].as_str().unwrap().to_string();
        let mut tasks = Vec::new();
        for _ in 0..10 {
            let (base, token) = (srv.base.clone(), token.clone());
            let w = World { client_id: w.client_id.clone(), secret: w.secret.clone() };
            tasks.push(tokio::spawn(async move { refresh(&base, &w, &token).await }));
        }
        let mut winners = Vec::new();
        let mut statuses = Vec::new();
        for t in tasks {
            let (status, body) = t.await.unwrap();
            statuses.push(status);
            if status == 200 {
                winners.push(body["refresh_token"].as_str().unwrap().to_string());
            }
        }
        assert_eq!(winners.len(), 1, "{statuses:?}");
        assert!(statuses.iter().all(|s| *s == 200 || *s == 400), "{statuses:?}");
        // The losers were reuses: the winner's successor is revoked with the family.
        assert_eq!(refresh(&srv.base, &w, &winners[0]).await.0, 400);
    }
);

both_backends!(
    async fn an_app_that_opts_into_a_grace_period_gets_the_same_successor_on_a_retry(srv) {
        let w = world(&srv).await;
        let settings = gatehouse::apps::TokenSettings { refresh_grace_secs: Some(10), ..Default::default() };
        srv.state.registry.set_token_settings(&w.client_id, settings, &["RS256"], "test").await.unwrap();
        let out = srv.cli(&["app", "set", &w.client_id, "--refresh-grace", "500"], None);
        assert_ne!(out.code, 0, "more than 120 s is refused: {}", out.stdout);
        let tokens = first_tokens(&srv, &w).await;
        let first = tokens["refresh_token"].as_str().unwrap().to_string();
        let (_, second) = refresh(&srv.base, &w, &first).await;
        let (status, retry) = refresh(&srv.base, &w, &first).await;
        assert_eq!(status, 200, "{retry}");
        assert_eq!(retry["refresh_token"], second["refresh_token"]);
        srv.clock.advance(60);
        assert_eq!(refresh(&srv.base, &w, &first).await.0, 400, "after the grace period a retry is a replay");
        let second_refresh = second["refresh_token"].as_str().unwrap();
        assert_eq!(refresh(&srv.base, &w, second_refresh).await.0, 400, "and the family ends");
    }
);

both_backends!(
    async fn rfc7662_2_2_a_refresh_token_is_introspected_whatever_the_hint(srv) {
        let w = world(&srv).await;
        let tokens = first_tokens(&srv, &w).await;
        let token = tokens["refresh_token"].as_str().unwrap();
        for hint in [None, Some("refresh_token"), Some("access_token")] {
            let info = introspect(&srv.base, &w, token, hint).await;
            assert_eq!(info["active"], true, "hint {hint:?}: {info}");
            assert_eq!(info["client_id"], w.client_id.as_str());
            assert!(info["scope"].as_str().unwrap().split(' ').any(|s| s == "openid"), "{info}");
            assert!(info["sub"].is_string() && info["iat"].is_i64() && info["exp"].is_i64(), "{info}");
            assert_eq!(info["iss"], srv.base.as_str());
        }
        // Another client learns nothing about it.
        let other = crate::harness::run_cli(&srv.database_url, srv.dir.path(), &["--json", "app", "create", "--partner", &srv.state.registry.get(&w.client_id).await.unwrap().partner_id, "--template", "server-to-server", "--name", "Other"], None).json();
        let other = World {
            client_id: other["app"]["client_id"].as_str().unwrap().into(),
            secret: other["client_secret"]["secret"].as_str().unwrap().into(),
        };
        assert_eq!(introspect(&srv.base, &other, token, None).await["active"], false);
        // Used (rotated out) and revoked refresh tokens are inactive.
        let (_, next) = refresh(&srv.base, &w, token).await;
        assert_eq!(introspect(&srv.base, &w, token, None).await["active"], false);
        let next = next["refresh_token"].as_str().unwrap();
        assert_eq!(introspect(&srv.base, &w, next, None).await["active"], true);
        let res = http().post(srv.url("/revoke")).basic_auth(&w.client_id, Some(&w.secret)).form(&[("token", next)]).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(introspect(&srv.base, &w, next, None).await["active"], false);
    }
);
