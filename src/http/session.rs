//! Browser sessions shared by the sign-in pages and the portal: the session and device
//! cookies, password checks with their throttle (`throttle` decides), the CSRF token bound to
//! a session, and the refusal of forms posted from other sites.

use std::net::IpAddr;

use axum::http::{header, HeaderMap, HeaderValue};

use super::throttle;
use crate::secret::Secret;
use crate::store::audit::AuditEvent;
use crate::store::sessions::SessionRow;
use crate::tenants::User;
use crate::AppState;

pub use super::throttle::FAILURE_WINDOW;

pub const SESSION_COOKIE: &str = "gatehouse_session";
/// Browser sessions last eight hours.
pub const SESSION_TTL: i64 = 8 * 3600;

/// A live session found from the request's cookie.
pub struct CurrentSession {
    /// The raw cookie value; only a digest of it is stored.
    pub token: String,
    pub digest: Vec<u8>,
    pub row: SessionRow,
}

impl CurrentSession {
    /// The CSRF token of the portal's forms: derived from the session cookie, which scripts
    /// cannot read (HttpOnly), so another site cannot know it; any instance can check it.
    pub fn csrf(&self) -> String {
        csrf_for(&self.token)
    }
}

/// A form post that another site sent, refused before anything else is looked at: its
/// `Origin` names another origin, or the browser says so in `Sec-Fetch-Site` (`same-site`
/// included: a sibling subdomain is another party). Requests without either header (old
/// browsers, non-browser clients) are left to the CSRF token.
pub fn cross_site(state: &AppState, headers: &HeaderMap) -> bool {
    let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if matches!(fetch_site, Some("cross-site" | "same-site")) {
        return true;
    }
    // Our pages send `Referrer-Policy: no-referrer`, under which browsers send `Origin: null`
    // even from our own forms; then Sec-Fetch-Site and the CSRF token decide.
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()).filter(|o| *o != "null") else {
        return false;
    };
    let ours = url::Url::parse(&state.config.issuer).map(|u| u.origin().ascii_serialization()).unwrap_or_default();
    origin != ours
}

pub fn csrf_for(secret: &str) -> String {
    crate::crypto::b64(&crate::crypto::sha256(format!("gatehouse-csrf\0{secret}").as_bytes()))
}

/// The session named by the cookie, if it is live.
pub async fn current(state: &AppState, headers: &HeaderMap) -> Option<CurrentSession> {
    let token = cookie(headers, &cookie_name(state, SESSION_COOKIE))?;
    let digest = crate::crypto::sha256(token.as_bytes()).to_vec();
    let row = state.store.session(&digest, state.clock.now()).await.ok()??;
    Some(CurrentSession { token, digest, row })
}

pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k == name).then(|| v.to_string())
    })
}

/// The name of a cookie for the whole site (`Path=/`): behind https it gets the `__Host-`
/// prefix, so browsers take it only from this host, over https, never with a `Domain`.
pub fn cookie_name(state: &AppState, name: &str) -> String {
    if state.config.issuer.starts_with("https://") {
        format!("__Host-{name}")
    } else {
        name.to_string()
    }
}

/// A `Set-Cookie` value; `Secure` whenever the issuer is served over https.
pub fn set_cookie(state: &AppState, name: &str, value: &str, path: &str, max_age: i64) -> HeaderValue {
    let secure = if state.config.issuer.starts_with("https://") { "; Secure" } else { "" };
    HeaderValue::from_str(&format!("{name}={value}; Path={path}; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"))
        .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// What a password check came to.
pub enum Login {
    Ok(User),
    Wrong,
    /// Too many failures from this source or address: answer 429.
    Throttled,
}

/// Who is trying a password, as far as the throttle can tell.
pub struct Attempt {
    /// The client's address (see `extract::ClientAddr`).
    pub addr: Option<IpAddr>,
    /// The device cookie the browser carries, if any; checked against the account.
    pub device: Option<String>,
}

impl Attempt {
    pub fn of(state: &AppState, addr: Option<IpAddr>, headers: &HeaderMap) -> Attempt {
        Attempt { addr, device: cookie(headers, &cookie_name(state, throttle::DEVICE_COOKIE)) }
    }
}

/// Checks a password with the failure throttle (`throttle`): each attempt is reserved on its
/// counters before the check, so parallel guesses count too; the counts decide whether the
/// password is checked at all, and how long the answer waits. `subject` names what was signed
/// in to (an app's client ID, or the portal).
pub async fn check_password(
    state: &AppState,
    from: &Attempt,
    email: &str,
    password: Secret<String>,
    subject: &str,
) -> crate::error::Result<Login> {
    let now = state.clock.now();
    let device = match &from.device {
        Some(c) => known_device(state, email, c, now).await,
        None => None,
    };
    let counters = throttle::Counters::new(email, from.addr, device.as_deref());
    // A counter that cannot be read counts as full: the throttle fails closed.
    let reserve = |key: String| async move {
        state.store.reserve_login_attempt(&key, now, FAILURE_WINDOW).await.map(|n| n - 1).unwrap_or(i64::MAX / 2)
    };
    // A source already over its limit is refused on a read: a storm from one source then
    // writes nothing, and other requests do not queue behind its writes for a connection.
    let seen = state.store.login_attempts(&counters.source, now, FAILURE_WINDOW).await.unwrap_or(i64::MAX / 2);
    if throttle::source_refused(seen) {
        return Ok(Login::Throttled);
    }
    let source = reserve(counters.source.clone()).await;
    if throttle::source_refused(source) {
        return Ok(Login::Throttled);
    }
    let counts = throttle::Counts {
        source,
        address: match &counters.address {
            Some(key) => reserve(key.clone()).await,
            None => 0,
        },
        account: reserve(counters.account.clone()).await,
    };
    match throttle::verdict(counts, device.is_some()) {
        throttle::Verdict::Refuse => return Ok(Login::Throttled),
        throttle::Verdict::Check { delay_secs: 0 } => {}
        throttle::Verdict::Check { delay_secs } => state.clock.pause(delay_secs).await,
    }
    let Some(user) = state.directory.verify_password(email, password).await? else {
        let event = AuditEvent::new(now, "anonymous", "login.failed", subject, serde_json::json!({}));
        let _ = state.store.record_audit(&event).await;
        return Ok(Login::Wrong);
    };
    // A success clears its source and gives back its attempt on the others: the account's
    // count of guesses from elsewhere stays, so the owner signing in does not reset it.
    let _ = state.store.clear_login_failures(&counters.source).await;
    if let Some(key) = &counters.address {
        let _ = state.store.release_login_attempt(key).await;
    }
    let _ = state.store.release_login_attempt(&counters.account).await;
    let event = AuditEvent::new(now, &user.id, "login.succeeded", subject, serde_json::json!({}));
    let _ = state.store.record_audit(&event).await;
    // The browser carries no device cookie of an earlier sign-in to this account.
    if device.is_none() {
        state.people.notify(&user, crate::tenants::notices::Notice::NewDevice);
    }
    Ok(Login::Ok(user))
}

/// The counter name of the browser's device cookie, when it was issued for this account.
async fn known_device(state: &AppState, email: &str, cookie: &str, now: i64) -> Option<String> {
    let email = crate::tenants::normalise_email(email).ok()?;
    let user = state.store.user_by_email(&email).await.ok()??;
    throttle::known_device(state.device_key.expose(), cookie, &user.id, now)
}

/// Starts a session for `user` after a password login, replacing the browser's old one (no
/// session fixation). Returns the `Set-Cookie` headers: the session, and the device cookie
/// that marks this browser as one the user signed in from.
pub async fn start(state: &AppState, user: &User, old: Option<&[u8]>) -> crate::error::Result<[HeaderValue; 2]> {
    start_with(state, user, old, crate::tenants::factors::AMR_PASSWORD).await
}

/// `start` for a sign-in by other means than a password: `amr` says which (RFC 8176).
pub async fn start_with(
    state: &AppState,
    user: &User,
    old: Option<&[u8]>,
    amr: &str,
) -> crate::error::Result<[HeaderValue; 2]> {
    start_in(state, user, old, amr, None).await
}

/// `start` for a person a tenant's upstream provider signed in: the session is in that tenant.
pub async fn start_federated(
    state: &AppState,
    user: &User,
    old: Option<&[u8]>,
    done: &crate::federation::upstream::Finished,
) -> crate::error::Result<[HeaderValue; 2]> {
    start_in(state, user, old, &done.amr, Some(done.tenant_id.clone())).await
}

async fn start_in(
    state: &AppState,
    user: &User,
    old: Option<&[u8]>,
    amr: &str,
    tenant_id: Option<String>,
) -> crate::error::Result<[HeaderValue; 2]> {
    if let Some(old) = old {
        let _ = state.store.delete_session(old, state.clock.now()).await;
    }
    let now = state.clock.now();
    let token = crate::crypto::random_token();
    let digest = crate::crypto::sha256(token.as_bytes());
    let row = SessionRow {
        user_id: user.id.clone(),
        tenant_id,
        auth_time: now,
        expires_at: now + SESSION_TTL,
        amr: amr.into(),
        sid: crate::store::sessions::sid_of(&digest),
    };
    state.store.insert_session(&digest, &row, now).await?;
    let device = throttle::device_cookie(state.device_key.expose(), &user.id, now);
    Ok([
        set_cookie(state, &cookie_name(state, SESSION_COOKIE), &token, "/", SESSION_TTL),
        set_cookie(state, &cookie_name(state, throttle::DEVICE_COOKIE), &device, "/", throttle::DEVICE_TTL),
    ])
}

/// `res` with the `Set-Cookie` headers of a session just started (`start`).
pub fn with_cookies(mut res: axum::response::Response, cookies: [HeaderValue; 2]) -> axum::response::Response {
    for cookie in cookies {
        res.headers_mut().append(header::SET_COOKIE, cookie);
    }
    res
}
