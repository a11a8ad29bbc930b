//! Webhooks (issue 19's events, Standard Webhooks signatures) on both databases: a tenant's
//! approval, revocation and denial of an app, and a request to approve it again, reach each
//! webhook its partner registered (a listener on another port), signed with the webhook's
//! secret; a failing endpoint is retried with the same `webhook-id`; what one instance queued
//! another delivers (nothing is lost when the first dies before sending); two instances
//! deliver one event once; a secret or certificate that ends within two weeks is heard of once.
//! A partner webhook hears all of its apps come and go and every key rotation. The
//! `standardwebhooks` library verifies a delivery in
//! `conformance/node/rp.mjs`.

use serde_json::{json, Value};

use crate::harness::receiver::{Received, Receiver};
use crate::harness::signin::world;
use crate::harness::TestServer;
use gatehouse::apps::Entitlement;

/// Checks a delivery's Standard Webhooks signature with `secret` (`whsec_<base64 key>`),
/// independently of the server's code, and returns its JSON body.
fn verified(r: &Received, secret: &str) -> Value {
    let id = r.header("webhook-id").expect("webhook-id");
    let timestamp = r.header("webhook-timestamp").expect("webhook-timestamp");
    let key = base64_decode(secret.strip_prefix("whsec_").unwrap());
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &key);
    let tag = aws_lc_rs::hmac::sign(&key, format!("{id}.{timestamp}.{}", r.body).as_bytes());
    let expected = format!("v1,{}", gatehouse::crypto::b64(tag.as_ref()));
    let signatures = r.header("webhook-signature").expect("webhook-signature");
    assert!(signatures.split(' ').any(|s| s == expected), "signature {signatures} is not {expected}");
    assert_eq!(r.header("content-type"), Some("application/json"));
    serde_json::from_str(&r.body).unwrap()
}

fn base64_decode(s: &str) -> Vec<u8> {
    gatehouse::crypto::b64_decode(s).expect("standard base64")
}

async fn deliver(srv: &TestServer) -> gatehouse::outbox::Pass {
    gatehouse::outbox::deliver_due(&srv.state).await.unwrap()
}

both_backends!(
    async fn approvals_reach_every_webhook_signed_with_its_secret(srv) {
        let w = world(&srv).await;
        let (a, b) = (Receiver::start(&[]).await, Receiver::start(&[]).await);
        let reg = &srv.state.registry;
        let (_, secret_a) = reg.add_webhook(&w.client_id, &a.url, "test").await.unwrap();
        let (_, secret_b) = reg.add_webhook(&w.client_id, &b.url, "test").await.unwrap();
        assert_ne!(secret_a, secret_b);
        let app = reg.get(&w.client_id).await.unwrap();

        srv.state.approvals.approve("Cust1", &app, None, "test").await.unwrap();
        assert_eq!(deliver(&srv).await.delivered, 2, "one delivery per webhook");
        let granted = verified(&a.all()[0], &secret_a);
        assert_eq!(granted["type"], "approval.granted");
        assert_eq!(granted["data"]["client_id"], w.client_id.as_str());
        assert_eq!(granted["data"]["tenant"], "Cust1");
        assert!(granted["timestamp"].as_str().unwrap().ends_with('Z'));
        assert_eq!(verified(&b.all()[0], &secret_b)["type"], "approval.granted");
        assert_ne!(a.all()[0].header("webhook-id"), b.all()[0].header("webhook-id"));

        srv.state.approvals.end("Cust1", &app, gatehouse::approvals::End::Revoked, "test").await.unwrap();
        srv.state.approvals.end("Cust1", &app, gatehouse::approvals::End::Denied, "test").await.unwrap();
        assert_eq!(deliver(&srv).await.delivered, 4);
        // Events of one pass go out concurrently: in any order (as Standard Webhooks allows).
        let mut kinds: Vec<String> =
            a.all().iter().map(|r| verified(r, &secret_a)["type"].as_str().unwrap().to_string()).collect();
        kinds.sort();
        assert_eq!(kinds, ["approval.denied", "approval.granted", "approval.revoked"]);
        // Delivered once: later passes send nothing more.
        srv.clock.advance(3_600);
        assert_eq!(deliver(&srv).await, gatehouse::outbox::Pass::default());

        // Gaining an integration point that needs the tenants' approval again tells the app
        // which tenants were asked.
        srv.state.approvals.approve("Cust1", &app, None, "test").await.unwrap();
        reg.add_entitlement(&w.client_id, Entitlement::ExchangeTokens, None, "test").await.unwrap();
        assert_eq!(deliver(&srv).await.delivered, 4, "granted and asked again, to both webhooks");
        let events: Vec<Value> = a.all().iter().map(|r| verified(r, &secret_a)).collect();
        let last = events.iter().find(|e| e["type"] == "approval.needs_reapproval").expect("asked again");
        assert_eq!(last["data"]["tenants"], json!(["Cust1"]));
        assert_eq!(last["data"]["entitlement"], "token-exchange");
    }
);

both_backends!(
    async fn a_failing_webhook_is_retried_with_the_same_id_and_another_instance_delivers_what_one_queued(srv) {
        let w = world(&srv).await;
        let hook = Receiver::start(&[500]).await;
        let (_, secret) = srv.state.registry.add_webhook(&w.client_id, &hook.url, "test").await.unwrap();
        let app = srv.state.registry.get(&w.client_id).await.unwrap();
        srv.state.approvals.approve("Cust1", &app, None, "test").await.unwrap();
        assert_eq!(deliver(&srv).await.failed, 1);
        srv.clock.advance(gatehouse::outbox::backoff(1));
        // The first instance is gone (it never sends again); another delivers the retry.
        let other = srv.another_instance().await;
        assert_eq!(gatehouse::outbox::deliver_due(&other.state).await.unwrap().delivered, 1);
        let got = hook.all();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].header("webhook-id"), got[1].header("webhook-id"), "one event, one id");
        assert_ne!(got[0].header("webhook-timestamp"), got[1].header("webhook-timestamp"), "each attempt signs anew");
        verified(&got[1], &secret);

        // Two instances racing for one new event deliver it once.
        srv.state.approvals.end("Cust1", &app, gatehouse::approvals::End::Revoked, "test").await.unwrap();
        let (x, y) =
            tokio::join!(gatehouse::outbox::deliver_due(&srv.state), gatehouse::outbox::deliver_due(&other.state));
        assert_eq!(x.unwrap().delivered + y.unwrap().delivered, 1);
        assert_eq!(hook.all().len(), 3);
    }
);

both_backends!(
    async fn webhook_urls_are_checked_and_the_secret_is_shown_once(srv) {
        let w = world(&srv).await;
        for bad in ["https://hooks.example.com/x#frag", "ftp://hooks.example.com/x", "not a url"] {
            let out = srv.cli(&["app", "webhook", "add", &w.client_id, bad], None);
            assert_eq!(out.code, 1, "{bad}: {}", out.stdout);
        }
        let out = srv.cli(&["--json", "app", "webhook", "add", &w.client_id, "https://hooks.example.com/gatehouse"], None);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let added = out.json();
        assert!(added["secret"].as_str().unwrap().starts_with("whsec_"));
        let listed = srv.cli(&["--json", "app", "webhook", "list", &w.client_id], None).json();
        assert_eq!(listed[0]["url"], "https://hooks.example.com/gatehouse");
        assert!(listed[0].get("secret").is_none(), "the secret is not shown again");
        for i in 1..gatehouse::apps::webhooks::MAX_WEBHOOKS {
            srv.state.registry.add_webhook(&w.client_id, &format!("https://hooks.example.com/{i}"), "test").await.unwrap();
        }
        let sixth = srv.state.registry.add_webhook(&w.client_id, "https://hooks.example.com/6", "test").await;
        assert!(sixth.is_err(), "at most five");
        let out = srv.cli(&["app", "webhook", "remove", &w.client_id, "https://hooks.example.com/gatehouse"], None);
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert_eq!(srv.state.registry.webhooks(&w.client_id).await.unwrap().len() as i64, gatehouse::apps::webhooks::MAX_WEBHOOKS - 1);
    }
);

both_backends!(
    async fn a_partner_hears_of_its_apps_secrets_and_certificates_but_never_their_values(srv) {
        let w = world(&srv).await;
        let hook = Receiver::start(&[]).await;
        let reg = &srv.state.registry;
        let (_, secret) = reg.add_webhook(&w.client_id, &hook.url, "test").await.unwrap();
        let issued = reg.new_secret(&w.client_id, None, "test").await.unwrap();
        reg.revoke_secret(&w.client_id, &issued.id, "test").await.unwrap();
        let pem = crate::harness::fixture("app-cert.pem");
        let cert = reg.add_certificate(&w.client_id, &pem, None, "test").await.unwrap();
        reg.revoke_certificate(&w.client_id, &cert.id, "test").await.unwrap();
        assert_eq!(deliver(&srv).await.delivered, 4);
        let mut kinds = Vec::new();
        for r in hook.all() {
            assert!(!r.body.contains(issued.secret.expose().as_str()), "a secret's value never leaves");
            let event = verified(&r, &secret);
            assert_eq!(event["data"]["client_id"], w.client_id.as_str());
            kinds.push(event["type"].as_str().unwrap().to_string());
        }
        kinds.sort();
        assert_eq!(kinds, ["certificate.created", "certificate.revoked", "secret.created", "secret.revoked"]);
    }
);

both_backends!(
    async fn a_partner_hears_once_two_weeks_ahead_that_a_secret_or_certificate_ends(srv) {
        let w = world(&srv).await;
        let hook = Receiver::start(&[]).await;
        let reg = &srv.state.registry;
        let (_, secret) = reg.add_webhook(&w.client_id, &hook.url, "test").await.unwrap();
        // An app holds two live secrets at most: the one it was made with goes first.
        let first = reg.secrets(&w.client_id).await.unwrap()[0].id.clone();
        reg.revoke_secret(&w.client_id, &first, "test").await.unwrap();
        let revoked = reg.new_secret(&w.client_id, Some(5), "test").await.unwrap();
        reg.revoke_secret(&w.client_id, &revoked.id, "test").await.unwrap();
        let soon = reg.new_secret(&w.client_id, Some(10), "test").await.unwrap();
        let later = reg.new_secret(&w.client_id, Some(30), "test").await.unwrap();
        let pem = crate::harness::fixture("app-cert.pem");
        let ends = srv.clock.now() + 7 * 86_400;
        let cert = reg.add_certificate(&w.client_id, &pem, Some(ends), "test").await.unwrap();
        deliver(&srv).await;
        let before = hook.all().len();

        let notice = || gatehouse::apps::expiry::notice(&srv.state.store, &srv.clock);
        assert_eq!(notice().await.unwrap(), 2, "the secret of 10 days and the certificate of 7");
        // Once: again here, or on another instance, queues nothing.
        assert_eq!(notice().await.unwrap(), 0);
        let other = srv.another_instance().await;
        assert_eq!(gatehouse::apps::expiry::notice(&other.state.store, &srv.clock).await.unwrap(), 0);
        assert_eq!(deliver(&srv).await.delivered, 2);
        let mut heard: Vec<(String, String)> = hook.all()[before..]
            .iter()
            .map(|r| {
                let event = verified(r, &secret);
                assert_eq!(event["data"]["client_id"], w.client_id.as_str());
                assert!(event["data"]["expires_at"].as_str().unwrap().ends_with('Z'), "{event}");
                (event["type"].as_str().unwrap().to_string(), event["data"]["id"].as_str().unwrap().to_string())
            })
            .collect();
        heard.sort();
        assert_eq!(heard, [("certificate.expiring".to_string(), cert.id.clone()), ("secret.expiring".to_string(), soon.id.clone())]);

        // The secret of 30 days is heard of when it is 14 days from its end, not before.
        srv.clock.advance(15 * 86_400);
        assert_eq!(notice().await.unwrap(), 0);
        srv.clock.advance(2 * 86_400);
        assert_eq!(notice().await.unwrap(), 1);
        assert_eq!(deliver(&srv).await.delivered, 1);
        let last = verified(hook.all().last().unwrap(), &secret);
        assert_eq!((last["type"].clone(), last["data"]["id"].clone()), (json!("secret.expiring"), json!(later.id)));
    }
);

both_backends!(
    async fn a_partner_webhook_hears_its_apps_come_and_go_and_every_key_rotation(srv) {
        use crate::api::{admin_token, call};
        use reqwest::Method;
        let (mine, theirs) = (srv.partner().await, srv.partner().await);
        let (ci, token) = admin_token(&srv, &mine, Entitlement::AdminPartner).await;
        let (_, stranger) = admin_token(&srv, &theirs, Entitlement::AdminPartner).await;
        let (a, b) = (Receiver::start(&[]).await, Receiver::start(&[]).await);
        let hooks = format!("/api/v1/partners/{mine}/webhooks");
        let (status, _, added) = call(&srv, Method::POST, &hooks, Some(&token), Some(json!({ "url": a.url })), &[]).await;
        assert_eq!(status, 201, "{added}");
        let secret = added["secret"].as_str().unwrap().to_string();
        assert!(secret.starts_with("whsec_"));
        // Another partner's token finds no such partner, to read or to add to.
        assert_eq!(call(&srv, Method::GET, &hooks, Some(&stranger), None, &[]).await.0, 404);
        assert_eq!(call(&srv, Method::POST, &hooks, Some(&stranger), Some(json!({ "url": b.url })), &[]).await.0, 404);
        let (status, _, bad) = call(&srv, Method::POST, &hooks, Some(&token), Some(json!({ "url": "ftp://x.example/" })), &[]).await;
        assert_eq!(status, 422, "{bad}");
        let theirs_hooks = format!("/api/v1/partners/{theirs}/webhooks");
        let (_, _, other) = call(&srv, Method::POST, &theirs_hooks, Some(&stranger), Some(json!({ "url": b.url })), &[]).await;
        let other_secret = other["secret"].as_str().unwrap().to_string();

        // An app created, given a key of its own and rotated, then deleted: each is heard by
        // its partner's webhook only, signed with that webhook's secret.
        let new = json!({ "name": "Nightly", "template": "server-to-server" });
        let (status, _, created) = call(&srv, Method::POST, "/api/v1/apps", Some(&token), Some(new), &[]).await;
        assert_eq!(status, 201, "{created}");
        let client_id = created["app"]["client_id"].as_str().unwrap().to_string();
        let keys = format!("/api/v1/apps/{client_id}/keys");
        assert_eq!(call(&srv, Method::POST, &keys, Some(&token), Some(json!({ "alg": "ES256" })), &[]).await.0, 200);
        assert_eq!(call(&srv, Method::POST, &format!("{keys}/rotate"), Some(&token), None, &[]).await.0, 200);
        let app = format!("/api/v1/apps/{client_id}");
        assert_eq!(call(&srv, Method::DELETE, &app, Some(&stranger), None, &[]).await.0, 404);
        assert_eq!(call(&srv, Method::DELETE, &format!("/api/v1/apps/{ci}"), Some(&token), None, &[]).await.0, 409);
        assert_eq!(call(&srv, Method::DELETE, &app, Some(&token), None, &[]).await.0, 204);
        assert_eq!(call(&srv, Method::GET, &app, Some(&token), None, &[]).await.0, 404);
        assert_eq!(deliver(&srv).await.delivered, 3, "created, rotated, deleted: the app is gone, its event is not");
        let events: Vec<Value> = a.all().iter().map(|r| verified(r, &secret)).collect();
        let of = |kind: &str| events.iter().find(|e| e["type"] == kind).unwrap_or_else(|| panic!("{kind}: {events:?}")).clone();
        assert_eq!(of("app.created")["data"]["client_id"], client_id.as_str());
        assert_eq!(of("app.created")["data"]["name"], "Nightly");
        assert_eq!(of("app.deleted")["data"]["client_id"], client_id.as_str());
        assert_eq!(of("app.deleted")["data"]["partner_id"], mine.as_str());
        assert_eq!((of("key.rotated")["data"]["client_id"].clone(), of("key.rotated")["data"]["alg"].clone()), (json!(client_id), json!("ES256")));
        assert!(b.all().is_empty(), "another partner hears nothing of these apps");

        // The server's own keys concern every partner.
        srv.state.keys.rotate(gatehouse::jose::Alg::RS256, "test").await.unwrap();
        assert_eq!(deliver(&srv).await.delivered, 2);
        let ours = verified(a.all().last().unwrap(), &secret);
        let other_heard = verified(&b.all()[0], &other_secret);
        for event in [&ours, &other_heard] {
            assert_eq!((event["type"].clone(), event["data"]["alg"].clone()), (json!("key.rotated"), json!("RS256")));
            assert!(event["data"].get("client_id").is_none(), "{event}");
        }

        // The status of each delivery, and removal (its undelivered events go with it).
        let (status, _, sent) = call(&srv, Method::GET, &format!("/api/v1/partners/{mine}/deliveries"), Some(&token), None, &[]).await;
        assert_eq!(status, 200);
        assert_eq!(sent.as_array().unwrap().len(), 4);
        assert!(sent.as_array().unwrap().iter().all(|d| d["delivered_at"].is_i64()), "{sent}");
        let (_, _, listed) = call(&srv, Method::GET, &hooks, Some(&token), None, &[]).await;
        assert_eq!((listed[0]["url"].clone(), listed[0].get("secret")), (json!(a.url), None));
        let one = format!("{hooks}/{}", added["id"].as_str().unwrap());
        assert_eq!(call(&srv, Method::DELETE, &one, Some(&stranger), None, &[]).await.0, 404);
        assert_eq!(call(&srv, Method::DELETE, &one, Some(&token), None, &[]).await.0, 204);
        assert_eq!(call(&srv, Method::DELETE, &one, Some(&token), None, &[]).await.0, 404);
        srv.state.keys.rotate(gatehouse::jose::Alg::RS256, "test").await.unwrap();
        assert_eq!(deliver(&srv).await.delivered, 1, "only the other partner's webhook is left");

        // The CLI, where the database is and through the API with the partner's token alone.
        let out = srv.cli(&["--json", "partner", "webhook", "add", "--partner", &mine, "https://hooks.example.com/db"], None);
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert!(out.json()["secret"].as_str().unwrap().starts_with("whsec_"));
        let remote = |args: &[&str]| {
            let mut all = vec!["--json", "--server", srv.base.as_str(), "--token", token.as_str()];
            all.extend_from_slice(args);
            crate::harness::run_cli("postgres://nobody@127.0.0.1:1/none", srv.dir.path(), &all, None)
        };
        let listed = remote(&["partner", "webhook", "list", "--partner", &mine]);
        assert_eq!(listed.code, 0, "{}", listed.stderr);
        let id = listed.json()[0]["id"].as_str().unwrap().to_string();
        assert_eq!(listed.json()[0]["url"], "https://hooks.example.com/db");
        assert_eq!(remote(&["partner", "webhook", "remove", "--partner", &mine, &id]).code, 0);
        assert_eq!(remote(&["partner", "webhook", "list", "--partner", &mine]).json(), json!([]));
        assert_ne!(remote(&["partner", "webhook", "list", "--partner", &theirs]).code, 0, "another partner's");
    }
);
