//! SQL for links sent by email: invitations, email verification and password reset. A link is
//! stored as the SHA-256 of its token and used at most once: the statement that marks it used
//! is the one that reads it, in the same transaction as what the link does, so two clicks
//! racing get one success.

use super::audit::{audited, AuditEvent};
use super::row::DbRow;
use super::tenants::UserRow;
use super::Store;
use crate::{on_db, on_write};

#[derive(Debug, Clone)]
pub struct LinkRow {
    /// `invitation`, `verification` or `reset`.
    pub purpose: String,
    pub email: String,
    pub user_id: Option<String>,
    pub tenant_id: Option<String>,
    pub partner_id: Option<String>,
    pub is_admin: bool,
    pub created_by: String,
    pub created_at: i64,
    pub expires_at: i64,
}

const LINK_COLUMNS: &str =
    "purpose, email, user_id, tenant_id, partner_id, is_admin, created_by, created_at, expires_at";

fn link_row(r: &impl DbRow) -> sqlx::Result<LinkRow> {
    Ok(LinkRow {
        purpose: r.text("purpose")?,
        email: r.text("email")?,
        user_id: r.opt_text("user_id")?,
        tenant_id: r.opt_text("tenant_id")?,
        partner_id: r.opt_text("partner_id")?,
        is_admin: r.flag("is_admin")?,
        created_by: r.text("created_by")?,
        created_at: r.int("created_at")?,
        expires_at: r.int("expires_at")?,
    })
}

/// Marks the link used and returns it, inside the caller's transaction; None when it is
/// unknown, of another purpose, used, or expired.
macro_rules! use_link {
    ($tx:expr, $digest:expr, $purpose:expr, $now:expr) => {
        sqlx::query(&format!(
            "UPDATE email_links SET used_at = $2 WHERE digest = $1 AND purpose = $3 AND used_at IS NULL \
             AND expires_at > $2 RETURNING {LINK_COLUMNS}"
        ))
        .bind($digest)
        .bind($now)
        .bind($purpose)
        .fetch_optional($tx)
        .await?
        .as_ref()
        .map(link_row)
        .transpose()?
    };
}

/// Who accepts an invitation: a new account made from it, or the person whose address it is.
pub enum Joiner<'a> {
    New(&'a UserRow),
    Existing(&'a str),
}

/// A tenant member as the tenant's page lists them.
#[derive(Debug, Clone)]
pub struct MemberRow {
    pub user_id: String,
    pub email: String,
    pub name: String,
    pub is_admin: bool,
    pub disabled_at: Option<i64>,
    pub email_verified_at: Option<i64>,
    /// Other tenants the person belongs to (a tenant administrator may only disable people
    /// who belong to no one else).
    pub other_tenants: i64,
}

impl Store {
    pub async fn insert_email_link(&self, digest: &[u8], link: &LinkRow, event: &AuditEvent) -> sqlx::Result<()> {
        audited!(self, event, tx => {
            sqlx::query(&format!("INSERT INTO email_links (digest, {LINK_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"))
                .bind(digest).bind(&link.purpose).bind(&link.email).bind(&link.user_id).bind(&link.tenant_id)
                .bind(&link.partner_id).bind(link.is_admin).bind(&link.created_by).bind(link.created_at).bind(link.expires_at)
                .execute(&mut *tx).await?;
        })
    }

    /// A link that could still be used, without using it (the page that asks for a password).
    pub async fn email_link(&self, digest: &[u8], purpose: &str, now: i64) -> sqlx::Result<Option<LinkRow>> {
        on_db!(&self.db, pool => {
            sqlx::query(&format!("SELECT {LINK_COLUMNS} FROM email_links WHERE digest = $1 AND purpose = $2 \
                AND used_at IS NULL AND expires_at > $3"))
                .bind(digest).bind(purpose).bind(now).fetch_optional(pool).await?.as_ref().map(link_row).transpose()
        })
    }

    /// Uses a link that does nothing in the database by itself (the first-run setup link).
    pub async fn spend_email_link(&self, digest: &[u8], purpose: &str, now: i64) -> sqlx::Result<Option<LinkRow>> {
        on_write!(self, pool => {
            let mut tx = pool.begin().await?;
            let link = use_link!(&mut *tx, digest, purpose, now);
            tx.commit().await?;
            Ok(link)
        })
    }

    /// Whether anyone is a platform administrator yet (if not, a first start offers setup).
    pub async fn platform_admin_exists(&self) -> sqlx::Result<bool> {
        on_db!(&self.db, pool => {
            Ok(sqlx::query("SELECT 1 FROM users WHERE platform_admin").fetch_optional(pool).await?.is_some())
        })
    }

    /// How many links of `purpose` went to `email` since `since` (the reset mail's limit).
    pub async fn email_links_since(&self, email: &str, purpose: &str, since: i64) -> sqlx::Result<i64> {
        on_db!(&self.db, pool => {
            sqlx::query("SELECT COUNT(*) AS n FROM email_links WHERE email = $1 AND purpose = $2 AND created_at >= $3")
                .bind(email).bind(purpose).bind(since).fetch_one(pool).await?.int("n")
        })
    }

    /// Invitations to a tenant that are still open, newest first.
    pub async fn open_invitations(&self, tenant_id: &str, now: i64) -> sqlx::Result<Vec<LinkRow>> {
        on_db!(&self.db, pool => {
            sqlx::query(&format!("SELECT {LINK_COLUMNS} FROM email_links WHERE tenant_id = $1 AND purpose = 'invitation' \
                AND used_at IS NULL AND expires_at > $2 ORDER BY created_at DESC"))
                .bind(tenant_id).bind(now).fetch_all(pool).await?.iter().map(link_row).collect()
        })
    }

    /// Withdraws the open invitations of `email` to a tenant; false when there was none.
    pub async fn withdraw_invitations(
        &self,
        tenant_id: &str,
        email: &str,
        now: i64,
        event: &AuditEvent,
    ) -> sqlx::Result<bool> {
        audited!(self, event, when |done: &bool| *done, tx => {
            sqlx::query("UPDATE email_links SET used_at = $3 WHERE tenant_id = $1 AND email = $2 AND purpose = 'invitation' AND used_at IS NULL")
                .bind(tenant_id).bind(email).bind(now).execute(&mut *tx).await?.rows_affected() > 0
        })
    }

    /// Uses an invitation: makes the new account (its address verified by the click) or takes
    /// the existing person, and gives them the membership or developer seat it offered. An
    /// invitation never lowers a role the person already has.
    pub async fn accept_invitation(
        &self,
        digest: &[u8],
        now: i64,
        joiner: Joiner<'_>,
        event: &AuditEvent,
    ) -> sqlx::Result<Option<LinkRow>> {
        audited!(self, event, when |l: &Option<LinkRow>| l.is_some(), tx => {
            let Some(link) = use_link!(&mut *tx, digest, "invitation", now) else { return Ok(None) };
            let user_id = match joiner {
                Joiner::New(u) => {
                    sqlx::query("INSERT INTO users (id, email, name, password_hash, platform_admin, created_at, associate_id, email_verified_at) \
                        VALUES ($1, $2, $3, $4, FALSE, $5, (SELECT COALESCE(MAX(associate_id), 0) + 1 FROM users), $5)")
                        .bind(&u.id).bind(&u.email).bind(&u.name).bind(&u.password_hash).bind(now)
                        .execute(&mut *tx).await?;
                    u.id.clone()
                }
                Joiner::Existing(id) => {
                    sqlx::query("UPDATE users SET email_verified_at = COALESCE(email_verified_at, $2) WHERE id = $1")
                        .bind(id).bind(now).execute(&mut *tx).await?;
                    id.to_string()
                }
            };
            if let Some(tenant_id) = &link.tenant_id {
                sqlx::query("INSERT INTO memberships (tenant_id, user_id, is_admin, created_at) VALUES ($1, $2, $3, $4) \
                    ON CONFLICT (tenant_id, user_id) DO UPDATE SET is_admin = (memberships.is_admin OR excluded.is_admin)")
                    .bind(tenant_id).bind(&user_id).bind(link.is_admin).bind(now).execute(&mut *tx).await?;
            }
            if let Some(partner_id) = &link.partner_id {
                sqlx::query("INSERT INTO partner_members (partner_id, user_id, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
                    .bind(partner_id).bind(&user_id).bind(now).execute(&mut *tx).await?;
            }
            Some(link)
        })
    }

    /// Uses a reset link: sets the new password, ends the person's browser sessions and refresh
    /// tokens, and spends their other reset links. None when the link cannot be used or the
    /// person is disabled (nothing changes then).
    pub async fn reset_password(
        &self,
        digest: &[u8],
        now: i64,
        password_hash: &str,
        event: &AuditEvent,
    ) -> sqlx::Result<Option<LinkRow>> {
        audited!(self, event, when |l: &Option<LinkRow>| l.is_some(), tx => {
            let Some(link) = use_link!(&mut *tx, digest, "reset", now) else { return Ok(None) };
            let Some(user_id) = link.user_id.clone() else { return Ok(None) };
            // The mail reached them, so the address is theirs.
            let changed = sqlx::query("UPDATE users SET password_hash = $2, email_verified_at = COALESCE(email_verified_at, $3) \
                WHERE id = $1 AND disabled_at IS NULL")
                .bind(&user_id).bind(password_hash).bind(now).execute(&mut *tx).await?.rows_affected() == 1;
            if !changed {
                return Ok(None);
            }
            sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(&user_id).execute(&mut *tx).await?;
            sqlx::query(crate::store::outbox::QUEUE_USER_LOGOUTS).bind(&user_id).bind(now).execute(&mut *tx).await?;
            sqlx::query(crate::store::outbox::FORGET_USER_APPS).bind(&user_id).execute(&mut *tx).await?;
            sqlx::query("UPDATE refresh_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL")
                .bind(&user_id).bind(now).execute(&mut *tx).await?;
            sqlx::query("UPDATE email_links SET used_at = $2 WHERE user_id = $1 AND purpose = 'reset' AND used_at IS NULL")
                .bind(&user_id).bind(now).execute(&mut *tx).await?;
            Some(link)
        })
    }

    /// Uses a verification link: the address is the person's from now on.
    pub async fn verify_email(&self, digest: &[u8], now: i64, event: &AuditEvent) -> sqlx::Result<Option<LinkRow>> {
        audited!(self, event, when |l: &Option<LinkRow>| l.is_some(), tx => {
            let Some(link) = use_link!(&mut *tx, digest, "verification", now) else { return Ok(None) };
            // The address must still be the one the mail went to.
            let done = sqlx::query("UPDATE users SET email_verified_at = COALESCE(email_verified_at, $3) WHERE id = $1 AND email = $2")
                .bind(&link.user_id).bind(&link.email).bind(now).execute(&mut *tx).await?.rows_affected() == 1;
            if !done {
                return Ok(None);
            }
            Some(link)
        })
    }

    /// The tenant's members, administrators first.
    pub async fn members_of(&self, tenant_id: &str) -> sqlx::Result<Vec<MemberRow>> {
        on_db!(&self.db, pool => {
            sqlx::query("SELECT u.id, u.email, u.name, m.is_admin, u.disabled_at, u.email_verified_at, \
                (SELECT COUNT(*) FROM memberships o WHERE o.user_id = u.id AND o.tenant_id <> m.tenant_id) AS others \
                FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.tenant_id = $1 ORDER BY m.is_admin DESC, u.email")
                .bind(tenant_id).fetch_all(pool).await?.iter().map(|r| Ok(MemberRow {
                    user_id: r.text("id")?,
                    email: r.text("email")?,
                    name: r.text("name")?,
                    is_admin: r.flag("is_admin")?,
                    disabled_at: r.opt_int("disabled_at")?,
                    email_verified_at: r.opt_int("email_verified_at")?,
                    other_tenants: r.int("others")?,
                })).collect()
        })
    }

    /// Changes a member's role. The last enabled administrator keeps theirs (the statement
    /// checks, so two administrators demoting each other at once cannot both succeed on
    /// PostgreSQL's serialisation of the row; SQLite runs one writer at a time). False when
    /// nothing changed.
    pub async fn set_member_role(
        &self,
        tenant_id: &str,
        user_id: &str,
        is_admin: bool,
        event: &AuditEvent,
    ) -> sqlx::Result<bool> {
        audited!(self, event, when |done: &bool| *done, tx => {
            sqlx::query("UPDATE memberships SET is_admin = $3 WHERE tenant_id = $1 AND user_id = $2 AND is_admin <> $3 \
                AND ($3 OR EXISTS (SELECT 1 FROM memberships o JOIN users u ON u.id = o.user_id \
                    WHERE o.tenant_id = $1 AND o.user_id <> $2 AND o.is_admin AND u.disabled_at IS NULL))")
                .bind(tenant_id).bind(user_id).bind(is_admin).execute(&mut *tx).await?.rows_affected() == 1
        })
    }

    /// Removes a person from a tenant, unless they are its last enabled administrator. Their
    /// sessions that chose this tenant end with it.
    pub async fn remove_member(&self, tenant_id: &str, user_id: &str, event: &AuditEvent) -> sqlx::Result<bool> {
        audited!(self, event, when |done: &bool| *done, tx => {
            let done = sqlx::query("DELETE FROM memberships WHERE tenant_id = $1 AND user_id = $2 \
                AND (NOT is_admin OR EXISTS (SELECT 1 FROM memberships o JOIN users u ON u.id = o.user_id \
                    WHERE o.tenant_id = $1 AND o.user_id <> $2 AND o.is_admin AND u.disabled_at IS NULL))")
                .bind(tenant_id).bind(user_id).execute(&mut *tx).await?.rows_affected() == 1;
            if done {
                sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND tenant_id = $2")
                    .bind(user_id).bind(tenant_id).execute(&mut *tx).await?;
            }
            done
        })
    }
}
