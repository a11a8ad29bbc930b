//! The app registry (DESIGN §3): apps created from templates, their client secrets, exact
//! redirect / post-logout / CORS lists, entitlements, and certificates.

mod cache;
mod certificates;
pub mod client_keys;
pub mod client_secret;
mod entitlements;
pub mod expiry;
mod model;
pub mod redirect_uri;
mod registry;
mod resources;
mod secrets;
mod settings;
pub mod template;
mod uris;
pub mod webhooks;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::clock::Clock;
use crate::error::{Error, Result};
pub use crate::jose::{GeneratedPrivateKey, KeyFormat, PublicKey};
use crate::store::Store;
pub use model::{
    App, AppEntitlement, AppOverrides, Certificate, CreatedApp, IssuedSecret, NewApp, SecretInfo, TokenSettings,
};
use secrets::RecentAuthentication;
pub use secrets::{SecretCheck, AUTH_CACHE_TTL};
pub use template::{Access, AppKind, ClientType, Entitlement, EntitlementStatus, RefreshMode, Template, TokenFormat};

/// Most URIs of one kind an app may register.
pub const MAX_URIS: usize = 50;

/// Most usable (unexpired, unrevoked) certificates an app may hold.
pub const MAX_CERTIFICATES: usize = 10;

/// Apps cached per instance; past this many the cache starts over.
const APP_CACHE_CAPACITY: usize = 10_000;

/// Longest refresh grace period an app may opt into (a retried refresh after a lost response).
pub const MAX_REFRESH_GRACE: i64 = 120;

crate::vocab::string_enum!(
    /// The exact lists an app keeps; `resource` holds the RFC 8707 resource indicators it may
    /// ask tokens for.
    UriKind, "uri kind" {
        Redirect => "redirect",
        PostLogout => "post-logout",
        Cors => "cors",
        Resource => "resource",
        BackchannelLogout => "backchannel-logout",
    }
);

/// A stored value that no longer parses is a bug or a bad migration, not user error.
fn stored<T>(r: Result<T>) -> Result<T> {
    r.map_err(|e| Error::Internal(anyhow::anyhow!("stored value is invalid: {e}")))
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
}
