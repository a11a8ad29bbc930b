//! How answers and errors travel. Every error body has the RFC 6749 §5.2 shape
//! (`error`, `error_description`) with `Cache-Control: no-store`; causes go to the log only.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::error::Error;
use crate::oauth::{ErrorCode, OAuthError};

/// A JSON document that clients may cache for `max_age` seconds.
pub fn cached_json(body: Vec<u8>, max_age: u32) -> Response {
    let mut res = (StatusCode::OK, body).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={max_age}")) {
        h.insert(header::CACHE_CONTROL, v);
    }
    res
}

/// An OAuth-shaped JSON error with the given status.
pub fn oauth_error(status: StatusCode, err: &OAuthError) -> Response {
    let body = serde_json::to_vec(err).unwrap_or_default();
    let mut res = (status, body).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// Maps a domain error to a status and an OAuth-shaped body. Internal causes are logged here
/// and replaced by a generic sentence.
pub fn domain_error(e: &Error) -> Response {
    match e {
        Error::Invalid { .. } => oauth_error(StatusCode::BAD_REQUEST, &OAuthError::invalid_request(e.to_string())),
        Error::NotFound(_) => oauth_error(StatusCode::NOT_FOUND, &OAuthError::new(ErrorCode::NotFound, e.to_string())),
        Error::Conflict(_) => oauth_error(StatusCode::CONFLICT, &OAuthError::invalid_request(e.to_string())),
        Error::Unavailable(cause) => {
            crate::store::log_unavailable(cause);
            oauth_error(StatusCode::SERVICE_UNAVAILABLE, &OAuthError::temporarily_unavailable())
        }
        Error::Internal(cause) => {
            tracing::error!(error = ?cause, "internal error");
            oauth_error(StatusCode::INTERNAL_SERVER_ERROR, &OAuthError::server_error())
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        domain_error(&self)
    }
}

pub async fn not_found() -> Response {
    oauth_error(StatusCode::NOT_FOUND, &OAuthError::new(ErrorCode::NotFound, "no such endpoint"))
}

pub async fn method_not_allowed() -> Response {
    oauth_error(
        StatusCode::METHOD_NOT_ALLOWED,
        &OAuthError::new(ErrorCode::MethodNotAllowed, "this endpoint does not accept that HTTP method"),
    )
}

/// The challenge sent with every 401 `invalid_client` (RFC 6749 §5.2, RFC 9110 §11.6.1).
pub static BASIC_CHALLENGE: HeaderValue = HeaderValue::from_static("Basic realm=\"gatehouse\", charset=\"UTF-8\"");

/// A JSON body that must not be cached: tokens, introspection (RFC 6749 §5.1).
pub fn no_store_json(status: StatusCode, body: &impl serde::Serialize) -> Response {
    let body = serde_json::to_vec(body).unwrap_or_default();
    let mut res = (status, body).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    res
}

/// Every protocol error becomes its response here, the same way at every endpoint: the RFC's
/// code and status (401 with a challenge for `invalid_client`), `no-store`, and a cause that is
/// logged but never sent.
impl IntoResponse for crate::oauth::ProtocolError {
    fn into_response(self) -> Response {
        use crate::oauth::ProtocolError;
        match self {
            ProtocolError::OAuth(err) => {
                let status = match err.code {
                    ErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
                    ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
                    ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
                    _ => StatusCode::BAD_REQUEST,
                };
                let mut res = oauth_error(status, &err);
                if status == StatusCode::UNAUTHORIZED {
                    res.headers_mut().insert(header::WWW_AUTHENTICATE, BASIC_CHALLENGE.clone());
                }
                res.headers_mut().insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
                res
            }
            ProtocolError::Unavailable(cause) => {
                crate::store::log_unavailable(&cause);
                oauth_error(StatusCode::SERVICE_UNAVAILABLE, &OAuthError::temporarily_unavailable())
            }
            ProtocolError::Internal(cause) => {
                tracing::error!(error = ?cause, "internal error");
                oauth_error(StatusCode::INTERNAL_SERVER_ERROR, &OAuthError::server_error())
            }
        }
    }
}
