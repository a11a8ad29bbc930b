//! The portal's second step (`/portal/second-factor`): a person whose tenant policy asks for a
//! second factor, or who has one, types its code (or sets one up) before any portal or
//! administration page, since those pages approve apps and manage people. `viewer` sends
//! them here; the same factors (an authenticator app, passkeys) and throttle as the sign-in
//! pages.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{safe_next, Form};
use crate::error::Error;
use crate::http::pages::{self, PageError, PasskeyButton, Policy};
use crate::http::session::{self, cross_site, CurrentSession};
use crate::tenants::factors::{Enrolment, AMR_SECOND_FACTOR};
use crate::AppState;

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

#[derive(Template)]
#[template(path = "portal/second_factor.html")]
struct CodePage<'a> {
    title: &'static str,
    csrf: &'a str,
    next: &'a str,
    enrolment: Option<Enrolment>,
    /// The person has an authenticator app: the code form.
    totp: bool,
    /// A passkey to use, or (while enrolling) to create.
    passkey: Option<PasskeyButton>,
    error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "portal/recovery_codes.html")]
struct RecoveryPage<'a> {
    title: &'static str,
    t: &'static crate::http::pages::locale::Text,
    next: &'a str,
    codes: &'a [String],
}

async fn signed_in(state: &AppState, headers: &HeaderMap) -> Result<(CurrentSession, String, String), PageError> {
    let Some(session) = session::current(state, headers).await else { return Err(PageError::SignIn { next: None }) };
    let user = state.store.user_by_id(&session.row.user_id).await?;
    let Some(user) = user.filter(|u| u.disabled_at.is_none()) else { return Err(PageError::SignIn { next: None }) };
    Ok((session, user.id, user.email))
}

async fn page(
    state: &AppState,
    session: &CurrentSession,
    user: (&str, &str),
    next: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let (user_id, email) = user;
    let kinds = state.factors.kinds(user_id).await?;
    let key = ceremony_key(session);
    let (enrolment, passkey) = if kinds.any() {
        let passkey = match kinds.passkeys {
            true => Some(PasskeyButton {
                mode: "get",
                options: state.factors.start_assertion(&key, Some(user_id)).await?,
                label: "Use a passkey",
            }),
            false => None,
        };
        (None, passkey)
    } else {
        let enrolment = match state.factors.pending_enrolment(user_id, email).await? {
            Some(e) => e,
            None => state.factors.start_enrolment(user_id, email).await?,
        };
        let Some(user) = state.store.user_by_id(user_id).await? else { return Err(PageError::SignIn { next: None }) };
        let options = state.factors.start_registration(&key, &user.into()).await?;
        (Some(enrolment), Some(PasskeyButton { mode: "create", options, label: "Create a passkey" }))
    };
    let title = match (&enrolment, kinds.totp) {
        (Some(_), _) => "Set up a second factor",
        (None, true) => "Enter your code",
        (None, false) => "Use your passkey",
    };
    let policy = if passkey.is_some() { Policy::Passkey } else { Policy::Own };
    let page = CodePage { title, csrf: &session.csrf(), next, enrolment, totp: kinds.totp, passkey, error };
    Ok(pages::render(status, &page, policy))
}

/// The key of a passkey ceremony on this page: one per browser session.
fn ceremony_key(session: &CurrentSession) -> String {
    format!("portal:{}", crate::crypto::hex(&session.digest))
}

/// A passkey answer on this page: the person's passkey as their second factor, or a new one.
async fn passkey(
    state: &AppState,
    session: &CurrentSession,
    user: (&str, &str),
    next: &str,
    form: &Form,
) -> Result<Response, PageError> {
    let (user_id, _) = user;
    let key = ceremony_key(session);
    let credential = form.text("credential");
    let outcome = match form.text("action").as_str() {
        "enroll_passkey" => {
            let Some(row) = state.store.user_by_id(user_id).await? else {
                return Err(PageError::SignIn { next: None });
            };
            let person: crate::tenants::User = row.into();
            let made = state.factors.finish_registration(&key, &person, "Passkey", &credential).await;
            if made.is_ok() {
                state.people.notify(&person, crate::tenants::notices::Notice::SecondFactorAdded);
            }
            made.map(|()| crate::tenants::passkeys::AMR_PASSWORD_PASSKEY)
        }
        _ => state.factors.finish_assertion(&key, &credential, Some(user_id)).await.map(|a| a.amr),
    };
    match outcome {
        Ok(amr) => {
            state.store.set_session_amr(&session.digest, amr).await?;
            Ok(Redirect::to(next).into_response())
        }
        Err(Error::Invalid { .. } | Error::Conflict(_)) => {
            let error = Some("That passkey could not be used. Try again, or use another way.");
            page(state, session, user, next, error, StatusCode::BAD_REQUEST).await
        }
        Err(e) => Err(e.into()),
    }
}

/// `GET /portal/second-factor?next=…`
pub async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> Result<Response, PageError> {
    let (session, user_id, email) = signed_in(&state, &headers).await?;
    let next = safe_next(q.next.as_deref());
    page(&state, &session, (&user_id, &email), &next, None, StatusCode::OK).await
}

/// `POST /portal/second-factor`
pub async fn submit(State(state): State<AppState>, headers: HeaderMap, form: Form) -> Result<Response, PageError> {
    let (session, user_id, email) = signed_in(&state, &headers).await?;
    let csrf_ok = form.get("csrf").is_some_and(|c| crate::crypto::ct_eq(c.as_bytes(), session.csrf().as_bytes()));
    if !csrf_ok || cross_site(&state, &headers) {
        return Err(PageError::forbidden("The form has expired or did not come from this site. Nothing was changed."));
    }
    let next = safe_next(form.get("next"));
    if matches!(form.text("action").as_str(), "passkey" | "enroll_passkey") {
        return passkey(&state, &session, (&user_id, &email), &next, &form).await;
    }
    let code = form.text("code");
    if !state.factors.reserve_attempt(&user_id).await? {
        let error = Some("Too many wrong codes. Wait a few minutes and try again.");
        let mut res = page(&state, &session, (&user_id, &email), &next, error, StatusCode::TOO_MANY_REQUESTS).await?;
        res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(session::FAILURE_WINDOW as u32));
        return Ok(res);
    }
    let recovery = match form.text("action").as_str() {
        "enroll" => match state.factors.confirm(&user_id, &code).await? {
            Some(codes) => Some(codes),
            None => return wrong(&state, &session, (&user_id, &email), &next).await,
        },
        _ if state.factors.verify(&user_id, &code).await? => None,
        _ => return wrong(&state, &session, (&user_id, &email), &next).await,
    };
    state.factors.clear_attempts(&user_id).await;
    state.store.set_session_amr(&session.digest, AMR_SECOND_FACTOR).await?;
    Ok(match recovery {
        Some(codes) => {
            if let Ok(Some(user)) = state.store.user_by_id(&user_id).await {
                state.people.notify(&user.into(), crate::tenants::notices::Notice::SecondFactorAdded);
            }
            let page = RecoveryPage {
                title: "Save your recovery codes",
                t: &crate::http::pages::locale::EN,
                next: &next,
                codes: &codes,
            };
            pages::render(StatusCode::OK, &page, Policy::Own)
        }
        None => Redirect::to(&next).into_response(),
    })
}

async fn wrong(
    state: &AppState,
    session: &CurrentSession,
    user: (&str, &str),
    next: &str,
) -> Result<Response, PageError> {
    let error = Some("That code is not right, or was used already.");
    page(state, session, user, next, error, StatusCode::OK).await
}
