//! Resource servers (RFC 8707 resource indicators) and which apps may ask tokens for them.

use serde_json::json;

use super::*;
use crate::error::{Error, Result};
use crate::store::audit::AuditEvent;
use crate::store::is_unique_violation;
use crate::store::resources::ResourceServerRow;
use crate::tenants::check_name;

impl Registry {
    /// Registers a resource server (an API tokens may be issued for): owned by a partner, or a
    /// platform API when `owner_partner_id` is `None` (the CLI is the operator's; the portal
    /// lets a partner register only its own).
    pub async fn register_resource_server(
        &self,
        identifier: &str,
        name: &str,
        owner_partner_id: Option<&str>,
        actor: &str,
    ) -> Result<ResourceServerRow> {
        redirect_uri::validate_resource(identifier).map_err(|why| Error::invalid("identifier", why))?;
        let name = check_name("name", name)?;
        if let Some(p) = owner_partner_id {
            if self.store.partner(p).await?.is_none() {
                return Err(Error::not_found(format!("partner '{p}'")));
            }
        }
        let row = ResourceServerRow {
            identifier: identifier.to_string(),
            name,
            owner_partner_id: owner_partner_id.map(str::to_string),
            created_at: self.clock.now(),
        };
        let event = AuditEvent::new(
            row.created_at,
            actor,
            "resource_server.registered",
            identifier,
            json!({ "owner_partner_id": row.owner_partner_id }),
        );
        self.store.insert_resource_server(&row, &event).await.map_err(|e| {
            if is_unique_violation(&e) {
                Error::conflict(format!("a resource server '{identifier}' is already registered"))
            } else {
                e.into()
            }
        })?;
        Ok(row)
    }

    /// Lets an app ask for tokens for a resource server its partner does not own.
    pub async fn grant_resource(&self, identifier: &str, client_id: &str, actor: &str) -> Result<()> {
        let app = self.get(client_id).await?;
        if self.store.resource_server(identifier).await?.is_none() {
            return Err(Error::not_found(format!("resource server '{identifier}'")));
        }
        let now = self.clock.now();
        let event =
            AuditEvent::new(now, actor, "resource_server.granted", client_id, json!({ "identifier": identifier }));
        self.store.grant_resource(identifier, &app.id, actor, now, &event).await?;
        Ok(())
    }

    /// A resource an app lists (the portal's "APIs" list) is an API of the app's partner: the
    /// first listing registers it as the partner's; one that belongs to another partner or to
    /// the platform is refused unless it was granted to this app (audiences have owners).
    pub(super) async fn claim_resource(&self, app: &App, uri: &str, actor: &str) -> Result<()> {
        if self.store.may_use_resource(uri, &app.id, &app.partner_id).await? {
            return Ok(());
        }
        if self.store.resource_server(uri).await?.is_some() {
            return Err(Error::conflict(format!(
                "'{uri}' is another partner's or a platform API; its owner or a platform administrator must grant it to this app"
            )));
        }
        let name = format!("API at {uri}").chars().take(100).collect::<String>();
        match self.register_resource_server(uri, &name, Some(&app.partner_id), actor).await {
            // Registered in the meantime by its owner: the same refusal.
            Err(Error::Conflict(_)) => Err(Error::conflict(format!("'{uri}' is already another owner's API"))),
            other => other.map(|_| ()),
        }
    }
}
