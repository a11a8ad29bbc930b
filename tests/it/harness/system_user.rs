//! The SuperID system-user story: an app with the RSA XML key, a tenant that approved it, and
//! signing the system token as the partner's code does.

use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeyPairComponents, PublicKeyComponents};
use aws_lc_rs::signature::RSA_PKCS1_SHA256;
use serde_json::{json, Value};

use super::signin::{Browser, PASSWORD, REDIRECT};
use super::{http, TestServer};
use gatehouse::apps::{Access, NewApp, Template};
use gatehouse::secret::Secret;

pub struct Story {
    pub(crate) client_id: String,
    pub(crate) secret: String,
    pub(crate) rsa_xml: String,
    pub(crate) system_token: String,
}

pub fn xml_field(xml: &str, tag: &str) -> Vec<u8> {
    let open = format!("<{tag}>");
    let start = xml.find(&open).unwrap() + open.len();
    let end = start + xml[start..].find('<').unwrap();
    let bytes = gatehouse::crypto::b64_decode(&xml[start..end]).unwrap();
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    bytes[first..].to_vec()
}

/// Signs `"<token>.<yyyyMMddHHmm>"` with RSASSA-PKCS1-v1_5 SHA-256 and a key read from .NET
/// RSA XML, as SuperOffice's samples do, and appends `"." + base64(signature)`.
pub fn sign(rsa_xml: &str, token: &str, timestamp: &str) -> String {
    let f = |t| xml_field(rsa_xml, t);
    let components = KeyPairComponents {
        public_key: PublicKeyComponents { n: f("Modulus"), e: f("Exponent") },
        d: f("D"),
        p: f("P"),
        q: f("Q"),
        dP: f("DP"),
        dQ: f("DQ"),
        qInv: f("InverseQ"),
    };
    let key = RsaKeyPair::from_components(&components).unwrap();
    let message = format!("{token}.{timestamp}");
    let mut sig = vec![0u8; key.public_modulus_len()];
    key.sign(&RSA_PKCS1_SHA256, &aws_lc_rs::rand::SystemRandom::new(), message.as_bytes(), &mut sig).unwrap();
    format!("{message}.{}", gatehouse::crypto::b64(&sig))
}

pub fn stamp(unix: i64) -> String {
    // yyyyMMddHHmm from Unix seconds (civil-from-days).
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}{m:02}{d:02}{:02}{:02}", secs / 3600, secs % 3600 / 60)
}

pub async fn story(srv: &TestServer) -> Story {
    let partner = srv.partner().await;
    let dir = &srv.state.directory;
    dir.add_tenant("CustS", "Customer S", None, Some(&partner), "test").await.unwrap();
    dir.add_user("admin@example.com", None, "CustS", true, Secret::new(PASSWORD.into()), "test").await.unwrap();
    let created = srv
        .state
        .registry
        .create(
            NewApp {
                partner_id: partner,
                name: "ERP connector".into(),
                template: Template::ServerToServer,
                redirect_uris: vec![REDIRECT.into()],
                access: Access::Public,
                technical_contact: None,
                justification: None,
            },
            "test",
        )
        .await
        .unwrap();
    let client_id = created.app.client_id.clone();
    let secret = created.client_secret.unwrap().secret.expose().clone();
    let (_, private) = srv.state.registry.generate_certificate(&client_id, None, "test").await.unwrap();
    // The administrator signs in to the app and approves it on the page.
    let url = format!(
        "{}?response_type=code&client_id={client_id}&redirect_uri={}&scope=openid&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
        srv.url("/authorize"),
        form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>()
    );
    let answer = Browser::new().sign_in(srv, &url, "admin@example.com").await;
    let code = answer.iter().find(|(k, _)| k == "code").unwrap().1.clone();
    let tokens: Value = http()
        .post(srv.url("/token"))
        .basic_auth(&client_id, Some(&secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id_token = tokens["id_token"].as_str().unwrap_or_else(|| panic!("{tokens}"));
    let claims: Value =
        serde_json::from_slice(&gatehouse::crypto::b64url_decode(id_token.split('.').nth(1).unwrap()).unwrap())
            .unwrap();
    let system_token = claims["http://schemes.superoffice.net/identity/system_token"]
        .as_str()
        .expect("the administrator's ID token carries the system token")
        .to_string();
    Story { client_id, secret, rsa_xml: private.rsa_xml.expose().clone(), system_token }
}

pub async fn exchange(srv: &TestServer, body: Value) -> Value {
    let res = http().post(srv.url("/Login/api/PartnerSystemUser/Authenticate")).json(&body).send().await.unwrap();
    assert!(res.status() == 200 || res.status() == 400 || res.status() == 413, "{}", res.status());
    res.json().await.unwrap()
}

pub fn request(s: &Story, signed: &str) -> Value {
    json!({ "SignedSystemToken": signed, "ApplicationToken": s.secret, "ContextIdentifier": "CustS", "ReturnTokenType": "JWT" })
}
