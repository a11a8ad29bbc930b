//! The hot paths of the token endpoint: client secret verification and signing a typical
//! access token with keys parsed once. Run with `cargo bench --bench hot_paths`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use gatehouse::apps::client_secret;
use gatehouse::jose::{Alg, KeyPair, SigningKey};
use serde_json::json;

fn secret_verification(c: &mut Criterion) {
    let old = client_secret::generate();
    let current = client_secret::generate();
    let stored = [old.digest, current.digest];
    c.bench_function("client_secret/verify (SHA-256, 2 active secrets)", |b| {
        b.iter(|| client_secret::verify(black_box(current.value.expose()), stored.iter().map(|d| &d[..])))
    });
}

/// The claims of a typical RFC 9068 access token.
fn access_token_claims() -> serde_json::Value {
    json!({
        "iss": "https://id.example.com",
        "sub": "9f2c1a7e4b6d4c0e8a1b2c3d4e5f6a7b",
        "aud": "https://api.example.com",
        "client_id": "0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e",
        "scope": "openid profile webapi",
        "jti": "4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d",
        "iat": 1_795_000_000i64,
        "exp": 1_795_003_600i64,
        "http://schemes.superoffice.net/identity/ctx": "Cust12345",
    })
}

fn signing(c: &mut Criterion) {
    let claims = access_token_claims();
    let rng = aws_lc_rs::rand::SystemRandom::new();
    for alg in [Alg::RS256, Alg::ES256] {
        let (pair, pkcs8) = KeyPair::generate(alg).unwrap();
        let key = SigningKey::new("bench".into(), alg, pair);
        c.bench_function(&format!("sign access token/{} (cached key)", alg.as_str()), |b| {
            b.iter(|| key.sign_jwt("at+jwt", black_box(&claims), &rng).unwrap())
        });
        if alg == Alg::RS256 {
            // For comparison: jsonwebtoken's encode, which parses the key on every call.
            let pem = der::pem::encode_string("PRIVATE KEY", der::pem::LineEnding::LF, &pkcs8).unwrap();
            let encoding = jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap();
            let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
            c.bench_function("sign access token/RS256 (jsonwebtoken::encode, key parsed per call)", |b| {
                b.iter(|| jsonwebtoken::encode(&header, black_box(&claims), &encoding).unwrap())
            });
        }
    }
}

/// RFC 9449 §4.3: what checking one ES256 DPoP proof costs the token endpoint (before its jti
/// is stored), the CPU a DPoP-bound token request adds to a plain one.
fn dpop_proof(c: &mut Criterion) {
    use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
    use gatehouse::crypto::b64url;
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
    let point = key.public_key().as_ref().to_vec();
    let jwk =
        serde_json::json!({ "kty": "EC", "crv": "P-256", "x": b64url(&point[1..33]), "y": b64url(&point[33..65]) });
    let header = serde_json::json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": jwk });
    let url = "https://id.example.com/token";
    let claims = serde_json::json!({ "jti": "a1", "htm": "POST", "htu": url, "iat": 1_700_000_000 });
    let input = format!("{}.{}", b64url(header.to_string().as_bytes()), b64url(claims.to_string().as_bytes()));
    let proof = format!("{input}.{}", b64url(key.sign(&rng, input.as_bytes()).unwrap().as_ref()));
    let expected = gatehouse::jose::dpop::Expected { method: "POST", url, access_token: None, now: 1_700_000_000 };
    c.bench_function("DPoP proof/verify (ES256, RFC 9449 section 4.3)", |b| {
        b.iter(|| gatehouse::jose::dpop::verify(std::hint::black_box(&proof), &expected).unwrap())
    });
}

criterion_group!(benches, secret_verification, signing, dpop_proof);
criterion_main!(benches);
