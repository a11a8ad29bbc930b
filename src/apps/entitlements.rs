//! An app's entitlements (integration points): restricted ones wait for the platform's
//! decision, and some ask approving tenants to approve again.

use serde_json::json;

use super::*;
use crate::error::{Error, Result};
use crate::store::audit::AuditEvent;
use crate::store::outbox::WebhookEvent;

impl Registry {
    /// Adds an integration point. Restricted ones wait as pending; ones that change what the
    /// app can do in a tenant put every approving tenant into *needs re-approval*.
    pub async fn add_entitlement(
        &self,
        client_id: &str,
        entitlement: Entitlement,
        justification: Option<&str>,
        actor: &str,
    ) -> Result<App> {
        let app = self.get(client_id).await?;
        let status = if entitlement.needs_approval() { EntitlementStatus::Pending } else { EntitlementStatus::Active };
        let now = self.clock.now();
        let event = AuditEvent::new(
            now,
            actor,
            "app.entitlement_added",
            client_id,
            json!({ "entitlement": entitlement.as_str(), "status": status.as_str() }),
        );
        if !self
            .store
            .insert_entitlement(&app.id, entitlement.as_str(), status.as_str(), justification, now, &event)
            .await?
        {
            return Err(Error::conflict(format!("the app already has '{}'", entitlement.as_str())));
        }
        if entitlement.needs_tenant_reapproval() {
            self.store
                .require_reapproval(&app.id, now, |tenants| reapproval_event(&app.client_id, entitlement, tenants, now))
                .await?;
        }
        self.forget_authentications(client_id);
        self.get(client_id).await
    }

    /// A platform administrator's decision on a pending restricted entitlement.
    pub async fn decide_entitlement(
        &self,
        client_id: &str,
        entitlement: Entitlement,
        approve: bool,
        decided_by: &str,
    ) -> Result<App> {
        let app = self.get(client_id).await?;
        let status = if approve { EntitlementStatus::Active } else { EntitlementStatus::Rejected };
        let now = self.clock.now();
        let event = AuditEvent::new(
            now,
            decided_by,
            if approve { "app.entitlement_approved" } else { "app.entitlement_rejected" },
            client_id,
            json!({ "entitlement": entitlement.as_str() }),
        );
        if !self
            .store
            .decide_entitlement(&app.id, entitlement.as_str(), status.as_str(), decided_by, now, &event)
            .await?
        {
            return Err(Error::conflict(format!("'{}' is not waiting for a decision", entitlement.as_str())));
        }
        if approve && entitlement.needs_tenant_reapproval() {
            self.store
                .require_reapproval(&app.id, now, |tenants| reapproval_event(&app.client_id, entitlement, tenants, now))
                .await?;
        }
        self.forget_authentications(client_id);
        self.get(client_id).await
    }
}

/// The webhook event of tenants asked to approve an app again (it gained `entitlement`).
fn reapproval_event(client_id: &str, entitlement: Entitlement, tenants: &[String], now: i64) -> WebhookEvent {
    let data = json!({ "client_id": client_id, "entitlement": entitlement.as_str(), "tenants": tenants });
    WebhookEvent::new("approval.needs_reapproval", client_id, now, data)
}
