//! An app as every layer above the store sees it, and the inputs and outputs of the
//! registry's operations (what a wizard submits, what a created app or secret shows once).

use serde::Serialize;

use super::*;
use crate::error::{Error, Result};
use crate::secret::Secret;
use crate::store::apps::{AppRecord, CertificateRow};
use crate::vocab::GrantType;

/// A registered app as every layer above the store sees it.
#[derive(Debug, Clone, Serialize)]
pub struct App {
    pub id: String,
    pub client_id: String,
    pub partner_id: String,
    pub name: String,
    pub template: Template,
    pub kind: AppKind,
    pub custom_tenant_id: Option<String>,
    pub access: Access,
    pub client_type: ClientType,
    #[serde(serialize_with = "grant_strs")]
    pub grant_types: Vec<GrantType>,
    pub loopback_any_port: bool,
    pub require_pkce: bool,
    pub allow_plain_pkce: bool,
    /// Authorization requests only through PAR (RFC 9126 §6).
    pub require_par: bool,
    /// Every token request carries a DPoP proof (RFC 9449 §5.2).
    pub require_dpop: bool,
    pub token_format: TokenFormat,
    pub access_token_ttl: Option<i64>,
    pub refresh_mode: RefreshMode,
    /// Seconds in which a rotated-out refresh token may be retried and get the same successor
    /// (an explicit opt-in; `None` is the server's default, strict one-time use unless set).
    pub refresh_grace_secs: Option<i64>,
    /// Where the client publishes its public keys, fetched and cached (RFC 7591 §2).
    pub jwks_uri: Option<String>,
    /// The one client authentication method the app may use, when it registered one
    /// (RFC 7591 `token_endpoint_auth_method`); `None` allows any confidential method.
    pub token_auth_method: Option<String>,
    pub signing_alg: String,
    pub technical_contact: Option<String>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub cors_origins: Vec<String>,
    pub resources: Vec<String>,
    /// Where the app is told that a session it signed in with has ended (OIDC Back-Channel
    /// Logout 1.0 `backchannel_logout_uri`); at most one.
    pub backchannel_logout_uris: Vec<String>,
    pub entitlements: Vec<AppEntitlement>,
    pub created_at: i64,
    pub updated_at: i64,
    pub revision: i64,
}

fn grant_strs<S: serde::Serializer>(g: &[GrantType], s: S) -> std::result::Result<S::Ok, S::Error> {
    s.collect_seq(g.iter().map(|g| g.as_str()))
}

#[derive(Debug, Clone, Serialize)]
pub struct AppEntitlement {
    pub entitlement: Entitlement,
    pub status: EntitlementStatus,
}

impl App {
    /// Does `requested` match one of the registered redirect URIs (exactly, or loopback on any
    /// port for native apps)?
    pub fn redirect_uri_matches(&self, requested: &str) -> bool {
        self.redirect_uris.iter().any(|r| redirect_uri::matches(r, requested, self.loopback_any_port))
    }

    pub fn uris(&self, kind: UriKind) -> &[String] {
        match kind {
            UriKind::Redirect => &self.redirect_uris,
            UriKind::PostLogout => &self.post_logout_redirect_uris,
            UriKind::Cors => &self.cors_origins,
            UriKind::Resource => &self.resources,
            UriKind::BackchannelLogout => &self.backchannel_logout_uris,
        }
    }

    pub fn allows_grant(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }

    /// Entitlements in force (approved, not pending).
    pub fn active_entitlements(&self) -> impl Iterator<Item = Entitlement> + '_ {
        self.entitlements.iter().filter(|e| e.status == EntitlementStatus::Active).map(|e| e.entitlement)
    }

    pub(super) fn from_record(r: AppRecord) -> Result<App> {
        let a = r.app;
        let list = |kind: UriKind| r.uris.iter().filter(|u| u.kind == kind.as_str()).map(|u| u.uri.clone()).collect();
        let grant_types = a
            .grant_types
            .split_whitespace()
            .map(|g| {
                GrantType::from_param(g)
                    .ok_or_else(|| Error::Internal(anyhow::anyhow!("stored grant type '{g}' is unknown")))
            })
            .collect::<Result<Vec<_>>>()?;
        let entitlements = r
            .entitlements
            .iter()
            .map(|e| {
                Ok(AppEntitlement {
                    entitlement: stored(Entitlement::parse(&e.entitlement))?,
                    status: stored(EntitlementStatus::parse(&e.status))?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(App {
            redirect_uris: list(UriKind::Redirect),
            post_logout_redirect_uris: list(UriKind::PostLogout),
            cors_origins: list(UriKind::Cors),
            resources: list(UriKind::Resource),
            backchannel_logout_uris: list(UriKind::BackchannelLogout),
            template: stored(Template::parse(&a.template))?,
            kind: stored(AppKind::parse(&a.kind))?,
            access: stored(Access::parse(&a.access))?,
            client_type: stored(ClientType::parse(&a.client_type))?,
            token_format: stored(TokenFormat::parse(&a.token_format))?,
            refresh_mode: stored(RefreshMode::parse(&a.refresh_mode))?,
            grant_types,
            entitlements,
            id: a.id,
            client_id: a.client_id,
            partner_id: a.partner_id,
            name: a.name,
            custom_tenant_id: a.custom_tenant_id,
            loopback_any_port: a.loopback_any_port,
            require_pkce: a.require_pkce,
            allow_plain_pkce: a.allow_plain_pkce,
            require_par: a.require_par,
            require_dpop: a.require_dpop,
            access_token_ttl: a.access_token_ttl,
            refresh_grace_secs: a.refresh_grace_secs,
            jwks_uri: a.jwks_uri,
            token_auth_method: a.token_auth_method,
            signing_alg: a.signing_alg,
            technical_contact: a.technical_contact,
            created_at: a.created_at,
            updated_at: a.updated_at,
            revision: a.revision,
        })
    }
}

/// What a partner asks for when creating an app.
#[derive(Debug, Clone)]
pub struct NewApp {
    pub partner_id: String,
    pub name: String,
    pub template: Template,
    pub redirect_uris: Vec<String>,
    pub access: Access,
    pub technical_contact: Option<String>,
    /// Restricted entitlements wait for approval; this is the partner's reason for them.
    pub justification: Option<String>,
}

/// Token settings to change; `None` leaves a setting as it is.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokenSettings<'a> {
    pub format: Option<TokenFormat>,
    pub signing_alg: Option<&'a str>,
    pub access_token_ttl: Option<i64>,
    pub refresh_mode: Option<RefreshMode>,
    /// The refresh grace period in seconds (0 to 120); a negative value clears it.
    pub refresh_grace_secs: Option<i64>,
    /// Whether PKCE is required; only a confidential app may make it optional (legacy).
    pub require_pkce: Option<bool>,
    /// Whether authorization requests must be pushed first (RFC 9126).
    pub require_par: Option<bool>,
    /// Whether every token request must carry a DPoP proof (RFC 9449).
    pub require_dpop: Option<bool>,
}

/// Defaults of a template that a dynamic registration replaces.
#[derive(Debug, Clone, Default)]
pub struct AppOverrides {
    pub grant_types: Option<Vec<GrantType>>,
    /// RFC 9126 §6 `require_pushed_authorization_requests`.
    pub require_par: bool,
    /// RFC 9449 §5.2 `dpop_bound_access_tokens`.
    pub require_dpop: bool,
    /// Where the client publishes its keys (dynamic registration, RFC 7591 §2).
    pub jwks_uri: Option<String>,
    /// The one authentication method the client registered; with `private_key_jwt` it gets
    /// no client secret.
    pub token_auth_method: Option<String>,
    pub client_type: Option<ClientType>,
    pub post_logout_redirect_uris: Vec<String>,
    /// OIDC Back-Channel Logout 1.0 `backchannel_logout_uri`.
    pub backchannel_logout_uri: Option<String>,
    pub signing_alg: Option<String>,
    /// The integration points chosen in the portal wizard instead of the template's.
    pub entitlements: Option<Vec<Entitlement>>,
    /// A custom app, made for this one tenant (its id).
    pub custom_tenant_id: Option<String>,
    /// The portal wizard's submission key: the same key never creates a second app.
    pub creation_key: Option<String>,
}

/// A client secret at the one moment it is visible.
#[derive(Debug, Serialize)]
pub struct IssuedSecret {
    pub id: String,
    #[serde(serialize_with = "expose_secret")]
    pub secret: Secret<String>,
    pub expires_at: Option<i64>,
}

fn expose_secret<S: serde::Serializer>(v: &Secret<String>, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(v.expose())
}

#[derive(Debug, Serialize)]
pub struct CreatedApp {
    pub app: App,
    /// None for public clients (native apps), which get no secret.
    pub client_secret: Option<IssuedSecret>,
}

/// A secret as listed: never its value.
#[derive(Debug, Clone, Serialize)]
pub struct SecretInfo {
    pub id: String,
    pub hint: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub active: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Certificate {
    pub id: String,
    /// The key's RFC 7638 thumbprint; JWS headers may name the key by it.
    pub kid: String,
    /// The `kid` the client gave the key; JWS headers may name the key by it too.
    pub client_kid: Option<String>,
    pub kty: String,
    pub jwk: serde_json::Value,
    pub format: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl From<CertificateRow> for Certificate {
    fn from(c: CertificateRow) -> Self {
        Certificate {
            jwk: serde_json::from_str(&c.jwk).unwrap_or_default(),
            id: c.id,
            kid: c.kid,
            client_kid: c.client_kid,
            kty: c.kty,
            format: c.source_format,
            created_at: c.created_at,
            expires_at: c.expires_at,
            revoked_at: c.revoked_at,
        }
    }
}
