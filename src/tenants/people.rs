//! People by email: invitations to a tenant or a partner, email verification, password reset,
//! and a tenant administrator's say over the tenant's members (roles, removal). Every link is a
//! random token mailed to the address; only its SHA-256 is stored, it works once, and it
//! expires. The CLI, the tenant page and the account pages call the same functions.

use askama::Template;
use serde_json::json;
use tokio::sync::mpsc;

use super::{check_name, normalise_email, Directory, Tenant, User};
use crate::clock::{utc_minute, Clock};
use crate::crypto::{random_id, random_token, sha256};
use crate::error::{Error, Result};
use crate::mail::{Mail, Mailer};
use crate::paths;
use crate::secret::Secret;
use crate::store::audit::AuditEvent;
use crate::store::email_links::{Joiner, LinkRow, MemberRow};
use crate::store::tenants::UserRow;
use crate::store::{is_unique_violation, Store};

/// An invitation is good for a week: long enough to come back from a holiday.
pub const INVITATION_TTL: i64 = 7 * 86_400;
/// A verification link is good for two days.
pub const VERIFICATION_TTL: i64 = 2 * 86_400;
/// The first-run setup link is good for an hour.
pub const SETUP_TTL: i64 = 3600;
/// A reset link is good for 30 minutes: it is a password, sent by mail.
pub const RESET_TTL: i64 = 30 * 60;
/// At most this many reset mails go to one address in `RESET_WINDOW`, so the form cannot be
/// used to flood someone's inbox.
pub const RESETS_PER_WINDOW: i64 = 3;
pub const RESET_WINDOW: i64 = 15 * 60;

/// What a link does; its name is stored with it, so a link of one kind is refused by the page
/// of another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    Invitation,
    Verification,
    Reset,
    /// The first-run link `gatehouse serve` prints while there is no platform administrator.
    Setup,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Invitation => "invitation",
            Purpose::Verification => "verification",
            Purpose::Reset => "reset",
            Purpose::Setup => "setup",
        }
    }

    fn path(self) -> &'static str {
        match self {
            Purpose::Invitation => paths::ACCOUNT_INVITATION,
            Purpose::Verification => paths::ACCOUNT_VERIFY,
            Purpose::Reset => paths::ACCOUNT_RESET_CONFIRM,
            Purpose::Setup => paths::SETUP,
        }
    }
}

/// A link was made: where it points, until when, and whether the mail carrying it left.
#[derive(Debug)]
pub struct Sent {
    pub email: String,
    pub link: String,
    pub expires_at: i64,
    /// False when the mail could not be delivered; the link still works and can be passed on.
    pub delivered: bool,
}

/// An open invitation as the page that accepts it shows it.
#[derive(Debug)]
pub struct Invitation {
    pub email: String,
    /// "Acme (Cust1)" or "the developers of Partner AS".
    pub place: String,
    pub admin: bool,
    /// The address already has an account: its owner signs in instead of choosing a password.
    pub existing: Option<User>,
}

/// The refusal of a link that is unknown, used, expired, or of another kind. One message for
/// all: telling them apart would tell a guesser which tokens exist.
pub fn dead_link() -> Error {
    Error::invalid("link", "has expired or was already used; ask for a new one")
}

#[derive(Template)]
#[template(path = "mail/invitation.txt")]
struct InvitationMail<'a> {
    inviter: &'a str,
    place: &'a str,
    admin: bool,
    link: &'a str,
    expires: String,
}

#[derive(Template)]
#[template(path = "mail/verification.txt")]
struct VerificationMail<'a> {
    name: &'a str,
    email: &'a str,
    link: &'a str,
    expires: String,
}

#[derive(Template)]
#[template(path = "mail/reset.txt")]
struct ResetMail<'a> {
    name: &'a str,
    email: &'a str,
    link: &'a str,
    expires: String,
}

#[derive(Clone, Debug)]
pub struct People {
    pub(super) store: Store,
    pub(super) clock: Clock,
    pub(super) directory: Directory,
    mailer: Mailer,
    /// The issuer: links point at its pages.
    pub(super) base_url: String,
    /// Reset requests, handled one at a time off the request path (`request_reset`).
    resets: mpsc::Sender<String>,
}

impl People {
    /// Starts the worker that answers reset requests; needs a Tokio runtime.
    pub fn new(store: Store, clock: Clock, directory: Directory, mailer: Mailer, base_url: &str) -> People {
        let (resets, mut queue) = mpsc::channel::<String>(1024);
        let people =
            People { store, clock, directory, mailer, base_url: base_url.trim_end_matches('/').to_string(), resets };
        let worker = people.clone();
        tokio::spawn(async move {
            while let Some(email) = queue.recv().await {
                if let Err(e) = worker.send_reset(&email).await {
                    tracing::error!(error = %e, "a password reset mail could not be sent");
                }
            }
        });
        people
    }

    fn link(&self, purpose: Purpose, token: &str) -> String {
        format!("{}{}?token={token}", self.base_url, purpose.path())
    }

    /// Stores a new link and returns its token and URL.
    pub(super) async fn make_link(
        &self,
        purpose: Purpose,
        row: LinkRow,
        event: &AuditEvent,
    ) -> Result<(String, String)> {
        let token = random_token();
        self.store.insert_email_link(&sha256(token.as_bytes()), &row, event).await?;
        let link = self.link(purpose, &token);
        Ok((token, link))
    }

    pub(super) async fn deliver(&self, mail: Mail) -> bool {
        match self.mailer.send(&mail).await {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(error = %e, subject = %mail.subject, "a mail could not be delivered");
                false
            }
        }
    }

    async fn inviter_name(&self, actor: &str) -> String {
        match self.store.user_by_id(actor).await {
            Ok(Some(u)) => format!("{} ({})", u.name, u.email),
            _ => "An administrator".to_string(),
        }
    }

    /// Invites `email` to a tenant, as a member or an administrator, and mails the link.
    pub async fn invite_to_tenant(&self, ctx: &str, email: &str, admin: bool, actor: &str) -> Result<Sent> {
        let email = normalise_email(email)?;
        let tenant = self.directory.tenant(ctx).await?;
        let place = format!("{} ({})", tenant.name, tenant.ctx);
        let detail = json!({ "email": email, "admin": admin });
        let event = AuditEvent::new(self.clock.now(), actor, "user.invited", &tenant.ctx, detail);
        self.invite(email, Some(tenant.id), None, admin, &place, actor, event).await
    }

    /// Invites `email` to be a developer of a partner, and mails the link.
    pub async fn invite_developer(&self, partner_id: &str, email: &str, actor: &str) -> Result<Sent> {
        let email = normalise_email(email)?;
        let partner = self.directory.partner(partner_id).await?;
        let place = format!("the developers of {}", partner.name);
        let event = AuditEvent::new(
            self.clock.now(),
            actor,
            "partner.developer_invited",
            &partner.id,
            json!({ "email": email }),
        );
        self.invite(email, None, Some(partner.id), false, &place, actor, event).await
    }

    #[allow(clippy::too_many_arguments)]
    async fn invite(
        &self,
        email: String,
        tenant_id: Option<String>,
        partner_id: Option<String>,
        admin: bool,
        place: &str,
        actor: &str,
        event: AuditEvent,
    ) -> Result<Sent> {
        let now = self.clock.now();
        let row = LinkRow {
            purpose: Purpose::Invitation.as_str().into(),
            email: email.clone(),
            user_id: None,
            tenant_id,
            partner_id,
            is_admin: admin,
            created_by: actor.to_string(),
            created_at: now,
            expires_at: now + INVITATION_TTL,
        };
        let (_, link) = self.make_link(Purpose::Invitation, row, &event).await?;
        let expires = utc_minute(now + INVITATION_TTL);
        let inviter = self.inviter_name(actor).await;
        let text = InvitationMail { inviter: &inviter, place, admin, link: &link, expires }
            .render()
            .map_err(|e| Error::Internal(e.into()))?;
        let subject = format!("You are invited to {place}");
        let delivered = self.deliver(Mail { to: email.clone(), subject, text, link: Some(link.clone()) }).await;
        Ok(Sent { email, link, expires_at: now + INVITATION_TTL, delivered })
    }

    /// The invitation a token names, if it can still be accepted.
    pub async fn invitation(&self, token: &str) -> Result<Invitation> {
        let link = self.live(Purpose::Invitation, token).await?;
        let place = match (&link.tenant_id, &link.partner_id) {
            (Some(t), _) => {
                let tenant: Tenant = self.store.tenant_by_id(t).await?.ok_or_else(dead_link)?.into();
                format!("{} ({})", tenant.name, tenant.ctx)
            }
            (None, Some(p)) => format!("the developers of {}", self.directory.partner(p).await?.name),
            (None, None) => return Err(dead_link()),
        };
        let existing = self.store.user_by_email(&link.email).await?.map(User::from);
        Ok(Invitation { email: link.email, place, admin: link.is_admin, existing })
    }

    pub(super) async fn live(&self, purpose: Purpose, token: &str) -> Result<LinkRow> {
        let digest = sha256(token.as_bytes());
        self.store.email_link(&digest, purpose.as_str(), self.clock.now()).await?.ok_or_else(dead_link)
    }

    /// Accepts an invitation for a new address: the account is made with this name and
    /// password, its address verified by the click.
    pub async fn accept_as_new(&self, token: &str, name: &str, password: Secret<String>) -> Result<User> {
        self.join_new(token, name, random_id(), password).await
    }

    /// Accepts an invitation with a passkey instead of a password: the account gets `id`, the
    /// user handle the passkey was made for, and a password nobody knows (a reset sets one).
    pub async fn accept_as_new_with_passkey(&self, token: &str, name: &str, id: &str) -> Result<User> {
        let valid = id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit());
        if !valid {
            return Err(Error::invalid("passkey", "was not made for this invitation"));
        }
        self.join_new(token, name, id.to_string(), Secret::new(random_token())).await
    }

    async fn join_new(&self, token: &str, name: &str, id: String, password: Secret<String>) -> Result<User> {
        let invitation = self.live(Purpose::Invitation, token).await?;
        if self.store.user_by_email(&invitation.email).await?.is_some() {
            return Err(Error::conflict("this address has an account already: sign in to accept"));
        }
        let now = self.clock.now();
        let row = UserRow {
            id,
            email: invitation.email.clone(),
            name: check_name("name", name)?,
            password_hash: self.directory.hash_password(password).await?,
            platform_admin: false,
            created_at: now,
            associate_id: None,
            disabled_at: None,
            email_verified_at: Some(now),
        };
        let event = AuditEvent::new(now, &row.id, "user.joined", &row.id, json!({ "email": row.email, "new": true }));
        let digest = sha256(token.as_bytes());
        self.store.accept_invitation(&digest, now, Joiner::New(&row), &event).await.map_err(|e| {
            if is_unique_violation(&e) {
                Error::conflict("this address has an account already: sign in to accept")
            } else {
                e.into()
            }
        })?;
        let user = self.store.user_by_id(&row.id).await?.ok_or_else(dead_link)?;
        Ok(user.into())
    }

    /// Accepts an invitation as `user`, who has proved who they are (their password). The
    /// invitation must be for their address.
    pub async fn accept_as(&self, token: &str, user: &User) -> Result<()> {
        let invitation = self.live(Purpose::Invitation, token).await?;
        if invitation.email != user.email {
            return Err(Error::invalid("link", "is an invitation for another address"));
        }
        let now = self.clock.now();
        let event =
            AuditEvent::new(now, &user.id, "user.joined", &user.id, json!({ "email": user.email, "new": false }));
        let digest = sha256(token.as_bytes());
        self.store.accept_invitation(&digest, now, Joiner::Existing(&user.id), &event).await?.ok_or_else(dead_link)?;
        Ok(())
    }

    /// Mails `user` a link that verifies their address.
    pub async fn send_verification(&self, user: &User, actor: &str) -> Result<Sent> {
        let now = self.clock.now();
        let row = LinkRow {
            purpose: Purpose::Verification.as_str().into(),
            email: user.email.clone(),
            user_id: Some(user.id.clone()),
            tenant_id: None,
            partner_id: None,
            is_admin: false,
            created_by: actor.to_string(),
            created_at: now,
            expires_at: now + VERIFICATION_TTL,
        };
        let event = AuditEvent::new(now, actor, "user.verification_sent", &user.id, json!({ "email": user.email }));
        let (_, link) = self.make_link(Purpose::Verification, row, &event).await?;
        let text = VerificationMail {
            name: &user.name,
            email: &user.email,
            link: &link,
            expires: utc_minute(now + VERIFICATION_TTL),
        }
        .render()
        .map_err(|e| Error::Internal(e.into()))?;
        let mail = Mail {
            to: user.email.clone(),
            subject: "Confirm your email address".into(),
            text,
            link: Some(link.clone()),
        };
        let delivered = self.deliver(mail).await;
        Ok(Sent { email: user.email.clone(), link, expires_at: now + VERIFICATION_TTL, delivered })
    }

    /// The address a verification token would verify, if it is still good.
    pub async fn verification(&self, token: &str) -> Result<String> {
        Ok(self.live(Purpose::Verification, token).await?.email)
    }

    /// Uses a verification link.
    pub async fn verify(&self, token: &str) -> Result<String> {
        let now = self.clock.now();
        let link = self.live(Purpose::Verification, token).await?;
        let subject = link.user_id.clone().unwrap_or_default();
        let event = AuditEvent::new(now, &subject, "user.email_verified", &subject, json!({ "email": link.email }));
        let link = self.store.verify_email(&sha256(token.as_bytes()), now, &event).await?.ok_or_else(dead_link)?;
        Ok(link.email)
    }

    /// Asks for a reset link for `email`. Answers at once and the same way whether or not the
    /// address has an account: the lookup and the mail happen on a worker, so neither the
    /// answer nor its timing says which addresses exist.
    pub fn request_reset(&self, email: &str) {
        let Ok(email) = normalise_email(email) else { return };
        if self.resets.try_send(email).is_err() {
            tracing::warn!("the password reset queue is full; a request was dropped");
        }
    }

    /// The worker's half of `request_reset`.
    async fn send_reset(&self, email: &str) -> Result<()> {
        let Some(user) = self.store.user_by_email(email).await?.map(User::from) else { return Ok(()) };
        if user.disabled_at.is_some() {
            return Ok(());
        }
        let now = self.clock.now();
        let recent = self.store.email_links_since(&user.email, Purpose::Reset.as_str(), now - RESET_WINDOW).await?;
        if recent >= RESETS_PER_WINDOW {
            tracing::info!("a password reset was asked for too often; no mail sent");
            return Ok(());
        }
        let sent = self.send_reset_now(&user).await?;
        if !sent.delivered {
            return Err(Error::Internal(anyhow::anyhow!("the reset mail was not delivered")));
        }
        Ok(())
    }

    /// Makes a reset link for `user` and mails it, without the checks of the public form (the
    /// operator's `gatehouse user reset`).
    pub async fn send_reset_now(&self, user: &User) -> Result<Sent> {
        let now = self.clock.now();
        let row = LinkRow {
            purpose: Purpose::Reset.as_str().into(),
            email: user.email.clone(),
            user_id: Some(user.id.clone()),
            tenant_id: None,
            partner_id: None,
            is_admin: false,
            created_by: "anonymous".into(),
            created_at: now,
            expires_at: now + RESET_TTL,
        };
        let event = AuditEvent::new(now, "anonymous", "user.reset_requested", &user.id, json!({}));
        let (_, link) = self.make_link(Purpose::Reset, row, &event).await?;
        let text =
            ResetMail { name: &user.name, email: &user.email, link: &link, expires: utc_minute(now + RESET_TTL) }
                .render()
                .map_err(|e| Error::Internal(e.into()))?;
        let mail =
            Mail { to: user.email.clone(), subject: "Reset your password".into(), text, link: Some(link.clone()) };
        let delivered = self.deliver(mail).await;
        Ok(Sent { email: user.email.clone(), link, expires_at: now + RESET_TTL, delivered })
    }

    /// Whether a reset token can still be used (the page that asks for the new password).
    pub async fn reset_is_live(&self, token: &str) -> Result<()> {
        self.live(Purpose::Reset, token).await.map(|_| ())
    }

    /// Uses a reset link: the new password is set, and the person's sessions and refresh
    /// tokens end.
    pub async fn reset_password(&self, token: &str, password: Secret<String>) -> Result<User> {
        let link = self.live(Purpose::Reset, token).await?;
        let hash = self.directory.hash_password(password).await?;
        let now = self.clock.now();
        let subject = link.user_id.clone().unwrap_or_default();
        let event = AuditEvent::new(now, &subject, "user.password_reset", &subject, json!({}));
        let link =
            self.store.reset_password(&sha256(token.as_bytes()), now, &hash, &event).await?.ok_or_else(dead_link)?;
        let user = self.store.user_by_id(link.user_id.as_deref().unwrap_or_default()).await?.ok_or_else(dead_link)?;
        Ok(user.into())
    }

    /// The tenant's members, and its invitations still open.
    pub async fn members(&self, ctx: &str) -> Result<(Vec<MemberRow>, Vec<LinkRow>)> {
        let tenant = self.directory.tenant(ctx).await?;
        let members = self.store.members_of(&tenant.id).await?;
        let open = self.store.open_invitations(&tenant.id, self.clock.now()).await?;
        Ok((members, open))
    }

    async fn member(&self, ctx: &str, email: &str) -> Result<(Tenant, User)> {
        let tenant = self.directory.tenant(ctx).await?;
        let user = self.directory.user(email).await?;
        if !self.store.is_member(&tenant.id, &user.id).await? {
            return Err(Error::not_found(format!("{} in {}", user.email, tenant.ctx)));
        }
        Ok((tenant, user))
    }

    /// Makes a member an administrator of the tenant, or a plain member. The last enabled
    /// administrator stays one.
    pub async fn set_role(&self, ctx: &str, email: &str, admin: bool, actor: &str) -> Result<()> {
        let (tenant, user) = self.member(ctx, email).await?;
        let detail = json!({ "user": user.id, "email": user.email, "admin": admin });
        let event = AuditEvent::new(self.clock.now(), actor, "member.role_changed", &tenant.ctx, detail);
        if !self.store.set_member_role(&tenant.id, &user.id, admin, &event).await? && !admin {
            let members = self.store.members_of(&tenant.id).await?;
            if members.iter().any(|m| m.user_id == user.id && m.is_admin) {
                return Err(Error::conflict(
                    "the tenant's last administrator stays one; make someone else administrator first",
                ));
            }
        }
        Ok(())
    }

    /// Removes a person from the tenant (their account stays). The last enabled administrator
    /// cannot be removed.
    pub async fn remove(&self, ctx: &str, email: &str, actor: &str) -> Result<()> {
        let (tenant, user) = self.member(ctx, email).await?;
        let event = AuditEvent::new(
            self.clock.now(),
            actor,
            "member.removed",
            &tenant.ctx,
            json!({ "user": user.id, "email": user.email }),
        );
        if !self.store.remove_member(&tenant.id, &user.id, &event).await? {
            return Err(Error::conflict(
                "the tenant's last administrator cannot be removed; make someone else administrator first",
            ));
        }
        Ok(())
    }

    /// Withdraws an invitation to the tenant that was not accepted yet: its link stops working.
    pub async fn withdraw(&self, ctx: &str, email: &str, actor: &str) -> Result<()> {
        let email = normalise_email(email)?;
        let tenant = self.directory.tenant(ctx).await?;
        let event = AuditEvent::new(
            self.clock.now(),
            actor,
            "member.invitation_withdrawn",
            &tenant.ctx,
            json!({ "email": email }),
        );
        if !self.store.withdraw_invitations(&tenant.id, &email, self.clock.now(), &event).await? {
            return Err(Error::not_found(format!("an open invitation for {email}")));
        }
        Ok(())
    }

    /// Whether a tenant administrator may disable (or enable) this member's whole account:
    /// only someone who belongs to this tenant alone and is no platform administrator.
    pub async fn may_offboard(&self, ctx: &str, email: &str) -> Result<User> {
        let (tenant, user) = self.member(ctx, email).await?;
        let others = self.store.memberships(&user.id).await?.iter().filter(|m| m.tenant_ctx != tenant.ctx).count();
        if others > 0 || user.platform_admin {
            return Err(Error::conflict(format!(
                "{} belongs to other tenants too; remove them from this tenant instead",
                user.email
            )));
        }
        Ok(user)
    }
}
