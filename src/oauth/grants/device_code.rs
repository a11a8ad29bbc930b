//! `grant_type=urn:ietf:params:oauth:grant-type:device_code` (RFC 8628 §3.4, §3.5): the
//! device's poll. Pending is `authorization_pending`; polling within the interval is
//! `slow_down` and the interval grows by five seconds; a denial is `access_denied`; an
//! expired code is `expired_token`. Once approved, the authorization code the sign-in ended
//! with is taken (single use, like any code) and the tokens are those of the code flow.

use super::super::client_auth::AuthenticatedClient;
use super::super::token::TokenResponse;
use super::super::{ErrorCode, OAuthError, ProtocolError};
use super::denied;
use super::refresh_token::{issue_for_user, UserGrant};
use crate::crypto::sha256;
use crate::oauth::params::FormParams;
use crate::provider::Provider;
use crate::store::device_codes::Polled;
use crate::store::grants::TakenCode;
use crate::vocab::GrantType;

/// §3.5: "the interval MUST be increased by 5 seconds for this and all subsequent requests".
const SLOW_DOWN_PENALTY: i64 = 5;

fn answer(code: ErrorCode, why: &'static str) -> ProtocolError {
    OAuthError::new(code, why).into()
}

pub async fn exchange(
    state: &Provider,
    client: &AuthenticatedClient,
    form: &FormParams,
) -> Result<TokenResponse, ProtocolError> {
    let app = client.app();
    client.require_grant(GrantType::DeviceCode, false)?;
    let device_code = form.required("device_code")?;
    let now = state.clock.now();
    let digest = sha256(device_code.as_bytes());
    let row = match state.store.poll_device_code(&digest, &app.id, now, SLOW_DOWN_PENALTY).await? {
        Polled::Unknown => return Err(denied("the device code is not valid")),
        Polled::TooFast => {
            return Err(answer(ErrorCode::SlowDown, "poll no faster than the interval; it is now 5 s longer"))
        }
        Polled::Counted(row) => row,
    };
    if row.expires_at <= now {
        return Err(answer(ErrorCode::ExpiredToken, "the device code has expired; start again"));
    }
    let code_digest = match (row.status.as_str(), row.code_digest) {
        ("approved", Some(code_digest)) => code_digest,
        ("denied", _) => return Err(answer(ErrorCode::AccessDenied, "the person declined")),
        _ => return Err(answer(ErrorCode::AuthorizationPending, "the person has not finished signing in yet")),
    };
    let code = match state.store.take_code(&code_digest, &app.id, now).await? {
        TakenCode::Fresh(code) => code,
        // Two polls that both saw the approval: the second finds the code used.
        TakenCode::Reused { .. } | TakenCode::Unknown => return Err(denied("the device code was already used")),
    };
    if code.expires_at <= now {
        return Err(answer(ErrorCode::ExpiredToken, "the sign-in was not collected in time; start again"));
    }
    state.store.delete_device_code(&row.id).await?;
    let scope: Vec<String> = code.scope.split_whitespace().map(str::to_string).collect();
    issue_for_user(
        state,
        client,
        UserGrant {
            grant_id: &code.grant_id,
            user_id: &code.user_id,
            tenant_id: code.tenant_id.as_deref(),
            scope,
            nonce: None,
            auth_time: code.auth_time,
            amr: code.amr.as_deref(),
            refresh: None,
            sid: code.sid.as_deref(),
        },
    )
    .await
}
