//! SuperID's system-user story end to end: a server-to-server app with a generated
//! certificate; a tenant administrator signs in and approves; the app reads the system token
//! from the ID token, signs it the way SuperOffice's samples do (key from RSA XML), exchanges
//! it, and validates the JWT against JWKS. Then every way to get it wrong.

use crate::harness::system_user::*;
use openidconnect::core::{CoreJwsSigningAlgorithm, CoreProviderMetadata};
use openidconnect::{IssuerUrl, JsonWebKey};
use serde_json::{json, Value};

use crate::harness::{http, TestServer};
use gatehouse::apps::Access;

both_backends!(
    async fn a_partner_app_becomes_a_system_user_and_the_jwt_verifies(srv) {
        let s = story(&srv).await;
        let signed = sign(&s.rsa_xml, &s.system_token, &stamp(srv.clock.now()));
        let answer = exchange(&srv, request(&s, &signed)).await;
        assert_eq!(answer["IsSuccessful"], true, "{answer}");
        assert_eq!(answer["ErrorMessage"], "");
        let jwt = answer["Token"].as_str().unwrap();
        // Validate with the openidconnect crate's JWK against our published JWKS.
        let rp = openidconnect::reqwest::ClientBuilder::new().build().unwrap();
        let metadata = CoreProviderMetadata::discover_async(IssuerUrl::new(srv.base.clone()).unwrap(), &rp).await.unwrap();
        let (input, sig) = jwt.rsplit_once('.').unwrap();
        let header: Value = serde_json::from_slice(&gatehouse::crypto::b64url_decode(input.split('.').next().unwrap()).unwrap()).unwrap();
        let key = metadata.jwks().keys().iter().find(|k| k.key_id().map(|i| i.as_str()) == header["kid"].as_str()).unwrap();
        key.verify_signature(&CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256, input.as_bytes(), &gatehouse::crypto::b64url_decode(sig).unwrap()).unwrap();
        let claims: Value = serde_json::from_slice(&gatehouse::crypto::b64url_decode(input.split('.').nth(1).unwrap()).unwrap()).unwrap();
        assert_eq!(claims["iss"], "SuperOffice AS");
        let serial = srv.state.directory.tenant("CustS").await.unwrap().serial;
        assert_eq!(claims["aud"], format!("spn:{serial}"));
        assert_eq!(claims["http://schemes.superoffice.net/identity/ctx"], "CustS");
        assert_eq!(claims["client_id"], s.client_id.as_str());
        // The same signed string twice (SuperOffice.SystemUser.Client does this): the same
        // answer again, not a second credential (see tests/it/superid.rs).
        let again = exchange(&srv, request(&s, &signed)).await;
        assert_eq!(again["Token"], jwt, "{again}");
        // The lower-case alias works too.
        let signed = sign(&s.rsa_xml, &s.system_token, &stamp(srv.clock.now() - 60));
        let res: Value = http().post(srv.url("/login/api/PartnerSystemUser/Authenticate")).json(&request(&s, &signed)).send().await.unwrap().json().await.unwrap();
        assert_eq!(res["IsSuccessful"], true, "{res}");
        // The same approval backs client_credentials in that tenant.
        let res: Value = http().post(srv.url("/token")).basic_auth(&s.client_id, Some(&s.secret))
            .form(&[("grant_type", "client_credentials"), ("ctx", "CustS")]).send().await.unwrap().json().await.unwrap();
        let at: Value = serde_json::from_slice(&gatehouse::crypto::b64url_decode(res["access_token"].as_str().unwrap().split('.').nth(1).unwrap()).unwrap()).unwrap();
        assert_eq!(at["http://schemes.superoffice.net/identity/ctx"], "CustS");
    }
);

both_backends!(
    async fn every_wrong_signed_system_token_gets_its_code_and_nothing_else(srv) {
        let s = story(&srv).await;
        let now = srv.clock.now();
        let good = |ts: i64| sign(&s.rsa_xml, &s.system_token, &stamp(ts));
        let (_, other_key) = gatehouse::jose::certificate::generate_rsa().unwrap();
        let by_other_key = sign(other_key.rsa_xml.expose(), &s.system_token, &stamp(now));
        let mut cases: Vec<(&str, Value, &str)> = vec![
            ("wrong signature", request(&s, &by_other_key), "Error 7"),
            ("6 minutes old", request(&s, &good(now - 360)), "Error 6"),
            ("6 minutes ahead", request(&s, &good(now + 360)), "Error 6"),
            ("not 12 digits", request(&s, &format!("{}.2026112213.c2ln", s.system_token)), "Error 6"),
            ("not a date", request(&s, &format!("{}.202613451299.c2ln", s.system_token)), "Error 6"),
            ("fewer than two dots", request(&s, "justonetoken.c2ln"), "'<system token>.<yyyyMMddHHmm>.<signature>'"),
            ("non-base64 signature", request(&s, &format!("{}.{}.***", s.system_token, stamp(now))), "Error 7"),
            ("another token", request(&s, &sign(&s.rsa_xml, "gatehouse_st_someone-else", &stamp(now))), "does not belong"),
        ];
        let mut unknown_tenant = request(&s, &good(now));
        unknown_tenant["ContextIdentifier"] = json!("NoSuchCust");
        cases.push(("unknown ContextIdentifier", unknown_tenant, "does not exist"));
        let mut wrong_app = request(&s, &good(now));
        wrong_app["ApplicationToken"] = json!("gatehouse_cs_not-a-secret");
        cases.push(("wrong ApplicationToken", wrong_app, "does not belong to any application"));
        let mut wrong_type = request(&s, &good(now));
        wrong_type["ReturnTokenType"] = json!("Xml");
        cases.push(("ReturnTokenType neither Jwt nor Saml", wrong_type, "must be Jwt or Saml"));
        let replays_before = count(&srv, "system_user_replays").await;
        for (case, body, expected) in cases {
            let answer = exchange(&srv, body).await;
            assert_eq!(answer["IsSuccessful"], false, "{case}");
            assert!(answer["Token"].is_null(), "{case}");
            let message = answer["ErrorMessage"].as_str().unwrap();
            assert!(message.contains(expected), "{case}: {message}");
        }
        assert_eq!(count(&srv, "system_user_replays").await, replays_before, "refusals write no replay record");
        // Not JSON, and a body over 64 KiB.
        let res = http().post(srv.url("/Login/api/PartnerSystemUser/Authenticate")).body("not json").send().await.unwrap();
        assert_eq!(res.status(), 400);
        assert_eq!(res.json::<Value>().await.unwrap()["IsSuccessful"], false);
        let res = http().post(srv.url("/Login/api/PartnerSystemUser/Authenticate")).body(vec![b'x'; 70 * 1024]).send().await.unwrap();
        assert_eq!(res.status(), 413);
        // An expired certificate no longer verifies.
        let cert_id = srv.state.registry.certificates(&s.client_id).await.unwrap()[0].id.clone();
        gatehouse::on_db!(&srv.state.store.db, pool => {
            sqlx::query("UPDATE app_certificates SET expires_at = $1 WHERE id = $2").bind(now - 1).bind(&cert_id).execute(pool).await.unwrap();
        });
        let answer = exchange(&srv, request(&s, &good(now))).await;
        assert!(answer["ErrorMessage"].as_str().unwrap().contains("Error 7"), "expired certificate: {answer}");
        gatehouse::on_db!(&srv.state.store.db, pool => {
            sqlx::query("UPDATE app_certificates SET expires_at = NULL").execute(pool).await.unwrap();
        });
        // A revoked certificate no longer verifies.
        let cert = srv.state.registry.certificates(&s.client_id).await.unwrap()[0].id.clone();
        srv.state.registry.revoke_certificate(&s.client_id, &cert, "test").await.unwrap();
        let answer = exchange(&srv, request(&s, &good(now))).await;
        assert!(answer["ErrorMessage"].as_str().unwrap().contains("Error 7"), "{answer}");
        // Record states: needs re-approval (5), denied (4), revoked (1).
        let app = srv.state.registry.get(&s.client_id).await.unwrap();
        gatehouse::on_db!(&srv.state.store.db, pool => {
            sqlx::query("UPDATE authorization_records SET status = 'needs-reapproval'").execute(pool).await.unwrap();
        });
        assert!(exchange(&srv, request(&s, &good(now))).await["ErrorMessage"].as_str().unwrap().contains("Error 5"));
        srv.state.approvals.end("CustS", &app, gatehouse::approvals::End::Denied, "test").await.unwrap();
        assert!(exchange(&srv, request(&s, &good(now))).await["ErrorMessage"].as_str().unwrap().contains("Error 4"));
        srv.state.approvals.end("CustS", &app, gatehouse::approvals::End::Revoked, "test").await.unwrap();
        assert!(exchange(&srv, request(&s, &good(now))).await["ErrorMessage"].as_str().unwrap().contains("Error 1"));
        assert!(srv.state.store.audit_trail("CustS", 50).await.unwrap().iter().any(|e| e.action == "system_user.refused"));
    }
);

async fn count(srv: &TestServer, table: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM {table}");
    gatehouse::on_db!(&srv.state.store.db, pool => sqlx::query_scalar::<_, i64>(&sql).fetch_one(pool).await.unwrap())
}

both_backends!(
    async fn adding_a_tenant_facing_entitlement_asks_tenants_to_approve_again(srv) {
        let s = story(&srv).await;
        let reg = &srv.state.registry;
        // A web app gains the system-token claim: approving tenants must approve again.
        let app = reg.get(&s.client_id).await.unwrap();
        let tenant = srv.state.directory.tenant("CustS").await.unwrap();
        assert_eq!(srv.state.store.authorization_record(&app.id, &tenant.id).await.unwrap().unwrap().0, "approved");
        let err = reg.add_entitlement(&s.client_id, gatehouse::apps::Entitlement::SystemToken, None, "test").await.unwrap_err();
        assert!(matches!(err, gatehouse::error::Error::Conflict(_)), "already there");
        gatehouse::on_db!(&srv.state.store.db, pool => {
            sqlx::query("DELETE FROM app_entitlements WHERE entitlement = 'webhook-agent'").execute(pool).await.unwrap();
        });
        reg.add_entitlement(&s.client_id, gatehouse::apps::Entitlement::WebhookAgent, None, "test").await.unwrap();
        assert_eq!(srv.state.store.authorization_record(&app.id, &tenant.id).await.unwrap().unwrap().0, "needs-reapproval");
        let signed = sign(&s.rsa_xml, &s.system_token, &stamp(srv.clock.now()));
        let answer = exchange(&srv, request(&s, &signed)).await;
        assert!(answer["ErrorMessage"].as_str().unwrap().contains("Error 5"), "{answer}");
    }
);

both_backends!(
    async fn a_captured_signed_system_token_spelled_differently_is_still_a_replay(srv) {
        // Issue 16 item 2: the signature's base64 was read leniently and the replay record
        // keyed on the request's spelling, so a trailing newline made a replay look new.
        let s = story(&srv).await;
        let signed = sign(&s.rsa_xml, &s.system_token, &stamp(srv.clock.now()));
        assert_eq!(exchange(&srv, request(&s, &signed)).await["IsSuccessful"], true);
        for respelled in [format!("{signed}\n"), format!("{signed} "), format!("{signed}\r\n")] {
            let again = exchange(&srv, request(&s, &respelled)).await;
            assert_eq!(again["IsSuccessful"], false, "{respelled:?}: {again}");
        }
        // Non-canonical base64 of a fresh signature (the last character's unused bits set) is
        // refused as such rather than accepted as another spelling.
        let fresh = sign(&s.rsa_xml, &s.system_token, &stamp(srv.clock.now() - 60));
        let (head, sig) = fresh.rsplit_once('.').unwrap();
        let bytes = gatehouse::crypto::b64_decode(sig).unwrap();
        assert_eq!(bytes.len() % 3, 1, "a 2048-bit signature ends in '=='");
        let last = sig.trim_end_matches('=').chars().last().unwrap();
        let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let bumped = alphabet.chars().nth(alphabet.find(last).unwrap() + 1).unwrap();
        let respelled = format!("{head}.{}{bumped}==", &sig[..sig.trim_end_matches('=').len() - 1]);
        let answer = exchange(&srv, request(&s, &respelled)).await;
        assert_eq!(answer["IsSuccessful"], false, "{answer}");
        assert_eq!(exchange(&srv, request(&s, &fresh)).await["IsSuccessful"], true);
    }
);

both_backends!(
    async fn a_private_app_gets_no_system_user_in_another_companys_tenant(srv) {
        // Issue 16 item 14: the exchange applies the same admission as client_credentials.
        let s = story(&srv).await;
        let other_partner = srv.state.directory.add_partner("Other AS", "test").await.unwrap().id;
        let dir = &srv.state.directory;
        dir.add_tenant("CustX", "Customer X", None, Some(&other_partner), "test").await.unwrap();
        let app = srv.state.registry.get(&s.client_id).await.unwrap();
        srv.state.approvals.approve("CustX", &app, None, "test").await.unwrap();
        let tenant = dir.tenant("CustX").await.unwrap();
        let (_, token) = srv.state.store.authorization_record(&app.id, &tenant.id).await.unwrap().unwrap();
        let token = token.expect("a system token for CustX");
        let body = |signed: &str| json!({ "SignedSystemToken": signed, "ApplicationToken": s.secret, "ContextIdentifier": "CustX", "ReturnTokenType": "JWT" });
        let signed = sign(&s.rsa_xml, &token, &stamp(srv.clock.now()));
        assert_eq!(exchange(&srv, body(&signed)).await["IsSuccessful"], true, "a public app: admitted");
        srv.state.registry.set_access(&s.client_id, Access::Private, "test").await.unwrap();
        let signed = sign(&s.rsa_xml, &token, &stamp(srv.clock.now() - 60));
        let answer = exchange(&srv, body(&signed)).await;
        assert_eq!(answer["IsSuccessful"], false, "{answer}");
        assert!(answer["ErrorMessage"].as_str().unwrap().contains("not admitted"), "{answer}");
    }
);
