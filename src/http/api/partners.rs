//! `/api/v1/partners`: partners and their developers. An operator's `admin:platform` token
//! makes partners and sees them all; an `admin:partner` token sees its own partner, its
//! developers, and invites more (another partner is 404).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::admin::InvitationView;
use super::{Body, Caller, Problem, Segments};
use crate::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct PartnerView {
    pub id: String,
    pub name: String,
    pub created_at: i64,
}

impl From<crate::tenants::Partner> for PartnerView {
    fn from(p: crate::tenants::Partner) -> PartnerView {
        PartnerView { id: p.id, name: p.name, created_at: p.created_at }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPartner {
    pub name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDeveloper {
    /// Invited by mail; the link works once, for seven days.
    pub email: String,
}

/// The partner `id` if the caller may see it; 404 otherwise, whether or not it exists.
pub(super) async fn visible(state: &AppState, caller: &Caller, id: &str) -> Result<crate::tenants::Partner, Problem> {
    caller.require_partner()?;
    if !caller.platform && caller.partner_id != id {
        return Err(Problem::not_found());
    }
    Ok(state.directory.partner(id).await?)
}

/// `GET /api/v1/partners`: every partner for `admin:platform`, the caller's own otherwise.
#[utoipa::path(get, path = "/api/v1/partners", responses((status = 200, body = Vec<PartnerView>)))]
pub async fn list(State(state): State<AppState>, caller: Caller) -> Result<Response, Problem> {
    caller.require_partner()?;
    let all = state.directory.partners().await?;
    let views: Vec<PartnerView> =
        all.into_iter().filter(|p| caller.platform || p.id == caller.partner_id).map(PartnerView::from).collect();
    Ok(Json(views).into_response())
}

/// `POST /api/v1/partners` (`admin:platform`).
#[utoipa::path(post, path = "/api/v1/partners", request_body = NewPartner,
    responses((status = 201, body = PartnerView)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<NewPartner>,
) -> Result<Response, Problem> {
    caller.require_platform()?;
    let partner = state.directory.add_partner(&body.name, &caller.actor()).await?;
    Ok((StatusCode::CREATED, Json(PartnerView::from(partner))).into_response())
}

/// `GET /api/v1/partners/{id}`.
#[utoipa::path(get, path = "/api/v1/partners/{id}", params(("id" = String, Path)),
    responses((status = 200, body = PartnerView)))]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Segments(id): Segments<String>,
) -> Result<Response, Problem> {
    Ok(Json(PartnerView::from(visible(&state, &caller, &id).await?)).into_response())
}

/// `GET /api/v1/partners/{id}/developers`: their addresses, sorted.
#[utoipa::path(get, path = "/api/v1/partners/{id}/developers", params(("id" = String, Path)),
    responses((status = 200, body = Vec<String>)))]
pub async fn developers(
    State(state): State<AppState>,
    caller: Caller,
    Segments(id): Segments<String>,
) -> Result<Response, Problem> {
    let partner = visible(&state, &caller, &id).await?;
    let mut emails = state.store.partner_member_emails(&partner.id).await?;
    emails.sort();
    Ok(Json(emails).into_response())
}

/// `POST /api/v1/partners/{id}/developers`: invites someone to develop the partner's apps.
#[utoipa::path(post, path = "/api/v1/partners/{id}/developers", params(("id" = String, Path)),
    request_body = NewDeveloper, responses((status = 201, body = InvitationView)))]
pub async fn invite(
    State(state): State<AppState>,
    caller: Caller,
    Segments(id): Segments<String>,
    Body(body): Body<NewDeveloper>,
) -> Result<Response, Problem> {
    let partner = visible(&state, &caller, &id).await?;
    let sent = state.people.invite_developer(&partner.id, &body.email, &caller.actor()).await?;
    let view = InvitationView { email: sent.email, expires_at: sent.expires_at, delivered: sent.delivered };
    Ok((StatusCode::CREATED, Json(view)).into_response())
}
