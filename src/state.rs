//! What every request handler is given: passed explicitly, never global.

use std::sync::Arc;

use crate::apps::client_keys::RemoteKeys;
use crate::apps::Registry;
use crate::clock::Clock;
use crate::config::Config;
use crate::http::metrics::Metrics;
use crate::keys::Keys;
use crate::outbound::Outbound;
use crate::secret::Secret;
use crate::store::batch::TokenWriter;
use crate::store::Store;
use crate::tenants::Directory;

#[derive(Clone, Debug)]
pub struct AppState {
    pub config: Arc<Config>,
    pub clock: Clock,
    pub store: Store,
    pub keys: Arc<Keys>,
    pub registry: Registry,
    pub directory: Directory,
    pub metrics: Arc<Metrics>,
    /// The discovery document, built once from the route table and configuration.
    pub discovery: Arc<Vec<u8>>,
    /// Stores opaque access tokens with group commit.
    pub token_writer: TokenWriter,
    /// Clients' keys fetched from their `jwks_uri`, cached per instance.
    pub remote_keys: Arc<RemoteKeys>,
    /// Signs sign-in device cookies; shared by every instance through the database.
    pub device_key: Arc<Secret<Vec<u8>>>,
}

impl AppState {
    /// Connects, migrates, and loads (or first creates) the signing keys.
    pub async fn open(config: Config, clock: Clock) -> anyhow::Result<AppState> {
        let store = Store::connect(&config.database_url, config.db_acquire_timeout, config.db_max_connections).await?;
        store.migrate().await?;
        let keys = Keys::open(
            store.clone(),
            clock.clone(),
            config.key_store.clone(),
            &config.signing_algs,
            config.retired_key_ttl,
        )
        .await?;
        // The first instance to start stores the key; the others read it.
        let device_key = store
            .shared_secret("device-cookie", &crate::crypto::random_bytes::<32>(), clock.now())
            .await
            .map_err(|e| anyhow::anyhow!("reading the device-cookie key: {e}"))?;
        let discovery = Arc::new(crate::http::discovery::document(&config)?);
        let remote_keys = Arc::new(RemoteKeys::new(Outbound::new(config.outbound_allow_private)?));
        Ok(AppState {
            registry: Registry::new(store.clone(), clock.clone()),
            directory: Directory::new(store.clone(), clock.clone()),
            keys: Arc::new(keys),
            metrics: Arc::new(Metrics::new()),
            config: Arc::new(config),
            token_writer: TokenWriter::spawn(store.clone()),
            clock,
            store,
            discovery,
            remote_keys,
            device_key: Arc::new(Secret::new(device_key)),
        })
    }
}
