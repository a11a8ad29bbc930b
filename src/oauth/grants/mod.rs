//! One module per grant type; `oauth::token` is the one place that dispatches to them.

pub mod authorization_code;
pub mod client_credentials;
pub mod device_code;
pub mod jwt_bearer;
pub mod refresh_token;
pub mod token_exchange;

use super::params::parse_scope;
use super::{OAuthError, ProtocolError};
use crate::apps::App;
use crate::provider::Provider;

/// `invalid_grant` with a reason: the answer to every bad code, token or assertion.
fn denied(why: &'static str) -> ProtocolError {
    OAuthError::invalid_grant(why).into()
}

/// The scopes granted for a request: the requested ones if all are active entitlements of the
/// app, else `invalid_scope`; all active entitlements when none are requested.
pub fn entitlement_scopes(app: &App, requested: Option<&str>) -> Result<Vec<String>, OAuthError> {
    let allowed: Vec<&str> = app.active_entitlements().map(|e| e.as_str()).collect();
    match requested {
        None => Ok(allowed.iter().map(|s| s.to_string()).collect()),
        Some(scope) => {
            let requested = parse_scope(scope)?;
            if let Some(bad) = requested.iter().find(|s| !allowed.contains(&s.as_str())) {
                return Err(OAuthError::invalid_scope(format!(
                    "'{bad}' is not an active integration point of this app"
                )));
            }
            Ok(requested)
        }
    }
}

/// RFC 8707: `resource` names a registered resource server that the app's partner owns or
/// that was granted to the app (`invalid_target` otherwise); without one the token is for
/// the default audience. An app's own list cannot widen this: audiences have owners.
pub async fn audience(state: &Provider, app: &App, resource: Option<&str>) -> Result<String, ProtocolError> {
    match resource {
        None => Ok(state.config.default_audience.clone()),
        Some(r) if state.store.may_use_resource(r, &app.id, &app.partner_id).await? => Ok(r.to_string()),
        Some(_) => Err(OAuthError::invalid_target(
            "the resource is not a registered API this app's partner owns or was granted",
        )
        .into()),
    }
}
