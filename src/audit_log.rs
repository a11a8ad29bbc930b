//! The audit trail as JSON lines (`audit.log`), for log shippers and SIEMs that read a file or
//! standard output rather than poll `/api/v1/audit`. One instance at a time holds the export's
//! lease in the database and appends every committed event of every instance, oldest first,
//! from a cursor kept beside the lease; the cursor moves only after the lines are flushed, so a
//! crash or a lost lease repeats lines (each carries its event's `id`) but never skips one.
//! It sits beside the protocol layer and takes only the store, the clock and the settings.

use std::io::Write;
use std::time::Duration;

use serde_json::json;

use crate::clock::Clock;
use crate::config::{AuditLog, Config};
use crate::store::Store;

/// How often the holder looks for new events.
pub const POLL: Duration = Duration::from_secs(5);
/// Seconds a lease lasts: several polls, so a live holder keeps it and a dead one's lapses soon.
pub const LEASE: i64 = 30;
/// Most events one read returns; a backlog is written in pages of this size.
const PAGE: i64 = 500;
/// Most pages one pass writes before letting the lease be renewed.
const MAX_PAGES: usize = 100;

pub struct Exporter {
    store: Store,
    clock: Clock,
    sink: AuditLog,
    settle: i64,
    /// This process, as the lease knows it.
    holder: String,
}

impl Exporter {
    /// The exporter the settings ask for, if any.
    pub fn new(store: Store, clock: Clock, config: &Config) -> Option<Exporter> {
        let sink = config.audit_log.clone()?;
        let settle = crate::store::audit::stream_settle(config.db_acquire_timeout);
        Some(Exporter { store, clock, sink, settle, holder: crate::crypto::random_id() })
    }

    /// Writes what has settled since the cursor, if this instance holds (or can take) the
    /// lease; returns how many lines it wrote.
    pub async fn export_once(&self) -> anyhow::Result<usize> {
        let now = self.clock.now();
        let Some((mut at, mut id)) = self.store.claim_audit_export(&self.holder, now, now + LEASE).await? else {
            return Ok(0);
        };
        let before = now - self.settle;
        let mut written = 0;
        for _ in 0..MAX_PAGES {
            let events = self.store.audit_after(Some((at, &id)), before, PAGE).await?;
            let Some((last_id, last)) = events.last() else { break };
            let (next_at, next_id) = (last.at, last_id.clone());
            let mut lines = Vec::with_capacity(events.len() * 200);
            for (event_id, e) in &events {
                let line = json!({
                    "id": event_id,
                    "at": e.at,
                    "actor": e.actor,
                    "action": e.action,
                    "subject": e.subject,
                    "detail": e.detail,
                });
                serde_json::to_writer(&mut lines, &line)?;
                lines.push(b'\n');
            }
            self.append(&lines).await?;
            written += events.len();
            if !self.store.advance_audit_export(&self.holder, next_at, &next_id).await? {
                tracing::warn!("the audit export's lease passed to another instance; it goes on from there");
                break;
            }
            (at, id) = (next_at, next_id);
            if (events.len() as i64) < PAGE {
                break;
            }
        }
        Ok(written)
    }

    async fn append(&self, bytes: &[u8]) -> std::io::Result<()> {
        match &self.sink {
            AuditLog::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(bytes)?;
                out.flush()
            }
            AuditLog::File(path) => {
                let (path, bytes) = (path.clone(), bytes.to_vec());
                tokio::task::spawn_blocking(move || {
                    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&path)?;
                    file.write_all(&bytes)?;
                    // The cursor moves past these lines next: they must be on disk first.
                    file.sync_data()
                })
                .await
                .map_err(std::io::Error::other)?
            }
        }
    }

    /// Exports every `POLL` until the task is aborted.
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(POLL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = self.export_once().await {
                    tracing::warn!(error = %e, "writing the audit log failed; it is retried from the same event");
                }
            }
        })
    }
}
