//! OpenID Connect Discovery 1.0 §3 and RFC 8414 §2 metadata, built from the route constants
//! and protocol enums, so it advertises exactly what is implemented.

use std::sync::Arc;

use axum::response::IntoResponse;
use axum::Extension;
use serde_json::json;

use crate::config::Config;
use crate::paths;
use crate::vocab::{AuthMethod, GrantType};

/// Algorithms accepted for client assertions (`PublicKey::allows_alg`).
pub const ASSERTION_ALGS: &[&str] = &["RS256", "PS256", "ES256", "ES384", "EdDSA"];

/// The metadata document's bytes, built once when the router is.
#[derive(Clone, Debug)]
pub struct Document(Arc<Vec<u8>>);

impl Document {
    pub fn build(config: &Config) -> Document {
        Document(Arc::new(document(config)))
    }
}

fn document(config: &Config) -> Vec<u8> {
    let url = |path: &str| format!("{}{}", config.issuer, path);
    let algs: Vec<&str> = config.signing_algs.iter().map(|a| a.as_str()).collect();
    let mut scopes: Vec<&str> = crate::oauth::authorize::OIDC_SCOPES.to_vec();
    scopes.extend(crate::apps::Entitlement::ALL.iter().map(|e| e.as_str()));
    let auth_methods: Vec<&str> = AuthMethod::ALL.iter().map(|m| m.as_str()).collect();
    let confidential_methods: Vec<&str> =
        AuthMethod::ALL.iter().filter(|m| **m != AuthMethod::None).map(|m| m.as_str()).collect();
    let grants: Vec<&str> = GrantType::SERVED.iter().map(|g| g.as_str()).collect();
    let doc = json!({
        "issuer": config.issuer,
        // REQUIRED by OIDC Discovery §3; the endpoint itself arrives with the sign-in flow.
        "authorization_endpoint": url(paths::AUTHORIZE),
        "token_endpoint": url(paths::TOKEN),
        // RFC 9126 §5.
        "pushed_authorization_request_endpoint": url(paths::PAR),
        // RFC 8628 §4.
        "device_authorization_endpoint": url(paths::DEVICE_AUTHORIZATION),
        "require_pushed_authorization_requests": config.require_par,
        "jwks_uri": url(paths::JWKS),
        "introspection_endpoint": url(paths::INTROSPECT),
        "revocation_endpoint": url(paths::REVOKE),
        "token_endpoint_auth_methods_supported": auth_methods,
        "token_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
        "introspection_endpoint_auth_methods_supported": confidential_methods,
        "revocation_endpoint_auth_methods_supported": auth_methods,
        // RFC 8414 §2: MUST be present when private_key_jwt is listed for these endpoints.
        "introspection_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
        "revocation_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "fragment", "form_post"],
        "userinfo_endpoint": url(paths::USERINFO),
        "end_session_endpoint": url(paths::LOGOUT),
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "claims_supported": claims_supported(),
        // RFC 9101 by value, signed with the client's registered keys; request_uri only from PAR.
        "request_parameter_supported": true,
        "request_object_signing_alg_values_supported": ASSERTION_ALGS,
        "request_uri_parameter_supported": false,
        // OIDC Core §5.5: claims by name (released through their scopes), an essential `acr`,
        // and a required `sub`.
        "claims_parameter_supported": true,
        // OIDC Back-Channel Logout §2.1: logout tokens name the session (`sid`), and ID tokens
        // carry the same `sid`.
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        // The sign-in pages, in the first of the request's `ui_locales` we have.
        "ui_locales_supported": crate::http::pages::locale::SUPPORTED,
        "grant_types_supported": grants,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": algs,
        "scopes_supported": scopes,
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
        // RFC 9449 §5.1.
        "dpop_signing_alg_values_supported": crate::jose::dpop::ALGS,
        // OIDC Discovery §3: the levels `acr` takes; asking for the second one in `acr_values`
        // makes the sign-in use a second factor.
        "acr_values_supported": [crate::tenants::factors::ACR_PASSWORD, crate::tenants::factors::ACR_MFA],
    });
    let mut doc = doc;
    if config.registration != crate::config::RegistrationMode::Off {
        doc["registration_endpoint"] = json!(url(paths::REGISTER));
    }
    doc.to_string().into_bytes()
}

/// `GET /.well-known/openid-configuration` and its aliases: the same bytes at every path.
pub async fn metadata(Extension(doc): Extension<Document>) -> impl IntoResponse {
    super::respond::cached_json(doc.0.as_ref().clone(), 3600)
}

/// The standard claims we issue, then SuperID's, by their full names.
fn claims_supported() -> Vec<String> {
    let standard = [
        "sub",
        "iss",
        "aud",
        "exp",
        "iat",
        "auth_time",
        "nonce",
        "at_hash",
        "azp",
        "amr",
        "acr",
        "name",
        "preferred_username",
        "email",
        "email_verified",
        "sid",
    ];
    let superid =
        crate::oidc::id_token::SUPERID_CLAIMS.iter().map(|c| format!("{}{c}", crate::oidc::id_token::SUPERID));
    standard.iter().map(|c| c.to_string()).chain(superid).collect()
}
