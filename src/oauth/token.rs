//! The token endpoint (RFC 6749 §3.2): the one place that knows every grant.

use serde::Serialize;

use super::client_auth::AuthenticatedClient;
use super::grants::{authorization_code, client_credentials, device_code, jwt_bearer, refresh_token, token_exchange};
use super::params::FormParams;
use super::tokens::IssuedAccess;
use super::{OAuthError, ProtocolError};
use crate::provider::Provider;
use crate::vocab::GrantType;

/// RFC 6749 §5.1.
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// RFC 8693 §2.2.1: what a token exchange issued.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_token_type: Option<&'static str>,
}

impl TokenResponse {
    /// A `Bearer` token, or a `DPoP` one when it is bound to the request's key (RFC 9449 §5).
    pub fn bearer(access: IssuedAccess, scope: Vec<String>) -> Self {
        TokenResponse {
            token_type: if access.dpop_bound { "DPoP" } else { "Bearer" },
            access_token: access.token,
            expires_in: access.expires_in,
            scope: scope.join(" "),
            refresh_token: None,
            id_token: None,
            issued_token_type: None,
        }
    }
}

/// Reads `grant_type` before authenticating, so a malformed request is told so without a
/// database round trip.
pub fn grant_type(form: &FormParams) -> Result<GrantType, OAuthError> {
    let name = form.required("grant_type")?;
    match GrantType::from_param(name) {
        Some(g) if GrantType::SERVED.contains(&g) => Ok(g),
        _ => Err(OAuthError::unsupported_grant_type("this grant_type is not supported")),
    }
}

pub async fn exchange(
    state: &Provider,
    grant: GrantType,
    client: &AuthenticatedClient,
    form: &FormParams,
) -> Result<TokenResponse, ProtocolError> {
    // RFC 9449 §5.2: an app registered with dpop_bound_access_tokens sends a proof every time.
    if client.app().require_dpop && client.dpop_jkt().is_none() {
        return Err(OAuthError::new(
            super::ErrorCode::InvalidDpopProof,
            "this app must send a DPoP proof with every token request",
        )
        .into());
    }
    // Only client_credentials stores nothing but the token whose write confirms the client.
    if client.unconfirmed_revision().is_some() && grant != GrantType::ClientCredentials {
        return Err(ProtocolError::Internal(anyhow::anyhow!("{} for an unconfirmed client", grant.as_str())));
    }
    match grant {
        GrantType::ClientCredentials => client_credentials::exchange(state, client, form).await,
        GrantType::JwtBearer => jwt_bearer::exchange(state, client, form).await,
        GrantType::TokenExchange => token_exchange::exchange(state, client, form).await,
        GrantType::DeviceCode => device_code::exchange(state, client, form).await,
        GrantType::AuthorizationCode => authorization_code::exchange(state, client, form).await,
        GrantType::RefreshToken => refresh_token::exchange(state, client, form).await,
    }
}
