//! `/api/v1/tenants`, `/api/v1/keys` and `/api/v1/audit`: what an operator's scripts do
//! (`admin:platform`): create a tenant with its first administrator, list and rotate the
//! server's signing keys, and read the audit trail page by page.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Body, Caller, Page, Paging, Params, Problem, Segments};
use crate::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTenant {
    /// The tenant's context id (SuperID `ctx`), e.g. Cust12345.
    pub ctx: String,
    pub name: String,
    /// SuperID's serial number; one is chosen when absent.
    pub serial: Option<i64>,
    /// The partner that owns the tenant (its private apps admit the tenant).
    pub owner_partner_id: Option<String>,
    /// The first administrator: invited by mail to set a password or a passkey.
    pub administrator_email: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TenantView {
    pub ctx: String,
    pub name: String,
    pub serial: i64,
    pub status: String,
    pub owner_partner_id: Option<String>,
    pub created_at: i64,
}

impl From<crate::tenants::Tenant> for TenantView {
    fn from(t: crate::tenants::Tenant) -> TenantView {
        TenantView {
            ctx: t.ctx,
            name: t.name,
            serial: t.serial,
            status: t.status,
            owner_partner_id: t.owner_partner_id,
            created_at: t.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedTenant {
    pub tenant: TenantView,
    /// Where the invitation went, until when it works, and whether the mail was sent.
    pub invitation: InvitationView,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationView {
    pub email: String,
    pub expires_at: i64,
    pub delivered: bool,
}

/// `POST /api/v1/tenants`: a tenant and an invitation for its first administrator.
#[utoipa::path(post, path = "/api/v1/tenants", request_body = NewTenant, responses(
    (status = 201, body = CreatedTenant)))]
pub async fn create_tenant(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<NewTenant>,
) -> Result<Response, Problem> {
    caller.require_platform()?;
    let actor = caller.actor();
    let tenant = state
        .directory
        .add_tenant(&body.ctx, &body.name, body.serial, body.owner_partner_id.as_deref(), &actor)
        .await?;
    let sent = state.people.invite_to_tenant(&tenant.ctx, &body.administrator_email, true, &actor).await?;
    let invitation = InvitationView { email: sent.email, expires_at: sent.expires_at, delivered: sent.delivered };
    Ok((StatusCode::CREATED, Json(CreatedTenant { tenant: tenant.into(), invitation })).into_response())
}

/// `GET /api/v1/tenants/{ctx}`.
#[utoipa::path(get, path = "/api/v1/tenants/{ctx}", params(("ctx" = String, Path)), responses(
    (status = 200, body = TenantView)))]
pub async fn show_tenant(
    State(state): State<AppState>,
    caller: Caller,
    Segments(ctx): Segments<String>,
) -> Result<Response, Problem> {
    let tenant = caller.tenant(&state, &ctx).await?;
    Ok(Json(TenantView::from(tenant)).into_response())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditView {
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub subject: String,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

/// `GET /api/v1/audit`: the audit trail, oldest first; poll with the last `next_cursor` to
/// get what happened since (a SIEM's loop). Without a cursor it starts at the oldest kept.
/// Events appear 30 seconds after they happen (longer when the database wait is set above 23 s).
#[utoipa::path(get, path = "/api/v1/audit", params(Paging), responses(
    (status = 200, body = Page<AuditView>)))]
pub async fn audit(
    State(state): State<AppState>,
    caller: Caller,
    Params(paging): Params<Paging>,
) -> Result<Response, Problem> {
    caller.require_platform()?;
    let after = match paging.after()? {
        None => None,
        Some(c) => {
            let (at, id) = c.split_once(':').ok_or_else(|| Problem::bad_request("cursor is not one this API gave"))?;
            Some((
                at.parse::<i64>().map_err(|_| Problem::bad_request("cursor is not one this API gave"))?,
                id.to_string(),
            ))
        }
    };
    let limit = paging.limit();
    let before = state.clock.now() - crate::store::audit::stream_settle(state.config.db_acquire_timeout);
    let rows =
        state.store.audit_after(after.as_ref().map(|(at, id)| (*at, id.as_str())), before, limit as i64 + 1).await?;
    let next_cursor = (rows.len() > limit).then(|| {
        let (id, e) = &rows[limit - 1];
        crate::crypto::b64url(format!("{}:{id}", e.at).as_bytes())
    });
    let items = rows
        .into_iter()
        .take(limit)
        .map(|(_, e)| AuditView {
            at: e.at,
            actor: e.actor,
            action: e.action.into_owned(),
            subject: e.subject,
            detail: e.detail,
        })
        .collect();
    Ok(Json(Page { items, next_cursor }).into_response())
}

/// A signing key of the server, as JWKS publishes it (never the key itself).
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyView {
    pub kid: String,
    pub alg: String,
    /// `next` (published, not signing yet), `current` (signing) or `retired` (published until
    /// what it signed has expired).
    pub state: String,
    pub created_at: i64,
    pub activated_at: Option<i64>,
    pub retired_at: Option<i64>,
}

impl From<crate::keys::KeyInfo> for KeyView {
    fn from(k: crate::keys::KeyInfo) -> KeyView {
        KeyView {
            kid: k.kid,
            alg: k.alg,
            state: k.state,
            created_at: k.created_at,
            activated_at: k.activated_at,
            retired_at: k.retired_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rotation {
    /// `RS256` (the default), `ES256` or `PS256`.
    pub alg: Option<String>,
}

/// `GET /api/v1/keys`: the server's signing keys (apps' own keys are not listed).
#[utoipa::path(get, path = "/api/v1/keys", responses((status = 200, body = Vec<KeyView>)))]
pub async fn keys(State(state): State<AppState>, caller: Caller) -> Result<Response, Problem> {
    caller.require_platform()?;
    let keys: Vec<KeyView> = state.keys.list().await?.into_iter().map(KeyView::from).collect();
    Ok(Json(keys).into_response())
}

/// `POST /api/v1/keys/rotate`: the next key starts signing, the current one retires but stays
/// published, and a new next key is published. Other instances pick the change up when they
/// reload their keys.
#[utoipa::path(post, path = "/api/v1/keys/rotate", request_body = Rotation,
    responses((status = 200, body = KeyView)))]
pub async fn rotate(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<Rotation>,
) -> Result<Response, Problem> {
    caller.require_platform()?;
    let alg = parse_alg(body.alg.as_deref())?;
    let current = state.keys.rotate(alg, &caller.actor()).await?;
    Ok(Json(KeyView::from(current)).into_response())
}

/// A signing algorithm a request names (RS256 when absent), or the problem with it.
pub(super) fn parse_alg(given: Option<&str>) -> Result<crate::jose::Alg, Problem> {
    crate::jose::Alg::parse(given.unwrap_or("RS256"))
        .map_err(|e| Problem { field: Some("alg"), ..Problem::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()) })
}
