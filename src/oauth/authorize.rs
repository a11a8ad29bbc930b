//! The authorization request (RFC 6749 §4.1.1, OIDC Core §3.1.2.1, RFC 7636, RFC 9207):
//! parsed and checked once, in the order that decides where errors may go. Until the client
//! and its redirect URI are verified, errors are shown on our own page and never redirected
//! (RFC 6749 §4.1.2.1); after that they go back to the verified URI.

use serde::{Deserialize, Serialize};

use super::params::{parse_scope, FormParams};
use super::OAuthError;
use crate::apps::App;
use crate::provider::Provider;

/// OIDC scopes Gatehouse understands besides the app's entitlement scopes.
pub const OIDC_SCOPES: &[&str] = &["openid", "profile", "email", "offline_access"];

/// Standard OIDC scopes whose claims Gatehouse does not hold.
pub const IGNORED_OIDC_SCOPES: &[&str] = &["address", "phone"];

/// Longest value we accept for `state` and `nonce`.
const MAX_OPAQUE_LEN: usize = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseMode {
    Query,
    Fragment,
    FormPost,
    /// RFC 8628: the flow was started on `/device`; it ends on our page, and the device polls.
    /// Never asked for in a request (not in `ALL`).
    Device,
}

impl ResponseMode {
    pub const ALL: [ResponseMode; 3] = [ResponseMode::Query, ResponseMode::Fragment, ResponseMode::FormPost];

    pub const fn as_str(self) -> &'static str {
        match self {
            ResponseMode::Query => "query",
            ResponseMode::Fragment => "fragment",
            ResponseMode::FormPost => "form_post",
            ResponseMode::Device => "device",
        }
    }
}

/// A validated authorization request: only `validate` builds one.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    pub client_id: String,
    /// Registered for the app (exactly, or loopback on any port for native apps).
    pub redirect_uri: String,
    pub response_mode: ResponseMode,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub scope: Vec<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub prompt_none: bool,
    pub prompt_login: bool,
    pub prompt_consent: bool,
    pub prompt_select_account: bool,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    /// From `acr_values=tenant:<ctx>`.
    pub tenant_hint: Option<String>,
    /// `acr_values` asked for a second factor (`tenants::factors::ACR_MFA`): step up.
    #[serde(default)]
    pub second_factor: bool,
    /// The device authorization (RFC 8628) this sign-in approves, when it started on `/device`.
    #[serde(default)]
    pub device: Option<String>,
    /// RFC 9449 §10: the thumbprint of the DPoP key the code may only be redeemed with.
    #[serde(default)]
    pub dpop_jkt: Option<String>,
    /// OIDC Core §5.5.1: the `sub` the `claims` parameter asked the ID token to have.
    #[serde(default)]
    pub claimed_sub: Option<String>,
    /// OIDC Core §3.1.2.1: the languages the person prefers for our pages.
    #[serde(default)]
    pub ui_locales: Option<String>,
}

/// Why a request was refused, and where the answer may go.
#[derive(Debug)]
pub enum Refusal {
    /// The client or redirect URI is not verified: show our error page, never redirect.
    Page(String),
    /// Send the error back to the verified redirect URI.
    Redirect { to: RedirectTarget, error: OAuthError },
}

/// Where and how an authorization response is delivered.
#[derive(Debug, Clone)]
pub struct RedirectTarget {
    pub redirect_uri: String,
    pub response_mode: ResponseMode,
    pub state: Option<String>,
}

impl AuthorizationRequest {
    pub fn target(&self) -> RedirectTarget {
        RedirectTarget {
            redirect_uri: self.redirect_uri.clone(),
            response_mode: self.response_mode,
            state: self.state.clone(),
        }
    }

    pub fn is_openid(&self) -> bool {
        self.scope.iter().any(|s| s == "openid")
    }
}

/// How the request's parameters arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// In the browser's URL or form post.
    Front,
    /// Pushed by the authenticated client first (RFC 9126), now being pushed or redeemed.
    Pushed,
}

/// Validates an authorization request. `repeated` names the parameters sent more than once:
/// a repeated `client_id` or `redirect_uri` is never redirected to; any other repetition is
/// `invalid_request` sent back to the verified redirect URI (RFC 6749 §3.1, §4.1.2.1).
pub async fn validate(
    state: &Provider,
    p: &FormParams,
    repeated: &[String],
    channel: Channel,
) -> Result<(AuthorizationRequest, std::sync::Arc<App>), Refusal> {
    if repeated.iter().any(|r| r == "client_id" || r == "redirect_uri") {
        return Err(Refusal::Page("The request repeats client_id or redirect_uri.".into()));
    }
    let app = named_app(state, p).await?;
    let redirect_uri = p.get("redirect_uri").ok_or_else(|| Refusal::Page("The request has no redirect_uri.".into()))?;
    if !app.redirect_uri_matches(redirect_uri) {
        return Err(Refusal::Page("The redirect URI in the request is not registered for this app.".into()));
    }
    // From here on, errors go back to the app (a repeated state or response_mode is not used).
    let is_repeated = |name: &str| repeated.iter().any(|r| r == name);
    let response_mode = match p.get("response_mode").filter(|_| !is_repeated("response_mode")) {
        None | Some("query") => ResponseMode::Query,
        Some("fragment") => ResponseMode::Fragment,
        Some("form_post") => ResponseMode::FormPost,
        Some(_) => ResponseMode::Query,
    };
    let state_param = p.get("state").filter(|_| !is_repeated("state")).map(str::to_string);
    let to = RedirectTarget { redirect_uri: redirect_uri.to_string(), response_mode, state: state_param.clone() };
    let refuse = |error: OAuthError| Refusal::Redirect { to: to.clone(), error };
    if let Some(name) = repeated.first() {
        return Err(refuse(OAuthError::invalid_request(format!(
            "parameter '{}' is repeated",
            super::params::printable(name)
        ))));
    }
    // RFC 9126 §4: where policy makes PAR the only way in, anything else is invalid_request.
    if channel == Channel::Front && (state.config.require_par || app.require_par) {
        return Err(refuse(OAuthError::invalid_request(
            "this app must push its authorization requests first (RFC 9126 pushed authorization requests)",
        )));
    }
    // OIDC Core §3.1.2.6: passing registration metadata in the request is not supported.
    if p.contains("registration") {
        return Err(refuse(OAuthError::new(
            super::ErrorCode::RegistrationNotSupported,
            "the registration parameter is not supported; use dynamic registration",
        )));
    }
    if p.get("response_mode").is_some_and(|m| !ResponseMode::ALL.iter().any(|r| r.as_str() == m)) {
        return Err(refuse(OAuthError::invalid_request("response_mode must be query, fragment or form_post")));
    }
    match p.get("response_type") {
        Some("code") => {}
        Some(_) => {
            return Err(refuse(OAuthError::new(
                super::ErrorCode::UnsupportedResponseType,
                "only response_type=code is supported",
            )))
        }
        None => return Err(refuse(OAuthError::invalid_request("the 'response_type' parameter is required"))),
    }
    if !app.allows_grant(crate::vocab::GrantType::AuthorizationCode) {
        return Err(refuse(OAuthError::unauthorized_client("this app may not use the authorization code flow")));
    }
    // OIDC Core §3.1.2.6: request objects are not supported, and say so by name.
    if p.contains("request") {
        return Err(refuse(OAuthError::new(
            super::ErrorCode::RequestNotSupported,
            "request objects are not supported",
        )));
    }
    if p.contains("request_uri") {
        return Err(refuse(OAuthError::new(super::ErrorCode::RequestUriNotSupported, "request_uri is not supported")));
    }
    if state_param.as_ref().is_some_and(|s| s.len() > MAX_OPAQUE_LEN)
        || p.get("nonce").is_some_and(|n| n.len() > MAX_OPAQUE_LEN)
    {
        return Err(refuse(OAuthError::invalid_request("state and nonce must be at most 512 characters")));
    }
    let scope = requestable_scope(&app, p.get("scope").unwrap_or("")).map_err(&refuse)?;
    let (code_challenge, code_challenge_method) = pkce(&app, p).map_err(&refuse)?;
    // An app that opted out of PKCE (SuperID legacy) binds the code to the sign-in with a
    // nonce instead, which RFC 9700 §2.1.1 allows for OpenID Connect requests.
    if code_challenge.is_none() && (p.get("nonce").is_none() || !scope.iter().any(|s| s == "openid")) {
        return Err(refuse(OAuthError::invalid_request(
            "without code_challenge (PKCE), an OpenID Connect request with a nonce is required",
        )));
    }
    let prompts: Vec<&str> = p.get("prompt").unwrap_or("").split(' ').filter(|s| !s.is_empty()).collect();
    if prompts.iter().any(|s| !["none", "login", "consent", "select_account"].contains(s)) {
        return Err(refuse(OAuthError::invalid_request(
            "prompt may only hold none, login, consent and select_account",
        )));
    }
    if prompts.contains(&"none") && prompts.len() > 1 {
        return Err(refuse(OAuthError::invalid_request("prompt=none cannot be combined with other prompt values")));
    }
    let max_age = match p.get("max_age") {
        None => None,
        Some(v) => Some(
            v.parse::<i64>()
                .ok()
                .filter(|m| *m >= 0)
                .ok_or_else(|| refuse(OAuthError::invalid_request("max_age must be a non-negative integer")))?,
        ),
    };
    let tenant_hint =
        p.get("acr_values").and_then(|v| v.split(' ').find_map(|a| a.strip_prefix("tenant:"))).map(str::to_string);
    let claims = match p.get("claims") {
        Some(raw) => {
            crate::oidc::claims::ClaimsRequest::parse(raw).map_err(|why| refuse(OAuthError::invalid_request(why)))?
        }
        None => crate::oidc::claims::ClaimsRequest::default(),
    };
    // OIDC Core §5.5.1.1: an essential `acr` we cannot reach fails the request; one that only
    // the second-factor level meets makes the second factor required, as in `acr_values`.
    let second_factor =
        match claims.essential_acr() {
            Some(wanted) => match crate::tenants::factors::weakest_level_in(&wanted) {
                Some(level) => level == crate::tenants::factors::ACR_MFA,
                None => {
                    return Err(refuse(OAuthError::new(
                        super::ErrorCode::AccessDenied,
                        "no authentication level this server offers meets the essential acr claim",
                    )))
                }
            },
            None => false,
        } || p.get("acr_values").is_some_and(|v| v.split(' ').any(|a| a == crate::tenants::factors::ACR_MFA));
    let dpop_jkt = match p.get("dpop_jkt") {
        // RFC 9449 §10: the base64url SHA-256 thumbprint of a JWK (RFC 7638).
        Some(jkt) if jkt.len() == 43 && jkt.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') => {
            Some(jkt.to_string())
        }
        Some(_) => {
            return Err(refuse(OAuthError::invalid_request("dpop_jkt must be a base64url SHA-256 JWK thumbprint")))
        }
        None => None,
    };
    // The claims parameter asks for claims by name; those we hold are released by the scopes
    // they belong to, so asking for one asks for its scope, which the person then consents to.
    let mut scope = scope;
    for implied in claims.implied_scopes() {
        if !scope.iter().any(|s| s == implied) && scope.iter().any(|s| s == "openid") {
            scope.push(implied.to_string());
        }
    }
    let request = AuthorizationRequest {
        client_id: app.client_id.clone(),
        redirect_uri: redirect_uri.to_string(),
        response_mode,
        state: state_param,
        nonce: p.get("nonce").map(str::to_string),
        scope,
        code_challenge,
        code_challenge_method,
        prompt_none: prompts.contains(&"none"),
        // OIDC Core §3.1.2.1: max_age=0 is prompt=login.
        prompt_login: prompts.contains(&"login") || max_age == Some(0),
        // RFC 8252 §8.6, RFC 9700 §2.1: a public client's identity is not proven (any local
        // process can use a loopback redirect), so its user always confirms on a page; with
        // prompt=none that is consent_required.
        prompt_consent: prompts.contains(&"consent") || app.client_type == crate::apps::ClientType::Public,
        prompt_select_account: prompts.contains(&"select_account"),
        max_age,
        login_hint: p.get("login_hint").filter(|h| h.len() <= 254).map(str::to_string),
        tenant_hint,
        second_factor,
        device: None,
        dpop_jkt,
        claimed_sub: claims.requested_sub().map(str::to_string),
        ui_locales: p.get("ui_locales").filter(|l| l.len() <= 100).map(str::to_string),
    };
    Ok((request, app))
}

/// The app a request names by its `client_id`, or the sentence our page shows instead.
pub async fn named_app(state: &Provider, p: &FormParams) -> Result<std::sync::Arc<App>, Refusal> {
    let client_id = p
        .get("client_id")
        .ok_or_else(|| Refusal::Page("The request does not name an app (client_id is missing).".into()))?;
    match state.registry.get_shared(client_id).await {
        Ok(app) => Ok(app),
        Err(crate::error::Error::NotFound(_)) => {
            Err(Refusal::Page("The app that sent you here is not registered.".into()))
        }
        Err(_) => Err(Refusal::Page("The service is temporarily unavailable. Please try again shortly.".into())),
    }
}

/// The scope a user-facing request may ask for: OIDC scopes and the app's active integration
/// points. Standard OIDC scopes for claims we do not hold are left out rather than refused
/// (RFC 6749 §3.3 lets the server grant less; OIDC Core §5.4 calls them requests).
pub fn requestable_scope(app: &App, raw: &str) -> Result<Vec<String>, OAuthError> {
    let mut scope = parse_scope(raw)?;
    scope.retain(|s| !IGNORED_OIDC_SCOPES.contains(&s.as_str()));
    let entitlements: Vec<&str> = app.active_entitlements().map(|e| e.as_str()).collect();
    if let Some(bad) = scope.iter().find(|s| !OIDC_SCOPES.contains(&s.as_str()) && !entitlements.contains(&s.as_str()))
    {
        return Err(OAuthError::invalid_scope(format!("'{bad}' is not a scope this app may request")));
    }
    Ok(scope)
}

/// RFC 7636 §4.3: S256 is required for public clients and, by default, for every app; a
/// confidential app may opt out (`pkce = optional`, SuperID legacy); `plain` only for an app
/// with the SuperID legacy setting.
fn pkce(app: &App, p: &FormParams) -> Result<(Option<String>, Option<String>), OAuthError> {
    let challenge = p.get("code_challenge");
    let method = p.get("code_challenge_method").unwrap_or("plain");
    let public = app.client_type == crate::apps::ClientType::Public;
    match challenge {
        None if public || app.require_pkce => {
            Err(OAuthError::invalid_request("code_challenge (PKCE, S256) is required"))
        }
        None => Ok((None, None)),
        Some(c) => {
            // 43..128 characters of the unreserved set (RFC 7636 §4.2).
            let well_formed =
                (43..=128).contains(&c.len()) && c.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
            if !well_formed {
                return Err(OAuthError::invalid_request("code_challenge must be 43 to 128 characters [A-Za-z0-9-._~]"));
            }
            match method {
                "S256" => Ok((Some(c.to_string()), Some("S256".into()))),
                "plain" if app.allow_plain_pkce => Ok((Some(c.to_string()), Some("plain".into()))),
                _ => Err(OAuthError::invalid_request("code_challenge_method must be S256")),
            }
        }
    }
}

/// RFC 7636 §4.6: does the verifier match the stored challenge?
pub fn verifier_matches(verifier: &str, challenge: &str, method: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    if !well_formed {
        return false;
    }
    let computed = match method {
        "S256" => crate::crypto::b64url(&crate::crypto::sha256(verifier.as_bytes())),
        _ => verifier.to_string(),
    };
    crate::crypto::ct_eq(computed.as_bytes(), challenge.as_bytes())
}
