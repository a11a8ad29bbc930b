//! Pushed authorization requests (RFC 9126, issue 22) over HTTP on both databases: a pushed
//! request signs in and redeems like any other, with the browser's own parameters ignored
//! (RFC 9101 §6.3 via RFC 9126 §4); a `request_uri` works once, for its own client, until it
//! expires (§4, §2.2); a push is authenticated like the token endpoint and validated like an
//! authorization request, with the token endpoint's error shape (§2.1, §2.3); and PAR can be
//! required per app and server-wide (§4, §5, §6). openid-client pushes its requests in
//! `conformance/node/rp.mjs`.

use serde_json::{json, Value};

use crate::harness::signin::{authorize_url, public_client, redeem, world, Browser, World, REDIRECT};
use crate::harness::{http, TestServer};
use gatehouse::apps::TokenSettings;

const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// The parameters of a code request of `w`, with `extra` replacing or adding some.
fn request(w: &World, extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, String)> {
    let mut params: Vec<(&'static str, String)> = vec![
        ("response_type", "code".into()),
        ("client_id", w.client_id.clone()),
        ("redirect_uri", REDIRECT.into()),
        ("scope", "openid email".into()),
        ("state", "pushed-state".into()),
        ("nonce", "pushed-nonce".into()),
        ("code_challenge", CHALLENGE.into()),
        ("code_challenge_method", "S256".into()),
    ];
    for (k, v) in extra {
        params.retain(|(n, _)| n != k);
        params.push((k, v.to_string()));
    }
    params
}

/// Pushes `params` with the app's secret (Basic); the status, Cache-Control and body.
async fn push(srv: &TestServer, w: &World, secret: &str, params: &[(&str, String)]) -> (u16, String, Value) {
    let res = http().post(srv.url("/par")).basic_auth(&w.client_id, Some(secret)).form(params).send().await.unwrap();
    let status = res.status().as_u16();
    let cache = res.headers().get("cache-control").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    (status, cache, res.json().await.unwrap_or(Value::Null))
}

/// The browser's URL for a pushed request, with `extra` parameters the server must ignore.
fn front(srv: &TestServer, client_id: &str, request_uri: &str, extra: &[(&str, &str)]) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("client_id", client_id).append_pair("request_uri", request_uri);
    for (k, v) in extra {
        q.append_pair(k, v);
    }
    format!("{}?{}", srv.url("/authorize"), q.finish())
}

/// Opens `url` in a fresh browser: the status, and where it redirects (if it does).
async fn open(url: &str) -> (u16, Option<String>) {
    let res = Browser::new().get(url).await;
    (res.status().as_u16(), res.headers().get("location").map(|l| l.to_str().unwrap().to_string()))
}

both_backends!(
    async fn a_pushed_request_signs_in_once_for_its_own_client_until_it_expires(srv) {
        let w = world(&srv).await;
        let other = public_client(&srv, &srv.partner().await, "Other", REDIRECT).await;

        // RFC 9126 §2.2: 201, a request_uri in our URN namespace, its lifetime, not cached.
        let (status, cache, body) = push(&srv, &w, &w.secret, &request(&w, &[])).await;
        assert_eq!(status, 201, "{body}");
        assert!(cache.contains("no-store"), "{cache}");
        let uri = body["request_uri"].as_str().unwrap().to_string();
        assert!(uri.starts_with("urn:ietf:params:oauth:request_uri:") && uri.len() > 60, "{uri}");
        assert_eq!(body["expires_in"], 90);

        // §2.2: the request_uri is bound to its client; another client's attempt is refused on
        // our page (no verified redirect URI) and does not spend it.
        let (status, location) = open(&front(&srv, &other.client_id, &uri, &[])).await;
        assert_eq!((status, location), (400, None));

        // RFC 9101 §6.3 (RFC 9126 §4): only the pushed parameters count; the browser's are ignored.
        let mut browser = Browser::new();
        let tampered =
            front(&srv, &w.client_id, &uri, &[("state", "tampered"), ("scope", "openid profile"), ("redirect_uri", "https://evil.example/cb")]);
        let answer = browser.sign_in(&srv, &tampered, "admin@example.com").await;
        let get = |k: &str| answer.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        assert_eq!(get("state").as_deref(), Some("pushed-state"), "{answer:?}");
        let (status, tokens) = redeem(&srv.base, &w, &get("code").unwrap()).await;
        assert_eq!(status, 200, "{tokens}");
        assert_eq!(tokens["scope"], "openid email", "{tokens}");
        let payload = tokens["id_token"].as_str().unwrap().split('.').nth(1).unwrap().to_string();
        let claims: Value = serde_json::from_slice(&gatehouse::crypto::b64url_decode(&payload).unwrap()).unwrap();
        assert_eq!(claims["nonce"], "pushed-nonce");

        // §4: one-time use.
        let (status, location) = open(&front(&srv, &w.client_id, &uri, &[])).await;
        assert_eq!((status, location), (400, None), "a used request_uri is refused");

        // §4: "An expired request_uri MUST be rejected as invalid."
        let (_, _, body) = push(&srv, &w, &w.secret, &request(&w, &[])).await;
        srv.clock.advance(91);
        let (status, location) = open(&front(&srv, &w.client_id, body["request_uri"].as_str().unwrap(), &[])).await;
        assert_eq!((status, location), (400, None), "an expired request_uri is refused");

        // A made-up one in our namespace is refused the same way.
        let (status, _) = open(&front(&srv, &w.client_id, "urn:ietf:params:oauth:request_uri:guess", &[])).await;
        assert_eq!(status, 400);
    }
);

both_backends!(
    async fn a_push_is_authenticated_and_validated_like_the_request_it_carries(srv) {
        let w = world(&srv).await;
        let code = |body: &Value| body["error"].as_str().unwrap_or("").to_string();

        // §2.1: authenticated as at the token endpoint; a wrong secret is 401 invalid_client.
        let (status, _, body) = push(&srv, &w, "not-the-secret", &request(&w, &[])).await;
        assert_eq!((status, code(&body).as_str()), (401, "invalid_client"));
        // §2.1: "reject the request if the request_uri authorization request parameter is provided".
        let (status, _, body) = push(&srv, &w, &w.secret, &request(&w, &[("request_uri", "urn:x")])).await;
        assert_eq!((status, code(&body).as_str()), (400, "invalid_request"), "{body}");
        // Another client's client_id in the body of this client's push.
        let (status, _, body) = push(&srv, &w, &w.secret, &request(&w, &[("client_id", "0123456789abcdef0123456789abcdef")])).await;
        assert_eq!((status, code(&body).as_str()), (400, "invalid_request"), "{body}");
        // §2.3: a redirect URI that is not registered, where /authorize would not redirect, is invalid_request.
        let (status, _, body) = push(&srv, &w, &w.secret, &request(&w, &[("redirect_uri", "https://evil.example/cb")])).await;
        assert_eq!((status, code(&body).as_str()), (400, "invalid_request"), "{body}");
        // §2.3: the authorization endpoint's own codes otherwise.
        let (status, _, body) = push(&srv, &w, &w.secret, &request(&w, &[("scope", "openid not-a-scope")])).await;
        assert_eq!((status, code(&body).as_str()), (400, "invalid_scope"), "{body}");
        let (status, _, body) = push(&srv, &w, &w.secret, &request(&w, &[("response_type", "token")])).await;
        assert_eq!((status, code(&body).as_str()), (400, "unsupported_response_type"), "{body}");
        let without_pkce: Vec<_> = request(&w, &[]).into_iter().filter(|(k, _)| !k.starts_with("code_challenge")).collect();
        let (status, _, body) = push(&srv, &w, &w.secret, &without_pkce).await;
        assert_eq!((status, code(&body).as_str()), (400, "invalid_request"), "{body}");
        // The client secret is not kept with the request: the secret in the body is accepted
        // for authentication (client_secret_post) and the stored request still works.
        let mut posted = request(&w, &[]);
        posted.push(("client_secret", w.secret.clone()));
        let res = http().post(srv.url("/par")).form(&posted).send().await.unwrap();
        assert_eq!(res.status(), 201);
        // Only POST.
        assert_eq!(http().get(srv.url("/par")).send().await.unwrap().status(), 405);
    }
);

both_backends!(
    async fn an_app_held_to_par_is_refused_in_the_front_channel_and_served_through_a_push(srv) {
        let w = world(&srv).await;
        let algs = ["RS256"];
        let settings = TokenSettings { require_par: Some(true), ..Default::default() };
        let app = srv.state.registry.set_token_settings(&w.client_id, settings, &algs, "test").await.unwrap();
        assert!(app.require_par);

        // RFC 9126 §4: "refuse, using the invalid_request error code", sent to the verified redirect URI.
        let (status, location) = open(&authorize_url(&srv, &w, &[])).await;
        let location = location.unwrap_or_default();
        assert_eq!(status, 303, "{location}");
        assert!(location.starts_with(REDIRECT) && location.contains("error=invalid_request"), "{location}");

        let (status, _, body) = push(&srv, &w, &w.secret, &request(&w, &[])).await;
        assert_eq!(status, 201, "{body}");
        let mut browser = Browser::new();
        let answer = browser.sign_in(&srv, &front(&srv, &w.client_id, body["request_uri"].as_str().unwrap(), &[]), "admin@example.com").await;
        assert!(answer.iter().any(|(k, _)| k == "code"), "{answer:?}");

        // RFC 9126 §6: a client registers the same requirement; it is echoed and enforced.
        let token = gatehouse::oauth::registration::create_initial_token(&srv.state, 1).await.unwrap().0;
        let meta = json!({ "redirect_uris": [REDIRECT], "require_pushed_authorization_requests": true });
        let res = http().post(srv.url("/register")).bearer_auth(token).json(&meta).send().await.unwrap();
        assert_eq!(res.status(), 201);
        let registered: Value = res.json().await.unwrap();
        assert_eq!(registered["require_pushed_authorization_requests"], true, "{registered}");
        let client_id = registered["client_id"].as_str().unwrap();
        assert!(srv.state.registry.get(client_id).await.unwrap().require_par);
        let token = gatehouse::oauth::registration::create_initial_token(&srv.state, 1).await.unwrap().0;
        let meta = json!({ "redirect_uris": [REDIRECT], "require_pushed_authorization_requests": "yes" });
        let res = http().post(srv.url("/register")).bearer_auth(token).json(&meta).send().await.unwrap();
        assert_eq!(res.status(), 400);
        assert_eq!(res.json::<Value>().await.unwrap()["error"], "invalid_client_metadata");
    }
);

both_backends!(
    env [("GATEHOUSE_REQUIRE_PAR", "true")];
    async fn a_server_that_requires_par_says_so_and_refuses_every_front_channel_request(srv) {
        let w = world(&srv).await;
        // RFC 9126 §5: the metadata names the endpoint and the requirement.
        let doc: Value = http().get(srv.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
        assert_eq!(doc["pushed_authorization_request_endpoint"], srv.url("/par"));
        assert_eq!(doc["require_pushed_authorization_requests"], true);
        let (_, location) = open(&authorize_url(&srv, &w, &[])).await;
        assert!(location.unwrap_or_default().contains("error=invalid_request"));
        let (status, _, body) = push(&srv, &w, &w.secret, &request(&w, &[])).await;
        assert_eq!(status, 201, "{body}");
        let (status, location) = open(&front(&srv, &w.client_id, body["request_uri"].as_str().unwrap(), &[])).await;
        assert!(status == 303 && location.unwrap_or_default().starts_with("/signin?request="), "{status}");
    }
);
