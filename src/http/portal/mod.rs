//! The Developer Portal (`/portal`) and the administration pages (`/admin/tenant`, the
//! platform administrator's `/portal/admin`): server-rendered HTML over the same domain code as
//! the CLI. This module owns who the viewer is, what they may touch, the portal's own sign-in,
//! form parsing with its CSRF check, and the navigation bar every page shows
//! (`templates/portal/base.html`).

pub mod account;
pub mod admin;
pub mod app_page;
pub mod people;
pub mod second_factor;
pub mod sign_in;
pub mod wizard;

use askama::Template;
use axum::extract::{FromRequest, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::extract::ClientAddr;
use super::pages::{self, PageError, Policy};
use super::session::{self, cross_site, CurrentSession, Login};
use crate::apps::App;
use crate::paths;
use crate::secret::Secret;
use crate::store::tenants::PartnerRow;
use crate::tenants::factors::has_second_factor;
use crate::tenants::User;
use crate::AppState;

/// The double-submit cookie of the portal's login form (there is no session to bind it to yet).
const LOGIN_COOKIE: &str = "gatehouse_portal_login";

/// The signed-in person looking at a portal page.
pub struct Viewer {
    pub session: CurrentSession,
    pub user: User,
    /// The partners the viewer is a developer of.
    pub partners: Vec<PartnerRow>,
    /// The tenants (ctx) the viewer administers.
    pub admin_of: Vec<String>,
}

impl Viewer {
    /// Developers of the app's partner manage it; a platform administrator manages every app.
    pub fn can_manage(&self, app: &App) -> bool {
        self.user.platform_admin || self.partners.iter().any(|p| p.id == app.partner_id)
    }

    /// What every page of the viewer's shows of them: the navigation bar, and the CSRF token
    /// its forms carry.
    pub fn nav(&self) -> Nav {
        Nav {
            csrf: self.session.csrf(),
            email: self.user.email.clone(),
            tenant_admin: !self.admin_of.is_empty(),
            platform_admin: self.user.platform_admin,
        }
    }

    /// The refusal of a form without the viewer's CSRF token, or from another site.
    pub fn forged(&self) -> PageError {
        PageError::refused(
            self.nav(),
            "The form could not be accepted",
            "The form has expired or did not come from this site. Nothing was changed. Go back, reload the page and try again.",
        )
    }
}

/// The navigation bar of a portal page (`templates/portal/base.html`), with sign-out as a
/// form; its CSRF token is the one every form of the page carries.
#[derive(Debug)]
pub struct Nav {
    pub csrf: String,
    pub email: String,
    pub tenant_admin: bool,
    pub platform_admin: bool,
}

/// The viewer; without a session, the way to the portal's login page and then back `here`.
pub async fn viewer(state: &AppState, headers: &HeaderMap, here: &str) -> Result<Viewer, PageError> {
    let Some(session) = session::current(state, headers).await else {
        return Err(PageError::SignIn { next: Some(here.to_string()) });
    };
    let user = state.store.user_by_id(&session.row.user_id).await?;
    let partners = state.store.partners_of(&session.row.user_id).await?;
    let Some(user) = user.map(User::from).filter(|u| u.disabled_at.is_none()) else {
        return Err(PageError::SignIn { next: None });
    };
    let memberships = state.directory.memberships(&user.id).await?;
    // The portal approves apps and manages people: whoever must (or chose to) use a second
    // factor uses it here too.
    if !has_second_factor(&session.row.amr)
        && (memberships.iter().any(|m| m.second_factor_required) || state.factors.enrolled(&user.id).await?)
    {
        return Err(PageError::SecondFactor { next: here.to_string() });
    }
    let admin_of = memberships.into_iter().filter(|m| m.is_admin).map(|m| m.tenant).collect();
    Ok(Viewer { session, user, partners, admin_of })
}

/// A urlencoded form as a list of pairs: the portal's forms repeat names (one field per
/// redirect URL, one checkbox per integration point), which the OAuth parser rightly refuses.
pub struct Form(pub Vec<(String, String)>);

impl Form {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or("").trim().to_string()
    }

    pub fn all(&self, name: &str) -> Vec<String> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.trim().to_string()).collect()
    }

    /// The form carries the viewer's CSRF token.
    pub fn csrf_ok(&self, viewer: &Viewer) -> bool {
        self.get("csrf").is_some_and(|c| crate::crypto::ct_eq(c.as_bytes(), viewer.session.csrf().as_bytes()))
    }

    /// The viewer's own form from this site, or the page that refuses it.
    pub fn check(&self, state: &AppState, headers: &HeaderMap, viewer: &Viewer) -> Result<(), PageError> {
        if !self.csrf_ok(viewer) || cross_site(state, headers) {
            return Err(viewer.forged());
        }
        Ok(())
    }
}

impl<S: Send + Sync> FromRequest<S> for Form {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let urlencoded = super::extract::is_urlencoded(req.headers());
        if !urlencoded {
            return Err(PageError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "The form was not sent as a web form."));
        }
        let body = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|_| PageError::new(StatusCode::PAYLOAD_TOO_LARGE, "The form is too large."))?;
        Ok(Form(form_urlencoded::parse(&body).into_owned().collect()))
    }
}

/// A time as the portal's tables show it (UTC, to the minute), or a dash for never.
pub fn when(t: Option<i64>) -> String {
    t.map(crate::clock::utc_minute).unwrap_or_else(|| "—".into())
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// Only our own portal and admin pages are followed after login (no open redirect).
pub(crate) fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if (n.starts_with(paths::PORTAL)
                || n.starts_with(paths::ADMIN_TENANT)
                || n.starts_with(paths::ACCOUNT))
                && !n.contains("//")
                && !n.contains('\\') =>
        {
            n.to_string()
        }
        _ => paths::PORTAL.to_string(),
    }
}

#[derive(Template)]
#[template(path = "portal/login.html")]
struct LoginPage<'a> {
    title: &'static str,
    /// The portal is in English; the sign-in form's words come from the sign-in pages'.
    t: &'static super::pages::locale::Text,
    csrf: &'a str,
    next: &'a str,
    email: &'a str,
    error: Option<&'a str>,
}

fn login_page(state: &AppState, next: &str, email: &str, error: Option<&str>, status: StatusCode) -> Response {
    let token = crate::crypto::random_token();
    let csrf = session::csrf_for(&token);
    let page = LoginPage {
        title: "Sign in to the Developer Portal",
        t: &super::pages::locale::EN,
        csrf: &csrf,
        next,
        email,
        error,
    };
    let mut res = pages::render(status, &page, Policy::Own);
    res.headers_mut()
        .append(header::SET_COOKIE, session::set_cookie(state, LOGIN_COOKIE, &token, paths::PORTAL_LOGIN, 3600));
    res
}

/// `GET /portal/login`
pub async fn login_get(State(state): State<AppState>, Query(q): Query<NextQuery>) -> Response {
    login_page(&state, &safe_next(q.next.as_deref()), "", None, StatusCode::OK)
}

/// `POST /portal/login`
pub async fn login_post(
    State(state): State<AppState>,
    peer: ClientAddr,
    headers: HeaderMap,
    form: Form,
) -> Result<Response, PageError> {
    let next = safe_next(form.get("next"));
    let csrf_ok = session::cookie(&headers, LOGIN_COOKIE).is_some_and(|t| {
        form.get("csrf").is_some_and(|c| crate::crypto::ct_eq(c.as_bytes(), session::csrf_for(&t).as_bytes()))
    });
    if !csrf_ok || cross_site(&state, &headers) {
        return Ok(login_page(
            &state,
            &next,
            "",
            Some("The form has expired or did not come from this site. Please try again."),
            StatusCode::FORBIDDEN,
        ));
    }
    let email = form.text("email").to_lowercase();
    let password = Secret::new(form.get("password").unwrap_or("").to_string());
    // Home realm discovery, as on the apps' login page: people of a federated domain sign in
    // at their organisation (a password only where the tenant still allows one).
    if let Some(idp) = state.upstreams.for_email(&email).await? {
        if !idp.passwords_allowed || password.expose().is_empty() {
            return crate::http::federation::leave_portal_for(&state, &idp, &email, &next).await;
        }
    }
    if password.expose().is_empty() {
        return Ok(login_page(&state, &next, &email, Some("Enter your password."), StatusCode::OK));
    }
    let from = session::Attempt::of(&state, peer.0, &headers);
    let user = match session::check_password(&state, &from, &email, password, "portal").await? {
        Login::Ok(user) => user,
        Login::Wrong => {
            return Ok(login_page(&state, &next, &email, Some("The email or password is not right."), StatusCode::OK))
        }
        Login::Throttled => {
            let mut res = login_page(
                &state,
                &next,
                &email,
                Some("Too many failed sign-ins. Wait a few minutes and try again."),
                StatusCode::TOO_MANY_REQUESTS,
            );
            res.headers_mut().insert(header::RETRY_AFTER, (session::FAILURE_WINDOW as u32).into());
            return Ok(res);
        }
    };
    let old = session::current(&state, &headers).await;
    let cookies = session::start(&state, &user, old.as_ref().map(|s| s.digest.as_slice())).await?;
    Ok(session::with_cookies(Redirect::to(&next).into_response(), cookies))
}

/// `POST /portal/logout`
pub async fn logout(State(state): State<AppState>, headers: HeaderMap, form: Form) -> Result<Response, PageError> {
    let viewer = viewer(&state, &headers, paths::PORTAL).await?;
    form.check(&state, &headers, &viewer)?;
    let _ = state.store.delete_session(&viewer.session.digest, state.clock.now()).await;
    state.outbox_queued.notify_one();
    let mut res = Redirect::to(paths::PORTAL_LOGIN).into_response();
    let name = session::cookie_name(&state, session::SESSION_COOKIE);
    res.headers_mut().insert(header::SET_COOKIE, session::set_cookie(&state, &name, "", "/", 0));
    Ok(res)
}

#[derive(Template)]
#[template(path = "portal/home.html")]
struct Home {
    title: &'static str,
    nav: Nav,
    /// The viewer can see no app: say how to become a partner's developer.
    no_partner: bool,
    apps: Vec<App>,
    notice: Option<&'static str>,
    /// The viewer's partners with their developers, each with an invitation form.
    partners: Vec<PartnerView>,
}

struct PartnerView {
    id: String,
    name: String,
    developers: Vec<String>,
    /// Webhooks that hear about all of the partner's apps, and the newest events sent to them.
    webhooks: Vec<crate::store::webhooks::PartnerWebhookRow>,
    deliveries: Vec<crate::store::outbox::DeliveryStatus>,
}

#[derive(Deserialize)]
pub struct HomeQuery {
    done: Option<String>,
}

/// `GET /portal`: the apps of the viewer's partners (every app for a platform administrator).
pub async fn home(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<HomeQuery>,
) -> Result<Response, PageError> {
    let viewer = viewer(&state, &headers, paths::PORTAL).await?;
    let apps = if viewer.user.platform_admin {
        state.registry.list(None).await?
    } else {
        let mut all = Vec::new();
        for p in &viewer.partners {
            all.append(&mut state.registry.list(Some(&p.id)).await?);
        }
        all
    };
    let mut partners = Vec::new();
    for p in &viewer.partners {
        let developers = state.store.partner_member_emails(&p.id).await?;
        let webhooks = state.store.partner_webhooks(&p.id).await?;
        let deliveries = state.store.partner_deliveries(&p.id, 20).await?;
        partners.push(PartnerView { id: p.id.clone(), name: p.name.clone(), developers, webhooks, deliveries });
    }
    let page = Home {
        title: "Your apps",
        nav: viewer.nav(),
        no_partner: viewer.partners.is_empty() && !viewer.user.platform_admin,
        apps,
        notice: match q.done.as_deref() {
            Some("invite") => Some("The invitation is on its way. It works once, for seven days."),
            Some("webhook-removed") => Some("The webhook was removed; nothing more is sent to it."),
            _ => None,
        },
        partners,
    };
    Ok(pages::render(StatusCode::OK, &page, Policy::Own))
}

/// `POST /portal/developers`: a developer of a partner invites someone to be one too.
pub async fn invite_developer(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Form,
) -> Result<Response, PageError> {
    let (viewer, partner) = partner_form(&state, &headers, &form).await?;
    state.people.invite_developer(&partner, &form.text("email"), &viewer.user.id).await?;
    Ok(Redirect::to(&format!("{}?done=invite", paths::PORTAL)).into_response())
}

/// The viewer of a form about partner `partner`, and that partner, if the viewer is one of its
/// developers and the form is theirs (CSRF).
async fn partner_form(state: &AppState, headers: &HeaderMap, form: &Form) -> Result<(Viewer, String), PageError> {
    let viewer = viewer(state, headers, paths::PORTAL).await?;
    form.check(state, headers, &viewer)?;
    let partner = form.text("partner");
    if !viewer.partners.iter().any(|p| p.id == partner) {
        return Err(PageError::refused(
            viewer.nav(),
            "Not a developer of that partner",
            "Only a partner's own developers change it. Nothing was changed.",
        ));
    }
    Ok((viewer, partner))
}

/// `POST /portal/partner-webhooks`: adds (`op=add`, `url`; the secret is shown once) or
/// removes (`op=remove`, `id`) a webhook that hears about all of the partner's apps.
pub async fn partner_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Form,
) -> Result<Response, PageError> {
    let (viewer, partner) = partner_form(&state, &headers, &form).await?;
    let actor = viewer.user.id.clone();
    if form.text("op") == "remove" {
        state.registry.remove_partner_webhook(&partner, &form.text("id"), &actor).await?;
        return Ok(Redirect::to(&format!("{}?done=webhook-removed", paths::PORTAL)).into_response());
    }
    let (hook, secret) = state.registry.add_partner_webhook(&partner, &form.text("url"), &actor).await?;
    let page = app_page::NewWebhook {
        title: "New webhook",
        nav: viewer.nav(),
        hook_url: &hook.url,
        secret: &secret,
        url: paths::PORTAL.to_string(),
        back: "Back to your apps",
    };
    Ok(pages::render(StatusCode::CREATED, &page, Policy::Copy))
}
