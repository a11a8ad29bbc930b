//! `/api/v1/resource-servers`: the APIs tokens are issued for (RFC 8707 audiences). A partner
//! registers its own and grants them to other partners' apps; an operator registers platform
//! APIs (no owner) and grants any.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Body, Caller, Problem};
use crate::store::resources::ResourceServerRow;
use crate::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct ResourceServerView {
    /// The audience tokens for it carry, e.g. `https://api.example.com`.
    pub identifier: String,
    pub name: String,
    /// Absent for a platform API.
    pub owner_partner_id: Option<String>,
    pub created_at: i64,
}

impl From<ResourceServerRow> for ResourceServerView {
    fn from(r: ResourceServerRow) -> ResourceServerView {
        ResourceServerView {
            identifier: r.identifier,
            name: r.name,
            owner_partner_id: r.owner_partner_id,
            created_at: r.created_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewResourceServer {
    pub identifier: String,
    pub name: String,
    /// The owning partner: the caller's own when absent; with `admin:platform`, absent makes a
    /// platform API.
    pub owner_partner_id: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewGrant {
    pub identifier: String,
    /// The app that may ask for tokens for it (any partner's).
    pub client_id: String,
}

/// `GET /api/v1/resource-servers`: the caller's partner's (every one for `admin:platform`).
#[utoipa::path(get, path = "/api/v1/resource-servers", responses((status = 200, body = Vec<ResourceServerView>)))]
pub async fn list(State(state): State<AppState>, caller: Caller) -> Result<Response, Problem> {
    caller.require_partner()?;
    let owner = (!caller.platform).then_some(caller.partner_id.as_str());
    let all: Vec<ResourceServerView> =
        state.store.resource_servers(owner).await?.into_iter().map(ResourceServerView::from).collect();
    Ok(Json(all).into_response())
}

/// `POST /api/v1/resource-servers`: registers an API.
#[utoipa::path(post, path = "/api/v1/resource-servers", request_body = NewResourceServer,
    responses((status = 201, body = ResourceServerView)))]
pub async fn register(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<NewResourceServer>,
) -> Result<Response, Problem> {
    caller.require_partner()?;
    let owner = match body.owner_partner_id {
        Some(p) if caller.platform || p == caller.partner_id => Some(p),
        Some(_) => return Err(Problem::not_found()),
        None if caller.platform => None,
        None => Some(caller.partner_id.clone()),
    };
    let made = state
        .registry
        .register_resource_server(&body.identifier, &body.name, owner.as_deref(), &caller.actor())
        .await?;
    Ok((StatusCode::CREATED, Json(ResourceServerView::from(made))).into_response())
}

/// `POST /api/v1/resource-servers/grants`: lets an app ask for tokens for an API its partner
/// does not own. Only the API's owner (or `admin:platform`) grants it.
#[utoipa::path(post, path = "/api/v1/resource-servers/grants", request_body = NewGrant,
    responses((status = 204)))]
pub async fn grant(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<NewGrant>,
) -> Result<Response, Problem> {
    caller.require_partner()?;
    let server = state.store.resource_server(&body.identifier).await?.ok_or_else(Problem::not_found)?;
    if !caller.platform && server.owner_partner_id.as_deref() != Some(caller.partner_id.as_str()) {
        return Err(Problem::not_found());
    }
    state.registry.grant_resource(&server.identifier, &body.client_id, &caller.actor()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
