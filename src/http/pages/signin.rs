//! The pages of a pending sign-in (`templates/signin/`): login (with a password or a passkey),
//! the second factor (and setting one up), tenant choice, the tenant administrator's approval, and consent. Each names the app, carries the pending request and
//! its CSRF token in hidden fields, and posts to `/signin`.

use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;

use super::locale::{Locale, Text};
use super::{render, PasskeyButton, Policy};
use crate::apps::{App, Entitlement};
use crate::tenants::factors::Enrolment;
use crate::tenants::Tenant;

/// The pending request a page's form continues.
pub struct Pending<'a> {
    pub id: &'a str,
    pub csrf: &'a str,
}

/// One step's page of a pending request for `app`, which ends at `redirect_uri`, in the
/// language the request asked for.
pub struct SigninPage<'a> {
    pub pending: Pending<'a>,
    pub app: &'a App,
    pub redirect_uri: &'a str,
    pub locale: Locale,
}

#[derive(Template)]
#[template(path = "signin/login.html")]
struct Login<'a> {
    title: &'static str,
    t: &'static Text,
    pending: &'a Pending<'a>,
    app_name: &'a str,
    email: &'a str,
    error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "signin/upstream.html")]
struct Upstream<'a> {
    title: &'static str,
    t: &'static Text,
    app_name: &'a str,
    url: &'a str,
}

/// The page that sends a person on to their organisation's provider, to continue to `to`
/// afterwards (the portal's login has no `SigninPage`).
pub fn to_upstream_page(t: &'static Text, to: &str, url: &str) -> Response {
    render(StatusCode::OK, &Upstream { title: t.title_upstream, t, app_name: to, url }, Policy::Own)
}

#[derive(Template)]
#[template(path = "signin/tenant.html")]
struct ChooseTenant<'a> {
    title: &'static str,
    t: &'static Text,
    pending: &'a Pending<'a>,
    app_name: &'a str,
    tenants: &'a [Tenant],
}

#[derive(Template)]
#[template(path = "signin/approve.html")]
struct Approve<'a> {
    title: &'static str,
    t: &'static Text,
    pending: &'a Pending<'a>,
    app_name: &'a str,
    tenant: &'a Tenant,
    entitlements: Vec<Entitlement>,
}

#[derive(Template)]
#[template(path = "signin/consent.html")]
struct Consent<'a> {
    title: &'static str,
    t: &'static Text,
    pending: &'a Pending<'a>,
    app_name: &'a str,
    scopes: Vec<&'a str>,
    redirect_host: String,
}

#[derive(Template)]
#[template(path = "signin/passkey.html")]
struct PasskeyLogin<'a> {
    title: &'static str,
    t: &'static Text,
    pending: &'a Pending<'a>,
    app_name: &'a str,
    passkey: PasskeyButton,
    error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "signin/second_factor.html")]
struct SecondFactor<'a> {
    title: &'static str,
    t: &'static Text,
    pending: &'a Pending<'a>,
    app_name: &'a str,
    /// The person has an authenticator app: the code form.
    totp: bool,
    /// The person has passkeys: the button, with a ceremony for them.
    passkey: Option<PasskeyButton>,
    error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "signin/enroll.html")]
struct Enroll<'a> {
    title: &'static str,
    t: &'static Text,
    pending: &'a Pending<'a>,
    reason: &'a str,
    secret: &'a str,
    uri: &'a str,
    passkey: PasskeyButton,
    error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "signin/recovery_codes.html")]
struct RecoveryCodes<'a> {
    title: &'static str,
    t: &'static Text,
    pending: &'a Pending<'a>,
    codes: &'a [String],
}

impl<'a> SigninPage<'a> {
    /// The page of the pending request `id` (with its CSRF token) for `req`.
    pub fn of(
        id: &'a str,
        csrf: &'a str,
        app: &'a App,
        req: &'a crate::oauth::authorize::AuthorizationRequest,
    ) -> Self {
        SigninPage {
            pending: Pending { id, csrf },
            app,
            redirect_uri: &req.redirect_uri,
            locale: Locale::negotiate(req.ui_locales.as_deref()),
        }
    }

    /// The words of the page's language (errors shown on it too).
    pub fn text(&self) -> &'static Text {
        self.locale.text()
    }

    fn render(&self, status: StatusCode, page: &impl Template) -> Response {
        render(status, page, Policy::SignIn { redirect_uri: self.redirect_uri, passkey: false })
    }

    /// A page with the passkey button: its script is allowed too.
    fn render_with_passkey(&self, status: StatusCode, page: &impl Template) -> Response {
        render(status, page, Policy::SignIn { redirect_uri: self.redirect_uri, passkey: true })
    }

    /// Signing in with a passkey alone; `options` are of an assertion started for this request.
    pub fn passkey_login(&self, options: String, error: Option<&str>, status: StatusCode) -> Response {
        let t = self.text();
        let passkey = PasskeyButton { mode: "get", options, label: t.use_a_passkey };
        let page = PasskeyLogin {
            title: t.title_passkey,
            t,
            pending: &self.pending,
            app_name: &self.app.name,
            passkey,
            error,
        };
        self.render_with_passkey(status, &page)
    }

    /// The login form, with the email kept and the reason a try failed.
    pub fn login(&self, email: &str, error: Option<&str>, status: StatusCode) -> Response {
        let t = self.text();
        let page = Login { title: t.title_sign_in, t, pending: &self.pending, app_name: &self.app.name, email, error };
        self.render(status, &page)
    }

    /// On to the person's organisation's provider (federation), which the login form's
    /// answer cannot redirect to (see `upstream.html`).
    pub fn to_upstream(&self, url: &str) -> Response {
        let t = self.text();
        let page = Upstream { title: t.title_upstream, t, app_name: &self.app.name, url };
        self.render(StatusCode::OK, &page)
    }

    /// The person is a user of several tenants: which one signs in (the first is chosen).
    pub fn choose_tenant(&self, tenants: &[Tenant]) -> Response {
        let t = self.text();
        let page = ChooseTenant { title: t.title_tenant, t, pending: &self.pending, app_name: &self.app.name, tenants };
        self.render(StatusCode::OK, &page)
    }

    /// The tenant has not approved the app, and the person administers it.
    pub fn approve(&self, tenant: &Tenant) -> Response {
        let t = self.text();
        let page = Approve {
            title: t.title_approve,
            t,
            pending: &self.pending,
            app_name: &self.app.name,
            tenant,
            entitlements: self.app.active_entitlements().collect(),
        };
        self.render(StatusCode::OK, &page)
    }

    /// The person's second factor: the code of their authenticator app (or a recovery code),
    /// and their passkey when `passkey` carries the options of an assertion started for them.
    pub fn second_factor(
        &self,
        totp: bool,
        passkey: Option<String>,
        error: Option<&str>,
        status: StatusCode,
    ) -> Response {
        let with_passkey = passkey.is_some();
        let t = self.text();
        let passkey = passkey.map(|options| PasskeyButton { mode: "get", options, label: t.use_a_passkey });
        let title = if totp { t.title_code } else { t.title_use_passkey };
        let page = SecondFactor { title, t, pending: &self.pending, app_name: &self.app.name, totp, passkey, error };
        if with_passkey {
            self.render_with_passkey(status, &page)
        } else {
            self.render(status, &page)
        }
    }

    /// A second factor is required and the person has none: set one up now, an authenticator
    /// app (`enrolment`) or a passkey (`passkey_options`, of a registration started for them).
    pub fn enroll(
        &self,
        enrolment: &Enrolment,
        passkey_options: String,
        reason: &str,
        error: Option<&str>,
        status: StatusCode,
    ) -> Response {
        let t = self.text();
        let page = Enroll {
            title: t.title_enroll,
            t,
            pending: &self.pending,
            reason,
            secret: &enrolment.secret,
            uri: &enrolment.uri,
            passkey: PasskeyButton { mode: "create", options: passkey_options, label: t.create_passkey },
            error,
        };
        self.render_with_passkey(status, &page)
    }

    /// The recovery codes of a second factor just set up, shown once.
    pub fn recovery_codes(&self, codes: &[String]) -> Response {
        let t = self.text();
        let page = RecoveryCodes { title: t.title_recovery, t, pending: &self.pending, codes };
        self.render(StatusCode::OK, &page)
    }

    /// The person has not yet allowed these scopes.
    pub fn consent(&self, scope: &[String]) -> Response {
        let t = self.text();
        let page = Consent {
            title: t.title_consent,
            t,
            pending: &self.pending,
            app_name: &self.app.name,
            scopes: scope.iter().map(|s| t.scope(s)).collect(),
            redirect_host: redirect_host(self.redirect_uri),
        };
        self.render(StatusCode::OK, &page)
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
