//! Request objects (RFC 9101, issue 22) over HTTP on both databases: an app signs its
//! authorization request with its registered key and sends it by value to `/authorize` or
//! inside a push to `/par`; only the object's claims count (§6.3). Refused with
//! `invalid_request_object`: unsigned (`alg: none`, §10.2), HMAC-keyed with the public key,
//! tampered, signed with another app's key, for another audience (§4), another client_id
//! (§5), expired or too long-lived, and encrypted. The error goes to the front channel's
//! redirect URI only when it is registered for the app; otherwise our page shows it.
//! openid-client signs its requests in `conformance/node/rp.mjs`.

use serde_json::{json, Value};

use crate::harness::jwt::{hs256, rs256, unsigned};
use crate::harness::signin::{public_client, redeem, world, Browser, World, REDIRECT};
use crate::harness::{fixture, http, TestServer};

const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn private_pem() -> String {
    String::from_utf8(fixture("app-private.pem")).unwrap()
}

/// A request object's claims for `client_id`, valid for five minutes from the server's now.
fn claims(srv: &TestServer, client_id: &str) -> Value {
    let now = srv.clock.now();
    json!({
        "iss": client_id, "aud": srv.base, "client_id": client_id, "exp": now + 300, "iat": now, "nbf": now,
        "jti": gatehouse::crypto::random_id(), "response_type": "code", "redirect_uri": REDIRECT,
        "scope": "openid email", "state": "signed-state", "nonce": "signed-nonce", "max_age": 3600,
        "code_challenge": CHALLENGE, "code_challenge_method": "S256",
    })
}

fn signed(claims: Value) -> String {
    rs256(&private_pem(), json!({"alg": "RS256", "typ": "oauth-authz-req+jwt"}), claims)
}

/// `/authorize` with `client_id`, `request` and other (ignored or fallback) parameters.
fn front(srv: &TestServer, client_id: &str, request: &str, extra: &[(&str, &str)]) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("client_id", client_id).append_pair("request", request);
    for (k, v) in extra {
        q.append_pair(k, v);
    }
    format!("{}?{}", srv.url("/authorize"), q.finish())
}

/// The error a refused object gets: `(status, error at the redirect URI if redirected)`.
async fn refusal(url: &str) -> (u16, Option<String>) {
    let res = http().get(url).send().await.unwrap();
    let status = res.status().as_u16();
    let error = res.headers().get("location").map(|l| {
        let l = l.to_str().unwrap();
        assert!(l.starts_with(REDIRECT), "{l}");
        let q: Vec<(String, String)> =
            form_urlencoded::parse(l.split_once('?').unwrap().1.as_bytes()).into_owned().collect();
        q.iter().find(|(k, _)| k == "error").map(|(_, v)| v.clone()).unwrap_or_default()
    });
    (status, error)
}

async fn with_key(srv: &TestServer) -> World {
    let w = world(srv).await;
    srv.state.registry.add_certificate(&w.client_id, &fixture("app-public.pem"), None, "test").await.unwrap();
    w
}

both_backends!(
    async fn a_signed_request_object_is_the_request_by_value_and_inside_a_push(srv) {
        let w = with_key(&srv).await;
        let doc: Value = http().get(srv.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
        assert_eq!(doc["request_parameter_supported"], true);
        assert!(doc["request_object_signing_alg_values_supported"].as_array().unwrap().contains(&json!("RS256")));

        // By value: the browser's own state, scope and redirect_uri are ignored (RFC 9101 §6.3).
        let url = front(&srv, &w.client_id, &signed(claims(&srv, &w.client_id)), &[
            ("state", "tampered"), ("scope", "openid profile"), ("redirect_uri", "https://evil.example/cb"),
        ]);
        let answer = Browser::new().sign_in(&srv, &url, "admin@example.com").await;
        let get = |k: &str| answer.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        assert_eq!(get("state").as_deref(), Some("signed-state"), "{answer:?}");
        let (status, tokens) = redeem(&srv.base, &w, &get("code").unwrap()).await;
        assert_eq!(status, 200, "{tokens}");
        assert_eq!(tokens["scope"], "openid email");

        // Inside a push (RFC 9126 §3): the object is the request; the push authenticates the app.
        let jwt = signed(claims(&srv, &w.client_id));
        let res = http()
            .post(srv.url("/par"))
            .basic_auth(&w.client_id, Some(&w.secret))
            .form(&[("client_id", w.client_id.as_str()), ("request", jwt.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        let uri = res.json::<Value>().await.unwrap()["request_uri"].as_str().unwrap().to_string();
        let q = form_urlencoded::Serializer::new(String::new()).append_pair("client_id", &w.client_id).append_pair("request_uri", &uri).finish();
        let answer = Browser::new().sign_in(&srv, &format!("{}?{q}", srv.url("/authorize")), "admin@example.com").await;
        assert!(answer.iter().any(|(k, v)| k == "state" && v == "signed-state"), "{answer:?}");
        assert!(answer.iter().any(|(k, _)| k == "code"), "{answer:?}");
    }
);

both_backends!(
    async fn every_untrustworthy_request_object_is_refused_and_only_redirected_to_a_registered_uri(srv) {
        let w = with_key(&srv).await;
        let other = public_client(&srv, &srv.partner().await, "Other", REDIRECT).await;
        let fallback = [("redirect_uri", REDIRECT), ("state", "front")];
        let id = w.client_id.as_str();
        let changed = |name: &str, value: Value| {
            let mut c = claims(&srv, id);
            c[name] = value;
            c
        };
        let good = signed(claims(&srv, id));
        let (head, rest) = good.split_once('.').unwrap();
        let (_, sig) = rest.split_once('.').unwrap();
        let tampered_payload = gatehouse::crypto::b64url(changed("scope", json!("openid email profile")).to_string().as_bytes());
        let public_key = fixture("app-public.pem");
        let now = srv.clock.now();
        let cases: Vec<(&str, String, &str)> = vec![
            ("alg none (RFC 9101 section 10.2)", unsigned(claims(&srv, id)), id),
            ("HMAC keyed with the public key", hs256(&public_key, json!({"alg": "HS256"}), claims(&srv, id)), id),
            ("tampered after signing", format!("{head}.{tampered_payload}.{sig}"), id),
            ("signed with another app's key", signed(claims(&srv, &other.client_id)), &other.client_id),
            ("another audience (section 4)", signed(changed("aud", json!("https://other-as.example"))), id),
            ("another client_id (section 5)", signed(changed("client_id", json!(other.client_id))), id),
            ("expired", signed(changed("exp", json!(now - 120))), id),
            ("valid for more than an hour", signed(changed("exp", json!(now + 7200))), id),
            ("without exp", signed({ let mut c = claims(&srv, id); c.as_object_mut().unwrap().remove("exp"); c }), id),
            ("not valid yet", signed(changed("nbf", json!(now + 600))), id),
            ("nesting a request_uri", signed(changed("request_uri", json!("urn:x"))), id),
            ("encrypted (five parts)", "a.b.c.d.e".to_string(), id),
            ("oversized (20 KiB)", format!("{}.{}.sig", "e".repeat(10_000), "e".repeat(10_000)), id),
        ];
        for (what, jwt, client_id) in &cases {
            // With a registered redirect URI in the front channel, the error goes there, with its state.
            let (status, error) = refusal(&front(&srv, client_id, jwt, &fallback)).await;
            assert_eq!((status, error.as_deref()), (303, Some("invalid_request_object")), "{what}");
            // Without one, our page: the object's own redirect URI is not trusted.
            let (status, error) = refusal(&front(&srv, client_id, jwt, &[])).await;
            assert_eq!((status, error), (400, None), "{what}");
        }
        // A redirect URI not registered for the app is never used, even as a fallback.
        let (status, error) = refusal(&front(&srv, id, &cases[0].1, &[("redirect_uri", "https://evil.example/cb")])).await;
        assert_eq!((status, error), (400, None));

        // The same at the PAR endpoint: the token endpoint's error shape.
        for (what, jwt, _) in cases.iter().filter(|(_, _, c)| *c == id) {
            let res = http()
                .post(srv.url("/par"))
                .basic_auth(&w.client_id, Some(&w.secret))
                .form(&[("request", jwt.as_str())])
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 400, "{what}");
            assert_eq!(res.json::<Value>().await.unwrap()["error"], "invalid_request_object", "{what}");
        }
        // A request object of this app pushed by another app is refused too.
        let res = http().post(srv.url("/par")).form(&[("client_id", other.client_id.as_str()), ("request", good.as_str())]).send().await.unwrap();
        assert_eq!(res.status(), 400);
    }
);
