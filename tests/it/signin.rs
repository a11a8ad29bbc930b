//! The browser sign-in flow (authorization code + PKCE + OpenID Connect), with the
//! openidconnect crate as the relying party and reqwest as the browser.

use crate::harness::signin::*;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, RedirectUrl, RefreshToken, Scope, TokenResponse,
};
use serde_json::Value;

use crate::harness::http;
use gatehouse::apps::{Access, NewApp, Template};
use gatehouse::secret::Secret;

fn rp_http() -> openidconnect::reqwest::Client {
    openidconnect::reqwest::ClientBuilder::new()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

both_backends!(
    async fn a_user_signs_in_and_the_openidconnect_client_verifies_everything(srv) {
        let w = world(&srv).await;
        let metadata = CoreProviderMetadata::discover_async(IssuerUrl::new(srv.base.clone()).unwrap(), &rp_http()).await.unwrap();
        let client = CoreClient::from_provider_metadata(metadata, ClientId::new(w.client_id.clone()), Some(ClientSecret::new(w.secret.clone())))
            .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap());
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, csrf, nonce) = client
            .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
            .add_scope(Scope::new("profile".into()))
            .add_scope(Scope::new("email".into()))
            .add_scope(Scope::new("webapi".into()))
            .set_pkce_challenge(challenge)
            .url();
        let mut browser = Browser::new();
        let answer = browser.sign_in(&srv, url.as_str(), "admin@example.com").await;
        let get = |k: &str| answer.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        assert_eq!(get("state").as_deref(), Some(csrf.secret().as_str()));
        assert_eq!(get("iss").as_deref(), Some(srv.base.as_str()), "RFC 9207");
        let code = get("code").expect("a code");

        let tokens = client
            .exchange_code(AuthorizationCode::new(code.clone()))
            .unwrap()
            .set_pkce_verifier(verifier)
            .request_async(&rp_http())
            .await
            .expect("code exchange");
        let id_token = tokens.id_token().expect("an ID token");
        let claims = id_token.claims(&client.id_token_verifier(), &nonce).expect("the ID token verifies");
        assert_eq!(claims.email().map(|e| e.as_str()), Some("admin@example.com"));
        let at_hash = AccessTokenHash::from_token(tokens.access_token(), id_token.signing_alg().unwrap(), id_token.signing_key(&client.id_token_verifier()).unwrap()).unwrap();
        assert_eq!(claims.access_token_hash(), Some(&at_hash));
        let raw: Value = serde_json::from_slice(&gatehouse::crypto::b64url_decode(id_token.to_string().split('.').nth(1).unwrap()).unwrap()).unwrap();
        assert_eq!(raw["http://schemes.superoffice.net/identity/ctx"], "Cust1");
        assert_eq!(raw["http://schemes.superoffice.net/identity/is_administrator"], "True");
        assert_eq!(raw["http://schemes.superoffice.net/identity/webapi_url"], "https://Cust1.example.com/api/");

        let info: CoreUserInfoClaims = client.user_info(tokens.access_token().clone(), None).unwrap().request_async(&rp_http()).await.expect("userinfo");
        assert_eq!(info.email().map(|e| e.as_str()), Some("admin@example.com"));

        // The code is single-use: a replay fails and revokes what it issued.
        let replay = client.exchange_code(AuthorizationCode::new(code)).unwrap().request_async(&rp_http()).await;
        assert!(replay.is_err());
        let introspected: Value = http().post(srv.url("/introspect")).basic_auth(&w.client_id, Some(&w.secret))
            .form(&[("token", tokens.access_token().secret().as_str())]).send().await.unwrap().json().await.unwrap();
        assert_eq!(introspected["active"], false, "a replayed code revokes its access token");
        let refreshed = client.exchange_refresh_token(tokens.refresh_token().unwrap()).unwrap().request_async(&rp_http()).await;
        assert!(refreshed.is_err(), "and its refresh token");

        // A second sign-in reuses the session: no login page, no consent page.
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, _, nonce) = client
            .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
            .add_scope(Scope::new("profile".into()))
            .set_pkce_challenge(challenge)
            .url();
        let res = browser.get(url.as_str()).await;
        assert_eq!(res.status(), 303);
        let location = res.headers()["location"].to_str().unwrap().to_string();
        assert!(location.starts_with(REDIRECT), "{location}");
        let code = form_urlencoded::parse(location.split_once('?').unwrap().1.as_bytes()).find(|(k, _)| k == "code").unwrap().1.into_owned();
        let tokens = client.exchange_code(AuthorizationCode::new(code)).unwrap().set_pkce_verifier(verifier).request_async(&rp_http()).await.unwrap();
        tokens.id_token().unwrap().claims(&client.id_token_verifier(), &nonce).unwrap();

        // Refresh rotates; the old refresh token is then a replay that ends the family.
        let first = tokens.refresh_token().unwrap().clone();
        let second = client.exchange_refresh_token(&first).unwrap().request_async(&rp_http()).await.expect("refresh");
        let second_refresh = second.refresh_token().unwrap().clone();
        assert_ne!(second_refresh.secret(), first.secret());
        // Strict one-time use by default (RFC 9700 §4.14.2): the rotated-out token is refused
        // at once, and its reuse ends the whole family.
        assert!(client.exchange_refresh_token(&first).unwrap().request_async(&rp_http()).await.is_err(), "reuse refused");
        assert!(client.exchange_refresh_token(&second_refresh).unwrap().request_async(&rp_http()).await.is_err(), "family revoked");
        let _ = RefreshToken::new(String::new());
    }
);

both_backends!(
    async fn bad_authorization_requests_never_redirect_to_unverified_uris(srv) {
        let w = world(&srv).await;
        for bad in [
            "https://APP.example.com/cb",
            "https://app.example.com/cb/",
            "https://app.example.com/cb?x=1",
            "https://app.example.com/c%62",
            "https://evil@app.example.com/cb",
            "https://app.example.com/cb#frag",
            "https://evil.example/cb",
        ] {
            let res = http().get(authorize_url(&srv, &w, &[("redirect_uri", bad)])).send().await.unwrap();
            assert_eq!(res.status(), 400, "{bad}");
            assert!(res.headers().get("location").is_none(), "{bad} must not be redirected to");
            assert!(res.headers()["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
        }
        let res = http().get(authorize_url(&srv, &w, &[("client_id", "nope")])).send().await.unwrap();
        assert_eq!((res.status().as_u16(), res.headers().get("location").is_none()), (400, true));
        // Unknown client names are not echoed unescaped.
        let res = http().get(authorize_url(&srv, &w, &[("client_id", "<script>alert(1)</script>")])).send().await.unwrap();
        assert!(!res.text().await.unwrap().contains("<script>alert"));

        let redirected = |res: &reqwest::Response| -> Vec<(String, String)> {
            let location = res.headers()["location"].to_str().unwrap();
            assert!(location.starts_with(REDIRECT), "{location}");
            form_urlencoded::parse(location.split_once('?').unwrap().1.as_bytes()).into_owned().collect()
        };
        let error_of = |q: &[(String, String)]| q.iter().find(|(k, _)| k == "error").map(|(_, v)| v.clone()).unwrap_or_default();
        for (extra, expected) in [
            (vec![("response_type", "token")], "unsupported_response_type"),
            (vec![("response_type", "")], "invalid_request"),
            (vec![("code_challenge", "")], "invalid_request"),
            (vec![("code_challenge_method", "plain")], "invalid_request"),
            (vec![("scope", "openid admin")], "invalid_scope"),
            (vec![("prompt", "none")], "login_required"),
            (vec![("prompt", "none login")], "invalid_request"),
            // An unsigned request object (RFC 9101 §10.2), refused at the front channel's registered redirect URI.
            (vec![("request", "eyJhbGciOiJub25lIn0.e30.")], "invalid_request_object"),
            (vec![("request_uri", "https://evil.example/r")], "request_uri_not_supported"),
        ] {
            let res = http().get(authorize_url(&srv, &w, &extra)).send().await.unwrap();
            assert_eq!(res.status(), 303, "{extra:?}");
            let q = redirected(&res);
            assert_eq!(error_of(&q), expected, "{extra:?}: {q:?}");
            assert!(q.iter().any(|(k, v)| k == "state" && v == "xyz"));
            assert!(q.iter().any(|(k, v)| k == "iss" && v == &srv.base));
        }
        // RFC 6749 §3.1, §4.1.2.1: a repeated parameter is invalid_request, sent back to the
        // verified redirect URI; a repeated client_id or redirect_uri is never redirected to.
        let url = format!("{}&scope=openid", authorize_url(&srv, &w, &[]));
        let res = http().get(url).send().await.unwrap();
        assert_eq!(res.status(), 303);
        let q = redirected(&res);
        assert_eq!(error_of(&q), "invalid_request", "{q:?}");
        assert!(q.iter().any(|(k, v)| k == "state" && v == "xyz"));
        for repeated in ["redirect_uri=https%3A%2F%2Fevil.example%2Fcb", &format!("client_id={}", w.client_id)] {
            let url = format!("{}&{repeated}", authorize_url(&srv, &w, &[]));
            let res = http().get(url).send().await.unwrap();
            assert_eq!(res.status(), 400, "{repeated}");
            assert!(res.headers().get("location").is_none());
        }
        // Oversized parameters: a 400, not a 500.
        let huge = "x".repeat(4000);
        let res = http().get(authorize_url(&srv, &w, &[("state", &huge)])).send().await.unwrap();
        assert!(res.status().is_redirection() || res.status() == 400, "{}", res.status());
    }
);

both_backends!(
    async fn codes_are_bound_to_client_redirect_uri_and_verifier(srv) {
        let w = world(&srv).await;
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let mut browser = Browser::new();
        let code_for = |_: ()| authorize_url(&srv, &w, &[]);
        let start = code_for(());
        let answer = browser.sign_in(&srv, &start, "admin@example.com").await;
        let code = answer.iter().find(|(k, _)| k == "code").unwrap().1.clone();
        let token = |form: Vec<(&'static str, String)>| {
            let srv_url = srv.url("/token");
            let (id, secret) = (w.client_id.clone(), w.secret.clone());
            async move {
                let res = http().post(srv_url).basic_auth(id, Some(secret)).form(&form).send().await.unwrap();
                let status = res.status().as_u16();
                (status, res.json::<Value>().await.unwrap())
            }
        };
        let base = |code: &str, verifier: &str| {
            vec![("grant_type", "authorization_code".to_string()), ("code", code.to_string()), ("redirect_uri", REDIRECT.to_string()), ("code_verifier", verifier.to_string())]
        };
        let (status, body) = token(base(&code, "wrong-verifier-wrong-verifier-wrong-verifier-x")).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));
        // The failed attempt used the code up.
        let (status, _) = token(base(&code, verifier)).await;
        assert_eq!(status, 400);

        let answer = browser.sign_in(&srv, &code_for(()), "admin@example.com").await;
        let code = answer.iter().find(|(k, _)| k == "code").unwrap().1.clone();
        let mut form = base(&code, verifier);
        form[2].1 = "https://app.example.com/other".into();
        let (status, body) = token(form).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "redirect_uri mismatch");

        // A code presented by another client is invalid for it, and not burnt for its owner.
        let answer = browser.sign_in(&srv, &code_for(()), "admin@example.com").await;
        let code = answer.iter().find(|(k, _)| k == "code").unwrap().1.clone();
        let partner = srv.state.registry.get(&w.client_id).await.unwrap().partner_id;
        let other = srv.state.registry.create(NewApp { partner_id: partner, name: "Other".into(), template: Template::Web, redirect_uris: vec![REDIRECT.into()], access: Access::Private, technical_contact: None, justification: None }, "test").await.unwrap();
        let res = http().post(srv.url("/token")).basic_auth(&other.app.client_id, Some(other.client_secret.unwrap().secret.expose()))
            .form(&[("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", REDIRECT), ("code_verifier", verifier)]).send().await.unwrap();
        assert_eq!(res.status(), 400);
        assert_eq!(res.json::<Value>().await.unwrap()["error"], "invalid_grant");
        // Without the verifier the owner is refused too (the code is then used up).
        let (status, body) = token(vec![("grant_type", "authorization_code".into()), ("code", code.clone()), ("redirect_uri", REDIRECT.into())]).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "missing verifier");

        let answer = browser.sign_in(&srv, &code_for(()), "admin@example.com").await;
        let code = answer.iter().find(|(k, _)| k == "code").unwrap().1.clone();
        srv.clock.advance(301);
        let (status, body) = token(base(&code, verifier)).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "expired");

        let answer = browser.sign_in(&srv, &code_for(()), "admin@example.com").await;
        let code = answer.iter().find(|(k, _)| k == "code").unwrap().1.clone();
        let (status, body) = token(base(&code, verifier)).await;
        assert_eq!(status, 200, "{body}");
        assert!(body["id_token"].as_str().is_some() && body["refresh_token"].as_str().is_some());
        let (status, body) = token(vec![("grant_type", "authorization_code".into()), ("code", "gatehouse_ac_unknown".into()), ("redirect_uri", REDIRECT.into())]).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));
    }
);

both_backends!(
    async fn login_forms_need_their_csrf_token_and_failed_logins_are_throttled(srv) {
        let w = world(&srv).await;
        let res = http().get(authorize_url(&srv, &w, &[])).send().await.unwrap();
        let location = res.headers()["location"].to_str().unwrap().to_string();
        let flow_cookie = res.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
        assert!(flow_cookie.starts_with("gatehouse_flow_"));
        let page = http().get(srv.url(&location)).send().await.unwrap().text().await.unwrap();
        let request = hidden(&page, "request").unwrap();
        let login = |csrf: String, password: &'static str, cookie: Option<String>| {
            let url = srv.url("/signin");
            let request = request.clone();
            async move {
                let mut req = http().post(url).form(&[("request", request.as_str()), ("csrf", csrf.as_str()), ("action", "login"), ("email", "admin@example.com"), ("password", password)]);
                if let Some(c) = cookie {
                    req = req.header("cookie", c);
                }
                req.send().await.unwrap()
            }
        };
        let res = login("forged".into(), PASSWORD, Some(flow_cookie.clone())).await;
        assert_eq!(res.status(), 403);
        assert!(res.headers().get("set-cookie").is_none(), "no session without the CSRF token");
        let csrf = hidden(&page, "csrf").unwrap();
        // The right CSRF token from another browser (no flow cookie): login CSRF is refused.
        let res = login(csrf.clone(), PASSWORD, None).await;
        assert_eq!(res.status(), 403);
        assert!(res.headers().get("set-cookie").is_none());
        let login = |csrf: String, password: &'static str| login(csrf, password, Some(flow_cookie.clone()));
        let res = login(csrf.clone(), "wrong password!").await;
        assert_eq!(res.status(), 200);
        assert!(res.text().await.unwrap().contains("not right"));
        // Ten failures for this account from this address in the window, then even the right
        // password is refused from here for a while (other addresses: tests/it/throttle.rs).
        gatehouse::on_db!(&srv.state.store.db, pool => {
            sqlx::query("UPDATE login_failures SET failures = 10").execute(pool).await.unwrap();
        });
        let res = login(csrf, PASSWORD).await;
        assert_eq!(res.status(), 429);
        assert!(res.headers().get("retry-after").is_some());
    }
);

both_backends!(
    async fn sessions_cookies_response_modes_logout_and_userinfo(srv) {
        let w = world(&srv).await;
        let mut browser = Browser::new();
        let code = code_of(&srv, &mut browser, &w, &[]).await;
        // The session cookie: HttpOnly, SameSite=Lax (Secure only behind https).
        let (status, tokens) = redeem(&srv.base, &w, &code).await;
        assert_eq!(status, 200, "{tokens}");

        // form_post and fragment deliver the same answer another way.
        let res = browser.get(&authorize_url(&srv, &w, &[("response_mode", "form_post")])).await;
        assert_eq!(res.status(), 200);
        let csp = res.headers()["content-security-policy"].to_str().unwrap().to_string();
        let html = res.text().await.unwrap();
        assert!(html.contains(&format!("action=\"{REDIRECT}\"")) && html.contains("name=\"code\"") && html.contains("name=\"iss\""));
        assert!(csp.contains("script-src 'sha256-"), "{csp}");
        let res = browser.get(&authorize_url(&srv, &w, &[("response_mode", "fragment")])).await;
        assert!(res.headers()["location"].to_str().unwrap().starts_with(&format!("{REDIRECT}#code=")));

        // userinfo: Bearer in the header or the body, never both; bad tokens are 401 with a challenge.
        let access = tokens["access_token"].as_str().unwrap();
        let info: Value = http().get(srv.url("/userinfo")).bearer_auth(access).send().await.unwrap().json().await.unwrap();
        assert_eq!(info["http://schemes.superoffice.net/identity/ctx"], "Cust1");
        let res = http().post(srv.url("/userinfo")).form(&[("access_token", access)]).send().await.unwrap();
        assert_eq!(res.status(), 200);
        let res = http().get(srv.url("/userinfo")).bearer_auth("nope").send().await.unwrap();
        assert_eq!(res.status(), 401);
        assert!(res.headers()["www-authenticate"].to_str().unwrap().contains("invalid_token"));
        let res = http().get(srv.url("/userinfo")).send().await.unwrap();
        assert_eq!(res.status(), 401);

        // Logout: only to a registered post-logout URI, with state; the session ends.
        srv.state.registry.add_uri(&w.client_id, gatehouse::apps::UriKind::PostLogout, "https://app.example.com/bye", "test").await.unwrap();
        let id_token = tokens["id_token"].as_str().unwrap();
        let bad = format!("{}?id_token_hint={id_token}&post_logout_redirect_uri=https://evil.example/", srv.url("/logout"));
        let res = browser.get(&bad).await;
        assert_eq!(res.status(), 400);
        assert!(res.headers().get("location").is_none());
        let good = format!("{}?id_token_hint={id_token}&post_logout_redirect_uri=https://app.example.com/bye&state=s1", srv.url("/logout"));
        let res = browser.get(&good).await;
        assert_eq!(res.status(), 303);
        assert_eq!(res.headers()["location"], "https://app.example.com/bye?state=s1");
        // The old cookie no longer signs anyone in.
        let res = browser.get(&authorize_url(&srv, &w, &[("prompt", "none")])).await;
        assert!(res.headers()["location"].to_str().unwrap().contains("error=login_required"));
    }
);

both_backends!(
    async fn tenant_choice_consent_denial_and_prompts(srv) {
        let w = world(&srv).await;
        let dir = &srv.state.directory;
        // A second tenant of the same partner: the user must choose.
        let partner = srv.state.registry.get(&w.client_id).await.unwrap().partner_id;
        dir.add_tenant("Cust2", "Customer Two", None, Some(&partner), "test").await.unwrap();
        dir.add_user("admin@example.com", None, "Cust2", true, Secret::new(PASSWORD.into()), "test").await.unwrap();
        let mut browser = Browser::new();
        let answer = browser.sign_in(&srv, &authorize_url(&srv, &w, &[("acr_values", "tenant:Cust2")]), "admin@example.com").await;
        let code = answer.iter().find(|(k, _)| k == "code").unwrap().1.clone();
        let (_, tokens) = redeem(&srv.base, &w, &code).await;
        let claims: Value = serde_json::from_slice(&gatehouse::crypto::b64url_decode(tokens["id_token"].as_str().unwrap().split('.').nth(1).unwrap()).unwrap()).unwrap();
        assert_eq!(claims["http://schemes.superoffice.net/identity/ctx"], "Cust2", "acr_values tenant:<ctx> picks the tenant");
        assert!(srv.state.store.audit_trail("Cust2", 10).await.unwrap().iter().any(|e| e.action == "app.approved"), "the administrator approved on the page");

        // prompt=consent shows the consent page again; denying it is access_denied.
        let res = browser.get(&authorize_url(&srv, &w, &[("prompt", "consent")])).await;
        let location = res.headers()["location"].to_str().unwrap().to_string();
        let html = browser.get(&srv.url(&location)).await.text().await.unwrap();
        let form = [("request", hidden(&html, "request").unwrap()), ("csrf", hidden(&html, "csrf").unwrap()), ("action", hidden(&html, "action").unwrap()), ("decision", "deny".into())];
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert!(form.iter().any(|(k, v)| *k == "action" && (*v == "consent" || *v == "tenant")), "{html}");
        let res = browser.post(&srv.url("/signin"), &form).await;
        if form.iter().any(|(_, v)| *v == "consent") {
            assert!(res.headers()["location"].to_str().unwrap().contains("error=access_denied"));
        }

        // A user of a tenant that has not approved (and is no administrator) is refused.
        dir.add_tenant("Cust3", "Customer Three", None, Some(&partner), "test").await.unwrap();
        dir.add_user("bob@example.com", None, "Cust3", false, Secret::new(PASSWORD.into()), "test").await.unwrap();
        let mut bob = Browser::new();
        let answer = bob.sign_in(&srv, &authorize_url(&srv, &w, &[]), "bob@example.com").await;
        assert!(answer.iter().any(|(k, v)| k == "error" && v == "access_denied"), "{answer:?}");
    }
);

both_backends!(
    async fn two_instances_share_sessions_codes_and_refresh_tokens(srv) {
        let w = world(&srv).await;
        let other = srv.another_instance().await;
        let mut browser = Browser::new();
        let code = code_of(&srv, &mut browser, &w, &[]).await;
        // The code from instance A is redeemed at instance B; the tokens verify at A.
        let (status, tokens) = redeem(&other.base, &w, &code).await;
        assert_eq!(status, 200, "{tokens}");
        assert!(srv.state.keys.verify_own(tokens["access_token"].as_str().unwrap(), "at+jwt").is_some());
        assert_eq!(srv.state.keys.jwks(), other.state.keys.jwks());
        // The session from A works at B.
        let url = authorize_url(&srv, &w, &[]).replace(&srv.base, &other.base);
        let res = browser.get(&url).await;
        assert!(res.headers()["location"].to_str().unwrap().starts_with(&format!("{REDIRECT}?code=")));
        // One code redeemed concurrently on both: exactly one success, no 5xx.
        let code = code_of(&srv, &mut browser, &w, &[]).await;
        let mut tasks = Vec::new();
        for i in 0..20 {
            let base = if i % 2 == 0 { srv.base.clone() } else { other.base.clone() };
            let (code, id, secret) = (code.clone(), w.client_id.clone(), w.secret.clone());
            tasks.push(tokio::spawn(async move {
                redeem(&base, &World { client_id: id, secret }, &code).await.0
            }));
        }
        let mut statuses = Vec::new();
        for t in tasks {
            statuses.push(t.await.unwrap());
        }
        assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
        assert!(statuses.iter().all(|s| *s == 200 || *s == 400), "{statuses:?}");
    }
);

both_backends!(
    async fn long_lived_refresh_tokens_end_with_the_tenants_approval(srv) {
        let w = world(&srv).await;
        let algs = ["RS256"];
        srv.state.registry.set_token_settings(&w.client_id, gatehouse::apps::TokenSettings { refresh_mode: Some(gatehouse::apps::RefreshMode::LongLived), ..Default::default() }, &algs, "test").await.unwrap();
        let mut browser = Browser::new();
        let code = code_of(&srv, &mut browser, &w, &[]).await;
        let (_, tokens) = redeem(&srv.base, &w, &code).await;
        let refresh = tokens["refresh_token"].as_str().unwrap().to_string();
        let form = [("grant_type", "refresh_token"), ("refresh_token", refresh.as_str())];
        for _ in 0..2 {
            let res = http().post(srv.url("/token")).basic_auth(&w.client_id, Some(&w.secret)).form(&form).send().await.unwrap();
            assert_eq!(res.status(), 200);
            let body: Value = res.json().await.unwrap();
            assert_eq!(body["refresh_token"], refresh.as_str(), "not rotated");
        }
        // Revoking the app's approval in the tenant ends the refresh token.
        gatehouse::on_db!(&srv.state.store.db, pool => {
            sqlx::query("UPDATE authorization_records SET status = 'revoked'").execute(pool).await.unwrap();
        });
        let res = http().post(srv.url("/token")).basic_auth(&w.client_id, Some(&w.secret)).form(&form).send().await.unwrap();
        assert_eq!(res.status(), 400);
        // Revoking a refresh token (RFC 7009) ends its whole grant.
        let res = http().post(srv.url("/revoke")).basic_auth(&w.client_id, Some(&w.secret)).form(&[("token", refresh.as_str())]).send().await.unwrap();
        assert_eq!(res.status(), 200);
    }
);

both_backends!(
    async fn address_and_phone_scopes_are_left_out_not_refused(srv) {
        let w = world(&srv).await;
        let mut browser = Browser::new();
        let answer = browser.sign_in(&srv, &authorize_url(&srv, &w, &[("scope", "openid address phone")]), "admin@example.com").await;
        let code = answer.iter().find(|(k, _)| k == "code").unwrap_or_else(|| panic!("{answer:?}")).1.clone();
        let (status, tokens) = redeem(&srv.base, &w, &code).await;
        assert_eq!(status, 200, "{tokens}");
        assert_eq!(tokens["scope"], "openid");
    }
);
