//! `PageError`: how a page handler refuses or fails. It renders as the error page with the
//! status that fits, as a portal page that keeps the navigation bar, or as the way to the
//! portal's login. Protocol errors (JSON, redirects to the app) travel elsewhere (`respond`).

use std::borrow::Cow;

use askama::Template;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use super::{render, Policy};
use crate::http::portal::Nav;
use crate::paths;

#[derive(Debug)]
pub enum PageError {
    /// The error page: a sentence the person can act on, never an internal. `retry_after`
    /// (seconds) goes with 429.
    Shown { status: StatusCode, message: Cow<'static, str>, retry_after: Option<u32> },
    /// A portal page that refuses the request (a forged form, another partner's app): the
    /// navigation bar stays, so the person can go on from there.
    Refused { status: StatusCode, title: &'static str, message: &'static str, nav: Box<Nav> },
    /// Nobody is signed in to the portal: its login page, and then back to `next`.
    SignIn { next: Option<String> },
    /// Signed in, but a second factor is needed first: its page, and then back to `next`.
    SecondFactor { next: String },
}

impl PageError {
    pub fn new(status: StatusCode, message: impl Into<Cow<'static, str>>) -> Self {
        PageError::Shown { status, message: message.into(), retry_after: None }
    }

    pub fn bad_request(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn forbidden(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }

    pub fn not_found(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// 429: the person is asked to wait, and `Retry-After` says how long.
    pub fn too_many(message: &'static str, retry_after: u32) -> Self {
        PageError::Shown {
            status: StatusCode::TOO_MANY_REQUESTS,
            message: message.into(),
            retry_after: Some(retry_after),
        }
    }

    pub fn refused(nav: Nav, title: &'static str, message: &'static str) -> Self {
        PageError::Refused { status: StatusCode::FORBIDDEN, title, message, nav: Box::new(nav) }
    }

    fn unavailable() -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "The service is temporarily unavailable. Please try again shortly.")
    }

    fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong on our side. Please try again.")
    }
}

/// A domain error as a page: what the person can fix is said; internals are only logged.
impl From<crate::error::Error> for PageError {
    fn from(e: crate::error::Error) -> Self {
        use crate::error::Error;
        match e {
            Error::Invalid { .. } => Self::bad_request(e.to_string()),
            Error::NotFound(_) => Self::not_found(format!("Not found: {e}.")),
            Error::Conflict(_) => Self::new(StatusCode::CONFLICT, e.to_string()),
            Error::Unavailable(cause) => {
                crate::store::log_unavailable(&cause);
                Self::unavailable()
            }
            Error::Internal(cause) => {
                tracing::error!(error = %cause, "portal request failed");
                Self::internal()
            }
        }
    }
}

impl From<sqlx::Error> for PageError {
    fn from(e: sqlx::Error) -> Self {
        crate::error::Error::from(e).into()
    }
}

/// A sign-in step that failed on our side, once nothing can go back to the app.
impl From<crate::oauth::ProtocolError> for PageError {
    fn from(e: crate::oauth::ProtocolError) -> Self {
        match e {
            crate::oauth::ProtocolError::Unavailable(cause) => {
                crate::store::log_unavailable(&cause);
                Self::unavailable()
            }
            other => {
                tracing::error!(error = %other, "sign-in step failed");
                Self::internal()
            }
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'static str,
    message: &'a str,
}

#[derive(Template)]
#[template(path = "portal/refused.html")]
struct RefusedPage<'a> {
    title: &'static str,
    nav: &'a Nav,
    message: &'static str,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            PageError::Shown { status, message, retry_after } => {
                let page = ErrorPage { title: "Something is not right", message: &message };
                let mut res = render(status, &page, Policy::Own);
                if let Some(secs) = retry_after {
                    res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
                }
                res
            }
            PageError::Refused { status, title, message, nav } => {
                render(status, &RefusedPage { title, nav: &nav, message }, Policy::Own)
            }
            PageError::SignIn { next: Some(next) } => {
                let next = form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>();
                Redirect::to(&format!("{}?next={next}", paths::PORTAL_LOGIN)).into_response()
            }
            PageError::SignIn { next: None } => Redirect::to(paths::PORTAL_LOGIN).into_response(),
            PageError::SecondFactor { next } => {
                let next = form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>();
                Redirect::to(&format!("{}?next={next}", paths::PORTAL_SECOND_FACTOR)).into_response()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_page_escapes_its_message() {
        let html =
            ErrorPage { title: "Something is not right", message: "<script>\"a\"&'b'</script>" }.render().unwrap();
        assert!(html.contains("&#60;script&#62;&#34;a&#34;&#38;&#39;b&#39;&#60;/script&#62;"), "{html}");
        assert!(!html.contains("<script>"));
    }
}
