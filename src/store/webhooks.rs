//! SQL for an app's webhooks: the URLs its partner registered and the secret each delivery is
//! signed with. Changes are audited in the same commit.

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

    pub async fn webhook(&self, id: &str) -> sqlx::Result<Option<WebhookRow>> {
        on_db!(&self.db, pool => {
            sqlx::query("SELECT id, app_id, url, secret, created_at FROM app_webhooks WHERE id = $1")
                .bind(id).fetch_optional(pool).await?.as_ref().map(webhook_row).transpose()
        })
    }
}
