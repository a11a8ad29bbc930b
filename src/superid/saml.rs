//! The SAML 2.0 form of a system-user answer (`ReturnTokenType` `Saml`; deprecated by
//! SuperOffice, kept for older SDKs): an assertion carrying the same claims as attributes,
//! with an enveloped XML signature (RSA-SHA256, exclusive c14n) by the key that signs SuperID
//! JWTs, whose certificate is in `KeyInfo`. Returned base64-encoded, as SuperID does.
//!
//! The assertion is written directly in canonical form (`super::xml`), so the digest is over
//! the bytes sent, minus the `Signature` element that the enveloped-signature transform
//! removes.

use serde_json::{Map, Value};

use super::xml::{attr, is_xml_char, text};
use crate::clock::xml_datetime;
use crate::crypto::{b64, random_id, sha256};
use crate::jose::Alg;
use crate::keys::Keys;

const SAML: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
const DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";
const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
/// JWT claims that become the assertion's own parts rather than attributes.
const STRUCTURAL: [&str; 7] = ["iss", "aud", "sub", "iat", "nbf", "exp", "jti"];

/// The signed assertion of these claims, base64-encoded.
pub fn assertion(keys: &Keys, now: i64, claims: &Map<String, Value>) -> anyhow::Result<String> {
    let key = keys.signer(Alg::RS256).ok_or_else(|| anyhow::anyhow!("no current RS256 key"))?;
    let certificate = keys.certificate(&key.kid).ok_or_else(|| anyhow::anyhow!("the RS256 key has no certificate"))?;
    let xml = signed(claims, now, &certificate, |signed_info| key.sign_raw(signed_info))?;
    Ok(b64(xml.as_bytes()))
}

/// Builds and signs the assertion; `sign` signs the canonical `SignedInfo` with RSA-SHA256.
pub fn signed(
    claims: &Map<String, Value>,
    now: i64,
    certificate: &[u8],
    sign: impl FnOnce(&[u8]) -> anyhow::Result<Vec<u8>>,
) -> anyhow::Result<String> {
    let str_claim = |name: &str| claims.get(name).and_then(Value::as_str).unwrap_or_default();
    let int_claim = |name: &str| claims.get(name).and_then(Value::as_i64).unwrap_or(now);
    // An xs:ID must not start with a digit.
    let id = format!("_{}", random_id());
    let issuer = format!("<saml:Issuer>{}</saml:Issuer>", text(str_claim("iss")));
    let not_on_or_after = xml_datetime(int_claim("exp"));
    let mut body = String::new();
    body.push_str(&format!(
        "<saml:Subject><saml:NameID>{}</saml:NameID><saml:SubjectConfirmation Method=\"urn:oasis:names:tc:SAML:2.0:cm:bearer\">\
         <saml:SubjectConfirmationData NotOnOrAfter=\"{not_on_or_after}\"></saml:SubjectConfirmationData>\
         </saml:SubjectConfirmation></saml:Subject>",
        text(str_claim("sub"))
    ));
    body.push_str(&format!(
        "<saml:Conditions NotBefore=\"{}\" NotOnOrAfter=\"{not_on_or_after}\"><saml:AudienceRestriction>\
         <saml:Audience>{}</saml:Audience></saml:AudienceRestriction></saml:Conditions>",
        xml_datetime(int_claim("nbf")),
        text(str_claim("aud"))
    ));
    body.push_str("<saml:AttributeStatement>");
    for (name, value) in claims.iter().filter(|(name, _)| !STRUCTURAL.contains(&name.as_str())) {
        let value = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        // A value XML cannot carry is left out whole rather than sent altered.
        if !value.chars().all(is_xml_char) || !name.chars().all(is_xml_char) {
            continue;
        }
        body.push_str(&format!(
            "<saml:Attribute Name=\"{}\"><saml:AttributeValue>{}</saml:AttributeValue></saml:Attribute>",
            attr(name),
            text(&value)
        ));
    }
    body.push_str("</saml:AttributeStatement>");
    let open = format!(
        "<saml:Assertion xmlns:saml=\"{SAML}\" ID=\"{id}\" IssueInstant=\"{}\" Version=\"2.0\">",
        xml_datetime(now)
    );
    let close = "</saml:Assertion>";
    // The enveloped-signature transform removes the Signature; what is left is this, already
    // canonical.
    let unsigned = format!("{open}{issuer}{body}{close}");
    let digest = b64(&sha256(unsigned.as_bytes()));
    let signed_info_inner = format!(
        "<ds:CanonicalizationMethod Algorithm=\"{EXC_C14N}\"></ds:CanonicalizationMethod>\
         <ds:SignatureMethod Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256\"></ds:SignatureMethod>\
         <ds:Reference URI=\"#{id}\"><ds:Transforms>\
         <ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"></ds:Transform>\
         <ds:Transform Algorithm=\"{EXC_C14N}\"></ds:Transform></ds:Transforms>\
         <ds:DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"></ds:DigestMethod>\
         <ds:DigestValue>{digest}</ds:DigestValue></ds:Reference>"
    );
    // Canonicalised on its own, SignedInfo declares the one namespace it uses (exc-c14n
    // renders `ds` there, not `saml`, which it does not use).
    let canonical_signed_info = format!("<ds:SignedInfo xmlns:ds=\"{DSIG}\">{signed_info_inner}</ds:SignedInfo>");
    let signature = b64(&sign(canonical_signed_info.as_bytes())?);
    let signature_element = format!(
        "<ds:Signature xmlns:ds=\"{DSIG}\"><ds:SignedInfo>{signed_info_inner}</ds:SignedInfo>\
         <ds:SignatureValue>{signature}</ds:SignatureValue><ds:KeyInfo><ds:X509Data>\
         <ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></ds:Signature>",
        b64(certificate)
    );
    Ok(format!("{open}{issuer}{signature_element}{body}{close}"))
}
