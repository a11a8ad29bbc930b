//! Webhooks over the API: those a partner registers for one app (`/api/v1/apps/{client_id}/…`)
//! and for all of its apps (`/api/v1/partners/{id}/…`), and the deliveries each has been sent,
//! with their status. A webhook's signing secret is in the answer that created it only.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::partners::visible;
use super::{Body, Caller, Problem, Segments};
use crate::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookView {
    pub id: String,
    pub url: String,
    pub created_at: i64,
    /// Only in the answer that created it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// `GET /api/v1/apps/{client_id}/webhooks`.
#[utoipa::path(get, path = "/api/v1/apps/{client_id}/webhooks", params(("client_id" = String, Path)), responses(
    (status = 200, body = Vec<WebhookView>)))]
pub async fn webhooks(
    State(state): State<AppState>,
    caller: Caller,
    Segments(client_id): Segments<String>,
) -> Result<Response, Problem> {
    caller.app(&state, &client_id).await?;
    let list: Vec<WebhookView> = state
        .registry
        .webhooks(&client_id)
        .await?
        .into_iter()
        .map(|w| WebhookView { id: w.id, url: w.url, created_at: w.created_at, secret: None })
        .collect();
    Ok(Json(list).into_response())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    /// https, or http on loopback.
    pub url: String,
}

/// `POST /api/v1/apps/{client_id}/webhooks`: the signing secret is in this answer only.
#[utoipa::path(post, path = "/api/v1/apps/{client_id}/webhooks", request_body = NewWebhook, params(("client_id" = String, Path)),
    responses((status = 201, body = WebhookView)))]
pub async fn add_webhook(
    State(state): State<AppState>,
    caller: Caller,
    Segments(client_id): Segments<String>,
    Body(body): Body<NewWebhook>,
) -> Result<Response, Problem> {
    caller.app(&state, &client_id).await?;
    let (hook, secret) = state.registry.add_webhook(&client_id, &body.url, &caller.actor()).await?;
    let view = WebhookView { id: hook.id, url: hook.url, created_at: hook.created_at, secret: Some(secret) };
    let mut res = (StatusCode::CREATED, Json(view)).into_response();
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

/// `DELETE /api/v1/apps/{client_id}/webhooks/{id}`: its undelivered events go with it.
#[utoipa::path(delete, path = "/api/v1/apps/{client_id}/webhooks/{id}", params(("client_id" = String, Path), ("id" = String, Path)),
    responses((status = 204)))]
pub async fn remove_webhook(
    State(state): State<AppState>,
    caller: Caller,
    Segments((client_id, id)): Segments<(String, String)>,
) -> Result<Response, Problem> {
    caller.app(&state, &client_id).await?;
    let hooks = state.registry.webhooks(&client_id).await?;
    let hook = hooks.iter().find(|h| h.id == id).ok_or_else(Problem::not_found)?;
    state.registry.remove_webhook(&client_id, &hook.url, &caller.actor()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    pub id: String,
    /// backchannel_logout or webhook.
    pub kind: String,
    pub created_at: i64,
    pub attempts: i64,
    pub delivered_at: Option<i64>,
    pub abandoned_at: Option<i64>,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
}

impl From<crate::store::outbox::DeliveryStatus> for DeliveryView {
    fn from(d: crate::store::outbox::DeliveryStatus) -> DeliveryView {
        DeliveryView {
            id: d.id,
            kind: d.kind,
            created_at: d.created_at,
            attempts: d.attempts,
            delivered_at: d.delivered_at,
            abandoned_at: d.abandoned_at,
            next_attempt_at: d.next_attempt_at,
            last_error: d.last_error,
        }
    }
}

/// `GET /api/v1/apps/{client_id}/deliveries`: the newest 100 logouts and events sent to the
/// app, with their status.
#[utoipa::path(get, path = "/api/v1/apps/{client_id}/deliveries", params(("client_id" = String, Path)), responses(
    (status = 200, body = Vec<DeliveryView>)))]
pub async fn deliveries(
    State(state): State<AppState>,
    caller: Caller,
    Segments(client_id): Segments<String>,
) -> Result<Response, Problem> {
    let app = caller.app(&state, &client_id).await?;
    let list: Vec<DeliveryView> =
        state.store.deliveries_of(&app.id, 100).await?.into_iter().map(DeliveryView::from).collect();
    Ok(Json(list).into_response())
}

/// `GET /api/v1/partners/{id}/webhooks`: the URLs that hear about all of the partner's apps
/// (`app.created`, `app.deleted`, `key.rotated` of its apps' keys and of the server's).
#[utoipa::path(get, path = "/api/v1/partners/{id}/webhooks", params(("id" = String, Path)),
    responses((status = 200, body = Vec<WebhookView>)))]
pub async fn partner_webhooks(
    State(state): State<AppState>,
    caller: Caller,
    Segments(id): Segments<String>,
) -> Result<Response, Problem> {
    let partner = visible(&state, &caller, &id).await?;
    let list: Vec<WebhookView> = state
        .store
        .partner_webhooks(&partner.id)
        .await?
        .into_iter()
        .map(|w| WebhookView { id: w.id, url: w.url, created_at: w.created_at, secret: None })
        .collect();
    Ok(Json(list).into_response())
}

/// `POST /api/v1/partners/{id}/webhooks`: the signing secret is in this answer only.
#[utoipa::path(post, path = "/api/v1/partners/{id}/webhooks", params(("id" = String, Path)),
    request_body = NewWebhook, responses((status = 201, body = WebhookView)))]
pub async fn partner_add_webhook(
    State(state): State<AppState>,
    caller: Caller,
    Segments(id): Segments<String>,
    Body(body): Body<NewWebhook>,
) -> Result<Response, Problem> {
    let partner = visible(&state, &caller, &id).await?;
    let (hook, secret) = state.registry.add_partner_webhook(&partner.id, &body.url, &caller.actor()).await?;
    let view = WebhookView { id: hook.id, url: hook.url, created_at: hook.created_at, secret: Some(secret) };
    let mut res = (StatusCode::CREATED, Json(view)).into_response();
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

/// `DELETE /api/v1/partners/{id}/webhooks/{webhook_id}`: its undelivered events go with it.
#[utoipa::path(delete, path = "/api/v1/partners/{id}/webhooks/{webhook_id}",
    params(("id" = String, Path), ("webhook_id" = String, Path)), responses((status = 204)))]
pub async fn partner_remove_webhook(
    State(state): State<AppState>,
    caller: Caller,
    Segments((id, webhook_id)): Segments<(String, String)>,
) -> Result<Response, Problem> {
    let partner = visible(&state, &caller, &id).await?;
    state.registry.remove_partner_webhook(&partner.id, &webhook_id, &caller.actor()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /api/v1/partners/{id}/deliveries`: the newest 100 events sent to the partner's own
/// webhooks, with their status.
#[utoipa::path(get, path = "/api/v1/partners/{id}/deliveries", params(("id" = String, Path)),
    responses((status = 200, body = Vec<DeliveryView>)))]
pub async fn partner_deliveries(
    State(state): State<AppState>,
    caller: Caller,
    Segments(id): Segments<String>,
) -> Result<Response, Problem> {
    let partner = visible(&state, &caller, &id).await?;
    let list: Vec<DeliveryView> =
        state.store.partner_deliveries(&partner.id, 100).await?.into_iter().map(DeliveryView::from).collect();
    Ok(Json(list).into_response())
}
