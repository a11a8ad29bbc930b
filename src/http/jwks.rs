//! `GET /jwks` (RFC 7517 §5): current, next and recently retired public keys. The document is
//! serialised when keys load, not per request.

use axum::extract::State;
use axum::response::IntoResponse;

use crate::AppState;

pub async fn jwks(State(state): State<AppState>) -> impl IntoResponse {
    // A short cache: the next key is published long before it signs, so clients that
    // cache for five minutes never miss a key.
    super::respond::cached_json(state.keys.jwks().as_ref().clone(), 300)
}

/// `GET /login/.well-known/jwks`: the same keys, the RSA key that signs SuperID tokens first
/// (SuperOffice's samples verify with `keys[0]`).
pub async fn superid_jwks(State(state): State<AppState>) -> impl IntoResponse {
    super::respond::cached_json(state.keys.superid_jwks().as_ref().clone(), 300)
}

/// `GET /login/SuperOfficeFederatedLogin.crt`: the self-signed certificate (PEM) of the key
/// that signs SuperID tokens now, for partners who validate with a certificate file.
pub async fn superid_certificate(State(state): State<AppState>) -> axum::response::Response {
    use axum::http::header;
    match state.keys.signing_certificate() {
        Some(der) => (
            [
                (header::CONTENT_TYPE, "application/x-pem-file"),
                (header::CONTENT_DISPOSITION, "attachment; filename=\"SuperOfficeFederatedLogin.crt\""),
                (header::CACHE_CONTROL, "public, max-age=300"),
            ],
            crate::keys::certificate::pem(&der),
        )
            .into_response(),
        None => super::respond::not_found().await.into_response(),
    }
}
