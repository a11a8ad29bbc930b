//! Token exchange (RFC 8693, issue 22) over HTTP on both databases: an app approved by the
//! tenant with its `token-exchange` integration point exchanges a person's access token that
//! another app holds for its own, acting for that person with itself in `act` (§4.1); a second
//! exchange nests the chain, identically in the JWT and in introspection (also for opaque
//! tokens). Refused: without the integration point (`unauthorized_client`), without the
//! tenant's approval, or once either app's approval is revoked, an invalid or person-less
//! subject token, an actor token, another token type (`invalid_request`, §2.2.2), a wider scope
//! (`invalid_scope`) and an unknown target (`invalid_target`). openid-client exchanges a token
//! in `conformance/node/rp.mjs`.

use serde_json::{json, Value};

use crate::harness::signin::{code_of, redeem, world, Browser, World};
use crate::harness::{http, TestServer};
use gatehouse::approvals::End;
use gatehouse::apps::{Access, Entitlement, NewApp, Template, TokenFormat, TokenSettings};

const GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS: &str = "urn:ietf:params:oauth:token-type:access_token";

/// A server-to-server app of `partner`, private to its tenants.
async fn service(srv: &TestServer, partner: &str, name: &str) -> World {
    let new = NewApp {
        partner_id: partner.into(),
        name: name.into(),
        template: Template::ServerToServer,
        redirect_uris: vec![],
        access: Access::Private,
        technical_contact: None,
        justification: None,
    };
    let created = srv.state.registry.create(new, "test").await.unwrap();
    World { client_id: created.app.client_id, secret: created.client_secret.unwrap().secret.expose().clone() }
}

async fn exchange(srv: &TestServer, w: &World, subject: &str, extra: &[(&str, &str)]) -> (u16, Value) {
    let mut form = vec![("grant_type", GRANT), ("subject_token", subject), ("subject_token_type", ACCESS)];
    for (k, v) in extra {
        form.retain(|(n, _)| n != k);
        form.push((k, v));
    }
    let res =
        http().post(srv.url("/token")).basic_auth(&w.client_id, Some(&w.secret)).form(&form).send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn introspect(srv: &TestServer, w: &World, token: &str) -> Value {
    let res =
        http().post(srv.url("/introspect")).basic_auth(&w.client_id, Some(&w.secret)).form(&[("token", token)]).send();
    res.await.unwrap().json().await.unwrap()
}

/// A refused exchange: what it is, its subject token, extra parameters, the error code.
type Case<'a> = (&'a str, String, Vec<(&'a str, &'a str)>, &'a str);

fn claims(jwt: &str) -> Value {
    serde_json::from_slice(&gatehouse::crypto::b64url_decode(jwt.split('.').nth(1).unwrap()).unwrap()).unwrap()
}

both_backends!(
    async fn an_approved_app_acts_for_the_person_with_the_chain_in_act(srv) {
        let w = world(&srv).await;
        let app_a = srv.state.registry.get(&w.client_id).await.unwrap();
        srv.state.approvals.approve("Cust1", &app_a, None, "test").await.unwrap();
        let code = code_of(&srv, &mut Browser::new(), &w, &[]).await;
        let (_, tokens) = redeem(&srv.base, &w, &code).await;
        let subject = tokens["access_token"].as_str().unwrap().to_string();
        let person = claims(&subject)["sub"].as_str().unwrap().to_string();
        let b = service(&srv, &app_a.partner_id, "Reports").await;
        let doc: Value = http().get(srv.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
        assert!(doc["grant_types_supported"].as_array().unwrap().contains(&json!(GRANT)), "{doc}");

        // Without the integration point, then without the tenant's approval of it.
        let (status, body) = exchange(&srv, &b, &subject, &[]).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("unauthorized_client")), "{body}");
        srv.state.registry.add_entitlement(&b.client_id, Entitlement::ExchangeTokens, None, "test").await.unwrap();
        let (status, body) = exchange(&srv, &b, &subject, &[]).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")), "not approved yet: {body}");
        let app_b = srv.state.registry.get(&b.client_id).await.unwrap();
        srv.state.approvals.approve("Cust1", &app_b, None, "test").await.unwrap();

        // §2.2.1: issued_token_type; §4.1: act names the exchanging app.
        let (status, body) = exchange(&srv, &b, &subject, &[]).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!((body["issued_token_type"].as_str(), body["token_type"].as_str()), (Some(ACCESS), Some("Bearer")));
        assert!(body.get("refresh_token").is_none());
        let first = body["access_token"].as_str().unwrap().to_string();
        let c1 = claims(&first);
        assert_eq!((c1["sub"].as_str(), c1["client_id"].as_str()), (Some(person.as_str()), Some(b.client_id.as_str())));
        assert_eq!(c1["act"], json!({ "sub": b.client_id }));
        assert_eq!(c1["http://schemes.superoffice.net/identity/ctx"], "Cust1");
        let info = introspect(&srv, &b, &first).await;
        assert_eq!((info["active"].as_bool(), &info["act"]), (Some(true), &c1["act"]), "{info}");

        // A second exchange by an opaque-token app nests the chain; introspection shows it exactly.
        let c = service(&srv, &app_a.partner_id, "Archive").await;
        srv.state.registry.add_entitlement(&c.client_id, Entitlement::ExchangeTokens, None, "test").await.unwrap();
        let opaque = TokenSettings { format: Some(TokenFormat::Opaque), ..Default::default() };
        srv.state.registry.set_token_settings(&c.client_id, opaque, &["RS256"], "test").await.unwrap();
        srv.state.approvals.approve("Cust1", &srv.state.registry.get(&c.client_id).await.unwrap(), None, "test").await.unwrap();
        let (status, body) = exchange(&srv, &c, &first, &[]).await;
        assert_eq!(status, 200, "{body}");
        let second = body["access_token"].as_str().unwrap();
        let info = introspect(&srv, &c, second).await;
        assert_eq!(info["act"], json!({ "sub": c.client_id, "act": { "sub": b.client_id } }), "{info}");
        assert_eq!(info["sub"], person.as_str());

        // §2.2.2: what is refused, and with which code.
        let cc = http().post(srv.url("/token")).basic_auth(&b.client_id, Some(&b.secret)).form(&[("grant_type", "client_credentials")]).send();
        let app_token = cc.await.unwrap().json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_string();
        let cases: Vec<Case> = vec![
            ("not a token of ours", "garbage".into(), vec![], "invalid_request"),
            ("a token that acts for no person", app_token.clone(), vec![], "invalid_request"),
            ("another subject_token_type", subject.clone(), vec![("subject_token_type", "urn:ietf:params:oauth:token-type:id_token")], "invalid_request"),
            ("an actor token", subject.clone(), vec![("actor_token", "x"), ("actor_token_type", ACCESS)], "invalid_request"),
            ("a refresh token asked for", subject.clone(), vec![("requested_token_type", "urn:ietf:params:oauth:token-type:refresh_token")], "invalid_request"),
            ("a wider scope", subject.clone(), vec![("scope", "openid webapi")], "invalid_scope"),
            ("an unknown target", subject.clone(), vec![("resource", "https://unknown.example/api")], "invalid_target"),
        ];
        for (what, token, extra, code) in &cases {
            let (status, body) = exchange(&srv, &b, token, extra).await;
            assert_eq!((status, body["error"].as_str()), (400, Some(*code)), "{what}: {body}");
        }
        // Revoking either app in the tenant ends the exchange.
        srv.state.approvals.end("Cust1", &app_a, End::Revoked, "test").await.unwrap();
        let (status, body) = exchange(&srv, &b, &subject, &[]).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")), "the subject's app revoked: {body}");
        let events = srv.state.store.audit_trail(&b.client_id, 20).await.unwrap();
        assert!(events.iter().any(|e| e.action == "token.exchanged"), "the exchange is audited");
    }
);
