//! `POST /revoke` (RFC 7009).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::cors::CorsClient;
use super::extract::OAuthRequest;
use crate::oauth::{client_auth, revoke};
use crate::AppState;

pub async fn revoke(State(state): State<AppState>, req: OAuthRequest) -> Response {
    let mut authenticated = None;
    let result = async {
        let client = client_auth::authenticate(&state, req.basic, &req.form).await?;
        authenticated = Some(client.app().client_id.clone());
        revoke::revoke(&state, &client, &req.form).await
    }
    .await;
    let mut res = match result {
        Ok(()) => (StatusCode::OK, [("cache-control", "no-store")]).into_response(),
        Err(e) => e.into_response(),
    };
    if let Some(client_id) = authenticated {
        res.extensions_mut().insert(CorsClient(client_id));
    }
    res
}
