//! The device authorization grant's HTTP side (RFC 8628): `POST /device_authorization`, where
//! a device gets its codes, and `/device`, where a person types the user code and is taken
//! through the ordinary sign-in pages (`authorize::start_device_sign_in`). Typed codes are
//! throttled per client address and in total, so guessing one is hopeless within its ten
//! minutes.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::authorize::failed;
use super::extract::{ClientAddr, OAuthRequest};
use super::pages::{self, PageError, Policy};
use super::portal::Form;
use super::session::cross_site;
use crate::oauth::device;
use crate::AppState;

/// Wrong or right, codes typed from one address (IPv6: one /64) per login-failure window.
const CODES_PER_ADDRESS: i64 = 10;
/// And from everywhere together: a spread-out guesser meets this.
const CODES_IN_TOTAL: i64 = 2000;

/// `POST /device_authorization` (§3.1): authenticated like the token endpoint (public
/// clients by their client_id alone).
pub async fn authorize(State(state): State<AppState>, req: OAuthRequest) -> Response {
    req.answer_as_client(&state, StatusCode::OK, async |client, form| device::authorize(&state, client, form).await)
        .await
}

#[derive(Template)]
#[template(path = "device/enter.html")]
struct EnterPage<'a> {
    title: &'static str,
    user_code: &'a str,
    error: Option<&'a str>,
}

fn enter_page(status: StatusCode, user_code: &str, error: Option<&str>) -> Response {
    let page = EnterPage { title: "Connect a device", user_code, error };
    pages::render(status, &page, Policy::Own)
}

#[derive(Template)]
#[template(path = "device/done.html")]
pub(super) struct DonePage<'a> {
    pub title: &'a str,
    pub message: &'a str,
}

#[derive(Deserialize)]
pub struct CodeQuery {
    user_code: Option<String>,
}

/// `GET /device`, or `/device?user_code=…` from `verification_uri_complete` (§3.3.1): the code
/// is filled in, and the person still presses Continue, so a link alone signs nothing in.
pub async fn enter(Query(q): Query<CodeQuery>) -> Response {
    let typed = q.user_code.as_deref().map(device::normalise).filter(|c| c.len() == 8).map(|c| device::display(&c));
    enter_page(StatusCode::OK, typed.as_deref().unwrap_or(""), None)
}

/// `POST /device`: the typed code starts the device's sign-in in this browser.
pub async fn submit(
    State(state): State<AppState>,
    peer: ClientAddr,
    headers: HeaderMap,
    form: Form,
) -> Result<Response, PageError> {
    if cross_site(&state, &headers) {
        return Err(PageError::forbidden("The form did not come from this site. Please try again."));
    }
    let typed = form.text("user_code");
    let window = crate::config::LOGIN_FAILURE_WINDOW;
    let now = state.clock.now();
    let address = peer.0.map(crate::oauth::flow::address_key).unwrap_or_else(|| "unknown".into());
    let here = state.store.reserve_login_attempt(&format!("device:{address}"), now, window).await.map_err(failed)?;
    let all = state.store.reserve_login_attempt("device:*", now, window).await.map_err(failed)?;
    if here > CODES_PER_ADDRESS || all > CODES_IN_TOTAL {
        tracing::warn!(address = %address, "device user codes throttled");
        let mut res = enter_page(
            StatusCode::TOO_MANY_REQUESTS,
            &typed,
            Some("Too many codes were tried. Wait a few minutes and try again."),
        );
        res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(window as u32));
        return Ok(res);
    }
    match device::request_for(&state, &typed).await.map_err(failed)? {
        Some((request, app, _)) => super::authorize::start_device_sign_in(&state, peer, &headers, request, app).await,
        None => Ok(enter_page(
            StatusCode::BAD_REQUEST,
            &typed,
            Some("That code is not right, or it has expired. Check the code on your device."),
        )),
    }
}
