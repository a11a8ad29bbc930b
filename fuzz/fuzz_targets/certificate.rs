//! Certificate uploads: `apps::certificate::parse` (PEM `CERTIFICATE` / `PUBLIC KEY` /
//! `RSA PUBLIC KEY`, DER X.509 or SubjectPublicKeyInfo, JWK or one-key JWK Set, .NET
//! `<RSAKeyValue>` XML), and what the server does with an accepted key: `PublicKey::to_jwk`,
//! `thumbprint`, `from_jwk`, `allows_alg`, `verify`.
//!
//! Inputs are raw bytes, or fuzz bytes wrapped as PEM (so DER mutations reach the PEM path),
//! as RSA XML or as a JWK (so key material mutations reach those paths). Beyond "no panic":
//! - an accepted key re-encodes: `from_jwk(to_jwk())` gives the same key, and uploading
//!   `to_jwk()` again is accepted as the same key with the same `kid`;
//! - the `kid` is the RFC 7638 thumbprint and does not depend on the upload format: RSA `n`
//!   and `e` are stored without leading zero octets (RFC 7518 §2, Base64urlUInt);
//! - RSA keys have 2048 to 8192 bits, EC coordinates have the curve's length, a `PRIVATE KEY`
//!   PEM block is refused, and only X.509 uploads have an expiry.

#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use gatehouse::jose::certificate::{self, MAX_UPLOAD_BYTES, MIN_RSA_BITS};
use gatehouse::jose::{KeyFormat, PublicKey};
use gatehouse::crypto::{b64, b64url};
use libfuzzer_sys::fuzz_target;
use serde_json::json;

const LABELS: &[&str] =
    &["CERTIFICATE", "PUBLIC KEY", "RSA PUBLIC KEY", "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "X509 CRL"];

#[derive(Arbitrary, Debug)]
enum Input<'a> {
    Raw(&'a [u8]),
    Pem { label: u8, der: &'a [u8] },
    RsaXml { modulus: &'a [u8], exponent: &'a [u8], private: bool },
    RsaJwk { n: &'a [u8], e: &'a [u8] },
    EcJwk { p384: bool, x: &'a [u8], y: &'a [u8] },
    OkpJwk { x: &'a [u8] },
}

fn upload(input: &Input<'_>) -> (Vec<u8>, Option<&'static str>) {
    match input {
        Input::Raw(b) => (b.to_vec(), None),
        Input::Pem { label, der } => {
            let label = LABELS[*label as usize % LABELS.len()];
            let body: Vec<String> =
                b64(der).as_bytes().chunks(64).map(|c| String::from_utf8(c.to_vec()).unwrap()).collect();
            (format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", body.join("\n")).into_bytes(), Some(label))
        }
        Input::RsaXml { modulus, exponent, private } => {
            let extra = if *private { "<D>AQAB</D>" } else { "" };
            let xml = format!(
                "<RSAKeyValue><Modulus>{}</Modulus><Exponent>{}</Exponent>{extra}</RSAKeyValue>",
                b64(modulus),
                b64(exponent)
            );
            (xml.into_bytes(), None)
        }
        Input::RsaJwk { n, e } => {
            (json!({"kty": "RSA", "n": b64url(n), "e": b64url(e)}).to_string().into_bytes(), None)
        }
        Input::EcJwk { p384, x, y } => {
            let crv = if *p384 { "P-384" } else { "P-256" };
            (json!({"kty": "EC", "crv": crv, "x": b64url(x), "y": b64url(y)}).to_string().into_bytes(), None)
        }
        Input::OkpJwk { x } => (json!({"kty": "OKP", "crv": "Ed25519", "x": b64url(x)}).to_string().into_bytes(), None),
    }
}

fn check_key(key: &PublicKey) {
    match key {
        PublicKey::Rsa { n, e } => {
            assert!(n.first().is_some_and(|b| *b != 0), "RSA n has a leading zero octet (or is empty)");
            assert!(e.first().is_some_and(|b| *b != 0), "RSA e has a leading zero octet (or is empty)");
            let bits = key.rsa_bits();
            assert!((MIN_RSA_BITS..=8192).contains(&bits), "{bits} bits");
            assert!(key.allows_alg("RS256") && key.allows_alg("PS256") && !key.allows_alg("ES256"));
        }
        PublicKey::Ec { crv, x, y } => {
            let len = match *crv {
                "P-256" => 32,
                "P-384" => 48,
                other => panic!("curve {other}"),
            };
            assert_eq!((x.len(), y.len()), (len, len));
            assert!(!key.allows_alg("RS256"));
        }
        PublicKey::Ed25519 { x } => {
            assert_eq!(x.len(), 32);
            assert!(key.allows_alg("EdDSA") && !key.allows_alg("ES256"));
        }
    }
    for alg in ["none", "HS256", "none ", ""] {
        assert!(!key.allows_alg(alg) && !key.verify(alg, b"m", b""));
    }
}

// The first byte picks the kind of input: even, the rest is the upload (seeds are written
// this way); odd, the rest is wrapped as PEM, RSA XML or a JWK.
fuzz_target!(|data: &[u8]| {
    let input = match data.split_first() {
        Some((mode, rest)) if mode % 2 == 0 => Input::Raw(rest),
        Some((_, rest)) => match Input::arbitrary_take_rest(Unstructured::new(rest)) {
            Ok(i) => i,
            Err(_) => return,
        },
        None => return,
    };
    let (bytes, label) = upload(&input);
    let Ok(parsed) = certificate::parse(&bytes) else { return };
    assert!(bytes.len() <= MAX_UPLOAD_BYTES);
    if let Some(label) = label {
        assert!(!label.contains("PRIVATE"), "accepted a {label} block");
    }
    if let Input::RsaXml { private: true, .. } = input {
        panic!("accepted RSA XML with a private parameter");
    }
    assert_eq!(parsed.not_after.is_some(), parsed.format == KeyFormat::X509, "{:?}", parsed.format);
    let key = &parsed.key;
    check_key(key);

    // What the store keeps, and what it reads back.
    let jwk = key.to_jwk();
    let kid = key.thumbprint();
    assert_eq!(jwk["kid"], json!(kid));
    assert_eq!(jwk["kty"], json!(key.kty()));
    let back = PublicKey::from_jwk(&jwk).expect("a stored JWK reads back");
    assert_eq!(&back, key);
    assert_eq!(back.thumbprint(), kid);

    // The same key uploaded again as its JWK is the same key.
    let again = certificate::parse(jwk.to_string().as_bytes()).expect("an accepted key's JWK is accepted");
    assert_eq!(&again.key, key);
    assert_eq!(again.format, KeyFormat::Jwk);
});
