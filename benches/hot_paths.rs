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

criterion_group!(benches, secret_verification, signing);
criterion_main!(benches);
