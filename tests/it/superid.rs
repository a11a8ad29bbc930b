//! SuperID as SuperOffice's own clients use it (issue 21): the `7T:` ticket, the URL claims,
//! an identical signed string sent twice, the SAML form, the SOAP service and its WSDL, the
//! SuperID JWKS order and certificates, the tenant form of the authorize path, PKCE as a
//! per-app legacy opt-out, and the documented claims. The clients SuperOffice publishes run
//! against a real server in `conformance/superoffice`.

use serde_json::{json, Value};

use crate::harness::signin::{authorize_url, redeem, world, Browser, PASSWORD, REDIRECT};
use crate::harness::system_user::{exchange, request, sign, stamp, story, Story};
use crate::harness::{http, TestServer};
use gatehouse::apps::{Access, NewApp, Template};
use gatehouse::secret::Secret;

const TICKET: &str = "http://schemes.superoffice.net/identity/ticket";
const SUPERID: &str = "http://schemes.superoffice.net/identity/";
const SOAP_PATH: &str = "/login/Services/PartnerSystemUserService.svc";
const ACTION: &str =
    "\"http://www.superoffice.com/superid/partnersystemuser/0.1/IPartnerSystemUserService/Authenticate\"";

fn payload(jwt: &str) -> Value {
    serde_json::from_slice(&gatehouse::crypto::b64url_decode(jwt.split('.').nth(1).unwrap()).unwrap()).unwrap()
}

async fn introspect(base: &str, client_id: &str, secret: &str, token: &str) -> Value {
    let res = http()
        .post(format!("{base}/introspect"))
        .basic_auth(client_id, Some(secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// A system-user JWT for a fresh signature at the server's current minute (minus `ago` s).
async fn system_jwt(srv: &TestServer, s: &Story, ago: i64) -> String {
    let signed = sign(&s.rsa_xml, &s.system_token, &stamp(srv.clock.now() - ago));
    let answer = exchange(srv, request(s, &signed)).await;
    answer["Token"].as_str().unwrap_or_else(|| panic!("{answer}")).to_string()
}

async fn count(srv: &TestServer, table: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM {table}");
    gatehouse::on_db!(&srv.state.store.db, pool => sqlx::query_scalar::<_, i64>(&sql).fetch_one(pool).await.unwrap())
}

/// Another confidential app of a new partner: it knows nothing of the story's tickets.
async fn stranger(srv: &TestServer, name: &str) -> (String, String) {
    let partner = srv.state.directory.add_partner(name, "test").await.unwrap().id;
    let created = srv
        .state
        .registry
        .create(
            NewApp {
                partner_id: partner,
                name: name.into(),
                template: Template::ServerToServer,
                redirect_uris: vec![REDIRECT.into()],
                access: Access::Private,
                technical_contact: None,
                justification: None,
            },
            "test",
        )
        .await
        .unwrap();
    (created.app.client_id, created.client_secret.unwrap().secret.expose().clone())
}

both_backends!(
    env [
        ("GATEHOUSE_OUTBOUND_ALLOW_PRIVATE_NETWORKS", "true"),
        ("GATEHOUSE_SUPERID_NETSERVER_URL", "https://{ctx}.example.com/Remote/Services88/"),
    ];
    async fn a_system_user_gets_a_ticket_that_slides_and_ends_with_the_approval(srv) {
        let s = story(&srv).await;
        let claims = payload(&system_jwt(&srv, &s, 0).await);
        // Issue 21 items 1 and 2: the ticket and the tenant's URLs are in the JWT.
        let ticket = claims[TICKET].as_str().expect("the system-user JWT carries a ticket").to_string();
        assert!(ticket.starts_with("7T:"), "{ticket}");
        assert_eq!(claims[format!("{SUPERID}webapi_url")], "https://CustS.example.com/api/");
        assert_eq!(claims[format!("{SUPERID}netserver_url")], "https://CustS.example.com/Remote/Services88/");
        // The app introspects its own ticket: valid six hours, bound to app and tenant.
        let start = srv.clock.now();
        let seen = introspect(&srv.base, &s.client_id, &s.secret, &ticket).await;
        assert_eq!(seen["active"], true, "{seen}");
        assert_eq!(seen["token_type"], "SOTicket");
        assert_eq!(seen["client_id"], s.client_id.as_str());
        assert_eq!(seen["http://schemes.superoffice.net/identity/ctx"], "CustS");
        assert_eq!(seen["sub"], format!("system:{}:CustS", s.client_id));
        assert_eq!(seen["exp"], start + 6 * 3600);
        // Another app sees an inactive token; the tenants' API, when configured, sees it.
        let (api_id, api_secret) = stranger(&srv, "Tenant API").await;
        assert_eq!(introspect(&srv.base, &api_id, &api_secret, &ticket).await, json!({ "active": false }));
        let api = srv.another_instance_with(&[("GATEHOUSE_SUPERID_TICKET_AUDIENCE", api_id.as_str())]).await;
        let seen = introspect(&api.base, &api_id, &api_secret, &ticket).await;
        assert_eq!(seen["active"], true, "{seen}");
        assert_eq!(seen["aud"], api_id.as_str());
        // Sliding: a use five hours later moves the end to six hours after that use.
        srv.clock.advance(5 * 3600);
        let seen = introspect(&srv.base, &s.client_id, &s.secret, &ticket).await;
        assert_eq!(seen["exp"], start + 11 * 3600, "{seen}");
        // Six hours and a second without a use: gone.
        srv.clock.advance(6 * 3600 + 1);
        assert_eq!(introspect(&srv.base, &s.client_id, &s.secret, &ticket).await["active"], false);
        // A ticket used every five hours still ends seven days after it was issued.
        let busy = payload(&system_jwt(&srv, &s, 0).await)[TICKET].as_str().unwrap().to_string();
        let issued = srv.clock.now();
        let mut last_active = issued;
        for _ in 0..40 {
            srv.clock.advance(5 * 3600);
            if introspect(&srv.base, &s.client_id, &s.secret, &busy).await["active"] != true {
                break;
            }
            last_active = srv.clock.now();
        }
        assert!(last_active < issued + 7 * 86_400 && last_active > issued + 6 * 86_400, "{}", last_active - issued);
        // Revoking the tenant's approval ends a live ticket at once, and the app's own
        // revocation (RFC 7009) ends one too.
        let live = payload(&system_jwt(&srv, &s, 0).await)[TICKET].as_str().unwrap().to_string();
        let other = payload(&system_jwt(&srv, &s, 60).await)[TICKET].as_str().unwrap().to_string();
        let res = http().post(srv.url("/revoke")).basic_auth(&s.client_id, Some(&s.secret)).form(&[("token", other.as_str())]).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(introspect(&srv.base, &s.client_id, &s.secret, &other).await["active"], false);
        assert_eq!(introspect(&srv.base, &s.client_id, &s.secret, &live).await["active"], true);
        let app = srv.state.registry.get(&s.client_id).await.unwrap();
        srv.state.approvals.end("CustS", &app, gatehouse::approvals::End::Revoked, "test").await.unwrap();
        assert_eq!(introspect(&srv.base, &s.client_id, &s.secret, &live).await["active"], false);
        // Approving again does not bring the old ticket back.
        srv.state.approvals.approve("CustS", &app, None, "test").await.unwrap();
        assert_eq!(introspect(&srv.base, &s.client_id, &s.secret, &live).await["active"], false);
    }
);

both_backends!(
    async fn the_same_signed_string_twice_gets_the_first_answer_not_a_second_ticket(srv) {
        // Issue 21 item 5: SuperOffice.SystemUser.Client signs the same text in the same minute
        // for the JWT and then the ticket.
        let s = story(&srv).await;
        let signed = sign(&s.rsa_xml, &s.system_token, &stamp(srv.clock.now()));
        let first = exchange(&srv, request(&s, &signed)).await;
        let jwt = first["Token"].as_str().unwrap().to_string();
        let tickets = count(&srv, "system_user_tickets").await;
        for spelling in ["Jwt", "jwt", "JWT"] {
            let mut body = request(&s, &signed);
            body["ReturnTokenType"] = json!(spelling);
            let again = exchange(&srv, body).await;
            assert_eq!(again["Token"], jwt.as_str(), "{spelling}: {again}");
        }
        assert_eq!(count(&srv, "system_user_tickets").await, tickets, "no second ticket");
        // The SAML form of the same answer carries the same ticket.
        let mut body = request(&s, &signed);
        body["ReturnTokenType"] = json!("Saml");
        let saml = exchange(&srv, body).await;
        let xml = String::from_utf8(gatehouse::crypto::b64_decode(saml["Token"].as_str().unwrap()).unwrap()).unwrap();
        assert!(xml.contains(payload(&jwt)[TICKET].as_str().unwrap()), "{xml}");
        // What the database keeps for the retry does not show the ticket.
        let ticket = payload(&jwt)[TICKET].as_str().unwrap().to_string();
        let sealed: Vec<Vec<u8>> = gatehouse::on_db!(&srv.state.store.db, pool => {
            sqlx::query_scalar("SELECT sealed FROM system_user_replays WHERE sealed IS NOT NULL").fetch_all(pool).await.unwrap()
        });
        assert_eq!(sealed.len(), 1);
        assert!(!sealed[0].windows(ticket.len()).any(|w| w == ticket.as_bytes()));
        // Five identical requests at once: one ticket, five identical answers.
        let signed = sign(&s.rsa_xml, &s.system_token, &stamp(srv.clock.now() - 60));
        let tickets = count(&srv, "system_user_tickets").await;
        let answers = crate::harness::join_all((0..5).map(|_| exchange(&srv, request(&s, &signed)))).await;
        assert!(answers.iter().all(|a| a["IsSuccessful"] == true && a["Token"] == answers[0]["Token"]), "{answers:?}");
        assert_eq!(count(&srv, "system_user_tickets").await, tickets + 1);
        // Outside its window the string is refused as any stale one is, not answered again.
        srv.clock.advance(6 * 60);
        let late = exchange(&srv, request(&s, &signed)).await;
        assert!(late["ErrorMessage"].as_str().unwrap().contains("Error 6"), "{late}");
        // Nor is it answered again once the tenant stops approving the app.
        let signed = sign(&s.rsa_xml, &s.system_token, &stamp(srv.clock.now()));
        assert_eq!(exchange(&srv, request(&s, &signed)).await["IsSuccessful"], true);
        gatehouse::on_db!(&srv.state.store.db, pool => {
            sqlx::query("UPDATE authorization_records SET status = 'needs-reapproval'").execute(pool).await.unwrap();
        });
        let refused = exchange(&srv, request(&s, &signed)).await;
        assert!(refused["ErrorMessage"].as_str().unwrap().contains("Error 5"), "{refused}");
        let trail = srv.state.store.audit_trail("CustS", 100).await.unwrap();
        assert!(trail.iter().any(|e| e.action == "system_user.repeated"));
    }
);

/// The canonical `SignedInfo` and the assertion without its `Signature`, cut from the bytes.
fn signed_parts(xml: &str) -> (String, String) {
    let start = xml.find("<ds:Signature").unwrap();
    let end = xml.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
    let unsigned = format!("{}{}", &xml[..start], &xml[end..]);
    let si_start = xml.find("<ds:SignedInfo>").unwrap() + "<ds:SignedInfo>".len();
    let si_end = xml.find("</ds:SignedInfo>").unwrap();
    let signed_info = format!(
        "<ds:SignedInfo xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\">{}</ds:SignedInfo>",
        &xml[si_start..si_end]
    );
    (signed_info, unsigned)
}

both_backends!(
    async fn the_saml_form_carries_the_claims_and_a_signature_by_the_published_certificate(srv) {
        // Issue 21 item 4. The independent verification (signxml) is in conformance/superoffice.
        let s = story(&srv).await;
        let signed = sign(&s.rsa_xml, &s.system_token, &stamp(srv.clock.now()));
        let mut body = request(&s, &signed);
        body["ReturnTokenType"] = json!("Saml");
        let answer = exchange(&srv, body).await;
        assert_eq!(answer["IsSuccessful"], true, "{answer}");
        let xml = String::from_utf8(gatehouse::crypto::b64_decode(answer["Token"].as_str().unwrap()).unwrap()).unwrap();
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let saml = "urn:oasis:names:tc:SAML:2.0:assertion";
        let root = doc.root_element();
        assert_eq!((root.tag_name().namespace(), root.tag_name().name()), (Some(saml), "Assertion"));
        let text_of = |name: &str| {
            doc.descendants().find(|n| n.tag_name().name() == name).and_then(|n| n.text()).unwrap_or_default().to_string()
        };
        assert_eq!(text_of("Issuer"), "SuperOffice AS");
        let serial = srv.state.directory.tenant("CustS").await.unwrap().serial;
        assert_eq!(text_of("Audience"), format!("spn:{serial}"));
        assert_eq!(text_of("NameID"), format!("system:{}:CustS", s.client_id));
        // superoffice-python-sdk reads the ticket from the Attribute whose attribute values,
        // joined, are the claim name: so Name must be its only attribute.
        let attribute = doc
            .descendants()
            .find(|n| n.tag_name().name() == "Attribute" && n.attribute("Name") == Some(TICKET))
            .expect("a ticket attribute");
        assert_eq!(attribute.attributes().count(), 1);
        let ticket = attribute.first_element_child().unwrap().text().unwrap();
        assert!(ticket.starts_with("7T:"));
        assert_eq!(introspect(&srv.base, &s.client_id, &s.secret, ticket).await["active"], true);
        for claim in ["ctx", "serial", "company_name", "is_system_user", "webapi_url"] {
            let name = format!("{SUPERID}{claim}");
            assert!(doc.descendants().any(|n| n.attribute("Name") == Some(name.as_str())), "{claim}");
        }
        // The digest is over the assertion without its Signature, and the signature over the
        // canonical SignedInfo, by the key whose certificate is in KeyInfo and in the JWKS.
        let (signed_info, unsigned) = signed_parts(&xml);
        assert_eq!(text_of("DigestValue"), gatehouse::crypto::b64(&gatehouse::crypto::sha256(unsigned.as_bytes())));
        let cert = gatehouse::crypto::b64_decode(&text_of("X509Certificate")).unwrap();
        let jwks: Value = http().get(srv.url("/login/.well-known/jwks")).send().await.unwrap().json().await.unwrap();
        assert_eq!(jwks["keys"][0]["x5c"][0], text_of("X509Certificate"));
        let key = gatehouse::jose::certificate::parse(&cert).unwrap().key;
        let signature = gatehouse::crypto::b64_decode(&text_of("SignatureValue")).unwrap();
        assert!(key.verify("RS256", signed_info.as_bytes(), &signature));
        assert!(!key.verify("RS256", unsigned.as_bytes(), &signature));
    }
);

fn envelope(app_token: &str, ctx: &str, signed: &str, token_type: &str) -> String {
    // Byte for byte what suds (superoffice-python-sdk 0.2.8) sends, prefixes included.
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><SOAP-ENV:Envelope xmlns:SOAP-ENV=\"http://schemas.xmlsoap.org/soap/envelope/\" \
         xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:tns=\"http://www.superoffice.com/superid/partnersystemuser/0.1\" \
         xmlns:ns0=\"http://www.superoffice.com/superid/partnersystemuser/0.1\" xmlns:ns1=\"http://schemas.xmlsoap.org/soap/envelope/\">\
         <SOAP-ENV:Header><tns:ApplicationToken>{app_token}</tns:ApplicationToken><tns:ContextIdentifier>{ctx}</tns:ContextIdentifier></SOAP-ENV:Header>\
         <ns1:Body><ns0:AuthenticationRequest><ns0:SignedSystemToken>{signed}</ns0:SignedSystemToken>\
         <ns0:ReturnTokenType>{token_type}</ns0:ReturnTokenType></ns0:AuthenticationRequest></ns1:Body></SOAP-ENV:Envelope>"
    )
}

async fn soap(srv: &TestServer, path: &str, body: impl Into<reqwest::Body>) -> (u16, String) {
    let res = http()
        .post(srv.url(path))
        .header("content-type", "text/xml; charset=utf-8")
        .header("soapaction", ACTION)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let content_type = res.headers()["content-type"].to_str().unwrap().to_string();
    let body = res.text().await.unwrap();
    assert_eq!(content_type, "text/xml; charset=utf-8", "{status} {body}");
    (status, body)
}

/// `(IsSuccessful, Token, ErrorMessage)` of a response envelope, read by namespace.
fn answer_of(xml: &str) -> (bool, Option<String>, String) {
    let doc = roxmltree::Document::parse(xml).unwrap();
    let ns = Some("http://www.superoffice.com/superid/partnersystemuser/0.1");
    let find = |name: &str| doc.descendants().find(|n| n.tag_name().name() == name && n.tag_name().namespace() == ns);
    let ok = find("IsSuccessful").and_then(|n| n.text()) == Some("true");
    let token = find("Token").and_then(|n| n.text()).map(str::to_string);
    let message = find("ErrorMessage").and_then(|n| n.text()).unwrap_or_default().to_string();
    (ok, token, message)
}

fn fault_of(xml: &str) -> String {
    let doc = roxmltree::Document::parse(xml).unwrap();
    let code = doc.descendants().find(|n| n.tag_name().name() == "faultcode").and_then(|n| n.text()).unwrap();
    assert_eq!(code, "s:Client");
    doc.descendants().find(|n| n.tag_name().name() == "faultstring").and_then(|n| n.text()).unwrap().to_string()
}

both_backends!(
    async fn the_soap_service_answers_what_suds_sends_and_faults_on_bad_xml(srv) {
        // Issue 21 items 3 and 4.
        let s = story(&srv).await;
        let now = srv.clock.now();
        let signed = sign(&s.rsa_xml, &s.system_token, &stamp(now));
        let (status, xml) = soap(&srv, SOAP_PATH, envelope(&s.secret, "CustS", &signed, "Jwt")).await;
        assert_eq!(status, 200, "{xml}");
        let (ok, token, _) = answer_of(&xml);
        assert!(ok, "{xml}");
        let claims = payload(&token.unwrap());
        assert!(claims[TICKET].as_str().unwrap().starts_with("7T:"));
        // The other spellings of the path, and Saml.
        for (path, ago) in [("/login/services/PartnerSystemUserService.svc", 60), ("/Login/Services/PartnerSystemUserService.svc", 120)] {
            let signed = sign(&s.rsa_xml, &s.system_token, &stamp(now - ago));
            let (status, xml) = soap(&srv, path, envelope(&s.secret, "CustS", &signed, "Saml")).await;
            assert_eq!(status, 200, "{path}");
            let (ok, token, _) = answer_of(&xml);
            assert!(ok, "{path}: {xml}");
            let saml = String::from_utf8(gatehouse::crypto::b64_decode(&token.unwrap()).unwrap()).unwrap();
            assert!(saml.starts_with("<saml:Assertion"), "{saml}");
        }
        // The documented failures over SOAP: the same codes as over REST, in the answer.
        let (_, other_key) = gatehouse::jose::certificate::generate_rsa().unwrap();
        let cases = [
            ("wrong signature", envelope(&s.secret, "CustS", &sign(other_key.rsa_xml.expose(), &s.system_token, &stamp(now)), "Jwt"), "Error 7"),
            ("stale", envelope(&s.secret, "CustS", &sign(&s.rsa_xml, &s.system_token, &stamp(now - 400)), "Jwt"), "Error 6"),
            ("unknown tenant", envelope(&s.secret, "Nobody", &signed, "Jwt"), "does not exist"),
            ("wrong application token", envelope("nope", "CustS", &signed, "Jwt"), "does not belong to any application"),
            ("unknown token type", envelope(&s.secret, "CustS", &signed, "Xml"), "must be Jwt or Saml"),
            ("no signed token", envelope(&s.secret, "CustS", "", "Jwt"), "SignedSystemToken is required"),
        ];
        for (case, body, expected) in cases {
            let (status, xml) = soap(&srv, SOAP_PATH, body).await;
            assert_eq!(status, 200, "{case}");
            let (ok, token, message) = answer_of(&xml);
            assert!(!ok && token.is_none(), "{case}: {xml}");
            assert!(message.contains(expected), "{case}: {message}");
        }
        // Revoked: Error 1.
        let app = srv.state.registry.get(&s.client_id).await.unwrap();
        srv.state.approvals.end("CustS", &app, gatehouse::approvals::End::Revoked, "test").await.unwrap();
        let (_, xml) = soap(&srv, SOAP_PATH, envelope(&s.secret, "CustS", &sign(&s.rsa_xml, &s.system_token, &stamp(now - 180)), "Jwt")).await;
        assert!(answer_of(&xml).2.contains("Error 1"), "{xml}");
        // XML that is not a request: a SOAP fault and a 400 (a 413 when too large), never a 500.
        let inner = "<ns0:AuthenticationRequest><ns0:SignedSystemToken>&xxe;</ns0:SignedSystemToken></ns0:AuthenticationRequest>";
        let body = |doctype: &str| envelope(&s.secret, "CustS", "x", "Jwt").replace("<SOAP-ENV:Envelope", &format!("{doctype}<SOAP-ENV:Envelope"));
        let xxe = body("<!DOCTYPE e [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>").replace("<ns0:SignedSystemToken>x", "<ns0:SignedSystemToken>&xxe;");
        let laughs = body(&format!(
            "<!DOCTYPE lolz [<!ENTITY lol \"lol\">{}]>",
            (1..10).map(|i| format!("<!ENTITY lol{i} \"{}\">", format!("&lol{};", if i == 1 { String::new() } else { (i - 1).to_string() }).repeat(10))).collect::<String>()
        ));
        let undefined = envelope(&s.secret, "CustS", "x", "Jwt").replace("<ns0:AuthenticationRequest>", "").replace("</ns0:AuthenticationRequest>", inner);
        let cases: Vec<(&str, String, &str)> = vec![
            ("external entity", xxe, "Document type declarations are not accepted."),
            ("billion laughs", laughs, "Document type declarations are not accepted."),
            ("undefined entity", undefined, "not well-formed"),
            ("not XML", "SignedSystemToken=x".into(), "not well-formed"),
            ("not SOAP", "<AuthenticationRequest/>".into(), "not a SOAP 1.1 envelope"),
            ("an element flood", envelope(&s.secret, "CustS", &"<a></a>".repeat(2000), "Jwt"), "too many XML nodes"),
        ];
        for (case, body, expected) in cases {
            let (status, xml) = soap(&srv, SOAP_PATH, body).await;
            assert_eq!(status, 400, "{case}: {xml}");
            assert!(fault_of(&xml).contains(expected), "{case}: {xml}");
        }
        let (status, xml) = soap(&srv, SOAP_PATH, vec![b' '; 70 * 1024]).await;
        assert_eq!(status, 413);
        assert!(fault_of(&xml).contains("64 KiB"));
        let res = http().post(srv.url(SOAP_PATH)).header("soapaction", "\"urn:other\"").body(envelope(&s.secret, "CustS", &signed, "Jwt")).send().await.unwrap();
        assert_eq!(res.status(), 400);
        assert!(fault_of(&res.text().await.unwrap()).contains("Unknown SOAPAction"));
        // The WSDL names this server's address and the one operation.
        let res = http().get(format!("{}?wsdl", srv.url(SOAP_PATH))).send().await.unwrap();
        assert_eq!(res.status(), 200);
        let wsdl = res.text().await.unwrap();
        let doc = roxmltree::Document::parse(&wsdl).unwrap();
        let address = doc.descendants().find(|n| n.tag_name().name() == "address").unwrap();
        assert_eq!(address.attribute("location"), Some(srv.url(SOAP_PATH).as_str()));
        assert!(doc.descendants().any(|n| n.tag_name().name() == "operation" && n.attribute("name") == Some("Authenticate")));
    }
);

both_backends!(
    async fn the_superid_jwks_lists_the_signing_rsa_key_first_with_a_certificate(srv) {
        // Issue 21 item 6: SuperOffice's Python sample verifies with keys[0].
        let s = story(&srv).await;
        let jwt = system_jwt(&srv, &s, 0).await;
        let kid = {
            let header: Value = serde_json::from_slice(&gatehouse::crypto::b64url_decode(jwt.split('.').next().unwrap()).unwrap()).unwrap();
            header["kid"].as_str().unwrap().to_string()
        };
        let jwks: Value = http().get(srv.url("/login/.well-known/jwks")).send().await.unwrap().json().await.unwrap();
        let first = &jwks["keys"][0];
        assert_eq!(first["kty"], "RSA");
        assert_eq!(first["kid"], kid.as_str(), "keys[0] is the key that signs SuperID tokens");
        let public = gatehouse::jose::PublicKey::from_jwk(first).unwrap();
        let (input, sig) = jwt.rsplit_once('.').unwrap();
        assert!(public.verify("RS256", input.as_bytes(), &gatehouse::crypto::b64url_decode(sig).unwrap()));
        // Every RSA key carries its certificate (x5c, with both thumbprints); EC keys none.
        for key in jwks["keys"].as_array().unwrap() {
            if key["kty"] != "RSA" {
                assert!(key.get("x5c").is_none());
                continue;
            }
            let der = gatehouse::crypto::b64_decode(key["x5c"][0].as_str().unwrap()).unwrap();
            let cert = gatehouse::jose::certificate::parse(&der).unwrap();
            assert_eq!(cert.key, gatehouse::jose::PublicKey::from_jwk(key).unwrap());
            let sha1 = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, &der);
            assert_eq!(key["x5t"], gatehouse::crypto::b64url(sha1.as_ref()));
            assert_eq!(key["x5t#S256"], gatehouse::crypto::b64url(&gatehouse::crypto::sha256(&der)));
        }
        // The standard JWKS is the same set.
        let standard: Value = http().get(srv.url("/jwks")).send().await.unwrap().json().await.unwrap();
        assert_eq!(standard["keys"].as_array().unwrap().len(), jwks["keys"].as_array().unwrap().len());
        // The certificate download is keys[0]'s certificate; another instance serves the same bytes.
        let res = http().get(srv.url("/login/SuperOfficeFederatedLogin.crt")).send().await.unwrap();
        assert_eq!(res.status(), 200);
        let pem = res.text().await.unwrap();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert_eq!(gatehouse::jose::certificate::parse(pem.as_bytes()).unwrap().key, public);
        let other = srv.another_instance().await;
        let again = http().get(format!("{}/login/SuperOfficeFederatedLogin.crt", other.base)).send().await.unwrap().text().await.unwrap();
        assert_eq!(again, pem, "every instance builds the same certificate");
        // After a rotation keys[0] is the new signing key.
        let rotated = srv.state.keys.rotate(gatehouse::jose::Alg::RS256, "test").await.unwrap();
        let jwks: Value = http().get(srv.url("/login/.well-known/jwks")).send().await.unwrap().json().await.unwrap();
        assert_eq!(jwks["keys"][0]["kid"], rotated.kid.as_str());
        assert!(jwks["keys"].as_array().unwrap().iter().any(|k| k["kid"] == kid.as_str() && k.get("x5c").is_some()), "the retired key keeps its certificate");
    }
);

both_backends!(
    async fn the_tenant_form_of_the_authorize_path_signs_in_to_that_tenant(srv) {
        // Issue 21 item 7: /login/{ctx}/oauth/authorize is common plus acr_values=tenant:{ctx}.
        let w = world(&srv).await;
        let dir = &srv.state.directory;
        let partner = srv.state.registry.get(&w.client_id).await.unwrap().partner_id;
        dir.add_tenant("Cust2", "Customer Two", None, Some(&partner), "test").await.unwrap();
        dir.add_user("admin@example.com", None, "Cust2", true, Secret::new(PASSWORD.into()), "test").await.unwrap();
        let url = authorize_url(&srv, &w, &[]).replace("/authorize?", "/login/Cust2/oauth/authorize?");
        let answer = Browser::new().sign_in(&srv, &url, "admin@example.com").await;
        let code = answer.iter().find(|(k, _)| k == "code").unwrap_or_else(|| panic!("{answer:?}")).1.clone();
        let (status, tokens) = redeem(&srv.base, &w, &code).await;
        assert_eq!(status, 200, "{tokens}");
        let id = payload(tokens["id_token"].as_str().unwrap());
        assert_eq!(id[format!("{SUPERID}ctx")], "Cust2");
        // The tenant form of the token path answers like the common one.
        let res = http().post(srv.url("/login/Cust2/oauth/tokens")).basic_auth(&w.client_id, Some(&w.secret))
            .form(&[("grant_type", "authorization_code"), ("code", "unknown"), ("redirect_uri", REDIRECT)]).send().await.unwrap();
        assert_eq!(res.status(), 400);
        assert_eq!(res.json::<Value>().await.unwrap()["error"], "invalid_grant");
    }
);

both_backends!(
    async fn a_confidential_app_may_drop_pkce_and_then_needs_a_nonce(srv) {
        // Issue 21 item 8, RFC 9700 §2.1.1.
        let w = world(&srv).await;
        let set = |pkce: &str| srv.cli(&["app", "set", &w.client_id, "--pkce", pkce], None);
        let mut browser = Browser::new();
        // Required by default: a request without a challenge goes back with invalid_request.
        let no_pkce = authorize_url(&srv, &w, &[("code_challenge", ""), ("code_challenge_method", ""), ("nonce", "n-1")]);
        let answer = browser.sign_in(&srv, &no_pkce, "admin@example.com").await;
        assert!(answer.contains(&("error".into(), "invalid_request".into())), "{answer:?}");
        assert_eq!(set("optional").code, 0);
        let shown = srv.state.registry.get(&w.client_id).await.unwrap();
        assert!(!shown.require_pkce);
        // Optional PKCE: without a nonce still refused; with one, a code, redeemed without a verifier.
        let no_nonce = authorize_url(&srv, &w, &[("code_challenge", ""), ("code_challenge_method", "")]);
        let answer = browser.sign_in(&srv, &no_nonce, "admin@example.com").await;
        assert!(answer.iter().any(|(k, v)| k == "error_description" && v.contains("nonce")), "{answer:?}");
        let answer = browser.sign_in(&srv, &no_pkce, "admin@example.com").await;
        let code = answer.iter().find(|(k, _)| k == "code").unwrap_or_else(|| panic!("{answer:?}")).1.clone();
        let res = http().post(srv.url("/token")).basic_auth(&w.client_id, Some(&w.secret))
            .form(&[("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", REDIRECT)]).send().await.unwrap();
        let tokens: Value = res.json().await.unwrap();
        assert_eq!(payload(tokens["id_token"].as_str().unwrap_or_else(|| panic!("{tokens}")))["nonce"], "n-1");
        // PKCE still works for the app, and is enforced when the code was issued with it.
        let code = crate::harness::signin::code_of(&srv, &mut browser, &w, &[]).await;
        assert_eq!(redeem(&srv.base, &w, &code).await.0, 200);
        // The app page says so.
        assert_eq!(set("required").code, 0);
        assert!(srv.state.registry.get(&w.client_id).await.unwrap().require_pkce);
        // A public client cannot opt out.
        let partner = srv.state.registry.get(&w.client_id).await.unwrap().partner_id;
        let public = crate::harness::signin::public_client(&srv, &partner, "Desktop", "http://127.0.0.1/cb").await;
        let out = srv.cli(&["app", "set", &public.client_id, "--pkce", "optional"], None);
        assert_ne!(out.code, 0);
        assert!(out.stderr.contains("public clients"), "{}", out.stderr);
    }
);

both_backends!(
    async fn the_documented_claims_are_there_and_the_system_token_has_its_shape(srv) {
        // Issue 21 item 9.
        let s = story(&srv).await;
        assert!(s.system_token.starts_with("ERP connector-"), "{}", s.system_token);
        let w = world(&srv).await;
        let mut browser = Browser::new();
        let code = crate::harness::signin::code_of(&srv, &mut browser, &w, &[("scope", "openid profile email")]).await;
        let (_, tokens) = redeem(&srv.base, &w, &code).await;
        let id = payload(tokens["id_token"].as_str().unwrap());
        assert_eq!(id[format!("{SUPERID}identityprovider")], "gatehouse");
        // The administrator was created by the story above without a name: "admin".
        assert_eq!(id[format!("{SUPERID}initials")], "A");
        assert_eq!(id[format!("{SUPERID}so_primary_email_address")], "admin@example.com");
        let associate = id[format!("{SUPERID}associateid")].as_str().unwrap().to_string();
        assert!(associate.parse::<u64>().is_ok_and(|n| n > 0), "{associate}");
        // Stable: the same number at the next sign-in, and another user gets another.
        let code = crate::harness::signin::code_of(&srv, &mut browser, &w, &[]).await;
        let (_, tokens) = redeem(&srv.base, &w, &code).await;
        assert_eq!(payload(tokens["id_token"].as_str().unwrap())[format!("{SUPERID}associateid")], associate.as_str());
        let other = srv.state.directory.add_user("bob@example.com", Some("bob de la cruz"), "Cust1", false, Secret::new(PASSWORD.into()), "test").await.unwrap();
        assert_ne!(other.associate_id.to_string(), associate);
        assert_eq!(gatehouse::oidc::id_token::initials(&other.name), "BDL");
        // Discovery names them (OIDC Discovery §3, claims_supported).
        let doc: Value = http().get(srv.url("/login/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
        for claim in ["associateid", "initials", "so_primary_email_address", "identityprovider", "system_token"] {
            assert!(doc["claims_supported"].as_array().unwrap().iter().any(|c| *c == format!("{SUPERID}{claim}")), "{claim}");
        }
    }
);
