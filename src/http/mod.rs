//! HTTP: axum only. Handlers extract, call one domain function, and render; the route table
//! lives here in one place.

pub mod account;
pub mod api;
pub mod authorize;
pub mod cors;
pub mod device;
pub mod discovery;
pub mod extract;
pub mod federation;
pub mod health;
pub mod introspect;
pub mod jwks;
pub mod logout;
pub mod metrics;
pub mod pages;
pub mod par;
pub mod portal;
pub mod register;
pub mod respond;
pub mod revoke;
pub mod session;
pub mod signin_factors;
pub mod system_user;
pub mod throttle;
pub mod token;
pub mod userinfo;

use std::time::Duration;

use axum::http::{header, HeaderValue, Request};
use axum::routing::{get, post};
use axum::Router;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::paths;
use crate::provider::Provider;
use crate::AppState;

/// Largest request body any endpoint reads.
const BODY_LIMIT: usize = 64 * 1024;

/// The whole route table.
pub fn app(state: AppState) -> Router {
    let metrics = std::sync::Arc::new(metrics::Metrics::new());
    let discovery = discovery::Document::build(&state.config);
    Router::new()
        .route(paths::HOME, get(pages::home))
        .route(paths::DISCOVERY, get(discovery::metadata))
        .route(paths::AS_METADATA, get(discovery::metadata))
        .route(paths::SUPERID_DISCOVERY, get(discovery::metadata))
        .route(paths::JWKS, get(jwks::jwks))
        .route(paths::SUPERID_JWKS, get(jwks::superid_jwks))
        .route(paths::SUPERID_CERTIFICATE, get(jwks::superid_certificate))
        .route(paths::AUTHORIZE, get(authorize::authorize_get).post(authorize::authorize_post))
        .route(paths::SUPERID_AUTHORIZE, get(authorize::authorize_get).post(authorize::authorize_post))
        .route(
            paths::SUPERID_TENANT_AUTHORIZE,
            get(authorize::tenant_authorize_get).post(authorize::tenant_authorize_post),
        )
        .route(paths::SIGNIN, get(authorize::signin_page).post(authorize::signin_submit))
        .route(paths::SIGNIN_FEDERATED, get(federation::callback))
        .route(paths::FEDERATION_JWKS, get(federation::jwks))
        .route(paths::TOKEN, post(token::token))
        .route(paths::PAR, post(par::push))
        .route(paths::DEVICE_AUTHORIZATION, post(device::authorize))
        .route(paths::DEVICE, get(device::enter).post(device::submit))
        .route(paths::SUPERID_TOKEN, post(token::token))
        .route(paths::SUPERID_TENANT_TOKEN, post(token::token))
        .route(paths::INTROSPECT, post(introspect::introspect))
        .route(paths::USERINFO, get(userinfo::userinfo).post(userinfo::userinfo))
        .route(paths::LOGOUT, get(logout::logout_get).post(logout::logout_post))
        .route(paths::REVOKE, post(revoke::revoke))
        .route(paths::SYSTEM_USER, post(system_user::system_user))
        .route(paths::SYSTEM_USER_LOWER, post(system_user::system_user))
        .route(paths::SYSTEM_USER_SOAP, get(system_user::wsdl).post(system_user::soap))
        .route(paths::SYSTEM_USER_SOAP_LOWER, get(system_user::wsdl).post(system_user::soap))
        .route(paths::SYSTEM_USER_SOAP_CAPITAL, get(system_user::wsdl).post(system_user::soap))
        .route(paths::REGISTER, post(register::register))
        .route(paths::REGISTER_CLIENT, get(register::read).put(register::update).delete(register::delete))
        .route(paths::PORTAL, get(portal::home))
        .route(paths::PORTAL_LOGIN, get(portal::login_get).post(portal::login_post))
        .route(paths::PORTAL_LOGOUT, post(portal::logout))
        .route(paths::PORTAL_DEVELOPERS, post(portal::invite_developer))
        .route(paths::PORTAL_PARTNER_WEBHOOKS, post(portal::partner_webhook))
        .route(paths::PORTAL_SECOND_FACTOR, get(portal::second_factor::show).post(portal::second_factor::submit))
        .route(paths::PORTAL_NEW_APP, get(portal::wizard::start).post(portal::wizard::submit))
        .route(paths::PORTAL_APP, get(portal::app_page::show))
        .route(paths::PORTAL_APP_ACTION, get(portal::app_page::confirm_delete).post(portal::app_page::act))
        .route(paths::PORTAL_ADMIN, get(portal::admin::platform).post(portal::admin::platform_decide))
        .route(paths::ADMIN_TENANT, get(portal::admin::tenant).post(portal::admin::tenant_decide))
        .route(paths::ADMIN_TENANT_PEOPLE, post(portal::people::act))
        .route(paths::ADMIN_TENANT_SIGNIN, post(portal::sign_in::act))
        .route(paths::ACCOUNT, get(portal::account::show).post(portal::account::act))
        .route(paths::ACCOUNT_INVITATION, get(account::invitation_get).post(account::invitation_post))
        .route(paths::ACCOUNT_VERIFY, get(account::verify_get).post(account::verify_post))
        .route(paths::ACCOUNT_RESET, get(account::reset_get).post(account::reset_post))
        .route(paths::ACCOUNT_RESET_CONFIRM, get(account::reset_confirm_get).post(account::reset_confirm_post))
        .route(paths::SETUP, get(account::setup_get).post(account::setup_post))
        .route(paths::HEALTHZ, get(health::healthz))
        .route(paths::READYZ, get(health::readyz))
        .route(paths::METRICS, get(metrics::render))
        .merge(api::router(state.clone()))
        .fallback(respond::not_found)
        .method_not_allowed_fallback(respond::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(state.clone(), deadline))
        .layer(axum::Extension(discovery))
        .layer(axum::Extension(metrics.clone()))
        .layer(axum::middleware::from_fn_with_state(metrics, metrics::track))
        .layer(axum::middleware::from_fn_with_state(state.clone(), cors::cors))
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
        // Outside the limit, so the limit's own 413 reaches SOAP clients as a SOAP fault.
        .layer(axum::middleware::from_fn(system_user::soap_limit_fault))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")))
        .layer(
            // The span names the method and path only: query strings can carry secrets
            // (SuperID SDKs send token parameters there), so they are never logged.
            TraceLayer::new_for_http().make_span_with(
                |req: &Request<_>| tracing::info_span!("request", method = %req.method(), path = %req.uri().path()),
            ),
        )
        .with_state(state)
}

/// Bounds every request by the database acquire timeout (plus a second for the work around
/// it), answering 503 `temporarily_unavailable` when it is spent. Each query is bounded on its
/// own, but a request that meets a dead database at every query would otherwise wait that
/// long several times over. The password pages get five seconds more: their failure throttle
/// deliberately slows answers down.
async fn deadline(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: Request<axum::body::Body>,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let slowed = matches!(req.uri().path(), paths::SIGNIN | paths::PORTAL_LOGIN | paths::ACCOUNT_INVITATION);
    let limit = state.config.db_acquire_timeout + Duration::from_secs(if slowed { 6 } else { 1 });
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(res) => res,
        Err(_) => {
            crate::store::log_unavailable(&format_args!("a request ran past its {} s deadline", limit.as_secs()));
            respond::oauth_error(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                &crate::oauth::OAuthError::temporarily_unavailable(),
            )
        }
    }
}

/// Serves until SIGINT or SIGTERM, then lets in-flight requests finish.
pub async fn serve(state: AppState, listener: tokio::net::TcpListener) -> anyhow::Result<()> {
    let background = state.clone();
    let reloader = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(30));
        loop {
            tick.tick().await;
            // Other instances may rotate keys; pick their rotations up without a restart.
            if let Err(e) = background.keys.reload().await {
                tracing::warn!(error = %e, "reloading signing keys failed; keeping the loaded ones");
            }
        }
    });
    let pruner = state.pruner().spawn();
    let deliverer = crate::outbox::spawn(Provider::clone(&state.provider));
    let notices = crate::apps::expiry::spawn(state.store.clone(), state.clock.clone(), state.outbox_queued.clone());
    let exporter = crate::audit_log::Exporter::new(state.store.clone(), state.clock.clone(), &state.config)
        .map(crate::audit_log::Exporter::spawn);
    let service = app(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let result = axum::serve(listener, service).with_graceful_shutdown(shutdown_signal()).await;
    reloader.abort();
    pruner.abort();
    deliverer.abort();
    notices.abort();
    if let Some(exporter) = exporter {
        exporter.abort();
    }
    Ok(result?)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
