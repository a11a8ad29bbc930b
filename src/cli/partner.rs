//! `gatehouse partner …`: partners and their developers.

use clap::Subcommand;
use serde_json::json;

use super::{open, print, ACTOR};
use crate::config::Config;

#[derive(Subcommand, Debug)]
pub(super) enum PartnerCmd {
    /// Register a partner.
    Add {
        #[arg(long)]
        name: String,
    },
    List,
    /// Make an existing user a developer of the partner.
    Member {
        #[arg(long)]
        partner: String,
        #[arg(long)]
        email: String,
    },
    /// Invite someone by email to be a developer of the partner (new or existing account).
    Invite {
        #[arg(long)]
        partner: String,
        #[arg(long)]
        email: String,
    },
}

pub(super) async fn partner(config: Config, json: bool, cmd: PartnerCmd) -> anyhow::Result<()> {
    let state = open(config).await?;
    match cmd {
        PartnerCmd::Add { name } => {
            let p = state.directory.add_partner(&name, ACTOR).await?;
            print(json, &p, || format!("partner {} created: {}", p.id, p.name))
        }
        PartnerCmd::List => {
            let ps = state.directory.partners().await?;
            print(json, &ps, || ps.iter().map(|p| format!("{}  {}", p.id, p.name)).collect::<Vec<_>>().join("\n"))
        }
        PartnerCmd::Member { partner, email } => {
            state.directory.add_partner_member(&partner, &email, ACTOR).await?;
            print(json, &json!({ "partner": partner, "email": email }), || {
                format!("{email} is now a developer of partner {partner}")
            })
        }
        PartnerCmd::Invite { partner, email } => {
            let sent = state.people.invite_developer(&partner, &email, ACTOR).await?;
            super::user::print_sent(json, &sent)
        }
    }
}
