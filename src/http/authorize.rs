//! `GET/POST /authorize` (RFC 6749 §4.1, OIDC Core §3.1.2) and the sign-in pages it leads to:
//! login, the second factor (`signin_factors`), tenant choice, the tenant administrator's
//! approval, and consent. Every page is a step of one pending request (`/signin?request=…`),
//! so any instance can serve the next one.

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::extract::{ClientAddr, OAuthRequest};
use super::pages::signin::SigninPage;
use super::pages::{self, PageError};
use super::session::{self, cookie, Login};
use super::signin_factors::{self, enrol_page, expired, second_factor_page};
use crate::oauth::authorize::{self, AuthorizationRequest, Channel, RedirectTarget, Refusal, ResponseMode};
use crate::oauth::flow::{self, SecondFactorReason, Step};
use crate::oauth::params::FormParams;
use crate::oauth::OAuthError;
use crate::oauth::{par, request_object};
use crate::secret::Secret;
use crate::store::audit::AuditEvent;
use crate::store::sessions::SessionRow;
use crate::tenants::factors::AMR_SECOND_FACTOR;
use crate::AppState;
use serde_json::json;

/// Prefix of the cookie that binds a pending sign-in to the browser that started it.
pub const FLOW_COOKIE: &str = "gatehouse_flow_";

pub async fn authorize_get(
    State(state): State<AppState>,
    peer: ClientAddr,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Result<Response, PageError> {
    authorize(&state, peer, &headers, uri.query().unwrap_or("").as_bytes()).await
}

/// OIDC Core §3.1.2.1: the same request as a form post.
pub async fn authorize_post(
    State(state): State<AppState>,
    peer: ClientAddr,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, PageError> {
    if !super::extract::is_urlencoded(&headers) {
        return Err(PageError::bad_request("The request must be sent as a form."));
    }
    authorize(&state, peer, &headers, &body).await
}

/// SuperID's tenant form, `/login/{ctx}/oauth/authorize`: the common endpoint with
/// `acr_values=tenant:{ctx}` added, so the sign-in goes to that tenant.
pub async fn tenant_authorize_get(
    State(state): State<AppState>,
    axum::extract::Path(ctx): axum::extract::Path<String>,
    peer: ClientAddr,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Result<Response, PageError> {
    let query = with_tenant(uri.query().unwrap_or("").as_bytes(), &ctx);
    authorize(&state, peer, &headers, &query).await
}

pub async fn tenant_authorize_post(
    State(state): State<AppState>,
    axum::extract::Path(ctx): axum::extract::Path<String>,
    peer: ClientAddr,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, PageError> {
    if !super::extract::is_urlencoded(&headers) {
        return Err(PageError::bad_request("The request must be sent as a form."));
    }
    authorize(&state, peer, &headers, &with_tenant(&body, &ctx)).await
}

/// The request with `tenant:{ctx}` joined to its `acr_values` (or as its `acr_values`).
fn with_tenant(encoded: &[u8], ctx: &str) -> Vec<u8> {
    let mut acr = format!("tenant:{ctx}");
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in form_urlencoded::parse(encoded) {
        if k == "acr_values" {
            acr = format!("{acr} {v}");
        } else {
            out.append_pair(&k, &v);
        }
    }
    out.append_pair("acr_values", &acr);
    out.finish().into_bytes()
}

async fn authorize(
    state: &AppState,
    peer: ClientAddr,
    headers: &HeaderMap,
    encoded: &[u8],
) -> Result<Response, PageError> {
    let (params, repeated) = FormParams::parse_lenient(encoded).map_err(|e| PageError::bad_request(e.description))?;
    // RFC 9126 §4 and RFC 9101 §6.3: a pushed request's or a request object's parameters
    // replace the browser's.
    let (params, repeated, channel) = match (params.get("request"), params.get("request_uri")) {
        (Some(_), _) => match request_object::from_front(state, &params).await {
            Ok(signed) => (signed, Vec::new(), Channel::Front),
            Err(Refusal::Page(why)) => return Err(PageError::bad_request(why)),
            Err(Refusal::Redirect { to, error }) => return Ok(error_response(state, &to, &error)),
        },
        (None, Some(uri)) if par::is_pushed(uri) => match par::redeem(state, &params).await {
            Ok(pushed) => (pushed, Vec::new(), Channel::Pushed),
            Err(why) => return Err(PageError::bad_request(why)),
        },
        _ => (params, repeated, Channel::Front),
    };
    let (req, app) = match authorize::validate(state, &params, &repeated, channel).await {
        Ok(ok) => ok,
        Err(Refusal::Page(why)) => return Err(PageError::bad_request(why)),
        Err(Refusal::Redirect { to, error }) => return Ok(error_response(state, &to, &error)),
    };
    let session = current_session(state, headers).await;
    let session = if req.prompt_login { None } else { session };
    advance(state, &req, &app, session.as_ref().map(|(_, s)| s), Pending::New(peer)).await
}

/// Where a flow step came from: a new authorization request (from this client address), or a
/// pending one being continued.
enum Pending<'a> {
    New(ClientAddr),
    Continued(&'a str),
}

/// Runs the flow one step and renders it: a page of ours, or the response to the app.
async fn advance(
    state: &AppState,
    req: &AuthorizationRequest,
    app: &crate::apps::App,
    session: Option<&SessionRow>,
    pending: Pending<'_>,
) -> Result<Response, PageError> {
    let pending_id = match &pending {
        Pending::Continued(id) => Some(*id),
        Pending::New(_) => None,
    };
    let step = match flow::next_step(state, req, app, session).await {
        Ok(step) => step,
        Err(e) => return Ok(internal_to_app(state, req, e)),
    };
    Ok(match step {
        Step::Refuse(error) => {
            if let Some(id) = pending_id {
                let _ = state.store.finish_pending_request(id).await;
            }
            conclude(state, req, Err(error)).await
        }
        Step::Issue(tenant) => {
            let Some(session) = session else { return Err(PageError::bad_request("Please sign in again.")) };
            if let Some(id) = pending_id {
                // Only one tab may finish a pending request.
                if !state.store.finish_pending_request(id).await.map_err(failed)? {
                    return Err(PageError::bad_request("This sign-in was already completed."));
                }
            }
            match flow::issue_code(state, req, app, session, &tenant).await {
                Ok(code) => conclude(state, req, Ok(code)).await,
                Err(e) => internal_to_app(state, req, e),
            }
        }
        _ => match pending {
            Pending::Continued(id) => Redirect::to(&format!("{}?request={id}", crate::paths::SIGNIN)).into_response(),
            Pending::New(ClientAddr(peer)) => match flow::save_pending(state, req, app, peer).await {
                Ok(None) => return Err(too_many_pending()),
                Ok(Some((pending, browser))) => {
                    let mut res =
                        Redirect::to(&format!("{}?request={}", crate::paths::SIGNIN, pending.id)).into_response();
                    let name = format!("{FLOW_COOKIE}{}", pending.id);
                    let cookie = session::set_cookie(state, &name, &browser, crate::paths::SIGNIN, flow::PENDING_TTL);
                    res.headers_mut().append(header::SET_COOKIE, cookie);
                    res
                }
                Err(e) => internal_to_app(state, req, e),
            },
        },
    })
}

/// 429 with a page of ours, not a redirect to the app: an app that starts a new request on
/// every error would only loop.
fn too_many_pending() -> PageError {
    PageError::too_many(
        "Too many sign-ins were started from your network in the last few minutes. Please wait a few minutes and try again.",
        60,
    )
}

/// The end of a sign-in: the answer at the app's redirect URI or, for a device (RFC 8628),
/// the device authorization approved with the code (or denied) and a page of ours saying so.
async fn conclude(state: &AppState, req: &AuthorizationRequest, outcome: Result<String, OAuthError>) -> Response {
    let Some(device) = &req.device else {
        return match outcome {
            Ok(code) => success_response(state, &req.target(), &code),
            Err(error) => error_response(state, &req.target(), &error),
        };
    };
    let (title, message) = match (crate::oauth::device::finish(state, device, outcome.as_deref().ok()).await, &outcome)
    {
        (Ok(true), Ok(_)) => ("Your device is signed in", "You can close this window and go back to your device."),
        (Ok(true), Err(e)) if e.code == crate::oauth::ErrorCode::AccessDenied => {
            ("Your device was not signed in", "Nothing was allowed. You can close this window.")
        }
        (Ok(true), Err(_)) => {
            ("Your device was not signed in", "The app cannot be used this way. You can close this window.")
        }
        (Ok(false), _) => ("This code has expired", "Start again on your device to get a new code."),
        (Err(e), _) => return PageError::from(e).into_response(),
    };
    let page = super::device::DonePage { title, message };
    pages::render(StatusCode::OK, &page, pages::Policy::Own)
}

/// A device's sign-in, started on `/device` with the code it showed (RFC 8628 §3.3).
pub(super) async fn start_device_sign_in(
    state: &AppState,
    peer: ClientAddr,
    headers: &HeaderMap,
    req: AuthorizationRequest,
    app: std::sync::Arc<crate::apps::App>,
) -> Result<Response, PageError> {
    let session = current_session(state, headers).await;
    advance(state, &req, &app, session.as_ref().map(|(_, s)| s), Pending::New(peer)).await
}

/// A failure on our side once the redirect URI is verified goes back to the app as
/// `server_error` or `temporarily_unavailable` (RFC 6749 §4.1.2.1), so it can tell its user;
/// a device's sign-in shows our error page (the device just waits until its code expires).
fn internal_to_app(state: &AppState, req: &AuthorizationRequest, e: crate::oauth::ProtocolError) -> Response {
    if req.device.is_some() {
        return PageError::from(e).into_response();
    }
    let error = match e {
        crate::oauth::ProtocolError::Unavailable(cause) => {
            crate::store::log_unavailable(&cause);
            OAuthError::temporarily_unavailable()
        }
        other => {
            tracing::error!(error = %other, "sign-in step failed");
            OAuthError::server_error()
        }
    };
    error_response(state, &req.target(), &error)
}

/// A failure on our side where nothing can go back to the app: the error page (503 when the
/// database is unavailable, otherwise 500).
pub(super) fn failed(e: impl Into<crate::oauth::ProtocolError>) -> PageError {
    PageError::from(e.into())
}

/// The authorization response parameters (RFC 6749 §4.1.2, RFC 9207 `iss`).
fn respond(state: &AppState, to: &RedirectTarget, mut fields: Vec<(&str, String)>) -> Response {
    if let Some(s) = &to.state {
        fields.push(("state", s.clone()));
    }
    fields.push(("iss", state.config.issuer.clone()));
    match to.response_mode {
        ResponseMode::FormPost => {
            let borrowed: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            pages::form_post(&to.redirect_uri, &borrowed)
        }
        mode => {
            let encoded = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(fields.iter().map(|(k, v)| (*k, v.as_str())))
                .finish();
            let sep = match mode {
                ResponseMode::Fragment => "#",
                _ if to.redirect_uri.contains('?') => "&",
                _ => "?",
            };
            let location = format!("{}{sep}{encoded}", to.redirect_uri);
            let mut res = StatusCode::SEE_OTHER.into_response();
            if let Ok(v) = HeaderValue::from_str(&location) {
                res.headers_mut().insert(header::LOCATION, v);
            }
            res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            res
        }
    }
}

fn success_response(state: &AppState, to: &RedirectTarget, code: &str) -> Response {
    respond(state, to, vec![("code", code.to_string())])
}

fn error_response(state: &AppState, to: &RedirectTarget, error: &OAuthError) -> Response {
    respond(
        state,
        to,
        vec![("error", error.code.as_str().to_string()), ("error_description", error.description.to_string())],
    )
}

/// The session named by the cookie, if it is live.
pub async fn current_session(state: &AppState, headers: &HeaderMap) -> Option<(Vec<u8>, SessionRow)> {
    session::current(state, headers).await.map(|s| (s.digest, s.row))
}

#[derive(Deserialize)]
pub struct StepQuery {
    request: String,
    /// `passkey`: the login step signs in with a passkey instead of a password.
    with: Option<String>,
}

/// `GET /signin?request=…`: the page for the current step of a pending request.
pub async fn signin_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<StepQuery>,
) -> Result<Response, PageError> {
    let (pending, req, app) = flow::load_pending(&state, &q.request).await?.ok_or_else(expired)?;
    // prompt=login stays set until the person signs in on this request's page (`load_pending`).
    let session = current_session(&state, &headers).await.map(|(_, s)| s).filter(|_| !req.prompt_login);
    let page = SigninPage::of(&pending.id, &pending.csrf, &app, &req);
    Ok(match flow::next_step(&state, &req, &app, session.as_ref()).await? {
        Step::Login if q.with.as_deref() == Some("passkey") => {
            signin_factors::login_page(&state, &page, None, StatusCode::OK).await?
        }
        Step::Login => match super::federation::route_directly(&state, &req).await? {
            Some(idp) => {
                let url = super::federation::upstream_url(&state, &idp, &pending.id, req.login_hint.as_deref()).await?;
                Redirect::to(&url).into_response()
            }
            None => page.login(req.login_hint.as_deref().unwrap_or(""), None, StatusCode::OK),
        },
        Step::SecondFactor { enrolled, why } => {
            let Some(session) = &session else { return Err(expired()) };
            match enrolled {
                true => second_factor_page(&state, &page, &session.user_id, None, StatusCode::OK).await?,
                false => enrol_page(&state, &page, session, why, None, StatusCode::OK).await?,
            }
        }
        Step::SelectTenant(tenants) => page.choose_tenant(&tenants),
        Step::Approve(tenant) => page.approve(&tenant),
        Step::Consent(_) => page.consent(&req.scope),
        // The request can finish without the user: send them back through /authorize.
        Step::Issue(_) | Step::Refuse(_) => {
            return advance(&state, &req, &app, session.as_ref(), Pending::Continued(&pending.id)).await
        }
    })
}

/// `POST /signin`: one step's form (login, tenant, approve, consent), refused from other
/// sites and CSRF-checked against the pending request.
pub async fn signin_submit(
    State(state): State<AppState>,
    peer: ClientAddr,
    headers: HeaderMap,
    req: OAuthRequest,
) -> Result<Response, PageError> {
    if session::cross_site(&state, &headers) {
        return Err(PageError::forbidden("The form did not come from this site. Please try again."));
    }
    let form = &req.form;
    let id = form.get("request").ok_or_else(incomplete)?;
    let (pending, areq, app) = flow::load_pending(&state, id).await?.ok_or_else(expired)?;
    let same_browser = cookie(&headers, &format!("{FLOW_COOKIE}{}", pending.id))
        .is_some_and(|b| crate::crypto::ct_eq(&crate::crypto::sha256(b.as_bytes()), &pending.browser));
    let csrf_ok = form.get("csrf").is_some_and(|c| crate::crypto::ct_eq(c.as_bytes(), pending.csrf.as_bytes()));
    if !csrf_ok || !same_browser {
        return Err(PageError::forbidden("The form has expired or did not come from this site. Please try again."));
    }
    let next = format!("{}?request={}", crate::paths::SIGNIN, pending.id);
    // prompt=login: until the person signs in on this request's page, no session counts (the
    // one the browser has is still replaced by the login).
    let current = current_session(&state, &headers).await;
    let session = current.clone().filter(|_| !areq.prompt_login);
    match form.get("action") {
        Some("login") => {
            let email = form.get("email").unwrap_or("").trim().to_lowercase();
            let password = Secret::new(form.get("password").unwrap_or("").to_string());
            let page = SigninPage::of(&pending.id, &pending.csrf, &app, &areq);
            // Home realm discovery: an address of a federated domain signs in at its provider.
            if let Some(idp) = state.upstreams.for_email(&email).await.map_err(failed)? {
                if !idp.passwords_allowed || password.expose().is_empty() {
                    return super::federation::leave_for(&state, &page, &idp, &pending.id, &email).await;
                }
            }
            if password.expose().is_empty() {
                return Ok(page.login(&email, Some(page.text().password_needed), StatusCode::OK));
            }
            let from = session::Attempt::of(&state, peer.0, &headers);
            let user = match session::check_password(&state, &from, &email, password, &app.client_id).await {
                Ok(Login::Ok(user)) => user,
                Ok(Login::Wrong) => return Ok(page.login(&email, Some(page.text().wrong_password), StatusCode::OK)),
                Ok(Login::Throttled) => {
                    let mut res = page.login(&email, Some(page.text().throttled), StatusCode::TOO_MANY_REQUESTS);
                    res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(session::FAILURE_WINDOW as u32));
                    return Ok(res);
                }
                Err(e) => return Err(failed(e)),
            };
            let old = current.as_ref().map(|(d, _)| d.as_slice());
            let cookies = session::start(&state, &user, old).await.map_err(failed)?;
            state.store.mark_pending_signed_in(&pending.id, state.clock.now()).await.map_err(failed)?;
            Ok(session::with_cookies(Redirect::to(&next).into_response(), cookies))
        }
        Some("passkey_login") => {
            let page = SigninPage::of(&pending.id, &pending.csrf, &app, &areq);
            let old = current.as_ref().map(|(d, _)| d.as_slice());
            signin_factors::log_in(&state, &page, form.get("credential").unwrap_or(""), old).await
        }
        Some(action @ ("otp" | "enroll" | "passkey" | "enroll_passkey" | "continue")) => {
            let Some((digest, session)) = session else {
                return Ok(Redirect::to(&next).into_response());
            };
            let page = SigninPage::of(&pending.id, &pending.csrf, &app, &areq);
            let code = form.get("code").unwrap_or("");
            let credential = form.get("credential").unwrap_or("");
            let why = if areq.second_factor { SecondFactorReason::Requested } else { SecondFactorReason::Policy };
            match action {
                "passkey" => return signin_factors::verify(&state, &page, &digest, &session, credential).await,
                "enroll_passkey" => {
                    return signin_factors::enrol(&state, &page, &digest, &session, credential, why).await
                }
                "otp" => {
                    if !state.factors.reserve_attempt(&session.user_id).await? {
                        let mut res = second_factor_page(
                            &state,
                            &page,
                            &session.user_id,
                            Some("Too many wrong codes. Wait a few minutes and try again."),
                            StatusCode::TOO_MANY_REQUESTS,
                        )
                        .await?;
                        res.headers_mut()
                            .insert(header::RETRY_AFTER, HeaderValue::from(session::FAILURE_WINDOW as u32));
                        return Ok(res);
                    }
                    if !state.factors.verify(&session.user_id, code).await? {
                        let event = AuditEvent::new(
                            state.clock.now(),
                            &session.user_id,
                            "login.second_factor_failed",
                            &app.client_id,
                            json!({}),
                        );
                        let _ = state.store.record_audit(&event).await;
                        let error = Some("That code is not right, or was used already.");
                        return second_factor_page(&state, &page, &session.user_id, error, StatusCode::OK).await;
                    }
                    state.factors.clear_attempts(&session.user_id).await;
                    state.store.set_session_amr(&digest, AMR_SECOND_FACTOR).await.map_err(failed)?;
                }
                "enroll" => match state.factors.confirm(&session.user_id, code).await? {
                    Some(codes) => {
                        state.store.set_session_amr(&digest, AMR_SECOND_FACTOR).await.map_err(failed)?;
                        if let Ok(Some(user)) = state.store.user_by_id(&session.user_id).await {
                            state.people.notify(&user.into(), crate::tenants::notices::Notice::SecondFactorAdded);
                        }
                        return Ok(page.recovery_codes(&codes));
                    }
                    None => {
                        let error =
                            Some("That code is not right. Check the clock of the device, and type the newest code.");
                        return enrol_page(&state, &page, &session, why, error, StatusCode::OK).await;
                    }
                },
                _ => {}
            }
            Ok(Redirect::to(&next).into_response())
        }
        Some(action) => {
            let Some((digest, session)) = session else {
                return Ok(Redirect::to(&next).into_response());
            };
            match (action, form.get("decision")) {
                ("tenant", _) => {
                    let ctx = form.get("tenant").unwrap_or("");
                    let member = state
                        .directory
                        .memberships(&session.user_id)
                        .await
                        .map(|ms| ms.iter().any(|m| m.tenant == ctx))
                        .unwrap_or(false);
                    if !member {
                        return Err(PageError::bad_request("You are not a member of that tenant."));
                    }
                    let tenant = state.directory.tenant(ctx).await.map_err(failed)?;
                    state.store.set_session_tenant(&digest, &tenant.id).await.map_err(failed)?;
                    // A chosen tenant answers select_account and tenant hints for this request.
                    let mut areq = areq;
                    areq.prompt_select_account = false;
                    let mut session = session;
                    session.tenant_id = state.directory.tenant(ctx).await.ok().map(|t| t.id);
                    return advance(&state, &areq, &app, Some(&session), Pending::Continued(&pending.id)).await;
                }
                ("approve", Some("approve")) => {
                    let Step::Approve(tenant) = flow::next_step(&state, &areq, &app, Some(&session)).await? else {
                        return Ok(Redirect::to(&next).into_response());
                    };
                    state
                        .approvals
                        .approve(&tenant.ctx, &app, Some(&session.user_id), &session.user_id)
                        .await
                        .map_err(failed)?;
                }
                ("approve", _) | ("consent", Some("deny")) => {
                    let _ = state.store.finish_pending_request(&pending.id).await;
                    let declined = OAuthError::new(crate::oauth::ErrorCode::AccessDenied, "the user declined");
                    return Ok(conclude(&state, &areq, Err(declined)).await);
                }
                ("consent", Some("allow")) => {
                    let granted =
                        state.store.consent(&session.user_id, &app.id).await.ok().flatten().unwrap_or_default();
                    let mut scopes: Vec<&str> = granted.split(' ').filter(|s| !s.is_empty()).collect();
                    for s in &areq.scope {
                        if !scopes.contains(&s.as_str()) {
                            scopes.push(s);
                        }
                    }
                    state
                        .store
                        .save_consent(&session.user_id, &app.id, &scopes.join(" "), state.clock.now())
                        .await
                        .map_err(failed)?;
                    let mut areq = areq;
                    areq.prompt_consent = false;
                    return advance(&state, &areq, &app, Some(&session), Pending::Continued(&pending.id)).await;
                }
                _ => return Err(incomplete()),
            }
            Ok(Redirect::to(&next).into_response())
        }
        None => Err(incomplete()),
    }
}

fn incomplete() -> PageError {
    PageError::bad_request("The form is incomplete.")
}
