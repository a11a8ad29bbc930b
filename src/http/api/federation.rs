//! `/api/v1/tenants/{ctx}/identity-providers`: a tenant's upstream OpenID Providers
//! (federation), for an operator's scripts (`admin:platform`, whose domains route at once) and
//! for apps the tenant approved with `admin:tenant` (whose domains wait for their DNS record).
//! The client secret goes in once and never comes back out.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Body, Caller, Problem, Segments};
use crate::federation::{NewProvider, Proof};
use crate::store::federation::IdpRow;
use crate::AppState;

// No `Debug`: it carries the client secret.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewIdentityProvider {
    /// The provider's issuer; its discovery document is fetched when it is added.
    pub issuer: String,
    /// The client ID Gatehouse has at the provider (redirect URI: `<our issuer>/signin/federated`).
    pub client_id: String,
    /// Absent: Gatehouse makes a key and authenticates with `private_key_jwt` (the answer's
    /// `jwks_uri` publishes its public half for the provider).
    pub client_secret: Option<String>,
    /// The email domains whose people sign in there.
    pub domains: Vec<String>,
    /// A value of the groups claim that makes its holder an administrator of the tenant.
    pub admin_group: Option<String>,
    /// Whether people of these domains may still sign in with a password (default false).
    #[serde(default)]
    pub passwords_allowed: bool,
    pub email_claim: Option<String>,
    pub name_claim: Option<String>,
    pub groups_claim: Option<String>,
}

/// A domain named for a provider that DNS has not proven yet: publish the TXT record, then
/// ask for its proof.
#[derive(Debug, Serialize, ToSchema)]
pub struct PendingDomainView {
    pub domain: String,
    /// Where the TXT record goes.
    pub txt_name: String,
    /// What it must say.
    pub txt_value: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IdentityProviderView {
    pub id: String,
    pub issuer: String,
    pub client_id: String,
    /// Proven domains: their people sign in at this provider.
    pub domains: Vec<String>,
    pub pending_domains: Vec<PendingDomainView>,
    pub admin_group: Option<String>,
    pub passwords_allowed: bool,
    pub email_claim: String,
    pub name_claim: String,
    pub groups_claim: String,
    pub created_at: i64,
    /// Our public key for `private_key_jwt`, when we authenticate with one.
    pub jwks_uri: Option<String>,
}

impl IdentityProviderView {
    fn of(state: &AppState, p: IdpRow) -> Self {
        IdentityProviderView {
            jwks_uri: state.upstreams.jwks_uri(&p),
            id: p.id,
            issuer: p.issuer,
            client_id: p.client_id,
            domains: p.domains,
            pending_domains: p
                .pending
                .into_iter()
                .map(|c| {
                    let (txt_name, txt_value) = crate::federation::domains::txt_record(&c.domain, &c.token);
                    PendingDomainView { domain: c.domain, txt_name, txt_value }
                })
                .collect(),
            admin_group: p.admin_group,
            passwords_allowed: p.passwords_allowed,
            email_claim: p.email_claim,
            name_claim: p.name_claim,
            groups_claim: p.groups_claim,
            created_at: p.created_at,
        }
    }
}

/// `GET /api/v1/tenants/{ctx}/identity-providers`.
#[utoipa::path(get, path = "/api/v1/tenants/{ctx}/identity-providers", params(("ctx" = String, Path)),
    responses((status = 200, body = Vec<IdentityProviderView>)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Segments(ctx): Segments<String>,
) -> Result<Response, Problem> {
    let tenant = caller.tenant(&state, &ctx).await?;
    let all: Vec<IdentityProviderView> =
        state.upstreams.list(&tenant.ctx).await?.into_iter().map(|p| IdentityProviderView::of(&state, p)).collect();
    Ok(Json(all).into_response())
}

/// `POST /api/v1/tenants/{ctx}/identity-providers`: connects a provider.
#[utoipa::path(post, path = "/api/v1/tenants/{ctx}/identity-providers", params(("ctx" = String, Path)),
    request_body = NewIdentityProvider, responses((status = 201, body = IdentityProviderView)))]
pub async fn add(
    State(state): State<AppState>,
    caller: Caller,
    Segments(ctx): Segments<String>,
    Body(body): Body<NewIdentityProvider>,
) -> Result<Response, Problem> {
    let tenant = caller.tenant(&state, &ctx).await?;
    let proof = if caller.platform { Proof::Operator } else { Proof::Dns };
    let new = NewProvider {
        issuer: body.issuer,
        client_id: body.client_id,
        client_secret: body.client_secret.map(crate::secret::Secret::new),
        domains: body.domains,
        admin_group: body.admin_group,
        passwords_allowed: body.passwords_allowed,
        email_claim: body.email_claim,
        name_claim: body.name_claim,
        groups_claim: body.groups_claim,
    };
    let added = state.upstreams.add(&tenant.ctx, new, &caller.actor(), proof).await?;
    Ok((StatusCode::CREATED, Json(IdentityProviderView::of(&state, added))).into_response())
}

/// `DELETE /api/v1/tenants/{ctx}/identity-providers/{id}`: its people sign in with passwords
/// again (those made at their first federated sign-in have none until they reset one).
#[utoipa::path(delete, path = "/api/v1/tenants/{ctx}/identity-providers/{id}",
    params(("ctx" = String, Path), ("id" = String, Path)), responses((status = 204)))]
pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Segments((ctx, id)): Segments<(String, String)>,
) -> Result<Response, Problem> {
    let tenant = caller.tenant(&state, &ctx).await?;
    state.upstreams.remove(&tenant.ctx, &id, &caller.actor()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /api/v1/tenants/{ctx}/identity-providers/{id}/domains/{domain}/proof`: looks up the
/// domain's TXT record now; when it holds the claim's token the domain is proven and its people
/// sign in at the provider. 422 says what DNS showed instead.
#[utoipa::path(post, path = "/api/v1/tenants/{ctx}/identity-providers/{id}/domains/{domain}/proof",
    params(("ctx" = String, Path), ("id" = String, Path), ("domain" = String, Path)),
    responses((status = 200, body = IdentityProviderView)))]
pub async fn prove(
    State(state): State<AppState>,
    caller: Caller,
    Segments((ctx, id, domain)): Segments<(String, String, String)>,
) -> Result<Response, Problem> {
    let tenant = caller.tenant(&state, &ctx).await?;
    state.upstreams.prove_domain(&tenant.ctx, &id, &domain, &caller.actor()).await?;
    let proven =
        state.upstreams.list(&tenant.ctx).await?.into_iter().find(|p| p.id == id).ok_or_else(Problem::not_found)?;
    Ok(Json(IdentityProviderView::of(&state, proven)).into_response())
}
