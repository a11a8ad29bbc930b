//! Administration pages: a tenant administrator's `/admin/tenant` (the apps that asked for
//! the tenant, approve / deny / revoke, and who did what when, from the audit trail), and the
//! platform administrator's `/portal/admin` (restricted integration points waiting for a
//! decision, with the partner's justification).

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{cross_site, domain_error, forged, viewer, when, Form, Viewer};
use crate::approvals::End;
use crate::apps::Entitlement;
use crate::http::pages::esc;
use crate::paths;
use crate::AppState;

#[derive(Deserialize)]
pub struct TenantQuery {
    ctx: Option<String>,
    done: Option<String>,
}

fn not_admin(viewer: &Viewer) -> Response {
    viewer.page(
        StatusCode::FORBIDDEN,
        "Not an administrator",
        "<p class=\"error\" role=\"alert\">Only an administrator of this tenant can manage its apps. Nothing was changed.</p>",
    )
}

/// `GET /admin/tenant?ctx=…`
pub async fn tenant(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<TenantQuery>) -> Response {
    let viewer = match viewer(&state, &headers, paths::ADMIN_TENANT).await {
        Ok(v) => v,
        Err(res) => return res,
    };
    let Some(ctx) = q.ctx.clone().or_else(|| viewer.admin_of.first().cloned()) else { return not_admin(&viewer) };
    if !viewer.admin_of.contains(&ctx) {
        return not_admin(&viewer);
    }
    let notice = match q.done.as_deref() {
        Some("approve") => Some("The app is approved for every user of the tenant."),
        Some("deny") => Some("The app was denied."),
        Some("revoke") => Some("The approval was revoked: the app's refresh tokens and system token here have ended."),
        _ => None,
    };
    render_tenant(&state, &viewer, &ctx, notice).await
}

async fn render_tenant(state: &AppState, viewer: &Viewer, ctx: &str, notice: Option<&str>) -> Response {
    let loaded = async {
        let tenant = state.directory.tenant(ctx).await?;
        let records = state.store.authorizations_of_tenant(&tenant.id).await?;
        let trail = state.store.audit_trail(ctx, 100).await?;
        Ok::<_, crate::error::Error>((tenant, records, trail))
    };
    let (tenant, records, trail) = match loaded.await {
        Ok(l) => l,
        Err(e) => return domain_error(&e),
    };
    let csrf = viewer.csrf_field();
    let mut body = String::new();
    if viewer.admin_of.len() > 1 {
        let links: Vec<String> = viewer
            .admin_of
            .iter()
            .map(|c| format!("<a href=\"{}?ctx={}\">{}</a>", paths::ADMIN_TENANT, esc(c), esc(c)))
            .collect();
        body.push_str(&format!("<p>Your tenants: {}</p>", links.join(" · ")));
    }
    if let Some(n) = notice {
        body.push_str(&format!("<p class=\"ok\" role=\"status\">{}</p>", esc(n)));
    }
    let button = |client_id: &str, decision: &str, label: &str, app: &str| {
        format!(
            "<form class=\"inline\" method=\"post\" action=\"{}\">{csrf}<input type=\"hidden\" name=\"ctx\" value=\"{}\"><input type=\"hidden\" name=\"client_id\" value=\"{}\"><button type=\"submit\" name=\"decision\" value=\"{decision}\" aria-label=\"{label} {}\">{label}</button></form> ",
            paths::ADMIN_TENANT,
            esc(ctx),
            esc(client_id),
            esc(app)
        )
    };
    let rows: String = records
        .iter()
        .map(|r| {
            let actions = match r.status.as_str() {
                "approved" => button(&r.client_id, "revoke", "Revoke", &r.app_name),
                "requested" | "needs-reapproval" | "expired" => format!(
                    "{}{}",
                    button(&r.client_id, "approve", "I approve", &r.app_name),
                    button(&r.client_id, "deny", "Deny", &r.app_name)
                ),
                _ => button(&r.client_id, "approve", "I approve", &r.app_name),
            };
            format!(
                "<tr><td>{}<br><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{actions}</td></tr>",
                esc(&r.app_name),
                esc(&r.client_id),
                esc(&r.status),
                esc(&r.entitlements.replace(' ', ", ")),
                esc(r.approved_by.as_deref().unwrap_or("—")),
                when(r.approved_at)
            )
        })
        .collect();
    if rows.is_empty() {
        body.push_str("<p class=\"muted\">No app has asked for this tenant yet. Apps appear here when a user of the tenant tries one.</p>");
    } else {
        body.push_str(&format!(
            "<table><thead><tr><th scope=\"col\">App</th><th scope=\"col\">Status</th><th scope=\"col\">Integration points</th><th scope=\"col\">Approved by</th><th scope=\"col\">Approved</th><th scope=\"col\">Actions</th></tr></thead><tbody>{rows}</tbody></table>"
        ));
    }
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
    let events: String = trail
        .iter()
        .filter(|e| e.action.starts_with("app."))
        .map(|e| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                when(Some(e.at)),
                esc(names.get(&e.actor).unwrap_or(&e.actor)),
                esc(e.action.trim_start_matches("app.")),
                esc(e.detail.get("client_id").and_then(|v| v.as_str()).unwrap_or(""))
            )
        })
        .collect();
    body.push_str(&format!(
        "<h2>Who approved what</h2><table><thead><tr><th scope=\"col\">When</th><th scope=\"col\">Who</th><th scope=\"col\">What</th><th scope=\"col\">App</th></tr></thead><tbody>{events}</tbody></table>"
    ));
    viewer.page(StatusCode::OK, &format!("Apps in {} ({})", tenant.name, tenant.ctx), &body)
}

/// `POST /admin/tenant`: approve, deny or revoke an app that asked for the tenant.
pub async fn tenant_decide(State(state): State<AppState>, headers: HeaderMap, form: Form) -> Response {
    let viewer = match viewer(&state, &headers, paths::ADMIN_TENANT).await {
        Ok(v) => v,
        Err(res) => return res,
    };
    if !form.csrf_ok(&viewer) || cross_site(&state, &headers) {
        return forged(&viewer);
    }
    let ctx = form.text("ctx");
    if !viewer.admin_of.contains(&ctx) {
        return not_admin(&viewer);
    }
    let client_id = form.text("client_id");
    // Only apps already on the tenant's list can be decided here.
    let listed = async {
        let tenant = state.directory.tenant(&ctx).await?;
        let records = state.store.authorizations_of_tenant(&tenant.id).await?;
        Ok::<_, crate::error::Error>(records.iter().any(|r| r.client_id == client_id))
    };
    match listed.await {
        Ok(true) => {}
        Ok(false) => return domain_error(&crate::error::Error::not_found(format!("app '{client_id}' in {ctx}"))),
        Err(e) => return domain_error(&e),
    }
    let app = match state.registry.get(&client_id).await {
        Ok(a) => a,
        Err(e) => return domain_error(&e),
    };
    let actor = viewer.user.id.as_str();
    let decision = form.text("decision");
    let result = match decision.as_str() {
        "approve" => state.approvals.approve(&ctx, &app, Some(actor), actor).await,
        "deny" => state.approvals.end(&ctx, &app, End::Denied, actor).await,
        "revoke" => state.approvals.end(&ctx, &app, End::Revoked, actor).await,
        _ => Err(crate::error::Error::invalid("decision", "must be approve, deny or revoke")),
    };
    match result {
        Ok(()) => {
            let ctx = form_urlencoded::byte_serialize(ctx.as_bytes()).collect::<String>();
            Redirect::to(&format!("{}?ctx={ctx}&done={decision}", paths::ADMIN_TENANT)).into_response()
        }
        Err(e) => domain_error(&e),
    }
}

fn not_platform_admin(viewer: &Viewer) -> Response {
    viewer.page(
        StatusCode::FORBIDDEN,
        "Not a platform administrator",
        "<p class=\"error\" role=\"alert\">Only a platform administrator can decide restricted integration points. Nothing was changed.</p>",
    )
}

#[derive(Deserialize)]
pub struct PlatformQuery {
    done: Option<String>,
}

/// `GET /portal/admin`
pub async fn platform(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<PlatformQuery>) -> Response {
    let viewer = match viewer(&state, &headers, paths::PORTAL_ADMIN).await {
        Ok(v) => v,
        Err(res) => return res,
    };
    if !viewer.user.platform_admin {
        return not_platform_admin(&viewer);
    }
    let pending = match state.store.pending_entitlements().await {
        Ok(p) => p,
        Err(e) => return domain_error(&e.into()),
    };
    let csrf = viewer.csrf_field();
    let mut body = String::new();
    match q.done.as_deref() {
        Some("approve") => body.push_str("<p class=\"ok\" role=\"status\">The integration point is active.</p>"),
        Some("reject") => body.push_str("<p class=\"ok\" role=\"status\">The integration point was rejected.</p>"),
        _ => {}
    }
    let rows: String = pending
        .iter()
        .map(|p| {
            format!(
                "<tr><td>{}<br><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td><form class=\"inline\" method=\"post\" action=\"{}\">{csrf}\
                 <input type=\"hidden\" name=\"client_id\" value=\"{}\"><input type=\"hidden\" name=\"entitlement\" value=\"{}\">\
                 <button type=\"submit\" name=\"decision\" value=\"approve\">Approve</button> <button type=\"submit\" name=\"decision\" value=\"reject\">Reject</button></form></td></tr>",
                esc(&p.app_name),
                esc(&p.client_id),
                esc(&p.partner_name),
                esc(&p.entitlement),
                esc(p.justification.as_deref().unwrap_or("(none given)")),
                paths::PORTAL_ADMIN,
                esc(&p.client_id),
                esc(&p.entitlement)
            )
        })
        .collect();
    if rows.is_empty() {
        body.push_str("<p class=\"muted\">Nothing is waiting for a decision.</p>");
    } else {
        body.push_str(&format!(
            "<table><thead><tr><th scope=\"col\">App</th><th scope=\"col\">Partner</th><th scope=\"col\">Integration point</th><th scope=\"col\">Justification</th><th scope=\"col\">Decision</th></tr></thead><tbody>{rows}</tbody></table>"
        ));
    }
    viewer.page(StatusCode::OK, "Restricted integration points", &body)
}

/// `POST /portal/admin`
pub async fn platform_decide(State(state): State<AppState>, headers: HeaderMap, form: Form) -> Response {
    let viewer = match viewer(&state, &headers, paths::PORTAL_ADMIN).await {
        Ok(v) => v,
        Err(res) => return res,
    };
    if !form.csrf_ok(&viewer) || cross_site(&state, &headers) {
        return forged(&viewer);
    }
    if !viewer.user.platform_admin {
        return not_platform_admin(&viewer);
    }
    let entitlement = match Entitlement::parse(&form.text("entitlement")) {
        Ok(e) => e,
        Err(e) => return domain_error(&e),
    };
    let decision = form.text("decision");
    let approve = match decision.as_str() {
        "approve" => true,
        "reject" => false,
        _ => return domain_error(&crate::error::Error::invalid("decision", "must be approve or reject")),
    };
    match state.registry.decide_entitlement(&form.text("client_id"), entitlement, approve, &viewer.user.id).await {
        Ok(_) => Redirect::to(&format!("{}?done={decision}", paths::PORTAL_ADMIN)).into_response(),
        Err(e) => domain_error(&e),
    }
}
