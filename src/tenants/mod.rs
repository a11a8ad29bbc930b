//! Tenants (customer installations), users and their memberships, and partners with their
//! developers. Private/public admission of apps builds on these.

pub mod account;
pub mod factors;
pub mod notices;
pub mod passkeys;
pub mod password;
pub mod people;
pub mod setup;
pub mod tickets;

use serde::Serialize;
use serde_json::json;

use crate::clock::Clock;
use crate::crypto::random_id;
use crate::error::{Error, Result};
use crate::secret::Secret;
use crate::store::audit::AuditEvent;
use crate::store::outbox::WebhookEvent;
use crate::store::tenants::{PartnerRow, TenantRow, UserRow};
use crate::store::{is_unique_violation, Store};

#[derive(Debug, Clone, Serialize)]
pub struct Partner {
    pub id: String,
    pub name: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Tenant {
    pub id: String,
    pub ctx: String,
    pub serial: i64,
    pub name: String,
    pub status: String,
    pub owner_partner_id: Option<String>,
    pub created_at: i64,
    /// Who must use a second factor (`factors::Policy`).
    pub mfa_policy: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub id: String,
    pub email: String,
    pub name: String,
    pub platform_admin: bool,
    pub created_at: i64,
    /// SuperID's `associateid`: a stable number per user.
    pub associate_id: i64,
    /// When the person was disabled (offboarded); None while they may sign in.
    pub disabled_at: Option<i64>,
    /// The person used a link mailed to their address (OIDC Core §5.1 `email_verified`).
    pub email_verified: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Membership {
    pub tenant: String,
    pub is_admin: bool,
    /// Whether the tenant's policy asks this person for a second factor.
    pub second_factor_required: bool,
}

impl From<TenantRow> for Tenant {
    fn from(t: TenantRow) -> Self {
        Tenant {
            id: t.id,
            ctx: t.ctx,
            serial: t.serial,
            name: t.name,
            status: t.status,
            owner_partner_id: t.owner_partner_id,
            created_at: t.created_at,
            mfa_policy: t.mfa_policy,
        }
    }
}

impl From<UserRow> for User {
    fn from(u: UserRow) -> Self {
        User {
            id: u.id,
            email: u.email,
            name: u.name,
            platform_admin: u.platform_admin,
            created_at: u.created_at,
            associate_id: u.associate_id.unwrap_or(0),
            disabled_at: u.disabled_at,
            email_verified: u.email_verified_at.is_some(),
        }
    }
}

/// Partners, tenants and users: the people side of the platform.
#[derive(Clone, Debug)]
pub struct Directory {
    store: Store,
    clock: Clock,
    /// Argon2 runs at most this many at once (one per core), so a burst of logins queues
    /// instead of exhausting memory (19 MiB each) and starving token requests.
    hashing: std::sync::Arc<tokio::sync::Semaphore>,
    /// The second-factor policy of a new tenant (`config.default_mfa_policy`).
    default_mfa: factors::Policy,
}

/// A display name: 1–100 characters, no control characters.
pub fn check_name(field: &'static str, name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(Error::invalid(field, "must be 1 to 100 characters"));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::invalid(field, "must not contain control characters"));
    }
    Ok(name.to_string())
}

/// SuperID context identifiers look like `Cust12345`: a letter, then letters or digits.
pub fn check_ctx(ctx: &str) -> Result<()> {
    let ok = (2..=32).contains(&ctx.len())
        && ctx.starts_with(|c: char| c.is_ascii_alphabetic())
        && ctx.chars().all(|c| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(Error::invalid("ctx", "must be 2 to 32 letters and digits starting with a letter, e.g. Cust12345"))
    }
}

/// Emails are the login name: trimmed, lower-cased, one `@`, a dotted domain.
pub fn normalise_email(email: &str) -> Result<String> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && matches!(email.split_once('@'), Some((local, domain))
            if !local.is_empty() && domain.contains('.') && !domain.contains('@') && !domain.starts_with('.') && !domain.ends_with('.'));
    if valid {
        Ok(email)
    } else {
        Err(Error::invalid("email", "is not an email address like name@example.com"))
    }
}

impl Directory {
    pub fn new(store: Store, clock: Clock, default_mfa: factors::Policy) -> Self {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        Directory { store, clock, hashing: std::sync::Arc::new(tokio::sync::Semaphore::new(cores)), default_mfa }
    }

    pub async fn add_partner(&self, name: &str, actor: &str) -> Result<Partner> {
        let now = self.clock.now();
        let row = PartnerRow { id: random_id(), name: check_name("name", name)?, created_at: now };
        let event = AuditEvent::new(now, actor, "partner.created", &row.id, json!({ "name": row.name }));
        self.store.insert_partner(&row, &event).await?;
        Ok(Partner { id: row.id, name: row.name, created_at: row.created_at })
    }

    pub async fn partner(&self, id: &str) -> Result<Partner> {
        let p = self.store.partner(id).await?.ok_or_else(|| Error::not_found(format!("partner '{id}'")))?;
        Ok(Partner { id: p.id, name: p.name, created_at: p.created_at })
    }

    pub async fn partners(&self) -> Result<Vec<Partner>> {
        Ok(self
            .store
            .list_partners()
            .await?
            .into_iter()
            .map(|p| Partner { id: p.id, name: p.name, created_at: p.created_at })
            .collect())
    }

    /// Makes an existing user a developer of a partner.
    pub async fn add_partner_member(&self, partner_id: &str, email: &str, actor: &str) -> Result<()> {
        self.partner(partner_id).await?;
        let user = self.user(email).await?;
        let now = self.clock.now();
        let event = AuditEvent::new(now, actor, "partner.member_added", partner_id, json!({ "user": user.id }));
        if !self.store.insert_partner_member(partner_id, &user.id, now, &event).await? {
            return Err(Error::conflict(format!("{} is already a developer of this partner", user.email)));
        }
        Ok(())
    }

    pub async fn add_tenant(
        &self,
        ctx: &str,
        name: &str,
        serial: Option<i64>,
        owner_partner: Option<&str>,
        actor: &str,
    ) -> Result<Tenant> {
        check_ctx(ctx)?;
        let name = check_name("name", name)?;
        if let Some(s) = serial {
            if s <= 0 {
                return Err(Error::invalid("serial", "must be a positive number"));
            }
        }
        if let Some(p) = owner_partner {
            self.partner(p).await?;
        }
        let now = self.clock.now();
        let mut row = TenantRow {
            id: random_id(),
            ctx: ctx.to_string(),
            serial: serial.unwrap_or(0),
            name,
            status: "running".into(),
            owner_partner_id: owner_partner.map(str::to_string),
            created_at: now,
            mfa_policy: self.default_mfa.as_str().into(),
        };
        let event = AuditEvent::new(now, actor, "tenant.created", ctx, json!({ "name": row.name }));
        row.serial = self.store.insert_tenant(&row, &event).await.map_err(|e| {
            if is_unique_violation(&e) {
                Error::conflict(format!("a tenant with ctx '{ctx}' or that serial already exists"))
            } else {
                e.into()
            }
        })?;
        Ok(row.into())
    }

    pub async fn tenant(&self, ctx: &str) -> Result<Tenant> {
        Ok(self.store.tenant_by_ctx(ctx).await?.ok_or_else(|| Error::not_found(format!("tenant '{ctx}'")))?.into())
    }

    pub async fn tenants(&self) -> Result<Vec<Tenant>> {
        Ok(self.store.list_tenants().await?.into_iter().map(Tenant::from).collect())
    }

    /// Adds a user as a member of one tenant. An email that exists already gets the
    /// membership instead (its password is left unchanged).
    pub async fn add_user(
        &self,
        email: &str,
        name: Option<&str>,
        tenant_ctx: &str,
        admin: bool,
        password: Secret<String>,
        actor: &str,
    ) -> Result<User> {
        let email = normalise_email(email)?;
        let tenant = self.tenant(tenant_ctx).await?;
        let now = self.clock.now();
        if let Some(existing) = self.store.user_by_email(&email).await? {
            self.store.upsert_membership(&tenant.id, &existing.id, admin, now).await?;
            return Ok(existing.into());
        }
        password::check_policy(password.expose())?;
        let name = match name {
            Some(n) => check_name("name", n)?,
            None => email.split('@').next().unwrap_or_default().to_string(),
        };
        let row = UserRow {
            id: random_id(),
            email,
            name,
            password_hash: {
                let _permit = self.hashing.acquire().await.map_err(|e| Error::Internal(e.into()))?;
                password::hash(password).await?
            },
            platform_admin: false,
            created_at: now,
            associate_id: None,
            disabled_at: None,
            email_verified_at: None,
        };
        let event =
            AuditEvent::new(now, actor, "user.created", &row.id, json!({ "tenant": tenant.ctx, "admin": admin }));
        self.store.insert_user(&row, &tenant.id, admin, &event).await.map_err(|e| {
            if is_unique_violation(&e) {
                Error::conflict(format!("a user with email '{}' already exists", row.email))
            } else {
                e.into()
            }
        })?;
        // Read back for the associate id the insert gave.
        Ok(self.store.user_by_id(&row.id).await?.unwrap_or(row).into())
    }

    /// A person a tenant's upstream provider vouched for (federation): made at their first
    /// sign-in, with a random password nobody knows, and made a member of the tenant; later
    /// sign-ins keep their name, and their role when the provider maps a group to it
    /// (`admin`), as the upstream says.
    pub async fn join_federated(
        &self,
        ctx: &str,
        email: &str,
        name: Option<&str>,
        admin: Option<bool>,
        actor: &str,
    ) -> Result<User> {
        let email = normalise_email(email)?;
        let tenant = self.tenant(ctx).await?;
        let now = self.clock.now();
        let name = name.and_then(|n| check_name("name", n).ok());
        let Some(existing) = self.store.user_by_email(&email).await? else {
            let row = UserRow {
                id: random_id(),
                name: name.unwrap_or_else(|| email.split('@').next().unwrap_or_default().to_string()),
                email,
                password_hash: self.hash_password(Secret::new(crate::crypto::random_token())).await?,
                platform_admin: false,
                created_at: now,
                associate_id: None,
                disabled_at: None,
                email_verified_at: None,
            };
            let is_admin = admin.unwrap_or(false);
            let event = AuditEvent::new(
                now,
                actor,
                "user.created",
                &row.id,
                json!({ "tenant": tenant.ctx, "admin": is_admin, "federated": true }),
            );
            self.store.insert_user(&row, &tenant.id, is_admin, &event).await?;
            return Ok(self.store.user_by_id(&row.id).await?.unwrap_or(row).into());
        };
        let current = self.memberships(&existing.id).await?.into_iter().find(|m| m.tenant == tenant.ctx);
        let is_admin = admin.unwrap_or(current.as_ref().is_some_and(|m| m.is_admin));
        if current.as_ref().map(|m| m.is_admin) != Some(is_admin) {
            self.store.upsert_membership(&tenant.id, &existing.id, is_admin, now).await?;
            let event = AuditEvent::new(
                now,
                actor,
                if current.is_some() { "tenant.member_role_changed" } else { "tenant.member_joined" },
                &tenant.ctx,
                json!({ "user": existing.id, "admin": is_admin, "federated": true }),
            );
            self.store.record_audit(&event).await?;
        }
        if let Some(name) = name.filter(|n| *n != existing.name) {
            let event = AuditEvent::new(now, actor, "user.renamed", &existing.id, json!({ "federated": true }));
            self.store.rename_user(&existing.id, &name, &event).await?;
            return Ok(self.store.user_by_id(&existing.id).await?.unwrap_or(existing).into());
        }
        Ok(existing.into())
    }

    /// Hashes a new password (after the policy check) within the hashing permits.
    pub async fn hash_password(&self, password: Secret<String>) -> Result<String> {
        password::check_policy(password.expose())?;
        let _permit = self.hashing.acquire().await.map_err(|e| Error::Internal(e.into()))?;
        password::hash(password).await
    }

    pub async fn user(&self, email: &str) -> Result<User> {
        let email = normalise_email(email)?;
        Ok(self.store.user_by_email(&email).await?.ok_or_else(|| Error::not_found(format!("user '{email}'")))?.into())
    }

    pub async fn memberships(&self, user_id: &str) -> Result<Vec<Membership>> {
        Ok(self
            .store
            .memberships(user_id)
            .await?
            .into_iter()
            .map(|m| Membership {
                second_factor_required: factors::Policy::parse(&m.mfa_policy)
                    .unwrap_or(factors::Policy::Admins)
                    .requires(m.is_admin),
                tenant: m.tenant_ctx,
                is_admin: m.is_admin,
            })
            .collect())
    }

    /// Checks a user's password; unknown emails cost the same as known ones.
    pub async fn verify_password(&self, email: &str, password: Secret<String>) -> Result<Option<User>> {
        let user = match normalise_email(email) {
            Ok(e) => self.store.user_by_email(&e).await?,
            Err(_) => None,
        };
        let ok = {
            let _permit = self.hashing.acquire().await.map_err(|e| Error::Internal(e.into()))?;
            password::verify(password, user.as_ref().map(|u| u.password_hash.clone())).await?
        };
        // A disabled person's right password is answered like a wrong one: the same page, the
        // same time spent hashing, and the failure counts against the source as usual.
        Ok(if ok { user.map(User::from).filter(|u| u.disabled_at.is_none()) } else { None })
    }

    /// Offboards a person: they cannot sign in, and their sessions, consents, refresh tokens,
    /// access tokens and JWT credentials stop working at once (`Store::disable_user`).
    pub async fn disable_user(&self, email: &str, actor: &str) -> Result<User> {
        let user = self.user(email).await?;
        let now = self.clock.now();
        let event = AuditEvent::new(now, actor, "user.disabled", &user.id, json!({ "email": user.email }));
        let hooks: Vec<WebhookEvent> = self
            .store
            .memberships(&user.id)
            .await?
            .iter()
            .map(|m| {
                let data = json!({ "tenant": m.tenant_ctx, "user_id": user.id, "email": user.email });
                WebhookEvent::new("user.disabled", &m.tenant_ctx, now, data)
            })
            .collect();
        self.store.disable_user(&user.id, now, &event, &hooks).await?;
        self.user(email).await
    }

    /// Lets a disabled person sign in again; what was revoked stays revoked.
    pub async fn enable_user(&self, email: &str, actor: &str) -> Result<User> {
        let user = self.user(email).await?;
        let event = AuditEvent::new(self.clock.now(), actor, "user.enabled", &user.id, json!({ "email": user.email }));
        self.store.enable_user(&user.id, &event).await?;
        self.user(email).await
    }

    /// Deletes a person, who must be disabled first (so that everything issued to them has
    /// already ended, and a deletion is never the first step of an offboarding).
    pub async fn delete_user(&self, email: &str, actor: &str) -> Result<()> {
        let user = self.user(email).await?;
        if user.disabled_at.is_none() {
            return Err(Error::conflict(format!("disable {} before deleting them", user.email)));
        }
        let now = self.clock.now();
        let event = AuditEvent::new(now, actor, "user.deleted", &user.id, json!({ "email": user.email }));
        if !self.store.delete_user(&user.id, now, &event).await? {
            return Err(Error::not_found(format!("user '{email}'")));
        }
        Ok(())
    }

    /// Sets who in the tenant must use a second factor.
    pub async fn set_mfa_policy(&self, ctx: &str, policy: factors::Policy, actor: &str) -> Result<Tenant> {
        let tenant = self.tenant(ctx).await?;
        let event =
            AuditEvent::new(self.clock.now(), actor, "tenant.mfa_policy_set", ctx, json!({ "mfa": policy.as_str() }));
        self.store.set_mfa_policy(&tenant.id, policy.as_str(), &event).await?;
        self.tenant(ctx).await
    }

    pub async fn set_platform_admin(&self, email: &str, admin: bool) -> Result<User> {
        let user = self.user(email).await?;
        self.store.set_platform_admin(&user.id, admin).await?;
        Ok(User { platform_admin: admin, ..user })
    }
}
