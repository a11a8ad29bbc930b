//! SQL for the outbox: deliveries to apps that must not be lost when a process dies, written in
//! the transaction of the change they report, and leased by one instance at a time until they
//! are delivered or given up. It carries back-channel logouts (OIDC Back-Channel Logout 1.0:
//! which apps each browser session signed in to, and a logout for each when it ends) and
//! webhook events (one row per event and registered webhook of the app).

use crate::store::row::DbRow;
use crate::store::Store;
use crate::{on_db, on_write};

/// The outbox kind of a back-channel logout.
pub const BACKCHANNEL_LOGOUT: &str = "backchannel_logout";
/// The outbox kind of a webhook event.
pub const WEBHOOK: &str = "webhook";

/// An event for an app's webhooks, in the Standard Webhooks payload shape.
#[derive(Debug, Clone)]
pub struct WebhookEvent {
    /// `evt_…`: with the webhook's id, the `webhook-id` every attempt of one delivery carries.
    pub id: String,
    /// What the event is about (a tenant's ctx), for listings.
    pub subject: String,
    /// `{"type", "timestamp", "data"}` as sent.
    pub body: String,
}

impl WebhookEvent {
    pub fn new(kind: &str, subject: &str, at: i64, data: serde_json::Value) -> WebhookEvent {
        let body = serde_json::json!({ "type": kind, "timestamp": crate::clock::xml_datetime(at), "data": data });
        WebhookEvent {
            id: format!("evt_{}", crate::crypto::random_id()),
            subject: subject.into(),
            body: body.to_string(),
        }
    }
}

/// In the transaction of a change to app `$5` at `$3`: event `$1` about `$2` (body `$4`) for
/// each of the app's webhooks.
pub const QUEUE_WEBHOOKS: &str =
    "INSERT INTO outbox (id, kind, app_id, client_id, subject, created_at, next_attempt_at, payload, webhook_id) \
    SELECT $1 || '.' || w.id, 'webhook', w.app_id, a.client_id, $2, $3, $3, $4, w.id \
    FROM app_webhooks w JOIN apps a ON a.id = w.app_id WHERE w.app_id = $5";

/// The same for the app whose client ID is `$5`.
pub const QUEUE_WEBHOOKS_OF_CLIENT: &str =
    "INSERT INTO outbox (id, kind, app_id, client_id, subject, created_at, next_attempt_at, payload, webhook_id) \
    SELECT $1 || '.' || w.id, 'webhook', w.app_id, a.client_id, $2, $3, $3, $4, w.id \
    FROM app_webhooks w JOIN apps a ON a.id = w.app_id WHERE a.client_id = $5";

/// In the transaction of a change in tenant `$2` at `$3`: event `$1` (body `$4`) for the
/// webhooks of each app the tenant approved with the webhook-agent integration point ("receive
/// the tenant's events").
pub const QUEUE_TENANT_WEBHOOKS: &str =
    "INSERT INTO outbox (id, kind, app_id, client_id, subject, created_at, next_attempt_at, payload, webhook_id) \
    SELECT $1 || '.' || w.id, 'webhook', w.app_id, a.client_id, $2, $3, $3, $4, w.id \
    FROM authorization_records r JOIN tenants t ON t.id = r.tenant_id \
    JOIN app_webhooks w ON w.app_id = r.app_id JOIN apps a ON a.id = w.app_id \
    WHERE t.ctx = $2 AND r.status = 'approved' AND (' ' || r.entitlements || ' ') LIKE '% webhook-agent %'";

/// Audit actions about an app (the subject is its client ID) that its webhooks hear, by the
/// event type they hear them as.
const AUDITED_EVENTS: [(&str, &str); 8] = [
    ("secret.created", "secret.created"),
    ("secret.revoked", "secret.revoked"),
    ("certificate.added", "certificate.created"),
    ("certificate.generated", "certificate.created"),
    ("certificate.revoked", "certificate.revoked"),
    ("app.entitlement_approved", "entitlement.approved"),
    ("app.entitlement_rejected", "entitlement.rejected"),
    // The app's own signing key (server-wide rotations name an algorithm, no app).
    ("key.rotated", "key.rotated"),
];

/// In the transaction of a change at `$3`: event `$1` about `$2` (body `$4`, client ID `$5`,
/// empty for none) for every partner webhook when `$6`, else for those of partner `$7`, or
/// when that is NULL of the partner of app `$5`.
pub const QUEUE_PARTNER_WEBHOOKS: &str =
    "INSERT INTO outbox (id, kind, client_id, subject, created_at, next_attempt_at, payload, partner_webhook_id) \
    SELECT $1 || '.' || w.id, 'webhook', $5, $2, $3, $3, $4, w.id FROM partner_webhooks w \
    WHERE $6 OR w.partner_id = COALESCE($7, (SELECT partner_id FROM apps WHERE client_id = $5))";

/// Which partners' webhooks hear an event.
#[derive(Debug, PartialEq, Eq)]
pub enum PartnerAudience {
    /// Every partner (the server's signing keys are everyone's concern).
    Everyone,
    /// The partner the audited detail names (an app created or already deleted).
    Named(String),
    /// The partner of the app the event is about.
    OfApp,
}

impl WebhookEvent {
    /// The event an audited change makes for partner webhooks, and who hears it: the
    /// lifecycle of a partner's apps and every signing key rotation.
    pub fn for_partners(e: &crate::store::audit::AuditEvent) -> Option<(WebhookEvent, PartnerAudience)> {
        let detail = e.detail.as_object();
        let named = detail.and_then(|d| d.get("partner_id")).and_then(|p| p.as_str());
        let names_app = detail.is_some_and(|d| d.contains_key("client_id"));
        let audience = match (e.action.as_ref(), named) {
            ("app.created" | "app.deleted", Some(partner)) => PartnerAudience::Named(partner.to_string()),
            ("key.rotated", _) if names_app => PartnerAudience::OfApp,
            ("key.rotated", _) => PartnerAudience::Everyone,
            _ => return None,
        };
        let mut data = serde_json::Map::new();
        if audience != PartnerAudience::Everyone {
            data.insert("client_id".into(), e.subject.clone().into());
        }
        data.extend(detail.into_iter().flatten().map(|(k, v)| (k.clone(), v.clone())));
        Some((WebhookEvent::new(&e.action, &e.subject, e.at, data.into()), audience))
    }

    /// The webhook event an audited change of an app makes, if its partner hears about it.
    pub fn of_audit(e: &crate::store::audit::AuditEvent) -> Option<WebhookEvent> {
        let (_, kind) = AUDITED_EVENTS.iter().find(|(action, _)| *action == e.action.as_ref())?;
        let mut data = serde_json::json!({ "client_id": e.subject });
        if let (Some(data), Some(detail)) = (data.as_object_mut(), e.detail.as_object()) {
            data.extend(detail.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        Some(WebhookEvent::new(kind, &e.subject, e.at, data))
    }
}

/// Queues `$event` for app `$app_id`'s webhooks inside transaction `$tx`.
macro_rules! queue_webhooks {
    ($tx:expr, $app_id:expr, $event:expr, $now:expr) => {
        sqlx::query($crate::store::outbox::QUEUE_WEBHOOKS)
            .bind(&$event.id)
            .bind(&$event.subject)
            .bind($now)
            .bind(&$event.body)
            .bind($app_id)
            .execute($tx)
            .await
    };
}
pub(crate) use queue_webhooks;

/// Seconds a leased delivery belongs to the instance that leased it: longer than the outbound
/// client's timeout, so a delivery in flight is never leased twice; a crashed instance's lease
/// runs out and another instance retries.
pub const LEASE_SECS: i64 = 30;

/// The columns every queueing statement writes. The id is one per session and app: a session
/// ends once, so ending it again (two tabs signing out) queues nothing more.
macro_rules! queue_logouts_where {
    ($condition:literal) => {
        concat!(
            "INSERT INTO outbox (id, kind, app_id, client_id, subject, sid, created_at, next_attempt_at) \
             SELECT s.sid || '.' || s.app_id, 'backchannel_logout', s.app_id, a.client_id, s.user_id, s.sid, $2, $2 \
             FROM session_apps s JOIN apps a ON a.id = s.app_id WHERE ",
            $condition,
            " ON CONFLICT (id) DO NOTHING"
        )
    };
}

/// In the transaction that deletes session `$1` (its `sid`) at `$2`: a logout for each of its apps.
pub const QUEUE_SESSION_LOGOUTS: &str = queue_logouts_where!("s.sid = $1");
pub const FORGET_SESSION_APPS: &str = "DELETE FROM session_apps WHERE sid = $1";
/// In the transaction that deletes every session of person `$1` at `$2`.
pub const QUEUE_USER_LOGOUTS: &str = queue_logouts_where!("s.user_id = $1");
pub const FORGET_USER_APPS: &str = "DELETE FROM session_apps WHERE user_id = $1";
/// In the transaction that deletes every session of person `$1` but `$3` (a sid) at `$2`.
pub const QUEUE_OTHER_LOGOUTS: &str = queue_logouts_where!("s.user_id = $1 AND s.sid <> $3");
pub const FORGET_OTHER_APPS: &str = "DELETE FROM session_apps WHERE user_id = $1 AND sid <> $2";

/// A delivery leased to this instance.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: String,
    pub kind: String,
    /// The app's client ID; empty for a server-wide event.
    pub client_id: String,
    pub subject: String,
    pub sid: Option<String>,
    /// Attempts so far, this one included.
    pub attempts: i64,
    /// A webhook event's body, and the webhook (an app's or a partner's) it goes to.
    pub payload: Option<String>,
    pub webhook_id: Option<String>,
}

/// A delivery as the portal and tests see it.
#[derive(Debug, Clone)]
pub struct DeliveryStatus {
    pub id: String,
    pub kind: String,
    pub subject: String,
    pub created_at: i64,
    pub attempts: i64,
    pub delivered_at: Option<i64>,
    pub abandoned_at: Option<i64>,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
}

impl Store {
    /// Records that session `sid` of `user_id` signed in to `app_id`, until `expires_at`.
    pub async fn record_session_app(
        &self,
        sid: &str,
        app_id: &str,
        user_id: &str,
        expires_at: i64,
    ) -> sqlx::Result<()> {
        const SQL: &str = "INSERT INTO session_apps (sid, app_id, user_id, expires_at) VALUES ($1, $2, $3, $4) \
            ON CONFLICT (sid, app_id) DO UPDATE SET expires_at = EXCLUDED.expires_at";
        on_write!(self, pool => {
            sqlx::query(SQL).bind(sid).bind(app_id).bind(user_id).bind(expires_at).execute(pool).await.map(|_| ())
        })
    }

    /// Leases up to `limit` deliveries that are due at `now`. The lease is re-checked by the
    /// UPDATE itself, so two instances racing for a row (PostgreSQL re-reads a row another
    /// transaction changed) never both get it.
    pub async fn lease_deliveries(&self, now: i64, limit: i64) -> sqlx::Result<Vec<Delivery>> {
        const SQL: &str = "UPDATE outbox SET leased_until = $1 + $3, attempts = attempts + 1 \
            WHERE id IN (SELECT id FROM outbox WHERE delivered_at IS NULL AND abandoned_at IS NULL \
                AND next_attempt_at <= $1 AND (leased_until IS NULL OR leased_until <= $1) \
                ORDER BY next_attempt_at LIMIT $2) \
            AND delivered_at IS NULL AND abandoned_at IS NULL AND (leased_until IS NULL OR leased_until <= $1) \
            RETURNING id, kind, client_id, subject, sid, attempts, payload, \
                COALESCE(webhook_id, partner_webhook_id) AS webhook_id";
        on_write!(self, pool => {
            let rows = sqlx::query(SQL).bind(now).bind(limit).bind(LEASE_SECS).fetch_all(pool).await?;
            rows.iter()
                .map(|r| {
                    Ok(Delivery {
                        id: r.text("id")?,
                        kind: r.text("kind")?,
                        client_id: r.text("client_id")?,
                        subject: r.text("subject")?,
                        sid: r.opt_text("sid")?,
                        attempts: r.int("attempts")?,
                        payload: r.opt_text("payload")?,
                        webhook_id: r.opt_text("webhook_id")?,
                    })
                })
                .collect()
        })
    }

    pub async fn delivered(&self, id: &str, now: i64) -> sqlx::Result<()> {
        on_write!(self, pool => {
            sqlx::query("UPDATE outbox SET delivered_at = $2, leased_until = NULL, last_error = NULL WHERE id = $1")
                .bind(id).bind(now).execute(pool).await.map(|_| ())
        })
    }

    /// A failed attempt: tried again at `retry_at`, or given up at `now` when `retry_at` is None.
    pub async fn delivery_failed(&self, id: &str, now: i64, retry_at: Option<i64>, why: &str) -> sqlx::Result<()> {
        on_write!(self, pool => {
            sqlx::query("UPDATE outbox SET next_attempt_at = COALESCE($3, next_attempt_at), \
                    abandoned_at = CASE WHEN $3 IS NULL THEN $2 ELSE NULL END, leased_until = NULL, last_error = $4 \
                 WHERE id = $1")
                .bind(id).bind(now).bind(retry_at).bind(why).execute(pool).await.map(|_| ())
        })
    }

    /// The newest deliveries to an app, newest first.
    pub async fn deliveries_of(&self, app_id: &str, limit: i64) -> sqlx::Result<Vec<DeliveryStatus>> {
        self.deliveries_where("app_id = $1", app_id, limit).await
    }

    /// The newest deliveries to a partner's own webhooks, newest first.
    pub async fn partner_deliveries(&self, partner_id: &str, limit: i64) -> sqlx::Result<Vec<DeliveryStatus>> {
        const MINE: &str = "partner_webhook_id IN (SELECT id FROM partner_webhooks WHERE partner_id = $1)";
        self.deliveries_where(MINE, partner_id, limit).await
    }

    async fn deliveries_where(&self, condition: &str, key: &str, limit: i64) -> sqlx::Result<Vec<DeliveryStatus>> {
        let sql = format!(
            "SELECT id, kind, subject, created_at, attempts, delivered_at, abandoned_at, next_attempt_at, last_error \
            FROM outbox WHERE {condition} ORDER BY created_at DESC, id LIMIT $2"
        );
        on_db!(&self.db, pool => {
            let rows = sqlx::query(&sql).bind(key).bind(limit).fetch_all(pool).await?;
            rows.iter()
                .map(|r| {
                    Ok(DeliveryStatus {
                        id: r.text("id")?,
                        kind: r.text("kind")?,
                        subject: r.text("subject")?,
                        created_at: r.int("created_at")?,
                        attempts: r.int("attempts")?,
                        delivered_at: r.opt_int("delivered_at")?,
                        abandoned_at: r.opt_int("abandoned_at")?,
                        next_attempt_at: r.int("next_attempt_at")?,
                        last_error: r.opt_text("last_error")?,
                    })
                })
                .collect()
        })
    }
}
