//! `/api/v1/tenants/{ctx}/…`: what a tenant administrator does on the tenant page, for an app
//! the tenant approved with `admin:tenant` (or an operator's `admin:platform` token): its
//! members (role, disable, remove, and the JWT credentials they hold there), its invitations,
//! and its decisions about apps. The same
//! domain code as the page, with the same rules (the last administrator stays; only someone who
//! belongs to this tenant alone can be disabled from it).

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Body, Caller, Page, Paging, Params, Problem, Segments};
use crate::approvals::End;
use crate::AppState;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Member,
}

#[derive(Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct MemberView {
    pub email: String,
    pub name: String,
    pub role: Role,
    pub email_verified: bool,
    pub disabled: bool,
}

impl From<crate::store::email_links::MemberRow> for MemberView {
    fn from(m: crate::store::email_links::MemberRow) -> MemberView {
        MemberView {
            email: m.email,
            name: m.name,
            role: if m.is_admin { Role::Admin } else { Role::Member },
            email_verified: m.email_verified_at.is_some(),
            disabled: m.disabled_at.is_some(),
        }
    }
}

/// What to change about a member; absent members stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberChange {
    pub role: Option<Role>,
    /// Disabling ends the person's sessions and tokens at once; only someone who belongs to
    /// this tenant alone can be disabled from it.
    pub disabled: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OpenInvitation {
    pub email: String,
    pub role: Role,
    pub expires_at: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInvitation {
    pub email: String,
    /// `member` when absent.
    pub role: Option<Role>,
}

/// An app's standing in the tenant.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApprovalView {
    pub client_id: String,
    pub app_name: String,
    /// `requested`, `approved`, `denied`, `revoked`, `needs-reapproval` or `expired`.
    pub status: String,
    /// The integration points the approval covers.
    pub entitlements: Vec<String>,
    pub approved_at: Option<i64>,
    pub updated_at: i64,
}

impl From<crate::store::approvals::AuthorizationView> for ApprovalView {
    fn from(r: crate::store::approvals::AuthorizationView) -> ApprovalView {
        ApprovalView {
            client_id: r.client_id,
            app_name: r.app_name,
            status: r.status,
            entitlements: r.entitlements.split(' ').filter(|e| !e.is_empty()).map(str::to_string).collect(),
            approved_at: r.approved_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Approve,
    Deny,
    Revoke,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalDecision {
    pub decision: Decision,
}

async fn member_view(state: &AppState, ctx: &str, email: &str) -> Result<MemberView, Problem> {
    let (members, _) = state.people.members(ctx).await?;
    let email = email.trim().to_lowercase();
    members.into_iter().find(|m| m.email == email).map(MemberView::from).ok_or_else(Problem::not_found)
}

/// `GET /api/v1/tenants/{ctx}/members`: by email.
#[utoipa::path(get, path = "/api/v1/tenants/{ctx}/members", params(("ctx" = String, Path), Paging),
    responses((status = 200, body = Page<MemberView>)))]
pub async fn members(
    State(state): State<AppState>,
    caller: Caller,
    Segments(ctx): Segments<String>,
    Params(paging): Params<Paging>,
) -> Result<Response, Problem> {
    let tenant = caller.tenant(&state, &ctx).await?;
    let (members, _) = state.people.members(&tenant.ctx).await?;
    let mut views: Vec<MemberView> = members.into_iter().map(MemberView::from).collect();
    views.sort_by(|a, b| a.email.cmp(&b.email));
    Ok(Json(paging.page(views, |m| m.email.clone())?).into_response())
}

/// A member's `ETag`: a digest of what the API shows of them, so any change to it (by the
/// page, another script or the person) changes the tag.
fn member_etag(view: &MemberView) -> HeaderValue {
    let shown = serde_json::to_vec(view).unwrap_or_default();
    let digest = crate::crypto::b64url(&crate::crypto::sha256(&shown)[..12]);
    HeaderValue::from_str(&format!("\"{digest}\"")).unwrap_or(HeaderValue::from_static("\"-\""))
}

fn with_member_etag(view: MemberView) -> Response {
    let etag = member_etag(&view);
    let mut res = Json(view).into_response();
    res.headers_mut().insert(header::ETAG, etag);
    res
}

/// `GET /api/v1/tenants/{ctx}/members/{email}`, with its `ETag`.
#[utoipa::path(get, path = "/api/v1/tenants/{ctx}/members/{email}",
    params(("ctx" = String, Path), ("email" = String, Path)), responses((status = 200, body = MemberView)))]
pub async fn member(
    State(state): State<AppState>,
    caller: Caller,
    Segments((ctx, email)): Segments<(String, String)>,
) -> Result<Response, Problem> {
    let tenant = caller.tenant(&state, &ctx).await?;
    Ok(with_member_etag(member_view(&state, &tenant.ctx, &email).await?))
}

/// `PATCH /api/v1/tenants/{ctx}/members/{email}`: role, disabled. With `If-Match`, only if
/// the member is as that `ETag` saw them (412 otherwise). It is optional here, unlike on apps:
/// each change sets a value outright rather than editing a list read before.
#[utoipa::path(patch, path = "/api/v1/tenants/{ctx}/members/{email}",
    params(("ctx" = String, Path), ("email" = String, Path),
        ("If-Match" = Option<String>, Header, description = "The member's ETag, or *")),
    request_body = MemberChange, responses((status = 200, body = MemberView)))]
pub async fn change_member(
    State(state): State<AppState>,
    caller: Caller,
    Segments((ctx, email)): Segments<(String, String)>,
    headers: HeaderMap,
    Body(change): Body<MemberChange>,
) -> Result<Response, Problem> {
    let tenant = caller.tenant(&state, &ctx).await?;
    let current = member_view(&state, &tenant.ctx, &email).await?;
    if let Some(wanted) = headers.get(header::IF_MATCH) {
        // RFC 9110 §13.1.1: a list of tags, or `*` for any current representation.
        let tag = member_etag(&current);
        let listed =
            wanted.to_str().unwrap_or("").split(',').map(str::trim).any(|t| t == "*" || t.as_bytes() == tag.as_bytes());
        if !listed {
            return Err(Problem::new(StatusCode::PRECONDITION_FAILED, "the member changed since that ETag"));
        }
    }
    let actor = caller.actor();
    if let Some(role) = change.role.filter(|r| *r != current.role) {
        state.people.set_role(&tenant.ctx, &current.email, role == Role::Admin, &actor).await?;
    }
    if let Some(disabled) = change.disabled.filter(|d| *d != current.disabled) {
        let user = state.people.may_offboard(&tenant.ctx, &current.email).await?;
        if disabled {
            state.directory.disable_user(&user.email, &actor).await?;
        } else {
            state.directory.enable_user(&user.email, &actor).await?;
        }
    }
    Ok(with_member_etag(member_view(&state, &tenant.ctx, &current.email).await?))
}

/// `DELETE /api/v1/tenants/{ctx}/members/{email}`: out of the tenant; the account stays.
#[utoipa::path(delete, path = "/api/v1/tenants/{ctx}/members/{email}",
    params(("ctx" = String, Path), ("email" = String, Path)), responses((status = 204)))]
pub async fn remove_member(
    State(state): State<AppState>,
    caller: Caller,
    Segments((ctx, email)): Segments<(String, String)>,
) -> Result<Response, Problem> {
    let tenant = caller.tenant(&state, &ctx).await?;
    state.people.remove(&tenant.ctx, &email, &caller.actor()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /api/v1/tenants/{ctx}/invitations`: those not accepted yet, still working.
#[utoipa::path(get, path = "/api/v1/tenants/{ctx}/invitations", params(("ctx" = String, Path)),
    responses((status = 200, body = Vec<OpenInvitation>)))]
pub async fn invitations(
    State(state): State<AppState>,
    caller: Caller,
    Segments(ctx): Segments<String>,
) -> Result<Response, Problem> {
    let tenant = caller.tenant(&state, &ctx).await?;
    let (_, open) = state.people.members(&tenant.ctx).await?;
    let views: Vec<OpenInvitation> = open
        .into_iter()
        .map(|i| OpenInvitation {
            email: i.email,
            role: if i.is_admin { Role::Admin } else { Role::Member },
            expires_at: i.expires_at,
        })
        .collect();
    Ok(Json(views).into_response())
}

/// `POST /api/v1/tenants/{ctx}/invitations`: mails a link that works once, for seven days.
#[utoipa::path(post, path = "/api/v1/tenants/{ctx}/invitations", params(("ctx" = String, Path)),
    request_body = NewInvitation, responses((status = 201, body = super::admin::InvitationView)))]
pub async fn invite(
    State(state): State<AppState>,
    caller: Caller,
    Segments(ctx): Segments<String>,
    Body(body): Body<NewInvitation>,
) -> Result<Response, Problem> {
    let tenant = caller.tenant(&state, &ctx).await?;
    let admin = body.role == Some(Role::Admin);
    let sent = state.people.invite_to_tenant(&tenant.ctx, &body.email, admin, &caller.actor()).await?;
    let view =
        super::admin::InvitationView { email: sent.email, expires_at: sent.expires_at, delivered: sent.delivered };
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// `DELETE /api/v1/tenants/{ctx}/invitations/{email}`: its link stops working.
#[utoipa::path(delete, path = "/api/v1/tenants/{ctx}/invitations/{email}",
    params(("ctx" = String, Path), ("email" = String, Path)), responses((status = 204)))]
pub async fn withdraw(
    State(state): State<AppState>,
    caller: Caller,
    Segments((ctx, email)): Segments<(String, String)>,
) -> Result<Response, Problem> {
    let tenant = caller.tenant(&state, &ctx).await?;
    state.people.withdraw(&tenant.ctx, &email, &caller.actor()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /api/v1/tenants/{ctx}/approvals`: every app that asked for the tenant, and its status.
#[utoipa::path(get, path = "/api/v1/tenants/{ctx}/approvals", params(("ctx" = String, Path)),
    responses((status = 200, body = Vec<ApprovalView>)))]
pub async fn approvals(
    State(state): State<AppState>,
    caller: Caller,
    Segments(ctx): Segments<String>,
) -> Result<Response, Problem> {
    let tenant = caller.tenant(&state, &ctx).await?;
    let records = state.store.authorizations_of_tenant(&tenant.id).await?;
    Ok(Json(records.into_iter().map(ApprovalView::from).collect::<Vec<_>>()).into_response())
}

/// `PUT /api/v1/tenants/{ctx}/approvals/{client_id}`: approve, deny or revoke an app that asked
/// for the tenant (only those on the list, as on the tenant page). The calling app cannot
/// decide about itself.
#[utoipa::path(put, path = "/api/v1/tenants/{ctx}/approvals/{client_id}",
    params(("ctx" = String, Path), ("client_id" = String, Path)), request_body = ApprovalDecision,
    responses((status = 200, body = ApprovalView)))]
pub async fn decide(
    State(state): State<AppState>,
    caller: Caller,
    Segments((ctx, client_id)): Segments<(String, String)>,
    Body(body): Body<ApprovalDecision>,
) -> Result<Response, Problem> {
    let tenant = caller.tenant(&state, &ctx).await?;
    if client_id == caller.client_id {
        return Err(Problem::new(StatusCode::CONFLICT, "an app cannot decide about its own approval"));
    }
    let listed = |records: Vec<crate::store::approvals::AuthorizationView>| {
        records.into_iter().find(|r| r.client_id == client_id).ok_or_else(Problem::not_found)
    };
    listed(state.store.authorizations_of_tenant(&tenant.id).await?)?;
    let app = state.registry.get(&client_id).await?;
    let actor = caller.actor();
    match body.decision {
        Decision::Approve => state.approvals.approve(&tenant.ctx, &app, None, &actor).await?,
        Decision::Deny => state.approvals.end(&tenant.ctx, &app, End::Denied, &actor).await?,
        Decision::Revoke => state.approvals.end(&tenant.ctx, &app, End::Revoked, &actor).await?,
    }
    let record = listed(state.store.authorizations_of_tenant(&tenant.id).await?)?;
    Ok(Json(ApprovalView::from(record)).into_response())
}

/// A JWT credential a member holds in the tenant (never the credential itself).
#[derive(Debug, Serialize, ToSchema)]
pub struct CredentialView {
    pub id: String,
    /// The apps that may exchange it (JWT bearer).
    pub client_ids: Vec<String>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// The member's credentials in this tenant.
async fn credentials_in(
    state: &AppState,
    ctx: &str,
    email: &str,
) -> Result<Vec<crate::oauth::credentials::Credential>, Problem> {
    let member = member_view(state, ctx, email).await?;
    let all = crate::oauth::credentials::list(state, &member.email).await?;
    Ok(all.into_iter().filter(|c| c.tenant == ctx).collect())
}

/// `GET /api/v1/tenants/{ctx}/members/{email}/credentials`: the JWT credentials the member made
/// for apps in this tenant, revoked ones included.
#[utoipa::path(get, path = "/api/v1/tenants/{ctx}/members/{email}/credentials",
    params(("ctx" = String, Path), ("email" = String, Path)), responses((status = 200, body = Vec<CredentialView>)))]
pub async fn credentials(
    State(state): State<AppState>,
    caller: Caller,
    Segments((ctx, email)): Segments<(String, String)>,
) -> Result<Response, Problem> {
    let tenant = caller.tenant(&state, &ctx).await?;
    let views: Vec<CredentialView> = credentials_in(&state, &tenant.ctx, &email)
        .await?
        .into_iter()
        .map(|c| CredentialView {
            id: c.id,
            client_ids: c.client_ids,
            created_at: c.created_at,
            expires_at: c.expires_at,
            revoked_at: c.revoked_at,
        })
        .collect();
    Ok(Json(views).into_response())
}

/// `DELETE /api/v1/tenants/{ctx}/members/{email}/credentials/{id}`: the credential stops
/// working at once. (Making one stays with the person, on their account page.)
#[utoipa::path(delete, path = "/api/v1/tenants/{ctx}/members/{email}/credentials/{id}",
    params(("ctx" = String, Path), ("email" = String, Path), ("id" = String, Path)), responses((status = 204)))]
pub async fn revoke_credential(
    State(state): State<AppState>,
    caller: Caller,
    Segments((ctx, email, id)): Segments<(String, String, String)>,
) -> Result<Response, Problem> {
    let tenant = caller.tenant(&state, &ctx).await?;
    let held = credentials_in(&state, &tenant.ctx, &email).await?;
    if !held.iter().any(|c| c.id == id && c.revoked_at.is_none()) {
        return Err(Problem::not_found());
    }
    crate::oauth::credentials::revoke(&state, &id, &caller.actor()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
