//! Group commit for SQLite's one writing connection. That connection commits with
//! `synchronous = NORMAL`, which writes a transaction's pages to the write-ahead log without
//! waiting for the disk; before a write's caller hears of its success, `WalSync::wait`
//! makes sure an fsync of the log that started after that commit has finished. Writes that
//! commit while one fsync runs share the next one, so under load one fsync covers many commits
//! instead of each commit waiting for its own (0.4 ms on the disk of issue 15's bench), in turn,
//! behind every other. Nothing is answered before it is on disk, as with `synchronous = FULL`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::Mutex;

#[derive(Debug)]
pub struct WalSync {
    /// The database's write-ahead log: the database file's name with `-wal` appended.
    log: PathBuf,
    /// Commits counted so far; each write takes the next number once its commit returned.
    committed: AtomicU64,
    /// The highest commit number a finished fsync covers. Held while an fsync runs, so the
    /// writes that wait behind it find theirs covered or start the next one together.
    synced: Mutex<u64>,
}

impl WalSync {
    pub fn new(database: &std::path::Path) -> WalSync {
        let mut log = database.as_os_str().to_owned();
        log.push("-wal");
        WalSync { log: log.into(), committed: AtomicU64::new(0), synced: Mutex::new(0) }
    }

    /// The number of a commit that has just returned, for `wait`: taken at once, so that a
    /// caller may wait later (the token writer stores its next batch meanwhile).
    pub fn ticket(&self) -> u64 {
        self.committed.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// Holds back every fsync, as one that never finishes would, until the guard is dropped.
    pub async fn hold(&self) -> tokio::sync::MutexGuard<'_, u64> {
        self.synced.lock().await
    }

    /// Returns once an fsync that started after commit `mine` returned has finished.
    pub async fn wait(&self, mine: u64) -> sqlx::Result<()> {
        let mut synced = self.synced.lock().await;
        if *synced >= mine {
            return Ok(());
        }
        // Every number handed out so far belongs to a commit that had returned: this fsync
        // covers them all.
        let upto = self.committed.load(Ordering::Acquire);
        let log = self.log.clone();
        tokio::task::spawn_blocking(move || sync_log(&log))
            .await
            .map_err(|e| sqlx::Error::Io(std::io::Error::other(e)))??;
        *synced = upto;
        Ok(())
    }
}

/// fsync through a descriptor of our own: Linux and the BSDs write back every dirty page of the
/// file, whichever descriptor wrote it.
fn sync_log(log: &std::path::Path) -> sqlx::Result<()> {
    match std::fs::File::open(log) {
        Ok(file) => file.sync_data().map_err(sqlx::Error::Io),
        // SQLite removes the log only when its last connection closes, after copying the log
        // into the database file and syncing that: what was committed is on disk already.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(sqlx::Error::Io(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn commits_that_wait_together_share_one_fsync() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("g.db");
        std::fs::write(dir.path().join("g.db-wal"), b"frames").unwrap();
        let sync = std::sync::Arc::new(WalSync::new(&db));
        // Hold the lock as a running fsync would; three commits finish meanwhile.
        let running = sync.synced.lock().await;
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let sync = sync.clone();
                tokio::spawn(async move { sync.wait(sync.ticket()).await })
            })
            .collect();
        while sync.committed.load(Ordering::Acquire) < 3 {
            tokio::task::yield_now().await;
        }
        drop(running);
        for w in waiters {
            w.await.unwrap().unwrap();
        }
        // The first waiter to get the lock synced all three; the other two found theirs covered.
        assert_eq!(*sync.synced.lock().await, 3);
    }

    #[tokio::test]
    async fn a_commit_after_an_fsync_waits_for_one_of_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("g.db");
        std::fs::write(dir.path().join("g.db-wal"), b"frames").unwrap();
        let sync = WalSync::new(&db);
        sync.wait(sync.ticket()).await.unwrap();
        sync.wait(sync.ticket()).await.unwrap();
        assert_eq!(*sync.synced.lock().await, 2);
    }

    #[tokio::test]
    async fn a_log_sqlite_removed_needs_no_fsync() {
        let dir = tempfile::tempdir().unwrap();
        let sync = WalSync::new(&dir.path().join("none.db"));
        sync.wait(sync.ticket()).await.expect("no log: everything was checkpointed");
        assert_eq!(*sync.synced.lock().await, 1);
    }
}
