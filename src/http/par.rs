//! `POST /par` (RFC 9126 §2): pushed authorization requests, authenticated like the token
//! endpoint; `201 Created` with the `request_uri`, or the token endpoint's error shape.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::extract::OAuthRequest;
use crate::oauth::par;
use crate::AppState;

pub async fn push(State(state): State<AppState>, req: OAuthRequest) -> Response {
    req.answer_as_client(&state, StatusCode::CREATED, async |client, form| par::push(&state, client, form).await).await
}
