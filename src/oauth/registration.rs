//! Dynamic client registration (RFC 7591, OIDC Dynamic Client Registration 1.0) and its
//! management protocol (RFC 7592). Every registration is mapped onto a template and becomes an
//! app like any other (owned by the "Dynamic client registrations" partner). Metadata is
//! checked completely before anything is stored.

use serde_json::{json, Map, Value};

use crate::apps::{Access, AppOverrides, ClientType, NewApp, Template, UriKind};
use crate::crypto::{random_token, sha256};
use crate::jose::certificate;
use crate::oauth::{ErrorCode, OAuthError, ProtocolError};
use crate::provider::Provider;
use crate::store::registration::DYNAMIC_PARTNER;
use crate::vocab::AuthMethod;
use crate::vocab::GrantType;

/// Registration access tokens start with this.
pub const ACCESS_TOKEN_PREFIX: &str = "gatehouse_rat_";
/// Initial access tokens start with this.
pub const INITIAL_TOKEN_PREFIX: &str = "gatehouse_iat_";

fn bad_metadata(why: impl Into<std::borrow::Cow<'static, str>>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidClientMetadata, why)
}

fn bad_redirect(why: impl Into<std::borrow::Cow<'static, str>>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidRedirectUri, why)
}

/// Client metadata we act on or keep as information (RFC 7591 §2, OIDC Registration §2); the
/// rest is ignored.
const UNDERSTOOD: &[&str] = &[
    "redirect_uris",
    "token_endpoint_auth_method",
    "grant_types",
    "response_types",
    "client_name",
    "client_uri",
    "logo_uri",
    "tos_uri",
    "policy_uri",
    "contacts",
    "software_id",
    "software_version",
    "jwks",
    "jwks_uri",
    "application_type",
    "id_token_signed_response_alg",
    "post_logout_redirect_uris",
    "require_pushed_authorization_requests",
    "dpop_bound_access_tokens",
    "backchannel_logout_uri",
    "backchannel_logout_session_required",
];

/// Validated metadata, ready to become an app.
pub struct Plan {
    pub name: String,
    pub template: Template,
    pub redirect_uris: Vec<String>,
    pub overrides: AppOverrides,
    pub jwks: Vec<String>,
    /// What the client registered, echoed back (RFC 7591 §3.2.1).
    pub metadata: Map<String, Value>,
}

fn strings(meta: &Map<String, Value>, field: &'static str) -> Result<Option<Vec<String>>, OAuthError> {
    match meta.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| bad_metadata(format!("{field} must be an array of strings")))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(bad_metadata(format!("{field} must be an array of strings"))),
    }
}

fn string<'a>(meta: &'a Map<String, Value>, field: &'static str) -> Result<Option<&'a str>, OAuthError> {
    match meta.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(bad_metadata(format!("{field} must be a string"))),
    }
}

/// Checks registration metadata completely, touching nothing but the configuration.
pub fn plan(state: &Provider, meta: &Map<String, Value>) -> Result<Plan, OAuthError> {
    let native = match string(meta, "application_type")? {
        None | Some("web") => false,
        Some("native") => true,
        Some(_) => return Err(bad_metadata("application_type must be web or native")),
    };
    let grant_names = strings(meta, "grant_types")?.unwrap_or_else(|| vec!["authorization_code".into()]);
    let mut grants = Vec::new();
    for g in &grant_names {
        match GrantType::from_param(g).filter(|g| GrantType::SERVED.contains(g)) {
            Some(g) if !grants.contains(&g) => grants.push(g),
            Some(_) => {}
            None => return Err(bad_metadata(format!("grant_types: '{}' is not supported", printable(g)))),
        }
    }
    let response_types = strings(meta, "response_types")?.unwrap_or_else(|| vec!["code".into()]);
    if response_types.iter().any(|r| r != "code") {
        return Err(bad_metadata("response_types: only 'code' is supported"));
    }
    let wants_code = grants.contains(&GrantType::AuthorizationCode);
    if wants_code == response_types.is_empty() {
        return Err(bad_metadata("response_types and grant_types do not match: 'code' goes with 'authorization_code'"));
    }
    let method = string(meta, "token_endpoint_auth_method")?.unwrap_or("client_secret_basic");
    let method = AuthMethod::ALL
        .into_iter()
        .find(|m| m.as_str() == method)
        .ok_or_else(|| bad_metadata("token_endpoint_auth_method is not supported"))?;
    if method == AuthMethod::None
        && grants.iter().any(|g| matches!(g, GrantType::ClientCredentials | GrantType::JwtBearer))
    {
        return Err(bad_metadata(
            "token_endpoint_auth_method none cannot be used with client_credentials or the JWT bearer grant",
        ));
    }
    let jwks_uri = match string(meta, "jwks_uri")? {
        None => None,
        Some(_) if meta.get("jwks").is_some_and(|j| !j.is_null()) => {
            return Err(bad_metadata("jwks and jwks_uri must not both be present (RFC 7591 §2)"));
        }
        Some(uri) => Some(
            state.remote_keys.outbound().check_url(uri).map_err(|e| bad_metadata(format!("jwks_uri {e}")))?.to_string(),
        ),
    };
    let jwks: Vec<String> = match meta.get("jwks") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(set)) => match set.get("keys") {
            Some(Value::Array(keys)) if !keys.is_empty() && keys.len() <= crate::apps::MAX_CERTIFICATES => {
                let texts: Vec<String> = keys.iter().map(Value::to_string).collect();
                for t in &texts {
                    certificate::parse(t.as_bytes()).map_err(|e| bad_metadata(format!("jwks: {e}")))?;
                }
                texts
            }
            _ => return Err(bad_metadata("jwks must hold 1 to 10 keys")),
        },
        Some(_) => return Err(bad_metadata("jwks must be a JWK Set object")),
    };
    if method == AuthMethod::PrivateKeyJwt && jwks.is_empty() && jwks_uri.is_none() {
        return Err(bad_metadata("private_key_jwt needs the client's public keys, in jwks or at jwks_uri"));
    }

    let redirect_uris = strings(meta, "redirect_uris")?.unwrap_or_default();
    if wants_code && redirect_uris.is_empty() {
        return Err(bad_redirect("redirect_uris is required for the authorization_code grant"));
    }
    let production = state.config.issuer.starts_with("https://") && !state.config.allow_http_loopback_redirects;
    for uri in &redirect_uris {
        check_redirect(uri, native, production)
            .map_err(|why| bad_redirect(format!("redirect_uris: '{}' {why}", printable(uri))))?;
    }
    let post_logout = strings(meta, "post_logout_redirect_uris")?.unwrap_or_default();
    for uri in &post_logout {
        check_redirect(uri, native, production)
            .map_err(|why| bad_metadata(format!("post_logout_redirect_uris: '{}' {why}", printable(uri))))?;
    }
    // OIDC Back-Channel Logout §2.2: an absolute URI without a fragment, checked like a web
    // redirect URI.
    let backchannel_logout_uri = match string(meta, "backchannel_logout_uri")? {
        None => None,
        Some(uri) => {
            check_redirect(uri, false, production)
                .map_err(|why| bad_metadata(format!("backchannel_logout_uri: '{}' {why}", printable(uri))))?;
            Some(uri.to_string())
        }
    };
    flag(meta, "backchannel_logout_session_required")?;
    let signing_alg = match string(meta, "id_token_signed_response_alg")? {
        None => None,
        Some(alg) if state.config.signing_algs.iter().any(|a| a.as_str() == alg) => Some(alg.to_string()),
        Some(_) => return Err(bad_metadata("id_token_signed_response_alg is not one this server signs with")),
    };
    // RFC 9126 §6 and RFC 9449 §5.2: a client may ask to be held to PAR, and that its tokens
    // always be DPoP-bound.
    let require_par = flag(meta, "require_pushed_authorization_requests")?;
    let require_dpop = flag(meta, "dpop_bound_access_tokens")?;
    let name =
        string(meta, "client_name")?.unwrap_or("Dynamically registered client").chars().take(100).collect::<String>();
    let template = if native {
        Template::Native
    } else if !wants_code {
        Template::ServerToServer
    } else {
        Template::Web
    };
    // RFC 7591 §2: metadata we do not understand is ignored, so it is not echoed as registered.
    let mut metadata: Map<String, Value> =
        meta.iter().filter(|(k, _)| UNDERSTOOD.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect();
    metadata.insert("application_type".into(), json!(if native { "native" } else { "web" }));
    metadata.insert("grant_types".into(), json!(grants.iter().map(|g| g.as_str()).collect::<Vec<_>>()));
    metadata.insert("response_types".into(), json!(response_types));
    metadata.insert("token_endpoint_auth_method".into(), json!(method.as_str()));
    metadata.insert("redirect_uris".into(), json!(redirect_uris));
    metadata.insert("client_name".into(), json!(name));
    metadata.insert("require_pushed_authorization_requests".into(), json!(require_par));
    metadata.insert("dpop_bound_access_tokens".into(), json!(require_dpop));
    // Every logout token we send names the session (`sid`) as well as the person, which is
    // what `backchannel_logout_session_required` asks for.
    if backchannel_logout_uri.is_some() {
        metadata.insert("backchannel_logout_session_required".into(), json!(true));
    }
    Ok(Plan {
        name,
        template,
        redirect_uris,
        overrides: AppOverrides {
            grant_types: Some(grants),
            client_type: Some(if method == AuthMethod::None { ClientType::Public } else { ClientType::Confidential }),
            post_logout_redirect_uris: post_logout,
            backchannel_logout_uri,
            signing_alg,
            jwks_uri,
            token_auth_method: Some(method.as_str().to_string()),
            require_par,
            require_dpop,
            ..AppOverrides::default()
        },
        jwks,
        metadata,
    })
}

/// RFC 8252 for native clients; https for web clients in production (an https issuer), and
/// loopback http only in development.
fn check_redirect(uri: &str, native: bool, production: bool) -> Result<(), String> {
    crate::apps::redirect_uri::validate(uri, native)?;
    if !native && production && uri.starts_with("http:") {
        return Err("must use https (web clients of a production server)".into());
    }
    Ok(())
}

/// A boolean member; absent (or null) is false.
fn flag(meta: &Map<String, Value>, name: &str) -> Result<bool, OAuthError> {
    match meta.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(bad_metadata(format!("{name} must be true or false"))),
    }
}

fn printable(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(200).collect()
}

/// `POST /register`.
pub async fn register(state: &Provider, meta: &Map<String, Value>) -> Result<Value, ProtocolError> {
    let plan = plan(state, meta)?;
    let new = NewApp {
        partner_id: DYNAMIC_PARTNER.into(),
        name: plan.name.clone(),
        template: plan.template,
        redirect_uris: plan.redirect_uris.clone(),
        access: Access::Public,
        technical_contact: None,
        justification: None,
    };
    let created = state.registry.create_with(new, &plan.overrides, "registration").await.map_err(|e| match e {
        crate::error::Error::Invalid { message, .. } => ProtocolError::OAuth(bad_metadata(message)),
        other => ProtocolError::from(other),
    })?;
    let client_id = created.app.client_id.clone();
    for jwk in &plan.jwks {
        state.registry.add_certificate(&client_id, jwk.as_bytes(), None, "registration").await.map_err(
            |e| match e {
                crate::error::Error::Conflict(m) => ProtocolError::OAuth(bad_metadata(format!("jwks: {m}"))),
                other => ProtocolError::from(other),
            },
        )?;
    }
    let access_token = format!("{ACCESS_TOKEN_PREFIX}{}", random_token());
    let metadata = Value::Object(plan.metadata.clone()).to_string();
    state.store.insert_app_registration(&created.app.id, &sha256(access_token.as_bytes()), &metadata).await?;
    let mut body = plan.metadata;
    body.insert("client_id".into(), json!(client_id));
    body.insert("client_id_issued_at".into(), json!(created.app.created_at));
    if let Some(secret) = &created.client_secret {
        body.insert("client_secret".into(), json!(secret.secret.expose()));
        body.insert("client_secret_expires_at".into(), json!(0));
    }
    body.insert("registration_access_token".into(), json!(access_token));
    body.insert("registration_client_uri".into(), json!(client_uri(state, &client_id)));
    Ok(Value::Object(body))
}

fn client_uri(state: &Provider, client_id: &str) -> String {
    format!("{}{}/{client_id}", state.config.issuer, crate::paths::REGISTER)
}

/// The registration of `client_id` if `token` is its registration access token; the same
/// `invalid_token` for a wrong token and for another client's token (RFC 7592 §2).
async fn authorized(
    state: &Provider,
    client_id: &str,
    token: Option<&str>,
) -> Result<(String, Map<String, Value>), ProtocolError> {
    let token =
        token.ok_or_else(|| OAuthError::new(ErrorCode::InvalidToken, "a registration access token is required"))?;
    let (app_id, metadata) =
        state.store.app_registration(client_id, &sha256(token.as_bytes())).await?.ok_or_else(|| {
            OAuthError::new(ErrorCode::InvalidToken, "the registration access token is not valid for this client")
        })?;
    let metadata: Map<String, Value> =
        serde_json::from_str(&metadata).map_err(|e| ProtocolError::Internal(e.into()))?;
    Ok((app_id, metadata))
}

/// `GET /register/{client_id}` (RFC 7592 §2.1).
pub async fn read(state: &Provider, client_id: &str, token: Option<&str>) -> Result<Value, ProtocolError> {
    let (_, mut metadata) = authorized(state, client_id, token).await?;
    metadata.insert("client_id".into(), json!(client_id));
    metadata.insert("registration_client_uri".into(), json!(client_uri(state, client_id)));
    Ok(Value::Object(metadata))
}

/// `PUT /register/{client_id}` (RFC 7592 §2.2): the redirect and post-logout lists and the
/// name may change; grants, authentication and application type are fixed at registration.
pub async fn update(
    state: &Provider,
    client_id: &str,
    token: Option<&str>,
    meta: &Map<String, Value>,
) -> Result<Value, ProtocolError> {
    let (app_id, registered) = authorized(state, client_id, token).await?;
    if meta.get("client_id").and_then(Value::as_str) != Some(client_id) {
        return Err(OAuthError::invalid_request("the body's client_id must be the client being updated").into());
    }
    let plan = plan(state, meta)?;
    for fixed in ["grant_types", "token_endpoint_auth_method", "application_type", "jwks_uri"] {
        if plan.metadata.get(fixed) != registered.get(fixed) {
            return Err(bad_metadata(format!("{fixed} cannot change; register a new client instead")).into());
        }
    }
    let app = state.registry.get(client_id).await?;
    let backchannel: Vec<String> = plan.overrides.backchannel_logout_uri.iter().cloned().collect();
    for (kind, wanted) in [
        (UriKind::Redirect, &plan.redirect_uris),
        (UriKind::PostLogout, &plan.overrides.post_logout_redirect_uris),
        (UriKind::BackchannelLogout, &backchannel),
    ] {
        for old in app.uris(kind).iter().filter(|u| !wanted.contains(u)) {
            state.registry.remove_uri(client_id, kind, old, "registration").await?;
        }
        for new in wanted.iter().filter(|u| !app.uris(kind).contains(u)) {
            state.registry.add_uri(client_id, kind, new, "registration").await?;
        }
    }
    if (app.require_par, app.require_dpop) != (plan.overrides.require_par, plan.overrides.require_dpop) {
        let settings = crate::apps::TokenSettings {
            require_par: Some(plan.overrides.require_par),
            require_dpop: Some(plan.overrides.require_dpop),
            ..Default::default()
        };
        let algs: Vec<&str> = state.config.signing_algs.iter().map(|a| a.as_str()).collect();
        state.registry.set_token_settings(client_id, settings, &algs, "registration").await?;
    }
    let mut metadata = plan.metadata;
    metadata.remove("client_id");
    state.store.update_app_registration(&app_id, &Value::Object(metadata.clone()).to_string()).await?;
    metadata.insert("client_id".into(), json!(client_id));
    metadata.insert("registration_client_uri".into(), json!(client_uri(state, client_id)));
    Ok(Value::Object(metadata))
}

/// `DELETE /register/{client_id}` (RFC 7592 §2.3).
pub async fn delete(state: &Provider, client_id: &str, token: Option<&str>) -> Result<(), ProtocolError> {
    let (app_id, _) = authorized(state, client_id, token).await?;
    // The partner names whose webhooks hear of it; the app is gone by the time they are queued.
    let partner_id = state.registry.get_shared(client_id).await?.partner_id.clone();
    let event = crate::store::audit::AuditEvent::new(
        state.clock.now(),
        "registration",
        "app.deleted",
        client_id,
        json!({ "partner_id": partner_id }),
    );
    state.registry.remove(&app_id, client_id, &event).await?;
    Ok(())
}

/// Checks an initial access token (the default registration mode).
pub async fn initial_token_valid(state: &Provider, token: Option<&str>) -> Result<bool, ProtocolError> {
    match token {
        Some(t) => Ok(state.store.registration_token_valid(&sha256(t.as_bytes()), state.clock.now()).await?),
        None => Ok(false),
    }
}

/// Creates an initial access token (`gatehouse registration token create`).
pub async fn create_initial_token(state: &Provider, hours: i64) -> Result<(String, i64), crate::error::Error> {
    let token = format!("{INITIAL_TOKEN_PREFIX}{}", random_token());
    let now = state.clock.now();
    let expires_at = now + hours * 3600;
    state.store.insert_registration_token(&sha256(token.as_bytes()), now, expires_at).await?;
    Ok((token, expires_at))
}

#[cfg(test)]
mod tests {
    use super::check_redirect;

    #[test]
    fn web_clients_of_a_production_server_need_https() {
        assert!(check_redirect("http://127.0.0.1:3000/cb", false, true).unwrap_err().contains("https"));
        assert!(check_redirect("http://127.0.0.1:3000/cb", false, false).is_ok());
        assert!(check_redirect("http://127.0.0.1:3000/cb", true, true).is_ok(), "native loopback (RFC 8252)");
        assert!(check_redirect("https://rp.example.com/cb", false, true).is_ok());
        assert!(check_redirect("com.example.app:/cb", true, true).is_ok());
    }
}
