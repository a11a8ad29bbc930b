//! The settings file and environment as read, before validation: every section a struct,
//! unknown keys refused.

use serde::Deserialize;

/// Settings as written in the file or the environment, before validation.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub listen: Option<String>,
    pub issuer: Option<String>,
    pub database_url: Option<String>,
    pub keys_dir: Option<String>,
    pub log_format: Option<String>,
    #[serde(default)]
    pub database: RawDatabase,
    #[serde(default)]
    pub keys: RawKeys,
    #[serde(default)]
    pub tokens: RawTokens,
    #[serde(default)]
    pub superid: RawSuperId,
    #[serde(default)]
    pub registration: RawRegistration,
    #[serde(default)]
    pub outbound: RawOutbound,
    #[serde(default)]
    pub network: RawNetwork,
    #[serde(default)]
    pub audit: RawAudit,
    #[serde(default)]
    pub pruning: RawPruning,
    #[serde(default)]
    pub authorize: RawAuthorize,
    #[serde(default)]
    pub mail: RawMail,
    #[serde(default)]
    pub tenants: RawTenants,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTenants {
    /// Who must use a second factor in a tenant created without saying: off, admins, everyone.
    pub default_mfa_policy: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMail {
    /// `smtp://user:password@host:587?tls=required`, `smtps://…:465`; unset: the outbox folder.
    pub smtp_url: Option<String>,
    pub from: Option<String>,
    pub outbox_dir: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNetwork {
    pub trusted_proxies: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAudit {
    pub retention_days: Option<i64>,
    pub log: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPruning {
    pub interval_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAuthorize {
    pub max_pending_per_address: Option<i64>,
    pub require_pushed_requests: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRegistration {
    pub mode: Option<String>,
    pub allow_http_loopback_redirects: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOutbound {
    pub allow_private_networks: Option<bool>,
    pub dns_server: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSuperId {
    pub webapi_url: Option<String>,
    pub netserver_url: Option<String>,
    pub system_user_issuer: Option<String>,
    pub timestamp_window_secs: Option<i64>,
    pub system_user_token_ttl_secs: Option<i64>,
    pub ticket_audience: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDatabase {
    pub acquire_timeout_secs: Option<u64>,
    pub max_connections: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKeys {
    /// `files` (default) or `database`.
    pub store: Option<String>,
    pub retired_ttl_secs: Option<i64>,
    pub algorithms: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTokens {
    pub access_token_ttl_secs: Option<i64>,
    pub dpop_require_nonce: Option<bool>,
    pub default_audience: Option<String>,
    pub code_ttl_secs: Option<i64>,
    pub refresh_grace_secs: Option<i64>,
}
