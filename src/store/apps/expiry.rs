//! SQL for expiry notices: secrets and certificates that end within the horizon and whose app's
//! webhooks have not heard so yet.

use crate::store::outbox::{queue_webhooks, WebhookEvent};
use crate::store::row::DbRow;
use crate::store::Store;
use crate::{on_db, on_write};

/// A secret or certificate that ends soon.
#[derive(Debug, Clone)]
pub struct Expiring {
    /// `secret` or `certificate`.
    pub kind: &'static str,
    /// The table that holds it.
    table: &'static str,
    pub id: String,
    pub app_id: String,
    pub client_id: String,
    pub expires_at: i64,
}

/// The credentials a notice can be about, by the table that holds them.
const TABLES: [(&str, &str); 2] = [("secret", "app_secrets"), ("certificate", "app_certificates")];

impl Store {
    /// Live secrets and certificates that end after `now` and by `until`, not noticed yet
    /// (at most `limit` of each).
    pub async fn expiring(&self, now: i64, until: i64, limit: i64) -> sqlx::Result<Vec<Expiring>> {
        let mut out = Vec::new();
        for (kind, table) in TABLES {
            let sql = format!(
                "SELECT c.id, c.app_id, a.client_id, c.expires_at FROM {table} c JOIN apps a ON a.id = c.app_id \
                 WHERE c.revoked_at IS NULL AND c.expiry_noticed_at IS NULL AND c.expires_at > $1 AND c.expires_at <= $2 \
                 ORDER BY c.expires_at LIMIT $3"
            );
            on_db!(&self.db, pool => {
                for r in &sqlx::query(&sql).bind(now).bind(until).bind(limit).fetch_all(pool).await? {
                    out.push(Expiring {
                        kind,
                        table,
                        id: r.text("id")?,
                        app_id: r.text("app_id")?,
                        client_id: r.text("client_id")?,
                        expires_at: r.int("expires_at")?,
                    });
                }
            });
        }
        Ok(out)
    }

    /// Claims the notice about `e` and queues `event` for its app's webhooks, in one
    /// transaction; false (nothing queued) when another instance claimed it first.
    pub async fn notice_expiring(&self, e: &Expiring, event: &WebhookEvent, now: i64) -> sqlx::Result<bool> {
        let claim =
            format!("UPDATE {} SET expiry_noticed_at = $2 WHERE id = $1 AND expiry_noticed_at IS NULL", e.table);
        on_write!(self, pool => {
            let mut tx = pool.begin().await?;
            let claimed = sqlx::query(&claim).bind(&e.id).bind(now).execute(&mut *tx).await?.rows_affected() == 1;
            if claimed {
                queue_webhooks!(&mut *tx, &e.app_id, event, now)?;
            }
            tx.commit().await?;
            Ok(claimed)
        })
    }
}
