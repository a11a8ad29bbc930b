//! `Idempotency-Key` on every create (`POST`) of the admin API: a retry with the same key and
//! request gets the first answer again (`Idempotent-Replayed: true`) instead of a second
//! object; the same key with another request is 422, and while the first still runs, 409.
//! Keys are the calling app's own and are remembered for a day. A secret in the first
//! answer is never stored, so its replay names the object without it. Creating an app is the
//! exception: its key is recorded in the app's own row, in the same commit (`apps::create`).
//! A replay never names what is gone: deleting an object forgets the keys that created it (a
//! retry creates again, as for apps), and a create under a deleted app is not replayed (404).

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{Caller, Problem};
use crate::store::idempotency::Begun;
use crate::AppState;

/// The largest request or answer body this layer reads; API bodies are far smaller.
const MAX_BODY: usize = 1 << 20;

/// Members of an answer that are secrets: dropped from what is stored for replays.
const SECRET_MEMBERS: [&str; 2] = ["client_secret", "secret"];

/// The key, if the request is a create that carries a well-formed one.
fn key_of(req: &Request) -> Option<Result<String, Problem>> {
    // Creating an app keeps its key in the app's own row, in the creating commit, and answers a
    // retry with the app as it is now; a deleted app's key goes with it, so a retry after the
    // deletion creates again rather than naming an app that no longer exists.
    if req.method() != Method::POST || req.uri().path() == "/api/v1/apps" {
        return None;
    }
    let value = req.headers().get("idempotency-key")?;
    Some(match value.to_str() {
        Ok(k) if (1..=100).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()) => Ok(k.to_string()),
        _ => Err(Problem::bad_request("Idempotency-Key must be 1 to 100 visible characters")),
    })
}

pub async fn layer(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if req.method() == Method::DELETE {
        return deleted(&state, req, next).await;
    }
    let Some(key) = key_of(&req) else {
        return next.run(req).await;
    };
    let (mut parts, body) = req.into_parts();
    // Keys are per calling app: the handler reuses this caller rather than checking again.
    // Who calls is checked before the key, so a caller without a token hears 401 first.
    let caller = match Caller::from_request_parts(&mut parts, &state).await {
        Ok(caller) => caller,
        Err(problem) => return problem.into_response(),
    };
    let key = match key {
        Ok(key) => key,
        Err(problem) => return problem.into_response(),
    };
    let client_id = caller.client_id.clone();
    parts.extensions.insert(caller);
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY).await else {
        return Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "the body is too large").into_response();
    };
    let mut seen = format!("{} {}\n", parts.method, parts.uri.path()).into_bytes();
    seen.extend_from_slice(&bytes);
    let fingerprint = crate::crypto::hex(&crate::crypto::sha256(&seen));
    let begun = state.store.idempotency_begin(&client_id, &key, &fingerprint, state.clock.now()).await;
    match begun {
        Err(e) => return Problem::from(e).into_response(),
        Ok(Begun::Mismatch) => {
            return Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "this Idempotency-Key was used for another request")
                .into_response()
        }
        Ok(Begun::Running) => {
            return Problem::new(StatusCode::CONFLICT, "a request with this Idempotency-Key is still running")
                .into_response()
        }
        Ok(Begun::Replay { status, body, etag }) => {
            // A create under an app is replayed only while the caller still sees that app: after
            // the app was deleted a retry hears 404, as it would without a key, rather than an
            // answer naming a secret, certificate or webhook of an app that is gone.
            if let Some(target) = app_in_path(&mut parts, &state).await {
                let caller = parts.extensions.get::<Caller>().expect("inserted above");
                if let Err(problem) = caller.app(&state, &target).await {
                    return problem.into_response();
                }
            }
            return replay(status, body, etag);
        }
        Ok(Begun::Run) => {}
    }
    let res = next.run(Request::from_parts(parts, axum::body::Body::from(bytes))).await;
    if !res.status().is_success() {
        if let Err(e) = state.store.idempotency_release(&client_id, &key).await {
            // The key stays held until it is stale; a retry meanwhile hears 409.
            crate::store::log_unavailable(&e);
        }
        return res;
    }
    let (res_parts, res_body) = res.into_parts();
    let Ok(answer) = axum::body::to_bytes(res_body, MAX_BODY).await else {
        return Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "the answer could not be read").into_response();
    };
    let etag = res_parts.headers.get(header::ETAG).and_then(|v| v.to_str().ok());
    let stored = without_secrets(&answer);
    if let Err(e) = state.store.idempotency_finish(&client_id, &key, res_parts.status.as_u16(), &stored, etag).await {
        // The change is made; a retry after the key goes stale would repeat it, so say so.
        tracing::warn!(target: "gatehouse::api", client_id, error = %e, "an idempotent answer was not recorded");
    }
    Response::from_parts(res_parts, axum::body::Body::from(answer))
}

/// A deletion, after which no key replays the creation of what it deleted (the route's last
/// parameter, the object's `id`).
async fn deleted(state: &AppState, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let id = path_params(&mut parts, state).await.pop().map(|(_, id)| id).unwrap_or_default();
    let res = next.run(Request::from_parts(parts, body)).await;
    if res.status().is_success() && !id.is_empty() {
        if let Err(e) = state.store.idempotency_forget_created(&id).await {
            // The object is gone either way; a replay meanwhile names it, as before this rule.
            crate::store::log_unavailable(&e);
        }
    }
    res
}

/// The `{client_id}` of a route under `/api/v1/apps/{client_id}/`.
async fn app_in_path(parts: &mut axum::http::request::Parts, state: &AppState) -> Option<String> {
    if !parts.uri.path().starts_with("/api/v1/apps/") {
        return None;
    }
    path_params(parts, state).await.into_iter().find(|(name, _)| name == "client_id").map(|(_, id)| id)
}

/// The matched route's parameters in path order, decoded as its handler sees them.
async fn path_params(parts: &mut axum::http::request::Parts, state: &AppState) -> Vec<(String, String)> {
    axum::extract::Path::<Vec<(String, String)>>::from_request_parts(parts, state)
        .await
        .map(|p| p.0)
        .unwrap_or_default()
}

/// The answer as stored: JSON without its secret members.
fn without_secrets(answer: &Bytes) -> String {
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(members) => {
                members.retain(|k, _| !SECRET_MEMBERS.contains(&k.as_str()));
                members.values_mut().for_each(strip);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    match serde_json::from_slice::<serde_json::Value>(answer) {
        Ok(mut v) => {
            strip(&mut v);
            v.to_string()
        }
        Err(_) => "null".into(),
    }
}

fn replay(status: u16, body: String, etag: Option<String>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let mut res = (status, body).into_response();
    let headers = res.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    if let Some(etag) = etag.and_then(|e| HeaderValue::from_str(&e).ok()) {
        headers.insert(header::ETAG, etag);
    }
    res
}

/// Documents the header on every create in the OpenAPI document.
pub struct IdempotencyHeader;

impl utoipa::Modify for IdempotencyHeader {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
        use utoipa::openapi::{ObjectBuilder, Required, Type};
        for item in openapi.paths.paths.values_mut() {
            let Some(post) = item.post.as_mut() else { continue };
            let parameters = post.parameters.get_or_insert_with(Vec::new);
            if parameters.iter().any(|p| p.name.eq_ignore_ascii_case("idempotency-key")) {
                continue;
            }
            let schema = ObjectBuilder::new().schema_type(Type::String).min_length(Some(1)).max_length(Some(100));
            parameters.push(
                ParameterBuilder::new()
                    .name("Idempotency-Key")
                    .parameter_in(ParameterIn::Header)
                    .required(Required::False)
                    .description(Some("Makes a retried create safe: the same key and request get the first answer"))
                    .schema(Some(schema))
                    .build(),
            );
        }
    }
}
