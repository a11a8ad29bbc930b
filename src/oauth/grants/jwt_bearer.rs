//! `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer` (RFC 7523 §2.1): an app acts for a
//! user, by either of two assertions:
//! - one it signed with its own registered certificate (`iss` = its client ID, `sub` = the
//!   user's id or email), for a user of a tenant that approved the app;
//! - a JWT credential the user created for it (`iss` = this server), see
//!   `oauth::credentials`.

use super::super::client_auth::{
    check_assertion_claims, token_endpoint, verify_with_app_certificates, AuthenticatedClient, CLOCK_SKEW,
};
use super::super::token::TokenResponse;
use super::super::tokens::{issue_access, AccessRequest};
use super::super::{OAuthError, ProtocolError};
use super::denied;
use super::{audience, entitlement_scopes};
use crate::apps::Entitlement;
use crate::crypto::sha256;
use crate::jose::jws::Jws;
use crate::oauth::params::FormParams;
use crate::oauth::tokens::CTX_CLAIM;
use crate::provider::Provider;
use crate::store::audit::AuditEvent;
use crate::tenants::{Tenant, User};
use crate::vocab::GrantType;
use serde_json::json;

pub async fn exchange(
    state: &Provider,
    client: &AuthenticatedClient,
    form: &FormParams,
) -> Result<TokenResponse, ProtocolError> {
    let app = client.app();
    client.require_grant(GrantType::JwtBearer, true)?;
    let assertion = form.required("assertion")?;
    let jws = Jws::parse(assertion).map_err(|why| ProtocolError::from(OAuthError::invalid_grant(why)))?;
    let by_app = jws.str_claim("iss") != Some(state.config.issuer.as_str());
    let (user, tenant) = if by_app {
        by_app_assertion(state, client, &jws).await?
    } else {
        by_credential(state, client, assertion).await?
    };
    if !state.approvals.admits(app, &tenant).await? {
        return Err(denied("the user's tenant has not approved this app"));
    }
    if by_app {
        // Acting for a user without that user: every use is in the tenant's audit trail.
        let event = AuditEvent::new(
            state.clock.now(),
            &app.client_id,
            "user.acted_for",
            &tenant.ctx,
            json!({ "user_id": user.id }),
        );
        state.store.record_audit(&event).await?;
    }
    let scope = entitlement_scopes(app, form.get("scope"))?;
    let audience = audience(state, app, form.get("resource")).await?;
    let access = issue_access(
        state,
        AccessRequest {
            app,
            subject: user.id.clone(),
            user_id: Some(user.id.clone()),
            tenant_id: Some(tenant.id.clone()),
            tenant_ctx: Some(tenant.ctx.clone()),
            scope: scope.clone(),
            audience,
            jkt: client.dpop_jkt().map(str::to_string),
            act: None,
            requires_revision: None,
        },
    )
    .await?;
    // A refresh token where the app allows refresh tokens (RFC 7523 leaves it to the server).
    let refresh = if app.allows_grant(GrantType::RefreshToken) {
        let grant_id = crate::crypto::random_id();
        let now = state.clock.now();
        let grant = super::refresh_token::UserGrant {
            grant_id: &grant_id,
            user_id: &user.id,
            tenant_id: Some(&tenant.id),
            scope: scope.clone(),
            nonce: None,
            auth_time: now,
            amr: None,
            refresh: None,
            sid: None,
        };
        let (token, row) = super::refresh_token::refresh_row(state, app, &grant);
        state.store.record_issued(&grant_id, &access.jti, access.expires_at, Some(&row)).await?;
        Some(token)
    } else {
        None
    };
    let mut response = TokenResponse::bearer(access, scope);
    response.refresh_token = refresh;
    Ok(response)
}

/// An assertion the app signed for a user (RFC 7523 §3).
async fn by_app_assertion(
    state: &Provider,
    client: &AuthenticatedClient,
    jws: &Jws<'_>,
) -> Result<(User, Tenant), ProtocolError> {
    let app = client.app();
    if jws.str_claim("iss") != Some(app.client_id.as_str()) {
        return Err(denied("the assertion's 'iss' must be the client ID of the app that presents it"));
    }
    let now = state.clock.now();
    let exp = check_assertion_claims(jws, &[state.config.issuer.as_str(), &token_endpoint(state)], now)
        .map_err(|why| ProtocolError::from(OAuthError::invalid_grant(why)))?;
    verify_with_app_certificates(state, app, jws).await.map_err(|e| match e {
        ProtocolError::OAuth(o) => ProtocolError::OAuth(OAuthError::invalid_grant(o.description)),
        other => other,
    })?;
    let sub = jws.str_claim("sub").ok_or_else(|| denied("the assertion has no 'sub'"))?;
    let user = match state.store.user_by_id(sub).await? {
        Some(u) => User::from(u),
        None => state.directory.user(sub).await.map_err(|_| denied("the assertion's 'sub' is not a known user"))?,
    };
    if user.disabled_at.is_some() {
        return Err(denied("the assertion's user is disabled"));
    }
    let tenant = tenant_of(state, &user, jws.str_claim(CTX_CLAIM).or(jws.str_claim("ctx"))).await?;
    // Acting for a user without that user is an integration point the tenant approved by
    // name; an administrator only under the wider one.
    let is_admin = state.directory.memberships(&user.id).await?.iter().any(|m| m.tenant == tenant.ctx && m.is_admin);
    let may = |e: Entitlement| app.active_entitlements().any(|a| a == e);
    let allowed = may(Entitlement::ActForAdministrators) || (!is_admin && may(Entitlement::ActForUsers));
    if !allowed {
        return Err(OAuthError::unauthorized_client(if is_admin {
            "acting for a tenant administrator needs the act-for-administrators integration point"
        } else {
            "acting for the tenant's users needs the act-for-users integration point"
        })
        .into());
    }
    let jti = jws
        .str_claim("jti")
        .filter(|j| !j.is_empty() && j.len() <= 256)
        .ok_or_else(|| denied("the assertion needs a 'jti'"))?;
    if !state.store.claim_jti(&app.client_id, jti, exp + CLOCK_SKEW).await? {
        return Err(denied("this assertion was already used"));
    }
    Ok((user, tenant))
}

/// The tenant the assertion names, or the user's only tenant.
async fn tenant_of(state: &Provider, user: &User, ctx: Option<&str>) -> Result<Tenant, ProtocolError> {
    let memberships = state.directory.memberships(&user.id).await?;
    let ctx = match ctx {
        Some(c) => c.to_string(),
        None if memberships.len() == 1 => memberships[0].tenant.clone(),
        None => return Err(denied("the user belongs to several tenants; name one with the ctx claim")),
    };
    if !memberships.iter().any(|m| m.tenant == ctx) {
        return Err(denied("the user is not a member of that tenant"));
    }
    match state.directory.tenant(&ctx).await {
        Ok(t) => Ok(t),
        Err(crate::error::Error::NotFound(_)) => Err(denied("the tenant no longer exists")),
        Err(e) => Err(e.into()),
    }
}

/// A JWT credential issued by us: the stored row decides (active, names this app).
async fn by_credential(
    state: &Provider,
    client: &AuthenticatedClient,
    assertion: &str,
) -> Result<(User, Tenant), ProtocolError> {
    let row = state
        .store
        .credential_by_digest(&sha256(assertion.as_bytes()))
        .await?
        .ok_or_else(|| denied("unknown credential"))?;
    let now = state.clock.now();
    if row.revoked_at.is_some() {
        return Err(denied("the credential was revoked"));
    }
    if row.expires_at.is_some_and(|e| e <= now) {
        return Err(denied("the credential has expired"));
    }
    if !row.app_ids.split_whitespace().any(|id| id == client.app().client_id) {
        return Err(denied("the credential was not created for this app"));
    }
    let user = state
        .store
        .user_by_id(&row.user_id)
        .await?
        .map(User::from)
        .ok_or_else(|| denied("the credential's user no longer exists"))?;
    if user.disabled_at.is_some() {
        return Err(denied("the credential's user is disabled"));
    }
    if !state.store.is_member(&row.tenant_id, &user.id).await? {
        return Err(denied("the user is no longer a member of the credential's tenant"));
    }
    let tenant = state
        .directory
        .tenants()
        .await?
        .into_iter()
        .find(|t| t.id == row.tenant_id)
        .ok_or_else(|| denied("the credential's tenant no longer exists"))?;
    Ok((user, tenant))
}
