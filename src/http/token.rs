//! `POST /token` (RFC 6749 §3.2) and its SuperID alias.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::extract::OAuthRequest;
use super::respond::{no_store_json, protocol_error};
use crate::oauth::{client_auth, token};
use crate::AppState;

pub async fn token(State(state): State<AppState>, req: OAuthRequest) -> Response {
    let result = async {
        let grant = token::grant_type(&req.form)?;
        let client = client_auth::authenticate(&state, req.basic, &req.form).await?;
        token::exchange(&state, grant, &client, &req.form).await
    }
    .await;
    match result {
        Ok(tokens) => no_store_json(StatusCode::OK, &tokens),
        Err(e) => protocol_error(e),
    }
}
