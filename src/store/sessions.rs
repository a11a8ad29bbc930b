//! SQL for browser sign-in: pending authorization requests, sessions, failed-login counters,
//! and the deployment's shared secrets (the device-cookie key). Every single-use step is one
//! conditional statement.

use crate::store::row::DbRow;
use crate::store::Store;
use crate::{on_db, on_write};

#[derive(Debug, Clone)]
pub struct PendingRequest {
    pub id: String,
    pub app_id: String,
    /// The validated request, as JSON.
    pub params: String,
    pub csrf: String,
    /// Digest of the browser-binding cookie set when the request was saved.
    pub browser: Vec<u8>,
    pub expires_at: i64,
    /// When the person signed in on this request's login page, if they did.
    pub signed_in_at: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct SessionRow {
    pub user_id: String,
    pub tenant_id: Option<String>,
    pub auth_time: i64,
    pub expires_at: i64,
    /// RFC 8176 methods the person used, space-separated (`tenants::factors::AMR_*`).
    pub amr: String,
    /// How apps know the session (`sid_of` its digest; not stored).
    pub sid: String,
}

/// The session's `sid` (OIDC Front- and Back-Channel Logout): derived from the digest of the
/// session cookie, so it names the session to apps without being usable as the cookie.
pub fn sid_of(digest: &[u8]) -> String {
    let mut input = b"gatehouse sid:".to_vec();
    input.extend_from_slice(digest);
    crate::crypto::b64url(&crate::crypto::sha256(&input)[..18])
}

impl Store {
    /// Stores a pending request unless its client address already has `cap` unexpired ones;
    /// false when it was refused. One conditional INSERT: no write at all beyond the cap. Under
    /// PostgreSQL's read committed, requests racing at the cap can each see room and land a few
    /// over it (at most one per concurrent request), which bounds the table just the same. The
    /// count reads at most `cap` index entries, whatever is stored.
    pub async fn insert_pending_request_within_cap(
        &self,
        p: &PendingRequest,
        client_addr: Option<&str>,
        cap: i64,
        now: i64,
    ) -> sqlx::Result<bool> {
        const SQL: &str = "INSERT INTO authorization_requests (id, app_id, params, csrf, created_at, expires_at, browser, client_addr) \
            SELECT $1, $2, $3, $4, $5, $6, $7, $8 \
            WHERE (SELECT COUNT(*) FROM (SELECT 1 FROM authorization_requests WHERE client_addr = $8 AND expires_at > $5 LIMIT $9) AS counted) < $9";
        on_write!(self, pool => {
            Ok(sqlx::query(SQL)
                .bind(&p.id).bind(&p.app_id).bind(&p.params).bind(&p.csrf).bind(now).bind(p.expires_at).bind(&p.browser)
                .bind(client_addr).bind(cap)
                .execute(pool).await?.rows_affected() == 1)
        })
    }

    pub async fn pending_request(&self, id: &str, now: i64) -> sqlx::Result<Option<PendingRequest>> {
        on_db!(&self.db, pool => {
            sqlx::query("SELECT id, app_id, params, csrf, browser, expires_at, signed_in_at FROM authorization_requests WHERE id = $1 AND expires_at > $2")
                .bind(id).bind(now).fetch_optional(pool).await?
                .map(|r| Ok(PendingRequest {
                    id: r.text("id")?,
                    app_id: r.text("app_id")?,
                    params: r.text("params")?,
                    csrf: r.text("csrf")?,
                    browser: r.opt_bytes("browser")?.unwrap_or_default(),
                    expires_at: r.int("expires_at")?,
                    signed_in_at: r.opt_int("signed_in_at")?,
                }))
                .transpose()
        })
    }

    /// Records that the person signed in on this pending request's login page.
    pub async fn mark_pending_signed_in(&self, id: &str, now: i64) -> sqlx::Result<()> {
        on_write!(self, pool => {
            sqlx::query("UPDATE authorization_requests SET signed_in_at = $2 WHERE id = $1").bind(id).bind(now)
                .execute(pool).await.map(|_| ())
        })
    }

    /// Ends a pending request; true for the one caller that ended it.
    pub async fn finish_pending_request(&self, id: &str) -> sqlx::Result<bool> {
        on_write!(self, pool => {
            Ok(sqlx::query("DELETE FROM authorization_requests WHERE id = $1").bind(id).execute(pool).await?.rows_affected() == 1)
        })
    }

    pub async fn insert_session(&self, digest: &[u8], s: &SessionRow, now: i64) -> sqlx::Result<()> {
        on_write!(self, pool => {
            sqlx::query("INSERT INTO sessions (digest, user_id, tenant_id, auth_time, created_at, expires_at, amr) VALUES ($1, $2, $3, $4, $5, $6, $7)")
                .bind(digest).bind(&s.user_id).bind(&s.tenant_id).bind(s.auth_time).bind(now).bind(s.expires_at).bind(&s.amr)
                .execute(pool).await.map(|_| ())
        })
    }

    pub async fn session(&self, digest: &[u8], now: i64) -> sqlx::Result<Option<SessionRow>> {
        on_db!(&self.db, pool => {
            sqlx::query("SELECT user_id, tenant_id, auth_time, expires_at, amr FROM sessions WHERE digest = $1 AND expires_at > $2")
                .bind(digest).bind(now).fetch_optional(pool).await?
                .map(|r| Ok(SessionRow { user_id: r.text("user_id")?, tenant_id: r.opt_text("tenant_id")?, auth_time: r.int("auth_time")?, expires_at: r.int("expires_at")?, amr: r.text("amr")?, sid: sid_of(digest) }))
                .transpose()
        })
    }

    pub async fn set_session_tenant(&self, digest: &[u8], tenant_id: &str) -> sqlx::Result<()> {
        on_write!(self, pool => {
            sqlx::query("UPDATE sessions SET tenant_id = $2 WHERE digest = $1").bind(digest).bind(tenant_id).execute(pool).await.map(|_| ())
        })
    }

    /// Ends a session at `now`; every app it signed in to is queued a back-channel logout in
    /// the same commit.
    pub async fn delete_session(&self, digest: &[u8], now: i64) -> sqlx::Result<()> {
        use crate::store::outbox::{FORGET_SESSION_APPS, QUEUE_SESSION_LOGOUTS};
        let sid = sid_of(digest);
        on_write!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM sessions WHERE digest = $1").bind(digest).execute(&mut *tx).await?;
            sqlx::query(QUEUE_SESSION_LOGOUTS).bind(&sid).bind(now).execute(&mut *tx).await?;
            sqlx::query(FORGET_SESSION_APPS).bind(&sid).execute(&mut *tx).await?;
            tx.commit().await
        })
    }

    /// Gives back a reserved attempt that turned out to be a success.
    pub async fn release_login_attempt(&self, key: &str) -> sqlx::Result<()> {
        on_write!(self, pool => {
            sqlx::query("UPDATE login_failures SET failures = failures - 1 WHERE key = $1 AND failures > 0")
                .bind(key).execute(pool).await.map(|_| ())
        })
    }

    /// A login-attempt counter's count in the window, without adding to it: a read, which
    /// under WAL does not wait for the writers a password-guessing storm queues up.
    pub async fn login_attempts(&self, key: &str, now: i64, window: i64) -> sqlx::Result<i64> {
        on_db!(&self.db, pool => {
            let r = sqlx::query("SELECT failures FROM login_failures WHERE key = $1 AND window_start > $2 - $3")
                .bind(key).bind(now).bind(window).fetch_optional(pool).await?;
            r.map(|r| r.int("failures")).transpose().map(|n| n.unwrap_or(0))
        })
    }

    /// Adds one to a login-attempt counter and returns the count in the window (attempts are
    /// reserved before the password is checked, so parallel guesses count too).
    pub async fn reserve_login_attempt(&self, key: &str, now: i64, window: i64) -> sqlx::Result<i64> {
        on_write!(self, pool => {
            let r = sqlx::query("INSERT INTO login_failures (key, failures, window_start) VALUES ($1, 1, $2) \
                ON CONFLICT (key) DO UPDATE SET \
                failures = CASE WHEN login_failures.window_start <= $2 - $3 THEN 1 ELSE login_failures.failures + 1 END, \
                window_start = CASE WHEN login_failures.window_start <= $2 - $3 THEN $2 ELSE login_failures.window_start END \
                RETURNING failures")
                .bind(key).bind(now).bind(window).fetch_one(pool).await?;
            r.int("failures")
        })
    }

    pub async fn clear_login_failures(&self, key: &str) -> sqlx::Result<()> {
        on_write!(self, pool => sqlx::query("DELETE FROM login_failures WHERE key = $1").bind(key).execute(pool).await.map(|_| ()))
    }

    /// The deployment's secret of this name: `candidate` if this call stored it first, or the
    /// one another instance stored before (the insert does nothing when the name exists).
    pub async fn shared_secret(&self, name: &str, candidate: &[u8], now: i64) -> sqlx::Result<Vec<u8>> {
        on_write!(self, pool => {
            sqlx::query("INSERT INTO server_secrets (name, value, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING")
                .bind(name).bind(candidate).bind(now).execute(pool).await?;
            sqlx::query("SELECT value FROM server_secrets WHERE name = $1").bind(name).fetch_one(pool).await?.bytes("value")
        })
    }
}
