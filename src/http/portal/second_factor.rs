//! The portal's second step (`/portal/second-factor`): a person whose tenant policy asks for a
//! second factor, or who has one, types its code (or sets one up) before any portal or
//! administration page, since those pages approve apps and manage people. `viewer` sends
//! them here; the same factor and throttle as the sign-in pages.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{safe_next, Form};
use crate::http::pages::{self, PageError, Policy};
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
    error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "portal/recovery_codes.html")]
struct RecoveryPage<'a> {
    title: &'static str,
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
    let enrolment = if state.factors.enrolled(user_id).await? {
        None
    } else {
        Some(match state.factors.pending_enrolment(user_id, email).await? {
            Some(e) => e,
            None => state.factors.start_enrolment(user_id, email).await?,
        })
    };
    let title = if enrolment.is_some() { "Set up a second factor" } else { "Enter your code" };
    let page = CodePage { title, csrf: &session.csrf(), next, enrolment, error };
    Ok(pages::render(status, &page, Policy::Own))
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
            let page = RecoveryPage { title: "Save your recovery codes", next: &next, codes: &codes };
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
