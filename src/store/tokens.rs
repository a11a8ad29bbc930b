//! SQL for tokens: opaque access tokens (by `jti`, with digests only), revoked JWT ids, and the `jti` replay
//! store. Each single-use step is one conditional statement, so it holds across instances.

use super::row::DbRow;
use super::{on_held, Committed, Held, Store};
use crate::{on_db, on_write, on_write_committed};

/// What finds an opaque token's row (`oauth::tokens::opaque_ref` reads it off a token): its
/// `jti`, or for a token issued before tokens carried one, its digest's entry in
/// `legacy_token_digests` (kept until those tokens have expired).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpaqueRef {
    pub jti: Option<String>,
    /// SHA-256 of the whole token: what the row's `digest` must be.
    pub digest: [u8; 32],
}

#[derive(Debug, Clone)]
pub struct AccessTokenRow {
    pub jti: String,
    pub digest: Vec<u8>,
    pub app_id: String,
    pub client_id: String,
    pub subject: String,
    pub user_id: Option<String>,
    pub tenant_id: Option<String>,
    pub scope: String,
    pub audience: String,
    pub issued_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    /// The tenant's `ctx`, read with the row (not stored; ignored on insert).
    pub tenant_ctx: Option<String>,
    /// The DPoP key the token is bound to (RFC 9449 `cnf.jkt`).
    pub jkt: Option<String>,
    /// RFC 8693 `act` (JSON): who acts for the subject, for exchanged tokens.
    pub act: Option<String>,
}

const INSERT_TOKEN_COLUMNS: &str =
    "INSERT INTO access_tokens (jti, digest, app_id, subject, user_id, tenant_id, scope, audience, issued_at, expires_at, jkt, act)";
const TOKEN_VALUES: usize = 12;

/// Binds one access-token row's values; a macro so it works for either backend's query.
macro_rules! bind_token {
    ($q:expr, $t:expr) => {
        $q.bind(&$t.jti)
            .bind(&$t.digest)
            .bind(&$t.app_id)
            .bind(&$t.subject)
            .bind(&$t.user_id)
            .bind(&$t.tenant_id)
            .bind(&$t.scope)
            .bind(&$t.audience)
            .bind($t.issued_at)
            .bind($t.expires_at)
            .bind(&$t.jkt)
            .bind(&$t.act)
    };
}

/// The `jti` of the row an `OpaqueRef` names, as SQL: its own, or for a token without one the
/// `jti` its digest is kept under in `legacy_token_digests`. `$jti` and `$digest` are the SQL
/// expressions the statement has them in.
macro_rules! row_named_by {
    ($jti:literal, $digest:literal) => {
        concat!("COALESCE(", $jti, ", (SELECT l.jti FROM legacy_token_digests l WHERE l.digest = ", $digest, "))")
    };
}

impl Store {
    /// Stores a batch of opaque tokens with one INSERT: one statement, one commit (one fsync)
    /// for all of them, on the caller's held connection on PostgreSQL (taken from the pool when
    /// there is none), on the one writing connection on SQLite. A failed statement gives the
    /// held connection back, so a broken one is not kept. What comes back is `Committed`: the
    /// caller may store its next batch while this one's commit goes to disk.
    ///
    /// A row may name the revision its app must still have (`requires`): the token of a client
    /// whose remembered secret is confirmed by this write (`PendingClient::confirmed_by_write`).
    /// The check is part of the same statement, so it costs no round trip of its own; a row
    /// whose app changed since is left out. Returns, per row, whether it was stored.
    pub async fn insert_access_tokens(
        &self,
        held: &mut Option<Held>,
        tokens: &[(AccessTokenRow, Option<i64>)],
    ) -> sqlx::Result<Committed<Vec<bool>>> {
        if tokens.is_empty() {
            return self.committed(Ok(Vec::new()));
        }
        let stored_of = |returned: Vec<String>| {
            let stored: std::collections::HashSet<String> = returned.into_iter().collect();
            tokens.iter().map(|(t, _)| stored.contains(&t.jti)).collect::<Vec<bool>>()
        };
        if self.wal.is_some() {
            // SQLite: the one writing connection, for this statement only; the others' writes
            // go on while this batch waits for its fsync.
            let json = sqlite_token_rows(tokens)?;
            return on_write_committed!(self, pool => {
                let inserted = sqlx::query(SQLITE_INSERT_TOKENS).bind(&json).execute(pool).await?.rows_affected();
                if usize::try_from(inserted).is_ok_and(|n| n == tokens.len()) {
                    return Ok(vec![true; tokens.len()]);
                }
                // Some row's app changed since its client was authenticated (rare): which.
                let rows = sqlx::query(SQLITE_STORED_TOKENS).bind(&json).fetch_all(pool).await?;
                Ok(stored_of(rows.iter().map(|r| r.text("jti")).collect::<sqlx::Result<_>>()?))
            });
        }
        let conn = match held {
            Some(conn) => conn,
            None => held.insert(self.hold().await?),
        };
        let sql = postgres_insert_tokens(tokens.len());
        let result = on_held!(conn, c => {
            let mut q = sqlx::query(&sql);
            for (t, requires) in tokens {
                q = bind_token!(q, t).bind(requires);
            }
            q.fetch_all(&mut **c).await.and_then(|rows| rows.iter().map(|r| r.text("jti")).collect())
        });
        if result.is_err() {
            *held = None;
        }
        self.committed(result.map(stored_of))
    }

    /// The row an opaque token names (its `jti`, or for a token without one its digest's
    /// entry in `legacy_token_digests`). The caller compares the row's digest with the token's.
    pub async fn access_token(&self, token: &OpaqueRef) -> sqlx::Result<Option<AccessTokenRow>> {
        const SQL: &str = concat!("SELECT t.jti, t.digest, t.app_id, a.client_id, t.subject, t.user_id, t.tenant_id, t.scope, t.audience, \
            t.issued_at, t.expires_at, t.revoked_at, t.jkt, t.act, n.ctx AS tenant_ctx FROM access_tokens t JOIN apps a ON a.id = t.app_id \
            LEFT JOIN tenants n ON n.id = t.tenant_id \
            WHERE t.jti = ", row_named_by!("$1", "$2"));
        on_db!(&self.db, pool => {
            let q = sqlx::query(SQL).bind(&token.jti).bind(token.digest.as_slice());
            q.fetch_optional(pool).await?.as_ref().map(access_token_row).transpose()
        })
    }

    /// An opaque token's row and, in the same statement, the revision of the app `app_id` (the
    /// caller's, whose remembered authentication it confirms): introspection's one round trip.
    /// `(None, None)` when that app no longer exists.
    pub async fn access_token_with_app_revision(&self, token: &OpaqueRef, app_id: &str) -> sqlx::Result<Lookup> {
        const SQL: &str =
            concat!(
            "SELECT c.revision AS caller_revision, t.jti, t.digest, t.app_id, a.client_id, t.subject, t.user_id, \
            t.tenant_id, t.scope, t.audience, t.issued_at, t.expires_at, t.revoked_at, t.jkt, t.act, n.ctx AS tenant_ctx FROM apps c \
            LEFT JOIN access_tokens t ON t.jti = ", row_named_by!("$1", "$2"), " \
            LEFT JOIN apps a ON a.id = t.app_id LEFT JOIN tenants n ON n.id = t.tenant_id WHERE c.id = $3");
        on_db!(&self.db, pool => {
            let q = sqlx::query(SQL).bind(&token.jti).bind(token.digest.as_slice()).bind(app_id);
            let Some(r) = q.fetch_optional(pool).await? else { return Ok((None, None)) };
            let token = if r.opt_text("jti")?.is_some() { Some(access_token_row(&r)?) } else { None };
            Ok((token, Some(r.int("caller_revision")?)))
        })
    }

    /// `access_token_with_app_revision` for many lookups in one statement (the batched
    /// reader's), on the connection `held` keeps if it keeps one, else on one from the pool.
    /// The answers are in the order of `lookups`. A failed statement lets go of `held`.
    pub async fn access_tokens_with_app_revisions(
        &self,
        held: &mut Option<Held>,
        lookups: &[(OpaqueRef, String)],
    ) -> sqlx::Result<Vec<Lookup>> {
        let rows = match (&mut *held, &self.db) {
            (Some(Held::Postgres(c)), _) => postgres_lookups(&mut **c, lookups).await,
            (Some(Held::Sqlite(c)), _) => sqlite_lookups(&mut **c, lookups).await,
            (None, super::Db::Postgres(pool)) => postgres_lookups(pool, lookups).await,
            (None, super::Db::Sqlite(pool)) => sqlite_lookups(pool, lookups).await,
        };
        let Ok(rows) = rows else {
            *held = None;
            return rows.map(|_| Vec::new());
        };
        let mut out = vec![(None, None); lookups.len()];
        for (i, answer) in rows {
            if let Some(slot) = usize::try_from(i - 1).ok().and_then(|i| out.get_mut(i)) {
                *slot = answer;
            }
        }
        Ok(out)
    }

    /// Revokes the opaque token `jti` (one its caller has read and verified) if it belongs to
    /// `app_id`. Returns whether a row changed.
    pub async fn revoke_access_token(&self, jti: &str, app_id: &str, now: i64) -> sqlx::Result<bool> {
        const SQL: &str =
            "UPDATE access_tokens SET revoked_at = $3 WHERE jti = $1 AND app_id = $2 AND revoked_at IS NULL";
        on_write!(self, pool => {
            Ok(sqlx::query(SQL).bind(jti).bind(app_id).bind(now).execute(pool).await?.rows_affected() == 1)
        })
    }

    /// Remembers a revoked JWT until it would have expired anyway.
    pub async fn revoke_jwt(&self, jti: &str, expires_at: i64) -> sqlx::Result<()> {
        const SQL: &str = "INSERT INTO revoked_jwts (jti, expires_at) VALUES ($1, $2) ON CONFLICT DO NOTHING";
        on_write!(self, pool => sqlx::query(SQL).bind(jti).bind(expires_at).execute(pool).await.map(|_| ()))
    }

    /// Is a JWT access token revoked? With `user_id` (a token that acts for a person), also
    /// when that person is disabled or deleted. One statement either way.
    pub async fn is_jwt_revoked(&self, jti: &str, user_id: Option<&str>) -> sqlx::Result<bool> {
        const SQL: &str = "SELECT 1 FROM revoked_jwts WHERE jti = $1 UNION ALL \
            SELECT 1 WHERE $2 IS NOT NULL AND NOT EXISTS (SELECT 1 FROM users WHERE id = $2 AND disabled_at IS NULL)";
        on_db!(&self.db, pool => {
            Ok(sqlx::query(SQL).bind(jti).bind(user_id).fetch_optional(pool).await?.is_some())
        })
    }

    /// Records a `jti` as used by `issuer` until `expires_at`. False means it was used before:
    /// a replay. One INSERT decides, whichever instance sees the second copy.
    pub async fn claim_jti(&self, issuer: &str, jti: &str, expires_at: i64) -> sqlx::Result<bool> {
        const SQL: &str = "INSERT INTO used_jtis (issuer, jti, expires_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";
        on_write!(self, pool => {
            Ok(sqlx::query(SQL).bind(issuer).bind(jti).bind(expires_at).execute(pool).await?.rows_affected() == 1)
        })
    }
}

/// An opaque token (if found) and the revision of the caller's app (None when it is gone).
pub type Lookup = (Option<AccessTokenRow>, Option<i64>);

/// The batched lookup on PostgreSQL: the lookups travel as three arrays.
async fn postgres_lookups<'e>(
    on: impl sqlx::PgExecutor<'e>,
    lookups: &[(OpaqueRef, String)],
) -> sqlx::Result<Vec<(i64, Lookup)>> {
    const SQL: &str = concat!(
        "SELECT q.i, c.revision AS caller_revision, t.jti, t.digest, t.app_id, a.client_id, t.subject, t.user_id, \
        t.tenant_id, t.scope, t.audience, t.issued_at, t.expires_at, t.revoked_at, t.jkt, t.act, n.ctx AS tenant_ctx \
        FROM unnest($1::text[], $2::bytea[], $3::text[]) WITH ORDINALITY AS q(jti, digest, app_id, i) \
        JOIN apps c ON c.id = q.app_id \
        LEFT JOIN access_tokens t ON t.jti = ",
        row_named_by!("q.jti", "q.digest"),
        " \
        LEFT JOIN apps a ON a.id = t.app_id LEFT JOIN tenants n ON n.id = t.tenant_id"
    );
    let jtis: Vec<Option<&str>> = lookups.iter().map(|(t, _)| t.jti.as_deref()).collect();
    let digests: Vec<&[u8]> = lookups.iter().map(|(t, _)| t.digest.as_slice()).collect();
    let app_ids: Vec<&str> = lookups.iter().map(|(_, a)| a.as_str()).collect();
    let q = sqlx::query(SQL).bind(&jtis).bind(&digests).bind(&app_ids);
    q.fetch_all(on).await?.iter().map(lookup_row).collect()
}

/// SQLite has no arrays: the lookups travel as one JSON array of [jti, hex digest, app id].
async fn sqlite_lookups<'e>(
    on: impl sqlx::SqliteExecutor<'e>,
    lookups: &[(OpaqueRef, String)],
) -> sqlx::Result<Vec<(i64, Lookup)>> {
    const SQL: &str = concat!(
        "SELECT q.key + 1 AS i, c.revision AS caller_revision, t.jti, t.digest, t.app_id, a.client_id, t.subject, \
        t.user_id, t.tenant_id, t.scope, t.audience, t.issued_at, t.expires_at, t.revoked_at, t.jkt, t.act, \
        n.ctx AS tenant_ctx FROM json_each($1) AS q JOIN apps c ON c.id = q.value ->> 2 \
        LEFT JOIN access_tokens t ON t.jti = ",
        row_named_by!("q.value ->> 0", "unhex(q.value ->> 1)"),
        " \
        LEFT JOIN apps a ON a.id = t.app_id LEFT JOIN tenants n ON n.id = t.tenant_id"
    );
    let rows: Vec<(Option<&str>, String, &str)> =
        lookups.iter().map(|(t, a)| (t.jti.as_deref(), crate::crypto::hex(&t.digest), a.as_str())).collect();
    let json = serde_json::to_string(&rows).map_err(|e| sqlx::Error::Encode(e.into()))?;
    sqlx::query(SQL).bind(json).fetch_all(on).await?.iter().map(lookup_row).collect()
}

/// PostgreSQL's batched INSERT: one SELECT per row, so each carries its own condition
/// (`$3` of a row is its app_id, the last its required revision).
fn postgres_insert_tokens(rows: usize) -> String {
    let mut sql = String::from(INSERT_TOKEN_COLUMNS);
    for i in 0..rows {
        let b = i * (TOKEN_VALUES + 1);
        let row: Vec<String> = (1..=TOKEN_VALUES).map(|k| format!("${}", b + k)).collect();
        let (app, revision) = (b + 3, b + TOKEN_VALUES + 1);
        sql.push_str(if i == 0 { " SELECT " } else { " UNION ALL SELECT " });
        sql.push_str(&format!(
            "{} WHERE ${revision} IS NULL OR EXISTS (SELECT 1 FROM apps WHERE id = ${app} AND revision = ${revision})",
            row.join(", ")
        ));
    }
    sql.push_str(" RETURNING jti");
    sql
}

/// SQLite's batched INSERT takes the rows as one JSON array, as the batched lookup does: with
/// 13 numbered parameters a row, sqlx looks each one's name up in a list SQLite searches from
/// the start, and a batch of 256 rows spent more time on that than on the INSERT. It returns
/// no rows: sqlx's SQLite worker thread hands each row over on its own, waking the writer
/// every time, and on two cores each wake-up took the worker's core away (issue 15). The
/// count of rows inserted tells whether every row was stored.
const SQLITE_INSERT_TOKENS: &str = "INSERT INTO access_tokens (jti, digest, app_id, subject, user_id, tenant_id, \
    scope, audience, issued_at, expires_at, jkt, act) \
    SELECT v ->> 0, unhex(v ->> 1), v ->> 2, v ->> 3, v ->> 4, v ->> 5, v ->> 6, v ->> 7, v ->> 8, v ->> 9, \
    v ->> 10, v ->> 11 FROM (SELECT value AS v FROM json_each($1)) \
    WHERE v ->> 12 IS NULL OR EXISTS (SELECT 1 FROM apps WHERE id = v ->> 2 AND revision = v ->> 12)";

/// Which rows of a batch `SQLITE_INSERT_TOKENS` stored, when it stored fewer than all. Run on
/// the writing connection right after it: only this writer adds tokens.
const SQLITE_STORED_TOKENS: &str = "SELECT jti FROM access_tokens WHERE jti IN (SELECT value ->> 0 FROM json_each($1))";

/// The rows for `SQLITE_INSERT_TOKENS`, each an array in the statement's column order (the
/// digest in hex), then the revision its app must still have.
fn sqlite_token_rows(tokens: &[(AccessTokenRow, Option<i64>)]) -> sqlx::Result<String> {
    let rows: Vec<_> = tokens
        .iter()
        .map(|(t, requires)| {
            let digest = crate::crypto::hex(&t.digest);
            (
                &t.jti,
                digest,
                &t.app_id,
                &t.subject,
                &t.user_id,
                &t.tenant_id,
                &t.scope,
                &t.audience,
                t.issued_at,
                t.expires_at,
                &t.jkt,
                &t.act,
                requires,
            )
        })
        .collect();
    serde_json::to_string(&rows).map_err(|e| sqlx::Error::Encode(e.into()))
}

/// One answer of a batched lookup: its place (from 1) and what was found.
fn lookup_row(r: &impl DbRow) -> sqlx::Result<(i64, Lookup)> {
    let token = if r.opt_text("jti")?.is_some() { Some(access_token_row(r)?) } else { None };
    Ok((r.int("i")?, (token, Some(r.int("caller_revision")?))))
}

fn access_token_row(r: &impl DbRow) -> sqlx::Result<AccessTokenRow> {
    Ok(AccessTokenRow {
        jti: r.text("jti")?,
        digest: r.bytes("digest")?,
        app_id: r.text("app_id")?,
        client_id: r.text("client_id")?,
        subject: r.text("subject")?,
        user_id: r.opt_text("user_id")?,
        tenant_id: r.opt_text("tenant_id")?,
        scope: r.text("scope")?,
        audience: r.text("audience")?,
        issued_at: r.int("issued_at")?,
        expires_at: r.int("expires_at")?,
        revoked_at: r.opt_int("revoked_at")?,
        tenant_ctx: r.opt_text("tenant_ctx")?,
        jkt: r.opt_text("jkt")?,
        act: r.opt_text("act")?,
    })
}
