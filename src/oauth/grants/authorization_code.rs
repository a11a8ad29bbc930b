//! `grant_type=authorization_code` (RFC 6749 §4.1.3, RFC 7636 §4.5, OIDC Core §3.1.3): the code
//! is taken in one conditional statement; a reused code revokes everything issued from it.

use super::super::authorize::verifier_matches;
use super::super::client_auth::AuthenticatedClient;
use super::super::token::TokenResponse;
use super::super::ProtocolError;
use super::denied;
use super::refresh_token::{issue_for_user, UserGrant};
use crate::crypto::sha256;
use crate::oauth::params::FormParams;
use crate::provider::Provider;
use crate::store::grants::TakenCode;
use crate::vocab::GrantType;

pub async fn exchange(
    state: &Provider,
    client: &AuthenticatedClient,
    form: &FormParams,
) -> Result<TokenResponse, ProtocolError> {
    let app = client.app();
    client.require_grant(GrantType::AuthorizationCode, false)?;
    let code = form.required("code")?;
    let redirect_uri = form.required("redirect_uri")?;
    let now = state.clock.now();
    let row = match state.store.take_code(&sha256(code.as_bytes()), &app.id, now).await? {
        TakenCode::Fresh(row) => row,
        TakenCode::Reused { grant_id } => {
            state.store.revoke_grant(&grant_id, now).await?;
            tracing::warn!(client_id = %app.client_id, "authorization code replayed; its grant is revoked");
            return Err(denied("the authorization code was already used"));
        }
        TakenCode::Unknown => return Err(denied("the authorization code is not valid")),
    };
    if row.app_id != app.id {
        return Err(denied("the authorization code was issued to another client"));
    }
    if row.expires_at <= now {
        return Err(denied("the authorization code has expired"));
    }
    if row.redirect_uri != redirect_uri {
        return Err(denied("redirect_uri does not match the authorization request"));
    }
    match (&row.code_challenge, form.get("code_verifier")) {
        (Some(challenge), Some(verifier)) => {
            if !verifier_matches(verifier, challenge, row.challenge_method.as_deref().unwrap_or("plain")) {
                return Err(denied("code_verifier does not match the code_challenge"));
            }
        }
        (Some(_), None) => return Err(denied("code_verifier is required for this code")),
        (None, Some(_)) => return Err(denied("this code was issued without a code_challenge")),
        (None, None) => {}
    }
    // RFC 9449 §10: a code bound to a DPoP key is redeemed only with a proof of that key.
    if row.dpop_jkt.as_deref().is_some_and(|bound| client.dpop_jkt() != Some(bound)) {
        return Err(denied("this code is bound to a DPoP key (dpop_jkt) the request did not prove"));
    }
    let scope: Vec<String> = row.scope.split_whitespace().map(str::to_string).collect();
    issue_for_user(
        state,
        client,
        UserGrant {
            grant_id: &row.grant_id,
            user_id: &row.user_id,
            tenant_id: row.tenant_id.as_deref(),
            scope,
            nonce: row.nonce.as_deref(),
            auth_time: row.auth_time,
            amr: row.amr.as_deref(),
            refresh: None,
            sid: row.sid.as_deref(),
        },
    )
    .await
}
