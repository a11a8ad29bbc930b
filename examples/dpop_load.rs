//! The load of the DPoP benchmark (`bench/dpop.py`): `client_credentials` against a running
//! Gatehouse for a fixed time, either plain or with a fresh DPoP proof (RFC 9449) per request,
//! signed here with an ES256 key as a client library would. wrk cannot sign, hence this.
//!
//!     dpop_load BASE CLIENT_ID SECRET CONCURRENCY SECONDS plain|dpop
//!
//! Prints one JSON line: requests, errors, requests/s, p50 and p99 in ms, and the client's own
//! signing time per proof in µs (spent in this process, not the server's).

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use gatehouse::crypto::{b64url, random_id};
use serde_json::json;

struct Proofs {
    key: EcdsaKeyPair,
    header: String,
    rng: SystemRandom,
}

impl Proofs {
    fn new() -> Proofs {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
        let point = key.public_key().as_ref().to_vec();
        let jwk = json!({ "kty": "EC", "crv": "P-256", "x": b64url(&point[1..33]), "y": b64url(&point[33..65]) });
        let header = b64url(json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": jwk }).to_string().as_bytes());
        Proofs { key, header, rng }
    }

    fn proof(&self, htu: &str) -> String {
        let iat = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        let claims = json!({ "jti": random_id(), "htm": "POST", "htu": htu, "iat": iat });
        let input = format!("{}.{}", self.header, b64url(claims.to_string().as_bytes()));
        let sig = self.key.sign(&self.rng, input.as_bytes()).unwrap();
        format!("{input}.{}", b64url(sig.as_ref()))
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, base, client_id, secret, concurrency, seconds, mode] = args.as_slice() else {
        eprintln!("usage: dpop_load BASE CLIENT_ID SECRET CONCURRENCY SECONDS plain|dpop");
        std::process::exit(2);
    };
    let concurrency: usize = concurrency.parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(seconds.parse().unwrap());
    let dpop = mode == "dpop";
    let url = format!("{base}/token");
    gatehouse::outbound::install_crypto_provider();
    let http = reqwest::Client::builder().pool_max_idle_per_host(concurrency).build().unwrap();
    let proofs = Arc::new(Proofs::new());
    let start = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (http, url, proofs) = (http.clone(), url.clone(), proofs.clone());
        let (client_id, secret) = (client_id.clone(), secret.clone());
        workers.push(tokio::spawn(async move {
            let (mut latencies, mut errors, mut signing) = (Vec::new(), 0u64, Duration::ZERO);
            while Instant::now() < deadline {
                let sent = Instant::now();
                let mut req = http
                    .post(&url)
                    .basic_auth(&client_id, Some(&secret))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body("grant_type=client_credentials");
                if dpop {
                    let signed = Instant::now();
                    req = req.header("DPoP", proofs.proof(&url));
                    signing += signed.elapsed();
                }
                match req.send().await {
                    Ok(res) if res.status().is_success() => {
                        let _ = res.bytes().await;
                        latencies.push(sent.elapsed());
                    }
                    _ => errors += 1,
                }
            }
            (latencies, errors, signing)
        }));
    }
    let (mut all, mut errors, mut signing) = (Vec::new(), 0, Duration::ZERO);
    for w in workers {
        let (l, e, s) = w.await.unwrap();
        all.extend(l);
        errors += e;
        signing += s;
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1))).map(|d| d.as_secs_f64() * 1000.0)
    };
    let requests = all.len();
    let line = json!({
        "requests": requests,
        "errors": errors,
        "rps": requests as f64 / elapsed,
        "p50": pct(0.50),
        "p99": pct(0.99),
        "client_sign_us": if dpop && requests > 0 { signing.as_secs_f64() * 1e6 / requests as f64 } else { 0.0 },
    });
    println!("{line}");
}
