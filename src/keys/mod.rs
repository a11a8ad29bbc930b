//! Server signing keys (DESIGN §5): made on first start, rotated next → current → retired →
//! gone, published as JWKS. Each instance holds the keys parsed in memory and reloads them
//! from the database, so a rotation on one instance reaches the others.

pub mod signing;
pub mod vault;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use aws_lc_rs::rand::SystemRandom;
use serde::Serialize;
use serde_json::json;

use crate::clock::Clock;
use crate::config::KeyStore;
use crate::crypto::random_id;
use crate::error::{Error, Result};
use crate::store::audit::AuditEvent;
use crate::store::keys::KeyRow;
use crate::store::{is_unique_violation, Store};

pub use signing::{Alg, KeyPair, SigningKey};

/// Algorithms the server keeps a current and a next key for. RS256 is required by OIDC;
/// ES256 is the compact alternative apps may choose.
pub const SERVER_ALGS: [Alg; 2] = [Alg::RS256, Alg::ES256];

/// What one load of the database gives: signers by algorithm and the JWKS to publish.
#[derive(Debug, Default)]
pub struct KeySet {
    current: HashMap<Alg, Arc<SigningKey>>,
    jwks: Arc<Vec<u8>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct KeyInfo {
    pub kid: String,
    pub alg: String,
    pub state: String,
    pub created_at: i64,
    pub activated_at: Option<i64>,
    pub retired_at: Option<i64>,
}

pub struct Keys {
    store: Store,
    clock: Clock,
    key_store: KeyStore,
    retired_ttl: i64,
    rng: SystemRandom,
    loaded: RwLock<Arc<KeySet>>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys").field("key_store", &self.key_store).finish_non_exhaustive()
    }
}

impl Keys {
    /// Loads the keys, first creating a current and a next key for every server algorithm
    /// that lacks them.
    pub async fn open(store: Store, clock: Clock, key_store: KeyStore, retired_ttl: i64) -> Result<Keys> {
        let keys = Keys { store, clock, key_store, retired_ttl, rng: SystemRandom::new(), loaded: RwLock::default() };
        keys.ensure().await?;
        keys.reload().await?;
        Ok(keys)
    }

    async fn ensure(&self) -> Result<()> {
        let existing = self.store.all_signing_keys().await?;
        for alg in SERVER_ALGS {
            for state in ["current", "next"] {
                if !existing.iter().any(|k| k.alg == alg.as_str() && k.state == state) {
                    match self.create(alg, state).await {
                        Ok(_) => {}
                        // Another instance filled the slot first: use theirs.
                        Err(Error::Internal(e)) if e.downcast_ref::<sqlx::Error>().is_some_and(is_unique_violation) => {
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        Ok(())
    }

    async fn create(&self, alg: Alg, state: &str) -> Result<KeyRow> {
        let row = self.new_key_row(alg, state).await?;
        let event = AuditEvent::new(
            self.clock.now(),
            "system",
            "key.created",
            &row.kid,
            json!({ "alg": row.alg, "state": state }),
        );
        self.store.insert_signing_key(&row, &event).await.map_err(|e| Error::Internal(e.into()))?;
        Ok(row)
    }

    async fn new_key_row(&self, alg: Alg, state: &str) -> Result<KeyRow> {
        let (pair, pkcs8) = tokio::task::spawn_blocking(move || KeyPair::generate(alg))
            .await
            .map_err(|e| Error::Internal(e.into()))??;
        let now = self.clock.now();
        let public = pair.public_key()?;
        // The kid is random rather than a thumbprint, so it reveals nothing and never collides
        // across algorithms that share a key type.
        let kid = random_id();
        let mut jwk = public.to_jwk();
        jwk["kid"] = json!(kid);
        jwk["alg"] = json!(alg.as_str());
        let private_key = vault::seal(&self.key_store, &kid, &pkcs8)?;
        Ok(KeyRow {
            kid,
            alg: alg.as_str().into(),
            state: state.into(),
            public_jwk: jwk.to_string(),
            private_key,
            created_at: now,
            activated_at: (state == "current").then_some(now),
            retired_at: None,
        })
    }

    /// Re-reads the published keys and swaps them in. Called at start, after a rotation, and
    /// periodically so other instances' rotations take effect.
    pub async fn reload(&self) -> Result<()> {
        let now = self.clock.now();
        let rows = self.store.published_signing_keys(now, self.retired_ttl).await?;
        let previous = self.loaded.read().map(|l| Arc::clone(&l)).unwrap_or_default();
        let mut current = HashMap::new();
        let mut published = Vec::with_capacity(rows.len());
        for row in &rows {
            let jwk: serde_json::Value =
                serde_json::from_str(&row.public_jwk).map_err(|e| Error::Internal(e.into()))?;
            published.push(jwk);
            if row.state != "current" {
                continue;
            }
            let alg = Alg::parse(&row.alg)?;
            // Parse a private key only when it is new to this instance.
            let key = match previous.current.get(&alg).filter(|k| k.kid == row.kid) {
                Some(k) => Arc::clone(k),
                None => {
                    let pkcs8 = vault::open(&self.key_store, &row.kid, row.private_key.as_deref())?;
                    Arc::new(SigningKey::new(row.kid.clone(), alg, KeyPair::from_pkcs8(alg, &pkcs8)?))
                }
            };
            current.insert(alg, key);
        }
        let jwks = serde_json::to_vec(&json!({ "keys": published })).map_err(|e| Error::Internal(e.into()))?;
        let set = Arc::new(KeySet { current, jwks: Arc::new(jwks) });
        if let Ok(mut slot) = self.loaded.write() {
            *slot = set;
        }
        Ok(())
    }

    fn snapshot(&self) -> Arc<KeySet> {
        self.loaded.read().map(|l| Arc::clone(&l)).unwrap_or_default()
    }

    /// The JWKS document (RFC 7517 §5): public members only.
    pub fn jwks(&self) -> Arc<Vec<u8>> {
        Arc::clone(&self.snapshot().jwks)
    }

    /// The key that signs with `alg` right now.
    pub fn signer(&self, alg: Alg) -> Option<Arc<SigningKey>> {
        self.snapshot().current.get(&alg).cloned()
    }

    /// Signs claims with the current key for `alg`.
    pub fn sign(&self, alg: Alg, typ: &str, claims: &impl Serialize) -> Result<String> {
        let key =
            self.signer(alg).ok_or_else(|| Error::Internal(anyhow::anyhow!("no current {} key", alg.as_str())))?;
        Ok(key.sign_jwt(typ, claims, &self.rng)?)
    }

    pub fn rng(&self) -> &SystemRandom {
        &self.rng
    }

    /// Rotates `alg`: the next key (already in JWKS) starts signing, the current key retires
    /// but stays published, and a new next key is published. Retired keys past their
    /// publication window are deleted.
    pub async fn rotate(&self, alg: Alg, actor: &str) -> Result<KeyInfo> {
        let now = self.clock.now();
        let new_next = self.new_key_row(alg, "next").await?;
        let event = AuditEvent::new(now, actor, "key.rotated", alg.as_str(), json!({ "new_next": new_next.kid }));
        let rotated = self.store.rotate_signing_keys(alg.as_str(), &new_next, now, &event).await.map_err(|e| {
            vault::remove(&self.key_store, &new_next.kid);
            if is_unique_violation(&e) {
                Error::conflict("another rotation ran at the same time; list the keys and retry if needed")
            } else {
                e.into()
            }
        })?;
        if !rotated {
            vault::remove(&self.key_store, &new_next.kid);
            return Err(Error::conflict(format!(
                "there is no next {} key to promote; restart the server to create one",
                alg.as_str()
            )));
        }
        for kid in self.store.prune_signing_keys(now, self.retired_ttl).await? {
            vault::remove(&self.key_store, &kid);
        }
        self.reload().await?;
        let current =
            self.signer(alg).ok_or_else(|| Error::Internal(anyhow::anyhow!("rotation left no current key")))?;
        self.list()
            .await?
            .into_iter()
            .find(|k| k.kid == current.kid)
            .ok_or_else(|| Error::not_found("the new current key"))
    }

    pub async fn list(&self) -> Result<Vec<KeyInfo>> {
        Ok(self
            .store
            .all_signing_keys()
            .await?
            .into_iter()
            .map(|k| KeyInfo {
                kid: k.kid,
                alg: k.alg,
                state: k.state,
                created_at: k.created_at,
                activated_at: k.activated_at,
                retired_at: k.retired_at,
            })
            .collect())
    }
}
