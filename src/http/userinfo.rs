//! `GET/POST /userinfo` (OIDC Core §5.3) with Bearer tokens (RFC 6750 §2.1, §2.2) and
//! DPoP-bound ones with their proof (RFC 9449 §7).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};

use super::respond::no_store_json;
use crate::oauth::params::FormParams;
use crate::oauth::tokens::lookup_active;
use crate::oauth::{dpop, ErrorCode, ProtocolError};
use crate::oidc::id_token::user_claims;
use crate::tenants::User;
use crate::AppState;

/// RFC 6750 §3: the error travels in `WWW-Authenticate`.
fn bearer_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut res = status.into_response();
    let challenge = format!("Bearer realm=\"gatehouse\", error=\"{error}\", error_description=\"{description}\"");
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// RFC 9449 §7.1: a DPoP error travels in a `DPoP` challenge naming the algorithms we take.
fn dpop_error(error: &str, description: &str, nonce: Option<String>) -> Response {
    let mut res = StatusCode::UNAUTHORIZED.into_response();
    let algs = crate::jose::dpop::ALGS.join(" ");
    let challenge = format!("DPoP algs=\"{algs}\", error=\"{error}\", error_description=\"{description}\"");
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    if let Some(v) = nonce.and_then(|n| HeaderValue::from_str(&n).ok()) {
        res.headers_mut().insert("dpop-nonce", v);
    }
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// The token and whether it came with the `DPoP` scheme (else `Bearer`, in the header or body).
fn presented_token(headers: &HeaderMap, body: &[u8]) -> Result<Option<(String, bool)>, ()> {
    let from_header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("dpop"))
        .map(|(scheme, t)| (t.trim().to_string(), scheme.eq_ignore_ascii_case("dpop")));
    let from_body = FormParams::parse(body).map_err(|_| ())?.get("access_token").map(|t| (t.to_string(), false));
    match (from_header, from_body) {
        (Some(_), Some(_)) => Err(()),
        (a, b) => Ok(a.or(b)),
    }
}

pub async fn userinfo(State(state): State<AppState>, method: Method, headers: HeaderMap, body: Bytes) -> Response {
    let (token, with_dpop) = match presented_token(&headers, &body) {
        Ok(Some(t)) => t,
        Ok(None) => {
            let mut res = StatusCode::UNAUTHORIZED.into_response();
            res.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"gatehouse\""));
            return res;
        }
        Err(()) => return bearer_error(StatusCode::BAD_REQUEST, "invalid_request", "send the token once"),
    };
    let known = match lookup_active(&state, &token).await {
        Ok(Some(k)) => k,
        Ok(None) => return bearer_error(StatusCode::UNAUTHORIZED, "invalid_token", "the access token is not valid"),
        Err(e) => return e.into_response(),
    };
    // RFC 9449 §7: a bound token only with a proof of its key; a bearer token never as DPoP.
    match (with_dpop, known.jkt.as_deref()) {
        (false, None) => {}
        (false, Some(_)) => {
            return dpop_error(
                "invalid_token",
                "this token is DPoP-bound: send it with the DPoP scheme and a proof",
                None,
            )
        }
        (true, None) => {
            return dpop_error("invalid_token", "this token is not DPoP-bound: send it as a Bearer token", None)
        }
        (true, Some(bound)) => {
            let proof = super::extract::dpop_proof(&headers);
            let url = format!("{}{}", state.config.issuer, crate::paths::USERINFO);
            let checked = match proof {
                Ok(p) => dpop::check(&state, p.as_deref(), method.as_str(), &url, Some(&token)).await,
                Err(e) => Err(e.into()),
            };
            match checked {
                Ok(Some(p)) if p.jkt == bound => {}
                Ok(Some(_)) => return dpop_error("invalid_dpop_proof", "the proof's key is not the token's", None),
                Ok(None) => return dpop_error("invalid_dpop_proof", "a DPoP proof is required", None),
                Err(ProtocolError::OAuth(e)) if e.code == ErrorCode::UseDpopNonce => {
                    return dpop_error(
                        "use_dpop_nonce",
                        "send the proof again with the DPoP-Nonce given",
                        Some(dpop::nonce(&state)),
                    )
                }
                Err(ProtocolError::OAuth(e)) => return dpop_error("invalid_dpop_proof", &e.description, None),
                Err(e) => return e.into_response(),
            }
        }
    }
    let scope: Vec<String> = known.scope.split_whitespace().map(str::to_string).collect();
    if !scope.iter().any(|s| s == "openid") {
        return bearer_error(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "the token was not issued with the openid scope",
        );
    }
    let user = match state.store.user_by_id(&known.subject).await {
        Ok(Some(u)) if u.disabled_at.is_none() => User::from(u),
        Ok(_) => {
            return bearer_error(StatusCode::UNAUTHORIZED, "invalid_token", "the token's user is disabled or deleted")
        }
        Err(e) => return crate::oauth::ProtocolError::from(e).into_response(),
    };
    // The tenant the user signed in to, when the token records it.
    let (tenant, is_admin) = match &known.tenant_ctx {
        Some(ctx) => match state.directory.tenant(ctx).await {
            Ok(t) => {
                let admin = state
                    .directory
                    .memberships(&user.id)
                    .await
                    .map(|ms| ms.iter().any(|m| &m.tenant == ctx && m.is_admin))
                    .unwrap_or(false);
                (Some(t), admin)
            }
            Err(_) => (None, false),
        },
        None => (None, false),
    };
    let mut claims = user_claims(&user, tenant.as_ref(), is_admin, &scope);
    if let Some(t) = &tenant {
        claims.extend(crate::oidc::id_token::tenant_urls(&state.config, t));
    }
    let mut res = no_store_json(StatusCode::OK, &serde_json::Value::Object(claims));
    res.extensions_mut().insert(super::cors::CorsClient(known.client_id.clone()));
    res
}
