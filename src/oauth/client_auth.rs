//! Client authentication (RFC 6749 §2.3, RFC 7523 §2.2, OIDC Core §9): `client_secret_basic`,
//! `client_secret_post`, `private_key_jwt`, and `none` for public clients. Exactly one method
//! per request. Only this module builds an `AuthenticatedClient`.

use std::sync::Arc;

use serde_json::Value;

use super::params::FormParams;
use super::{OAuthError, ProtocolError};
use crate::apps::client_keys;
use crate::apps::{App, ClientType, SecretCheck};
use crate::jose::jws::Jws;
use crate::jose::ClientKey;
use crate::provider::Provider;
use crate::secret::Secret;
use crate::vocab::AuthMethod;

pub const ASSERTION_TYPE_JWT: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How far a client's clock may run ahead of ours, in seconds.
pub const CLOCK_SKEW: i64 = 30;
/// The longest lifetime we accept for a client assertion, in seconds. One hour: Authlib signs
/// every assertion for 3600 s with no setting to change it, and each assertion is single-use
/// (its `jti` is kept until it expires), so a longer window buys a thief nothing reusable.
pub const MAX_ASSERTION_LIFETIME: i64 = 3600;

/// `Authorization: Basic` credentials, already form-decoded (RFC 6749 §2.3.1).
#[derive(Debug)]
pub struct BasicCredentials {
    pub client_id: String,
    pub secret: Secret<String>,
}

/// An app that proved who it is in this request, and, with DPoP, which key it holds.
#[derive(Debug, Clone)]
pub struct AuthenticatedClient {
    app: Arc<App>,
    method: AuthMethod,
    /// The thumbprint of the key of the request's DPoP proof (RFC 9449): tokens issued in
    /// this request are bound to it.
    dpop_jkt: Option<String>,
    /// Set only by `PendingClient::confirmed_by_write`: the app revision the write of this
    /// request's one opaque token must still find.
    unconfirmed: Option<i64>,
}

impl AuthenticatedClient {
    /// The same client, holding the key of a checked DPoP proof.
    pub fn with_dpop(self, jkt: Option<String>) -> Self {
        AuthenticatedClient { dpop_jkt: jkt, ..self }
    }

    pub fn dpop_jkt(&self) -> Option<&str> {
        self.dpop_jkt.as_deref()
    }

    /// The revision an unconfirmed client's token write must find (None: confirmed).
    pub fn unconfirmed_revision(&self) -> Option<i64> {
        self.unconfirmed
    }

    pub fn app(&self) -> &App {
        &self.app
    }

    pub fn method(&self) -> AuthMethod {
        self.method
    }

    pub fn is_confidential(&self) -> bool {
        self.method != AuthMethod::None
    }

    /// `unauthorized_client` unless the app may use `grant`. Grants that act without a user's
    /// browser need client authentication (RFC 6749 §4.4.2), and a public client sent none:
    /// that is `invalid_client` (§5.2, "no client authentication included").
    pub fn require_grant(&self, grant: crate::vocab::GrantType, confidential_only: bool) -> Result<(), OAuthError> {
        if confidential_only && !self.is_confidential() {
            return Err(OAuthError::invalid_client(format!(
                "{} requires client authentication; public clients cannot use it",
                grant.as_str()
            )));
        }
        if !self.app.allows_grant(grant) {
            return Err(OAuthError::unauthorized_client(format!("this app may not use {}", grant.as_str())));
        }
        Ok(())
    }
}

fn failed() -> OAuthError {
    // One sentence for every secret failure, so responses do not tell which part was wrong.
    OAuthError::invalid_client("client authentication failed")
}

/// Authenticates the client of a request, by exactly one method.
pub async fn authenticate(
    state: &Provider,
    basic: Option<BasicCredentials>,
    form: &FormParams,
) -> Result<AuthenticatedClient, ProtocolError> {
    authenticate_pending(state, basic, form).await?.confirm_by_reading(state).await
}

/// A client whose credentials checked out, except that a secret remembered from a recent
/// check still needs its app's stored revision (docs/decisions/0007-authentication-cache.md).
/// Only `confirm` makes it a confirmed `AuthenticatedClient`; a caller that reads the database
/// anyway can fetch the revision in the same statement. The one other way out,
/// `confirmed_by_write`, gives a client marked unconfirmed, which `token::exchange` admits
/// only to `client_credentials` and `issue_access` only to an opaque token's conditional write.
#[derive(Debug)]
pub struct PendingClient {
    client: AuthenticatedClient,
    /// The credentials, kept for a full check when the remembered revision is stale.
    remembered: Option<(String, Secret<String>)>,
}

impl PendingClient {
    fn checked(client: AuthenticatedClient) -> Self {
        PendingClient { client, remembered: None }
    }

    /// The app whose stored revision `confirm` needs, if any.
    pub fn revision_needed(&self) -> Option<&str> {
        self.remembered.as_ref().map(|_| self.client.app.id.as_str())
    }

    /// `stored` is the revision of `revision_needed()`'s app as just read (None: no such app).
    /// A stale one costs the full secret check, as for any changed app.
    pub async fn confirm(self, state: &Provider, stored: Option<i64>) -> Result<AuthenticatedClient, ProtocolError> {
        let Some((client_id, secret)) = self.remembered else { return Ok(self.client) };
        let method = self.client.method;
        match state.registry.confirm_remembered(self.client.app, stored) {
            Some(app) => Ok(AuthenticatedClient { app, method, dpop_jkt: None, unconfirmed: None }),
            None => match state.registry.recheck_secret(&client_id, secret.expose()).await? {
                Some(app) => confidential_only(app, method),
                None => {
                    tracing::info!(client_id = %printable(&client_id), "client secret rejected");
                    Err(failed().into())
                }
            },
        }
    }

    /// For a request whose one effect is storing one opaque token (`client_credentials`): the
    /// remembered client, unconfirmed, with the revision its token's write must find. The
    /// writer checks it in the INSERT itself, so the revision costs no statement of its own; a
    /// changed app stores nothing (`WriteError::Stale`). Any answer but a stored token must then
    /// come from a confirmed client, so that a stale app never shapes a response. None when
    /// nothing is left to confirm, or the app's tokens are JWTs (nothing is written).
    pub fn confirmed_by_write(&self) -> Option<AuthenticatedClient> {
        self.remembered.as_ref()?;
        let client = &self.client;
        (client.app.token_format == crate::apps::TokenFormat::Opaque)
            .then(|| AuthenticatedClient { unconfirmed: Some(client.app.revision), ..client.clone() })
    }

    /// Reads the revision (one primary-key read) when it is needed, and confirms.
    pub async fn confirm_by_reading(self, state: &Provider) -> Result<AuthenticatedClient, ProtocolError> {
        let stored = match self.revision_needed() {
            Some(app_id) => state.store.app_revision(app_id).await?,
            None => None,
        };
        self.confirm(state, stored).await
    }
}

/// Checks the client of a request, by exactly one method, leaving a remembered secret to be
/// confirmed (`PendingClient`).
pub async fn authenticate_pending(
    state: &Provider,
    basic: Option<BasicCredentials>,
    form: &FormParams,
) -> Result<PendingClient, ProtocolError> {
    let post_secret = form.get("client_secret");
    let assertion = form.get("client_assertion");
    let methods = [basic.is_some(), post_secret.is_some(), assertion.is_some()].iter().filter(|m| **m).count();
    if methods > 1 {
        return Err(OAuthError::invalid_request("use exactly one client authentication method per request").into());
    }
    if let Some(basic) = basic {
        if form.get("client_id").is_some_and(|id| id != basic.client_id) {
            return Err(OAuthError::invalid_request("client_id does not match the Authorization header").into());
        }
        return by_secret(state, basic.client_id, basic.secret, AuthMethod::SecretBasic).await;
    }
    if let Some(secret) = post_secret {
        let client_id = form.required("client_id")?;
        return by_secret(state, client_id.to_string(), Secret::new(secret.to_string()), AuthMethod::SecretPost).await;
    }
    if let Some(assertion) = assertion {
        if form.get("client_assertion_type") != Some(ASSERTION_TYPE_JWT) {
            return Err(
                OAuthError::invalid_request(format!("client_assertion_type must be {ASSERTION_TYPE_JWT}")).into()
            );
        }
        let app = by_assertion(state, assertion, form.get("client_id")).await?;
        return confidential_only(app, AuthMethod::PrivateKeyJwt).map(PendingClient::checked);
    }
    let client_id =
        form.get("client_id").ok_or_else(|| OAuthError::invalid_client("client authentication is required"))?;
    let app = known_app(state, client_id).await?;
    if app.client_type != ClientType::Public {
        return Err(failed().into());
    }
    Ok(PendingClient::checked(AuthenticatedClient { app, method: AuthMethod::None, dpop_jkt: None, unconfirmed: None }))
}

/// The app a client names; an unknown one is an authentication failure, while a database
/// outage stays an outage (503), never a bad credential.
async fn known_app(state: &Provider, client_id: &str) -> Result<Arc<App>, ProtocolError> {
    match state.registry.get_shared(client_id).await {
        Ok(app) => Ok(app),
        Err(crate::error::Error::NotFound(_)) => Err(failed().into()),
        Err(e) => Err(e.into()),
    }
}

/// Public clients cannot keep a secret, so they may only use `none` (RFC 6749 §2.1). A client
/// that registered one method (RFC 7591 `token_endpoint_auth_method`) may use only that one.
fn confidential_only(app: Arc<App>, method: AuthMethod) -> Result<AuthenticatedClient, ProtocolError> {
    if app.client_type == ClientType::Public {
        return Err(failed().into());
    }
    if app.token_auth_method.as_deref().is_some_and(|m| m != method.as_str()) {
        tracing::info!(client_id = %app.client_id, used = method.as_str(), "client used a method it did not register");
        return Err(OAuthError::invalid_client(format!(
            "this client is registered for {}",
            app.token_auth_method.as_deref().unwrap_or("")
        ))
        .into());
    }
    Ok(AuthenticatedClient { app, method, dpop_jkt: None, unconfirmed: None })
}

async fn by_secret(
    state: &Provider,
    client_id: String,
    secret: Secret<String>,
    method: AuthMethod,
) -> Result<PendingClient, ProtocolError> {
    match state.registry.check_secret(&client_id, secret.expose()).await? {
        Some(SecretCheck::Checked(app)) => confidential_only(app, method).map(PendingClient::checked),
        Some(SecretCheck::Remembered(app)) => {
            let client = confidential_only(app, method)?;
            Ok(PendingClient { client, remembered: Some((client_id, secret)) })
        }
        None => {
            tracing::info!(client_id = %printable(&client_id), "client secret rejected");
            Err(failed().into())
        }
    }
}

/// Client ids are logged; log what a client sent only if it looks like a client ID, so a
/// secret pasted into the wrong field never reaches the log.
fn printable(s: &str) -> &str {
    if s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        s
    } else {
        "(not a client ID)"
    }
}

/// `private_key_jwt` (RFC 7523 §2.2, §3): an assertion signed with one of the app's registered,
/// unexpired certificates, for our issuer, short-lived and used once.
async fn by_assertion(state: &Provider, assertion: &str, client_id: Option<&str>) -> Result<Arc<App>, ProtocolError> {
    let bad = |why: &'static str| ProtocolError::from(OAuthError::invalid_client(why));
    let jws = Jws::parse(assertion).map_err(bad)?;
    let iss = jws.str_claim("iss").ok_or_else(|| bad("the client assertion has no 'iss'"))?;
    if jws.str_claim("sub") != Some(iss) {
        return Err(bad("the client assertion's 'sub' must equal its 'iss' (the client ID)"));
    }
    if client_id.is_some_and(|id| id != iss) {
        return Err(bad("client_id does not match the client assertion"));
    }
    let now = state.clock.now();
    // RFC 9126 §2: at the PAR endpoint its own URL is a valid audience too.
    let par_endpoint = format!("{}{}", state.config.issuer, crate::paths::PAR);
    let audiences = [state.config.issuer.as_str(), &token_endpoint(state), &par_endpoint];
    let exp = check_assertion_claims(&jws, &audiences, now).map_err(bad)?;
    let app = known_app(state, iss).await?;
    verify_with_app_certificates(state, &app, &jws).await?;
    let jti = jws
        .str_claim("jti")
        .filter(|j| !j.is_empty() && j.len() <= 256)
        .ok_or_else(|| bad("the client assertion needs a 'jti' of 1 to 256 characters"))?;
    if !state.store.claim_jti(&app.client_id, jti, exp + CLOCK_SKEW).await? {
        tracing::warn!(client_id = %app.client_id, "client assertion replayed");
        return Err(bad("this client assertion was already used"));
    }
    Ok(app)
}

pub fn token_endpoint(state: &Provider) -> String {
    format!("{}{}", state.config.issuer, crate::paths::TOKEN)
}

/// The audience, expiry and time checks shared by client assertions and JWT-bearer grants.
/// Returns `exp`.
/// `audiences` are the values `aud` may take: our issuer first, then endpoint URLs.
pub fn check_assertion_claims(jws: &Jws<'_>, audiences: &[&str], now: i64) -> Result<i64, &'static str> {
    // A single string: our issuer, or the token endpoint URL, which OIDC Core §9 names as the
    // audience and many certified clients send. Arrays are refused so that one assertion
    // cannot be valid at several servers.
    match jws.claims.get("aud") {
        Some(Value::String(aud)) if audiences.contains(&aud.as_str()) => {}
        Some(Value::Array(_)) => return Err("the assertion's 'aud' must be a single string: this server's issuer"),
        _ => return Err("the assertion's 'aud' must be this server's issuer"),
    }
    let exp = jws.int_claim("exp")?.ok_or("the assertion has no 'exp'")?;
    if exp <= now - CLOCK_SKEW {
        return Err("the assertion has expired");
    }
    if exp > now + MAX_ASSERTION_LIFETIME + CLOCK_SKEW {
        return Err("the assertion's 'exp' is too far in the future (at most one hour)");
    }
    if jws.int_claim("nbf")?.is_some_and(|nbf| nbf > now + CLOCK_SKEW) {
        return Err("the assertion is not valid yet ('nbf')");
    }
    if jws.int_claim("iat")?.is_some_and(|iat| iat > now + CLOCK_SKEW) {
        return Err("the assertion was issued in the future ('iat')");
    }
    Ok(exp)
}

/// Verifies a JWS with the app's own keys only: its usable certificates and the keys at its
/// registered `jwks_uri`.
pub async fn verify_with_app_certificates(state: &Provider, app: &App, jws: &Jws<'_>) -> Result<(), ProtocolError> {
    let now = state.clock.now();
    let rows = state.store.usable_certificates(&app.id, now).await?;
    let mut keys: Vec<ClientKey> = rows.iter().filter_map(client_keys::from_certificate).collect();
    if app.jwks_uri.is_some() {
        match state.remote_keys.keys(app, now, jws.kid.as_deref()).await {
            Ok(remote) => keys.extend(remote.iter().cloned()),
            Err(e) if keys.is_empty() => {
                return Err(OAuthError::invalid_client(format!("the client's jwks_uri {e}")).into());
            }
            Err(_) => {}
        }
    }
    jws.verify_with(keys.iter()).map_err(|why| {
        tracing::info!(client_id = %app.client_id, reason = why, "assertion signature rejected");
        ProtocolError::from(OAuthError::invalid_client(why))
    })?;
    Ok(())
}
