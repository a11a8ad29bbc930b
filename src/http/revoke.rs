//! `POST /revoke` (RFC 7009).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::extract::OAuthRequest;
use super::respond::protocol_error;
use crate::oauth::{client_auth, revoke};
use crate::AppState;

pub async fn revoke(State(state): State<AppState>, req: OAuthRequest) -> Response {
    let result = async {
        let client = client_auth::authenticate(&state, req.basic, &req.form).await?;
        revoke::revoke(&state, &client, &req.form).await
    }
    .await;
    match result {
        Ok(()) => (StatusCode::OK, [("cache-control", "no-store")]).into_response(),
        Err(e) => protocol_error(e),
    }
}
