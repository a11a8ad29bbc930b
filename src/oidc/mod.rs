//! OpenID Connect Core on top of `oauth`: ID tokens and the user claims they share with
//! userinfo.

pub mod id_token;
pub mod registration;
