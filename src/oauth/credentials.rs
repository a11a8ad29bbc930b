//! JWT credentials (RingCentral's model): a user creates one for some of their apps; those
//! apps exchange it with the JWT-bearer grant for an access token acting as that user. It is
//! signed by us, shown once, stored as a digest, listable and revocable, optionally without
//! expiry. The database row, not the signature, decides whether it still works, so a
//! credential survives key rotation.

use serde::Serialize;
use serde_json::json;

use crate::crypto::{random_id, sha256};
use crate::error::{Error, Result};
use crate::jose::Alg;
use crate::provider::Provider;
use crate::secret::Secret;
use crate::store::audit::AuditEvent;
use crate::store::credentials::CredentialRow;

/// The `typ` header of a credential, so it can never pass for an ID or access token.
pub const TYP: &str = "gatehouse-credential+jwt";

#[derive(Debug, Serialize)]
pub struct Credential {
    pub id: String,
    pub tenant: String,
    pub client_ids: Vec<String>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct IssuedCredential {
    pub credential: Credential,
    #[serde(serialize_with = "expose")]
    pub jwt: Secret<String>,
}

fn expose<S: serde::Serializer>(v: &Secret<String>, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(v.expose())
}

pub async fn create(
    state: &Provider,
    email: &str,
    tenant_ctx: &str,
    client_ids: &[String],
    expires_in_days: Option<i64>,
    actor: &str,
) -> Result<IssuedCredential> {
    let user = state.directory.user(email).await?;
    let tenant = state.directory.tenant(tenant_ctx).await?;
    if !state.store.is_member(&tenant.id, &user.id).await? {
        return Err(Error::invalid("tenant", format!("{} is not a member of {tenant_ctx}", user.email)));
    }
    if client_ids.is_empty() {
        return Err(Error::invalid("client-id", "name at least one app the credential is for"));
    }
    for id in client_ids {
        state.registry.get(id).await?;
    }
    let now = state.clock.now();
    let expires_at = match expires_in_days {
        None => None,
        Some(d) if (1..=3650).contains(&d) => Some(now + d * 86_400),
        Some(_) => return Err(Error::invalid("expires-in-days", "must be between 1 and 3650")),
    };
    let id = random_id();
    let mut claims = json!({
        "iss": state.config.issuer,
        "sub": user.id,
        "jti": id,
        "iat": now,
        "client_ids": client_ids,
        "ctx": tenant.ctx,
    });
    if let Some(exp) = expires_at {
        claims["exp"] = json!(exp);
    }
    let jwt = state.keys.sign(Alg::RS256, TYP, &claims)?;
    let row = CredentialRow {
        id: id.clone(),
        digest: sha256(jwt.as_bytes()).to_vec(),
        user_id: user.id.clone(),
        tenant_id: tenant.id.clone(),
        app_ids: client_ids.join(" "),
        created_at: now,
        expires_at,
        revoked_at: None,
    };
    let event =
        AuditEvent::new(now, actor, "credential.created", &user.id, json!({ "credential": id, "apps": client_ids }));
    state.store.insert_credential(&row, &event).await?;
    Ok(IssuedCredential { credential: to_credential(row, tenant.ctx), jwt: Secret::new(jwt) })
}

fn to_credential(r: CredentialRow, tenant: String) -> Credential {
    Credential {
        id: r.id,
        tenant,
        client_ids: r.app_ids.split_whitespace().map(str::to_string).collect(),
        created_at: r.created_at,
        expires_at: r.expires_at,
        revoked_at: r.revoked_at,
    }
}

pub async fn list(state: &Provider, email: &str) -> Result<Vec<Credential>> {
    let user = state.directory.user(email).await?;
    let tenants = state.directory.tenants().await?;
    let ctx_of = |id: &str| tenants.iter().find(|t| t.id == id).map(|t| t.ctx.clone()).unwrap_or_default();
    Ok(state
        .store
        .credentials_of(&user.id)
        .await?
        .into_iter()
        .map(|r| {
            let ctx = ctx_of(&r.tenant_id);
            to_credential(r, ctx)
        })
        .collect())
}

pub async fn revoke(state: &Provider, id: &str, actor: &str) -> Result<()> {
    let now = state.clock.now();
    let event = AuditEvent::new(now, actor, "credential.revoked", id, json!({}));
    if !state.store.revoke_credential(id, now, &event).await? {
        return Err(Error::not_found(format!("active credential '{id}'")));
    }
    Ok(())
}
