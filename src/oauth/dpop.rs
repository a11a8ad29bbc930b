//! DPoP at our endpoints (RFC 9449): the request's proof checked (`jose::dpop`), used once
//! across every instance (its `jti` in the shared replay table), and, when configured, with a
//! nonce we issued. Nonces are stateless: an HMAC of the current five-minute window under a
//! key every instance shares, so any instance accepts what another handed out.

use aws_lc_rs::hmac;

use super::{ErrorCode, OAuthError, ProtocolError};
use crate::crypto::b64url;
use crate::jose::dpop::{self, Expected, Proof, FUTURE_SKEW, MAX_AGE};
use crate::provider::Provider;

/// A nonce is good for the window it was made in and the next one.
const NONCE_WINDOW: i64 = 300;

/// The `DPoP` header's value: none, one, or `Err` when the request repeats the header (§4.3
/// check 1: exactly one proof).
pub fn proof_header(values: impl Iterator<Item = Option<String>>) -> Result<Option<String>, OAuthError> {
    let mut found = None;
    for value in values {
        let value = value.ok_or_else(|| invalid("the DPoP header is not visible ASCII"))?;
        if found.replace(value).is_some() {
            return Err(invalid("send exactly one DPoP header"));
        }
    }
    Ok(found)
}

fn invalid(why: &'static str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidDpopProof, why)
}

/// The nonce to hand out now (`DPoP-Nonce`).
pub fn nonce(state: &Provider) -> String {
    nonce_of(state, state.clock.now().div_euclid(NONCE_WINDOW))
}

fn nonce_of(state: &Provider, window: i64) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, state.dpop_nonce_key.expose());
    b64url(&hmac::sign(&key, &window.to_be_bytes()).as_ref()[..18])
}

fn nonce_is_current(state: &Provider, nonce: &str) -> bool {
    let window = state.clock.now().div_euclid(NONCE_WINDOW);
    [window, window - 1].iter().any(|w| crate::crypto::ct_eq(nonce_of(state, *w).as_bytes(), nonce.as_bytes()))
}

/// Checks the request's proof (`None` when it sent none) for `method` on `url`, and, at a
/// resource, for `access_token`.
pub async fn check(
    state: &Provider,
    proof: Option<&str>,
    method: &str,
    url: &str,
    access_token: Option<&str>,
) -> Result<Option<Proof>, ProtocolError> {
    let Some(proof) = proof else { return Ok(None) };
    let now = state.clock.now();
    let checked = dpop::verify(proof, &Expected { method, url, access_token, now }).map_err(|why| {
        tracing::info!(reason = why, "DPoP proof refused");
        invalid(why)
    })?;
    if state.config.dpop_require_nonce && !checked.nonce.as_deref().is_some_and(|n| nonce_is_current(state, n)) {
        return Err(
            OAuthError::new(ErrorCode::UseDpopNonce, "send the DPoP proof again with the DPoP-Nonce given").into()
        );
    }
    // §11.1: a proof is accepted once, for as long as its iat would let it in.
    let replay_key = format!("dpop:{}", checked.jkt);
    if !state.store.claim_jti(&replay_key, &checked.jti, now + MAX_AGE + FUTURE_SKEW).await? {
        tracing::warn!(jkt = %checked.jkt, "DPoP proof replayed");
        return Err(invalid("this DPoP proof was already used").into());
    }
    Ok(Some(checked))
}
