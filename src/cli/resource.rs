//! `gatehouse resource …` and `gatehouse registration …`: resource servers and initial
//! access tokens for dynamic registration.

use clap::Subcommand;
use serde_json::json;

use super::{open, print, ACTOR};
use crate::config::Config;

#[derive(Subcommand, Debug)]
pub(super) enum ResourceCmd {
    /// Register an API. With --partner it is that partner's own (its apps may ask for it);
    /// without, a platform API that apps get only by `resource grant`.
    Add {
        /// The audience tokens will carry, e.g. https://api.example.com
        #[arg(long)]
        identifier: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        partner: Option<String>,
    },
    /// Let an app ask for tokens for an API its partner does not own.
    Grant {
        #[arg(long)]
        identifier: String,
        #[arg(long)]
        client_id: String,
    },
}

#[derive(Subcommand, Debug)]
pub(super) enum RegistrationCmd {
    /// Print an initial access token for `POST /register` (usable until it expires).
    #[command(subcommand)]
    Token(RegistrationTokenCmd),
}

#[derive(Subcommand, Debug)]
pub(super) enum RegistrationTokenCmd {
    Create {
        #[arg(long, default_value_t = 24)]
        expires_in_hours: i64,
    },
}

pub(super) async fn resource(config: Config, json: bool, cmd: ResourceCmd) -> anyhow::Result<()> {
    let state = open(config).await?;
    match cmd {
        ResourceCmd::Add { identifier, name, partner } => {
            let r = state.registry.register_resource_server(&identifier, &name, partner.as_deref(), ACTOR).await?;
            print(json, &r, || {
                let owner = r.owner_partner_id.as_deref().unwrap_or("the platform");
                format!("resource server {} registered (owner: {owner})", r.identifier)
            })
        }
        ResourceCmd::Grant { identifier, client_id } => {
            state.registry.grant_resource(&identifier, &client_id, ACTOR).await?;
            print(json, &json!({ "identifier": identifier, "client_id": client_id }), || {
                format!("{client_id} may now ask for tokens for {identifier}")
            })
        }
    }
}

pub(super) async fn registration(config: Config, json: bool, cmd: RegistrationCmd) -> anyhow::Result<()> {
    let RegistrationCmd::Token(RegistrationTokenCmd::Create { expires_in_hours }) = cmd;
    if !(1..=24 * 365).contains(&expires_in_hours) {
        anyhow::bail!("--expires-in-hours must be between 1 and 8760");
    }
    let state = open(config).await?;
    let (token, expires_at) = crate::oauth::registration::create_initial_token(&state, expires_in_hours).await?;
    print(json, &json!({ "token": token, "expires_at": expires_at }), || token.clone())
}
