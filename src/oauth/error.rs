//! Errors a client may see, shaped as RFC 6749 §5.2 (also RFC 6750 §3.1, RFC 7591 §3.2.2,
//! OIDC Core §3.1.2.6). The endpoint decides the status and the channel (`http::respond`).

use std::borrow::Cow;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidScope,
    AccessDenied,
    UnsupportedResponseType,
    InvalidToken,
    InsufficientScope,
    LoginRequired,
    ConsentRequired,
    InteractionRequired,
    AccountSelectionRequired,
    RequestNotSupported,
    RequestUriNotSupported,
    /// OIDC Core §3.1.2.6, RFC 9101 §6.3: the request object is invalid.
    InvalidRequestObject,
    /// RFC 9449 §5: the DPoP proof is invalid.
    InvalidDpopProof,
    /// RFC 9449 §8: send the proof again with the nonce in the `DPoP-Nonce` header.
    UseDpopNonce,
    /// RFC 8628 §3.5: the person has not finished on the other device yet.
    AuthorizationPending,
    /// RFC 8628 §3.5: polling faster than the interval; it grew by 5 seconds.
    SlowDown,
    /// RFC 8628 §3.5: the device code expired; start again.
    ExpiredToken,
    RegistrationNotSupported,
    InvalidRedirectUri,
    InvalidClientMetadata,
    /// RFC 8707 §2: the requested resource is not one the client may ask for.
    InvalidTarget,
    NotFound,
    MethodNotAllowed,
    ServerError,
    TemporarilyUnavailable,
}

impl ErrorCode {
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::UnsupportedResponseType => "unsupported_response_type",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::InsufficientScope => "insufficient_scope",
            ErrorCode::LoginRequired => "login_required",
            ErrorCode::ConsentRequired => "consent_required",
            ErrorCode::InteractionRequired => "interaction_required",
            ErrorCode::AccountSelectionRequired => "account_selection_required",
            ErrorCode::RequestNotSupported => "request_not_supported",
            ErrorCode::RequestUriNotSupported => "request_uri_not_supported",
            ErrorCode::InvalidRequestObject => "invalid_request_object",
            ErrorCode::InvalidDpopProof => "invalid_dpop_proof",
            ErrorCode::UseDpopNonce => "use_dpop_nonce",
            ErrorCode::AuthorizationPending => "authorization_pending",
            ErrorCode::SlowDown => "slow_down",
            ErrorCode::ExpiredToken => "expired_token",
            ErrorCode::RegistrationNotSupported => "registration_not_supported",
            ErrorCode::InvalidRedirectUri => "invalid_redirect_uri",
            ErrorCode::InvalidClientMetadata => "invalid_client_metadata",
            ErrorCode::InvalidTarget => "invalid_target",
            // Not OAuth codes, but the same JSON shape keeps every error body uniform.
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::ServerError => "server_error",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
        }
    }
}

/// An error with the spec's code and a sentence that is safe to show: no secrets, no internals.
#[derive(Debug, Clone, Serialize)]
pub struct OAuthError {
    #[serde(rename = "error", serialize_with = "code_str")]
    pub code: ErrorCode,
    #[serde(rename = "error_description")]
    pub description: Cow<'static, str>,
}

fn code_str<S: serde::Serializer>(code: &ErrorCode, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(code.as_str())
}

impl OAuthError {
    /// The description keeps only the characters RFC 6749 §5.2 allows in `error_description`
    /// (%x20-21 / %x23-5B / %x5D-7E); anything else becomes a space.
    pub fn new(code: ErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        let description = description.into();
        let allowed = |c: char| matches!(c as u32, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E);
        let description = if description.chars().all(allowed) {
            description
        } else {
            let mut clean = String::with_capacity(description.len());
            for c in description.chars() {
                match c {
                    '§' => clean.push_str("section "),
                    c if allowed(c) => clean.push(c),
                    _ => clean.push(' '),
                }
            }
            Cow::Owned(clean)
        };
        OAuthError { code, description }
    }

    pub fn invalid_request(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidRequest, d)
    }

    pub fn server_error() -> Self {
        Self::new(ErrorCode::ServerError, "the server could not complete the request")
    }

    pub fn temporarily_unavailable() -> Self {
        Self::new(ErrorCode::TemporarilyUnavailable, "the service is temporarily unavailable; retry shortly")
    }
}

impl std::fmt::Display for OAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.description)
    }
}

/// What a protocol step can fail with: an error the client may see, the database being
/// unavailable (503), or an internal fault (logged with its cause; the client sees
/// `server_error`).
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error("{0}")]
    OAuth(OAuthError),
    #[error("the database is unavailable")]
    Unavailable(#[source] sqlx::Error),
    #[error("internal error: {0:#}")]
    Internal(anyhow::Error),
}

impl ProtocolError {
    /// The database (or something it waits for) is out: a retry now would only wait again.
    pub fn is_outage(&self) -> bool {
        match self {
            ProtocolError::Unavailable(_) => true,
            ProtocolError::OAuth(e) => e.code == ErrorCode::TemporarilyUnavailable,
            ProtocolError::Internal(_) => false,
        }
    }
}

impl From<OAuthError> for ProtocolError {
    fn from(e: OAuthError) -> Self {
        ProtocolError::OAuth(e)
    }
}

impl From<crate::error::Error> for ProtocolError {
    fn from(e: crate::error::Error) -> Self {
        match e {
            crate::error::Error::Unavailable(e) => ProtocolError::Unavailable(e),
            crate::error::Error::Internal(e) => ProtocolError::Internal(e),
            // Domain refusals reaching a protocol step are the server's own inconsistency.
            other => ProtocolError::Internal(anyhow::anyhow!("{other}")),
        }
    }
}

impl From<sqlx::Error> for ProtocolError {
    fn from(e: sqlx::Error) -> Self {
        crate::error::Error::from(e).into()
    }
}

impl From<anyhow::Error> for ProtocolError {
    fn from(e: anyhow::Error) -> Self {
        ProtocolError::Internal(e)
    }
}

/// One constructor per RFC code, so call sites read like the spec.
impl OAuthError {
    pub fn invalid_client(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidClient, d)
    }
    pub fn invalid_grant(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidGrant, d)
    }
    pub fn unauthorized_client(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::UnauthorizedClient, d)
    }
    pub fn unsupported_grant_type(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::UnsupportedGrantType, d)
    }
    pub fn invalid_scope(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidScope, d)
    }
    pub fn invalid_target(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidTarget, d)
    }
}
