//! SQL for users' JWT credentials (the JWT-bearer grant's assertions we issue): digests only.

use crate::on_db;
use crate::store::audit::{audited, AuditEvent};
use crate::store::row::DbRow;
use crate::store::Store;

#[derive(Debug, Clone)]
pub struct CredentialRow {
    pub id: String,
    pub digest: Vec<u8>,
    pub user_id: String,
    pub tenant_id: String,
    /// Client IDs, space-separated.
    pub app_ids: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

fn credential_row(r: &impl DbRow) -> sqlx::Result<CredentialRow> {
    Ok(CredentialRow {
        id: r.text("id")?,
        digest: r.bytes("digest")?,
        user_id: r.text("user_id")?,
        tenant_id: r.text("tenant_id")?,
        app_ids: r.text("app_ids")?,
        created_at: r.int("created_at")?,
        expires_at: r.opt_int("expires_at")?,
        revoked_at: r.opt_int("revoked_at")?,
    })
}

const CREDENTIAL_COLUMNS: &str = "id, digest, user_id, tenant_id, app_ids, created_at, expires_at, revoked_at";

impl Store {
    pub async fn insert_credential(&self, c: &CredentialRow, event: &AuditEvent) -> sqlx::Result<()> {
        audited!(self, event, tx => {
            sqlx::query(&format!("INSERT INTO jwt_credentials ({CREDENTIAL_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"))
                .bind(&c.id).bind(&c.digest).bind(&c.user_id).bind(&c.tenant_id).bind(&c.app_ids)
                .bind(c.created_at).bind(c.expires_at).bind(c.revoked_at)
                .execute(&mut *tx).await?;
        })
    }

    pub async fn credential_by_digest(&self, digest: &[u8]) -> sqlx::Result<Option<CredentialRow>> {
        on_db!(&self.db, pool => {
            sqlx::query(&format!("SELECT {CREDENTIAL_COLUMNS} FROM jwt_credentials WHERE digest = $1")).bind(digest)
                .fetch_optional(pool).await?.as_ref().map(credential_row).transpose()
        })
    }

    pub async fn credentials_of(&self, user_id: &str) -> sqlx::Result<Vec<CredentialRow>> {
        on_db!(&self.db, pool => {
            sqlx::query(&format!("SELECT {CREDENTIAL_COLUMNS} FROM jwt_credentials WHERE user_id = $1 ORDER BY created_at, id")).bind(user_id)
                .fetch_all(pool).await?.iter().map(credential_row).collect()
        })
    }

    pub async fn revoke_credential(&self, id: &str, now: i64, event: &AuditEvent) -> sqlx::Result<bool> {
        audited!(self, event, when |done: &bool| *done, tx => {
            let done = sqlx::query("UPDATE jwt_credentials SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                .bind(id).bind(now).execute(&mut *tx).await?.rows_affected() == 1;
            done
        })
    }
}
