//! OpenID Connect Core: ID tokens and the user claims they share with userinfo. The token
//! grants in `oauth` issue them, so this module sits below `oauth` and knows nothing of it.

pub mod claims;
pub mod id_token;
pub mod logout_token;
