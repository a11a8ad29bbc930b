//! `grant_type=client_credentials` (RFC 6749 §4.4): an app acting for itself. No refresh
//! token, no ID token.

use super::super::client_auth::AuthenticatedClient;
use super::super::token::TokenResponse;
use super::super::tokens::{issue_access, AccessRequest};
use super::super::{Error, GrantType, OAuthError};
use super::{audience, entitlement_scopes};
use crate::oauth::params::FormParams;
use crate::AppState;

pub async fn exchange(
    state: &AppState,
    client: &AuthenticatedClient,
    form: &FormParams,
) -> Result<TokenResponse, Error> {
    let app = client.app();
    if !client.is_confidential() {
        return Err(OAuthError::unauthorized_client("public clients cannot use client_credentials").into());
    }
    if !app.allows_grant(GrantType::ClientCredentials) {
        return Err(OAuthError::unauthorized_client("this app may not use the client_credentials grant").into());
    }
    let scope = entitlement_scopes(app, form.get("scope"))?;
    let audience = audience(app, form.get("resource"), &state.config.default_audience)?;
    let access = issue_access(
        state,
        AccessRequest {
            app,
            subject: app.client_id.clone(),
            user_id: None,
            tenant_id: None,
            tenant_ctx: None,
            scope: scope.clone(),
            audience,
        },
    )
    .await?;
    Ok(TokenResponse::bearer(access, scope))
}
