//! SQL for partners, tenants, users, memberships and partner developers.

use crate::store::apps::update_app;
use crate::store::audit::{audited, AuditEvent};
use crate::store::row::DbRow;
use crate::store::Store;
use crate::{on_db, on_write};

#[derive(Debug, Clone)]
pub struct PartnerRow {
    pub id: String,
    pub name: String,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct TenantRow {
    pub id: String,
    pub ctx: String,
    pub serial: i64,
    pub name: String,
    pub status: String,
    pub owner_partner_id: Option<String>,
    pub created_at: i64,
    /// Who must use a second factor: `off`, `admins` or `everyone` (`tenants::factors::Policy`).
    pub mfa_policy: String,
}

#[derive(Debug, Clone)]
pub struct UserRow {
    pub id: String,
    pub email: String,
    pub name: String,
    pub password_hash: String,
    pub platform_admin: bool,
    pub created_at: i64,
    /// SuperID's numeric `associateid`; given when the row is inserted.
    pub associate_id: Option<i64>,
    /// When the person was disabled (offboarded); None while they may sign in.
    pub disabled_at: Option<i64>,
    /// When the person showed the address is theirs (a link mailed to it was used).
    pub email_verified_at: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct MembershipRow {
    pub tenant_ctx: String,
    pub is_admin: bool,
    /// The tenant's second-factor policy.
    pub mfa_policy: String,
}

fn tenant_row(r: &impl DbRow) -> sqlx::Result<TenantRow> {
    Ok(TenantRow {
        id: r.text("id")?,
        ctx: r.text("ctx")?,
        serial: r.int("serial")?,
        name: r.text("name")?,
        status: r.text("status")?,
        owner_partner_id: r.opt_text("owner_partner_id")?,
        created_at: r.int("created_at")?,
        mfa_policy: r.text("mfa_policy")?,
    })
}

fn user_row(r: &impl DbRow) -> sqlx::Result<UserRow> {
    Ok(UserRow {
        id: r.text("id")?,
        email: r.text("email")?,
        name: r.text("name")?,
        password_hash: r.text("password_hash")?,
        platform_admin: r.flag("platform_admin")?,
        created_at: r.int("created_at")?,
        associate_id: r.opt_int("associate_id")?,
        disabled_at: r.opt_int("disabled_at")?,
        email_verified_at: r.opt_int("email_verified_at")?,
    })
}

const TENANT_SELECT: &str = "id, ctx, serial, name, status, owner_partner_id, created_at, mfa_policy";

const USER_COLUMNS: &str = "id, email, name, password_hash, platform_admin, created_at, associate_id";
/// What a read of a user returns: the inserted columns, the offboarding state and whether the
/// address is verified.
const USER_SELECT: &str =
    "id, email, name, password_hash, platform_admin, created_at, associate_id, disabled_at, email_verified_at";

impl Store {
    pub async fn insert_partner(&self, p: &PartnerRow, event: &AuditEvent) -> sqlx::Result<()> {
        audited!(self, event, tx => {
            sqlx::query("INSERT INTO partners (id, name, created_at) VALUES ($1, $2, $3)")
                .bind(&p.id).bind(&p.name).bind(p.created_at).execute(&mut *tx).await?;
        })
    }

    pub async fn partner(&self, id: &str) -> sqlx::Result<Option<PartnerRow>> {
        on_db!(&self.db, pool => {
            sqlx::query("SELECT id, name, created_at FROM partners WHERE id = $1").bind(id).fetch_optional(pool).await?
                .map(|r| Ok(PartnerRow { id: r.text("id")?, name: r.text("name")?, created_at: r.int("created_at")? }))
                .transpose()
        })
    }

    pub async fn list_partners(&self) -> sqlx::Result<Vec<PartnerRow>> {
        on_db!(&self.db, pool => {
            sqlx::query("SELECT id, name, created_at FROM partners ORDER BY created_at, id").fetch_all(pool).await?
                .iter().map(|r| Ok(PartnerRow { id: r.text("id")?, name: r.text("name")?, created_at: r.int("created_at")? }))
                .collect()
        })
    }

    /// Adds a developer to a partner. Returns false when they already are one.
    pub async fn insert_partner_member(
        &self,
        partner_id: &str,
        user_id: &str,
        now: i64,
        event: &AuditEvent,
    ) -> sqlx::Result<bool> {
        audited!(self, event, when |added: &bool| *added, tx => {
            let added = sqlx::query("INSERT INTO partner_members (partner_id, user_id, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
                .bind(partner_id).bind(user_id).bind(now).execute(&mut *tx).await?.rows_affected() == 1;
            added
        })
    }

    pub async fn is_partner_member(&self, partner_id: &str, user_id: &str) -> sqlx::Result<bool> {
        on_db!(&self.db, pool => {
            Ok(sqlx::query("SELECT 1 FROM partner_members WHERE partner_id = $1 AND user_id = $2")
                .bind(partner_id).bind(user_id).fetch_optional(pool).await?.is_some())
        })
    }

    /// Inserts a tenant; its serial is the next free one unless given.
    pub async fn insert_tenant(&self, t: &TenantRow, event: &AuditEvent) -> sqlx::Result<i64> {
        audited!(self, event, tx => {
            let serial = if t.serial > 0 {
                t.serial
            } else {
                sqlx::query("SELECT COALESCE(MAX(serial), 1000) + 1 AS n FROM tenants").fetch_one(&mut *tx).await?.int("n")?
            };
            sqlx::query(&format!("INSERT INTO tenants ({TENANT_SELECT}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"))
                .bind(&t.id).bind(&t.ctx).bind(serial).bind(&t.name).bind(&t.status).bind(&t.owner_partner_id).bind(t.created_at)
                .bind(&t.mfa_policy)
                .execute(&mut *tx).await?;
            serial
        })
    }

    pub async fn tenant_by_id(&self, id: &str) -> sqlx::Result<Option<TenantRow>> {
        on_db!(&self.db, pool => {
            sqlx::query(&format!("SELECT {TENANT_SELECT} FROM tenants WHERE id = $1")).bind(id)
                .fetch_optional(pool).await?.as_ref().map(tenant_row).transpose()
        })
    }

    pub async fn tenant_by_ctx(&self, ctx: &str) -> sqlx::Result<Option<TenantRow>> {
        on_db!(&self.db, pool => {
            sqlx::query(&format!("SELECT {TENANT_SELECT} FROM tenants WHERE ctx = $1")).bind(ctx)
                .fetch_optional(pool).await?.as_ref().map(tenant_row).transpose()
        })
    }

    pub async fn list_tenants(&self) -> sqlx::Result<Vec<TenantRow>> {
        on_db!(&self.db, pool => {
            sqlx::query(&format!("SELECT {TENANT_SELECT} FROM tenants ORDER BY ctx")).fetch_all(pool).await?
                .iter().map(tenant_row).collect()
        })
    }

    /// Inserts a user and their first membership together.
    pub async fn insert_user(
        &self,
        u: &UserRow,
        tenant_id: &str,
        is_admin: bool,
        event: &AuditEvent,
    ) -> sqlx::Result<()> {
        audited!(self, event, tx => {
            // The next associate id in the same statement; two inserts racing for one number
            // meet the unique index and the second fails rather than sharing it.
            sqlx::query(&format!("INSERT INTO users ({USER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, \
                (SELECT COALESCE(MAX(associate_id), 0) + 1 FROM users))"))
                .bind(&u.id).bind(&u.email).bind(&u.name).bind(&u.password_hash).bind(u.platform_admin).bind(u.created_at)
                .execute(&mut *tx).await?;
            sqlx::query("INSERT INTO memberships (tenant_id, user_id, is_admin, created_at) VALUES ($1, $2, $3, $4)")
                .bind(tenant_id).bind(&u.id).bind(is_admin).bind(u.created_at)
                .execute(&mut *tx).await?;
        })
    }

    /// Adds (or updates the administrator flag of) a membership.
    pub async fn upsert_membership(
        &self,
        tenant_id: &str,
        user_id: &str,
        is_admin: bool,
        now: i64,
    ) -> sqlx::Result<()> {
        on_write!(self, pool => {
            sqlx::query("INSERT INTO memberships (tenant_id, user_id, is_admin, created_at) VALUES ($1, $2, $3, $4) \
                ON CONFLICT (tenant_id, user_id) DO UPDATE SET is_admin = excluded.is_admin")
                .bind(tenant_id).bind(user_id).bind(is_admin).bind(now).execute(pool).await.map(|_| ())
        })
    }

    pub async fn user_by_id(&self, id: &str) -> sqlx::Result<Option<UserRow>> {
        on_db!(&self.db, pool => {
            sqlx::query(&format!("SELECT {USER_SELECT} FROM users WHERE id = $1")).bind(id)
                .fetch_optional(pool).await?.as_ref().map(user_row).transpose()
        })
    }

    pub async fn user_by_email(&self, email: &str) -> sqlx::Result<Option<UserRow>> {
        on_db!(&self.db, pool => {
            sqlx::query(&format!("SELECT {USER_SELECT} FROM users WHERE email = $1")).bind(email)
                .fetch_optional(pool).await?.as_ref().map(user_row).transpose()
        })
    }

    pub async fn memberships(&self, user_id: &str) -> sqlx::Result<Vec<MembershipRow>> {
        on_db!(&self.db, pool => {
            sqlx::query("SELECT t.ctx, m.is_admin, t.mfa_policy FROM memberships m JOIN tenants t ON t.id = m.tenant_id WHERE m.user_id = $1 ORDER BY t.ctx")
                .bind(user_id).fetch_all(pool).await?
                .iter().map(|r| Ok(MembershipRow { tenant_ctx: r.text("ctx")?, is_admin: r.flag("is_admin")?, mfa_policy: r.text("mfa_policy")? })).collect()
        })
    }

    /// Disables a person and ends, in the same transaction, everything issued to them: their
    /// sessions and consents go, their refresh tokens, opaque access tokens and JWT
    /// credentials are revoked, their grants are marked revoked (so a code not yet redeemed
    /// fails), and the JWT access tokens recorded under those grants join the revoked list.
    /// JWT access tokens are also refused at introspection while their subject is disabled
    /// (`is_jwt_revoked`). False when the person was already disabled.
    /// Disables a person and ends what they hold; `tenant_events` (one per tenant they belong to,
    /// its ctx as subject) go to the webhooks of the apps those tenants let hear their events.
    pub async fn disable_user(
        &self,
        user_id: &str,
        now: i64,
        event: &AuditEvent,
        tenant_events: &[crate::store::outbox::WebhookEvent],
    ) -> sqlx::Result<bool> {
        const GRANTS: &str = "SELECT grant_id FROM refresh_tokens WHERE user_id = $1 \
            UNION SELECT grant_id FROM authorization_codes WHERE user_id = $1";
        audited!(self, event, when |done: &bool| *done, tx => {
            let done = sqlx::query("UPDATE users SET disabled_at = $2 WHERE id = $1 AND disabled_at IS NULL")
                .bind(user_id).bind(now).execute(&mut *tx).await?.rows_affected() == 1;
            if done {
                sqlx::query(&format!("INSERT INTO revoked_grants (grant_id, revoked_at) SELECT grant_id, $2 FROM ({GRANTS}) g WHERE true ON CONFLICT DO NOTHING"))
                    .bind(user_id).bind(now).execute(&mut *tx).await?;
                sqlx::query(&format!("INSERT INTO revoked_jwts (jti, expires_at) SELECT jti, expires_at FROM grant_tokens \
                    WHERE grant_id IN ({GRANTS}) ON CONFLICT DO NOTHING"))
                    .bind(user_id).execute(&mut *tx).await?;
                for sql in [
                    "UPDATE refresh_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
                    "UPDATE access_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
                    "UPDATE jwt_credentials SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
                ] {
                    sqlx::query(sql).bind(user_id).bind(now).execute(&mut *tx).await?;
                }
                for sql in ["DELETE FROM sessions WHERE user_id = $1", "DELETE FROM consents WHERE user_id = $1"] {
                    sqlx::query(sql).bind(user_id).execute(&mut *tx).await?;
                }
                sqlx::query(crate::store::outbox::QUEUE_USER_LOGOUTS).bind(user_id).bind(now).execute(&mut *tx).await?;
                sqlx::query(crate::store::outbox::FORGET_USER_APPS).bind(user_id).execute(&mut *tx).await?;
                for hook in tenant_events {
                    sqlx::query(crate::store::outbox::QUEUE_TENANT_WEBHOOKS)
                        .bind(&hook.id).bind(&hook.subject).bind(now).bind(&hook.body).execute(&mut *tx).await?;
                }
            }
            done
        })
    }

    /// Lets a disabled person sign in again. What was revoked when they were disabled stays
    /// revoked. False when the person was not disabled.
    pub async fn enable_user(&self, user_id: &str, event: &AuditEvent) -> sqlx::Result<bool> {
        audited!(self, event, when |done: &bool| *done, tx => {
            sqlx::query("UPDATE users SET disabled_at = NULL WHERE id = $1 AND disabled_at IS NOT NULL")
                .bind(user_id).execute(&mut *tx).await?.rows_affected() == 1
        })
    }

    /// Deletes a disabled person. Their memberships, sessions, consents, codes, refresh tokens
    /// and credentials go with the row (foreign keys); their opaque access tokens are deleted
    /// here. Only a disabled person can be deleted, so everything issued was revoked first.
    /// Apps that named them as technical contact lose it, through `update_app!`, so every
    /// instance's cached copy notices.
    pub async fn delete_user(&self, user_id: &str, now: i64, event: &AuditEvent) -> sqlx::Result<bool> {
        audited!(self, event, when |done: &bool| *done, tx => {
            let contact_of: Vec<String> = sqlx::query("SELECT id FROM apps WHERE technical_contact = $1")
                .bind(user_id).fetch_all(&mut *tx).await?.iter().map(|r| r.text("id")).collect::<sqlx::Result<_>>()?;
            for app_id in &contact_of {
                update_app!(&mut *tx, app_id, now, "technical_contact = NULL,")?;
            }
            sqlx::query("DELETE FROM access_tokens WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?;
            sqlx::query("DELETE FROM users WHERE id = $1 AND disabled_at IS NOT NULL")
                .bind(user_id).execute(&mut *tx).await?.rows_affected() == 1
        })
    }

    pub async fn set_mfa_policy(&self, tenant_id: &str, policy: &str, event: &AuditEvent) -> sqlx::Result<()> {
        audited!(self, event, tx => {
            sqlx::query("UPDATE tenants SET mfa_policy = $2 WHERE id = $1").bind(tenant_id).bind(policy).execute(&mut *tx).await?;
        })
    }

    pub async fn set_platform_admin(&self, user_id: &str, admin: bool) -> sqlx::Result<bool> {
        on_write!(self, pool => {
            Ok(sqlx::query("UPDATE users SET platform_admin = $2 WHERE id = $1").bind(user_id).bind(admin)
                .execute(pool).await?.rows_affected() == 1)
        })
    }

    pub async fn is_member(&self, tenant_id: &str, user_id: &str) -> sqlx::Result<bool> {
        on_db!(&self.db, pool => {
            Ok(sqlx::query("SELECT 1 FROM memberships WHERE tenant_id = $1 AND user_id = $2")
                .bind(tenant_id).bind(user_id).fetch_optional(pool).await?.is_some())
        })
    }

    /// The partners a user is a developer of.
    pub async fn partners_of(&self, user_id: &str) -> sqlx::Result<Vec<PartnerRow>> {
        on_db!(&self.db, pool => {
            sqlx::query("SELECT p.id, p.name, p.created_at FROM partners p JOIN partner_members m ON m.partner_id = p.id \
                WHERE m.user_id = $1 ORDER BY p.name, p.id")
                .bind(user_id).fetch_all(pool).await?.iter()
                .map(|r| Ok(PartnerRow { id: r.text("id")?, name: r.text("name")?, created_at: r.int("created_at")? }))
                .collect()
        })
    }

    /// The email addresses of a partner's developers (technical contacts are chosen among them).
    pub async fn partner_member_emails(&self, partner_id: &str) -> sqlx::Result<Vec<String>> {
        on_db!(&self.db, pool => {
            sqlx::query("SELECT u.email FROM partner_members m JOIN users u ON u.id = m.user_id WHERE m.partner_id = $1 ORDER BY u.email")
                .bind(partner_id).fetch_all(pool).await?.iter().map(|r| r.text("email")).collect()
        })
    }
}
