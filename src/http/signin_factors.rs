//! The second-factor and passkey steps of a pending sign-in (`/signin`): the pages that ask
//! for a code or a passkey, setting one up when the tenant or the app requires it, and
//! signing in with a passkey alone. Each passkey ceremony of a pending request is kept under
//! one key, so the page that started it and the form that answers it may be served by
//! different instances.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::json;

use super::pages::signin::SigninPage;
use super::pages::PageError;
use super::session;
use crate::error::Error;
use crate::oauth::flow::SecondFactorReason;
use crate::store::audit::AuditEvent;
use crate::store::sessions::SessionRow;
use crate::tenants::notices::Notice;
use crate::tenants::User;
use crate::AppState;

/// The key of the passkey ceremony of a pending request.
fn ceremony_key(page: &SigninPage<'_>) -> String {
    format!("signin:{}", page.pending.id)
}

fn next(page: &SigninPage<'_>) -> Response {
    Redirect::to(&format!("{}?request={}", crate::paths::SIGNIN, page.pending.id)).into_response()
}

/// The page that signs in with a passkey alone (any passkey of ours the device offers).
pub async fn login_page(
    state: &AppState,
    page: &SigninPage<'_>,
    error: Option<&str>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let options = state.factors.start_assertion(&ceremony_key(page), None).await?;
    Ok(page.passkey_login(options, error, status))
}

/// The page asking for the person's second factor: a code field if they have an
/// authenticator app, a passkey button if they have passkeys.
pub async fn second_factor_page(
    state: &AppState,
    page: &SigninPage<'_>,
    user_id: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let kinds = state.factors.kinds(user_id).await?;
    let passkey = match kinds.passkeys {
        true => Some(state.factors.start_assertion(&ceremony_key(page), Some(user_id)).await?),
        false => None,
    };
    Ok(page.second_factor(kinds.totp, passkey, error, status))
}

/// The page that sets up a second factor: an authenticator app (the secret being set up, or
/// a new one) or a passkey.
pub async fn enrol_page(
    state: &AppState,
    page: &SigninPage<'_>,
    session: &SessionRow,
    why: SecondFactorReason,
    error: Option<&str>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let user: User = state.store.user_by_id(&session.user_id).await?.ok_or_else(expired)?.into();
    let enrolment = match state.factors.pending_enrolment(&user.id, &user.email).await? {
        Some(e) => e,
        None => state.factors.start_enrolment(&user.id, &user.email).await?,
    };
    let passkey = state.factors.start_registration(&ceremony_key(page), &user).await?;
    let reason = match why {
        SecondFactorReason::Requested => page.text().reason_requested,
        _ => page.text().reason_policy,
    };
    Ok(page.enroll(&enrolment, passkey, reason, error, status))
}

pub fn expired() -> PageError {
    PageError::bad_request("This sign-in has expired. Go back to the app and start again.")
}

/// `action=passkey_login`: a passkey alone signs the person in (it was verified by their
/// fingerprint, face or PIN), replacing the browser's old session.
pub async fn log_in(
    state: &AppState,
    page: &SigninPage<'_>,
    credential: &str,
    old: Option<&[u8]>,
) -> Result<Response, PageError> {
    let assertion = match state.factors.finish_assertion(&ceremony_key(page), credential, None).await {
        Ok(a) => a,
        Err(Error::Invalid { .. }) => {
            return login_page(state, page, Some(page.text().passkey_refused), StatusCode::BAD_REQUEST).await
        }
        Err(e) => return Err(e.into()),
    };
    let user = state.store.user_by_id(&assertion.user_id).await?.filter(|u| u.disabled_at.is_none());
    let Some(user) = user else {
        return login_page(state, page, Some(page.text().passkey_refused), StatusCode::BAD_REQUEST).await;
    };
    let user: User = user.into();
    let now = state.clock.now();
    let event = AuditEvent::new(now, &user.id, "login.succeeded", &page.app.client_id, json!({ "with": "passkey" }));
    let _ = state.store.record_audit(&event).await;
    let cookies = session::start_with(state, &user, old, assertion.amr).await?;
    state.store.mark_pending_signed_in(page.pending.id, now).await?;
    Ok(session::with_cookies(next(page), cookies))
}

/// `action=passkey`: the person's passkey as the second factor after their password.
pub async fn verify(
    state: &AppState,
    page: &SigninPage<'_>,
    digest: &[u8],
    session: &SessionRow,
    credential: &str,
) -> Result<Response, PageError> {
    match state.factors.finish_assertion(&ceremony_key(page), credential, Some(&session.user_id)).await {
        Ok(assertion) => {
            state.store.set_session_amr(digest, assertion.amr).await?;
            Ok(next(page))
        }
        Err(Error::Invalid { .. }) => {
            let now = state.clock.now();
            let detail = json!({ "with": "passkey" });
            let event =
                AuditEvent::new(now, &session.user_id, "login.second_factor_failed", &page.app.client_id, detail);
            let _ = state.store.record_audit(&event).await;
            second_factor_page(
                state,
                page,
                &session.user_id,
                Some(page.text().passkey_refused),
                StatusCode::BAD_REQUEST,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

/// `action=enroll_passkey`: a passkey made now becomes the person's second factor, and this
/// sign-in has used it.
pub async fn enrol(
    state: &AppState,
    page: &SigninPage<'_>,
    digest: &[u8],
    session: &SessionRow,
    credential: &str,
    why: SecondFactorReason,
) -> Result<Response, PageError> {
    let user: User = state.store.user_by_id(&session.user_id).await?.ok_or_else(expired)?.into();
    match state.factors.finish_registration(&ceremony_key(page), &user, "Passkey", credential).await {
        Ok(()) => {
            state.store.set_session_amr(digest, crate::tenants::passkeys::AMR_PASSWORD_PASSKEY).await?;
            state.people.notify(&user, Notice::SecondFactorAdded);
            Ok(next(page))
        }
        Err(e @ (Error::Invalid { .. } | Error::Conflict(_))) => {
            let message = match e {
                Error::Conflict(_) => "This passkey is set up already.",
                _ => page.text().passkey_refused,
            };
            enrol_page(state, page, session, why, Some(message), StatusCode::BAD_REQUEST).await
        }
        Err(e) => Err(e.into()),
    }
}
