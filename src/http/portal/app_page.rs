//! The app page: settings, URL lists, secrets, certificates, access, token settings, the
//! tenants that approved the app, and deletion. Each change is one form posting to
//! `/portal/apps/{client_id}/{action}`; a failed change re-renders the page with the message
//! beside the form that caused it, and stores nothing.

use std::collections::HashMap;

use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{cross_site, described, domain_error, field_error, forged, viewer, when, Form, Viewer};
use crate::apps::{Access, App, ClientType, RefreshMode, TokenFormat, TokenSettings, UriKind};
use crate::error::Error;
use crate::http::pages::{self, esc};
use crate::paths;
use crate::AppState;

type Errors = HashMap<&'static str, String>;

#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

/// What a finished change says on the page it returns to (a fixed set: nothing from the
/// request is reflected).
fn done_message(code: &str) -> Option<&'static str> {
    Some(match code {
        "uri-added" => "The URL was added.",
        "uri-removed" => "The URL was removed.",
        "secret-revoked" => "The secret was revoked; it no longer authenticates.",
        "cert-added" => "The certificate was added.",
        "cert-revoked" => "The certificate was revoked.",
        "access" => "Access was changed.",
        "token" => "Token settings were saved.",
        "entitlement" => "The integration point was added.",
        _ => return None,
    })
}

fn app_url(client_id: &str) -> String {
    format!("{}/{}", paths::PORTAL_APPS, client_id)
}

/// Loads the app if the viewer may manage it; otherwise the page to show instead.
async fn managed(state: &AppState, viewer: &Viewer, client_id: &str) -> Result<App, Response> {
    let app = state.registry.get(client_id).await.map_err(|e| domain_error(&e))?;
    if !viewer.can_manage(&app) {
        return Err(viewer.page(
            StatusCode::FORBIDDEN,
            "Not your app",
            "<p class=\"error\" role=\"alert\">This app belongs to another partner. Nothing was changed.</p>",
        ));
    }
    Ok(app)
}

/// `GET /portal/apps/{client_id}`
pub async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(client_id): Path<String>,
    Query(q): Query<Done>,
) -> Response {
    let viewer = match viewer(&state, &headers, &app_url(&client_id)).await {
        Ok(v) => v,
        Err(res) => return res,
    };
    let app = match managed(&state, &viewer, &client_id).await {
        Ok(a) => a,
        Err(res) => return res,
    };
    let notice = q.done.as_deref().and_then(done_message);
    render(&state, &viewer, &app, &Errors::new(), notice, StatusCode::OK).await
}

/// `GET /portal/apps/{client_id}/delete`: the confirmation page.
pub async fn confirm_delete(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((client_id, action)): Path<(String, String)>,
) -> Response {
    if action != "delete" {
        return pages::error(StatusCode::NOT_FOUND, "There is no such page.");
    }
    let viewer = match viewer(&state, &headers, &app_url(&client_id)).await {
        Ok(v) => v,
        Err(res) => return res,
    };
    let app = match managed(&state, &viewer, &client_id).await {
        Ok(a) => a,
        Err(res) => return res,
    };
    delete_page(&viewer, &app, None, StatusCode::OK)
}

fn delete_page(viewer: &Viewer, app: &App, error: Option<&str>, status: StatusCode) -> Response {
    viewer.page(
        status,
        &format!("Delete {}?", app.name),
        &format!(
            "<p class=\"notice\">Deleting the app ends its secrets, certificates, tokens and every tenant's approval at once. It cannot be undone.</p>\
             <form method=\"post\" action=\"{}/delete\">{}<label for=\"confirm\">Type the app's name, <strong>{}</strong>, to confirm</label>\
             <input id=\"confirm\" name=\"confirm\" type=\"text\" autocomplete=\"off\" required{}>{}<button type=\"submit\">Delete the app</button></form>\
             <p><a href=\"{}\">Keep the app</a></p>",
            esc(&app_url(&app.client_id)),
            viewer.csrf_field(),
            esc(&app.name),
            described("confirm", error),
            field_error("confirm", error),
            esc(&app_url(&app.client_id))
        ),
    )
}

/// `POST /portal/apps/{client_id}/{action}`
pub async fn act(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((client_id, action)): Path<(String, String)>,
    req: Request,
) -> Response {
    let viewer = match viewer(&state, &headers, &app_url(&client_id)).await {
        Ok(v) => v,
        Err(res) => return res,
    };
    // The upload form is multipart (it carries a file); every other form is urlencoded.
    let (form, file) = if action == "cert-upload" {
        match upload_form(req, &state).await {
            Ok(f) => f,
            Err(res) => return res,
        }
    } else {
        match Form::from_request(req, &state).await {
            Ok(f) => (f, None),
            Err(res) => return res,
        }
    };
    if !form.csrf_ok(&viewer) || cross_site(&state, &headers) {
        return forged(&viewer);
    }
    let app = match managed(&state, &viewer, &client_id).await {
        Ok(a) => a,
        Err(res) => return res,
    };
    let actor = viewer.user.id.as_str();
    let back = |code: &str| Redirect::to(&format!("{}?done={code}", app_url(&app.client_id))).into_response();
    // Each arm either finishes (a redirect or a shown-once page) or names the form that failed.
    let failed: (&'static str, Error) = match action.as_str() {
        "uri-add" | "uri-remove" => {
            let kind = match UriKind::parse(form.get("kind").unwrap_or("")) {
                Ok(k) => k,
                Err(e) => return domain_error(&e),
            };
            let uri = form.text("uri");
            let result = if action == "uri-add" {
                state.registry.add_uri(&app.client_id, kind, &uri, actor).await
            } else {
                state.registry.remove_uri(&app.client_id, kind, &uri, actor).await
            };
            match result {
                Ok(_) => return back(if action == "uri-add" { "uri-added" } else { "uri-removed" }),
                Err(e) => (uri_field(kind), e),
            }
        }
        "secret-new" => match days(&form, "expires_in_days") {
            Err(e) => ("secret", e),
            Ok(expires) => match state.registry.new_secret(&app.client_id, expires, actor).await {
                Ok(issued) => {
                    let body = format!(
                        "<label for=\"client-secret\">New client secret</label><input id=\"client-secret\" class=\"secret\" type=\"text\" readonly value=\"{}\">\
                         <button type=\"button\" data-copy=\"client-secret\">Copy client secret</button>\
                         <p class=\"notice\" role=\"alert\"><strong>Copy it now: it is shown only this once.</strong> The older secret keeps working until you revoke it, so you can roll the new one out first.</p>\
                         <p>Expires: {}</p><p><a href=\"{}\">Back to the app</a></p>",
                        esc(issued.secret.expose()),
                        when(issued.expires_at),
                        esc(&app_url(&app.client_id))
                    );
                    return pages::portal_with_copy(StatusCode::CREATED, "New client secret", &viewer.nav(), &body);
                }
                Err(e) => ("secret", e),
            },
        },
        "secret-revoke" => match state.registry.revoke_secret(&app.client_id, &form.text("secret_id"), actor).await {
            Ok(()) => return back("secret-revoked"),
            Err(e) => ("secret", e),
        },
        "cert-upload" => {
            let upload = file.unwrap_or_else(|| form.text("pasted").into_bytes());
            match cert_expiry(&state, &form) {
                Err(e) => ("cert", e),
                Ok(expires_at) => {
                    match state.registry.add_certificate(&app.client_id, &upload, expires_at, actor).await {
                        Ok(_) => return back("cert-added"),
                        Err(e) => ("cert", e),
                    }
                }
            }
        }
        "cert-generate" => match cert_expiry(&state, &form) {
            Err(e) => ("cert", e),
            Ok(expires_at) => match state.registry.generate_certificate(&app.client_id, expires_at, actor).await {
                Ok((cert, private)) => {
                    let body = format!(
                            "<p class=\"notice\" role=\"alert\"><strong>Save the private key now.</strong> It is shown only this once and we do not keep it. Store it where your app can read it and nobody else can.</p>\
                             <p>Key ID: <code>{}</code></p>\
                             <label for=\"private-pem\">Private key (PEM, PKCS#8)</label><textarea id=\"private-pem\" class=\"secret\" rows=\"8\" readonly>{}</textarea>\
                             <button type=\"button\" data-copy=\"private-pem\">Copy PEM</button>\
                             <label for=\"private-xml\">Private key (RSA XML, for .NET and the SuperID SDKs)</label><textarea id=\"private-xml\" class=\"secret\" rows=\"8\" readonly>{}</textarea>\
                             <button type=\"button\" data-copy=\"private-xml\">Copy RSA XML</button><p><a href=\"{}\">Back to the app</a></p>",
                            esc(&cert.kid),
                            esc(private.pem.expose()),
                            esc(private.rsa_xml.expose()),
                            esc(&app_url(&app.client_id))
                        );
                    return pages::portal_with_copy(StatusCode::CREATED, "Your new key pair", &viewer.nav(), &body);
                }
                Err(e) => ("cert", e),
            },
        },
        "cert-revoke" => match state.registry.revoke_certificate(&app.client_id, &form.text("cert_id"), actor).await {
            Ok(()) => return back("cert-revoked"),
            Err(e) => ("cert", e),
        },
        "entitlement-add" => match crate::apps::Entitlement::parse(&form.text("entitlement")) {
            Err(e) => ("entitlement", e),
            Ok(ent) => {
                let why = form.text("justification");
                let why = (!why.is_empty()).then_some(why.as_str());
                if ent.needs_approval() && why.is_none() {
                    (
                        "entitlement",
                        Error::invalid(
                            "justification",
                            "say why the app needs it; the platform administrator reads this",
                        ),
                    )
                } else {
                    match state.registry.add_entitlement(&app.client_id, ent, why, actor).await {
                        Ok(_) => return back("entitlement"),
                        Err(e) => ("entitlement", e),
                    }
                }
            }
        },
        "access" => match Access::parse(&form.text("access")) {
            Err(e) => ("access", e),
            Ok(access) => match state.registry.set_access(&app.client_id, access, actor).await {
                Ok(_) => return back("access"),
                Err(e) => ("access", e),
            },
        },
        "token-settings" => match token_settings(&state, &app, &form, actor).await {
            Ok(()) => return back("token"),
            Err(e) => ("token", e),
        },
        "delete" => {
            if form.text("confirm") != app.name {
                return delete_page(
                    &viewer,
                    &app,
                    Some("The name does not match; the app was not deleted."),
                    StatusCode::BAD_REQUEST,
                );
            }
            return match state.registry.delete(&app.client_id, actor).await {
                Ok(()) => viewer.page(
                    StatusCode::OK,
                    "App deleted",
                    &format!(
                        "<p class=\"ok\">{} was deleted.</p><p><a href=\"{}\">Back to your apps</a></p>",
                        esc(&app.name),
                        paths::PORTAL
                    ),
                ),
                Err(e) => domain_error(&e),
            };
        }
        _ => return pages::error(StatusCode::NOT_FOUND, "There is no such action."),
    };
    let (section, e) = failed;
    match e {
        Error::Invalid { .. } | Error::Conflict(_) | Error::NotFound(_) => {
            let mut errors = Errors::new();
            errors.insert(section, e.to_string());
            let status = if matches!(e, Error::Conflict(_)) { StatusCode::CONFLICT } else { StatusCode::BAD_REQUEST };
            render(&state, &viewer, &app, &errors, None, status).await
        }
        other => domain_error(&other),
    }
}

/// The certificate form's text fields as pairs, and the uploaded file's bytes if one was
/// chosen (DER is binary, so the file is not text).
async fn upload_form(req: Request, state: &AppState) -> Result<(Form, Option<Vec<u8>>), Response> {
    let mut multipart = Multipart::from_request(req, state)
        .await
        .map_err(|_| pages::error(StatusCode::BAD_REQUEST, "The upload form could not be read."))?;
    let mut pairs = Vec::new();
    let mut file = None;
    // A browser sends five fields; more is not our form.
    for _ in 0..10 {
        let Ok(Some(field)) = multipart.next_field().await else { break };
        let name = field.name().unwrap_or("").to_string();
        let bytes =
            field.bytes().await.map_err(|_| pages::error(StatusCode::PAYLOAD_TOO_LARGE, "The upload is too large."))?;
        if name == "file" {
            file = (!bytes.is_empty()).then(|| bytes.to_vec());
        } else {
            pairs.push((name, String::from_utf8_lossy(&bytes).into_owned()));
        }
    }
    Ok((Form(pairs), file))
}

fn days(form: &Form, name: &'static str) -> Result<Option<i64>, Error> {
    let v = form.text(name);
    if v.is_empty() {
        return Ok(None);
    }
    match v.parse::<i64>() {
        Ok(d) if (1..=3650).contains(&d) => Ok(Some(d)),
        _ => Err(Error::invalid(name, "must be a whole number of days between 1 and 3650, or empty for no expiry")),
    }
}

/// When a certificate uploaded or generated now expires (`cert_expires_in_days`).
fn cert_expiry(state: &AppState, form: &Form) -> Result<Option<i64>, Error> {
    Ok(days(form, "cert_expires_in_days")?.map(|d| state.clock.now() + d * 86_400))
}

async fn token_settings(state: &AppState, app: &App, form: &Form, actor: &str) -> Result<(), Error> {
    let format = TokenFormat::parse(&form.text("token_format"))?;
    let refresh_mode = RefreshMode::parse(&form.text("refresh_mode"))?;
    let ttl = form.text("access_token_ttl");
    let ttl = if ttl.is_empty() {
        None
    } else {
        Some(ttl.parse::<i64>().map_err(|_| Error::invalid("access-token-ttl", "must be a number of seconds"))?)
    };
    let alg = form.text("signing_alg");
    let algs: Vec<&str> = state.config.signing_algs.iter().map(|a| a.as_str()).collect();
    let settings = TokenSettings {
        format: Some(format),
        signing_alg: Some(&alg),
        access_token_ttl: ttl,
        refresh_mode: Some(refresh_mode),
        refresh_grace_secs: None,
        require_pkce: None,
    };
    state.registry.set_token_settings(&app.client_id, settings, &algs, actor).await.map(|_| ())
}

fn uri_field(kind: UriKind) -> &'static str {
    match kind {
        UriKind::Redirect => "uri-redirect",
        UriKind::PostLogout => "uri-post-logout",
        UriKind::Cors => "uri-cors",
        UriKind::Resource => "uri-resource",
    }
}

async fn render(
    state: &AppState,
    viewer: &Viewer,
    app: &App,
    errors: &Errors,
    notice: Option<&str>,
    status: StatusCode,
) -> Response {
    let loaded = async {
        let secrets = state.registry.secrets(&app.client_id).await?;
        let certs = state.registry.certificates(&app.client_id).await?;
        let approvals = state.store.authorizations_of_app(&app.id).await?;
        Ok::<_, Error>((secrets, certs, approvals))
    };
    let contact = match &app.technical_contact {
        Some(id) => state.store.user_by_id(id).await.ok().flatten().map(|u| u.email),
        None => None,
    };
    let (secrets, certs, approvals) = match loaded.await {
        Ok(l) => l,
        Err(e) => return domain_error(&e),
    };
    let err = |k: &str| errors.get(k).map(String::as_str);
    let csrf = viewer.csrf_field();
    let action = |a: &str| esc(&format!("{}/{a}", app_url(&app.client_id)));
    let mut body = String::new();
    if let Some(n) = notice {
        body.push_str(&format!("<p class=\"ok\" role=\"status\">{}</p>", esc(n)));
    }
    let ents: String = app
        .entitlements
        .iter()
        .map(|e| format!("<li>{} — {}</li>", esc(e.entitlement.as_str()), esc(e.status.as_str())))
        .collect();
    body.push_str(&format!(
        "<h2>Settings</h2><table><tbody>\
         <tr><th scope=\"row\">Client ID</th><td><code>{}</code></td></tr>\
         <tr><th scope=\"row\">Template</th><td>{} ({})</td></tr>\
         <tr><th scope=\"row\">Client type</th><td>{}</td></tr>\
         <tr><th scope=\"row\">Grant types</th><td>{}</td></tr>\
         <tr><th scope=\"row\">PKCE</th><td>{}</td></tr>\
         <tr><th scope=\"row\">Technical contact</th><td>{}</td></tr>\
         <tr><th scope=\"row\">Integration points</th><td><ul>{ents}</ul></td></tr>\
         <tr><th scope=\"row\">Created</th><td>{}</td></tr></tbody></table>",
        esc(&app.client_id),
        esc(app.template.as_str()),
        esc(app.kind.as_str()),
        esc(app.client_type.as_str()),
        esc(&app.grant_types.iter().map(|g| g.as_str()).collect::<Vec<_>>().join(", ")),
        if app.require_pkce { "required (S256)" } else { "optional (legacy: requests without PKCE need a nonce)" },
        esc(contact.as_deref().unwrap_or("—")),
        when(Some(app.created_at))
    ));
    let missing: String = crate::apps::Entitlement::ALL
        .iter()
        .filter(|e| !app.entitlements.iter().any(|have| have.entitlement == **e))
        .map(|e| {
            format!(
                "<option value=\"{0}\">{0}{1}</option>",
                e.as_str(),
                if e.needs_approval() { " (needs approval)" } else { "" }
            )
        })
        .collect();
    if !missing.is_empty() {
        body.push_str(&format!(
            "<form method=\"post\" action=\"{}\">{csrf}<label for=\"entitlement\">Add an integration point</label><select id=\"entitlement\" name=\"entitlement\"{}>{missing}</select>\
             <label for=\"ent-justification\">Why the app needs it (required for those that need approval)</label><input id=\"ent-justification\" name=\"justification\" type=\"text\">{}\
             <p class=\"muted\">Adding the system user or webhook integration point asks every tenant that approved the app to approve it again.</p><button type=\"submit\">Add</button></form>",
            action("entitlement-add"),
            described("entitlement", err("entitlement")),
            field_error("entitlement", err("entitlement"))
        ));
    }
    for (kind, title, hint) in [
        (UriKind::Redirect, "Redirect URLs", "Matched exactly; https, or http for localhost only."),
        (UriKind::PostLogout, "Post-logout redirect URLs", "Where users may be sent after signing out."),
        (UriKind::Cors, "CORS origins", "scheme://host[:port] of browser apps that call the token endpoint."),
    ] {
        let field = uri_field(kind);
        let rows: String = app
            .uris(kind)
            .iter()
            .map(|u| {
                format!(
                    "<tr><td><code>{}</code></td><td><form method=\"post\" action=\"{}\">{csrf}<input type=\"hidden\" name=\"kind\" value=\"{}\"><input type=\"hidden\" name=\"uri\" value=\"{}\"><button type=\"submit\" aria-label=\"Remove {}\">Remove</button></form></td></tr>",
                    esc(u),
                    action("uri-remove"),
                    kind.as_str(),
                    esc(u),
                    esc(u)
                )
            })
            .collect();
        let list = if rows.is_empty() {
            "<p class=\"muted\">None.</p>".into()
        } else {
            format!("<table><tbody>{rows}</tbody></table>")
        };
        body.push_str(&format!(
            "<h2>{title}</h2>{list}<form method=\"post\" action=\"{}\">{csrf}<input type=\"hidden\" name=\"kind\" value=\"{}\">\
             <label for=\"{field}\">Add a URL</label><input id=\"{field}\" name=\"uri\" type=\"text\" inputmode=\"url\" required{}>\
             <p class=\"muted\">{hint}</p>{}<button type=\"submit\">Add</button></form>",
            action("uri-add"),
            kind.as_str(),
            described(field, err(field)),
            field_error(field, err(field))
        ));
    }
    // Secrets.
    body.push_str("<h2>Client secrets</h2>");
    if app.client_type == ClientType::Public {
        body.push_str("<p class=\"muted\">Native apps get no client secret; they use PKCE.</p>");
    } else {
        let rows: String = secrets
            .iter()
            .map(|s| {
                let status = if s.active {
                    format!(
                        "<form method=\"post\" action=\"{}\">{csrf}<input type=\"hidden\" name=\"secret_id\" value=\"{}\"><button type=\"submit\" aria-label=\"Revoke the secret ending {}\">Revoke</button></form>",
                        action("secret-revoke"),
                        esc(&s.id),
                        esc(&s.hint)
                    )
                } else if s.revoked_at.is_some() {
                    format!("revoked {}", when(s.revoked_at))
                } else {
                    "expired".into()
                };
                format!(
                    "<tr><td><code>…{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{status}</td></tr>",
                    esc(&s.hint),
                    when(Some(s.created_at)),
                    when(s.expires_at),
                    when(s.last_used_at)
                )
            })
            .collect();
        body.push_str(&format!(
            "<table><thead><tr><th scope=\"col\">Ends with</th><th scope=\"col\">Created</th><th scope=\"col\">Expires</th><th scope=\"col\">Last used</th><th scope=\"col\">Status</th></tr></thead><tbody>{rows}</tbody></table>\
             <form method=\"post\" action=\"{}\">{csrf}<label for=\"expires_in_days\">New secret expires after (days, empty for never)</label>\
             <input id=\"expires_in_days\" name=\"expires_in_days\" type=\"number\" min=\"1\" max=\"3650\"{}>{}\
             <button type=\"submit\">Create a new secret</button></form><p class=\"muted\">At most two secrets are active at once, so you can roll one over without downtime.</p>",
            action("secret-new"),
            described("secret", err("secret")),
            field_error("secret", err("secret"))
        ));
    }
    // Certificates.
    body.push_str("<h2>Certificates (the app's public keys)</h2>");
    let rows: String = certs
        .iter()
        .map(|c| {
            let status = if c.revoked_at.is_some() {
                format!("revoked {}", when(c.revoked_at))
            } else {
                format!(
                    "<form method=\"post\" action=\"{}\">{csrf}<input type=\"hidden\" name=\"cert_id\" value=\"{}\"><button type=\"submit\" aria-label=\"Revoke key {}\">Revoke</button></form>",
                    action("cert-revoke"),
                    esc(&c.id),
                    esc(&c.kid)
                )
            };
            format!(
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{status}</td></tr>",
                esc(&c.kid),
                esc(&c.kty),
                esc(&c.format),
                when(Some(c.created_at)),
                when(c.expires_at)
            )
        })
        .collect();
    if !rows.is_empty() {
        body.push_str(&format!("<table><thead><tr><th scope=\"col\">Key ID</th><th scope=\"col\">Type</th><th scope=\"col\">Uploaded as</th><th scope=\"col\">Added</th><th scope=\"col\">Expires</th><th scope=\"col\">Status</th></tr></thead><tbody>{rows}</tbody></table>"));
    }
    body.push_str(&format!(
        "{}<form method=\"post\" action=\"{}\" enctype=\"multipart/form-data\">{csrf}\
         <label for=\"cert-file\">Upload a public key or certificate file (PEM, X.509 DER, JWK, RSA XML)</label><input id=\"cert-file\" name=\"file\" type=\"file\"{}>\
         <label for=\"cert-pasted\">…or paste it</label><textarea id=\"cert-pasted\" name=\"pasted\" rows=\"5\"{}></textarea>\
         <label for=\"cert_expires_in_days\">Expires after (days, empty for the certificate's own expiry or never)</label><input id=\"cert_expires_in_days\" name=\"cert_expires_in_days\" type=\"number\" min=\"1\" max=\"3650\">\
         <button type=\"submit\">Upload</button></form>\
         <form method=\"post\" action=\"{}\">{csrf}<button type=\"submit\">Generate a key pair</button> <span class=\"muted\">The private key is shown once, as PEM and as RSA XML; we keep only the public key.</span></form>",
        field_error("cert", err("cert")),
        action("cert-upload"),
        described("cert", err("cert")),
        described("cert", err("cert")),
        action("cert-generate")
    ));
    // Access and token settings.
    let opt = |value: &str, current: bool, label: &str| {
        format!("<option value=\"{}\"{}>{}</option>", esc(value), if current { " selected" } else { "" }, esc(label))
    };
    body.push_str(&format!(
        "<h2>Access</h2><form method=\"post\" action=\"{}\">{csrf}<label for=\"access\">Who may use the app</label><select id=\"access\" name=\"access\"{}>{}{}</select>{}<button type=\"submit\">Save access</button></form>",
        action("access"),
        described("access", err("access")),
        opt("private", app.access == Access::Private, "Private: only your partner's own tenants"),
        opt("public", app.access == Access::Public, "Public: any tenant whose administrator approves it"),
        field_error("access", err("access"))
    ));
    let algs: String =
        state.config.signing_algs.iter().map(|a| opt(a.as_str(), a.as_str() == app.signing_alg, a.as_str())).collect();
    body.push_str(&format!(
        "<h2>Tokens</h2><form method=\"post\" action=\"{}\">{csrf}{}\
         <label for=\"token_format\">Access token format</label><select id=\"token_format\" name=\"token_format\">{}{}</select>\
         <label for=\"access_token_ttl\">Access token lifetime (seconds, 60–86400; empty for the server default)</label><input id=\"access_token_ttl\" name=\"access_token_ttl\" type=\"number\" value=\"{}\">\
         <label for=\"signing_alg\">Signing algorithm</label><select id=\"signing_alg\" name=\"signing_alg\">{algs}</select>\
         <label for=\"refresh_mode\">Refresh tokens</label><select id=\"refresh_mode\" name=\"refresh_mode\">{}{}</select>\
         <button type=\"submit\">Save token settings</button></form>",
        action("token-settings"),
        field_error("token", err("token")),
        opt("jwt", app.token_format == TokenFormat::Jwt, "JWT (verifiable with JWKS)"),
        opt("opaque", app.token_format == TokenFormat::Opaque, "Opaque (checked by introspection)"),
        app.access_token_ttl.map(|t| t.to_string()).unwrap_or_default(),
        opt("rotating", app.refresh_mode == RefreshMode::Rotating, "Rotating, with reuse detection"),
        opt("long-lived", app.refresh_mode == RefreshMode::LongLived, "Long-lived, ends with the tenant's approval")
    ));
    // Approvals.
    let rows: String = approvals
        .iter()
        .map(|a| {
            format!(
                "<tr><td>{} ({})</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&a.tenant_name),
                esc(&a.ctx),
                esc(&a.status),
                esc(a.approved_by.as_deref().unwrap_or("—")),
                when(a.approved_at)
            )
        })
        .collect();
    body.push_str("<h2>Tenants</h2>");
    if rows.is_empty() {
        body.push_str("<p class=\"muted\">No tenant has approved or asked for this app yet.</p>");
    } else {
        body.push_str(&format!("<table><thead><tr><th scope=\"col\">Tenant</th><th scope=\"col\">Status</th><th scope=\"col\">Approved by</th><th scope=\"col\">Approved</th></tr></thead><tbody>{rows}</tbody></table>"));
    }
    body.push_str(&format!("<h2>Delete</h2><p><a href=\"{}\">Delete this app…</a></p>", action("delete")));
    viewer.page(status, &app.name, &body)
}
