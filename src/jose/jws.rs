//! Reading JWTs that clients send (RFC 7515 compact serialisation, RFC 7519 claims): split,
//! decode, refuse headers that would let the sender choose the key, and verify against keys we
//! picked ourselves.

use serde_json::{Map, Value};

use super::PublicKey;
use crate::crypto::b64url_decode;

/// One key a client may sign with, and the names a JWS header may give it.
#[derive(Debug, Clone)]
pub struct ClientKey {
    /// RFC 7638 thumbprint.
    pub thumbprint: String,
    /// The `kid` the client gave it.
    pub kid: Option<String>,
    pub key: PublicKey,
}

/// Longest JWT we read; a client assertion is well under 2 KiB.
const MAX_JWT_LEN: usize = 8 * 1024;

/// Header parameters that name or carry a key. We only ever use keys registered for the app,
/// so a JWT that carries one is refused rather than silently half-honoured (RFC 7523 §3,
/// RFC 8725 §3.10).
const KEY_BEARING_HEADERS: &[&str] = &["jku", "jwk", "x5u", "x5c"];

#[derive(Debug)]
pub struct Jws<'a> {
    pub alg: String,
    pub kid: Option<String>,
    pub claims: Map<String, Value>,
    signing_input: &'a str,
    signature: Vec<u8>,
}

impl<'a> Jws<'a> {
    /// Parses a compact JWS. The error is a sentence safe to send back.
    pub fn parse(token: &'a str) -> Result<Jws<'a>, &'static str> {
        if token.len() > MAX_JWT_LEN {
            return Err("the JWT is too long");
        }
        let (signing_input, signature) = token.rsplit_once('.').ok_or("the JWT is not in compact form")?;
        let (header, payload) = signing_input.split_once('.').ok_or("the JWT is not in compact form")?;
        let header: Map<String, Value> = b64url_decode(header)
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or("the JWT header is not base64url JSON")?;
        let claims: Map<String, Value> = b64url_decode(payload)
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or("the JWT claims are not a base64url JSON object")?;
        let signature = b64url_decode(signature).ok_or("the JWT signature is not base64url")?;
        if KEY_BEARING_HEADERS.iter().any(|h| header.contains_key(*h)) {
            return Err("JWT headers that name or carry a key (jku, jwk, x5u, x5c) are not accepted");
        }
        if header.contains_key("crit") {
            return Err("the JWT has critical header parameters this server does not understand");
        }
        let alg = header.get("alg").and_then(Value::as_str).ok_or("the JWT header has no 'alg'")?.to_string();
        let kid = match header.get("kid") {
            None => None,
            Some(Value::String(k)) => Some(k.clone()),
            Some(_) => return Err("the JWT header's 'kid' must be a string"),
        };
        Ok(Jws { alg, kid, claims, signing_input, signature })
    }

    /// Verifies with the first of `keys` whose name matches the JWS `kid` (its thumbprint or
    /// the kid the client gave it; any key when the header names none) and whose type allows
    /// `alg`. Returns the thumbprint of the key that verified.
    pub fn verify_with<'k>(&self, keys: impl IntoIterator<Item = &'k ClientKey>) -> Result<&'k str, &'static str> {
        let mut candidates = 0;
        for k in keys {
            if self.kid.as_deref().is_some_and(|wanted| wanted != k.thumbprint && Some(wanted) != k.kid.as_deref()) {
                continue;
            }
            if !k.key.allows_alg(&self.alg) {
                continue;
            }
            candidates += 1;
            if k.key.verify(&self.alg, self.signing_input.as_bytes(), &self.signature) {
                return Ok(&k.thumbprint);
            }
        }
        Err(if candidates == 0 {
            "no registered, unexpired certificate matches the JWT's kid and alg"
        } else {
            "the JWT signature does not verify"
        })
    }

    pub fn str_claim(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }

    pub fn int_claim(&self, name: &str) -> Result<Option<i64>, &'static str> {
        match self.claims.get(name) {
            None => Ok(None),
            Some(v) => {
                v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)).map(Some).ok_or("a time claim is not a number")
            }
        }
    }
}
