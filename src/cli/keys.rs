//! `gatehouse keys …`: the server's signing keys.

use clap::Subcommand;

use super::{open, print, ACTOR};
use crate::config::Config;
use crate::jose::Alg;

#[derive(Subcommand, Debug)]
pub(super) enum KeysCmd {
    List,
    /// Promote the published next key to current, retire the current one, publish a new next.
    Rotate {
        #[arg(long, default_value = "RS256")]
        alg: String,
    },
}

pub(super) async fn keys(config: Config, json: bool, cmd: KeysCmd) -> anyhow::Result<()> {
    let state = open(config).await?;
    match cmd {
        KeysCmd::List => {
            let keys = state.keys.list().await?;
            print(json, &keys, || {
                keys.iter().map(|k| format!("{}  {:<6} {}", k.kid, k.alg, k.state)).collect::<Vec<_>>().join("\n")
            })
        }
        KeysCmd::Rotate { alg } => {
            let current = state.keys.rotate(Alg::parse(&alg)?, ACTOR).await?;
            print(json, &current, || format!("{} rotated: {} is now current", current.alg, current.kid))
        }
    }
}
