//! DPoP (RFC 9449, issue 22) over HTTP on both databases: a token request with a proof gets a
//! token bound to the proof's key (`token_type` DPoP, `cnf.jkt` in the JWT and in
//! introspection, §5, §6); every proof that fails a §4.3 check is `invalid_dpop_proof`, and
//! a proof is accepted once across instances (§11.1); a public client's refresh token is bound
//! to its key (§5); userinfo takes a bound token only with the DPoP scheme and a proof of the
//! same key carrying `ath` (§7); an app may be held to DPoP (§5.2); and, when configured, a
//! proof must carry the server's nonce (§8). openid-client uses DPoP in
//! `conformance/node/rp.mjs`.

use serde_json::{json, Value};

use crate::harness::jwt::DpopKey;
use crate::harness::signin::{code_of, public_client, world, Browser, World, REDIRECT, VERIFIER};
use crate::harness::{http, TestServer};
use gatehouse::apps::{TokenFormat, TokenSettings};

/// POSTs a form to `path` with the app's credentials (Basic, when it has a secret) and the
/// given DPoP headers; the status, the `DPoP-Nonce` header and the body.
async fn post(
    srv: &TestServer,
    path: &str,
    w: &World,
    form: &[(&str, &str)],
    proofs: &[&str],
) -> (u16, Option<String>, Value) {
    let mut form = form.to_vec();
    if w.secret.is_empty() {
        form.push(("client_id", w.client_id.as_str()));
    }
    let mut req = http().post(srv.url(path)).form(&form);
    if !w.secret.is_empty() {
        req = req.basic_auth(&w.client_id, Some(&w.secret));
    }
    for p in proofs {
        req = req.header("DPoP", *p);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let nonce = res.headers().get("dpop-nonce").map(|v| v.to_str().unwrap().to_string());
    (status, nonce, res.json().await.unwrap_or(Value::Null))
}

fn payload(jwt: &str) -> Value {
    serde_json::from_slice(&gatehouse::crypto::b64url_decode(jwt.split('.').nth(1).unwrap()).unwrap()).unwrap()
}

const CC: &[(&str, &str)] = &[("grant_type", "client_credentials")];

/// A server-to-server app (client_credentials) with its secret.
async fn service(srv: &TestServer) -> World {
    let app = crate::harness::apps::app(srv, gatehouse::apps::Template::ServerToServer).await;
    World { client_id: app.client_id, secret: app.secret }
}

both_backends!(
    async fn a_proof_binds_the_token_to_its_key_and_every_bad_proof_is_refused(srv) {
        let w = service(&srv).await;
        let key = DpopKey::new();
        let token_url = srv.url("/token");
        let now = srv.clock.now();
        let doc: Value = http().get(srv.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
        assert!(doc["dpop_signing_alg_values_supported"].as_array().unwrap().contains(&json!("ES256")), "{doc}");

        // §5: token_type DPoP; §6.1: cnf.jkt in the JWT; §8: a nonce for the next proof.
        let proof = key.proof("POST", &token_url, now, None, None);
        let (status, nonce, body) = post(&srv, "/token", &w, CC, &[&proof]).await;
        assert_eq!((status, body["token_type"].as_str()), (200, Some("DPoP")), "{body}");
        assert!(nonce.is_some_and(|n| n.len() >= 22));
        let token = body["access_token"].as_str().unwrap().to_string();
        assert_eq!(payload(&token)["cnf"], json!({ "jkt": key.thumbprint() }));
        // §6.2: introspection says so too.
        let (_, _, info) = post(&srv, "/introspect", &w, &[("token", &token)], &[]).await;
        assert_eq!((info["active"].as_bool(), info["token_type"].as_str()), (Some(true), Some("DPoP")), "{info}");
        assert_eq!(info["cnf"]["jkt"], key.thumbprint());
        // Without a proof the token is a plain bearer token, as before.
        let (_, _, body) = post(&srv, "/token", &w, CC, &[]).await;
        assert_eq!(body["token_type"], "Bearer");
        assert!(payload(body["access_token"].as_str().unwrap()).get("cnf").is_none());

        // §11.1: the same proof twice (the second from another instance's point of view: the
        // replay store is the shared database).
        let (status, _, body) = post(&srv, "/token", &w, CC, &[&proof]).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_dpop_proof")), "a replayed proof");

        // §4.3: each check.
        let other = DpopKey::new();
        let claims = |htm: &str, htu: &str, iat: i64| json!({ "jti": gatehouse::crypto::random_id(), "htm": htm, "htu": htu, "iat": iat });
        let header = |typ: &str, alg: &str, jwk: Value| json!({ "typ": typ, "alg": alg, "jwk": jwk });
        let mut private_jwk = key.jwk();
        private_jwk["d"] = json!("AAAA");
        let bad: Vec<(&str, String)> = vec![
            ("another URL (htu)", key.proof("POST", &srv.url("/introspect"), now, None, None)),
            ("another method (htm)", key.proof("GET", &token_url, now, None, None)),
            ("iat five minutes old", key.proof("POST", &token_url, now - 300, None, None)),
            ("iat in the future", key.proof("POST", &token_url, now + 300, None, None)),
            ("typ JWT", key.sign(header("JWT", "ES256", key.jwk()), claims("POST", &token_url, now))),
            ("alg none", format!("{}.", key.sign(header("dpop+jwt", "none", key.jwk()), claims("POST", &token_url, now)).rsplit_once('.').unwrap().0)),
            ("HS256", key.sign(header("dpop+jwt", "HS256", key.jwk()), claims("POST", &token_url, now))),
            ("a private key in the header", key.sign(header("dpop+jwt", "ES256", private_jwk), claims("POST", &token_url, now))),
            ("signed by another key than its jwk", other.sign(header("dpop+jwt", "ES256", key.jwk()), claims("POST", &token_url, now))),
            ("no jti", key.sign(header("dpop+jwt", "ES256", key.jwk()), json!({ "htm": "POST", "htu": token_url, "iat": now }))),
            ("not a JWT", "not-a-jwt".to_string()),
        ];
        for (what, proof) in &bad {
            let (status, _, body) = post(&srv, "/token", &w, CC, &[proof]).await;
            assert_eq!((status, body["error"].as_str()), (400, Some("invalid_dpop_proof")), "{what}: {body}");
        }
        // Oversized: a 10 KiB proof is refused before any parsing.
        let huge = "a".repeat(10 * 1024);
        let (status, _, body) = post(&srv, "/token", &w, CC, &[&huge]).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_dpop_proof")), "an oversized proof");
        // §4.3 check 1: exactly one DPoP header.
        let (a, b) = (key.proof("POST", &token_url, now, None, None), key.proof("POST", &token_url, now, None, None));
        let (status, _, body) = post(&srv, "/token", &w, CC, &[&a, &b]).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_dpop_proof")), "two DPoP headers");
        // htu is compared without its query (§4.3 check 9).
        let (status, _, _) = post(&srv, "/token", &w, CC, &[&key.proof("POST", &format!("{token_url}?x=1"), now, None, None)]).await;
        assert_eq!(status, 200);

        // Opaque tokens are bound the same way (the row keeps the thumbprint).
        let opaque = TokenSettings { format: Some(TokenFormat::Opaque), ..Default::default() };
        srv.state.registry.set_token_settings(&w.client_id, opaque, &["RS256"], "test").await.unwrap();
        let (_, _, body) = post(&srv, "/token", &w, CC, &[&key.proof("POST", &token_url, now, None, None)]).await;
        assert_eq!(body["token_type"], "DPoP", "{body}");
        let (_, _, info) = post(&srv, "/introspect", &w, &[("token", body["access_token"].as_str().unwrap())], &[]).await;
        assert_eq!((info["token_type"].as_str(), info["cnf"]["jkt"].as_str()), (Some("DPoP"), Some(key.thumbprint().as_str())), "{info}");

        // §5.2: an app held to DPoP sends a proof with every token request.
        let held = TokenSettings { require_dpop: Some(true), ..Default::default() };
        srv.state.registry.set_token_settings(&w.client_id, held, &["RS256"], "test").await.unwrap();
        let (status, _, body) = post(&srv, "/token", &w, CC, &[]).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_dpop_proof")), "{body}");
        let (status, _, _) = post(&srv, "/token", &w, CC, &[&key.proof("POST", &token_url, now, None, None)]).await;
        assert_eq!(status, 200);
        // The same requirement asked for at dynamic registration (§5.2 dpop_bound_access_tokens).
        let initial = gatehouse::oauth::registration::create_initial_token(&srv.state, 1).await.unwrap().0;
        let meta = json!({ "grant_types": ["client_credentials"], "response_types": [], "dpop_bound_access_tokens": true });
        let res = http().post(srv.url("/register")).bearer_auth(initial).json(&meta).send().await.unwrap();
        let registered: Value = res.json().await.unwrap();
        assert_eq!(registered["dpop_bound_access_tokens"], true, "{registered}");
        assert!(srv.state.registry.get(registered["client_id"].as_str().unwrap()).await.unwrap().require_dpop);
    }
);

both_backends!(
    async fn a_public_clients_refresh_token_and_userinfo_need_a_proof_of_the_same_key(srv) {
        let w = world(&srv).await;
        let partner = srv.state.registry.get(&w.client_id).await.unwrap().partner_id;
        let public = public_client(&srv, &partner, "Desktop app", REDIRECT).await;
        let key = DpopKey::new();
        let (token_url, userinfo_url) = (srv.url("/token"), srv.url("/userinfo"));
        let code = code_of(&srv, &mut Browser::new(), &public, &[("scope", "openid email offline_access")]).await;
        let redeem =
            [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", REDIRECT), ("code_verifier", VERIFIER)];
        let (status, _, tokens) = post(&srv, "/token", &public, &redeem, &[&key.proof("POST", &token_url, srv.clock.now(), None, None)]).await;
        assert_eq!((status, tokens["token_type"].as_str()), (200, Some("DPoP")), "{tokens}");
        let access = tokens["access_token"].as_str().unwrap().to_string();
        let refresh = tokens["refresh_token"].as_str().unwrap().to_string();

        // §7: userinfo with the DPoP scheme and a proof of the same key, for this token (ath).
        let userinfo = |scheme: &'static str, proof: Option<String>| {
            let mut req = http().get(&userinfo_url).header("authorization", format!("{scheme} {access}"));
            if let Some(p) = proof {
                req = req.header("DPoP", p);
            }
            req.send()
        };
        let now = srv.clock.now();
        let res = userinfo("DPoP", Some(key.proof("GET", &userinfo_url, now, Some(&access), None))).await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.json::<Value>().await.unwrap()["email"], "admin@example.com");
        let refused = [
            ("as a bearer token (§7.1)", userinfo("Bearer", None).await.unwrap()),
            ("without a proof", userinfo("DPoP", None).await.unwrap()),
            ("a proof without ath", userinfo("DPoP", Some(key.proof("GET", &userinfo_url, now, None, None))).await.unwrap()),
            ("a proof of another key", userinfo("DPoP", Some(DpopKey::new().proof("GET", &userinfo_url, now, Some(&access), None))).await.unwrap()),
            ("a proof for POST", userinfo("DPoP", Some(key.proof("POST", &userinfo_url, now, Some(&access), None))).await.unwrap()),
        ];
        for (what, res) in refused {
            assert_eq!(res.status(), 401, "{what}");
            let challenge = res.headers()["www-authenticate"].to_str().unwrap().to_string();
            assert!(challenge.starts_with("DPoP ") && challenge.contains("algs=\"ES256"), "{what}: {challenge}");
        }

        // §5: the public client's refresh token needs a proof of the same key.
        let form = [("grant_type", "refresh_token"), ("refresh_token", refresh.as_str())];
        let (status, _, body) = post(&srv, "/token", &public, &form, &[]).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_dpop_proof")), "without a proof: {body}");
        let (status, _, body) = post(&srv, "/token", &public, &form, &[&DpopKey::new().proof("POST", &token_url, now, None, None)]).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_dpop_proof")), "another key: {body}");
        let (status, _, body) = post(&srv, "/token", &public, &form, &[&key.proof("POST", &token_url, now, None, None)]).await;
        assert_eq!((status, body["token_type"].as_str()), (200, Some("DPoP")), "{body}");
        let (_, _, info) = post(&srv, "/introspect", &w, &[("token", body["access_token"].as_str().unwrap())], &[]).await;
        assert_eq!(info["active"], false, "another client does not see the token");
    }
);

both_backends!(
    env [("GATEHOUSE_DPOP_REQUIRE_NONCE", "true"), ("GATEHOUSE_OUTBOUND_ALLOW_PRIVATE_NETWORKS", "true")];
    async fn with_nonces_required_a_proof_carries_the_servers_nonce(srv) {
        let w = service(&srv).await;
        let key = DpopKey::new();
        let token_url = srv.url("/token");
        // §8: use_dpop_nonce, with the nonce to use.
        let (status, nonce, body) = post(&srv, "/token", &w, CC, &[&key.proof("POST", &token_url, srv.clock.now(), None, None)]).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("use_dpop_nonce")), "{body}");
        let nonce = nonce.expect("a DPoP-Nonce header");
        let (status, _, body) = post(&srv, "/token", &w, CC, &[&key.proof("POST", &token_url, srv.clock.now(), None, Some(&nonce))]).await;
        assert_eq!(status, 200, "{body}");
        let (status, _, _) = post(&srv, "/token", &w, CC, &[&key.proof("POST", &token_url, srv.clock.now(), None, Some("made-up"))]).await;
        assert_eq!(status, 400, "a nonce we did not issue");
        // A nonce lasts its five-minute window and the next, not longer.
        srv.clock.advance(700);
        let (status, _, body) = post(&srv, "/token", &w, CC, &[&key.proof("POST", &token_url, srv.clock.now(), None, Some(&nonce))]).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("use_dpop_nonce")), "a stale nonce");
    }
);
