//! DPoP proofs (RFC 9449 §4): a JWT the client signs with a key it holds, carrying that key's
//! public half in the header, for one HTTP request (method, URL, and at a resource the access
//! token). Checked here without storage; the caller remembers `jti`s (replay) and nonces.

use serde_json::{Map, Value};

use super::certificate;
use crate::crypto::{b64url, b64url_decode, sha256};

/// Signature algorithms a proof may use: asymmetric only (RFC 9449 §4.3 check 5).
pub const ALGS: &[&str] = &["ES256", "ES384", "RS256", "PS256", "EdDSA"];

/// How old a proof's `iat` may be, and how far ahead of our clock, in seconds (§11.1: proofs
/// are only accepted for a short time, so a captured one is soon useless).
pub const MAX_AGE: i64 = 120;
pub const FUTURE_SKEW: i64 = 30;

/// A longer proof is not a proof (an RSA-4096 JWK and its signature fit easily).
const MAX_PROOF_LEN: usize = 4 * 1024;

/// A proof that checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    /// RFC 7638 thumbprint of the proof's key: what tokens are bound to (`cnf.jkt`).
    pub jkt: String,
    pub jti: String,
    pub iat: i64,
    pub nonce: Option<String>,
}

/// What the proof must match.
pub struct Expected<'a> {
    pub method: &'a str,
    /// The request's URL without query or fragment.
    pub url: &'a str,
    /// At a resource server: the access token presented with the proof (`ath`).
    pub access_token: Option<&'a str>,
    pub now: i64,
}

/// Checks a DPoP proof against RFC 9449 §4.3; the error is a sentence safe to send back.
pub fn verify(proof: &str, expected: &Expected<'_>) -> Result<Proof, &'static str> {
    if proof.len() > MAX_PROOF_LEN {
        return Err("the DPoP proof is too long");
    }
    let (signing_input, signature) = proof.rsplit_once('.').ok_or("the DPoP proof is not a compact JWS")?;
    let (header, payload) = signing_input.split_once('.').ok_or("the DPoP proof is not a compact JWS")?;
    let object = |part: &str| -> Option<Map<String, Value>> { serde_json::from_slice(&b64url_decode(part)?).ok() };
    let header = object(header).ok_or("the DPoP proof's header is not base64url JSON")?;
    let claims = object(payload).ok_or("the DPoP proof's claims are not base64url JSON")?;
    let signature = b64url_decode(signature).ok_or("the DPoP proof's signature is not base64url")?;
    if header.get("typ").and_then(Value::as_str) != Some("dpop+jwt") {
        return Err("the DPoP proof's typ must be dpop+jwt");
    }
    let alg = header.get("alg").and_then(Value::as_str).unwrap_or("");
    if !ALGS.contains(&alg) {
        return Err("the DPoP proof must be signed with an asymmetric algorithm (ES256, ES384, RS256, PS256, EdDSA)");
    }
    if header.contains_key("crit") {
        return Err("the DPoP proof has critical header parameters this server does not understand");
    }
    // The key travels in the header; a private key there is refused by the parser.
    let jwk = header.get("jwk").filter(|j| j.is_object()).ok_or("the DPoP proof's header has no public jwk")?;
    let key = certificate::parse(jwk.to_string().as_bytes())
        .map_err(|_| "the DPoP proof's jwk is not a usable public key")?
        .key;
    if !key.verify(alg, signing_input.as_bytes(), &signature) {
        return Err("the DPoP proof's signature does not verify with its jwk");
    }
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    let jti = text("jti").filter(|j| !j.is_empty() && j.len() <= 256).ok_or("the DPoP proof needs a jti")?;
    if text("htm") != Some(expected.method) {
        return Err("the DPoP proof's htm is not this request's method");
    }
    let htu = text("htu").ok_or("the DPoP proof has no htu")?;
    if without_query(htu) != expected.url {
        return Err("the DPoP proof's htu is not this request's URL");
    }
    let iat = claims.get("iat").and_then(Value::as_i64).ok_or("the DPoP proof needs a numeric iat")?;
    if iat < expected.now - MAX_AGE || iat > expected.now + FUTURE_SKEW {
        return Err("the DPoP proof's iat is not recent");
    }
    if let Some(token) = expected.access_token {
        if text("ath") != Some(b64url(&sha256(token.as_bytes())).as_str()) {
            return Err("the DPoP proof's ath does not match the access token");
        }
    }
    Ok(Proof { jkt: key.thumbprint(), jti: jti.to_string(), iat, nonce: text("nonce").map(str::to_string) })
}

/// RFC 9449 §4.3 check 9: `htu` is compared without its query and fragment.
fn without_query(url: &str) -> &str {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    &url[..end]
}
