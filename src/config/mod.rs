//! Configuration: a TOML file (`--config`), overridden by `GATEHOUSE_*` variables, overridden by
//! command-line flags. It is validated once at start; a wrong value stops start-up with a message
//! that names the setting.

mod raw;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use url::Url;

pub use raw::*;

/// Failed logins are counted within this window, in seconds; pruning forgets older ones.
pub const LOGIN_FAILURE_WINDOW: i64 = 15 * 60;

/// The validated settings every part of the server reads.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address the HTTP server binds (`listen`, `GATEHOUSE_LISTEN`).
    pub listen: SocketAddr,
    /// The issuer identifier: https, or http on a loopback host for development; no query,
    /// fragment or trailing slash (`issuer`, `GATEHOUSE_ISSUER`).
    pub issuer: String,
    /// `sqlite://path` or `postgres://…` (`database_url`, `GATEHOUSE_DATABASE_URL`).
    pub database_url: String,
    /// How long a request waits for a database connection before it gets a 503
    /// (`database.acquire_timeout_secs`, `GATEHOUSE_DB_ACQUIRE_TIMEOUT_SECS`).
    pub db_acquire_timeout: Duration,
    /// Most connections one instance opens (`database.max_connections`).
    pub db_max_connections: u32,
    /// Where private signing keys live.
    pub key_store: KeyStore,
    /// How long a retired key stays published in JWKS: at least the longest token lifetime
    /// (`keys.retired_ttl_secs`, default one day).
    pub retired_key_ttl: i64,
    /// Algorithms the server keeps keys for (`keys.algorithms`, default RS256 and ES256; RS256
    /// is always included because OIDC requires it).
    pub signing_algs: Vec<crate::jose::Alg>,
    /// `aud` of access tokens when the request names no resource (`tokens.default_audience`,
    /// default the issuer).
    pub default_audience: String,
    /// Default access-token lifetime in seconds (`tokens.access_token_ttl_secs`, default 3600).
    pub access_token_ttl: i64,
    /// Authorization-code lifetime in seconds (`tokens.code_ttl_secs`, default 300).
    pub code_ttl: i64,
    /// Seconds in which a retried refresh gets the same successor back
    /// (`tokens.refresh_grace_secs`, default 0: strict one-time use; apps may opt in per app).
    pub refresh_grace: i64,
    /// `text` or `json` (`log_format`, `GATEHOUSE_LOG_FORMAT`).
    pub log_format: LogFormat,
    /// SuperID `webapi_url` claim template; `{ctx}` becomes the tenant (`superid.webapi_url`).
    pub webapi_url: Option<String>,
    /// SuperID `netserver_url` claim template (`superid.netserver_url`).
    pub netserver_url: Option<String>,
    /// Dynamic client registration: `token` (an initial access token is required, the
    /// default), `open`, or `off` (`registration.mode`, `GATEHOUSE_REGISTRATION`).
    pub registration: RegistrationMode,
    /// Accept `http://` redirect URIs on loopback hosts (localhost, 127.0.0.1, [::1]) for web
    /// clients registered dynamically even when the issuer is https, as hosted providers do for
    /// development (`registration.allow_http_loopback_redirects`,
    /// `GATEHOUSE_ALLOW_HTTP_LOOPBACK_REDIRECTS`; off by default, warned about at start).
    pub allow_http_loopback_redirects: bool,
    /// Let the outbound client (`jwks_uri`) reach loopback and private addresses over plain http
    /// (`outbound.allow_private_networks`, `GATEHOUSE_OUTBOUND_ALLOW_PRIVATE_NETWORKS`; off by
    /// default: only public https URLs are fetched).
    pub outbound_allow_private: bool,
    /// The DNS server asked for the TXT records that prove a tenant's email domain
    /// (`outbound.dns_server`, `GATEHOUSE_OUTBOUND_DNS_SERVER`, as `ip:port`); the system's
    /// resolvers when unset.
    pub dns_server: Option<SocketAddr>,
    /// `iss` of system-user tokens (`superid.system_user_issuer`, default `SuperOffice AS`).
    pub system_user_issuer: String,
    /// How far a signed system token's timestamp may be from now, in seconds
    /// (`superid.timestamp_window_secs`, default 300).
    pub system_user_window: i64,
    /// Lifetime of a system-user token in seconds (`superid.system_user_token_ttl_secs`, default 600).
    pub system_user_ttl: i64,
    /// The client ID of the tenants' API, which may introspect any SuperID ticket
    /// (`superid.ticket_audience`, `GATEHOUSE_SUPERID_TICKET_AUDIENCE`; default none: only the
    /// app a ticket was issued to may introspect it).
    pub ticket_audience: Option<String>,
    /// Proxies and load balancers in front of the server, as CIDRs (`network.trusted_proxies`,
    /// `GATEHOUSE_TRUSTED_PROXIES` comma-separated; default none). Only when the connection
    /// comes from one of them is the client's address read from `X-Forwarded-For` (or, without
    /// it, `Forwarded`), walking the chain from the right past trusted hops. Each proxy must
    /// append the address it received the request from; the login throttle counts failures
    /// per client address, so without this everyone behind a proxy shares its address.
    pub trusted_proxies: Vec<Cidr>,
    /// How many days audit events are kept before pruning deletes them (`audit.retention_days`,
    /// `GATEHOUSE_AUDIT_RETENTION_DAYS`, default 365; 1 to 36500).
    pub audit_retention_days: i64,
    /// Where the audit trail is also written as JSON lines, one event per line, oldest first
    /// (`audit.log`, `GATEHOUSE_AUDIT_LOG`: `stdout`, or a file path to append to; default
    /// none). One instance at a time writes the whole trail of all instances.
    pub audit_log: Option<AuditLog>,
    /// How often expired rows are pruned, across all instances together: each period one
    /// instance takes the run (`pruning.interval_secs`, `GATEHOUSE_PRUNE_INTERVAL_SECS`, default
    /// 600; 10 to 86400).
    pub prune_interval: Duration,
    /// Most unexpired pending sign-ins one client address (an IPv4 address, or an IPv6 /64) may
    /// have; `GET /authorize` answers 429 beyond it (`authorize.max_pending_per_address`,
    /// `GATEHOUSE_MAX_PENDING_PER_ADDRESS`, default 500; 1 to 1000000).
    pub max_pending_per_address: i64,
    /// Every app must push its authorization requests first (RFC 9126 §5
    /// `require_pushed_authorization_requests`; `authorize.require_pushed_requests`,
    /// `GATEHOUSE_REQUIRE_PAR`; off by default, and each app may be required on its own).
    pub require_par: bool,
    /// DPoP proofs must carry a nonce we issued (RFC 9449 §8; `tokens.dpop_require_nonce`,
    /// `GATEHOUSE_DPOP_REQUIRE_NONCE`; off by default: proofs are then bound by time and jti).
    pub dpop_require_nonce: bool,
    /// How mail leaves (invitations, verification, password reset).
    pub mail: MailConfig,
    /// The second-factor policy of a tenant created without one: `off`, `admins` (the default)
    /// or `everyone` (`tenants::factors::Policy`).
    pub default_mfa_policy: String,
}

/// Where outbound mail goes, and who it is from.
#[derive(Debug, Clone)]
pub struct MailConfig {
    pub transport: MailTransport,
    /// The `From` mailbox, e.g. `Gatehouse <noreply@id.example.com>`.
    pub from: String,
}

#[derive(Debug, Clone)]
pub enum MailTransport {
    /// Each message is written to a file in this folder and its link is logged: the embedded
    /// default, which needs no mail server.
    Outbox(PathBuf),
    /// An SMTP relay URL (lettre's form: `smtp://`, `smtps://`, `?tls=required`); it may carry
    /// the relay's password, so it is never printed.
    Smtp(crate::secret::Secret<String>),
}

/// An address block such as `10.0.0.0/8` or `2001:db8::/32`; a bare address is one host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(text: &str) -> Option<Cidr> {
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a.parse::<IpAddr>().ok()?, Some(p.parse::<u8>().ok()?)),
            None => (text.parse::<IpAddr>().ok()?, None),
        };
        let bits = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(bits);
        (prefix <= bits).then(|| Cidr { network: mask(addr, prefix), prefix })
    }

    pub fn contains(&self, addr: IpAddr) -> bool {
        // A v4 client reaching a dual-stack listener shows up as ::ffff:a.b.c.d.
        let addr = addr.to_canonical();
        addr.is_ipv4() == self.network.is_ipv4() && mask(addr, self.prefix) == self.network
    }
}

fn mask(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let m = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4((u32::from(a) & m).into())
        }
        IpAddr::V6(a) => {
            let m = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6((u128::from(a) & m).into())
        }
    }
}

#[derive(Clone)]
pub enum KeyStore {
    /// The single-node default: one PKCS#8 PEM file per key under this folder, mode 0600.
    Files(PathBuf),
    /// For several instances: private keys AES-256-GCM encrypted in the database under a
    /// 32-byte key shared by every instance (`GATEHOUSE_KEY_ENCRYPTION_KEY`, base64).
    Database { encryption_key: crate::secret::Secret<[u8; 32]> },
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyStore::Files(dir) => write!(f, "Files({})", dir.display()),
            KeyStore::Database { .. } => f.write_str("Database { encryption_key: [redacted] }"),
        }
    }
}

/// Where the audit trail's JSON lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditLog {
    Stdout,
    /// Appended to; created if missing.
    File(PathBuf),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistrationMode {
    Token,
    Open,
    Off,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Values given on the command line; they win over file and environment.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub config_file: Option<PathBuf>,
    pub listen: Option<String>,
    pub issuer: Option<String>,
    pub database_url: Option<String>,
    pub keys_dir: Option<String>,
}

/// A setting that could not be used, with its name as the user wrote it.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {setting}: {message}")]
pub struct ConfigError {
    pub setting: String,
    pub message: String,
}

fn bad(setting: &str, message: impl Into<String>) -> ConfigError {
    ConfigError { setting: setting.to_string(), message: message.into() }
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// The longest access-token lifetime the server or an app may configure, in seconds.
pub const MAX_TOKEN_TTL: i64 = 86_400;
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/gatehouse.db";

impl Config {
    /// File, then environment, then flags. `env` is passed in so tests need not touch the process.
    pub fn load(overrides: &Overrides, env: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let mut raw = match &overrides.config_file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| bad("--config", format!("cannot read {}: {e}", path.display())))?;
                toml::from_str::<RawConfig>(&text)
                    .map_err(|e| bad("--config", format!("{}: {}", path.display(), e.message())))?
            }
            None => RawConfig::default(),
        };
        let set = |slot: &mut Option<String>, name: &str| {
            if let Some(v) = env(name) {
                *slot = Some(v);
            }
        };
        set(&mut raw.listen, "GATEHOUSE_LISTEN");
        set(&mut raw.issuer, "GATEHOUSE_ISSUER");
        set(&mut raw.database_url, "GATEHOUSE_DATABASE_URL");
        set(&mut raw.keys_dir, "GATEHOUSE_KEYS_DIR");
        set(&mut raw.log_format, "GATEHOUSE_LOG_FORMAT");
        set(&mut raw.keys.store, "GATEHOUSE_KEY_STORE");
        set(&mut raw.registration.mode, "GATEHOUSE_REGISTRATION");
        set(&mut raw.superid.webapi_url, "GATEHOUSE_SUPERID_WEBAPI_URL");
        set(&mut raw.superid.netserver_url, "GATEHOUSE_SUPERID_NETSERVER_URL");
        set(&mut raw.superid.ticket_audience, "GATEHOUSE_SUPERID_TICKET_AUDIENCE");
        if let Some(v) = env("GATEHOUSE_ALLOW_HTTP_LOOPBACK_REDIRECTS") {
            raw.registration.allow_http_loopback_redirects =
                Some(parse_bool("GATEHOUSE_ALLOW_HTTP_LOOPBACK_REDIRECTS", &v)?);
        }
        if let Some(v) = env("GATEHOUSE_OUTBOUND_ALLOW_PRIVATE_NETWORKS") {
            raw.outbound.allow_private_networks = Some(parse_bool("GATEHOUSE_OUTBOUND_ALLOW_PRIVATE_NETWORKS", &v)?);
        }
        set(&mut raw.outbound.dns_server, "GATEHOUSE_OUTBOUND_DNS_SERVER");
        if let Some(v) = env("GATEHOUSE_TRUSTED_PROXIES") {
            raw.network.trusted_proxies =
                Some(v.split(',').map(str::trim).filter(|p| !p.is_empty()).map(str::to_string).collect());
        }
        if let Some(v) = env("GATEHOUSE_DB_ACQUIRE_TIMEOUT_SECS") {
            raw.database.acquire_timeout_secs = Some(parse_num("GATEHOUSE_DB_ACQUIRE_TIMEOUT_SECS", &v)?);
        }
        if let Some(v) = env("GATEHOUSE_DB_MAX_CONNECTIONS") {
            raw.database.max_connections = Some(parse_num("GATEHOUSE_DB_MAX_CONNECTIONS", &v)?);
        }
        if let Some(v) = env("GATEHOUSE_AUDIT_RETENTION_DAYS") {
            raw.audit.retention_days = Some(parse_num("GATEHOUSE_AUDIT_RETENTION_DAYS", &v)?);
        }
        if let Some(v) = env("GATEHOUSE_AUDIT_LOG") {
            raw.audit.log = Some(v);
        }
        if let Some(v) = env("GATEHOUSE_PRUNE_INTERVAL_SECS") {
            raw.pruning.interval_secs = Some(parse_num("GATEHOUSE_PRUNE_INTERVAL_SECS", &v)?);
        }
        if let Some(v) = env("GATEHOUSE_MAX_PENDING_PER_ADDRESS") {
            raw.authorize.max_pending_per_address = Some(parse_num("GATEHOUSE_MAX_PENDING_PER_ADDRESS", &v)?);
        }
        if let Some(v) = env("GATEHOUSE_REQUIRE_PAR") {
            raw.authorize.require_pushed_requests = Some(parse_bool("GATEHOUSE_REQUIRE_PAR", &v)?);
        }
        if let Some(v) = env("GATEHOUSE_DPOP_REQUIRE_NONCE") {
            raw.tokens.dpop_require_nonce = Some(parse_bool("GATEHOUSE_DPOP_REQUIRE_NONCE", &v)?);
        }
        set(&mut raw.mail.smtp_url, "GATEHOUSE_SMTP_URL");
        set(&mut raw.mail.from, "GATEHOUSE_MAIL_FROM");
        set(&mut raw.mail.outbox_dir, "GATEHOUSE_OUTBOX_DIR");
        set(&mut raw.tenants.default_mfa_policy, "GATEHOUSE_DEFAULT_MFA_POLICY");
        if let Some(v) = env("GATEHOUSE_ACCESS_TOKEN_TTL_SECS") {
            raw.tokens.access_token_ttl_secs = Some(parse_num("GATEHOUSE_ACCESS_TOKEN_TTL_SECS", &v)?);
        }
        for (slot, flag) in [
            (&mut raw.listen, &overrides.listen),
            (&mut raw.issuer, &overrides.issuer),
            (&mut raw.database_url, &overrides.database_url),
            (&mut raw.keys_dir, &overrides.keys_dir),
        ] {
            if flag.is_some() {
                slot.clone_from(flag);
            }
        }
        Config::validate(raw, env("GATEHOUSE_KEY_ENCRYPTION_KEY"))
    }

    fn validate(raw: RawConfig, encryption_key: Option<String>) -> Result<Config, ConfigError> {
        let listen_text = raw.listen.unwrap_or_else(|| DEFAULT_LISTEN.to_string());
        let listen: SocketAddr = listen_text
            .parse()
            .map_err(|_| bad("listen", format!("'{listen_text}' is not an address like 127.0.0.1:8080")))?;
        let dns_server =
            match raw.outbound.dns_server.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                None => None,
                Some(text) => Some(text.parse::<SocketAddr>().map_err(|_| {
                    bad("outbound.dns_server", format!("'{text}' is not an address like 127.0.0.53:53"))
                })?),
            };
        let issuer = match raw.issuer {
            Some(i) => validate_issuer(&i)?,
            // Derived from `listen`, it must pass the same rules: `0.0.0.0` is no loopback
            // address, so a public listener needs an explicit https issuer.
            None => validate_issuer(&format!("http://{listen}")).map_err(|e| {
                bad("issuer", format!("{}; listening on {listen}, set the issuer (GATEHOUSE_ISSUER)", e.message))
            })?,
        };
        let database_url = raw.database_url.unwrap_or_else(|| DEFAULT_DATABASE_URL.to_string());
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            return Err(bad("database_url", "must start with sqlite:, postgres:// or postgresql://"));
        }
        let acquire = raw.database.acquire_timeout_secs.unwrap_or(5);
        if !(1..=60).contains(&acquire) {
            return Err(bad("database.acquire_timeout_secs", "must be between 1 and 60 seconds"));
        }
        let max_connections = raw.database.max_connections.unwrap_or(16);
        if !(1..=1000).contains(&max_connections) {
            return Err(bad("database.max_connections", "must be between 1 and 1000"));
        }
        let key_store = match raw.keys.store.as_deref().unwrap_or("files") {
            "files" => KeyStore::Files(PathBuf::from(raw.keys_dir.unwrap_or_else(|| "keys".into()))),
            "database" => {
                let text = encryption_key.ok_or_else(|| {
                    bad(
                        "GATEHOUSE_KEY_ENCRYPTION_KEY",
                        "required when keys.store is 'database' (32 random bytes, base64)",
                    )
                })?;
                let bytes = crate::crypto::b64_decode(text.trim()).filter(|b| b.len() == 32).ok_or_else(|| {
                    bad("GATEHOUSE_KEY_ENCRYPTION_KEY", "must be exactly 32 bytes in standard base64")
                })?;
                let mut key = [0u8; 32];
                key.copy_from_slice(&bytes);
                KeyStore::Database { encryption_key: crate::secret::Secret::new(key) }
            }
            other => return Err(bad("keys.store", format!("'{other}' is not one of: files, database"))),
        };
        let access_token_ttl = raw.tokens.access_token_ttl_secs.unwrap_or(3600);
        if !(60..=86_400).contains(&access_token_ttl) {
            return Err(bad("tokens.access_token_ttl_secs", "must be between 60 and 86400 seconds"));
        }
        let retired_key_ttl = raw.keys.retired_ttl_secs.unwrap_or(MAX_TOKEN_TTL);
        if retired_key_ttl < MAX_TOKEN_TTL {
            return Err(bad(
                "keys.retired_ttl_secs",
                "must be at least 86400 (the longest access-token lifetime an app may set), or tokens signed by a retired key stop verifying",
            ));
        }
        let mut signing_algs = vec![crate::jose::Alg::RS256];
        for name in raw.keys.algorithms.unwrap_or_else(|| vec!["RS256".into(), "ES256".into()]) {
            let alg = crate::jose::Alg::parse(&name).map_err(|e| bad("keys.algorithms", e.to_string()))?;
            if !signing_algs.contains(&alg) {
                signing_algs.push(alg);
            }
        }
        let default_audience = match raw.tokens.default_audience {
            Some(aud) => {
                Url::parse(&aud)
                    .map_err(|_| bad("tokens.default_audience", format!("'{aud}' is not an absolute URI")))?;
                aud
            }
            None => issuer.clone(),
        };
        for (name, template) in
            [("superid.webapi_url", &raw.superid.webapi_url), ("superid.netserver_url", &raw.superid.netserver_url)]
        {
            if let Some(t) = template {
                Url::parse(&t.replace("{ctx}", "ctx")).map_err(|_| {
                    bad(name, format!("'{t}' is not a URL template like https://{{ctx}}.example.com/api/"))
                })?;
            }
        }
        let code_ttl = raw.tokens.code_ttl_secs.unwrap_or(300);
        if !(30..=600).contains(&code_ttl) {
            return Err(bad(
                "tokens.code_ttl_secs",
                "must be between 30 and 600 seconds (RFC 6749 §4.1.2: at most 10 minutes)",
            ));
        }
        let refresh_grace = raw.tokens.refresh_grace_secs.unwrap_or(0);
        if !(0..=120).contains(&refresh_grace) {
            return Err(bad("tokens.refresh_grace_secs", "must be between 0 and 120 seconds"));
        }
        let system_user_window = raw.superid.timestamp_window_secs.unwrap_or(300);
        if !(30..=3600).contains(&system_user_window) {
            return Err(bad("superid.timestamp_window_secs", "must be between 30 and 3600 seconds"));
        }
        let system_user_ttl = raw.superid.system_user_token_ttl_secs.unwrap_or(600);
        if !(60..=86_400).contains(&system_user_ttl) {
            return Err(bad("superid.system_user_token_ttl_secs", "must be between 60 and 86400 seconds"));
        }
        let audit_retention_days = raw.audit.retention_days.unwrap_or(365);
        if !(1..=36_500).contains(&audit_retention_days) {
            return Err(bad("audit.retention_days", "must be between 1 and 36500 days"));
        }
        let audit_log = match raw.audit.log.as_deref().map(str::trim) {
            None | Some("") => None,
            Some("stdout" | "-") => Some(AuditLog::Stdout),
            Some(path) if path.ends_with('/') => {
                return Err(bad("audit.log", "must be stdout or a file path, not a folder"));
            }
            Some(path) => Some(AuditLog::File(PathBuf::from(path))),
        };
        let prune_interval = raw.pruning.interval_secs.unwrap_or(600);
        if !(10..=86_400).contains(&prune_interval) {
            return Err(bad("pruning.interval_secs", "must be between 10 and 86400 seconds"));
        }
        let max_pending_per_address = raw.authorize.max_pending_per_address.unwrap_or(500);
        if !(1..=1_000_000).contains(&max_pending_per_address) {
            return Err(bad("authorize.max_pending_per_address", "must be between 1 and 1000000"));
        }
        let registration = match raw.registration.mode.as_deref().unwrap_or("token") {
            "token" => RegistrationMode::Token,
            "open" => RegistrationMode::Open,
            "off" => RegistrationMode::Off,
            other => return Err(bad("registration.mode", format!("'{other}' is not one of: token, open, off"))),
        };
        let trusted_proxies = raw
            .network
            .trusted_proxies
            .unwrap_or_default()
            .iter()
            .map(|p| {
                Cidr::parse(p).ok_or_else(|| {
                    bad("network.trusted_proxies", format!("'{p}' is not an address or CIDR like 10.0.0.0/8"))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mail = mail_config(raw.mail, &issuer)?;
        let default_mfa_policy = raw.tenants.default_mfa_policy.unwrap_or_else(|| "admins".into());
        if !["off", "admins", "everyone"].contains(&default_mfa_policy.as_str()) {
            return Err(bad(
                "tenants.default_mfa_policy",
                format!("'{default_mfa_policy}' is not one of: off, admins, everyone"),
            ));
        }
        let log_format = match raw.log_format.as_deref().unwrap_or("text") {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => return Err(bad("log_format", format!("'{other}' is not one of: text, json"))),
        };
        Ok(Config {
            listen,
            issuer,
            database_url,
            db_acquire_timeout: Duration::from_secs(acquire),
            db_max_connections: max_connections,
            key_store,
            retired_key_ttl,
            signing_algs,
            default_audience,
            access_token_ttl,
            code_ttl,
            refresh_grace,
            log_format,
            webapi_url: raw.superid.webapi_url,
            netserver_url: raw.superid.netserver_url,
            registration,
            allow_http_loopback_redirects: raw.registration.allow_http_loopback_redirects.unwrap_or(false),
            outbound_allow_private: raw.outbound.allow_private_networks.unwrap_or(false),
            dns_server,
            system_user_issuer: raw.superid.system_user_issuer.unwrap_or_else(|| "SuperOffice AS".into()),
            system_user_window,
            system_user_ttl,
            ticket_audience: raw.superid.ticket_audience.filter(|a| !a.is_empty()),
            trusted_proxies,
            audit_retention_days,
            audit_log,
            prune_interval: Duration::from_secs(prune_interval),
            max_pending_per_address,
            require_par: raw.authorize.require_pushed_requests.unwrap_or(false),
            dpop_require_nonce: raw.tokens.dpop_require_nonce.unwrap_or(false),
            mail,
            default_mfa_policy,
        })
    }
}

fn mail_config(raw: RawMail, issuer: &str) -> Result<MailConfig, ConfigError> {
    let transport = match raw.smtp_url.filter(|u| !u.trim().is_empty()) {
        Some(url) => {
            // The message names the setting only: the URL may hold the relay's password.
            let scheme_ok = Url::parse(url.trim()).is_ok_and(|u| matches!(u.scheme(), "smtp" | "smtps"));
            if !scheme_ok {
                return Err(bad("mail.smtp_url", "is not a URL like smtp://user:password@host:587?tls=required"));
            }
            MailTransport::Smtp(crate::secret::Secret::new(url.trim().to_string()))
        }
        None => MailTransport::Outbox(PathBuf::from(raw.outbox_dir.unwrap_or_else(|| "data/outbox".into()))),
    };
    let from = match raw.from {
        Some(f) => f,
        None => {
            // An address literal is no mail domain; a loopback issuer sends from localhost.
            let host = Url::parse(issuer).ok().and_then(|u| u.domain().map(str::to_string));
            format!("Gatehouse <noreply@{}>", host.unwrap_or_else(|| "localhost".into()))
        }
    };
    if from.parse::<lettre::message::Mailbox>().is_err() {
        return Err(bad("mail.from", format!("'{from}' is not a mailbox like Gatehouse <noreply@example.com>")));
    }
    Ok(MailConfig { transport, from })
}

fn parse_bool(setting: &str, v: &str) -> Result<bool, ConfigError> {
    match v.trim() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(bad(setting, format!("'{v}' is not true or false"))),
    }
}

fn parse_num<T: std::str::FromStr>(setting: &str, v: &str) -> Result<T, ConfigError> {
    v.trim().parse().map_err(|_| bad(setting, format!("'{v}' is not a number")))
}

/// OIDC Discovery §3 / RFC 8414 §2: an https URL with no query or fragment. Plain http is
/// allowed on loopback hosts only, for development.
pub fn validate_issuer(issuer: &str) -> Result<String, ConfigError> {
    let url = Url::parse(issuer).map_err(|e| bad("issuer", format!("'{issuer}' is not a URL: {e}")))?;
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => return Err(bad("issuer", "must use https (plain http only on localhost or a loopback address)")),
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("issuer", "must not have a query or a fragment"));
    }
    if issuer.ends_with('/') {
        return Err(bad("issuer", "must not end with '/' (clients compare the issuer byte for byte)"));
    }
    // Every route, discovery included, is at the root of the host; with a path, the metadata
    // would not be where RFC 8414 §3 and OIDC Discovery §4 tell clients to look.
    if url.path() != "/" {
        return Err(bad("issuer", "must not have a path: Gatehouse serves at the root of its host"));
    }
    Ok(issuer.to_string())
}

#[cfg(test)]
mod tests;
