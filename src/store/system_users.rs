//! SQL for SuperID system users: the replay records of accepted signed system tokens (with
//! the sealed first answer an identical retry gets back) and the `7T:` tickets.

use super::row::DbRow;
use super::Store;
use crate::{on_db, on_write};

/// A ticket that is still good, with what its holder acts as.
#[derive(Debug, Clone)]
pub struct TicketRow {
    pub app_id: String,
    pub client_id: String,
    pub tenant_id: String,
    pub ctx: String,
    pub serial: i64,
    pub issued_at: i64,
    pub expires_at: i64,
    pub ends_at: i64,
}

/// What the replay record of a signed system token says about an earlier acceptance.
#[derive(Debug, Clone)]
pub struct ReplayRow {
    pub app_id: Option<String>,
    pub sealed: Option<Vec<u8>>,
}

/// Ends every ticket of an app in a tenant, inside the caller's transaction (the approval's
/// end). A macro, like `record!`, so one body serves both backends' executors.
macro_rules! end_tickets {
    ($exec:expr, $app_id:expr, $tenant_id:expr, $now:expr) => {
        sqlx::query(
            "UPDATE system_user_tickets SET revoked_at = $3 WHERE app_id = $1 AND tenant_id = $2 AND revoked_at IS NULL",
        )
        .bind($app_id)
        .bind($tenant_id)
        .bind($now)
        .execute($exec)
        .await
    };
}
pub(crate) use end_tickets;

impl Store {
    /// Records an accepted signed system token (for `app_id`) until `expires_at`. False: it
    /// was accepted before.
    pub async fn claim_system_user_replay(&self, digest: &[u8], app_id: &str, expires_at: i64) -> sqlx::Result<bool> {
        on_write!(self, pool => {
            Ok(sqlx::query("INSERT INTO system_user_replays (digest, expires_at, app_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
                .bind(digest).bind(expires_at).bind(app_id).execute(pool).await?.rows_affected() == 1)
        })
    }

    /// Keeps the sealed answer to an accepted signed system token, for an identical retry.
    pub async fn seal_system_user_answer(&self, digest: &[u8], sealed: &[u8]) -> sqlx::Result<()> {
        on_write!(self, pool => {
            sqlx::query("UPDATE system_user_replays SET sealed = $2 WHERE digest = $1 AND sealed IS NULL")
                .bind(digest).bind(sealed).execute(pool).await.map(|_| ())
        })
    }

    /// The replay record of a signed system token, if it is still kept.
    pub async fn system_user_replay(&self, digest: &[u8], now: i64) -> sqlx::Result<Option<ReplayRow>> {
        on_db!(&self.db, pool => {
            sqlx::query("SELECT app_id, sealed FROM system_user_replays WHERE digest = $1 AND expires_at > $2")
                .bind(digest).bind(now).fetch_optional(pool).await?
                .map(|r| Ok(ReplayRow { app_id: r.opt_text("app_id")?, sealed: r.opt_bytes("sealed")? }))
                .transpose()
        })
    }

    pub async fn insert_ticket(
        &self,
        digest: &[u8],
        app_id: &str,
        tenant_id: &str,
        now: i64,
        expires_at: i64,
        ends_at: i64,
    ) -> sqlx::Result<()> {
        on_write!(self, pool => {
            sqlx::query("INSERT INTO system_user_tickets (digest, app_id, tenant_id, issued_at, expires_at, ends_at) VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(digest).bind(app_id).bind(tenant_id).bind(now).bind(expires_at).bind(ends_at)
                .execute(pool).await.map(|_| ())
        })
    }

    /// A ticket that is unexpired, unrevoked, and whose app the running tenant still approves:
    /// one statement.
    pub async fn active_ticket(&self, digest: &[u8], now: i64) -> sqlx::Result<Option<TicketRow>> {
        const SQL: &str =
            "SELECT k.app_id, a.client_id, k.tenant_id, t.ctx, t.serial, k.issued_at, k.expires_at, k.ends_at \
            FROM system_user_tickets k JOIN apps a ON a.id = k.app_id JOIN tenants t ON t.id = k.tenant_id \
            JOIN authorization_records r ON r.app_id = k.app_id AND r.tenant_id = k.tenant_id \
            WHERE k.digest = $1 AND k.revoked_at IS NULL AND k.expires_at > $2 AND k.ends_at > $2 \
            AND r.status = 'approved' AND t.status = 'running'";
        on_db!(&self.db, pool => {
            sqlx::query(SQL).bind(digest).bind(now).fetch_optional(pool).await?
                .map(|r| Ok(TicketRow {
                    app_id: r.text("app_id")?,
                    client_id: r.text("client_id")?,
                    tenant_id: r.text("tenant_id")?,
                    ctx: r.text("ctx")?,
                    serial: r.int("serial")?,
                    issued_at: r.int("issued_at")?,
                    expires_at: r.int("expires_at")?,
                    ends_at: r.int("ends_at")?,
                }))
                .transpose()
        })
    }

    /// Slides a ticket's expiry to `expires_at` (never past its end, never backwards).
    pub async fn slide_ticket(&self, digest: &[u8], expires_at: i64) -> sqlx::Result<()> {
        on_write!(self, pool => {
            sqlx::query("UPDATE system_user_tickets SET expires_at = CASE WHEN ends_at < $2 THEN ends_at ELSE $2 END \
                WHERE digest = $1 AND expires_at < $2 AND revoked_at IS NULL")
                .bind(digest).bind(expires_at).execute(pool).await.map(|_| ())
        })
    }

    /// Revokes one ticket (RFC 7009 through `/revoke`, by the app it was issued to).
    pub async fn revoke_ticket(&self, digest: &[u8], app_id: &str, now: i64) -> sqlx::Result<bool> {
        on_write!(self, pool => {
            Ok(sqlx::query("UPDATE system_user_tickets SET revoked_at = $3 WHERE digest = $1 AND app_id = $2 AND revoked_at IS NULL")
                .bind(digest).bind(app_id).bind(now).execute(pool).await?.rows_affected() == 1)
        })
    }
}
