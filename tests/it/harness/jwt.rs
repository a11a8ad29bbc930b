//! Signing JWTs the way a client would, including the malformed ones a hostile client sends.

use aws_lc_rs::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use gatehouse::crypto::b64url;
use serde_json::Value;

fn encode(header: &Value, claims: &Value) -> String {
    format!("{}.{}", b64url(header.to_string().as_bytes()), b64url(claims.to_string().as_bytes()))
}

/// RS256 with a PKCS#8 PEM private key.
pub fn rs256(private_pem: &str, header: Value, claims: Value) -> String {
    let (_, der) = der::pem::decode_vec(private_pem.as_bytes()).unwrap();
    let key = RsaKeyPair::from_pkcs8(&der).unwrap();
    let input = encode(&header, &claims);
    let mut sig = vec![0u8; key.public_modulus_len()];
    key.sign(&RSA_PKCS1_SHA256, &aws_lc_rs::rand::SystemRandom::new(), input.as_bytes(), &mut sig).unwrap();
    format!("{input}.{}", b64url(&sig))
}

/// HS256 keyed with arbitrary bytes (the classic attack: the public key as HMAC secret).
pub fn hs256(secret: &[u8], header: Value, claims: Value) -> String {
    let input = encode(&header, &claims);
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    let tag = aws_lc_rs::hmac::sign(&key, input.as_bytes());
    format!("{input}.{}", b64url(tag.as_ref()))
}

/// `alg: none`, no signature.
pub fn unsigned(claims: Value) -> String {
    format!("{}.", encode(&serde_json::json!({"alg": "none", "typ": "JWT"}), &claims))
}

/// A client's DPoP key (P-256, ES256) that signs proofs (RFC 9449 §4.2), wrong ones included.
pub struct DpopKey {
    key: aws_lc_rs::signature::EcdsaKeyPair,
}

impl DpopKey {
    pub fn new() -> DpopKey {
        use aws_lc_rs::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        DpopKey { key: EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap() }
    }

    /// The public JWK (RFC 7518 §6.2.1).
    pub fn jwk(&self) -> Value {
        use aws_lc_rs::signature::KeyPair;
        let point = self.key.public_key().as_ref();
        serde_json::json!({ "kty": "EC", "crv": "P-256", "x": b64url(&point[1..33]), "y": b64url(&point[33..65]) })
    }

    /// RFC 7638 thumbprint: what tokens bound to this key carry as `cnf.jkt`.
    pub fn thumbprint(&self) -> String {
        let j = self.jwk();
        let canonical = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            j["x"].as_str().unwrap(),
            j["y"].as_str().unwrap()
        );
        b64url(&gatehouse::crypto::sha256(canonical.as_bytes()))
    }

    /// Signs `claims` under `header` as they are (for malformed proofs).
    pub fn sign(&self, header: Value, claims: Value) -> String {
        let input = encode(&header, &claims);
        let sig = self.key.sign(&aws_lc_rs::rand::SystemRandom::new(), input.as_bytes()).unwrap();
        format!("{input}.{}", b64url(sig.as_ref()))
    }

    /// A well-formed proof for `htm` `htu` at `iat`, for `access_token` at a resource, with `nonce`.
    pub fn proof(&self, htm: &str, htu: &str, iat: i64, access_token: Option<&str>, nonce: Option<&str>) -> String {
        let mut claims =
            serde_json::json!({ "jti": gatehouse::crypto::random_id(), "htm": htm, "htu": htu, "iat": iat });
        if let Some(token) = access_token {
            claims["ath"] = serde_json::json!(b64url(&gatehouse::crypto::sha256(token.as_bytes())));
        }
        if let Some(n) = nonce {
            claims["nonce"] = serde_json::json!(n);
        }
        self.sign(serde_json::json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": self.jwk() }), claims)
    }
}
