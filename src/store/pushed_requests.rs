//! SQL for pushed authorization requests (RFC 9126): stored under the digest of their
//! `request_uri`, bound to the client that pushed them, and taken once.

use super::row::DbRow;
use super::Store;
use crate::on_write;

impl Store {
    pub async fn insert_pushed_request(
        &self,
        digest: &[u8],
        client_id: &str,
        params: &str,
        expires_at: i64,
    ) -> sqlx::Result<()> {
        on_write!(self, pool => {
            sqlx::query("INSERT INTO pushed_requests (digest, client_id, params, expires_at) VALUES ($1, $2, $3, $4)")
                .bind(digest).bind(client_id).bind(params).bind(expires_at).execute(pool).await.map(|_| ())
        })
    }

    /// Takes the live request under `digest` if `client_id` pushed it. Another client's
    /// attempt leaves it in place, so knowing a request_uri is not enough to spend it.
    pub async fn take_pushed_request(&self, digest: &[u8], client_id: &str, now: i64) -> sqlx::Result<Option<String>> {
        on_write!(self, pool => {
            sqlx::query(
                "DELETE FROM pushed_requests WHERE digest = $1 AND client_id = $2 AND expires_at > $3 RETURNING params",
            )
            .bind(digest).bind(client_id).bind(now).fetch_optional(pool).await?
            .map(|r| r.text("params")).transpose()
        })
    }
}
