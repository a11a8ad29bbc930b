//! Logout tokens (OIDC Back-Channel Logout 1.0 §2.4): the signed statement that a person's
//! session with us has ended, sent to each app the session signed in to.

use serde_json::json;

use crate::config::Config;
use crate::error::Error;
use crate::jose::Alg;
use crate::keys::Keys;

/// §2.4: the `events` member that makes a JWT a logout token.
pub const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// Seconds a logout token is valid: enough for the request carrying it, not for a replay
/// later. A retry signs a new one (the `jti` stays).
pub const TTL: i64 = 120;

pub struct LogoutTokenInput<'a> {
    pub client_id: &'a str,
    pub app_id: &'a str,
    /// The app's ID token algorithm: the logout token is signed as its ID tokens are.
    pub signing_alg: &'a str,
    pub subject: &'a str,
    pub sid: Option<&'a str>,
    /// The same for every attempt to deliver one logout, so the app can drop repeats.
    pub jti: &'a str,
}

/// Signs a logout token: `typ` is `logout+jwt` (§2.4, explicit typing), it names the person
/// and the session, and it carries no `nonce` (§2.4: it MUST NOT).
pub fn sign(keys: &Keys, config: &Config, now: i64, i: LogoutTokenInput<'_>) -> Result<String, Error> {
    let key = match keys.app_signer(i.app_id) {
        Some(key) => key,
        None => {
            let alg = Alg::parse(i.signing_alg)?;
            keys.signer(alg).ok_or_else(|| Error::Internal(anyhow::anyhow!("no current {} key", alg.as_str())))?
        }
    };
    let mut claims = json!({
        "iss": config.issuer,
        "aud": i.client_id,
        "iat": now,
        "exp": now + TTL,
        "jti": i.jti,
        "sub": i.subject,
        "events": { EVENT: {} },
    });
    if let Some(sid) = i.sid {
        claims["sid"] = json!(sid);
    }
    Ok(key.sign_jwt("logout+jwt", &claims, keys.rng())?)
}
