//! Passkeys: WebAuthn credentials a person registers, used as the second factor after a
//! password or alone (a discoverable credential with user verification, which is two factors by
//! itself). The relying-party checks (challenge, origin, RP ID hash, user presence and
//! verification, signature, counter) are passki's, on aws-lc-rs (docs/decisions/0020); what is
//! ours is whose credential it is, which ceremony it answers, and that each answer counts once.
//!
//! A ceremony's state lives in the database under a key the caller names (a pending sign-in,
//! a person, a session): starting again replaces it, finishing takes it, so any instance can
//! finish what another started and a challenge is answered once.

use std::sync::Arc;

use passki::{
    AuthenticationCredential, AuthenticationOptions, AuthenticationState, Passki, RegistrationCredential,
    RegistrationOptions, RegistrationState, ResidentKeyRequirement, StoredPasskey, UserVerificationRequirement,
};
use serde_json::json;

use super::factors::Factors;
use super::User;
use crate::error::{Error, Result};
use crate::store::audit::AuditEvent;
use crate::store::passkeys::PasskeyRow;

/// RFC 8176 `amr` of a sign-in with a passkey alone: a hardware-bound key (`hwk`) unlocked by
/// the person (`user`: biometrics or PIN, the authenticator's user verification), two factors.
pub const AMR_PASSKEY: &str = "hwk user mfa";
/// A password and then a passkey.
pub const AMR_PASSWORD_PASSKEY: &str = "pwd hwk mfa";
/// How long a started ceremony can be finished (the browser's own timeout is a minute).
pub const CEREMONY_TTL: i64 = 5 * 60;
/// WebAuthn's timeout hint to the browser, in milliseconds.
const TIMEOUT_MS: u64 = 120_000;

/// The relying party: passki configured with the issuer's host as RP ID and its origin as the
/// one origin assertions may come from.
#[derive(Clone)]
pub struct RelyingParty(Arc<Passki>);

impl std::fmt::Debug for RelyingParty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelyingParty").field("rp_id", &self.0.rp_id).field("origins", &self.0.rp_origins).finish()
    }
}

impl RelyingParty {
    pub fn for_issuer(issuer: &str) -> RelyingParty {
        let url = url::Url::parse(issuer).ok();
        let host = url.as_ref().and_then(|u| u.host_str()).unwrap_or("localhost").to_string();
        let origin = url.map(|u| u.origin().ascii_serialization()).unwrap_or_default();
        RelyingParty(Arc::new(Passki::new(&host, &[origin], "Gatehouse")))
    }
}

/// A passkey as the account page lists it.
#[derive(Debug, Clone)]
pub struct PasskeyView {
    pub id: String,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// A registration answer that passed every check, not saved yet; `user_id` is the person the
/// ceremony was started for.
#[derive(Debug)]
pub struct NewPasskey {
    pub user_id: String,
    stored: StoredPasskey,
}

/// Who an accepted assertion signed in, and with what (`amr`).
#[derive(Debug, Clone)]
pub struct Assertion {
    pub user_id: String,
    pub amr: &'static str,
}

/// Why a passkey answer was refused; the page says so, and the log names the check.
fn refused(why: impl std::fmt::Display) -> Error {
    tracing::info!(reason = %why, "a passkey answer was refused");
    Error::invalid("passkey", "could not be used here; try again, or use another way to sign in")
}

impl Factors {
    pub async fn passkeys(&self, user_id: &str) -> Result<Vec<PasskeyView>> {
        Ok(self
            .store
            .passkeys_of(user_id)
            .await?
            .into_iter()
            .map(|p| PasskeyView { id: p.id, name: p.name, created_at: p.created_at, last_used_at: p.last_used_at })
            .collect())
    }

    async fn stored_passkeys(&self, user_id: &str) -> Result<Vec<(PasskeyRow, StoredPasskey)>> {
        let mut out = Vec::new();
        for row in self.store.passkeys_of(user_id).await? {
            let stored = stored(&row)?;
            out.push((row, stored));
        }
        Ok(out)
    }

    async fn put_ceremony(&self, key: &str, state: &impl serde::Serialize) -> Result<()> {
        let state = serde_json::to_string(state).map_err(|e| Error::Internal(e.into()))?;
        Ok(self.store.put_ceremony(key, &state, self.clock.now() + CEREMONY_TTL).await?)
    }

    async fn take_ceremony<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<T> {
        let Some(state) = self.store.take_ceremony(key, self.clock.now()).await? else {
            return Err(refused("no live ceremony under this key"));
        };
        serde_json::from_str(&state).map_err(|e| Error::Internal(e.into()))
    }

    /// Starts registering a passkey for `user`; returns the options for
    /// `navigator.credentials.create()` as JSON. The person's existing passkeys are excluded, so
    /// an authenticator is not registered twice.
    pub async fn start_registration(&self, key: &str, user: &User) -> Result<String> {
        let existing: Vec<StoredPasskey> = self.stored_passkeys(&user.id).await?.into_iter().map(|(_, s)| s).collect();
        self.start_registration_as(key, &user.id, &user.email, &user.name, &existing).await
    }

    /// Starts registering the first passkey of someone whose account does not exist yet (an
    /// invitation accepted with a passkey): `new_id` becomes their user id, and the
    /// passkey's user handle.
    pub async fn start_registration_for_new(&self, key: &str, new_id: &str, email: &str) -> Result<String> {
        self.start_registration_as(key, new_id, email, email, &[]).await
    }

    async fn start_registration_as(
        &self,
        key: &str,
        user_id: &str,
        email: &str,
        name: &str,
        existing: &[StoredPasskey],
    ) -> Result<String> {
        let mut options = RegistrationOptions::default();
        options.timeout = TIMEOUT_MS;
        // Discoverable, so the passkey can sign in without an email typed first, and verified
        // (PIN or biometrics), so that alone it is two factors.
        options.resident_key = ResidentKeyRequirement::Required;
        options.user_verification = UserVerificationRequirement::Required;
        options.exclude_credentials = Some(existing);
        let (challenge, state) = self
            .rp
            .0
            .start_passkey_registration(user_id.as_bytes(), email, name, options)
            .map_err(|e| Error::Internal(e.into()))?;
        self.put_ceremony(key, &state).await?;
        serde_json::to_string(&challenge).map_err(|e| Error::Internal(e.into()))
    }

    /// Checks the browser's answer (the `PublicKeyCredential` as JSON) to the registration
    /// started under `key`; nothing is saved yet.
    pub async fn check_registration(&self, key: &str, credential: &str) -> Result<NewPasskey> {
        let state: RegistrationState = self.take_ceremony(key).await?;
        let credential: RegistrationCredential = serde_json::from_str(credential).map_err(refused)?;
        let stored = self.rp.0.finish_passkey_registration(&credential, &state).map_err(refused)?;
        let user_id = passki::Passki::base64_decode(&state.user.id)
            .ok()
            .and_then(|id| String::from_utf8(id).ok())
            .ok_or_else(|| refused("the ceremony's user id is not ours"))?;
        Ok(NewPasskey { user_id, stored })
    }

    /// Saves a checked passkey as `user_id`'s, named `name` (by the device that keeps it).
    pub async fn save_passkey(&self, user_id: &str, name: &str, passkey: NewPasskey) -> Result<()> {
        let name = name.trim();
        let name = if name.is_empty() { "Passkey" } else { name };
        if name.chars().count() > 100 {
            return Err(Error::invalid("name", "must be at most 100 characters"));
        }
        if passkey.user_id != user_id {
            return Err(refused("the ceremony was started for someone else"));
        }
        let now = self.clock.now();
        let stored = passkey.stored;
        let row = PasskeyRow {
            id: crate::crypto::b64url(&stored.credential_id),
            user_id: user_id.to_string(),
            name: name.to_string(),
            credential: serde_json::to_string(&stored).map_err(|e| Error::Internal(e.into()))?,
            counter: i64::from(stored.counter),
            created_at: now,
            last_used_at: None,
        };
        let event = AuditEvent::new(now, user_id, "user.second_factor_added", user_id, json!({ "kind": "passkey" }));
        if !self.store.insert_passkey(&row, &event).await? {
            return Err(Error::conflict("this passkey is registered already"));
        }
        Ok(())
    }

    /// Checks the answer to the registration started under `key` for `user`, and saves it.
    pub async fn finish_registration(&self, key: &str, user: &User, name: &str, credential: &str) -> Result<()> {
        let passkey = self.check_registration(key, credential).await?;
        self.save_passkey(&user.id, name, passkey).await
    }

    /// Starts an assertion: for `user_id`'s passkeys (a second factor), or for any discoverable
    /// passkey (a sign-in without a password). Returns the options for
    /// `navigator.credentials.get()` as JSON.
    pub async fn start_assertion(&self, key: &str, user_id: Option<&str>) -> Result<String> {
        let allowed: Vec<StoredPasskey> = match user_id {
            Some(id) => self.stored_passkeys(id).await?.into_iter().map(|(_, s)| s).collect(),
            None => Vec::new(),
        };
        let mut options = AuthenticationOptions::default();
        options.timeout = TIMEOUT_MS;
        options.user_verification = match user_id {
            // After a password, the passkey is the second factor: presence is enough.
            Some(_) => UserVerificationRequirement::Preferred,
            // Alone it must be two factors.
            None => UserVerificationRequirement::Required,
        };
        let (challenge, state) =
            self.rp.0.start_passkey_authentication(&allowed, options).map_err(|e| Error::Internal(e.into()))?;
        self.put_ceremony(key, &state).await?;
        serde_json::to_string(&challenge).map_err(|e| Error::Internal(e.into()))
    }

    /// Checks the browser's answer to the assertion started under `key`. With `expected`, the
    /// passkey must be that person's (a second factor after their password); without, the
    /// passkey names the person, and its user handle must agree.
    pub async fn finish_assertion(&self, key: &str, credential: &str, expected: Option<&str>) -> Result<Assertion> {
        let state: AuthenticationState = self.take_ceremony(key).await?;
        let credential: AuthenticationCredential = serde_json::from_str(credential).map_err(refused)?;
        let Some(row) = self.store.passkey(&credential.raw_id).await? else {
            return Err(refused("unknown credential"));
        };
        if let Some(expected) = expected {
            if row.user_id != expected {
                return Err(refused("the passkey of another person"));
            }
        }
        let stored = stored(&row)?;
        let result = self.rp.0.finish_passkey_authentication(&credential, &state, &stored).map_err(refused)?;
        if expected.is_none() && result.user_handle.as_deref() != Some(row.user_id.as_bytes()) {
            return Err(refused("the user handle is not the passkey's owner"));
        }
        let now = self.clock.now();
        // The counter moves once: a second use of the same answer, here or on another
        // instance, finds it moved.
        if !self.store.use_passkey(&row.id, row.counter, i64::from(result.counter), now).await? {
            return Err(refused("the counter moved meanwhile"));
        }
        let amr = if expected.is_some() { AMR_PASSWORD_PASSKEY } else { AMR_PASSKEY };
        Ok(Assertion { user_id: row.user_id, amr })
    }

    pub async fn remove_passkey(&self, user_id: &str, id: &str) -> Result<()> {
        let event = AuditEvent::new(
            self.clock.now(),
            user_id,
            "user.second_factor_removed",
            user_id,
            json!({ "kind": "passkey" }),
        );
        if !self.store.remove_passkey(user_id, id, &event).await? {
            return Err(Error::not_found("that passkey"));
        }
        Ok(())
    }
}

/// The stored credential with the counter as the database has it now.
fn stored(row: &PasskeyRow) -> Result<StoredPasskey> {
    let mut stored: StoredPasskey = serde_json::from_str(&row.credential).map_err(|e| Error::Internal(e.into()))?;
    stored.counter = u32::try_from(row.counter).unwrap_or(u32::MAX);
    Ok(stored)
}
