use super::*;

const CERT_PEM: &str = include_str!("../../../tests/fixtures/certs/app-cert.pem");
const CERT_DER: &[u8] = include_bytes!("../../../tests/fixtures/certs/app-cert.der");
const SPKI_PEM: &str = include_str!("../../../tests/fixtures/certs/app-public.pem");
const PKCS1_PEM: &str = include_str!("../../../tests/fixtures/certs/app-rsa-public.pem");
const PRIVATE_PEM: &str = include_str!("../../../tests/fixtures/certs/app-private.pem");
const WEAK_PEM: &str = include_str!("../../../tests/fixtures/certs/weak-rsa1024-public.pem");
const EC_PEM: &str = include_str!("../../../tests/fixtures/certs/ec-p256-public.pem");
const ED_PEM: &str = include_str!("../../../tests/fixtures/certs/ed25519-public.pem");

fn message(r: Result<ParsedCertificate, Error>) -> String {
    r.unwrap_err().to_string()
}

#[test]
fn every_format_of_one_key_normalises_to_the_same_jwk() {
    let from_cert = parse(CERT_PEM.as_bytes()).unwrap();
    assert_eq!(from_cert.format, KeyFormat::X509);
    assert!(from_cert.not_after.unwrap() > 1_700_000_000);
    assert_eq!(from_cert.key.rsa_bits(), 2048);
    let kid = from_cert.key.thumbprint();
    for input in [CERT_DER, SPKI_PEM.as_bytes(), PKCS1_PEM.as_bytes()] {
        assert_eq!(parse(input).unwrap().key.thumbprint(), kid);
    }
    let jwk = from_cert.key.to_jwk();
    assert_eq!(jwk["kid"], kid.as_str());
    let via_jwk = parse(jwk.to_string().as_bytes()).unwrap();
    assert_eq!(via_jwk.format, KeyFormat::Jwk);
    assert_eq!(via_jwk.key, from_cert.key);
    let jwks = serde_json::json!({ "keys": [jwk] }).to_string();
    assert_eq!(parse(jwks.as_bytes()).unwrap().key, from_cert.key);

    let PublicKey::Rsa { n, e } = &from_cert.key else { panic!("not RSA") };
    let xml = format!(
        "<RSAKeyValue>\n  <Modulus>{}</Modulus>\n  <Exponent>{}</Exponent>\n</RSAKeyValue>",
        crate::crypto::b64(n),
        crate::crypto::b64(e)
    );
    let via_xml = parse(xml.as_bytes()).unwrap();
    assert_eq!(via_xml.format, KeyFormat::RsaXml);
    assert_eq!(via_xml.key, from_cert.key);
}

#[test]
fn ec_and_ed25519_keys_are_accepted() {
    let ec = parse(EC_PEM.as_bytes()).unwrap();
    assert_eq!(ec.key.kty(), "EC");
    assert_eq!(ec.key.to_jwk()["crv"], "P-256");
    assert_eq!(parse(ec.key.to_jwk().to_string().as_bytes()).unwrap().key, ec.key);
    let ed = parse(ED_PEM.as_bytes()).unwrap();
    assert_eq!(ed.key.to_jwk()["crv"], "Ed25519");
}

#[test]
fn weak_private_and_malformed_keys_are_refused_with_a_reason() {
    assert!(message(parse(WEAK_PEM.as_bytes())).contains("1024 bits; at least 2048"));
    assert!(message(parse(PRIVATE_PEM.as_bytes())).contains("private key"));
    assert!(message(parse(b"")).contains("empty"));
    assert!(
        message(parse(b"-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----")).contains("malformed")
    );
    assert!(message(parse(b"\x30\x03\x02\x01\x00")).contains("not a recognised format"));
    assert!(message(parse(br#"{"kty":"RSA","n":"AQAB"}"#)).contains("no 'e'"));
    assert!(message(parse(br#"{"kty":"oct","k":"AAAA"}"#)).contains("private key"));
    assert!(message(parse(br#"{"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA"}"#)).contains("32 bytes"));
    assert!(message(parse(br#"{"keys":[]}"#)).contains("exactly one key"));
    assert!(message(parse(b"<RSAKeyValue><Modulus>AQAB</Modulus></RSAKeyValue>")).contains("<Exponent>"));
    assert!(message(parse(b"<RSAKeyValue><Modulus>AQAB</Modulus><Exponent>AQAB</Exponent><D>AQ==</D></RSAKeyValue>"))
        .contains("private key"));
    assert!(message(parse(&vec![b'a'; MAX_UPLOAD_BYTES + 1])).contains("larger"));
    // A full-size modulus that is even cannot be an RSA key: aws-lc's check refuses it.
    let even = format!(
        r#"{{"kty":"RSA","n":"{}","e":"AQAB"}}"#,
        crate::crypto::b64url(&[vec![0xC0], vec![0u8; 255]].concat())
    );
    assert!(message(parse(even.as_bytes())).contains("not valid"));
}

#[test]
fn a_generated_key_pair_signs_what_its_stored_public_key_verifies() {
    use aws_lc_rs::signature::{RsaKeyPair, UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256};
    let (public, private) = generate_rsa().unwrap();
    assert_eq!(public.rsa_bits(), 2048);
    let (label, der) = der::pem::decode_vec(private.pem.expose().as_bytes()).unwrap();
    assert_eq!(label, "PRIVATE KEY");
    let pair = RsaKeyPair::from_pkcs8(&der).unwrap();
    let mut sig = vec![0u8; pair.public_modulus_len()];
    pair.sign(&RSA_PKCS1_SHA256, &aws_lc_rs::rand::SystemRandom::new(), b"token.202611221300", &mut sig).unwrap();
    let PublicKey::Rsa { n, e } = &public else { panic!("not RSA") };
    let der = rsa_public_der(n, e).unwrap();
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, der).verify(b"token.202611221300", &sig).unwrap();

    let xml = private.rsa_xml.expose();
    for tag in ["Modulus", "Exponent", "P", "Q", "DP", "DQ", "InverseQ", "D"] {
        assert!(element(xml, tag).is_some(), "missing <{tag}>");
    }
    assert_eq!(b64_decode(element(xml, "D").unwrap()).unwrap().len(), 256);
    assert_eq!(b64_decode(element(xml, "P").unwrap()).unwrap().len(), 128);
    // The XML's public part is the stored key.
    assert!(message(parse(xml.as_bytes())).contains("private key"));
    assert!(!format!("{:?}", private.pem).contains("PRIVATE"));
}

/// Found by the `certificate` fuzz target: an RSA XML upload whose `<Exponent>` had a leading
/// zero octet (`AHH///8=`) was stored with it, so the same key got another `kid` than its PEM.
#[test]
fn leading_zero_octets_do_not_change_an_rsa_key_or_its_kid() {
    let pem = parse(SPKI_PEM.as_bytes()).unwrap().key;
    let PublicKey::Rsa { n, e } = &pem else { panic!("not RSA") };
    let padded = |b: &[u8]| [&[0u8, 0][..], b].concat();
    let xml = format!(
        "<RSAKeyValue><Modulus>{}</Modulus><Exponent>{}</Exponent></RSAKeyValue>",
        crate::crypto::b64(&padded(n)),
        crate::crypto::b64(&padded(e))
    );
    let jwk = serde_json::json!({"kty": "RSA", "n": b64url(&padded(n)), "e": b64url(&padded(e))}).to_string();
    for upload in [xml.as_bytes(), jwk.as_bytes()] {
        let key = parse(upload).unwrap().key;
        assert_eq!(key, pem);
        assert_eq!(key.thumbprint(), pem.thumbprint());
    }
    // The exponent of the fuzzer's input: 0x71ffffff, sent as five octets.
    let xml =
        format!("<RSAKeyValue><Modulus>{}</Modulus><Exponent>AHH///8=</Exponent></RSAKeyValue>", crate::crypto::b64(n));
    let PublicKey::Rsa { e, .. } = parse(xml.as_bytes()).unwrap().key else { panic!("not RSA") };
    assert_eq!(e, [0x71, 0xff, 0xff, 0xff]);
}
