//! The upstream leg of a federated sign-in: the authorization code flow with PKCE, `state` and
//! `nonce` at the tenant's provider; RFC 9207's `iss` check on the way back; the ID token
//! checked by the `openidconnect` crate as the relying party (signature against the upstream's
//! JWKS, `iss`, `aud`, `exp`, `nonce`). Metadata and keys come through the one outbound client
//! and are kept for `METADATA_TTL`; a token signed with a key we do not know makes us fetch
//! them again, once. Then the person: their address must be in the provider's domains, the
//! first sign-in makes them a member of the tenant, later ones update name and role.

use std::sync::Arc;
use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClient, CoreClientAuthMethod, CoreGrantType, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm, CoreResponseMode, CoreResponseType,
    CoreSubjectIdentifierType,
};
use openidconnect::{
    AuthenticationFlow, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken, IssuerUrl,
    LoginHint, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, SignatureVerificationError,
    TokenResponse,
};
use serde_json::{json, Value};

use super::Upstreams;
use crate::crypto::{random_token, sha256};
use crate::error::Error;
use crate::outbound::{FetchError, Outbound};
use crate::store::federation::{IdpRow, UpstreamLoginRow};
use crate::tenants::User;

/// How long an upstream's metadata and keys are used before they are fetched again.
pub const METADATA_TTL: Duration = Duration::from_secs(600);
/// How long a person may take at the upstream.
pub const LOGIN_TTL: i64 = 600;

/// RFC 9207 §3: whether the upstream says it puts `iss` in its authorization responses.
#[derive(Clone, Debug, Default, serde::Deserialize, serde::Serialize)]
pub struct IssParameter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_response_iss_parameter_supported: Option<bool>,
}
impl openidconnect::AdditionalProviderMetadata for IssParameter {}

pub type Metadata = openidconnect::ProviderMetadata<
    IssParameter,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

pub struct Cached {
    fetched_at: Instant,
    metadata: Arc<Metadata>,
}

/// Why a federated sign-in did not finish: a sentence for the person's page. Nothing in it
/// comes from the upstream unchecked.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error("This sign-in link has expired or was used already. Go back to the app and sign in again.")]
    UnknownState,
    #[error("The sign-in at your organisation took too long. Go back to the app and sign in again.")]
    Expired,
    #[error("Your organisation's sign-in refused: {0}")]
    Refused(String),
    #[error("Your organisation's sign-in service could not be used: {0}")]
    Upstream(String),
    #[error("Your organisation's sign-in answered something we cannot trust: {0}")]
    Untrusted(String),
    #[error("Your organisation's sign-in did not give an email address of a domain it may sign in for.")]
    EmailNotAllowed,
    #[error("This account is disabled.")]
    Disabled,
    #[error(transparent)]
    Internal(#[from] Error),
}

impl From<sqlx::Error> for Failure {
    fn from(e: sqlx::Error) -> Self {
        Failure::Internal(e.into())
    }
}

/// OpenID Connect Discovery (with the keys) for `issuer`, through the outbound client; the
/// crate checks that the document names the same issuer.
pub async fn discover(outbound: &Outbound, issuer: &str) -> Result<Metadata, String> {
    let url = IssuerUrl::new(issuer.to_string()).map_err(|_| "the issuer is not a URL".to_string())?;
    Metadata::discover_async(url, &Http(outbound.clone())).await.map_err(|e| describe(&e))
}

/// The outbound client as the `openidconnect` crate calls it. Its futures own what they use,
/// so the sign-in's future stays `Send` (a closure borrowing the client does not).
struct Http(Outbound);

impl<'c> openidconnect::AsyncHttpClient<'c> for Http {
    type Error = FetchError;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<openidconnect::HttpResponse, FetchError>> + Send + 'static>,
    >;

    fn call(&'c self, request: openidconnect::HttpRequest) -> Self::Future {
        let outbound = self.0.clone();
        Box::pin(async move { outbound.send(request).await })
    }
}

fn describe(e: &dyn std::error::Error) -> String {
    // The outermost message is the crate's; the innermost says what went wrong (ours, for
    // a request that could not be made).
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        msg = format!("{msg}: {s}");
        source = s.source();
    }
    msg.chars().take(300).collect()
}

/// What a callback came to: the person, signed in at the upstream, and what they came for.
#[derive(Debug)]
pub struct Finished {
    /// The pending authorization request the sign-in belongs to.
    pub request_id: String,
    pub user: User,
    pub tenant_id: String,
    /// The session's `amr`: `fed`, and `mfa` when the upstream says it used a second factor.
    pub amr: String,
    pub issuer: String,
}

/// The callback's query parameters.
#[derive(Debug, Default)]
pub struct Callback<'a> {
    pub state: Option<&'a str>,
    pub code: Option<&'a str>,
    pub iss: Option<&'a str>,
    pub error: Option<&'a str>,
    pub error_description: Option<&'a str>,
}

impl Upstreams {
    async fn metadata(&self, issuer: &str, fresh: bool) -> Result<Arc<Metadata>, Failure> {
        if !fresh {
            let cache = self.metadata.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(c) = cache.get(issuer).filter(|c| c.fetched_at.elapsed() < METADATA_TTL) {
                return Ok(c.metadata.clone());
            }
        }
        let metadata = Arc::new(discover(&self.outbound, issuer).await.map_err(Failure::Upstream)?);
        let mut cache = self.metadata.lock().unwrap_or_else(|p| p.into_inner());
        cache.insert(issuer.to_string(), Cached { fetched_at: Instant::now(), metadata: metadata.clone() });
        Ok(metadata)
    }

    fn client(
        &self,
        idp: &IdpRow,
        metadata: &Metadata,
    ) -> Result<
        CoreClient<
            openidconnect::EndpointSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointMaybeSet,
            openidconnect::EndpointMaybeSet,
        >,
        Failure,
    > {
        let secret = self.client_secret(idp)?;
        let redirect =
            RedirectUrl::new(self.callback.clone()).map_err(|e| Failure::Internal(Error::Internal(e.into())))?;
        Ok(CoreClient::from_provider_metadata(
            metadata.clone(),
            ClientId::new(idp.client_id.clone()),
            secret.map(|s| ClientSecret::new(s.expose().clone())),
        )
        .set_redirect_uri(redirect))
    }

    /// Starts a sign-in at `idp` for the pending request `request_id`: the URL to send the
    /// browser to. `login_hint` is passed on so the person does not type their address twice.
    /// From the portal's login page, `portal_next` says where the portal goes on to, and
    /// `request_id` is the digest of the browser's binding cookie.
    pub async fn begin(
        &self,
        idp: &IdpRow,
        request_id: &str,
        login_hint: Option<&str>,
        portal_next: Option<&str>,
    ) -> Result<String, Failure> {
        let metadata = self.metadata(&idp.issuer, false).await?;
        let client = self.client(idp, &metadata)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let state = random_token();
        let state_for_url = state.clone();
        let mut request = client
            .authorize_url(
                AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
                move || CsrfToken::new(state_for_url),
                Nonce::new_random,
            )
            .add_scope(Scope::new("email".into()))
            .add_scope(Scope::new("profile".into()))
            .set_pkce_challenge(challenge);
        if let Some(hint) = login_hint.filter(|h| !h.is_empty()) {
            request = request.set_login_hint(LoginHint::new(hint.to_string()));
        }
        let (url, _, nonce) = request.url();
        self.store
            .insert_upstream_login(&UpstreamLoginRow {
                state_digest: sha256(state.as_bytes()).to_vec(),
                idp_id: idp.id.clone(),
                request_id: request_id.to_string(),
                nonce: nonce.secret().clone(),
                verifier: verifier.secret().clone(),
                expires_at: self.clock.now() + LOGIN_TTL,
                portal_next: portal_next.map(str::to_string),
            })
            .await?;
        Ok(url.to_string())
    }

    /// Takes the sign-in the answer's `state` names, once: whatever goes wrong after, the
    /// same answer cannot be used again.
    pub async fn take(&self, cb: &Callback<'_>) -> Result<UpstreamLoginRow, Failure> {
        let state = cb.state.filter(|s| !s.is_empty()).ok_or(Failure::UnknownState)?;
        let login = self.store.take_upstream_login(&sha256(state.as_bytes())).await?.ok_or(Failure::UnknownState)?;
        if login.expires_at <= self.clock.now() {
            return Err(Failure::Expired);
        }
        Ok(login)
    }

    /// Finishes a sign-in `take` found, from the upstream's answer.
    pub async fn complete(&self, login: UpstreamLoginRow, cb: &Callback<'_>) -> Result<Finished, Failure> {
        let idp = self.store.identity_provider(&login.idp_id).await?.ok_or(Failure::UnknownState)?;
        let metadata = self.metadata(&idp.issuer, false).await?;
        // RFC 9207 §2.4: an `iss` that is not the issuer is refused; so is its absence when the
        // upstream says it sends one. Checked before the error, so a mix-up cannot forge one.
        match cb.iss {
            Some(iss) if iss != metadata.issuer().as_str() => {
                return Err(Failure::Untrusted("the response came from another issuer (iss)".into()))
            }
            None if metadata.additional_metadata().authorization_response_iss_parameter_supported == Some(true) => {
                return Err(Failure::Untrusted("the response did not say which issuer sent it (iss)".into()))
            }
            _ => {}
        }
        if let Some(error) = cb.error {
            let text: String =
                cb.error_description.unwrap_or(error).chars().filter(|c| !c.is_control()).take(200).collect();
            return Err(Failure::Refused(text));
        }
        let code = cb.code.filter(|c| !c.is_empty()).ok_or_else(|| Failure::Untrusted("no code".into()))?;
        let client = self.client(&idp, &metadata)?;
        let http = Http(self.outbound.clone());
        let mut request = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| Failure::Upstream(describe(&e)))?
            .set_pkce_verifier(PkceCodeVerifier::new(login.verifier.clone()));
        // RFC 7523 §2.2 / OIDC Core §9 private_key_jwt: the crate sends client_id; we add the
        // assertion, for the token endpoint as its audience.
        if let Some(key) = self.assertion_key(&idp)? {
            let token_endpoint = metadata.token_endpoint().map(|u| u.to_string()).unwrap_or_default();
            let now = self.clock.now();
            let claims = json!({
                "iss": idp.client_id, "sub": idp.client_id, "aud": token_endpoint,
                "jti": crate::crypto::random_id(), "iat": now, "exp": now + 60,
            });
            let rng = aws_lc_rs::rand::SystemRandom::new();
            let assertion = key.sign_jwt("JWT", &claims, &rng).map_err(|e| Failure::Internal(Error::Internal(e)))?;
            request = request
                .add_extra_param("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
                .add_extra_param("client_assertion", assertion);
        }
        let tokens = request.request_async(&http).await.map_err(|e| Failure::Upstream(describe(&e)))?;
        let id_token = tokens.id_token().ok_or_else(|| Failure::Untrusted("no ID token".into()))?;
        let nonce = Nonce::new(login.nonce.clone());
        let checked = match id_token.claims(&client.id_token_verifier(), &nonce) {
            Ok(_) => Ok(()),
            // A key we have not seen: the upstream may have rotated; fetch its keys again, once.
            Err(ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoMatchingKey)) => {
                let metadata = self.metadata(&idp.issuer, true).await?;
                let client = self.client(&idp, &metadata)?;
                let verifier = client.id_token_verifier();
                let again = id_token.claims(&verifier, &nonce).map(|_| ());
                again
            }
            Err(e) => Err(e),
        };
        checked.map_err(|e| Failure::Untrusted(describe(&e)))?;
        let claims = payload(&id_token.to_string()).ok_or_else(|| Failure::Untrusted("the ID token".into()))?;
        self.admit(&idp, &claims, login.request_id).await
    }

    /// The person the verified claims name, made or updated as a member of the tenant.
    async fn admit(&self, idp: &IdpRow, claims: &Value, request_id: String) -> Result<Finished, Failure> {
        let email = claims[&idp.email_claim].as_str().map(|e| e.trim().to_lowercase()).unwrap_or_default();
        let domain = email.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
        if !idp.domains.iter().any(|d| d == domain) || claims["email_verified"] == json!(false) {
            return Err(Failure::EmailNotAllowed);
        }
        let name = claims[&idp.name_claim].as_str().map(str::trim).filter(|n| !n.is_empty());
        let groups: Vec<&str> = match &claims[&idp.groups_claim] {
            Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
            Value::String(one) => vec![one.as_str()],
            _ => Vec::new(),
        };
        let admin = idp.admin_group.as_deref().map(|g| groups.contains(&g));
        let tenant = self.store.tenant_by_id(&idp.tenant_id).await?.ok_or(Failure::UnknownState)?;
        let actor = format!("idp:{}", idp.id);
        let user = self.directory.join_federated(&tenant.ctx, &email, name, admin, &actor).await?;
        if user.disabled_at.is_some() {
            return Err(Failure::Disabled);
        }
        let amr: Vec<&str> =
            claims["amr"].as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
        let mfa = amr.iter().any(|m| matches!(*m, "mfa" | "otp" | "hwk" | "swk" | "sms" | "fpt" | "face" | "sc"));
        Ok(Finished {
            request_id,
            user,
            tenant_id: idp.tenant_id.clone(),
            amr: if mfa { "fed mfa".into() } else { "fed".into() },
            issuer: idp.issuer.clone(),
        })
    }
}

/// The claims of a compact JWS whose signature was already checked.
fn payload(jwt: &str) -> Option<Value> {
    let body = jwt.split('.').nth(1)?;
    serde_json::from_slice(&crate::crypto::b64url_decode(body)?).ok()
}

impl From<FetchError> for Failure {
    fn from(e: FetchError) -> Self {
        Failure::Upstream(e.0)
    }
}
