//! Client secrets of an app: creating (shown once), revoking, listing, and checking a
//! presented secret, with a short per-instance memory of recent checks that each use confirms
//! against the app's stored revision. The secret format itself is `client_secret`'s.

use std::sync::Arc;

use serde_json::json;

use super::*;
use crate::crypto::random_id;
use crate::error::{Error, Result};
use crate::store::apps::{NewSecretRow, SecretRow};
use crate::store::audit::AuditEvent;

/// How long a successful secret check is remembered by one instance. Each use of it re-reads
/// the app's revision, so a deletion or a revoked secret takes effect at once everywhere.
pub const AUTH_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(2);

/// A secret that authenticated recently: its digest, expiry and app.
#[derive(Debug)]
pub(super) struct RecentAuthentication {
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

impl Registry {
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
    pub(super) async fn check_stored_secret(
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

    pub(super) fn recently_authenticated(&self, client_id: &str, digest: &[u8; 32], now: i64) -> Option<Arc<App>> {
        let cache = self.auth_cache.lock().ok()?;
        let hit = cache.get(client_id)?;
        let fresh = hit.at.elapsed() < AUTH_CACHE_TTL && hit.expires_at.is_none_or(|e| e > now);
        (fresh && crate::crypto::ct_eq(&hit.digest, digest)).then(|| Arc::clone(&hit.app))
    }

    pub(super) fn remember_authentication(
        &self,
        app: &Arc<App>,
        digest: [u8; 32],
        expires_at: Option<i64>,
        epoch: u64,
    ) {
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
    pub(super) fn forget_authentications(&self, client_id: &str) {
        if let Ok(mut cache) = self.auth_cache.lock() {
            self.auth_epoch.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            cache.remove(client_id);
        }
    }
}
