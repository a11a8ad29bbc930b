//! Pruning: deleting rows that can no longer be used, so that what anonymous callers can make
//! the server write (pending sign-ins, failed-login counters, replay records, audit events)
//! does not grow without end. `store::pruning` says which rows of each kind may go; this module
//! picks each kind's cutoff and runs the kinds in bounded batches, once per period, on whichever
//! instance takes the period's lease (docs/decisions/0014-pruning.md).
//! It sits beside the protocol layer and takes only the store, the clock and the settings.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::clock::{Clock, UnixTime};
use crate::config::Config;
use crate::store::pruning::Prunable;
use crate::store::Store;

/// Most rows one DELETE removes: a batch holds its locks for milliseconds, not seconds.
pub const BATCH: i64 = 1_000;
/// Most batches of one kind per run; what is left waits for the next period.
pub const MAX_BATCHES: u32 = 1_000;
/// Rows that decide a race (a code or refresh token being redeemed while its grant is revoked)
/// are kept this long past their expiry: longer than any request may run (the request deadline
/// is at most 66 s), so no in-flight redemption loses the row it is about to check.
pub const SETTLE: i64 = 3_600;

/// What one run deleted.
#[derive(Debug)]
pub struct Pruned {
    pub deleted: Vec<(Prunable, u64)>,
    pub elapsed: Duration,
}

impl Pruned {
    pub fn total(&self) -> u64 {
        self.deleted.iter().map(|(_, n)| n).sum()
    }

    /// Rows of one kind deleted.
    pub fn of(&self, what: Prunable) -> u64 {
        self.deleted.iter().find(|(w, _)| *w == what).map_or(0, |(_, n)| *n)
    }
}

/// Rows of `what` whose time is before this are deleted.
pub fn cutoff(what: Prunable, now: UnixTime, config: &Config) -> UnixTime {
    match what {
        // A counter whose window started earlier would be restarted by the next attempt.
        Prunable::LoginFailures => now - crate::config::LOGIN_FAILURE_WINDOW,
        Prunable::GrantTokens | Prunable::RefreshFamilies | Prunable::AuthorizationCodes | Prunable::RevokedGrants => {
            now - SETTLE
        }
        Prunable::AuditEvents => now - config.audit_retention_days * 86_400,
        // A finished delivery's status is kept as long as the audit trail.
        Prunable::Outbox => now - config.audit_retention_days * 86_400,
        Prunable::IdempotencyKeys => now - crate::store::idempotency::KEEP_SECS,
        Prunable::PendingRequests
        | Prunable::Sessions
        | Prunable::AccessTokens
        | Prunable::LegacyTokenDigests
        | Prunable::RevokedJwts
        | Prunable::UsedJtis
        | Prunable::SystemUserReplays
        | Prunable::SystemUserTickets
        | Prunable::RegistrationTokens
        | Prunable::EmailLinks
        | Prunable::WebauthnCeremonies
        | Prunable::PushedRequests
        | Prunable::DeviceCodes
        | Prunable::UpstreamLogins
        | Prunable::SessionApps => now,
    }
}

/// What pruning is given: the store it deletes from, the clock its cutoffs start at, and the
/// retention settings.
#[derive(Clone, Debug)]
pub struct Pruner {
    pub store: Store,
    pub clock: Clock,
    pub config: Arc<Config>,
}

impl Pruner {
    /// Deletes every kind of prunable row now, in batches, whether or not the period is due.
    pub async fn prune(&self) -> sqlx::Result<Pruned> {
        let started = Instant::now();
        let now = self.clock.now();
        let mut deleted = Vec::with_capacity(Prunable::ALL.len());
        for what in Prunable::ALL {
            let cutoff = cutoff(what, now, &self.config);
            let mut n = 0;
            for _ in 0..MAX_BATCHES {
                let batch = self.store.prune_batch(what, cutoff, BATCH).await?;
                n += batch;
                if batch < BATCH as u64 {
                    break;
                }
                // Let requests on this runtime have the pool between batches.
                tokio::task::yield_now().await;
            }
            deleted.push((what, n));
        }
        Ok(Pruned { deleted, elapsed: started.elapsed() })
    }

    /// Prunes if this instance takes the period's lease; None when another instance has it.
    pub async fn run_if_due(&self) -> sqlx::Result<Option<Pruned>> {
        let now = self.clock.now();
        let period = self.config.prune_interval.as_secs() as i64;
        // A second short of a period: this instance's own next tick, one period later give or
        // take the rounding to whole seconds, finds the lease due.
        if !self.store.claim_prune_lease(now, now + period - 1).await? {
            return Ok(None);
        }
        self.prune().await.map(Some)
    }

    /// Runs `run_if_due` every period (the first at once) until the task is aborted.
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(self.config.prune_interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match self.run_if_due().await {
                    Ok(Some(p)) => {
                        let per_table: Vec<String> = p
                            .deleted
                            .iter()
                            .filter(|(_, n)| *n > 0)
                            .map(|(w, n)| format!("{}={n}", w.table()))
                            .collect();
                        tracing::info!(
                            deleted = p.total(),
                            elapsed_ms = p.elapsed.as_millis() as u64,
                            tables = %per_table.join(" "),
                            "pruned rows that can no longer be used"
                        );
                    }
                    Ok(None) => {}
                    Err(e) => tracing::warn!(error = %e, "pruning failed; the next period tries again"),
                }
            }
        })
    }
}
