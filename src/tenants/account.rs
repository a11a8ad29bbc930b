//! A person's own account (`/account`): their name and password, their live sessions, the
//! apps they have allowed, and what happened to the account. Everything acts on the signed-in
//! person only; the caller passes who that is.

use serde_json::json;

use super::people::People;
use super::{check_name, User};
use crate::error::{Error, Result};
use crate::secret::Secret;
use crate::store::account::{AllowedApp, SessionView};
use crate::store::audit::AuditEvent;

impl People {
    pub async fn sessions(&self, user: &User) -> Result<Vec<(Vec<u8>, SessionView)>> {
        Ok(self.store.sessions_of(&user.id, self.clock.now()).await?)
    }

    /// Signs one of the person's sessions out (on another device, say), named by its id.
    pub async fn end_session(&self, user: &User, id: &str) -> Result<()> {
        let sessions = self.sessions(user).await?;
        let Some((digest, _)) = sessions.iter().find(|(_, s)| s.id == id) else {
            return Err(Error::not_found("that session"));
        };
        let event = AuditEvent::new(self.clock.now(), &user.id, "user.session_ended", &user.id, json!({}));
        self.store.end_session_of(&user.id, digest, &event).await?;
        Ok(())
    }

    pub async fn allowed_apps(&self, user: &User) -> Result<Vec<AllowedApp>> {
        Ok(self.store.allowed_apps(&user.id).await?)
    }

    /// Takes back what the person allowed an app: it must ask again, and what it holds ends.
    pub async fn revoke_app(&self, user: &User, client_id: &str) -> Result<()> {
        let apps = self.allowed_apps(user).await?;
        let Some(app) = apps.iter().find(|a| a.client_id == client_id) else {
            return Err(Error::not_found(format!("an app '{client_id}' you allowed")));
        };
        let now = self.clock.now();
        let event = AuditEvent::new(now, &user.id, "user.app_revoked", &user.id, json!({ "client_id": client_id }));
        self.store.revoke_app_access(&user.id, &app.app_id, now, &event).await?;
        Ok(())
    }

    /// A new password (the caller has checked the current one, through the sign-in
    /// throttle): the person's other sessions and refresh tokens end; `keep` is the session
    /// that changed it.
    pub async fn change_password(&self, user: &User, new: Secret<String>, keep: &[u8]) -> Result<()> {
        let hash = self.directory.hash_password(new).await?;
        let now = self.clock.now();
        let event = AuditEvent::new(now, &user.id, "user.password_changed", &user.id, json!({}));
        self.store.change_password(&user.id, &hash, keep, now, &event).await?;
        Ok(())
    }

    pub async fn rename(&self, user: &User, name: &str) -> Result<()> {
        let name = check_name("name", name)?;
        let event = AuditEvent::new(self.clock.now(), &user.id, "user.renamed", &user.id, json!({ "name": name }));
        self.store.rename_user(&user.id, &name, &event).await?;
        Ok(())
    }

    pub async fn security_events(&self, user: &User) -> Result<Vec<AuditEvent>> {
        Ok(self.store.security_events(&user.id, 20).await?)
    }
}
