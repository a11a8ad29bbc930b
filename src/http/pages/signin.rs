//! The pages of a pending sign-in (`templates/signin/`): login, the second factor (and setting
//! one up), tenant choice, the tenant administrator's approval, and consent. Each names the app, carries the pending request and
//! its CSRF token in hidden fields, and posts to `/signin`.

use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;

use super::{render, Policy};
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
#[template(path = "signin/second_factor.html")]
struct SecondFactor<'a> {
    title: &'static str,
    pending: &'a Pending<'a>,
    app_name: &'a str,
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
        render(status, page, Policy::SignIn { redirect_uri: self.redirect_uri })
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

    /// The code of the person's second factor (or a recovery code).
    pub fn second_factor(&self, error: Option<&str>, status: StatusCode) -> Response {
        let page = SecondFactor { title: "Enter your code", pending: &self.pending, app_name: &self.app.name, error };
        self.render(status, &page)
    }

    /// A second factor is required and the person has none: set one up now.
    pub fn enroll(&self, enrolment: &Enrolment, reason: &str, error: Option<&str>) -> Response {
        let page = Enroll {
            title: "Set up a second factor",
            pending: &self.pending,
            reason,
            secret: &enrolment.secret,
            uri: &enrolment.uri,
            error,
        };
        self.render(StatusCode::OK, &page)
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
