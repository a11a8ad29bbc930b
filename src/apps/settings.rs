//! An app's token settings and access (private or public).

use serde_json::json;

use super::*;
use crate::error::{Error, Result};
use crate::store::apps::TokenSettingsRow;
use crate::store::audit::AuditEvent;

impl Registry {
    /// Changes how the app's access tokens are made. `signing_alg` must be one the server
    /// keeps keys for (`allowed_algs`).
    pub async fn set_token_settings(
        &self,
        client_id: &str,
        t: TokenSettings<'_>,
        allowed_algs: &[&str],
        actor: &str,
    ) -> Result<App> {
        let app = self.get(client_id).await?;
        if let Some(alg) = t.signing_alg {
            if !allowed_algs.contains(&alg) {
                return Err(Error::invalid(
                    "signing-alg",
                    format!("'{alg}' is not one of: {}", allowed_algs.join(", ")),
                ));
            }
        }
        if t.access_token_ttl.is_some_and(|ttl| !(60..=86_400).contains(&ttl)) {
            return Err(Error::invalid("access-token-ttl", "must be between 60 and 86400 seconds"));
        }
        // RFC 9700 §4.14.2: a public client's refresh tokens MUST be sender-constrained or
        // rotate; we do not sender-constrain, so they always rotate.
        if t.refresh_mode == Some(RefreshMode::LongLived) && app.client_type == ClientType::Public {
            return Err(Error::invalid(
                "refresh-mode",
                "public clients (native and browser apps) cannot have long-lived refresh tokens; they rotate",
            ));
        }
        if t.refresh_grace_secs.is_some_and(|g| g > MAX_REFRESH_GRACE) {
            return Err(Error::invalid("refresh-grace", format!("must be between 0 and {MAX_REFRESH_GRACE} seconds")));
        }
        // RFC 9700 §2.1.1: public clients MUST use PKCE.
        if t.require_pkce == Some(false) && app.client_type == ClientType::Public {
            return Err(Error::invalid("pkce", "public clients (native and browser apps) always use PKCE"));
        }
        let row = TokenSettingsRow {
            token_format: t.format.map(|f| f.as_str()),
            signing_alg: t.signing_alg,
            access_token_ttl: t.access_token_ttl,
            refresh_mode: t.refresh_mode.map(|m| m.as_str()),
            refresh_grace_secs: t.refresh_grace_secs,
            require_pkce: t.require_pkce,
            require_par: t.require_par,
            require_dpop: t.require_dpop,
        };
        let now = self.clock.now();
        let detail = json!({
            "token_format": row.token_format,
            "signing_alg": row.signing_alg,
            "access_token_ttl": row.access_token_ttl,
            "refresh_mode": row.refresh_mode,
            "refresh_grace_secs": row.refresh_grace_secs,
            "require_pkce": row.require_pkce,
            "require_par": row.require_par,
            "require_dpop": row.require_dpop,
        });
        let event = AuditEvent::new(now, actor, "app.token_settings_changed", client_id, detail);
        self.store.update_token_settings(&app.id, &row, now, &event).await?;
        self.forget_authentications(client_id);
        self.get(client_id).await
    }

    /// Private (the partner's own tenants) or public (any tenant that approves it).
    pub async fn set_access(&self, client_id: &str, access: Access, actor: &str) -> Result<App> {
        let app = self.get(client_id).await?;
        let now = self.clock.now();
        let event = AuditEvent::new(now, actor, "app.access_changed", client_id, json!({ "access": access.as_str() }));
        self.store.set_app_access(&app.id, access.as_str(), now, &event).await?;
        self.forget_authentications(client_id);
        self.get(client_id).await
    }
}
