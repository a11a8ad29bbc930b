//! An app from a template with its secret, and posting forms to the token endpoints.

use serde_json::Value;

use super::{http, TestServer};
use gatehouse::apps::{Access, NewApp, Template};

pub struct TestApp {
    pub client_id: String,
    pub secret: String,
}

pub async fn app(srv: &TestServer, template: Template) -> TestApp {
    let partner = srv.partner().await;
    let created = srv
        .state
        .registry
        .create(
            NewApp {
                partner_id: partner,
                name: "Sync service".into(),
                template,
                redirect_uris: vec![],
                access: Access::Public,
                technical_contact: None,
                justification: None,
            },
            "test",
        )
        .await
        .unwrap();
    TestApp { client_id: created.app.client_id, secret: created.client_secret.unwrap().secret.expose().clone() }
}

pub async fn post(
    srv: &TestServer,
    path: &str,
    auth: Option<(&str, &str)>,
    form: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut req = http().post(srv.url(path)).form(form);
    if let Some((id, secret)) = auth {
        req = req.basic_auth(id, Some(secret));
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let text = res.text().await.unwrap();
    (status, headers, serde_json::from_str(&text).unwrap_or(Value::Null))
}

pub fn jwt_claims(token: &str) -> (Value, Value) {
    let mut parts = token.split('.');
    let mut next =
        || serde_json::from_slice(&gatehouse::crypto::b64url_decode(parts.next().unwrap()).unwrap()).unwrap();
    (next(), next())
}
