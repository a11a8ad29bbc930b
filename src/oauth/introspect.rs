//! Token introspection (RFC 7662). A caller learns about a token only if the token was issued
//! to it or names it as audience; every other token, valid or not, is `{"active": false}`.
//! Access and refresh tokens are both introspected: `token_type_hint` is only a hint (§2.1).

use serde::Serialize;

use super::client_auth::{AuthenticatedClient, PendingClient};
use super::grants::refresh_token::REFRESH_PREFIX;
use super::params::FormParams;
use super::tokens::{active_opaque, lookup_active, opaque_ref, KnownToken};
use super::{OAuthError, ProtocolError};
use crate::provider::Provider;

#[derive(Debug, Serialize, Default)]
pub struct Introspection {
    pub active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// The tenant a SuperID ticket acts in (the SuperID claim name).
    #[serde(rename = "http://schemes.superoffice.net/identity/ctx", skip_serializing_if = "Option::is_none")]
    pub ctx: Option<String>,
    /// RFC 9449 §6.2: the DPoP key a token is bound to, as `{"jkt": …}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cnf: Option<serde_json::Value>,
    /// RFC 8693 §4.1: an exchanged token's delegation chain, as the JWT carries it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub act: Option<serde_json::Value>,
}

pub async fn introspect(
    state: &Provider,
    caller: PendingClient,
    form: &FormParams,
) -> Result<Introspection, ProtocolError> {
    let token = form.get("token").filter(|t| !t.is_empty());
    // The hot path, an opaque access token: its row and the caller's app revision (which a
    // remembered client authentication needs) come back from one statement.
    if let (Some(token), Some(app_id)) = (token, caller.revision_needed()) {
        if let Some(opaque) = opaque_ref(token) {
            let (row, revision) = state.token_reader.read(&opaque, app_id).await?;
            let caller = confidential(caller.confirm(state, revision).await?)?;
            let known = active_opaque(state, &opaque, row, state.clock.now()).await?;
            return Ok(access_token(state, &caller, known));
        }
    }
    let caller = confidential(caller.confirm_by_reading(state).await?)?;
    let token = form.required("token")?;
    if token.starts_with(REFRESH_PREFIX) {
        return refresh_token(state, &caller, token).await;
    }
    if token.starts_with(crate::tenants::tickets::PREFIX) {
        return ticket(state, &caller, token).await;
    }
    let known = lookup_active(state, token).await?;
    Ok(access_token(state, &caller, known))
}

fn confidential(caller: AuthenticatedClient) -> Result<AuthenticatedClient, ProtocolError> {
    if !caller.is_confidential() {
        return Err(OAuthError::invalid_client("introspection requires client authentication").into());
    }
    Ok(caller)
}

/// An access token is visible to the client it was issued to and to its audience.
fn access_token(state: &Provider, caller: &AuthenticatedClient, known: Option<KnownToken>) -> Introspection {
    let Some(t) = known else { return Introspection::default() };
    let me = caller.app().client_id.as_str();
    if t.client_id != me && t.audience != me {
        return Introspection::default();
    }
    Introspection {
        active: true,
        scope: Some(t.scope),
        client_id: Some(t.client_id),
        token_type: Some(if t.jkt.is_some() { "DPoP" } else { "Bearer" }),
        exp: Some(t.expires_at),
        iat: Some(t.issued_at),
        sub: Some(t.subject),
        aud: Some(t.audience),
        iss: Some(state.config.issuer.clone()),
        jti: Some(t.jti),
        ctx: None,
        cnf: t.jkt.map(|jkt| serde_json::json!({ "jkt": jkt })),
        act: t.act,
    }
}

/// A SuperID ticket is visible to the app it was issued to and to the client configured as
/// the tenants' API (`superid.ticket_audience`); each look slides its expiry.
async fn ticket(state: &Provider, caller: &AuthenticatedClient, token: &str) -> Result<Introspection, ProtocolError> {
    let me = caller.app().client_id.as_str();
    let audience = state.config.ticket_audience.as_deref();
    let Some(t) = state.directory.use_ticket(token).await? else { return Ok(Introspection::default()) };
    if t.client_id != me && audience != Some(me) {
        return Ok(Introspection::default());
    }
    Ok(Introspection {
        active: true,
        scope: None,
        client_id: Some(t.client_id.clone()),
        // How tenant APIs take it: `Authorization: SOTicket 7T:…`.
        token_type: Some("SOTicket"),
        exp: Some(t.expires_at),
        iat: Some(t.issued_at),
        sub: Some(crate::superid::system_user::subject(&t.client_id, &t.ctx)),
        aud: audience.map(str::to_string),
        iss: Some(state.config.system_user_issuer.clone()),
        jti: None,
        ctx: Some(t.ctx),
        cnf: None,
        act: None,
    })
}

/// A refresh token is active while it is unused (or long-lived), unrevoked and unexpired, and
/// only its own client may see it.
async fn refresh_token(
    state: &Provider,
    caller: &AuthenticatedClient,
    token: &str,
) -> Result<Introspection, ProtocolError> {
    let Some(row) = state.store.refresh_token(&crate::crypto::sha256(token.as_bytes())).await? else {
        return Ok(Introspection::default());
    };
    let now = state.clock.now();
    let active = row.app_id == caller.app().id
        && row.revoked_at.is_none()
        && row.expires_at.is_none_or(|e| e > now)
        && (row.used_at.is_none()
            || (caller.app().refresh_mode == crate::apps::RefreshMode::LongLived && caller.is_confidential()))
        && !state.store.is_grant_revoked(&row.grant_id).await?;
    if !active {
        return Ok(Introspection::default());
    }
    Ok(Introspection {
        active: true,
        scope: Some(row.scope),
        client_id: Some(caller.app().client_id.clone()),
        // RFC 7662 §2.2's token_type is an access-token type (RFC 6749 §5.1): none here.
        token_type: None,
        exp: row.expires_at,
        iat: Some(row.issued_at),
        sub: Some(row.user_id),
        aud: None,
        iss: Some(state.config.issuer.clone()),
        jti: None,
        ctx: None,
        cnf: row.jkt.map(|jkt| serde_json::json!({ "jkt": jkt })),
        act: None,
    })
}
