//! App certificates: the public keys an app registers to verify what it signs (client
//! assertions, JWT-bearer assertions, signed system tokens). Every accepted format is
//! normalised to a public JWK at upload; private keys, weak keys and malformed input are
//! refused with a sentence that says what is wrong.

use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{self, ParsedPublicKey};
use der::asn1::UintRef;
use der::{Decode, Encode};
use serde_json::json;

use crate::crypto::{b64, b64_decode, b64url, b64url_decode, sha256};
use crate::error::Error;
use crate::secret::Secret;

use crate::vocab::string_enum;

/// Smallest RSA modulus we accept (NIST SP 800-131A).
pub const MIN_RSA_BITS: usize = 2048;
const MAX_RSA_BITS: usize = 8192;
/// Largest upload we read; a real certificate chain is a few kilobytes.
pub const MAX_UPLOAD_BYTES: usize = 64 * 1024;

const OID_RSA: &str = "1.2.840.113549.1.1.1";
const OID_EC: &str = "1.2.840.10045.2.1";
const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_P384: &str = "1.3.132.0.34";
const OID_ED25519: &str = "1.3.101.112";

string_enum!(
    /// How a certificate reached us.
    KeyFormat, "format" {
        PemPublicKey => "pem",
        X509 => "x509",
        Jwk => "jwk",
        RsaXml => "rsa-xml",
        Generated => "generated",
    }
);

/// A public key in JWK terms. Uploads only become one through `parse`, which checks that it
/// is well formed, strong enough and not private.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    Rsa { n: Vec<u8>, e: Vec<u8> },
    Ec { crv: &'static str, x: Vec<u8>, y: Vec<u8> },
    Ed25519 { x: Vec<u8> },
}

/// The result of reading an upload.
#[derive(Debug)]
pub struct ParsedCertificate {
    pub key: PublicKey,
    pub format: KeyFormat,
    /// An X.509 certificate's notAfter, in Unix seconds.
    pub not_after: Option<i64>,
    /// The `kid` a JWK upload carried: clients sign with it in their JWS headers, so it is kept.
    pub kid: Option<String>,
}

/// The private half of a key pair we generated for an app: shown once, never stored.
/// Its `Debug` is redacted (through `Secret`).
#[derive(Debug)]
pub struct GeneratedPrivateKey {
    /// PKCS#8 `-----BEGIN PRIVATE KEY-----`.
    pub pem: Secret<String>,
    /// .NET `<RSAKeyValue>` with the private parameters, as SuperID's SDKs load it.
    pub rsa_xml: Secret<String>,
}

fn invalid(message: impl Into<std::borrow::Cow<'static, str>>) -> Error {
    Error::invalid("certificate", message)
}

impl PublicKey {
    pub fn kty(&self) -> &'static str {
        match self {
            PublicKey::Rsa { .. } => "RSA",
            PublicKey::Ec { .. } => "EC",
            PublicKey::Ed25519 { .. } => "OKP",
        }
    }

    /// RFC 7638 JWK thumbprint: the key's `kid`, stable whatever format it was uploaded in.
    pub fn thumbprint(&self) -> String {
        // Required members only, lexicographic order, no whitespace (RFC 7638 §3.2).
        let canonical = match self {
            PublicKey::Rsa { n, e } => format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, b64url(e), b64url(n)),
            PublicKey::Ec { crv, x, y } => {
                format!(r#"{{"crv":"{crv}","kty":"EC","x":"{}","y":"{}"}}"#, b64url(x), b64url(y))
            }
            PublicKey::Ed25519 { x } => format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, b64url(x)),
        };
        b64url(&sha256(canonical.as_bytes()))
    }

    /// The public JWK (RFC 7517) with its thumbprint as `kid` and `use: sig`.
    pub fn to_jwk(&self) -> serde_json::Value {
        let kid = self.thumbprint();
        match self {
            PublicKey::Rsa { n, e } => json!({"kty": "RSA", "use": "sig", "kid": kid, "n": b64url(n), "e": b64url(e)}),
            PublicKey::Ec { crv, x, y } => {
                json!({"kty": "EC", "use": "sig", "kid": kid, "crv": crv, "x": b64url(x), "y": b64url(y)})
            }
            PublicKey::Ed25519 { x } => {
                json!({"kty": "OKP", "use": "sig", "kid": kid, "crv": "Ed25519", "x": b64url(x)})
            }
        }
    }

    /// Reads a stored public JWK back (as written by `to_jwk`).
    pub fn from_jwk(jwk: &serde_json::Value) -> Result<PublicKey, Error> {
        parse_jwk(&jwk.to_string())
    }

    /// The JWS algorithms (RFC 7518) this key may verify: the allow-list is by key type, so
    /// `none`, HMAC with a public key as secret, or RSA with an EC key can never be accepted.
    pub fn allows_alg(&self, alg: &str) -> bool {
        matches!(
            (self, alg),
            (PublicKey::Rsa { .. }, "RS256" | "PS256")
                | (PublicKey::Ec { crv: "P-256", .. }, "ES256")
                | (PublicKey::Ec { crv: "P-384", .. }, "ES384")
                | (PublicKey::Ed25519 { .. }, "EdDSA")
        )
    }

    /// Verifies a JWS signature (`alg` must be allowed for this key type).
    pub fn verify(&self, alg: &str, message: &[u8], signature: &[u8]) -> bool {
        if !self.allows_alg(alg) {
            return false;
        }
        let (algorithm, key): (&'static dyn signature::VerificationAlgorithm, Vec<u8>) = match (self, alg) {
            (PublicKey::Rsa { n, e }, "RS256") => match rsa_public_der(n, e) {
                Ok(der) => (&signature::RSA_PKCS1_2048_8192_SHA256, der),
                Err(_) => return false,
            },
            (PublicKey::Rsa { n, e }, _) => match rsa_public_der(n, e) {
                Ok(der) => (&signature::RSA_PSS_2048_8192_SHA256, der),
                Err(_) => return false,
            },
            (PublicKey::Ec { x, y, .. }, "ES256") => (&signature::ECDSA_P256_SHA256_FIXED, [&[4u8][..], x, y].concat()),
            (PublicKey::Ec { x, y, .. }, _) => (&signature::ECDSA_P384_SHA384_FIXED, [&[4u8][..], x, y].concat()),
            (PublicKey::Ed25519 { x }, _) => (&signature::ED25519, x.clone()),
        };
        signature::UnparsedPublicKey::new(algorithm, key).verify(message, signature).is_ok()
    }

    /// RSA key size in bits (0 for other key types).
    pub fn rsa_bits(&self) -> usize {
        match self {
            PublicKey::Rsa { n, .. } => significant_bits(n),
            _ => 0,
        }
    }

    /// Checks the key is well formed and strong enough, using aws-lc's own key validation.
    /// RSA integers lose any leading zero octets (a JWK or .NET XML upload may carry them), as
    /// RFC 7518 §2 writes them, so one key has one `kid` whatever format it came in.
    fn checked(self) -> Result<PublicKey, Error> {
        let key = match self {
            PublicKey::Rsa { n, e } => PublicKey::Rsa { n: strip_zeros(&n).to_vec(), e: strip_zeros(&e).to_vec() },
            other => other,
        };
        match &key {
            PublicKey::Rsa { n, e } => {
                let bits = significant_bits(n);
                if bits < MIN_RSA_BITS {
                    return Err(invalid(format!("the RSA key has {bits} bits; at least {MIN_RSA_BITS} are required")));
                }
                if bits > MAX_RSA_BITS {
                    return Err(invalid(format!("the RSA key has {bits} bits; at most {MAX_RSA_BITS} are supported")));
                }
                let der = rsa_public_der(n, e)?;
                ParsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, der)
                    .map_err(|_| invalid("the RSA public key is not valid (bad modulus or exponent)"))?;
            }
            PublicKey::Ec { crv, x, y } => {
                let (alg, len): (&'static dyn signature::VerificationAlgorithm, usize) = match *crv {
                    "P-256" => (&signature::ECDSA_P256_SHA256_FIXED, 32),
                    _ => (&signature::ECDSA_P384_SHA384_FIXED, 48),
                };
                if x.len() != len || y.len() != len {
                    return Err(invalid(format!("the {crv} coordinates must be {len} bytes each")));
                }
                let point = [&[4u8][..], x, y].concat();
                ParsedPublicKey::new(alg, point)
                    .map_err(|_| invalid(format!("the point is not on the {crv} curve")))?;
            }
            PublicKey::Ed25519 { x } => {
                ParsedPublicKey::new(&signature::ED25519, x)
                    .map_err(|_| invalid("the Ed25519 public key must be 32 valid bytes"))?;
            }
        }
        Ok(key)
    }
}

fn significant_bits(n: &[u8]) -> usize {
    let n = strip_zeros(n);
    match n.first() {
        Some(b) => n.len() * 8 - b.leading_zeros() as usize,
        None => 0,
    }
}

fn strip_zeros(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    &b[start..]
}

fn rsa_public_der(n: &[u8], e: &[u8]) -> Result<Vec<u8>, Error> {
    let key = pkcs1::RsaPublicKey {
        modulus: UintRef::new(n).map_err(|_| invalid("the RSA modulus is malformed"))?,
        public_exponent: UintRef::new(e).map_err(|_| invalid("the RSA exponent is malformed"))?,
    };
    key.to_der().map_err(|_| invalid("the RSA key could not be encoded"))
}

/// Reads an upload in any accepted format: PEM (`PUBLIC KEY`, `RSA PUBLIC KEY`, `CERTIFICATE`),
/// DER (X.509 or SubjectPublicKeyInfo), a JWK (or a JWK Set holding one key), or .NET
/// `<RSAKeyValue>` XML.
pub fn parse(input: &[u8]) -> Result<ParsedCertificate, Error> {
    if input.is_empty() {
        return Err(invalid("the upload is empty"));
    }
    if input.len() > MAX_UPLOAD_BYTES {
        return Err(invalid(format!("the upload is larger than {} KiB", MAX_UPLOAD_BYTES / 1024)));
    }
    let text = std::str::from_utf8(input).ok().map(str::trim);
    let parsed = match text {
        Some(t) if t.starts_with("-----BEGIN") => parse_pem(t)?,
        Some(t) if t.starts_with('{') => {
            ParsedCertificate { key: parse_jwk(t)?, format: KeyFormat::Jwk, not_after: None, kid: jwk_kid(t)? }
        }
        Some(t) if t.starts_with('<') => {
            ParsedCertificate { key: parse_rsa_xml(t)?, format: KeyFormat::RsaXml, not_after: None, kid: None }
        }
        _ => parse_der(input)?,
    };
    Ok(ParsedCertificate { key: parsed.key.checked()?, ..parsed })
}

/// Longest client-chosen `kid` we keep; real ones are UUIDs, thumbprints or short names.
pub const MAX_KID_LEN: usize = 128;

fn jwk_kid(text: &str) -> Result<Option<String>, Error> {
    let jwk: serde_json::Value = serde_json::from_str(text).map_err(|_| invalid("the JWK is not JSON"))?;
    match jwk.get("kid") {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(k))
            if !k.is_empty() && k.len() <= MAX_KID_LEN && k.chars().all(|c| !c.is_control()) =>
        {
            Ok(Some(k.clone()))
        }
        Some(_) => Err(invalid(format!("the JWK's 'kid' must be a string of 1 to {MAX_KID_LEN} printable characters"))),
    }
}

fn parse_pem(text: &str) -> Result<ParsedCertificate, Error> {
    let (label, der) =
        der::pem::decode_vec(text.as_bytes()).map_err(|e| invalid(format!("the PEM block is malformed ({e})")))?;
    match label {
        "CERTIFICATE" => parse_x509(&der),
        "PUBLIC KEY" => Ok(ParsedCertificate {
            key: parse_spki(&der)?,
            format: KeyFormat::PemPublicKey,
            not_after: None,
            kid: None,
        }),
        "RSA PUBLIC KEY" => {
            let k =
                pkcs1::RsaPublicKey::from_der(&der).map_err(|_| invalid("the RSA PUBLIC KEY block is malformed"))?;
            let key = PublicKey::Rsa { n: k.modulus.as_bytes().to_vec(), e: k.public_exponent.as_bytes().to_vec() };
            Ok(ParsedCertificate { key, format: KeyFormat::PemPublicKey, not_after: None, kid: None })
        }
        l if l.contains("PRIVATE KEY") => Err(private_key_refused()),
        other => Err(invalid(format!(
            "a PEM '{other}' block is not accepted; upload a CERTIFICATE, PUBLIC KEY or RSA PUBLIC KEY"
        ))),
    }
}

fn private_key_refused() -> Error {
    invalid("this is a private key; upload only the public key or the certificate, and keep the private key secret")
}

fn parse_der(der: &[u8]) -> Result<ParsedCertificate, Error> {
    parse_x509(der).or_else(|_| {
        parse_spki(der)
            .map(|key| ParsedCertificate { key, format: KeyFormat::PemPublicKey, not_after: None, kid: None })
            .map_err(|_| {
                invalid("not a recognised format: expected PEM, DER (X.509 or public key), a JWK, or <RSAKeyValue> XML")
            })
    })
}

fn parse_x509(der: &[u8]) -> Result<ParsedCertificate, Error> {
    let cert = x509_cert::Certificate::from_der(der)
        .map_err(|e| invalid(format!("the X.509 certificate is malformed ({e})")))?;
    let spki = cert
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|_| invalid("the certificate's key is malformed"))?;
    let not_after = cert.tbs_certificate.validity.not_after.to_unix_duration().as_secs() as i64;
    Ok(ParsedCertificate { key: parse_spki(&spki)?, format: KeyFormat::X509, not_after: Some(not_after), kid: None })
}

fn parse_spki(der: &[u8]) -> Result<PublicKey, Error> {
    let spki = spki::SubjectPublicKeyInfoRef::from_der(der)
        .map_err(|e| invalid(format!("the public key is malformed ({e})")))?;
    let bits = spki.subject_public_key.as_bytes().ok_or_else(|| invalid("the public key bit string is malformed"))?;
    match spki.algorithm.oid.to_string().as_str() {
        OID_RSA => {
            let k = pkcs1::RsaPublicKey::from_der(bits).map_err(|_| invalid("the RSA public key is malformed"))?;
            Ok(PublicKey::Rsa { n: k.modulus.as_bytes().to_vec(), e: k.public_exponent.as_bytes().to_vec() })
        }
        OID_EC => {
            let curve =
                spki.algorithm.parameters_oid().map_err(|_| invalid("the EC key does not name its curve"))?.to_string();
            let (crv, len) = match curve.as_str() {
                OID_P256 => ("P-256", 32),
                OID_P384 => ("P-384", 48),
                _ => return Err(invalid("only the P-256 and P-384 curves are supported")),
            };
            if bits.len() != 1 + 2 * len || bits[0] != 4 {
                return Err(invalid("the EC point must be uncompressed"));
            }
            Ok(PublicKey::Ec { crv, x: bits[1..=len].to_vec(), y: bits[len + 1..].to_vec() })
        }
        OID_ED25519 => Ok(PublicKey::Ed25519 { x: bits.to_vec() }),
        other => Err(invalid(format!("key algorithm {other} is not supported; use RSA, EC P-256/P-384 or Ed25519"))),
    }
}

fn parse_jwk(text: &str) -> Result<PublicKey, Error> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| invalid(format!("the JWK is not valid JSON ({e})")))?;
    let jwk = match value.get("keys") {
        Some(serde_json::Value::Array(keys)) if keys.len() == 1 => &keys[0],
        Some(_) => return Err(invalid("a JWK Set must hold exactly one key; upload keys one at a time")),
        None => &value,
    };
    let member = |name: &'static str| -> Result<Vec<u8>, Error> {
        let s = jwk.get(name).and_then(|v| v.as_str()).ok_or_else(|| invalid(format!("the JWK has no '{name}'")))?;
        b64url_decode(s).ok_or_else(|| invalid(format!("the JWK's '{name}' is not base64url")))
    };
    for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
        if jwk.get(private).is_some() {
            return Err(private_key_refused());
        }
    }
    match jwk.get("kty").and_then(|v| v.as_str()) {
        Some("RSA") => Ok(PublicKey::Rsa { n: member("n")?, e: member("e")? }),
        Some("EC") => {
            let crv = match jwk.get("crv").and_then(|v| v.as_str()) {
                Some("P-256") => "P-256",
                Some("P-384") => "P-384",
                _ => return Err(invalid("the EC JWK's 'crv' must be P-256 or P-384")),
            };
            Ok(PublicKey::Ec { crv, x: member("x")?, y: member("y")? })
        }
        Some("OKP") if jwk.get("crv").and_then(|v| v.as_str()) == Some("Ed25519") => {
            Ok(PublicKey::Ed25519 { x: member("x")? })
        }
        Some(other) => Err(invalid(format!("JWK key type '{other}' is not supported; use RSA, EC or OKP (Ed25519)"))),
        None => Err(invalid("the JWK has no 'kty'")),
    }
}

/// Reads the public part of a .NET `RSA.ToXmlString(false)` document.
fn parse_rsa_xml(text: &str) -> Result<PublicKey, Error> {
    let body = element(text, "RSAKeyValue").ok_or_else(|| invalid("expected an <RSAKeyValue> element"))?;
    if ["D", "P", "Q", "DP", "DQ", "InverseQ"].iter().any(|tag| element(body, tag).is_some()) {
        return Err(private_key_refused());
    }
    let field = |tag: &'static str| -> Result<Vec<u8>, Error> {
        let value = element(body, tag).ok_or_else(|| invalid(format!("the <RSAKeyValue> has no <{tag}>")))?;
        b64_decode(value).ok_or_else(|| invalid(format!("<{tag}> is not base64")))
    };
    Ok(PublicKey::Rsa { n: field("Modulus")?, e: field("Exponent")? })
}

/// The text between `<tag>` and `</tag>`; the format is flat, so no XML parser is needed.
fn element<'a>(text: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = text.find(&open)? + open.len();
    let len = text[start..].find(&close)?;
    Some(text[start..start + len].trim())
}

/// Generates an RSA-2048 key pair for an app with aws-lc. The public half is returned as a
/// key to store; the private half goes to the caller once.
pub fn generate_rsa() -> Result<(PublicKey, GeneratedPrivateKey), Error> {
    use aws_lc_rs::encoding::AsDer;
    let pair = RsaKeyPair::generate(KeySize::Rsa2048)
        .map_err(|_| Error::Internal(anyhow::anyhow!("RSA key generation failed")))?;
    let pkcs8 = pair.as_der().map_err(|_| Error::Internal(anyhow::anyhow!("RSA key export failed")))?;
    let info = pkcs8::PrivateKeyInfo::from_der(pkcs8.as_ref())
        .map_err(|e| Error::Internal(anyhow::anyhow!("generated key does not parse: {e}")))?;
    // Reading the PKCS#1 structure is decoding, not a private-key operation.
    let k = pkcs1::RsaPrivateKey::from_der(info.private_key)
        .map_err(|e| Error::Internal(anyhow::anyhow!("generated key does not parse: {e}")))?;
    let n = k.modulus.as_bytes();
    let half = n.len().div_ceil(2);
    // .NET insists on fixed widths: D as long as the modulus, the CRT values half as long.
    let pad = |b: &[u8], width: usize| b64(&[vec![0u8; width.saturating_sub(b.len())], b.to_vec()].concat());
    let rsa_xml = format!(
        "<RSAKeyValue><Modulus>{}</Modulus><Exponent>{}</Exponent><P>{}</P><Q>{}</Q><DP>{}</DP><DQ>{}</DQ><InverseQ>{}</InverseQ><D>{}</D></RSAKeyValue>",
        b64(n),
        b64(k.public_exponent.as_bytes()),
        pad(k.prime1.as_bytes(), half),
        pad(k.prime2.as_bytes(), half),
        pad(k.exponent1.as_bytes(), half),
        pad(k.exponent2.as_bytes(), half),
        pad(k.coefficient.as_bytes(), half),
        pad(k.private_exponent.as_bytes(), n.len()),
    );
    let pem = der::pem::encode_string("PRIVATE KEY", der::pem::LineEnding::LF, pkcs8.as_ref())
        .map_err(|e| Error::Internal(anyhow::anyhow!("PEM encoding failed: {e}")))?;
    let public = PublicKey::Rsa { n: n.to_vec(), e: k.public_exponent.as_bytes().to_vec() }.checked()?;
    Ok((public, GeneratedPrivateKey { pem: Secret::new(pem), rsa_xml: Secret::new(rsa_xml) }))
}

#[cfg(test)]
mod tests;
