//! Dynamic client registration (RFC 7591) and management (RFC 7592): a registered client signs
//! a user in like any app; every bad registration gets the RFC's error and stores nothing.

use serde_json::{json, Value};

use crate::harness::signin::{world, Browser, REDIRECT};
use crate::harness::{http, TestServer};

async fn initial_token(srv: &TestServer) -> String {
    gatehouse::oauth::registration::create_initial_token(&srv.state, 1).await.unwrap().0
}

async fn register(srv: &TestServer, token: Option<&str>, body: &Value) -> (u16, Value) {
    let mut req = http().post(srv.url("/register")).json(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn dynamic_apps(srv: &TestServer) -> usize {
    srv.state.registry.list(Some("dynamic-registration")).await.unwrap().len()
}

both_backends!(
    async fn a_registered_client_signs_a_user_in_and_manages_its_registration(srv) {
        world(&srv).await;
        let body = json!({ "redirect_uris": [REDIRECT], "client_name": "Conformance RP", "post_logout_redirect_uris": ["https://app.example.com/bye"] });
        let (status, res) = register(&srv, None, &body).await;
        assert_eq!((status, res["error"].as_str()), (401, Some("invalid_token")), "an initial access token is required");
        let token = initial_token(&srv).await;
        let (status, reg) = register(&srv, Some(&token), &body).await;
        assert_eq!(status, 201, "{reg}");
        let client_id = reg["client_id"].as_str().unwrap().to_string();
        let secret = reg["client_secret"].as_str().unwrap().to_string();
        let rat = reg["registration_access_token"].as_str().unwrap().to_string();
        assert_eq!(reg["registration_client_uri"], srv.url(&format!("/register/{client_id}")));
        assert_eq!(reg["token_endpoint_auth_method"], "client_secret_basic");
        assert_eq!(reg["grant_types"], json!(["authorization_code"]));
        // It is an app like any other: in the registry, and it signs users in.
        let app = srv.state.registry.get(&client_id).await.unwrap();
        assert_eq!(app.post_logout_redirect_uris, ["https://app.example.com/bye"]);
        let url = format!(
            "{}?response_type=code&client_id={client_id}&redirect_uri={}&scope=openid&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
            srv.url("/authorize"),
            form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>()
        );
        let answer = Browser::new().sign_in(&srv, &url, "admin@example.com").await;
        let code = answer.iter().find(|(k, _)| k == "code").unwrap_or_else(|| panic!("{answer:?}")).1.clone();
        let tokens: Value = http().post(srv.url("/token")).basic_auth(&client_id, Some(&secret))
            .form(&[("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", REDIRECT), ("code_verifier", "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")])
            .send().await.unwrap().json().await.unwrap();
        assert!(tokens["id_token"].is_string(), "{tokens}");

        // RFC 7592: read, update, delete with the registration access token only.
        let uri = srv.url(&format!("/register/{client_id}"));
        let read: Value = http().get(&uri).bearer_auth(&rat).send().await.unwrap().json().await.unwrap();
        assert_eq!(read["client_name"], "Conformance RP");
        assert!(read.get("client_secret").is_none());
        let res = http().get(&uri).bearer_auth("gatehouse_rat_wrong").send().await.unwrap();
        assert_eq!(res.status(), 401);
        assert!(res.headers()["www-authenticate"].to_str().unwrap().contains("invalid_token"));
        let (_, other) = register(&srv, Some(&token), &body).await;
        let res = http().get(&uri).bearer_auth(other["registration_access_token"].as_str().unwrap()).send().await.unwrap();
        assert_eq!(res.status(), 401, "another client's registration access token");
        let mut updated = read.clone();
        updated["redirect_uris"] = json!(["https://app.example.com/cb2"]);
        let res = http().put(&uri).bearer_auth(&rat).json(&updated).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(srv.state.registry.get(&client_id).await.unwrap().redirect_uris, ["https://app.example.com/cb2"]);
        updated["grant_types"] = json!(["authorization_code", "refresh_token"]);
        let res = http().put(&uri).bearer_auth(&rat).json(&updated).send().await.unwrap();
        assert_eq!(res.status(), 400);
        assert_eq!(res.json::<Value>().await.unwrap()["error"], "invalid_client_metadata");
        let res = http().delete(&uri).bearer_auth(&rat).send().await.unwrap();
        assert_eq!(res.status(), 204);
        assert!(srv.state.registry.get(&client_id).await.is_err(), "deleted");
        assert_eq!(http().get(&uri).bearer_auth(&rat).send().await.unwrap().status(), 401);
    }
);

both_backends!(
    async fn bad_registrations_get_the_rfc_error_and_store_nothing(srv) {
        let token = initial_token(&srv).await;
        let before = dynamic_apps(&srv).await;
        let private_jwk = {
            let pem = String::from_utf8(crate::harness::fixture("app-cert.pem")).unwrap();
            let mut jwk = gatehouse::jose::certificate::parse(pem.as_bytes()).unwrap().key.to_jwk();
            jwk["d"] = json!("AQAB");
            jwk
        };
        for (body, error, why) in [
            (json!({ "redirect_uris": ["https://rp.example.com/cb#frag"] }), "invalid_redirect_uri", "fragment"),
            (json!({ "redirect_uris": ["/cb"] }), "invalid_redirect_uri", "relative"),
            (json!({ "redirect_uris": ["http://rp.example.com/cb"] }), "invalid_redirect_uri", "http for a web client"),
            (json!({ "redirect_uris": ["https://rp.example.com/cb"], "grant_types": ["authorization_code", "password"] }), "invalid_client_metadata", "unknown grant"),
            (json!({ "redirect_uris": ["https://rp.example.com/cb"], "token_endpoint_auth_method": "private_key_jwt" }), "invalid_client_metadata", "no keys"),
            (json!({ "redirect_uris": ["https://rp.example.com/cb"], "token_endpoint_auth_method": "private_key_jwt", "jwks": { "keys": [private_jwk] } }), "invalid_client_metadata", "private JWK"),
            (json!({ "redirect_uris": ["https://rp.example.com/cb"], "grant_types": ["client_credentials"], "response_types": ["code"] }), "invalid_client_metadata", "response/grant mismatch"),
            (json!({ "redirect_uris": ["https://rp.example.com/cb"], "jwks_uri": "https://rp.example.com/jwks", "jwks": { "keys": [] } }), "invalid_client_metadata", "jwks and jwks_uri (RFC 7591 section 2)"),
            (json!({ "redirect_uris": ["http://127.0.0.1:8000/cb#fragment"] }), "invalid_redirect_uri", "loopback with a fragment (RFC 7591 section 3.2.2)"),
            (json!(["not", "an", "object"]), "invalid_client_metadata", "not an object"),
        ] {
            let (status, res) = register(&srv, Some(&token), &body).await;
            assert_eq!((status, res["error"].as_str().unwrap_or("")), (400, error), "{why}: {res}");
            assert!(res["error_description"].as_str().is_some_and(|d| !d.is_empty()), "{why}");
        }
        let res = http().post(srv.url("/register")).bearer_auth(&token).header("content-type", "application/json")
            .body(vec![b' '; 1024 * 1024]).send().await;
        // The server answers 413 as soon as the declared length is over the limit and may close
        // the connection before the client has written the rest: a broken pipe is that refusal.
        match res {
            Ok(res) => assert_eq!(res.status(), 413),
            Err(e) => assert!(e.is_request() && !e.is_connect(), "{e}"),
        }
        assert_eq!(dynamic_apps(&srv).await, before, "nothing was stored");
        // Good ones of other shapes: a native public client and a server-to-server client.
        let (status, native) = register(&srv, Some(&token), &json!({ "application_type": "native", "redirect_uris": ["http://127.0.0.1/cb"], "token_endpoint_auth_method": "none" })).await;
        assert_eq!(status, 201, "{native}");
        assert!(native.get("client_secret").is_none());
        let app = srv.state.registry.get(native["client_id"].as_str().unwrap()).await.unwrap();
        assert!(app.redirect_uri_matches("http://127.0.0.1:50123/cb"));
        let (status, s2s) = register(&srv, Some(&token), &json!({ "grant_types": ["client_credentials"], "response_types": [] })).await;
        assert_eq!(status, 201, "{s2s}");
        let res = http().post(srv.url("/token")).basic_auth(s2s["client_id"].as_str().unwrap(), Some(s2s["client_secret"].as_str().unwrap()))
            .form(&[("grant_type", "client_credentials")]).send().await.unwrap();
        assert_eq!(res.status(), 200);
    }
);

both_backends!(
    async fn a_deleted_registration_s_secret_is_refused_at_once_on_every_instance(srv) {
        // See: issue 16, item 11.
        let token = initial_token(&srv).await;
        let (status, reg) = register(&srv, Some(&token), &json!({ "grant_types": ["client_credentials"], "response_types": [] })).await;
        assert_eq!(status, 201, "{reg}");
        let (client_id, secret) = (reg["client_id"].as_str().unwrap(), reg["client_secret"].as_str().unwrap());
        let other = srv.another_instance().await;
        let token_status = |base: String| async move {
            http().post(format!("{base}/token")).basic_auth(client_id, Some(secret))
                .form(&[("grant_type", "client_credentials")]).send().await.unwrap().status().as_u16()
        };
        // Both instances remember the successful check.
        assert_eq!(token_status(srv.base.clone()).await, 200);
        assert_eq!(token_status(other.base.clone()).await, 200);
        let uri = srv.url(&format!("/register/{client_id}"));
        let res = http().delete(&uri).bearer_auth(reg["registration_access_token"].as_str().unwrap()).send().await.unwrap();
        assert_eq!(res.status(), 204);
        assert_eq!(token_status(srv.base.clone()).await, 401, "the instance that deleted it");
        assert_eq!(token_status(other.base.clone()).await, 401, "another instance, within the cache's lifetime");
    }
);
