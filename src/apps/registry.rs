//! Creating and deleting apps: every input is checked before anything is written.

use serde_json::json;

use super::uris::check_uri_list;
use super::*;
use crate::crypto::random_id;
use crate::error::{Error, Result};
use crate::store::apps::{AppRow, EntitlementRow, NewAppRows, NewSecretRow, UriRow};
use crate::store::audit::AuditEvent;
use crate::store::is_unique_violation;
use crate::tenants::check_name;

impl Registry {
    /// Creates an app from a template. Every input is checked before anything is written, and
    /// the app, its URIs, entitlements, first secret and audit event commit together.
    pub async fn create(&self, new: NewApp, actor: &str) -> Result<CreatedApp> {
        self.create_with(new, &AppOverrides::default(), actor).await
    }

    /// Creates an app from a template with some defaults replaced (dynamic registration).
    pub async fn create_with(&self, new: NewApp, overrides: &AppOverrides, actor: &str) -> Result<CreatedApp> {
        let name = check_name("name", &new.name)?;
        let defaults = new.template.defaults();
        let native = defaults.loopback_any_port;
        check_uri_list(UriKind::Redirect, &new.redirect_uris, native)?;
        check_uri_list(UriKind::PostLogout, &overrides.post_logout_redirect_uris, native)?;
        let backchannel: Vec<String> = overrides.backchannel_logout_uri.iter().cloned().collect();
        check_uri_list(UriKind::BackchannelLogout, &backchannel, false)?;
        let client_type = overrides.client_type.unwrap_or(defaults.client_type);
        let grant_types = overrides.grant_types.clone().unwrap_or_else(|| defaults.grant_types.to_vec());
        if self.store.partner(&new.partner_id).await?.is_none() {
            return Err(Error::not_found(format!("partner '{}'", new.partner_id)));
        }
        let now = self.clock.now();
        let app = AppRow {
            id: random_id(),
            client_id: random_id(),
            partner_id: new.partner_id,
            name,
            template: new.template.as_str().into(),
            kind: if overrides.custom_tenant_id.is_some() { AppKind::Custom } else { AppKind::Standard }
                .as_str()
                .into(),
            custom_tenant_id: overrides.custom_tenant_id.clone(),
            access: new.access.as_str().into(),
            client_type: client_type.as_str().into(),
            grant_types: grant_types.iter().map(|g| g.as_str()).collect::<Vec<_>>().join(" "),
            loopback_any_port: native,
            require_pkce: true,
            allow_plain_pkce: false,
            require_par: overrides.require_par,
            require_dpop: overrides.require_dpop,
            token_format: TokenFormat::Jwt.as_str().into(),
            access_token_ttl: None,
            refresh_mode: RefreshMode::Rotating.as_str().into(),
            signing_alg: overrides.signing_alg.clone().unwrap_or_else(|| "RS256".into()),
            technical_contact: new.technical_contact,
            jwks_uri: overrides.jwks_uri.clone(),
            refresh_grace_secs: None,
            token_auth_method: overrides.token_auth_method.clone(),
            created_at: now,
            updated_at: now,
            revision: 0,
        };
        let uris: Vec<UriRow> = new
            .redirect_uris
            .iter()
            .map(|u| UriRow { kind: UriKind::Redirect.as_str().into(), uri: u.clone() })
            .chain(
                overrides
                    .post_logout_redirect_uris
                    .iter()
                    .map(|u| UriRow { kind: UriKind::PostLogout.as_str().into(), uri: u.clone() }),
            )
            .chain(
                backchannel.iter().map(|u| UriRow { kind: UriKind::BackchannelLogout.as_str().into(), uri: u.clone() }),
            )
            .collect();
        let chosen = overrides.entitlements.as_deref().unwrap_or(defaults.entitlements);
        let entitlements: Vec<EntitlementRow> = chosen
            .iter()
            .map(|e| EntitlementRow {
                entitlement: e.as_str().into(),
                status: if e.needs_approval() { EntitlementStatus::Pending } else { EntitlementStatus::Active }
                    .as_str()
                    .into(),
                justification: if e.needs_approval() { new.justification.clone() } else { None },
            })
            .collect();
        let uses_secret = client_type == ClientType::Confidential
            && overrides.token_auth_method.as_deref().is_none_or(|m| m.starts_with("client_secret_"));
        let issued = uses_secret.then(client_secret::generate);
        let secret_row = issued.as_ref().map(|s| NewSecretRow {
            id: random_id(),
            digest: s.digest.to_vec(),
            hint: s.hint.clone(),
            expires_at: None,
        });
        let event = AuditEvent::new(
            now,
            actor,
            "app.created",
            &app.client_id,
            json!({ "template": app.template, "name": app.name, "partner_id": app.partner_id }),
        );
        let rows = NewAppRows {
            app: &app,
            uris: &uris,
            entitlements: &entitlements,
            secret: secret_row.as_ref(),
            creation_key: overrides.creation_key.as_deref(),
        };
        self.store.insert_app(rows, &event).await.map_err(|e| {
            if is_unique_violation(&e) && overrides.creation_key.is_some() {
                Error::conflict("this app was already created")
            } else {
                e.into()
            }
        })?;
        let app = self.get(&app.client_id).await?;
        let client_secret =
            issued.zip(secret_row).map(|(s, row)| IssuedSecret { id: row.id, secret: s.value, expires_at: None });
        Ok(CreatedApp { app, client_secret })
    }

    /// Deletes the app with its secrets, certificates, tokens and authorization records.
    pub async fn delete(&self, client_id: &str, actor: &str) -> Result<()> {
        let app = self.get(client_id).await?;
        let event = AuditEvent::new(
            self.clock.now(),
            actor,
            "app.deleted",
            client_id,
            json!({ "name": app.name, "partner_id": app.partner_id }),
        );
        self.remove(&app.id, client_id, &event).await
    }

    /// Deletes an app already looked up (by `delete`, or by its registration access token) and
    /// forgets its remembered authentications. Other instances find it gone at their next
    /// check: a remembered authentication is only used after re-reading the app's revision.
    pub async fn remove(&self, app_id: &str, client_id: &str, event: &AuditEvent) -> Result<()> {
        // Before and after the commit, as for a revoked secret.
        self.forget_authentications(client_id);
        self.store.delete_app(app_id, event).await?;
        self.forget_authentications(client_id);
        Ok(())
    }
}
