//! SQL for federation: a tenant's upstream OpenID Providers with the email domains they serve,
//! and the upstream sign-ins in flight (one row per redirect, taken once).

use crate::store::audit::{audited, AuditEvent};
use crate::store::row::DbRow;
use crate::store::Store;
use crate::{on_db, on_write};

#[derive(Debug, Clone)]
pub struct IdpRow {
    pub id: String,
    pub tenant_id: String,
    pub issuer: String,
    pub client_id: String,
    /// Sealed; `federation::Upstreams` opens it. None with `private_key_jwt`.
    pub client_secret: Option<Vec<u8>>,
    /// Sealed PKCS#8 of the ES256 key we sign client assertions with (`private_key_jwt`).
    pub private_key: Option<Vec<u8>>,
    pub key_id: Option<String>,
    pub email_claim: String,
    pub name_claim: String,
    pub groups_claim: String,
    pub admin_group: Option<String>,
    pub passwords_allowed: bool,
    pub created_at: i64,
    /// Proven domains (home realm discovery routes them here), lowercase, sorted.
    pub domains: Vec<String>,
    /// Domains named for this provider that DNS has not proven yet.
    pub pending: Vec<DomainClaim>,
}

/// A domain a tenant administrator named, waiting for its TXT record.
#[derive(Debug, Clone)]
pub struct DomainClaim {
    pub domain: String,
    /// What the TXT record must say (not a secret: it is published).
    pub token: String,
}

#[derive(Debug, Clone)]
pub struct UpstreamLoginRow {
    pub state_digest: Vec<u8>,
    pub idp_id: String,
    pub request_id: String,
    pub nonce: String,
    pub verifier: String,
    pub expires_at: i64,
    /// Set for a sign-in the portal's login page started: where the portal goes on to.
    pub portal_next: Option<String>,
}

const IDP_COLUMNS: &str = "i.id, i.tenant_id, i.issuer, i.client_id, i.client_secret, i.private_key, i.key_id, \
    i.email_claim, i.name_claim, i.groups_claim, i.admin_group, i.passwords_allowed, i.created_at";

fn idp_row(r: &impl DbRow, domains: Vec<String>) -> sqlx::Result<IdpRow> {
    Ok(IdpRow {
        id: r.text("id")?,
        tenant_id: r.text("tenant_id")?,
        issuer: r.text("issuer")?,
        client_id: r.text("client_id")?,
        client_secret: r.opt_bytes("client_secret")?,
        private_key: r.opt_bytes("private_key")?,
        key_id: r.opt_text("key_id")?,
        email_claim: r.text("email_claim")?,
        name_claim: r.text("name_claim")?,
        groups_claim: r.text("groups_claim")?,
        admin_group: r.opt_text("admin_group")?,
        passwords_allowed: r.flag("passwords_allowed")?,
        created_at: r.int("created_at")?,
        domains,
        pending: Vec::new(),
    })
}

impl Store {
    /// Adds a provider and claims its domains; false (nothing written) when one of the domains
    /// belongs to a provider already.
    pub async fn insert_identity_provider(&self, p: &IdpRow, event: &AuditEvent) -> sqlx::Result<bool> {
        audited!(self, event, when |done: &bool| *done, tx => {
            sqlx::query("INSERT INTO identity_providers (id, tenant_id, issuer, client_id, client_secret, private_key, \
                key_id, email_claim, name_claim, groups_claim, admin_group, passwords_allowed, created_at) \
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)")
                .bind(&p.id).bind(&p.tenant_id).bind(&p.issuer).bind(&p.client_id).bind(&p.client_secret)
                .bind(&p.private_key).bind(&p.key_id).bind(&p.email_claim).bind(&p.name_claim).bind(&p.groups_claim).bind(&p.admin_group)
                .bind(p.passwords_allowed).bind(p.created_at)
                .execute(&mut *tx).await?;
            for c in &p.pending {
                sqlx::query("INSERT INTO domain_claims (idp_id, domain, token, created_at) VALUES ($1, $2, $3, $4)")
                    .bind(&p.id).bind(&c.domain).bind(&c.token).bind(p.created_at).execute(&mut *tx).await?;
            }
            let mut claimed = true;
            for domain in &p.domains {
                let n = sqlx::query("INSERT INTO federated_domains (domain, idp_id) VALUES ($1, $2) ON CONFLICT (domain) DO NOTHING")
                    .bind(domain).bind(&p.id).execute(&mut *tx).await?.rows_affected();
                claimed &= n == 1;
            }
            if !claimed {
                return Ok(false);
            }
            true
        })
    }

    pub async fn delete_identity_provider(&self, tenant_id: &str, id: &str, event: &AuditEvent) -> sqlx::Result<bool> {
        audited!(self, event, when |done: &bool| *done, tx => {
            sqlx::query("DELETE FROM identity_providers WHERE id = $1 AND tenant_id = $2")
                .bind(id).bind(tenant_id).execute(&mut *tx).await?.rows_affected() == 1
        })
    }

    /// A tenant's providers, oldest first.
    pub async fn identity_providers_of(&self, tenant_id: &str) -> sqlx::Result<Vec<IdpRow>> {
        let sql = format!(
            "SELECT {IDP_COLUMNS}, d.domain FROM identity_providers i LEFT JOIN federated_domains d ON d.idp_id = i.id \
             WHERE i.tenant_id = $1 ORDER BY i.created_at, i.id, d.domain"
        );
        on_db!(&self.db, pool => {
            let rows = sqlx::query(&sql).bind(tenant_id).fetch_all(pool).await?;
            let mut out: Vec<IdpRow> = Vec::new();
            for r in &rows {
                let domain = r.opt_text("domain")?;
                match out.last_mut() {
                    Some(last) if last.id == r.text("id")? => last.domains.extend(domain),
                    _ => out.push(idp_row(r, domain.into_iter().collect())?),
                }
            }
            let claims = sqlx::query("SELECT c.idp_id, c.domain, c.token FROM domain_claims c \
                JOIN identity_providers i ON i.id = c.idp_id WHERE i.tenant_id = $1 ORDER BY c.domain")
                .bind(tenant_id).fetch_all(pool).await?;
            for r in &claims {
                let idp_id = r.text("idp_id")?;
                if let Some(p) = out.iter_mut().find(|p| p.id == idp_id) {
                    p.pending.push(DomainClaim { domain: r.text("domain")?, token: r.text("token")? });
                }
            }
            Ok(out)
        })
    }

    /// Proves a claimed domain: it moves from the claims to the domains home realm discovery
    /// routes. `None` when there is no such claim; `Some(false)` (nothing written) when another
    /// provider proved the domain first.
    pub async fn prove_domain(&self, idp_id: &str, domain: &str, event: &AuditEvent) -> sqlx::Result<Option<bool>> {
        audited!(self, event, when |done: &Option<bool>| *done == Some(true), tx => {
            let taken = sqlx::query("DELETE FROM domain_claims WHERE idp_id = $1 AND domain = $2")
                .bind(idp_id).bind(domain).execute(&mut *tx).await?.rows_affected();
            if taken == 0 {
                return Ok(None);
            }
            let n = sqlx::query("INSERT INTO federated_domains (domain, idp_id) VALUES ($1, $2) ON CONFLICT (domain) DO NOTHING")
                .bind(domain).bind(idp_id).execute(&mut *tx).await?.rows_affected();
            if n == 0 {
                return Ok(Some(false));
            }
            Some(true)
        })
    }

    pub async fn identity_provider(&self, id: &str) -> sqlx::Result<Option<IdpRow>> {
        self.provider_where("i.id = $1", id).await
    }

    /// Home realm discovery: the provider that serves this email domain, if any.
    pub async fn identity_provider_for_domain(&self, domain: &str) -> sqlx::Result<Option<IdpRow>> {
        self.provider_where("i.id = (SELECT idp_id FROM federated_domains WHERE domain = $1)", domain).await
    }

    async fn provider_where(&self, condition: &str, value: &str) -> sqlx::Result<Option<IdpRow>> {
        let sql = format!("SELECT {IDP_COLUMNS} FROM identity_providers i WHERE {condition}");
        let Some(first) = on_db!(&self.db, pool => {
            let row = sqlx::query(&sql).bind(value).fetch_optional(pool).await?;
            row.as_ref().map(|r| idp_row(r, Vec::new())).transpose()?
        }) else {
            return Ok(None);
        };
        let domains = on_db!(&self.db, pool => {
            sqlx::query("SELECT domain FROM federated_domains WHERE idp_id = $1 ORDER BY domain")
                .bind(&first.id).fetch_all(pool).await?.iter().map(|r| r.text("domain")).collect::<sqlx::Result<Vec<_>>>()?
        });
        Ok(Some(IdpRow { domains, ..first }))
    }

    pub async fn insert_upstream_login(&self, l: &UpstreamLoginRow) -> sqlx::Result<()> {
        on_write!(self, pool => {
            sqlx::query("INSERT INTO upstream_logins (state_digest, idp_id, request_id, nonce, verifier, expires_at, portal_next) \
                VALUES ($1, $2, $3, $4, $5, $6, $7)")
                .bind(&l.state_digest).bind(&l.idp_id).bind(&l.request_id).bind(&l.nonce).bind(&l.verifier)
                .bind(l.expires_at).bind(&l.portal_next).execute(pool).await.map(|_| ())
        })
    }

    /// Takes the sign-in a callback's `state` names, once: a replayed or unknown state finds
    /// nothing. Expired rows are taken too, so the caller can say why.
    pub async fn take_upstream_login(&self, state_digest: &[u8]) -> sqlx::Result<Option<UpstreamLoginRow>> {
        on_write!(self, pool => {
            let row = sqlx::query("DELETE FROM upstream_logins WHERE state_digest = $1 \
                RETURNING state_digest, idp_id, request_id, nonce, verifier, expires_at, portal_next")
                .bind(state_digest).fetch_optional(pool).await?;
            row.map(|r| Ok(UpstreamLoginRow {
                state_digest: r.bytes("state_digest")?,
                idp_id: r.text("idp_id")?,
                request_id: r.text("request_id")?,
                nonce: r.text("nonce")?,
                verifier: r.text("verifier")?,
                expires_at: r.int("expires_at")?,
                portal_next: r.opt_text("portal_next")?,
            })).transpose()
        })
    }
}
