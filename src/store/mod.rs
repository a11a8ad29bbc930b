//! Storage on SQLite (the embedded default) and PostgreSQL (several instances), through sqlx's
//! native pools. SQL is written once with `$N` placeholders (SQLite accepts them too) and run
//! on either backend by `on_db!`; two arms appear only where the dialects differ.

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

pub mod apps;
pub mod audit;
pub mod batch;
pub mod grants;
pub mod keys;
mod migrate;
pub mod portal;
pub mod registration;
mod row;
pub mod signin;
pub mod tenants;
pub mod tokens;

pub use migrate::MIGRATIONS;

/// A pool on one of the two backends.
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs the same body on whichever pool `$db` holds; `$pool` is bound to the native pool.
#[macro_export]
macro_rules! on_db {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::store::Db::Sqlite($pool) => $body,
            $crate::store::Db::Postgres($pool) => $body,
        }
    };
}

/// The handle every domain module uses. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pub db: Db,
}

/// How long SQLite waits for another writer before giving up with SQLITE_BUSY.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

impl Store {
    /// Opens the pool named by `url` (creating the SQLite file and its folder if needed).
    pub async fn connect(url: &str, acquire_timeout: Duration, max_connections: u32) -> anyhow::Result<Store> {
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .with_context(|| "database_url: not a valid sqlite URL")?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // Every 2xx that changed security state must survive a power cut, not only a crash.
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
                .foreign_keys(true);
            if let Some(parent) = options.get_filename().parent() {
                if !parent.as_os_str().is_empty() {
                    std::fs::create_dir_all(parent)
                        .with_context(|| format!("cannot create the database folder {}", parent.display()))?;
                }
            }
            let pool = SqlitePoolOptions::new()
                .max_connections(max_connections.min(8))
                .acquire_timeout(acquire_timeout)
                .connect_with(options)
                .await
                .with_context(|| "cannot open the SQLite database")?;
            Ok(Store { db: Db::Sqlite(pool) })
        } else {
            let options = PgConnectOptions::from_str(url).with_context(|| "database_url: not a valid postgres URL")?;
            let pool = PgPoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(acquire_timeout)
                .connect_with(options)
                .await
                .with_context(|| "cannot connect to PostgreSQL")?;
            Ok(Store { db: Db::Postgres(pool) })
        }
    }

    pub fn backend(&self) -> &'static str {
        match self.db {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    /// Applies the migrations this binary carries that the database has not seen.
    pub async fn migrate(&self) -> anyhow::Result<Vec<&'static str>> {
        migrate::run(self).await
    }

    /// `/readyz`: can a connection answer a query right now?
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        on_db!(&self.db, pool => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()))
    }

    pub async fn close(&self) {
        on_db!(&self.db, pool => pool.close().await)
    }
}

/// Errors that mean "the database is not there right now" (answer 503), as opposed to a bug.
pub fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(db) => {
            // SQLite: SQLITE_BUSY (5) / SQLITE_LOCKED (6) after the busy timeout.
            // PostgreSQL: class 08 (connection), 57P (shutdown), 53 (resources).
            let code = db.code().unwrap_or_default();
            matches!(code.as_ref(), "5" | "6" | "517" | "262")
                || code.starts_with("08")
                || code.starts_with("57P")
                || code.starts_with("53")
        }
        _ => false,
    }
}

/// True when the error is a UNIQUE violation (SQLite 2067/1555, PostgreSQL 23505).
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => db.is_unique_violation(),
        _ => false,
    }
}
