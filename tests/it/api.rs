//! The admin API (`/api/v1`, issue 19) over HTTP on both databases, with tokens from our own
//! token endpoint: a partner's CI rotates a secret and a certificate with a token and nothing
//! else and sees only its partner's apps (another's are 404); a create is idempotent by key;
//! an update needs `If-Match`; an operator creates a tenant with its first administrator and
//! reads the audit stream by cursor; every refusal is RFC 9457 problem details. Schemathesis
//! checks every operation against the OpenAPI document in `conformance/api`.

use serde_json::{json, Value};

use crate::harness::signin::world;
use crate::harness::{http, TestServer};
use gatehouse::apps::{Access, Entitlement, NewApp, Template};

/// A server-to-server app of `partner` with `entitlement`, and a client_credentials token for it.
pub(crate) async fn admin_token(srv: &TestServer, partner: &str, entitlement: Entitlement) -> (String, String) {
    let reg = &srv.state.registry;
    let created = reg
        .create(
            NewApp {
                partner_id: partner.into(),
                name: "Partner CI".into(),
                template: Template::ServerToServer,
                redirect_uris: vec![],
                access: Access::Private,
                technical_contact: None,
                justification: None,
            },
            "test",
        )
        .await
        .unwrap();
    let client_id = created.app.client_id.clone();
    let secret = created.client_secret.unwrap().secret.expose().clone();
    let app = reg.get(&client_id).await.unwrap();
    if !app.entitlements.iter().any(|e| e.entitlement == entitlement) {
        reg.add_entitlement(&client_id, entitlement, None, "test").await.unwrap();
    }
    if entitlement.needs_approval() {
        reg.decide_entitlement(&client_id, entitlement, true, "root").await.unwrap();
    }
    let res = http()
        .post(srv.url("/token"))
        .basic_auth(&client_id, Some(&secret))
        .form(&[("grant_type", "client_credentials"), ("scope", entitlement.as_str())])
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    (client_id, body["access_token"].as_str().unwrap_or_else(|| panic!("{body}")).to_string())
}

/// A call with `token`; the status, headers and JSON body (Null when there is none).
pub(crate) async fn call(
    srv: &TestServer,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut req = http().request(method, srv.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = req.send().await.unwrap();
    let (status, headers) = (res.status().as_u16(), res.headers().clone());
    (status, headers, res.json().await.unwrap_or(Value::Null))
}

fn is_problem(headers: &reqwest::header::HeaderMap, body: &Value, status: u16) -> bool {
    headers["content-type"] == "application/problem+json" && body["status"] == status && body["detail"].is_string()
}

use reqwest::Method;

both_backends!(
    async fn a_partners_ci_rotates_a_secret_and_a_certificate_with_a_token_and_nothing_else(srv) {
        let w = world(&srv).await;
        let partner = srv.state.registry.get(&w.client_id).await.unwrap().partner_id;
        let (ci, token) = admin_token(&srv, &partner, Entitlement::AdminPartner).await;
        let t = Some(token.as_str());

        let (status, _, page) = call(&srv, Method::GET, "/api/v1/apps", t, None, &[]).await;
        assert_eq!(status, 200, "{page}");
        let mut ids: Vec<&str> = page["items"].as_array().unwrap().iter().map(|a| a["client_id"].as_str().unwrap()).collect();
        ids.sort();
        let mut expected = vec![w.client_id.as_str(), ci.as_str()];
        expected.sort();
        assert_eq!(ids, expected, "the partner's own apps only");

        // Rotate: a new secret works, the old one is revoked and stops.
        let path = format!("/api/v1/apps/{}/secrets", w.client_id);
        let (status, headers, issued) = call(&srv, Method::POST, &path, t, Some(json!({})), &[]).await;
        assert_eq!(status, 201, "{issued}");
        assert_eq!(headers["cache-control"], "no-store");
        let new_secret = issued["secret"].as_str().unwrap();
        assert!(srv.state.registry.verify_secret(&w.client_id, new_secret).await.unwrap());
        let (_, _, listed) = call(&srv, Method::GET, &path, t, None, &[]).await;
        assert!(listed.as_array().unwrap().iter().all(|s| s.get("secret").is_none()), "values are never listed");
        let old = listed.as_array().unwrap().iter().find(|s| s["id"] != issued["id"]).unwrap()["id"].as_str().unwrap().to_string();
        let (status, _, _) = call(&srv, Method::DELETE, &format!("{path}/{old}"), t, None, &[]).await;
        assert_eq!(status, 204);
        assert!(!srv.state.registry.verify_secret(&w.client_id, &w.secret).await.unwrap(), "the old secret is revoked");

        // A certificate in, and out again.
        let pem = String::from_utf8(crate::harness::fixture("app-cert.pem")).unwrap();
        let path = format!("/api/v1/apps/{}/certificates", w.client_id);
        let (status, _, cert) = call(&srv, Method::POST, &path, t, Some(json!({ "key": pem })), &[]).await;
        assert_eq!(status, 201, "{cert}");
        let (status, _, _) = call(&srv, Method::DELETE, &format!("{path}/{}", cert["id"].as_str().unwrap()), t, None, &[]).await;
        assert_eq!(status, 204);
        assert!(srv.state.registry.certificates(&w.client_id).await.unwrap()[0].revoked_at.is_some());
        let weak = String::from_utf8(crate::harness::fixture("weak-rsa1024-public.pem")).unwrap();
        let (status, headers, problem) = call(&srv, Method::POST, &path, t, Some(json!({ "key": weak })), &[]).await;
        assert!(status == 422 && is_problem(&headers, &problem, 422), "{status} {problem}");

        // Another partner's app is not there, whatever is asked of it.
        let other = srv.partner().await;
        let (foreign, _) = admin_token(&srv, &other, Entitlement::AdminPartner).await;
        for (method, path) in [
            (Method::GET, format!("/api/v1/apps/{foreign}")),
            (Method::POST, format!("/api/v1/apps/{foreign}/secrets")),
            (Method::GET, format!("/api/v1/apps/{foreign}/certificates")),
            (Method::GET, "/api/v1/apps/no-such-app".to_string()),
        ] {
            let (status, headers, body) = call(&srv, method, &path, t, Some(json!({})), &[]).await;
            assert!(status == 404 && is_problem(&headers, &body, 404), "{path}: {status} {body}");
        }
    }
);

both_backends!(
    async fn without_the_right_token_every_call_is_a_problem(srv) {
        let w = world(&srv).await;
        let partner = srv.state.registry.get(&w.client_id).await.unwrap().partner_id;
        let (status, headers, body) = call(&srv, Method::GET, "/api/v1/apps", None, None, &[]).await;
        assert!(status == 401 && is_problem(&headers, &body, 401), "{body}");
        assert!(headers["www-authenticate"].to_str().unwrap().starts_with("Bearer"));
        let (status, _, _) = call(&srv, Method::GET, "/api/v1/apps", Some("made-up"), None, &[]).await;
        assert_eq!(status, 401);
        // A token without an admin scope, and a partner's token at a platform resource.
        let (_, plain) = admin_token(&srv, &partner, Entitlement::WebApi).await;
        let (status, headers, body) = call(&srv, Method::GET, "/api/v1/apps", Some(&plain), None, &[]).await;
        assert!(status == 403 && is_problem(&headers, &body, 403), "{body}");
        let (ci, token) = admin_token(&srv, &partner, Entitlement::AdminPartner).await;
        let (status, _, _) = call(&srv, Method::GET, "/api/v1/audit", Some(&token), None, &[]).await;
        assert_eq!(status, 403);
        // The app deleted, then a token expired.
        srv.state.registry.delete(&ci, "test").await.unwrap();
        let (status, _, _) = call(&srv, Method::GET, "/api/v1/apps", Some(&token), None, &[]).await;
        assert_eq!(status, 401, "the app is gone");
        let (_, token) = admin_token(&srv, &partner, Entitlement::AdminPartner).await;
        srv.clock.advance(2 * 3_600);
        let (status, _, _) = call(&srv, Method::GET, "/api/v1/apps", Some(&token), None, &[]).await;
        assert_eq!(status, 401, "expired");
        // Malformed input is a problem too, never a 500.
        let (_, token) = admin_token(&srv, &partner, Entitlement::AdminPartner).await;
        let t = Some(token.as_str());
        let (status, headers, body) = call(&srv, Method::POST, "/api/v1/apps", t, Some(json!({"name": 1})), &[]).await;
        assert!((400..500).contains(&status) && is_problem(&headers, &body, status), "{status} {body}");
        let (status, headers, body) = call(&srv, Method::GET, "/api/v1/apps?limit=many", t, None, &[]).await;
        assert!(status == 400 && is_problem(&headers, &body, 400), "{status} {body}");
        let (status, _, body) = call(&srv, Method::GET, "/api/v1/apps?cursor=%%%", t, None, &[]).await;
        assert_eq!(status, 400, "{body}");
    }
);

both_backends!(
    async fn creates_are_idempotent_by_key_and_updates_need_if_match(srv) {
        let partner = srv.partner().await;
        let (_, token) = admin_token(&srv, &partner, Entitlement::AdminPartner).await;
        let t = Some(token.as_str());
        let new = json!({ "name": "From CI", "template": "web", "redirect_uris": ["https://ci.example.com/cb"] });
        let key = [("idempotency-key", "build-4711")];
        let (status, _, first) = call(&srv, Method::POST, "/api/v1/apps", t, Some(new.clone()), &key).await;
        assert_eq!(status, 201, "{first}");
        assert!(first["client_secret"].as_str().unwrap().starts_with("gatehouse_cs_"));
        let (status, headers, again) = call(&srv, Method::POST, "/api/v1/apps", t, Some(new.clone()), &key).await;
        assert_eq!(status, 200, "the app the first request created");
        assert_eq!(headers["idempotent-replayed"], "true");
        assert_eq!(again["app"]["client_id"], first["app"]["client_id"]);
        assert!(again["client_secret"].is_null(), "the secret is shown once only: {again}");
        let other = json!({ "name": "Something else", "template": "web" });
        let (status, _, problem) = call(&srv, Method::POST, "/api/v1/apps", t, Some(other), &key).await;
        assert_eq!(status, 422, "{problem}");
        let (status, _, _) = call(&srv, Method::POST, "/api/v1/apps", t, Some(new), &[("idempotency-key", "")]).await;
        assert_eq!(status, 400, "an empty key");

        let path = format!("/api/v1/apps/{}", first["app"]["client_id"].as_str().unwrap());
        let (_, headers, _) = call(&srv, Method::GET, &path, t, None, &[]).await;
        let etag = headers["etag"].to_str().unwrap().to_string();
        let change = json!({ "token_format": "opaque", "redirect_uris": ["https://ci.example.com/cb2"] });
        let (status, headers, body) = call(&srv, Method::PATCH, &path, t, Some(change.clone()), &[]).await;
        assert!(status == 428 && is_problem(&headers, &body, 428), "{body}");
        let (status, _, _) = call(&srv, Method::PATCH, &path, t, Some(change.clone()), &[("if-match", "\"999\"")]).await;
        assert_eq!(status, 412);
        let (status, headers, body) = call(&srv, Method::PATCH, &path, t, Some(change.clone()), &[("if-match", &etag)]).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["token_format"], "opaque");
        assert_eq!(body["redirect_uris"], json!(["https://ci.example.com/cb2"]));
        assert_ne!(headers["etag"].to_str().unwrap(), etag);
        let (status, _, _) = call(&srv, Method::PATCH, &path, t, Some(change), &[("if-match", &etag)]).await;
        assert_eq!(status, 412, "the old ETag no longer matches");
    }
);

both_backends!(
    async fn a_replay_never_names_what_was_deleted(srv) {
        let partner = srv.partner().await;
        let (_, token) = admin_token(&srv, &partner, Entitlement::AdminPartner).await;
        let t = Some(token.as_str());
        let new = json!({ "name": "Short-lived", "template": "web", "redirect_uris": ["https://ci.example.com/cb"] });
        let (status, _, created) = call(&srv, Method::POST, "/api/v1/apps", t, Some(new), &[]).await;
        assert_eq!(status, 201, "{created}");
        let app = format!("/api/v1/apps/{}", created["app"]["client_id"].as_str().unwrap());
        let secrets = format!("{app}/secrets");
        let key = [("idempotency-key", "0")];
        let body = json!({ "expires_in_days": 30 });
        let (status, _, first) = call(&srv, Method::POST, &secrets, t, Some(body.clone()), &key).await;
        assert_eq!(status, 201, "{first}");
        // Deleting what a key created forgets the key: the retry creates again.
        let secret = format!("{secrets}/{}", first["id"].as_str().unwrap());
        assert_eq!(call(&srv, Method::DELETE, &secret, t, None, &[]).await.0, 204);
        let (status, headers, second) = call(&srv, Method::POST, &secrets, t, Some(body.clone()), &key).await;
        assert_eq!((status, headers.get("idempotent-replayed").is_none()), (201, true), "{second}");
        assert_ne!(second["id"], first["id"]);
        let (status, _, _) = call(&srv, Method::DELETE, &app, t, None, &[]).await;
        assert_eq!(status, 204);
        // Replaying the first answer would name a secret of an app that is gone; a client that
        // follows it (Schemathesis's ST302, "created resource not found") finds nothing.
        let (status, headers, again) = call(&srv, Method::POST, &secrets, t, Some(body), &key).await;
        assert_eq!((status, headers.get("idempotent-replayed").is_none()), (404, true), "{again}");
    }
);

both_backends!(
    async fn an_operator_creates_a_tenant_with_its_first_administrator_and_reads_the_audit_stream(srv) {
        let partner = srv.partner().await;
        let (_, token) = admin_token(&srv, &partner, Entitlement::AdminPlatform).await;
        let t = Some(token.as_str());
        let tenant = json!({ "ctx": "Cust777", "name": "Seven Ltd", "owner_partner_id": partner, "administrator_email": "boss@seven.example.com" });
        let (status, _, created) = call(&srv, Method::POST, "/api/v1/tenants", t, Some(tenant.clone()), &[]).await;
        assert_eq!(status, 201, "{created}");
        assert_eq!(created["tenant"]["ctx"], "Cust777");
        assert_eq!(created["invitation"]["email"], "boss@seven.example.com");
        let (status, headers, body) = call(&srv, Method::POST, "/api/v1/tenants", t, Some(tenant), &[]).await;
        assert!(status == 409 && is_problem(&headers, &body, 409), "{status} {body}");
        let (status, _, shown) = call(&srv, Method::GET, "/api/v1/tenants/Cust777", t, None, &[]).await;
        assert_eq!((status, shown["name"].as_str()), (200, Some("Seven Ltd")));

        // The audit stream stays 30 s behind, then pages through everything by cursor, once.
        let (_, _, early) = call(&srv, Method::GET, "/api/v1/audit", t, None, &[]).await;
        assert!(early["items"].as_array().unwrap().is_empty(), "{early}");
        srv.clock.advance(31);
        let mut seen = Vec::new();
        let mut path = "/api/v1/audit?limit=2".to_string();
        for _ in 0..50 {
            let (status, _, page) = call(&srv, Method::GET, &path, t, None, &[]).await;
            assert_eq!(status, 200, "{page}");
            seen.extend(page["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap().to_string()));
            match page["next_cursor"].as_str() {
                Some(c) => path = format!("/api/v1/audit?limit=2&cursor={c}"),
                None => break,
            }
        }
        assert!(seen.iter().any(|a| a == "tenant.created"), "{seen:?}");
        let all = srv.state.store.audit_after(None, i64::MAX, 1_000).await.unwrap().len();
        assert_eq!(seen.len(), all, "every event once");
    }
);

both_backends!(
    async fn the_openapi_document_describes_every_operation(srv) {
        let res = http().get(srv.url("/api/v1/openapi.json")).send().await.unwrap();
        assert_eq!(res.status(), 200);
        let doc: Value = res.json().await.unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);
        for path in ["/api/v1/apps", "/api/v1/apps/{client_id}/secrets", "/api/v1/tenants", "/api/v1/audit"] {
            assert!(doc["paths"].get(path).is_some(), "{path}");
        }
        assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    }
);

both_backends!(
    async fn the_cli_runs_a_partners_commands_through_the_api_with_a_token_and_no_database(srv) {
        let partner = srv.partner().await;
        let (_, token) = admin_token(&srv, &partner, Entitlement::AdminPartner).await;
        // No database this process could reach: everything goes through --server.
        let nowhere = "postgres://nobody@127.0.0.1:1/none";
        let remote = |args: &[&str], stdin: Option<&str>| {
            let mut all = vec!["--json", "--server", srv.base.as_str(), "--token", token.as_str()];
            all.extend_from_slice(args);
            crate::harness::run_cli(nowhere, srv.dir.path(), &all, stdin)
        };
        let created = remote(&["app", "create", "--partner", &partner, "--template", "server-to-server", "--name", "CI"], None);
        assert_eq!(created.code, 0, "{}", created.stderr);
        let client_id = created.json()["app"]["client_id"].as_str().unwrap().to_string();
        assert!(created.json()["client_secret"].as_str().unwrap().starts_with("gatehouse_cs_"));

        let issued = remote(&["app", "secret", "new", &client_id], None);
        assert_eq!(issued.code, 0, "{}", issued.stderr);
        let secret_id = issued.json()["id"].as_str().unwrap().to_string();
        let listed = remote(&["app", "secret", "list", &client_id], None).json();
        assert!(listed.as_array().unwrap().iter().any(|s| s["id"] == secret_id.as_str()), "{listed}");
        assert_eq!(remote(&["app", "secret", "revoke", &client_id, &secret_id], None).code, 0);

        let pem = srv.dir.path().join("app-public.pem");
        std::fs::write(&pem, crate::harness::fixture("app-public.pem")).unwrap();
        let cert = remote(&["app", "cert", "add", &client_id, pem.to_str().unwrap()], None);
        assert_eq!(cert.code, 0, "{}", cert.stderr);
        let cert_id = cert.json()["id"].as_str().unwrap().to_string();
        assert_eq!(remote(&["app", "cert", "revoke", &client_id, &cert_id], None).code, 0);

        let hook = remote(&["app", "webhook", "add", &client_id, "https://ci.example.com/hook"], None);
        assert_eq!(hook.code, 0, "{}", hook.stderr);
        assert!(hook.json()["secret"].as_str().unwrap().starts_with("whsec_"));
        assert_eq!(remote(&["app", "webhook", "remove", &client_id, "https://ci.example.com/hook"], None).code, 0);
        let app = srv.state.registry.get(&client_id).await.unwrap();
        assert_eq!(app.name, "CI");

        // What the API does not offer says so, and a partner's token cannot make tenants.
        let delete = remote(&["user", "delete", "someone@example.com"], None);
        assert_eq!(delete.code, 1);
        assert!(delete.stderr.contains("not offered by the admin API"), "{}", delete.stderr);
        let keys = remote(&["keys", "rotate"], None);
        assert!(keys.code == 1 && keys.stderr.contains("403"), "{}", keys.stderr);
        let tenant = remote(&["tenant", "add", "--ctx", "Cust9", "--name", "Nine", "--admin-email", "a@nine.example"], None);
        assert_eq!(tenant.code, 1);
        assert!(tenant.stderr.contains("403"), "{}", tenant.stderr);
        // An operator's token makes the tenant, and its first administrator is invited.
        let (_, platform) = admin_token(&srv, &partner, Entitlement::AdminPlatform).await;
        let args = ["--json", "--server", &srv.base, "--token", &platform, "tenant", "add", "--ctx", "Cust9", "--name", "Nine"];
        let made = crate::harness::run_cli(nowhere, srv.dir.path(), &[&args[..], &["--admin-email", "a@nine.example"]].concat(), None);
        assert_eq!(made.code, 0, "{}", made.stderr);
        assert_eq!(made.json()["invitation"]["email"], "a@nine.example");
        assert_eq!(srv.state.directory.tenant("Cust9").await.unwrap().name, "Nine");
        let tokenless = crate::harness::run_cli(nowhere, srv.dir.path(), &["--server", &srv.base, "app", "list"], None);
        assert!(tokenless.code == 1 && tokenless.stderr.contains("--token"), "{}", tokenless.stderr);
    }
);

both_backends!(
    async fn a_partner_gives_an_app_a_signing_key_of_its_own_rotates_it_and_hears_of_it(srv) {
        let partner = srv.partner().await;
        let (client_id, token) = admin_token(&srv, &partner, Entitlement::AdminPartner).await;
        let hook = crate::harness::receiver::Receiver::start(&[]).await;
        srv.state.registry.add_webhook(&client_id, &hook.url, "test").await.unwrap();
        let keys = format!("/api/v1/apps/{client_id}/keys");
        let (status, _, none) = call(&srv, Method::GET, &keys, Some(&token), None, &[]).await;
        assert_eq!((status, none), (200, json!([])), "signed with the server's keys so far");
        let rotate = format!("{keys}/rotate");
        assert_eq!(call(&srv, Method::POST, &rotate, Some(&token), None, &[]).await.0, 409);
        let (status, _, problem) = call(&srv, Method::POST, &keys, Some(&token), Some(json!({ "alg": "none" })), &[]).await;
        assert_eq!((status, problem["field"].clone()), (422, json!("alg")), "{problem}");
        let (status, _, enabled) = call(&srv, Method::POST, &keys, Some(&token), Some(json!({ "alg": "ES256" })), &[]).await;
        assert_eq!(status, 200, "{enabled}");
        let current = enabled.as_array().unwrap().iter().find(|k| k["state"] == "current").unwrap()["kid"].clone();
        let next = enabled.as_array().unwrap().iter().find(|k| k["state"] == "next").unwrap()["kid"].clone();
        let (status, _, rotated) = call(&srv, Method::POST, &rotate, Some(&token), None, &[]).await;
        assert_eq!((status, rotated["kid"].clone(), rotated["alg"].clone()), (200, next, json!("ES256")), "{rotated}");
        let (_, _, after) = call(&srv, Method::GET, &keys, Some(&token), None, &[]).await;
        assert!(after.as_array().unwrap().iter().any(|k| k["kid"] == current && k["state"] == "retired"), "{after}");
        // The CLI does the same through the API, with no database.
        let args = ["--json", "--server", srv.base.as_str(), "--token", token.as_str(), "app", "key", "rotate", client_id.as_str()];
        let again = crate::harness::run_cli("postgres://nobody@127.0.0.1:1/none", srv.dir.path(), &args, None);
        assert_eq!(again.code, 0, "{}", again.stderr);
        assert_eq!(again.json()["state"], "current");
        // The app's webhooks hear of the rotation; another partner's token finds no such app.
        gatehouse::outbox::deliver_due(&srv.state).await.unwrap();
        let heard: Vec<Value> = hook.all().iter().map(|r| serde_json::from_str(&r.body).unwrap()).collect();
        let event = heard.iter().find(|e| e["type"] == "key.rotated").expect("key.rotated");
        assert_eq!((event["data"]["client_id"].clone(), event["data"]["alg"].clone()), (json!(client_id), json!("ES256")));
        let other = srv.partner().await;
        let (_, stranger) = admin_token(&srv, &other, Entitlement::AdminPartner).await;
        assert_eq!(call(&srv, Method::GET, &keys, Some(&stranger), None, &[]).await.0, 404);
    }
);

both_backends!(
    async fn partners_and_their_developers_each_partner_its_own(srv) {
        let partner = srv.partner().await;
        let other = srv.partner().await;
        let (_, token) = admin_token(&srv, &partner, Entitlement::AdminPartner).await;
        let (_, platform) = admin_token(&srv, &partner, Entitlement::AdminPlatform).await;
        let (status, _, mine) = call(&srv, Method::GET, "/api/v1/partners", Some(&token), None, &[]).await;
        assert_eq!(status, 200);
        assert_eq!(mine.as_array().unwrap().iter().map(|p| p["id"].clone()).collect::<Vec<_>>(), [json!(partner)]);
        let (_, _, all) = call(&srv, Method::GET, "/api/v1/partners", Some(&platform), None, &[]).await;
        assert!(all.as_array().unwrap().len() >= 2, "{all}");
        assert_eq!(call(&srv, Method::GET, &format!("/api/v1/partners/{other}"), Some(&token), None, &[]).await.0, 404);
        assert_eq!(call(&srv, Method::GET, &format!("/api/v1/partners/{other}"), Some(&platform), None, &[]).await.0, 200);
        // Only the operator makes partners.
        let body = json!({ "name": "Newco AS" });
        assert_eq!(call(&srv, Method::POST, "/api/v1/partners", Some(&token), Some(body.clone()), &[]).await.0, 403);
        let (status, _, made) = call(&srv, Method::POST, "/api/v1/partners", Some(&platform), Some(body), &[]).await;
        assert_eq!((status, made["name"].clone()), (201, json!("Newco AS")), "{made}");

        let developers = format!("/api/v1/partners/{partner}/developers");
        let (_, _, none) = call(&srv, Method::GET, &developers, Some(&token), None, &[]).await;
        assert_eq!(none, json!([]));
        let invite = json!({ "email": "Dev@Partner.example" });
        let (status, _, sent) = call(&srv, Method::POST, &developers, Some(&token), Some(invite.clone()), &[]).await;
        assert_eq!((status, sent["email"].clone()), (201, json!("dev@partner.example")), "{sent}");
        let elsewhere = format!("/api/v1/partners/{other}/developers");
        assert_eq!(call(&srv, Method::POST, &elsewhere, Some(&token), Some(invite), &[]).await.0, 404);
        let bad = json!({ "email": "not an address" });
        assert_eq!(call(&srv, Method::POST, &developers, Some(&token), Some(bad), &[]).await.0, 422);
        // Someone already a developer is listed.
        let dir = &srv.state.directory;
        dir.add_tenant("Cust1", "Customer One", None, Some(&partner), "test").await.unwrap();
        let password = gatehouse::secret::Secret::new("a long passphrase".into());
        dir.add_user("ada@partner.example", None, "Cust1", false, password, "test").await.unwrap();
        dir.add_partner_member(&partner, "ada@partner.example", "test").await.unwrap();
        let (_, _, listed) = call(&srv, Method::GET, &developers, Some(&token), None, &[]).await;
        assert_eq!(listed, json!(["ada@partner.example"]));
    }
);

both_backends!(
    async fn a_partner_registers_its_api_and_grants_it_to_another_partners_app(srv) {
        let (a, b) = (srv.partner().await, srv.partner().await);
        let (_, token_a) = admin_token(&srv, &a, Entitlement::AdminPartner).await;
        let (_, token_b) = admin_token(&srv, &b, Entitlement::AdminPartner).await;
        let api = "https://api.a.example";
        let body = json!({ "identifier": api, "name": "A's API" });
        let (status, _, made) = call(&srv, Method::POST, "/api/v1/resource-servers", Some(&token_a), Some(body.clone()), &[]).await;
        assert_eq!((status, made["owner_partner_id"].clone()), (201, json!(a)), "{made}");
        assert_eq!(call(&srv, Method::POST, "/api/v1/resource-servers", Some(&token_a), Some(body), &[]).await.0, 409);
        let theirs = json!({ "identifier": "https://api.c.example", "name": "C", "owner_partner_id": a });
        assert_eq!(call(&srv, Method::POST, "/api/v1/resource-servers", Some(&token_b), Some(theirs), &[]).await.0, 404);
        let (_, _, listed) = call(&srv, Method::GET, "/api/v1/resource-servers", Some(&token_b), None, &[]).await;
        assert_eq!(listed, json!([]), "B sees only its own");

        // B's app may not ask for A's API until A grants it; B cannot grant it itself.
        let created = srv.state.registry.create(
            NewApp { partner_id: b.clone(), name: "B's service".into(), template: Template::ServerToServer, redirect_uris: vec![],
                access: Access::Private, technical_contact: None, justification: None },
            "test",
        ).await.unwrap();
        let (id, secret) = (created.app.client_id.clone(), created.client_secret.unwrap().secret.expose().clone());
        let ask = || async {
            let form = [("grant_type", "client_credentials"), ("resource", api)];
            let res = http().post(srv.url("/token")).basic_auth(&id, Some(&secret)).form(&form).send().await.unwrap();
            (res.status().as_u16(), res.json::<Value>().await.unwrap())
        };
        assert_eq!(ask().await.1["error"], "invalid_target");
        let grant = json!({ "identifier": api, "client_id": id });
        assert_eq!(call(&srv, Method::POST, "/api/v1/resource-servers/grants", Some(&token_b), Some(grant.clone()), &[]).await.0, 404);
        assert_eq!(call(&srv, Method::POST, "/api/v1/resource-servers/grants", Some(&token_a), Some(grant), &[]).await.0, 204);
        let (status, tokens) = ask().await;
        assert_eq!(status, 200, "{tokens}");
    }
);

both_backends!(
    async fn every_create_is_idempotent_by_key_and_a_replay_never_repeats_a_secret(srv) {
        let partner = srv.partner().await;
        let (client_id, token) = admin_token(&srv, &partner, Entitlement::AdminPartner).await;
        let t = Some(token.as_str());
        let secrets = format!("/api/v1/apps/{client_id}/secrets");
        let key = [("idempotency-key", "rotate-2026-12-05")];
        let (status, _, first) = call(&srv, Method::POST, &secrets, t, Some(json!({ "expires_in_days": 30 })), &key).await;
        assert_eq!(status, 201, "{first}");
        assert!(first["secret"].is_string());
        let (status, headers, again) = call(&srv, Method::POST, &secrets, t, Some(json!({ "expires_in_days": 30 })), &key).await;
        assert_eq!((status, headers["idempotent-replayed"].to_str().unwrap()), (201, "true"));
        assert_eq!(again["id"], first["id"], "the same secret, not a second one");
        assert!(again.get("secret").is_none(), "a secret is never stored, so never replayed: {again}");
        let (_, _, listed) = call(&srv, Method::GET, &secrets, t, None, &[]).await;
        assert_eq!(listed.as_array().unwrap().len(), 2, "the app's first secret and this one: {listed}");
        // The same key on another operation is another request.
        let hooks = format!("/api/v1/partners/{partner}/webhooks");
        let (status, _, _) = call(&srv, Method::POST, &hooks, t, Some(json!({ "url": "https://hooks.example.com/p" })), &key).await;
        assert_eq!(status, 422);

        // A refused request does not hold its key: the corrected retry runs.
        let invite = [("idempotency-key", "invite-1")];
        let developers = format!("/api/v1/partners/{partner}/developers");
        let (status, _, _) = call(&srv, Method::POST, &developers, t, Some(json!({ "email": "nobody" })), &invite).await;
        assert_eq!(status, 422);
        let (status, _, _) = call(&srv, Method::POST, &developers, t, Some(json!({ "email": "nobody" })), &invite).await;
        assert_eq!(status, 422, "checked again, not replayed");
        let dev = json!({ "email": "dev@example.com" });
        let (status, headers, sent) = call(&srv, Method::POST, &developers, t, Some(dev.clone()), &invite).await;
        assert_eq!((status, headers.get("idempotent-replayed").is_none()), (201, true), "{sent}");
        let (status, headers, again) = call(&srv, Method::POST, &developers, t, Some(dev), &invite).await;
        assert_eq!((status, headers.get("idempotent-replayed").is_some()), (201, true));
        assert_eq!(again, sent, "one invitation, answered twice");

        // Keys are each app's own: another app's same key is a request of its own.
        let (_, token2) = admin_token(&srv, &partner, Entitlement::AdminPartner).await;
        let (status, headers, _) = call(&srv, Method::POST, &secrets, Some(&token2), Some(json!({ "expires_in_days": 30 })), &key).await;
        assert_eq!((status, headers.get("idempotent-replayed").is_none()), (409, true), "run, and a third secret refused");
        // A request whose instance died holds its key for a minute, then a retry runs it; a
        // finished one is remembered for a day.
        use gatehouse::store::idempotency::{Begun, KEEP_SECS, STALE_SECS};
        let store = &srv.state.store;
        let now = srv.clock.now();
        assert_eq!(store.idempotency_begin("c", "dead", "f", now).await.unwrap(), Begun::Run);
        assert_eq!(store.idempotency_begin("c", "dead", "f", now + 1).await.unwrap(), Begun::Running);
        assert_eq!(store.idempotency_begin("c", "dead", "g", now + 1).await.unwrap(), Begun::Mismatch);
        assert_eq!(store.idempotency_begin("c", "dead", "f", now + STALE_SECS + 1).await.unwrap(), Begun::Run);
        store.idempotency_finish("c", "dead", 201, "{}", None).await.unwrap();
        let replay = Begun::Replay { status: 201, body: "{}".into(), etag: None };
        assert_eq!(store.idempotency_begin("c", "dead", "f", now + KEEP_SECS).await.unwrap(), replay);
        assert_eq!(store.idempotency_begin("c", "dead", "f", now + STALE_SECS + KEEP_SECS + 2).await.unwrap(), Begun::Run);
    }
);
