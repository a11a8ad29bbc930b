//! SQL for the app registry: apps with their URIs and entitlements, secrets (digests only),
//! and certificates (public JWKs). Every change commits together with its audit event.

use super::audit::{record, AuditEvent};
use super::row::DbRow;
use super::Store;
use crate::on_db;

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

#[derive(Debug, Clone)]
pub struct NewSecretRow {
    pub id: String,
    pub digest: Vec<u8>,
    pub hint: String,
    pub expires_at: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct SecretRow {
    pub id: String,
    pub hint: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct CertificateRow {
    pub id: String,
    pub kid: String,
    pub kty: String,
    pub jwk: String,
    /// The `kid` the client gave the key (RFC 7517 §4.5), if any; `kid` is its RFC 7638 thumbprint.
    pub client_kid: Option<String>,
    pub source_format: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
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
}

/// An active secret: id, digest, last use, expiry.
pub type ActiveSecret = (String, Vec<u8>, Option<i64>, Option<i64>);

/// A loaded app with its lists.
pub struct AppRecord {
    pub app: AppRow,
    pub uris: Vec<UriRow>,
    pub entitlements: Vec<EntitlementRow>,
}

const APP_COLUMNS: &str = "id, client_id, partner_id, name, template, kind, custom_tenant_id, access, client_type, \
    grant_types, loopback_any_port, require_pkce, allow_plain_pkce, token_format, access_token_ttl, refresh_mode, \
    signing_alg, technical_contact, created_at, updated_at, revision, jwks_uri, refresh_grace_secs, token_auth_method";

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

fn secret_row(r: &impl DbRow) -> sqlx::Result<SecretRow> {
    Ok(SecretRow {
        id: r.text("id")?,
        hint: r.text("hint")?,
        created_at: r.int("created_at")?,
        expires_at: r.opt_int("expires_at")?,
        revoked_at: r.opt_int("revoked_at")?,
        last_used_at: r.opt_int("last_used_at")?,
    })
}

fn certificate_row(r: &impl DbRow) -> sqlx::Result<CertificateRow> {
    Ok(CertificateRow {
        id: r.text("id")?,
        kid: r.text("kid")?,
        kty: r.text("kty")?,
        jwk: r.text("jwk")?,
        client_kid: r.opt_text("client_kid")?,
        source_format: r.text("source_format")?,
        created_at: r.int("created_at")?,
        expires_at: r.opt_int("expires_at")?,
        revoked_at: r.opt_int("revoked_at")?,
    })
}

/// Marks an app changed, so every instance's cached copy is refreshed.
const BUMP: &str = "UPDATE apps SET updated_at = $2, revision = revision + 1 WHERE id = $1";

const INSERT_SECRET: &str =
    "INSERT INTO app_secrets (id, app_id, digest, hint, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)";

/// Secrets that still authenticate at `$2` (not revoked, not expired).
const ACTIVE_SECRET: &str = "revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)";

impl Store {
    pub async fn insert_app(&self, rows: NewAppRows<'_>, event: &AuditEvent) -> sqlx::Result<()> {
        let a = rows.app;
        let insert_app = format!(
            "INSERT INTO apps ({APP_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24)"
        );
        on_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(&insert_app)
                .bind(&a.id).bind(&a.client_id).bind(&a.partner_id).bind(&a.name).bind(&a.template)
                .bind(&a.kind).bind(&a.custom_tenant_id).bind(&a.access).bind(&a.client_type)
                .bind(&a.grant_types).bind(a.loopback_any_port).bind(a.require_pkce).bind(a.allow_plain_pkce)
                .bind(&a.token_format).bind(a.access_token_ttl).bind(&a.refresh_mode).bind(&a.signing_alg)
                .bind(&a.technical_contact).bind(a.created_at).bind(a.updated_at).bind(a.revision)
                .bind(&a.jwks_uri).bind(a.refresh_grace_secs).bind(&a.token_auth_method)
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
            record!(&mut *tx, event)?;
            tx.commit().await
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

    /// Adds a secret unless the app already has `max_active` active ones. The first statement
    /// locks the app row, so two concurrent requests (on any instance) cannot both slip under
    /// the limit. Returns false when the limit was reached.
    pub async fn insert_secret_within_limit(
        &self,
        app_id: &str,
        secret: &NewSecretRow,
        now: i64,
        max_active: i64,
        event: &AuditEvent,
    ) -> sqlx::Result<bool> {
        let count_sql = format!("SELECT COUNT(*) AS n FROM app_secrets WHERE app_id = $1 AND {ACTIVE_SECRET}");
        on_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("UPDATE apps SET updated_at = $2, revision = revision + 1 WHERE id = $1").bind(app_id).bind(now).execute(&mut *tx).await?;
            let active = sqlx::query(&count_sql).bind(app_id).bind(now).fetch_one(&mut *tx).await?.int("n")?;
            if active >= max_active {
                return Ok(false);
            }
            sqlx::query(INSERT_SECRET)
                .bind(&secret.id).bind(app_id).bind(&secret.digest).bind(&secret.hint).bind(now).bind(secret.expires_at)
                .execute(&mut *tx).await?;
            record!(&mut *tx, event)?;
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Revokes one secret of one app. Returns false when there is no such unrevoked secret.
    pub async fn revoke_secret(
        &self,
        app_id: &str,
        secret_id: &str,
        now: i64,
        event: &AuditEvent,
    ) -> sqlx::Result<bool> {
        on_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let done = sqlx::query("UPDATE app_secrets SET revoked_at = $3 WHERE app_id = $1 AND id = $2 AND revoked_at IS NULL")
                .bind(app_id).bind(secret_id).bind(now).execute(&mut *tx).await?.rows_affected() == 1;
            if done {
                // Instances that remembered a check of this secret see the new revision.
                sqlx::query("UPDATE apps SET updated_at = $2, revision = revision + 1 WHERE id = $1").bind(app_id).bind(now).execute(&mut *tx).await?;
                record!(&mut *tx, event)?;
            }
            tx.commit().await?;
            Ok(done)
        })
    }

    pub async fn secrets(&self, app_id: &str) -> sqlx::Result<Vec<SecretRow>> {
        on_db!(&self.db, pool => {
            sqlx::query("SELECT id, hint, created_at, expires_at, revoked_at, last_used_at FROM app_secrets WHERE app_id = $1 ORDER BY created_at, id")
                .bind(app_id).fetch_all(pool).await?.iter().map(secret_row).collect()
        })
    }

    /// Records that a secret authenticated.
    pub async fn touch_secret(&self, secret_id: &str, now: i64) -> sqlx::Result<()> {
        const SQL: &str = "UPDATE app_secrets SET last_used_at = $2 WHERE id = $1";
        on_db!(&self.db, pool => sqlx::query(SQL).bind(secret_id).bind(now).execute(pool).await.map(|_| ()))
    }

    /// Stores a certificate. A unique violation means the app already has this key.
    pub async fn insert_certificate(&self, app_id: &str, c: &CertificateRow, event: &AuditEvent) -> sqlx::Result<()> {
        on_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("INSERT INTO app_certificates (id, app_id, kid, kty, jwk, source_format, created_at, expires_at, client_kid) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
                .bind(&c.id).bind(app_id).bind(&c.kid).bind(&c.kty).bind(&c.jwk).bind(&c.source_format)
                .bind(c.created_at).bind(c.expires_at).bind(&c.client_kid)
                .execute(&mut *tx).await?;
            record!(&mut *tx, event)?;
            tx.commit().await
        })
    }

    pub async fn revoke_certificate(
        &self,
        app_id: &str,
        cert_id: &str,
        now: i64,
        event: &AuditEvent,
    ) -> sqlx::Result<bool> {
        on_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let done = sqlx::query("UPDATE app_certificates SET revoked_at = $3 WHERE app_id = $1 AND (id = $2 OR kid = $2) AND revoked_at IS NULL")
                .bind(app_id).bind(cert_id).bind(now).execute(&mut *tx).await?.rows_affected() >= 1;
            if done {
                record!(&mut *tx, event)?;
            }
            tx.commit().await?;
            Ok(done)
        })
    }

    pub async fn certificates(&self, app_id: &str) -> sqlx::Result<Vec<CertificateRow>> {
        on_db!(&self.db, pool => {
            sqlx::query("SELECT id, kid, client_kid, kty, jwk, source_format, created_at, expires_at, revoked_at FROM app_certificates WHERE app_id = $1 ORDER BY created_at, id")
                .bind(app_id).fetch_all(pool).await?.iter().map(certificate_row).collect()
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
        on_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let added = sqlx::query("INSERT INTO app_uris (app_id, kind, uri, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING")
                .bind(app_id).bind(kind).bind(uri).bind(now).execute(&mut *tx).await?.rows_affected() == 1;
            if added {
                sqlx::query(BUMP).bind(app_id).bind(now).execute(&mut *tx).await?;
                record!(&mut *tx, event)?;
            }
            tx.commit().await?;
            Ok(added)
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
        on_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let removed = sqlx::query("DELETE FROM app_uris WHERE app_id = $1 AND kind = $2 AND uri = $3")
                .bind(app_id).bind(kind).bind(uri).execute(&mut *tx).await?.rows_affected() == 1;
            if removed {
                sqlx::query(BUMP).bind(app_id).bind(now).execute(&mut *tx).await?;
                record!(&mut *tx, event)?;
            }
            tx.commit().await?;
            Ok(removed)
        })
    }
}

impl Store {
    /// Certificates that may verify a signature at `now`: not revoked, not expired.
    pub async fn usable_certificates(&self, app_id: &str, now: i64) -> sqlx::Result<Vec<CertificateRow>> {
        const SQL: &str = "SELECT id, kid, client_kid, kty, jwk, source_format, created_at, expires_at, revoked_at FROM app_certificates \
            WHERE app_id = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2) ORDER BY created_at, id";
        on_db!(&self.db, pool => {
            sqlx::query(SQL).bind(app_id).bind(now).fetch_all(pool).await?.iter().map(certificate_row).collect()
        })
    }
}

impl Store {
    /// Changes an app's token settings; `None` leaves a setting as it is.
    pub async fn update_token_settings(
        &self,
        app_id: &str,
        s: &TokenSettingsRow<'_>,
        now: i64,
        event: &AuditEvent,
    ) -> sqlx::Result<()> {
        const SQL: &str = "UPDATE apps SET token_format = COALESCE($2, token_format), signing_alg = COALESCE($3, signing_alg), \
            access_token_ttl = COALESCE($4, access_token_ttl), refresh_mode = COALESCE($6, refresh_mode), updated_at = $5, \
            refresh_grace_secs = CASE WHEN $7 < 0 THEN NULL ELSE COALESCE($7, refresh_grace_secs) END, \
            require_pkce = COALESCE($8, require_pkce), revision = revision + 1 WHERE id = $1";
        on_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(SQL).bind(app_id).bind(s.token_format).bind(s.signing_alg).bind(s.access_token_ttl).bind(now).bind(s.refresh_mode)
                .bind(s.refresh_grace_secs).bind(s.require_pkce).execute(&mut *tx).await?;
            record!(&mut *tx, event)?;
            tx.commit().await
        })
    }
}

impl Store {
    /// Has any app registered this CORS origin? Preflights (which name no client) and errors
    /// of requests whose client is unknown are answered for such origins only.
    pub async fn is_registered_origin(&self, origin: &str) -> sqlx::Result<bool> {
        const SQL: &str = "SELECT 1 FROM app_uris WHERE kind = 'cors' AND uri = $1 LIMIT 1";
        on_db!(&self.db, pool => Ok(sqlx::query(SQL).bind(origin).fetch_optional(pool).await?.is_some()))
    }
}
