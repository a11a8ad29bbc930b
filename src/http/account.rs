//! The pages a person reaches from a mailed link: accepting an invitation, verifying an
//! address, choosing a new password; and the form that asks for a reset link. Each link's
//! page shows a form and only its POST uses the link, because mail scanners open links.
//! Tokens travel in the query (never logged: the request span names the path only) and then in
//! a hidden field; the pages send no referrer.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::extract::ClientAddr;
use super::pages::{self, PageError, PasskeyButton, Policy};
use super::portal::Form;
use super::session::{self, cross_site, Login};
use crate::error::Error;
use crate::paths;
use crate::secret::Secret;
use crate::tenants::people::dead_link;
use crate::tenants::User;
use crate::AppState;

#[derive(Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

fn token_of(q: TokenQuery) -> Result<String, PageError> {
    q.token.filter(|t| !t.is_empty() && t.len() <= 128).ok_or_else(|| dead_link().into())
}

/// A form from another site is refused before its token is looked at.
fn same_site(state: &AppState, headers: &HeaderMap) -> Result<(), PageError> {
    if cross_site(state, headers) {
        return Err(PageError::forbidden("The form did not come from this site. Nothing was changed."));
    }
    Ok(())
}

#[derive(Template)]
#[template(path = "account/invitation.html")]
struct InvitationPage<'a> {
    title: &'static str,
    token: &'a str,
    place: &'a str,
    admin: bool,
    email: &'a str,
    existing: bool,
    name: &'a str,
    /// For a new address: a passkey instead of a password.
    passkey: Option<PasskeyButton>,
    error: Option<&'a str>,
}

/// The key of the passkey ceremony of an invitation's page: one per link.
fn invitation_ceremony(token: &str) -> String {
    format!("invitation:{}", crate::crypto::hex(&crate::crypto::sha256(token.as_bytes())))
}

async fn invitation_page(
    state: &AppState,
    token: &str,
    name: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let inv = state.people.invitation(token).await?;
    // The account's id is chosen now: a passkey is made for it before the account exists.
    let passkey = match inv.existing {
        Some(_) => None,
        None => {
            let new_id = crate::crypto::random_id();
            let options =
                state.factors.start_registration_for_new(&invitation_ceremony(token), &new_id, &inv.email).await?;
            Some(PasskeyButton { mode: "create", options, label: "Create my account with a passkey" })
        }
    };
    let policy = if passkey.is_some() { Policy::Passkey } else { Policy::Own };
    let page = InvitationPage {
        title: "Accept your invitation",
        token,
        place: &inv.place,
        admin: inv.admin,
        email: &inv.email,
        existing: inv.existing.is_some(),
        name,
        passkey,
        error,
    };
    Ok(pages::render(status, &page, policy))
}

/// A new person accepts with a passkey: it is checked before the invitation is spent, then
/// the account is made under the id the passkey was made for, and the passkey saved.
async fn accept_with_passkey(state: &AppState, token: &str, name: &str, credential: &str) -> Result<User, Response> {
    let again = |error: String| async move {
        match invitation_page(state, token, name, Some(&error), StatusCode::BAD_REQUEST).await {
            Ok(page) => page,
            Err(e) => e.into_response(),
        }
    };
    let passkey = match state.factors.check_registration(&invitation_ceremony(token), credential).await {
        Ok(p) => p,
        Err(Error::Invalid { .. }) => return Err(again("That passkey could not be made. Try again.".into()).await),
        Err(e) => return Err(PageError::from(e).into_response()),
    };
    let user = match state.people.accept_as_new_with_passkey(token, name, &passkey.user_id).await {
        Ok(user) => user,
        Err(Error::Invalid { field: field @ "name", message }) => {
            return Err(again(format!("The {field} {message}.")).await)
        }
        Err(e) => return Err(PageError::from(e).into_response()),
    };
    if let Err(e) = state.factors.save_passkey(&user.id, "Passkey", passkey).await {
        // The account exists; a password reset lets the person in if the passkey was not kept.
        tracing::error!(error = %e, "a passkey made at an invitation was not saved");
        return Err(PageError::from(e).into_response());
    }
    Ok(user)
}

/// `GET /account/invitation?token=…`
pub async fn invitation_get(State(state): State<AppState>, Query(q): Query<TokenQuery>) -> Result<Response, PageError> {
    invitation_page(&state, &token_of(q)?, "", None, StatusCode::OK).await
}

#[derive(Template)]
#[template(path = "account/joined.html")]
struct JoinedPage<'a> {
    title: &'static str,
    place: &'a str,
    email: &'a str,
    admin_link: Option<String>,
}

/// `POST /account/invitation`: a new person chooses a name and password; someone with an
/// account signs in (through the same failure throttle as every sign-in). Either way they
/// leave signed in, in the tenant.
pub async fn invitation_post(
    State(state): State<AppState>,
    peer: ClientAddr,
    headers: HeaderMap,
    form: Form,
) -> Result<Response, PageError> {
    same_site(&state, &headers)?;
    let token = form.text("token");
    let inv = state.people.invitation(&token).await?;
    let password = Secret::new(form.get("password").unwrap_or("").to_string());
    let with_passkey = form.get("action") == Some("passkey") && inv.existing.is_none();
    let user = match &inv.existing {
        None if with_passkey => {
            match accept_with_passkey(&state, &token, &form.text("name"), form.get("credential").unwrap_or("")).await {
                Ok(user) => user,
                Err(page) => return Ok(page),
            }
        }
        Some(existing) => {
            let from = session::Attempt::of(&state, peer.0, &headers);
            match session::check_password(&state, &from, &existing.email, password, "invitation").await? {
                Login::Ok(user) => user,
                Login::Wrong => {
                    let error = Some("The password is not right.");
                    return invitation_page(&state, &token, "", error, StatusCode::OK).await;
                }
                Login::Throttled => {
                    return Err(PageError::too_many(
                        "Too many failed sign-ins. Wait a few minutes and try again.",
                        session::FAILURE_WINDOW as u32,
                    ))
                }
            }
        }
        None => {
            let name = form.text("name");
            if form.get("password") != form.get("password2") {
                let error = Some("The two passwords are not the same.");
                return invitation_page(&state, &token, &name, error, StatusCode::OK).await;
            }
            match state.people.accept_as_new(&token, &name, password).await {
                Ok(user) => user,
                Err(Error::Invalid { field: field @ ("password" | "name"), message }) => {
                    let error = format!("The {field} {message}.");
                    return invitation_page(&state, &token, &name, Some(&error), StatusCode::OK).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    };
    if inv.existing.is_some() {
        state.people.accept_as(&token, &user).await?;
    }
    let admin_link = match state.directory.memberships(&user.id).await?.into_iter().find(|m| m.is_admin) {
        Some(m) if inv.admin => Some(format!("{}?ctx={}", paths::ADMIN_TENANT, m.tenant)),
        _ => None,
    };
    let old = session::current(&state, &headers).await;
    let old = old.as_ref().map(|s| s.digest.as_slice());
    let cookies = match with_passkey {
        true => session::start_with(&state, &user, old, crate::tenants::passkeys::AMR_PASSKEY).await?,
        false => session::start(&state, &user, old).await?,
    };
    let page = JoinedPage { title: "Welcome", place: &inv.place, email: &user.email, admin_link };
    Ok(session::with_cookies(pages::render(StatusCode::OK, &page, Policy::Own), cookies))
}

#[derive(Template)]
#[template(path = "account/reset.html")]
struct ResetPage {
    title: &'static str,
    sent: bool,
}

/// `GET /account/reset`
pub async fn reset_get() -> Response {
    pages::render(StatusCode::OK, &ResetPage { title: "Forgot your password?", sent: false }, Policy::Own)
}

/// `POST /account/reset`: the same answer, at once, whether or not the address has an
/// account (`People::request_reset` does the rest on a worker).
pub async fn reset_post(State(state): State<AppState>, headers: HeaderMap, form: Form) -> Result<Response, PageError> {
    same_site(&state, &headers)?;
    state.people.request_reset(&form.text("email"));
    Ok(pages::render(StatusCode::OK, &ResetPage { title: "Check your mail", sent: true }, Policy::Own))
}

#[derive(Template)]
#[template(path = "account/new_password.html")]
struct NewPasswordPage<'a> {
    title: &'static str,
    token: &'a str,
    error: Option<&'a str>,
}

/// `GET /account/reset/confirm?token=…`
pub async fn reset_confirm_get(
    State(state): State<AppState>,
    Query(q): Query<TokenQuery>,
) -> Result<Response, PageError> {
    let token = token_of(q)?;
    state.people.reset_is_live(&token).await?;
    let page = NewPasswordPage { title: "Choose a new password", token: &token, error: None };
    Ok(pages::render(StatusCode::OK, &page, Policy::Own))
}

#[derive(Template)]
#[template(path = "account/done.html")]
struct DonePage<'a> {
    title: &'static str,
    message: &'a str,
    next: Option<(&'static str, &'static str)>,
}

/// `POST /account/reset/confirm`
pub async fn reset_confirm_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Form,
) -> Result<Response, PageError> {
    same_site(&state, &headers)?;
    let token = form.text("token");
    let retry = |error: String| {
        let page = NewPasswordPage { title: "Choose a new password", token: &token, error: Some(&error) };
        pages::render(StatusCode::OK, &page, Policy::Own)
    };
    if form.get("password") != form.get("password2") {
        state.people.reset_is_live(&token).await?;
        return Ok(retry("The two passwords are not the same.".into()));
    }
    let password = Secret::new(form.get("password").unwrap_or("").to_string());
    match state.people.reset_password(&token, password).await {
        Ok(_) => {}
        Err(Error::Invalid { field: "password", message }) => return Ok(retry(format!("The password {message}."))),
        Err(e) => return Err(e.into()),
    }
    let page = DonePage {
        title: "Your password is changed",
        message: "Your new password is set, and you are signed out everywhere. Sign in again with the new password.",
        next: Some((paths::PORTAL_LOGIN, "Sign in")),
    };
    Ok(pages::render(StatusCode::OK, &page, Policy::Own))
}

#[derive(Template)]
#[template(path = "account/verify.html")]
struct VerifyPage<'a> {
    title: &'static str,
    token: &'a str,
    email: &'a str,
}

/// `GET /account/verify?token=…`
pub async fn verify_get(State(state): State<AppState>, Query(q): Query<TokenQuery>) -> Result<Response, PageError> {
    let token = token_of(q)?;
    let email = state.people.verification(&token).await?;
    let page = VerifyPage { title: "Confirm your address", token: &token, email: &email };
    Ok(pages::render(StatusCode::OK, &page, Policy::Own))
}

/// `POST /account/verify`
pub async fn verify_post(State(state): State<AppState>, headers: HeaderMap, form: Form) -> Result<Response, PageError> {
    same_site(&state, &headers)?;
    let email = state.people.verify(&form.text("token")).await?;
    let message = format!("Thank you: {email} is confirmed as your address.");
    let page = DonePage { title: "Address confirmed", message: &message, next: None };
    Ok(pages::render(StatusCode::OK, &page, Policy::Own).into_response())
}

/// The setup page is for the operator at the machine: only loopback callers (directly, or as
/// a trusted proxy reports them) see it.
fn loopback_only(peer: &ClientAddr) -> Result<(), PageError> {
    if peer.0.is_some_and(|a| a.is_loopback()) {
        Ok(())
    } else {
        Err(PageError::forbidden("The setup page answers on this machine only (127.0.0.1 or ::1)."))
    }
}

/// What was typed into the setup form, shown again when something needs fixing.
#[derive(Default)]
struct SetupFields {
    name: String,
    email: String,
    partner: String,
    ctx: String,
    tenant: String,
}

#[derive(Template)]
#[template(path = "account/setup.html")]
struct SetupPage<'a> {
    title: &'static str,
    token: &'a str,
    form: SetupFields,
    error: Option<&'a str>,
}

/// `GET /setup?token=…`: the first-run page whose link `gatehouse serve` prints.
pub async fn setup_get(
    State(state): State<AppState>,
    peer: ClientAddr,
    Query(q): Query<TokenQuery>,
) -> Result<Response, PageError> {
    loopback_only(&peer)?;
    let token = token_of(q)?;
    state.people.setup_is_live(&token).await?;
    let page = SetupPage { title: "Set up Gatehouse", token: &token, form: SetupFields::default(), error: None };
    Ok(pages::render(StatusCode::OK, &page, Policy::Own))
}

/// `POST /setup`: creates the administrator, partner and tenant, and signs them in to the portal.
pub async fn setup_post(
    State(state): State<AppState>,
    peer: ClientAddr,
    headers: HeaderMap,
    form: Form,
) -> Result<Response, PageError> {
    loopback_only(&peer)?;
    same_site(&state, &headers)?;
    let token = form.text("token");
    let fields = SetupFields {
        name: form.text("name"),
        email: form.text("email"),
        partner: form.text("partner"),
        ctx: form.text("ctx"),
        tenant: form.text("tenant"),
    };
    let again = |fields: SetupFields, error: String| {
        let page = SetupPage { title: "Set up Gatehouse", token: &token, form: fields, error: Some(&error) };
        pages::render(StatusCode::OK, &page, Policy::Own)
    };
    if form.get("password") != form.get("password2") {
        state.people.setup_is_live(&token).await?;
        return Ok(again(fields, "The two passwords are not the same.".into()));
    }
    let first = crate::tenants::setup::FirstAdmin {
        name: &fields.name,
        email: &fields.email,
        password: Secret::new(form.get("password").unwrap_or("").to_string()),
        partner: &fields.partner,
        ctx: &fields.ctx,
        tenant: &fields.tenant,
    };
    let user = match state.people.setup(&token, first).await {
        Ok(user) => user,
        Err(
            e @ (Error::Invalid { field: "name" | "email" | "password" | "partner" | "ctx" | "tenant name", .. }
            | Error::Conflict(_)),
        ) => return Ok(again(fields, e.to_string())),
        Err(e) => return Err(e.into()),
    };
    let cookies = session::start(&state, &user, None).await?;
    Ok(session::with_cookies(axum::response::Redirect::to(paths::PORTAL).into_response(), cookies))
}
