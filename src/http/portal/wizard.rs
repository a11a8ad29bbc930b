//! The Create App wizard, one step a page: template and kind → name → redirect URLs →
//! integration points → technical contact → review → the client ID and secret, shown once.
//!
//! The draft travels in the form itself (hidden fields), so any instance can serve any step
//! and nothing is stored until the last one. The last step carries a submission key made on
//! the first page: submitting it twice finds the app the first submit created.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::{cross_site, described, domain_error, field_error, forged, viewer, Form, Viewer};
use crate::apps::{redirect_uri, Access, AppOverrides, Entitlement, NewApp, Template};
use crate::http::pages::{self, esc};
use crate::paths;
use crate::vocab::GrantType;
use crate::AppState;

const STEPS: [&str; 6] = ["Template", "Name", "Redirect URLs", "Integration points", "Technical contact", "Review"];

/// What the wizard has gathered so far.
#[derive(Default)]
struct Draft {
    key: String,
    partner: String,
    template: String,
    custom: bool,
    custom_ctx: String,
    name: String,
    redirects: Vec<String>,
    /// Set once the integration-points page was submitted (none chosen is a choice).
    chose_entitlements: bool,
    entitlements: Vec<String>,
    justification: String,
    contact: String,
}

impl Draft {
    fn from_form(f: &Form) -> Draft {
        Draft {
            key: f.text("key"),
            partner: f.text("partner"),
            template: f.text("template"),
            custom: f.get("kind") == Some("custom"),
            custom_ctx: f.text("custom_ctx"),
            name: f.text("name"),
            redirects: f.all("redirect_uri"),
            chose_entitlements: f.get("entitlements_chosen") == Some("1"),
            entitlements: f.all("entitlement"),
            justification: f.text("justification"),
            contact: f.text("contact"),
        }
    }

    /// The redirect URLs entered, without the blank fields of the page.
    fn redirect_list(&self) -> Vec<String> {
        self.redirects.iter().filter(|u| !u.is_empty()).cloned().collect()
    }

    fn template(&self) -> Option<Template> {
        Template::parse(&self.template).ok()
    }

    /// The integration points chosen, or the template's until the page is submitted.
    fn entitlements(&self) -> Vec<Entitlement> {
        if self.chose_entitlements {
            self.entitlements.iter().filter_map(|e| Entitlement::parse(e).ok()).collect()
        } else {
            self.template().map(|t| t.defaults().entitlements.to_vec()).unwrap_or_default()
        }
    }

    /// Hidden inputs for everything except the fields the page `step` shows.
    fn hidden_except(&self, step: usize) -> String {
        let mut out = String::new();
        let mut put = |name: &str, value: &str| {
            out.push_str(&format!("<input type=\"hidden\" name=\"{}\" value=\"{}\">", esc(name), esc(value)));
        };
        put("key", &self.key);
        if step != 1 {
            put("partner", &self.partner);
            put("template", &self.template);
            put("kind", if self.custom { "custom" } else { "standard" });
            put("custom_ctx", &self.custom_ctx);
        }
        if step != 2 {
            put("name", &self.name);
        }
        if step != 3 {
            for u in self.redirect_list() {
                put("redirect_uri", &u);
            }
        }
        if step != 4 {
            if self.chose_entitlements {
                put("entitlements_chosen", "1");
            }
            for e in &self.entitlements {
                put("entitlement", e);
            }
            put("justification", &self.justification);
        }
        if step != 5 {
            put("contact", &self.contact);
        }
        out
    }
}

type Errors = HashMap<String, String>;

/// `GET /portal/apps/new`: the first step, with a fresh submission key.
pub async fn start(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let viewer = match viewer(&state, &headers, paths::PORTAL_NEW_APP).await {
        Ok(v) => v,
        Err(res) => return res,
    };
    let draft = Draft {
        key: crate::crypto::random_token(),
        template: Template::Web.as_str().into(),
        partner: viewer.partners.first().map(|p| p.id.clone()).unwrap_or_default(),
        ..Draft::default()
    };
    render(&state, &viewer, &draft, 1, &Errors::new(), StatusCode::OK).await
}

/// `POST /portal/apps/new`: checks the step just submitted and shows the next one (or the
/// same one with its errors beside the fields).
pub async fn submit(State(state): State<AppState>, headers: HeaderMap, form: Form) -> Response {
    let viewer = match viewer(&state, &headers, paths::PORTAL_NEW_APP).await {
        Ok(v) => v,
        Err(res) => return res,
    };
    if !form.csrf_ok(&viewer) || cross_site(&state, &headers) {
        return forged(&viewer);
    }
    let mut draft = Draft::from_form(&form);
    if draft.key.len() < 20 {
        return pages::error(StatusCode::BAD_REQUEST, "The form is incomplete. Start the wizard again.");
    }
    let step: usize = form.get("step").and_then(|s| s.parse().ok()).filter(|s| (1..=6).contains(s)).unwrap_or(1);
    match form.get("go") {
        Some("back") => {
            return render(&state, &viewer, &draft, step.saturating_sub(1).max(1), &Errors::new(), StatusCode::OK).await
        }
        Some("add") if step == 3 => {
            draft.redirects.push(String::new());
            return render(&state, &viewer, &draft, 3, &Errors::new(), StatusCode::OK).await;
        }
        _ => {}
    }
    // Every earlier step is checked again: the draft came back from the browser.
    for s in 1..=step {
        let errors = match check(&state, &viewer, &draft, s).await {
            Ok(errors) => errors,
            Err(res) => return res,
        };
        if !errors.is_empty() {
            return render(&state, &viewer, &draft, s, &errors, StatusCode::BAD_REQUEST).await;
        }
    }
    if step < 6 {
        return render(&state, &viewer, &draft, step + 1, &Errors::new(), StatusCode::OK).await;
    }
    create(&state, &viewer, &draft).await
}

/// The errors of one step's fields, keyed by field id.
async fn check(state: &AppState, viewer: &Viewer, d: &Draft, step: usize) -> Result<Errors, Response> {
    let mut errors = Errors::new();
    match step {
        1 => {
            if !viewer.partners.iter().any(|p| p.id == d.partner) {
                errors.insert("partner".into(), "Choose one of your partners.".into());
            }
            if d.template().is_none() {
                errors.insert("template".into(), "Choose a template.".into());
            }
            if d.custom {
                match state.directory.tenant(&d.custom_ctx).await {
                    Ok(_) => {}
                    Err(crate::error::Error::NotFound(_)) | Err(crate::error::Error::Invalid { .. }) => {
                        errors.insert(
                            "custom_ctx".into(),
                            "A custom app is made for one tenant: enter its context identifier, such as Cust12345."
                                .into(),
                        );
                    }
                    Err(e) => return Err(domain_error(&e)),
                }
            }
        }
        2 => {
            if let Err(e) = crate::tenants::check_name("name", &d.name) {
                errors.insert("name".into(), message(&e));
            }
        }
        3 => {
            let native = d.template().is_some_and(|t| t.defaults().loopback_any_port);
            // Field ids follow the fields as shown, blanks included.
            let listed = d.redirect_list();
            for (i, uri) in d.redirects.iter().enumerate() {
                if uri.is_empty() {
                    continue;
                }
                if let Err(why) = redirect_uri::validate(uri, native) {
                    errors.insert(format!("redirect_uri_{i}"), format!("This URL {why}."));
                } else if listed.iter().filter(|u| *u == uri).count() > 1 {
                    errors.insert(format!("redirect_uri_{i}"), "This URL is listed twice.".into());
                }
            }
            let signs_in_users =
                d.template().is_some_and(|t| t.defaults().grant_types.contains(&GrantType::AuthorizationCode));
            if errors.is_empty()
                && listed.is_empty()
                && signs_in_users
                && matches!(d.template(), Some(Template::Web | Template::Native))
            {
                errors.insert(
                    "redirect_uri_0".into(),
                    "An app that signs users in needs at least one redirect URL.".into(),
                );
            }
            if listed.len() > crate::apps::MAX_URIS {
                errors.insert("redirect_uri_0".into(), format!("At most {} redirect URLs.", crate::apps::MAX_URIS));
            }
        }
        4 => {
            if d.entitlements.iter().any(|e| Entitlement::parse(e).is_err()) {
                errors.insert("entitlements".into(), "Choose integration points from the list.".into());
            }
            let restricted = d.entitlements().iter().any(|e| e.needs_approval());
            if restricted && d.justification.is_empty() {
                errors.insert(
                    "justification".into(),
                    "Say why the app needs the integration points that need approval; the platform administrator reads this.".into(),
                );
            }
            if d.justification.chars().count() > 1000 {
                errors.insert("justification".into(), "Keep the justification under 1000 characters.".into());
            }
        }
        5 => {
            let members = state.store.partner_member_emails(&d.partner).await.map_err(|e| domain_error(&e.into()))?;
            if !members.contains(&d.contact) {
                errors.insert("contact".into(), "Choose a developer of your partner as the technical contact.".into());
            }
        }
        _ => {}
    }
    Ok(errors)
}

fn message(e: &crate::error::Error) -> String {
    match e {
        crate::error::Error::Invalid { message, .. } => format!("{}{}.", message[..1].to_uppercase(), &message[1..]),
        other => other.to_string(),
    }
}

async fn create(state: &AppState, viewer: &Viewer, d: &Draft) -> Response {
    let already = |client_id: String| {
        viewer.page(
            StatusCode::CONFLICT,
            "This app was already created",
            &format!(
                "<p class=\"notice\" role=\"alert\">This form was submitted before, and the app was created then. Its client secret was shown once on that page and cannot be shown again; you can create a new secret on the <a href=\"{}/{}\">app's page</a>.</p>",
                paths::PORTAL_APPS,
                esc(&client_id)
            ),
        )
    };
    match state.store.app_by_creation_key(&d.key).await {
        Ok(Some(client_id)) => return already(client_id),
        Ok(None) => {}
        Err(e) => return domain_error(&e.into()),
    }
    let Some(template) = d.template() else { return pages::error(StatusCode::BAD_REQUEST, "Choose a template.") };
    let custom_tenant_id = if d.custom {
        match state.directory.tenant(&d.custom_ctx).await {
            Ok(t) => Some(t.id),
            Err(e) => return domain_error(&e),
        }
    } else {
        None
    };
    // The technical contact is stored as the developer's user id.
    let contact = match state.directory.user(&d.contact).await {
        Ok(u) => u.id,
        Err(e) => return domain_error(&e),
    };
    let new = NewApp {
        partner_id: d.partner.clone(),
        name: d.name.clone(),
        template,
        redirect_uris: d.redirect_list(),
        access: Access::Private,
        technical_contact: Some(contact),
        justification: (!d.justification.is_empty()).then(|| d.justification.clone()),
    };
    let overrides = AppOverrides {
        entitlements: Some(d.entitlements()),
        custom_tenant_id,
        creation_key: Some(d.key.clone()),
        ..AppOverrides::default()
    };
    let created = match state.registry.create_with(new, &overrides, &viewer.user.id).await {
        Ok(c) => c,
        Err(crate::error::Error::Conflict(_)) => match state.store.app_by_creation_key(&d.key).await {
            Ok(Some(client_id)) => return already(client_id),
            Ok(None) => return pages::error(StatusCode::CONFLICT, "The app could not be created; start again."),
            Err(e) => return domain_error(&e.into()),
        },
        Err(e) => return domain_error(&e),
    };
    let app = &created.app;
    let secret = match &created.client_secret {
        Some(s) => format!(
            "<label for=\"client-secret\">Client secret</label><input id=\"client-secret\" class=\"secret\" type=\"text\" readonly value=\"{}\">\
             <button type=\"button\" data-copy=\"client-secret\">Copy client secret</button>\
             <p class=\"notice\" role=\"alert\"><strong>Copy the client secret now.</strong> It is shown only this once: we keep only a digest of it. If you lose it, create a new one on the app's page.</p>",
            esc(s.secret.expose())
        ),
        None => "<p class=\"muted\">Native apps get no client secret: they cannot keep one. They prove themselves with PKCE.</p>".into(),
    };
    let pending: Vec<&str> = app
        .entitlements
        .iter()
        .filter(|e| e.status == crate::apps::EntitlementStatus::Pending)
        .map(|e| e.entitlement.as_str())
        .collect();
    let pending = if pending.is_empty() {
        String::new()
    } else {
        format!("<p>Waiting for the platform's approval: {}.</p>", esc(&pending.join(", ")))
    };
    let body = format!(
        "<p class=\"ok\">{} was created.</p>\
         <label for=\"client-id\">Client ID</label><input id=\"client-id\" class=\"secret\" type=\"text\" readonly value=\"{}\">\
         <button type=\"button\" data-copy=\"client-id\">Copy client ID</button>{secret}{pending}\
         <p><a href=\"{}/{}\">Go to the app's page</a></p>",
        esc(&app.name),
        esc(&app.client_id),
        paths::PORTAL_APPS,
        esc(&app.client_id)
    );
    pages::portal_with_copy(StatusCode::CREATED, "Your app is ready", &viewer.nav(), &body)
}

async fn render(
    state: &AppState,
    viewer: &Viewer,
    d: &Draft,
    step: usize,
    errors: &Errors,
    status: StatusCode,
) -> Response {
    let err = |id: &str| errors.get(id).map(String::as_str);
    let fields = match step {
        1 => {
            let partner = if viewer.partners.len() == 1 {
                format!(
                    "<input type=\"hidden\" name=\"partner\" value=\"{}\"><p>Partner: <strong>{}</strong></p>",
                    esc(&viewer.partners[0].id),
                    esc(&viewer.partners[0].name)
                )
            } else {
                let options: String = viewer
                    .partners
                    .iter()
                    .map(|p| {
                        format!(
                            "<option value=\"{}\"{}>{}</option>",
                            esc(&p.id),
                            if p.id == d.partner { " selected" } else { "" },
                            esc(&p.name)
                        )
                    })
                    .collect();
                format!(
                    "<label for=\"partner\">Partner</label><select id=\"partner\" name=\"partner\"{}>{options}</select>{}",
                    described("partner", err("partner")),
                    field_error("partner", err("partner"))
                )
            };
            let templates: String = Template::ALL
                .iter()
                .map(|t| {
                    format!(
                        "<div class=\"choice\"><input type=\"radio\" id=\"template-{0}\" name=\"template\" value=\"{0}\"{1}> <label for=\"template-{0}\"><strong>{2}</strong> — {3}</label></div>",
                        t.as_str(),
                        if d.template == t.as_str() { " checked" } else { "" },
                        template_title(*t),
                        template_note(*t)
                    )
                })
                .collect();
            format!(
                "{partner}<fieldset{}><legend>What kind of app is it?</legend>{templates}{}</fieldset>\
                 <fieldset><legend>Standard or custom</legend>\
                 <div class=\"choice\"><input type=\"radio\" id=\"kind-standard\" name=\"kind\" value=\"standard\"{}> <label for=\"kind-standard\">Standard: for many customers, who each approve it</label></div>\
                 <div class=\"choice\"><input type=\"radio\" id=\"kind-custom\" name=\"kind\" value=\"custom\"{}> <label for=\"kind-custom\">Custom: made for one customer's tenant</label></div>\
                 <label for=\"custom_ctx\">Tenant of a custom app (context identifier)</label><input id=\"custom_ctx\" name=\"custom_ctx\" type=\"text\" value=\"{}\"{}>{}</fieldset>",
                described("template", err("template")),
                field_error("template", err("template")),
                if d.custom { "" } else { " checked" },
                if d.custom { " checked" } else { "" },
                esc(&d.custom_ctx),
                described("custom_ctx", err("custom_ctx")),
                field_error("custom_ctx", err("custom_ctx"))
            )
        }
        2 => format!(
            "<label for=\"name\">App name</label><input id=\"name\" name=\"name\" type=\"text\" maxlength=\"100\" required value=\"{}\" autofocus{} aria-describedby=\"name-note\">\
             <p class=\"muted\" id=\"name-note\">A good name says what the app does and who makes it, such as “Acme Quote Sync”: tenant administrators and users see it when they approve and sign in.</p>{}",
            esc(&d.name),
            described("name", err("name")),
            field_error("name", err("name"))
        ),
        3 => {
            let native = d.template().is_some_and(|t| t.defaults().loopback_any_port);
            let mut uris = d.redirects.clone();
            if uris.is_empty() {
                uris.push(if native { "http://127.0.0.1/callback".into() } else { String::new() });
            }
            let inputs: String = uris
                .iter()
                .enumerate()
                .map(|(i, u)| {
                    let id = format!("redirect_uri_{i}");
                    format!(
                        "<label for=\"{id}\">Redirect URL {}</label><input id=\"{id}\" name=\"redirect_uri\" type=\"text\" inputmode=\"url\" value=\"{}\"{}>{}",
                        i + 1,
                        esc(u),
                        described(&id, err(&id)),
                        field_error(&id, err(&id))
                    )
                })
                .collect();
            let rule = if native {
                "<p class=\"muted\">Native apps: a loopback URL such as <code>http://127.0.0.1/callback</code> matches any port (RFC 8252 §7.3), or use a private-use scheme such as <code>com.example.app:/callback</code>.</p>"
            } else {
                "<p class=\"muted\">Each URL is matched exactly. Use https; plain http only for localhost. No wildcards, no fragments.</p>"
            };
            format!("{rule}{inputs}<button type=\"submit\" name=\"go\" value=\"add\">Add another URL</button>")
        }
        4 => {
            let chosen = d.entitlements();
            let boxes: String = Entitlement::ALL
                .iter()
                .map(|e| {
                    format!(
                        "<div class=\"choice\"><input type=\"checkbox\" id=\"ent-{0}\" name=\"entitlement\" value=\"{0}\"{1}> <label for=\"ent-{0}\">{2}{3}</label></div>",
                        e.as_str(),
                        if chosen.contains(e) { " checked" } else { "" },
                        entitlement_title(*e),
                        if e.needs_approval() { " <strong>(needs approval: pending until the platform approves it)</strong>" } else { "" }
                    )
                })
                .collect();
            format!(
                "<input type=\"hidden\" name=\"entitlements_chosen\" value=\"1\"><fieldset{}><legend>What may the app do in a tenant?</legend>{boxes}{}</fieldset>\
                 <label for=\"justification\">Why does the app need the ones that need approval?</label><textarea id=\"justification\" name=\"justification\" rows=\"3\"{}>{}</textarea>{}",
                described("entitlements", err("entitlements")),
                field_error("entitlements", err("entitlements")),
                described("justification", err("justification")),
                esc(&d.justification),
                field_error("justification", err("justification"))
            )
        }
        5 => {
            let members = match state.store.partner_member_emails(&d.partner).await {
                Ok(m) => m,
                Err(e) => return domain_error(&e.into()),
            };
            let current = if d.contact.is_empty() { viewer.user.email.clone() } else { d.contact.clone() };
            let options: String = members
                .iter()
                .map(|m| format!("<option{}>{}</option>", if *m == current { " selected" } else { "" }, esc(m)))
                .collect();
            format!(
                "<label for=\"contact\">Technical contact</label><select id=\"contact\" name=\"contact\"{}>{options}</select>\
                 <p class=\"muted\">We write to this developer about the app: expiring secrets and certificates, approvals.</p>{}",
                described("contact", err("contact")),
                field_error("contact", err("contact"))
            )
        }
        _ => {
            let list = |items: &[String]| {
                if items.is_empty() {
                    "none".to_string()
                } else {
                    items.iter().map(|i| esc(i)).collect::<Vec<_>>().join(", ")
                }
            };
            let ents: Vec<String> = d.entitlements().iter().map(|e| e.as_str().to_string()).collect();
            format!(
                "<table><tbody><tr><th scope=\"row\">Template</th><td>{}</td></tr><tr><th scope=\"row\">Kind</th><td>{}</td></tr>\
                 <tr><th scope=\"row\">Name</th><td>{}</td></tr><tr><th scope=\"row\">Redirect URLs</th><td>{}</td></tr>\
                 <tr><th scope=\"row\">Integration points</th><td>{}</td></tr><tr><th scope=\"row\">Technical contact</th><td>{}</td></tr></tbody></table>",
                esc(&d.template),
                if d.custom { format!("custom, for {}", esc(&d.custom_ctx)) } else { "standard".into() },
                esc(&d.name),
                list(&d.redirect_list()),
                list(&ents),
                esc(&d.contact)
            )
        }
    };
    let back =
        if step > 1 { "<button type=\"submit\" name=\"go\" value=\"back\" formnovalidate>Back</button> " } else { "" };
    let next = if step == 6 { "Create app" } else { "Next" };
    let body = format!(
        "<p class=\"muted\">Step {step} of 6: {}</p><form method=\"post\" action=\"{}\">{}{}<input type=\"hidden\" name=\"step\" value=\"{step}\">{fields}\
         <p>{back}<button type=\"submit\" name=\"go\" value=\"next\">{next}</button></p></form>",
        STEPS[step - 1],
        paths::PORTAL_NEW_APP,
        viewer.csrf_field(),
        d.hidden_except(step)
    );
    viewer.page(status, &format!("New app: {}", STEPS[step - 1].to_lowercase()), &body)
}

fn template_title(t: Template) -> &'static str {
    match t {
        Template::Web => "Web app",
        Template::Native => "Native app",
        Template::ServerToServer => "Server to server",
        Template::Mirroring => "Database mirroring",
        Template::ErpSync => "ERP sync & quote",
        Template::Empty => "Empty",
    }
}

fn template_note(t: Template) -> &'static str {
    match t {
        Template::Web => "signs users in from a web server that keeps a secret",
        Template::Native => "desktop or mobile; no secret, PKCE and loopback redirects",
        Template::ServerToServer => "acts for a tenant without a user: client credentials, system users",
        Template::Mirroring => "copies a tenant's database; client credentials only",
        Template::ErpSync => "connects an ERP system: sync, quotes, system users",
        Template::Empty => "start from nothing and configure everything yourself",
    }
}

fn entitlement_title(e: Entitlement) -> &'static str {
    match e {
        Entitlement::WebApi => "Web API",
        Entitlement::Services88 => "Services88 (SOAP)",
        Entitlement::WebhookAgent => "Webhook agent",
        Entitlement::SystemToken => "System user (system token claim)",
        Entitlement::ErpSyncAgent => "ERP sync agent",
        Entitlement::ActForUsers => "Act for the tenant's users (JWT bearer, no sign-in)",
        Entitlement::ActForAdministrators => "Act for any user, administrators included",
    }
}
