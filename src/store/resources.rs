//! SQL for resource servers (the APIs tokens are issued for) and their grants to apps.

use super::audit::{audited, AuditEvent};
use super::row::DbRow;
use super::Store;
use crate::on_db;

#[derive(Debug, Clone, serde::Serialize)]
pub struct ResourceServerRow {
    pub identifier: String,
    pub name: String,
    pub owner_partner_id: Option<String>,
    pub created_at: i64,
}

impl Store {
    /// Registers a resource server; a unique violation means the identifier is taken.
    pub async fn insert_resource_server(&self, r: &ResourceServerRow, event: &AuditEvent) -> sqlx::Result<()> {
        audited!(self, event, tx => {
            sqlx::query("INSERT INTO resource_servers (identifier, name, owner_partner_id, created_at) VALUES ($1, $2, $3, $4)")
                .bind(&r.identifier).bind(&r.name).bind(&r.owner_partner_id).bind(r.created_at)
                .execute(&mut *tx).await?;
        })
    }

    /// Every resource server, or those `owner` owns, by identifier.
    pub async fn resource_servers(&self, owner: Option<&str>) -> sqlx::Result<Vec<ResourceServerRow>> {
        const SQL: &str = "SELECT identifier, name, owner_partner_id, created_at FROM resource_servers \
            WHERE $1 IS NULL OR owner_partner_id = $1 ORDER BY identifier";
        on_db!(&self.db, pool => {
            sqlx::query(SQL).bind(owner).fetch_all(pool).await?.iter()
                .map(|r| Ok(ResourceServerRow {
                    identifier: r.text("identifier")?,
                    name: r.text("name")?,
                    owner_partner_id: r.opt_text("owner_partner_id")?,
                    created_at: r.int("created_at")?,
                }))
                .collect()
        })
    }

    pub async fn resource_server(&self, identifier: &str) -> sqlx::Result<Option<ResourceServerRow>> {
        on_db!(&self.db, pool => {
            sqlx::query("SELECT identifier, name, owner_partner_id, created_at FROM resource_servers WHERE identifier = $1")
                .bind(identifier).fetch_optional(pool).await?
                .map(|r| Ok(ResourceServerRow {
                    identifier: r.text("identifier")?,
                    name: r.text("name")?,
                    owner_partner_id: r.opt_text("owner_partner_id")?,
                    created_at: r.int("created_at")?,
                }))
                .transpose()
        })
    }

    /// Grants an app a resource server it does not own; granting twice is one grant.
    pub async fn grant_resource(
        &self,
        identifier: &str,
        app_id: &str,
        granted_by: &str,
        now: i64,
        event: &AuditEvent,
    ) -> sqlx::Result<()> {
        audited!(self, event, tx => {
            sqlx::query("INSERT INTO resource_grants (identifier, app_id, granted_by, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING")
                .bind(identifier).bind(app_id).bind(granted_by).bind(now)
                .execute(&mut *tx).await?;
        })
    }

    /// May the app (of `partner_id`) ask for tokens whose audience is `identifier`? Only a
    /// registered resource server its partner owns, or one granted to it: one statement.
    pub async fn may_use_resource(&self, identifier: &str, app_id: &str, partner_id: &str) -> sqlx::Result<bool> {
        const SQL: &str = "SELECT 1 FROM resource_servers r WHERE r.identifier = $1 AND (r.owner_partner_id = $2 \
            OR EXISTS (SELECT 1 FROM resource_grants g WHERE g.identifier = r.identifier AND g.app_id = $3))";
        on_db!(&self.db, pool => {
            Ok(sqlx::query(SQL).bind(identifier).bind(partner_id).bind(app_id).fetch_optional(pool).await?.is_some())
        })
    }
}
