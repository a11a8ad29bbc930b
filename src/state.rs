//! What every request handler is given, passed explicitly, never global: the protocol's
//! `Provider` and the one thing only the web side needs, the device-cookie key. It holds no
//! HTTP types; the router adds its own (metrics, the discovery document) in `http::app`.

use std::ops::Deref;
use std::sync::Arc;

use crate::clock::Clock;
use crate::config::Config;
use crate::provider::Provider;
use crate::pruning::Pruner;
use crate::secret::Secret;

/// Cloned for every request (axum clones the state into each middleware layer and handler),
/// so it is two reference counts, not the provider's dozens: profiled, cloning the provider
/// itself was about a tenth of an introspection's CPU.
#[derive(Clone, Debug)]
pub struct AppState {
    pub provider: Arc<Provider>,
    /// Signs sign-in device cookies; shared by every instance through the database.
    pub device_key: Arc<Secret<Vec<u8>>>,
}

impl Deref for AppState {
    type Target = Provider;

    fn deref(&self) -> &Provider {
        &self.provider
    }
}

impl AppState {
    /// Connects, migrates, and loads (or first creates) the signing keys.
    pub async fn open(config: Config, clock: Clock) -> anyhow::Result<AppState> {
        let provider = Provider::open(config, clock).await?;
        // The first instance to start stores the key; the others read it.
        let device_key = provider
            .store
            .shared_secret("device-cookie", &crate::crypto::random_bytes::<32>(), provider.clock.now())
            .await
            .map_err(|e| anyhow::anyhow!("reading the device-cookie key: {e}"))?;
        Ok(AppState { provider: Arc::new(provider), device_key: Arc::new(Secret::new(device_key)) })
    }

    /// The background pruning job over this server's store and settings.
    pub fn pruner(&self) -> Pruner {
        Pruner { store: self.store.clone(), clock: self.clock.clone(), config: self.config.clone() }
    }
}
