//! What a protocol step is given: the domain's handles (registry, directory, approvals, keys,
//! store, clock) and the settings. Nothing of HTTP is in here, so `oauth`, `oidc` and
//! `superid` can be called from the router, the CLI or a test alike. `state::AppState` adds
//! what only the web side needs.

use std::sync::Arc;

use crate::approvals::Approvals;
use crate::apps::client_keys::RemoteKeys;
use crate::apps::Registry;
use crate::clock::Clock;
use crate::config::Config;
use crate::keys::Keys;
use crate::mail::Mailer;
use crate::outbound::Outbound;
use crate::store::batch::TokenWriter;
use crate::store::Store;
use crate::tenants::factors::Factors;
use crate::tenants::people::People;
use crate::tenants::Directory;

#[derive(Clone, Debug)]
pub struct Provider {
    pub config: Arc<Config>,
    pub clock: Clock,
    pub store: Store,
    pub keys: Arc<Keys>,
    pub registry: Registry,
    pub directory: Directory,
    pub approvals: Approvals,
    /// Invitations, verification, password reset and tenant membership, by mail.
    pub people: People,
    /// Second factors (TOTP, recovery codes).
    pub factors: Factors,
    /// Stores opaque access tokens with group commit.
    pub token_writer: TokenWriter,
    /// Looks opaque tokens up for introspection in batches.
    pub token_reader: crate::store::batch::TokenReader,
    /// Clients' keys fetched from their `jwks_uri`, cached per instance.
    pub remote_keys: Arc<RemoteKeys>,
    /// Makes and checks DPoP nonces (RFC 9449 §8); shared by every instance through the database.
    pub dpop_nonce_key: Arc<crate::secret::Secret<Vec<u8>>>,
    /// The one outbound HTTP client (also behind `remote_keys`).
    pub outbound: Outbound,
    /// Wakes this instance's outbox delivery when it queued something (other instances find
    /// it on their next poll).
    pub outbox_queued: Arc<tokio::sync::Notify>,
    /// Tenants' upstream OpenID Providers (federation).
    pub upstreams: crate::federation::Upstreams,
}

impl Provider {
    /// Connects, migrates, and loads (or first creates) the signing keys.
    pub async fn open(config: Config, clock: Clock) -> anyhow::Result<Provider> {
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
        let outbound = Outbound::new(config.outbound_allow_private)?;
        let outbox_queued: Arc<tokio::sync::Notify> = Arc::default();
        let remote_keys = Arc::new(RemoteKeys::new(outbound.clone()));
        let default_mfa = crate::tenants::factors::Policy::parse(&config.default_mfa_policy)?;
        let directory = Directory::new(store.clone(), clock.clone(), default_mfa);
        let mailer = Mailer::new(&config.mail)?;
        let people = People::new(store.clone(), clock.clone(), directory.clone(), mailer, &config.issuer);
        let dpop_nonce_key = store
            .shared_secret("dpop-nonce", &crate::crypto::random_bytes::<32>(), clock.now())
            .await
            .map_err(|e| anyhow::anyhow!("reading the DPoP nonce key: {e}"))?;
        // Seals upstream client secrets: under the key-encryption key when keys live in the
        // database (so a copy of the database alone opens nothing), else a deployment secret.
        let federation_key = match &config.key_store {
            crate::config::KeyStore::Database { encryption_key } => {
                crate::crypto::sha256(&[encryption_key.expose().as_slice(), b"gatehouse federation"].concat()).to_vec()
            }
            crate::config::KeyStore::Files(_) => store
                .shared_secret("federation", &crate::crypto::random_bytes::<32>(), clock.now())
                .await
                .map_err(|e| anyhow::anyhow!("reading the federation key: {e}"))?,
        };
        let upstreams = crate::federation::Upstreams::new(
            store.clone(),
            clock.clone(),
            directory.clone(),
            outbound.clone(),
            crate::secret::Secret::new(federation_key),
            &config.issuer,
            crate::federation::domains::Dns::new(config.dns_server),
        );
        Ok(Provider {
            upstreams,
            dpop_nonce_key: Arc::new(crate::secret::Secret::new(dpop_nonce_key)),
            registry: Registry::new(store.clone(), clock.clone()),
            approvals: Approvals::new(store.clone(), clock.clone(), directory.clone(), outbox_queued.clone()),
            directory,
            people,
            factors: Factors::new(store.clone(), clock.clone(), &config.issuer),
            keys: Arc::new(keys),
            config: Arc::new(config),
            token_writer: TokenWriter::spawn(store.clone()),
            token_reader: crate::store::batch::TokenReader::spawn(store.clone()),
            clock,
            store,
            remote_keys,
            outbound,
            outbox_queued,
        })
    }
}
