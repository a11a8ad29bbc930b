//! `POST /introspect` (RFC 7662).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::extract::OAuthRequest;
use super::respond::no_store_json;
use crate::oauth::{client_auth, introspect, ProtocolError};
use crate::AppState;

pub async fn introspect(State(state): State<AppState>, req: OAuthRequest) -> Result<Response, ProtocolError> {
    let client = client_auth::authenticate_pending(&state, req.basic, &req.form).await?;
    let answer = introspect::introspect(&state, client, &req.form).await?;
    Ok(no_store_json(StatusCode::OK, &answer))
}
