//! A software passkey authenticator for the HTTP tests, doing what a browser and a platform
//! authenticator do with the options a page carries: a P-256 key (ES256, aws-lc-rs), a
//! `none` attestation, and assertions over `authenticatorData || SHA-256(clientDataJSON)`
//! (WebAuthn Level 3 §6.1, §6.5, §7). Chromium's own virtual authenticator plays this part in
//! the browser stories; this one can also be told to lie (another origin, an old counter,
//! another user handle).

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ciborium::Value as Cbor;
use serde_json::{json, Value};

/// Authenticator data flags (WebAuthn §6.1): user present, user verified, attested data.
const UP: u8 = 0x01;
const UV: u8 = 0x04;
const AT: u8 = 0x40;

pub struct Authenticator {
    pkcs8: Vec<u8>,
    key: EcdsaKeyPair,
    pub credential_id: Vec<u8>,
    /// The origin the "browser" reports in the client data.
    pub origin: String,
    pub counter: u32,
    /// The user handle of the registration (the account's WebAuthn user id).
    pub user_handle: Vec<u8>,
}

fn b64(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

fn sha256(data: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data).as_ref().to_vec()
}

fn cbor(value: &Cbor) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(value, &mut out).unwrap();
    out
}

/// The WebAuthn options a page carries in its passkey button (`data-options`), unescaped.
pub fn options_on(html: &str) -> Value {
    let marker = "data-options=\"";
    let start = html.find(marker).unwrap_or_else(|| panic!("no passkey button on the page: {html}")) + marker.len();
    let raw = &html[start..start + html[start..].find('"').unwrap()];
    let text = raw
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#60;", "<")
        .replace("&#62;", ">")
        .replace("&#38;", "&")
        .replace("&quot;", "\"")
        .replace("&amp;", "&");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("options are not JSON ({e}): {text}"))
}

impl Authenticator {
    /// A new authenticator that answers for `origin` (the issuer's origin).
    pub fn new(origin: &str) -> Authenticator {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref()).unwrap();
        let credential_id = gatehouse::crypto::random_bytes::<16>().to_vec();
        let pkcs8 = pkcs8.as_ref().to_vec();
        Authenticator { pkcs8, key, credential_id, origin: origin.to_string(), counter: 0, user_handle: Vec::new() }
    }

    /// The same credential (key, ID, counter, user handle) in another device: a clone.
    pub fn clone_key(&self) -> Authenticator {
        Authenticator {
            pkcs8: self.pkcs8.clone(),
            key: EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &self.pkcs8).unwrap(),
            credential_id: self.credential_id.clone(),
            origin: self.origin.clone(),
            counter: self.counter,
            user_handle: self.user_handle.clone(),
        }
    }

    fn client_data(&self, kind: &str, challenge: &str) -> Vec<u8> {
        json!({ "type": kind, "challenge": challenge, "origin": self.origin, "crossOrigin": false })
            .to_string()
            .into_bytes()
    }

    fn auth_data(&self, rp_id: &str, flags: u8) -> Vec<u8> {
        let mut data = sha256(rp_id.as_bytes());
        data.push(flags);
        data.extend_from_slice(&self.counter.to_be_bytes());
        data
    }

    /// Answers `navigator.credentials.create()`: the `PublicKeyCredential` JSON a page posts.
    pub fn create(&mut self, options: &Value) -> String {
        let rp_id = options["rp"]["id"].as_str().unwrap();
        self.user_handle = URL_SAFE_NO_PAD.decode(options["user"]["id"].as_str().unwrap()).unwrap();
        let client_data = self.client_data("webauthn.create", options["challenge"].as_str().unwrap());
        let point = self.key.public_key().as_ref();
        // COSE_Key (RFC 9053 §7.1.1): kty EC2, alg ES256, crv P-256, x, y.
        let cose = Cbor::Map(vec![
            (Cbor::Integer(1.into()), Cbor::Integer(2.into())),
            (Cbor::Integer(3.into()), Cbor::Integer((-7).into())),
            (Cbor::Integer((-1).into()), Cbor::Integer(1.into())),
            (Cbor::Integer((-2).into()), Cbor::Bytes(point[1..33].to_vec())),
            (Cbor::Integer((-3).into()), Cbor::Bytes(point[33..65].to_vec())),
        ]);
        let mut auth_data = self.auth_data(rp_id, UP | UV | AT);
        auth_data.extend_from_slice(&[0u8; 16]);
        auth_data.extend_from_slice(&(self.credential_id.len() as u16).to_be_bytes());
        auth_data.extend_from_slice(&self.credential_id);
        auth_data.extend_from_slice(&cbor(&cose));
        let attestation = Cbor::Map(vec![
            (Cbor::Text("fmt".into()), Cbor::Text("none".into())),
            (Cbor::Text("attStmt".into()), Cbor::Map(vec![])),
            (Cbor::Text("authData".into()), Cbor::Bytes(auth_data)),
        ]);
        json!({
            "id": b64(&self.credential_id),
            "rawId": b64(&self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64(&client_data),
                "attestationObject": b64(&cbor(&attestation)),
                "transports": ["internal"],
            },
            "clientExtensionResults": {},
        })
        .to_string()
    }

    /// Answers `navigator.credentials.get()` with this credential, its counter one higher.
    pub fn get(&mut self, options: &Value) -> String {
        self.counter += 1;
        let rp_id = options["rpId"].as_str().unwrap();
        let client_data = self.client_data("webauthn.get", options["challenge"].as_str().unwrap());
        let auth_data = self.auth_data(rp_id, UP | UV);
        let mut signed = auth_data.clone();
        signed.extend_from_slice(&sha256(&client_data));
        let signature = self.key.sign(&SystemRandom::new(), &signed).unwrap();
        json!({
            "id": b64(&self.credential_id),
            "rawId": b64(&self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64(&client_data),
                "authenticatorData": b64(&auth_data),
                "signature": b64(signature.as_ref()),
                "userHandle": b64(&self.user_handle),
            },
            "clientExtensionResults": {},
        })
        .to_string()
    }
}
