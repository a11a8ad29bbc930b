//! `POST /par` (RFC 9126 §2): pushed authorization requests, authenticated like the token
//! endpoint; `201 Created` with the `request_uri`, or the token endpoint's error shape.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::cors::CorsClient;
use super::extract::OAuthRequest;
use super::respond::no_store_json;
use crate::oauth::{client_auth, par};
use crate::AppState;

pub async fn push(State(state): State<AppState>, req: OAuthRequest) -> Response {
    let mut authenticated = None;
    let result = async {
        let client = client_auth::authenticate(&state, req.basic, &req.form).await?;
        authenticated = Some(client.app().client_id.clone());
        par::push(&state, &client, &req.form).await
    }
    .await;
    let mut res = match result {
        Ok(pushed) => no_store_json(StatusCode::CREATED, &pushed),
        Err(e) => e.into_response(),
    };
    if let Some(client_id) = authenticated {
        res.extensions_mut().insert(CorsClient(client_id));
    }
    res
}
