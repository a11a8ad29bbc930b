//! SQL for webhooks: the URLs a partner registered for one app or for all of its apps, and the
//! secret each delivery is signed with. Changes are audited in the same commit.

use crate::on_db;
use crate::store::audit::{audited, AuditEvent};
use crate::store::row::DbRow;
use crate::store::Store;

#[derive(Debug, Clone, serde::Serialize)]
pub struct WebhookRow {
    pub id: String,
    pub app_id: String,
    pub url: String,
    #[serde(skip)]
    pub secret: String,
    pub created_at: i64,
}

fn webhook_row(r: &impl DbRow) -> sqlx::Result<WebhookRow> {
    Ok(WebhookRow {
        id: r.text("id")?,
        app_id: r.text("app_id")?,
        url: r.text("url")?,
        secret: r.text("secret")?,
        created_at: r.int("created_at")?,
    })
}

/// A webhook a partner registered for all of its apps.
#[derive(Debug, Clone)]
pub struct PartnerWebhookRow {
    pub id: String,
    pub partner_id: String,
    pub url: String,
    pub secret: String,
    pub created_at: i64,
}

fn partner_webhook_row(r: &impl DbRow) -> sqlx::Result<PartnerWebhookRow> {
    Ok(PartnerWebhookRow {
        id: r.text("id")?,
        partner_id: r.text("partner_id")?,
        url: r.text("url")?,
        secret: r.text("secret")?,
        created_at: r.int("created_at")?,
    })
}

impl Store {
    /// Adds a webhook unless the app has `max` already or this URL; false when refused.
    pub async fn insert_webhook(&self, w: &WebhookRow, max: i64, event: &AuditEvent) -> sqlx::Result<bool> {
        audited!(self, event, when |done: &bool| *done, tx => {
            sqlx::query("INSERT INTO app_webhooks (id, app_id, url, secret, created_at) \
                SELECT $1, $2, $3, $4, $5 WHERE (SELECT COUNT(*) FROM app_webhooks WHERE app_id = $2) < $6 \
                ON CONFLICT (app_id, url) DO NOTHING")
                .bind(&w.id).bind(&w.app_id).bind(&w.url).bind(&w.secret).bind(w.created_at).bind(max)
                .execute(&mut *tx).await?.rows_affected() == 1
        })
    }

    pub async fn delete_webhook(&self, app_id: &str, url: &str, event: &AuditEvent) -> sqlx::Result<bool> {
        audited!(self, event, when |done: &bool| *done, tx => {
            sqlx::query("DELETE FROM app_webhooks WHERE app_id = $1 AND url = $2")
                .bind(app_id).bind(url).execute(&mut *tx).await?.rows_affected() == 1
        })
    }

    pub async fn webhooks_of(&self, app_id: &str) -> sqlx::Result<Vec<WebhookRow>> {
        on_db!(&self.db, pool => {
            sqlx::query("SELECT id, app_id, url, secret, created_at FROM app_webhooks WHERE app_id = $1 ORDER BY created_at, url")
                .bind(app_id).fetch_all(pool).await?.iter().map(webhook_row).collect()
        })
    }

    /// Where a delivery goes and what signs it: an app's webhook or a partner's (ids are
    /// random, so one never names the other).
    pub async fn webhook_target(&self, id: &str) -> sqlx::Result<Option<(String, String)>> {
        const SQL: &str = "SELECT url, secret FROM app_webhooks WHERE id = $1 \
            UNION ALL SELECT url, secret FROM partner_webhooks WHERE id = $1";
        on_db!(&self.db, pool => {
            let row = sqlx::query(SQL).bind(id).fetch_optional(pool).await?;
            row.map(|r| Ok((r.text("url")?, r.text("secret")?))).transpose()
        })
    }

    /// Adds a partner webhook unless the partner has `max` already or this URL; false when refused.
    pub async fn insert_partner_webhook(
        &self,
        w: &PartnerWebhookRow,
        max: i64,
        event: &AuditEvent,
    ) -> sqlx::Result<bool> {
        audited!(self, event, when |done: &bool| *done, tx => {
            sqlx::query("INSERT INTO partner_webhooks (id, partner_id, url, secret, created_at) \
                SELECT $1, $2, $3, $4, $5 WHERE (SELECT COUNT(*) FROM partner_webhooks WHERE partner_id = $2) < $6 \
                ON CONFLICT (partner_id, url) DO NOTHING")
                .bind(&w.id).bind(&w.partner_id).bind(&w.url).bind(&w.secret).bind(w.created_at).bind(max)
                .execute(&mut *tx).await?.rows_affected() == 1
        })
    }

    /// Removes partner webhook `id` with its undelivered events; false when the partner has none such.
    pub async fn delete_partner_webhook(&self, partner_id: &str, id: &str, event: &AuditEvent) -> sqlx::Result<bool> {
        audited!(self, event, when |done: &bool| *done, tx => {
            sqlx::query("DELETE FROM partner_webhooks WHERE partner_id = $1 AND id = $2")
                .bind(partner_id).bind(id).execute(&mut *tx).await?.rows_affected() == 1
        })
    }

    pub async fn partner_webhooks(&self, partner_id: &str) -> sqlx::Result<Vec<PartnerWebhookRow>> {
        on_db!(&self.db, pool => {
            sqlx::query("SELECT id, partner_id, url, secret, created_at FROM partner_webhooks \
                WHERE partner_id = $1 ORDER BY created_at, url")
                .bind(partner_id).fetch_all(pool).await?.iter().map(partner_webhook_row).collect()
        })
    }
}
