//! SQL for the device authorization grant (RFC 8628): a device's pending sign-in, its polls
//! (each a compare-and-set on the last poll, so two instances cannot both let a fast poller
//! through), and how it ended.

use super::row::DbRow;
use super::Store;
use crate::{on_db, on_write};

#[derive(Debug, Clone)]
pub struct DeviceRow {
    pub id: String,
    pub device_digest: Vec<u8>,
    pub user_code: String,
    pub app_id: String,
    pub scope: String,
    pub status: String,
    pub code_digest: Option<Vec<u8>>,
    pub poll_interval: i64,
    pub last_polled_at: Option<i64>,
    pub created_at: i64,
    pub expires_at: i64,
    /// The app's client ID, read with the row (ignored on insert).
    pub client_id: String,
}

const COLUMNS: &str = "id, device_digest, user_code, app_id, scope, status, code_digest, poll_interval, \
    last_polled_at, created_at, expires_at";
/// The same, read with the app's client ID.
const SELECT: &str = "SELECT d.id, d.device_digest, d.user_code, d.app_id, d.scope, d.status, d.code_digest, \
    d.poll_interval, d.last_polled_at, d.created_at, d.expires_at, a.client_id FROM device_codes d \
    JOIN apps a ON a.id = d.app_id";

fn device_row(r: &impl DbRow) -> sqlx::Result<DeviceRow> {
    Ok(DeviceRow {
        id: r.text("id")?,
        device_digest: r.bytes("device_digest")?,
        user_code: r.text("user_code")?,
        app_id: r.text("app_id")?,
        scope: r.text("scope")?,
        status: r.text("status")?,
        code_digest: r.opt_bytes("code_digest")?,
        poll_interval: r.int("poll_interval")?,
        last_polled_at: r.opt_int("last_polled_at")?,
        created_at: r.int("created_at")?,
        expires_at: r.int("expires_at")?,
        client_id: r.text("client_id")?,
    })
}

/// What a poll found.
pub enum Polled {
    /// Polled within the interval: the interval grew (§3.5 slow_down).
    TooFast,
    /// Counted; the row as it stood.
    Counted(Box<DeviceRow>),
    Unknown,
}

impl Store {
    /// Stores a new device authorization; false when its user code is taken (the caller
    /// draws another).
    pub async fn insert_device_code(&self, d: &DeviceRow) -> sqlx::Result<bool> {
        let sql = format!(
            "INSERT INTO device_codes ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (user_code) DO NOTHING"
        );
        on_write!(self, pool => {
            Ok(sqlx::query(&sql)
                .bind(&d.id).bind(&d.device_digest).bind(&d.user_code).bind(&d.app_id).bind(&d.scope).bind(&d.status)
                .bind(&d.code_digest).bind(d.poll_interval).bind(d.last_polled_at).bind(d.created_at).bind(d.expires_at)
                .execute(pool).await?.rows_affected() == 1)
        })
    }

    /// The pending, unexpired authorization a person's typed code names.
    pub async fn pending_device_by_user_code(&self, user_code: &str, now: i64) -> sqlx::Result<Option<DeviceRow>> {
        let sql = format!("{SELECT} WHERE d.user_code = $1 AND d.status = 'pending' AND d.expires_at > $2");
        on_db!(&self.db, pool => {
            sqlx::query(&sql).bind(user_code).bind(now).fetch_optional(pool).await?.as_ref().map(device_row).transpose()
        })
    }

    /// Ends a pending authorization: approved with the code it produced, or denied. False when
    /// it had already ended (another browser finished first) or expired.
    pub async fn end_device_authorization(
        &self,
        id: &str,
        status: &str,
        code_digest: Option<&[u8]>,
        now: i64,
    ) -> sqlx::Result<bool> {
        const SQL: &str = "UPDATE device_codes SET status = $2, code_digest = $3 \
            WHERE id = $1 AND status = 'pending' AND expires_at > $4";
        on_write!(self, pool => {
            Ok(sqlx::query(SQL).bind(id).bind(status).bind(code_digest).bind(now).execute(pool).await?.rows_affected() == 1)
        })
    }

    /// A device's poll: counted when at least its interval after the last one; otherwise the
    /// interval grows by `penalty` seconds for this and every later poll.
    pub async fn poll_device_code(&self, digest: &[u8], app_id: &str, now: i64, penalty: i64) -> sqlx::Result<Polled> {
        const COUNT: &str = "UPDATE device_codes SET last_polled_at = $3 WHERE device_digest = $1 AND app_id = $2 \
            AND (last_polled_at IS NULL OR last_polled_at + poll_interval <= $3)";
        const SLOW: &str =
            "UPDATE device_codes SET poll_interval = poll_interval + $3 WHERE device_digest = $1 AND app_id = $2";
        let select = format!("{SELECT} WHERE d.device_digest = $1 AND d.app_id = $2");
        on_write!(self, pool => {
            let counted = sqlx::query(COUNT).bind(digest).bind(app_id).bind(now).execute(pool).await?.rows_affected() == 1;
            if !counted {
                if sqlx::query(SLOW).bind(digest).bind(app_id).bind(penalty).execute(pool).await?.rows_affected() == 0 {
                    return Ok(Polled::Unknown);
                }
                return Ok(Polled::TooFast);
            }
            match sqlx::query(&select).bind(digest).bind(app_id).fetch_optional(pool).await? {
                Some(r) => Ok(Polled::Counted(Box::new(device_row(&r)?))),
                None => Ok(Polled::Unknown),
            }
        })
    }

    /// Forgets a device authorization whose tokens were issued: its code is single-use anyway.
    pub async fn delete_device_code(&self, id: &str) -> sqlx::Result<()> {
        on_write!(self, pool => {
            sqlx::query("DELETE FROM device_codes WHERE id = $1").bind(id).execute(pool).await.map(|_| ())
        })
    }
}
