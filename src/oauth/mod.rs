//! RFC 6749 and its extensions: the protocol vocabulary shared by every endpoint.
//! Nothing in here knows about axum.

pub mod authorize;
pub mod client_auth;
pub mod error;
pub mod flow;
pub mod grant;
pub mod grants;
pub mod introspect;
pub mod jws;
pub mod params;
pub mod revoke;
pub mod token;
pub mod tokens;

pub use error::{Error, ErrorCode, OAuthError};
pub use grant::GrantType;
