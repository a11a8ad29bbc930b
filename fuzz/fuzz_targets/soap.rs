//! The SOAP system-user service's XML, both ways: `superid::soap::parse` on any bytes, and what
//! we write (`superid::soap::response`, `superid::saml::signed`) from any values.
//!
//! Beyond "no panic":
//! - a parse is either a request, whose values write back into a response and read back
//!   unchanged, or a fault whose text is itself well-formed in a fault envelope;
//! - a response envelope parses back, and its Token and ErrorMessage read back exactly;
//! - a SAML assertion parses back, every attribute value of XML characters reads back exactly,
//!   and the digest covers exactly the assertion without its Signature.

#![no_main]

use arbitrary::Arbitrary;
use gatehouse::superid::{saml, soap, system_user::Response};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Map, Value};

#[derive(Arbitrary, Debug)]
enum Input<'a> {
    /// Bytes posted to the service.
    Envelope(&'a [u8]),
    /// Values we write into a response.
    Answer { ok: bool, token: Option<&'a str>, message: &'a str },
    /// Claims we write into a SAML assertion.
    Claims { sub: &'a str, attributes: Vec<(&'a str, &'a str)> },
}

fn xml_chars(s: &str) -> bool {
    s.chars().all(gatehouse::superid::xml::is_xml_char)
}

fuzz_target!(|input: Input<'_>| match input {
    Input::Envelope(bytes) => match soap::parse(bytes) {
        Ok(req) => {
            // What was read is XML text, so it can be written back and read again unchanged.
            let token = req.signed_system_token.unwrap_or_default();
            let answer = Response { is_successful: false, error_message: String::new(), token: Some(token.clone()) };
            let doc = soap::response(&answer);
            let parsed = roxmltree::Document::parse(&doc).expect("a response is well-formed");
            let read = parsed.descendants().find(|n| n.tag_name().name() == "Token").and_then(|n| n.text());
            assert_eq!(read.unwrap_or_default(), token);
        }
        Err(fault) => {
            let doc = soap::fault(&fault);
            roxmltree::Document::parse(&doc).expect("a fault is well-formed");
        }
    },
    Input::Answer { ok, token, message } => {
        if !xml_chars(message) || !token.is_none_or(xml_chars) {
            return;
        }
        let answer = Response { is_successful: ok, error_message: message.into(), token: token.map(str::to_string) };
        let doc = soap::response(&answer);
        let parsed = roxmltree::Document::parse(&doc).expect("a response is well-formed");
        let text = |name: &str| {
            parsed.descendants().find(|n| n.tag_name().name() == name).map(|n| n.text().unwrap_or_default().to_string())
        };
        // XML normalises a bare CR in text to LF unless it was written as a reference; we write one.
        assert_eq!(text("ErrorMessage").as_deref(), Some(message));
        if let Some(t) = token {
            assert_eq!(text("Token").as_deref(), Some(t));
        }
    }
    Input::Claims { sub, attributes } => {
        let mut claims = Map::new();
        claims.insert("sub".into(), json!(sub));
        claims.insert("exp".into(), json!(1_800_000_000));
        for (name, value) in &attributes {
            claims.insert(format!("urn:x:{name}"), Value::String((*value).to_string()));
        }
        let xml = saml::signed(&claims, 1_799_999_000, b"cert", |_| Ok(vec![1, 2, 3])).unwrap();
        let parsed = roxmltree::Document::parse(&xml).expect("an assertion is well-formed");
        for (name, value) in claims.iter().filter(|(n, _)| n.starts_with("urn:x:")) {
            let value = value.as_str().unwrap();
            let found = parsed.descendants().find(|n| n.tag_name().name() == "Attribute" && n.attribute("Name") == Some(name.as_str()));
            if !xml_chars(name) || !xml_chars(value) {
                continue;
            }
            let found = found.expect("every attribute is written");
            assert_eq!(found.first_element_child().and_then(|v| v.text()).unwrap_or_default(), value);
        }
        if xml_chars(sub) {
            let id = parsed.descendants().find(|n| n.tag_name().name() == "NameID").unwrap();
            assert_eq!(id.text().unwrap_or_default(), sub);
        }
        // The enveloped-signature transform's input is the assertion minus its Signature.
        let start = xml.find("<ds:Signature").unwrap();
        let end = xml.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
        let unsigned = format!("{}{}", &xml[..start], &xml[end..]);
        let digest = parsed.descendants().find(|n| n.tag_name().name() == "DigestValue").unwrap().text().unwrap();
        assert_eq!(digest, gatehouse::crypto::b64(&gatehouse::crypto::sha256(unsigned.as_bytes())));
    }
});
