//! `gatehouse resource …` and `gatehouse registration …`: resource servers and initial
//! access tokens for dynamic registration.

use clap::Subcommand;

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
