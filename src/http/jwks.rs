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
