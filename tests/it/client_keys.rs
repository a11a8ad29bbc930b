//! Clients' keys as client libraries use them: the `kid` a client gave its key names it in
//! JWS headers (its thumbprint still does too); a header without `kid` tries every usable key of
//! the right type; keys published at a registered `jwks_uri` (RFC 7591 §2) are fetched from the
//! relying party's own listener, cached, and fetched again when an unknown kid appears.

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use crate::harness::jwt::rs256;
use crate::harness::{fixture, http, Backend, TestServer};

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

fn private_pem() -> String {
    String::from_utf8(fixture("app-private.pem")).unwrap()
}

/// The fixture's public key as a JWK with the client's own kid.
fn public_jwk(kid: &str) -> Value {
    let parsed = gatehouse::jose::certificate::parse(&fixture("app-public.pem")).unwrap();
    let mut jwk = parsed.key.to_jwk();
    jwk["kid"] = json!(kid);
    jwk
}

async fn register(srv: &TestServer, body: Value) -> (u16, Value) {
    let token = gatehouse::oauth::registration::create_initial_token(&srv.state, 1).await.unwrap().0;
    let res = http().post(srv.url("/register")).bearer_auth(token).json(&body).send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

fn assertion(srv: &TestServer, client_id: &str, kid: Option<&str>) -> String {
    let now = srv.clock.now();
    let claims = json!({ "iss": client_id, "sub": client_id, "aud": srv.url("/token"), "exp": now + 120, "iat": now,
        "jti": gatehouse::crypto::random_id() });
    let mut header = json!({"alg": "RS256", "typ": "JWT"});
    if let Some(k) = kid {
        header["kid"] = json!(k);
    }
    rs256(&private_pem(), header, claims)
}

async fn client_credentials(srv: &TestServer, assertion: &str) -> (u16, Value) {
    let res = http()
        .post(srv.url("/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", assertion),
        ])
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

fn service_metadata() -> Value {
    json!({ "grant_types": ["client_credentials"], "response_types": [], "token_endpoint_auth_method": "private_key_jwt",
        "client_name": "Keys" })
}

both_backends!(
    async fn a_client_signs_with_the_kid_it_registered(srv) {
        let mut meta = service_metadata();
        meta["jwks"] = json!({ "keys": [public_jwk("k1")] });
        let (status, reg) = register(&srv, meta).await;
        assert_eq!(status, 201, "{reg}");
        let client_id = reg["client_id"].as_str().unwrap();
        let cert = &srv.state.registry.certificates(client_id).await.unwrap()[0];
        assert_eq!(cert.client_kid.as_deref(), Some("k1"));

        // What every client library sends: the kid it gave the key.
        let (status, body) = client_credentials(&srv, &assertion(&srv, client_id, Some("k1"))).await;
        assert_eq!(status, 200, "{body}");
        // The RFC 7638 thumbprint still names it, and no kid tries the usable keys.
        let (status, body) = client_credentials(&srv, &assertion(&srv, client_id, Some(&cert.kid))).await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = client_credentials(&srv, &assertion(&srv, client_id, None)).await;
        assert_eq!(status, 200, "{body}");
        // A kid the app does not have is refused.
        let (status, body) = client_credentials(&srv, &assertion(&srv, client_id, Some("k2"))).await;
        assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "{body}");

        // A kid is unique among the app's usable keys.
        let other = gatehouse::jose::certificate::generate_rsa().unwrap().0;
        let mut jwk = other.to_jwk();
        jwk["kid"] = json!("k1");
        let dup = srv.state.registry.add_certificate(client_id, jwk.to_string().as_bytes(), None, "test").await;
        assert!(dup.unwrap_err().to_string().contains("k1"));
    }
);

/// The relying party's own listener serving its JWK Set; the set can be swapped (key rotation).
struct JwksServer {
    url: String,
    keys: Arc<Mutex<Value>>,
    hits: Arc<Mutex<u32>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn jwks_server(initial: Value) -> JwksServer {
    let keys = Arc::new(Mutex::new(initial));
    let hits = Arc::new(Mutex::new(0u32));
    let (k, h) = (keys.clone(), hits.clone());
    let app = axum::Router::new().route(
        "/jwks.json",
        axum::routing::get(move || {
            let (k, h) = (k.clone(), h.clone());
            async move {
                *h.lock().unwrap() += 1;
                axum::Json(k.lock().unwrap().clone())
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    JwksServer { url, keys, hits, task }
}

both_backends!(
    async fn keys_at_a_registered_jwks_uri_authenticate_and_rotate(srv) {
        // Before rotation the RP publishes another key under "old"; ours is not there yet.
        let old = gatehouse::jose::certificate::generate_rsa().unwrap().0;
        let mut old_jwk = old.to_jwk();
        old_jwk["kid"] = json!("old");
        let rp = jwks_server(json!({ "keys": [old_jwk.clone()] })).await;
        let mut meta = service_metadata();
        meta["jwks_uri"] = json!(rp.url);
        let (status, reg) = register(&srv, meta.clone()).await;
        assert_eq!(status, 201, "{reg}");
        assert_eq!(reg["jwks_uri"], rp.url.as_str());
        let client_id = reg["client_id"].as_str().unwrap().to_string();

        let (status, _) = client_credentials(&srv, &assertion(&srv, &client_id, Some("new"))).await;
        assert_eq!(status, 401, "the key is not published yet");
        // The RP rotates: "new" is published. Within the refetch interval the cached set stands.
        *rp.keys.lock().unwrap() = json!({ "keys": [old_jwk, public_jwk("new")] });
        let hits = *rp.hits.lock().unwrap();
        let (status, _) = client_credentials(&srv, &assertion(&srv, &client_id, Some("new"))).await;
        assert_eq!(status, 401);
        assert_eq!(*rp.hits.lock().unwrap(), hits, "unknown kids do not make us fetch again at once");
        srv.clock.advance(gatehouse::apps::client_keys::REFETCH_AFTER);
        let (status, body) = client_credentials(&srv, &assertion(&srv, &client_id, Some("new"))).await;
        assert_eq!(status, 200, "an unknown kid fetches the set again: {body}");
        // Cached: a second assertion does not fetch.
        let hits = *rp.hits.lock().unwrap();
        let (status, _) = client_credentials(&srv, &assertion(&srv, &client_id, Some("new"))).await;
        assert_eq!(status, 200);
        assert_eq!(*rp.hits.lock().unwrap(), hits);

        // RFC 7591 §2: jwks and jwks_uri MUST NOT both be present.
        meta["jwks"] = json!({ "keys": [public_jwk("k1")] });
        let (status, body) = register(&srv, meta).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_client_metadata")), "{body}");
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_default_a_jwks_uri_on_a_private_address_is_refused() {
    let srv = TestServer::start_with(Backend::Sqlite, &[]).await.unwrap();
    for uri in [
        "http://127.0.0.1:9/jwks.json",
        "https://127.0.0.1/jwks.json",
        "https://169.254.169.254/latest",
        "https://10.0.0.1/jwks",
    ] {
        let mut meta = service_metadata();
        meta["jwks_uri"] = json!(uri);
        let (status, body) = register(&srv, meta).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_client_metadata")), "{uri}: {body}");
    }
}
