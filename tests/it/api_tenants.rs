//! The admin API's tenant resources on both databases: what a tenant administrator does on the
//! tenant page, done by an app the tenant approved with `admin:tenant` (members, invitations,
//! decisions about apps), the `user.disabled` event that reaches the apps the tenant lets hear
//! its events, and the operator's signing keys (`admin:platform`: list, rotate).

use reqwest::Method;
use serde_json::{json, Value};

use crate::api::{admin_token, call};
use crate::harness::receiver::Receiver;
use crate::harness::signin::{world, PASSWORD};
use crate::harness::{http, TestServer};
use gatehouse::apps::Entitlement;
use gatehouse::secret::Secret;

/// A token of an app the tenant Cust1 approved with `admin:tenant`, and its client ID.
async fn tenant_token(srv: &TestServer, partner: &str) -> (String, String) {
    let (client_id, token) = admin_token(srv, partner, Entitlement::AdminTenant).await;
    let app = srv.state.registry.get(&client_id).await.unwrap();
    srv.state.approvals.approve("Cust1", &app, None, "test").await.unwrap();
    (client_id, token)
}

both_backends!(
    async fn an_app_with_admin_tenant_manages_the_tenants_people_and_apps(srv) {
        let w = world(&srv).await;
        let partner = srv.state.registry.get(&w.client_id).await.unwrap().partner_id;
        let (own_id, token) = tenant_token(&srv, &partner).await;
        let dir = &srv.state.directory;
        dir.add_user("bo@example.com", Some("Bo"), "Cust1", false, Secret::new(PASSWORD.into()), "test").await.unwrap();
        // The app of `world` hears the tenant's events (its web template has webhook-agent).
        let hooks = Receiver::start(&[]).await;
        srv.state.registry.add_webhook(&w.client_id, &hooks.url, "test").await.unwrap();
        let app = srv.state.registry.get(&w.client_id).await.unwrap();
        srv.state.approvals.approve("Cust1", &app, None, "test").await.unwrap();

        let base = "/api/v1/tenants/Cust1";
        let (status, _, page) = call(&srv, Method::GET, &format!("{base}/members?limit=1"), Some(&token), None, &[]).await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["items"][0]["email"], "admin@example.com");
        assert_eq!(page["items"][0]["role"], "admin");
        let cursor = page["next_cursor"].as_str().unwrap();
        let (_, _, next) = call(&srv, Method::GET, &format!("{base}/members?limit=1&cursor={cursor}"), Some(&token), None, &[]).await;
        assert_eq!(next["items"][0]["email"], "bo@example.com");
        assert!(next.get("next_cursor").is_none(), "{next}");

        // Invitations: sent, listed, withdrawn.
        let body = json!({ "email": "Cy@Example.com", "role": "admin" });
        let (status, _, sent) = call(&srv, Method::POST, &format!("{base}/invitations"), Some(&token), Some(body), &[]).await;
        assert_eq!(status, 201, "{sent}");
        assert_eq!(sent["email"], "cy@example.com");
        let (_, _, open) = call(&srv, Method::GET, &format!("{base}/invitations"), Some(&token), None, &[]).await;
        assert_eq!(open, json!([{ "email": "cy@example.com", "role": "admin", "expires_at": sent["expires_at"] }]));
        let one = format!("{base}/invitations/cy@example.com");
        assert_eq!(call(&srv, Method::DELETE, &one, Some(&token), None, &[]).await.0, 204);
        assert_eq!(call(&srv, Method::DELETE, &one, Some(&token), None, &[]).await.0, 404);

        // The JWT credentials a member holds here: listed without their value, revoked.
        let issued = gatehouse::oauth::credentials::create(&srv.state, "bo@example.com", "Cust1", std::slice::from_ref(&w.client_id), None, "test").await.unwrap();
        let held = format!("{base}/members/bo@example.com/credentials");
        let (status, _, list) = call(&srv, Method::GET, &held, Some(&token), None, &[]).await;
        assert_eq!((status, list[0]["id"].clone()), (200, json!(issued.credential.id)), "{list}");
        assert!(!list.to_string().contains(issued.jwt.expose().as_str()));
        let one = format!("{held}/{}", issued.credential.id);
        assert_eq!(call(&srv, Method::DELETE, &one, Some(&token), None, &[]).await.0, 204);
        assert_eq!(call(&srv, Method::DELETE, &one, Some(&token), None, &[]).await.0, 404);
        let (_, _, list) = call(&srv, Method::GET, &held, Some(&token), None, &[]).await;
        assert!(list[0]["revoked_at"].is_i64(), "{list}");
        let nobody = format!("{base}/members/nobody@example.com/credentials");
        assert_eq!(call(&srv, Method::GET, &nobody, Some(&token), None, &[]).await.0, 404);

        // Roles, with the page's rule: the last administrator stays one.
        let bo = format!("{base}/members/bo@example.com");
        let (status, _, changed) = call(&srv, Method::PATCH, &bo, Some(&token), Some(json!({ "role": "admin" })), &[]).await;
        assert_eq!((status, changed["role"].clone()), (200, json!("admin")), "{changed}");
        let admin = format!("{base}/members/admin@example.com");
        assert_eq!(call(&srv, Method::PATCH, &admin, Some(&token), Some(json!({ "role": "member" })), &[]).await.0, 200);
        let (status, _, problem) = call(&srv, Method::PATCH, &bo, Some(&token), Some(json!({ "role": "member" })), &[]).await;
        assert_eq!(status, 409, "{problem}");
        assert_eq!(call(&srv, Method::PATCH, &bo, Some(&token), Some(json!({ "rank": 1 })), &[]).await.0, 422);

        // If-Match (RFC 9110 §13.1.1): a change made since the ETag was read is refused with
        // 412 and changes nothing; the current ETag, or `*`, lets it through.
        let (status, headers, shown) = call(&srv, Method::GET, &bo, Some(&token), None, &[]).await;
        assert_eq!((status, shown["role"].clone()), (200, json!("admin")));
        let seen = headers["etag"].to_str().unwrap().to_string();
        assert_eq!(call(&srv, Method::PATCH, &admin, Some(&token), Some(json!({ "role": "admin" })), &[]).await.0, 200);
        let (_, headers, _) = call(&srv, Method::GET, &bo, Some(&token), None, &[]).await;
        assert_eq!(headers["etag"].to_str().unwrap(), seen, "an unchanged member keeps the tag");
        let demote = Some(json!({ "role": "member" }));
        let (status, headers, _) = call(&srv, Method::PATCH, &bo, Some(&token), demote.clone(), &[("if-match", &seen)]).await;
        assert_eq!(status, 200);
        let (status, _, problem) = call(&srv, Method::PATCH, &bo, Some(&token), Some(json!({ "role": "admin" })), &[("if-match", &seen)]).await;
        assert_eq!(status, 412, "{problem}");
        assert_eq!(call(&srv, Method::GET, &bo, Some(&token), None, &[]).await.2["role"], "member", "nothing changed");
        let now = headers["etag"].to_str().unwrap().to_string();
        assert_ne!(now, seen);
        let promote = Some(json!({ "role": "admin" }));
        assert_eq!(call(&srv, Method::PATCH, &bo, Some(&token), promote.clone(), &[("if-match", &now)]).await.0, 200);
        assert_eq!(call(&srv, Method::PATCH, &bo, Some(&token), promote, &[("if-match", "*")]).await.0, 200);

        // Disabling someone of this tenant alone: their tokens end, and the tenant's apps that
        // hear its events are told.
        gatehouse::outbox::deliver_due(&srv.state).await.unwrap();
        let before = hooks.all().len();
        let (status, _, disabled) = call(&srv, Method::PATCH, &admin, Some(&token), Some(json!({ "disabled": true })), &[]).await;
        assert_eq!((status, disabled["disabled"].clone()), (200, json!(true)), "{disabled}");
        assert!(dir.user("admin@example.com").await.unwrap().disabled_at.is_some());
        assert_eq!(gatehouse::outbox::deliver_due(&srv.state).await.unwrap().delivered, 1);
        let event: Value = serde_json::from_str(&hooks.all()[before].body).unwrap();
        assert_eq!(event["type"], "user.disabled");
        assert_eq!(event["data"]["tenant"], "Cust1");
        assert_eq!(event["data"]["email"], "admin@example.com");
        // Someone who belongs to another tenant too is removed, not disabled.
        dir.add_tenant("Cust2", "Customer Two", None, None, "test").await.unwrap();
        dir.add_user("bo@example.com", None, "Cust2", false, Secret::new(PASSWORD.into()), "test").await.unwrap();
        assert_eq!(call(&srv, Method::PATCH, &admin, Some(&token), Some(json!({ "role": "admin", "disabled": false })), &[]).await.0, 200);
        assert_eq!(call(&srv, Method::PATCH, &bo, Some(&token), Some(json!({ "disabled": true })), &[]).await.0, 409);
        assert_eq!(call(&srv, Method::DELETE, &bo, Some(&token), None, &[]).await.0, 204);
        assert_eq!(call(&srv, Method::DELETE, &bo, Some(&token), None, &[]).await.0, 404);
        assert_eq!(call(&srv, Method::GET, "/api/v1/tenants/Cust2/members", Some(&token), None, &[]).await.0, 404);

        // Decisions about the tenant's apps, except about itself.
        let (_, _, listed) = call(&srv, Method::GET, &format!("{base}/approvals"), Some(&token), None, &[]).await;
        let mine = listed.as_array().unwrap().iter().find(|r| r["client_id"] == w.client_id.as_str()).unwrap().clone();
        assert_eq!(mine["status"], "approved");
        assert!(mine["entitlements"].as_array().unwrap().contains(&json!("webhook-agent")), "{mine}");
        let decide = format!("{base}/approvals/{}", w.client_id);
        let (status, _, revoked) = call(&srv, Method::PUT, &decide, Some(&token), Some(json!({ "decision": "revoke" })), &[]).await;
        assert_eq!((status, revoked["status"].clone()), (200, json!("revoked")), "{revoked}");
        assert_eq!(srv.state.store.authorization_status(&app.id, &srv.state.directory.tenant("Cust1").await.unwrap().id).await.unwrap().as_deref(), Some("revoked"));
        let (status, _, _) = call(&srv, Method::PUT, &decide, Some(&token), Some(json!({ "decision": "approve" })), &[]).await;
        assert_eq!(status, 200);
        let itself = format!("{base}/approvals/{own_id}");
        assert_eq!(call(&srv, Method::PUT, &itself, Some(&token), Some(json!({ "decision": "revoke" })), &[]).await.0, 409);
        let unknown = format!("{base}/approvals/no-such-app");
        assert_eq!(call(&srv, Method::PUT, &unknown, Some(&token), Some(json!({ "decision": "approve" })), &[]).await.0, 404);

        // The CLI does the same through the API, with the token and no database.
        let nowhere = "postgres://nobody@127.0.0.1:1/none";
        let remote = |args: &[&str]| {
            let mut all = vec!["--json", "--server", srv.base.as_str(), "--token", token.as_str()];
            all.extend_from_slice(args);
            crate::harness::run_cli(nowhere, srv.dir.path(), &all, None)
        };
        let invited = remote(&["user", "invite", "dee@example.com", "--tenant", "Cust1"]);
        assert_eq!(invited.code, 0, "{}", invited.stderr);
        assert_eq!(invited.json()["email"], "dee@example.com");
        let revoked = remote(&["tenant", "revoke", "--ctx", "Cust1", "--client-id", &w.client_id]);
        assert_eq!((revoked.code, revoked.json()["status"].clone()), (0, json!("revoked")), "{}", revoked.stderr);
        assert_eq!(remote(&["tenant", "approve", "--ctx", "Cust1", "--client-id", &w.client_id]).code, 0);
        let elsewhere = remote(&["user", "role", "admin@example.com", "--tenant", "Cust2"]);
        assert!(elsewhere.code == 1 && elsewhere.stderr.contains("404"), "{}", elsewhere.stderr);

        // Every change names the app that made it.
        let actor = format!("api:{own_id}");
        let actions: Vec<String> = srv.state.store.audit_after(None, i64::MAX, 1_000).await.unwrap()
            .into_iter().filter(|(_, e)| e.actor == actor).map(|(_, e)| e.action.into_owned()).collect();
        for action in ["user.invited", "member.invitation_withdrawn", "credential.revoked", "member.role_changed", "user.disabled", "member.removed", "app.revoked"] {
            assert!(actions.iter().any(|a| a == action), "{action} in {actions:?}");
        }
    }
);

both_backends!(
    async fn an_operator_lists_and_rotates_the_signing_keys(srv) {
        let w = world(&srv).await;
        let partner = srv.state.registry.get(&w.client_id).await.unwrap().partner_id;
        let (_, platform) = admin_token(&srv, &partner, Entitlement::AdminPlatform).await;
        let (_, tenant) = tenant_token(&srv, &partner).await;
        assert_eq!(call(&srv, Method::GET, "/api/v1/keys", Some(&tenant), None, &[]).await.0, 403);
        let (status, _, keys) = call(&srv, Method::GET, "/api/v1/keys", Some(&platform), None, &[]).await;
        assert_eq!(status, 200, "{keys}");
        let current = |keys: &Value| {
            keys.as_array().unwrap().iter().find(|k| k["alg"] == "RS256" && k["state"] == "current").unwrap()["kid"].clone()
        };
        let next = keys.as_array().unwrap().iter().find(|k| k["alg"] == "RS256" && k["state"] == "next").unwrap()["kid"].clone();
        let before = current(&keys);
        let (status, _, rotated) = call(&srv, Method::POST, "/api/v1/keys/rotate", Some(&platform), Some(json!({})), &[]).await;
        assert_eq!(status, 200, "{rotated}");
        assert_eq!(rotated["kid"], next, "the next key, published before, signs now");
        let (_, _, keys) = call(&srv, Method::GET, "/api/v1/keys", Some(&platform), None, &[]).await;
        assert_eq!(current(&keys), next);
        assert!(keys.as_array().unwrap().iter().any(|k| k["kid"] == before && k["state"] == "retired"));
        let jwks: Value = http().get(srv.url("/jwks")).send().await.unwrap().json().await.unwrap();
        let published: Vec<&Value> = jwks["keys"].as_array().unwrap().iter().map(|k| &k["kid"]).collect();
        assert!(published.contains(&&before) && published.contains(&&next), "{jwks}");
        let (status, _, problem) = call(&srv, Method::POST, "/api/v1/keys/rotate", Some(&platform), Some(json!({ "alg": "HS256" })), &[]).await;
        assert_eq!((status, problem["field"].clone()), (422, json!("alg")), "{problem}");
        // And from the CLI with the operator's token, no database.
        let nowhere = "postgres://nobody@127.0.0.1:1/none";
        let args = ["--json", "--server", srv.base.as_str(), "--token", platform.as_str(), "keys", "rotate", "--alg", "ES256"];
        let rotated = crate::harness::run_cli(nowhere, srv.dir.path(), &args, None);
        assert_eq!((rotated.code, rotated.json()["alg"].clone()), (0, json!("ES256")), "{}", rotated.stderr);
        let args = ["--json", "--server", srv.base.as_str(), "--token", platform.as_str(), "keys", "list"];
        let listed = crate::harness::run_cli(nowhere, srv.dir.path(), &args, None);
        assert!(listed.json().as_array().unwrap().iter().any(|k| k["kid"] == rotated.json()["kid"]), "{}", listed.stdout);
    }
);
