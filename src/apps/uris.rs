//! An app's exact URI lists: redirect, post-logout, CORS origins and resource indicators.

use serde_json::json;

use super::*;
use crate::error::{Error, Result};
use crate::store::audit::AuditEvent;

impl Registry {
    /// Adds a URI to a list after checking it with the same rules as registration.
    pub async fn add_uri(&self, client_id: &str, kind: UriKind, uri: &str, actor: &str) -> Result<App> {
        let app = self.get(client_id).await?;
        if app.uris(kind).len() >= max_uris(kind) {
            return Err(Error::conflict(format!(
                "an app may register at most {} {} URIs",
                max_uris(kind),
                kind.as_str()
            )));
        }
        check_uri_list(kind, &[uri.to_string()], app.loopback_any_port)?;
        if kind == UriKind::Resource {
            self.claim_resource(&app, uri, actor).await?;
        }
        let now = self.clock.now();
        let event =
            AuditEvent::new(now, actor, "app.uri_added", client_id, json!({ "kind": kind.as_str(), "uri": uri }));
        if !self.store.add_app_uri(&app.id, kind.as_str(), uri, now, &event).await? {
            return Err(Error::conflict(format!("'{uri}' is already registered")));
        }
        self.forget_authentications(client_id);
        self.get(client_id).await
    }

    pub async fn remove_uri(&self, client_id: &str, kind: UriKind, uri: &str, actor: &str) -> Result<App> {
        let app = self.get(client_id).await?;
        let event = AuditEvent::new(
            self.clock.now(),
            actor,
            "app.uri_removed",
            client_id,
            json!({ "kind": kind.as_str(), "uri": uri }),
        );
        if !self.store.remove_app_uri(&app.id, kind.as_str(), uri, self.clock.now(), &event).await? {
            return Err(Error::not_found(format!("{} URI '{uri}'", kind.as_str())));
        }
        self.forget_authentications(client_id);
        self.get(client_id).await
    }
}

/// Checks every URI of a list; the first bad one is named, and nothing is stored.
pub(super) fn check_uri_list(kind: UriKind, uris: &[String], native: bool) -> Result<()> {
    if uris.len() > max_uris(kind) {
        return Err(Error::conflict(format!("an app may register at most {} {} URIs", max_uris(kind), kind.as_str())));
    }
    let field = match kind {
        UriKind::Redirect => "redirect_uri",
        UriKind::PostLogout => "post_logout_redirect_uri",
        UriKind::Cors => "cors_origin",
        UriKind::Resource => "resource",
        UriKind::BackchannelLogout => "backchannel_logout_uri",
    };
    for (i, uri) in uris.iter().enumerate() {
        if uris[..i].contains(uri) {
            return Err(Error::invalid(field, format!("'{uri}' is listed twice")));
        }
        let checked = match kind {
            UriKind::Cors => redirect_uri::validate_origin(uri),
            // OIDC Back-Channel Logout §2.2: absolute, no fragment; we also want https (or
            // loopback http), as for redirect URIs: the logout token travels in the body.
            UriKind::Resource | UriKind::BackchannelLogout => redirect_uri::validate(uri, false),
            _ => redirect_uri::validate(uri, native),
        };
        checked.map_err(|why| Error::invalid(field, format!("'{uri}' {why}")))?;
    }
    Ok(())
}

/// Most URIs of `kind`: one logout endpoint, `MAX_URIS` of every list.
fn max_uris(kind: UriKind) -> usize {
    match kind {
        UriKind::BackchannelLogout => 1,
        _ => MAX_URIS,
    }
}
