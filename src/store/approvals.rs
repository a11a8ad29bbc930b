//! SQL for authorization records (app × tenant): a tenant administrator's approval, denial or
//! revocation of an app, a member's request for one, and the lists the pages show.

use crate::store::audit::{audited, AuditEvent};
use crate::store::outbox::{queue_webhooks, WebhookEvent};
use crate::store::row::DbRow;
use crate::store::Store;
use crate::{on_db, on_write};

/// A tenant's approval of an app as stored.
pub struct Approval<'a> {
    pub approver: Option<&'a str>,
    /// Active entitlements at approval, space-separated.
    pub entitlements: &'a str,
    pub system_token: Option<&'a str>,
}

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
    /// Records (or renews) a tenant administrator's approval of an app, and queues `webhook`
    /// for the app's webhooks in the same commit.
    pub async fn approve_app(
        &self,
        app_id: &str,
        tenant_id: &str,
        a: &Approval<'_>,
        now: i64,
        event: &AuditEvent,
        webhook: &WebhookEvent,
    ) -> sqlx::Result<()> {
        audited!(self, event, tx => {
            queue_webhooks!(&mut *tx, app_id, webhook, now)?;
            // A renewed approval keeps the record's system token; a first one (or one after a
            // revocation cleared it) gets the new one.
            sqlx::query("INSERT INTO authorization_records (id, app_id, tenant_id, status, entitlements, approved_by, approved_at, updated_at, system_token) \
                VALUES ($1, $2, $3, 'approved', $4, $5, $6, $6, $7) \
                ON CONFLICT (app_id, tenant_id) DO UPDATE SET status = 'approved', entitlements = excluded.entitlements, \
                approved_by = excluded.approved_by, approved_at = excluded.approved_at, updated_at = excluded.updated_at, \
                system_token = COALESCE(authorization_records.system_token, excluded.system_token)")
                .bind(crate::crypto::random_id()).bind(app_id).bind(tenant_id).bind(a.entitlements).bind(a.approver).bind(now).bind(a.system_token)
                .execute(&mut *tx).await?;
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

    /// The integration points a tenant approved an app with, space-separated, while the
    /// approval stands.
    pub async fn approved_entitlements(&self, app_id: &str, tenant_id: &str) -> sqlx::Result<Option<String>> {
        on_db!(&self.db, pool => {
            sqlx::query("SELECT entitlements FROM authorization_records WHERE app_id = $1 AND tenant_id = $2 AND status = 'approved'")
                .bind(app_id).bind(tenant_id).fetch_optional(pool).await?.map(|r| r.text("entitlements")).transpose()
        })
    }

    pub async fn authorization_status(&self, app_id: &str, tenant_id: &str) -> sqlx::Result<Option<String>> {
        on_db!(&self.db, pool => {
            sqlx::query("SELECT status FROM authorization_records WHERE app_id = $1 AND tenant_id = $2")
                .bind(app_id).bind(tenant_id).fetch_optional(pool).await?.map(|r| r.text("status")).transpose()
        })
    }

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
        on_write!(self, pool => {
            sqlx::query("UPDATE authorization_records SET system_token = $3 WHERE app_id = $1 AND tenant_id = $2 AND system_token IS NULL")
                .bind(app_id).bind(tenant_id).bind(token).execute(pool).await.map(|_| ())
        })
    }

    /// Ends (revoked) or refuses (denied) an app in a tenant. A revocation also ends the app's
    /// refresh tokens and system token there; `webhook` is queued in the same commit. Returns
    /// false when there was no record to change.
    pub async fn set_authorization_status(
        &self,
        app_id: &str,
        tenant_id: &str,
        status: &str,
        now: i64,
        event: &AuditEvent,
        webhook: &WebhookEvent,
    ) -> sqlx::Result<bool> {
        audited!(self, event, tx => {
            queue_webhooks!(&mut *tx, app_id, webhook, now)?;
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
            changed || inserted
        })
    }

    /// Adding certain entitlements to an app asks every approving tenant to approve again; the
    /// app's webhooks hear which tenants (`webhook` made from their ctxs) in the same commit.
    pub async fn require_reapproval(
        &self,
        app_id: &str,
        now: i64,
        webhook: impl Fn(&[String]) -> WebhookEvent,
    ) -> sqlx::Result<u64> {
        on_write!(self, pool => {
            let mut tx = pool.begin().await?;
            let ctxs: Vec<String> = sqlx::query("UPDATE authorization_records SET status = 'needs-reapproval', updated_at = $2 \
                    WHERE app_id = $1 AND status = 'approved' \
                    RETURNING (SELECT ctx FROM tenants t WHERE t.id = authorization_records.tenant_id) AS ctx")
                .bind(app_id).bind(now).fetch_all(&mut *tx).await?
                .iter().map(|r| r.text("ctx")).collect::<sqlx::Result<_>>()?;
            if !ctxs.is_empty() {
                queue_webhooks!(&mut *tx, app_id, webhook(&ctxs), now)?;
            }
            tx.commit().await?;
            Ok(ctxs.len() as u64)
        })
    }

    /// Notes that a user of the tenant tried to use an app nobody there has approved, so the
    /// tenant's administrators see the request. An existing record is left as it is.
    pub async fn record_app_request(&self, app_id: &str, tenant_id: &str, now: i64) -> sqlx::Result<()> {
        on_write!(self, pool => {
            sqlx::query("INSERT INTO authorization_records (id, app_id, tenant_id, status, entitlements, updated_at) \
                VALUES ($1, $2, $3, 'requested', '', $4) ON CONFLICT (app_id, tenant_id) DO NOTHING")
                .bind(crate::crypto::random_id()).bind(app_id).bind(tenant_id).bind(now).execute(pool).await.map(|_| ())
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
}
