//! An app's webhooks: URLs its partner registers to hear about the app's approvals (Standard
//! Webhooks: each delivery is signed with the webhook's own secret, shown once at creation).

use serde_json::json;

use super::*;
use crate::crypto::random_id;
use crate::error::{Error, Result};
use crate::store::audit::AuditEvent;
use crate::store::webhooks::WebhookRow;

/// Most webhooks an app may register.
pub const MAX_WEBHOOKS: i64 = 5;

/// The prefix of a Standard Webhooks secret; the rest is the base64 of the HMAC key.
pub const SECRET_PREFIX: &str = "whsec_";

impl Registry {
    /// Registers `url` (https, or loopback http, like a redirect URI) for the app's events;
    /// the webhook and its signing secret, which is shown only now.
    pub async fn add_webhook(&self, client_id: &str, url: &str, actor: &str) -> Result<(WebhookRow, String)> {
        let app = self.get(client_id).await?;
        redirect_uri::validate(url, false).map_err(|why| Error::invalid("webhook", format!("'{url}' {why}")))?;
        let secret = format!("{SECRET_PREFIX}{}", crate::crypto::b64(&crate::crypto::random_bytes::<32>()));
        let now = self.clock.now();
        let row = WebhookRow {
            id: format!("wh_{}", random_id()),
            app_id: app.id.clone(),
            url: url.to_string(),
            secret: secret.clone(),
            created_at: now,
        };
        let event = AuditEvent::new(now, actor, "app.webhook_added", client_id, json!({ "url": url }));
        if !self.store.insert_webhook(&row, MAX_WEBHOOKS, &event).await? {
            return Err(Error::conflict(format!(
                "'{url}' is registered already, or the app has {MAX_WEBHOOKS} webhooks"
            )));
        }
        Ok((row, secret))
    }

    pub async fn remove_webhook(&self, client_id: &str, url: &str, actor: &str) -> Result<()> {
        let app = self.get(client_id).await?;
        let event = AuditEvent::new(self.clock.now(), actor, "app.webhook_removed", client_id, json!({ "url": url }));
        if !self.store.delete_webhook(&app.id, url, &event).await? {
            return Err(Error::not_found(format!("webhook '{url}'")));
        }
        Ok(())
    }

    pub async fn webhooks(&self, client_id: &str) -> Result<Vec<WebhookRow>> {
        let app = self.get(client_id).await?;
        Ok(self.store.webhooks_of(&app.id).await?)
    }
}
