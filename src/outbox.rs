//! Delivering the outbox: what the store queued in the transaction of a change (a back-channel
//! logout for each app a session signed in to, an event for each of an app's webhooks) is
//! leased by one instance,
//! POSTed through the outbound client, and marked delivered, or retried with backoff until it
//! is given up. Every instance runs this; the lease makes each delivery one instance's at a
//! time, and a crashed instance's lease runs out so another retries (the app may see a logout
//! twice, with the same `jti`, never none).

use std::time::Duration;

use crate::oidc::logout_token::{self, LogoutTokenInput};
use crate::provider::Provider;
use crate::store::outbox::{Delivery, BACKCHANNEL_LOGOUT, WEBHOOK};

/// Most deliveries one instance leases at a time; they are sent concurrently, each within the
/// outbound timeout, well inside the lease.
pub const BATCH: i64 = 20;
/// Attempts before a delivery is given up: with `backoff`, about three hours of retries.
pub const MAX_ATTEMPTS: i64 = 10;
/// How often an instance looks for due deliveries when nothing woke it.
pub const POLL: Duration = Duration::from_secs(1);

/// Seconds before the next attempt after `attempts` failed ones: 5 s, doubling, at most an hour.
pub fn backoff(attempts: i64) -> i64 {
    (5_i64 << attempts.clamp(1, 12).saturating_sub(1)).min(3_600)
}

/// What one pass did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pass {
    pub delivered: usize,
    pub failed: usize,
}

/// Leases what is due now and delivers it.
pub async fn deliver_due(state: &Provider) -> sqlx::Result<Pass> {
    let leased = state.store.lease_deliveries(state.clock.now(), BATCH).await?;
    let mut tasks = tokio::task::JoinSet::new();
    for d in leased {
        let state = state.clone();
        tasks.spawn(async move {
            let outcome = attempt(&state, &d).await;
            settle(&state, &d, &outcome).await.map(|_| outcome.is_ok())
        });
    }
    let mut pass = Pass::default();
    let mut first_error = None;
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(Ok(true)) => pass.delivered += 1,
            Ok(Ok(false)) => pass.failed += 1,
            Ok(Err(e)) => first_error = first_error.or(Some(e)),
            Err(e) => tracing::error!(error = %e, "a delivery task ended without settling; its lease runs out"),
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(pass),
    }
}

/// One attempt: Ok when the app took it, else why not (a sentence without secrets).
async fn attempt(state: &Provider, d: &Delivery) -> Result<(), String> {
    match d.kind.as_str() {
        BACKCHANNEL_LOGOUT => logout(state, d).await,
        WEBHOOK => webhook(state, d).await,
        other => Err(format!("unknown delivery kind '{other}'")),
    }
}

/// A webhook event, signed as Standard Webhooks specifies: `webhook-id` (the same on every
/// attempt), `webhook-timestamp` (this attempt's), and `webhook-signature`, `v1,` and the
/// base64 HMAC-SHA256 of `id.timestamp.body` under the webhook's secret.
async fn webhook(state: &Provider, d: &Delivery) -> Result<(), String> {
    let (Some(webhook_id), Some(body)) = (&d.webhook_id, &d.payload) else {
        return Err("the delivery has no webhook or body".into());
    };
    let (url, secret) = match state.store.webhook_target(webhook_id).await {
        Ok(Some(target)) => target,
        Ok(None) => return Err("the webhook was removed".into()),
        Err(e) => return Err(format!("reading the webhook failed: {e}")),
    };
    let key = secret
        .strip_prefix(crate::apps::webhooks::SECRET_PREFIX)
        .and_then(crate::crypto::b64_decode)
        .ok_or("the webhook's secret is not readable")?;
    let timestamp = state.clock.now().to_string();
    let signed = format!("{}.{timestamp}.{body}", d.id);
    let signature = format!("v1,{}", crate::crypto::b64(&crate::crypto::hmac_sha256(&key, signed.as_bytes())));
    let headers = [("webhook-id", d.id.as_str()), ("webhook-timestamp", &timestamp), ("webhook-signature", &signature)];
    match state.outbound.post(&url, "application/json", &headers, body.clone()).await {
        Ok(200..=299) => Ok(()),
        Ok(status) => Err(format!("the webhook answered HTTP {status}")),
        Err(e) => Err(format!("the webhook {e}")),
    }
}

/// A back-channel logout: a fresh logout token for the app's logout URL.
async fn logout(state: &Provider, d: &Delivery) -> Result<(), String> {
    let app = match state.registry.get_shared(&d.client_id).await {
        Ok(app) => app,
        Err(crate::error::Error::NotFound(_)) => return Err("the app no longer exists".into()),
        Err(e) => return Err(format!("reading the app failed: {e}")),
    };
    let Some(uri) = app.backchannel_logout_uris.first() else {
        return Err("the app no longer has a back-channel logout URL".into());
    };
    let jti = crate::crypto::b64url(&crate::crypto::sha256(d.id.as_bytes())[..18]);
    let token = logout_token::sign(
        &state.keys,
        &state.config,
        state.clock.now(),
        LogoutTokenInput {
            client_id: &app.client_id,
            app_id: &app.id,
            signing_alg: &app.signing_alg,
            subject: &d.subject,
            sid: d.sid.as_deref(),
            jti: &jti,
        },
    )
    .map_err(|e| format!("signing the logout token failed: {e}"))?;
    // §2.8: the app answers 200 (204 is common too) when it logged the session out.
    match state.outbound.post_form(uri, &[("logout_token", &token)]).await {
        Ok(200..=299) => Ok(()),
        Ok(status) => Err(format!("the logout URL answered HTTP {status}")),
        Err(e) => Err(format!("the logout URL {e}")),
    }
}

/// Records the attempt's outcome: delivered, due again after `backoff`, or given up.
async fn settle(state: &Provider, d: &Delivery, outcome: &Result<(), String>) -> sqlx::Result<()> {
    let now = state.clock.now();
    match outcome {
        Ok(()) => {
            tracing::info!(client_id = %d.client_id, kind = %d.kind, attempts = d.attempts, "delivered");
            state.store.delivered(&d.id, now).await
        }
        Err(why) => {
            let retry_at = (d.attempts < MAX_ATTEMPTS).then(|| now + backoff(d.attempts));
            tracing::warn!(client_id = %d.client_id, kind = %d.kind, attempts = d.attempts, gave_up = retry_at.is_none(),
                why = %why, "not delivered");
            state.store.delivery_failed(&d.id, now, retry_at, why).await
        }
    }
}

/// Delivers until the task is aborted: at once when this instance queued something, else
/// every `POLL` (for what other instances queued, and retries that came due).
pub fn spawn(state: Provider) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = state.outbox_queued.notified() => {}
            }
            if let Err(e) = deliver_due(&state).await {
                crate::store::log_unavailable(&e);
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::backoff;

    #[test]
    fn retries_back_off_from_five_seconds_to_an_hour() {
        assert_eq!([1, 2, 3, 4].map(backoff), [5, 10, 20, 40]);
        assert_eq!(backoff(10), 2_560);
        assert_eq!(backoff(11), 3_600);
        assert_eq!(backoff(0), 5);
        assert_eq!(backoff(i64::MAX), 3_600);
    }
}
