//! Closed vocabularies: the protocol's fixed word lists (grant types, client authentication
//! methods) and the macro the domain's own lists are written with. They depend on nothing but
//! `error`, so every layer may name these words.

/// Defines a string-backed enum with `ALL`, `as_str` and `parse` (which names the choices on error).
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident, $field:literal { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(s: &str) -> Result<Self, $crate::error::Error> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s).ok_or_else(|| {
                    let choices: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
                    $crate::error::Error::invalid($field, format!("'{}' is not one of: {}", s, choices.join(", ")))
                })
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}
pub(crate) use string_enum;

/// The grant types Gatehouse implements. Discovery advertises exactly `GrantType::SERVED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
    /// RFC 7523 §2.1.
    JwtBearer,
    /// RFC 8693 §2.1: delegation, an app acting for a person with a token another app holds.
    TokenExchange,
    /// RFC 8628 §3.4: a device without a browser, signed in on another one.
    DeviceCode,
}

impl GrantType {
    /// Every grant an app can be configured with.
    pub const ALL: [GrantType; 6] = [
        GrantType::AuthorizationCode,
        GrantType::RefreshToken,
        GrantType::ClientCredentials,
        GrantType::JwtBearer,
        GrantType::TokenExchange,
        GrantType::DeviceCode,
    ];

    /// The grants the token endpoint serves today; discovery advertises exactly these.
    pub const SERVED: &'static [GrantType] = &GrantType::ALL;

    pub const fn as_str(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::ClientCredentials => "client_credentials",
            GrantType::JwtBearer => "urn:ietf:params:oauth:grant-type:jwt-bearer",
            GrantType::TokenExchange => "urn:ietf:params:oauth:grant-type:token-exchange",
            GrantType::DeviceCode => "urn:ietf:params:oauth:grant-type:device_code",
        }
    }

    pub fn from_param(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.as_str() == s)
    }
}

/// Client authentication methods at the token endpoint (RFC 6749 §2.3, RFC 7523 §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    SecretBasic,
    SecretPost,
    PrivateKeyJwt,
    None,
}

impl AuthMethod {
    pub const ALL: [AuthMethod; 4] =
        [AuthMethod::SecretBasic, AuthMethod::SecretPost, AuthMethod::PrivateKeyJwt, AuthMethod::None];

    pub const fn as_str(self) -> &'static str {
        match self {
            AuthMethod::SecretBasic => "client_secret_basic",
            AuthMethod::SecretPost => "client_secret_post",
            AuthMethod::PrivateKeyJwt => "private_key_jwt",
            AuthMethod::None => "none",
        }
    }
}
