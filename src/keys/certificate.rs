//! Self-signed X.509 certificates of the server's RSA signing keys, published as `x5c` and
//! downloadable, for partners who validate tokens with a certificate (SuperOffice's
//! `SuperOfficeFederatedLogin.crt`) rather than a JWK.
//!
//! A certificate is a pure function of the key and its creation time: the serial is derived
//! from the public key, the validity from `created_at`, and RSASSA-PKCS1-v1_5 signatures are
//! deterministic. So every instance builds the same bytes and nothing new is stored.

use std::str::FromStr;
use std::time::{Duration, UNIX_EPOCH};

use der::asn1::BitString;
use der::{Any, Encode};
use spki::{AlgorithmIdentifierOwned, ObjectIdentifier, SubjectPublicKeyInfoOwned};
use x509_cert::certificate::{Certificate, TbsCertificate, Version};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};

use crate::crypto::sha256;
use crate::jose::{Alg, KeyPair};

const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const SHA256_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
/// Longer than any key stays published: rotation retires keys long before this.
const VALIDITY_SECS: u64 = 10 * 365 * 86_400;

/// The DER certificate of an RSA key pair, named after its `kid`.
pub fn self_signed(pair: &KeyPair, kid: &str, created_at: i64) -> anyhow::Result<Vec<u8>> {
    let KeyPair::Rsa(rsa) = pair else { anyhow::bail!("only RSA signing keys get a certificate") };
    let pkcs1 = aws_lc_rs::signature::KeyPair::public_key(rsa).as_ref().to_vec();
    let rsa_alg = AlgorithmIdentifierOwned { oid: RSA_ENCRYPTION, parameters: Some(Any::null()) };
    let signature_alg = AlgorithmIdentifierOwned { oid: SHA256_WITH_RSA, parameters: Some(Any::null()) };
    // A positive 16-byte serial from the key (RFC 5280 §4.1.2.2: at most 20 octets, positive).
    let mut serial = sha256(&pkcs1)[..16].to_vec();
    serial[0] &= 0x7f;
    serial[0] |= 0x01;
    let name = Name::from_str(&format!("CN=Gatehouse token signing key {}", kid.replace(['=', '+', ',', '\\'], "")))?;
    let not_before = UNIX_EPOCH + Duration::from_secs(created_at.max(0) as u64);
    let tbs = TbsCertificate {
        version: Version::V3,
        serial_number: SerialNumber::new(&serial)?,
        signature: signature_alg.clone(),
        issuer: name.clone(),
        validity: Validity {
            not_before: Time::try_from(not_before)?,
            not_after: Time::try_from(not_before + Duration::from_secs(VALIDITY_SECS))?,
        },
        subject: name,
        subject_public_key_info: SubjectPublicKeyInfoOwned {
            algorithm: rsa_alg,
            subject_public_key: BitString::from_bytes(&pkcs1)?,
        },
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: None,
    };
    let signature = pair.sign_raw(Alg::RS256, &tbs.to_der()?)?;
    let cert = Certificate {
        tbs_certificate: tbs,
        signature_algorithm: signature_alg,
        signature: BitString::from_bytes(&signature)?,
    };
    Ok(cert.to_der()?)
}

/// PEM text of a DER certificate.
pub fn pem(der: &[u8]) -> String {
    der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, der).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use der::Decode;

    use super::*;

    #[test]
    fn a_certificate_is_the_same_whenever_it_is_built_and_carries_the_key() {
        let (pair, _) = KeyPair::generate(Alg::RS256).unwrap();
        let a = self_signed(&pair, "k1", 1_790_000_000).unwrap();
        let b = self_signed(&pair, "k1", 1_790_000_000).unwrap();
        assert_eq!(a, b, "every instance must publish the same certificate");
        let parsed = crate::jose::certificate::parse(pem(&a).as_bytes()).unwrap();
        assert_eq!(parsed.key, pair.public_key().unwrap());
        let cert = Certificate::from_der(&a).unwrap();
        assert_eq!(cert.tbs_certificate.validity.not_before.to_unix_duration().as_secs(), 1_790_000_000);
        // The self-signature verifies with the certificate's own key.
        let tbs = cert.tbs_certificate.to_der().unwrap();
        assert!(pair.public_key().unwrap().verify("RS256", &tbs, cert.signature.raw_bytes()));
    }
}
