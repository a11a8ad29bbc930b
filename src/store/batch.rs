//! Group commit for opaque access tokens: concurrent requests hand their rows to one writer,
//! which stores whatever has queued up in a single transaction and answers each request only
//! after that commit. Under load, one fsync covers many tokens; alone, a token waits for
//! nothing but its own commit.

use tokio::sync::{mpsc, oneshot};

use super::tokens::AccessTokenRow;
use super::{is_unavailable, Store};

/// Most rows one transaction carries.
const MAX_BATCH: usize = 256;
/// Requests that may wait for the writer before senders are held back.
const QUEUE: usize = 4096;

type Reply = oneshot::Sender<Result<(), WriteError>>;

#[derive(Debug, Clone, thiserror::Error)]
pub enum WriteError {
    #[error("the database is unavailable")]
    Unavailable,
    #[error("storing the token failed: {0}")]
    Failed(String),
}

#[derive(Clone, Debug)]
pub struct TokenWriter {
    queue: mpsc::Sender<(AccessTokenRow, Reply)>,
}

impl TokenWriter {
    /// Starts the writer task on the current runtime.
    pub fn spawn(store: Store) -> TokenWriter {
        let (queue, mut rx) = mpsc::channel::<(AccessTokenRow, Reply)>(QUEUE);
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(MAX_BATCH);
            while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
                let (rows, replies): (Vec<_>, Vec<_>) = std::mem::take(&mut batch).into_iter().unzip();
                let result = store.insert_access_tokens(&rows).await.map_err(|e| {
                    if is_unavailable(&e) {
                        super::log_unavailable(&e);
                        WriteError::Unavailable
                    } else {
                        tracing::error!(error = %e, rows = rows.len(), "storing opaque tokens failed");
                        WriteError::Failed(e.to_string())
                    }
                });
                for reply in replies {
                    let _ = reply.send(result.clone());
                }
            }
        });
        TokenWriter { queue }
    }

    /// Stores one token; returns once it is committed.
    pub async fn write(&self, row: AccessTokenRow) -> Result<(), WriteError> {
        let (reply, done) = oneshot::channel();
        self.queue.send((row, reply)).await.map_err(|_| WriteError::Failed("the token writer stopped".into()))?;
        done.await.map_err(|_| WriteError::Failed("the token writer stopped".into()))?
    }
}
