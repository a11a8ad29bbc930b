//! Request objects (RFC 9101, JAR): an authorization request carried as a JWT that the app
//! signed with one of its own registered keys (certificates, `jwks`, or its `jwks_uri`), by
//! value in the `request` parameter at `/authorize` or inside a push to `/par`. Only the
//! object's claims are the request (RFC 9101 §6.3); unsigned (`alg: none`) and encrypted
//! objects are refused, and so is one for another audience, another client, or out of date.

use serde_json::Value;

use super::authorize::{RedirectTarget, Refusal, ResponseMode};
use super::client_auth::{verify_with_app_certificates, CLOCK_SKEW};
use super::params::FormParams;
use super::{ErrorCode, OAuthError, ProtocolError};
use crate::apps::App;
use crate::jose::jws::Jws;
use crate::provider::Provider;

/// Claims about the JWT itself rather than parameters of the request.
const JWT_CLAIMS: &[&str] = &["iss", "aud", "exp", "iat", "nbf", "jti", "sub"];

/// The longest a request object may be valid for (FAPI 2.0's message signing profile asks
/// for at most an hour between `nbf` and `exp`).
const MAX_LIFETIME: i64 = 3600;

fn invalid(why: impl Into<std::borrow::Cow<'static, str>>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidRequestObject, why)
}

/// Verifies `jwt` as `app`'s request object and returns its parameters, with `client_id`.
pub async fn unpack(state: &Provider, app: &App, jwt: &str) -> Result<FormParams, ProtocolError> {
    if jwt.split('.').count() == 5 {
        return Err(invalid("encrypted request objects are not supported; sign it instead").into());
    }
    let jws = Jws::parse(jwt).map_err(invalid)?;
    // RFC 9101 §10.2 and RFC 8725 §3.1: an unsigned object proves nothing about its sender.
    if jws.alg.eq_ignore_ascii_case("none") {
        return Err(invalid("request objects must be signed with one of the app's keys; alg none is refused").into());
    }
    verify_with_app_certificates(state, app, &jws).await.map_err(|e| match e {
        ProtocolError::OAuth(e) => ProtocolError::OAuth(invalid(e.description)),
        other => other,
    })?;
    let client_id = app.client_id.as_str();
    // RFC 9101 §5: client_id MUST match the request object's client_id.
    if jws.str_claim("client_id") != Some(client_id) {
        return Err(invalid("the request object's client_id must be the requesting app's").into());
    }
    // RFC 9101 §4: iss is the client, aud is this server's issuer.
    if jws.claims.get("iss").is_some_and(|iss| iss.as_str() != Some(client_id)) {
        return Err(invalid("the request object's iss must be the app's client_id").into());
    }
    let issuer = state.config.issuer.as_str();
    let for_us = match jws.claims.get("aud") {
        Some(Value::String(aud)) => aud == issuer,
        Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(issuer)),
        _ => false,
    };
    if !for_us {
        return Err(invalid("the request object's aud must be this server's issuer").into());
    }
    let now = state.clock.now();
    let exp = jws.int_claim("exp").map_err(invalid)?.ok_or_else(|| invalid("the request object has no exp"))?;
    if exp <= now - CLOCK_SKEW {
        return Err(invalid("the request object has expired").into());
    }
    if exp > now + MAX_LIFETIME + CLOCK_SKEW {
        return Err(invalid("the request object's exp is too far in the future (at most one hour)").into());
    }
    if jws.int_claim("nbf").map_err(invalid)?.is_some_and(|nbf| nbf > now + CLOCK_SKEW) {
        return Err(invalid("the request object is not valid yet (nbf)").into());
    }
    let mut params = FormParams::default();
    for (name, value) in &jws.claims {
        if JWT_CLAIMS.contains(&name.as_str()) {
            continue;
        }
        // RFC 9101 §4: a request object does not nest another.
        if name == "request" || name == "request_uri" {
            return Err(invalid("a request object cannot carry request or request_uri").into());
        }
        match value {
            Value::String(s) => params.set(name, s),
            Value::Number(n) => params.set(name, &n.to_string()),
            // Structured parameters (`claims`, RFC 9396 `authorization_details`) are not
            // supported and, like any unknown parameter, are ignored (RFC 6749 §3.1).
            _ => {}
        }
    }
    params.set("client_id", client_id);
    Ok(params)
}

/// A request object sent by value to `/authorize`: its parameters, or where its refusal goes.
/// The object's own redirect URI cannot be trusted when the object is not, so an error is
/// redirected only to a front-channel `redirect_uri` registered for the app (RFC 6749
/// §4.1.2.1), and otherwise shown on our page.
pub async fn from_front(state: &Provider, front: &FormParams) -> Result<FormParams, Refusal> {
    if front.contains("request_uri") {
        return Err(Refusal::Page("The request carries both request and request_uri.".into()));
    }
    let app = super::authorize::named_app(state, front).await?;
    let error = match unpack(state, &app, front.get("request").unwrap_or("")).await {
        Ok(params) => return Ok(params),
        Err(ProtocolError::OAuth(error)) => error,
        Err(_) => {
            return Err(Refusal::Page("The service is temporarily unavailable. Please try again shortly.".into()))
        }
    };
    tracing::info!(client_id = %app.client_id, reason = %error.description, "request object refused");
    match front.get("redirect_uri").filter(|uri| app.redirect_uri_matches(uri)) {
        Some(uri) => Err(Refusal::Redirect {
            to: RedirectTarget {
                redirect_uri: uri.to_string(),
                response_mode: ResponseMode::Query,
                state: front.get("state").map(str::to_string),
            },
            error,
        }),
        None => Err(Refusal::Page(format!("The app's signed request was refused: {}.", error.description))),
    }
}
