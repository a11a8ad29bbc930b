//! `gatehouse user …`: users and their memberships.

use std::io::Read;

use clap::Subcommand;
use serde_json::json;

use super::{open, print, ACTOR};
use crate::config::Config;
use crate::secret::Secret;

#[derive(Subcommand, Debug)]
pub(super) enum UserCmd {
    /// Add a user to a tenant; the password is read from standard input.
    Add {
        #[arg(long)]
        email: String,
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        name: Option<String>,
        /// Make the user an administrator of the tenant.
        #[arg(long)]
        admin: bool,
        /// Read the password from standard input (required: passwords never go on the command line).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Grant or remove the platform administrator flag.
    PlatformAdmin {
        #[arg(long)]
        email: String,
        #[arg(long)]
        revoke: bool,
    },
    Show {
        email: String,
    },
    /// Offboard a user: no more sign-in, and their sessions, consents, refresh and access
    /// tokens and JWT credentials stop working at once.
    Disable {
        email: String,
    },
    /// Let a disabled user sign in again (what was revoked stays revoked).
    Enable {
        email: String,
    },
    /// Delete a disabled user and everything that belongs to them.
    Delete {
        email: String,
    },
    /// Invite someone to a tenant by email; prints the link too (it works once, for 7 days).
    Invite {
        email: String,
        #[arg(long)]
        tenant: String,
        /// Invite as an administrator of the tenant.
        #[arg(long)]
        admin: bool,
    },
    /// Mail a user a link that verifies their address.
    Verify {
        email: String,
    },
    /// Mail a user a password reset link (as the "Forgot your password?" page does).
    Reset {
        email: String,
    },
    /// Make a member an administrator of a tenant, or (with --member) a plain member.
    Role {
        email: String,
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        member: bool,
    },
    /// Remove a person's second factor and recovery codes (a lost phone); they set up a new one
    /// at their next sign-in where one is required.
    ResetMfa {
        email: String,
    },
    /// Remove a person from a tenant; their account stays.
    Remove {
        email: String,
        #[arg(long)]
        tenant: String,
    },
}

pub(super) async fn user(config: Config, json: bool, cmd: UserCmd) -> anyhow::Result<()> {
    let state = open(config).await?;
    match cmd {
        UserCmd::Add { email, tenant, name, admin, password_stdin: _ } => {
            let mut password = String::new();
            std::io::stdin()
                .take(4096)
                .read_to_string(&mut password)
                .map_err(|e| anyhow::anyhow!("cannot read the password from standard input: {e}"))?;
            let password = password.trim_end_matches(['\n', '\r']).to_string();
            let u =
                state.directory.add_user(&email, name.as_deref(), &tenant, admin, Secret::new(password), ACTOR).await?;
            print(json, &u, || {
                format!("user {} is a{} member of {tenant}", u.email, if admin { "n administrator and" } else { "" })
            })
        }
        UserCmd::PlatformAdmin { email, revoke } => {
            let u = state.directory.set_platform_admin(&email, !revoke).await?;
            print(json, &u, || format!("{}: platform administrator = {}", u.email, u.platform_admin))
        }
        UserCmd::Show { email } => {
            let u = state.directory.user(&email).await?;
            let memberships = state.directory.memberships(&u.id).await?;
            let body = json!({ "user": u, "memberships": memberships });
            print(json, &body, || serde_json::to_string_pretty(&body).unwrap_or_default())
        }
        UserCmd::Disable { email } => {
            let u = state.directory.disable_user(&email, ACTOR).await?;
            print(json, &u, || format!("{} is disabled; their sessions and tokens have ended", u.email))
        }
        UserCmd::Enable { email } => {
            let u = state.directory.enable_user(&email, ACTOR).await?;
            print(json, &u, || format!("{} may sign in again", u.email))
        }
        UserCmd::Delete { email } => {
            state.directory.delete_user(&email, ACTOR).await?;
            print(json, &json!({ "deleted": email }), || format!("{email} is deleted"))
        }
        UserCmd::Invite { email, tenant, admin } => {
            let sent = state.people.invite_to_tenant(&tenant, &email, admin, ACTOR).await?;
            print_sent(json, &sent)
        }
        UserCmd::Verify { email } => {
            let user = state.directory.user(&email).await?;
            let sent = state.people.send_verification(&user, ACTOR).await?;
            print_sent(json, &sent)
        }
        UserCmd::Reset { email } => {
            // The CLI is the operator: it is told plainly when the address has no account.
            let user = state.directory.user(&email).await?;
            let sent = state.people.send_reset_now(&user).await?;
            print_sent(json, &sent)
        }
        UserCmd::Role { email, tenant, member } => {
            state.people.set_role(&tenant, &email, !member, ACTOR).await?;
            let role = if member { "a member" } else { "an administrator" };
            print(json, &json!({ "email": email, "tenant": tenant, "admin": !member }), || {
                format!("{email} is {role} of {tenant}")
            })
        }
        UserCmd::ResetMfa { email } => {
            let user = state.directory.user(&email).await?;
            let removed = state.factors.remove(&user.id, ACTOR).await?;
            if removed {
                if let Some(sending) = state.people.notify(&user, crate::tenants::notices::Notice::SecondFactorRemoved)
                {
                    let _ = sending.await;
                }
            }
            let note = if removed { "no longer has a second factor" } else { "had no second factor" };
            print(json, &json!({ "email": user.email, "removed": removed }), || format!("{} {note}", user.email))
        }
        UserCmd::Remove { email, tenant } => {
            state.people.remove(&tenant, &email, ACTOR).await?;
            print(json, &json!({ "removed": email, "tenant": tenant }), || format!("{email} was removed from {tenant}"))
        }
    }
}

/// A mailed link: the operator sees it too, to pass on when mail does not arrive.
pub(super) fn print_sent(json: bool, sent: &crate::tenants::people::Sent) -> anyhow::Result<()> {
    let body =
        json!({ "email": sent.email, "link": sent.link, "expires_at": sent.expires_at, "delivered": sent.delivered });
    print(json, &body, || {
        let note = if sent.delivered { "mailed to" } else { "could NOT be mailed to" };
        format!("the link was {note} {}; it works once:\n{}", sent.email, sent.link)
    })
}
