//! The sign-in fixtures: a partner, a tenant with an administrator and a member, a web app,
//! and a cookie-keeping browser that walks the pages; the authorization URL, code and token
//! redemption every sign-in test uses.

use serde_json::Value;

use super::{http, TestServer};
use gatehouse::apps::{Access, NewApp, Template};
use gatehouse::secret::Secret;

pub const REDIRECT: &str = "https://app.example.com/cb";

pub const PASSWORD: &str = "a long enough passphrase";

pub struct World {
    pub client_id: String,
    pub secret: String,
}

/// A partner with a private web app, a tenant it owns, and an administrator of that tenant.
pub async fn world(srv: &TestServer) -> World {
    let partner = srv.partner().await;
    let dir = &srv.state.directory;
    dir.add_tenant("Cust1", "Customer One", None, Some(&partner), "test").await.unwrap();
    dir.add_user("admin@example.com", Some("Ada Admin"), "Cust1", true, Secret::new(PASSWORD.into()), "test")
        .await
        .unwrap();
    let created = srv
        .state
        .registry
        .create(
            NewApp {
                partner_id: partner,
                name: "Acme <CRM>".into(),
                template: Template::Web,
                redirect_uris: vec![REDIRECT.into()],
                access: Access::Private,
                technical_contact: None,
                justification: None,
            },
            "test",
        )
        .await
        .unwrap();
    World { client_id: created.app.client_id, secret: created.client_secret.unwrap().secret.expose().clone() }
}

/// A public client (no secret, PKCE; a browser or desktop app) of `partner`, private to its
/// tenants, redirecting to `redirect`.
pub async fn public_client(srv: &TestServer, partner: &str, name: &str, redirect: &str) -> World {
    let created = srv
        .state
        .registry
        .create_with(
            NewApp {
                partner_id: partner.into(),
                name: name.into(),
                template: Template::Web,
                redirect_uris: vec![redirect.into()],
                access: Access::Private,
                technical_contact: None,
                justification: None,
            },
            &gatehouse::apps::AppOverrides {
                client_type: Some(gatehouse::apps::ClientType::Public),
                ..Default::default()
            },
            "test",
        )
        .await
        .unwrap();
    World { client_id: created.app.client_id, secret: String::new() }
}

/// A browser: follows our own redirects, keeps its cookies, and answers each page.
pub struct Browser {
    pub cookies: Vec<(String, String)>,
    /// The address a proxy in front of the server says this browser has (`X-Forwarded-For`).
    pub forwarded_for: Option<String>,
}

/// Applies a response's `Set-Cookie` headers to a cookie jar (an empty value deletes).
pub fn keep_cookies(jar: &mut Vec<(String, String)>, res: &reqwest::Response) {
    for set in res.headers().get_all("set-cookie") {
        let first = set.to_str().unwrap().split(';').next().unwrap();
        let (name, value) = first.split_once('=').unwrap();
        jar.retain(|(n, _)| n != name);
        if !value.is_empty() {
            jar.push((name.to_string(), value.to_string()));
        }
    }
}

pub fn hidden(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    Some(html[start..start + html[start..].find('"')?].to_string())
}

impl Browser {
    pub fn new() -> Self {
        Browser { cookies: Vec::new(), forwarded_for: None }
    }

    /// A browser at `client`, reaching the server through a proxy that appends it to
    /// `X-Forwarded-For`.
    pub fn behind_proxy(client: &str) -> Self {
        Browser { cookies: Vec::new(), forwarded_for: Some(client.to_string()) }
    }

    fn forwarded(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.forwarded_for {
            Some(client) => req.header("x-forwarded-for", client),
            None => req,
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    fn keep_cookies(&mut self, res: &reqwest::Response) {
        keep_cookies(&mut self.cookies, res);
    }

    pub(crate) async fn get(&mut self, url: &str) -> reqwest::Response {
        let res = self.forwarded(http().get(url)).header("cookie", self.cookie_header()).send().await.unwrap();
        self.keep_cookies(&res);
        res
    }

    pub(crate) async fn post(&mut self, url: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let res =
            self.forwarded(http().post(url)).form(form).header("cookie", self.cookie_header()).send().await.unwrap();
        self.keep_cookies(&res);
        res
    }

    /// Goes through our pages until the app's redirect URI is reached; returns its query.
    pub async fn sign_in(&mut self, srv: &TestServer, start: &str, email: &str) -> Vec<(String, String)> {
        let mut res = self.get(start).await;
        for _ in 0..10 {
            if res.status().is_redirection() {
                let location = res.headers()["location"].to_str().unwrap().to_string();
                if location.starts_with(REDIRECT) {
                    let query = location.split_once('?').map(|(_, q)| q).unwrap_or("");
                    return form_urlencoded::parse(query.as_bytes()).into_owned().collect();
                }
                res = self.get(&srv.url(&location)).await;
                continue;
            }
            let html = res.text().await.unwrap();
            let request = hidden(&html, "request").unwrap_or_else(|| panic!("no form on page: {html}"));
            let csrf = hidden(&html, "csrf").unwrap();
            let action = hidden(&html, "action").unwrap();
            let mut form = vec![("request", request.as_str()), ("csrf", csrf.as_str()), ("action", action.as_str())];
            match action.as_str() {
                "login" => form.extend([("email", email), ("password", PASSWORD)]),
                "approve" => form.push(("decision", "approve")),
                "consent" => form.push(("decision", "allow")),
                "tenant" => {}
                other => panic!("unexpected step {other}"),
            }
            let tenant = hidden(&html, "tenant");
            if let Some(t) = &tenant {
                form.push(("tenant", t.as_str()));
            }
            res = self.post(&srv.url("/signin"), &form).await;
        }
        panic!("sign-in did not finish");
    }
}

pub fn authorize_url(srv: &TestServer, w: &World, extra: &[(&str, &str)]) -> String {
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", w.client_id.as_str()),
        ("redirect_uri", REDIRECT),
        ("scope", "openid"),
        ("state", "xyz"),
        ("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"),
        ("code_challenge_method", "S256"),
    ];
    for (k, v) in extra {
        params.retain(|(n, _)| n != k);
        if !v.is_empty() {
            params.push((k, v));
        }
    }
    format!(
        "{}?{}",
        srv.url("/authorize"),
        form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish()
    )
}

/// Signs in through the pages and returns the code.
pub async fn code_of(srv: &TestServer, browser: &mut Browser, w: &World, extra: &[(&str, &str)]) -> String {
    let answer = browser.sign_in(srv, &authorize_url(srv, w, extra), "admin@example.com").await;
    answer.iter().find(|(k, _)| k == "code").unwrap_or_else(|| panic!("no code: {answer:?}")).1.clone()
}

pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

pub async fn redeem(base: &str, w: &World, code: &str) -> (u16, Value) {
    let res = http()
        .post(format!("{base}/token"))
        .basic_auth(&w.client_id, Some(&w.secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

pub async fn refresh(base: &str, w: &World, token: &str) -> (u16, Value) {
    let res = http()
        .post(format!("{base}/token"))
        .basic_auth(&w.client_id, Some(&w.secret))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", token)])
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// `POST /introspect` as the app `w` (RFC 7662), with an optional `token_type_hint`.
pub async fn introspect(base: &str, w: &World, token: &str, hint: Option<&str>) -> Value {
    let mut form = vec![("token", token)];
    if let Some(h) = hint {
        form.push(("token_type_hint", h));
    }
    let res =
        http().post(format!("{base}/introspect")).basic_auth(&w.client_id, Some(&w.secret)).form(&form).send().await;
    let res = res.unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// The code an authenticator app would show for `secret` (base32) at the server's time,
/// `steps` steps later.
pub fn totp_code(srv: &TestServer, base32: &str, steps: i64) -> String {
    let secret = decode_base32(base32);
    format!(
        "{:06}",
        gatehouse::tenants::factors::hotp(
            &secret,
            (gatehouse::tenants::factors::step_of(srv.clock.now()) + steps) as u64
        )
    )
}

fn decode_base32(s: &str) -> Vec<u8> {
    const ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut bits, mut value, mut out) = (0u32, 0u64, Vec::new());
    for c in s.chars() {
        value = (value << 5) | ALPHABET.find(c).unwrap() as u64;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((value >> bits) as u8);
        }
    }
    out
}
