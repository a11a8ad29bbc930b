//! Access tokens (RFC 9068 JWTs signed with the app's algorithm, or opaque reference tokens
//! stored as digests), and reading them back for introspection and revocation.

use serde::Serialize;
use serde_json::{Map, Value};

use super::{OAuthError, ProtocolError};
use crate::apps::{App, TokenFormat};
use crate::crypto::{random_id, random_token, sha256, time_ordered_id};
use crate::jose::Alg;
use crate::provider::Provider;
use crate::store::batch::WriteError;
use crate::store::tokens::{AccessTokenRow, OpaqueRef};

/// The SuperID claim naming the tenant a token acts in.
pub const CTX_CLAIM: &str = "http://schemes.superoffice.net/identity/ctx";

/// Opaque access tokens start with this, so scanners and people recognise one.
pub const OPAQUE_PREFIX: &str = "gatehouse_at_";

// An opaque token carries its row's `jti` (the selector, which is no secret: introspection
// tells it) before its random part, so the row is found by its primary key, whose
// time-ordered keys are written at the end of the index; the digest of the whole token (the
// verifier) is then compared in constant time. Rows found by their digest needed an index on
// it, and each token written there dirtied one random page of it (issue 15).

/// Separates the `jti` from the random part; base64url has `_` too, but the `jti` is a fixed
/// 32 hex digits, and a token without one is exactly `random_token()` long.
const SELECTOR_END: char = '_';
const JTI_LEN: usize = 32;
const SECRET_LEN: usize = 43;

/// The reference of anything that starts like an opaque token; None for anything else. A
/// token issued before tokens carried their `jti` has none.
pub fn opaque_ref(token: &str) -> Option<OpaqueRef> {
    let rest = token.strip_prefix(OPAQUE_PREFIX)?;
    let jti = match rest.split_at_checked(JTI_LEN) {
        Some((jti, secret))
            if jti.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                && secret.strip_prefix(SELECTOR_END).is_some_and(|s| s.len() == SECRET_LEN) =>
        {
            Some(jti.to_string())
        }
        _ => None,
    };
    Some(OpaqueRef { jti, digest: sha256(token.as_bytes()) })
}

/// A new opaque token for the row `jti` (a `time_ordered_id`).
fn opaque_token(jti: &str) -> String {
    format!("{OPAQUE_PREFIX}{jti}{SELECTOR_END}{}", random_token())
}

/// What a token is issued for.
#[derive(Debug, Clone)]
pub struct AccessRequest<'a> {
    pub app: &'a App,
    /// `sub`: the user's id, or the client ID when the app acts for itself.
    pub subject: String,
    pub user_id: Option<String>,
    pub tenant_id: Option<String>,
    /// The tenant's `ctx`, carried in JWT access tokens as the SuperID claim.
    pub tenant_ctx: Option<String>,
    pub scope: Vec<String>,
    pub audience: String,
    /// The DPoP key the token is bound to (RFC 9449 §6), if the request proved one.
    pub jkt: Option<String>,
    /// RFC 8693 §4.1: who acts for the subject (a token exchange's delegation chain).
    pub act: Option<Value>,
    /// An unconfirmed client's: the app revision the opaque token's write must find
    /// (`AuthenticatedClient::unconfirmed_revision`).
    pub requires_revision: Option<i64>,
}

#[derive(Debug)]
pub struct IssuedAccess {
    pub token: String,
    pub expires_in: i64,
    /// The token's id (the JWT `jti`, or the opaque token's row id).
    pub jti: String,
    pub expires_at: i64,
    /// Bound to a DPoP key: `token_type` is `DPoP` (RFC 9449 §5).
    pub dpop_bound: bool,
}

/// RFC 7800 §3.1 confirmation, with RFC 9449 §6.1's `jkt`.
#[derive(Serialize)]
struct Confirmation<'a> {
    jkt: &'a str,
}

/// RFC 9068 §2.2 claims.
#[derive(Serialize)]
struct AccessClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    client_id: &'a str,
    scope: String,
    jti: String,
    iat: i64,
    exp: i64,
    #[serde(rename = "http://schemes.superoffice.net/identity/ctx", skip_serializing_if = "Option::is_none")]
    ctx: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cnf: Option<Confirmation<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    act: Option<&'a Value>,
}

pub async fn issue_access(state: &Provider, req: AccessRequest<'_>) -> Result<IssuedAccess, ProtocolError> {
    let now = state.clock.now();
    let ttl = req.app.access_token_ttl.unwrap_or(state.config.access_token_ttl);
    let scope = req.scope.join(" ");
    match req.app.token_format {
        // A JWT is stored nowhere, so no write could confirm its client.
        TokenFormat::Jwt if req.requires_revision.is_some() => {
            Err(ProtocolError::Internal(anyhow::anyhow!("a JWT access token for an unconfirmed client")))
        }
        TokenFormat::Jwt => {
            let jti = random_id();
            let claims = AccessClaims {
                iss: &state.config.issuer,
                sub: &req.subject,
                aud: &req.audience,
                client_id: &req.app.client_id,
                scope,
                jti: jti.clone(),
                iat: now,
                exp: now + ttl,
                ctx: req.tenant_ctx.as_deref(),
                cnf: req.jkt.as_deref().map(|jkt| Confirmation { jkt }),
                act: req.act.as_ref(),
            };
            let token = match state.keys.app_signer(&req.app.id) {
                Some(key) => key.sign_jwt("at+jwt", &claims, state.keys.rng())?,
                None => state.keys.sign(Alg::parse(&req.app.signing_alg)?, "at+jwt", &claims)?,
            };
            Ok(IssuedAccess { token, expires_in: ttl, jti, expires_at: now + ttl, dpop_bound: req.jkt.is_some() })
        }
        TokenFormat::Opaque => {
            let jti = time_ordered_id();
            let token = opaque_token(&jti);
            let row = AccessTokenRow {
                jti: jti.clone(),
                digest: sha256(token.as_bytes()).to_vec(),
                app_id: req.app.id.clone(),
                client_id: req.app.client_id.clone(),
                subject: req.subject,
                user_id: req.user_id,
                tenant_id: req.tenant_id,
                scope,
                audience: req.audience,
                issued_at: now,
                expires_at: now + ttl,
                revoked_at: None,
                tenant_ctx: None,
                jkt: req.jkt.clone(),
                act: req.act.as_ref().map(Value::to_string),
            };
            state.token_writer.write(row, req.requires_revision).await.map_err(|e| match e {
                WriteError::Unavailable => ProtocolError::OAuth(OAuthError::temporarily_unavailable()),
                WriteError::Failed(why) => ProtocolError::Internal(anyhow::anyhow!(why)),
                stale @ WriteError::Stale => ProtocolError::Internal(stale.into()),
            })?;
            Ok(IssuedAccess { token, expires_in: ttl, jti, expires_at: now + ttl, dpop_bound: req.jkt.is_some() })
        }
    }
}

/// A token we issued, read back: its claims as RFC 7662 names them.
#[derive(Debug, Clone)]
pub struct KnownToken {
    pub jti: String,
    pub client_id: String,
    pub subject: String,
    pub scope: String,
    pub audience: String,
    pub issued_at: i64,
    pub expires_at: i64,
    /// The tenant the token acts in, if any (SuperID `ctx`).
    pub tenant_ctx: Option<String>,
    pub kind: TokenKind,
    /// The DPoP key the token is bound to (`cnf.jkt`); such a token is refused as a bearer token.
    pub jkt: Option<String>,
    /// RFC 8693 §4.1 `act`: the delegation chain of an exchanged token.
    pub act: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenKind {
    Jwt,
    /// An opaque token: its row is the one `jti` names.
    Opaque,
}

/// Finds a token we issued that is still valid at `now`: signature (JWTs) or row (opaque),
/// not expired, not revoked. Anything else is `None`, never an error the caller could probe.
pub async fn lookup_active(state: &Provider, token: &str) -> Result<Option<KnownToken>, ProtocolError> {
    let now = state.clock.now();
    if let Some(opaque) = opaque_ref(token) {
        let row = state.store.access_token(&opaque).await?;
        return active_opaque(state, &opaque, row, now).await;
    }
    let Some(claims) = state.keys.verify_own(token, "at+jwt") else { return Ok(None) };
    let Some(known) = from_claims(&claims, &state.config.issuer) else { return Ok(None) };
    // A token acts for a person exactly when its subject is not its client (client_credentials
    // tokens name their client); such a token ends when the person is disabled or deleted.
    let person = (known.subject != known.client_id).then_some(known.subject.as_str());
    if known.expires_at <= now || state.store.is_jwt_revoked(&known.jti, person).await? {
        return Ok(None);
    }
    still_admitted(state, known).await
}

/// The opaque token `row` (read by `opaque`'s `jti`), if it is that token and still valid at `now`.
pub async fn active_opaque(
    state: &Provider,
    opaque: &OpaqueRef,
    row: Option<AccessTokenRow>,
    now: i64,
) -> Result<Option<KnownToken>, ProtocolError> {
    let Some(row) = row else { return Ok(None) };
    // The `jti` is no secret, so the row it names proves nothing until the digest matches.
    if !crate::crypto::ct_eq(&row.digest, &opaque.digest) || row.revoked_at.is_some() || row.expires_at <= now {
        return Ok(None);
    }
    let known = KnownToken {
        jti: row.jti,
        client_id: row.client_id,
        subject: row.subject,
        scope: row.scope,
        audience: row.audience,
        issued_at: row.issued_at,
        expires_at: row.expires_at,
        tenant_ctx: row.tenant_ctx,
        kind: TokenKind::Opaque,
        jkt: row.jkt,
        act: row.act.as_deref().and_then(|a| serde_json::from_str(a).ok()),
    };
    still_admitted(state, known).await
}

/// A token that acts in a tenant is active only while that tenant approves its app.
async fn still_admitted(state: &Provider, known: KnownToken) -> Result<Option<KnownToken>, ProtocolError> {
    match &known.tenant_ctx {
        Some(ctx) if !state.store.approved_in_tenant(&known.client_id, ctx).await? => Ok(None),
        _ => Ok(Some(known)),
    }
}

fn from_claims(c: &Map<String, Value>, issuer: &str) -> Option<KnownToken> {
    let s = |k: &str| c.get(k).and_then(Value::as_str).map(str::to_string);
    if s("iss")? != issuer {
        return None;
    }
    Some(KnownToken {
        jti: s("jti")?,
        client_id: s("client_id")?,
        subject: s("sub")?,
        scope: s("scope").unwrap_or_default(),
        audience: s("aud")?,
        issued_at: c.get("iat")?.as_i64()?,
        expires_at: c.get("exp")?.as_i64()?,
        tenant_ctx: s(CTX_CLAIM),
        kind: TokenKind::Jwt,
        jkt: c.get("cnf").and_then(|cnf| cnf.get("jkt")).and_then(Value::as_str).map(str::to_string),
        act: c.get("act").cloned(),
    })
}
