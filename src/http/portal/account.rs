//! `/account`: the signed-in person's own page (profile, password, second factors and passkeys, where they
//! are signed in, the apps they have allowed and their JWT credentials, recent security
//! events). Signed in through the portal's login; each form acts on the viewer only.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{viewer, when, Form, Nav, Viewer};
use crate::error::Error;
use crate::http::extract::ClientAddr;
use crate::http::pages::{self, PageError, PasskeyButton, Policy};
use crate::http::session::{self, Login};
use crate::paths;
use crate::secret::Secret;
use crate::store::account::{AllowedApp, SessionView};

#[derive(Deserialize)]
pub struct DoneQuery {
    done: Option<String>,
}

/// A JWT credential as the page lists it.
struct CredentialView {
    id: String,
    tenant: String,
    apps: String,
}

#[derive(Template)]
#[template(path = "portal/account.html")]
struct AccountPage {
    title: &'static str,
    nav: Nav,
    notice: Option<&'static str>,
    error: Option<String>,
    email: String,
    name: String,
    verified: bool,
    /// An authenticator app is set up.
    totp: bool,
    passkeys: Vec<crate::tenants::passkeys::PasskeyView>,
    /// The button that adds a passkey, with a registration started for this page.
    passkey: PasskeyButton,
    /// The id of the session looking at the page.
    current: String,
    sessions: Vec<SessionView>,
    apps: Vec<AllowedApp>,
    credentials: Vec<CredentialView>,
    events: Vec<(String, String)>,
}

fn notice(done: &str) -> Option<&'static str> {
    Some(match done {
        "rename" => "Your name is saved.",
        "password" => "Your password is changed, and you are signed out everywhere else.",
        "verify" => "A link to verify your address is on its way.",
        "end_session" => "That session is signed out.",
        "revoke_app" => "The app's access is revoked: it must ask you again.",
        "revoke_credential" => "The credential is revoked.",
        "add_passkey" => "The passkey is added: you can sign in with it.",
        "remove_passkey" => "The passkey is removed.",
        _ => return None,
    })
}

async fn render(
    state: &crate::AppState,
    viewer: Viewer,
    notice: Option<&'static str>,
    error: Option<String>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let user = &viewer.user;
    let sessions = state.people.sessions(user).await?.into_iter().map(|(_, s)| s).collect();
    let credentials = crate::oauth::credentials::list(state, &user.email)
        .await?
        .into_iter()
        .filter(|c| c.revoked_at.is_none())
        .map(|c| CredentialView { id: c.id, tenant: c.tenant, apps: c.client_ids.join(" ") })
        .collect();
    let events = state
        .people
        .security_events(user)
        .await?
        .into_iter()
        .map(|e| (when(Some(e.at)), e.action.replace(['.', '_'], " ")))
        .collect();
    let options = state.factors.start_registration(&ceremony_key(&viewer), user).await?;
    let page = AccountPage {
        title: "Your account",
        notice,
        error,
        email: user.email.clone(),
        name: user.name.clone(),
        verified: user.email_verified,
        totp: state.factors.kinds(&user.id).await?.totp,
        passkeys: state.factors.passkeys(&user.id).await?,
        passkey: PasskeyButton { mode: "create", options, label: "Add a passkey" },
        current: crate::crypto::hex(&viewer.session.digest),
        sessions,
        apps: state.people.allowed_apps(user).await?,
        credentials,
        events,
        nav: viewer.nav(),
    };
    Ok(pages::render(status, &page, Policy::Passkey))
}

/// The key of the passkey registration this page started: one per browser session.
fn ceremony_key(viewer: &Viewer) -> String {
    format!("account:{}", crate::crypto::hex(&viewer.session.digest))
}

/// `GET /account`
pub async fn show(
    State(state): State<crate::AppState>,
    headers: HeaderMap,
    Query(q): Query<DoneQuery>,
) -> Result<Response, PageError> {
    let viewer = viewer(&state, &headers, paths::ACCOUNT).await?;
    render(&state, viewer, q.done.as_deref().and_then(notice), None, StatusCode::OK).await
}

/// `POST /account`
pub async fn act(
    State(state): State<crate::AppState>,
    peer: ClientAddr,
    headers: HeaderMap,
    form: Form,
) -> Result<Response, PageError> {
    let viewer = viewer(&state, &headers, paths::ACCOUNT).await?;
    form.check(&state, &headers, &viewer)?;
    let action = form.text("action");
    let user = viewer.user.clone();
    let result = match action.as_str() {
        "rename" => state.people.rename(&user, &form.text("name")).await,
        "verify" => state.people.send_verification(&user, &user.id).await.map(|_| ()),
        "end_session" => state.people.end_session(&user, &form.text("session")).await,
        "revoke_app" => state.people.revoke_app(&user, &form.text("client_id")).await,
        "revoke_credential" => {
            let id = form.text("credential");
            let own = crate::oauth::credentials::list(&state, &user.email).await?.iter().any(|c| c.id == id);
            if own {
                crate::oauth::credentials::revoke(&state, &id, &user.id).await
            } else {
                Err(Error::not_found("that credential"))
            }
        }
        "add_passkey" => {
            let added = state
                .factors
                .finish_registration(&ceremony_key(&viewer), &user, &form.text("name"), &form.text("credential"))
                .await;
            if added.is_ok() {
                state.people.notify(&user, crate::tenants::notices::Notice::SecondFactorAdded);
                // Making it needed the passkey and its user verification: this session has
                // used a second factor now, so the portal does not ask for one straight after.
                if !crate::tenants::factors::has_second_factor(&viewer.session.row.amr) {
                    let amr = crate::tenants::passkeys::AMR_PASSWORD_PASSKEY;
                    state.store.set_session_amr(&viewer.session.digest, amr).await?;
                }
            }
            added
        }
        "remove_passkey" => {
            let removed = state.factors.remove_passkey(&user.id, &form.text("passkey")).await;
            if removed.is_ok() {
                state.people.notify(&user, crate::tenants::notices::Notice::SecondFactorRemoved);
            }
            removed
        }
        "password" => {
            if form.get("password") != form.get("password2") {
                Err(Error::invalid("password", "and its repetition are not the same"))
            } else {
                // The current password goes through the sign-in throttle: a stolen session
                // must not become a way to guess it.
                let from = session::Attempt::of(&state, peer.0, &headers);
                let current = Secret::new(form.get("current").unwrap_or("").to_string());
                match session::check_password(&state, &from, &user.email, current, "account").await? {
                    Login::Ok(_) => {
                        let new = Secret::new(form.get("password").unwrap_or("").to_string());
                        state.people.change_password(&user, new, &viewer.session.digest).await
                    }
                    Login::Wrong => Err(Error::invalid("current password", "is not right")),
                    Login::Throttled => {
                        return Err(PageError::too_many(
                            "Too many wrong passwords. Wait a few minutes and try again.",
                            session::FAILURE_WINDOW as u32,
                        ))
                    }
                }
            }
        }
        _ => Err(Error::invalid("action", "is not one this page offers")),
    };
    match result {
        Ok(()) => Ok(Redirect::to(&format!("{}?done={action}", paths::ACCOUNT)).into_response()),
        Err(e @ (Error::Invalid { .. } | Error::NotFound(_) | Error::Conflict(_))) => {
            render(&state, viewer, None, Some(e.to_string()), StatusCode::BAD_REQUEST).await
        }
        Err(e) => Err(e.into()),
    }
}
