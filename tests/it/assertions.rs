//! private_key_jwt client authentication and the JWT bearer grant, with every forgery a
//! hostile client tries.

use serde_json::{json, Value};

use crate::harness::apps::{app, jwt_claims, post, TestApp};
use crate::harness::jwt::{hs256, rs256, unsigned};
use crate::harness::{fixture, TestServer};
use gatehouse::apps::Template;
use gatehouse::secret::Secret;

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

fn private_pem() -> String {
    String::from_utf8(fixture("app-private.pem")).unwrap()
}

/// An app with the fixture certificate registered; returns the app and the certificate's kid.
async fn app_with_cert(srv: &TestServer) -> (TestApp, String) {
    let a = app(srv, Template::ServerToServer).await;
    let cert = srv.state.registry.add_certificate(&a.client_id, &fixture("app-cert.pem"), None, "test").await.unwrap();
    (a, cert.kid)
}

fn claims(srv: &TestServer, iss: &str) -> Value {
    let now = srv.clock.now();
    json!({ "iss": iss, "sub": iss, "aud": srv.base, "exp": now + 120, "iat": now, "jti": gatehouse::crypto::random_id() })
}

async fn with_assertion(srv: &TestServer, assertion: &str) -> (u16, Value) {
    let (status, _, body) = post(
        srv,
        "/token",
        None,
        &[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", assertion),
        ],
    )
    .await;
    (status, body)
}

both_backends!(
    async fn private_key_jwt_authenticates_with_a_registered_certificate_once(srv) {
        let (a, kid) = app_with_cert(&srv).await;
        let header = json!({"alg": "RS256", "kid": kid, "typ": "JWT"});
        let assertion = rs256(&private_pem(), header.clone(), claims(&srv, &a.client_id));
        let (status, body) = with_assertion(&srv, &assertion).await;
        assert_eq!(status, 200, "{body}");
        // The same assertion again is a replay.
        let (status, body) = with_assertion(&srv, &assertion).await;
        assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));
        assert!(body["error_description"].as_str().unwrap().contains("already used"));
        // The token endpoint URL is accepted as audience too (OIDC Core §9), and no kid at all.
        let mut c = claims(&srv, &a.client_id);
        c["aud"] = json!(srv.url("/token"));
        let (status, body) = with_assertion(&srv, &rs256(&private_pem(), json!({"alg": "RS256"}), c)).await;
        assert_eq!(status, 200, "{body}");
    }
);

both_backends!(
    async fn forged_client_assertions_are_refused(srv) {
        let (a, kid) = app_with_cert(&srv).await;
        let (b, _) = {
            let b = app(&srv, Template::ServerToServer).await;
            let (_, private) = srv.state.registry.generate_certificate(&b.client_id, None, "test").await.unwrap();
            (b, private)
        };
        let b_kid = srv.state.registry.certificates(&b.client_id).await.unwrap()[0].kid.clone();
        let pem = private_pem();
        let good_header = json!({"alg": "RS256", "kid": kid});
        let public_pem = fixture("app-public.pem");
        let now = srv.clock.now();
        let tokens_before = crate::harness::apps::jwt_claims; // keep the helper in scope for readers
        let _ = tokens_before;
        let with = |f: &dyn Fn(&mut Value)| {
            let mut c = claims(&srv, &a.client_id);
            f(&mut c);
            c
        };
        let cases: Vec<(&str, String)> = vec![
            ("alg none", unsigned(claims(&srv, &a.client_id))),
            ("HS256 with the public key as secret", hs256(&public_pem, json!({"alg": "HS256", "kid": kid}), claims(&srv, &a.client_id))),
            ("kid of another app", rs256(&pem, json!({"alg": "RS256", "kid": b_kid}), claims(&srv, &a.client_id))),
            ("jku header", rs256(&pem, json!({"alg": "RS256", "kid": kid, "jku": "https://evil.example/jwks"}), claims(&srv, &a.client_id))),
            ("jwk header", rs256(&pem, json!({"alg": "RS256", "jwk": {"kty": "RSA", "n": "AQAB", "e": "AQAB"}}), claims(&srv, &a.client_id))),
            ("x5c header", rs256(&pem, json!({"alg": "RS256", "x5c": ["AAAA"]}), claims(&srv, &a.client_id))),
            ("aud array", rs256(&pem, good_header.clone(), with(&|c| c["aud"] = json!([srv.base.clone(), "https://other.example"])))),
            ("aud of another issuer", rs256(&pem, good_header.clone(), with(&|c| c["aud"] = json!("https://other.example")))),
            ("exp far in the future", rs256(&pem, good_header.clone(), with(&|c| c["exp"] = json!(now + 86_400)))),
            ("exp missing", rs256(&pem, good_header.clone(), with(&|c| { c.as_object_mut().unwrap().remove("exp"); }))),
            ("expired", rs256(&pem, good_header.clone(), with(&|c| c["exp"] = json!(now - 120)))),
            ("sub differs from iss", rs256(&pem, good_header.clone(), with(&|c| c["sub"] = json!("someone-else")))),
            ("iss of another app", rs256(&pem, good_header.clone(), with(&|c| { c["iss"] = json!(b.client_id.clone()); c["sub"] = json!(b.client_id.clone()); }))),
            ("no jti", rs256(&pem, good_header.clone(), with(&|c| { c.as_object_mut().unwrap().remove("jti"); }))),
            ("signature by another key", {
                let (_, other) = gatehouse::jose::certificate::generate_rsa().unwrap();
                rs256(other.pem.expose(), good_header.clone(), claims(&srv, &a.client_id))
            }),
            ("not a JWT", "garbage".to_string()),
        ];
        let jtis_before = count_rows(&srv, "used_jtis").await;
        for (case, assertion) in cases {
            let (status, body) = with_assertion(&srv, &assertion).await;
            assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "{case}: {body}");
            assert!(!body.to_string().to_lowercase().contains("panic"), "{case}");
        }
        assert_eq!(count_rows(&srv, "used_jtis").await, jtis_before, "refused assertions burn no jti");
        // A revoked certificate no longer verifies.
        let cert_id = srv.state.registry.certificates(&a.client_id).await.unwrap()[0].id.clone();
        srv.state.registry.revoke_certificate(&a.client_id, &cert_id, "test").await.unwrap();
        let (status, _) = with_assertion(&srv, &rs256(&pem, good_header, claims(&srv, &a.client_id))).await;
        assert_eq!(status, 401, "revoked certificate");
        // A wrong assertion type is a malformed request.
        let (status, _, body) = post(&srv, "/token", None, &[("grant_type", "client_credentials"), ("client_assertion_type", "urn:other"), ("client_assertion", "x.y.z")]).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")));
    }
);

async fn count_rows(srv: &TestServer, table: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM {table}");
    gatehouse::on_db!(&srv.state.store.db, pool => sqlx::query_scalar::<_, i64>(&sql).fetch_one(pool).await.unwrap())
}

both_backends!(
    async fn one_assertion_raced_many_times_succeeds_once(srv) {
        let (a, kid) = app_with_cert(&srv).await;
        let assertion = rs256(&private_pem(), json!({"alg": "RS256", "kid": kid}), claims(&srv, &a.client_id));
        let base = srv.base.clone();
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let url = format!("{base}/token");
                let assertion = assertion.clone();
                tokio::spawn(async move {
                    crate::harness::http()
                        .post(url)
                        .form(&[("grant_type", "client_credentials"), ("client_assertion_type", ASSERTION_TYPE), ("client_assertion", &assertion)])
                        .send()
                        .await
                        .unwrap()
                        .status()
                        .as_u16()
                })
            })
            .collect();
        let mut statuses = Vec::new();
        for t in tasks {
            statuses.push(t.await.unwrap());
        }
        assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
        assert!(statuses.iter().all(|s| *s == 200 || *s == 401), "no 5xx: {statuses:?}");
    }
);

/// A tenant with a user, approving `client_id`.
async fn tenant_user(srv: &TestServer, client_id: &str, approve: bool) -> String {
    let dir = &srv.state.directory;
    dir.add_tenant("Cust500", "Customer", None, None, "test").await.unwrap();
    let user = dir
        .add_user("eve@example.com", None, "Cust500", false, Secret::new("a long enough passphrase".into()), "test")
        .await
        .unwrap();
    if approve {
        let app = srv.state.registry.get(client_id).await.unwrap();
        srv.state.approvals.approve("Cust500", &app, None, "test").await.unwrap();
    }
    user.id
}

async fn bearer(srv: &TestServer, a: &TestApp, assertion: &str) -> (u16, Value) {
    let (status, _, body) =
        post(srv, "/token", Some((&a.client_id, &a.secret)), &[("grant_type", JWT_BEARER), ("assertion", assertion)])
            .await;
    (status, body)
}

both_backends!(
    async fn jwt_bearer_with_the_apps_own_signature_for_a_user_of_an_approving_tenant(srv) {
        let (a, kid) = app_with_cert(&srv).await;
        // Acting for users is an integration point of its own (issue 16; tests/it/hardening.rs).
        srv.state.registry.add_entitlement(&a.client_id, gatehouse::apps::Entitlement::ActForUsers, None, "test").await.unwrap();
        let user_id = tenant_user(&srv, &a.client_id, false).await;
        let mut c = claims(&srv, &a.client_id);
        c["sub"] = json!("eve@example.com");
        let header = json!({"alg": "RS256", "kid": kid});
        let (status, body) = bearer(&srv, &a, &rs256(&private_pem(), header.clone(), c.clone())).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "tenant has not approved: {body}");
        let app = srv.state.registry.get(&a.client_id).await.unwrap();
        srv.state.approvals.approve("Cust500", &app, None, "test").await.unwrap();
        c["jti"] = json!(gatehouse::crypto::random_id());
        let assertion = rs256(&private_pem(), header.clone(), c.clone());
        let (status, body) = bearer(&srv, &a, &assertion).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(jwt_claims(body["access_token"].as_str().unwrap()).1["sub"], user_id.as_str());
        let (status, body) = bearer(&srv, &a, &assertion).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "replay: {body}");
        let (status, body) = bearer(&srv, &a, &unsigned(c.clone())).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "alg none: {body}");
        c["sub"] = json!("nobody@example.com");
        c["jti"] = json!(gatehouse::crypto::random_id());
        let (status, _) = bearer(&srv, &a, &rs256(&private_pem(), header, c)).await;
        assert_eq!(status, 400, "unknown user");
        let (status, _, body) = post(&srv, "/token", Some((&a.client_id, &a.secret)), &[("grant_type", JWT_BEARER)]).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")));
    }
);

both_backends!(
    async fn jwt_credentials_work_only_for_the_apps_they_name_until_revoked(srv) {
        let a = app(&srv, Template::ServerToServer).await;
        let b = app(&srv, Template::ServerToServer).await;
        tenant_user(&srv, &a.client_id, true).await;
        let issued = gatehouse::oauth::credentials::create(&srv.state, "eve@example.com", "Cust500", std::slice::from_ref(&a.client_id), None, "test").await.unwrap();
        let jwt = issued.jwt.expose().clone();
        let (status, body) = bearer(&srv, &a, &jwt).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.get("refresh_token").is_none(), "server-to-server apps do not allow refresh tokens by default");
        // Reusable (it is a credential, not a one-time assertion), and it outlives key rotation.
        srv.state.keys.rotate(gatehouse::jose::Alg::RS256, "test").await.unwrap();
        srv.clock.advance(srv.state.config.retired_key_ttl + 10);
        srv.state.keys.rotate(gatehouse::jose::Alg::RS256, "test").await.unwrap();
        let (status, _) = bearer(&srv, &a, &jwt).await;
        assert_eq!(status, 200);
        let (status, body) = bearer(&srv, &b, &jwt).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "not named: {body}");
        let listed = gatehouse::oauth::credentials::list(&srv.state, "eve@example.com").await.unwrap();
        assert_eq!(listed.len(), 1);
        assert!(!serde_json::to_string(&listed).unwrap().contains(&jwt));
        gatehouse::oauth::credentials::revoke(&srv.state, &issued.credential.id, "test").await.unwrap();
        let (status, body) = bearer(&srv, &a, &jwt).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "revoked: {body}");
        // A credential of our issuer that we never stored is refused.
        let forged = srv.state.keys.sign(gatehouse::jose::Alg::RS256, "JWT", &json!({"iss": srv.base, "sub": "x"})).unwrap();
        let (status, _) = bearer(&srv, &a, &forged).await;
        assert_eq!(status, 400);
    }
);
