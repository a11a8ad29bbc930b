//! The pages of a pending sign-in (`templates/signin/`): login (with a password or a passkey),
//! the second factor (and setting one up), tenant choice, the tenant administrator's approval, and consent. Each names the app, carries the pending request and
//! its CSRF token in hidden fields, and posts to `/signin`.

use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;

use super::{render, PasskeyButton, Policy};
use crate::apps::{App, Entitlement};
use crate::tenants::factors::Enrolment;
use crate::tenants::Tenant;

/// The pending request a page's form continues.
pub struct Pending<'a> {
    pub id: &'a str,
    pub csrf: &'a str,
}

/// One step's page of a pending request for `app`, which ends at `redirect_uri`.
pub struct SigninPage<'a> {
    pub pending: Pending<'a>,
    pub app: &'a App,
    pub redirect_uri: &'a str,
}

#[derive(Template)]
#[template(path = "signin/login.html")]
struct Login<'a> {
    title: &'static str,
    pending: &'a Pending<'a>,
    app_name: &'a str,
    email: &'a str,
    error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "signin/tenant.html")]
struct ChooseTenant<'a> {
    title: &'static str,
    pending: &'a Pending<'a>,
    app_name: &'a str,
    tenants: &'a [Tenant],
}

#[derive(Template)]
#[template(path = "signin/approve.html")]
struct Approve<'a> {
    title: &'static str,
    pending: &'a Pending<'a>,
    app_name: &'a str,
    tenant: &'a Tenant,
    entitlements: Vec<Entitlement>,
}

#[derive(Template)]
#[template(path = "signin/consent.html")]
struct Consent<'a> {
    title: &'static str,
    pending: &'a Pending<'a>,
    app_name: &'a str,
    scopes: Vec<&'a str>,
    redirect_host: String,
}

#[derive(Template)]
#[template(path = "signin/passkey.html")]
struct PasskeyLogin<'a> {
    title: &'static str,
    pending: &'a Pending<'a>,
    app_name: &'a str,
    passkey: PasskeyButton,
    error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "signin/second_factor.html")]
struct SecondFactor<'a> {
    title: &'static str,
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
    pending: &'a Pending<'a>,
    codes: &'a [String],
}

impl SigninPage<'_> {
    fn render(&self, status: StatusCode, page: &impl Template) -> Response {
        render(status, page, Policy::SignIn { redirect_uri: self.redirect_uri, passkey: false })
    }

    /// A page with the passkey button: its script is allowed too.
    fn render_with_passkey(&self, status: StatusCode, page: &impl Template) -> Response {
        render(status, page, Policy::SignIn { redirect_uri: self.redirect_uri, passkey: true })
    }

    /// Signing in with a passkey alone; `options` are of an assertion started for this request.
    pub fn passkey_login(&self, options: String, error: Option<&str>, status: StatusCode) -> Response {
        let passkey = PasskeyButton { mode: "get", options, label: "Use a passkey" };
        let page = PasskeyLogin {
            title: "Sign in with a passkey",
            pending: &self.pending,
            app_name: &self.app.name,
            passkey,
            error,
        };
        self.render_with_passkey(status, &page)
    }

    /// The login form, with the email kept and the reason a try failed.
    pub fn login(&self, email: &str, error: Option<&str>, status: StatusCode) -> Response {
        let page = Login { title: "Sign in", pending: &self.pending, app_name: &self.app.name, email, error };
        self.render(status, &page)
    }

    /// The person is a user of several tenants: which one signs in (the first is chosen).
    pub fn choose_tenant(&self, tenants: &[Tenant]) -> Response {
        let page = ChooseTenant { title: "Choose a tenant", pending: &self.pending, app_name: &self.app.name, tenants };
        self.render(StatusCode::OK, &page)
    }

    /// The tenant has not approved the app, and the person administers it.
    pub fn approve(&self, tenant: &Tenant) -> Response {
        let page = Approve {
            title: "Approve this app for your tenant",
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
        let passkey = passkey.map(|options| PasskeyButton { mode: "get", options, label: "Use a passkey" });
        let title = if totp { "Enter your code" } else { "Use your passkey" };
        let page = SecondFactor { title, pending: &self.pending, app_name: &self.app.name, totp, passkey, error };
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
        let page = Enroll {
            title: "Set up a second factor",
            pending: &self.pending,
            reason,
            secret: &enrolment.secret,
            uri: &enrolment.uri,
            passkey: PasskeyButton { mode: "create", options: passkey_options, label: "Create a passkey" },
            error,
        };
        self.render_with_passkey(status, &page)
    }

    /// The recovery codes of a second factor just set up, shown once.
    pub fn recovery_codes(&self, codes: &[String]) -> Response {
        let page = RecoveryCodes { title: "Save your recovery codes", pending: &self.pending, codes };
        self.render(StatusCode::OK, &page)
    }

    /// The person has not yet allowed these scopes.
    pub fn consent(&self, scope: &[String]) -> Response {
        let page = Consent {
            title: "Allow access?",
            pending: &self.pending,
            app_name: &self.app.name,
            scopes: scope.iter().map(|s| scope_label(s)).collect(),
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

fn scope_label(scope: &str) -> &str {
    match scope {
        "openid" => "know who you are",
        "profile" => "see your name",
        "email" => "see your email address",
        "offline_access" => "stay connected when you are away",
        other => other,
    }
}
