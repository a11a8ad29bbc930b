//! SuperID's PartnerSystemUser exchange (DESIGN §6): an app signs `"<system token>.<UTC
//! yyyyMMddHHmm>"` with its private key and trades it, with its client secret and the tenant's
//! `ctx`, for a system-user JWT (or a SAML assertion) signed by us, carrying a `7T:` ticket.
//! Checked in SuperID's order; every failure names SuperID's code and is never a 500. The
//! REST and SOAP endpoints both come here.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::apps::{App, Entitlement, PublicKey};
use crate::crypto::{aead_open, aead_seal, b64_decode_strict, ct_eq, random_id, sha256};
use crate::jose::Alg;
use crate::oidc::id_token::{tenant_urls, SUPERID};
use crate::provider::Provider;
use crate::store::audit::AuditEvent;
use crate::tenants::Tenant;

/// The claim that carries the ticket, which every SuperOffice client reads.
pub const TICKET_CLAIM: &str = "http://schemes.superoffice.net/identity/ticket";

/// What the caller asked for: `ReturnTokenType`, whose WSDL spells `Jwt` and `Saml` and whose
/// REST documentation spells `JWT`; read without regard to case, JWT when absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenType {
    Jwt,
    Saml,
}

impl TokenType {
    pub fn parse(value: Option<&str>) -> Result<TokenType, Refusal> {
        match value.map(str::trim) {
            None | Some("") => Ok(TokenType::Jwt),
            Some(v) if v.eq_ignore_ascii_case("jwt") => Ok(TokenType::Jwt),
            Some(v) if v.eq_ignore_ascii_case("saml") => Ok(TokenType::Saml),
            Some(_) => Err(refuse(None, "ReturnTokenType must be Jwt or Saml.")),
        }
    }
}

/// What one accepted signed system token gave: the claims (ticket included) and the JWT.
/// An identical retry inside the window gets this back, rendered as it asks.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Issued {
    pub claims: Map<String, Value>,
    pub jwt: String,
}

/// The `sub` of a system user: the app acting in a tenant.
pub fn subject(client_id: &str, ctx: &str) -> String {
    format!("system:{client_id}:{ctx}")
}

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
pub async fn authenticate(state: &Provider, req: &Request) -> Result<String, Refusal> {
    let token_type = TokenType::parse(req.return_token_type.as_deref())?;
    let issued = exchange(state, req).await?;
    match token_type {
        TokenType::Jwt => Ok(issued.jwt),
        TokenType::Saml => super::saml::assertion(&state.keys, state.clock.now(), &issued.claims)
            .map_err(|_| refuse(None, "The token could not be issued; try again.")),
    }
}

/// The checks, then the claims and JWT of a new system user, or the first answer again for an
/// identical retry.
async fn exchange(state: &Provider, req: &Request) -> Result<Issued, Refusal> {
    let unavailable = |_| refuse(None, "The service is temporarily unavailable; try again shortly.");
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
        .approvals
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
    // The first answer is kept sealed under a key only the signed string itself gives, so the
    // database alone never yields a ticket (docs/decisions/0015-identical-system-user-retries.md).
    let answer_key =
        sha256(&[b"gatehouse system-user answer\0".as_slice(), signed_part.as_bytes(), b"\0", &signature].concat());
    let claimed =
        state.store.claim_system_user_replay(&replay_key, &app.id, at + window + 60).await.map_err(unavailable)?;
    if !claimed {
        return repeated(state, &replay_key, &answer_key, &app, &tenant.ctx).await;
    }
    let tenant: Tenant = tenant.into();
    let ticket = state
        .directory
        .issue_ticket(&app.id, &tenant.id)
        .await
        .map_err(|_| refuse(None, "The service is temporarily unavailable; try again shortly."))?;
    let mut claims = Map::new();
    claims.insert("iss".into(), json!(state.config.system_user_issuer));
    claims.insert("aud".into(), json!(format!("spn:{}", tenant.serial)));
    claims.insert("sub".into(), json!(subject(&app.client_id, &tenant.ctx)));
    claims.insert("iat".into(), json!(now));
    claims.insert("nbf".into(), json!(now));
    claims.insert("exp".into(), json!(now + state.config.system_user_ttl));
    claims.insert("jti".into(), json!(random_id()));
    claims.insert("client_id".into(), json!(app.client_id));
    claims.insert(format!("{SUPERID}ctx"), json!(tenant.ctx));
    claims.insert(format!("{SUPERID}serial"), json!(tenant.serial.to_string()));
    claims.insert(format!("{SUPERID}company_name"), json!(tenant.name));
    claims.insert(format!("{SUPERID}is_system_user"), json!("True"));
    claims.insert(TICKET_CLAIM.into(), json!(ticket));
    claims.extend(tenant_urls(&state.config, &tenant));
    let jwt = state
        .keys
        .sign(Alg::RS256, "JWT", &claims)
        .map_err(|_| refuse(None, "The token could not be issued; try again."))?;
    let issued = Issued { claims, jwt };
    // Losing the sealed copy only means an identical retry is refused as a replay.
    match serde_json::to_vec(&issued).ok().and_then(|plain| aead_seal(&answer_key, &replay_key, &plain)) {
        Some(sealed) => {
            if let Err(e) = state.store.seal_system_user_answer(&replay_key, &sealed).await {
                tracing::warn!(error = %e, "keeping a system-user answer for retries failed");
            }
        }
        None => tracing::warn!("sealing a system-user answer for retries failed"),
    }
    let event =
        AuditEvent::new(now, &app.client_id, "system_user.issued", &tenant.ctx, json!({ "client_id": app.client_id }));
    let _ = state.store.record_audit(&event).await;
    Ok(issued)
}

/// An identical signed string, already accepted for this app: SuperOffice's client library
/// signs the same text twice in a minute (JWT, then ticket). It gets the first answer back,
/// the same ticket, not a new credential. While the first request is still being answered
/// (its sealed copy not yet written) this waits a moment, a bounded number of times.
async fn repeated(
    state: &Provider,
    replay_key: &[u8],
    answer_key: &[u8],
    app: &App,
    ctx: &str,
) -> Result<Issued, Refusal> {
    let used = || refuse(None, "This signed system token was already used; sign a new one.");
    for _ in 0..20 {
        let row = state
            .store
            .system_user_replay(replay_key, state.clock.now())
            .await
            .map_err(|_| refuse(None, "The service is temporarily unavailable; try again shortly."))?;
        let Some(row) = row else { return Err(used()) };
        if row.app_id.as_deref() != Some(app.id.as_str()) {
            return Err(used());
        }
        if let Some(sealed) = row.sealed {
            let issued: Issued = aead_open(answer_key, replay_key, &sealed)
                .and_then(|plain| serde_json::from_slice(&plain).ok())
                .ok_or_else(used)?;
            // The first answer must still be good, and the tenant must still approve the app
            // (checked above); a JWT past its lifetime is not handed out again.
            if issued.claims.get("exp").and_then(Value::as_i64).is_none_or(|exp| exp <= state.clock.now()) {
                return Err(used());
            }
            let event = AuditEvent::new(
                state.clock.now(),
                &app.client_id,
                "system_user.repeated",
                ctx,
                json!({ "client_id": app.client_id }),
            );
            let _ = state.store.record_audit(&event).await;
            return Ok(issued);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Err(used())
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
