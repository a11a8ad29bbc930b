//! `GET/POST /userinfo` (OIDC Core §5.3) with Bearer tokens (RFC 6750 §2.1, §2.2).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::respond::no_store_json;
use crate::oauth::params::FormParams;
use crate::oauth::tokens::lookup_active;
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

fn bearer_token(headers: &HeaderMap, body: &[u8]) -> Result<Option<String>, ()> {
    let from_header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().to_string());
    let from_body = FormParams::parse(body).map_err(|_| ())?.get("access_token").map(str::to_string);
    match (from_header, from_body) {
        (Some(_), Some(_)) => Err(()),
        (a, b) => Ok(a.or(b)),
    }
}

pub async fn userinfo(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let token = match bearer_token(&headers, &body) {
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
