//! Server key pairs held parsed in memory (once per key, never per token) and JWS signing
//! (RFC 7515 compact serialisation) with aws-lc.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair};
use der::Decode;
use serde::Serialize;

use crate::crypto::b64url;
use crate::jose::PublicKey;

use crate::vocab::string_enum;

string_enum!(
    /// JWS algorithms we sign with (RFC 7518 §3, RFC 8037).
    Alg, "alg" { RS256 => "RS256", PS256 => "PS256", ES256 => "ES256", EdDSA => "EdDSA" }
);

/// A private key parsed once, ready to sign.
pub enum KeyPair {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyPair([private])")
    }
}

impl KeyPair {
    /// A new key for `alg`, returned with its PKCS#8 encoding for storage.
    pub fn generate(alg: Alg) -> anyhow::Result<(KeyPair, Vec<u8>)> {
        let fail = |_| anyhow::anyhow!("generating a {} key failed", alg.as_str());
        let pkcs8 = match alg {
            Alg::RS256 | Alg::PS256 => {
                RsaKeyPair::generate(KeySize::Rsa2048).map_err(fail)?.as_der().map_err(fail)?.as_ref().to_vec()
            }
            Alg::ES256 => EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING)
                .map_err(fail)?
                .to_pkcs8v1()
                .map_err(fail)?
                .as_ref()
                .to_vec(),
            Alg::EdDSA => Ed25519KeyPair::generate().map_err(fail)?.to_pkcs8().map_err(fail)?.as_ref().to_vec(),
        };
        Ok((KeyPair::from_pkcs8(alg, &pkcs8)?, pkcs8))
    }

    pub fn from_pkcs8(alg: Alg, pkcs8: &[u8]) -> anyhow::Result<KeyPair> {
        let bad = |e: aws_lc_rs::error::KeyRejected| anyhow::anyhow!("stored {} key does not load: {e}", alg.as_str());
        Ok(match alg {
            Alg::RS256 | Alg::PS256 => KeyPair::Rsa(RsaKeyPair::from_pkcs8(pkcs8).map_err(bad)?),
            Alg::ES256 => {
                KeyPair::Ec(EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8).map_err(bad)?)
            }
            Alg::EdDSA => KeyPair::Ed(Ed25519KeyPair::from_pkcs8(pkcs8).map_err(bad)?),
        })
    }

    pub fn public_key(&self) -> anyhow::Result<PublicKey> {
        Ok(match self {
            KeyPair::Rsa(k) => {
                let der = k.public_key().as_ref();
                let pk = pkcs1::RsaPublicKey::from_der(der).map_err(|e| anyhow::anyhow!("RSA public key: {e}"))?;
                PublicKey::Rsa { n: pk.modulus.as_bytes().to_vec(), e: pk.public_exponent.as_bytes().to_vec() }
            }
            KeyPair::Ec(k) => {
                let point = k.public_key().as_ref();
                PublicKey::Ec { crv: "P-256", x: point[1..33].to_vec(), y: point[33..65].to_vec() }
            }
            KeyPair::Ed(k) => PublicKey::Ed25519 { x: k.public_key().as_ref().to_vec() },
        })
    }

    /// Signs bytes that are not a JWS (a certificate, a SAML `SignedInfo`). RSASSA-PKCS1-v1_5
    /// needs no randomness, so none is asked for.
    pub(crate) fn sign_raw(&self, alg: Alg, message: &[u8]) -> anyhow::Result<Vec<u8>> {
        self.sign(alg, &SystemRandom::new(), message)
    }

    fn sign(&self, alg: Alg, rng: &SystemRandom, message: &[u8]) -> anyhow::Result<Vec<u8>> {
        let fail = |_| anyhow::anyhow!("signing with {} failed", alg.as_str());
        match (self, alg) {
            (KeyPair::Rsa(k), Alg::RS256 | Alg::PS256) => {
                let padding: &'static dyn signature::RsaEncoding =
                    if alg == Alg::RS256 { &signature::RSA_PKCS1_SHA256 } else { &signature::RSA_PSS_SHA256 };
                let mut sig = vec![0u8; k.public_modulus_len()];
                k.sign(padding, rng, message, &mut sig).map_err(fail)?;
                Ok(sig)
            }
            (KeyPair::Ec(k), Alg::ES256) => Ok(k.sign(rng, message).map_err(fail)?.as_ref().to_vec()),
            (KeyPair::Ed(k), Alg::EdDSA) => Ok(k.sign(message).as_ref().to_vec()),
            _ => anyhow::bail!("a {} key cannot sign with this key type", alg.as_str()),
        }
    }
}

/// A server signing key: its id, algorithm and parsed private key.
#[derive(Debug)]
pub struct SigningKey {
    pub kid: String,
    pub alg: Alg,
    pair: KeyPair,
}

#[derive(Serialize)]
struct Header<'a> {
    alg: &'static str,
    typ: &'a str,
    kid: &'a str,
}

impl SigningKey {
    pub fn new(kid: String, alg: Alg, pair: KeyPair) -> Self {
        SigningKey { kid, alg, pair }
    }

    /// Signs bytes that are not a JWS with this key's algorithm.
    pub fn sign_raw(&self, message: &[u8]) -> anyhow::Result<Vec<u8>> {
        self.pair.sign_raw(self.alg, message)
    }

    pub fn pair(&self) -> &KeyPair {
        &self.pair
    }

    /// Signs `claims` as a compact JWS with header `typ` (`JWT` for ID tokens, `at+jwt` for
    /// RFC 9068 access tokens).
    pub fn sign_jwt(&self, typ: &str, claims: &impl Serialize, rng: &SystemRandom) -> anyhow::Result<String> {
        let header = serde_json::to_vec(&Header { alg: self.alg.as_str(), typ, kid: &self.kid })?;
        let payload = serde_json::to_vec(claims)?;
        let mut jws = String::with_capacity(header.len() * 4 / 3 + payload.len() * 4 / 3 + 400);
        jws.push_str(&b64url(&header));
        jws.push('.');
        jws.push_str(&b64url(&payload));
        let signature = self.pair.sign(self.alg, rng, jws.as_bytes())?;
        jws.push('.');
        jws.push_str(&b64url(&signature));
        Ok(jws)
    }
}
