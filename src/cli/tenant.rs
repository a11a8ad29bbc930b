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
}

pub(super) async fn tenant(config: Config, json: bool, cmd: TenantCmd) -> anyhow::Result<()> {
    let state = open(config).await?;
    match cmd {
        TenantCmd::Add { ctx, name, serial, partner, mfa } => {
            let policy = mfa.as_deref().map(crate::tenants::factors::Policy::parse).transpose()?;
            let mut t = state.directory.add_tenant(&ctx, &name, serial, partner.as_deref(), ACTOR).await?;
            if let Some(policy) = policy {
                t = state.directory.set_mfa_policy(&ctx, policy, ACTOR).await?;
            }
            print(json, &t, || format!("tenant {} (serial {}) created: {}", t.ctx, t.serial, t.name))
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
        TenantCmd::List => {
            let ts = state.directory.tenants().await?;
            print(json, &ts, || {
                ts.iter().map(|t| format!("{:<12} {:>8}  {}", t.ctx, t.serial, t.name)).collect::<Vec<_>>().join("\n")
            })
        }
    }
}
