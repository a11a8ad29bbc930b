//! The floor for the token benchmark: the in-process cost of signing one typical access token
//! with a cached key, printed as JSON for bench/run.py.

use std::time::Instant;

use gatehouse::jose::{Alg, KeyPair, SigningKey};

fn per_token_ms(alg: Alg, n: u32) -> f64 {
    let (pair, _) = KeyPair::generate(alg).expect("key generation");
    let key = SigningKey::new("floor".into(), alg, pair);
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let claims = serde_json::json!({
        "iss": "https://id.example.com", "sub": "0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e", "aud": "https://api.example.com",
        "client_id": "0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e", "scope": "webapi webhook-agent", "jti": "4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d",
        "iat": 1_795_000_000i64, "exp": 1_795_003_600i64,
    });
    for _ in 0..n / 10 {
        key.sign_jwt("at+jwt", &claims, &rng).expect("sign");
    }
    let started = Instant::now();
    for _ in 0..n {
        key.sign_jwt("at+jwt", &claims, &rng).expect("sign");
    }
    started.elapsed().as_secs_f64() * 1000.0 / f64::from(n)
}

fn main() {
    let rs256 = per_token_ms(Alg::RS256, 2_000);
    let es256 = per_token_ms(Alg::ES256, 20_000);
    println!("{}", serde_json::json!({ "rs256_ms": rs256, "es256_ms": es256 }));
}
