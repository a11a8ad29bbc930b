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

use super::{viewer, Form, Nav, Viewer};
use crate::apps::{redirect_uri, Access, App, AppOverrides, Entitlement, NewApp, Template};
use crate::http::pages::{self, PageError, Policy};
use crate::paths;
use crate::store::tenants::PartnerRow;
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

    /// Hidden fields for everything except the fields the page `step` shows.
    fn hidden_except(&self, step: usize) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let mut put = |name: &'static str, value: &str| out.push((name, value.to_string()));
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
pub async fn start(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, PageError> {
    let viewer = viewer(&state, &headers, paths::PORTAL_NEW_APP).await?;
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
pub async fn submit(State(state): State<AppState>, headers: HeaderMap, form: Form) -> Result<Response, PageError> {
    let viewer = viewer(&state, &headers, paths::PORTAL_NEW_APP).await?;
    form.check(&state, &headers, &viewer)?;
    let mut draft = Draft::from_form(&form);
    if draft.key.len() < 20 {
        return Err(PageError::bad_request("The form is incomplete. Start the wizard again."));
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
        let errors = check(&state, &viewer, &draft, s).await?;
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
async fn check(state: &AppState, viewer: &Viewer, d: &Draft, step: usize) -> Result<Errors, PageError> {
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
                    Err(e) => return Err(e.into()),
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
            let members = state.store.partner_member_emails(&d.partner).await?;
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

#[derive(askama::Template)]
#[template(path = "portal/already_created.html")]
struct AlreadyCreated {
    title: &'static str,
    nav: Nav,
    client_id: String,
}

#[derive(askama::Template)]
#[template(path = "portal/created.html")]
struct Created<'a> {
    title: &'static str,
    nav: Nav,
    app: &'a App,
    secret: Option<&'a str>,
    /// The integration points waiting for the platform's approval, listed.
    pending: String,
}

async fn create(state: &AppState, viewer: &Viewer, d: &Draft) -> Result<Response, PageError> {
    let already = |client_id: String| {
        let page = AlreadyCreated { title: "This app was already created", nav: viewer.nav(), client_id };
        Ok(pages::render(StatusCode::CONFLICT, &page, Policy::Own))
    };
    if let Some(client_id) = state.store.app_by_creation_key(&d.key).await? {
        return already(client_id);
    }
    let template = d.template().ok_or_else(|| PageError::bad_request("Choose a template."))?;
    let custom_tenant_id = if d.custom { Some(state.directory.tenant(&d.custom_ctx).await?.id) } else { None };
    // The technical contact is stored as the developer's user id.
    let contact = state.directory.user(&d.contact).await?.id;
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
        Err(crate::error::Error::Conflict(_)) => match state.store.app_by_creation_key(&d.key).await? {
            Some(client_id) => return already(client_id),
            None => return Err(PageError::new(StatusCode::CONFLICT, "The app could not be created; start again.")),
        },
        Err(e) => return Err(e.into()),
    };
    let app = &created.app;
    let pending: Vec<&str> = app
        .entitlements
        .iter()
        .filter(|e| e.status == crate::apps::EntitlementStatus::Pending)
        .map(|e| e.entitlement.as_str())
        .collect();
    let page = Created {
        title: "Your app is ready",
        nav: viewer.nav(),
        app,
        secret: created.client_secret.as_ref().map(|s| s.secret.expose().as_str()),
        pending: pending.join(", "),
    };
    Ok(pages::render(StatusCode::CREATED, &page, Policy::Copy))
}

/// The fields of one step's page.
enum Fields<'a> {
    Template {
        partners: &'a [PartnerRow],
        /// Each template: its value, title, note, and whether it is chosen.
        templates: Vec<(&'static str, &'static str, &'static str, bool)>,
        custom: bool,
        custom_ctx: &'a str,
    },
    Name {
        name: &'a str,
    },
    Redirects {
        native: bool,
        /// Each field's id and URL, blanks included.
        uris: Vec<(String, String)>,
    },
    Entitlements {
        /// Each integration point: its value, title, whether it needs approval, and whether it is chosen.
        boxes: Vec<(&'static str, &'static str, bool, bool)>,
        justification: &'a str,
    },
    Contact {
        members: Vec<String>,
        current: String,
    },
    Review {
        template: &'a str,
        kind: String,
        name: &'a str,
        redirects: String,
        entitlements: String,
        contact: &'a str,
    },
}

#[derive(askama::Template)]
#[template(path = "portal/wizard.html")]
struct WizardPage<'a> {
    title: String,
    nav: Nav,
    step: usize,
    step_name: &'static str,
    draft: &'a Draft,
    /// What the other steps gathered, carried in hidden fields.
    hidden: Vec<(&'static str, String)>,
    fields: Fields<'a>,
    errors: &'a Errors,
}

impl WizardPage<'_> {
    /// The message beside the field with this id.
    fn err(&self, id: &str) -> Option<&str> {
        self.errors.get(id).map(String::as_str)
    }
}

async fn render(
    state: &AppState,
    viewer: &Viewer,
    d: &Draft,
    step: usize,
    errors: &Errors,
    status: StatusCode,
) -> Result<Response, PageError> {
    let fields = match step {
        1 => Fields::Template {
            partners: &viewer.partners,
            templates: Template::ALL
                .iter()
                .map(|t| (t.as_str(), template_title(*t), template_note(*t), d.template == t.as_str()))
                .collect(),
            custom: d.custom,
            custom_ctx: &d.custom_ctx,
        },
        2 => Fields::Name { name: &d.name },
        3 => {
            let native = d.template().is_some_and(|t| t.defaults().loopback_any_port);
            let mut uris = d.redirects.clone();
            if uris.is_empty() {
                uris.push(if native { "http://127.0.0.1/callback".into() } else { String::new() });
            }
            let uris = uris.into_iter().enumerate().map(|(i, u)| (format!("redirect_uri_{i}"), u)).collect();
            Fields::Redirects { native, uris }
        }
        4 => {
            let chosen = d.entitlements();
            let boxes = Entitlement::ALL
                .iter()
                .map(|e| (e.as_str(), entitlement_title(*e), e.needs_approval(), chosen.contains(e)))
                .collect();
            Fields::Entitlements { boxes, justification: &d.justification }
        }
        5 => Fields::Contact {
            members: state.store.partner_member_emails(&d.partner).await?,
            current: if d.contact.is_empty() { viewer.user.email.clone() } else { d.contact.clone() },
        },
        _ => {
            let list = |items: &[String]| if items.is_empty() { "none".to_string() } else { items.join(", ") };
            let ents: Vec<String> = d.entitlements().iter().map(|e| e.as_str().to_string()).collect();
            Fields::Review {
                template: &d.template,
                kind: if d.custom { format!("custom, for {}", d.custom_ctx) } else { "standard".into() },
                name: &d.name,
                redirects: list(&d.redirect_list()),
                entitlements: list(&ents),
                contact: &d.contact,
            }
        }
    };
    let page = WizardPage {
        title: format!("New app: {}", STEPS[step - 1].to_lowercase()),
        nav: viewer.nav(),
        step,
        step_name: STEPS[step - 1],
        draft: d,
        hidden: d.hidden_except(step),
        fields,
        errors,
    };
    Ok(pages::render(status, &page, Policy::Own))
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
        Entitlement::ExchangeTokens => "Token exchange (act with a user's token from another app)",
        Entitlement::AdminPartner => "Admin API for the partner's own apps",
        Entitlement::AdminTenant => "Admin API for the sign-in settings of tenants that approve the app",
        Entitlement::AdminPlatform => "Admin API for the whole platform (approved by a platform administrator)",
    }
}
