//! An app's uploaded certificates and keys, stored as public JWKs with their thumbprints.

use crate::on_db;
use crate::store::audit::{audited, AuditEvent};
use crate::store::row::DbRow;
use crate::store::Store;

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

impl Store {
    /// Stores a certificate. A unique violation means the app already has this key.
    pub async fn insert_certificate(&self, app_id: &str, c: &CertificateRow, event: &AuditEvent) -> sqlx::Result<()> {
        audited!(self, event, tx => {
            sqlx::query("INSERT INTO app_certificates (id, app_id, kid, kty, jwk, source_format, created_at, expires_at, client_kid) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
                .bind(&c.id).bind(app_id).bind(&c.kid).bind(&c.kty).bind(&c.jwk).bind(&c.source_format)
                .bind(c.created_at).bind(c.expires_at).bind(&c.client_kid)
                .execute(&mut *tx).await?;
        })
    }

    pub async fn revoke_certificate(
        &self,
        app_id: &str,
        cert_id: &str,
        now: i64,
        event: &AuditEvent,
    ) -> sqlx::Result<bool> {
        audited!(self, event, when |done: &bool| *done, tx => {
            let done = sqlx::query("UPDATE app_certificates SET revoked_at = $3 WHERE app_id = $1 AND (id = $2 OR kid = $2) AND revoked_at IS NULL")
                .bind(app_id).bind(cert_id).bind(now).execute(&mut *tx).await?.rows_affected() >= 1;
            done
        })
    }

    pub async fn certificates(&self, app_id: &str) -> sqlx::Result<Vec<CertificateRow>> {
        on_db!(&self.db, pool => {
            sqlx::query("SELECT id, kid, client_kid, kty, jwk, source_format, created_at, expires_at, revoked_at FROM app_certificates WHERE app_id = $1 ORDER BY created_at, id")
                .bind(app_id).fetch_all(pool).await?.iter().map(certificate_row).collect()
        })
    }

    /// Certificates that may verify a signature at `now`: not revoked, not expired.
    pub async fn usable_certificates(&self, app_id: &str, now: i64) -> sqlx::Result<Vec<CertificateRow>> {
        const SQL: &str = "SELECT id, kid, client_kid, kty, jwk, source_format, created_at, expires_at, revoked_at FROM app_certificates \
            WHERE app_id = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2) ORDER BY created_at, id";
        on_db!(&self.db, pool => {
            sqlx::query(SQL).bind(app_id).bind(now).fetch_all(pool).await?.iter().map(certificate_row).collect()
        })
    }
}
