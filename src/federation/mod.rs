//! Federation (issue 20): a tenant's upstream OpenID Providers. A tenant administrator names an
//! issuer, the client this server is registered as there, and the email domains it serves; a
//! person with such an address signs in at the upstream instead of with a password, and their
//! first sign-in makes them a member of the tenant (just in time). The upstream leg is
//! `upstream`; this module owns the providers' settings, their sealed client secrets and home
//! realm discovery (which provider serves an address).

pub mod domains;
pub mod upstream;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::json;

use crate::clock::Clock;
use crate::crypto::{aead_open, aead_seal, random_id};
use crate::error::{Error, Result};
use crate::jose::{Alg, KeyPair, SigningKey};
use crate::outbound::Outbound;
use crate::secret::Secret;
use crate::store::audit::AuditEvent;
use crate::store::federation::{DomainClaim, IdpRow};
use crate::store::Store;
use crate::tenants::Directory;

/// Most providers one tenant may have, and most domains one provider may serve.
pub const MAX_PROVIDERS: usize = 10;
pub const MAX_DOMAINS: usize = 50;

/// What a tenant administrator gives to connect an upstream.
#[derive(Debug, Clone)]
pub struct NewProvider {
    pub issuer: String,
    pub client_id: String,
    /// None: we authenticate with `private_key_jwt`, with a key made for this provider.
    pub client_secret: Option<Secret<String>>,
    pub domains: Vec<String>,
    /// A value of the groups claim that makes its holder an administrator of the tenant.
    pub admin_group: Option<String>,
    /// Whether people of these domains may still sign in with a password here.
    pub passwords_allowed: bool,
    pub email_claim: Option<String>,
    pub name_claim: Option<String>,
    pub groups_claim: Option<String>,
}

/// Who vouches for the email domains of a provider being connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proof {
    /// The operator (the CLI, an `admin:platform` token): the domains route at once.
    Operator,
    /// A tenant administrator: each domain waits for its DNS record (`domains`).
    Dns,
}

/// The tenants' upstream providers, and what this instance has learned of them.
#[derive(Clone)]
pub struct Upstreams {
    store: Store,
    clock: Clock,
    directory: Directory,
    outbound: Outbound,
    /// Seals the client secrets at rest.
    seal_key: Arc<Secret<Vec<u8>>>,
    /// Our issuer, and where upstreams send people back: `{issuer}/signin/federated`.
    issuer: String,
    callback: String,
    metadata: Arc<Mutex<HashMap<String, upstream::Cached>>>,
    dns: Arc<domains::Dns>,
}

impl std::fmt::Debug for Upstreams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstreams").field("callback", &self.callback).finish_non_exhaustive()
    }
}

impl Upstreams {
    pub fn new(
        store: Store,
        clock: Clock,
        directory: Directory,
        outbound: Outbound,
        seal_key: Secret<Vec<u8>>,
        issuer: &str,
        dns: domains::Dns,
    ) -> Self {
        Upstreams {
            store,
            clock,
            directory,
            outbound,
            seal_key: Arc::new(seal_key),
            callback: format!("{issuer}{}", crate::paths::SIGNIN_FEDERATED),
            issuer: issuer.to_string(),
            metadata: Arc::default(),
            dns: Arc::new(dns),
        }
    }

    /// The redirect URI to register at every upstream.
    pub fn callback(&self) -> &str {
        &self.callback
    }

    /// Connects an upstream to a tenant, after checking that it answers OpenID Connect
    /// Discovery for the issuer given (so a typo fails here, not at someone's sign-in). With
    /// `Proof::Dns` its domains are claims until `prove_domain` finds their records.
    pub async fn add(&self, ctx: &str, p: NewProvider, actor: &str, proof: Proof) -> Result<IdpRow> {
        let tenant = self.directory.tenant(ctx).await?;
        let issuer = p.issuer.trim().trim_end_matches('/').to_string();
        self.outbound.check_url(&issuer).map_err(|e| Error::invalid("issuer", e.to_string()))?;
        let client_id = p.client_id.trim().to_string();
        if client_id.is_empty() || client_id.len() > 255 {
            return Err(Error::invalid("client_id", "must be 1 to 255 characters"));
        }
        if p.client_secret.as_ref().is_some_and(|s| s.expose().is_empty() || s.expose().len() > 1024) {
            return Err(Error::invalid("client_secret", "must be 1 to 1024 characters"));
        }
        let mut domains = Vec::new();
        for d in &p.domains {
            domains.push(check_domain(d)?);
        }
        domains.sort();
        domains.dedup();
        if domains.is_empty() || domains.len() > MAX_DOMAINS {
            return Err(Error::invalid("domains", format!("give 1 to {MAX_DOMAINS} email domains")));
        }
        let claim = |name: &'static str, v: Option<String>, default: &str| -> Result<String> {
            let v = v.map(|s| s.trim().to_string()).unwrap_or_else(|| default.to_string());
            if v.is_empty() || v.len() > 100 {
                return Err(Error::invalid(name, "must be 1 to 100 characters"));
            }
            Ok(v)
        };
        for d in &domains {
            if self.store.identity_provider_for_domain(d).await?.is_some() {
                return Err(Error::conflict(format!("{d} is served by another identity provider already")));
            }
        }
        if self.store.identity_providers_of(&tenant.id).await?.len() >= MAX_PROVIDERS {
            return Err(Error::conflict(format!("a tenant may have at most {MAX_PROVIDERS} identity providers")));
        }
        upstream::discover(&self.outbound, &issuer)
            .await
            .map_err(|e| Error::invalid("issuer", format!("OpenID Connect Discovery failed: {e}")))?;
        let id = random_id();
        let seal = |aad: &[u8], plain: &[u8]| {
            aead_seal(self.seal_key.expose(), aad, plain)
                .ok_or_else(|| Error::Internal(anyhow::anyhow!("sealing a credential failed")))
        };
        let (client_secret, private_key, key_id) = match &p.client_secret {
            Some(secret) => (Some(seal(id.as_bytes(), secret.expose().as_bytes())?), None, None),
            None => {
                let (_, pkcs8) = KeyPair::generate(Alg::ES256).map_err(Error::Internal)?;
                let kid = random_id()[..16].to_string();
                (None, Some(seal(&key_aad(&id), &pkcs8)?), Some(kid))
            }
        };
        let mut row = IdpRow {
            id,
            tenant_id: tenant.id.clone(),
            issuer,
            client_id,
            client_secret,
            private_key,
            key_id,
            email_claim: claim("email_claim", p.email_claim, "email")?,
            name_claim: claim("name_claim", p.name_claim, "name")?,
            groups_claim: claim("groups_claim", p.groups_claim, "groups")?,
            admin_group: p.admin_group.map(|g| g.trim().to_string()).filter(|g| !g.is_empty()),
            passwords_allowed: p.passwords_allowed,
            created_at: self.clock.now(),
            domains: Vec::new(),
            pending: Vec::new(),
        };
        match proof {
            Proof::Operator => row.domains = domains,
            Proof::Dns => {
                row.pending = domains.into_iter().map(|domain| DomainClaim { domain, token: random_id() }).collect()
            }
        }
        let event = AuditEvent::new(
            row.created_at,
            actor,
            "tenant.identity_provider_added",
            &tenant.ctx,
            json!({
                "id": row.id,
                "issuer": row.issuer,
                "domains": row.domains,
                "claimed": row.pending.iter().map(|c| &c.domain).collect::<Vec<_>>(),
            }),
        );
        if !self.store.insert_identity_provider(&row, &event).await? {
            return Err(Error::conflict("one of these email domains is served by another identity provider already"));
        }
        Ok(row)
    }

    /// Proves a domain claimed for provider `id` of tenant `ctx` by its TXT record, after which
    /// its people sign in at that provider.
    pub async fn prove_domain(&self, ctx: &str, id: &str, domain: &str, actor: &str) -> Result<()> {
        let tenant = self.directory.tenant(ctx).await?;
        let domain = domain.trim().to_ascii_lowercase();
        let missing = || Error::not_found(format!("a claim of {domain} by identity provider '{id}' of tenant '{ctx}'"));
        let providers = self.store.identity_providers_of(&tenant.id).await?;
        let provider = providers.iter().find(|p| p.id == id).ok_or_else(missing)?;
        if provider.domains.contains(&domain) {
            return Ok(());
        }
        let claim = provider.pending.iter().find(|c| c.domain == domain).ok_or_else(missing)?;
        let (name, text) = domains::txt_record(&claim.domain, &claim.token);
        self.dns.holds(&name, &text).await.map_err(|e| Error::invalid("domain", e.to_string()))?;
        let event = AuditEvent::new(
            self.clock.now(),
            actor,
            "tenant.domain_proven",
            &tenant.ctx,
            json!({ "id": id, "domain": domain }),
        );
        match self.store.prove_domain(id, &domain, &event).await? {
            Some(true) => Ok(()),
            Some(false) => Err(Error::conflict(format!("{domain} is served by another identity provider already"))),
            None => Err(missing()),
        }
    }

    pub async fn remove(&self, ctx: &str, id: &str, actor: &str) -> Result<()> {
        let tenant = self.directory.tenant(ctx).await?;
        let event = AuditEvent::new(
            self.clock.now(),
            actor,
            "tenant.identity_provider_removed",
            &tenant.ctx,
            json!({ "id": id }),
        );
        if !self.store.delete_identity_provider(&tenant.id, id, &event).await? {
            return Err(Error::not_found(format!("identity provider '{id}' of tenant '{ctx}'")));
        }
        Ok(())
    }

    pub async fn list(&self, ctx: &str) -> Result<Vec<IdpRow>> {
        let tenant = self.directory.tenant(ctx).await?;
        Ok(self.store.identity_providers_of(&tenant.id).await?)
    }

    /// Home realm discovery: the provider that serves this address's domain.
    pub async fn for_email(&self, email: &str) -> Result<Option<IdpRow>> {
        let Some((_, domain)) = email.trim().rsplit_once('@') else { return Ok(None) };
        Ok(self.store.identity_provider_for_domain(&domain.to_ascii_lowercase()).await?)
    }

    fn client_secret(&self, idp: &IdpRow) -> Result<Option<Secret<String>>> {
        let Some(sealed) = &idp.client_secret else { return Ok(None) };
        let plain = aead_open(self.seal_key.expose(), idp.id.as_bytes(), sealed)
            .and_then(|p| String::from_utf8(p).ok())
            .ok_or_else(|| {
                Error::Internal(anyhow::anyhow!("the client secret of identity provider {} does not open", idp.id))
            })?;
        Ok(Some(Secret::new(plain)))
    }

    /// The key we sign client assertions to `idp` with (`private_key_jwt`), if it has one.
    fn assertion_key(&self, idp: &IdpRow) -> Result<Option<SigningKey>> {
        let (Some(sealed), Some(kid)) = (&idp.private_key, &idp.key_id) else { return Ok(None) };
        let pkcs8 = aead_open(self.seal_key.expose(), &key_aad(&idp.id), sealed)
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("the key of identity provider {} does not open", idp.id)))?;
        let pair = KeyPair::from_pkcs8(Alg::ES256, &pkcs8).map_err(Error::Internal)?;
        Ok(Some(SigningKey::new(kid.clone(), Alg::ES256, pair)))
    }

    /// The JWK Set `idp` checks our client assertions with (`/federation/<id>/jwks.json`):
    /// empty for a provider we send a secret to.
    pub async fn jwks(&self, id: &str) -> Result<Option<serde_json::Value>> {
        let Some(idp) = self.store.identity_provider(id).await? else { return Ok(None) };
        let mut keys = Vec::new();
        if let Some(key) = self.assertion_key(&idp)? {
            let mut jwk = key.pair().public_key().map_err(Error::Internal)?.to_jwk();
            jwk["kid"] = json!(key.kid);
            jwk["alg"] = json!("ES256");
            jwk["use"] = json!("sig");
            keys.push(jwk);
        }
        Ok(Some(json!({ "keys": keys })))
    }

    /// Where `idp` finds our public key, when we authenticate with one.
    pub fn jwks_uri(&self, idp: &IdpRow) -> Option<String> {
        idp.key_id.as_ref().map(|_| format!("{}{}", self.issuer, crate::paths::federation_jwks(&idp.id)))
    }
}

/// What a sealed assertion key is bound to (a secret sealed for the same row cannot pass as it).
fn key_aad(id: &str) -> Vec<u8> {
    [id.as_bytes(), b"/private_key"].concat()
}

/// An email domain as people type it after the `@`: lowercase labels of letters, digits and
/// hyphens, at least two of them.
fn check_domain(raw: &str) -> Result<String> {
    let d = raw.trim().trim_start_matches('@').to_ascii_lowercase();
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if d.len() > 253 || d.split('.').count() < 2 || !d.split('.').all(label_ok) {
        return Err(Error::invalid("domains", format!("'{}' is not an email domain", raw.trim())));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::check_domain;

    #[test]
    fn domains_are_lowercased_and_checked() {
        assert_eq!(check_domain(" @Example.COM ").unwrap(), "example.com");
        assert_eq!(check_domain("a-b.example.no").unwrap(), "a-b.example.no");
        for bad in ["example", "exa mple.com", "-a.example.com", "a..b", "", "ex_ample.com"] {
            assert!(check_domain(bad).is_err(), "{bad}");
        }
    }
}
