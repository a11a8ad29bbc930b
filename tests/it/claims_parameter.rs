//! The `claims` request parameter (OIDC Core §5.5) and `dpop_jkt` (RFC 9449 §10) on both
//! databases: a claim asked for by name is consented to with its scope and released; an
//! essential `acr` we cannot reach and a malformed parameter are refused at the app's redirect
//! URI; a required `sub` is answered only for that person; and a code bound to a DPoP key, by
//! `dpop_jkt` or by a proof at the PAR push, is redeemed only with a proof of that key.
//! openid-client sends `claims` and binds a code by PAR in `conformance/node/rp.mjs`.

use serde_json::{json, Value};

use crate::harness::http;
use crate::harness::jwt::DpopKey;
use crate::harness::signin::{authorize_url, code_of, redeem, world, Browser, REDIRECT, VERIFIER};

fn payload(jwt: &str) -> Value {
    serde_json::from_slice(&gatehouse::crypto::b64url_decode(jwt.split('.').nth(1).unwrap()).unwrap()).unwrap()
}

/// The parameters of the redirect a fresh browser gets for `url` (before any sign-in).
async fn redirected(url: &str) -> Vec<(String, String)> {
    let res = Browser::new().get(url).await;
    let location = res.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with(REDIRECT), "{location}");
    let query = location.split_once('?').map(|(_, q)| q).unwrap_or("");
    form_urlencoded::parse(query.as_bytes()).into_owned().collect()
}

fn get<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

both_backends!(
    async fn a_claim_asked_for_by_name_is_consented_with_its_scope_and_released(srv) {
        let w = world(&srv).await;
        let claims = json!({"id_token": {"email": {"essential": true}}, "userinfo": {"name": null}}).to_string();
        let code = code_of(&srv, &mut Browser::new(), &w, &[("scope", "openid"), ("claims", &claims)]).await;
        let (status, tokens) = redeem(&srv.base, &w, &code).await;
        assert_eq!(status, 200, "{tokens}");
        let id = payload(tokens["id_token"].as_str().unwrap());
        assert_eq!(id["email"], "admin@example.com");
        assert_eq!(id["name"], "Ada Admin");
        let granted: Vec<&str> = tokens["scope"].as_str().unwrap().split(' ').collect();
        assert!(granted.contains(&"email") && granted.contains(&"profile"), "the scopes the claims belong to: {granted:?}");
        let info: Value = http()
            .get(srv.url("/userinfo"))
            .bearer_auth(tokens["access_token"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(info["name"], "Ada Admin");
        // A claim we do not hold is left out, not an error (§5.5).
        let other = json!({"id_token": {"phone_number": null}}).to_string();
        let code = code_of(&srv, &mut Browser::new(), &w, &[("scope", "openid"), ("claims", &other)]).await;
        let (_, tokens) = redeem(&srv.base, &w, &code).await;
        let id = payload(tokens["id_token"].as_str().unwrap());
        assert!(id.get("phone_number").is_none() && id.get("email").is_none(), "{id}");
    }
);

both_backends!(
    async fn an_unreachable_essential_acr_or_a_malformed_claims_parameter_is_refused_at_the_app(srv) {
        let w = world(&srv).await;
        // §5.5.1.1: an essential acr that cannot be met fails the request.
        let acr = json!({"id_token": {"acr": {"essential": true, "values": ["urn:example:gold"]}}}).to_string();
        let answer = redirected(&authorize_url(&srv, &w, &[("claims", &acr)])).await;
        assert_eq!(get(&answer, "error"), Some("access_denied"), "{answer:?}");
        assert_eq!(get(&answer, "state"), Some("xyz"));
        for bad in ["not json", "[1]", r#"{"id_token":{"email":true}}"#, r#"{"userinfo":"all"}"#] {
            let answer = redirected(&authorize_url(&srv, &w, &[("claims", bad)])).await;
            assert_eq!(get(&answer, "error"), Some("invalid_request"), "{bad}: {answer:?}");
        }
        let oversized = format!(r#"{{"id_token":{{"x":{{"value":"{}"}}}}}}"#, "a".repeat(5_000));
        let answer = redirected(&authorize_url(&srv, &w, &[("claims", &oversized)])).await;
        assert_eq!(get(&answer, "error"), Some("invalid_request"));
        // A voluntary acr with a value we do not know is only a wish.
        let wish = json!({"id_token": {"acr": {"values": ["urn:example:gold"]}}}).to_string();
        let code = code_of(&srv, &mut Browser::new(), &w, &[("claims", &wish)]).await;
        assert_eq!(redeem(&srv.base, &w, &code).await.0, 200);
    }
);

both_backends!(
    async fn a_required_sub_is_answered_only_for_that_person(srv) {
        let w = world(&srv).await;
        let mut browser = Browser::new();
        let code = code_of(&srv, &mut browser, &w, &[]).await;
        let (_, tokens) = redeem(&srv.base, &w, &code).await;
        let sub = payload(tokens["id_token"].as_str().unwrap())["sub"].as_str().unwrap().to_string();
        let asking = |who: &str| json!({"id_token": {"sub": {"value": who}}}).to_string();

        // §5.5.1: "MUST only send a positive response if the End-User identified by that sub
        // value has an active session".
        let answer = browser.sign_in(&srv, &authorize_url(&srv, &w, &[("claims", &asking(&sub))]), "admin@example.com").await;
        assert!(get(&answer, "code").is_some(), "{answer:?}");
        let other = asking("someone-else");
        let res = browser.get(&authorize_url(&srv, &w, &[("claims", &other), ("prompt", "none")])).await;
        let location = res.headers()["location"].to_str().unwrap().to_string();
        assert!(location.contains("error=login_required"), "{location}");
        let res = browser.get(&authorize_url(&srv, &w, &[("claims", &other)])).await;
        let location = res.headers()["location"].to_str().unwrap().to_string();
        assert!(location.contains("error=access_denied"), "{location}");
    }
);

both_backends!(
    async fn a_code_bound_to_a_dpop_key_is_redeemed_only_with_a_proof_of_it(srv) {
        let w = world(&srv).await;
        let key = DpopKey::new();
        let token_url = srv.url("/token");
        let redeem_with = |code: String, proof: Option<String>| {
            let mut req = http().post(&token_url).basic_auth(&w.client_id, Some(&w.secret)).form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
            ]);
            if let Some(p) = proof {
                req = req.header("DPoP", p);
            }
            async move {
                let res = req.send().await.unwrap();
                (res.status().as_u16(), res.json::<Value>().await.unwrap())
            }
        };
        let jkt = key.thumbprint();
        // RFC 9449 §10: "the authorization server MUST check that the JWK thumbprint ... matches".
        let code = code_of(&srv, &mut Browser::new(), &w, &[("dpop_jkt", &jkt)]).await;
        let (status, body) = redeem_with(code, None).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "without a proof: {body}");
        let code = code_of(&srv, &mut Browser::new(), &w, &[("dpop_jkt", &jkt)]).await;
        let other = DpopKey::new().proof("POST", &token_url, srv.clock.now(), None, None);
        let (status, body) = redeem_with(code, Some(other)).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "another key: {body}");
        let code = code_of(&srv, &mut Browser::new(), &w, &[("dpop_jkt", &jkt)]).await;
        let (status, body) = redeem_with(code, Some(key.proof("POST", &token_url, srv.clock.now(), None, None))).await;
        assert_eq!((status, body["token_type"].as_str()), (200, Some("DPoP")), "{body}");
        let answer = redirected(&authorize_url(&srv, &w, &[("dpop_jkt", "not a thumbprint")])).await;
        assert_eq!(get(&answer, "error"), Some("invalid_request"));

        // §10.1: a proof at the PAR push binds the code the same way; a dpop_jkt naming
        // another key than the proof's is refused.
        let par_url = srv.url("/par");
        let pushed = |proof: String, extra: Option<&str>| {
            let mut form = vec![
                ("response_type", "code".to_string()),
                ("redirect_uri", REDIRECT.to_string()),
                ("scope", "openid".to_string()),
                ("state", "xyz".to_string()),
                ("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_string()),
                ("code_challenge_method", "S256".to_string()),
            ];
            if let Some(jkt) = extra {
                form.push(("dpop_jkt", jkt.to_string()));
            }
            let req = http().post(&par_url).basic_auth(&w.client_id, Some(&w.secret)).header("DPoP", proof).form(&form);
            async move {
                let res = req.send().await.unwrap();
                (res.status().as_u16(), res.json::<Value>().await.unwrap())
            }
        };
        let (status, body) =
            pushed(key.proof("POST", &par_url, srv.clock.now(), None, None), Some(&DpopKey::new().thumbprint())).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")), "{body}");
        let (status, body) = pushed(key.proof("POST", &par_url, srv.clock.now(), None, None), None).await;
        assert_eq!(status, 201, "{body}");
        let front = format!(
            "{}?{}",
            srv.url("/authorize"),
            form_urlencoded::Serializer::new(String::new())
                .append_pair("client_id", &w.client_id)
                .append_pair("request_uri", body["request_uri"].as_str().unwrap())
                .finish()
        );
        let answer = Browser::new().sign_in(&srv, &front, "admin@example.com").await;
        let code = get(&answer, "code").unwrap().to_string();
        let (status, body) = redeem_with(code, None).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "the pushed proof bound it: {body}");
    }
);
