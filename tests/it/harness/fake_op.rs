//! A scripted OpenID Provider on its own port, for the answers a real one never gives: its
//! discovery document, its JWKS and a token endpoint whose ID token is built as the test says
//! (the nonce, the issuer, which key signs and which `kid` it names), answered late or with
//! an error when asked. `/redirecting` is an issuer whose discovery document redirects to the
//! cloud metadata address.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::{get, post};
use serde_json::{json, Value};

use super::jwt::DpopKey;

/// What the token endpoint answers next.
pub struct Script {
    /// The ID token's nonce; the one the request carried is what a good OP sends.
    pub nonce: String,
    pub iss: Option<String>,
    /// Signs with the second key (`keys[1]`) instead of the first.
    pub sign_with_second: bool,
    pub kid: String,
    /// The `kid`s the JWKS publishes (`a` is the first key, `b` the second).
    pub published: Vec<&'static str>,
    pub status: u16,
    pub delay: Duration,
    pub email: String,
}

impl Default for Script {
    fn default() -> Self {
        Script {
            nonce: String::new(),
            iss: None,
            sign_with_second: false,
            kid: "a".into(),
            published: vec!["a"],
            status: 200,
            delay: Duration::ZERO,
            email: "pat@corp.example".into(),
        }
    }
}

pub struct FakeOp {
    pub base: String,
    pub script: Arc<Mutex<Script>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeOp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The client ID we have at the fake OP.
pub const CLIENT_ID: &str = "gatehouse-downstream";

impl FakeOp {
    pub async fn start() -> FakeOp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let script: Arc<Mutex<Script>> = Arc::default();
        let keys = Arc::new([DpopKey::new(), DpopKey::new()]);
        let discovery = json!({
            "issuer": base,
            "authorization_endpoint": format!("{base}/authorize"),
            "token_endpoint": format!("{base}/token"),
            "jwks_uri": format!("{base}/jwks"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["ES256"],
            "authorization_response_iss_parameter_supported": true,
        });
        let (s, k) = (script.clone(), keys.clone());
        let jwks = move || {
            let (s, k) = (s.clone(), k.clone());
            async move {
                let published = s.lock().unwrap().published.clone();
                let keys: Vec<Value> = published
                    .iter()
                    .map(|kid| {
                        let mut jwk = k[usize::from(*kid == "b")].jwk();
                        jwk["kid"] = json!(kid);
                        jwk["alg"] = json!("ES256");
                        jwk["use"] = json!("sig");
                        jwk
                    })
                    .collect();
                axum::Json(json!({ "keys": keys }))
            }
        };
        let (s, k, iss) = (script.clone(), keys.clone(), base.clone());
        let token = move || {
            let (s, k, iss) = (s.clone(), k.clone(), iss.clone());
            async move {
                let delay = s.lock().unwrap().delay;
                tokio::time::sleep(delay).await;
                let s = s.lock().unwrap();
                let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
                let claims = json!({
                    "iss": s.iss.clone().unwrap_or(iss),
                    "sub": "fake-1",
                    "aud": CLIENT_ID,
                    "iat": now,
                    "exp": now + 300,
                    "nonce": s.nonce,
                    "email": s.email,
                    "email_verified": true,
                    "name": "Pat Fake",
                });
                let key = &k[usize::from(s.sign_with_second)];
                let id_token = key.sign(json!({ "alg": "ES256", "typ": "JWT", "kid": s.kid }), claims);
                let body =
                    json!({ "access_token": "at", "token_type": "Bearer", "expires_in": 300, "id_token": id_token });
                (axum::http::StatusCode::from_u16(s.status).unwrap(), axum::Json(body))
            }
        };
        let app = axum::Router::new()
            .route("/.well-known/openid-configuration", get(move || std::future::ready(axum::Json(discovery.clone()))))
            .route("/jwks", get(jwks))
            .route("/token", post(token))
            .route(
                "/redirecting/.well-known/openid-configuration",
                get(|| async { axum::response::Redirect::temporary("http://169.254.169.254/latest/meta-data/") }),
            );
        let task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakeOp { base, script, task }
    }
}
