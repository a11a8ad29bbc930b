//! The public keys a client signs with: its registered certificates, and the JWK Set at its
//! `jwks_uri` (RFC 7591 §2), fetched through the outbound client and cached per instance. An
//! assertion naming a `kid` we have not seen makes us fetch again (the client rotated), at most
//! once per `REFETCH_AFTER` seconds per app, so unknown kids cannot make us hammer the URL.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::App;
use crate::jose::{certificate, ClientKey, PublicKey};
use crate::outbound::{FetchError, Outbound};
use crate::store::apps::CertificateRow;

/// How long fetched keys are used without asking again, in seconds.
pub const CACHE_TTL: i64 = 300;
/// The shortest time between two fetches of one app's keys, in seconds.
pub const REFETCH_AFTER: i64 = 30;

/// The key an uploaded certificate row holds, under the names a JWS header may give it.
pub fn from_certificate(row: &CertificateRow) -> Option<ClientKey> {
    let jwk = serde_json::from_str::<serde_json::Value>(&row.jwk).ok()?;
    let key = PublicKey::from_jwk(&jwk).ok()?;
    Some(ClientKey { thumbprint: row.kid.clone(), kid: row.client_kid.clone(), key })
}

struct Fetched {
    uri: String,
    keys: Arc<Vec<ClientKey>>,
    fetched_at: i64,
}

pub struct RemoteKeys {
    outbound: Outbound,
    cache: Mutex<HashMap<String, Fetched>>,
}

impl std::fmt::Debug for RemoteKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteKeys").field("outbound", &self.outbound).finish()
    }
}

impl RemoteKeys {
    pub fn new(outbound: Outbound) -> RemoteKeys {
        RemoteKeys { outbound, cache: Mutex::new(HashMap::new()) }
    }

    pub fn outbound(&self) -> &Outbound {
        &self.outbound
    }

    /// The keys at the app's `jwks_uri` (none if it has none). `wanted_kid` is the kid a JWS
    /// names: if the cached set lacks it, the set is fetched again (rate-limited).
    pub async fn keys(&self, app: &App, now: i64, wanted_kid: Option<&str>) -> Result<Arc<Vec<ClientKey>>, FetchError> {
        let Some(uri) = &app.jwks_uri else { return Ok(Arc::new(Vec::new())) };
        let cached = self.cached(&app.client_id, uri);
        if let Some((keys, fetched_at)) = &cached {
            let fresh = now - fetched_at < CACHE_TTL;
            let knows_kid =
                wanted_kid.is_none_or(|k| keys.iter().any(|c| c.kid.as_deref() == Some(k) || c.thumbprint == k));
            if fresh && (knows_kid || now - fetched_at < REFETCH_AFTER) {
                return Ok(keys.clone());
            }
        }
        match self.fetch(uri).await {
            Ok(keys) => {
                let keys = Arc::new(keys);
                if let Ok(mut cache) = self.cache.lock() {
                    cache.insert(
                        app.client_id.clone(),
                        Fetched { uri: uri.clone(), keys: keys.clone(), fetched_at: now },
                    );
                }
                Ok(keys)
            }
            Err(e) => {
                tracing::warn!(client_id = %app.client_id, reason = %e, "fetching the client's jwks_uri failed");
                // A client whose URL is briefly down keeps working with the keys it had.
                cached.map(|(keys, _)| keys).ok_or(e)
            }
        }
    }

    fn cached(&self, client_id: &str, uri: &str) -> Option<(Arc<Vec<ClientKey>>, i64)> {
        let cache = self.cache.lock().ok()?;
        cache.get(client_id).filter(|f| f.uri == uri).map(|f| (f.keys.clone(), f.fetched_at))
    }

    async fn fetch(&self, uri: &str) -> Result<Vec<ClientKey>, FetchError> {
        let doc = self.outbound.get_json(uri).await?;
        parse_jwk_set(&doc)
    }
}

/// The signing keys of a JWK Set: keys for encryption, of types we do not verify with, or too
/// weak are skipped; a set with no usable key is an error.
pub fn parse_jwk_set(doc: &serde_json::Value) -> Result<Vec<ClientKey>, FetchError> {
    let keys = doc
        .get("keys")
        .and_then(|k| k.as_array())
        .ok_or_else(|| FetchError("is not a JWK Set (no 'keys' array)".into()))?;
    let usable: Vec<ClientKey> = keys
        .iter()
        .take(super::MAX_CERTIFICATES * 2)
        .filter(|k| k.get("use").and_then(|u| u.as_str()).is_none_or(|u| u == "sig"))
        .filter_map(|k| {
            let parsed = certificate::parse(k.to_string().as_bytes()).ok()?;
            Some(ClientKey { thumbprint: parsed.key.thumbprint(), kid: parsed.kid, key: parsed.key })
        })
        .collect();
    if usable.is_empty() {
        return Err(FetchError("holds no usable signing key".into()));
    }
    Ok(usable)
}
