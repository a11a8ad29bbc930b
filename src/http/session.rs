//! Browser sessions shared by the sign-in pages and the portal: the session cookie, password
//! checks with their throttle, and the CSRF token bound to a session.

use std::net::IpAddr;

use axum::http::{header, HeaderMap, HeaderValue};

use crate::secret::Secret;
use crate::store::audit::AuditEvent;
use crate::store::signin::SessionRow;
use crate::tenants::User;
use crate::AppState;

pub const SESSION_COOKIE: &str = "gatehouse_session";
/// Browser sessions last eight hours.
pub const SESSION_TTL: i64 = 8 * 3600;
/// Failed logins counted per account and per client address within this window…
pub const FAILURE_WINDOW: i64 = 15 * 60;
/// …slow the next attempt down after this many…
const SLOW_AFTER: i64 = 3;
/// …and are refused (429) after this many.
const REFUSE_AFTER: i64 = 10;

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

pub fn csrf_for(secret: &str) -> String {
    crate::crypto::b64(&crate::crypto::sha256(format!("gatehouse-csrf\0{secret}").as_bytes()))
}

/// The session named by the cookie, if it is live.
pub async fn current(state: &AppState, headers: &HeaderMap) -> Option<CurrentSession> {
    let token = cookie(headers, SESSION_COOKIE)?;
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
    /// Too many failures for this account or address: answer 429.
    Throttled,
}

/// Checks a password with the failure throttle: each attempt is reserved before the check,
/// so parallel guesses count too; after a few failures answers slow down, after more they
/// are refused. `subject` names what was signed in to (an app's client ID, or the portal).
pub async fn check_password(
    state: &AppState,
    peer: Option<IpAddr>,
    email: &str,
    password: Secret<String>,
    subject: &str,
) -> crate::error::Result<Login> {
    let now = state.clock.now();
    let keys = [format!("user:{email}"), format!("addr:{}", peer.map(|ip| ip.to_string()).unwrap_or_default())];
    let mut worst = 0;
    for k in &keys {
        let count = state.store.reserve_login_attempt(k, now, FAILURE_WINDOW).await.unwrap_or(REFUSE_AFTER + 1);
        worst = worst.max(count - 1);
    }
    if worst >= REFUSE_AFTER {
        return Ok(Login::Throttled);
    }
    if worst >= SLOW_AFTER {
        tokio::time::sleep(std::time::Duration::from_secs((worst - SLOW_AFTER + 1).min(5) as u64)).await;
    }
    let Some(user) = state.directory.verify_password(email, password).await? else {
        let event = AuditEvent::new(now, "anonymous", "login.failed", subject, serde_json::json!({}));
        let _ = state.store.record_audit(&event).await;
        return Ok(Login::Wrong);
    };
    // A success clears the account's counter and gives back this address's attempt.
    let _ = state.store.clear_login_failures(&keys[0]).await;
    let _ = state.store.release_login_attempt(&keys[1]).await;
    let event = AuditEvent::new(now, &user.id, "login.succeeded", subject, serde_json::json!({}));
    let _ = state.store.record_audit(&event).await;
    Ok(Login::Ok(user))
}

/// Starts a session for `user`, replacing the browser's old one (no session fixation).
/// Returns the `Set-Cookie` header.
pub async fn start(state: &AppState, user: &User, old: Option<&[u8]>) -> crate::error::Result<HeaderValue> {
    if let Some(old) = old {
        let _ = state.store.delete_session(old).await;
    }
    let now = state.clock.now();
    let token = crate::crypto::random_token();
    let row = SessionRow { user_id: user.id.clone(), tenant_id: None, auth_time: now, expires_at: now + SESSION_TTL };
    state.store.insert_session(&crate::crypto::sha256(token.as_bytes()), &row, now).await?;
    Ok(set_cookie(state, SESSION_COOKIE, &token, "/", SESSION_TTL))
}
