//! SQL for the admin API's idempotency keys: per calling app and key, the request's
//! fingerprint and, once it finished, the answer to replay.

use crate::on_write;
use crate::store::row::DbRow;
use crate::store::Store;

/// Seconds a key is remembered after its first use.
pub const KEEP_SECS: i64 = 86_400;
/// Seconds after which a request that never finished (its instance died) no longer holds its
/// key: a retry runs it again. Longer than any request may run.
pub const STALE_SECS: i64 = 60;

/// What to do with a request that carries a key.
#[derive(Debug, PartialEq, Eq)]
pub enum Begun {
    /// The key is this request's now: run it, then `finish` or `release`.
    Run,
    /// The key was used with another request (another operation or body).
    Mismatch,
    /// The first request with this key is still running.
    Running,
    /// The first request finished: its status, body and ETag.
    Replay { status: u16, body: String, etag: Option<String> },
}

impl Store {
    /// Takes key `key` of app `client_id` for a request with `fingerprint`, or says what it
    /// was used for. Forgotten keys are taken afresh; a request that never finished is taken
    /// over once it is stale.
    pub async fn idempotency_begin(
        &self,
        client_id: &str,
        key: &str,
        fingerprint: &str,
        now: i64,
    ) -> sqlx::Result<Begun> {
        const FORGET: &str = "DELETE FROM api_idempotency WHERE client_id = $1 AND key = $2 AND created_at < $3";
        const TAKE: &str = "INSERT INTO api_idempotency (client_id, key, fingerprint, created_at) \
            VALUES ($1, $2, $3, $4) ON CONFLICT (client_id, key) DO NOTHING";
        const READ: &str =
            "SELECT fingerprint, created_at, status, body, etag FROM api_idempotency WHERE client_id = $1 AND key = $2";
        const TAKE_OVER: &str = "UPDATE api_idempotency SET created_at = $3 \
            WHERE client_id = $1 AND key = $2 AND status IS NULL AND created_at = $4";
        on_write!(self, pool => {
            sqlx::query(FORGET).bind(client_id).bind(key).bind(now - KEEP_SECS).execute(pool).await?;
            let taken = sqlx::query(TAKE).bind(client_id).bind(key).bind(fingerprint).bind(now).execute(pool).await?;
            if taken.rows_affected() == 1 {
                return Ok(Begun::Run);
            }
            let Some(row) = sqlx::query(READ).bind(client_id).bind(key).fetch_optional(pool).await? else {
                // Forgotten between the two statements by pruning: the retry may take it.
                return Ok(Begun::Running);
            };
            if row.text("fingerprint")? != fingerprint {
                return Ok(Begun::Mismatch);
            }
            let started = row.int("created_at")?;
            match (row.opt_int("status")?, row.opt_text("body")?) {
                (Some(status), Some(body)) => Ok(Begun::Replay {
                    status: u16::try_from(status).unwrap_or(200),
                    body,
                    etag: row.opt_text("etag")?,
                }),
                _ if started < now - STALE_SECS => {
                    let over = sqlx::query(TAKE_OVER).bind(client_id).bind(key).bind(now).bind(started).execute(pool).await?;
                    Ok(if over.rows_affected() == 1 { Begun::Run } else { Begun::Running })
                }
                _ => Ok(Begun::Running),
            }
        })
    }

    /// Records the answer of the request that holds the key.
    pub async fn idempotency_finish(
        &self,
        client_id: &str,
        key: &str,
        status: u16,
        body: &str,
        etag: Option<&str>,
    ) -> sqlx::Result<()> {
        const SQL: &str =
            "UPDATE api_idempotency SET status = $3, body = $4, etag = $5 WHERE client_id = $1 AND key = $2";
        on_write!(self, pool => {
            sqlx::query(SQL).bind(client_id).bind(key).bind(i64::from(status)).bind(body).bind(etag)
                .execute(pool).await.map(|_| ())
        })
    }

    /// Lets the key go after a request that failed, so a retry runs afresh.
    pub async fn idempotency_release(&self, client_id: &str, key: &str) -> sqlx::Result<()> {
        const SQL: &str = "DELETE FROM api_idempotency WHERE client_id = $1 AND key = $2 AND status IS NULL";
        on_write!(self, pool => sqlx::query(SQL).bind(client_id).bind(key).execute(pool).await.map(|_| ()))
    }

    /// Forgets every key whose recorded answer created the object `id`, which was just deleted:
    /// a retry then creates again instead of naming an object that is gone, as app creation
    /// does. A scan of at most a day of keys, on a deletion, which is rare.
    pub async fn idempotency_forget_created(&self, id: &str) -> sqlx::Result<()> {
        const SQL: &str = "DELETE FROM api_idempotency WHERE body LIKE $1 ESCAPE '\\'";
        // The member as the stored (compact) JSON spells it, then escaped for LIKE.
        let member = format!("\"id\":{}", serde_json::Value::from(id));
        let pattern = format!("%{}%", member.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
        on_write!(self, pool => sqlx::query(SQL).bind(&pattern).execute(pool).await.map(|_| ()))
    }
}
