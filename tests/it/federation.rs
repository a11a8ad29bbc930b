//! Federation (issue 20) on both databases: a second Gatehouse, on another origin
//! (`localhost` against `127.0.0.1`, so the browser keeps two cookie jars) with its own
//! database and keys, is tenant Cust1's upstream OpenID Provider. A person of its domain types
//! their address on our login page, signs in there, and comes back a new member of Cust1 with
//! an ID token saying `amr: ["fed"]`; a tenant without a provider keeps passwords. And what
//! must be refused: a replayed `state`, another issuer in `iss` (RFC 9207 §2.4), an answer
//! carried to another browser, an address outside the provider's domains, an issuer that does
//! not answer discovery.

use std::collections::HashMap;

use serde_json::Value;

use crate::harness::signin::{authorize_url, hidden, redeem, world, World, PASSWORD};
use crate::harness::{http, Backend, TestServer, LOCALHOST};
use gatehouse::apps::{Access, NewApp, Template};
use gatehouse::federation::{NewProvider, Proof};
use gatehouse::secret::Secret;

/// A browser with one cookie jar per host, following nothing by itself.
#[derive(Default)]
pub(crate) struct Browser {
    jars: HashMap<String, Vec<(String, String)>>,
}

fn host(url: &str) -> String {
    url::Url::parse(url).unwrap().host_str().unwrap().to_string()
}

impl Browser {
    fn jar(&mut self, url: &str) -> &mut Vec<(String, String)> {
        self.jars.entry(host(url)).or_default()
    }

    pub(crate) async fn get(&mut self, url: &str) -> reqwest::Response {
        let cookies = self.jar(url).iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
        let res = http().get(url).header("cookie", cookies).send().await.unwrap();
        crate::harness::signin::keep_cookies(self.jar(url), &res);
        res
    }

    pub(crate) async fn post(&mut self, url: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let cookies = self.jar(url).iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
        let res = http().post(url).header("cookie", cookies).form(form).send().await.unwrap();
        crate::harness::signin::keep_cookies(self.jar(url), &res);
        res
    }

    /// Follows redirects and answers the sign-in pages of whichever server shows them, logging
    /// in as `email` (with an empty password on our login page when `federated`), until a URL
    /// starting with `stop` is reached; returns it.
    pub(crate) async fn walk(&mut self, start: &str, email: &str, stop: &str) -> String {
        let mut url = start.to_string();
        let mut res = self.get(&url).await;
        for _ in 0..20 {
            if res.status().is_redirection() {
                let location = res.headers()["location"].to_str().unwrap().to_string();
                url = url::Url::parse(&url).unwrap().join(&location).unwrap().to_string();
                if url.starts_with(stop) {
                    return url;
                }
                res = self.get(&url).await;
                continue;
            }
            let status = res.status();
            let html = res.text().await.unwrap();
            assert!(status.is_success(), "{url}: {status}: {html}");
            // The page that sends a person on to their organisation (a meta refresh).
            if let Some(at) = html.find("id=\"upstream\" href=\"") {
                let rest = &html[at + "id=\"upstream\" href=\"".len()..];
                url = rest[..rest.find('"').unwrap()].replace("&amp;", "&").replace("&#38;", "&");
                if url.starts_with(stop) {
                    return url;
                }
                res = self.get(&url).await;
                continue;
            }
            let request = hidden(&html, "request").unwrap_or_else(|| panic!("no form at {url}: {html}"));
            let csrf = hidden(&html, "csrf").unwrap();
            let action = hidden(&html, "action").unwrap();
            let ours = !url.contains("localhost");
            let mut form = vec![("request", request.as_str()), ("csrf", csrf.as_str()), ("action", action.as_str())];
            match action.as_str() {
                // On our page the address alone is enough for a federated domain.
                "login" => form.extend([("email", email), ("password", if ours { "" } else { PASSWORD })]),
                "approve" => form.push(("decision", "approve")),
                "consent" => form.push(("decision", "allow")),
                other => panic!("unexpected step {other} at {url}"),
            }
            let signin = url::Url::parse(&url).unwrap().join("/signin").unwrap().to_string();
            res = self.post(&signin, &form).await;
            url = signin;
        }
        panic!("the sign-in did not finish");
    }
}

pub(crate) struct Upstream {
    pub srv: TestServer,
    pub client_id: String,
    pub secret: String,
}

/// The upstream: another Gatehouse on `localhost`, whose tenant Corp has `pat@corp.example`
/// and `eve@elsewhere.example`, and an app for us with our callback as its redirect URI.
pub(crate) async fn upstream(down: &TestServer) -> Upstream {
    let backend = if down.state.store.backend() == "sqlite" { Backend::Sqlite } else { Backend::Postgres };
    let srv = TestServer::start_with(
        backend,
        &[("GATEHOUSE_ISSUER", LOCALHOST), ("GATEHOUSE_OUTBOUND_ALLOW_PRIVATE_NETWORKS", "true")],
    )
    .await
    .unwrap();
    let partner = srv.partner().await;
    let dir = &srv.state.directory;
    dir.add_tenant("Corp", "Corp Ltd", None, Some(&partner), "test").await.unwrap();
    for (email, name) in [("pat@corp.example", "Pat Upstream"), ("eve@elsewhere.example", "Eve")] {
        dir.add_user(email, Some(name), "Corp", false, Secret::new(PASSWORD.into()), "test").await.unwrap();
    }
    // The upstream vouches for Pat's address (email_verified); one it does not vouch for is
    // refused (`admit`).
    let sql = "UPDATE users SET email_verified_at = 1 WHERE email = 'pat@corp.example'";
    gatehouse::on_db!(&srv.state.store.db, pool => sqlx::query(sql).execute(pool).await.unwrap().rows_affected());
    let new = NewApp {
        partner_id: partner,
        name: "Gatehouse downstream".into(),
        template: Template::Web,
        redirect_uris: vec![down.state.upstreams.callback().to_string()],
        access: Access::Private,
        technical_contact: None,
        justification: None,
    };
    let created = srv.state.registry.create(new, "test").await.unwrap();
    let app = srv.state.registry.get(&created.app.client_id).await.unwrap();
    srv.state.approvals.approve("Corp", &app, None, "test").await.unwrap();
    Upstream { client_id: created.app.client_id, secret: created.client_secret.unwrap().secret.expose().clone(), srv }
}

/// Tenant Cust1 (of `world`) signs in people of corp.example at `up`; the app is approved.
pub(crate) async fn connect(srv: &TestServer, up: &Upstream, w: &World) {
    let new = provider(&up.srv.base, &up.client_id, Some(&up.secret), "Corp.Example");
    srv.state.upstreams.add("Cust1", new, "test", Proof::Operator).await.unwrap();
    let app = srv.state.registry.get(&w.client_id).await.unwrap();
    srv.state.approvals.approve("Cust1", &app, None, "test").await.unwrap();
}

/// A provider for Cust1: these domains, passwords not allowed, the default claim names.
fn provider(issuer: &str, client_id: &str, secret: Option<&str>, domain: &str) -> NewProvider {
    NewProvider {
        issuer: issuer.into(),
        client_id: client_id.into(),
        client_secret: secret.map(|s| Secret::new(s.into())),
        domains: vec![domain.into()],
        admin_group: None,
        passwords_allowed: false,
        email_claim: None,
        name_claim: None,
        groups_claim: None,
    }
}

fn query(url: &str) -> HashMap<String, String> {
    url::Url::parse(url).unwrap().query_pairs().into_owned().collect()
}

/// Pat signs in to the app of `w` at the tenant's provider, in a browser of their own; the
/// claims of the ID token the app gets.
pub(crate) async fn federated_sign_in(srv: &TestServer, w: &World) -> Value {
    let callback = srv.state.upstreams.callback().to_string();
    let mut browser = Browser::default();
    let back = browser.walk(&authorize_url(srv, w, &[]), "pat@corp.example", &callback).await;
    let done = browser.walk(&back, "pat@corp.example", crate::harness::signin::REDIRECT).await;
    let (status, tokens) = redeem(&srv.base, w, &query(&done)["code"]).await;
    assert_eq!(status, 200, "{tokens}");
    claims(tokens["id_token"].as_str().unwrap())
}

fn claims(jwt: &str) -> Value {
    let body = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&gatehouse::crypto::b64url_decode(body).unwrap()).unwrap()
}

both_backends!(
    async fn a_person_of_a_federated_domain_signs_in_at_the_tenants_provider_and_joins_the_tenant(srv) {
        let w = world(&srv).await;
        let up = upstream(&srv).await;
        connect(&srv, &up, &w).await;
        let callback = srv.state.upstreams.callback().to_string();

        let mut browser = Browser::default();
        let back = browser.walk(&authorize_url(&srv, &w, &[]), "pat@corp.example", &callback).await;
        let answer = query(&back);
        assert_eq!(answer.get("iss").map(String::as_str), Some(up.srv.base.as_str()), "RFC 9207 iss from the upstream");
        let done = browser.walk(&back, "pat@corp.example", crate::harness::signin::REDIRECT).await;
        let code = query(&done)["code"].clone();
        let (status, tokens) = redeem(&srv.base, &w, &code).await;
        assert_eq!(status, 200, "{tokens}");
        let id = claims(tokens["id_token"].as_str().unwrap());
        assert_eq!(id["amr"], serde_json::json!(["fed"]));
        assert_eq!(id["http://schemes.superoffice.net/identity/identityprovider"], up.srv.base.as_str());
        let user = srv.state.directory.user("pat@corp.example").await.unwrap();
        assert_eq!(id["sub"], user.id.as_str());
        assert_eq!(user.name, "Pat Upstream", "the name comes from the upstream");
        let memberships = srv.state.directory.memberships(&user.id).await.unwrap();
        assert!(memberships.iter().any(|m| m.tenant == "Cust1" && !m.is_admin), "{memberships:?}");

        // RFC 6749 §10.12 / OIDC Core §3.1.2.7: the answer's state is used once.
        let replay = browser.get(&back).await;
        assert_eq!(replay.status(), 400);
        assert!(replay.text().await.unwrap().contains("expired or was used already"));

        // A tenant without a provider keeps passwords (the administrator of `world`).
        let mut other = crate::harness::signin::Browser::new();
        let code = crate::harness::signin::code_of(&srv, &mut other, &w, &[]).await;
        assert_eq!(redeem(&srv.base, &w, &code).await.0, 200);
    }
);

both_backends!(
    async fn an_answer_from_another_issuer_another_browser_or_outside_the_domains_is_refused(srv) {
        let w = world(&srv).await;
        let up = upstream(&srv).await;
        connect(&srv, &up, &w).await;
        let callback = srv.state.upstreams.callback().to_string();

        // RFC 9207 §2.4: an iss that is not the provider's is refused before anything else.
        let mut browser = Browser::default();
        let back = browser.walk(&authorize_url(&srv, &w, &[]), "pat@corp.example", &callback).await;
        let forged = back.replace(&form_urlencoded::byte_serialize(up.srv.base.as_bytes()).collect::<String>(), "https%3A%2F%2Fevil.example");
        assert_ne!(forged, back);
        let res = browser.get(&forged).await;
        assert_eq!(res.status(), 400);
        assert!(res.text().await.unwrap().contains("another issuer"));

        // The upstream's answer carried to a browser that did not start the sign-in.
        let mut victim = Browser::default();
        let back = browser.walk(&authorize_url(&srv, &w, &[]), "pat@corp.example", &callback).await;
        let res = victim.get(&back).await;
        assert_eq!(res.status(), 403);
        assert!(srv.state.directory.user("pat@corp.example").await.is_err(), "nobody was signed in or made");

        // Signed in upstream as someone whose address is not of a federated domain.
        let mut browser = Browser::default();
        let start = browser.walk(&authorize_url(&srv, &w, &[]), "pat@corp.example", &up.srv.base).await;
        let back = browser.walk(&start, "eve@elsewhere.example", &callback).await;
        let res = browser.get(&back).await;
        assert_eq!(res.status(), 403);
        assert!(srv.state.directory.user("eve@elsewhere.example").await.is_err());

        // An issuer that does not answer discovery is refused when it is connected.
        let new = provider("http://127.0.0.1:9", "x", Some("y"), "nowhere.example");
        let e = srv.state.upstreams.add("Cust1", new, "test", Proof::Operator).await.unwrap_err();
        assert!(e.to_string().contains("OpenID Connect Discovery failed"), "{e}");
    }
);

both_backends!(
    async fn an_operator_connects_and_removes_a_provider_through_the_api(srv) {
        use crate::api::{admin_token, call};
        use gatehouse::apps::Entitlement;
        use reqwest::Method;
        let w = world(&srv).await;
        let up = upstream(&srv).await;
        let partner = srv.state.registry.get(&w.client_id).await.unwrap().partner_id;
        let (_, platform) = admin_token(&srv, &partner, Entitlement::AdminPlatform).await;
        let path = "/api/v1/tenants/Cust1/identity-providers";
        let body = serde_json::json!({
            "issuer": up.srv.base, "client_id": up.client_id, "client_secret": up.secret,
            "domains": ["corp.example"], "admin_group": "admins",
        });
        let (status, _, added) = call(&srv, Method::POST, path, Some(&platform), Some(body.clone()), &[]).await;
        assert_eq!(status, 201, "{added}");
        assert_eq!(added["domains"], serde_json::json!(["corp.example"]));
        assert_eq!(added["passwords_allowed"], false);
        assert!(added.get("client_secret").is_none() && !added.to_string().contains(&up.secret), "{added}");
        let (status, _, list) = call(&srv, Method::GET, path, Some(&platform), None, &[]).await;
        assert_eq!((status, list.as_array().unwrap().len()), (200, 1), "{list}");
        // One domain, one provider.
        let (status, _, again) = call(&srv, Method::POST, path, Some(&platform), Some(body), &[]).await;
        assert_eq!(status, 409, "{again}");
        // A partner's token manages its apps, not tenants' sign-in.
        let (_, partner_token) = admin_token(&srv, &partner, Entitlement::AdminPartner).await;
        let (status, _, _) = call(&srv, Method::GET, path, Some(&partner_token), None, &[]).await;
        assert_eq!(status, 403);
        let one = format!("{path}/{}", added["id"].as_str().unwrap());
        assert_eq!(call(&srv, Method::DELETE, &one, Some(&platform), None, &[]).await.0, 204);
        assert_eq!(call(&srv, Method::DELETE, &one, Some(&platform), None, &[]).await.0, 404);
        let actions: Vec<String> = srv.state.store.audit_after(None, i64::MAX, 1_000).await.unwrap()
            .into_iter().filter(|(_, e)| e.subject == "Cust1").map(|(_, e)| e.action.into_owned()).collect();
        assert!(actions.contains(&"tenant.identity_provider_added".to_string()), "{actions:?}");
        assert!(actions.contains(&"tenant.identity_provider_removed".to_string()), "{actions:?}");
    }
);

both_backends!(
    async fn we_can_authenticate_to_a_provider_with_private_key_jwt_instead_of_a_secret(srv) {
        let w = world(&srv).await;
        let up = upstream(&srv).await;
        let new = provider(&up.srv.base, &up.client_id, None, "corp.example");
        let idp = srv.state.upstreams.add("Cust1", new, "test", Proof::Operator).await.unwrap();
        assert!(idp.client_secret.is_none());
        let jwks_uri = srv.state.upstreams.jwks_uri(&idp).unwrap();
        let set: Value = http().get(&jwks_uri).send().await.unwrap().json().await.unwrap();
        let jwk = &set["keys"][0];
        assert_eq!((jwk["kty"].as_str(), jwk["alg"].as_str()), (Some("EC"), Some("ES256")), "{set}");
        assert!(jwk.get("d").is_none(), "only the public half is published");
        // The provider's administrator uploads our public key for the app; its secret is never used.
        up.srv.state.registry.add_certificate(&up.client_id, jwk.to_string().as_bytes(), None, "test").await.unwrap();
        let app = srv.state.registry.get(&w.client_id).await.unwrap();
        srv.state.approvals.approve("Cust1", &app, None, "test").await.unwrap();

        assert_eq!(federated_sign_in(&srv, &w).await["amr"], serde_json::json!(["fed"]));
    }
);

mod scripted {
    //! Against a scripted provider (`harness::fake_op`), the answers a real one never gives.
    use super::*;
    use crate::harness::fake_op::{FakeOp, CLIENT_ID};

    /// Cust1 signs in corp.example at the fake provider; returns the callback URL prefix.
    async fn connect_fake(srv: &TestServer, op: &FakeOp, w: &World) -> String {
        let new = provider(&op.base, CLIENT_ID, Some("fake secret"), "corp.example");
        srv.state.upstreams.add("Cust1", new, "test", Proof::Operator).await.unwrap();
        let app = srv.state.registry.get(&w.client_id).await.unwrap();
        srv.state.approvals.approve("Cust1", &app, None, "test").await.unwrap();
        srv.state.upstreams.callback().to_string()
    }

    /// Leaves our login page for the fake provider: the browser, and the callback URL a
    /// provider would send it back to (with the request's state and nonce).
    async fn leave(srv: &TestServer, op: &FakeOp, w: &World, callback: &str) -> (Browser, String, String) {
        let mut browser = Browser::default();
        let at_op = browser.walk(&authorize_url(srv, w, &[]), "pat@corp.example", &op.base).await;
        let q = query(&at_op);
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["client_id"], CLIENT_ID);
        let back = format!(
            "{callback}?code=c&state={}&iss={}",
            q["state"],
            form_urlencoded::byte_serialize(op.base.as_bytes()).collect::<String>()
        );
        (browser, back, q["nonce"].clone())
    }

    async fn refused(browser: &mut Browser, url: &str, status: u16, says: &str) {
        let res = browser.get(url).await;
        assert_eq!(res.status().as_u16(), status, "{url}");
        let page = res.text().await.unwrap();
        assert!(page.contains(says), "expected '{says}' in {page}");
    }

    both_backends!(
        async fn nonce_signature_key_issuer_and_an_upstream_that_fails_or_hangs_are_refused(srv) {
            let w = world(&srv).await;
            let op = FakeOp::start().await;
            let callback = connect_fake(&srv, &op, &w).await;

            // A good answer first, so every refusal below is the one thing changed.
            let (mut b, back, nonce) = leave(&srv, &op, &w, &callback).await;
            op.script.lock().unwrap().nonce = nonce;
            let res = b.get(&back).await;
            assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());

            // OIDC Core §3.1.3.7 (11): the nonce must be the request's.
            let (mut b, back, _) = leave(&srv, &op, &w, &callback).await;
            op.script.lock().unwrap().nonce = "another request's nonce".into();
            refused(&mut b, &back, 400, "cannot trust").await;

            // §3.1.3.7 (6): signed by a key that is not the one its kid names.
            let (mut b, back, nonce) = leave(&srv, &op, &w, &callback).await;
            *op.script.lock().unwrap() = crate::harness::fake_op::Script { nonce, sign_with_second: true, ..Default::default() };
            refused(&mut b, &back, 400, "cannot trust").await;

            // A kid we have not seen: the keys are fetched again, once; still unknown, refused;
            // once the provider publishes it, the same kind of answer is taken.
            let (mut b, back, nonce) = leave(&srv, &op, &w, &callback).await;
            *op.script.lock().unwrap() =
                crate::harness::fake_op::Script { nonce, sign_with_second: true, kid: "b".into(), ..Default::default() };
            refused(&mut b, &back, 400, "cannot trust").await;
            let (mut b, back, nonce) = leave(&srv, &op, &w, &callback).await;
            *op.script.lock().unwrap() = crate::harness::fake_op::Script {
                nonce,
                sign_with_second: true,
                kid: "b".into(),
                published: vec!["a", "b"],
                ..Default::default()
            };
            assert_eq!(b.get(&back).await.status(), 303, "a rotated key is found by fetching the keys again");

            // §3.1.3.7 (2): the ID token's iss must be the provider's.
            let (mut b, back, nonce) = leave(&srv, &op, &w, &callback).await;
            *op.script.lock().unwrap() =
                crate::harness::fake_op::Script { nonce, iss: Some("https://evil.example".into()), ..Default::default() };
            refused(&mut b, &back, 400, "cannot trust").await;

            // The provider's own refusal is shown (checked text only), and so is an error of its.
            let (mut b, back, _) = leave(&srv, &op, &w, &callback).await;
            let denied = back.replace("code=c", "error=access_denied&error_description=Not%20in%20the%20group");
            refused(&mut b, &denied, 400, "refused: Not in the group").await;
            let (mut b, back, nonce) = leave(&srv, &op, &w, &callback).await;
            *op.script.lock().unwrap() = crate::harness::fake_op::Script { nonce, status: 500, ..Default::default() };
            refused(&mut b, &back, 502, "could not be used").await;

            // RFC 9207 §2.4: this provider says it sends iss, so an answer without it is refused.
            let (mut b, back, _) = leave(&srv, &op, &w, &callback).await;
            let no_iss = back.split("&iss=").next().unwrap().to_string();
            refused(&mut b, &no_iss, 400, "did not say which issuer").await;

            // No state, or one nobody issued.
            refused(&mut b, &format!("{callback}?code=c"), 400, "expired or was used").await;
            refused(&mut b, &format!("{callback}?code=c&state=made-up"), 400, "expired or was used").await;

            // A provider that hangs: the wait is bounded by the outbound timeout, then a page.
            let (mut b, back, nonce) = leave(&srv, &op, &w, &callback).await;
            *op.script.lock().unwrap() =
                crate::harness::fake_op::Script { nonce, delay: std::time::Duration::from_secs(8), ..Default::default() };
            refused(&mut b, &back, 502, "could not be used").await;

            // Metadata served from a redirect (to the cloud metadata address) is not followed.
            let new = provider(&format!("{}/redirecting", op.base), CLIENT_ID, Some("s"), "redirected.example");
            let e = srv.state.upstreams.add("Cust1", new, "test", Proof::Operator).await.unwrap_err();
            assert!(e.to_string().contains("Discovery failed"), "{e}");
            assert!(srv.state.directory.user("pat@corp.example").await.is_ok(), "the good answers signed Pat in");
        }
    );
}
