//! The app registry (DESIGN §3): apps created from templates, their client secrets, exact
//! redirect / post-logout / CORS lists, entitlements, and certificates.

pub mod certificate;
pub mod client_keys;
pub mod client_secret;
pub mod redirect_uri;
pub mod template;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde_json::json;

use crate::clock::Clock;
use crate::crypto::random_id;
use crate::error::{Error, Result};
use crate::oauth::GrantType;
use crate::secret::Secret;
use crate::store::apps::{
    AppRecord, AppRow, CertificateRow, EntitlementRow, NewAppRows, NewSecretRow, SecretRow, TokenSettingsRow, UriRow,
};
use crate::store::audit::AuditEvent;
use crate::store::resources::ResourceServerRow;
use crate::store::{is_unique_violation, Store};
use crate::tenants::check_name;

pub use certificate::{GeneratedPrivateKey, KeyFormat, PublicKey};
pub use template::{Access, AppKind, ClientType, Entitlement, EntitlementStatus, RefreshMode, Template, TokenFormat};

/// Most URIs of one kind an app may register.
pub const MAX_URIS: usize = 50;
/// Most usable (unexpired, unrevoked) certificates an app may hold.
pub const MAX_CERTIFICATES: usize = 10;
/// Longest refresh grace period an app may opt into (a retried refresh after a lost response).
pub const MAX_REFRESH_GRACE: i64 = 120;

template::string_enum!(
    /// The exact lists an app keeps; `resource` holds the RFC 8707 resource indicators it may
    /// ask tokens for.
    UriKind, "uri kind" {
        Redirect => "redirect",
        PostLogout => "post-logout",
        Cors => "cors",
        Resource => "resource",
    }
);

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
        }
    }

    pub fn allows_grant(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }

    /// Entitlements in force (approved, not pending).
    pub fn active_entitlements(&self) -> impl Iterator<Item = Entitlement> + '_ {
        self.entitlements.iter().filter(|e| e.status == EntitlementStatus::Active).map(|e| e.entitlement)
    }

    fn from_record(r: AppRecord) -> Result<App> {
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

/// A stored value that no longer parses is a bug or a bad migration, not user error.
fn stored<T>(r: Result<T>) -> Result<T> {
    r.map_err(|e| Error::Internal(anyhow::anyhow!("stored value is invalid: {e}")))
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
}

/// Defaults of a template that a dynamic registration replaces.
#[derive(Debug, Clone, Default)]
pub struct AppOverrides {
    pub grant_types: Option<Vec<GrantType>>,
    /// Where the client publishes its keys (dynamic registration, RFC 7591 §2).
    pub jwks_uri: Option<String>,
    /// The one authentication method the client registered; with `private_key_jwt` it gets
    /// no client secret.
    pub token_auth_method: Option<String>,
    pub client_type: Option<ClientType>,
    pub post_logout_redirect_uris: Vec<String>,
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

/// Apps cached per instance; past this many the cache starts over.
const APP_CACHE_CAPACITY: usize = 10_000;

/// How long a successful secret check is remembered by one instance. Each use of it re-reads
/// the app's revision, so a deletion or a revoked secret takes effect at once everywhere.
pub const AUTH_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(2);

/// A secret that authenticated recently: its digest, expiry and app.
#[derive(Debug)]
struct RecentAuthentication {
    digest: [u8; 32],
    expires_at: Option<i64>,
    app: Arc<App>,
    at: std::time::Instant,
}

/// The outcome of checking a client secret: checked against the stored digests now, or
/// remembered from a recent check and still to be confirmed by the app's stored revision.
#[derive(Debug)]
pub enum SecretCheck {
    Checked(Arc<App>),
    Remembered(Arc<App>),
}

/// The app registry. Cheap to clone (clones share the caches).
#[derive(Clone, Debug)]
pub struct Registry {
    store: Store,
    clock: Clock,
    cache: Arc<Mutex<HashMap<String, Arc<App>>>>,
    auth_cache: Arc<Mutex<HashMap<String, RecentAuthentication>>>,
    /// Bumped whenever remembered authentications are forgotten; a check that read the
    /// database before a bump does not remember its result (it may predate a revocation).
    auth_epoch: Arc<std::sync::atomic::AtomicU64>,
}

impl Registry {
    pub fn new(store: Store, clock: Clock) -> Self {
        Registry { store, clock, cache: Arc::default(), auth_cache: Arc::default(), auth_epoch: Arc::default() }
    }

    /// Creates an app from a template. Every input is checked before anything is written, and
    /// the app, its URIs, entitlements, first secret and audit event commit together.
    pub async fn create(&self, new: NewApp, actor: &str) -> Result<CreatedApp> {
        self.create_with(new, &AppOverrides::default(), actor).await
    }

    /// Creates an app from a template with some defaults replaced (dynamic registration).
    pub async fn create_with(&self, new: NewApp, overrides: &AppOverrides, actor: &str) -> Result<CreatedApp> {
        let name = check_name("name", &new.name)?;
        let defaults = new.template.defaults();
        let native = defaults.loopback_any_port;
        check_uri_list(UriKind::Redirect, &new.redirect_uris, native)?;
        check_uri_list(UriKind::PostLogout, &overrides.post_logout_redirect_uris, native)?;
        let client_type = overrides.client_type.unwrap_or(defaults.client_type);
        let grant_types = overrides.grant_types.clone().unwrap_or_else(|| defaults.grant_types.to_vec());
        if self.store.partner(&new.partner_id).await?.is_none() {
            return Err(Error::not_found(format!("partner '{}'", new.partner_id)));
        }
        let now = self.clock.now();
        let app = AppRow {
            id: random_id(),
            client_id: random_id(),
            partner_id: new.partner_id,
            name,
            template: new.template.as_str().into(),
            kind: if overrides.custom_tenant_id.is_some() { AppKind::Custom } else { AppKind::Standard }
                .as_str()
                .into(),
            custom_tenant_id: overrides.custom_tenant_id.clone(),
            access: new.access.as_str().into(),
            client_type: client_type.as_str().into(),
            grant_types: grant_types.iter().map(|g| g.as_str()).collect::<Vec<_>>().join(" "),
            loopback_any_port: native,
            require_pkce: true,
            allow_plain_pkce: false,
            token_format: TokenFormat::Jwt.as_str().into(),
            access_token_ttl: None,
            refresh_mode: RefreshMode::Rotating.as_str().into(),
            signing_alg: overrides.signing_alg.clone().unwrap_or_else(|| "RS256".into()),
            technical_contact: new.technical_contact,
            jwks_uri: overrides.jwks_uri.clone(),
            refresh_grace_secs: None,
            token_auth_method: overrides.token_auth_method.clone(),
            created_at: now,
            updated_at: now,
            revision: 0,
        };
        let uris: Vec<UriRow> = new
            .redirect_uris
            .iter()
            .map(|u| UriRow { kind: UriKind::Redirect.as_str().into(), uri: u.clone() })
            .chain(
                overrides
                    .post_logout_redirect_uris
                    .iter()
                    .map(|u| UriRow { kind: UriKind::PostLogout.as_str().into(), uri: u.clone() }),
            )
            .collect();
        let chosen = overrides.entitlements.as_deref().unwrap_or(defaults.entitlements);
        let entitlements: Vec<EntitlementRow> = chosen
            .iter()
            .map(|e| EntitlementRow {
                entitlement: e.as_str().into(),
                status: if e.needs_approval() { EntitlementStatus::Pending } else { EntitlementStatus::Active }
                    .as_str()
                    .into(),
                justification: if e.needs_approval() { new.justification.clone() } else { None },
            })
            .collect();
        let uses_secret = client_type == ClientType::Confidential
            && overrides.token_auth_method.as_deref().is_none_or(|m| m.starts_with("client_secret_"));
        let issued = uses_secret.then(client_secret::generate);
        let secret_row = issued.as_ref().map(|s| NewSecretRow {
            id: random_id(),
            digest: s.digest.to_vec(),
            hint: s.hint.clone(),
            expires_at: None,
        });
        let event = AuditEvent::new(
            now,
            actor,
            "app.created",
            &app.client_id,
            json!({ "template": app.template, "name": app.name }),
        );
        let rows = NewAppRows {
            app: &app,
            uris: &uris,
            entitlements: &entitlements,
            secret: secret_row.as_ref(),
            creation_key: overrides.creation_key.as_deref(),
        };
        self.store.insert_app(rows, &event).await.map_err(|e| {
            if is_unique_violation(&e) && overrides.creation_key.is_some() {
                Error::conflict("this app was already created")
            } else {
                e.into()
            }
        })?;
        let app = self.get(&app.client_id).await?;
        let client_secret =
            issued.zip(secret_row).map(|(s, row)| IssuedSecret { id: row.id, secret: s.value, expires_at: None });
        Ok(CreatedApp { app, client_secret })
    }

    pub async fn get(&self, client_id: &str) -> Result<App> {
        Ok(self.get_shared(client_id).await?.as_ref().clone())
    }

    /// The app, from this instance's cache when its stored revision has not moved.
    pub async fn get_shared(&self, client_id: &str) -> Result<Arc<App>> {
        let row = self
            .store
            .app_by_client_id(client_id)
            .await?
            .ok_or_else(|| Error::not_found(format!("app '{client_id}'")))?;
        self.complete(row).await
    }

    /// Builds the full app for a freshly read row: one read gives the row and its revision, and
    /// the lists are loaded only when the cached copy is older. Every change to an app bumps
    /// its revision in the same transaction, so a copy is never served stale.
    async fn complete(&self, row: AppRow) -> Result<Arc<App>> {
        if let Some(hit) = self.cache.lock().ok().and_then(|c| c.get(&row.client_id).cloned()) {
            if hit.id == row.id && hit.revision == row.revision {
                return Ok(hit);
            }
        }
        let app = Arc::new(App::from_record(self.store.app_lists(row).await?)?);
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= APP_CACHE_CAPACITY {
                cache.clear();
            }
            cache.insert(app.client_id.clone(), Arc::clone(&app));
        }
        Ok(app)
    }

    pub async fn list(&self, partner_id: Option<&str>) -> Result<Vec<App>> {
        let mut apps = Vec::new();
        for row in self.store.list_apps(partner_id).await? {
            apps.push(self.get(&row.client_id).await?);
        }
        Ok(apps)
    }

    /// Issues a new secret, shown once. Refused when two are already active.
    pub async fn new_secret(&self, client_id: &str, expires_in_days: Option<i64>, actor: &str) -> Result<IssuedSecret> {
        let app = self.get(client_id).await?;
        if app.client_type == ClientType::Public {
            return Err(Error::conflict("public clients (native apps) have no client secret; they use PKCE"));
        }
        let now = self.clock.now();
        let expires_at = match expires_in_days {
            Some(d) if !(1..=3650).contains(&d) => {
                return Err(Error::invalid("expires-in-days", "must be between 1 and 3650"))
            }
            Some(d) => Some(now + d * 86_400),
            None => None,
        };
        let s = client_secret::generate();
        let row = NewSecretRow { id: random_id(), digest: s.digest.to_vec(), hint: s.hint.clone(), expires_at };
        let event = AuditEvent::new(
            now,
            actor,
            "secret.created",
            client_id,
            json!({ "secret_id": row.id, "expires_at": expires_at }),
        );
        if !self.store.insert_secret_within_limit(&app.id, &row, now, client_secret::MAX_ACTIVE, &event).await? {
            return Err(Error::conflict(format!(
                "the app already has {} active secrets; revoke one before creating another",
                client_secret::MAX_ACTIVE
            )));
        }
        Ok(IssuedSecret { id: row.id, secret: s.value, expires_at })
    }

    pub async fn revoke_secret(&self, client_id: &str, secret_id: &str, actor: &str) -> Result<()> {
        let app = self.get(client_id).await?;
        let now = self.clock.now();
        let event = AuditEvent::new(now, actor, "secret.revoked", client_id, json!({ "secret_id": secret_id }));
        // Forget before and after the commit: a check racing the revocation either sees the
        // bump and does not remember, or is forgotten here.
        self.forget_authentications(client_id);
        let revoked = self.store.revoke_secret(&app.id, secret_id, now, &event).await?;
        self.forget_authentications(client_id);
        if !revoked {
            return Err(Error::not_found(format!("active secret '{secret_id}' of app '{client_id}'")));
        }
        Ok(())
    }

    pub async fn secrets(&self, client_id: &str) -> Result<Vec<SecretInfo>> {
        let app = self.get(client_id).await?;
        let now = self.clock.now();
        Ok(self
            .store
            .secrets(&app.id)
            .await?
            .into_iter()
            .map(|s: SecretRow| SecretInfo {
                active: s.revoked_at.is_none() && s.expires_at.is_none_or(|e| e > now),
                id: s.id,
                hint: s.hint,
                created_at: s.created_at,
                expires_at: s.expires_at,
                revoked_at: s.revoked_at,
                last_used_at: s.last_used_at,
            })
            .collect())
    }

    /// Checks a presented client secret: true only for an active (unrevoked, unexpired) secret
    /// of that app.
    pub async fn verify_secret(&self, client_id: &str, presented: &str) -> Result<bool> {
        Ok(self.authenticate_secret(client_id, presented).await?.is_some())
    }

    /// The app whose active secret this is, if any: one indexed query (the app row and its
    /// active secret digests), a SHA-256, constant-time comparisons, and the cached app. A
    /// success is remembered for `AUTH_CACHE_TTL` (docs/decisions/0007-authentication-cache.md).
    pub async fn authenticate_secret(&self, client_id: &str, presented: &str) -> Result<Option<Arc<App>>> {
        match self.check_secret(client_id, presented).await? {
            Some(SecretCheck::Checked(app)) => Ok(Some(app)),
            Some(SecretCheck::Remembered(app)) => {
                // One primary-key read instead of the secrets join.
                let stored = self.store.app_revision(&app.id).await?;
                match self.confirm_remembered(app, stored) {
                    Some(app) => Ok(Some(app)),
                    None => self.recheck_secret(client_id, presented).await,
                }
            }
            None => Ok(None),
        }
    }

    /// The full check, after a remembered success turned out stale (the app changed).
    pub async fn recheck_secret(&self, client_id: &str, presented: &str) -> Result<Option<Arc<App>>> {
        let candidate = client_secret::digest(presented);
        self.check_stored_secret(client_id, &candidate, presented, self.clock.now()).await
    }

    /// A remembered success holds only while the app still exists at the revision it was
    /// remembered with: a deletion, a revoked secret or a changed setting on any instance
    /// shows here at once. `stored` is the app's revision as just read from the database (by
    /// the caller, possibly in the same statement as what it reads anyway). None: forgotten;
    /// the caller checks the secret again in full (`recheck_secret`).
    pub fn confirm_remembered(&self, app: Arc<App>, stored: Option<i64>) -> Option<Arc<App>> {
        if stored == Some(app.revision) {
            return Some(app);
        }
        self.forget_authentications(&app.client_id);
        None
    }

    /// Checks a secret, but leaves a remembered success unconfirmed (`SecretCheck::Remembered`):
    /// the caller must read the app's revision and pass it to `confirm_remembered` before it
    /// trusts the app. `authenticate_secret` does both.
    pub async fn check_secret(&self, client_id: &str, presented: &str) -> Result<Option<SecretCheck>> {
        let now = self.clock.now();
        let candidate = client_secret::digest(presented);
        if let Some(app) = self.recently_authenticated(client_id, &candidate, now) {
            return Ok(Some(SecretCheck::Remembered(app)));
        }
        let app = self.check_stored_secret(client_id, &candidate, presented, now).await?;
        Ok(app.map(SecretCheck::Checked))
    }

    /// The secrets join: the app row and its active secret digests, compared in constant time.
    async fn check_stored_secret(
        &self,
        client_id: &str,
        candidate: &[u8; 32],
        presented: &str,
        now: i64,
    ) -> Result<Option<Arc<App>>> {
        let epoch = self.auth_epoch.load(std::sync::atomic::Ordering::SeqCst);
        let Some((row, stored)) = self.store.app_with_active_secrets(client_id, now).await? else {
            // Unknown clients cost the same digest as known ones.
            let _ = client_secret::digest(presented);
            return Ok(None);
        };
        let mut matched = None;
        for (id, digest, last_used, expires_at) in &stored {
            if crate::crypto::ct_eq(candidate, digest) {
                matched = Some((id, *last_used, *expires_at));
            }
        }
        match matched {
            Some((id, last_used, expires_at)) => {
                // "Last used" is shown to developers to the minute; writing it on every request
                // would put a database write on the hottest path.
                if last_used.is_none_or(|t| t < now - 60) {
                    self.store.touch_secret(id, now).await?;
                }
                let app = self.complete(row).await?;
                self.remember_authentication(&app, *candidate, expires_at, epoch);
                Ok(Some(app))
            }
            None => Ok(None),
        }
    }

    fn recently_authenticated(&self, client_id: &str, digest: &[u8; 32], now: i64) -> Option<Arc<App>> {
        let cache = self.auth_cache.lock().ok()?;
        let hit = cache.get(client_id)?;
        let fresh = hit.at.elapsed() < AUTH_CACHE_TTL && hit.expires_at.is_none_or(|e| e > now);
        (fresh && crate::crypto::ct_eq(&hit.digest, digest)).then(|| Arc::clone(&hit.app))
    }

    fn remember_authentication(&self, app: &Arc<App>, digest: [u8; 32], expires_at: Option<i64>, epoch: u64) {
        if let Ok(mut cache) = self.auth_cache.lock() {
            // Checked under the lock that `forget_authentications` also takes.
            if self.auth_epoch.load(std::sync::atomic::Ordering::SeqCst) != epoch {
                return;
            }
            if cache.len() >= APP_CACHE_CAPACITY {
                cache.clear();
            }
            let entry =
                RecentAuthentication { digest, expires_at, app: Arc::clone(app), at: std::time::Instant::now() };
            cache.insert(app.client_id.clone(), entry);
        }
    }

    /// Forgets this instance's remembered authentications of an app (its secrets changed).
    fn forget_authentications(&self, client_id: &str) {
        if let Ok(mut cache) = self.auth_cache.lock() {
            self.auth_epoch.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            cache.remove(client_id);
        }
    }

    /// Adds an uploaded certificate. Nothing is written unless the key parses and is strong.
    pub async fn add_certificate(
        &self,
        client_id: &str,
        upload: &[u8],
        expires_at: Option<i64>,
        actor: &str,
    ) -> Result<Certificate> {
        let app = self.get(client_id).await?;
        let parsed = certificate::parse(upload)?;
        self.check_certificate_room(&app).await?;
        let expires_at = match (expires_at, parsed.not_after) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if expires_at.is_some_and(|e| e <= self.clock.now()) {
            return Err(Error::invalid("certificate", "has already expired"));
        }
        self.store_certificate(&app, &parsed.key, parsed.kid, parsed.format, expires_at, "certificate.added", actor)
            .await
    }

    /// Generates an RSA key pair for the app: the public half is stored, the private half is
    /// returned once.
    pub async fn generate_certificate(
        &self,
        client_id: &str,
        expires_at: Option<i64>,
        actor: &str,
    ) -> Result<(Certificate, GeneratedPrivateKey)> {
        let app = self.get(client_id).await?;
        self.check_certificate_room(&app).await?;
        let (key, private) =
            tokio::task::spawn_blocking(certificate::generate_rsa).await.map_err(|e| Error::Internal(e.into()))??;
        let cert = self
            .store_certificate(&app, &key, None, KeyFormat::Generated, expires_at, "certificate.generated", actor)
            .await?;
        Ok((cert, private))
    }

    /// An unauthenticated assertion may be tried against every usable certificate of an app,
    /// so the number of those is bounded.
    async fn check_certificate_room(&self, app: &App) -> Result<()> {
        if app.client_type == ClientType::Public {
            return Err(Error::conflict("public clients (native apps) cannot hold certificates; they use PKCE"));
        }
        let usable = self.store.usable_certificates(&app.id, self.clock.now()).await?.len();
        if usable >= MAX_CERTIFICATES {
            return Err(Error::conflict(format!(
                "an app may have at most {MAX_CERTIFICATES} usable certificates; revoke one first"
            )));
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn store_certificate(
        &self,
        app: &App,
        key: &PublicKey,
        client_kid: Option<String>,
        format: KeyFormat,
        expires_at: Option<i64>,
        action: &'static str,
        actor: &str,
    ) -> Result<Certificate> {
        let now = self.clock.now();
        let row = CertificateRow {
            id: random_id(),
            kid: key.thumbprint(),
            client_kid,
            kty: key.kty().into(),
            jwk: key.to_jwk().to_string(),
            source_format: format.as_str().into(),
            created_at: now,
            expires_at,
            revoked_at: None,
        };
        let event = AuditEvent::new(
            now,
            actor,
            action,
            &app.client_id,
            json!({ "certificate_id": row.id, "kid": row.kid, "client_kid": row.client_kid }),
        );
        self.store.insert_certificate(&app.id, &row, &event).await.map_err(|e| {
            if is_unique_violation(&e) {
                Error::conflict(format!(
                    "the app already has this key, or another usable key with kid '{}'",
                    row.client_kid.as_deref().unwrap_or(&row.kid)
                ))
            } else {
                e.into()
            }
        })?;
        Ok(row.into())
    }

    pub async fn revoke_certificate(&self, client_id: &str, cert_id: &str, actor: &str) -> Result<()> {
        let app = self.get(client_id).await?;
        let now = self.clock.now();
        let event = AuditEvent::new(now, actor, "certificate.revoked", client_id, json!({ "certificate": cert_id }));
        if !self.store.revoke_certificate(&app.id, cert_id, now, &event).await? {
            return Err(Error::not_found(format!("active certificate '{cert_id}' of app '{client_id}'")));
        }
        Ok(())
    }

    /// Registers a resource server (an API tokens may be issued for): owned by a partner, or a
    /// platform API when `owner_partner_id` is `None` (the CLI is the operator's; the portal
    /// lets a partner register only its own).
    pub async fn register_resource_server(
        &self,
        identifier: &str,
        name: &str,
        owner_partner_id: Option<&str>,
        actor: &str,
    ) -> Result<ResourceServerRow> {
        redirect_uri::validate_resource(identifier).map_err(|why| Error::invalid("identifier", why))?;
        let name = check_name("name", name)?;
        if let Some(p) = owner_partner_id {
            if self.store.partner(p).await?.is_none() {
                return Err(Error::not_found(format!("partner '{p}'")));
            }
        }
        let row = ResourceServerRow {
            identifier: identifier.to_string(),
            name,
            owner_partner_id: owner_partner_id.map(str::to_string),
            created_at: self.clock.now(),
        };
        let event = AuditEvent::new(
            row.created_at,
            actor,
            "resource_server.registered",
            identifier,
            json!({ "owner_partner_id": row.owner_partner_id }),
        );
        self.store.insert_resource_server(&row, &event).await.map_err(|e| {
            if is_unique_violation(&e) {
                Error::conflict(format!("a resource server '{identifier}' is already registered"))
            } else {
                e.into()
            }
        })?;
        Ok(row)
    }

    /// Lets an app ask for tokens for a resource server its partner does not own.
    pub async fn grant_resource(&self, identifier: &str, client_id: &str, actor: &str) -> Result<()> {
        let app = self.get(client_id).await?;
        if self.store.resource_server(identifier).await?.is_none() {
            return Err(Error::not_found(format!("resource server '{identifier}'")));
        }
        let now = self.clock.now();
        let event =
            AuditEvent::new(now, actor, "resource_server.granted", client_id, json!({ "identifier": identifier }));
        self.store.grant_resource(identifier, &app.id, actor, now, &event).await?;
        Ok(())
    }

    pub async fn certificates(&self, client_id: &str) -> Result<Vec<Certificate>> {
        let app = self.get(client_id).await?;
        Ok(self.store.certificates(&app.id).await?.into_iter().map(Certificate::from).collect())
    }

    /// Changes how the app's access tokens are made. `signing_alg` must be one the server
    /// keeps keys for (`allowed_algs`).
    pub async fn set_token_settings(
        &self,
        client_id: &str,
        t: TokenSettings<'_>,
        allowed_algs: &[&str],
        actor: &str,
    ) -> Result<App> {
        let app = self.get(client_id).await?;
        if let Some(alg) = t.signing_alg {
            if !allowed_algs.contains(&alg) {
                return Err(Error::invalid(
                    "signing-alg",
                    format!("'{alg}' is not one of: {}", allowed_algs.join(", ")),
                ));
            }
        }
        if t.access_token_ttl.is_some_and(|ttl| !(60..=86_400).contains(&ttl)) {
            return Err(Error::invalid("access-token-ttl", "must be between 60 and 86400 seconds"));
        }
        // RFC 9700 §4.14.2: a public client's refresh tokens MUST be sender-constrained or
        // rotate; we do not sender-constrain, so they always rotate.
        if t.refresh_mode == Some(RefreshMode::LongLived) && app.client_type == ClientType::Public {
            return Err(Error::invalid(
                "refresh-mode",
                "public clients (native and browser apps) cannot have long-lived refresh tokens; they rotate",
            ));
        }
        if t.refresh_grace_secs.is_some_and(|g| g > MAX_REFRESH_GRACE) {
            return Err(Error::invalid("refresh-grace", format!("must be between 0 and {MAX_REFRESH_GRACE} seconds")));
        }
        // RFC 9700 §2.1.1: public clients MUST use PKCE.
        if t.require_pkce == Some(false) && app.client_type == ClientType::Public {
            return Err(Error::invalid("pkce", "public clients (native and browser apps) always use PKCE"));
        }
        let row = TokenSettingsRow {
            token_format: t.format.map(|f| f.as_str()),
            signing_alg: t.signing_alg,
            access_token_ttl: t.access_token_ttl,
            refresh_mode: t.refresh_mode.map(|m| m.as_str()),
            refresh_grace_secs: t.refresh_grace_secs,
            require_pkce: t.require_pkce,
        };
        let now = self.clock.now();
        let detail = json!({
            "token_format": row.token_format,
            "signing_alg": row.signing_alg,
            "access_token_ttl": row.access_token_ttl,
            "refresh_mode": row.refresh_mode,
            "refresh_grace_secs": row.refresh_grace_secs,
            "require_pkce": row.require_pkce,
        });
        let event = AuditEvent::new(now, actor, "app.token_settings_changed", client_id, detail);
        self.store.update_token_settings(&app.id, &row, now, &event).await?;
        self.forget_authentications(client_id);
        self.get(client_id).await
    }

    /// Adds an integration point. Restricted ones wait as pending; ones that change what the
    /// app can do in a tenant put every approving tenant into *needs re-approval*.
    pub async fn add_entitlement(
        &self,
        client_id: &str,
        entitlement: Entitlement,
        justification: Option<&str>,
        actor: &str,
    ) -> Result<App> {
        let app = self.get(client_id).await?;
        let status = if entitlement.needs_approval() { EntitlementStatus::Pending } else { EntitlementStatus::Active };
        let now = self.clock.now();
        let event = AuditEvent::new(
            now,
            actor,
            "app.entitlement_added",
            client_id,
            json!({ "entitlement": entitlement.as_str(), "status": status.as_str() }),
        );
        if !self
            .store
            .insert_entitlement(&app.id, entitlement.as_str(), status.as_str(), justification, now, &event)
            .await?
        {
            return Err(Error::conflict(format!("the app already has '{}'", entitlement.as_str())));
        }
        if entitlement.needs_tenant_reapproval() {
            self.store.require_reapproval(&app.id, now).await?;
        }
        self.forget_authentications(client_id);
        self.get(client_id).await
    }

    /// Private (the partner's own tenants) or public (any tenant that approves it).
    pub async fn set_access(&self, client_id: &str, access: Access, actor: &str) -> Result<App> {
        let app = self.get(client_id).await?;
        let now = self.clock.now();
        let event = AuditEvent::new(now, actor, "app.access_changed", client_id, json!({ "access": access.as_str() }));
        self.store.set_app_access(&app.id, access.as_str(), now, &event).await?;
        self.forget_authentications(client_id);
        self.get(client_id).await
    }

    /// Deletes the app with its secrets, certificates, tokens and authorization records.
    pub async fn delete(&self, client_id: &str, actor: &str) -> Result<()> {
        let app = self.get(client_id).await?;
        let event = AuditEvent::new(self.clock.now(), actor, "app.deleted", client_id, json!({ "name": app.name }));
        self.remove(&app.id, client_id, &event).await
    }

    /// Deletes an app already looked up (by `delete`, or by its registration access token) and
    /// forgets its remembered authentications. Other instances find it gone at their next
    /// check: a remembered authentication is only used after re-reading the app's revision.
    pub async fn remove(&self, app_id: &str, client_id: &str, event: &AuditEvent) -> Result<()> {
        // Before and after the commit, as for a revoked secret.
        self.forget_authentications(client_id);
        self.store.delete_app(app_id, event).await?;
        self.forget_authentications(client_id);
        Ok(())
    }

    /// A platform administrator's decision on a pending restricted entitlement.
    pub async fn decide_entitlement(
        &self,
        client_id: &str,
        entitlement: Entitlement,
        approve: bool,
        decided_by: &str,
    ) -> Result<App> {
        let app = self.get(client_id).await?;
        let status = if approve { EntitlementStatus::Active } else { EntitlementStatus::Rejected };
        let now = self.clock.now();
        let event = AuditEvent::new(
            now,
            decided_by,
            if approve { "app.entitlement_approved" } else { "app.entitlement_rejected" },
            client_id,
            json!({ "entitlement": entitlement.as_str() }),
        );
        if !self
            .store
            .decide_entitlement(&app.id, entitlement.as_str(), status.as_str(), decided_by, now, &event)
            .await?
        {
            return Err(Error::conflict(format!("'{}' is not waiting for a decision", entitlement.as_str())));
        }
        if approve && entitlement.needs_tenant_reapproval() {
            self.store.require_reapproval(&app.id, now).await?;
        }
        self.forget_authentications(client_id);
        self.get(client_id).await
    }

    /// Adds a URI to a list after checking it with the same rules as registration.
    pub async fn add_uri(&self, client_id: &str, kind: UriKind, uri: &str, actor: &str) -> Result<App> {
        let app = self.get(client_id).await?;
        if app.uris(kind).len() >= MAX_URIS {
            return Err(Error::conflict(format!("an app may register at most {MAX_URIS} URIs of each kind")));
        }
        check_uri_list(kind, &[uri.to_string()], app.loopback_any_port)?;
        if kind == UriKind::Resource {
            self.claim_resource(&app, uri, actor).await?;
        }
        let now = self.clock.now();
        let event =
            AuditEvent::new(now, actor, "app.uri_added", client_id, json!({ "kind": kind.as_str(), "uri": uri }));
        if !self.store.add_app_uri(&app.id, kind.as_str(), uri, now, &event).await? {
            return Err(Error::conflict(format!("'{uri}' is already registered")));
        }
        self.forget_authentications(client_id);
        self.get(client_id).await
    }

    /// A resource an app lists (the portal's "APIs" list) is an API of the app's partner: the
    /// first listing registers it as the partner's; one that belongs to another partner or to
    /// the platform is refused unless it was granted to this app (audiences have owners).
    async fn claim_resource(&self, app: &App, uri: &str, actor: &str) -> Result<()> {
        if self.store.may_use_resource(uri, &app.id, &app.partner_id).await? {
            return Ok(());
        }
        if self.store.resource_server(uri).await?.is_some() {
            return Err(Error::conflict(format!(
                "'{uri}' is another partner's or a platform API; its owner or a platform administrator must grant it to this app"
            )));
        }
        let name = format!("API at {uri}").chars().take(100).collect::<String>();
        match self.register_resource_server(uri, &name, Some(&app.partner_id), actor).await {
            // Registered in the meantime by its owner: the same refusal.
            Err(Error::Conflict(_)) => Err(Error::conflict(format!("'{uri}' is already another owner's API"))),
            other => other.map(|_| ()),
        }
    }

    pub async fn remove_uri(&self, client_id: &str, kind: UriKind, uri: &str, actor: &str) -> Result<App> {
        let app = self.get(client_id).await?;
        let event = AuditEvent::new(
            self.clock.now(),
            actor,
            "app.uri_removed",
            client_id,
            json!({ "kind": kind.as_str(), "uri": uri }),
        );
        if !self.store.remove_app_uri(&app.id, kind.as_str(), uri, self.clock.now(), &event).await? {
            return Err(Error::not_found(format!("{} URI '{uri}'", kind.as_str())));
        }
        self.forget_authentications(client_id);
        self.get(client_id).await
    }
}

/// Checks every URI of a list; the first bad one is named, and nothing is stored.
fn check_uri_list(kind: UriKind, uris: &[String], native: bool) -> Result<()> {
    if uris.len() > MAX_URIS {
        return Err(Error::conflict(format!("an app may register at most {MAX_URIS} URIs of each kind")));
    }
    let field = match kind {
        UriKind::Redirect => "redirect_uri",
        UriKind::PostLogout => "post_logout_redirect_uri",
        UriKind::Cors => "cors_origin",
        UriKind::Resource => "resource",
    };
    for (i, uri) in uris.iter().enumerate() {
        if uris[..i].contains(uri) {
            return Err(Error::invalid(field, format!("'{uri}' is listed twice")));
        }
        let checked = match kind {
            UriKind::Cors => redirect_uri::validate_origin(uri),
            UriKind::Resource => redirect_uri::validate(uri, false),
            _ => redirect_uri::validate(uri, native),
        };
        checked.map_err(|why| Error::invalid(field, format!("'{uri}' {why}")))?;
    }
    Ok(())
}
