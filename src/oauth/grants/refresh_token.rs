//! `grant_type=refresh_token` (RFC 6749 §6, OAuth 2.0 Security BCP §4.14): rotation with reuse
//! detection — replaying a rotated token revokes its whole grant — and, for apps that opt in, a
//! short grace period in which a retried refresh gets the same successor back. Long-lived mode (SuperID) does not
//! rotate and ends with the tenant's authorization record.
//!
//! A successor token is derived as HMAC(old token, salt) with a random salt stored on the old
//! row, so a retry within the grace period can be given the same successor without any
//! refresh token being stored in a recoverable form.

use aws_lc_rs::hmac;

use super::super::client_auth::AuthenticatedClient;
use super::super::token::TokenResponse;
use super::super::tokens::{issue_access, AccessRequest};
use super::super::{OAuthError, ProtocolError};
use super::denied;
use crate::apps::RefreshMode;
use crate::crypto::{b64url, random_id, random_token, sha256};
use crate::oauth::params::{parse_scope, FormParams};
use crate::provider::Provider;
use crate::store::grants::RefreshRow;
use crate::tenants::User;
use crate::vocab::GrantType;

pub const REFRESH_PREFIX: &str = "gatehouse_rt_";
/// Rotating refresh tokens expire after 30 days of disuse; long-lived ones never do.
pub const ROTATING_TTL: i64 = 30 * 86_400;
/// However often it is used, a rotating family ends this long after the sign-in that started
/// it (RFC 9700 §4.14.2: refresh tokens should not live forever).
pub const ROTATING_MAX_LIFETIME: i64 = 90 * 86_400;

/// When a rotating refresh token issued at `now` expires: idle or absolute limit, whichever
/// comes first.
fn rotating_expiry(now: i64, auth_time: i64) -> i64 {
    (now + ROTATING_TTL).min(auth_time + ROTATING_MAX_LIFETIME)
}

/// Long-lived mode is for confidential clients only (enforced when set, and here in case it
/// was set before that rule).
fn long_lived(app: &crate::apps::App) -> bool {
    app.refresh_mode == RefreshMode::LongLived && app.client_type != crate::apps::ClientType::Public
}

fn successor_of(token: &str, salt: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, token.as_bytes());
    format!("{REFRESH_PREFIX}{}", b64url(hmac::sign(&key, salt.as_bytes()).as_ref()))
}

/// What a user grant issues tokens for (from a code, a refresh, or later grants).
pub struct UserGrant<'a> {
    pub grant_id: &'a str,
    pub user_id: &'a str,
    pub tenant_id: Option<&'a str>,
    pub scope: Vec<String>,
    pub nonce: Option<&'a str>,
    pub auth_time: i64,
    /// How the person signed in (RFC 8176), space-separated.
    pub amr: Option<&'a str>,
    /// The refresh token to hand back instead of minting a new one.
    pub refresh: Option<String>,
    /// The browser session the grant came from (`sid` in ID tokens).
    pub sid: Option<&'a str>,
}

/// Access token, ID token (for `openid`) and refresh token for a user.
pub async fn issue_for_user(
    state: &Provider,
    client: &AuthenticatedClient,
    g: UserGrant<'_>,
) -> Result<TokenResponse, ProtocolError> {
    let app = client.app();
    let user =
        state.store.user_by_id(g.user_id).await?.map(User::from).ok_or_else(|| denied("the user no longer exists"))?;
    if user.disabled_at.is_some() {
        return Err(denied("the user is disabled"));
    }
    let tenant = match g.tenant_id {
        Some(id) => state.store.tenant_by_id(id).await?.map(crate::tenants::Tenant::from),
        None => None,
    };
    let is_admin = match &tenant {
        Some(t) => state.directory.memberships(&user.id).await?.iter().any(|m| m.tenant == t.ctx && m.is_admin),
        None => false,
    };
    let access = issue_access(
        state,
        AccessRequest {
            app,
            subject: user.id.clone(),
            user_id: Some(user.id.clone()),
            tenant_id: tenant.as_ref().map(|t| t.id.clone()),
            tenant_ctx: tenant.as_ref().map(|t| t.ctx.clone()),
            scope: g.scope.clone(),
            audience: state.config.default_audience.clone(),
            jkt: client.dpop_jkt().map(str::to_string),
            act: None,
            requires_revision: None,
        },
    )
    .await?;
    let system_token = match &tenant {
        Some(t) if is_admin && app.active_entitlements().any(|e| e == crate::apps::Entitlement::SystemToken) => state
            .store
            .authorization_record(&app.id, &t.id)
            .await?
            .filter(|(status, _)| status == "approved")
            .and_then(|(_, token)| token),
        _ => None,
    };
    // A federated sign-in (amr `fed`) names the provider that serves the person's domain.
    let identity_provider = match g.amr.is_some_and(|a| a.split(' ').any(|m| m == "fed")) {
        true => state.upstreams.for_email(&user.email).await?.map(|p| p.issuer),
        false => None,
    };
    let id_token = if g.scope.iter().any(|s| s == "openid") {
        Some(crate::oidc::id_token::sign(
            &state.keys,
            &state.config,
            state.clock.now(),
            crate::oidc::id_token::IdTokenInput {
                client_id: &app.client_id,
                signing_alg: &app.signing_alg,
                app_id: &app.id,
                user: &user,
                tenant: tenant.as_ref(),
                is_admin,
                scope: &g.scope,
                nonce: g.nonce,
                auth_time: g.auth_time,
                amr: g.amr,
                sid: g.sid,
                access_token: &access.token,
                ttl: access.expires_in,
                system_token: system_token.as_deref(),
                identity_provider: identity_provider.as_deref(),
            },
        )?)
    } else {
        None
    };
    // The access token's id and a new refresh token are stored in one commit.
    let (refresh, new_row) = match g.refresh {
        Some(existing) => (Some(existing), None),
        None if app.allows_grant(GrantType::RefreshToken) => {
            let (token, mut row) = refresh_row(state, app, &g);
            // RFC 9449 §5: a public client's refresh token is bound to the key it proved; a
            // confidential client's is already bound to its authentication.
            if !client.is_confidential() {
                row.jkt = client.dpop_jkt().map(str::to_string);
            }
            (Some(token), Some(row))
        }
        None => (None, None),
    };
    state.store.record_issued(g.grant_id, &access.jti, access.expires_at, new_row.as_ref()).await?;
    // A replay that arrived while these were being issued revoked the grant before they were
    // stored; revoke again so they are dead too. The answer is still this redemption's (one
    // success per code, RFC 6749 §4.1.2), but its tokens no longer work.
    if state.store.is_grant_revoked(g.grant_id).await? {
        state.store.revoke_grant(g.grant_id, state.clock.now()).await?;
    }
    let mut response = TokenResponse::bearer(access, g.scope);
    response.refresh_token = refresh;
    response.id_token = id_token;
    Ok(response)
}

/// A new refresh token of a grant and its row, not yet stored.
pub fn refresh_row(state: &Provider, app: &crate::apps::App, g: &UserGrant<'_>) -> (String, RefreshRow) {
    let token = format!("{REFRESH_PREFIX}{}", random_token());
    let now = state.clock.now();
    let row = RefreshRow {
        digest: sha256(token.as_bytes()).to_vec(),
        grant_id: g.grant_id.to_string(),
        app_id: app.id.clone(),
        user_id: g.user_id.to_string(),
        tenant_id: g.tenant_id.map(str::to_string),
        scope: g.scope.join(" "),
        nonce: g.nonce.map(str::to_string),
        auth_time: g.auth_time,
        issued_at: now,
        expires_at: (!long_lived(app)).then_some(rotating_expiry(now, g.auth_time)),
        used_at: None,
        successor: None,
        revoked_at: None,
        amr: g.amr.map(str::to_string),
        jkt: None,
        sid: g.sid.map(str::to_string),
    };
    (token, row)
}

pub async fn exchange(
    state: &Provider,
    client: &AuthenticatedClient,
    form: &FormParams,
) -> Result<TokenResponse, ProtocolError> {
    let app = client.app();
    client.require_grant(GrantType::RefreshToken, false)?;
    let token = form.required("refresh_token")?;
    let now = state.clock.now();
    let row = state
        .store
        .refresh_token(&sha256(token.as_bytes()))
        .await?
        .ok_or_else(|| denied("the refresh token is not valid"))?;
    if row.app_id != app.id {
        return Err(denied("the refresh token was issued to another client"));
    }
    if row.revoked_at.is_some() || row.expires_at.is_some_and(|e| e <= now) {
        return Err(denied("the refresh token is no longer valid"));
    }
    // RFC 9449 §5: a bound refresh token needs a proof of the same key.
    if row.jkt.as_deref().is_some_and(|bound| client.dpop_jkt() != Some(bound)) {
        return Err(OAuthError::new(
            crate::oauth::ErrorCode::InvalidDpopProof,
            "the refresh token is bound to a DPoP key this request did not prove",
        )
        .into());
    }
    if let Some(tenant_id) = &row.tenant_id {
        let tenant = state.store.tenant_by_id(tenant_id).await?.ok_or_else(|| denied("the tenant no longer exists"))?;
        if !state.approvals.admits(app, &tenant.into()).await? {
            return Err(denied("the tenant no longer admits this app"));
        }
    }
    let original: Vec<String> = row.scope.split_whitespace().map(str::to_string).collect();
    let scope = match form.get("scope") {
        None => original.clone(),
        Some(s) => {
            let asked = parse_scope(s)?;
            if asked.iter().any(|a| !original.contains(a)) {
                return Err(OAuthError::invalid_scope("a refresh cannot widen the original scope").into());
            }
            asked
        }
    };
    let grant = |refresh: Option<String>| UserGrant {
        grant_id: &row.grant_id,
        user_id: &row.user_id,
        tenant_id: row.tenant_id.as_deref(),
        scope: scope.clone(),
        nonce: None,
        auth_time: row.auth_time,
        amr: row.amr.as_deref(),
        refresh,
        sid: row.sid.as_deref(),
    };
    if long_lived(app) {
        return issue_for_user(state, client, grant(Some(token.to_string()))).await;
    }
    if row.used_at.is_some() {
        return retry_or_reuse(state, client, &row, token, now, grant).await;
    }
    let salt = random_id();
    let successor = successor_of(token, &salt);
    let next = RefreshRow {
        digest: sha256(successor.as_bytes()).to_vec(),
        issued_at: now,
        expires_at: Some(rotating_expiry(now, row.auth_time)),
        used_at: None,
        successor: None,
        revoked_at: None,
        ..row.clone()
    };
    if !state.store.rotate_refresh(&row.digest, &next, &salt, now).await? {
        // Another request rotated it first: treat this one as that request's retry.
        let row =
            state.store.refresh_token(&row.digest).await?.ok_or_else(|| denied("the refresh token is not valid"))?;
        return retry_or_reuse(state, client, &row, token, now, grant).await;
    }
    issue_for_user(state, client, grant(Some(successor))).await
}

async fn retry_or_reuse<'a>(
    state: &Provider,
    client: &AuthenticatedClient,
    row: &RefreshRow,
    token: &str,
    now: i64,
    grant: impl Fn(Option<String>) -> UserGrant<'a>,
) -> Result<TokenResponse, ProtocolError> {
    // A grace of 0 means none at all, not "within the same second". A use stamped after `now`
    // (the clock stepped back since) is not known to be recent, so it counts as a replay.
    // Strict one-time use is the default; a grace period is the app's explicit opt-in.
    let grace = client.app().refresh_grace_secs.unwrap_or(state.config.refresh_grace);
    let within_grace = grace > 0 && row.used_at.is_some_and(|u| (0..=grace).contains(&(now - u)));
    match (&row.successor, within_grace) {
        (Some(salt), true) => issue_for_user(state, client, grant(Some(successor_of(token, salt)))).await,
        _ => {
            state.store.revoke_grant(&row.grant_id, now).await?;
            tracing::warn!(client_id = %client.app().client_id, "rotated refresh token replayed; its grant is revoked");
            Err(denied("the refresh token was already used"))
        }
    }
}

/// What revoking a refresh token did.
pub enum Revoked {
    Done,
    /// No such token: nothing to do (RFC 7009 §2.2).
    Unknown,
    /// It belongs to another client: nothing was done.
    Foreign,
}

/// Ends a refresh token's whole grant (RFC 7009 §2.1), if it belongs to `app_id`.
pub async fn revoke(state: &Provider, token: &str, app_id: &str) -> Result<Revoked, ProtocolError> {
    let Some(row) = state.store.refresh_token(&sha256(token.as_bytes())).await? else { return Ok(Revoked::Unknown) };
    if row.app_id != app_id {
        return Ok(Revoked::Foreign);
    }
    state.store.revoke_grant(&row.grant_id, state.clock.now()).await?;
    Ok(Revoked::Done)
}
