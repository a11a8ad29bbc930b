//! Administration pages: a tenant administrator's `/admin/tenant` (the apps that asked for
//! the tenant, approve / deny / revoke, and who did what when, from the audit trail), and the
//! platform administrator's `/portal/admin` (restricted integration points waiting for a
//! decision, with the partner's justification).

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{viewer, when, Form, Nav, Viewer};
use crate::approvals::End;
use crate::apps::Entitlement;
use crate::http::pages::{self, PageError, Policy};
use crate::paths;
use crate::store::approvals::AuthorizationView;
use crate::store::apps::PendingEntitlement;
use crate::store::email_links::{LinkRow, MemberRow};
use crate::tenants::people::Sent;
use crate::AppState;

#[derive(Deserialize)]
pub struct TenantQuery {
    ctx: Option<String>,
    done: Option<String>,
}

pub(super) fn not_admin(viewer: &Viewer) -> PageError {
    PageError::refused(
        viewer.nav(),
        "Not an administrator",
        "Only an administrator of this tenant can manage its apps. Nothing was changed.",
    )
}

/// A form of the tenant page: the viewer, who sent it from this site with their CSRF token and
/// administers the tenant it names, and that tenant's ctx.
pub(super) async fn tenant_form(
    state: &AppState,
    headers: &HeaderMap,
    form: &Form,
) -> Result<(Viewer, String), PageError> {
    let viewer = viewer(state, headers, paths::ADMIN_TENANT).await?;
    form.check(state, headers, &viewer)?;
    let ctx = form.text("ctx");
    if !viewer.admin_of.contains(&ctx) {
        return Err(not_admin(&viewer));
    }
    Ok((viewer, ctx))
}

/// `GET /admin/tenant?ctx=…`
pub async fn tenant(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<TenantQuery>,
) -> Result<Response, PageError> {
    let viewer = viewer(&state, &headers, paths::ADMIN_TENANT).await?;
    let Some(ctx) = q.ctx.clone().or_else(|| viewer.admin_of.first().cloned()) else { return Err(not_admin(&viewer)) };
    if !viewer.admin_of.contains(&ctx) {
        return Err(not_admin(&viewer));
    }
    let notice = match q.done.as_deref() {
        Some("approve") => Some("The app is approved for every user of the tenant."),
        Some("deny") => Some("The app was denied."),
        Some("revoke") => Some("The approval was revoked: the app's refresh tokens and system token here have ended."),
        Some(done) => super::people::notice(done).or_else(|| super::sign_in::notice(done)),
        None => None,
    };
    render_tenant(&state, viewer, ctx, notice, None).await
}

#[derive(Template)]
#[template(path = "portal/tenant.html")]
struct TenantPage {
    title: String,
    nav: Nav,
    /// The tenants the viewer administers, to switch between them.
    admin_of: Vec<String>,
    ctx: String,
    notice: Option<&'static str>,
    records: Vec<AuthorizationView>,
    events: Vec<EventRow>,
    members: Vec<MemberRow>,
    invitations: Vec<LinkRow>,
    /// An invitation whose mail could not be delivered: its link, for the administrator to
    /// pass on another way.
    pass_on: Option<Sent>,
    /// The organisation providers its people sign in at (federation).
    providers: Vec<ProviderRow>,
    /// The redirect URI to register at every provider.
    callback: String,
}

/// A provider as the tenant page shows it, with what its administrator has to publish.
struct ProviderRow {
    idp: crate::store::federation::IdpRow,
    /// Our public key for `private_key_jwt`, when we authenticate with one.
    jwks_uri: Option<String>,
    /// Unproven domains: (domain, TXT record name, TXT record text).
    pending: Vec<(String, String, String)>,
}

/// One line of the audit trail, as the tenant administrator reads it.
struct EventRow {
    when: String,
    who: String,
    what: String,
    client_id: String,
}

pub(super) async fn render_tenant(
    state: &AppState,
    viewer: Viewer,
    ctx: String,
    notice: Option<&'static str>,
    pass_on: Option<Sent>,
) -> Result<Response, PageError> {
    let tenant = state.directory.tenant(&ctx).await?;
    let records = state.store.authorizations_of_tenant(&tenant.id).await?;
    let trail = state.store.audit_trail(&ctx, 100).await?;
    // The trail names people by email; actors that are not users (the CLI) keep their name.
    let mut names: HashMap<String, String> = HashMap::new();
    for e in &trail {
        if !names.contains_key(&e.actor) {
            let name = match state.store.user_by_id(&e.actor).await {
                Ok(Some(u)) => u.email,
                _ => e.actor.clone(),
            };
            names.insert(e.actor.clone(), name);
        }
    }
    let events = trail
        .iter()
        .filter(|e| e.action.starts_with("app.") || e.action.starts_with("member.") || e.action == "user.invited")
        .map(|e| EventRow {
            when: when(Some(e.at)),
            who: names.get(&e.actor).unwrap_or(&e.actor).clone(),
            what: e.action.trim_start_matches("app.").to_string(),
            // An app's client ID, or the person an event about people was about.
            client_id: ["client_id", "email"]
                .iter()
                .find_map(|k| e.detail.get(*k).and_then(|v| v.as_str()))
                .unwrap_or("")
                .to_string(),
        })
        .collect();
    let (members, invitations) = state.people.members(&ctx).await?;
    let providers = state
        .upstreams
        .list(&ctx)
        .await?
        .into_iter()
        .map(|idp| ProviderRow {
            jwks_uri: state.upstreams.jwks_uri(&idp),
            pending: idp
                .pending
                .iter()
                .map(|c| {
                    let (name, text) = crate::federation::domains::txt_record(&c.domain, &c.token);
                    (c.domain.clone(), name, text)
                })
                .collect(),
            idp,
        })
        .collect();
    let page = TenantPage {
        providers,
        callback: state.upstreams.callback().to_string(),
        title: format!("{} ({})", tenant.name, tenant.ctx),
        nav: viewer.nav(),
        admin_of: viewer.admin_of,
        ctx,
        notice,
        records,
        events,
        members,
        invitations,
        pass_on,
    };
    Ok(pages::render(StatusCode::OK, &page, Policy::Own))
}

/// `POST /admin/tenant`: approve, deny or revoke an app that asked for the tenant.
pub async fn tenant_decide(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Form,
) -> Result<Response, PageError> {
    let (viewer, ctx) = tenant_form(&state, &headers, &form).await?;
    let client_id = form.text("client_id");
    // Only apps already on the tenant's list can be decided here.
    let listed = async {
        let tenant = state.directory.tenant(&ctx).await?;
        let records = state.store.authorizations_of_tenant(&tenant.id).await?;
        Ok::<_, crate::error::Error>(records.iter().any(|r| r.client_id == client_id))
    };
    if !listed.await? {
        return Err(crate::error::Error::not_found(format!("app '{client_id}' in {ctx}")).into());
    }
    let app = state.registry.get(&client_id).await?;
    let actor = viewer.user.id.as_str();
    let decision = form.text("decision");
    let result = match decision.as_str() {
        "approve" => state.approvals.approve(&ctx, &app, Some(actor), actor).await,
        "deny" => state.approvals.end(&ctx, &app, End::Denied, actor).await,
        "revoke" => state.approvals.end(&ctx, &app, End::Revoked, actor).await,
        _ => Err(crate::error::Error::invalid("decision", "must be approve, deny or revoke")),
    };
    result?;
    let ctx = form_urlencoded::byte_serialize(ctx.as_bytes()).collect::<String>();
    Ok(Redirect::to(&format!("{}?ctx={ctx}&done={decision}", paths::ADMIN_TENANT)).into_response())
}

fn not_platform_admin(viewer: &Viewer) -> PageError {
    PageError::refused(
        viewer.nav(),
        "Not a platform administrator",
        "Only a platform administrator can decide restricted integration points. Nothing was changed.",
    )
}

#[derive(Deserialize)]
pub struct PlatformQuery {
    done: Option<String>,
}

#[derive(Template)]
#[template(path = "portal/platform.html")]
struct PlatformPage {
    title: &'static str,
    nav: Nav,
    notice: Option<&'static str>,
    pending: Vec<PendingEntitlement>,
}

/// `GET /portal/admin`
pub async fn platform(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<PlatformQuery>,
) -> Result<Response, PageError> {
    let viewer = viewer(&state, &headers, paths::PORTAL_ADMIN).await?;
    if !viewer.user.platform_admin {
        return Err(not_platform_admin(&viewer));
    }
    let notice = match q.done.as_deref() {
        Some("approve") => Some("The integration point is active."),
        Some("reject") => Some("The integration point was rejected."),
        _ => None,
    };
    let page = PlatformPage {
        title: "Restricted integration points",
        nav: viewer.nav(),
        notice,
        pending: state.store.pending_entitlements().await?,
    };
    Ok(pages::render(StatusCode::OK, &page, Policy::Own))
}

/// `POST /portal/admin`
pub async fn platform_decide(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Form,
) -> Result<Response, PageError> {
    let viewer = viewer(&state, &headers, paths::PORTAL_ADMIN).await?;
    form.check(&state, &headers, &viewer)?;
    if !viewer.user.platform_admin {
        return Err(not_platform_admin(&viewer));
    }
    let entitlement = Entitlement::parse(&form.text("entitlement"))?;
    let decision = form.text("decision");
    let approve = match decision.as_str() {
        "approve" => true,
        "reject" => false,
        _ => return Err(crate::error::Error::invalid("decision", "must be approve or reject").into()),
    };
    state.registry.decide_entitlement(&form.text("client_id"), entitlement, approve, &viewer.user.id).await?;
    Ok(Redirect::to(&format!("{}?done={decision}", paths::PORTAL_ADMIN)).into_response())
}
