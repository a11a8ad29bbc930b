//! `POST /par` (RFC 9126 §2): pushed authorization requests, authenticated like the token
//! endpoint; `201 Created` with the `request_uri`, or the token endpoint's error shape.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::extract::OAuthRequest;
use crate::oauth::{dpop, par};
use crate::AppState;

pub async fn push(State(state): State<AppState>, headers: HeaderMap, req: OAuthRequest) -> Response {
    let proof = super::extract::dpop_proof(&headers);
    req.answer_as_client(&state, StatusCode::CREATED, async |client, form| {
        // RFC 9449 §10.1: a DPoP proof at the push binds the code to its key, as dpop_jkt would.
        let url = format!("{}{}", state.config.issuer, crate::paths::PAR);
        let jkt = match proof? {
            Some(p) => dpop::check(&state, Some(&p), "POST", &url, None).await?.map(|p| p.jkt),
            None => None,
        };
        par::push(&state, client, form, jkt).await
    })
    .await
}
