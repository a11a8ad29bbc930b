//! One test per normative requirement that no other file covers, named after its clause.
//! Covered elsewhere: redirect URIs never redirected to and the authorization error codes
//! (signin.rs), code binding and replay (signin.rs), token endpoint errors and headers
//! (client_credentials.rs), registration errors (registration.rs), refresh-token
//! introspection and reuse (refresh.rs), CORS (cors.rs), jwks/jwks_uri (client_keys.rs).

use serde_json::{json, Value};

use crate::harness::apps::{app, post};
use crate::harness::signin::{authorize_url, code_of, redeem, world, Browser, World, REDIRECT};
use crate::harness::{http, TestServer};
use gatehouse::apps::{Template, UriKind};
use gatehouse::provider::Provider;

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

/// The parameters of the redirect a response makes (query), or panics.
fn redirect_params(res: &reqwest::Response) -> Vec<(String, String)> {
    assert_eq!(res.status(), 303, "expected a redirect to the app");
    let location = res.headers()["location"].to_str().unwrap();
    form_urlencoded::parse(location.split_once('?').unwrap().1.as_bytes()).into_owned().collect()
}

fn get<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// A public client of the world's partner.
async fn public_client(srv: &TestServer, w: &World) -> String {
    let partner = srv.state.registry.get(&w.client_id).await.unwrap().partner_id;
    crate::harness::signin::public_client(srv, &partner, "Public", REDIRECT).await.client_id
}

both_backends!(
    async fn rfc6749_authorization_endpoint_requirements(srv) {
        let w = world(&srv).await;
        // §3.1: "Parameters sent without a value MUST be treated as if they were omitted".
        let url = format!("{}&response_type=", authorize_url(&srv, &w, &[("response_type", "")]));
        let q = redirect_params(&http().get(url).send().await.unwrap());
        assert_eq!(get(&q, "error"), Some("invalid_request"), "{q:?}");
        // RFC 7636 §4.2: code_challenge is 43-128 unreserved characters; otherwise the request
        // is invalid (RFC 6749 §4.1.2.1 invalid_request), sent back to the verified redirect URI.
        for bad in ["E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+c/"] {
            let q = redirect_params(&http().get(authorize_url(&srv, &w, &[("code_challenge", bad)])).send().await.unwrap());
            assert_eq!(get(&q, "error"), Some("invalid_request"), "{bad}: {q:?}");
            assert_eq!(get(&q, "state"), Some("xyz"));
        }
        // OIDC Core §3.1.2.6: registration_not_supported for the registration parameter.
        let q = redirect_params(&http().get(authorize_url(&srv, &w, &[("registration", "{}")])).send().await.unwrap());
        assert_eq!(get(&q, "error"), Some("registration_not_supported"));
        // §4.1.2.1 unauthorized_client: an app that may not use the code flow (the mirroring
        // template has client_credentials only).
        let mirror = app(&srv, Template::Mirroring).await;
        srv.state.registry.add_uri(&mirror.client_id, UriKind::Redirect, REDIRECT, "test").await.unwrap();
        let other = World { client_id: mirror.client_id.clone(), secret: mirror.secret.clone() };
        let q = redirect_params(&http().get(authorize_url(&srv, &other, &[])).send().await.unwrap());
        assert_eq!(get(&q, "error"), Some("unauthorized_client"), "{q:?}");
        // §3.1.2: the redirect URI's query component MUST be retained when adding parameters.
        let with_query = "https://app.example.com/cb?tenant=1";
        srv.state.registry.add_uri(&w.client_id, UriKind::Redirect, with_query, "test").await.unwrap();
        let mut browser = Browser::new();
        code_of(&srv, &mut browser, &w, &[]).await;
        let res = browser.get(&authorize_url(&srv, &w, &[("redirect_uri", with_query)])).await;
        let location = res.headers()["location"].to_str().unwrap();
        assert!(location.starts_with("https://app.example.com/cb?tenant=1&code="), "{location}");
    }
);

both_backends!(
    async fn rfc6749_token_endpoint_requirements(srv) {
        let w = world(&srv).await;
        // §4.4.2 "The client MUST authenticate": a public client sent none, so invalid_client
        // (§5.2), 401.
        let public = public_client(&srv, &w).await;
        for grant in ["client_credentials", "urn:ietf:params:oauth:grant-type:jwt-bearer"] {
            let (status, _, body) = post(&srv, "/token", None, &[("grant_type", grant), ("client_id", &public), ("assertion", "x.y.z")]).await;
            assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "{grant}: {body}");
        }
        // §4.1.3: redirect_uri is REQUIRED when it was in the authorization request.
        let mut browser = Browser::new();
        let code = code_of(&srv, &mut browser, &w, &[]).await;
        let (status, _, body) = post(&srv, "/token", Some((&w.client_id, &w.secret)),
            &[("grant_type", "authorization_code"), ("code", &code), ("code_verifier", VERIFIER)]).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")), "{body}");
        // RFC 7636 §4.1: a verifier outside 43-128 unreserved characters never matches.
        let code = code_of(&srv, &mut browser, &w, &[]).await;
        let (status, _, body) = post(&srv, "/token", Some((&w.client_id, &w.secret)),
            &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", REDIRECT), ("code_verifier", &VERIFIER[..42])]).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
        // §4.1.3: a public client identifies itself with client_id and proves the code with PKCE.
        let public_world = World { client_id: public.clone(), secret: String::new() };
        let code = code_of(&srv, &mut browser, &public_world, &[]).await;
        let (status, _, body) = post(&srv, "/token", None, &[("grant_type", "authorization_code"), ("code", &code),
            ("redirect_uri", REDIRECT), ("client_id", &public), ("code_verifier", VERIFIER)]).await;
        assert_eq!(status, 200, "{body}");
        // §5.2: error_description uses only %x20-21 / %x23-5B / %x5D-7E.
        for form in [vec![("grant_type", "client_credentials"), ("scope", "caf\u{e9}")], vec![("grant_type", "client_credentials"), ("a\"\\", "1"), ("a\"\\", "2")]] {
            let (status, _, body) = post(&srv, "/token", Some((&w.client_id, &w.secret)), &form).await;
            assert_eq!(status, 400, "{body}");
            let d = body["error_description"].as_str().unwrap();
            assert!(d.bytes().all(|b| matches!(b, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E)), "{d:?}");
        }
    }
);

both_backends!(
    async fn rfc6750_and_oidc_5_3_userinfo_requirements(srv) {
        let w = world(&srv).await;
        let mut browser = Browser::new();
        let code = code_of(&srv, &mut browser, &w, &[]).await;
        let (_, tokens) = redeem(&srv.base, &w, &code).await;
        let access = tokens["access_token"].as_str().unwrap();
        // OIDC Core §5.3.2: JSON, and sub MUST equal the ID token's sub.
        let res = http().get(srv.url("/userinfo")).bearer_auth(access).send().await.unwrap();
        assert_eq!(res.headers()["content-type"], "application/json");
        let info: Value = res.json().await.unwrap();
        let id: Value = serde_json::from_slice(&gatehouse::crypto::b64url_decode(tokens["id_token"].as_str().unwrap().split('.').nth(1).unwrap()).unwrap()).unwrap();
        assert_eq!(info["sub"], id["sub"]);
        // RFC 6750 §2: clients MUST NOT use more than one method per request → invalid_request, 400.
        let res = http().post(srv.url("/userinfo")).bearer_auth(access).form(&[("access_token", access)]).send().await.unwrap();
        assert_eq!(res.status(), 400);
        assert!(res.headers()["www-authenticate"].to_str().unwrap().contains("error=\"invalid_request\""));
        // §3.1: no authentication information: no error code in the challenge.
        let res = http().get(srv.url("/userinfo")).send().await.unwrap();
        assert_eq!(res.status(), 401);
        assert_eq!(res.headers()["www-authenticate"], "Bearer realm=\"gatehouse\"");
        // §3.1 insufficient_scope, 403: a token without openid.
        let s2s = app(&srv, Template::ServerToServer).await;
        let (_, _, cc) = post(&srv, "/token", Some((&s2s.client_id, &s2s.secret)), &[("grant_type", "client_credentials")]).await;
        let res = http().get(srv.url("/userinfo")).bearer_auth(cc["access_token"].as_str().unwrap()).send().await.unwrap();
        assert_eq!(res.status(), 403);
        assert!(res.headers()["www-authenticate"].to_str().unwrap().contains("insufficient_scope"));
    }
);

both_backends!(
    async fn rfc7009_and_rfc7662_requirements(srv) {
        let w = world(&srv).await;
        let mut browser = Browser::new();
        let code = code_of(&srv, &mut browser, &w, &[]).await;
        let (_, tokens) = redeem(&srv.base, &w, &code).await;
        let (access, refresh) = (tokens["access_token"].as_str().unwrap(), tokens["refresh_token"].as_str().unwrap());
        let auth = Some((w.client_id.as_str(), w.secret.as_str()));
        // RFC 7662 §2.1: token is REQUIRED.
        let (status, _, body) = post(&srv, "/introspect", auth, &[("token_type_hint", "access_token")]).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")));
        // RFC 7009 §2.1: a public caller's revocation of another client's token does nothing
        // (it proves no identity; the silent 200 keeps tokens unprobeable).
        let public = public_client(&srv, &w).await;
        let (status, _, _) = post(&srv, "/revoke", None, &[("token", refresh), ("client_id", &public)]).await;
        assert_eq!(status, 200);
        let (_, _, body) = post(&srv, "/introspect", auth, &[("token", access)]).await;
        assert_eq!(body["active"], true);
        // §2.1: the hint is only a hint; revoking a refresh token ends the access tokens of its grant.
        let (status, _, _) = post(&srv, "/revoke", auth, &[("token", refresh), ("token_type_hint", "access_token")]).await;
        assert_eq!(status, 200);
        let (_, _, body) = post(&srv, "/introspect", auth, &[("token", access)]).await;
        assert_eq!(body, json!({"active": false}));
        let (_, _, body) = post(&srv, "/introspect", auth, &[("token", refresh)]).await;
        assert_eq!(body, json!({"active": false}));
    }
);

both_backends!(
    async fn rfc7591_registration_response_requirements(srv) {
        world(&srv).await;
        let token = gatehouse::oauth::registration::create_initial_token(&srv.state, 1).await.unwrap().0;
        let body = json!({ "redirect_uris": [REDIRECT], "x_unknown": "kept?", "userinfo_signed_response_alg": "RS256",
            "software_statement": "eyJ.e30.", "client_name": "Musts" });
        let res = http().post(srv.url("/register")).bearer_auth(&token).json(&body).send().await.unwrap();
        assert_eq!(res.status(), 201);
        let reg: Value = res.json().await.unwrap();
        // §2: metadata the server does not understand MUST be ignored: not registered, not echoed.
        for unknown in ["x_unknown", "userinfo_signed_response_alg", "software_statement"] {
            assert!(reg.get(unknown).is_none(), "{unknown}: {reg}");
        }
        assert_eq!(reg["client_name"], "Musts");
        // §3.2.1: client_id_issued_at, and client_secret_expires_at REQUIRED with a secret.
        assert!(reg["client_id_issued_at"].is_i64());
        assert_eq!(reg["client_secret_expires_at"], 0);
        let read: Value = http().get(reg["registration_client_uri"].as_str().unwrap())
            .bearer_auth(reg["registration_access_token"].as_str().unwrap()).send().await.unwrap().json().await.unwrap();
        assert!(read.get("x_unknown").is_none(), "{read}");
        // A public (native) client gets no secret fields.
        let res = http().post(srv.url("/register")).bearer_auth(&token)
            .json(&json!({ "application_type": "native", "redirect_uris": ["http://127.0.0.1/cb"], "token_endpoint_auth_method": "none" }))
            .send().await.unwrap();
        let native: Value = res.json().await.unwrap();
        assert!(native.get("client_secret").is_none() && native.get("client_secret_expires_at").is_none(), "{native}");
    }
);

/// RFC 7591 §2 leaves redirect URI policy to the server; `registration.allow_http_loopback_redirects`
/// admits a developer's `http://localhost` web client against an https issuer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_loopback_redirects_against_an_https_issuer_need_the_setting() {
    let srv = TestServer::start(crate::harness::Backend::Sqlite).await.unwrap();
    let meta = json!({ "redirect_uris": ["http://localhost:3000/callback"] });
    let meta = meta.as_object().unwrap();
    for (allowed, expect_ok) in [(false, false), (true, true)] {
        let mut state = Provider::clone(&srv.state.provider);
        let mut config = (*state.config).clone();
        config.issuer = "https://id.example.com".into();
        config.allow_http_loopback_redirects = allowed;
        state.config = std::sync::Arc::new(config);
        let planned = gatehouse::oauth::registration::plan(&state, meta);
        assert_eq!(planned.is_ok(), expect_ok, "allowed={allowed}");
        if let Err(e) = planned {
            assert_eq!(e.code.as_str(), "invalid_redirect_uri");
        }
    }
    // Only loopback hosts: the setting does not open plain http elsewhere.
    let mut state = Provider::clone(&srv.state.provider);
    let mut config = (*state.config).clone();
    config.issuer = "https://id.example.com".into();
    config.allow_http_loopback_redirects = true;
    state.config = std::sync::Arc::new(config);
    let meta = json!({ "redirect_uris": ["http://app.example.com/callback"] });
    assert!(gatehouse::oauth::registration::plan(&state, meta.as_object().unwrap()).is_err());
}

both_backends!(
    async fn rfc8414_2_metadata_requirements(srv) {
        let doc: Value = http().get(srv.url("/.well-known/oauth-authorization-server")).send().await.unwrap().json().await.unwrap();
        // "…_auth_signing_alg_values_supported" MUST be present when private_key_jwt is listed
        // for that endpoint, and "none" MUST NOT be among them.
        for endpoint in ["token_endpoint", "revocation_endpoint", "introspection_endpoint"] {
            let methods = doc[format!("{endpoint}_auth_methods_supported")].as_array().unwrap();
            if methods.iter().any(|m| m == "private_key_jwt") {
                let algs = doc[format!("{endpoint}_auth_signing_alg_values_supported")].as_array()
                    .unwrap_or_else(|| panic!("{endpoint}: no signing algs"));
                assert!(!algs.is_empty() && !algs.iter().any(|a| a == "none"), "{endpoint}: {algs:?}");
            }
        }
        // §3: the issuer is identical to the URL the metadata was derived from.
        assert_eq!(doc["issuer"], srv.base.as_str());
    }
);

both_backends!(
    async fn oidc_3_1_2_6_prompt_none_reports_consent_required(srv) {
        let w = world(&srv).await;
        let mut browser = Browser::new();
        code_of(&srv, &mut browser, &w, &[]).await;
        // Signed in and approved, but "profile" was never consented to.
        let res = browser.get(&authorize_url(&srv, &w, &[("prompt", "none"), ("scope", "openid profile")])).await;
        let q = redirect_params(&res);
        assert_eq!(get(&q, "error"), Some("consent_required"), "{q:?}");
        let res = browser.get(&authorize_url(&srv, &w, &[("prompt", "none consent")])).await;
        assert_eq!(get(&redirect_params(&res), "error"), Some("invalid_request"), "none with another value");
    }
);

both_backends!(
    async fn oidc_3_1_2_1_ui_locales_picks_the_pages_language(srv) {
        let w = world(&srv).await;
        // "End-User's preferred languages and scripts for the user interface, represented as a
        // space-separated list of BCP47 language tag values, ordered by preference."
        for (asked, lang, title) in [
            ("fr-CA nb-NO en", "nb", "<title>Logg inn · Gatehouse</title>"),
            ("en nb", "en", "<title>Sign in · Gatehouse</title>"),
            ("fr", "en", "<title>Sign in · Gatehouse</title>"),
        ] {
            let mut browser = Browser::new();
            let res = browser.get(&authorize_url(&srv, &w, &[("ui_locales", asked)])).await;
            let location = res.headers()["location"].to_str().unwrap().to_string();
            let page = browser.get(&srv.url(&location)).await.text().await.unwrap();
            assert!(page.contains(&format!("<html lang=\"{lang}\">")) && page.contains(title), "{asked}: {page}");
        }
        let meta: Value = http().get(srv.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
        assert_eq!(meta["ui_locales_supported"], json!(["en", "nb"]));
    }
);
