//! Server signing keys (DESIGN §5): made on first start, rotated next → current → retired →
//! gone, published as JWKS. Each instance holds the keys parsed in memory and reloads them
//! from the database, so a rotation on one instance reaches the others.

pub mod certificate;
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
use crate::jose::PublicKey;
use crate::store::audit::AuditEvent;
use crate::store::keys::KeyRow;
use crate::store::{is_unique_violation, Store};

pub use crate::jose::{Alg, KeyPair, SigningKey};

/// The default algorithms the server keeps a current and a next key for. RS256 is required
/// by OIDC; ES256 is the compact alternative. `keys.algorithms` may add PS256 and EdDSA.
pub const DEFAULT_ALGS: [Alg; 2] = [Alg::RS256, Alg::ES256];

/// What one load of the database gives: signers by algorithm (and by app for dedicated
/// keys), every published public key for verification, and the JWKS to publish.
#[derive(Debug, Default)]
pub struct KeySet {
    current: HashMap<Alg, Arc<SigningKey>>,
    app_current: HashMap<String, Arc<SigningKey>>,
    verifiers: HashMap<String, (Alg, PublicKey)>,
    jwks: Arc<Vec<u8>>,
    /// The same keys with the RSA key that signs SuperID tokens first: SuperOffice's samples
    /// verify with `keys[0]`.
    superid_jwks: Arc<Vec<u8>>,
    /// DER certificates of the RSA keys, by kid.
    certificates: HashMap<String, Arc<Vec<u8>>>,
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
    algs: Vec<Alg>,
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
    pub async fn open(store: Store, clock: Clock, key_store: KeyStore, algs: &[Alg], retired_ttl: i64) -> Result<Keys> {
        let keys = Keys {
            store,
            clock,
            key_store,
            algs: algs.to_vec(),
            retired_ttl,
            rng: SystemRandom::new(),
            loaded: RwLock::default(),
        };
        keys.ensure().await?;
        keys.reload().await?;
        Ok(keys)
    }

    async fn ensure(&self) -> Result<()> {
        self.ensure_for(None, &self.algs).await
    }

    /// Creates the missing current and next keys of `owner` (None: the server) for `algs`.
    async fn ensure_for(&self, owner: Option<&str>, algs: &[Alg]) -> Result<()> {
        let existing = self.store.signing_keys_of(owner).await?;
        for &alg in algs {
            for state in ["current", "next"] {
                if !existing.iter().any(|k| k.alg == alg.as_str() && k.state == state) {
                    match self.create(owner, alg, state).await {
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

    async fn create(&self, owner: Option<&str>, alg: Alg, state: &str) -> Result<KeyRow> {
        let row = self.new_key_row(owner, alg, state).await?;
        let event = AuditEvent::new(
            self.clock.now(),
            "system",
            "key.created",
            &row.kid,
            json!({ "alg": row.alg, "state": state, "app": owner }),
        );
        self.store.insert_signing_key(&row, &event).await.map_err(|e| Error::Internal(e.into()))?;
        Ok(row)
    }

    async fn new_key_row(&self, owner: Option<&str>, alg: Alg, state: &str) -> Result<KeyRow> {
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
            app_id: owner.map(str::to_string),
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
        let mut set = KeySet::default();
        let mut published = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut jwk: serde_json::Value =
                serde_json::from_str(&row.public_jwk).map_err(|e| Error::Internal(e.into()))?;
            let alg = Alg::parse(&row.alg)?;
            set.verifiers.insert(row.kid.clone(), (alg, PublicKey::from_jwk(&jwk)?));
            let is_rsa = matches!(alg, Alg::RS256 | Alg::PS256);
            // Parse a private key only when it is new to this instance: to sign with (current
            // keys) or to certify once (RSA keys).
            let known = previous.current.values().chain(previous.app_current.values()).find(|k| k.kid == row.kid);
            let cached_cert = previous.certificates.get(&row.kid).cloned();
            let pair = match known {
                Some(k) => Some(Arc::clone(k)),
                None if row.state == "current" => {
                    let pkcs8 = vault::open(&self.key_store, &row.kid, row.private_key.as_deref())?;
                    Some(Arc::new(SigningKey::new(row.kid.clone(), alg, KeyPair::from_pkcs8(alg, &pkcs8)?)))
                }
                // A next or retired RSA key is opened only to certify it, once per instance;
                // one whose private half is gone is published without a certificate.
                None if is_rsa && cached_cert.is_none() => {
                    vault::open(&self.key_store, &row.kid, row.private_key.as_deref())
                        .ok()
                        .and_then(|pkcs8| KeyPair::from_pkcs8(alg, &pkcs8).ok())
                        .map(|pair| Arc::new(SigningKey::new(row.kid.clone(), alg, pair)))
                }
                None => None,
            };
            let der = match (cached_cert, &pair) {
                (Some(der), _) => Some(der),
                (None, Some(key)) if is_rsa => match certificate::self_signed(key.pair(), &row.kid, row.created_at) {
                    Ok(der) => Some(Arc::new(der)),
                    Err(e) => {
                        tracing::warn!(kid = %row.kid, error = %e, "a signing key's certificate could not be made");
                        None
                    }
                },
                _ => None,
            };
            if let Some(der) = der {
                jwk["x5c"] = json!([crate::crypto::b64(&der)]);
                jwk["x5t"] = json!(crate::crypto::b64url(
                    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, &der).as_ref()
                ));
                jwk["x5t#S256"] = json!(crate::crypto::b64url(&crate::crypto::sha256(&der)));
                set.certificates.insert(row.kid.clone(), der);
            }
            published.push(jwk);
            if row.state != "current" {
                continue;
            }
            let Some(key) = pair else { continue };
            match &row.app_id {
                Some(app) => set.app_current.insert(app.clone(), key),
                None => set.current.insert(alg, key),
            };
        }
        let superid_signer = set.current.get(&Alg::RS256).map(|k| k.kid.clone());
        let mut superid_order = published.clone();
        superid_order.sort_by_key(|jwk| {
            let kid = jwk.get("kid").and_then(|k| k.as_str());
            (kid != superid_signer.as_deref(), jwk.get("kty").and_then(|k| k.as_str()) != Some("RSA"))
        });
        set.jwks = Arc::new(serde_json::to_vec(&json!({ "keys": published })).map_err(|e| Error::Internal(e.into()))?);
        set.superid_jwks =
            Arc::new(serde_json::to_vec(&json!({ "keys": superid_order })).map_err(|e| Error::Internal(e.into()))?);
        let set = Arc::new(set);
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

    /// The JWKS of the SuperID path: the RSA key that signs SuperID tokens first.
    pub fn superid_jwks(&self) -> Arc<Vec<u8>> {
        Arc::clone(&self.snapshot().superid_jwks)
    }

    /// The DER certificate of the RSA key that signs SuperID tokens (RS256) now.
    pub fn signing_certificate(&self) -> Option<Arc<Vec<u8>>> {
        let set = self.snapshot();
        let kid = &set.current.get(&Alg::RS256)?.kid;
        set.certificates.get(kid).cloned()
    }

    /// The DER certificate of a published RSA key.
    pub fn certificate(&self, kid: &str) -> Option<Arc<Vec<u8>>> {
        self.snapshot().certificates.get(kid).cloned()
    }

    /// The key that signs with `alg` right now.
    pub fn signer(&self, alg: Alg) -> Option<Arc<SigningKey>> {
        self.snapshot().current.get(&alg).cloned()
    }

    /// The dedicated key of an app, if it has one.
    pub fn app_signer(&self, app_id: &str) -> Option<Arc<SigningKey>> {
        self.snapshot().app_current.get(app_id).cloned()
    }

    /// Verifies a JWT we signed (any published key, its own algorithm only) and returns its
    /// claims if the header's `typ` is `typ`.
    pub fn verify_own(&self, token: &str, typ: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
        let (signing_input, signature) = token.rsplit_once('.')?;
        let (header, payload) = signing_input.split_once('.')?;
        let header: serde_json::Value = serde_json::from_slice(&crate::crypto::b64url_decode(header)?).ok()?;
        if header.get("typ")?.as_str()? != typ {
            return None;
        }
        let set = self.snapshot();
        let (alg, key) = set.verifiers.get(header.get("kid")?.as_str()?)?;
        if header.get("alg")?.as_str()? != alg.as_str() {
            return None;
        }
        let signature = crate::crypto::b64url_decode(signature)?;
        if !key.verify(alg.as_str(), signing_input.as_bytes(), &signature) {
            return None;
        }
        serde_json::from_slice(&crate::crypto::b64url_decode(payload)?).ok()
    }

    /// Gives an app a dedicated signing key pair (current and next) for `alg`.
    pub async fn enable_app_key(&self, app_id: &str, alg: Alg) -> Result<()> {
        self.ensure_for(Some(app_id), &[alg]).await?;
        self.store.set_dedicated_signing_key(app_id, true, self.clock.now()).await?;
        self.reload().await
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
        self.rotate_for(None, alg, actor).await
    }

    /// Rotates the dedicated key of an app (`client_id` names it in the audit trail, and its
    /// webhooks hear `key.rotated`).
    pub async fn rotate_app(&self, app_id: &str, client_id: &str, alg: Alg, actor: &str) -> Result<KeyInfo> {
        self.rotate_for(Some((app_id, client_id)), alg, actor).await
    }

    async fn rotate_for(&self, app: Option<(&str, &str)>, alg: Alg, actor: &str) -> Result<KeyInfo> {
        let now = self.clock.now();
        let owner = app.map(|(id, _)| id);
        let new_next = self.new_key_row(owner, alg, "next").await?;
        crate::failpoint::crash_if_set("keys.rotate.after_next_made");
        let subject = app.map_or(alg.as_str(), |(_, client_id)| client_id);
        let mut detail = json!({ "alg": alg.as_str(), "new_next": new_next.kid });
        if let Some((_, client_id)) = app {
            // Names the app, so its partner's webhooks (not every partner's) hear of it.
            detail["client_id"] = json!(client_id);
        }
        let event = AuditEvent::new(now, actor, "key.rotated", subject, detail);
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
        let current = match owner {
            Some(app) => self.app_signer(app),
            None => self.signer(alg),
        }
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("rotation left no current key")))?;
        self.list_for(owner)
            .await?
            .into_iter()
            .find(|k| k.kid == current.kid)
            .ok_or_else(|| Error::not_found("the new current key"))
    }

    /// The server's keys, every state.
    pub async fn list(&self) -> Result<Vec<KeyInfo>> {
        self.list_for(None).await
    }

    pub async fn list_for(&self, owner: Option<&str>) -> Result<Vec<KeyInfo>> {
        Ok(self
            .store
            .signing_keys_of(owner)
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
