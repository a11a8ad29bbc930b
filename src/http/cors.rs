//! CORS (Fetch standard) for the endpoints a browser app calls. Discovery and JWKS are public
//! documents: any origin may read them. The token, revocation and userinfo endpoints answer
//! only the origins registered for the client the request turned out to be (handlers name it
//! with a `CorsClient` response extension). A preflight names no client, so it is allowed for
//! an origin some app registered; the real request is then checked against its own client.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::paths;
use crate::AppState;

/// The client a response belongs to, set by the handler once it knows.
#[derive(Debug, Clone)]
pub struct CorsClient(pub String);

/// How long a browser may cache a preflight answer, in seconds.
const PREFLIGHT_MAX_AGE: &str = "600";
/// Request headers a browser app may send (`DPoP` arrives with its issue).
/// `dpop`: browser apps send DPoP proofs (RFC 9449), and read `dpop-nonce` back.
const ALLOWED_HEADERS: &str = "authorization, content-type, accept, dpop";

enum Policy {
    /// Public documents: `*`.
    Anyone,
    /// Per client; the methods the endpoint serves.
    RegisteredFor(&'static str),
}

fn policy(path: &str) -> Option<Policy> {
    match path {
        paths::DISCOVERY | paths::AS_METADATA | paths::SUPERID_DISCOVERY | paths::JWKS | paths::SUPERID_JWKS => {
            Some(Policy::Anyone)
        }
        paths::TOKEN | paths::SUPERID_TOKEN | paths::REVOKE => Some(Policy::RegisteredFor("POST")),
        paths::USERINFO => Some(Policy::RegisteredFor("GET, POST")),
        _ => None,
    }
}

pub async fn cors(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(policy) = policy(req.uri().path()) else { return next.run(req).await };
    let origin = req.headers().get(header::ORIGIN).and_then(|o| o.to_str().ok()).map(str::to_string);
    let preflight =
        req.method() == Method::OPTIONS && req.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    match (policy, origin) {
        (Policy::Anyone, _) if preflight => preflight_answer(HeaderValue::from_static("*"), "GET", false),
        (Policy::Anyone, _) => {
            let mut res = next.run(req).await;
            res.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
            res
        }
        (Policy::RegisteredFor(methods), Some(origin)) if preflight => {
            if registered_anywhere(&state, &origin).await {
                match HeaderValue::from_str(&origin) {
                    Ok(v) => preflight_answer(v, methods, true),
                    Err(_) => StatusCode::FORBIDDEN.into_response(),
                }
            } else {
                tracing::info!(origin = %printable(&origin), "CORS preflight from an origin no app registered");
                StatusCode::FORBIDDEN.into_response()
            }
        }
        (Policy::RegisteredFor(_), Some(origin)) => {
            let mut res = next.run(req).await;
            let allowed = match res.extensions().get::<CorsClient>() {
                Some(CorsClient(client_id)) => match state.registry.get_shared(client_id).await {
                    Ok(app) => app.cors_origins.iter().any(|o| o == &origin),
                    Err(_) => false,
                },
                // The client is unknown (authentication failed): only an error is read, and
                // only by an origin some app registered.
                None => res.status().is_client_error() && registered_anywhere(&state, &origin).await,
            };
            res.headers_mut().append(header::VARY, HeaderValue::from_static("origin"));
            if allowed {
                if let Ok(v) = HeaderValue::from_str(&origin) {
                    let h = res.headers_mut();
                    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
                    h.insert(
                        header::ACCESS_CONTROL_EXPOSE_HEADERS,
                        HeaderValue::from_static("www-authenticate, dpop-nonce"),
                    );
                }
            }
            res
        }
        (Policy::RegisteredFor(_), None) => next.run(req).await,
    }
}

async fn registered_anywhere(state: &AppState, origin: &str) -> bool {
    origin.len() <= crate::apps::redirect_uri::MAX_URI_LEN
        && state.store.is_registered_origin(origin).await.unwrap_or(false)
}

/// `vary`: the answer depends on the origin (not for `*`).
fn preflight_answer(origin: HeaderValue, methods: &'static str, vary: bool) -> Response {
    let mut res = StatusCode::NO_CONTENT.into_response();
    let h = res.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static(methods));
    h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static(ALLOWED_HEADERS));
    h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static(PREFLIGHT_MAX_AGE));
    if vary {
        h.insert(header::VARY, HeaderValue::from_static("origin"));
    }
    res
}

fn printable(s: &str) -> String {
    s.chars().filter(|c| c.is_ascii_graphic()).take(200).collect()
}
