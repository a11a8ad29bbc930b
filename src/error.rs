//! The error every domain operation (registry, tenants, keys) returns.
//!
//! Messages are written for the person who sent the input: they say what is wrong and why,
//! and never carry a secret or a database internal. Causes are kept for the log.

use std::borrow::Cow;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input is wrong; `field` names it (a form field, a CLI flag, a metadata member).
    #[error("{field}: {message}")]
    Invalid { field: &'static str, message: Cow<'static, str> },
    #[error("{0} not found")]
    NotFound(Cow<'static, str>),
    /// The request is well formed but clashes with what is stored (a duplicate, a limit).
    #[error("{0}")]
    Conflict(Cow<'static, str>),
    /// The database could not be reached in time; the caller should answer 503.
    #[error("the database is unavailable")]
    Unavailable(#[source] sqlx::Error),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn invalid(field: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Error::Invalid { field, message: message.into() }
    }

    pub fn not_found(what: impl Into<Cow<'static, str>>) -> Self {
        Error::NotFound(what.into())
    }

    pub fn conflict(message: impl Into<Cow<'static, str>>) -> Self {
        Error::Conflict(message.into())
    }
}

impl From<anyhow::Error> for Error {
    fn from(e: anyhow::Error) -> Self {
        Error::Internal(e)
    }
}
