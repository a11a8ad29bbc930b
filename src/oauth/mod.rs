//! RFC 6749 and its extensions: the protocol vocabulary shared by every endpoint.
//! Nothing in here knows about axum.

pub mod error;
pub mod grant;

pub use error::{ErrorCode, OAuthError};
pub use grant::GrantType;
