//! `POST /introspect` (RFC 7662).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::extract::OAuthRequest;
use super::respond::{no_store_json, protocol_error};
use crate::oauth::{client_auth, introspect};
use crate::AppState;

pub async fn introspect(State(state): State<AppState>, req: OAuthRequest) -> Response {
    let result = async {
        let client = client_auth::authenticate_pending(&state, req.basic, &req.form).await?;
        introspect::introspect(&state, client, &req.form).await
    }
    .await;
    match result {
        Ok(answer) => no_store_json(StatusCode::OK, &answer),
        Err(e) => protocol_error(e),
    }
}
