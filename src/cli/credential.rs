//! `gatehouse credential …`: users' JWT credentials for the JWT-bearer grant.

use clap::Subcommand;
use serde_json::json;

use super::{open, print, ACTOR};
use crate::config::Config;

#[derive(Subcommand, Debug)]
pub(super) enum CredentialCmd {
    /// Create a credential for a user, usable only by the named apps; printed once.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        tenant: String,
        #[arg(long = "client-id", value_name = "CLIENT_ID", required = true)]
        client_ids: Vec<String>,
        /// Without this the credential does not expire.
        #[arg(long, value_name = "DAYS")]
        expires_in_days: Option<i64>,
    },
    List {
        #[arg(long)]
        email: String,
    },
    Revoke {
        id: String,
    },
}

pub(super) async fn credential(config: Config, json: bool, cmd: CredentialCmd) -> anyhow::Result<()> {
    use crate::oauth::credentials;
    let state = open(config).await?;
    match cmd {
        CredentialCmd::Create { email, tenant, client_ids, expires_in_days } => {
            let issued = credentials::create(&state, &email, &tenant, &client_ids, expires_in_days, ACTOR).await?;
            print(json, &issued, || {
                format!(
                    "credential {} created for {email}\n\n{}\n\nThe credential is shown only now. Store it safely; it cannot be shown again.",
                    issued.credential.id,
                    issued.jwt.expose()
                )
            })
        }
        CredentialCmd::List { email } => {
            let list = credentials::list(&state, &email).await?;
            print(json, &list, || {
                list.iter()
                    .map(|c| {
                        format!(
                            "{}  {}  {}  {}",
                            c.id,
                            c.tenant,
                            c.client_ids.join(","),
                            if c.revoked_at.is_some() { "revoked" } else { "active" }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        CredentialCmd::Revoke { id } => {
            credentials::revoke(&state, &id, ACTOR).await?;
            print(json, &json!({ "revoked": id }), || format!("credential {id} revoked"))
        }
    }
}
