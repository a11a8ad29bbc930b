//! An app's certificates (its public keys): uploaded in any supported format, or generated
//! with the private key shown once; at most `MAX_CERTIFICATES` usable at a time.

use serde_json::json;

use super::*;
use crate::crypto::random_id;
use crate::error::{Error, Result};
use crate::jose::certificate;
use crate::store::apps::CertificateRow;
use crate::store::audit::AuditEvent;
use crate::store::is_unique_violation;

impl Registry {
    /// Adds an uploaded certificate. Nothing is written unless the key parses and is strong.
    pub async fn add_certificate(
        &self,
        client_id: &str,
        upload: &[u8],
        expires_at: Option<i64>,
        actor: &str,
    ) -> Result<Certificate> {
        let app = self.get(client_id).await?;
        let parsed = certificate::parse(upload)?;
        self.check_certificate_room(&app).await?;
        let expires_at = match (expires_at, parsed.not_after) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if expires_at.is_some_and(|e| e <= self.clock.now()) {
            return Err(Error::invalid("certificate", "has already expired"));
        }
        self.store_certificate(&app, &parsed.key, parsed.kid, parsed.format, expires_at, "certificate.added", actor)
            .await
    }

    /// Generates an RSA key pair for the app: the public half is stored, the private half is
    /// returned once.
    pub async fn generate_certificate(
        &self,
        client_id: &str,
        expires_at: Option<i64>,
        actor: &str,
    ) -> Result<(Certificate, GeneratedPrivateKey)> {
        let app = self.get(client_id).await?;
        self.check_certificate_room(&app).await?;
        let (key, private) =
            tokio::task::spawn_blocking(certificate::generate_rsa).await.map_err(|e| Error::Internal(e.into()))??;
        let cert = self
            .store_certificate(&app, &key, None, KeyFormat::Generated, expires_at, "certificate.generated", actor)
            .await?;
        Ok((cert, private))
    }

    /// An unauthenticated assertion may be tried against every usable certificate of an app,
    /// so the number of those is bounded.
    pub(super) async fn check_certificate_room(&self, app: &App) -> Result<()> {
        if app.client_type == ClientType::Public {
            return Err(Error::conflict("public clients (native apps) cannot hold certificates; they use PKCE"));
        }
        let usable = self.store.usable_certificates(&app.id, self.clock.now()).await?.len();
        if usable >= MAX_CERTIFICATES {
            return Err(Error::conflict(format!(
                "an app may have at most {MAX_CERTIFICATES} usable certificates; revoke one first"
            )));
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn store_certificate(
        &self,
        app: &App,
        key: &PublicKey,
        client_kid: Option<String>,
        format: KeyFormat,
        expires_at: Option<i64>,
        action: &'static str,
        actor: &str,
    ) -> Result<Certificate> {
        let now = self.clock.now();
        let row = CertificateRow {
            id: random_id(),
            kid: key.thumbprint(),
            client_kid,
            kty: key.kty().into(),
            jwk: key.to_jwk().to_string(),
            source_format: format.as_str().into(),
            created_at: now,
            expires_at,
            revoked_at: None,
        };
        let event = AuditEvent::new(
            now,
            actor,
            action,
            &app.client_id,
            json!({ "certificate_id": row.id, "kid": row.kid, "client_kid": row.client_kid }),
        );
        self.store.insert_certificate(&app.id, &row, &event).await.map_err(|e| {
            if is_unique_violation(&e) {
                Error::conflict(format!(
                    "the app already has this key, or another usable key with kid '{}'",
                    row.client_kid.as_deref().unwrap_or(&row.kid)
                ))
            } else {
                e.into()
            }
        })?;
        Ok(row.into())
    }

    pub async fn revoke_certificate(&self, client_id: &str, cert_id: &str, actor: &str) -> Result<()> {
        let app = self.get(client_id).await?;
        let now = self.clock.now();
        let event = AuditEvent::new(now, actor, "certificate.revoked", client_id, json!({ "certificate": cert_id }));
        if !self.store.revoke_certificate(&app.id, cert_id, now, &event).await? {
            return Err(Error::not_found(format!("active certificate '{cert_id}' of app '{client_id}'")));
        }
        Ok(())
    }

    pub async fn certificates(&self, client_id: &str) -> Result<Vec<Certificate>> {
        let app = self.get(client_id).await?;
        Ok(self.store.certificates(&app.id).await?.into_iter().map(Certificate::from).collect())
    }
}
