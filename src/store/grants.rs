//! SQL for tenants' authorization records (app × tenant) and users' JWT credentials.

use super::audit::{record, AuditEvent};
use super::row::DbRow;
use super::Store;
use crate::on_db;

/// A tenant's approval of an app as stored.
pub struct Approval<'a> {
    pub approver: Option<&'a str>,
    /// Active entitlements at approval, space-separated.
    pub entitlements: &'a str,
    pub system_token: Option<&'a str>,
}

#[derive(Debug, Clone)]
pub struct CredentialRow {
    pub id: String,
    pub digest: Vec<u8>,
    pub user_id: String,
    pub tenant_id: String,
    /// Client IDs, space-separated.
    pub app_ids: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

fn credential_row(r: &impl DbRow) -> sqlx::Result<CredentialRow> {
    Ok(CredentialRow {
        id: r.text("id")?,
        digest: r.bytes("digest")?,
        user_id: r.text("user_id")?,
        tenant_id: r.text("tenant_id")?,
        app_ids: r.text("app_ids")?,
        created_at: r.int("created_at")?,
        expires_at: r.opt_int("expires_at")?,
        revoked_at: r.opt_int("revoked_at")?,
    })
}

const CREDENTIAL_COLUMNS: &str = "id, digest, user_id, tenant_id, app_ids, created_at, expires_at, revoked_at";

impl Store {
    /// Records (or renews) a tenant administrator's approval of an app.
    pub async fn approve_app(
        &self,
        app_id: &str,
        tenant_id: &str,
        a: &Approval<'_>,
        now: i64,
        event: &AuditEvent,
    ) -> sqlx::Result<()> {
        on_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            // A renewed approval keeps the record's system token; a first one (or one after a
            // revocation cleared it) gets the new one.
            sqlx::query("INSERT INTO authorization_records (id, app_id, tenant_id, status, entitlements, approved_by, approved_at, updated_at, system_token) \
                VALUES ($1, $2, $3, 'approved', $4, $5, $6, $6, $7) \
                ON CONFLICT (app_id, tenant_id) DO UPDATE SET status = 'approved', entitlements = excluded.entitlements, \
                approved_by = excluded.approved_by, approved_at = excluded.approved_at, updated_at = excluded.updated_at, \
                system_token = COALESCE(authorization_records.system_token, excluded.system_token)")
                .bind(crate::crypto::random_id()).bind(app_id).bind(tenant_id).bind(a.entitlements).bind(a.approver).bind(now).bind(a.system_token)
                .execute(&mut *tx).await?;
            record!(&mut *tx, event)?;
            tx.commit().await
        })
    }

    /// Is the app (by client ID) still approved in the running tenant `ctx`? Tokens that act in
    /// a tenant stop working when the tenant revokes or denies the app, or stops.
    pub async fn approved_in_tenant(&self, client_id: &str, ctx: &str) -> sqlx::Result<bool> {
        const SQL: &str = "SELECT 1 FROM authorization_records r JOIN apps a ON a.id = r.app_id \
            JOIN tenants t ON t.id = r.tenant_id \
            WHERE a.client_id = $1 AND t.ctx = $2 AND r.status = 'approved' AND t.status = 'running'";
        on_db!(&self.db, pool => Ok(sqlx::query(SQL).bind(client_id).bind(ctx).fetch_optional(pool).await?.is_some()))
    }

    pub async fn authorization_status(&self, app_id: &str, tenant_id: &str) -> sqlx::Result<Option<String>> {
        on_db!(&self.db, pool => {
            sqlx::query("SELECT status FROM authorization_records WHERE app_id = $1 AND tenant_id = $2")
                .bind(app_id).bind(tenant_id).fetch_optional(pool).await?.map(|r| r.text("status")).transpose()
        })
    }

    pub async fn insert_credential(&self, c: &CredentialRow, event: &AuditEvent) -> sqlx::Result<()> {
        on_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(&format!("INSERT INTO jwt_credentials ({CREDENTIAL_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"))
                .bind(&c.id).bind(&c.digest).bind(&c.user_id).bind(&c.tenant_id).bind(&c.app_ids)
                .bind(c.created_at).bind(c.expires_at).bind(c.revoked_at)
                .execute(&mut *tx).await?;
            record!(&mut *tx, event)?;
            tx.commit().await
        })
    }

    pub async fn credential_by_digest(&self, digest: &[u8]) -> sqlx::Result<Option<CredentialRow>> {
        on_db!(&self.db, pool => {
            sqlx::query(&format!("SELECT {CREDENTIAL_COLUMNS} FROM jwt_credentials WHERE digest = $1")).bind(digest)
                .fetch_optional(pool).await?.as_ref().map(credential_row).transpose()
        })
    }

    pub async fn credentials_of(&self, user_id: &str) -> sqlx::Result<Vec<CredentialRow>> {
        on_db!(&self.db, pool => {
            sqlx::query(&format!("SELECT {CREDENTIAL_COLUMNS} FROM jwt_credentials WHERE user_id = $1 ORDER BY created_at, id")).bind(user_id)
                .fetch_all(pool).await?.iter().map(credential_row).collect()
        })
    }

    pub async fn revoke_credential(&self, id: &str, now: i64, event: &AuditEvent) -> sqlx::Result<bool> {
        on_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let done = sqlx::query("UPDATE jwt_credentials SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                .bind(id).bind(now).execute(&mut *tx).await?.rows_affected() == 1;
            if done {
                record!(&mut *tx, event)?;
            }
            tx.commit().await?;
            Ok(done)
        })
    }

    pub async fn is_member(&self, tenant_id: &str, user_id: &str) -> sqlx::Result<bool> {
        on_db!(&self.db, pool => {
            Ok(sqlx::query("SELECT 1 FROM memberships WHERE tenant_id = $1 AND user_id = $2")
                .bind(tenant_id).bind(user_id).fetch_optional(pool).await?.is_some())
        })
    }
}

impl Store {
    /// The status and system token of an app's authorization record in a tenant.
    pub async fn authorization_record(
        &self,
        app_id: &str,
        tenant_id: &str,
    ) -> sqlx::Result<Option<(String, Option<String>)>> {
        on_db!(&self.db, pool => {
            sqlx::query("SELECT status, system_token FROM authorization_records WHERE app_id = $1 AND tenant_id = $2")
                .bind(app_id).bind(tenant_id).fetch_optional(pool).await?
                .map(|r| Ok((r.text("status")?, r.opt_text("system_token")?))).transpose()
        })
    }

    /// Gives an approved record a system token if it has none (the app gained the entitlement).
    pub async fn ensure_system_token(&self, app_id: &str, tenant_id: &str, token: &str) -> sqlx::Result<()> {
        on_db!(&self.db, pool => {
            sqlx::query("UPDATE authorization_records SET system_token = $3 WHERE app_id = $1 AND tenant_id = $2 AND system_token IS NULL")
                .bind(app_id).bind(tenant_id).bind(token).execute(pool).await.map(|_| ())
        })
    }

    /// Ends (revoked) or refuses (denied) an app in a tenant. A revocation also ends the app's
    /// refresh tokens and system token there. Returns false when there was no record to change.
    pub async fn set_authorization_status(
        &self,
        app_id: &str,
        tenant_id: &str,
        status: &str,
        now: i64,
        event: &AuditEvent,
    ) -> sqlx::Result<bool> {
        on_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let changed = sqlx::query("UPDATE authorization_records SET status = $3, system_token = NULL, updated_at = $4 WHERE app_id = $1 AND tenant_id = $2")
                .bind(app_id).bind(tenant_id).bind(status).bind(now).execute(&mut *tx).await?.rows_affected() == 1;
            let inserted = if changed {
                false
            } else {
                sqlx::query("INSERT INTO authorization_records (id, app_id, tenant_id, status, entitlements, updated_at) VALUES ($1, $2, $3, $4, '', $5)")
                    .bind(crate::crypto::random_id()).bind(app_id).bind(tenant_id).bind(status).bind(now).execute(&mut *tx).await?;
                true
            };
            sqlx::query("UPDATE refresh_tokens SET revoked_at = $3 WHERE app_id = $1 AND tenant_id = $2 AND revoked_at IS NULL")
                .bind(app_id).bind(tenant_id).bind(now).execute(&mut *tx).await?;
            super::system_users::end_tickets!(&mut *tx, app_id, tenant_id, now)?;
            record!(&mut *tx, event)?;
            tx.commit().await?;
            Ok(changed || inserted)
        })
    }

    /// Adding certain entitlements to an app asks every approving tenant to approve again.
    pub async fn require_reapproval(&self, app_id: &str, now: i64) -> sqlx::Result<u64> {
        on_db!(&self.db, pool => {
            Ok(sqlx::query("UPDATE authorization_records SET status = 'needs-reapproval', updated_at = $2 WHERE app_id = $1 AND status = 'approved'")
                .bind(app_id).bind(now).execute(pool).await?.rows_affected())
        })
    }

    /// The client ID whose active secret has this digest (SuperID's ApplicationToken).
    pub async fn client_id_by_secret_digest(&self, digest: &[u8], now: i64) -> sqlx::Result<Option<String>> {
        on_db!(&self.db, pool => {
            sqlx::query("SELECT a.client_id FROM app_secrets s JOIN apps a ON a.id = s.app_id \
                WHERE s.digest = $1 AND s.revoked_at IS NULL AND (s.expires_at IS NULL OR s.expires_at > $2)")
                .bind(digest).bind(now).fetch_optional(pool).await?.map(|r| r.text("client_id")).transpose()
        })
    }

    pub async fn insert_entitlement(
        &self,
        app_id: &str,
        entitlement: &str,
        status: &str,
        justification: Option<&str>,
        now: i64,
        event: &AuditEvent,
    ) -> sqlx::Result<bool> {
        on_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let added = sqlx::query("INSERT INTO app_entitlements (app_id, entitlement, status, justification) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING")
                .bind(app_id).bind(entitlement).bind(status).bind(justification).execute(&mut *tx).await?.rows_affected() == 1;
            if added {
                sqlx::query("UPDATE apps SET updated_at = $2, revision = revision + 1 WHERE id = $1").bind(app_id).bind(now).execute(&mut *tx).await?;
                record!(&mut *tx, event)?;
            }
            tx.commit().await?;
            Ok(added)
        })
    }
}
