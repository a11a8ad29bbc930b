//! Findings of the external audit (issue 16), one test each: acting for users only by a named
//! integration point, public clients never re-authorized silently, the registered client
//! authentication method enforced, refresh-token limits for public clients, tokens that end
//! with the tenant's approval, custom apps kept to their tenant.

use serde_json::{json, Value};

use crate::harness::apps::{app, jwt_claims, post, TestApp};
use crate::harness::jwt::rs256;
use crate::harness::signin::{authorize_url, code_of, redeem, world, Browser, World, PASSWORD, REDIRECT};
use crate::harness::{fixture, http, TestServer};
use gatehouse::apps::{Access, AppOverrides, Entitlement, NewApp, RefreshMode, Template, TokenSettings};
use gatehouse::secret::Secret;

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

fn private_pem() -> String {
    String::from_utf8(fixture("app-private.pem")).unwrap()
}

/// Tenant `Cust700` with a plain member and an administrator, approving `a` (which holds the
/// fixture certificate).
async fn tenant_with_people(srv: &TestServer, a: &TestApp) {
    let dir = &srv.state.directory;
    dir.add_tenant("Cust700", "Customer", None, None, "test").await.unwrap();
    for (email, admin) in [("member@example.com", false), ("boss@example.com", true)] {
        dir.add_user(email, None, "Cust700", admin, Secret::new(PASSWORD.into()), "test").await.unwrap();
    }
    let app = srv.state.registry.get(&a.client_id).await.unwrap();
    srv.state.approvals.approve("Cust700", &app, None, "test").await.unwrap();
}

async fn act_for(srv: &TestServer, a: &TestApp, email: &str) -> (u16, Value) {
    let now = srv.clock.now();
    let claims = json!({ "iss": a.client_id, "sub": email, "aud": srv.base, "exp": now + 120, "iat": now,
        "jti": gatehouse::crypto::random_id() });
    let assertion = rs256(&private_pem(), json!({"alg": "RS256"}), claims);
    let (status, _, body) =
        post(srv, "/token", Some((&a.client_id, &a.secret)), &[("grant_type", JWT_BEARER), ("assertion", &assertion)])
            .await;
    (status, body)
}

both_backends!(
    async fn an_app_acts_for_users_only_with_the_integration_point_the_tenant_approved(srv) {
        let a = app(&srv, Template::ServerToServer).await;
        srv.state.registry.add_certificate(&a.client_id, &fixture("app-cert.pem"), None, "test").await.unwrap();
        tenant_with_people(&srv, &a).await;
        // Approved for the tenant, but not for acting as its people.
        let (status, body) = act_for(&srv, &a, "member@example.com").await;
        assert_eq!((status, body["error"].as_str()), (400, Some("unauthorized_client")), "{body}");
        // With act-for-users (the tenant must approve again: it changes what the app may do).
        srv.state.registry.add_entitlement(&a.client_id, Entitlement::ActForUsers, None, "test").await.unwrap();
        let (status, body) = act_for(&srv, &a, "member@example.com").await;
        assert_eq!(status, 400, "needs re-approval first: {body}");
        let app_now = srv.state.registry.get(&a.client_id).await.unwrap();
        srv.state.approvals.approve("Cust700", &app_now, None, "test").await.unwrap();
        let (status, body) = act_for(&srv, &a, "member@example.com").await;
        assert_eq!(status, 200, "{body}");
        let member = srv.state.directory.user("member@example.com").await.unwrap();
        assert_eq!(jwt_claims(body["access_token"].as_str().unwrap()).1["sub"], member.id.as_str());
        // Never an administrator without act-for-administrators.
        let (status, body) = act_for(&srv, &a, "boss@example.com").await;
        assert_eq!((status, body["error"].as_str()), (400, Some("unauthorized_client")), "{body}");
        // Every use is in the tenant's audit trail.
        let trail = srv.state.store.audit_trail("Cust700", 50).await.unwrap();
        assert_eq!(trail.iter().filter(|e| e.action == "user.acted_for").count(), 1);
    }
);

async fn public_client(srv: &TestServer, partner: &str) -> World {
    crate::harness::signin::public_client(srv, partner, "Desktop app", REDIRECT).await
}

both_backends!(
    async fn a_public_client_is_never_given_a_code_without_a_click(srv) {
        // RFC 8252 §8.6, RFC 9700 §2.1: any local process can use a loopback redirect.
        let w = world(&srv).await;
        let partner = srv.state.registry.get(&w.client_id).await.unwrap().partner_id;
        let public = public_client(&srv, &partner).await;
        let mut browser = Browser::new();
        code_of(&srv, &mut browser, &public, &[]).await;
        // Signed in, approved and consented: a confidential client gets its code at once…
        code_of(&srv, &mut browser, &w, &[]).await;
        let res = browser.get(&authorize_url(&srv, &w, &[])).await;
        assert!(res.headers()["location"].to_str().unwrap().starts_with(REDIRECT));
        // …a public one is shown the consent page, which names where the browser goes next.
        let res = browser.get(&authorize_url(&srv, &public, &[])).await;
        let location = res.headers()["location"].to_str().unwrap().to_string();
        assert!(location.starts_with("/signin?request="), "{location}");
        let page = browser.get(&srv.url(&location)).await.text().await.unwrap();
        assert!(page.contains("Allow access?") && page.contains("app.example.com"), "{page}");
        // prompt=none cannot click: consent_required.
        let res = browser.get(&authorize_url(&srv, &public, &[("prompt", "none")])).await;
        assert!(res.headers()["location"].to_str().unwrap().contains("error=consent_required"));
    }
);

both_backends!(
    async fn a_client_authenticates_only_by_the_method_it_registered(srv) {
        world(&srv).await;
        let token = gatehouse::oauth::registration::create_initial_token(&srv.state, 1).await.unwrap().0;
        let register = |body: Value| {
            let token = token.clone();
            let url = srv.url("/register");
            async move {
                let res = http().post(url).bearer_auth(token).json(&body).send().await.unwrap();
                res.json::<Value>().await.unwrap()
            }
        };
        // private_key_jwt: no client secret is issued at all.
        let mut jwk = gatehouse::jose::certificate::parse(&fixture("app-public.pem")).unwrap().key.to_jwk();
        jwk["kid"] = json!("k1");
        let reg = register(json!({ "grant_types": ["client_credentials"], "response_types": [],
            "token_endpoint_auth_method": "private_key_jwt", "jwks": { "keys": [jwk] } })).await;
        assert!(reg.get("client_secret").is_none(), "{reg}");
        let client_id = reg["client_id"].as_str().unwrap();
        assert!(srv.state.registry.secrets(client_id).await.unwrap().is_empty());
        // client_secret_basic (the default): the same secret sent in the body is refused.
        let reg = register(json!({ "grant_types": ["client_credentials"], "response_types": [] })).await;
        let (id, secret) = (reg["client_id"].as_str().unwrap(), reg["client_secret"].as_str().unwrap());
        let (status, _, _) = post(&srv, "/token", Some((id, secret)), &[("grant_type", "client_credentials")]).await;
        assert_eq!(status, 200);
        let (status, _, body) = post(&srv, "/token", None, &[("grant_type", "client_credentials"), ("client_id", id), ("client_secret", secret)]).await;
        assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "{body}");
        let (status, _, _) = post(&srv, "/introspect", None, &[("token", "x"), ("client_id", id), ("client_secret", secret)]).await;
        assert_eq!(status, 401, "at every endpoint that authenticates clients");
    }
);

both_backends!(
    async fn public_clients_get_only_rotating_refresh_tokens_and_families_end(srv) {
        let w = world(&srv).await;
        let partner = srv.state.registry.get(&w.client_id).await.unwrap().partner_id;
        let public = public_client(&srv, &partner).await;
        // RFC 9700 §4.14.2: not sender-constrained, so they MUST rotate.
        let long_lived = TokenSettings { refresh_mode: Some(RefreshMode::LongLived), ..Default::default() };
        assert!(srv.state.registry.set_token_settings(&public.client_id, long_lived, &["RS256"], "test").await.is_err());
        // A rotating family has an absolute lifetime: used every 20 days, it still ends.
        let mut browser = Browser::new();
        let code = code_of(&srv, &mut browser, &w, &[]).await;
        let (_, tokens) = redeem(&srv.base, &w, &code).await;
        let mut refresh = tokens["refresh_token"].as_str().unwrap().to_string();
        let mut refreshed = 0;
        for _ in 0..10 {
            srv.clock.advance(20 * 86_400);
            let (status, _, body) = post(&srv, "/token", Some((&w.client_id, &w.secret)),
                &[("grant_type", "refresh_token"), ("refresh_token", &refresh)]).await;
            if status != 200 {
                assert_eq!(body["error"], "invalid_grant");
                break;
            }
            refreshed += 1;
            refresh = body["refresh_token"].as_str().unwrap().to_string();
        }
        assert_eq!(refreshed, 4, "90 days after the sign-in the family ends, however often it is used");
    }
);

both_backends!(
    async fn revoking_an_app_in_a_tenant_ends_its_access_tokens_there(srv) {
        let w = world(&srv).await;
        srv.state.registry.set_token_settings(&w.client_id, TokenSettings { format: Some(gatehouse::apps::TokenFormat::Opaque), ..Default::default() }, &["RS256"], "test").await.unwrap();
        let mut browser = Browser::new();
        let code = code_of(&srv, &mut browser, &w, &[]).await;
        let (_, tokens) = redeem(&srv.base, &w, &code).await;
        let access = tokens["access_token"].as_str().unwrap();
        assert!(access.starts_with("gatehouse_at_"));
        let auth = Some((w.client_id.as_str(), w.secret.as_str()));
        let (_, _, body) = post(&srv, "/introspect", auth, &[("token", access)]).await;
        assert_eq!(body["active"], true);
        let app = srv.state.registry.get(&w.client_id).await.unwrap();
        srv.state.approvals.end("Cust1", &app, gatehouse::approvals::End::Revoked, "test").await.unwrap();
        let (_, _, body) = post(&srv, "/introspect", auth, &[("token", access)]).await;
        assert_eq!(body, json!({"active": false}));
        let res = http().get(srv.url("/userinfo")).bearer_auth(access).send().await.unwrap();
        assert_eq!(res.status(), 401);
    }
);

both_backends!(
    async fn a_custom_app_is_admitted_only_in_its_own_tenant(srv) {
        let partner = srv.partner().await;
        let dir = &srv.state.directory;
        dir.add_tenant("Own1", "Own", None, None, "test").await.unwrap();
        dir.add_tenant("Else1", "Else", None, None, "test").await.unwrap();
        let own = dir.tenant("Own1").await.unwrap();
        let created = srv
            .state
            .registry
            .create_with(
                NewApp {
                    partner_id: partner,
                    name: "Custom sync".into(),
                    template: Template::ServerToServer,
                    redirect_uris: vec![],
                    access: Access::Public,
                    technical_contact: None,
                    justification: None,
                },
                &AppOverrides { custom_tenant_id: Some(own.id.clone()), ..Default::default() },
                "test",
            )
            .await
            .unwrap();
        let (id, secret) = (created.app.client_id.clone(), created.client_secret.unwrap().secret.expose().clone());
        for ctx in ["Own1", "Else1"] {
            srv.state.approvals.approve(ctx, &created.app, None, "test").await.unwrap();
        }
        let cc = |ctx: &'static str| {
            let (id, secret) = (id.clone(), secret.clone());
            let srv = &srv;
            async move { post(srv, "/token", Some((&id, &secret)), &[("grant_type", "client_credentials"), ("ctx", ctx)]).await }
        };
        assert_eq!(cc("Own1").await.0, 200);
        let (status, _, body) = cc("Else1").await;
        assert_eq!(status, 400, "approved elsewhere, but made for Own1: {body}");
    }
);

both_backends!(
    async fn an_audience_belongs_to_its_owner_not_to_whoever_lists_it(srv) {
        // Issue 16 item 4: partner B listed partner A's API among its app's resources and got
        // tokens for it. Audiences are now registered resource servers with owners.
        let a = app(&srv, Template::ServerToServer).await;
        let b = app(&srv, Template::ServerToServer).await;
        let partner_a = srv.state.registry.get(&a.client_id).await.unwrap().partner_id;
        let reg = &srv.state.registry;
        reg.register_resource_server("https://api.a.example", "A's API", Some(&partner_a), "test").await.unwrap();
        // Listing it on B's app (what the portal's resource list did) is refused now…
        let listed = reg.add_uri(&b.client_id, gatehouse::apps::UriKind::Resource, "https://api.a.example", "test").await;
        assert!(listed.unwrap_err().to_string().contains("grant"));
        // …while listing a new one registers it as the partner's own API.
        reg.add_uri(&b.client_id, gatehouse::apps::UriKind::Resource, "https://api.b.example", "test").await.unwrap();
        let ask = |t: &TestApp, resource: &'static str| {
            let (id, secret) = (t.client_id.clone(), t.secret.clone());
            let srv = &srv;
            async move { post(srv, "/token", Some((&id, &secret)), &[("grant_type", "client_credentials"), ("resource", resource)]).await }
        };
        let (status, _, body) = ask(&a, "https://api.a.example").await;
        assert_eq!(status, 200, "the owner's app: {body}");
        let (status, _, body) = ask(&b, "https://api.a.example").await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_target")), "another partner's app: {body}");
        assert_eq!(ask(&b, "https://api.b.example").await.0, 200, "its own partner's API");
        // A platform API: nobody's until granted.
        reg.register_resource_server("https://platform.example/api", "Platform API", None, "test").await.unwrap();
        assert_eq!(ask(&b, "https://platform.example/api").await.0, 400);
        let out = srv.cli(&["resource", "grant", "--identifier", "https://platform.example/api", "--client-id", &b.client_id], None);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let (status, _, body) = ask(&b, "https://platform.example/api").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(jwt_claims(body["access_token"].as_str().unwrap()).1["aud"], "https://platform.example/api");
        // Unregistered audiences are refused; a taken identifier cannot be registered again.
        assert_eq!(ask(&a, "https://unknown.example").await.0, 400);
        assert!(reg.register_resource_server("https://api.a.example", "Mine now", None, "test").await.is_err());
        let out = srv.cli(&["resource", "add", "--identifier", "http://evil.example/api", "--name", "Plain http"], None);
        assert_ne!(out.code, 0, "https only");
    }
);
