//! The sign-in pages in a real headless Chromium, driven over WebDriver (chromedriver), with the
//! relying party where real ones live: on another origin (its own listener, another port), so
//! the pages' CSP meets the redirect to the app as it does in the world. An administrator and a
//! plain member go through login, tenant choice, approval and consent; the app receives its
//! code by query, fragment and form_post and redeems it with the openidconnect crate; prompt,
//! max_age, RP-initiated logout, and a single-page app calling token and userinfo with `fetch`
//! (CORS). Each page is saved as a screenshot under `target/browser-screenshots/`.

use crate::harness::browser::Driver;

use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------------
// The relying party, on its own origin.

/// What the relying party's listener received, in order: (method, path, query or form body).
type Inbox = std::sync::Arc<std::sync::Mutex<Vec<(String, String, String)>>>;

struct RelyingParty {
    /// `http://127.0.0.1:<its own port>`: another origin than Gatehouse's.
    origin: String,
    inbox: Inbox,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RelyingParty {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A single-page app's two pages: the first makes a PKCE pair and goes to `/authorize`; the
/// second redeems the code and calls userinfo with `fetch`, as a browser OIDC library does.
const SPA_START: &str = "<!doctype html><title>SPA</title><script>(async () => {\
  const b64 = (buf) => btoa(String.fromCharCode(...new Uint8Array(buf))).replace(/\\+/g,'-').replace(/\\//g,'_').replace(/=+$/,'');\
  const v = b64(crypto.getRandomValues(new Uint8Array(32))); sessionStorage.setItem('v', v);\
  const c = b64(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(v)));\
  const q = new URLSearchParams({response_type:'code', client_id:CONFIG.client_id, redirect_uri:location.origin+'/spa-cb', scope:'openid email', state:'spa1', code_challenge:c, code_challenge_method:'S256'});\
  location.assign(CONFIG.issuer + '/authorize?' + q);\
})();</script>";

const SPA_CALLBACK: &str = "<!doctype html><title>SPA callback</title><body><script>(async () => {\
  const p = new URLSearchParams(location.search);\
  const body = new URLSearchParams({grant_type:'authorization_code', code:p.get('code'), redirect_uri:location.origin+'/spa-cb', client_id:CONFIG.client_id, code_verifier:sessionStorage.getItem('v')});\
  const t = await (await fetch(CONFIG.issuer + '/token', {method:'POST', body})).json();\
  const u = await (await fetch(CONFIG.issuer + '/userinfo', {headers:{authorization:'Bearer ' + t.access_token}})).json();\
  document.body.textContent = JSON.stringify({refresh: !!t.refresh_token, id_token: !!t.id_token, email: u.email});\
  document.title = 'SPA done';\
})().catch((e) => { document.body.textContent = String(e); document.title = 'SPA failed'; });</script>";

async fn relying_party(issuer: String, spa_client_id: std::sync::Arc<std::sync::Mutex<String>>) -> RelyingParty {
    use axum::extract::{RawQuery, State};
    use axum::response::Html;
    let inbox: Inbox = Default::default();
    let record = |inbox: &Inbox, method: &str, path: &str, data: String| {
        inbox.lock().unwrap().push((method.to_string(), path.to_string(), data));
    };
    let config = move || {
        format!(
            "<script>const CONFIG = {{issuer: {:?}, client_id: {:?}}};</script>",
            issuer,
            spa_client_id.lock().unwrap().clone()
        )
    };
    let (c1, c2) = (config.clone(), config);
    let app = axum::Router::new()
        .route(
            "/cb",
            axum::routing::get(move |State(inbox): State<Inbox>, RawQuery(q): RawQuery| async move {
                record(&inbox, "GET", "/cb", q.unwrap_or_default());
                Html("<!doctype html><title>RP callback</title><p>back at the app</p>")
            })
            .post(move |State(inbox): State<Inbox>, body: String| async move {
                record(&inbox, "POST", "/cb", body);
                Html("<!doctype html><title>RP callback</title><p>back at the app (form_post)</p>")
            }),
        )
        .route(
            "/bye",
            axum::routing::get(move |State(inbox): State<Inbox>, RawQuery(q): RawQuery| async move {
                record(&inbox, "GET", "/bye", q.unwrap_or_default());
                Html("<!doctype html><title>RP signed out</title>")
            }),
        )
        .route("/spa", axum::routing::get(move || async move { Html(format!("{}{SPA_START}", c1())) }))
        .route("/spa-cb", axum::routing::get(move || async move { Html(format!("{}{SPA_CALLBACK}", c2())) }))
        .with_state(inbox.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    RelyingParty { origin, inbox, task }
}

impl RelyingParty {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }

    /// The parameters of the last request the RP received at `path`.
    fn last(&self, path: &str) -> Vec<(String, String)> {
        let inbox = self.inbox.lock().unwrap();
        let (_, _, data) =
            inbox.iter().rev().find(|(_, p, _)| p == path).unwrap_or_else(|| panic!("nothing at {path}"));
        form_urlencoded::parse(data.as_bytes()).into_owned().collect()
    }
}

fn param(params: &[(String, String)], name: &str) -> Option<String> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

/// The parameters of an authorization response the browser landed on (query or fragment).
fn response_params(url: &str) -> Vec<(String, String)> {
    let part = url.split_once('#').or_else(|| url.split_once('?')).map(|(_, p)| p).unwrap_or("");
    form_urlencoded::parse(part.as_bytes()).into_owned().collect()
}

mod signin_in_chromium {
    use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
    use openidconnect::{
        AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
        PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
    };

    use super::*;
    use crate::harness::signin::{world, PASSWORD};
    use crate::harness::{Backend, TestServer};
    use gatehouse::apps::{Access, NewApp, Template, UriKind};
    use gatehouse::secret::Secret;

    fn rp_http() -> openidconnect::reqwest::Client {
        openidconnect::reqwest::ClientBuilder::new()
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    /// One authorization request built by the openidconnect crate, and what it needs to finish.
    struct Attempt {
        url: String,
        state: String,
        nonce: Nonce,
        verifier: PkceCodeVerifier,
    }

    struct Rp {
        metadata: CoreProviderMetadata,
        client_id: String,
        secret: String,
        redirect: String,
    }

    impl Rp {
        fn client(
            &self,
        ) -> openidconnect::core::CoreClient<
            openidconnect::EndpointSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointMaybeSet,
            openidconnect::EndpointMaybeSet,
        > {
            CoreClient::from_provider_metadata(
                self.metadata.clone(),
                ClientId::new(self.client_id.clone()),
                Some(ClientSecret::new(self.secret.clone())),
            )
            .set_redirect_uri(RedirectUrl::new(self.redirect.clone()).unwrap())
        }

        fn attempt(&self, extra: &[(&str, &str)]) -> Attempt {
            let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
            let client = self.client();
            let mut req = client
                .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
                .add_scope(Scope::new("profile".into()))
                .set_pkce_challenge(challenge);
            for (k, v) in extra {
                req = req.add_extra_param(*k, *v);
            }
            let (url, state, nonce) = req.url();
            Attempt { url: url.to_string(), state: state.secret().clone(), nonce, verifier }
        }

        /// Redeems the code and has the library verify the ID token; returns its raw claims and
        /// the ID token.
        async fn redeem(&self, attempt: Attempt, params: &[(String, String)]) -> (Value, String) {
            assert_eq!(param(params, "state").as_deref(), Some(attempt.state.as_str()), "{params:?}");
            let code = param(params, "code").unwrap_or_else(|| panic!("no code: {params:?}"));
            let client = self.client();
            let tokens = client
                .exchange_code(AuthorizationCode::new(code))
                .unwrap()
                .set_pkce_verifier(attempt.verifier)
                .request_async(&rp_http())
                .await
                .expect("the code is redeemed");
            assert!(!tokens.access_token().secret().is_empty());
            let id_token = tokens.id_token().expect("an ID token");
            id_token.claims(&client.id_token_verifier(), &attempt.nonce).expect("the library verifies the ID token");
            let raw = id_token.to_string();
            let claims =
                serde_json::from_slice(&gatehouse::crypto::b64url_decode(raw.split('.').nth(1).unwrap()).unwrap())
                    .unwrap();
            (claims, raw)
        }
    }

    async fn log_in(driver: &Driver, email: &str) {
        driver.expect_title("Sign in · Gatehouse").await;
        driver.clear("#email").await;
        driver.type_into("#email", email).await;
        driver.type_into("#password", PASSWORD).await;
        driver.click_and_wait("button[type=submit]").await;
    }

    const CTX: &str = "http://schemes.superoffice.net/identity/ctx";

    /// Chromium is heavy on two cores: one browser and one server for the whole story, on
    /// SQLite only (the HTTP-level sign-in tests run on both backends).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn people_sign_in_to_an_app_on_another_origin_in_chromium() {
        let Some(driver) = Driver::start().await else { return };
        let srv = TestServer::start(Backend::Sqlite).await.unwrap();
        let w = world(&srv).await;
        let spa_id = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let rp = relying_party(srv.base.clone(), spa_id.clone()).await;
        assert_ne!(rp.origin, srv.base);
        let reg = &srv.state.registry;
        let callback = rp.url("/cb");
        reg.add_uri(&w.client_id, UriKind::Redirect, &callback, "test").await.unwrap();
        reg.add_uri(&w.client_id, UriKind::PostLogout, &rp.url("/bye"), "test").await.unwrap();
        let metadata =
            CoreProviderMetadata::discover_async(IssuerUrl::new(srv.base.clone()).unwrap(), &rp_http()).await.unwrap();
        let app = Rp { metadata, client_id: w.client_id.clone(), secret: w.secret.clone(), redirect: callback.clone() };

        // 1. A tenant administrator, first time: login → approval → consent → the app (query).
        let a = app.attempt(&[]);
        driver.goto(&a.url).await;
        driver.screenshot("signin-1-login").await;
        log_in(&driver, "admin@example.com").await;
        driver.expect_title("Approve this app for your tenant · Gatehouse").await;
        driver.screenshot("signin-2-approve").await;
        driver.click_and_wait("button[value=approve]").await;
        driver.expect_title("Allow access? · Gatehouse").await;
        driver.screenshot("signin-3-consent").await;
        driver.click("button[value=allow]").await;
        let landed = driver.wait_for_url(&callback).await;
        driver.screenshot("signin-4-back-at-the-app").await;
        assert_eq!(driver.title().await, "RP callback", "the redirect to another origin is not blocked");
        let params = rp.last("/cb");
        assert_eq!(param(&params, "iss").as_deref(), Some(srv.base.as_str()), "RFC 9207 ({landed})");
        let (claims, id_token) = app.redeem(a, &params).await;
        assert_eq!(claims[CTX], "Cust1");

        // 2. Signed in and consented: fragment and form_post arrive without any page of ours.
        let a = app.attempt(&[("response_mode", "fragment")]);
        driver.goto(&a.url).await;
        let landed = driver.wait_for_url(&format!("{callback}#")).await;
        app.redeem(a, &response_params(&landed)).await;
        let a = app.attempt(&[("response_mode", "form_post")]);
        let before = rp.inbox.lock().unwrap().len();
        driver.goto(&a.url).await;
        driver.expect_title("RP callback").await;
        let (method, _, _) = rp.inbox.lock().unwrap()[before].clone();
        assert_eq!(method, "POST", "form_post posts to the app's origin");
        app.redeem(a, &rp.last("/cb")).await;

        // 3. prompt=none answers at once; prompt=login and an exceeded max_age show the login page.
        let a = app.attempt(&[("prompt", "none")]);
        driver.goto(&a.url).await;
        driver.wait_for_url(&callback).await;
        app.redeem(a, &rp.last("/cb")).await;
        // Within the same second as the last login: still the login page (OIDC Core §3.1.2.1).
        let a = app.attempt(&[("prompt", "login")]);
        driver.goto(&a.url).await;
        log_in(&driver, "admin@example.com").await;
        driver.wait_for_url(&callback).await;
        app.redeem(a, &rp.last("/cb")).await;
        srv.clock.advance(120);
        let a = app.attempt(&[("max_age", "60")]);
        driver.goto(&a.url).await;
        log_in(&driver, "admin@example.com").await;
        driver.wait_for_url(&callback).await;
        let (claims, _) = app.redeem(a, &rp.last("/cb")).await;
        assert!(srv.clock.now() - claims["auth_time"].as_i64().unwrap() < 60, "auth_time is fresh: {claims}");
        // max_age=0 is prompt=login, even in the second of the last login.
        let a = app.attempt(&[("max_age", "0")]);
        driver.goto(&a.url).await;
        log_in(&driver, "admin@example.com").await;
        driver.wait_for_url(&callback).await;
        app.redeem(a, &rp.last("/cb")).await;

        // 4. A single-page app (public client, PKCE) on the RP's origin calls token and
        //    userinfo with fetch: CORS for its registered origin.
        let partner = reg.get(&w.client_id).await.unwrap().partner_id;
        let spa = crate::harness::signin::public_client(&srv, &partner, "Acme SPA", &rp.url("/spa-cb")).await;
        reg.add_uri(&spa.client_id, UriKind::Cors, &rp.origin, "test").await.unwrap();
        *spa_id.lock().unwrap() = spa.client_id.clone();
        driver.goto(&rp.url("/spa")).await;
        driver.expect_title("Approve this app for your tenant · Gatehouse").await;
        driver.click_and_wait("button[value=approve]").await;
        driver.expect_title("Allow access? · Gatehouse").await;
        driver.click("button[value=allow]").await;
        driver.expect_title("SPA done").await;
        let shown = driver.execute("return document.body.textContent").await;
        let shown: Value = serde_json::from_str(shown.as_str().unwrap()).unwrap();
        assert_eq!(shown, json!({"refresh": true, "id_token": true, "email": "admin@example.com"}));
        driver.screenshot("signin-5-spa").await;

        // 5. RP-initiated logout back to the app; afterwards prompt=none needs a login.
        let logout = format!(
            "{}?id_token_hint={id_token}&post_logout_redirect_uri={}&state=bye1",
            srv.url("/logout"),
            form_urlencoded::byte_serialize(rp.url("/bye").as_bytes()).collect::<String>()
        );
        driver.goto(&logout).await;
        driver.wait_for_url(&rp.url("/bye")).await;
        assert_eq!(param(&rp.last("/bye"), "state").as_deref(), Some("bye1"));
        let a = app.attempt(&[("prompt", "none")]);
        driver.goto(&a.url).await;
        driver.wait_for_url(&callback).await;
        assert_eq!(param(&rp.last("/cb"), "error").as_deref(), Some("login_required"));

        // 6. A plain member: the approved app after consent; an app the tenant never approved
        //    is access_denied (only an administrator may approve).
        let dir = &srv.state.directory;
        dir.add_user("bob@example.com", Some("Bob Member"), "Cust1", false, Secret::new(PASSWORD.into()), "test")
            .await
            .unwrap();
        let a = app.attempt(&[]);
        driver.goto(&a.url).await;
        log_in(&driver, "bob@example.com").await;
        driver.expect_title("Allow access? · Gatehouse").await;
        driver.click("button[value=allow]").await;
        driver.wait_for_url(&callback).await;
        let (claims, _) = app.redeem(a, &rp.last("/cb")).await;
        assert_eq!(claims["http://schemes.superoffice.net/identity/is_administrator"], "False");
        let other = reg
            .create(
                NewApp {
                    partner_id: partner.clone(),
                    name: "Not approved".into(),
                    template: Template::Web,
                    redirect_uris: vec![callback.clone()],
                    access: Access::Private,
                    technical_contact: None,
                    justification: None,
                },
                "test",
            )
            .await
            .unwrap();
        let unapproved = Rp {
            metadata: app.metadata.clone(),
            client_id: other.app.client_id.clone(),
            secret: other.client_secret.unwrap().secret.expose().clone(),
            redirect: callback.clone(),
        };
        driver.goto(&unapproved.attempt(&[]).url).await;
        driver.wait_for_url(&callback).await;
        assert_eq!(param(&rp.last("/cb"), "error").as_deref(), Some("access_denied"));

        // 7. A person in two tenants chooses one, approves for it as its administrator, and
        //    the ID token names the tenant chosen.
        driver.goto(&srv.url("/healthz")).await;
        driver.delete_cookies().await;
        dir.add_tenant("Cust2", "Customer Two", None, Some(&partner), "test").await.unwrap();
        dir.add_user("carol@example.com", None, "Cust1", false, Secret::new(PASSWORD.into()), "test").await.unwrap();
        dir.add_user("carol@example.com", None, "Cust2", true, Secret::new(PASSWORD.into()), "test").await.unwrap();
        let a = app.attempt(&[]);
        driver.goto(&a.url).await;
        log_in(&driver, "carol@example.com").await;
        driver.expect_title("Choose a tenant · Gatehouse").await;
        driver.screenshot("signin-6-tenant-choice").await;
        driver.click("input[value=Cust2]").await;
        driver.click_and_wait("button[type=submit]").await;
        driver.expect_title("Approve this app for your tenant · Gatehouse").await;
        driver.click_and_wait("button[value=approve]").await;
        driver.expect_title("Allow access? · Gatehouse").await;
        driver.click("button[value=allow]").await;
        driver.wait_for_url(&callback).await;
        let (claims, _) = app.redeem(a, &rp.last("/cb")).await;
        assert_eq!(claims[CTX], "Cust2");
    }
}
