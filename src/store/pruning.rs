//! SQL for pruning: one batched DELETE per kind of row that stops being useful, and the lease
//! that picks one instance per period. Which rows may go, and when, is decided here, next to
//! the statements; the schedule and the cutoffs are `crate::pruning`'s.
//!
//! Every statement deletes at most `$2` rows whose time is before `$1`, chosen by a subquery on
//! the primary key (SQLite has no `DELETE … LIMIT` by default, PostgreSQL none at all), so one
//! batch holds its locks briefly and a run can stop between batches. Every statement is
//! idempotent: two instances pruning at once delete each row once.

use super::Store;
use crate::on_write;

/// "Some use of this grant can still happen": an unused, unrevoked refresh token that had not
/// expired at the cutoff, or an access token issued under the grant that had not expired.
/// While this holds, a replayed code or refresh token of the grant must still be recognised
/// and revoke the grant (RFC 6749 §4.1.2, RFC 9700 §4.14.2), so its spent rows stay.
macro_rules! grant_in_use {
    ($alias:literal) => {
        concat!(
            "(EXISTS (SELECT 1 FROM refresh_tokens l WHERE l.grant_id = ",
            $alias,
            ".grant_id AND l.used_at IS NULL AND l.revoked_at IS NULL AND (l.expires_at IS NULL OR l.expires_at >= $1)) \
             OR EXISTS (SELECT 1 FROM grant_tokens g WHERE g.grant_id = ",
            $alias,
            ".grant_id AND g.expires_at >= $1))"
        )
    };
}

/// A kind of row that pruning deletes. `ALL` is in run order: the grant's pieces are judged by
/// what is left of the grant, so tombstones come after the families and codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prunable {
    /// Pending sign-ins (`GET /authorize`) past their lifetime.
    PendingRequests,
    /// Browser sessions past their lifetime.
    Sessions,
    /// Failed-login counters whose window has passed (the next attempt would restart them).
    LoginFailures,
    /// Opaque access tokens past their expiry.
    AccessTokens,
    /// Where tokens issued before tokens carried their `jti` are found, past their expiry.
    LegacyTokenDigests,
    /// Revoked JWT ids past the expiry of the JWT.
    RevokedJwts,
    /// Client-assertion and JWT-bearer `jti`s past the assertion's expiry (plus skew).
    UsedJtis,
    /// Signed system tokens past their timestamp window.
    SystemUserReplays,
    /// System-user tickets past their (sliding) expiry.
    SystemUserTickets,
    /// Initial access tokens for dynamic registration past their expiry.
    RegistrationTokens,
    /// What a grant issued, once the access token has expired.
    GrantTokens,
    /// Refresh tokens, a whole family (grant) at a time: every row of a grant goes once no
    /// token of it is usable. A used token must outlive its family's newest token, or its
    /// replay would no longer be recognised and would not end the family.
    RefreshFamilies,
    /// Authorization codes past their expiry: unused ones at once (they can no longer be
    /// redeemed), used ones once nothing issued from them is in use (a replay would revoke it).
    AuthorizationCodes,
    /// Revoked-grant tombstones once nothing of the grant is left to issue or refuse.
    RevokedGrants,
    /// Audit events older than the configured retention.
    AuditEvents,
    /// Links sent by email (invitations, verification, reset) past their expiry, used or not.
    EmailLinks,
    /// Passkey ceremonies that were started and never finished.
    WebauthnCeremonies,
    /// Pushed authorization requests whose request_uri was never used.
    PushedRequests,
    /// Device authorizations past their expiry, whatever became of them.
    DeviceCodes,
    /// Which apps a session signed in to, once the session has expired (an ended session's
    /// rows went when it ended).
    SessionApps,
    /// Deliveries that were delivered or given up, after the configured retention of their
    /// status (the portal shows it).
    Outbox,
    /// Redirects to a tenant's upstream provider that never came back.
    UpstreamLogins,
    /// The admin API's idempotency keys, a day after their first use.
    IdempotencyKeys,
}

impl Prunable {
    pub const ALL: [Prunable; 23] = [
        Prunable::PendingRequests,
        Prunable::Sessions,
        Prunable::LoginFailures,
        Prunable::AccessTokens,
        Prunable::LegacyTokenDigests,
        Prunable::RevokedJwts,
        Prunable::UsedJtis,
        Prunable::SystemUserReplays,
        Prunable::SystemUserTickets,
        Prunable::RegistrationTokens,
        Prunable::GrantTokens,
        Prunable::RefreshFamilies,
        Prunable::AuthorizationCodes,
        Prunable::RevokedGrants,
        Prunable::AuditEvents,
        Prunable::EmailLinks,
        Prunable::WebauthnCeremonies,
        Prunable::PushedRequests,
        Prunable::DeviceCodes,
        Prunable::SessionApps,
        Prunable::Outbox,
        Prunable::UpstreamLogins,
        Prunable::IdempotencyKeys,
    ];

    /// The table the rows are in (for logs and measurements).
    pub fn table(self) -> &'static str {
        match self {
            Prunable::PendingRequests => "authorization_requests",
            Prunable::Sessions => "sessions",
            Prunable::LoginFailures => "login_failures",
            Prunable::AccessTokens => "access_tokens",
            Prunable::LegacyTokenDigests => "legacy_token_digests",
            Prunable::RevokedJwts => "revoked_jwts",
            Prunable::UsedJtis => "used_jtis",
            Prunable::SystemUserReplays => "system_user_replays",
            Prunable::SystemUserTickets => "system_user_tickets",
            Prunable::RegistrationTokens => "registration_tokens",
            Prunable::GrantTokens => "grant_tokens",
            Prunable::RefreshFamilies => "refresh_tokens",
            Prunable::AuthorizationCodes => "authorization_codes",
            Prunable::RevokedGrants => "revoked_grants",
            Prunable::AuditEvents => "audit_events",
            Prunable::EmailLinks => "email_links",
            Prunable::WebauthnCeremonies => "webauthn_ceremonies",
            Prunable::PushedRequests => "pushed_requests",
            Prunable::DeviceCodes => "device_codes",
            Prunable::SessionApps => "session_apps",
            Prunable::Outbox => "outbox",
            Prunable::UpstreamLogins => "upstream_logins",
            Prunable::IdempotencyKeys => "api_idempotency",
        }
    }

    /// Deletes one batch: `$1` is the cutoff time, `$2` the most rows.
    fn delete_batch(self) -> &'static str {
        match self {
            Prunable::PendingRequests => {
                "DELETE FROM authorization_requests WHERE id IN \
                 (SELECT id FROM authorization_requests WHERE expires_at < $1 LIMIT $2)"
            }
            Prunable::Sessions => {
                "DELETE FROM sessions WHERE digest IN (SELECT digest FROM sessions WHERE expires_at < $1 LIMIT $2)"
            }
            Prunable::LoginFailures => {
                "DELETE FROM login_failures WHERE key IN (SELECT key FROM login_failures WHERE window_start < $1 LIMIT $2)"
            }
            Prunable::AccessTokens => {
                "DELETE FROM access_tokens WHERE jti IN (SELECT jti FROM access_tokens WHERE expires_at < $1 LIMIT $2)"
            }
            Prunable::LegacyTokenDigests => {
                "DELETE FROM legacy_token_digests WHERE digest IN \
                 (SELECT digest FROM legacy_token_digests WHERE expires_at < $1 LIMIT $2)"
            }
            Prunable::RevokedJwts => {
                "DELETE FROM revoked_jwts WHERE jti IN (SELECT jti FROM revoked_jwts WHERE expires_at < $1 LIMIT $2)"
            }
            Prunable::UsedJtis => {
                "DELETE FROM used_jtis WHERE (issuer, jti) IN \
                 (SELECT issuer, jti FROM used_jtis WHERE expires_at < $1 LIMIT $2)"
            }
            Prunable::SystemUserReplays => {
                "DELETE FROM system_user_replays WHERE digest IN \
                 (SELECT digest FROM system_user_replays WHERE expires_at < $1 LIMIT $2)"
            }
            Prunable::SystemUserTickets => {
                "DELETE FROM system_user_tickets WHERE digest IN \
                 (SELECT digest FROM system_user_tickets WHERE expires_at < $1 LIMIT $2)"
            }
            Prunable::RegistrationTokens => {
                "DELETE FROM registration_tokens WHERE digest IN \
                 (SELECT digest FROM registration_tokens WHERE expires_at < $1 LIMIT $2)"
            }
            Prunable::GrantTokens => {
                "DELETE FROM grant_tokens WHERE (grant_id, jti) IN \
                 (SELECT grant_id, jti FROM grant_tokens WHERE expires_at < $1 LIMIT $2)"
            }
            Prunable::RefreshFamilies => concat!(
                "DELETE FROM refresh_tokens WHERE digest IN (SELECT r.digest FROM refresh_tokens r \
                 WHERE (r.used_at IS NOT NULL OR r.revoked_at IS NOT NULL OR r.expires_at < $1) AND NOT ",
                grant_in_use!("r"),
                " LIMIT $2)"
            ),
            Prunable::AuthorizationCodes => concat!(
                "DELETE FROM authorization_codes WHERE digest IN (SELECT c.digest FROM authorization_codes c \
                 WHERE c.expires_at < $1 AND (c.used_at IS NULL OR NOT ",
                grant_in_use!("c"),
                ") LIMIT $2)"
            ),
            Prunable::RevokedGrants => concat!(
                "DELETE FROM revoked_grants WHERE grant_id IN (SELECT v.grant_id FROM revoked_grants v \
                 WHERE v.revoked_at < $1 \
                 AND NOT EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.grant_id = v.grant_id) \
                 AND NOT EXISTS (SELECT 1 FROM authorization_codes c WHERE c.grant_id = v.grant_id) \
                 AND NOT ",
                grant_in_use!("v"),
                " LIMIT $2)"
            ),
            Prunable::AuditEvents => {
                "DELETE FROM audit_events WHERE id IN (SELECT id FROM audit_events WHERE at < $1 LIMIT $2)"
            }
            Prunable::EmailLinks => {
                "DELETE FROM email_links WHERE digest IN (SELECT digest FROM email_links WHERE expires_at < $1 LIMIT $2)"
            }
            Prunable::WebauthnCeremonies => {
                "DELETE FROM webauthn_ceremonies WHERE key IN \
                 (SELECT key FROM webauthn_ceremonies WHERE expires_at < $1 LIMIT $2)"
            }
            Prunable::PushedRequests => {
                "DELETE FROM pushed_requests WHERE digest IN \
                 (SELECT digest FROM pushed_requests WHERE expires_at < $1 LIMIT $2)"
            }
            Prunable::DeviceCodes => {
                "DELETE FROM device_codes WHERE id IN (SELECT id FROM device_codes WHERE expires_at < $1 LIMIT $2)"
            }
            Prunable::SessionApps => {
                "DELETE FROM session_apps WHERE (sid, app_id) IN \
                 (SELECT sid, app_id FROM session_apps WHERE expires_at < $1 LIMIT $2)"
            }
            Prunable::Outbox => {
                "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox \
                 WHERE COALESCE(delivered_at, abandoned_at) < $1 LIMIT $2)"
            }
            Prunable::UpstreamLogins => {
                "DELETE FROM upstream_logins WHERE state_digest IN \
                 (SELECT state_digest FROM upstream_logins WHERE expires_at < $1 LIMIT $2)"
            }
            Prunable::IdempotencyKeys => {
                "DELETE FROM api_idempotency WHERE (client_id, key) IN \
                 (SELECT client_id, key FROM api_idempotency WHERE created_at < $1 LIMIT $2)"
            }
        }
    }
}

impl Store {
    /// Deletes at most `limit` rows of one kind whose time is before `cutoff`; returns how many.
    pub async fn prune_batch(&self, what: Prunable, cutoff: i64, limit: i64) -> sqlx::Result<u64> {
        let sql = what.delete_batch();
        on_write!(self, pool => Ok(sqlx::query(sql).bind(cutoff).bind(limit).execute(pool).await?.rows_affected()))
    }

    /// Takes this period's pruning run: true for the one instance whose conditional UPDATE moved
    /// the lease from a time at or before `now` to `next_run_at`. The others see the new time
    /// and skip, so several instances prune once per period between them.
    pub async fn claim_prune_lease(&self, now: i64, next_run_at: i64) -> sqlx::Result<bool> {
        const SQL: &str = "UPDATE prune_lease SET next_run_at = $2 WHERE name = 'prune' AND next_run_at <= $1";
        on_write!(self, pool => Ok(sqlx::query(SQL).bind(now).bind(next_run_at).execute(pool).await?.rows_affected() == 1))
    }
}
