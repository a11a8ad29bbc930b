//! Token introspection (RFC 7662). A caller learns about a token only if the token was issued
//! to it or names it as audience; every other token, valid or not, is `{"active": false}`.

use serde::Serialize;

use super::client_auth::AuthenticatedClient;
use super::params::FormParams;
use super::tokens::lookup_active;
use super::{Error, OAuthError};
use crate::AppState;

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
}

pub async fn introspect(
    state: &AppState,
    caller: &AuthenticatedClient,
    form: &FormParams,
) -> Result<Introspection, Error> {
    if !caller.is_confidential() {
        return Err(OAuthError::invalid_client("introspection requires client authentication").into());
    }
    let token = form.required("token")?;
    let Some(t) = lookup_active(state, token).await? else { return Ok(Introspection::default()) };
    let me = caller.app().client_id.as_str();
    if t.client_id != me && t.audience != me {
        return Ok(Introspection::default());
    }
    Ok(Introspection {
        active: true,
        scope: Some(t.scope),
        client_id: Some(t.client_id),
        token_type: Some("Bearer"),
        exp: Some(t.expires_at),
        iat: Some(t.issued_at),
        sub: Some(t.subject),
        aud: Some(t.audience),
        iss: Some(state.config.issuer.clone()),
        jti: Some(t.jti),
    })
}
