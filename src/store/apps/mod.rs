//! SQL for the app registry: apps with their URIs and entitlements, secrets (digests only),
//! and certificates (public JWKs). Every change commits together with its audit event.
//!
//! This module is the only writer of the `apps` table. Every statement that changes an app
//! goes through `update_app!`, which also moves the app's `revision` in the same
//! transaction: the registry's per-instance cache and remembered secret checks compare that
//! revision, so a write that forgot it would serve a stale app on other instances.

mod certificates;
mod entitlements;
pub mod expiry;
mod secrets;

pub use certificates::CertificateRow;
pub use entitlements::PendingEntitlement;
use secrets::INSERT_SECRET;
pub use secrets::{ActiveSecret, NewSecretRow, SecretRow};

use crate::store::audit::{audited, AuditEvent};
use crate::store::row::DbRow;
use crate::store::Store;
use crate::{on_db, on_write};

/// Changes an app and marks it changed, in one statement: `$set` names the columns it
/// changes (binding `$3` onwards, each followed by a comma), or is empty to mark the app
/// changed because rows that belong to it (secrets, URIs, entitlements) changed.
macro_rules! update_app {
    ($exec:expr, $app_id:expr, $now:expr) => {
        $crate::store::apps::update_app!($exec, $app_id, $now, "")
    };
    ($exec:expr, $app_id:expr, $now:expr, $set:literal $(, $bind:expr)*) => {
        sqlx::query(concat!("UPDATE apps SET ", $set, " updated_at = $2, revision = revision + 1 WHERE id = $1"))
            .bind($app_id)
            .bind($now)
            $(.bind($bind))*
            .execute($exec)
            .await
    };
}
pub(crate) use update_app;

#[derive(Debug, Clone)]
pub struct AppRow {
    pub id: String,
    pub client_id: String,
    pub partner_id: String,
    pub name: String,
    pub template: String,
    pub kind: String,
    pub custom_tenant_id: Option<String>,
    pub access: String,
    pub client_type: String,
    pub grant_types: String,
    pub loopback_any_port: bool,
    pub require_pkce: bool,
    pub allow_plain_pkce: bool,
    /// Authorization requests only through PAR (RFC 9126 §6 `require_pushed_authorization_requests`).
    pub require_par: bool,
    /// Every token request carries a DPoP proof (RFC 9449 §5.2 `dpop_bound_access_tokens`).
    pub require_dpop: bool,
    pub token_format: String,
    pub access_token_ttl: Option<i64>,
    pub refresh_mode: String,
    pub signing_alg: String,
    pub technical_contact: Option<String>,
    /// Where the client publishes its public keys (RFC 7591 §2), instead of registering them.
    pub jwks_uri: Option<String>,
    /// Seconds in which a rotated-out refresh token may be retried (`None`: the server's default).
    pub refresh_grace_secs: Option<i64>,
    /// The only client authentication method the app may use (`None`: any confidential one).
    pub token_auth_method: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Bumped by every change to the app or its lists; `None` on insert means 0.
    pub revision: i64,
}

#[derive(Debug, Clone)]
pub struct UriRow {
    pub kind: String,
    pub uri: String,
}

#[derive(Debug, Clone)]
pub struct EntitlementRow {
    pub entitlement: String,
    pub status: String,
    pub justification: Option<String>,
}

/// An app as it is first stored: everything lands in one transaction or nothing does.
pub struct NewAppRows<'a> {
    pub app: &'a AppRow,
    pub uris: &'a [UriRow],
    pub entitlements: &'a [EntitlementRow],
    pub secret: Option<&'a NewSecretRow>,
    /// The portal wizard's submission key: a second insert with the same key fails.
    pub creation_key: Option<&'a str>,
}

/// Token settings to change; `None` leaves one as it is.
pub struct TokenSettingsRow<'a> {
    pub token_format: Option<&'a str>,
    pub signing_alg: Option<&'a str>,
    pub access_token_ttl: Option<i64>,
    pub refresh_mode: Option<&'a str>,
    /// A negative value clears the app's own grace period (back to the server default).
    pub refresh_grace_secs: Option<i64>,
    pub require_pkce: Option<bool>,
    pub require_par: Option<bool>,
    pub require_dpop: Option<bool>,
}

/// A loaded app with its lists.
pub struct AppRecord {
    pub app: AppRow,
    pub uris: Vec<UriRow>,
    pub entitlements: Vec<EntitlementRow>,
}

const APP_COLUMNS: &str = "id, client_id, partner_id, name, template, kind, custom_tenant_id, access, client_type, \
    grant_types, loopback_any_port, require_pkce, allow_plain_pkce, token_format, access_token_ttl, refresh_mode, \
    signing_alg, technical_contact, created_at, updated_at, revision, jwks_uri, refresh_grace_secs, token_auth_method, \
    require_par, require_dpop";

fn app_row(r: &impl DbRow) -> sqlx::Result<AppRow> {
    Ok(AppRow {
        id: r.text("id")?,
        client_id: r.text("client_id")?,
        partner_id: r.text("partner_id")?,
        name: r.text("name")?,
        template: r.text("template")?,
        kind: r.text("kind")?,
        custom_tenant_id: r.opt_text("custom_tenant_id")?,
        access: r.text("access")?,
        client_type: r.text("client_type")?,
        grant_types: r.text("grant_types")?,
        loopback_any_port: r.flag("loopback_any_port")?,
        require_pkce: r.flag("require_pkce")?,
        allow_plain_pkce: r.flag("allow_plain_pkce")?,
        require_par: r.flag("require_par")?,
        require_dpop: r.flag("require_dpop")?,
        token_format: r.text("token_format")?,
        access_token_ttl: r.opt_int("access_token_ttl")?,
        refresh_mode: r.text("refresh_mode")?,
        signing_alg: r.text("signing_alg")?,
        technical_contact: r.opt_text("technical_contact")?,
        created_at: r.int("created_at")?,
        updated_at: r.int("updated_at")?,
        revision: r.int("revision")?,
        jwks_uri: r.opt_text("jwks_uri")?,
        refresh_grace_secs: r.opt_int("refresh_grace_secs")?,
        token_auth_method: r.opt_text("token_auth_method")?,
    })
}

impl Store {
    pub async fn insert_app(&self, rows: NewAppRows<'_>, event: &AuditEvent) -> sqlx::Result<()> {
        let a = rows.app;
        let insert_app = format!(
            "INSERT INTO apps ({APP_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26)"
        );
        audited!(self, event, tx => {
            sqlx::query(&insert_app)
                .bind(&a.id).bind(&a.client_id).bind(&a.partner_id).bind(&a.name).bind(&a.template)
                .bind(&a.kind).bind(&a.custom_tenant_id).bind(&a.access).bind(&a.client_type)
                .bind(&a.grant_types).bind(a.loopback_any_port).bind(a.require_pkce).bind(a.allow_plain_pkce)
                .bind(&a.token_format).bind(a.access_token_ttl).bind(&a.refresh_mode).bind(&a.signing_alg)
                .bind(&a.technical_contact).bind(a.created_at).bind(a.updated_at).bind(a.revision)
                .bind(&a.jwks_uri).bind(a.refresh_grace_secs).bind(&a.token_auth_method).bind(a.require_par).bind(a.require_dpop)
                .execute(&mut *tx).await?;
            for u in rows.uris {
                sqlx::query("INSERT INTO app_uris (app_id, kind, uri, created_at) VALUES ($1, $2, $3, $4)")
                    .bind(&a.id).bind(&u.kind).bind(&u.uri).bind(a.created_at)
                    .execute(&mut *tx).await?;
            }
            for e in rows.entitlements {
                sqlx::query("INSERT INTO app_entitlements (app_id, entitlement, status, justification) VALUES ($1, $2, $3, $4)")
                    .bind(&a.id).bind(&e.entitlement).bind(&e.status).bind(&e.justification)
                    .execute(&mut *tx).await?;
            }
            if let Some(s) = rows.secret {
                sqlx::query(INSERT_SECRET)
                    .bind(&s.id).bind(&a.id).bind(&s.digest).bind(&s.hint).bind(a.created_at).bind(s.expires_at)
                    .execute(&mut *tx).await?;
            }
            if let Some(key) = rows.creation_key {
                sqlx::query("INSERT INTO app_creations (creation_key, app_id, created_at) VALUES ($1, $2, $3)")
                    .bind(key).bind(&a.id).bind(a.created_at).execute(&mut *tx).await?;
            }
        })
    }

    pub async fn app_by_client_id(&self, client_id: &str) -> sqlx::Result<Option<AppRow>> {
        let sql = format!("SELECT {APP_COLUMNS} FROM apps WHERE client_id = $1");
        on_db!(&self.db, pool => sqlx::query(&sql).bind(client_id).fetch_optional(pool).await?.as_ref().map(app_row).transpose())
    }

    /// The app's current revision, or None once it is deleted: what a remembered
    /// authentication is checked against.
    pub async fn app_revision(&self, app_id: &str) -> sqlx::Result<Option<i64>> {
        on_db!(&self.db, pool => {
            sqlx::query("SELECT revision FROM apps WHERE id = $1").bind(app_id).fetch_optional(pool).await?
                .map(|r| r.int("revision")).transpose()
        })
    }

    /// The hot path of client authentication in one query: the app and its active secrets.
    pub async fn app_with_active_secrets(
        &self,
        client_id: &str,
        now: i64,
    ) -> sqlx::Result<Option<(AppRow, Vec<ActiveSecret>)>> {
        let columns: Vec<String> = APP_COLUMNS.split(',').map(|c| format!("a.{}", c.trim())).collect();
        let sql = format!(
            "SELECT {}, s.id AS secret_id, s.digest, s.last_used_at, s.expires_at AS secret_expires_at FROM apps a LEFT JOIN app_secrets s \
             ON s.app_id = a.id AND s.revoked_at IS NULL AND (s.expires_at IS NULL OR s.expires_at > $2) WHERE a.client_id = $1",
            columns.join(", ")
        );
        on_db!(&self.db, pool => {
            let rows = sqlx::query(&sql).bind(client_id).bind(now).fetch_all(pool).await?;
            let Some(first) = rows.first() else { return Ok(None) };
            let app = app_row(first)?;
            let mut secrets = Vec::with_capacity(rows.len());
            for r in &rows {
                if let Some(id) = r.opt_text("secret_id")? {
                    secrets.push((id, r.bytes("digest")?, r.opt_int("last_used_at")?, r.opt_int("secret_expires_at")?));
                }
            }
            Ok(Some((app, secrets)))
        })
    }

    /// An app's URI lists and entitlements.
    pub async fn app_lists(&self, app: AppRow) -> sqlx::Result<AppRecord> {
        on_db!(&self.db, pool => {
            let uris = sqlx::query("SELECT kind, uri FROM app_uris WHERE app_id = $1 ORDER BY kind, created_at, uri")
                .bind(&app.id).fetch_all(pool).await?
                .iter().map(|r| Ok(UriRow { kind: r.text("kind")?, uri: r.text("uri")? }))
                .collect::<sqlx::Result<Vec<_>>>()?;
            let entitlements = sqlx::query("SELECT entitlement, status, justification FROM app_entitlements WHERE app_id = $1 ORDER BY entitlement")
                .bind(&app.id).fetch_all(pool).await?
                .iter().map(|r| Ok(EntitlementRow {
                    entitlement: r.text("entitlement")?,
                    status: r.text("status")?,
                    justification: r.opt_text("justification")?,
                }))
                .collect::<sqlx::Result<Vec<_>>>()?;
            Ok(AppRecord { app, uris, entitlements })
        })
    }

    pub async fn list_apps(&self, partner_id: Option<&str>) -> sqlx::Result<Vec<AppRow>> {
        let sql = format!(
            "SELECT {APP_COLUMNS} FROM apps WHERE ($1 IS NULL OR partner_id = $1) ORDER BY created_at, client_id"
        );
        on_db!(&self.db, pool => {
            sqlx::query(&sql).bind(partner_id).fetch_all(pool).await?.iter().map(app_row).collect()
        })
    }

    /// The client ID of the app a wizard submission created, if it did.
    pub async fn app_by_creation_key(&self, key: &str) -> sqlx::Result<Option<String>> {
        on_db!(&self.db, pool => {
            sqlx::query("SELECT a.client_id FROM app_creations c JOIN apps a ON a.id = c.app_id WHERE c.creation_key = $1")
                .bind(key).fetch_optional(pool).await?.map(|r| r.text("client_id")).transpose()
        })
    }

    /// Adds a URI to one of an app's lists. Returns false when it is already there.
    pub async fn add_app_uri(
        &self,
        app_id: &str,
        kind: &str,
        uri: &str,
        now: i64,
        event: &AuditEvent,
    ) -> sqlx::Result<bool> {
        audited!(self, event, when |added: &bool| *added, tx => {
            let added = sqlx::query("INSERT INTO app_uris (app_id, kind, uri, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING")
                .bind(app_id).bind(kind).bind(uri).bind(now).execute(&mut *tx).await?.rows_affected() == 1;
            if added {
                update_app!(&mut *tx, app_id, now)?;
            }
            added
        })
    }

    pub async fn remove_app_uri(
        &self,
        app_id: &str,
        kind: &str,
        uri: &str,
        now: i64,
        event: &AuditEvent,
    ) -> sqlx::Result<bool> {
        audited!(self, event, when |removed: &bool| *removed, tx => {
            let removed = sqlx::query("DELETE FROM app_uris WHERE app_id = $1 AND kind = $2 AND uri = $3")
                .bind(app_id).bind(kind).bind(uri).execute(&mut *tx).await?.rows_affected() == 1;
            if removed {
                update_app!(&mut *tx, app_id, now)?;
            }
            removed
        })
    }

    /// Changes an app's token settings; `None` leaves a setting as it is.
    pub async fn update_token_settings(
        &self,
        app_id: &str,
        s: &TokenSettingsRow<'_>,
        now: i64,
        event: &AuditEvent,
    ) -> sqlx::Result<()> {
        audited!(self, event, tx => {
            update_app!(
                &mut *tx,
                app_id,
                now,
                "token_format = COALESCE($3, token_format), signing_alg = COALESCE($4, signing_alg), \
                access_token_ttl = COALESCE($5, access_token_ttl), refresh_mode = COALESCE($6, refresh_mode), \
                refresh_grace_secs = CASE WHEN $7 < 0 THEN NULL ELSE COALESCE($7, refresh_grace_secs) END, \
                require_pkce = COALESCE($8, require_pkce), require_par = COALESCE($9, require_par), \
                require_dpop = COALESCE($10, require_dpop),",
                s.token_format,
                s.signing_alg,
                s.access_token_ttl,
                s.refresh_mode,
                s.refresh_grace_secs,
                s.require_pkce,
                s.require_par,
                s.require_dpop
            )?;
        })
    }

    pub async fn set_app_access(&self, app_id: &str, access: &str, now: i64, event: &AuditEvent) -> sqlx::Result<()> {
        audited!(self, event, tx => {
            update_app!(&mut *tx, app_id, now, "access = $3,", access)?;
        })
    }

    pub async fn set_dedicated_signing_key(&self, app_id: &str, on: bool, now: i64) -> sqlx::Result<()> {
        on_write!(self, pool => update_app!(pool, app_id, now, "dedicated_signing_key = $3,", on).map(|_| ()))
    }

    /// Deletes an app and everything that hangs off it (RFC 7592 §2.3).
    pub async fn delete_app(&self, app_id: &str, event: &AuditEvent) -> sqlx::Result<()> {
        audited!(self, event, tx => {
            for sql in [
                "DELETE FROM authorization_codes WHERE app_id = $1",
                "DELETE FROM refresh_tokens WHERE app_id = $1",
                "DELETE FROM access_tokens WHERE app_id = $1",
                "DELETE FROM consents WHERE app_id = $1",
                "DELETE FROM authorization_requests WHERE app_id = $1",
                "DELETE FROM signing_keys WHERE app_id = $1",
                "DELETE FROM apps WHERE id = $1",
            ] {
                sqlx::query(sql).bind(app_id).execute(&mut *tx).await?;
            }
        })
    }

    /// Has any app registered this CORS origin? Preflights (which name no client) and errors
    /// of requests whose client is unknown are answered for such origins only.
    pub async fn is_registered_origin(&self, origin: &str) -> sqlx::Result<bool> {
        const SQL: &str = "SELECT 1 FROM app_uris WHERE kind = 'cors' AND uri = $1 LIMIT 1";
        on_db!(&self.db, pool => Ok(sqlx::query(SQL).bind(origin).fetch_optional(pool).await?.is_some()))
    }
}
