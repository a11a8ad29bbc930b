//! SQL for browser sign-in: pending authorization requests, sessions, consents, authorization
//! codes, refresh-token families, failed-login counters, and the deployment's shared secrets
//! (the device-cookie key). Every single-use step is one conditional statement.

use super::audit::{record, AuditEvent};
use super::row::DbRow;
use super::Store;
use crate::on_db;

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
}

#[derive(Debug, Clone)]
pub struct CodeRow {
    pub digest: Vec<u8>,
    pub grant_id: String,
    pub app_id: String,
    pub user_id: String,
    pub tenant_id: Option<String>,
    pub redirect_uri: String,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub challenge_method: Option<String>,
    pub auth_time: i64,
    pub created_at: i64,
    pub expires_at: i64,
}

#[derive(Debug, Clone)]
pub struct RefreshRow {
    pub digest: Vec<u8>,
    pub grant_id: String,
    pub app_id: String,
    pub user_id: String,
    pub tenant_id: Option<String>,
    pub scope: String,
    pub nonce: Option<String>,
    pub auth_time: i64,
    pub issued_at: i64,
    pub expires_at: Option<i64>,
    pub used_at: Option<i64>,
    pub successor: Option<String>,
    pub revoked_at: Option<i64>,
}

/// What taking a code returned.
pub enum TakenCode {
    /// The code was unused; it is now used, and this is its row.
    Fresh(Box<CodeRow>),
    /// The code exists but was used before: its grant must be revoked (RFC 6749 §4.1.2).
    Reused {
        grant_id: String,
    },
    Unknown,
}

fn code_row(r: &impl DbRow) -> sqlx::Result<CodeRow> {
    Ok(CodeRow {
        digest: r.bytes("digest")?,
        grant_id: r.text("grant_id")?,
        app_id: r.text("app_id")?,
        user_id: r.text("user_id")?,
        tenant_id: r.opt_text("tenant_id")?,
        redirect_uri: r.text("redirect_uri")?,
        scope: r.text("scope")?,
        nonce: r.opt_text("nonce")?,
        code_challenge: r.opt_text("code_challenge")?,
        challenge_method: r.opt_text("challenge_method")?,
        auth_time: r.int("auth_time")?,
        created_at: r.int("created_at")?,
        expires_at: r.int("expires_at")?,
    })
}

fn refresh_row(r: &impl DbRow) -> sqlx::Result<RefreshRow> {
    Ok(RefreshRow {
        digest: r.bytes("digest")?,
        grant_id: r.text("grant_id")?,
        app_id: r.text("app_id")?,
        user_id: r.text("user_id")?,
        tenant_id: r.opt_text("tenant_id")?,
        scope: r.text("scope")?,
        nonce: r.opt_text("nonce")?,
        auth_time: r.int("auth_time")?,
        issued_at: r.int("issued_at")?,
        expires_at: r.opt_int("expires_at")?,
        used_at: r.opt_int("used_at")?,
        successor: r.opt_text("successor")?,
        revoked_at: r.opt_int("revoked_at")?,
    })
}

const CODE_COLUMNS: &str = "digest, grant_id, app_id, user_id, tenant_id, redirect_uri, scope, nonce, code_challenge, \
    challenge_method, auth_time, created_at, expires_at";
const REFRESH_COLUMNS: &str =
    "digest, grant_id, app_id, user_id, tenant_id, scope, nonce, auth_time, issued_at, expires_at, \
    used_at, successor, revoked_at";

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
        on_db!(&self.db, pool => {
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
        on_db!(&self.db, pool => {
            sqlx::query("UPDATE authorization_requests SET signed_in_at = $2 WHERE id = $1").bind(id).bind(now)
                .execute(pool).await.map(|_| ())
        })
    }

    /// Ends a pending request; true for the one caller that ended it.
    pub async fn finish_pending_request(&self, id: &str) -> sqlx::Result<bool> {
        on_db!(&self.db, pool => {
            Ok(sqlx::query("DELETE FROM authorization_requests WHERE id = $1").bind(id).execute(pool).await?.rows_affected() == 1)
        })
    }

    pub async fn insert_session(&self, digest: &[u8], s: &SessionRow, now: i64) -> sqlx::Result<()> {
        on_db!(&self.db, pool => {
            sqlx::query("INSERT INTO sessions (digest, user_id, tenant_id, auth_time, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(digest).bind(&s.user_id).bind(&s.tenant_id).bind(s.auth_time).bind(now).bind(s.expires_at)
                .execute(pool).await.map(|_| ())
        })
    }

    pub async fn session(&self, digest: &[u8], now: i64) -> sqlx::Result<Option<SessionRow>> {
        on_db!(&self.db, pool => {
            sqlx::query("SELECT user_id, tenant_id, auth_time, expires_at FROM sessions WHERE digest = $1 AND expires_at > $2")
                .bind(digest).bind(now).fetch_optional(pool).await?
                .map(|r| Ok(SessionRow { user_id: r.text("user_id")?, tenant_id: r.opt_text("tenant_id")?, auth_time: r.int("auth_time")?, expires_at: r.int("expires_at")? }))
                .transpose()
        })
    }

    pub async fn set_session_tenant(&self, digest: &[u8], tenant_id: &str) -> sqlx::Result<()> {
        on_db!(&self.db, pool => {
            sqlx::query("UPDATE sessions SET tenant_id = $2 WHERE digest = $1").bind(digest).bind(tenant_id).execute(pool).await.map(|_| ())
        })
    }

    pub async fn delete_session(&self, digest: &[u8]) -> sqlx::Result<()> {
        on_db!(&self.db, pool => sqlx::query("DELETE FROM sessions WHERE digest = $1").bind(digest).execute(pool).await.map(|_| ()))
    }

    pub async fn consent(&self, user_id: &str, app_id: &str) -> sqlx::Result<Option<String>> {
        on_db!(&self.db, pool => {
            sqlx::query("SELECT scope FROM consents WHERE user_id = $1 AND app_id = $2").bind(user_id).bind(app_id)
                .fetch_optional(pool).await?.map(|r| r.text("scope")).transpose()
        })
    }

    pub async fn save_consent(&self, user_id: &str, app_id: &str, scope: &str, now: i64) -> sqlx::Result<()> {
        on_db!(&self.db, pool => {
            sqlx::query("INSERT INTO consents (user_id, app_id, scope, granted_at) VALUES ($1, $2, $3, $4) \
                ON CONFLICT (user_id, app_id) DO UPDATE SET scope = excluded.scope, granted_at = excluded.granted_at")
                .bind(user_id).bind(app_id).bind(scope).bind(now).execute(pool).await.map(|_| ())
        })
    }

    /// Stores a new code and its audit event in one commit (one fsync on SQLite, not two).
    pub async fn insert_code(&self, c: &CodeRow, event: &AuditEvent) -> sqlx::Result<()> {
        on_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(&format!("INSERT INTO authorization_codes ({CODE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"))
                .bind(&c.digest).bind(&c.grant_id).bind(&c.app_id).bind(&c.user_id).bind(&c.tenant_id).bind(&c.redirect_uri)
                .bind(&c.scope).bind(&c.nonce).bind(&c.code_challenge).bind(&c.challenge_method).bind(c.auth_time)
                .bind(c.created_at).bind(c.expires_at)
                .execute(&mut *tx).await?;
            record!(&mut *tx, event)?;
            tx.commit().await
        })
    }

    /// Marks a code used and returns it, in one conditional UPDATE: when two requests (on any
    /// instances) race, exactly one gets `Fresh`.
    pub async fn take_code(&self, digest: &[u8], app_id: &str, now: i64) -> sqlx::Result<TakenCode> {
        // Only the client the code was issued to can use it up, so another client presenting
        // a stolen code neither burns it nor revokes its grant.
        let sql = format!(
            "UPDATE authorization_codes SET used_at = $2 WHERE digest = $1 AND app_id = $3 AND used_at IS NULL RETURNING {CODE_COLUMNS}"
        );
        on_db!(&self.db, pool => {
            if let Some(r) = sqlx::query(&sql).bind(digest).bind(now).bind(app_id).fetch_optional(pool).await? {
                return Ok(TakenCode::Fresh(Box::new(code_row(&r)?)));
            }
            match sqlx::query("SELECT grant_id, app_id FROM authorization_codes WHERE digest = $1").bind(digest).fetch_optional(pool).await? {
                Some(r) if r.text("app_id")? == app_id => Ok(TakenCode::Reused { grant_id: r.text("grant_id")? }),
                _ => Ok(TakenCode::Unknown),
            }
        })
    }

    /// Records a JWT issued under a grant, so the grant's revocation can reach it.
    /// Revokes everything issued under a grant: its refresh tokens, its opaque access tokens
    /// (by jti), and its JWT access tokens (their jtis join the revoked list).
    pub async fn revoke_grant(&self, grant_id: &str, now: i64) -> sqlx::Result<()> {
        on_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("INSERT INTO revoked_grants (grant_id, revoked_at) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(grant_id).bind(now).execute(&mut *tx).await?;
            sqlx::query("UPDATE refresh_tokens SET revoked_at = $2 WHERE grant_id = $1 AND revoked_at IS NULL")
                .bind(grant_id).bind(now).execute(&mut *tx).await?;
            sqlx::query("UPDATE access_tokens SET revoked_at = $2 WHERE jti IN (SELECT jti FROM grant_tokens WHERE grant_id = $1) AND revoked_at IS NULL")
                .bind(grant_id).bind(now).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO revoked_jwts (jti, expires_at) SELECT jti, expires_at FROM grant_tokens WHERE grant_id = $1 ON CONFLICT DO NOTHING")
                .bind(grant_id).execute(&mut *tx).await?;
            tx.commit().await
        })
    }

    pub async fn is_grant_revoked(&self, grant_id: &str) -> sqlx::Result<bool> {
        on_db!(&self.db, pool => {
            Ok(sqlx::query("SELECT 1 FROM revoked_grants WHERE grant_id = $1").bind(grant_id).fetch_optional(pool).await?.is_some())
        })
    }

    /// Gives back a reserved attempt that turned out to be a success.
    pub async fn release_login_attempt(&self, key: &str) -> sqlx::Result<()> {
        on_db!(&self.db, pool => {
            sqlx::query("UPDATE login_failures SET failures = failures - 1 WHERE key = $1 AND failures > 0")
                .bind(key).execute(pool).await.map(|_| ())
        })
    }

    /// What a grant issued in one token response, in one commit: the access token's id (so a
    /// replay can revoke it) and, if any, the new refresh token.
    pub async fn record_issued(
        &self,
        grant_id: &str,
        jti: &str,
        expires_at: i64,
        refresh: Option<&RefreshRow>,
    ) -> sqlx::Result<()> {
        on_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("INSERT INTO grant_tokens (grant_id, jti, expires_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
                .bind(grant_id).bind(jti).bind(expires_at).execute(&mut *tx).await?;
            if let Some(r) = refresh {
                sqlx::query(&format!("INSERT INTO refresh_tokens ({REFRESH_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"))
                    .bind(&r.digest).bind(&r.grant_id).bind(&r.app_id).bind(&r.user_id).bind(&r.tenant_id).bind(&r.scope)
                    .bind(&r.nonce).bind(r.auth_time).bind(r.issued_at).bind(r.expires_at).bind(r.used_at).bind(&r.successor)
                    .bind(r.revoked_at).execute(&mut *tx).await?;
            }
            tx.commit().await
        })
    }

    pub async fn refresh_token(&self, digest: &[u8]) -> sqlx::Result<Option<RefreshRow>> {
        on_db!(&self.db, pool => {
            sqlx::query(&format!("SELECT {REFRESH_COLUMNS} FROM refresh_tokens WHERE digest = $1")).bind(digest)
                .fetch_optional(pool).await?.as_ref().map(refresh_row).transpose()
        })
    }

    /// Rotates a refresh token: marks it used and names its successor, only if it was unused.
    /// One conditional UPDATE decides the winner of concurrent refreshes.
    pub async fn rotate_refresh(
        &self,
        digest: &[u8],
        successor: &RefreshRow,
        successor_token_sealed: &str,
        now: i64,
    ) -> sqlx::Result<bool> {
        on_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let won = sqlx::query("UPDATE refresh_tokens SET used_at = $2, successor = $3 WHERE digest = $1 AND used_at IS NULL AND revoked_at IS NULL")
                .bind(digest).bind(now).bind(successor_token_sealed).execute(&mut *tx).await?.rows_affected() == 1;
            if !won {
                return Ok(false);
            }
            let r = successor;
            sqlx::query(&format!("INSERT INTO refresh_tokens ({REFRESH_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"))
                .bind(&r.digest).bind(&r.grant_id).bind(&r.app_id).bind(&r.user_id).bind(&r.tenant_id).bind(&r.scope)
                .bind(&r.nonce).bind(r.auth_time).bind(r.issued_at).bind(r.expires_at).bind(r.used_at).bind(&r.successor).bind(r.revoked_at)
                .execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(true)
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
        on_db!(&self.db, pool => {
            let r = sqlx::query("INSERT INTO login_failures (key, failures, window_start) VALUES ($1, 1, $2) \
                ON CONFLICT (key) DO UPDATE SET \
                failures = CASE WHEN login_failures.window_start <= $2 - $3 THEN 1 ELSE login_failures.failures + 1 END, \
                window_start = CASE WHEN login_failures.window_start <= $2 - $3 THEN $2 ELSE login_failures.window_start END \
                RETURNING failures")
                .bind(key).bind(now).bind(window).fetch_one(pool).await?;
            r.int("failures")
        })
    }

    /// The deployment's secret of this name: `candidate` if this call stored it first, or the
    /// one another instance stored before (the insert does nothing when the name exists).
    pub async fn shared_secret(&self, name: &str, candidate: &[u8], now: i64) -> sqlx::Result<Vec<u8>> {
        on_db!(&self.db, pool => {
            sqlx::query("INSERT INTO server_secrets (name, value, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING")
                .bind(name).bind(candidate).bind(now).execute(pool).await?;
            sqlx::query("SELECT value FROM server_secrets WHERE name = $1").bind(name).fetch_one(pool).await?.bytes("value")
        })
    }

    pub async fn clear_login_failures(&self, key: &str) -> sqlx::Result<()> {
        on_db!(&self.db, pool => sqlx::query("DELETE FROM login_failures WHERE key = $1").bind(key).execute(pool).await.map(|_| ()))
    }
}
