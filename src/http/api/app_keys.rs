//! `/api/v1/apps/{client_id}/keys`: an app's own signing keys (its tokens are then signed with
//! a key of its own, published in JWKS beside the server's): turn one on, list, rotate. The
//! app's webhooks hear each rotation (`key.rotated`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::admin::{parse_alg, KeyView, Rotation};
use super::{Body, Caller, Problem, Segments};
use crate::AppState;

async fn listed(state: &AppState, app_id: &str) -> Result<Vec<KeyView>, Problem> {
    Ok(state.keys.list_for(Some(app_id)).await?.into_iter().map(KeyView::from).collect())
}

/// `GET /api/v1/apps/{client_id}/keys`: empty while the app's tokens are signed with the
/// server's keys.
#[utoipa::path(get, path = "/api/v1/apps/{client_id}/keys", params(("client_id" = String, Path)),
    responses((status = 200, body = Vec<KeyView>)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Segments(client_id): Segments<String>,
) -> Result<Response, Problem> {
    let app = caller.app(&state, &client_id).await?;
    Ok(Json(listed(&state, &app.id).await?).into_response())
}

/// `POST /api/v1/apps/{client_id}/keys`: the app's tokens are signed with a key of its own from
/// now on (`alg`, RS256 by default). Asking again changes nothing.
#[utoipa::path(post, path = "/api/v1/apps/{client_id}/keys", params(("client_id" = String, Path)),
    request_body = Rotation, responses((status = 200, body = Vec<KeyView>)))]
pub async fn enable(
    State(state): State<AppState>,
    caller: Caller,
    Segments(client_id): Segments<String>,
    Body(body): Body<Rotation>,
) -> Result<Response, Problem> {
    let app = caller.app(&state, &client_id).await?;
    state.keys.enable_app_key(&app.id, parse_alg(body.alg.as_deref())?).await?;
    Ok(Json(listed(&state, &app.id).await?).into_response())
}

/// `POST /api/v1/apps/{client_id}/keys/rotate`: its next key starts signing, the current one
/// retires but stays published.
#[utoipa::path(post, path = "/api/v1/apps/{client_id}/keys/rotate", params(("client_id" = String, Path)),
    responses((status = 200, body = KeyView)))]
pub async fn rotate(
    State(state): State<AppState>,
    caller: Caller,
    Segments(client_id): Segments<String>,
) -> Result<Response, Problem> {
    let app = caller.app(&state, &client_id).await?;
    let Some(alg) = state.keys.app_signer(&app.id).map(|k| k.alg) else {
        return Err(Problem::new(StatusCode::CONFLICT, "the app has no signing key of its own; POST …/keys first"));
    };
    let current = state.keys.rotate_app(&app.id, &app.client_id, alg, &caller.actor()).await?;
    Ok(Json(KeyView::from(current)).into_response())
}
