//! The app page: settings, URL lists, secrets, certificates, access, token settings, the
//! tenants that approved the app, and deletion. Each change is one form posting to
//! `/portal/apps/{client_id}/{action}`; a failed change re-renders the page with the message
//! beside the form that caused it, and stores nothing.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{viewer, when, Form, Nav, Viewer};
use crate::apps::{
    Access, App, Certificate, ClientType, Entitlement, RefreshMode, SecretInfo, TokenFormat, TokenSettings, UriKind,
};
use crate::error::Error;
use crate::http::pages::{self, PageError, Policy};
use crate::paths;
use crate::store::approvals::AuthorizationView;
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
        "webhook-removed" => "The webhook was removed; nothing more is sent to it.",
        _ => return None,
    })
}

fn app_url(client_id: &str) -> String {
    format!("{}/{}", paths::PORTAL_APPS, client_id)
}

/// Loads the app if the viewer may manage it; otherwise the page to show instead.
async fn managed(state: &AppState, viewer: &Viewer, client_id: &str) -> Result<App, PageError> {
    let app = state.registry.get(client_id).await?;
    if !viewer.can_manage(&app) {
        return Err(PageError::refused(
            viewer.nav(),
            "Not your app",
            "This app belongs to another partner. Nothing was changed.",
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
) -> Result<Response, PageError> {
    let viewer = viewer(&state, &headers, &app_url(&client_id)).await?;
    let app = managed(&state, &viewer, &client_id).await?;
    let notice = q.done.as_deref().and_then(done_message);
    render(&state, &viewer, &app, &Errors::new(), notice, StatusCode::OK).await
}

/// `GET /portal/apps/{client_id}/delete`: the confirmation page.
pub async fn confirm_delete(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((client_id, action)): Path<(String, String)>,
) -> Result<Response, PageError> {
    if action != "delete" {
        return Err(PageError::not_found("There is no such page."));
    }
    let viewer = viewer(&state, &headers, &app_url(&client_id)).await?;
    let app = managed(&state, &viewer, &client_id).await?;
    Ok(delete_page(&viewer, &app, None, StatusCode::OK))
}

#[derive(Template)]
#[template(path = "portal/delete.html")]
struct DeletePage<'a> {
    title: String,
    nav: Nav,
    url: String,
    name: &'a str,
    error: Option<&'a str>,
}

fn delete_page(viewer: &Viewer, app: &App, error: Option<&str>, status: StatusCode) -> Response {
    let page = DeletePage {
        title: format!("Delete {}?", app.name),
        nav: viewer.nav(),
        url: app_url(&app.client_id),
        name: &app.name,
        error,
    };
    pages::render(status, &page, Policy::Own)
}

#[derive(Template)]
#[template(path = "portal/secret.html")]
struct NewSecret<'a> {
    title: &'static str,
    nav: Nav,
    secret: &'a str,
    expires: String,
    url: String,
}

#[derive(Template)]
#[template(path = "portal/key_pair.html")]
struct KeyPair<'a> {
    title: &'static str,
    nav: Nav,
    kid: &'a str,
    pem: &'a str,
    rsa_xml: &'a str,
    url: String,
}

#[derive(Template)]
#[template(path = "portal/webhook_secret.html")]
pub(super) struct NewWebhook<'a> {
    pub title: &'static str,
    pub nav: Nav,
    pub hook_url: &'a str,
    pub secret: &'a str,
    /// Where the page leads back to, and what the link says.
    pub url: String,
    pub back: &'static str,
}

#[derive(Template)]
#[template(path = "portal/deleted.html")]
struct Deleted<'a> {
    title: &'static str,
    nav: Nav,
    name: &'a str,
}

/// `POST /portal/apps/{client_id}/{action}`
pub async fn act(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((client_id, action)): Path<(String, String)>,
    req: Request,
) -> Result<Response, PageError> {
    let viewer = viewer(&state, &headers, &app_url(&client_id)).await?;
    // The upload form is multipart (it carries a file); every other form is urlencoded.
    let (form, file) = if action == "cert-upload" {
        upload_form(req, &state).await?
    } else {
        (Form::from_request(req, &state).await?, None)
    };
    form.check(&state, &headers, &viewer)?;
    let app = managed(&state, &viewer, &client_id).await?;
    let actor = viewer.user.id.as_str();
    let back = |code: &str| Ok(Redirect::to(&format!("{}?done={code}", app_url(&app.client_id))).into_response());
    // Each arm either finishes (a redirect or a shown-once page) or names the form that failed.
    let failed: (&'static str, Error) = match action.as_str() {
        "uri-add" | "uri-remove" => {
            let kind = UriKind::parse(form.get("kind").unwrap_or(""))?;
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
                    let page = NewSecret {
                        title: "New client secret",
                        nav: viewer.nav(),
                        secret: issued.secret.expose(),
                        expires: when(issued.expires_at),
                        url: app_url(&app.client_id),
                    };
                    return Ok(pages::render(StatusCode::CREATED, &page, Policy::Copy));
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
                    let page = KeyPair {
                        title: "Your new key pair",
                        nav: viewer.nav(),
                        kid: &cert.kid,
                        pem: private.pem.expose(),
                        rsa_xml: private.rsa_xml.expose(),
                        url: app_url(&app.client_id),
                    };
                    return Ok(pages::render(StatusCode::CREATED, &page, Policy::Copy));
                }
                Err(e) => ("cert", e),
            },
        },
        "cert-revoke" => match state.registry.revoke_certificate(&app.client_id, &form.text("cert_id"), actor).await {
            Ok(()) => return back("cert-revoked"),
            Err(e) => ("cert", e),
        },
        "entitlement-add" => match Entitlement::parse(&form.text("entitlement")) {
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
        "webhook-add" => match state.registry.add_webhook(&app.client_id, &form.text("url"), actor).await {
            Ok((hook, secret)) => {
                let page = NewWebhook {
                    title: "New webhook",
                    nav: viewer.nav(),
                    hook_url: &hook.url,
                    secret: &secret,
                    url: app_url(&app.client_id),
                    back: "Back to the app",
                };
                return Ok(pages::render(StatusCode::CREATED, &page, Policy::Copy));
            }
            Err(e) => ("webhook", e),
        },
        "webhook-remove" => match state.registry.remove_webhook(&app.client_id, &form.text("url"), actor).await {
            Ok(()) => return back("webhook-removed"),
            Err(e) => ("webhook", e),
        },
        "delete" => {
            if form.text("confirm") != app.name {
                let error = Some("The name does not match; the app was not deleted.");
                return Ok(delete_page(&viewer, &app, error, StatusCode::BAD_REQUEST));
            }
            state.registry.delete(&app.client_id, actor).await?;
            let page = Deleted { title: "App deleted", nav: viewer.nav(), name: &app.name };
            return Ok(pages::render(StatusCode::OK, &page, Policy::Own));
        }
        _ => return Err(PageError::not_found("There is no such action.")),
    };
    let (section, e) = failed;
    match e {
        Error::Invalid { .. } | Error::Conflict(_) | Error::NotFound(_) => {
            let mut errors = Errors::new();
            errors.insert(section, e.to_string());
            let status = if matches!(e, Error::Conflict(_)) { StatusCode::CONFLICT } else { StatusCode::BAD_REQUEST };
            render(&state, &viewer, &app, &errors, None, status).await
        }
        other => Err(other.into()),
    }
}

/// The certificate form's text fields as pairs, and the uploaded file's bytes if one was
/// chosen (DER is binary, so the file is not text).
async fn upload_form(req: Request, state: &AppState) -> Result<(Form, Option<Vec<u8>>), PageError> {
    let mut multipart = Multipart::from_request(req, state)
        .await
        .map_err(|_| PageError::bad_request("The upload form could not be read."))?;
    let mut pairs = Vec::new();
    let mut file = None;
    // A browser sends five fields; more is not our form.
    for _ in 0..10 {
        let Ok(Some(field)) = multipart.next_field().await else { break };
        let name = field.name().unwrap_or("").to_string();
        let bytes = field
            .bytes()
            .await
            .map_err(|_| PageError::new(StatusCode::PAYLOAD_TOO_LARGE, "The upload is too large."))?;
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
        require_par: None,
        require_dpop: None,
    };
    state.registry.set_token_settings(&app.client_id, settings, &algs, actor).await.map(|_| ())
}

fn uri_field(kind: UriKind) -> &'static str {
    match kind {
        UriKind::Redirect => "uri-redirect",
        UriKind::PostLogout => "uri-post-logout",
        UriKind::Cors => "uri-cors",
        UriKind::Resource => "uri-resource",
        UriKind::BackchannelLogout => "uri-backchannel-logout",
    }
}

/// A list of URLs of one kind on the app page, with its add form.
struct UriList<'a> {
    title: &'static str,
    hint: &'static str,
    kind: &'static str,
    /// The id of the add form's field, which its error names.
    field: &'static str,
    uris: &'a [String],
}

#[derive(Template)]
#[template(path = "portal/app.html")]
struct AppPage<'a> {
    title: &'a str,
    nav: Nav,
    app: &'a App,
    url: String,
    notice: Option<&'a str>,
    errors: &'a Errors,
    grant_types: String,
    contact: Option<String>,
    /// The integration points the app does not have yet.
    missing: Vec<Entitlement>,
    uri_lists: Vec<UriList<'a>>,
    public_client: bool,
    secrets: Vec<SecretInfo>,
    certs: Vec<Certificate>,
    /// The signing algorithms the server offers, and whether the app uses it.
    signing_algs: Vec<(&'a str, bool)>,
    approvals: Vec<AuthorizationView>,
    /// The app's webhooks, and the newest logouts and events sent to it, with their status.
    webhooks: Vec<crate::store::webhooks::WebhookRow>,
    deliveries: Vec<crate::store::outbox::DeliveryStatus>,
}

impl AppPage<'_> {
    /// The message of the form whose field has this id, after a failed change.
    fn err(&self, id: &str) -> Option<&str> {
        self.errors.get(id).map(String::as_str)
    }
}

async fn render(
    state: &AppState,
    viewer: &Viewer,
    app: &App,
    errors: &Errors,
    notice: Option<&str>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let contact = match &app.technical_contact {
        Some(id) => state.store.user_by_id(id).await.ok().flatten().map(|u| u.email),
        None => None,
    };
    let secrets = state.registry.secrets(&app.client_id).await?;
    let certs = state.registry.certificates(&app.client_id).await?;
    let approvals = state.store.authorizations_of_app(&app.id).await?;
    let uri_lists = [
        (UriKind::Redirect, "Redirect URLs", "Matched exactly; https, or http for localhost only."),
        (UriKind::PostLogout, "Post-logout redirect URLs", "Where users may be sent after signing out."),
        (UriKind::Cors, "CORS origins", "scheme://host[:port] of browser apps that call the token endpoint."),
        (
            UriKind::BackchannelLogout,
            "Back-channel logout URL",
            "One URL we POST a signed logout token to when a person's session ends.",
        ),
    ]
    .into_iter()
    .map(|(kind, title, hint)| UriList {
        title,
        hint,
        kind: kind.as_str(),
        field: uri_field(kind),
        uris: app.uris(kind),
    })
    .collect();
    let page = AppPage {
        title: &app.name,
        nav: viewer.nav(),
        app,
        url: app_url(&app.client_id),
        notice,
        errors,
        grant_types: app.grant_types.iter().map(|g| g.as_str()).collect::<Vec<_>>().join(", "),
        contact,
        missing: Entitlement::ALL
            .iter()
            .filter(|e| !app.entitlements.iter().any(|have| have.entitlement == **e))
            .copied()
            .collect(),
        uri_lists,
        public_client: app.client_type == ClientType::Public,
        secrets,
        certs,
        signing_algs: state.config.signing_algs.iter().map(|a| (a.as_str(), a.as_str() == app.signing_alg)).collect(),
        approvals,
        webhooks: state.store.webhooks_of(&app.id).await?,
        deliveries: state.store.deliveries_of(&app.id, 20).await?,
    };
    Ok(pages::render(status, &page, Policy::Own))
}
