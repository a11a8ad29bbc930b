//! Token revocation (RFC 7009). Unknown, invalid or foreign tokens get the same empty 200 as a
//! successful revocation (§2.2), so the endpoint cannot be used to probe tokens.

use super::client_auth::AuthenticatedClient;
use super::params::FormParams;
use super::tokens::{lookup_active, TokenKind};
use super::Error;
use crate::AppState;

pub async fn revoke(state: &AppState, caller: &AuthenticatedClient, form: &FormParams) -> Result<(), Error> {
    let token = form.required("token")?;
    if token.starts_with(super::grants::refresh_token::REFRESH_PREFIX) {
        // Revoking a refresh token ends its whole grant (RFC 7009 §2.1).
        super::grants::refresh_token::revoke(state, token, &caller.app().id).await?;
        return Ok(());
    }
    let Some(t) = lookup_active(state, token).await? else { return Ok(()) };
    if t.client_id != caller.app().client_id {
        tracing::info!(client_id = %caller.app().client_id, "revocation of another client's token ignored");
        return Ok(());
    }
    match t.kind {
        TokenKind::Opaque(digest) => {
            state.store.revoke_access_token(&digest, &caller.app().id, state.clock.now()).await?;
        }
        // A JWT cannot be recalled; its id is remembered until it would have expired.
        TokenKind::Jwt => state.store.revoke_jwt(&t.jti, t.expires_at).await?,
    }
    Ok(())
}
