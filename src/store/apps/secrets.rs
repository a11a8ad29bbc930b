//! An app's client secrets, stored as digests; the last-used time is kept for the portal.

use super::update_app;
use crate::store::audit::{audited, AuditEvent};
use crate::store::row::DbRow;
use crate::store::Store;
use crate::{on_db, on_write};

#[derive(Debug, Clone)]
pub struct NewSecretRow {
    pub id: String,
    pub digest: Vec<u8>,
    pub hint: String,
    pub expires_at: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct SecretRow {
    pub id: String,
    pub hint: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

/// An active secret: id, digest, last use, expiry.
pub type ActiveSecret = (String, Vec<u8>, Option<i64>, Option<i64>);

fn secret_row(r: &impl DbRow) -> sqlx::Result<SecretRow> {
    Ok(SecretRow {
        id: r.text("id")?,
        hint: r.text("hint")?,
        created_at: r.int("created_at")?,
        expires_at: r.opt_int("expires_at")?,
        revoked_at: r.opt_int("revoked_at")?,
        last_used_at: r.opt_int("last_used_at")?,
    })
}

pub(super) const INSERT_SECRET: &str =
    "INSERT INTO app_secrets (id, app_id, digest, hint, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)";

/// Secrets that still authenticate at `$2` (not revoked, not expired).
pub(super) const ACTIVE_SECRET: &str = "revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)";

impl Store {
    /// Adds a secret unless the app already has `max_active` active ones. The first statement
    /// locks the app row, so two concurrent requests (on any instance) cannot both slip under
    /// the limit. Returns false when the limit was reached.
    pub async fn insert_secret_within_limit(
        &self,
        app_id: &str,
        secret: &NewSecretRow,
        now: i64,
        max_active: i64,
        event: &AuditEvent,
    ) -> sqlx::Result<bool> {
        let count_sql = format!("SELECT COUNT(*) AS n FROM app_secrets WHERE app_id = $1 AND {ACTIVE_SECRET}");
        audited!(self, event, tx => {
            update_app!(&mut *tx, app_id, now)?;
            let active = sqlx::query(&count_sql).bind(app_id).bind(now).fetch_one(&mut *tx).await?.int("n")?;
            if active >= max_active {
                return Ok(false);
            }
            sqlx::query(INSERT_SECRET)
                .bind(&secret.id).bind(app_id).bind(&secret.digest).bind(&secret.hint).bind(now).bind(secret.expires_at)
                .execute(&mut *tx).await?;
            true
        })
    }

    /// Revokes one secret of one app. Returns false when there is no such unrevoked secret.
    pub async fn revoke_secret(
        &self,
        app_id: &str,
        secret_id: &str,
        now: i64,
        event: &AuditEvent,
    ) -> sqlx::Result<bool> {
        audited!(self, event, when |done: &bool| *done, tx => {
            let done = sqlx::query("UPDATE app_secrets SET revoked_at = $3 WHERE app_id = $1 AND id = $2 AND revoked_at IS NULL")
                .bind(app_id).bind(secret_id).bind(now).execute(&mut *tx).await?.rows_affected() == 1;
            if done {
                // Instances that remembered a check of this secret see the new revision.
                update_app!(&mut *tx, app_id, now)?;
            }
            done
        })
    }

    pub async fn secrets(&self, app_id: &str) -> sqlx::Result<Vec<SecretRow>> {
        on_db!(&self.db, pool => {
            sqlx::query("SELECT id, hint, created_at, expires_at, revoked_at, last_used_at FROM app_secrets WHERE app_id = $1 ORDER BY created_at, id")
                .bind(app_id).fetch_all(pool).await?.iter().map(secret_row).collect()
        })
    }

    /// Records that a secret authenticated.
    pub async fn touch_secret(&self, secret_id: &str, now: i64) -> sqlx::Result<()> {
        const SQL: &str = "UPDATE app_secrets SET last_used_at = $2 WHERE id = $1";
        on_write!(self, pool => sqlx::query(SQL).bind(secret_id).bind(now).execute(pool).await.map(|_| ()))
    }

    /// The client ID whose active secret has this digest (SuperID's ApplicationToken).
    pub async fn client_id_by_secret_digest(&self, digest: &[u8], now: i64) -> sqlx::Result<Option<String>> {
        on_db!(&self.db, pool => {
            sqlx::query("SELECT a.client_id FROM app_secrets s JOIN apps a ON a.id = s.app_id \
                WHERE s.digest = $1 AND s.revoked_at IS NULL AND (s.expires_at IS NULL OR s.expires_at > $2)")
                .bind(digest).bind(now).fetch_optional(pool).await?.map(|r| r.text("client_id")).transpose()
        })
    }
}
