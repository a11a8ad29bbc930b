//! SQL for signing keys. Promotion (next → current → retired) is one transaction whose
//! statements are conditional on the state they expect, and the partial unique indexes make
//! a racing second rotation fail instead of leaving two current keys.

use crate::store::audit::{audited, AuditEvent};
use crate::store::row::DbRow;
use crate::store::Store;
use crate::{on_db, on_write};

#[derive(Debug, Clone)]
pub struct KeyRow {
    pub kid: String,
    pub alg: String,
    pub state: String,
    pub public_jwk: String,
    /// Encrypted PKCS#8 when keys live in the database; None when they live in `keys/`.
    pub private_key: Option<Vec<u8>>,
    /// The app a dedicated key belongs to; None for the server's own keys.
    pub app_id: Option<String>,
    pub created_at: i64,
    pub activated_at: Option<i64>,
    pub retired_at: Option<i64>,
}

const COLUMNS: &str = "kid, alg, state, public_jwk, private_key, app_id, created_at, activated_at, retired_at";

fn key_row(r: &impl DbRow) -> sqlx::Result<KeyRow> {
    Ok(KeyRow {
        kid: r.text("kid")?,
        alg: r.text("alg")?,
        state: r.text("state")?,
        public_jwk: r.text("public_jwk")?,
        private_key: r.opt_bytes("private_key")?,
        app_id: r.opt_text("app_id")?,
        created_at: r.int("created_at")?,
        activated_at: r.opt_int("activated_at")?,
        retired_at: r.opt_int("retired_at")?,
    })
}

const INSERT: &str =
    "INSERT INTO signing_keys (kid, alg, state, public_jwk, private_key, app_id, created_at, activated_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

impl Store {
    /// Inserts a server key. A unique violation means another instance made the same slot first.
    pub async fn insert_signing_key(&self, k: &KeyRow, event: &AuditEvent) -> sqlx::Result<()> {
        audited!(self, event, tx => {
            sqlx::query(INSERT)
                .bind(&k.kid).bind(&k.alg).bind(&k.state).bind(&k.public_jwk).bind(&k.private_key)
                .bind(&k.app_id).bind(k.created_at).bind(k.activated_at)
                .execute(&mut *tx).await?;
        })
    }

    /// Keys (the server's and apps' dedicated ones) that belong in JWKS at `now`: next,
    /// current, and retired ones younger than `retired_ttl`.
    pub async fn published_signing_keys(&self, now: i64, retired_ttl: i64) -> sqlx::Result<Vec<KeyRow>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM signing_keys WHERE state IN ('next', 'current') OR retired_at > $1 \
             ORDER BY app_id, alg, created_at, kid"
        );
        on_db!(&self.db, pool => {
            sqlx::query(&sql).bind(now - retired_ttl).fetch_all(pool).await?.iter().map(key_row).collect()
        })
    }

    /// Every key of one owner (`None`: the server).
    pub async fn signing_keys_of(&self, app_id: Option<&str>) -> sqlx::Result<Vec<KeyRow>> {
        let sql =
            format!("SELECT {COLUMNS} FROM signing_keys WHERE COALESCE(app_id, '') = $1 ORDER BY alg, created_at, kid");
        on_db!(&self.db, pool => sqlx::query(&sql).bind(app_id.unwrap_or("")).fetch_all(pool).await?.iter().map(key_row).collect())
    }

    /// current → retired, next → current, `new_next` → next, in one transaction. Returns false
    /// (and changes nothing) when there is no next key to promote.
    pub async fn rotate_signing_keys(
        &self,
        alg: &str,
        new_next: &KeyRow,
        now: i64,
        event: &AuditEvent,
    ) -> sqlx::Result<bool> {
        let owner = new_next.app_id.as_deref().unwrap_or("");
        audited!(self, event, tx => {
            sqlx::query("UPDATE signing_keys SET state = 'retired', retired_at = $2 WHERE alg = $1 AND COALESCE(app_id, '') = $3 AND state = 'current'")
                .bind(alg).bind(now).bind(owner).execute(&mut *tx).await?;
            let promoted = sqlx::query("UPDATE signing_keys SET state = 'current', activated_at = $2 WHERE alg = $1 AND COALESCE(app_id, '') = $3 AND state = 'next'")
                .bind(alg).bind(now).bind(owner).execute(&mut *tx).await?.rows_affected();
            if promoted != 1 {
                return Ok(false);
            }
            sqlx::query(INSERT)
                .bind(&new_next.kid).bind(&new_next.alg).bind("next").bind(&new_next.public_jwk).bind(&new_next.private_key)
                .bind(&new_next.app_id).bind(new_next.created_at).bind(None::<i64>)
                .execute(&mut *tx).await?;
            crate::failpoint::crash_if_set("keys.rotate.before_commit");
            true
        })
    }

    /// Deletes retired keys no token can still need; returns their kids (to delete their files).
    pub async fn prune_signing_keys(&self, now: i64, retired_ttl: i64) -> sqlx::Result<Vec<String>> {
        on_write!(self, pool => {
            let mut tx = pool.begin().await?;
            let kids = sqlx::query("SELECT kid FROM signing_keys WHERE state = 'retired' AND retired_at <= $1")
                .bind(now - retired_ttl).fetch_all(&mut *tx).await?
                .iter().map(|r| r.text("kid")).collect::<sqlx::Result<Vec<_>>>()?;
            sqlx::query("DELETE FROM signing_keys WHERE state = 'retired' AND retired_at <= $1")
                .bind(now - retired_ttl).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(kids)
        })
    }
}
