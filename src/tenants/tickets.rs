//! SuperID tickets: the opaque `7T:` credential a system user gets with its JWT (claim
//! `http://schemes.superoffice.net/identity/ticket`), which tenant APIs take as `SOTicket`.
//! Stored as a digest; valid six hours from its last use (sliding, as SuperOffice documents),
//! never beyond an absolute end; it ends with the tenant's approval of the app.

use crate::crypto::{random_token, sha256};
use crate::error::Result;
use crate::store::system_users::TicketRow;

use super::Directory;

/// Every ticket starts with this, as SuperOffice's do.
pub const PREFIX: &str = "7T:";
/// A ticket lives this long after its last use.
pub const SLIDING_SECS: i64 = 6 * 3600;
/// And never longer than this after it was issued, however often it is used.
pub const MAX_LIFETIME_SECS: i64 = 7 * 86_400;
/// A use moves the expiry only when it has fallen this far behind, so a busy ticket costs
/// one write a minute rather than one per use.
const SLIDE_STEP_SECS: i64 = 60;

impl Directory {
    /// Issues a ticket for an app's system user in a tenant; the value is returned once.
    pub async fn issue_ticket(&self, app_id: &str, tenant_id: &str) -> Result<String> {
        let now = self.clock.now();
        let ticket = format!("{PREFIX}{}", random_token());
        self.store
            .insert_ticket(
                &sha256(ticket.as_bytes()),
                app_id,
                tenant_id,
                now,
                now + SLIDING_SECS,
                now + MAX_LIFETIME_SECS,
            )
            .await?;
        Ok(ticket)
    }

    /// The ticket, if it still works; a use slides its expiry.
    pub async fn use_ticket(&self, ticket: &str) -> Result<Option<TicketRow>> {
        if !ticket.starts_with(PREFIX) {
            return Ok(None);
        }
        let now = self.clock.now();
        let digest = sha256(ticket.as_bytes());
        let Some(mut row) = self.store.active_ticket(&digest, now).await? else { return Ok(None) };
        let slid = (now + SLIDING_SECS).min(row.ends_at);
        if slid - row.expires_at >= SLIDE_STEP_SECS {
            self.store.slide_ticket(&digest, slid).await?;
            row.expires_at = slid;
        }
        Ok(Some(row))
    }

    /// Revokes a ticket for the app it was issued to; false when it was not that app's.
    pub async fn revoke_ticket(&self, ticket: &str, app_id: &str) -> Result<bool> {
        Ok(self.store.revoke_ticket(&sha256(ticket.as_bytes()), app_id, self.clock.now()).await?)
    }
}
