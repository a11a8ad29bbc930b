//! The device authorization grant (RFC 8628): a device without a browser asks for a code pair
//! (§3.1), shows the person the user code and `/device`, and polls the token endpoint (§3.4).
//! The person's side is the ordinary sign-in (login, tenant choice, the administrator's
//! approval, consent) of an authorization request built here, which ends by approving the
//! device authorization with an authorization code instead of redirecting anywhere; the
//! device's poll then redeems that code (`grants::device_code`).

use std::sync::Arc;

use serde::Serialize;

use super::authorize::{requestable_scope, AuthorizationRequest, ResponseMode};
use super::client_auth::AuthenticatedClient;
use super::params::FormParams;
use super::ProtocolError;
use crate::apps::App;
use crate::crypto::{random_id, random_token, sha256};
use crate::provider::Provider;
use crate::store::device_codes::DeviceRow;
use crate::vocab::GrantType;

/// §3.2: how long the person has to finish; long enough to find a phone and sign in.
pub const DEVICE_CODE_TTL: i64 = 600;
/// §3.2: the polling interval the device starts with.
pub const POLL_INTERVAL: i64 = 5;
/// §6.1: 20 consonants, no vowels (no words) and none of the easily confused letters' twins;
/// eight of them are 34.5 bits, against a guessing budget throttled per address.
const USER_CODE_ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";
const USER_CODE_LEN: usize = 8;

/// §3.2 device authorization response.
#[derive(Debug, Serialize)]
pub struct DeviceAuthorization {
    pub device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: String,
    pub expires_in: i64,
    pub interval: i64,
}

fn new_user_code() -> String {
    // 16 random bits per letter: 65536 is not a multiple of 20, and the bias it leaves
    // (16 in 65536) is negligible.
    let wide = crate::crypto::random_bytes::<{ USER_CODE_LEN * 2 }>();
    wide.chunks(2)
        .map(|pair| {
            let n = usize::from(u16::from_be_bytes([pair[0], pair[1]]));
            USER_CODE_ALPHABET[n % USER_CODE_ALPHABET.len()] as char
        })
        .collect()
}

/// `ABCDEFGH` as people read it: `ABCD-EFGH`.
pub fn display(user_code: &str) -> String {
    format!("{}-{}", &user_code[..4], &user_code[4..])
}

/// What a person typed, as stored: letters only, upper case (§6.1: dashes, spaces and case
/// are forgiven).
pub fn normalise(typed: &str) -> String {
    typed.chars().filter(|c| c.is_ascii_alphabetic()).map(|c| c.to_ascii_uppercase()).take(32).collect()
}

/// `POST /device_authorization` (§3.1, §3.2).
pub async fn authorize(
    state: &Provider,
    client: &AuthenticatedClient,
    form: &FormParams,
) -> Result<DeviceAuthorization, ProtocolError> {
    let app = client.app();
    client.require_grant(GrantType::DeviceCode, false)?;
    let scope = requestable_scope(app, form.get("scope").unwrap_or("openid"))?;
    let now = state.clock.now();
    let device_code = format!("gatehouse_dc_{}", random_token());
    for _ in 0..5 {
        let row = DeviceRow {
            id: random_id(),
            device_digest: sha256(device_code.as_bytes()).to_vec(),
            user_code: new_user_code(),
            app_id: app.id.clone(),
            scope: scope.join(" "),
            status: "pending".into(),
            code_digest: None,
            poll_interval: POLL_INTERVAL,
            last_polled_at: None,
            created_at: now,
            expires_at: now + DEVICE_CODE_TTL,
            client_id: app.client_id.clone(),
        };
        if state.store.insert_device_code(&row).await? {
            let verification_uri = format!("{}{}", state.config.issuer, crate::paths::DEVICE);
            return Ok(DeviceAuthorization {
                device_code,
                user_code: display(&row.user_code),
                verification_uri_complete: format!("{verification_uri}?user_code={}", display(&row.user_code)),
                verification_uri,
                expires_in: DEVICE_CODE_TTL,
                interval: POLL_INTERVAL,
            });
        }
    }
    Err(ProtocolError::Internal(anyhow::anyhow!("no free user code after five draws")))
}

/// The sign-in that a typed user code starts: the device's request, for the person at this
/// browser. `None` when no pending authorization has that code.
pub async fn request_for(
    state: &Provider,
    typed: &str,
) -> Result<Option<(AuthorizationRequest, Arc<App>, String)>, ProtocolError> {
    let code = normalise(typed);
    if code.len() != USER_CODE_LEN {
        return Ok(None);
    }
    let Some(row) = state.store.pending_device_by_user_code(&code, state.clock.now()).await? else { return Ok(None) };
    let app = state.registry.get_shared(&row.client_id).await?;
    let request = AuthorizationRequest {
        client_id: app.client_id.clone(),
        // Where the consent page says the person goes next: our own page that says it is done.
        redirect_uri: format!("{}{}", state.config.issuer, crate::paths::DEVICE),
        response_mode: ResponseMode::Device,
        state: None,
        nonce: None,
        scope: row.scope.split_whitespace().map(str::to_string).collect(),
        code_challenge: None,
        code_challenge_method: None,
        prompt_none: false,
        prompt_login: false,
        // §5.4 (remote phishing): the person always confirms on a page what they let in.
        prompt_consent: true,
        prompt_select_account: false,
        max_age: None,
        login_hint: None,
        tenant_hint: None,
        second_factor: false,
        device: Some(row.id.clone()),
        dpop_jkt: None,
        claimed_sub: None,
        ui_locales: None,
    };
    Ok(Some((request, app, display(&row.user_code))))
}

/// Ends the device authorization of `request`: approved with `code`, or denied (`None`).
/// False when it had ended already or expired.
pub async fn finish(state: &Provider, device_id: &str, code: Option<&str>) -> Result<bool, ProtocolError> {
    let now = state.clock.now();
    let ended = match code {
        Some(code) => {
            let digest = sha256(code.as_bytes());
            state.store.end_device_authorization(device_id, "approved", Some(&digest), now).await?
        }
        None => state.store.end_device_authorization(device_id, "denied", None, now).await?,
    };
    Ok(ended)
}
