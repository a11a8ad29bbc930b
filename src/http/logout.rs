//! `GET/POST /logout`: OpenID Connect RP-Initiated Logout 1.0. The session ends; the browser
//! goes back only to a post-logout redirect URI registered for the app named by
//! `id_token_hint` or `client_id`.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::authorize::current_session;
use super::extract::OAuthRequest;
use super::pages;
use super::session::{self, SESSION_COOKIE};
use crate::oauth::params::FormParams;
use crate::AppState;

pub async fn logout_get(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    match FormParams::parse(uri.query().unwrap_or("").as_bytes()) {
        Ok(p) => logout(&state, &headers, &p).await,
        Err(e) => pages::error(StatusCode::BAD_REQUEST, &e.description),
    }
}

pub async fn logout_post(State(state): State<AppState>, headers: HeaderMap, req: OAuthRequest) -> Response {
    logout(&state, &headers, &req.form).await
}

async fn logout(state: &AppState, headers: &HeaderMap, p: &FormParams) -> Response {
    // The hint may be expired (it usually is); only its signature and audience matter.
    let hinted_client = p
        .get("id_token_hint")
        .and_then(|hint| state.keys.verify_own(hint, "JWT"))
        .and_then(|claims| claims.get("aud").and_then(|a| a.as_str()).map(str::to_string));
    if p.contains("id_token_hint") && hinted_client.is_none() {
        return pages::error(StatusCode::BAD_REQUEST, "The id_token_hint is not an ID token issued here.");
    }
    let client_id = match (hinted_client, p.get("client_id")) {
        (Some(a), Some(b)) if a != b => {
            return pages::error(StatusCode::BAD_REQUEST, "client_id does not match the id_token_hint.")
        }
        (a, b) => a.or(b.map(str::to_string)),
    };
    let target = match p.get("post_logout_redirect_uri") {
        None => None,
        Some(uri) => {
            let Some(client_id) = &client_id else {
                return pages::error(
                    StatusCode::BAD_REQUEST,
                    "A post_logout_redirect_uri needs id_token_hint or client_id.",
                );
            };
            match state.registry.get_shared(client_id).await {
                Ok(app) if app.post_logout_redirect_uris.iter().any(|u| u == uri) => Some(uri.to_string()),
                _ => {
                    return pages::error(
                        StatusCode::BAD_REQUEST,
                        "The post_logout_redirect_uri is not registered for this app.",
                    )
                }
            }
        }
    };
    if let Some((digest, session)) = current_session(state, headers).await {
        let _ = state.store.delete_session(&digest).await;
        let event = crate::store::audit::AuditEvent::new(
            state.clock.now(),
            &session.user_id,
            "logout",
            &session.user_id,
            serde_json::json!({}),
        );
        let _ = state.store.record_audit(&event).await;
    }
    let mut res = match target {
        Some(uri) => {
            let location = match p.get("state") {
                Some(s) => {
                    let sep = if uri.contains('?') { '&' } else { '?' };
                    format!(
                        "{uri}{sep}{}",
                        form_urlencoded::Serializer::new(String::new()).append_pair("state", s).finish()
                    )
                }
                None => uri,
            };
            let mut r = StatusCode::SEE_OTHER.into_response();
            if let Ok(v) = HeaderValue::from_str(&location) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r
        }
        None => pages::page(StatusCode::OK, "You are signed out", "<p>You can close this window.</p>"),
    };
    let name = session::cookie_name(state, SESSION_COOKIE);
    res.headers_mut().insert(header::SET_COOKIE, session::set_cookie(state, &name, "", "/", 0));
    res
}
