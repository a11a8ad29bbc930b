//! `grant_type=client_credentials` (RFC 6749 §4.4): an app acting for itself. No refresh
//! token, no ID token.

use super::super::client_auth::AuthenticatedClient;
use super::super::token::TokenResponse;
use super::super::tokens::{issue_access, AccessRequest};
use super::super::{OAuthError, ProtocolError};
use super::{audience, entitlement_scopes};
use crate::oauth::params::FormParams;
use crate::provider::Provider;
use crate::vocab::GrantType;

pub async fn exchange(
    state: &Provider,
    client: &AuthenticatedClient,
    form: &FormParams,
) -> Result<TokenResponse, ProtocolError> {
    let app = client.app();
    client.require_grant(GrantType::ClientCredentials, true)?;
    let scope = entitlement_scopes(app, form.get("scope"))?;
    // An app may act in one tenant that approved it (the same record as SuperID's system
    // user), named by `ctx`.
    let tenant = match form.get("ctx") {
        None => None,
        Some(ctx) => {
            let tenant = match state.directory.tenant(ctx).await {
                Ok(t) => t,
                Err(crate::error::Error::NotFound(_)) => return Err(OAuthError::invalid_grant("no such tenant").into()),
                Err(e) => return Err(e.into()),
            };
            if !state.approvals.admits(app, &tenant).await? {
                return Err(OAuthError::invalid_grant("the tenant has not approved this app").into());
            }
            Some(tenant)
        }
    };
    let audience = audience(state, app, form.get("resource")).await?;
    let access = issue_access(
        state,
        AccessRequest {
            app,
            subject: app.client_id.clone(),
            user_id: None,
            tenant_id: tenant.as_ref().map(|t| t.id.clone()),
            tenant_ctx: tenant.as_ref().map(|t| t.ctx.clone()),
            scope: scope.clone(),
            audience,
            jkt: client.dpop_jkt().map(str::to_string),
            act: None,
            requires_revision: client.unconfirmed_revision(),
        },
    )
    .await?;
    Ok(TokenResponse::bearer(access, scope))
}
