//! The web side of federated sign-ins: sending a person to their organisation's provider from
//! the login page (home realm discovery by the address they typed, by `login_hint`, or by
//! `acr_values=tenant:<ctx>`), and `GET /signin/federated`, where the provider sends them
//! back. The protocol is `federation::upstream`'s; this module checks that the answer comes
//! back to the browser that left, starts the session and returns to the pending sign-in.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use super::authorize::{current_session, failed, FLOW_COOKIE};
use super::pages::signin::SigninPage;
use super::pages::PageError;
use super::session::{self, cookie};
use crate::federation::upstream::{Callback, Failure};
use crate::oauth::authorize::AuthorizationRequest;
use crate::store::federation::IdpRow;
use crate::AppState;

/// The provider that signs in the person this login names, when passwords are not allowed
/// for them: the login page is skipped for it.
pub async fn route_directly(state: &AppState, req: &AuthorizationRequest) -> Result<Option<IdpRow>, PageError> {
    if let Some(hint) = req.login_hint.as_deref().filter(|h| h.contains('@')) {
        let idp = state.upstreams.for_email(hint).await.map_err(failed)?;
        return Ok(idp.filter(|p| !p.passwords_allowed));
    }
    if let Some(ctx) = &req.tenant_hint {
        let Ok(mut providers) = state.upstreams.list(ctx).await else { return Ok(None) };
        // A provider whose domains are all unproven vouches for no one yet.
        providers.retain(|p| !p.domains.is_empty());
        if let [only] = providers.as_slice() {
            return Ok(Some(only.clone()).filter(|p| !p.passwords_allowed));
        }
    }
    Ok(None)
}

/// The URL of `idp`'s sign-in for the pending request `request_id`.
pub async fn upstream_url(
    state: &AppState,
    idp: &IdpRow,
    request_id: &str,
    login_hint: Option<&str>,
) -> Result<String, PageError> {
    state.upstreams.begin(idp, request_id, login_hint, None).await.map_err(page_error)
}

/// The page a federated sign-in ends on when it cannot go on; nothing the upstream sent is
/// shown unless it was checked, and no redirect goes anywhere.
fn page_error(f: Failure) -> PageError {
    match f {
        Failure::Internal(e) => failed(e),
        Failure::Upstream(why) => {
            tracing::warn!(why = %why, "an upstream identity provider could not be used");
            PageError::new(StatusCode::BAD_GATEWAY, Failure::Upstream(why).to_string())
        }
        Failure::Untrusted(why) => {
            tracing::warn!(why = %why, "an upstream identity provider's answer was refused");
            PageError::bad_request(Failure::Untrusted(why).to_string())
        }
        Failure::Disabled | Failure::EmailNotAllowed => PageError::forbidden(f.to_string()),
        other => PageError::bad_request(other.to_string()),
    }
}

/// `GET /signin/federated`: the upstream's authorization response.
pub async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let get = |k: &str| q.get(k).map(String::as_str);
    let cb = Callback {
        state: get("state"),
        code: get("code"),
        iss: get("iss"),
        error: get("error"),
        error_description: get("error_description"),
    };
    let login = state.upstreams.take(&cb).await.map_err(page_error)?;
    if let Some(next) = login.portal_next.clone() {
        return back_to_portal(&state, &headers, login, &cb, &next).await;
    }
    // The answer counts only in the browser that was sent away: its flow cookie for the
    // pending request (a login CSRF would otherwise sign the victim in as the attacker).
    let (pending, _req, _app) = crate::oauth::flow::load_pending(&state, &login.request_id)
        .await?
        .ok_or_else(|| page_error(Failure::Expired))?;
    let same_browser = cookie(&headers, &format!("{FLOW_COOKIE}{}", pending.id))
        .is_some_and(|b| crate::crypto::ct_eq(&crate::crypto::sha256(b.as_bytes()), &pending.browser));
    if !same_browser {
        return Err(PageError::forbidden("This sign-in was started in another browser. Start again from the app."));
    }
    let done = state.upstreams.complete(login, &cb).await.map_err(page_error)?;
    let old = current_session(&state, &headers).await;
    let cookies = session::start_federated(&state, &done.user, old.as_ref().map(|(d, _)| d.as_slice()), &done)
        .await
        .map_err(failed)?;
    state.store.mark_pending_signed_in(&pending.id, state.clock.now()).await.map_err(failed)?;
    let next = format!("{}?request={}", crate::paths::SIGNIN, pending.id);
    Ok(session::with_cookies(Redirect::to(&next).into_response(), cookies))
}

/// The cookie that binds a sign-in the portal's login page sent upstream to its browser (the
/// portal has no pending request whose flow cookie could).
const PORTAL_BINDING_COOKIE: &str = "gatehouse_portal_federated";

/// From the portal's login page: on to the person's provider, the browser bound to the sign-in
/// by a cookie only the callback sees.
pub async fn leave_portal_for(state: &AppState, idp: &IdpRow, email: &str, next: &str) -> Result<Response, PageError> {
    let binding = crate::crypto::random_token();
    let digest = crate::crypto::b64url(&crate::crypto::sha256(binding.as_bytes()));
    let url = state.upstreams.begin(idp, &digest, Some(email), Some(next)).await.map_err(page_error)?;
    let mut res = super::pages::signin::to_upstream_page(&super::pages::locale::EN, "the Developer Portal", &url);
    let ttl = crate::federation::upstream::LOGIN_TTL;
    res.headers_mut().append(
        axum::http::header::SET_COOKIE,
        session::set_cookie(state, PORTAL_BINDING_COOKIE, &binding, crate::paths::SIGNIN_FEDERATED, ttl),
    );
    Ok(res)
}

/// The end of a portal sign-in at an upstream: the same browser, then a session and the portal.
async fn back_to_portal(
    state: &AppState,
    headers: &HeaderMap,
    login: crate::store::federation::UpstreamLoginRow,
    cb: &Callback<'_>,
    next: &str,
) -> Result<Response, PageError> {
    let same_browser = cookie(headers, PORTAL_BINDING_COOKIE).is_some_and(|b| {
        let digest = crate::crypto::b64url(&crate::crypto::sha256(b.as_bytes()));
        crate::crypto::ct_eq(digest.as_bytes(), login.request_id.as_bytes())
    });
    if !same_browser {
        return Err(PageError::forbidden("This sign-in was started in another browser. Start again from the portal."));
    }
    let done = state.upstreams.complete(login, cb).await.map_err(page_error)?;
    let old = current_session(state, headers).await;
    let cookies = session::start_federated(state, &done.user, old.as_ref().map(|(d, _)| d.as_slice()), &done)
        .await
        .map_err(failed)?;
    let mut res = session::with_cookies(Redirect::to(next).into_response(), cookies);
    res.headers_mut().append(
        axum::http::header::SET_COOKIE,
        session::set_cookie(state, PORTAL_BINDING_COOKIE, "", crate::paths::SIGNIN_FEDERATED, 0),
    );
    Ok(res)
}

/// `GET /federation/{id}/jwks.json`: the public key a tenant's provider checks our client
/// assertions with (`private_key_jwt`); an empty set for a provider we send a secret to.
pub async fn jwks(
    State(state): State<AppState>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Response, PageError> {
    match state.upstreams.jwks(&id).await.map_err(failed)? {
        Some(set) => Ok((
            [
                (axum::http::header::CONTENT_TYPE, "application/jwk-set+json"),
                (axum::http::header::CACHE_CONTROL, "max-age=300"),
            ],
            set.to_string(),
        )
            .into_response()),
        None => Err(PageError::not_found("No such identity provider.")),
    }
}

/// From the login form: on to the person's provider (a page, see `SigninPage::to_upstream`).
pub async fn leave_for(
    state: &AppState,
    page: &SigninPage<'_>,
    idp: &IdpRow,
    request_id: &str,
    email: &str,
) -> Result<Response, PageError> {
    let url = upstream_url(state, idp, request_id, Some(email)).await?;
    Ok(page.to_upstream(&url))
}
