//! SQL the Developer Portal and the administration pages need beyond the registry's own:
//! who belongs to which partner, authorization records as lists, entitlement decisions,
//! access changes and the wizard's submission keys.

use super::audit::{record, AuditEvent};
use super::row::DbRow;
use super::tenants::PartnerRow;
use super::Store;
use crate::on_db;

/// One authorization record (app × tenant) as the pages list it.
#[derive(Debug, Clone)]
pub struct AuthorizationView {
    pub client_id: String,
    pub app_name: String,
    pub ctx: String,
    pub tenant_name: String,
    pub status: String,
    pub entitlements: String,
    pub approved_by: Option<String>,
    pub approved_at: Option<i64>,
    pub updated_at: i64,
}

/// A restricted entitlement waiting for the platform's decision.
#[derive(Debug, Clone)]
pub struct PendingEntitlement {
    pub client_id: String,
    pub app_name: String,
    pub partner_name: String,
    pub entitlement: String,
    pub justification: Option<String>,
}

const AUTHORIZATION_VIEW: &str = "SELECT a.client_id, a.name AS app_name, t.ctx, t.name AS tenant_name, r.status, \
    r.entitlements, u.email AS approved_by, r.approved_at, r.updated_at \
    FROM authorization_records r JOIN apps a ON a.id = r.app_id JOIN tenants t ON t.id = r.tenant_id \
    LEFT JOIN users u ON u.id = r.approved_by";

fn authorization_view(r: &impl DbRow) -> sqlx::Result<AuthorizationView> {
    Ok(AuthorizationView {
        client_id: r.text("client_id")?,
        app_name: r.text("app_name")?,
        ctx: r.text("ctx")?,
        tenant_name: r.text("tenant_name")?,
        status: r.text("status")?,
        entitlements: r.text("entitlements")?,
        approved_by: r.opt_text("approved_by")?,
        approved_at: r.opt_int("approved_at")?,
        updated_at: r.int("updated_at")?,
    })
}

impl Store {
    /// The client ID of the app a wizard submission created, if it did.
    pub async fn app_by_creation_key(&self, key: &str) -> sqlx::Result<Option<String>> {
        on_db!(&self.db, pool => {
            sqlx::query("SELECT a.client_id FROM app_creations c JOIN apps a ON a.id = c.app_id WHERE c.creation_key = $1")
                .bind(key).fetch_optional(pool).await?.map(|r| r.text("client_id")).transpose()
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

    pub async fn authorizations_of_app(&self, app_id: &str) -> sqlx::Result<Vec<AuthorizationView>> {
        let sql = format!("{AUTHORIZATION_VIEW} WHERE r.app_id = $1 ORDER BY t.ctx");
        on_db!(&self.db, pool => {
            sqlx::query(&sql).bind(app_id).fetch_all(pool).await?.iter().map(authorization_view).collect()
        })
    }

    pub async fn authorizations_of_tenant(&self, tenant_id: &str) -> sqlx::Result<Vec<AuthorizationView>> {
        let sql = format!("{AUTHORIZATION_VIEW} WHERE r.tenant_id = $1 ORDER BY a.name, a.client_id");
        on_db!(&self.db, pool => {
            sqlx::query(&sql).bind(tenant_id).fetch_all(pool).await?.iter().map(authorization_view).collect()
        })
    }

    /// Notes that a user of the tenant tried to use an app nobody there has approved, so the
    /// tenant's administrators see the request. An existing record is left as it is.
    pub async fn record_app_request(&self, app_id: &str, tenant_id: &str, now: i64) -> sqlx::Result<()> {
        on_db!(&self.db, pool => {
            sqlx::query("INSERT INTO authorization_records (id, app_id, tenant_id, status, entitlements, updated_at) \
                VALUES ($1, $2, $3, 'requested', '', $4) ON CONFLICT (app_id, tenant_id) DO NOTHING")
                .bind(crate::crypto::random_id()).bind(app_id).bind(tenant_id).bind(now).execute(pool).await.map(|_| ())
        })
    }

    pub async fn set_app_access(&self, app_id: &str, access: &str, now: i64, event: &AuditEvent) -> sqlx::Result<()> {
        on_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("UPDATE apps SET access = $3, updated_at = $2, revision = revision + 1 WHERE id = $1")
                .bind(app_id).bind(now).bind(access).execute(&mut *tx).await?;
            record!(&mut *tx, event)?;
            tx.commit().await
        })
    }

    /// Approves (`active`) or rejects a pending entitlement. False when it was not pending.
    pub async fn decide_entitlement(
        &self,
        app_id: &str,
        entitlement: &str,
        status: &str,
        decided_by: &str,
        now: i64,
        event: &AuditEvent,
    ) -> sqlx::Result<bool> {
        on_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let changed = sqlx::query("UPDATE app_entitlements SET status = $3, decided_by = $4, decided_at = $5 \
                WHERE app_id = $1 AND entitlement = $2 AND status = 'pending'")
                .bind(app_id).bind(entitlement).bind(status).bind(decided_by).bind(now)
                .execute(&mut *tx).await?.rows_affected() == 1;
            if changed {
                sqlx::query("UPDATE apps SET updated_at = $2, revision = revision + 1 WHERE id = $1")
                    .bind(app_id).bind(now).execute(&mut *tx).await?;
                record!(&mut *tx, event)?;
            }
            tx.commit().await?;
            Ok(changed)
        })
    }

    pub async fn pending_entitlements(&self) -> sqlx::Result<Vec<PendingEntitlement>> {
        on_db!(&self.db, pool => {
            sqlx::query("SELECT a.client_id, a.name AS app_name, p.name AS partner_name, e.entitlement, e.justification \
                FROM app_entitlements e JOIN apps a ON a.id = e.app_id JOIN partners p ON p.id = a.partner_id \
                WHERE e.status = 'pending' ORDER BY a.created_at, a.client_id, e.entitlement")
                .fetch_all(pool).await?.iter()
                .map(|r| Ok(PendingEntitlement {
                    client_id: r.text("client_id")?,
                    app_name: r.text("app_name")?,
                    partner_name: r.text("partner_name")?,
                    entitlement: r.text("entitlement")?,
                    justification: r.opt_text("justification")?,
                }))
                .collect()
        })
    }
}
