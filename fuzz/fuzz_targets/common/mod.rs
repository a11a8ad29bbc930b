//! Keys shared by the targets that check signatures: generated once per process, registered
//! the way an app registers them (an upload through `apps::certificate::parse`), stored as the
//! server stores them (`to_jwk`) and read back as the server reads them (`from_jwk`).

#![allow(dead_code)]

use std::sync::OnceLock;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING,
    RSA_PKCS1_SHA256, RSA_PSS_SHA256,
};
use gatehouse::jose::certificate;
use gatehouse::jose::ClientKey;
use gatehouse::jose::PublicKey;

pub enum Signer {
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
    Rsa(RsaKeyPair),
}

pub struct TestKey {
    pub kid: String,
    pub public: PublicKey,
    /// The key as `verify_with_app_certificates` hands it to `Jws::verify_with`.
    pub client: ClientKey,
    pub signer: Signer,
}

impl TestKey {
    fn new(spki: &[u8], signer: Signer) -> TestKey {
        let parsed = certificate::parse(spki).expect("our own key uploads");
        // What the store holds, read back as `verify_with_app_certificates` reads it.
        let stored = parsed.key.to_jwk().to_string();
        let public = PublicKey::from_jwk(&serde_json::from_str(&stored).unwrap()).unwrap();
        let client = ClientKey { thumbprint: public.thumbprint(), kid: None, key: public.clone() };
        TestKey { kid: public.thumbprint(), public, client, signer }
    }

    /// Signs with `alg`'s scheme for this key type (RS256 or PS256 for RSA; the key's own
    /// scheme otherwise).
    pub fn sign(&self, alg: &str, message: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match &self.signer {
            Signer::Ec(k) => k.sign(&rng, message).unwrap().as_ref().to_vec(),
            Signer::Ed(k) => k.sign(message).as_ref().to_vec(),
            Signer::Rsa(k) => {
                let scheme = if alg == "PS256" { &RSA_PSS_SHA256 } else { &RSA_PKCS1_SHA256 };
                let mut sig = vec![0; k.public_modulus_len()];
                k.sign(scheme, &rng, message, &mut sig).unwrap();
                sig
            }
        }
    }
}

pub fn rsa_key() -> TestKey {
    let k = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
    let spki = k.public_key().as_der().unwrap();
    TestKey::new(spki.as_ref(), Signer::Rsa(k))
}

/// P-256, P-384, Ed25519 and RSA, in that order.
pub fn keys() -> &'static [TestKey] {
    static KEYS: OnceLock<Vec<TestKey>> = OnceLock::new();
    KEYS.get_or_init(|| {
        let ec = |alg| {
            let k = EcdsaKeyPair::generate(alg).unwrap();
            let spki = k.public_key().as_der().unwrap();
            TestKey::new(spki.as_ref(), Signer::Ec(k))
        };
        let ed = Ed25519KeyPair::generate().unwrap();
        let ed_spki = ed.public_key().as_der().unwrap();
        vec![
            ec(&ECDSA_P256_SHA256_FIXED_SIGNING),
            ec(&ECDSA_P384_SHA384_FIXED_SIGNING),
            TestKey::new(ed_spki.as_ref(), Signer::Ed(ed)),
            rsa_key(),
        ]
    })
}

/// The JWS `alg` each key of `keys()` signs with by default.
pub const DEFAULT_ALGS: [&str; 4] = ["ES256", "ES384", "EdDSA", "RS256"];

pub fn b64url(data: &[u8]) -> String {
    gatehouse::crypto::b64url(data)
}
