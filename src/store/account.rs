//! SQL for a person's own account page: their live sessions, the apps they have allowed (and
//! taking that back), a new password, and the security events about them.

use super::audit::{audited, AuditEvent};
use super::row::DbRow;
use super::Store;
use crate::on_db;

/// One live browser session of a person.
#[derive(Debug, Clone)]
pub struct SessionView {
    /// Hex of the session's digest: names it in a form without being the cookie.
    pub id: String,
    pub created_at: i64,
    pub auth_time: i64,
    pub amr: String,
    pub expires_at: i64,
}

/// An app the person has allowed (consented to).
#[derive(Debug, Clone)]
pub struct AllowedApp {
    pub app_id: String,
    pub client_id: String,
    pub name: String,
    pub scope: String,
    pub granted_at: i64,
}

/// The grants a person holds with one app: from their refresh tokens and codes.
const GRANTS_WITH_APP: &str = "SELECT grant_id FROM refresh_tokens WHERE user_id = $1 AND app_id = $2 \
    UNION SELECT grant_id FROM authorization_codes WHERE user_id = $1 AND app_id = $2";

impl Store {
    pub async fn sessions_of(&self, user_id: &str, now: i64) -> sqlx::Result<Vec<(Vec<u8>, SessionView)>> {
        on_db!(&self.db, pool => {
            sqlx::query("SELECT digest, created_at, auth_time, amr, expires_at FROM sessions WHERE user_id = $1 AND expires_at > $2 ORDER BY created_at DESC")
                .bind(user_id).bind(now).fetch_all(pool).await?.iter().map(|r| {
                    let digest = r.bytes("digest")?;
                    Ok((digest.clone(), SessionView {
                        id: crate::crypto::hex(&digest),
                        created_at: r.int("created_at")?,
                        auth_time: r.int("auth_time")?,
                        amr: r.text("amr")?,
                        expires_at: r.int("expires_at")?,
                    }))
                }).collect()
        })
    }

    /// Ends one of the person's sessions; false when it is not theirs or already gone.
    /// Its apps are queued back-channel logouts in the same commit.
    pub async fn end_session_of(&self, user_id: &str, digest: &[u8], event: &AuditEvent) -> sqlx::Result<bool> {
        let sid = crate::store::sessions::sid_of(digest);
        audited!(self, event, when |done: &bool| *done, tx => {
            let done = sqlx::query("DELETE FROM sessions WHERE digest = $1 AND user_id = $2")
                .bind(digest).bind(user_id).execute(&mut *tx).await?.rows_affected() == 1;
            if done {
                sqlx::query(crate::store::outbox::QUEUE_SESSION_LOGOUTS).bind(&sid).bind(event.at).execute(&mut *tx).await?;
                sqlx::query(crate::store::outbox::FORGET_SESSION_APPS).bind(&sid).execute(&mut *tx).await?;
            }
            done
        })
    }

    pub async fn allowed_apps(&self, user_id: &str) -> sqlx::Result<Vec<AllowedApp>> {
        on_db!(&self.db, pool => {
            sqlx::query("SELECT c.app_id, a.client_id, a.name, c.scope, c.granted_at FROM consents c JOIN apps a ON a.id = c.app_id \
                WHERE c.user_id = $1 ORDER BY a.name, a.client_id")
                .bind(user_id).fetch_all(pool).await?.iter().map(|r| Ok(AllowedApp {
                    app_id: r.text("app_id")?,
                    client_id: r.text("client_id")?,
                    name: r.text("name")?,
                    scope: r.text("scope")?,
                    granted_at: r.int("granted_at")?,
                })).collect()
        })
    }

    /// Takes back what a person allowed an app: the consent goes, and every grant they hold
    /// with it ends (refresh tokens, opaque access tokens, and JWT access tokens through the
    /// revoked list), so the app must ask again. False when nothing was allowed.
    pub async fn revoke_app_access(
        &self,
        user_id: &str,
        app_id: &str,
        now: i64,
        event: &AuditEvent,
    ) -> sqlx::Result<bool> {
        audited!(self, event, when |done: &bool| *done, tx => {
            let done = sqlx::query("DELETE FROM consents WHERE user_id = $1 AND app_id = $2")
                .bind(user_id).bind(app_id).execute(&mut *tx).await?.rows_affected() == 1;
            sqlx::query(&format!("INSERT INTO revoked_grants (grant_id, revoked_at) SELECT grant_id, $3 FROM ({GRANTS_WITH_APP}) g WHERE true ON CONFLICT DO NOTHING"))
                .bind(user_id).bind(app_id).bind(now).execute(&mut *tx).await?;
            sqlx::query(&format!("INSERT INTO revoked_jwts (jti, expires_at) SELECT jti, expires_at FROM grant_tokens WHERE grant_id IN ({GRANTS_WITH_APP}) ON CONFLICT DO NOTHING"))
                .bind(user_id).bind(app_id).execute(&mut *tx).await?;
            sqlx::query(&format!("UPDATE access_tokens SET revoked_at = $3 WHERE jti IN (SELECT jti FROM grant_tokens WHERE grant_id IN ({GRANTS_WITH_APP})) AND revoked_at IS NULL"))
                .bind(user_id).bind(app_id).bind(now).execute(&mut *tx).await?;
            sqlx::query("UPDATE refresh_tokens SET revoked_at = $3 WHERE user_id = $1 AND app_id = $2 AND revoked_at IS NULL")
                .bind(user_id).bind(app_id).bind(now).execute(&mut *tx).await?;
            done
        })
    }

    /// A new password: the person's other sessions and their refresh tokens end; the session
    /// that changed it stays.
    pub async fn change_password(
        &self,
        user_id: &str,
        hash: &str,
        keep: &[u8],
        now: i64,
        event: &AuditEvent,
    ) -> sqlx::Result<()> {
        audited!(self, event, tx => {
            sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1").bind(user_id).bind(hash).execute(&mut *tx).await?;
            sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND digest <> $2").bind(user_id).bind(keep).execute(&mut *tx).await?;
            let kept = crate::store::sessions::sid_of(keep);
            sqlx::query(crate::store::outbox::QUEUE_OTHER_LOGOUTS).bind(user_id).bind(now).bind(&kept).execute(&mut *tx).await?;
            sqlx::query(crate::store::outbox::FORGET_OTHER_APPS).bind(user_id).bind(&kept).execute(&mut *tx).await?;
            sqlx::query("UPDATE refresh_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL")
                .bind(user_id).bind(now).execute(&mut *tx).await?;
        })
    }

    pub async fn rename_user(&self, user_id: &str, name: &str, event: &AuditEvent) -> sqlx::Result<()> {
        audited!(self, event, tx => {
            sqlx::query("UPDATE users SET name = $2 WHERE id = $1").bind(user_id).bind(name).execute(&mut *tx).await?;
        })
    }

    /// The newest events by or about a person: sign-ins, failures, factors, resets.
    pub async fn security_events(&self, user_id: &str, limit: i64) -> sqlx::Result<Vec<AuditEvent>> {
        on_db!(&self.db, pool => {
            sqlx::query("SELECT at, actor, action, subject, detail FROM audit_events WHERE (actor = $1 OR subject = $1) \
                AND (action LIKE 'login.%' OR action LIKE 'user.%') ORDER BY at DESC, id LIMIT $2")
                .bind(user_id).bind(limit).fetch_all(pool).await?.iter().map(|r| Ok(AuditEvent {
                    at: r.int("at")?,
                    actor: r.text("actor")?,
                    action: r.text("action")?.into(),
                    subject: r.text("subject")?,
                    detail: serde_json::from_str(&r.text("detail")?).unwrap_or_default(),
                })).collect()
        })
    }
}
