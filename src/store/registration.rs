//! SQL for dynamic client registration: initial access tokens and registration access tokens.

use crate::store::row::DbRow;
use crate::store::Store;
use crate::{on_db, on_write};

/// The partner that owns dynamically registered apps (created by migration 0007).
pub const DYNAMIC_PARTNER: &str = "dynamic-registration";

impl Store {
    pub async fn insert_registration_token(&self, digest: &[u8], now: i64, expires_at: i64) -> sqlx::Result<()> {
        on_write!(self, pool => {
            sqlx::query("INSERT INTO registration_tokens (digest, created_at, expires_at) VALUES ($1, $2, $3)")
                .bind(digest).bind(now).bind(expires_at).execute(pool).await.map(|_| ())
        })
    }

    pub async fn registration_token_valid(&self, digest: &[u8], now: i64) -> sqlx::Result<bool> {
        on_db!(&self.db, pool => {
            Ok(sqlx::query("SELECT 1 FROM registration_tokens WHERE digest = $1 AND expires_at > $2")
                .bind(digest).bind(now).fetch_optional(pool).await?.is_some())
        })
    }

    pub async fn insert_app_registration(
        &self,
        app_id: &str,
        access_digest: &[u8],
        metadata: &str,
    ) -> sqlx::Result<()> {
        on_write!(self, pool => {
            sqlx::query("INSERT INTO app_registrations (app_id, access_digest, metadata) VALUES ($1, $2, $3)")
                .bind(app_id).bind(access_digest).bind(metadata).execute(pool).await.map(|_| ())
        })
    }

    /// The registered metadata of `client_id`, if `access_digest` is its registration access token.
    pub async fn app_registration(
        &self,
        client_id: &str,
        access_digest: &[u8],
    ) -> sqlx::Result<Option<(String, String)>> {
        on_db!(&self.db, pool => {
            sqlx::query("SELECT r.app_id, r.metadata FROM app_registrations r JOIN apps a ON a.id = r.app_id \
                WHERE a.client_id = $1 AND r.access_digest = $2")
                .bind(client_id).bind(access_digest).fetch_optional(pool).await?
                .map(|r| Ok((r.text("app_id")?, r.text("metadata")?))).transpose()
        })
    }

    pub async fn update_app_registration(&self, app_id: &str, metadata: &str) -> sqlx::Result<()> {
        on_write!(self, pool => {
            sqlx::query("UPDATE app_registrations SET metadata = $2 WHERE app_id = $1").bind(app_id).bind(metadata)
                .execute(pool).await.map(|_| ())
        })
    }
}
