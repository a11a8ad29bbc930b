//! The first run: while nobody is a platform administrator, `gatehouse serve` logs a
//! single-use link to `/setup`, whose page creates the first administrator, their partner and
//! their tenant.

use serde_json::json;

use super::people::{dead_link, People, Purpose, SETUP_TTL};
use super::{check_name, normalise_email, User};
use crate::crypto::sha256;
use crate::error::{Error, Result};
use crate::secret::Secret;
use crate::store::audit::AuditEvent;
use crate::store::email_links::LinkRow;

/// What the first-run page asks for: the first platform administrator, their partner (the
/// company that builds apps) and their tenant.
pub struct FirstAdmin<'a> {
    pub name: &'a str,
    pub email: &'a str,
    pub password: Secret<String>,
    pub partner: &'a str,
    pub ctx: &'a str,
    pub tenant: &'a str,
}

impl People {
    /// While nobody is a platform administrator: a new single-use setup link, for the serve log.
    pub async fn setup_link(&self) -> Result<Option<String>> {
        if self.store.platform_admin_exists().await? {
            return Ok(None);
        }
        let now = self.clock.now();
        let row = LinkRow {
            purpose: Purpose::Setup.as_str().into(),
            email: String::new(),
            user_id: None,
            tenant_id: None,
            partner_id: None,
            is_admin: false,
            created_by: "serve".into(),
            created_at: now,
            expires_at: now + SETUP_TTL,
        };
        let event = AuditEvent::new(now, "serve", "setup.link_created", "setup", json!({}));
        Ok(Some(self.make_link(Purpose::Setup, row, &event).await?.1))
    }

    /// Whether a setup token can still be used.
    pub async fn setup_is_live(&self, token: &str) -> Result<()> {
        if self.store.platform_admin_exists().await? {
            return Err(dead_link());
        }
        self.live(Purpose::Setup, token).await.map(|_| ())
    }

    /// Uses the setup link: the first platform administrator, administrator of a new tenant and
    /// developer of a new partner. Everything is checked before the link is spent.
    pub async fn setup(&self, token: &str, first: FirstAdmin<'_>) -> Result<User> {
        let name = check_name("name", first.name)?;
        let email = normalise_email(first.email)?;
        super::password::check_policy(first.password.expose())?;
        let partner_name = check_name("partner", first.partner)?;
        super::check_ctx(first.ctx)?;
        let tenant_name = check_name("tenant name", first.tenant)?;
        self.setup_is_live(token).await?;
        if self.store.tenant_by_ctx(first.ctx).await?.is_some() {
            return Err(Error::conflict(format!("a tenant '{}' exists already", first.ctx)));
        }
        if self.store.user_by_email(&email).await?.is_some() {
            return Err(Error::conflict(format!("{email} has an account already")));
        }
        self.store
            .spend_email_link(&sha256(token.as_bytes()), Purpose::Setup.as_str(), self.clock.now())
            .await?
            .ok_or_else(dead_link)?;
        let partner = self.directory.add_partner(&partner_name, "setup").await?;
        self.directory.add_tenant(first.ctx, &tenant_name, None, Some(&partner.id), "setup").await?;
        self.directory.add_user(&email, Some(&name), first.ctx, true, first.password, "setup").await?;
        self.directory.add_partner_member(&partner.id, &email, "setup").await?;
        self.directory.set_platform_admin(&email, true).await
    }
}
