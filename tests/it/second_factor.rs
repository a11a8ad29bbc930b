//! Second factors (issue 18) over HTTP on both databases, with the product's default policy
//! (administrators must use one): an administrator sets up TOTP during sign-in and gets
//! recovery codes; the ID token says `amr` ["pwd","otp","mfa"] and `acr` mfa (RFC 8176, OIDC
//! Core §2); a code is accepted once (RFC 6238 §5.2); wrong codes are throttled; a recovery
//! code works once; `acr_values` steps a member up; `prompt=none` cannot skip the factor;
//! policies `off` and `everyone`; discovery lists `acr_values_supported`.

use serde_json::Value;

use crate::harness::signin::{authorize_url, hidden, redeem, totp_code, world, Browser, World, PASSWORD};
use crate::harness::{http, TestServer};
use gatehouse::secret::Secret;
use gatehouse::tenants::factors::{self, Policy, ACR_MFA, ACR_PASSWORD};

const ADMIN: &str = "admin@example.com";
const MEMBER: &str = "member@example.com";

/// The product's default for new tenants (the harness makes fixtures' tenants `off`).
const DEFAULT_POLICY: [(&str, &str); 2] =
    [("GATEHOUSE_DEFAULT_MFA_POLICY", "admins"), ("GATEHOUSE_OUTBOUND_ALLOW_PRIVATE_NETWORKS", "true")];

fn readonly_value(html: &str, id: &str) -> Option<String> {
    let marker = format!("id=\"{id}\" readonly value=\"");
    let start = html.find(&marker)? + marker.len();
    Some(html[start..start + html[start..].find('"')?].to_string())
}

/// What a walk through the sign-in pages met.
struct Walk {
    /// The actions of the pages seen, in order (`login`, `enroll`, `continue`, `otp`, …).
    pages: Vec<String>,
    /// The query the app received.
    result: Vec<(String, String)>,
    /// The TOTP secret of a set-up page, and the recovery codes shown after it.
    secret: Option<String>,
    recovery: Vec<String>,
    /// The last page's HTML when the walk stopped on one.
    html: String,
}

/// Walks the pages for `email`: the password, the second factor with `code(secret)` (set up
/// first when asked), tenant, approval and consent. Stops at the app, or at a page whose
/// action is in `stop_at`.
async fn walk(
    srv: &TestServer,
    browser: &mut Browser,
    start: &str,
    email: &str,
    secret: Option<&str>,
    code: &dyn Fn(&str) -> String,
    stop_at: &[&str],
) -> Walk {
    let mut walk = Walk {
        pages: vec![],
        result: vec![],
        secret: secret.map(str::to_string),
        recovery: vec![],
        html: String::new(),
    };
    let mut res = browser.get(start).await;
    for _ in 0..12 {
        if res.status().is_redirection() {
            let location = res.headers()["location"].to_str().unwrap().to_string();
            if location.starts_with(crate::harness::signin::REDIRECT) {
                let query = location.split_once('?').map(|(_, q)| q).unwrap_or("");
                walk.result = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
                return walk;
            }
            res = browser.get(&srv.url(&location)).await;
            continue;
        }
        let html = res.text().await.unwrap();
        let action = hidden(&html, "action").unwrap_or_else(|| panic!("no form: {html}"));
        walk.pages.push(action.clone());
        if stop_at.contains(&action.as_str()) {
            walk.html = html;
            return walk;
        }
        let (request, csrf) = (hidden(&html, "request").unwrap(), hidden(&html, "csrf").unwrap());
        let mut form = vec![("request", request), ("csrf", csrf), ("action", action.clone())];
        match action.as_str() {
            "login" => form.extend([("email", email.to_string()), ("password", PASSWORD.to_string())]),
            "enroll" => {
                let s = readonly_value(&html, "secret").expect("the secret is shown");
                assert!(html.contains(&format!("secret={s}")), "the otpauth URI carries it");
                form.push(("code", code(&s)));
                walk.secret = Some(s);
            }
            "continue" => {
                walk.recovery =
                    html.split("<li><code>").skip(1).map(|c| c.split('<').next().unwrap().to_string()).collect();
            }
            "otp" => form.push(("code", code(walk.secret.as_deref().expect("a secret")))),
            "approve" => form.push(("decision", "approve".into())),
            "consent" => form.push(("decision", "allow".into())),
            other => panic!("unexpected step {other}"),
        }
        let borrowed: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        res = browser.post(&srv.url("/signin"), &borrowed).await;
    }
    panic!("the sign-in did not finish: {:?}", walk.pages);
}

async fn id_claims(srv: &TestServer, w: &World, result: &[(String, String)]) -> Value {
    let code = result.iter().find(|(k, _)| k == "code").map(|(_, v)| v.clone()).unwrap_or_else(|| panic!("{result:?}"));
    let (status, tokens) = redeem(&srv.base, w, &code).await;
    assert_eq!(status, 200, "{tokens}");
    let payload = tokens["id_token"].as_str().unwrap().split('.').nth(1).unwrap().to_string();
    serde_json::from_slice(&gatehouse::crypto::b64url_decode(&payload).unwrap()).unwrap()
}

both_backends!(env DEFAULT_POLICY;
    async fn an_administrator_sets_up_totp_at_sign_in_and_each_code_works_once(srv) {
        let w = world(&srv).await;
        assert_eq!(srv.state.directory.tenant("Cust1").await.unwrap().mfa_policy, "admins", "the default");
        let now_code = |s: &str| totp_code(&srv, s, 0);

        // A wrong first code shows the set-up page again with the same secret.
        let mut browser = Browser::new();
        let first = walk(&srv, &mut browser, &authorize_url(&srv, &w, &[]), ADMIN, None, &now_code, &["enroll"]).await;
        assert_eq!(first.pages, ["login", "enroll"]);
        let shown = readonly_value(&first.html, "secret").unwrap();
        let (request, csrf) = (hidden(&first.html, "request").unwrap(), hidden(&first.html, "csrf").unwrap());
        let wrong = if now_code(&shown) == "000000" { "111111" } else { "000000" };
        let res = browser.post(&srv.url("/signin"), &[("request", &request), ("csrf", &csrf), ("action", "enroll"), ("code", wrong)]).await;
        let html = res.text().await.unwrap();
        assert!(html.contains("That code is not right"), "{html}");
        assert_eq!(readonly_value(&html, "secret").as_deref(), Some(shown.as_str()));
        let again = walk(&srv, &mut browser, &authorize_url(&srv, &w, &[]), ADMIN, None, &now_code, &[]).await;
        assert_eq!(again.pages, ["enroll", "continue", "approve", "consent"], "already signed in with the password");
        assert_eq!(again.secret.as_deref(), Some(shown.as_str()), "the secret being set up stays until it works");
        assert_eq!(again.recovery.len(), factors::RECOVERY_CODES);
        let claims = id_claims(&srv, &w, &again.result).await;
        assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp", "mfa"]), "{claims}");
        assert_eq!(claims["acr"], ACR_MFA);
        let secret = again.secret.unwrap();

        // RFC 6238 §5.2: the code just used is refused in a new sign-in; the next step's works.
        let mut other = Browser::new();
        let replay = walk(&srv, &mut other, &authorize_url(&srv, &w, &[]), ADMIN, Some(&secret), &now_code, &["otp"]).await;
        let (request, csrf) = (hidden(&replay.html, "request").unwrap(), hidden(&replay.html, "csrf").unwrap());
        let used = now_code(&secret);
        let res = other.post(&srv.url("/signin"), &[("request", &request), ("csrf", &csrf), ("action", "otp"), ("code", &used)]).await;
        assert!(res.text().await.unwrap().contains("That code is not right, or was used already."));
        let next = totp_code(&srv, &secret, 1);
        let res = other.post(&srv.url("/signin"), &[("request", &request), ("csrf", &csrf), ("action", "otp"), ("code", &next)]).await;
        assert!(res.status().is_redirection());

        // A recovery code instead of the app's code: once.
        let recovery = again.recovery[0].clone();
        let by_recovery = |_: &str| recovery.clone();
        let mut third = Browser::new();
        let used = walk(&srv, &mut third, &authorize_url(&srv, &w, &[]), ADMIN, Some(&secret), &by_recovery, &[]).await;
        assert_eq!(used.pages, ["login", "otp"]);
        let mut fourth = Browser::new();
        let at_code = walk(&srv, &mut fourth, &authorize_url(&srv, &w, &[]), ADMIN, Some(&secret), &by_recovery, &["otp"]).await;
        let (request, csrf) = (hidden(&at_code.html, "request").unwrap(), hidden(&at_code.html, "csrf").unwrap());
        let res = fourth.post(&srv.url("/signin"), &[("request", &request), ("csrf", &csrf), ("action", "otp"), ("code", &recovery)]).await;
        assert!(res.text().await.unwrap().contains("That code is not right, or was used already."), "a recovery code works once");
    }
);

both_backends!(env DEFAULT_POLICY;
    async fn wrong_codes_are_throttled_and_prompt_none_cannot_skip_the_factor(srv) {
        let w = world(&srv).await;
        let mut browser = Browser::new();
        let set_up = walk(&srv, &mut browser, &authorize_url(&srv, &w, &[]), ADMIN, None, &|s| totp_code(&srv, s, 0), &[]).await;
        let secret = set_up.secret.unwrap();
        let mut other = Browser::new();
        let at_code = walk(&srv, &mut other, &authorize_url(&srv, &w, &[]), ADMIN, Some(&secret), &|_| String::new(), &["otp"]).await;
        // OIDC Core §3.1.2.6: signed in with the password only, prompt=none cannot ask for the code.
        let res = other.get(&authorize_url(&srv, &w, &[("prompt", "none")])).await;
        let location = res.headers()["location"].to_str().unwrap().to_string();
        assert!(location.contains("error=interaction_required"), "{location}");
        let (request, csrf) = (hidden(&at_code.html, "request").unwrap(), hidden(&at_code.html, "csrf").unwrap());
        let mut statuses = vec![];
        for _ in 0..7 {
            let res = other.post(&srv.url("/signin"), &[("request", &request), ("csrf", &csrf), ("action", "otp"), ("code", "123456")]).await;
            statuses.push(res.status().as_u16());
        }
        assert_eq!(statuses, [200, 200, 200, 200, 200, 429, 429], "six digits are not guessable by trying");
        let right = totp_code(&srv, &secret, 1);
        let res = other.post(&srv.url("/signin"), &[("request", &request), ("csrf", &csrf), ("action", "otp"), ("code", &right)]).await;
        assert_eq!(res.status(), 429, "not even the right code while throttled");
        assert!(res.headers().contains_key("retry-after"));
    }
);

both_backends!(env DEFAULT_POLICY;
    async fn acr_values_steps_a_member_up_and_the_tenant_policy_decides_the_rest(srv) {
        let w = world(&srv).await;
        let dir = &srv.state.directory;
        dir.add_user(MEMBER, Some("Mia Member"), "Cust1", false, Secret::new(PASSWORD.into()), "test").await.unwrap();
        let app = srv.state.registry.get(&w.client_id).await.unwrap();
        srv.state.approvals.approve("Cust1", &app, None, "test").await.unwrap();
        let no_code = |_: &str| -> String { panic!("no code is asked for") };

        // Under `admins`, a member signs in with the password alone: acr says so.
        let plain = walk(&srv, &mut Browser::new(), &authorize_url(&srv, &w, &[]), MEMBER, None, &no_code, &[]).await;
        assert_eq!(plain.pages, ["login", "consent"]);
        let claims = id_claims(&srv, &w, &plain.result).await;
        assert_eq!((claims["acr"].as_str(), claims["amr"].clone()), (Some(ACR_PASSWORD), serde_json::json!(["pwd"])));

        // The app asks for a second factor (acr_values): she sets one up and the token says mfa.
        let mut browser = Browser::new();
        let step_up = authorize_url(&srv, &w, &[("acr_values", ACR_MFA)]);
        let up = walk(&srv, &mut browser, &step_up, MEMBER, None, &|s| totp_code(&srv, s, 0), &[]).await;
        assert_eq!(up.pages, ["login", "enroll", "continue"], "consent was given before");
        assert_eq!(id_claims(&srv, &w, &up.result).await["acr"], ACR_MFA);

        // With a factor set up, every sign-in uses it, whatever the app asked.
        let secret = up.secret.unwrap();
        let later = walk(&srv, &mut Browser::new(), &authorize_url(&srv, &w, &[]), MEMBER, Some(&secret), &|s| totp_code(&srv, s, 1), &[]).await;
        assert_eq!(later.pages, ["login", "otp"]);

        // `off`: the administrator needs none; `everyone`: a member without one sets one up.
        dir.set_mfa_policy("Cust1", Policy::Off, "test").await.unwrap();
        let off = walk(&srv, &mut Browser::new(), &authorize_url(&srv, &w, &[]), ADMIN, None, &no_code, &[]).await;
        assert_eq!(off.pages, ["login", "consent"]);
        dir.set_mfa_policy("Cust1", Policy::Everyone, "test").await.unwrap();
        dir.add_user("other@example.com", None, "Cust1", false, Secret::new(PASSWORD.into()), "test").await.unwrap();
        let everyone = walk(&srv, &mut Browser::new(), &authorize_url(&srv, &w, &[]), "other@example.com", None, &|s| totp_code(&srv, s, 0), &["enroll"]).await;
        assert_eq!(everyone.pages, ["login", "enroll"]);

        // An operator resets a lost factor; the next sign-in sets up a new one.
        let out = srv.cli(&["user", "reset-mfa", MEMBER], None);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let reset = walk(&srv, &mut Browser::new(), &authorize_url(&srv, &w, &[]), MEMBER, None, &|s| totp_code(&srv, s, 0), &["enroll"]).await;
        assert_eq!(reset.pages, ["login", "enroll"]);
    }
);

both_backends!(
    async fn discovery_lists_the_acr_values_an_app_can_ask_for(srv) {
        let doc: Value = http().get(srv.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
        assert_eq!(doc["acr_values_supported"], serde_json::json!([ACR_PASSWORD, ACR_MFA]));
        let claims = doc["claims_supported"].as_array().unwrap();
        assert!(claims.iter().any(|c| c == "acr") && claims.iter().any(|c| c == "amr"));
    }
);

/// Signs in to the portal with the password, then opens the tenant page; returns where that
/// sends the browser (or the status of the page it got).
async fn portal_login(srv: &TestServer, browser: &mut Browser, email: &str) -> String {
    let page = browser.get(&srv.url("/portal/login?next=/admin/tenant")).await.text().await.unwrap();
    let csrf = hidden(&page, "csrf").unwrap();
    let res = browser
        .post(
            &srv.url("/portal/login"),
            &[("csrf", &csrf), ("next", "/admin/tenant"), ("email", email), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(res.status(), 303);
    let res = browser.get(&srv.url(res.headers()["location"].to_str().unwrap())).await;
    if res.status().is_redirection() {
        res.headers()["location"].to_str().unwrap().to_string()
    } else {
        res.status().as_str().to_string()
    }
}

both_backends!(env DEFAULT_POLICY;
    async fn the_tenant_page_needs_the_administrators_second_factor_too(srv) {
        let _w = world(&srv).await;
        srv.state.directory.add_user(MEMBER, None, "Cust1", false, Secret::new(PASSWORD.into()), "test").await.unwrap();
        let mut browser = Browser::new();
        let next = portal_login(&srv, &mut browser, ADMIN).await;
        assert_eq!(next, "/portal/second-factor?next=%2Fadmin%2Ftenant", "the password alone does not reach the tenant page");
        let page = browser.get(&srv.url(&next)).await.text().await.unwrap();
        let secret = readonly_value(&page, "secret").expect("set up a factor first");
        let csrf = hidden(&page, "csrf").unwrap();
        let form = |code: String| vec![("csrf", csrf.clone()), ("next", "/admin/tenant".into()), ("action", "enroll".into()), ("code", code)];
        let wrong = if totp_code(&srv, &secret, 0) == "000000" { "111111" } else { "000000" };
        let f = form(wrong.into());
        let res = browser.post(&srv.url("/portal/second-factor"), &pairs(&f)).await;
        assert!(res.text().await.unwrap().contains("That code is not right"));
        let f = form(totp_code(&srv, &secret, 0));
        let res = browser.post(&srv.url("/portal/second-factor"), &pairs(&f)).await;
        let html = res.text().await.unwrap();
        assert!(html.contains("Save your recovery codes"), "{html}");
        let res = browser.get(&srv.url("/admin/tenant")).await;
        assert_eq!(res.status(), 200, "with the second factor the tenant page opens");

        // A plain member is not asked under the `admins` policy.
        let mut member = Browser::new();
        assert_eq!(portal_login(&srv, &mut member, MEMBER).await, "403", "not an administrator, but not sent to a second factor");
        assert_eq!(member.get(&srv.url("/portal")).await.status(), 200);
        // A form posted to the second-factor page from another site is refused.
        let res = http()
            .post(srv.url("/portal/second-factor"))
            .header("origin", "https://evil.example")
            .form(&[("code", "123456")])
            .send()
            .await
            .unwrap();
        assert!(res.status().is_redirection() || res.status() == 403, "{}", res.status());
    }
);

fn pairs<'a>(v: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    v.iter().map(|(k, s)| (*k, s.as_str())).collect()
}
