//! Audit issue 16, items 15 and 16: logout without an `id_token_hint` asks before it ends the
//! session; the sign-in pages refuse cross-site posts; session cookies take the `__Host-`
//! prefix behind https.

use crate::harness::signin::{authorize_url, code_of, hidden, world, Browser, World, PASSWORD, REDIRECT};
use crate::harness::{http, TestServer};

/// Whether the browser's session still signs it in without a page (prompt=none).
async fn signed_in(srv: &TestServer, browser: &mut Browser, w: &World) -> bool {
    let res = browser.get(&authorize_url(srv, w, &[("prompt", "none")])).await;
    let location = res.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with(REDIRECT), "{location}");
    location.contains("code=")
}

both_backends!(
    async fn logout_without_an_id_token_hint_asks_before_it_ends_the_session(srv) {
        let w = world(&srv).await;
        srv.state.registry.add_uri(&w.client_id, gatehouse::apps::UriKind::PostLogout, "https://app.example.com/bye", "test").await.unwrap();
        let mut browser = Browser::new();
        code_of(&srv, &mut browser, &w, &[]).await;

        // What a cross-site <img src="/logout"> sends: a confirmation page, nothing ended.
        let res = browser.get(&srv.url("/logout")).await;
        assert_eq!(res.status(), 200);
        assert!(res.headers().get("set-cookie").is_none());
        let page = res.text().await.unwrap();
        assert!(page.contains("method=\"post\"") && page.contains("action=\"/logout\""), "{page}");
        let csrf = hidden(&page, "csrf").expect("a CSRF token in the form");
        assert!(signed_in(&srv, &mut browser, &w).await, "a GET without a hint must not end the session");

        // A POST without the token (another site's form) only asks again.
        let res = browser.post(&srv.url("/logout"), &[("client_id", w.client_id.as_str())]).await;
        assert_eq!(res.status(), 200);
        assert!(res.text().await.unwrap().contains("name=\"csrf\""));
        let res = browser.post(&srv.url("/logout"), &[("csrf", "forged")]).await;
        assert_eq!(res.status(), 200);
        assert!(signed_in(&srv, &mut browser, &w).await, "a POST without the session's token must not end it");

        // The confirmation carries the app's request through: back to its registered URI.
        let asked = format!("{}?client_id={}&post_logout_redirect_uri=https://app.example.com/bye&state=s2", srv.url("/logout"), w.client_id);
        let page = browser.get(&asked).await.text().await.unwrap();
        assert_eq!(hidden(&page, "csrf").as_deref(), Some(csrf.as_str()), "the token is bound to the session");
        let form: Vec<(&str, String)> = ["csrf", "client_id", "post_logout_redirect_uri", "state"]
            .iter()
            .map(|name| (*name, hidden(&page, name).unwrap_or_else(|| panic!("no {name} in {page}"))))
            .collect();
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let res = browser.post(&srv.url("/logout"), &form).await;
        assert_eq!(res.status(), 303);
        assert_eq!(res.headers()["location"], "https://app.example.com/bye?state=s2");
        assert!(!signed_in(&srv, &mut browser, &w).await, "the confirmed logout ended the session");

        // Signed out already: nothing to confirm.
        let res = browser.get(&srv.url("/logout")).await;
        assert_eq!(res.status(), 200);
        assert!(!res.text().await.unwrap().contains("name=\"csrf\""));
    }
);

/// Opens a login page; the form fields to post and the browser's cookies as a header.
async fn login_form(srv: &TestServer, w: &World) -> (Vec<(&'static str, String)>, String) {
    let mut browser = Browser::new();
    let res = browser.get(&authorize_url(srv, w, &[])).await;
    let location = res.headers()["location"].to_str().unwrap().to_string();
    let page = browser.get(&srv.url(&location)).await.text().await.unwrap();
    let form = vec![
        ("request", hidden(&page, "request").unwrap()),
        ("csrf", hidden(&page, "csrf").unwrap()),
        ("action", "login".into()),
        ("email", "admin@example.com".into()),
        ("password", PASSWORD.into()),
    ];
    let cookies = browser.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
    (form, cookies)
}

both_backends!(
    async fn a_cross_site_post_to_the_sign_in_pages_is_refused(srv) {
        let w = world(&srv).await;
        for (header, value) in [("origin", "https://evil.example"), ("sec-fetch-site", "cross-site"), ("sec-fetch-site", "same-site")] {
            let (form, cookies) = login_form(&srv, &w).await;
            let res = http().post(srv.url("/signin")).header("cookie", cookies).header(header, value).form(&form).send().await.unwrap();
            assert_eq!(res.status(), 403, "{header}: {value}");
            assert!(res.headers().get("set-cookie").is_none(), "{header}: {value}");
        }
        // Our own form: same origin, or `Origin: null` under our no-referrer policy.
        for headers in [vec![("origin", srv.base.as_str()), ("sec-fetch-site", "same-origin")], vec![("origin", "null"), ("sec-fetch-site", "same-origin")], vec![]] {
            let (form, cookies) = login_form(&srv, &w).await;
            let mut req = http().post(srv.url("/signin")).header("cookie", cookies).form(&form);
            for (k, v) in &headers {
                req = req.header(*k, *v);
            }
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), 303, "{headers:?}");
        }
        // The portal's login shares the check, Sec-Fetch-Site included.
        let mut portal = Browser::new();
        let page = portal.get(&srv.url("/portal/login")).await.text().await.unwrap();
        let cookies = portal.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
        let form = [("csrf", hidden(&page, "csrf").unwrap()), ("next", "/portal".into()), ("email", "admin@example.com".into()), ("password", PASSWORD.into())];
        let res = http().post(srv.url("/portal/login")).header("cookie", &cookies).header("sec-fetch-site", "cross-site").form(&form).send().await.unwrap();
        assert_eq!(res.status(), 403);
        let res = http().post(srv.url("/portal/login")).header("cookie", &cookies).header("sec-fetch-site", "same-origin").form(&form).send().await.unwrap();
        assert_eq!(res.status(), 303);
    }
);

both_backends!(
    env [("GATEHOUSE_OUTBOUND_ALLOW_PRIVATE_NETWORKS", "true"), ("GATEHOUSE_ISSUER", "https://id.example.com")];
    async fn behind_https_the_session_cookies_take_the_host_prefix(srv) {
        let w = world(&srv).await;
        let mut browser = Browser::new();
        let res = browser.get(&authorize_url(&srv, &w, &[])).await;
        let location = res.headers()["location"].to_str().unwrap().to_string();
        let page = browser.get(&srv.url(&location)).await.text().await.unwrap();
        let form = [
            ("request", hidden(&page, "request").unwrap()),
            ("csrf", hidden(&page, "csrf").unwrap()),
            ("action", "login".into()),
            ("email", "admin@example.com".into()),
            ("password", PASSWORD.into()),
        ];
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let res = browser.post(&srv.url("/signin"), &form).await;
        assert_eq!(res.status(), 303);
        let set: Vec<String> = res.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string()).collect();
        for name in ["__Host-gatehouse_session=", "__Host-gatehouse_device="] {
            let cookie = set.iter().find(|c| c.starts_with(name)).unwrap_or_else(|| panic!("no {name} in {set:?}"));
            // What browsers require of a __Host- cookie.
            assert!(cookie.contains("; Secure") && cookie.contains("; Path=/;") && !cookie.contains("Domain"), "{cookie}");
        }
        // The session is read back under its prefixed name (the jar has no other).
        code_of(&srv, &mut browser, &w, &[]).await;
        assert!(browser.cookies.iter().all(|(name, _)| !name.starts_with("gatehouse_s")), "{:?}", browser.cookies);
        assert!(signed_in(&srv, &mut browser, &w).await);
    }
);
