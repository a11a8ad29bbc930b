//! Token revocation (RFC 7009). Unknown and invalid tokens get the same empty 200 as a
//! successful revocation (§2.2). A token issued to another client is refused (§2.1) with
//! `invalid_request` when the caller authenticated; a public caller, which proves nothing,
//! gets the silent 200, so the endpoint cannot be used to probe other clients' tokens.

use super::client_auth::AuthenticatedClient;
use super::grants::refresh_token::Revoked;
use super::params::FormParams;
use super::tokens::{lookup_active, TokenKind};
use super::{OAuthError, ProtocolError};
use crate::provider::Provider;

pub async fn revoke(state: &Provider, caller: &AuthenticatedClient, form: &FormParams) -> Result<(), ProtocolError> {
    let token = form.required("token")?;
    let foreign = || {
        tracing::info!(client_id = %caller.app().client_id, "revocation of another client's token refused");
        if caller.is_confidential() {
            Err(OAuthError::invalid_request("the token was not issued to this client").into())
        } else {
            Ok(())
        }
    };
    if token.starts_with(super::grants::refresh_token::REFRESH_PREFIX) {
        // Revoking a refresh token ends its whole grant (RFC 7009 §2.1).
        return match super::grants::refresh_token::revoke(state, token, &caller.app().id).await? {
            Revoked::Foreign => foreign(),
            Revoked::Done | Revoked::Unknown => Ok(()),
        };
    }
    if token.starts_with(crate::tenants::tickets::PREFIX) {
        // Only the ticket's own app can revoke it; anything else is the silent 200 (§2.2).
        state.directory.revoke_ticket(token, &caller.app().id).await?;
        return Ok(());
    }
    let Some(t) = lookup_active(state, token).await? else { return Ok(()) };
    if t.client_id != caller.app().client_id {
        return foreign();
    }
    match t.kind {
        TokenKind::Opaque => {
            state.store.revoke_access_token(&t.jti, &caller.app().id, state.clock.now()).await?;
        }
        // A JWT cannot be recalled; its id is remembered until it would have expired.
        TokenKind::Jwt => state.store.revoke_jwt(&t.jti, t.expires_at).await?,
    }
    Ok(())
}
