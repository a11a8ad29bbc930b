//! Approvals: a tenant administrator's decision about an app for the whole tenant (approve,
//! deny, revoke), and the admission rule built on it (private apps admit only their partner's
//! tenants). It sits above both `apps` and `tenants`, because it is about the two together.

use serde_json::json;

use crate::apps::{Access, App, Entitlement};
use crate::clock::Clock;
use crate::error::Result;
use crate::store::approvals::Approval;
use crate::store::audit::AuditEvent;
use crate::store::outbox::WebhookEvent;
use crate::store::Store;
use crate::tenants::{Directory, Tenant};

/// How an approval ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Revoked,
    Denied,
}

impl End {
    pub const fn as_str(self) -> &'static str {
        match self {
            End::Revoked => "revoked",
            End::Denied => "denied",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Approvals {
    store: Store,
    clock: Clock,
    directory: Directory,
    /// Woken when a decision queued webhook events, so this instance sends them at once.
    queued: std::sync::Arc<tokio::sync::Notify>,
}

impl Approvals {
    pub fn new(
        store: Store,
        clock: Clock,
        directory: Directory,
        queued: std::sync::Arc<tokio::sync::Notify>,
    ) -> Approvals {
        Approvals { store, clock, directory, queued }
    }

    /// A tenant administrator's (or the CLI's) approval of an app for the whole tenant. An app
    /// with the system-token entitlement gets its system token for this tenant here.
    pub async fn approve(&self, tenant_ctx: &str, app: &App, approver: Option<&str>, actor: &str) -> Result<()> {
        let tenant = self.directory.tenant(tenant_ctx).await?;
        let now = self.clock.now();
        let entitlements: Vec<&str> = app.active_entitlements().map(|e| e.as_str()).collect();
        let wants_token = app.active_entitlements().any(|e| e == Entitlement::SystemToken);
        let token = wants_token.then(|| system_token_for(&app.name));
        let event = AuditEvent::new(
            now,
            actor,
            "app.approved",
            tenant_ctx,
            json!({ "client_id": app.client_id, "approver": approver }),
        );
        let joined = entitlements.join(" ");
        let approval = Approval { approver, entitlements: &joined, system_token: token.as_deref() };
        let webhook = WebhookEvent::new(
            "approval.granted",
            tenant_ctx,
            now,
            json!({ "client_id": app.client_id, "tenant": tenant_ctx, "tenant_name": tenant.name, "entitlements": entitlements }),
        );
        self.store.approve_app(&app.id, &tenant.id, &approval, now, &event, &webhook).await?;
        self.queued.notify_one();
        Ok(())
    }

    /// Ends an app's approval in a tenant (`revoked`) or refuses it (`denied`): its refresh
    /// tokens and system token there end too.
    pub async fn end(&self, tenant_ctx: &str, app: &App, status: End, actor: &str) -> Result<()> {
        let tenant = self.directory.tenant(tenant_ctx).await?;
        let now = self.clock.now();
        let action = match status {
            End::Revoked => "app.revoked",
            End::Denied => "app.denied",
        };
        let event = AuditEvent::new(now, actor, action, tenant_ctx, json!({ "client_id": app.client_id }));
        let kind = match status {
            End::Revoked => "approval.revoked",
            End::Denied => "approval.denied",
        };
        let webhook =
            WebhookEvent::new(kind, tenant_ctx, now, json!({ "client_id": app.client_id, "tenant": tenant_ctx }));
        self.store.set_authorization_status(&app.id, &tenant.id, status.as_str(), now, &event, &webhook).await?;
        self.queued.notify_one();
        Ok(())
    }

    /// May users of `tenant` use `app`? The tenant must be running and have approved the app;
    /// a private app admits only tenants its own partner owns (DESIGN §1).
    pub async fn admits(&self, app: &App, tenant: &Tenant) -> Result<bool> {
        if tenant.status != "running" {
            return Ok(false);
        }
        if app.access == Access::Private && tenant.owner_partner_id.as_deref() != Some(app.partner_id.as_str()) {
            return Ok(false);
        }
        // A custom app serves the one tenant it was made for, whatever else approves it.
        if app.custom_tenant_id.as_deref().is_some_and(|own| own != tenant.id) {
            return Ok(false);
        }
        Ok(self.store.authorization_status(&app.id, &tenant.id).await?.as_deref() == Some("approved"))
    }
}

/// A new system token in SuperID's documented shape, `<Application Name>-<random>`. The name
/// is only a label (the random part is what is secret); dots and spaces in it are harmless, as
/// a signed system token is split on its last two dots.
pub fn system_token_for(app_name: &str) -> String {
    let label: String = app_name.chars().filter(|c| !c.is_control()).take(64).collect();
    format!("{}-{}", label.trim(), crate::crypto::random_token())
}
