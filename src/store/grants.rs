//! SQL for a user's grant to an app (one `grant_id`): the consent behind it, its
//! authorization codes and its refresh-token family. A code is taken in one conditional
//! statement; a reused code or refresh token revokes the whole grant.

use crate::store::audit::{audited, AuditEvent};
use crate::store::row::DbRow;
use crate::store::Store;
use crate::{on_db, on_write};

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
    /// How the person signed in (RFC 8176), for the ID token.
    pub amr: Option<String>,
    /// The browser session it came from, as ID tokens and logout tokens name it.
    pub sid: Option<String>,
    /// RFC 9449 §10: the DPoP key the code may be redeemed with (`dpop_jkt`).
    pub dpop_jkt: Option<String>,
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
    /// How the person signed in (RFC 8176), for ID tokens issued on refresh.
    pub amr: Option<String>,
    /// A public client's DPoP key: the token is refreshed only with a proof of it (RFC 9449 §5).
    pub jkt: Option<String>,
    /// The browser session the grant came from, for the ID tokens issued on refresh.
    pub sid: Option<String>,
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
        amr: r.opt_text("amr")?,
        sid: r.opt_text("sid")?,
        dpop_jkt: r.opt_text("dpop_jkt")?,
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
        amr: r.opt_text("amr")?,
        jkt: r.opt_text("jkt")?,
        sid: r.opt_text("sid")?,
    })
}

const CODE_COLUMNS: &str = "digest, grant_id, app_id, user_id, tenant_id, redirect_uri, scope, nonce, code_challenge, \
    challenge_method, auth_time, created_at, expires_at, amr, sid, dpop_jkt";

const REFRESH_COLUMNS: &str =
    "digest, grant_id, app_id, user_id, tenant_id, scope, nonce, auth_time, issued_at, expires_at, \
    used_at, successor, revoked_at, amr, jkt, sid";

impl Store {
    pub async fn consent(&self, user_id: &str, app_id: &str) -> sqlx::Result<Option<String>> {
        on_db!(&self.db, pool => {
            sqlx::query("SELECT scope FROM consents WHERE user_id = $1 AND app_id = $2").bind(user_id).bind(app_id)
                .fetch_optional(pool).await?.map(|r| r.text("scope")).transpose()
        })
    }

    pub async fn save_consent(&self, user_id: &str, app_id: &str, scope: &str, now: i64) -> sqlx::Result<()> {
        on_write!(self, pool => {
            sqlx::query("INSERT INTO consents (user_id, app_id, scope, granted_at) VALUES ($1, $2, $3, $4) \
                ON CONFLICT (user_id, app_id) DO UPDATE SET scope = excluded.scope, granted_at = excluded.granted_at")
                .bind(user_id).bind(app_id).bind(scope).bind(now).execute(pool).await.map(|_| ())
        })
    }

    /// Stores a new code and its audit event in one commit (one fsync on SQLite, not two).
    pub async fn insert_code(&self, c: &CodeRow, event: &AuditEvent) -> sqlx::Result<()> {
        audited!(self, event, tx => {
            sqlx::query(&format!("INSERT INTO authorization_codes ({CODE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"))
                .bind(&c.digest).bind(&c.grant_id).bind(&c.app_id).bind(&c.user_id).bind(&c.tenant_id).bind(&c.redirect_uri)
                .bind(&c.scope).bind(&c.nonce).bind(&c.code_challenge).bind(&c.challenge_method).bind(c.auth_time)
                .bind(c.created_at).bind(c.expires_at).bind(&c.amr).bind(&c.sid).bind(&c.dpop_jkt)
                .execute(&mut *tx).await?;
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
        on_write!(self, pool => {
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
        on_write!(self, pool => {
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

    /// What a grant issued in one token response, in one commit: the access token's id (so a
    /// replay can revoke it) and, if any, the new refresh token.
    pub async fn record_issued(
        &self,
        grant_id: &str,
        jti: &str,
        expires_at: i64,
        refresh: Option<&RefreshRow>,
    ) -> sqlx::Result<()> {
        on_write!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("INSERT INTO grant_tokens (grant_id, jti, expires_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
                .bind(grant_id).bind(jti).bind(expires_at).execute(&mut *tx).await?;
            if let Some(r) = refresh {
                sqlx::query(&format!("INSERT INTO refresh_tokens ({REFRESH_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"))
                    .bind(&r.digest).bind(&r.grant_id).bind(&r.app_id).bind(&r.user_id).bind(&r.tenant_id).bind(&r.scope)
                    .bind(&r.nonce).bind(r.auth_time).bind(r.issued_at).bind(r.expires_at).bind(r.used_at).bind(&r.successor)
                    .bind(r.revoked_at).bind(&r.amr).bind(&r.jkt).bind(&r.sid).execute(&mut *tx).await?;
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
        on_write!(self, pool => {
            let mut tx = pool.begin().await?;
            let won = sqlx::query("UPDATE refresh_tokens SET used_at = $2, successor = $3 WHERE digest = $1 AND used_at IS NULL AND revoked_at IS NULL")
                .bind(digest).bind(now).bind(successor_token_sealed).execute(&mut *tx).await?.rows_affected() == 1;
            if !won {
                return Ok(false);
            }
            let r = successor;
            sqlx::query(&format!("INSERT INTO refresh_tokens ({REFRESH_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"))
                .bind(&r.digest).bind(&r.grant_id).bind(&r.app_id).bind(&r.user_id).bind(&r.tenant_id).bind(&r.scope)
                .bind(&r.nonce).bind(r.auth_time).bind(r.issued_at).bind(r.expires_at).bind(r.used_at).bind(&r.successor).bind(r.revoked_at)
                .bind(&r.amr).bind(&r.jkt).bind(&r.sid).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(true)
        })
    }
}
