//! Federation set up by the tenant itself, on both databases: a tenant administrator connects
//! their provider on the tenant page (or an app the tenant approved with `admin:tenant`, through
//! the API), and its email domain routes nobody until DNS shows the claim's TXT record (the
//! tests' own DNS server, `harness::fake_dns`). Proven, the person signs in at the provider as
//! when the operator connects it.

use crate::api::{admin_token, call};
use crate::federation::{federated_sign_in, upstream, Browser};
use crate::harness::fake_dns;
use crate::harness::signin::{authorize_url, hidden, world, PASSWORD};
use crate::harness::TestServer;
use gatehouse::approvals::End;
use gatehouse::apps::Entitlement;
use gatehouse::secret::Secret;
use reqwest::Method;
use serde_json::json;

/// The TXT record's name and text for the one domain claimed for Cust1's one provider.
async fn claim(srv: &TestServer) -> (String, String, String) {
    let providers = srv.state.upstreams.list("Cust1").await.unwrap();
    let c = &providers[0].pending[0];
    let (name, text) = gatehouse::federation::domains::txt_record(&c.domain, &c.token);
    (providers[0].id.clone(), name, text)
}

both_backends!(
    env fake_dns::env();
    async fn a_tenant_administrator_connects_a_provider_that_routes_once_dns_proves_the_domain(srv) {
        let w = world(&srv).await;
        let up = upstream(&srv).await;
        let app = srv.state.registry.get(&w.client_id).await.unwrap();
        srv.state.approvals.approve("Cust1", &app, None, "test").await.unwrap();
        let (mut admin, csrf, status) = crate::people::on_tenant_page(&srv, "admin@example.com").await;
        assert_eq!(status, 200);
        let form = |action: &str, extra: &[(&str, &str)]| {
            let mut f = vec![("csrf".to_string(), csrf.clone()), ("ctx".into(), "Cust1".into()), ("action".into(), action.into())];
            f.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            f
        };
        let url = srv.url("/admin/tenant/sign-in");
        let post = |b: &mut crate::harness::signin::Browser, f: Vec<(String, String)>| {
            let mut b2 = crate::harness::signin::Browser { cookies: b.cookies.clone(), forwarded_for: None };
            let url = url.clone();
            async move {
                let borrowed: Vec<(&str, &str)> = f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                let res = b2.post(&url, &borrowed).await;
                (res.status().as_u16(), res.text().await.unwrap())
            }
        };

        let connect = form("idp-add", &[
            ("issuer", &up.srv.base), ("client_id", &up.client_id), ("client_secret", &up.secret), ("domains", "Corp.Example"),
            ("groups_claim", "roles"), ("email_claim", ""),
        ]);
        let (status, page) = post(&mut admin, connect.clone()).await;
        assert_eq!(status, 303, "{page}");
        let (id, name, text) = claim(&srv).await;
        assert_eq!(name, "_gatehouse-challenge.corp.example");
        let connected = &srv.state.upstreams.list("Cust1").await.unwrap()[0];
        assert_eq!((connected.groups_claim.as_str(), connected.email_claim.as_str()), ("roles", "email"), "mapped, or the default");
        let page = admin.get(&srv.url("/admin/tenant?ctx=Cust1")).await.text().await.unwrap();
        assert!(page.contains("corp.example: waiting for its DNS record"), "{page}");
        assert!(page.contains(&text) && page.contains(srv.state.upstreams.callback()), "{page}");
        assert!(!page.contains(&up.secret), "the client secret is never shown again");

        // Unproven, the domain routes nobody: the address alone is not enough on the login page.
        assert!(srv.state.upstreams.for_email("pat@corp.example").await.unwrap().is_none());
        let hinted = authorize_url(&srv, &w, &[("login_hint", "pat@corp.example")]);
        let mut fresh = crate::harness::signin::Browser::new();
        let res = fresh.get(&hinted).await;
        let location = res.headers()["location"].to_str().unwrap().to_string();
        assert!(!location.contains(&up.srv.base), "{location}");
        let page = fresh.get(url::Url::parse(&srv.base).unwrap().join(&location).unwrap().as_str()).await.text().await.unwrap();
        assert!(page.contains("name=\"password\""), "the login page, not the provider: {page}");

        // No record, then a record with another token: refused, saying what DNS showed.
        let prove = form("idp-prove", &[("id", &id), ("domain", "corp.example")]);
        // (Both backends' copies of this test share the DNS server and this name: which of the
        // two refusals comes first depends on the other; the API test sees "no record" alone.)
        let (status, page) = post(&mut admin, prove.clone()).await;
        assert_eq!(status, 400, "{page}");
        assert!(page.contains("_gatehouse-challenge.corp.example"), "{page}");
        fake_dns::publish(&name, &["gatehouse-domain-verification=someone-elses-token"]);
        let (status, page) = post(&mut admin, prove.clone()).await;
        assert_eq!(status, 400, "{page}");
        assert!(page.contains("do not hold this claim"), "{page}");
        assert!(srv.state.upstreams.for_email("pat@corp.example").await.unwrap().is_none());

        // The record published: the domain is proven and Pat signs in at the provider.
        fake_dns::publish(&name, &[&text]);
        let (status, page) = post(&mut admin, prove).await;
        assert_eq!(status, 303, "{page}");
        let page = admin.get(&srv.url("/admin/tenant?ctx=Cust1")).await.text().await.unwrap();
        assert!(page.contains("corp.example (proven)"), "{page}");
        assert_eq!(federated_sign_in(&srv, &w).await["amr"], json!(["fed"]));
        let callback = srv.state.upstreams.callback().to_string();

        // The Developer Portal's login sends Pat to the provider too, with or without a password
        // typed (passwords are not allowed for the domain); the answer counts only in the
        // browser that was sent away.
        for (password, stolen) in [("", true), (PASSWORD, false)] {
            let mut browser = Browser::default();
            let login = browser.get(&srv.url("/portal/login")).await.text().await.unwrap();
            let form = [
                ("csrf", hidden(&login, "csrf").unwrap()), ("next", "/portal".into()),
                ("email", "pat@corp.example".into()), ("password", password.into()),
            ];
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let res = browser.post(&srv.url("/portal/login"), &form).await;
            assert_eq!(res.status(), 200);
            let page = res.text().await.unwrap();
            let at = page.find("id=\"upstream\" href=\"").expect("the page that sends Pat on") + "id=\"upstream\" href=\"".len();
            let upstream_url = page[at..at + page[at..].find('"').unwrap()].replace("&amp;", "&").replace("&#38;", "&");
            assert!(upstream_url.starts_with(&up.srv.base), "{upstream_url}");
            let back = browser.walk(&upstream_url, "pat@corp.example", &callback).await;
            if stolen {
                let res = Browser::default().get(&back).await;
                assert_eq!(res.status(), 403);
                continue;
            }
            let res = browser.get(&back).await;
            assert_eq!(res.status(), 303);
            assert_eq!(res.headers()["location"], "/portal");
            let home = browser.get(&srv.url("/portal")).await.text().await.unwrap();
            assert!(home.contains("Sign out (pat@corp.example)"), "{home}");
        }

        // A second claim of a proven domain is refused at once; a member cannot use the forms.
        let (status, page) = post(&mut admin, connect).await;
        assert_eq!(status, 409, "{page}");
        srv.state.directory.add_user("mo@example.com", None, "Cust1", false, Secret::new(PASSWORD.into()), "test").await.unwrap();
        let (mut member, _, status) = crate::people::on_tenant_page(&srv, "mo@example.com").await;
        assert_eq!(status, 403);
        let own_csrf = hidden(&member.get(&srv.url("/portal")).await.text().await.unwrap(), "csrf").unwrap();
        let mut remove = form("idp-remove", &[("id", &id)]);
        remove[0].1 = own_csrf;
        let (status, page) = post(&mut member, remove).await;
        assert_eq!(status, 403);
        assert!(page.contains("Not an administrator"), "{page}");
        let mut forged = form("idp-remove", &[("id", &id)]);
        forged[0].1 = "not-the-token".into();
        assert_eq!(post(&mut admin, forged).await.0, 403, "without the CSRF token nothing happens");
        assert_eq!(srv.state.upstreams.list("Cust1").await.unwrap().len(), 1);

        let actions: Vec<String> = srv.state.store.audit_after(None, i64::MAX, 1_000).await.unwrap()
            .into_iter().filter(|(_, e)| e.subject == "Cust1").map(|(_, e)| e.action.into_owned()).collect();
        assert!(actions.contains(&"tenant.domain_proven".to_string()), "{actions:?}");
        let (status, _) = post(&mut admin, form("idp-remove", &[("id", &id)])).await;
        assert_eq!(status, 303);
        assert!(srv.state.upstreams.for_email("pat@corp.example").await.unwrap().is_none());
        assert!(hidden(&admin.get(&srv.url("/admin/tenant?ctx=Cust1")).await.text().await.unwrap(), "csrf").is_some());
    }
);

both_backends!(
    env fake_dns::env();
    async fn an_app_the_tenant_approved_with_admin_tenant_manages_that_tenants_sign_in_alone(srv) {
        let w = world(&srv).await;
        let up = upstream(&srv).await;
        let partner = srv.state.registry.get(&w.client_id).await.unwrap().partner_id;
        srv.state.directory.add_tenant("Cust2", "Customer Two", None, Some(&partner), "test").await.unwrap();
        let (client_id, token) = admin_token(&srv, &partner, Entitlement::AdminTenant).await;
        let path = "/api/v1/tenants/Cust1/identity-providers";
        // Not approved by the tenant yet: as if the tenant did not exist.
        assert_eq!(call(&srv, Method::GET, path, Some(&token), None, &[]).await.0, 404);
        let app = srv.state.registry.get(&client_id).await.unwrap();
        srv.state.approvals.approve("Cust1", &app, None, "test").await.unwrap();
        let (status, _, list) = call(&srv, Method::GET, path, Some(&token), None, &[]).await;
        assert_eq!((status, list), (200, json!([])));
        assert_eq!(call(&srv, Method::GET, "/api/v1/tenants/Cust1", Some(&token), None, &[]).await.0, 200);
        assert_eq!(call(&srv, Method::GET, "/api/v1/tenants/Cust2/identity-providers", Some(&token), None, &[]).await.0, 404);
        assert_eq!(call(&srv, Method::GET, "/api/v1/tenants/Nope/identity-providers", Some(&token), None, &[]).await.0, 404);
        // admin:tenant reaches no app, not even its own partner's.
        assert_eq!(call(&srv, Method::GET, "/api/v1/apps", Some(&token), None, &[]).await.0, 403);
        assert_eq!(call(&srv, Method::GET, &format!("/api/v1/apps/{}", w.client_id), Some(&token), None, &[]).await.0, 403);

        // A domain of this test alone, where DNS has nothing.
        let lonely = format!("{}.example", gatehouse::crypto::random_id().to_ascii_lowercase().replace('_', ""));
        let body = json!({ "issuer": up.srv.base, "client_id": up.client_id, "domains": ["corp.example", lonely] });
        let (status, _, added) = call(&srv, Method::POST, path, Some(&token), Some(body), &[]).await;
        assert_eq!(status, 201, "{added}");
        assert_eq!(added["domains"], json!([]), "a tenant's own claim is not proven yet");
        assert!(added["jwks_uri"].is_string(), "no secret given: private_key_jwt with our key");
        let pending = added["pending_domains"].as_array().unwrap().iter().find(|p| p["domain"] == "corp.example").unwrap();
        assert_eq!(pending["txt_name"], "_gatehouse-challenge.corp.example");
        let id = added["id"].as_str().unwrap();
        let nothing = format!("{path}/{id}/domains/{lonely}/proof");
        let (status, _, problem) = call(&srv, Method::POST, &nothing, Some(&token), None, &[]).await;
        assert_eq!(status, 422, "{problem}");
        let said = problem["detail"].as_str().unwrap();
        assert!(said.contains(&format!("no TXT record at _gatehouse-challenge.{lonely}")), "{problem}");
        let proof = format!("{path}/{id}/domains/corp.example/proof");
        fake_dns::publish(pending["txt_name"].as_str().unwrap(), &[pending["txt_value"].as_str().unwrap()]);
        let (status, _, proven) = call(&srv, Method::POST, &proof, Some(&token), None, &[]).await;
        assert_eq!(status, 200, "{proven}");
        assert_eq!(proven["domains"], json!(["corp.example"]));
        assert_eq!(proven["pending_domains"].as_array().unwrap().len(), 1, "{lonely} still waits");
        let elsewhere = proof.replace("corp.example/proof", "other.example/proof");
        assert_eq!(call(&srv, Method::POST, &elsewhere, Some(&token), None, &[]).await.0, 404);

        // The tenant revokes the app: its token reaches the tenant no more.
        srv.state.approvals.end("Cust1", &app, End::Revoked, "test").await.unwrap();
        assert_eq!(call(&srv, Method::GET, path, Some(&token), None, &[]).await.0, 404);
    }
);
