//! SQL for passkeys: a person's WebAuthn credentials with their signature counters, and the
//! state of ceremonies in progress (one per key, taken once).

use super::audit::{audited, AuditEvent};
use super::row::DbRow;
use super::Store;
use crate::{on_db, on_write};

#[derive(Debug, Clone)]
pub struct PasskeyRow {
    pub id: String,
    pub user_id: String,
    pub name: String,
    /// passki's `StoredPasskey` as JSON.
    pub credential: String,
    pub counter: i64,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

const COLUMNS: &str = "id, user_id, name, credential, counter, created_at, last_used_at";

fn passkey_row(r: &impl DbRow) -> sqlx::Result<PasskeyRow> {
    Ok(PasskeyRow {
        id: r.text("id")?,
        user_id: r.text("user_id")?,
        name: r.text("name")?,
        credential: r.text("credential")?,
        counter: r.int("counter")?,
        created_at: r.int("created_at")?,
        last_used_at: r.opt_int("last_used_at")?,
    })
}

impl Store {
    /// Adds a passkey; false when a credential with this ID is registered already (to anyone).
    pub async fn insert_passkey(&self, row: &PasskeyRow, event: &AuditEvent) -> sqlx::Result<bool> {
        audited!(self, event, when |done: &bool| *done, tx => {
            sqlx::query("INSERT INTO passkeys (id, user_id, name, credential, counter, created_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING")
                .bind(&row.id).bind(&row.user_id).bind(&row.name).bind(&row.credential).bind(row.counter).bind(row.created_at)
                .execute(&mut *tx).await?.rows_affected() == 1
        })
    }

    pub async fn passkeys_of(&self, user_id: &str) -> sqlx::Result<Vec<PasskeyRow>> {
        let sql = format!("SELECT {COLUMNS} FROM passkeys WHERE user_id = $1 ORDER BY created_at, id");
        on_db!(&self.db, pool => {
            sqlx::query(&sql).bind(user_id).fetch_all(pool).await?.iter().map(passkey_row).collect()
        })
    }

    pub async fn passkey(&self, id: &str) -> sqlx::Result<Option<PasskeyRow>> {
        let sql = format!("SELECT {COLUMNS} FROM passkeys WHERE id = $1");
        on_db!(&self.db, pool => {
            sqlx::query(&sql).bind(id).fetch_optional(pool).await?.as_ref().map(passkey_row).transpose()
        })
    }

    /// Records a use: the counter moves from `seen` to `counter` only if no other use moved it
    /// meanwhile, so one assertion cannot be accepted twice by two instances.
    pub async fn use_passkey(&self, id: &str, seen: i64, counter: i64, now: i64) -> sqlx::Result<bool> {
        on_write!(self, pool => {
            Ok(sqlx::query("UPDATE passkeys SET counter = $3, last_used_at = $4 WHERE id = $1 AND counter = $2")
                .bind(id).bind(seen).bind(counter).bind(now).execute(pool).await?.rows_affected() == 1)
        })
    }

    pub async fn remove_passkey(&self, user_id: &str, id: &str, event: &AuditEvent) -> sqlx::Result<bool> {
        audited!(self, event, when |done: &bool| *done, tx => {
            sqlx::query("DELETE FROM passkeys WHERE id = $1 AND user_id = $2")
                .bind(id).bind(user_id).execute(&mut *tx).await?.rows_affected() == 1
        })
    }

    /// Starts (or restarts) the ceremony under `key`.
    pub async fn put_ceremony(&self, key: &str, state: &str, expires_at: i64) -> sqlx::Result<()> {
        on_write!(self, pool => {
            sqlx::query("INSERT INTO webauthn_ceremonies (key, state, expires_at) VALUES ($1, $2, $3) \
                ON CONFLICT (key) DO UPDATE SET state = excluded.state, expires_at = excluded.expires_at")
                .bind(key).bind(state).bind(expires_at).execute(pool).await.map(|_| ())
        })
    }

    /// Takes the live ceremony under `key`: its challenge can be answered once.
    pub async fn take_ceremony(&self, key: &str, now: i64) -> sqlx::Result<Option<String>> {
        on_write!(self, pool => {
            sqlx::query("DELETE FROM webauthn_ceremonies WHERE key = $1 AND expires_at > $2 RETURNING state")
                .bind(key).bind(now).fetch_optional(pool).await?
                .map(|r| r.text("state")).transpose()
        })
    }
}
