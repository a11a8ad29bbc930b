//! Expiry notices: a partner hears through its app's webhooks, once, that one of the app's
//! secrets or certificates ends within `HORIZON` (`secret.expiring`, `certificate.expiring`),
//! early enough to rotate it. Every instance looks once an hour; each notice is claimed in the
//! transaction that queues it, so it is sent once.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::clock::Clock;
use crate::store::outbox::WebhookEvent;
use crate::store::Store;

/// How long before the end a notice goes out.
pub const HORIZON: i64 = 14 * 86_400;
/// How often each instance looks.
pub const EVERY: Duration = Duration::from_secs(3_600);
/// Most notices of each kind one look sends; the rest wait for the next.
const BATCH: i64 = 500;

/// Queues the notices due now; how many were queued.
pub async fn notice(store: &Store, clock: &Clock) -> sqlx::Result<usize> {
    let now = clock.now();
    let mut queued = 0;
    for e in store.expiring(now, now + HORIZON, BATCH).await? {
        let data = json!({
            "client_id": e.client_id,
            "id": e.id,
            "expires_at": crate::clock::xml_datetime(e.expires_at),
        });
        let event = WebhookEvent::new(&format!("{}.expiring", e.kind), &e.client_id, now, data);
        if store.notice_expiring(&e, &event, now).await? {
            queued += 1;
        }
    }
    Ok(queued)
}

/// Looks every `EVERY` (the first at once) until the task is aborted, and wakes this
/// instance's delivery when it queued something.
pub fn spawn(store: Store, clock: Clock, queued: Arc<tokio::sync::Notify>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match notice(&store, &clock).await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(notices = n, "queued expiry notices for partners' webhooks");
                    queued.notify_one();
                }
                Err(e) => crate::store::log_unavailable(&e),
            }
        }
    })
}
