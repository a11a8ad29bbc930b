//! `GET/POST /authorize` (RFC 6749 §4.1, OIDC Core §3.1.2) and the sign-in pages it leads to:
//! login, tenant choice, the tenant administrator's approval, and consent. Every page is a
//! step of one pending request (`/signin?request=…`), so any instance can serve the next one.

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::extract::{ClientAddr, OAuthRequest};
use super::pages::{self, esc};
use super::session::{self, cookie, Login};
use crate::oauth::authorize::{self, AuthorizationRequest, RedirectTarget, Refusal, ResponseMode};
use crate::oauth::flow::{self, Step};
use crate::oauth::params::FormParams;
use crate::oauth::OAuthError;
use crate::secret::Secret;
use crate::store::sessions::SessionRow;
use crate::AppState;

/// Prefix of the cookie that binds a pending sign-in to the browser that started it.
pub const FLOW_COOKIE: &str = "gatehouse_flow_";

pub async fn authorize_get(
    State(state): State<AppState>,
    peer: ClientAddr,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    authorize(&state, peer, &headers, uri.query().unwrap_or("").as_bytes()).await
}

/// OIDC Core §3.1.2.1: the same request as a form post.
pub async fn authorize_post(
    State(state): State<AppState>,
    peer: ClientAddr,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if !super::extract::is_urlencoded(&headers) {
        return pages::error(StatusCode::BAD_REQUEST, "The request must be sent as a form.");
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
) -> Response {
    let query = with_tenant(uri.query().unwrap_or("").as_bytes(), &ctx);
    authorize(&state, peer, &headers, &query).await
}

pub async fn tenant_authorize_post(
    State(state): State<AppState>,
    axum::extract::Path(ctx): axum::extract::Path<String>,
    peer: ClientAddr,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if !super::extract::is_urlencoded(&headers) {
        return pages::error(StatusCode::BAD_REQUEST, "The request must be sent as a form.");
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

async fn authorize(state: &AppState, peer: ClientAddr, headers: &HeaderMap, encoded: &[u8]) -> Response {
    let (params, repeated) = match FormParams::parse_lenient(encoded) {
        Ok(parsed) => parsed,
        Err(e) => return pages::error(StatusCode::BAD_REQUEST, &e.description),
    };
    let (req, app) = match authorize::validate(state, &params, &repeated).await {
        Ok(ok) => ok,
        Err(Refusal::Page(why)) => return pages::error(StatusCode::BAD_REQUEST, &why),
        Err(Refusal::Redirect { to, error }) => return error_response(state, &to, &error),
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
) -> Response {
    let pending_id = match &pending {
        Pending::Continued(id) => Some(*id),
        Pending::New(_) => None,
    };
    let step = match flow::next_step(state, req, app, session).await {
        Ok(step) => step,
        Err(e) => return internal_to_app(state, req, e),
    };
    match step {
        Step::Refuse(error) => {
            if let Some(id) = pending_id {
                let _ = state.store.finish_pending_request(id).await;
            }
            error_response(state, &req.target(), &error)
        }
        Step::Issue(tenant) => {
            let Some(session) = session else { return pages::error(StatusCode::BAD_REQUEST, "Please sign in again.") };
            if let Some(id) = pending_id {
                // Only one tab may finish a pending request.
                match state.store.finish_pending_request(id).await {
                    Ok(true) => {}
                    Ok(false) => return pages::error(StatusCode::BAD_REQUEST, "This sign-in was already completed."),
                    Err(e) => return internal(e.into()),
                }
            }
            match flow::issue_code(state, req, app, session, &tenant).await {
                Ok(code) => success_response(state, &req.target(), &code),
                Err(e) => internal_to_app(state, req, e),
            }
        }
        _ => match pending {
            Pending::Continued(id) => Redirect::to(&format!("{}?request={id}", crate::paths::SIGNIN)).into_response(),
            Pending::New(ClientAddr(peer)) => match flow::save_pending(state, req, app, peer).await {
                Ok(None) => too_many_pending(),
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
    }
}

/// 429 with a page of ours, not a redirect to the app: an app that starts a new request on
/// every error would only loop.
fn too_many_pending() -> Response {
    let mut res = pages::error(
        StatusCode::TOO_MANY_REQUESTS,
        "Too many sign-ins were started from your network in the last few minutes. Please wait a few minutes and try again.",
    );
    res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
    res
}

/// A failure on our side once the redirect URI is verified goes back to the app as
/// `server_error` or `temporarily_unavailable` (RFC 6749 §4.1.2.1), so it can tell its user.
fn internal_to_app(state: &AppState, req: &AuthorizationRequest, e: crate::oauth::Error) -> Response {
    let error = match e {
        crate::oauth::Error::Unavailable(cause) => {
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

fn internal(e: crate::oauth::Error) -> Response {
    match e {
        crate::oauth::Error::Unavailable(cause) => {
            crate::store::log_unavailable(&cause);
            pages::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "The service is temporarily unavailable. Please try again shortly.",
            )
        }
        other => {
            tracing::error!(error = %other, "sign-in step failed");
            pages::error(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong on our side. Please try again.")
        }
    }
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
}

/// `GET /signin?request=…`: the page for the current step of a pending request.
pub async fn signin_page(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<StepQuery>) -> Response {
    let (pending, req, app) = match flow::load_pending(&state, &q.request).await {
        Ok(Some(found)) => found,
        Ok(None) => {
            return pages::error(
                StatusCode::BAD_REQUEST,
                "This sign-in has expired. Go back to the app and start again.",
            )
        }
        Err(e) => return internal(e),
    };
    // prompt=login stays set until the person signs in on this request's page (`load_pending`).
    let session = current_session(&state, &headers).await.map(|(_, s)| s).filter(|_| !req.prompt_login);
    let step = match flow::next_step(&state, &req, &app, session.as_ref()).await {
        Ok(step) => step,
        Err(e) => return internal(e),
    };
    let hidden = format!(
        "<input type=\"hidden\" name=\"request\" value=\"{}\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        esc(&pending.id),
        esc(&pending.csrf)
    );
    match step {
        Step::Login => login_form(
            &app.name,
            &hidden,
            req.login_hint.as_deref().unwrap_or(""),
            None,
            StatusCode::OK,
            &req.redirect_uri,
        ),
        Step::SelectTenant(tenants) => {
            let choices: String = tenants
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    format!(
                        "<div class=\"choice\"><input type=\"radio\" id=\"t{i}\" name=\"tenant\" value=\"{}\"{}><label for=\"t{i}\" style=\"display:inline\">{} ({})</label></div>",
                        esc(&t.ctx),
                        if i == 0 { " checked" } else { "" },
                        esc(&t.name),
                        esc(&t.ctx)
                    )
                })
                .collect();
            pages::signin_page(
                StatusCode::OK,
                "Choose a tenant",
                &format!("<form method=\"post\" action=\"{}\">{hidden}<input type=\"hidden\" name=\"action\" value=\"tenant\"><fieldset><legend>Sign in to {} as a user of</legend>{choices}</fieldset><button type=\"submit\">Continue</button></form>", crate::paths::SIGNIN, esc(&app.name)),
                &req.redirect_uri,
            )
        }
        Step::Approve(tenant) => pages::signin_page(
            StatusCode::OK,
            "Approve this app for your tenant",
            &format!(
                "<p><strong>{}</strong> asks to be used in <strong>{}</strong> ({}). As its administrator you approve it for every user of the tenant.</p>\
                 <p>It will be able to:</p><ul>{}</ul>\
                 <form method=\"post\" action=\"{}\">{hidden}<input type=\"hidden\" name=\"action\" value=\"approve\">\
                 <button type=\"submit\" name=\"decision\" value=\"approve\">I approve</button> <button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></form>",
                esc(&app.name), esc(&tenant.name), esc(&tenant.ctx),
                app.active_entitlements()
                    .map(|e| format!("<li>{} <span class=\"muted\">({})</span></li>", esc(e.describe()), esc(e.as_str())))
                    .collect::<String>(),
                crate::paths::SIGNIN
            ),
            &req.redirect_uri,
        ),
        Step::Consent(_) => {
            let items: String = req.scope.iter().map(|s| format!("<li>{}</li>", esc(scope_label(s)))).collect();
            pages::signin_page(
                StatusCode::OK,
                "Allow access?",
                &format!(
                    "<p><strong>{}</strong> asks to:</p><ul>{items}</ul><p class=\"muted\">After this you go back to <strong>{}</strong>.</p>\
                     <form method=\"post\" action=\"{}\">{hidden}<input type=\"hidden\" name=\"action\" value=\"consent\">\
                     <button type=\"submit\" name=\"decision\" value=\"allow\">Allow</button> <button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></form>",
                    esc(&app.name),
                    esc(&redirect_host(&req.redirect_uri)),
                    crate::paths::SIGNIN
                ),
                &req.redirect_uri,
            )
        }
        // The request can finish without the user: send them back through /authorize.
        Step::Issue(_) | Step::Refuse(_) => advance(&state, &req, &app, session.as_ref(), Pending::Continued(&pending.id)).await,
    }
}

/// Where the browser goes after consent, as a person recognises it: the host (with its port
/// for loopback, where the port tells apps apart), or a native app's scheme.
fn redirect_host(uri: &str) -> String {
    match url::Url::parse(uri) {
        Ok(u) => match (u.host_str(), u.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            (None, _) => format!("{}:", u.scheme()),
        },
        Err(_) => uri.to_string(),
    }
}

fn scope_label(scope: &str) -> &str {
    match scope {
        "openid" => "know who you are",
        "profile" => "see your name",
        "email" => "see your email address",
        "offline_access" => "stay connected when you are away",
        other => other,
    }
}

fn login_form(
    app_name: &str,
    hidden: &str,
    email: &str,
    error: Option<&str>,
    status: StatusCode,
    redirect_uri: &str,
) -> Response {
    let error = error.map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", esc(e))).unwrap_or_default();
    pages::signin_page(
        status,
        "Sign in",
        &format!(
            "<p>to continue to <strong>{}</strong></p>{error}<form method=\"post\" action=\"{}\">{hidden}<input type=\"hidden\" name=\"action\" value=\"login\">\
             <label for=\"email\">Email</label><input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"username\" required value=\"{}\" autofocus>\
             <label for=\"password\">Password</label><input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
             <button type=\"submit\">Sign in</button></form>",
            esc(app_name),
            crate::paths::SIGNIN,
            esc(email)
        ),
        redirect_uri,
    )
}

/// `POST /signin`: one step's form (login, tenant, approve, consent), refused from other
/// sites and CSRF-checked against the pending request.
pub async fn signin_submit(
    State(state): State<AppState>,
    peer: ClientAddr,
    headers: HeaderMap,
    req: OAuthRequest,
) -> Response {
    if session::cross_site(&state, &headers) {
        return pages::error(StatusCode::FORBIDDEN, "The form did not come from this site. Please try again.");
    }
    let form = &req.form;
    let Some(id) = form.get("request") else { return pages::error(StatusCode::BAD_REQUEST, "The form is incomplete.") };
    let (pending, areq, app) = match flow::load_pending(&state, id).await {
        Ok(Some(found)) => found,
        Ok(None) => {
            return pages::error(
                StatusCode::BAD_REQUEST,
                "This sign-in has expired. Go back to the app and start again.",
            )
        }
        Err(e) => return internal(e),
    };
    let same_browser = cookie(&headers, &format!("{FLOW_COOKIE}{}", pending.id))
        .is_some_and(|b| crate::crypto::ct_eq(&crate::crypto::sha256(b.as_bytes()), &pending.browser));
    let csrf_ok = form.get("csrf").is_some_and(|c| crate::crypto::ct_eq(c.as_bytes(), pending.csrf.as_bytes()));
    if !csrf_ok || !same_browser {
        return pages::error(
            StatusCode::FORBIDDEN,
            "The form has expired or did not come from this site. Please try again.",
        );
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
            let hidden = format!(
                "<input type=\"hidden\" name=\"request\" value=\"{}\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">",
                esc(&pending.id),
                esc(&pending.csrf)
            );
            let from = session::Attempt::of(&state, peer.0, &headers);
            let user = match session::check_password(&state, &from, &email, password, &app.client_id).await {
                Ok(Login::Ok(user)) => user,
                Ok(Login::Wrong) => {
                    return login_form(
                        &app.name,
                        &hidden,
                        &email,
                        Some("The email or password is not right."),
                        StatusCode::OK,
                        &areq.redirect_uri,
                    )
                }
                Ok(Login::Throttled) => {
                    let mut res = login_form(
                        &app.name,
                        &hidden,
                        &email,
                        Some("Too many failed sign-ins. Wait a few minutes and try again."),
                        StatusCode::TOO_MANY_REQUESTS,
                        &areq.redirect_uri,
                    );
                    res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(session::FAILURE_WINDOW as u32));
                    return res;
                }
                Err(e) => return internal(e.into()),
            };
            let cookies = match session::start(&state, &user, current.as_ref().map(|(d, _)| d.as_slice())).await {
                Ok(c) => c,
                Err(e) => return internal(e.into()),
            };
            if let Err(e) = state.store.mark_pending_signed_in(&pending.id, state.clock.now()).await {
                return internal(e.into());
            }
            let mut res = Redirect::to(&next).into_response();
            for cookie in cookies {
                res.headers_mut().append(header::SET_COOKIE, cookie);
            }
            res
        }
        Some(action) => {
            let Some((digest, session)) = session else {
                return Redirect::to(&next).into_response();
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
                        return pages::error(StatusCode::BAD_REQUEST, "You are not a member of that tenant.");
                    }
                    match state.directory.tenant(ctx).await {
                        Ok(t) => {
                            if let Err(e) = state.store.set_session_tenant(&digest, &t.id).await {
                                return internal(e.into());
                            }
                        }
                        Err(e) => return internal(e.into()),
                    }
                    // A chosen tenant answers select_account and tenant hints for this request.
                    let mut areq = areq;
                    areq.prompt_select_account = false;
                    let mut session = session;
                    session.tenant_id = state.directory.tenant(ctx).await.ok().map(|t| t.id);
                    return advance(&state, &areq, &app, Some(&session), Pending::Continued(&pending.id)).await;
                }
                ("approve", Some("approve")) => {
                    let tenant = match flow::next_step(&state, &areq, &app, Some(&session)).await {
                        Ok(Step::Approve(t)) => t,
                        Ok(_) => return Redirect::to(&next).into_response(),
                        Err(e) => return internal(e),
                    };
                    if let Err(e) =
                        state.approvals.approve(&tenant.ctx, &app, Some(&session.user_id), &session.user_id).await
                    {
                        return internal(e.into());
                    }
                }
                ("approve", _) | ("consent", Some("deny")) => {
                    let _ = state.store.finish_pending_request(&pending.id).await;
                    return error_response(
                        &state,
                        &areq.target(),
                        &OAuthError::new(crate::oauth::ErrorCode::AccessDenied, "the user declined"),
                    );
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
                    if let Err(e) =
                        state.store.save_consent(&session.user_id, &app.id, &scopes.join(" "), state.clock.now()).await
                    {
                        return internal(e.into());
                    }
                    let mut areq = areq;
                    areq.prompt_consent = false;
                    return advance(&state, &areq, &app, Some(&session), Pending::Continued(&pending.id)).await;
                }
                _ => return pages::error(StatusCode::BAD_REQUEST, "The form is incomplete."),
            }
            Redirect::to(&next).into_response()
        }
        None => pages::error(StatusCode::BAD_REQUEST, "The form is incomplete."),
    }
}
