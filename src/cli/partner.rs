//! `gatehouse partner …`: partners, their developers, and their webhooks (which hear about all
//! of the partner's apps).

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
    /// URLs told when the partner's apps are created or deleted and when keys rotate.
    #[command(subcommand)]
    Webhook(PartnerWebhookCmd),
}

#[derive(Subcommand, Debug)]
pub(super) enum PartnerWebhookCmd {
    /// Registers a URL; prints its signing secret (shown once).
    Add {
        #[arg(long)]
        partner: String,
        url: String,
    },
    List {
        #[arg(long)]
        partner: String,
    },
    Remove {
        #[arg(long)]
        partner: String,
        /// The webhook's id (`wh_…`), as `list` shows it.
        id: String,
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
        PartnerCmd::Webhook(PartnerWebhookCmd::Add { partner, url }) => {
            state.directory.partner(&partner).await?;
            let (hook, secret) = state.registry.add_partner_webhook(&partner, &url, ACTOR).await?;
            let out = json!({ "id": hook.id, "url": hook.url, "secret": secret });
            print(json, &out, || format!("webhook {} added: {url}\n  secret: {secret}   (shown only now)", hook.id))
        }
        PartnerCmd::Webhook(PartnerWebhookCmd::List { partner }) => {
            let hooks = state.store.partner_webhooks(&partner).await?;
            let out: Vec<_> =
                hooks.iter().map(|h| json!({ "id": h.id, "url": h.url, "created_at": h.created_at })).collect();
            print(json, &out, || hooks.iter().map(|h| format!("{}  {}", h.id, h.url)).collect::<Vec<_>>().join("\n"))
        }
        PartnerCmd::Webhook(PartnerWebhookCmd::Remove { partner, id }) => {
            state.registry.remove_partner_webhook(&partner, &id, ACTOR).await?;
            print(json, &json!({ "removed": id }), || format!("webhook {id} removed"))
        }
    }
}
