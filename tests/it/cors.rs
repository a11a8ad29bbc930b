//! CORS on the wire (the browser side is in `browser.rs`): discovery and JWKS for any origin;
//! token, revocation and userinfo only for the origins registered for the client.

use serde_json::Value;

use crate::harness::http;
use crate::harness::signin::{code_of, redeem, world, Browser};
use gatehouse::apps::UriKind;

const SPA: &str = "http://127.0.0.1:5173";
const EVIL: &str = "https://evil.example";

fn acao(res: &reqwest::Response) -> Option<String> {
    res.headers().get("access-control-allow-origin").map(|v| v.to_str().unwrap().to_string())
}

both_backends!(
    async fn browser_apps_reach_the_endpoints_only_from_their_registered_origins(srv) {
        let w = world(&srv).await;
        srv.state.registry.add_uri(&w.client_id, UriKind::Cors, SPA, "test").await.unwrap();
        let c = http();
        // Public documents: any origin, and their preflight.
        for path in ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server", "/login/.well-known/openid-configuration", "/jwks"] {
            let res = c.get(srv.url(path)).header("origin", EVIL).send().await.unwrap();
            assert_eq!((res.status().as_u16(), acao(&res).as_deref()), (200, Some("*")), "{path}");
        }
        let res = c.request(reqwest::Method::OPTIONS, srv.url("/jwks")).header("origin", EVIL)
            .header("access-control-request-method", "GET").send().await.unwrap();
        assert_eq!((res.status().as_u16(), acao(&res).as_deref()), (204, Some("*")));

        // Preflight of userinfo (Authorization header): a registered origin only.
        let preflight = |origin: &'static str| c.request(reqwest::Method::OPTIONS, srv.url("/userinfo"))
            .header("origin", origin).header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization").send();
        let res = preflight(SPA).await.unwrap();
        assert_eq!(res.status(), 204);
        assert_eq!(acao(&res).as_deref(), Some(SPA));
        assert!(res.headers()["access-control-allow-headers"].to_str().unwrap().contains("authorization"));
        let res = preflight(EVIL).await.unwrap();
        assert_eq!(acao(&res), None);

        // The token response is readable by the client's own origin, not by another.
        let mut browser = Browser::new();
        let code = code_of(&srv, &mut browser, &w, &[]).await;
        let (_, tokens) = redeem(&srv.base, &w, &code).await;
        let refresh = tokens["refresh_token"].as_str().unwrap();
        let res = c.post(srv.url("/token")).header("origin", SPA).basic_auth(&w.client_id, Some(&w.secret))
            .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh)]).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(acao(&res).as_deref(), Some(SPA));
        assert!(res.headers()["vary"].to_str().unwrap().to_lowercase().contains("origin"));
        let refreshed: Value = res.json().await.unwrap();
        let access = refreshed["access_token"].as_str().unwrap();
        let res = c.get(srv.url("/userinfo")).header("origin", SPA).bearer_auth(access).send().await.unwrap();
        assert_eq!((res.status().as_u16(), acao(&res).as_deref()), (200, Some(SPA)));
        let res = c.get(srv.url("/userinfo")).header("origin", EVIL).bearer_auth(access).send().await.unwrap();
        assert_eq!((res.status().as_u16(), acao(&res)), (200, None), "another origin cannot read it");
        // An origin registered by another app does not read this client's responses.
        let other = crate::harness::apps::app(&srv, gatehouse::apps::Template::Web).await;
        srv.state.registry.add_uri(&other.client_id, UriKind::Cors, "https://other.example", "test").await.unwrap();
        let res = c.post(srv.url("/revoke")).header("origin", "https://other.example").basic_auth(&w.client_id, Some(&w.secret))
            .form(&[("token", access)]).send().await.unwrap();
        assert_eq!((res.status().as_u16(), acao(&res)), (200, None));
        let res = c.post(srv.url("/revoke")).header("origin", SPA).basic_auth(&w.client_id, Some(&w.secret))
            .form(&[("token", access)]).send().await.unwrap();
        assert_eq!((res.status().as_u16(), acao(&res).as_deref()), (200, Some(SPA)));
        // Other endpoints answer no CORS at all.
        let res = c.post(srv.url("/introspect")).header("origin", SPA).basic_auth(&w.client_id, Some(&w.secret))
            .form(&[("token", access)]).send().await.unwrap();
        assert_eq!(acao(&res), None);
    }
);
