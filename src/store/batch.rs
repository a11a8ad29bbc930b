//! Batching on the opaque-token hot paths. Group commit: concurrent requests hand their rows
//! to one writer, which stores whatever has queued up in a single transaction and answers each
//! request only once that commit is on disk; under load, one fsync covers many tokens, and
//! alone, a token waits for nothing but its own commit. While one batch waits for the disk, the
//! writer stores the next. Batched reads: introspections hand their
//! lookups to readers, each of which asks for whatever has queued up in one statement, so one
//! round trip to PostgreSQL, or one hand-off to a SQLite connection's worker thread, answers
//! many requests. Writer and readers keep their connection while requests keep coming, so no
//! batch pays for the ping sqlx sends when a connection goes back to the pool.
//! Nothing is remembered between batches: a revocation is seen by the next lookup on every
//! instance, as without batching.

use tokio::sync::{mpsc, oneshot};

use super::tokens::AccessTokenRow;
use super::{is_unavailable, Store};

/// Most rows one transaction carries.
const MAX_BATCH: usize = 256;
/// Requests that may wait for the writer before senders are held back.
const QUEUE: usize = 4096;

/// How long the writer keeps its connection without a token to store.
const HOLD_IDLE: std::time::Duration = std::time::Duration::from_secs(1);

/// How often, at most, the writer starts a checkpoint beside its commits.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// Checkpoints started by the writer on another connection, one at a time, so that the log
/// stays short and SQLite's own checkpoint (run inside whichever commit finds the log past
/// 1000 pages) seldom lands in the writer's commit, where a whole batch would wait for it.
/// On PostgreSQL `Store::checkpoint` does nothing.
#[derive(Default)]
struct Checkpoints {
    running: std::sync::Arc<std::sync::atomic::AtomicBool>,
    last: Option<tokio::time::Instant>,
}

impl Checkpoints {
    fn after_commit(&mut self, store: &Store) {
        use std::sync::atomic::Ordering;
        if !matches!(store.db, super::Db::Sqlite(_)) || self.last.is_some_and(|t| t.elapsed() < CHECKPOINT_EVERY) {
            return;
        }
        if self.running.swap(true, Ordering::AcqRel) {
            return;
        }
        self.last = Some(tokio::time::Instant::now());
        let (store, running) = (store.clone(), self.running.clone());
        tokio::spawn(async move {
            if let Err(e) = store.checkpoint().await {
                tracing::warn!(error = %e, "checkpointing the write-ahead log failed");
            }
            running.store(false, Ordering::Release);
        });
    }
}

/// Awaits `next` while `held` keeps a connection. After HOLD_IDLE without an answer it gives
/// the connection back and returns None; the caller then waits for `next` again without one.
async fn while_held<T>(held: &mut Option<super::Held>, next: impl std::future::Future<Output = T>) -> Option<T> {
    if held.is_none() {
        return Some(next.await);
    }
    match tokio::time::timeout(HOLD_IDLE, next).await {
        Ok(out) => Some(out),
        Err(_) => {
            *held = None;
            None
        }
    }
}

type Reply = oneshot::Sender<Result<(), WriteError>>;

/// Answers every request of a batch: each with its own outcome, or all with the batch's failure.
fn answer<T>(
    replies: Vec<oneshot::Sender<Result<T, WriteError>>>,
    outcome: sqlx::Result<Vec<Result<T, WriteError>>>,
    what: &str,
) {
    let error = match outcome {
        Ok(answers) => {
            for (reply, answer) in replies.into_iter().zip(answers) {
                let _ = reply.send(answer);
            }
            return;
        }
        Err(e) if is_unavailable(&e) => {
            super::log_unavailable(&e);
            WriteError::Unavailable
        }
        Err(e) => {
            tracing::error!(error = %e, requests = replies.len(), "{what} failed");
            WriteError::Failed(e.to_string())
        }
    };
    for reply in replies {
        let _ = reply.send(Err(error.clone()));
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum WriteError {
    #[error("the database is unavailable")]
    Unavailable,
    #[error("storing the token failed: {0}")]
    Failed(String),
    /// The app no longer has the revision the token's write required: nothing was stored.
    #[error("the app changed since its client was authenticated")]
    Stale,
}

#[derive(Clone, Debug)]
pub struct TokenWriter {
    queue: mpsc::Sender<(Unwritten, Reply)>,
}

/// A token to store, and the revision its app must still have for it to be stored.
type Unwritten = (AccessTokenRow, Option<i64>);

impl TokenWriter {
    /// Starts the writer task on the current runtime.
    pub fn spawn(store: Store) -> TokenWriter {
        let (queue, mut rx) = mpsc::channel::<(Unwritten, Reply)>(QUEUE);
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(MAX_BATCH);
            // PostgreSQL: kept while tokens keep coming, given back after a second without any,
            // so an idle writer holds nothing (and closing the pool does not wait for it); and
            // given back after every batch where the pool is too small to spare it. SQLite
            // never holds one: its one writing connection is every writer's.
            let mut held = None;
            let keeps = store.writer_keeps_a_connection();
            let mut checkpoints = Checkpoints::default();
            // The last batch, committed and waiting for the disk (on SQLite, for an fsync of
            // the log) before its requests are answered, while the writer stores the next.
            let mut last: Option<tokio::task::JoinHandle<()>> = None;
            loop {
                let received = match while_held(&mut held, rx.recv_many(&mut batch, MAX_BATCH)).await {
                    Some(n) => n,
                    None => rx.recv_many(&mut batch, MAX_BATCH).await,
                };
                if received == 0 {
                    break;
                }
                let (rows, replies): (Vec<_>, Vec<_>) = std::mem::take(&mut batch).into_iter().unzip();
                let committed = store.insert_access_tokens(&mut held, &rows).await;
                if !keeps {
                    held = None;
                }
                // One batch at most waits for the disk while the writer goes on: a disk slower
                // than the writer holds the writer back instead of letting batches pile up.
                if let Some(last) = last.take() {
                    let _ = last.await;
                }
                match committed {
                    Ok(committed) => {
                        last = Some(tokio::spawn(async move {
                            let stored = committed.durable().await.map(|s| {
                                s.into_iter().map(|s| if s { Ok(()) } else { Err(WriteError::Stale) }).collect()
                            });
                            answer(replies, stored, "storing opaque tokens");
                        }))
                    }
                    Err(e) => answer(replies, Err(e), "storing opaque tokens"),
                }
                checkpoints.after_commit(&store);
            }
            if let Some(last) = last {
                let _ = last.await;
            }
        });
        TokenWriter { queue }
    }

    /// Stores one token; returns once it is committed. With `requires`, only if its app still
    /// has that revision (`WriteError::Stale` otherwise).
    pub async fn write(&self, row: AccessTokenRow, requires: Option<i64>) -> Result<(), WriteError> {
        let (reply, done) = oneshot::channel();
        self.queue
            .send(((row, requires), reply))
            .await
            .map_err(|_| WriteError::Failed("the token writer stopped".into()))?;
        done.await.map_err(|_| WriteError::Failed("the token writer stopped".into()))?
    }
}

use super::tokens::{Lookup, OpaqueRef};
type LookupReply = oneshot::Sender<Result<Lookup, WriteError>>;
/// An opaque token's reference and the caller's app id, with where its answer goes.
type LookupRequest = ((OpaqueRef, String), LookupReply);

/// Readers working at once: one for every two cores. Each batch in flight keeps a database
/// connection (a PostgreSQL backend, or a SQLite connection's thread) busy while the server
/// works on the other core. On two cores a second reader halved the batches and cost more per
/// lookup than the overlap won: introspection ran 10 % slower at 16 connections (issue 15,
/// bench/README.md). More readers on more cores is the same rule, not measured.
fn readers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
}

#[derive(Clone, Debug)]
pub struct TokenReader {
    /// None only where nothing was spawned (a store used without the server's runtime).
    queue: Option<mpsc::Sender<LookupRequest>>,
    store: Store,
}

impl TokenReader {
    /// Starts the readers on the current runtime.
    pub fn spawn(store: Store) -> TokenReader {
        let (queue, rx) = mpsc::channel::<LookupRequest>(QUEUE);
        let rx = std::sync::Arc::new(tokio::sync::Mutex::new(rx));
        let readers = readers();
        let holding = readers.min(store.reading_connections_to_spare());
        for reader in 0..readers {
            let (rx, store) = (rx.clone(), store.clone());
            tokio::spawn(async move {
                let mut batch = Vec::with_capacity(MAX_BATCH);
                // Like the writer's, kept while lookups keep coming (where the pool can spare it).
                let mut held = None;
                loop {
                    let next = async { rx.lock().await.recv_many(&mut batch, MAX_BATCH).await };
                    let received = match while_held(&mut held, next).await {
                        Some(n) => n,
                        None => rx.lock().await.recv_many(&mut batch, MAX_BATCH).await,
                    };
                    if received == 0 {
                        return;
                    }
                    let (lookups, replies): (Vec<_>, Vec<_>) = std::mem::take(&mut batch).into_iter().unzip();
                    if reader < holding && held.is_none() {
                        match store.hold_reading().await {
                            Ok(conn) => held = Some(conn),
                            Err(e) => {
                                answer(replies, Err(e), "reading opaque tokens");
                                continue;
                            }
                        }
                    }
                    let found = store.access_tokens_with_app_revisions(&mut held, &lookups).await;
                    answer(replies, found.map(|f| f.into_iter().map(Ok).collect()), "reading opaque tokens");
                }
            });
        }
        TokenReader { queue: Some(queue), store }
    }

    /// An opaque token's row and the revision of the caller's app `app_id` (see
    /// `Store::access_token_with_app_revision`).
    pub async fn read(&self, token: &OpaqueRef, app_id: &str) -> sqlx::Result<Lookup> {
        let Some(queue) = &self.queue else { return self.store.access_token_with_app_revision(token, app_id).await };
        let (reply, answer) = oneshot::channel();
        let stopped = || sqlx::Error::Protocol("the token reader stopped".into());
        queue.send(((token.clone(), app_id.to_string()), reply)).await.map_err(|_| stopped())?;
        match answer.await.map_err(|_| stopped())? {
            Ok(found) => Ok(found),
            Err(WriteError::Unavailable) => Err(sqlx::Error::PoolTimedOut),
            Err(WriteError::Failed(why)) => Err(sqlx::Error::Protocol(why)),
            Err(stale @ WriteError::Stale) => Err(sqlx::Error::Protocol(stale.to_string())),
        }
    }
}
