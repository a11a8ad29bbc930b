//! `/api/v1`: the admin API. JSON resources over the same domain code as the portal and the
//! CLI, authorized by our own access tokens: an app with the `admin:partner` integration point
//! manages its partner's apps, one with `admin:tenant` the tenants that approved it with that
//! integration point, one with `admin:platform` (approved by a platform administrator)
//! everything. The token must be the app's own (`client_credentials`). Errors
//! are RFC 9457 problem details; another partner's object is 404, as if it did not exist.
//! The OpenAPI 3.1 document is generated from these handlers (`ApiDoc`).

pub mod admin;
pub mod app_keys;
pub mod apps;
pub mod federation;
pub mod idempotency;
pub mod partners;
pub mod resources;
pub mod tenants;
pub mod webhooks;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::Router;
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{OpenApi, ToSchema};

use crate::apps::{App, Entitlement};
use crate::AppState;
use idempotency::IdempotencyHeader;

/// Most items one page lists.
pub const MAX_LIMIT: usize = 100;

/// An RFC 9457 problem: `type` is `about:blank`, so `title` is the status's phrase.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// The request member that is wrong, when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<&'static str>,
}

impl Problem {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Problem {
        Problem {
            kind: "about:blank",
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail: detail.into(),
            field: None,
        }
    }

    pub fn not_found() -> Problem {
        Problem::new(StatusCode::NOT_FOUND, "no such object")
    }

    pub fn bad_request(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::BAD_REQUEST, detail)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut res = (status, axum::Json(&self)).into_response();
        res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"gatehouse\""));
        }
        res
    }
}

impl From<crate::error::Error> for Problem {
    fn from(e: crate::error::Error) -> Problem {
        use crate::error::Error;
        match e {
            Error::Invalid { field, message } => {
                Problem { field: Some(field), ..Problem::new(StatusCode::UNPROCESSABLE_ENTITY, message) }
            }
            Error::NotFound(_) => Problem::not_found(),
            Error::Conflict(why) => Problem::new(StatusCode::CONFLICT, why),
            Error::Unavailable(e) => {
                crate::store::log_unavailable(&e);
                Problem::new(StatusCode::SERVICE_UNAVAILABLE, "the service is temporarily unavailable")
            }
            Error::Internal(e) => {
                tracing::error!(error = %e, "admin API request failed");
                Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
            }
        }
    }
}

impl From<sqlx::Error> for Problem {
    fn from(e: sqlx::Error) -> Problem {
        crate::error::Error::from(e).into()
    }
}

/// Axum's `Json`, `Query` and `Path`, with their rejections as problem details.
macro_rules! problem_extractor {
    ($name:ident, $inner:ident, $trait:ident, $method:ident, $input:ty) => {
        pub struct $name<T>(pub T);

        impl<T, S> axum::extract::$trait<S> for $name<T>
        where
            axum::extract::$inner<T>: axum::extract::$trait<S, Rejection: axum::response::IntoResponse + RejectionText>,
            S: Send + Sync,
        {
            type Rejection = Problem;

            async fn $method(input: $input, state: &S) -> Result<Self, Problem> {
                match axum::extract::$inner::<T>::$method(input, state).await {
                    Ok(axum::extract::$inner(v)) => Ok($name(v)),
                    Err(e) => Err(Problem::new(e.status(), e.text())),
                }
            }
        }
    };
}

/// What a rejection says, for the problem's `detail`.
pub trait RejectionText {
    fn status(&self) -> StatusCode;
    fn text(&self) -> String;
}

macro_rules! rejection_text {
    ($($t:ty),*) => {$(
        impl RejectionText for $t {
            fn status(&self) -> StatusCode {
                <$t>::status(self)
            }
            fn text(&self) -> String {
                self.body_text()
            }
        }
    )*};
}

rejection_text!(
    axum::extract::rejection::JsonRejection,
    axum::extract::rejection::QueryRejection,
    axum::extract::rejection::PathRejection
);

problem_extractor!(Body, Json, FromRequest, from_request, axum::extract::Request);
problem_extractor!(Params, Query, FromRequestParts, from_request_parts, &mut Parts);
problem_extractor!(Segments, Path, FromRequestParts, from_request_parts, &mut Parts);

/// The app calling the API, from its bearer token, and what it may reach.
#[derive(Clone)]
pub struct Caller {
    pub client_id: String,
    pub partner_id: String,
    /// `admin:platform`: every partner, app and tenant.
    pub platform: bool,
    /// `admin:partner`: its partner's apps.
    pub partner_scope: bool,
    /// `admin:tenant`: the tenants whose administrators approved it with `admin:tenant`.
    pub tenant_scope: bool,
    /// The calling app, as its token was checked against.
    app: std::sync::Arc<App>,
}

impl Caller {
    /// Who the audit trail names for the caller's changes.
    pub fn actor(&self) -> String {
        format!("api:{}", self.client_id)
    }

    /// The app `client_id` if the caller may manage it; 404 otherwise, whether or not it exists.
    pub async fn app(&self, state: &AppState, client_id: &str) -> Result<App, Problem> {
        self.require_partner()?;
        match state.registry.get(client_id).await {
            Ok(app) if self.platform || app.partner_id == self.partner_id => Ok(app),
            Ok(_) | Err(crate::error::Error::NotFound(_)) => Err(Problem::not_found()),
            Err(e) => Err(e.into()),
        }
    }

    /// Apps need `admin:partner` (or `admin:platform`); `admin:tenant` alone reaches none.
    pub fn require_partner(&self) -> Result<(), Problem> {
        if self.platform || self.partner_scope {
            Ok(())
        } else {
            Err(Problem::new(StatusCode::FORBIDDEN, "this needs the admin:partner or admin:platform scope"))
        }
    }

    /// The tenant `ctx` if the caller may manage it: with `admin:platform` any, with
    /// `admin:tenant` one whose administrators approved this app with that integration point
    /// (and still admit it). 404 otherwise, whether or not the tenant exists.
    pub async fn tenant(&self, state: &AppState, ctx: &str) -> Result<crate::tenants::Tenant, Problem> {
        if !self.platform && !self.tenant_scope {
            return Err(Problem::new(StatusCode::FORBIDDEN, "this needs the admin:tenant or admin:platform scope"));
        }
        let tenant = match state.directory.tenant(ctx).await {
            Ok(t) => t,
            Err(crate::error::Error::NotFound(_)) => return Err(Problem::not_found()),
            Err(e) => return Err(e.into()),
        };
        if self.platform {
            return Ok(tenant);
        }
        let granted = state.store.approved_entitlements(&self.app.id, &tenant.id).await?;
        let has_scope = granted.is_some_and(|e| e.split(' ').any(|s| s == Entitlement::AdminTenant.as_str()));
        if has_scope && state.approvals.admits(&self.app, &tenant).await? {
            Ok(tenant)
        } else {
            Err(Problem::not_found())
        }
    }

    pub fn require_platform(&self) -> Result<(), Problem> {
        if self.platform {
            Ok(())
        } else {
            Err(Problem::new(StatusCode::FORBIDDEN, "this needs the admin:platform scope"))
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, Problem> {
        if let Some(known) = parts.extensions.get::<Caller>() {
            return Ok(known.clone());
        }
        let unauthorized = |why: &str| Problem::new(StatusCode::UNAUTHORIZED, why);
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim().to_string())
            .ok_or_else(|| unauthorized("send an access token: Authorization: Bearer <token>"))?;
        let known = match crate::oauth::tokens::lookup_active(state, &token).await {
            Ok(Some(k)) => k,
            Ok(None) => return Err(unauthorized("the access token is not valid")),
            Err(crate::oauth::ProtocolError::OAuth(_)) => return Err(unauthorized("the access token is not valid")),
            Err(_) => {
                return Err(Problem::new(StatusCode::SERVICE_UNAVAILABLE, "the service is temporarily unavailable"))
            }
        };
        // A DPoP-bound token is only good with a proof, which this API does not take yet.
        if known.jkt.is_some() {
            return Err(unauthorized("DPoP-bound tokens are not accepted here; use a bearer token"));
        }
        if known.subject != known.client_id {
            return Err(Problem::new(StatusCode::FORBIDDEN, "use the app's own token (client_credentials)"));
        }
        let app = match state.registry.get_shared(&known.client_id).await {
            Ok(app) => app,
            Err(crate::error::Error::NotFound(_)) => return Err(unauthorized("the access token is not valid")),
            Err(e) => return Err(e.into()),
        };
        let scoped = |e: Entitlement| {
            known.scope.split(' ').any(|s| s == e.as_str()) && app.active_entitlements().any(|have| have == e)
        };
        let platform = scoped(Entitlement::AdminPlatform);
        let partner_scope = scoped(Entitlement::AdminPartner);
        let tenant_scope = scoped(Entitlement::AdminTenant);
        if !platform && !partner_scope && !tenant_scope {
            return Err(Problem::new(
                StatusCode::FORBIDDEN,
                "this needs the admin:partner, admin:tenant or admin:platform scope",
            ));
        }
        if let Some(slot) = parts.extensions.get::<CallerSlot>() {
            let _ = slot.0.set(app.client_id.clone());
        }
        Ok(Caller {
            client_id: app.client_id.clone(),
            partner_id: app.partner_id.clone(),
            platform,
            partner_scope,
            tenant_scope,
            app,
        })
    }
}

/// A page of a listing, and the cursor of the next one.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// `?limit=&cursor=` of a listing.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Paging {
    /// At most 100; 50 when absent.
    pub limit: Option<usize>,
    /// `next_cursor` of the page before.
    pub cursor: Option<String>,
}

impl Paging {
    pub fn limit(&self) -> usize {
        self.limit.unwrap_or(50).clamp(1, MAX_LIMIT)
    }

    /// The key the page starts after, from the opaque cursor.
    pub fn after(&self) -> Result<Option<String>, Problem> {
        match &self.cursor {
            None => Ok(None),
            Some(c) => crate::crypto::b64url_decode(c)
                .and_then(|b| String::from_utf8(b).ok())
                .map(Some)
                .ok_or_else(|| Problem::bad_request("cursor is not one this API gave")),
        }
    }

    /// One page of `items` (sorted by `key`) after the cursor.
    pub fn page<T>(&self, items: Vec<T>, key: impl Fn(&T) -> String) -> Result<Page<T>, Problem> {
        let after = self.after()?;
        let limit = self.limit();
        let mut rest: Vec<T> = items.into_iter().filter(|i| after.as_ref().is_none_or(|a| key(i) > *a)).collect();
        let next_cursor = (rest.len() > limit).then(|| crate::crypto::b64url(key(&rest[limit - 1]).as_bytes()));
        rest.truncate(limit);
        Ok(Page { items: rest, next_cursor })
    }
}

/// The problems any operation may answer with, documented once for all of them: bad input
/// (400, 415, 422), authentication and scope (401, 403), unknown or another partner's object
/// (404), a clash (409), `If-Match` (412, 428), and the database being away (503).
struct CommonProblems;

impl utoipa::Modify for CommonProblems {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        const PROBLEMS: [(u16, &str); 10] = [
            (400, "The request could not be read"),
            (401, "No valid access token"),
            (403, "The token lacks the scope"),
            (404, "No such object, or not the caller's"),
            (409, "It clashes with what is stored"),
            (412, "The object changed since the ETag sent"),
            (415, "The body is not JSON"),
            (422, "The input is not acceptable"),
            (428, "If-Match is required"),
            (503, "The service is temporarily unavailable"),
        ];
        for item in openapi.paths.paths.values_mut() {
            let operations = [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete];
            for operation in operations.into_iter().flatten() {
                for (status, description) in PROBLEMS {
                    let content = ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build();
                    let response = ResponseBuilder::new()
                        .description(description)
                        .content("application/problem+json", content)
                        .build();
                    operation.responses.responses.entry(status.to_string()).or_insert(response.into());
                }
            }
        }
    }
}

/// The bearer scheme the document names.
struct BearerScheme;

impl utoipa::Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Gatehouse admin API", version = "1", description = "Partners' apps, tenants and the audit trail, with an app's own access token (scopes admin:partner, admin:tenant, admin:platform)."),
    paths(
        apps::list, apps::create, apps::show, apps::update, apps::delete, apps::secrets, apps::new_secret, apps::revoke_secret,
        apps::certificates, apps::add_certificate, apps::revoke_certificate, webhooks::webhooks, webhooks::add_webhook,
        webhooks::remove_webhook, webhooks::deliveries, admin::create_tenant, admin::show_tenant, admin::audit,
        federation::list, federation::add, federation::remove, federation::prove,
        tenants::members, tenants::member, tenants::change_member, tenants::remove_member, tenants::invitations, tenants::invite,
        tenants::withdraw, tenants::approvals, tenants::decide, tenants::credentials, tenants::revoke_credential,
        admin::keys, admin::rotate,
        app_keys::list, app_keys::enable, app_keys::rotate, partners::list, partners::create, partners::show,
        partners::developers, partners::invite, webhooks::partner_webhooks, webhooks::partner_add_webhook, webhooks::partner_remove_webhook,
        webhooks::partner_deliveries, resources::list, resources::register, resources::grant,
    ),
    components(schemas(Problem)),
    modifiers(&BearerScheme, &CommonProblems, &IdempotencyHeader),
    security(("bearer" = [])),
)]
pub struct ApiDoc;

/// `GET /api/v1/openapi.json`: the document, for generators and testers.
pub async fn openapi() -> Response {
    match ApiDoc::openapi().to_json() {
        Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
        Err(_) => Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "the document did not serialize").into_response(),
    }
}

/// Where `Caller` leaves the calling app's client ID for `every_call`, which runs around the
/// handler and cannot see its extractors.
#[derive(Clone, Default)]
struct CallerSlot(std::sync::Arc<std::sync::OnceLock<String>>);

/// Around every API call: one log line naming the calling app, the operation and the answer
/// (changes are in the audit trail too, reads only here); after a change, this instance's
/// outbox delivery looks at once for the events it queued (other instances find them on their
/// next poll).
async fn every_call(
    axum::extract::State(state): axum::extract::State<AppState>,
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let slot = CallerSlot::default();
    req.extensions_mut().insert(slot.clone());
    let method = req.method().clone();
    let operation = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| req.uri().path().to_string(), |p| p.as_str().to_string());
    let res = next.run(req).await;
    let caller = slot.0.get().map_or("-", String::as_str);
    tracing::info!(target: "gatehouse::api", client_id = caller, %method, operation, status = res.status().as_u16(), "admin API call");
    if method != axum::http::Method::GET && res.status().is_success() {
        state.outbox_queued.notify_one();
    }
    res
}

/// The API's routes, under `/api/v1`.
pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/apps", get(apps::list).post(apps::create))
        .route("/api/v1/apps/{client_id}", get(apps::show).patch(apps::update).delete(apps::delete))
        .route("/api/v1/apps/{client_id}/secrets", get(apps::secrets).post(apps::new_secret))
        .route("/api/v1/apps/{client_id}/secrets/{id}", delete(apps::revoke_secret))
        .route("/api/v1/apps/{client_id}/certificates", get(apps::certificates).post(apps::add_certificate))
        .route("/api/v1/apps/{client_id}/certificates/{id}", delete(apps::revoke_certificate))
        .route("/api/v1/apps/{client_id}/webhooks", get(webhooks::webhooks).post(webhooks::add_webhook))
        .route("/api/v1/apps/{client_id}/webhooks/{id}", delete(webhooks::remove_webhook))
        .route("/api/v1/apps/{client_id}/deliveries", get(webhooks::deliveries))
        .route("/api/v1/apps/{client_id}/keys", get(app_keys::list).post(app_keys::enable))
        .route("/api/v1/apps/{client_id}/keys/rotate", axum::routing::post(app_keys::rotate))
        .route("/api/v1/tenants", axum::routing::post(admin::create_tenant))
        .route("/api/v1/tenants/{ctx}", get(admin::show_tenant))
        .route("/api/v1/tenants/{ctx}/identity-providers", get(federation::list).post(federation::add))
        .route("/api/v1/tenants/{ctx}/identity-providers/{id}", delete(federation::remove))
        .route(
            "/api/v1/tenants/{ctx}/identity-providers/{id}/domains/{domain}/proof",
            axum::routing::post(federation::prove),
        )
        .route("/api/v1/tenants/{ctx}/members", get(tenants::members))
        .route(
            "/api/v1/tenants/{ctx}/members/{email}",
            get(tenants::member).patch(tenants::change_member).delete(tenants::remove_member),
        )
        .route("/api/v1/tenants/{ctx}/members/{email}/credentials", get(tenants::credentials))
        .route("/api/v1/tenants/{ctx}/members/{email}/credentials/{id}", delete(tenants::revoke_credential))
        .route("/api/v1/tenants/{ctx}/invitations", get(tenants::invitations).post(tenants::invite))
        .route("/api/v1/tenants/{ctx}/invitations/{email}", delete(tenants::withdraw))
        .route("/api/v1/tenants/{ctx}/approvals", get(tenants::approvals))
        .route("/api/v1/tenants/{ctx}/approvals/{client_id}", axum::routing::put(tenants::decide))
        .route("/api/v1/partners", get(partners::list).post(partners::create))
        .route("/api/v1/partners/{id}", get(partners::show))
        .route("/api/v1/partners/{id}/developers", get(partners::developers).post(partners::invite))
        .route("/api/v1/partners/{id}/webhooks", get(webhooks::partner_webhooks).post(webhooks::partner_add_webhook))
        .route("/api/v1/partners/{id}/webhooks/{webhook_id}", delete(webhooks::partner_remove_webhook))
        .route("/api/v1/partners/{id}/deliveries", get(webhooks::partner_deliveries))
        .route("/api/v1/resource-servers", get(resources::list).post(resources::register))
        .route("/api/v1/resource-servers/grants", axum::routing::post(resources::grant))
        .route("/api/v1/keys", get(admin::keys))
        .route("/api/v1/keys/rotate", axum::routing::post(admin::rotate))
        .route("/api/v1/audit", get(admin::audit))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), idempotency::layer))
        .route_layer(axum::middleware::from_fn_with_state(state, every_call))
}
