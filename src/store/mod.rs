//! Storage on SQLite (the embedded default) and PostgreSQL (several instances), through sqlx's
//! native pools. SQL is written once with `$N` placeholders (SQLite accepts them too) and run
//! on either backend by `on_db!`; two arms appear only where the dialects differ. Reads go to
//! `Store::db`, every statement that writes to `Store::write` (see there why SQLite has one
//! writing connection). One file per aggregate; a change and its audit event commit together
//! through `audit::audited!`.

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, Postgres, Sqlite, SqlitePool};

pub mod account;
pub mod approvals;
pub mod apps;
pub mod audit;
pub mod batch;
pub mod credentials;
pub mod device_codes;
pub mod email_links;
pub mod factors;
pub mod federation;
pub mod grants;
pub mod idempotency;
pub mod keys;
mod migrate;
pub mod outbox;
pub mod passkeys;
pub mod pruning;
pub mod pushed_requests;
pub mod registration;
pub mod resources;
mod row;
pub mod sessions;
mod sqlite_busy;
pub mod system_users;
pub mod tenants;
pub mod tokens;
mod wal_sync;
pub mod webhooks;

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

/// Runs `$body` on the writing pool (bound to `$pool`), then, on SQLite, waits until its commit
/// is on disk before handing back the body's `sqlx::Result`. Every write goes through here or
/// `on_write_committed!` (the architecture test holds to that). `return` and `?` in the body
/// leave the body only.
#[macro_export]
macro_rules! on_write {
    ($store:expr, $pool:ident => $body:expr) => {{
        match $crate::on_write_committed!($store, $pool => $body) {
            Ok(committed) => committed.durable().await,
            Err(e) => Err(e),
        }
    }};
}

/// `on_write!` without the wait: the body's value comes back inside a `Committed`, which gives
/// it out only once the commit is on disk. Meanwhile the caller may write again, as the token
/// writer stores its next batch while the last one's fsync runs.
#[macro_export]
macro_rules! on_write_committed {
    ($store:expr, $pool:ident => $body:expr) => {{
        let store: &$crate::store::Store = $store;
        let out = $crate::store::written(async { $crate::on_db!(&store.write, $pool => $body) }).await;
        store.committed(out)
    }};
}

/// A write that has committed, with its value held back until the commit is on disk: on
/// SQLite, until an fsync of the log that began after the commit has finished (`wal_sync`); on
/// PostgreSQL at once (its commit waited for its own WAL flush).
#[must_use = "a write may be answered only once it is durable"]
pub struct Committed<T> {
    value: T,
    wal: Option<(std::sync::Arc<wal_sync::WalSync>, u64)>,
}

impl<T> Committed<T> {
    pub async fn durable(self) -> sqlx::Result<T> {
        if let Some((wal, mine)) = &self.wal {
            wal.wait(*mine).await?;
        }
        Ok(self.value)
    }
}

/// Names the output type of an `on_write!` body, so `?` inside it knows what it converts to.
pub fn written<T, F: std::future::Future<Output = sqlx::Result<T>>>(body: F) -> F {
    body
}

/// One connection a long-running task keeps between its statements: the token writer's on
/// PostgreSQL and the token readers', because sqlx pings every connection given back to the
/// pool, a round trip of its own. SQLite has one writing connection, for every writer in
/// turn: nothing holds it between writes.
#[derive(Debug)]
pub enum Held {
    Sqlite(PoolConnection<Sqlite>),
    Postgres(PoolConnection<Postgres>),
}

/// Runs the same body on whichever connection `$held` holds; `$conn` is bound to it.
macro_rules! on_held {
    ($held:expr, $conn:ident => $body:expr) => {
        match $held {
            $crate::store::Held::Sqlite($conn) => $body,
            $crate::store::Held::Postgres($conn) => $body,
        }
    };
}
pub(crate) use on_held;

/// The handle every domain module uses. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    /// Where reads go.
    pub db: Db,
    /// Where writes go. On PostgreSQL the same pool as `db`. On SQLite a pool of one
    /// connection: SQLite lets one connection write at a time anyway, so writers queue here in
    /// turn, in the process, instead of taking the file lock by polling it (a deferred
    /// transaction that read and then finds another writer's commit cannot write at all); and
    /// the one connection that writes never finds its page cache spoilt by another's commit.
    pub write: Db,
    /// SQLite: the group commit every write waits on (see `wal_sync`).
    wal: Option<std::sync::Arc<wal_sync::WalSync>>,
}

impl Store {
    /// Opens the pool named by `url` (creating the SQLite file and its folder if needed).
    ///
    /// `acquire_timeout` bounds every wait on the database, not only the wait for a pooled
    /// connection: SQLite's busy timeout (another writer holds the lock) and PostgreSQL's
    /// `statement_timeout` (a lock or a hung query) use it too, so a stuck database turns into
    /// a 503 at the configured limit instead of a request that never ends.
    pub async fn connect(url: &str, acquire_timeout: Duration, max_connections: u32) -> anyhow::Result<Store> {
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .with_context(|| "database_url: not a valid sqlite URL")?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // Every 2xx that changed security state must survive a power cut, not only a crash.
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(acquire_timeout)
                .foreign_keys(true);
            if let Some(parent) = options.get_filename().parent() {
                if !parent.as_os_str().is_empty() {
                    std::fs::create_dir_all(parent)
                        .with_context(|| format!("cannot create the database folder {}", parent.display()))?;
                }
            }
            let pool = |connections: u32| {
                SqlitePoolOptions::new()
                    .max_connections(connections)
                    .acquire_timeout(acquire_timeout)
                    // See the PostgreSQL pool below.
                    .test_before_acquire(false)
                    // Another process (a CLI command beside the server) may hold the lock.
                    .after_connect(move |conn, _| Box::pin(sqlite_busy::install(conn, acquire_timeout)))
            };
            // The writer first: it creates the file and switches it to WAL before any reader opens it.
            // Its commits reach the disk through `wal_sync` before anyone is told of them.
            let write = pool(1)
                .connect_with(options.clone().synchronous(SqliteSynchronous::Normal))
                .await
                .with_context(|| "cannot open the SQLite database")?;
            let wal = Some(std::sync::Arc::new(wal_sync::WalSync::new(options.get_filename())));
            let read = pool(max_connections.min(8))
                .connect_with(options)
                .await
                .with_context(|| "cannot open the SQLite database")?;
            Ok(Store { db: Db::Sqlite(read), write: Db::Sqlite(write), wal })
        } else {
            let options = PgConnectOptions::from_str(url)
                .with_context(|| "database_url: not a valid postgres URL")?
                .options([("statement_timeout", format!("{}ms", acquire_timeout.as_millis()))]);
            let pool = PgPoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(acquire_timeout)
                // No ping before every statement: it was one round trip in three (issue 15).
                // sqlx still pings a connection when it is released, so one that broke (the
                // server restarted) is closed after its first failed statement, which answers
                // 503 like any outage; faults F2 bounds how long that lasts.
                .test_before_acquire(false)
                .connect_with(options)
                .await
                .with_context(|| "cannot connect to PostgreSQL")?;
            Ok(Store { db: Db::Postgres(pool.clone()), write: Db::Postgres(pool), wal: None })
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

    /// Takes a writing connection until the `Held` is dropped (on SQLite, every other writer
    /// waits for it meanwhile).
    pub async fn hold(&self) -> sqlx::Result<Held> {
        Ok(match &self.write {
            Db::Sqlite(pool) => Held::Sqlite(pool.acquire().await?),
            Db::Postgres(pool) => Held::Postgres(pool.acquire().await?),
        })
    }

    /// Takes a reading connection until the `Held` is dropped.
    pub async fn hold_reading(&self) -> sqlx::Result<Held> {
        Ok(match &self.db {
            Db::Sqlite(pool) => Held::Sqlite(pool.acquire().await?),
            Db::Postgres(pool) => Held::Postgres(pool.acquire().await?),
        })
    }

    /// How many reading connections long-running tasks may keep between statements: a quarter
    /// of the pool, so that every request still finds one however small the pool is set. On
    /// PostgreSQL, where one pool serves reads and writes, the token writer keeps the first.
    pub fn reading_connections_to_spare(&self) -> usize {
        let max = on_db!(&self.db, pool => pool.options().get_max_connections());
        let spare = usize::try_from(max / 4).unwrap_or(usize::MAX);
        spare - usize::from(self.writer_keeps_a_connection())
    }

    /// Whether the token writer may keep a connection between batches: on PostgreSQL, if the
    /// pool can spare one (see `reading_connections_to_spare`). On SQLite nothing keeps the one
    /// writing connection: every writer takes it in turn.
    pub fn writer_keeps_a_connection(&self) -> bool {
        matches!(&self.write, Db::Postgres(pool) if pool.options().get_max_connections() >= 4)
    }

    /// A write's outcome, once its statement has returned (see `Committed`).
    pub fn committed<T>(&self, out: sqlx::Result<T>) -> sqlx::Result<Committed<T>> {
        let value = out?;
        Ok(Committed { value, wal: self.wal.as_ref().map(|wal| (wal.clone(), wal.ticket())) })
    }

    /// SQLite: holds back the log's fsyncs until the guard is dropped, for tests that check
    /// nothing is answered before it is on disk. None on PostgreSQL.
    #[doc(hidden)]
    pub async fn hold_log_fsyncs(&self) -> Option<impl Sized + '_> {
        match &self.wal {
            Some(wal) => Some(wal.hold().await),
            None => None,
        }
    }

    /// What a write answers once it may be answered (`Committed::durable`).
    pub async fn durable<T>(&self, out: sqlx::Result<T>) -> sqlx::Result<T> {
        self.committed(out)?.durable().await
    }

    /// SQLite: copies what the write-ahead log holds into the database file (a passive
    /// checkpoint: it waits for no one), on a pooled connection of its own. Otherwise the
    /// connection whose commit grows the log past 1000 pages does it, inside that commit,
    /// while every request waiting on that commit waits for the copy and its fsync too.
    /// PostgreSQL: nothing to do.
    pub async fn checkpoint(&self) -> sqlx::Result<()> {
        match &self.db {
            Db::Sqlite(pool) => sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(pool).await.map(|_| ()),
            Db::Postgres(_) => Ok(()),
        }
    }

    /// `/readyz`: can a connection answer a query right now?
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        on_db!(&self.db, pool => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()))
    }

    pub async fn close(&self) {
        on_db!(&self.db, pool => pool.close().await);
        on_db!(&self.write, pool => pool.close().await)
    }
}

/// Errors that mean "the database is not there right now" (answer 503), as opposed to a bug.
pub fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                // Primary codes (the low byte of an extended code): SQLITE_BUSY after the busy
                // timeout, SQLITE_LOCKED, SQLITE_IOERR, SQLITE_FULL (disk full), SQLITE_CANTOPEN.
                let primary = code.parse::<i32>().unwrap_or(0) & 0xff;
                matches!(primary, 5 | 6 | 10 | 13 | 14)
            } else {
                // PostgreSQL: class 08 (connection), 57P (shutdown), 57014 (statement_timeout),
                // 53 (insufficient resources, such as a full disk), 55P03 (lock_timeout), and
                // 40001 / 40P01 (serialization failure, deadlock victim): all worth a retry.
                code.starts_with("08")
                    || code.starts_with("57P")
                    || code.starts_with("53")
                    || matches!(code.as_ref(), "57014" | "55P03" | "40001" | "40P01")
            }
        }
        _ => false,
    }
}

/// Logs "database unavailable" at most once per interval, with how many more failures the
/// interval saw: an outage must not turn every refused request into a log line.
pub fn log_unavailable(cause: &dyn std::fmt::Display) {
    use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
    const INTERVAL_SECS: i64 = 10;
    static LAST: AtomicI64 = AtomicI64::new(i64::MIN);
    static SUPPRESSED: AtomicU64 = AtomicU64::new(0);
    // Wall time, not the injectable clock: this paces log output, it decides nothing.
    let now = crate::clock::Clock::System.now();
    let last = LAST.load(Ordering::Relaxed);
    let due = last == i64::MIN || now.saturating_sub(last) >= INTERVAL_SECS || now < last;
    if due && LAST.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok() {
        let suppressed = SUPPRESSED.swap(0, Ordering::Relaxed);
        tracing::warn!(error = %cause, suppressed, "database unavailable; answering 503");
    } else {
        SUPPRESSED.fetch_add(1, Ordering::Relaxed);
    }
}

/// True when the error is a UNIQUE violation (SQLite 2067/1555, PostgreSQL 23505).
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => db.is_unique_violation(),
        _ => false,
    }
}

/// Database errors become domain errors here, where "unavailable" is defined, so `error`
/// itself depends on nothing.
impl From<sqlx::Error> for crate::error::Error {
    fn from(e: sqlx::Error) -> Self {
        if is_unavailable(&e) {
            crate::error::Error::Unavailable(e)
        } else {
            crate::error::Error::Internal(e.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writers that read before they write, all at once: with one writing connection each
    /// waits its turn and none is refused. On a pool of several connections a deferred
    /// transaction that read a row another connection then changed cannot write at all
    /// (SQLITE_BUSY, which no busy handler can wait out).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_writers_take_turns_on_one_connection() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("turns.db").display());
        let store = Store::connect(&url, Duration::from_secs(10), 8).await.unwrap();
        let Db::Sqlite(write) = &store.write else { panic!("a sqlite URL opens SQLite") };
        assert_eq!(write.options().get_max_connections(), 1);
        sqlx::query("CREATE TABLE counter (n INTEGER NOT NULL)").execute(write).await.unwrap();
        sqlx::query("INSERT INTO counter (n) VALUES (0)").execute(write).await.unwrap();

        const WRITERS: i64 = 32;
        let tasks: Vec<_> = (0..WRITERS)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move {
                    on_write!(&store, pool => {
                        let mut tx = pool.begin().await?;
                        let n: i64 = sqlx::query_scalar("SELECT n FROM counter").fetch_one(&mut *tx).await?;
                        tokio::task::yield_now().await;
                        sqlx::query("UPDATE counter SET n = $1").bind(n + 1).execute(&mut *tx).await?;
                        tx.commit().await
                    })
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap().expect("every writer gets its turn");
        }
        let Db::Sqlite(read) = &store.db else { unreachable!() };
        let n: i64 = sqlx::query_scalar("SELECT n FROM counter").fetch_one(read).await.unwrap();
        assert_eq!(n, WRITERS, "no update lost");
        store.close().await;
    }
}
