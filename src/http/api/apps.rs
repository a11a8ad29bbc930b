//! `/api/v1/apps`: a partner's apps, their secrets and certificates. Writes go through the
//! registry, audited with the calling app.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Body, Caller, Page, Paging, Params, Problem, Segments};
use crate::apps::{Access, App, AppOverrides, NewApp, Template, TokenFormat, TokenSettings, UriKind};
use crate::AppState;

/// An app as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppView {
    pub client_id: String,
    pub partner_id: String,
    pub name: String,
    pub template: String,
    pub access: String,
    pub client_type: String,
    pub grant_types: Vec<String>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub cors_origins: Vec<String>,
    pub backchannel_logout_uris: Vec<String>,
    /// Integration points and their status (active, pending, rejected).
    pub entitlements: Vec<EntitlementView>,
    pub token_format: String,
    pub access_token_ttl: Option<i64>,
    pub signing_alg: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// Also the `ETag`; send it as `If-Match` to change the app.
    pub revision: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EntitlementView {
    pub entitlement: String,
    pub status: String,
}

impl From<&App> for AppView {
    fn from(a: &App) -> AppView {
        AppView {
            client_id: a.client_id.clone(),
            partner_id: a.partner_id.clone(),
            name: a.name.clone(),
            template: a.template.as_str().into(),
            access: a.access.as_str().into(),
            client_type: a.client_type.as_str().into(),
            grant_types: a.grant_types.iter().map(|g| g.as_str().to_string()).collect(),
            redirect_uris: a.redirect_uris.clone(),
            post_logout_redirect_uris: a.post_logout_redirect_uris.clone(),
            cors_origins: a.cors_origins.clone(),
            backchannel_logout_uris: a.backchannel_logout_uris.clone(),
            entitlements: a
                .entitlements
                .iter()
                .map(|e| EntitlementView {
                    entitlement: e.entitlement.as_str().into(),
                    status: e.status.as_str().into(),
                })
                .collect(),
            token_format: a.token_format.as_str().into(),
            access_token_ttl: a.access_token_ttl,
            signing_alg: a.signing_alg.clone(),
            created_at: a.created_at,
            updated_at: a.updated_at,
            revision: a.revision,
        }
    }
}

fn etag(app: &App) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{}\"", app.revision)).unwrap_or(HeaderValue::from_static("\"0\""))
}

fn with_etag(status: StatusCode, app: &App, body: impl Serialize) -> Response {
    let mut res = (status, Json(body)).into_response();
    res.headers_mut().insert(header::ETAG, etag(app));
    res
}

/// `GET /api/v1/apps`: the caller's partner's apps (every app, for `admin:platform`).
#[utoipa::path(get, path = "/api/v1/apps", params(Paging), responses(
    (status = 200, body = Page<AppView>)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Params(paging): Params<Paging>,
) -> Result<Response, Problem> {
    caller.require_partner()?;
    let partner = (!caller.platform).then_some(caller.partner_id.as_str());
    let mut apps = state.registry.list(partner).await?;
    apps.sort_by(|a, b| a.client_id.cmp(&b.client_id));
    let views: Vec<AppView> = apps.iter().map(AppView::from).collect();
    Ok(Json(paging.page(views, |a| a.client_id.clone())?).into_response())
}

/// The template an app starts from.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum TemplateName {
    Web,
    Native,
    ServerToServer,
    Mirroring,
    ErpSync,
    Empty,
}

fn template_of(t: TemplateName) -> Template {
    match t {
        TemplateName::Web => Template::Web,
        TemplateName::Native => Template::Native,
        TemplateName::ServerToServer => Template::ServerToServer,
        TemplateName::Mirroring => Template::Mirroring,
        TemplateName::ErpSync => Template::ErpSync,
        TemplateName::Empty => Template::Empty,
    }
}

/// Who may use an app: the partner's own tenants, or any tenant that approves it.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AccessName {
    Private,
    Public,
}

impl AccessName {
    fn access(self) -> Access {
        match self {
            AccessName::Private => Access::Private,
            AccessName::Public => Access::Public,
        }
    }
}

/// JWT (RFC 9068) or opaque access tokens.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TokenFormatName {
    Jwt,
    Opaque,
}

/// What `POST /api/v1/apps` creates.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApp {
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    pub template: TemplateName,
    /// Matched exactly; https, or http on loopback.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// private when absent.
    pub access: Option<AccessName>,
    /// The partner, for `admin:platform` callers; others create for their own.
    pub partner_id: Option<String>,
}

/// An app just created, with its secret (shown only now).
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedView {
    pub app: AppView,
    pub client_secret: Option<String>,
}

/// `POST /api/v1/apps`. With an `Idempotency-Key` header, a repeated request answers 200 with
/// the app the first one created (without its secret) instead of creating another.
#[utoipa::path(post, path = "/api/v1/apps", request_body = CreateApp, params(
    ("Idempotency-Key" = Option<String>, Header, description = "Makes a retried create safe")),
    responses((status = 201, body = CreatedView), (status = 200, body = CreatedView)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Body(body): Body<CreateApp>,
) -> Result<Response, Problem> {
    caller.require_partner()?;
    let partner = match &body.partner_id {
        Some(p) if caller.platform => p.clone(),
        Some(p) if *p != caller.partner_id => return Err(Problem::not_found()),
        _ => caller.partner_id.clone(),
    };
    // The body is checked before a replay is answered, so a bad request is never "accepted".
    let name_length = body.name.trim().chars().count();
    if !(1..=100).contains(&name_length) {
        return Err(Problem {
            field: Some("name"),
            ..Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "1 to 100 characters")
        });
    }
    let key = match headers.get("idempotency-key").map(|v| v.to_str()) {
        None => None,
        Some(Ok(k)) if !k.is_empty() && k.len() <= 100 => Some(format!("api:{partner}:{k}")),
        Some(_) => return Err(Problem::bad_request("Idempotency-Key must be 1 to 100 visible characters")),
    };
    if let Some(k) = &key {
        if let Some(client_id) = state.store.app_by_creation_key(k).await? {
            let app = caller.app(&state, &client_id).await?;
            if app.name != body.name.trim() || app.template.as_str() != template_of(body.template).as_str() {
                return Err(Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "this Idempotency-Key was used for another request",
                ));
            }
            let mut res =
                with_etag(StatusCode::OK, &app, CreatedView { app: AppView::from(&app), client_secret: None });
            res.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
            return Ok(res);
        }
    }
    let template = template_of(body.template);
    let access = body.access.map_or(Access::Private, AccessName::access);
    let new = NewApp {
        partner_id: partner,
        name: body.name,
        template,
        redirect_uris: body.redirect_uris,
        access,
        technical_contact: None,
        justification: None,
    };
    let overrides = AppOverrides { creation_key: key, ..AppOverrides::default() };
    let created = state.registry.create_with(new, &overrides, &caller.actor()).await?;
    let view = CreatedView {
        app: AppView::from(&created.app),
        client_secret: created.client_secret.map(|s| s.secret.expose().clone()),
    };
    let mut res = with_etag(StatusCode::CREATED, &created.app, view);
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

/// `GET /api/v1/apps/{client_id}`, with its revision as `ETag`.
#[utoipa::path(get, path = "/api/v1/apps/{client_id}", params(("client_id" = String, Path)), responses(
    (status = 200, body = AppView)))]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Segments(client_id): Segments<String>,
) -> Result<Response, Problem> {
    let app = caller.app(&state, &client_id).await?;
    Ok(with_etag(StatusCode::OK, &app, AppView::from(&app)))
}

/// What `PATCH /api/v1/apps/{client_id}` may change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateApp {
    pub access: Option<AccessName>,
    pub token_format: Option<TokenFormatName>,
    /// Seconds.
    #[schema(minimum = 60, maximum = 86400)]
    pub access_token_ttl: Option<i64>,
    /// Replaces the redirect URIs.
    pub redirect_uris: Option<Vec<String>>,
}

/// `PATCH /api/v1/apps/{client_id}`: needs `If-Match` with the app's `ETag`, so two scripts
/// cannot overwrite each other's change (412 when the app changed since, 428 without it).
#[utoipa::path(patch, path = "/api/v1/apps/{client_id}", request_body = UpdateApp, params(
    ("client_id" = String, Path),
    ("If-Match" = Option<String>, Header, description = "The app's ETag; needed to change it (428 without)")), responses(
    (status = 200, body = AppView)))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Segments(client_id): Segments<String>,
    headers: HeaderMap,
    Body(body): Body<UpdateApp>,
) -> Result<Response, Problem> {
    let app = caller.app(&state, &client_id).await?;
    if body.access_token_ttl.is_some_and(|ttl| !(60..=86_400).contains(&ttl)) {
        let problem = Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "60 to 86400 seconds");
        return Err(Problem { field: Some("access_token_ttl"), ..problem });
    }
    match headers.get(header::IF_MATCH) {
        None => return Err(Problem::new(StatusCode::PRECONDITION_REQUIRED, "send If-Match with the app's ETag")),
        Some(v) if v != etag(&app) => {
            return Err(Problem::new(StatusCode::PRECONDITION_FAILED, "the app changed since that ETag"))
        }
        Some(_) => {}
    }
    let actor = caller.actor();
    if let Some(access) = body.access {
        state.registry.set_access(&client_id, access.access(), &actor).await?;
    }
    if body.token_format.is_some() || body.access_token_ttl.is_some() {
        let format = body.token_format.map(|f| match f {
            TokenFormatName::Jwt => TokenFormat::Jwt,
            TokenFormatName::Opaque => TokenFormat::Opaque,
        });
        let settings = TokenSettings { format, access_token_ttl: body.access_token_ttl, ..Default::default() };
        let algs: Vec<&str> = state.config.signing_algs.iter().map(|a| a.as_str()).collect();
        state.registry.set_token_settings(&client_id, settings, &algs, &actor).await?;
    }
    if let Some(wanted) = &body.redirect_uris {
        for old in app.redirect_uris.iter().filter(|u| !wanted.contains(u)) {
            state.registry.remove_uri(&client_id, UriKind::Redirect, old, &actor).await?;
        }
        for new in wanted.iter().filter(|u| !app.redirect_uris.contains(u)) {
            state.registry.add_uri(&client_id, UriKind::Redirect, new, &actor).await?;
        }
    }
    let app = state.registry.get(&client_id).await?;
    Ok(with_etag(StatusCode::OK, &app, AppView::from(&app)))
}

/// `DELETE /api/v1/apps/{client_id}`: the app with its secrets, certificates, tokens,
/// approvals and webhooks; its partner's webhooks hear `app.deleted`.
#[utoipa::path(delete, path = "/api/v1/apps/{client_id}", params(("client_id" = String, Path)),
    responses((status = 204)))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Segments(client_id): Segments<String>,
) -> Result<Response, Problem> {
    caller.app(&state, &client_id).await?;
    if client_id == caller.client_id {
        return Err(Problem::new(StatusCode::CONFLICT, "an app cannot delete itself; use another app's token"));
    }
    state.registry.delete(&client_id, &caller.actor()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SecretView {
    pub id: String,
    /// The last characters, to tell secrets apart.
    pub hint: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub active: bool,
}

/// `GET /api/v1/apps/{client_id}/secrets`: never their values.
#[utoipa::path(get, path = "/api/v1/apps/{client_id}/secrets", params(("client_id" = String, Path)), responses(
    (status = 200, body = Vec<SecretView>)))]
pub async fn secrets(
    State(state): State<AppState>,
    caller: Caller,
    Segments(client_id): Segments<String>,
) -> Result<Response, Problem> {
    caller.app(&state, &client_id).await?;
    let list: Vec<SecretView> = state
        .registry
        .secrets(&client_id)
        .await?
        .into_iter()
        .map(|s| SecretView {
            id: s.id,
            hint: s.hint,
            created_at: s.created_at,
            expires_at: s.expires_at,
            revoked_at: s.revoked_at,
            active: s.active,
        })
        .collect();
    Ok(Json(list).into_response())
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSecret {
    /// Days until it stops working; it never does when absent.
    pub expires_in_days: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IssuedSecretView {
    pub id: String,
    /// Shown only in the answer that created it (an idempotent replay leaves it out).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    pub expires_at: Option<i64>,
}

/// `POST /api/v1/apps/{client_id}/secrets`: another secret; the old ones keep working until
/// revoked, so a rotation has no gap.
#[utoipa::path(post, path = "/api/v1/apps/{client_id}/secrets", request_body = NewSecret, params(("client_id" = String, Path)),
    responses((status = 201, body = IssuedSecretView)))]
pub async fn new_secret(
    State(state): State<AppState>,
    caller: Caller,
    Segments(client_id): Segments<String>,
    Body(body): Body<NewSecret>,
) -> Result<Response, Problem> {
    caller.app(&state, &client_id).await?;
    let issued = state.registry.new_secret(&client_id, body.expires_in_days, &caller.actor()).await?;
    let view =
        IssuedSecretView { id: issued.id, secret: Some(issued.secret.expose().clone()), expires_at: issued.expires_at };
    let mut res = (StatusCode::CREATED, Json(view)).into_response();
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

/// `DELETE /api/v1/apps/{client_id}/secrets/{id}`: it stops working on every instance at once.
#[utoipa::path(delete, path = "/api/v1/apps/{client_id}/secrets/{id}", params(("client_id" = String, Path), ("id" = String, Path)),
    responses((status = 204)))]
pub async fn revoke_secret(
    State(state): State<AppState>,
    caller: Caller,
    Segments((client_id, id)): Segments<(String, String)>,
) -> Result<Response, Problem> {
    caller.app(&state, &client_id).await?;
    state.registry.revoke_secret(&client_id, &id, &caller.actor()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CertificateView {
    pub id: String,
    pub kid: String,
    pub client_kid: Option<String>,
    pub kty: String,
    pub format: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl From<crate::apps::Certificate> for CertificateView {
    fn from(c: crate::apps::Certificate) -> CertificateView {
        CertificateView {
            id: c.id,
            kid: c.kid,
            client_kid: c.client_kid,
            kty: c.kty,
            format: c.format,
            created_at: c.created_at,
            expires_at: c.expires_at,
            revoked_at: c.revoked_at,
        }
    }
}

/// `GET /api/v1/apps/{client_id}/certificates`: the app's public keys.
#[utoipa::path(get, path = "/api/v1/apps/{client_id}/certificates", params(("client_id" = String, Path)), responses(
    (status = 200, body = Vec<CertificateView>)))]
pub async fn certificates(
    State(state): State<AppState>,
    caller: Caller,
    Segments(client_id): Segments<String>,
) -> Result<Response, Problem> {
    caller.app(&state, &client_id).await?;
    let list: Vec<CertificateView> =
        state.registry.certificates(&client_id).await?.into_iter().map(CertificateView::from).collect();
    Ok(Json(list).into_response())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCertificate {
    /// PEM (certificate, public key), a JWK, or .NET `<RSAKeyValue>` XML.
    pub key: String,
    /// Unix time after which it is not used, when earlier than the certificate's own end.
    pub expires_at: Option<i64>,
}

/// `POST /api/v1/apps/{client_id}/certificates`: a public key the app signs with.
#[utoipa::path(post, path = "/api/v1/apps/{client_id}/certificates", request_body = NewCertificate, params(("client_id" = String, Path)),
    responses((status = 201, body = CertificateView)))]
pub async fn add_certificate(
    State(state): State<AppState>,
    caller: Caller,
    Segments(client_id): Segments<String>,
    Body(body): Body<NewCertificate>,
) -> Result<Response, Problem> {
    caller.app(&state, &client_id).await?;
    let cert =
        state.registry.add_certificate(&client_id, body.key.as_bytes(), body.expires_at, &caller.actor()).await?;
    Ok((StatusCode::CREATED, Json(CertificateView::from(cert))).into_response())
}

/// `DELETE /api/v1/apps/{client_id}/certificates/{id}`.
#[utoipa::path(delete, path = "/api/v1/apps/{client_id}/certificates/{id}", params(("client_id" = String, Path), ("id" = String, Path)),
    responses((status = 204)))]
pub async fn revoke_certificate(
    State(state): State<AppState>,
    caller: Caller,
    Segments((client_id, id)): Segments<(String, String)>,
) -> Result<Response, Problem> {
    caller.app(&state, &client_id).await?;
    state.registry.revoke_certificate(&client_id, &id, &caller.actor()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
