//! The audit trail: one row per security event (app and secret changes, approvals, key
//! rotations, logins), written in the same transaction as the change it records.

use serde::Serialize;

use super::row::DbRow;
use super::Store;
use crate::{on_db, on_write};

#[derive(Debug, Clone, Serialize)]
pub struct AuditEvent {
    pub at: i64,
    /// Who did it: `cli`, `system`, or a user id.
    pub actor: String,
    /// A dotted verb such as `app.created` or `secret.revoked`.
    pub action: std::borrow::Cow<'static, str>,
    /// What it was done to: a client ID, a tenant ctx, a key id.
    pub subject: String,
    /// Extra facts; never a secret.
    pub detail: serde_json::Value,
}

impl AuditEvent {
    pub fn new(at: i64, actor: &str, action: &'static str, subject: &str, detail: serde_json::Value) -> Self {
        AuditEvent { at, actor: actor.to_string(), action: action.into(), subject: subject.to_string(), detail }
    }
}

/// Inserts an audit event with the given executor (a transaction, so it commits with the change).
macro_rules! record {
    ($exec:expr, $event:expr) => {
        sqlx::query("INSERT INTO audit_events (id, at, actor, action, subject, detail) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind($crate::crypto::random_id())
            .bind($event.at)
            .bind(&$event.actor)
            .bind($event.action.as_ref())
            .bind(&$event.subject)
            .bind($event.detail.to_string())
            .execute($exec)
            .await
    };
}
pub(crate) use record;

/// Runs `$body` in one transaction on either backend, with `$tx` bound to it, and records
/// `$event` in that transaction before committing: a change and its audit row land together
/// or not at all. With `when`, the event is recorded only if the predicate holds for the
/// body's value (a conditional change that changed nothing is no event). The body may
/// `return Ok(..)` early to commit nothing: the transaction rolls back when dropped.
macro_rules! audited {
    ($store:expr, $event:expr, $tx:ident => $body:block) => {
        $crate::store::audit::audited!($store, $event, when |_| true, $tx => $body)
    };
    ($store:expr, $event:expr, when $record_if:expr, $tx:ident => $body:block) => {
        $crate::on_write!($store, pool => {
            let mut $tx = pool.begin().await?;
            let out = $body;
            if ($record_if)(&out) {
                $crate::store::audit::record!(&mut *$tx, $event)?;
                // An app's own changes that its partner hears about: the same commit queues them.
                if let Some(hook) = $crate::store::outbox::WebhookEvent::of_audit($event) {
                    sqlx::query($crate::store::outbox::QUEUE_WEBHOOKS_OF_CLIENT)
                        .bind(&hook.id).bind(&hook.subject).bind($event.at).bind(&hook.body).bind(&$event.subject)
                        .execute(&mut *$tx).await?;
                }
                if let Some((hook, audience)) = $crate::store::outbox::WebhookEvent::for_partners($event) {
                    use $crate::store::outbox::PartnerAudience;
                    let (everyone, partner) = match &audience {
                        PartnerAudience::Everyone => (true, None),
                        PartnerAudience::Named(p) => (false, Some(p.as_str())),
                        PartnerAudience::OfApp => (false, None),
                    };
                    let client_id = if everyone { "" } else { $event.subject.as_str() };
                    sqlx::query($crate::store::outbox::QUEUE_PARTNER_WEBHOOKS)
                        .bind(&hook.id).bind(&hook.subject).bind($event.at).bind(&hook.body).bind(client_id)
                        .bind(everyone).bind(partner)
                        .execute(&mut *$tx).await?;
                }
            }
            $tx.commit().await?;
            Ok(out)
        })
    };
}
pub(crate) use audited;

/// Seconds the audit stream (the API's pages, the JSON-lines export) stays behind the newest
/// events: longer than any request may run (its deadline is the database wait plus at most six
/// seconds), so every event of a second the stream has passed has committed, and a cursor never
/// skips one.
pub fn stream_settle(db_acquire_timeout: std::time::Duration) -> i64 {
    (db_acquire_timeout.as_secs() as i64 + 7).max(30)
}

fn audit_row(r: &impl DbRow) -> sqlx::Result<AuditEvent> {
    Ok(AuditEvent {
        at: r.int("at")?,
        actor: r.text("actor")?,
        action: r.text("action")?.into(),
        subject: r.text("subject")?,
        detail: serde_json::from_str(&r.text("detail")?).unwrap_or_default(),
    })
}

impl Store {
    pub async fn record_audit(&self, event: &AuditEvent) -> sqlx::Result<()> {
        on_write!(self, pool => record!(pool, event).map(|_| ()))
    }

    /// The newest events about `subject`, newest first.
    pub async fn audit_trail(&self, subject: &str, limit: i64) -> sqlx::Result<Vec<AuditEvent>> {
        const SQL: &str = "SELECT at, actor, action, subject, detail FROM audit_events WHERE subject = $1 ORDER BY at DESC, id LIMIT $2";
        on_db!(&self.db, pool => {
            let rows = sqlx::query(SQL).bind(subject).bind(limit).fetch_all(pool).await?;
            rows.iter().map(audit_row).collect()
        })
    }

    /// Events in `(at, id)` order after the cursor `after`, from before `before` (the stream
    /// stays behind the newest events until every transaction of their second has committed).
    pub async fn audit_after(
        &self,
        after: Option<(i64, &str)>,
        before: i64,
        limit: i64,
    ) -> sqlx::Result<Vec<(String, AuditEvent)>> {
        const SQL: &str = "SELECT id, at, actor, action, subject, detail FROM audit_events \
            WHERE at < $1 AND (at > $2 OR (at = $2 AND id > $3)) ORDER BY at, id LIMIT $4";
        let (at, id) = after.unwrap_or((i64::MIN, ""));
        on_db!(&self.db, pool => {
            let rows = sqlx::query(SQL).bind(before).bind(at).bind(id).bind(limit).fetch_all(pool).await?;
            rows.iter().map(|r| Ok((r.text("id")?, audit_row(r)?))).collect()
        })
    }
    /// Takes (or keeps) the JSON-lines export for `holder` until `until`, if no other
    /// instance holds it at `now`; answers where the export has got to.
    pub async fn claim_audit_export(&self, holder: &str, now: i64, until: i64) -> sqlx::Result<Option<(i64, String)>> {
        const SQL: &str = "UPDATE audit_export SET holder = $1, leased_until = $3 \
            WHERE name = 'jsonl' AND (holder = $1 OR leased_until <= $2) RETURNING cursor_at, cursor_id";
        on_write!(self, pool => {
            let row = sqlx::query(SQL).bind(holder).bind(now).bind(until).fetch_optional(pool).await?;
            row.map(|r| Ok((r.int("cursor_at")?, r.text("cursor_id")?))).transpose()
        })
    }

    /// Moves the export's cursor past what `holder` has written; false if it lost the lease
    /// meanwhile (the new holder goes on from the cursor it found).
    pub async fn advance_audit_export(&self, holder: &str, at: i64, id: &str) -> sqlx::Result<bool> {
        const SQL: &str = "UPDATE audit_export SET cursor_at = $2, cursor_id = $3 WHERE name = 'jsonl' AND holder = $1";
        on_write!(self, pool => {
            Ok(sqlx::query(SQL).bind(holder).bind(at).bind(id).execute(pool).await?.rows_affected() == 1)
        })
    }
}
