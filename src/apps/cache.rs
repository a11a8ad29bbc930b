//! Reading apps through this instance's cache. One read gives an app's row and its revision;
//! the cached copy is used while the revision has not moved (every change moves it in the
//! same transaction, `store::apps::update_app!`).

use std::sync::Arc;

use super::*;
use crate::error::{Error, Result};
use crate::store::apps::AppRow;

impl Registry {
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
    pub(super) async fn complete(&self, row: AppRow) -> Result<Arc<App>> {
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
}
