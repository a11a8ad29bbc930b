//! `gatehouse tenant …`: tenants and their approvals of apps.

use clap::Subcommand;
use serde_json::json;

use super::{open, print, ACTOR};
use crate::config::Config;

#[derive(Subcommand, Debug)]
pub(super) enum TenantCmd {
    Add {
        #[arg(long)]
        ctx: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        serial: Option<i64>,
        /// The partner that owns this tenant (its private apps admit this tenant's users).
        #[arg(long)]
        partner: Option<String>,
        /// Who must sign in with a second factor: off, admins or everyone (default:
        /// `tenants.default_mfa_policy`, itself `admins` by default).
        #[arg(long)]
        mfa: Option<String>,
        /// Invite this person by mail as the tenant's first administrator (required with
        /// --server).
        #[arg(long)]
        admin_email: Option<String>,
    },
    /// Set who in the tenant must sign in with a second factor: off, admins or everyone.
    Mfa {
        #[arg(long)]
        ctx: String,
        policy: String,
    },
    List,
    /// Approve an app for the whole tenant (as its administrator would on the approval page).
    Approve {
        #[arg(long)]
        ctx: String,
        #[arg(long)]
        client_id: String,
    },
    /// End an app's approval: its refresh tokens and system token in the tenant end too.
    Revoke {
        #[arg(long)]
        ctx: String,
        #[arg(long)]
        client_id: String,
    },
    /// Refuse an app for the tenant.
    Deny {
        #[arg(long)]
        ctx: String,
        #[arg(long)]
        client_id: String,
    },
    /// The tenant's upstream OpenID Providers (federation).
    #[command(subcommand)]
    Idp(IdpCmd),
}

#[derive(Subcommand, Debug)]
pub(super) enum IdpCmd {
    /// Connect an upstream provider; its client secret is read from standard input (or, with
    /// --private-key-jwt, a key is made for it). Register `<issuer>/signin/federated` as the
    /// redirect URI at the provider.
    Add {
        #[arg(long)]
        ctx: String,
        /// The provider's issuer (its discovery document is fetched now).
        #[arg(long)]
        issuer: String,
        /// The client ID this server has at the provider.
        #[arg(long)]
        client_id: String,
        /// An email domain whose people sign in there (repeat for several).
        #[arg(long = "domain", required = true)]
        domains: Vec<String>,
        /// A value of the groups claim that makes its holder an administrator of the tenant.
        #[arg(long)]
        admin_group: Option<String>,
        /// Let people of these domains still sign in with a password here.
        #[arg(long)]
        allow_passwords: bool,
        /// Authenticate with a key Gatehouse makes (its public half at the printed jwks_uri)
        /// instead of a client secret.
        #[arg(long)]
        private_key_jwt: bool,
        #[arg(long)]
        email_claim: Option<String>,
        #[arg(long)]
        name_claim: Option<String>,
        #[arg(long)]
        groups_claim: Option<String>,
    },
    List {
        #[arg(long)]
        ctx: String,
    },
    Remove {
        #[arg(long)]
        ctx: String,
        #[arg(long)]
        id: String,
    },
    /// Check the DNS record of a domain a tenant administrator claimed for a provider; when it
    /// holds the claim's token, the domain's people sign in there from now on.
    Prove {
        #[arg(long)]
        ctx: String,
        #[arg(long)]
        id: String,
        #[arg(long)]
        domain: String,
    },
}

/// An upstream as the CLI shows it: everything but the secret.
fn idp_view(p: &crate::store::federation::IdpRow) -> serde_json::Value {
    json!({
        "id": p.id, "issuer": p.issuer, "client_id": p.client_id, "domains": p.domains,
        "admin_group": p.admin_group, "passwords_allowed": p.passwords_allowed,
        "email_claim": p.email_claim, "name_claim": p.name_claim, "groups_claim": p.groups_claim,
        "pending_domains": p.pending.iter().map(|c| {
            let (name, text) = crate::federation::domains::txt_record(&c.domain, &c.token);
            json!({ "domain": c.domain, "txt_name": name, "txt_value": text })
        }).collect::<Vec<_>>(),
    })
}

async fn idp(state: &crate::AppState, json: bool, cmd: IdpCmd) -> anyhow::Result<()> {
    match cmd {
        IdpCmd::Add {
            ctx,
            issuer,
            client_id,
            domains,
            admin_group,
            allow_passwords,
            private_key_jwt,
            email_claim,
            name_claim,
            groups_claim,
        } => {
            use std::io::Read;
            let mut secret = String::new();
            if !private_key_jwt {
                std::io::stdin()
                    .take(4096)
                    .read_to_string(&mut secret)
                    .map_err(|e| anyhow::anyhow!("cannot read the client secret from standard input: {e}"))?;
            }
            let new = crate::federation::NewProvider {
                issuer,
                client_id,
                client_secret: (!private_key_jwt)
                    .then(|| crate::secret::Secret::new(secret.trim_end_matches(['\n', '\r']).to_string())),
                domains,
                admin_group,
                passwords_allowed: allow_passwords,
                email_claim,
                name_claim,
                groups_claim,
            };
            let p = state.upstreams.add(&ctx, new, ACTOR, crate::federation::Proof::Operator).await?;
            let callback = state.upstreams.callback().to_string();
            let mut view = idp_view(&p);
            view["jwks_uri"] = json!(state.upstreams.jwks_uri(&p));
            print(json, &view, || {
                let key = match state.upstreams.jwks_uri(&p) {
                    Some(uri) => format!("; our public key for private_key_jwt there: {uri}"),
                    None => String::new(),
                };
                format!(
                    "{ctx}: identity provider {} added for {} (redirect URI there: {callback}{key})",
                    p.id,
                    p.domains.join(", ")
                )
            })
        }
        IdpCmd::List { ctx } => {
            let all: Vec<_> = state.upstreams.list(&ctx).await?.iter().map(idp_view).collect();
            print(json, &all, || {
                all.iter()
                    .map(|p| {
                        format!(
                            "{}  {}  {}",
                            p["id"].as_str().unwrap_or(""),
                            p["issuer"].as_str().unwrap_or(""),
                            p["domains"]
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        IdpCmd::Remove { ctx, id } => {
            state.upstreams.remove(&ctx, &id, ACTOR).await?;
            print(json, &json!({ "tenant": ctx, "removed": id }), || format!("{ctx}: identity provider {id} removed"))
        }
        IdpCmd::Prove { ctx, id, domain } => {
            state.upstreams.prove_domain(&ctx, &id, &domain, ACTOR).await?;
            print(json, &json!({ "tenant": ctx, "id": id, "proven": domain }), || {
                format!("{ctx}: {domain} is proven; its people sign in at identity provider {id}")
            })
        }
    }
}

pub(super) async fn tenant(config: Config, json: bool, cmd: TenantCmd) -> anyhow::Result<()> {
    let state = open(config).await?;
    match cmd {
        TenantCmd::Add { ctx, name, serial, partner, mfa, admin_email } => {
            let policy = mfa.as_deref().map(crate::tenants::factors::Policy::parse).transpose()?;
            let mut t = state.directory.add_tenant(&ctx, &name, serial, partner.as_deref(), ACTOR).await?;
            if let Some(policy) = policy {
                t = state.directory.set_mfa_policy(&ctx, policy, ACTOR).await?;
            }
            let invited = match admin_email {
                Some(email) => Some(state.people.invite_to_tenant(&ctx, &email, true, ACTOR).await?),
                None => None,
            };
            print(json, &t, || {
                let mut line = format!("tenant {} (serial {}) created: {}", t.ctx, t.serial, t.name);
                if let Some(sent) = &invited {
                    line += &format!("\n{} is invited as its administrator; the link: {}", sent.email, sent.link);
                }
                line
            })
        }
        TenantCmd::Mfa { ctx, policy } => {
            let t =
                state.directory.set_mfa_policy(&ctx, crate::tenants::factors::Policy::parse(&policy)?, ACTOR).await?;
            print(json, &t, || format!("{}: second factor required of {}", t.ctx, t.mfa_policy))
        }
        TenantCmd::Approve { ctx, client_id } => {
            let app = state.registry.get(&client_id).await?;
            state.approvals.approve(&ctx, &app, None, ACTOR).await?;
            print(json, &json!({ "tenant": ctx, "client_id": client_id, "status": "approved" }), || {
                format!("{ctx} approved app {client_id}")
            })
        }
        TenantCmd::Revoke { ctx, client_id } => {
            let app = state.registry.get(&client_id).await?;
            state.approvals.end(&ctx, &app, crate::approvals::End::Revoked, ACTOR).await?;
            print(json, &json!({ "tenant": ctx, "client_id": client_id, "status": "revoked" }), || {
                format!("{ctx} revoked app {client_id}")
            })
        }
        TenantCmd::Deny { ctx, client_id } => {
            let app = state.registry.get(&client_id).await?;
            state.approvals.end(&ctx, &app, crate::approvals::End::Denied, ACTOR).await?;
            print(json, &json!({ "tenant": ctx, "client_id": client_id, "status": "denied" }), || {
                format!("{ctx} denied app {client_id}")
            })
        }
        TenantCmd::Idp(cmd) => idp(&state, json, cmd).await,
        TenantCmd::List => {
            let ts = state.directory.tenants().await?;
            print(json, &ts, || {
                ts.iter().map(|t| format!("{:<12} {:>8}  {}", t.ctx, t.serial, t.name)).collect::<Vec<_>>().join("\n")
            })
        }
    }
}
