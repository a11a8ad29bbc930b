//! Pushed authorization requests (RFC 9126): an authenticated client sends its authorization
//! request straight to us and gets a short-lived `request_uri` to put in the browser's URL,
//! so the parameters are checked before any browser sees them and cannot be changed on the
//! way. The push is validated exactly as `/authorize` would validate the same parameters, and
//! the redeemed request is validated again there, under the policy of that moment.

use serde::Serialize;

use super::authorize::{self, Channel, Refusal};
use super::client_auth::AuthenticatedClient;
use super::params::FormParams;
use super::{OAuthError, ProtocolError};
use crate::provider::Provider;

/// RFC 9126 §2.2: the URN namespace of the `request_uri` values we hand out.
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// Seconds a pushed request waits for its browser: long enough for a redirect, short enough
/// that a leaked `request_uri` is soon worthless (RFC 9126 §2.2: typically 5 to 600).
pub const PUSHED_REQUEST_TTL: i64 = 90;

/// Parameters of the client's authentication at the push, which the authorization request
/// must not carry along.
const CLIENT_CREDENTIALS: &[&str] = &["client_secret", "client_assertion", "client_assertion_type"];

/// The answer to a push (RFC 9126 §2.2).
#[derive(Debug, Serialize)]
pub struct Pushed {
    pub request_uri: String,
    pub expires_in: i64,
}

/// Validates and keeps a pushed authorization request of `client`; `proved` is the key of a
/// DPoP proof sent with the push.
pub async fn push(
    state: &Provider,
    client: &AuthenticatedClient,
    form: &FormParams,
    proved: Option<String>,
) -> Result<Pushed, ProtocolError> {
    let client_id = client.app().client_id.as_str();
    // RFC 9126 §2.1: a request_uri inside a pushed request is refused.
    if form.contains("request_uri") {
        return Err(
            OAuthError::invalid_request("a pushed authorization request cannot itself carry a request_uri").into()
        );
    }
    // RFC 9126 §2.1 (with RFC 9101 §5): the request is the authenticated client's own.
    if form.get("client_id").is_some_and(|id| id != client_id) {
        return Err(OAuthError::invalid_request("client_id does not match the authenticated client").into());
    }
    // RFC 9126 §3: a request object in the push is the whole request (RFC 9101 §6.3).
    let mut params = match form.get("request") {
        Some(jwt) => super::request_object::unpack(state, client.app(), jwt).await?,
        None => form.without(CLIENT_CREDENTIALS),
    };
    params.set("client_id", client_id);
    // RFC 9449 §10.1: with both a proof and dpop_jkt, they must name the same key.
    if let Some(jkt) = proved {
        match params.get("dpop_jkt") {
            Some(named) if named != jkt => {
                return Err(OAuthError::invalid_request("dpop_jkt does not match the key of the DPoP proof").into())
            }
            Some(_) => {}
            None => params.set("dpop_jkt", &jkt),
        }
    }
    match authorize::validate(state, &params, &[], Channel::Pushed).await {
        Ok(_) => {}
        // RFC 9126 §2.3: where RFC 6749 would not redirect (a redirect URI that is missing or
        // not registered), the answer is invalid_request.
        Err(Refusal::Page(why)) => return Err(OAuthError::invalid_request(why).into()),
        Err(Refusal::Redirect { error, .. }) => return Err(error.into()),
    }
    let secret = crate::crypto::random_token();
    let digest = crate::crypto::sha256(secret.as_bytes());
    let expires_at = state.clock.now() + PUSHED_REQUEST_TTL;
    state.store.insert_pushed_request(&digest, client_id, &params.encode(), expires_at).await?;
    Ok(Pushed { request_uri: format!("{REQUEST_URI_PREFIX}{secret}"), expires_in: PUSHED_REQUEST_TTL })
}

/// Is this `request_uri` one of ours (as opposed to a request object by reference, which we
/// do not fetch)?
pub fn is_pushed(request_uri: &str) -> bool {
    request_uri.starts_with(REQUEST_URI_PREFIX)
}

/// The pushed parameters behind the `request_uri` of `front` (the browser's request), taken
/// once. Only `client_id` and `request_uri` are read from the browser (RFC 9101 §6.3 via
/// RFC 9126 §4); any other parameter there is ignored. A refusal is a sentence for our own
/// page: without the pushed request there is no verified redirect URI to send it to.
pub async fn redeem(state: &Provider, front: &FormParams) -> Result<FormParams, String> {
    const START_AGAIN: &str = "This sign-in link has expired or was already used. Go back to the app and start again.";
    let request_uri = front.get("request_uri").unwrap_or("");
    let Some(client_id) = front.get("client_id") else {
        return Err("The request does not name an app (client_id is missing).".into());
    };
    let secret = request_uri.strip_prefix(REQUEST_URI_PREFIX).unwrap_or("");
    let digest = crate::crypto::sha256(secret.as_bytes());
    let stored = match state.store.take_pushed_request(&digest, client_id, state.clock.now()).await {
        Ok(stored) => stored,
        Err(e) => {
            crate::store::log_unavailable(&e);
            return Err("The service is temporarily unavailable. Please try again shortly.".into());
        }
    };
    // RFC 9126 §4: an expired request_uri is refused; so is one already used (it is one-time),
    // and one pushed by another client (§2.2: it is bound to its client).
    let Some(encoded) = stored else {
        tracing::info!(client_id = %super::params::printable(client_id), "unknown, used or expired request_uri");
        return Err(START_AGAIN.into());
    };
    FormParams::parse(encoded.as_bytes()).map_err(|_| START_AGAIN.to_string())
}
