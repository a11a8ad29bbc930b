//! The Developer Portal (`/portal`) and the administration pages (`/admin/tenant`, the
//! platform administrator's `/portal/admin`): server-rendered HTML over the same domain code as
//! the CLI. This module owns who the viewer is, what they may touch, the portal's own sign-in,
//! form parsing with its CSRF check, and the shared page furniture.

pub mod admin;
pub mod app_page;
pub mod wizard;

use axum::extract::{FromRequest, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::extract::ClientAddr;
use super::pages::{self, esc};
use super::session::{self, cross_site, CurrentSession, Login};
use crate::apps::App;
use crate::paths;
use crate::secret::Secret;
use crate::store::tenants::PartnerRow;
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

    pub fn csrf_field(&self) -> String {
        format!("<input type=\"hidden\" name=\"csrf\" value=\"{}\">", esc(&self.session.csrf()))
    }

    /// The navigation bar, with sign-out as a CSRF-protected form.
    pub fn nav(&self) -> String {
        let mut links =
            format!("<a href=\"{}\">Apps</a><a href=\"{}\">New app</a>", paths::PORTAL, paths::PORTAL_NEW_APP);
        if !self.admin_of.is_empty() {
            links.push_str(&format!("<a href=\"{}\">Tenant administration</a>", paths::ADMIN_TENANT));
        }
        if self.user.platform_admin {
            links.push_str(&format!("<a href=\"{}\">Platform administration</a>", paths::PORTAL_ADMIN));
        }
        format!(
            "<nav aria-label=\"Portal\">{links}<form method=\"post\" action=\"{}\">{}<button type=\"submit\">Sign out ({})</button></form></nav>",
            paths::PORTAL_LOGOUT,
            self.csrf_field(),
            esc(&self.user.email)
        )
    }

    pub fn page(&self, status: StatusCode, title: &str, body: &str) -> Response {
        pages::portal(status, title, &self.nav(), body)
    }
}

/// The viewer, or the response to send instead (the portal's login page, then back here).
pub async fn viewer(state: &AppState, headers: &HeaderMap, here: &str) -> Result<Viewer, Response> {
    let Some(session) = session::current(state, headers).await else {
        let next = form_urlencoded::byte_serialize(here.as_bytes()).collect::<String>();
        return Err(Redirect::to(&format!("{}?next={next}", paths::PORTAL_LOGIN)).into_response());
    };
    let loaded = async {
        let user = state.store.user_by_id(&session.row.user_id).await?;
        let partners = state.store.partners_of(&session.row.user_id).await?;
        Ok::<_, crate::error::Error>((user, partners))
    };
    let (user, partners) = match loaded.await {
        Ok((Some(user), partners)) => (User::from(user), partners),
        Ok((None, _)) => return Err(Redirect::to(paths::PORTAL_LOGIN).into_response()),
        Err(e) => return Err(domain_error(&e)),
    };
    let admin_of = match state.directory.memberships(&user.id).await {
        Ok(ms) => ms.into_iter().filter(|m| m.is_admin).map(|m| m.tenant).collect(),
        Err(e) => return Err(domain_error(&e)),
    };
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
}

impl<S: Send + Sync> FromRequest<S> for Form {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let urlencoded = super::extract::is_urlencoded(req.headers());
        if !urlencoded {
            return Err(pages::error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "The form was not sent as a web form."));
        }
        let body = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|_| pages::error(StatusCode::PAYLOAD_TOO_LARGE, "The form is too large."))?;
        Ok(Form(form_urlencoded::parse(&body).into_owned().collect()))
    }
}

/// The answer to a form without the right CSRF token, or from another site.
pub fn forged(viewer: &Viewer) -> Response {
    viewer.page(
        StatusCode::FORBIDDEN,
        "The form could not be accepted",
        "<p class=\"error\" role=\"alert\">The form has expired or did not come from this site. Nothing was changed. Go back, reload the page and try again.</p>",
    )
}

/// A domain error as a page: what the person can fix is said; internals are only logged.
pub fn domain_error(e: &crate::error::Error) -> Response {
    use crate::error::Error;
    match e {
        Error::Invalid { .. } => pages::error(StatusCode::BAD_REQUEST, &e.to_string()),
        Error::NotFound(_) => pages::error(StatusCode::NOT_FOUND, &format!("Not found: {e}.")),
        Error::Conflict(_) => pages::error(StatusCode::CONFLICT, &e.to_string()),
        Error::Unavailable(cause) => {
            crate::store::log_unavailable(cause);
            pages::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "The service is temporarily unavailable. Please try again shortly.",
            )
        }
        Error::Internal(cause) => {
            tracing::error!(error = %cause, "portal request failed");
            pages::error(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong on our side. Please try again.")
        }
    }
}

/// A message shown beside a field, linked to it for screen readers.
pub fn field_error(id: &str, error: Option<&str>) -> String {
    error
        .map(|e| format!("<p class=\"field-error\" id=\"{}-error\" role=\"alert\">{}</p>", esc(id), esc(e)))
        .unwrap_or_default()
}

/// `aria-describedby` and `aria-invalid` for a field that has an error.
pub fn described(id: &str, error: Option<&str>) -> String {
    if error.is_some() {
        format!(" aria-invalid=\"true\" aria-describedby=\"{}-error\"", esc(id))
    } else {
        String::new()
    }
}

pub fn when(t: Option<i64>) -> String {
    t.map(crate::clock::utc_minute).unwrap_or_else(|| "—".into())
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// Only our own portal and admin pages are followed after login (no open redirect).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if (n.starts_with(paths::PORTAL) || n.starts_with(paths::ADMIN_TENANT))
                && !n.contains("//")
                && !n.contains('\\') =>
        {
            n.to_string()
        }
        _ => paths::PORTAL.to_string(),
    }
}

fn login_page(state: &AppState, next: &str, email: &str, error: Option<&str>, status: StatusCode) -> Response {
    let token = crate::crypto::random_token();
    let error = error.map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", esc(e))).unwrap_or_default();
    let mut res = pages::page(
        status,
        "Sign in to the Developer Portal",
        &format!(
            "{error}<form method=\"post\" action=\"{}\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><input type=\"hidden\" name=\"next\" value=\"{}\">\
             <label for=\"email\">Email</label><input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"username\" required value=\"{}\" autofocus>\
             <label for=\"password\">Password</label><input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
             <button type=\"submit\">Sign in</button></form>",
            paths::PORTAL_LOGIN,
            esc(&session::csrf_for(&token)),
            esc(next),
            esc(email)
        ),
    );
    res.headers_mut()
        .append(header::SET_COOKIE, session::set_cookie(state, LOGIN_COOKIE, &token, paths::PORTAL_LOGIN, 3600));
    res
}

/// `GET /portal/login`
pub async fn login_get(State(state): State<AppState>, Query(q): Query<NextQuery>) -> Response {
    login_page(&state, &safe_next(q.next.as_deref()), "", None, StatusCode::OK)
}

/// `POST /portal/login`
pub async fn login_post(State(state): State<AppState>, peer: ClientAddr, headers: HeaderMap, form: Form) -> Response {
    let next = safe_next(form.get("next"));
    let csrf_ok = session::cookie(&headers, LOGIN_COOKIE).is_some_and(|t| {
        form.get("csrf").is_some_and(|c| crate::crypto::ct_eq(c.as_bytes(), session::csrf_for(&t).as_bytes()))
    });
    if !csrf_ok || cross_site(&state, &headers) {
        return login_page(
            &state,
            &next,
            "",
            Some("The form has expired or did not come from this site. Please try again."),
            StatusCode::FORBIDDEN,
        );
    }
    let email = form.text("email").to_lowercase();
    let password = Secret::new(form.get("password").unwrap_or("").to_string());
    let from = session::Attempt::of(&state, peer.0, &headers);
    let user = match session::check_password(&state, &from, &email, password, "portal").await {
        Ok(Login::Ok(user)) => user,
        Ok(Login::Wrong) => {
            return login_page(&state, &next, &email, Some("The email or password is not right."), StatusCode::OK)
        }
        Ok(Login::Throttled) => {
            let mut res = login_page(
                &state,
                &next,
                &email,
                Some("Too many failed sign-ins. Wait a few minutes and try again."),
                StatusCode::TOO_MANY_REQUESTS,
            );
            res.headers_mut().insert(header::RETRY_AFTER, (session::FAILURE_WINDOW as u32).into());
            return res;
        }
        Err(e) => return domain_error(&e),
    };
    let old = session::current(&state, &headers).await;
    match session::start(&state, &user, old.as_ref().map(|s| s.digest.as_slice())).await {
        Ok(cookies) => {
            let mut res = Redirect::to(&next).into_response();
            for cookie in cookies {
                res.headers_mut().append(header::SET_COOKIE, cookie);
            }
            res
        }
        Err(e) => domain_error(&e),
    }
}

/// `POST /portal/logout`
pub async fn logout(State(state): State<AppState>, headers: HeaderMap, form: Form) -> Response {
    let viewer = match viewer(&state, &headers, paths::PORTAL).await {
        Ok(v) => v,
        Err(res) => return res,
    };
    if !form.csrf_ok(&viewer) || cross_site(&state, &headers) {
        return forged(&viewer);
    }
    let _ = state.store.delete_session(&viewer.session.digest).await;
    let mut res = Redirect::to(paths::PORTAL_LOGIN).into_response();
    let name = session::cookie_name(&state, session::SESSION_COOKIE);
    res.headers_mut().insert(header::SET_COOKIE, session::set_cookie(&state, &name, "", "/", 0));
    res
}

/// `GET /portal`: the apps of the viewer's partners (every app for a platform administrator).
pub async fn home(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let viewer = match viewer(&state, &headers, paths::PORTAL).await {
        Ok(v) => v,
        Err(res) => return res,
    };
    let apps = if viewer.user.platform_admin {
        state.registry.list(None).await
    } else {
        let mut all = Vec::new();
        for p in &viewer.partners {
            match state.registry.list(Some(&p.id)).await {
                Ok(mut apps) => all.append(&mut apps),
                Err(e) => return domain_error(&e),
            }
        }
        Ok(all)
    };
    let apps = match apps {
        Ok(a) => a,
        Err(e) => return domain_error(&e),
    };
    let intro = if viewer.partners.is_empty() && !viewer.user.platform_admin {
        "<p class=\"notice\">You are not a developer of any partner yet. Ask your partner's administrator to add you (<code>gatehouse partner member</code>).</p>".to_string()
    } else {
        format!("<p><a href=\"{}\">Create a new app</a></p>", paths::PORTAL_NEW_APP)
    };
    let rows: String = apps
        .iter()
        .map(|a| {
            format!(
                "<tr><td><a href=\"{}/{}\">{}</a></td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                paths::PORTAL_APPS,
                esc(&a.client_id),
                esc(&a.name),
                esc(&a.client_id),
                esc(a.template.as_str()),
                esc(a.access.as_str()),
                when(Some(a.created_at))
            )
        })
        .collect();
    let table = if apps.is_empty() {
        "<p class=\"muted\">No apps yet.</p>".to_string()
    } else {
        format!("<table><thead><tr><th scope=\"col\">Name</th><th scope=\"col\">Client ID</th><th scope=\"col\">Template</th><th scope=\"col\">Access</th><th scope=\"col\">Created</th></tr></thead><tbody>{rows}</tbody></table>")
    };
    viewer.page(StatusCode::OK, "Your apps", &format!("{intro}{table}"))
}
