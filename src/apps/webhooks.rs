//! Webhooks: URLs a partner registers to hear about one app's approvals and changes, or about
//! all of its apps at once (created, deleted, keys rotated). Standard Webhooks: each delivery
//! is signed with the webhook's own secret, shown once at creation.

use serde_json::json;

use super::*;
use crate::crypto::random_id;
use crate::error::{Error, Result};
use crate::store::audit::AuditEvent;
use crate::store::webhooks::{PartnerWebhookRow, WebhookRow};

/// Most webhooks an app may register, and a partner for all of its apps.
pub const MAX_WEBHOOKS: i64 = 5;

/// The prefix of a Standard Webhooks secret; the rest is the base64 of the HMAC key.
pub const SECRET_PREFIX: &str = "whsec_";

impl Registry {
    /// Registers `url` (https, or loopback http, like a redirect URI) for the app's events;
    /// the webhook and its signing secret, which is shown only now.
    pub async fn add_webhook(&self, client_id: &str, url: &str, actor: &str) -> Result<(WebhookRow, String)> {
        let app = self.get(client_id).await?;
        let secret = new_secret(url)?;
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

    /// Registers `url` for the events of all of partner `partner_id`'s apps; the webhook and
    /// its signing secret, which is shown only now.
    pub async fn add_partner_webhook(
        &self,
        partner_id: &str,
        url: &str,
        actor: &str,
    ) -> Result<(PartnerWebhookRow, String)> {
        let secret = new_secret(url)?;
        let now = self.clock.now();
        let row = PartnerWebhookRow {
            id: format!("wh_{}", random_id()),
            partner_id: partner_id.to_string(),
            url: url.to_string(),
            secret: secret.clone(),
            created_at: now,
        };
        let event = AuditEvent::new(now, actor, "partner.webhook_added", partner_id, json!({ "url": url }));
        if !self.store.insert_partner_webhook(&row, MAX_WEBHOOKS, &event).await? {
            return Err(Error::conflict(format!(
                "'{url}' is registered already, or the partner has {MAX_WEBHOOKS} webhooks"
            )));
        }
        Ok((row, secret))
    }

    /// Removes a partner webhook; its undelivered events go with it.
    pub async fn remove_partner_webhook(&self, partner_id: &str, id: &str, actor: &str) -> Result<()> {
        let event =
            AuditEvent::new(self.clock.now(), actor, "partner.webhook_removed", partner_id, json!({ "id": id }));
        if !self.store.delete_partner_webhook(partner_id, id, &event).await? {
            return Err(Error::not_found(format!("webhook '{id}'")));
        }
        Ok(())
    }
}

/// Checks a webhook URL (https, or loopback http, like a redirect URI) and makes its secret.
fn new_secret(url: &str) -> Result<String> {
    redirect_uri::validate(url, false).map_err(|why| Error::invalid("webhook", format!("'{url}' {why}")))?;
    Ok(format!("{SECRET_PREFIX}{}", crate::crypto::b64(&crate::crypto::random_bytes::<32>())))
}
