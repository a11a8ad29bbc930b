//! SuperID's PartnerSystemUser exchange (DESIGN §6): an app signs `"<system token>.<UTC
//! yyyyMMddHHmm>"` with its private key and trades it, with its client secret and the tenant's
//! `ctx`, for a system-user JWT signed by us. Checked in SuperID's order; every failure names
//! SuperID's code and is never a 500.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::apps::{Entitlement, PublicKey};
use crate::crypto::{b64_decode_strict, ct_eq, random_id, sha256};
use crate::keys::Alg;
use crate::store::audit::AuditEvent;
use crate::AppState;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    pub signed_system_token: Option<String>,
    pub application_token: Option<String>,
    pub context_identifier: Option<String>,
    pub return_token_type: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    pub is_successful: bool,
    pub error_message: String,
    pub token: Option<String>,
}

/// A refusal: SuperID's numeric code where it has one, and a sentence.
#[derive(Debug)]
pub struct Refusal {
    pub code: Option<u8>,
    pub message: String,
}

fn refuse(code: Option<u8>, message: impl Into<String>) -> Refusal {
    Refusal { code, message: message.into() }
}

impl Refusal {
    pub fn text(&self) -> String {
        match self.code {
            Some(c) => format!("Error {c} ({}): {}", code_name(c), self.message),
            None => self.message.clone(),
        }
    }
}

fn code_name(code: u8) -> &'static str {
    match code {
        1 => "Revoked",
        3 => "Expired",
        4 => "Denied",
        5 => "NeedsReapproval",
        6 => "InvalidTimestamp",
        7 => "InvalidSignature",
        _ => "Error",
    }
}

impl Response {
    pub fn from_result(r: &Result<String, Refusal>) -> Response {
        match r {
            Ok(token) => Response { is_successful: true, error_message: String::new(), token: Some(token.clone()) },
            Err(e) => Response { is_successful: false, error_message: e.text(), token: None },
        }
    }
}

/// Unix seconds of a `yyyyMMddHHmm` UTC timestamp, if it is one.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    if s.len() != 12 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s[r].parse::<i64>().ok();
    let (y, m, d, h, min) = (n(0..4)?, n(4..6)?, n(6..8)?, n(8..10)?, n(10..12)?);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days_in_month = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month[(m - 1) as usize] || h > 23 || min > 59 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let (y, m) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some((era * 146_097 + doe - 719_468) * 86_400 + h * 3600 + min * 60)
}

/// The exchange. The `Err` is SuperID-shaped; database trouble is reported as unavailable,
/// never as a stack trace.
pub async fn authenticate(state: &AppState, req: &Request) -> Result<String, Refusal> {
    let unavailable = |_| refuse(None, "The service is temporarily unavailable; try again shortly.");
    if req.return_token_type.as_deref().is_some_and(|t| t != "JWT") {
        return Err(refuse(None, "ReturnTokenType must be JWT."));
    }
    let signed = req
        .signed_system_token
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| refuse(None, "SignedSystemToken is required."))?;
    let application_token = req
        .application_token
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| refuse(None, "ApplicationToken is required."))?;
    let ctx = req
        .context_identifier
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| refuse(None, "ContextIdentifier is required."))?;
    let now = state.clock.now();

    // 1. The application token (a client secret) names an app.
    let client_id = state
        .store
        .client_id_by_secret_digest(&sha256(application_token.as_bytes()), now)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| refuse(None, "The ApplicationToken does not belong to any application."))?;
    let app =
        state.registry.get_shared(&client_id).await.map_err(|_| refuse(None, "The application is not available."))?;
    if !app.active_entitlements().any(|e| e == Entitlement::SystemToken) {
        return Err(refuse(None, "This application does not have the system-user integration point."));
    }
    // 2. The tenant exists and runs.
    let tenant = match state.store.tenant_by_ctx(ctx).await.map_err(unavailable)? {
        Some(t) if t.status == "running" => t,
        Some(_) => return Err(refuse(None, format!("The tenant '{}' is not running.", printable(ctx)))),
        None => return Err(refuse(None, format!("The tenant '{}' does not exist.", printable(ctx)))),
    };
    // 3. The authorization record is approved.
    let (status, system_token) = state
        .store
        .authorization_record(&app.id, &tenant.id)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| refuse(None, "The tenant has not approved this application."))?;
    match status.as_str() {
        "approved" => {}
        "revoked" => return Err(refuse(Some(1), "the tenant administrator revoked this application.")),
        "expired" => return Err(refuse(Some(3), "the tenant's approval of this application has expired.")),
        "denied" => return Err(refuse(Some(4), "the tenant administrator denied this application.")),
        "needs-reapproval" => {
            return Err(refuse(Some(5), "the application changed; a tenant administrator must approve it again."))
        }
        _ => return Err(refuse(None, "The tenant has not approved this application.")),
    }
    // The same admission as client_credentials in a tenant: a private app only in its own
    // partner's tenants, a custom app only in its own tenant.
    let admitted = state
        .directory
        .admits(&app, &tenant.clone().into())
        .await
        .map_err(|_| refuse(None, "The service is temporarily unavailable; try again shortly."))?;
    if !admitted {
        return Err(refuse(
            None,
            "This application is not admitted in this tenant (it is private to another company, or made for another tenant).",
        ));
    }
    let system_token = system_token
        .ok_or_else(|| refuse(None, "The tenant's approval has no system token; approve the application again."))?;
    // 4. "<token>.<yyyyMMddHHmm>.<base64 signature>", split on the last two dots.
    let (signed_part, signature) = signed
        .rsplit_once('.')
        .ok_or_else(|| refuse(None, "SignedSystemToken must be '<system token>.<yyyyMMddHHmm>.<signature>'."))?;
    let (token, timestamp) = signed_part
        .rsplit_once('.')
        .ok_or_else(|| refuse(None, "SignedSystemToken must be '<system token>.<yyyyMMddHHmm>.<signature>'."))?;
    // 5. The token is this record's system token.
    if !ct_eq(token.as_bytes(), system_token.as_bytes()) {
        return Err(refuse(None, "The system token does not belong to this application and tenant."));
    }
    // 6. The timestamp is inside the window.
    let at = parse_timestamp(timestamp).ok_or_else(|| refuse(Some(6), "the timestamp must be UTC yyyyMMddHHmm."))?;
    let window = state.config.system_user_window;
    if (now - at).abs() > window {
        return Err(refuse(
            Some(6),
            format!("the timestamp is more than {} minutes from the server's time.", window / 60),
        ));
    }
    // 7. RSASSA-PKCS1-v1_5 SHA-256 by one of the app's usable certificates.
    let signature = b64_decode_strict(signature)
        .ok_or_else(|| refuse(Some(7), "the signature is not base64 (standard alphabet, padded, no whitespace)."))?;
    let certificates = state.store.usable_certificates(&app.id, now).await.map_err(unavailable)?;
    let verified = certificates.iter().any(|c| {
        serde_json::from_str::<serde_json::Value>(&c.jwk)
            .ok()
            .and_then(|j| PublicKey::from_jwk(&j).ok())
            .is_some_and(|k| k.verify("RS256", signed_part.as_bytes(), &signature))
    });
    if !verified {
        return Err(refuse(Some(7), "the signature does not verify with any of the application's certificates."));
    }
    // 8. Not accepted before inside the window, on any instance.
    // The replay record names what was signed and the signature bytes, not the spelling of the
    // request, so no re-encoding of a captured token counts as new.
    let replay_key = sha256(&[signed_part.as_bytes(), b"\0", &signature].concat());
    if !state.store.claim_system_user_replay(&replay_key, at + window + 60).await.map_err(unavailable)? {
        return Err(refuse(None, "This signed system token was already used; sign a new one."));
    }
    let claims = json!({
        "iss": state.config.system_user_issuer,
        "aud": format!("spn:{}", tenant.serial),
        "sub": format!("system:{}:{}", app.client_id, tenant.ctx),
        "iat": now,
        "nbf": now,
        "exp": now + state.config.system_user_ttl,
        "jti": random_id(),
        "client_id": app.client_id,
        "http://schemes.superoffice.net/identity/ctx": tenant.ctx,
        "http://schemes.superoffice.net/identity/serial": tenant.serial.to_string(),
        "http://schemes.superoffice.net/identity/company_name": tenant.name,
        "http://schemes.superoffice.net/identity/is_system_user": "True",
    });
    let jwt = state
        .keys
        .sign(Alg::RS256, "JWT", &claims)
        .map_err(|_| refuse(None, "The token could not be issued; try again."))?;
    let event =
        AuditEvent::new(now, &app.client_id, "system_user.issued", &tenant.ctx, json!({ "client_id": app.client_id }));
    let _ = state.store.record_audit(&event).await;
    Ok(jwt)
}

/// A tenant name from the request, safe to echo in a message: short and printable.
fn printable(s: &str) -> String {
    s.chars().filter(|c| c.is_ascii_alphanumeric()).take(32).collect()
}

#[cfg(test)]
mod tests {
    use super::parse_timestamp;

    #[test]
    fn timestamps_are_utc_minutes() {
        assert_eq!(parse_timestamp("197001010000"), Some(0));
        assert_eq!(parse_timestamp("202611221330"), Some(1_795_354_200));
        assert_eq!(parse_timestamp("202402290000").map(|t| t % 86_400), Some(0));
        for bad in [
            "20261122133",
            "2026112213300",
            "202613011200",
            "202602300000",
            "202611222460",
            "2026-1122133",
            "abcdefghijkl",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }
}
