//! The relying party of the browser tests, where real ones live: on another origin (its own
//! listener, another port), recording what reaches its callback; and the openidconnect crate
//! as its OIDC client, building authorization requests and verifying ID tokens.

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use serde_json::Value;

/// What the relying party's listener received, in order: (method, path, query or form body).
pub type Inbox = std::sync::Arc<std::sync::Mutex<Vec<(String, String, String)>>>;

pub struct RelyingParty {
    /// `http://127.0.0.1:<its own port>`: another origin than Gatehouse's.
    pub origin: String,
    pub inbox: Inbox,
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

pub async fn relying_party(issuer: String, spa_client_id: std::sync::Arc<std::sync::Mutex<String>>) -> RelyingParty {
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
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }

    /// The parameters of the last request the RP received at `path`.
    pub fn last(&self, path: &str) -> Vec<(String, String)> {
        let inbox = self.inbox.lock().unwrap();
        let (_, _, data) =
            inbox.iter().rev().find(|(_, p, _)| p == path).unwrap_or_else(|| panic!("nothing at {path}"));
        form_urlencoded::parse(data.as_bytes()).into_owned().collect()
    }
}

pub fn param(params: &[(String, String)], name: &str) -> Option<String> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

/// The parameters of an authorization response the browser landed on (query or fragment).
pub fn response_params(url: &str) -> Vec<(String, String)> {
    let part = url.split_once('#').or_else(|| url.split_once('?')).map(|(_, p)| p).unwrap_or("");
    form_urlencoded::parse(part.as_bytes()).into_owned().collect()
}

pub fn rp_http() -> openidconnect::reqwest::Client {
    openidconnect::reqwest::ClientBuilder::new()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// One authorization request built by the openidconnect crate, and what it needs to finish.
pub struct Attempt {
    pub url: String,
    pub state: String,
    pub nonce: Nonce,
    pub verifier: PkceCodeVerifier,
}

pub struct Rp {
    pub metadata: CoreProviderMetadata,
    pub client_id: String,
    pub secret: String,
    pub redirect: String,
}

impl Rp {
    pub fn client(
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

    pub fn attempt(&self, extra: &[(&str, &str)]) -> Attempt {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let client = self.client();
        let mut req = client
            .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
            .add_scope(Scope::new("profile".into()))
            .add_scope(Scope::new("email".into()))
            .set_pkce_challenge(challenge);
        for (k, v) in extra {
            // More scopes go through the library (it always asks for `openid` itself).
            req = if *k == "scope" { req.add_scope(Scope::new(v.to_string())) } else { req.add_extra_param(*k, *v) };
        }
        let (url, state, nonce) = req.url();
        Attempt { url: url.to_string(), state: state.secret().clone(), nonce, verifier }
    }

    /// Redeems the code and has the library verify the ID token; returns its raw claims and
    /// the ID token.
    pub async fn redeem(&self, attempt: Attempt, params: &[(String, String)]) -> (Value, String) {
        let got = self.redeem_all(attempt, params).await;
        (got.claims, got.id_token)
    }

    /// Redeems the code, has the library verify the ID token, and returns every token.
    pub async fn redeem_all(&self, attempt: Attempt, params: &[(String, String)]) -> Redeemed {
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
            serde_json::from_slice(&gatehouse::crypto::b64url_decode(raw.split('.').nth(1).unwrap()).unwrap()).unwrap();
        Redeemed {
            claims,
            id_token: raw,
            access_token: tokens.access_token().secret().clone(),
            refresh_token: tokens.refresh_token().map(|r| r.secret().clone()),
        }
    }
}

/// What a redeemed code gave the app.
pub struct Redeemed {
    pub claims: Value,
    pub id_token: String,
    pub access_token: String,
    pub refresh_token: Option<String>,
}

impl Rp {
    /// The app `client_id` as the openidconnect crate sees it, after discovery at `issuer`.
    pub async fn discover(issuer: &str, client_id: &str, secret: &str, redirect: &str) -> Rp {
        let metadata = CoreProviderMetadata::discover_async(IssuerUrl::new(issuer.to_string()).unwrap(), &rp_http())
            .await
            .unwrap();
        Rp { metadata, client_id: client_id.into(), secret: secret.into(), redirect: redirect.into() }
    }
}
