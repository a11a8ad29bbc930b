//! What happens after a valid authorization request: is a login needed, which tenant, does
//! the tenant admit the app, has the user consented — and, when all is settled, the
//! authorization code. "Needs a login" is control flow (`Step`), not an error.

use std::net::IpAddr;
use std::sync::Arc;

use serde_json::json;

use super::authorize::AuthorizationRequest;
use super::{ErrorCode, OAuthError, ProtocolError};
use crate::apps::App;
use crate::crypto::{random_id, random_token, sha256};
use crate::provider::Provider;
use crate::store::grants::CodeRow;
use crate::store::sessions::{PendingRequest, SessionRow};
use crate::tenants::factors::{has_second_factor, Policy};
use crate::tenants::Tenant;

/// How long a pending request (login page open) lives.
pub const PENDING_TTL: i64 = 15 * 60;
/// Authorization codes start with this.
pub const CODE_PREFIX: &str = "gatehouse_ac_";

/// The next thing the user must do, or the end of the flow.
#[derive(Debug)]
pub enum Step {
    Login,
    /// The session lacks a second factor that the person has, the app asked for
    /// (`acr_values`), or the tenant's policy requires; `enrolled` is false when the person
    /// must set one up first.
    SecondFactor {
        enrolled: bool,
        why: SecondFactorReason,
    },
    SelectTenant(Vec<Tenant>),
    /// The tenant has not approved the app and the user is its administrator.
    Approve(Tenant),
    Consent(Tenant),
    Issue(Tenant),
    Refuse(OAuthError),
}

/// Why a second factor is asked for (the set-up page says so).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondFactorReason {
    /// The person has one: every sign-in uses it.
    Enrolled,
    /// The app asked for it in `acr_values`.
    Requested,
    /// The tenant's policy requires it of this person.
    Policy,
}

fn refuse(code: ErrorCode, why: &'static str) -> Step {
    Step::Refuse(OAuthError::new(code, why))
}

pub async fn next_step(
    state: &Provider,
    req: &AuthorizationRequest,
    app: &App,
    session: Option<&SessionRow>,
) -> Result<Step, ProtocolError> {
    let now = state.clock.now();
    let Some(session) = session else {
        return Ok(if req.prompt_none {
            refuse(ErrorCode::LoginRequired, "the user is not signed in")
        } else {
            Step::Login
        });
    };
    let too_old = req.max_age.is_some_and(|m| now - session.auth_time > m);
    if too_old {
        return Ok(if req.prompt_none {
            refuse(ErrorCode::LoginRequired, "the sign-in is older than max_age")
        } else {
            Step::Login
        });
    }
    // OIDC Core §5.5.1: asked for one person's ID token, answer only for that person.
    if req.claimed_sub.as_ref().is_some_and(|sub| sub != &session.user_id) {
        return Ok(if req.prompt_none {
            refuse(ErrorCode::LoginRequired, "the signed-in user is not the sub the claims parameter names")
        } else {
            refuse(ErrorCode::AccessDenied, "the signed-in user is not the sub the claims parameter names")
        });
    }
    let memberships = state.directory.memberships(&session.user_id).await?;
    let chosen = match &req.tenant_hint {
        Some(ctx) => match memberships.iter().find(|m| &m.tenant == ctx) {
            Some(m) => Some(m.tenant.clone()),
            None => return Ok(refuse(ErrorCode::AccessDenied, "the user is not a member of the requested tenant")),
        },
        None => {
            let session_tenant = match &session.tenant_id {
                Some(id) if !req.prompt_select_account => state.store.tenant_by_id(id).await?.map(|t| t.ctx),
                _ => None,
            };
            match session_tenant.filter(|ctx| memberships.iter().any(|m| &m.tenant == ctx)) {
                Some(ctx) => Some(ctx),
                None if memberships.len() == 1 && !req.prompt_select_account => Some(memberships[0].tenant.clone()),
                None => None,
            }
        }
    };
    let Some(ctx) = chosen else {
        if memberships.is_empty() {
            return Ok(refuse(ErrorCode::AccessDenied, "the user belongs to no tenant"));
        }
        if req.prompt_none {
            return Ok(refuse(ErrorCode::AccountSelectionRequired, "the user must choose a tenant"));
        }
        let mut tenants = Vec::new();
        for m in &memberships {
            tenants.push(state.directory.tenant(&m.tenant).await?);
        }
        return Ok(Step::SelectTenant(tenants));
    };
    let tenant = state.directory.tenant(&ctx).await?;
    let is_admin = memberships.iter().any(|m| m.tenant == ctx && m.is_admin);
    if !has_second_factor(&session.amr) {
        let enrolled = state.factors.enrolled(&session.user_id).await?;
        let policy = Policy::parse(&tenant.mfa_policy).unwrap_or(Policy::Admins);
        let why = if enrolled {
            Some(SecondFactorReason::Enrolled)
        } else if req.second_factor {
            Some(SecondFactorReason::Requested)
        } else if policy.requires(is_admin) {
            Some(SecondFactorReason::Policy)
        } else {
            None
        };
        if let Some(why) = why {
            if req.prompt_none {
                return Ok(refuse(ErrorCode::InteractionRequired, "the sign-in needs a second factor"));
            }
            return Ok(Step::SecondFactor { enrolled, why });
        }
    }
    if !state.approvals.admits(app, &tenant).await? {
        let private_elsewhere = app.access == crate::apps::Access::Private
            && tenant.owner_partner_id.as_deref() != Some(app.partner_id.as_str());
        if private_elsewhere {
            return Ok(refuse(ErrorCode::AccessDenied, "this app is private to another company's tenants"));
        }
        if !is_admin {
            // The tenant's administrators see the app among those that asked for the tenant.
            if let Err(e) = state.store.record_app_request(&app.id, &tenant.id, now).await {
                tracing::warn!(error = %e, "recording an app request failed");
            }
            return Ok(refuse(ErrorCode::AccessDenied, "your tenant administrator has not approved this app"));
        }
        if req.prompt_none {
            return Ok(refuse(ErrorCode::ConsentRequired, "a tenant administrator must approve this app"));
        }
        return Ok(Step::Approve(tenant));
    }
    let granted = state.store.consent(&session.user_id, &app.id).await?.unwrap_or_default();
    let covered = req.scope.iter().all(|s| granted.split(' ').any(|g| g == s));
    if req.prompt_consent || !covered {
        if req.prompt_none {
            return Ok(refuse(ErrorCode::ConsentRequired, "the user has not consented to this app"));
        }
        return Ok(Step::Consent(tenant));
    }
    Ok(Step::Issue(tenant))
}

/// The address a pending request is counted against: an IPv4 address, or the /64 of an IPv6
/// address (one subscriber usually holds a whole /64, so single addresses would not cap them).
pub fn address_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// Stores a pending request so any instance can continue it after the login page. Returns it
/// with the browser-binding token to set as a cookie, or None when the client address already
/// has `max_pending_per_address` unexpired pending requests: new ones are refused rather than
/// old ones dropped, so a flood from one address costs no writes and never evicts a sign-in
/// that someone behind the same address is in the middle of.
pub async fn save_pending(
    state: &Provider,
    req: &AuthorizationRequest,
    app: &App,
    peer: Option<IpAddr>,
) -> Result<Option<(PendingRequest, String)>, ProtocolError> {
    let now = state.clock.now();
    let browser = random_token();
    let pending = PendingRequest {
        id: random_id(),
        app_id: app.id.clone(),
        params: serde_json::to_string(req).map_err(|e| ProtocolError::Internal(e.into()))?,
        csrf: random_token(),
        browser: sha256(browser.as_bytes()).to_vec(),
        expires_at: now + PENDING_TTL,
        signed_in_at: None,
    };
    let address = peer.map(address_key);
    let cap = state.config.max_pending_per_address;
    if !state.store.insert_pending_request_within_cap(&pending, address.as_deref(), cap, now).await? {
        return Ok(None);
    }
    Ok(Some((pending, browser)))
}

/// Loads a pending request with its app.
pub async fn load_pending(
    state: &Provider,
    id: &str,
) -> Result<Option<(PendingRequest, AuthorizationRequest, Arc<App>)>, ProtocolError> {
    let Some(p) = state.store.pending_request(id, state.clock.now()).await? else { return Ok(None) };
    let mut req: AuthorizationRequest =
        serde_json::from_str(&p.params).map_err(|e| ProtocolError::Internal(e.into()))?;
    // A login on this request's own login page satisfies its prompt=login and max_age, however
    // many seconds the next page takes; until then, neither lets an older session through.
    if p.signed_in_at.is_some() {
        req.prompt_login = false;
        req.max_age = None;
    }
    let app = match state.registry.get_shared(&req.client_id).await {
        Ok(app) => app,
        Err(crate::error::Error::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    // The app may have changed while the user was on our pages. A device's sign-in ends on
    // our own page (RFC 8628), not at a redirect URI of the app.
    if app.id != p.app_id || (req.device.is_none() && !app.redirect_uri_matches(&req.redirect_uri)) {
        return Ok(None);
    }
    Ok(Some((p, req, app)))
}

/// Issues the authorization code, bound to the client, redirect URI, PKCE challenge and nonce.
pub async fn issue_code(
    state: &Provider,
    req: &AuthorizationRequest,
    app: &App,
    session: &SessionRow,
    tenant: &Tenant,
) -> Result<String, ProtocolError> {
    let now = state.clock.now();
    let code = format!("{CODE_PREFIX}{}", random_token());
    let row = CodeRow {
        digest: sha256(code.as_bytes()).to_vec(),
        grant_id: random_id(),
        app_id: app.id.clone(),
        user_id: session.user_id.clone(),
        tenant_id: Some(tenant.id.clone()),
        redirect_uri: req.redirect_uri.clone(),
        scope: req.scope.join(" "),
        nonce: req.nonce.clone(),
        code_challenge: req.code_challenge.clone(),
        challenge_method: req.code_challenge_method.clone(),
        auth_time: session.auth_time,
        created_at: now,
        expires_at: now + state.config.code_ttl,
        amr: Some(session.amr.clone()),
        sid: Some(session.sid.clone()),
        dpop_jkt: req.dpop_jkt.clone(),
    };
    let event = crate::store::audit::AuditEvent::new(
        now,
        &session.user_id,
        "authorization.code_issued",
        &app.client_id,
        json!({ "tenant": tenant.ctx }),
    );
    state.store.insert_code(&row, &event).await?;
    // OIDC Back-Channel Logout §2.3: the session's end is told to each app it signed in to
    // that asked to be told.
    if !app.backchannel_logout_uris.is_empty() {
        state.store.record_session_app(&session.sid, &app.id, &session.user_id, session.expires_at).await?;
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::address_key;

    #[test]
    fn ipv4_addresses_count_alone_and_ipv6_addresses_by_their_64() {
        assert_eq!(address_key("192.0.2.7".parse().unwrap()), "192.0.2.7");
        assert_eq!(address_key("::ffff:192.0.2.7".parse().unwrap()), "192.0.2.7");
        let a = address_key("2001:db8:1:2:aaaa::1".parse().unwrap());
        assert_eq!(a, "2001:db8:1:2::/64");
        assert_eq!(address_key("2001:db8:1:2:ffff:ffff:ffff:ffff".parse().unwrap()), a);
        assert_ne!(address_key("2001:db8:1:3::1".parse().unwrap()), a);
    }
}
