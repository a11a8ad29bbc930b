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
