//! RFC 6749 and its extensions: the protocol vocabulary shared by every endpoint.
//! Nothing in here knows about axum.

pub mod authorize;
pub mod client_auth;
pub mod credentials;
pub mod device;
pub mod dpop;
pub mod error;
pub mod flow;
pub mod grants;
pub mod introspect;

pub mod par;
pub mod params;
pub mod registration;
pub mod request_object;
pub mod revoke;
pub mod token;
pub mod tokens;

pub use error::{ErrorCode, OAuthError, ProtocolError};
