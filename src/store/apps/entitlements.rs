//! An app's entitlements (integration points) and the platform's decisions on restricted ones.

use super::update_app;
use crate::on_db;
use crate::store::audit::{audited, AuditEvent};
use crate::store::row::DbRow;
use crate::store::Store;

/// A restricted entitlement waiting for the platform's decision.
#[derive(Debug, Clone)]
pub struct PendingEntitlement {
    pub client_id: String,
    pub app_name: String,
    pub partner_name: String,
    pub entitlement: String,
    pub justification: Option<String>,
}

impl Store {
    pub async fn insert_entitlement(
        &self,
        app_id: &str,
        entitlement: &str,
        status: &str,
        justification: Option<&str>,
        now: i64,
        event: &AuditEvent,
    ) -> sqlx::Result<bool> {
        audited!(self, event, when |added: &bool| *added, tx => {
            let added = sqlx::query("INSERT INTO app_entitlements (app_id, entitlement, status, justification) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING")
                .bind(app_id).bind(entitlement).bind(status).bind(justification).execute(&mut *tx).await?.rows_affected() == 1;
            if added {
                update_app!(&mut *tx, app_id, now)?;
            }
            added
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
        audited!(self, event, when |changed: &bool| *changed, tx => {
            let changed = sqlx::query("UPDATE app_entitlements SET status = $3, decided_by = $4, decided_at = $5 \
                WHERE app_id = $1 AND entitlement = $2 AND status = 'pending'")
                .bind(app_id).bind(entitlement).bind(status).bind(decided_by).bind(now)
                .execute(&mut *tx).await?.rows_affected() == 1;
            if changed {
                update_app!(&mut *tx, app_id, now)?;
            }
            changed
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
