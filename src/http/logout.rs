//! `GET/POST /logout`: OpenID Connect RP-Initiated Logout 1.0. The session ends; the browser
//! goes back only to a post-logout redirect URI registered for the app named by
//! `id_token_hint` or `client_id`. Without a valid `id_token_hint` anyone could have sent the
//! browser here (a cross-site `<img>`), so the person confirms first (§2: the OP asks the
//! End-User whether to log out) with a form bound to the session by its CSRF token.

use askama::Template;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::extract::OAuthRequest;
use super::pages::{self, PageError, Policy};
use super::session::{self, SESSION_COOKIE};
use crate::oauth::params::FormParams;
use crate::AppState;

pub async fn logout_get(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Result<Response, PageError> {
    let p =
        FormParams::parse(uri.query().unwrap_or("").as_bytes()).map_err(|e| PageError::bad_request(e.description))?;
    logout(&state, &headers, &p).await
}

pub async fn logout_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    req: OAuthRequest,
) -> Result<Response, PageError> {
    logout(&state, &headers, &req.form).await
}

async fn logout(state: &AppState, headers: &HeaderMap, p: &FormParams) -> Result<Response, PageError> {
    // The hint may be expired (it usually is); only its signature and audience matter.
    let hinted_client = p
        .get("id_token_hint")
        .and_then(|hint| state.keys.verify_own(hint, "JWT"))
        .and_then(|claims| claims.get("aud").and_then(|a| a.as_str()).map(str::to_string));
    if p.contains("id_token_hint") && hinted_client.is_none() {
        return Err(PageError::bad_request("The id_token_hint is not an ID token issued here."));
    }
    let hinted = hinted_client.is_some();
    let client_id = match (hinted_client, p.get("client_id")) {
        (Some(a), Some(b)) if a != b => {
            return Err(PageError::bad_request("client_id does not match the id_token_hint."))
        }
        (a, b) => a.or(b.map(str::to_string)),
    };
    let target = match p.get("post_logout_redirect_uri") {
        None => None,
        Some(uri) => {
            let Some(client_id) = &client_id else {
                return Err(PageError::bad_request("A post_logout_redirect_uri needs id_token_hint or client_id."));
            };
            match state.registry.get_shared(client_id).await {
                Ok(app) if app.post_logout_redirect_uris.iter().any(|u| u == uri) => Some(uri.to_string()),
                _ => {
                    return Err(PageError::bad_request("The post_logout_redirect_uri is not registered for this app."))
                }
            }
        }
    };
    if let Some(current) = session::current(state, headers).await {
        let confirmed =
            hinted || p.get("csrf").is_some_and(|c| crate::crypto::ct_eq(c.as_bytes(), current.csrf().as_bytes()));
        if !confirmed {
            return Ok(confirmation(p, &current.csrf(), target.as_deref()));
        }
        let _ = state.store.delete_session(&current.digest, state.clock.now()).await;
        state.outbox_queued.notify_one();
        let user = &current.row.user_id;
        let event =
            crate::store::audit::AuditEvent::new(state.clock.now(), user, "logout", user, serde_json::json!({}));
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
        None => pages::signed_out(),
    };
    let name = session::cookie_name(state, SESSION_COOKIE);
    res.headers_mut().insert(header::SET_COOKIE, session::set_cookie(state, &name, "", "/", 0));
    Ok(res)
}

#[derive(Template)]
#[template(path = "signout.html")]
struct Confirmation<'a> {
    title: &'static str,
    /// The app's parameters, posted back with the answer.
    carried: Vec<(&'static str, &'a str)>,
    csrf: &'a str,
}

/// The question asked when the request could have come from anywhere: a form that posts the
/// app's parameters back with the session's CSRF token.
fn confirmation(p: &FormParams, csrf: &str, target: Option<&str>) -> Response {
    let carried = ["client_id", "post_logout_redirect_uri", "state", "ui_locales"]
        .into_iter()
        .filter_map(|name| p.get(name).map(|v| (name, v)))
        .collect();
    let page = Confirmation { title: "Sign out?", carried, csrf };
    // The answer to the form may redirect to the app, which `form-action` must allow.
    pages::render(StatusCode::OK, &page, Policy::SignIn { redirect_uri: target.unwrap_or(""), passkey: false })
}
