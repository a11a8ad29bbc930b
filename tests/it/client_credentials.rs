//! The client_credentials grant and client authentication by secret, driven by the
//! openidconnect crate where it has the flow and by raw requests for exact wire shapes.

use crate::harness::apps::*;
use openidconnect::core::{CoreClient, CoreProviderMetadata};
use openidconnect::{ClientId, ClientSecret, IssuerUrl, OAuth2TokenResponse, Scope, TokenUrl};
use serde_json::{json, Value};

use crate::harness::{http, TestServer};
use gatehouse::apps::{Template, TokenFormat, TokenSettings};

async fn count(srv: &TestServer, table: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM {table}");
    gatehouse::on_db!(&srv.state.store.db, pool => sqlx::query_scalar::<_, i64>(&sql).fetch_one(pool).await.unwrap())
}

both_backends!(
    async fn the_openidconnect_client_gets_an_rfc9068_token_with_client_credentials(srv) {
        let app = app(&srv, Template::ServerToServer).await;
        let rp_http = openidconnect::reqwest::ClientBuilder::new().redirect(openidconnect::reqwest::redirect::Policy::none()).build().unwrap();
        let metadata = CoreProviderMetadata::discover_async(IssuerUrl::new(srv.base.clone()).unwrap(), &rp_http).await.unwrap();
        let client = CoreClient::from_provider_metadata(metadata, ClientId::new(app.client_id.clone()), Some(ClientSecret::new(app.secret.clone())));
        let response = client
            .exchange_client_credentials()
            .unwrap()
            .add_scope(Scope::new("webapi".into()))
            .request_async(&rp_http)
            .await
            .expect("client_credentials succeeds");
        assert_eq!(response.scopes().unwrap()[0].as_str(), "webapi");
        assert!(response.refresh_token().is_none());
        let token = response.access_token().secret();
        let (header, claims) = jwt_claims(token);
        assert_eq!(header["typ"], "at+jwt");
        assert_eq!(header["alg"], "RS256");
        for claim in ["iss", "sub", "aud", "client_id", "scope", "jti", "exp", "iat"] {
            assert!(claims.get(claim).is_some(), "RFC 9068 requires {claim}");
        }
        assert_eq!(claims["client_id"], app.client_id.as_str());
        assert_eq!(claims["sub"], app.client_id.as_str());
        assert_eq!(claims["iss"], srv.base.as_str());
        assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 3600);
    }
);

both_backends!(
    async fn secret_failures_are_401_invalid_client_and_write_only_an_audit_event(srv) {
        let a = app(&srv, Template::ServerToServer).await;
        let b = app(&srv, Template::ServerToServer).await;
        let grant = [("grant_type", "client_credentials")];
        let (status, headers, body) = post(&srv, "/token", Some((&a.client_id, &a.secret)), &grant).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(headers["cache-control"], "no-store");
        assert_eq!(headers["pragma"], "no-cache");
        assert_eq!(body["token_type"], "Bearer");

        let audits_before = count(&srv, "audit_events").await;
        let tokens_before = count(&srv, "access_tokens").await;
        for (id, secret) in [(a.client_id.as_str(), "gatehouse_cs_wrong"), (a.client_id.as_str(), b.secret.as_str()), ("no-such-client", a.secret.as_str())] {
            let (status, headers, body) = post(&srv, "/token", Some((id, secret)), &grant).await;
            assert_eq!(status, 401, "{body}");
            assert_eq!(body["error"], "invalid_client");
            assert!(headers["www-authenticate"].to_str().unwrap().starts_with("Basic realm="));
            assert!(!body.to_string().contains(secret));
        }
        // client_secret_post with a wrong secret: also 401.
        let (status, _, body) = post(&srv, "/token", None, &[("grant_type", "client_credentials"), ("client_id", &a.client_id), ("client_secret", "nope")]).await;
        assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));
        assert_eq!(count(&srv, "access_tokens").await, tokens_before);
        assert_eq!(count(&srv, "audit_events").await, audits_before + 4, "one audit event per refusal");

        // A revoked secret and an expired secret stop working.
        let secrets = srv.state.registry.secrets(&a.client_id).await.unwrap();
        let extra = srv.state.registry.new_secret(&a.client_id, Some(1), "test").await.unwrap();
        let (status, _, _) = post(&srv, "/token", Some((&a.client_id, extra.secret.expose())), &grant).await;
        assert_eq!(status, 200);
        srv.clock.advance(86_401);
        let (status, _, _) = post(&srv, "/token", Some((&a.client_id, extra.secret.expose())), &grant).await;
        assert_eq!(status, 401, "expired secret");
        srv.state.registry.revoke_secret(&a.client_id, &secrets[0].id, "test").await.unwrap();
        let (status, _, _) = post(&srv, "/token", Some((&a.client_id, &a.secret)), &grant).await;
        assert_eq!(status, 401, "revoked secret");
    }
);

both_backends!(
    async fn malformed_requests_get_the_right_rfc6749_error(srv) {
        let a = app(&srv, Template::ServerToServer).await;
        let basic = Some((a.client_id.as_str(), a.secret.as_str()));
        type Case<'a> = (Option<(&'a str, &'a str)>, Vec<(&'a str, &'a str)>, u16, &'a str);
        let cases: Vec<Case> = vec![
            (basic, vec![], 400, "invalid_request"),
            (basic, vec![("grant_type", "password")], 400, "unsupported_grant_type"),
            (basic, vec![("grant_type", "client_credentials"), ("scope", "services88")], 400, "invalid_scope"),
            (basic, vec![("grant_type", "client_credentials"), ("scope", "openid admin")], 400, "invalid_scope"),
            (basic, vec![("grant_type", "client_credentials"), ("resource", "https://api.example.com")], 400, "invalid_target"),
            (basic, vec![("grant_type", "client_credentials"), ("client_secret", a.secret.as_str()), ("client_id", a.client_id.as_str())], 400, "invalid_request"),
            (None, vec![("grant_type", "client_credentials")], 401, "invalid_client"),
            (None, vec![("grant_type", "client_credentials"), ("client_id", a.client_id.as_str())], 401, "invalid_client"),
        ];
        for (auth, form, status, error) in cases {
            let (got, _, body) = post(&srv, "/token", auth, &form).await;
            assert_eq!((got, body["error"].as_str().unwrap_or("")), (status, error), "{form:?}: {body}");
            assert!(body["error_description"].as_str().is_some_and(|d| !d.is_empty()));
        }
        // A web app may not use client_credentials.
        let web = app(&srv, Template::Web).await;
        let (status, _, body) = post(&srv, "/token", Some((&web.client_id, &web.secret)), &[("grant_type", "client_credentials")]).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("unauthorized_client")));
        // Repeated parameters and a JSON body are refused before anything else.
        let r = http().post(srv.url("/token")).basic_auth(&a.client_id, Some(&a.secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials&grant_type=client_credentials").send().await.unwrap();
        assert_eq!(r.status(), 400);
        assert!(r.json::<Value>().await.unwrap()["error_description"].as_str().unwrap().contains("repeated"));
        let r = http().post(srv.url("/token")).json(&serde_json::json!({"grant_type": "client_credentials"})).send().await.unwrap();
        assert_eq!(r.status(), 400);
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");
        let r = http().post(srv.url("/token"))
            .header("authorization", "Basic !!!").form(&[("grant_type", "client_credentials")]).send().await.unwrap();
        assert_eq!(r.status(), 401);
    }
);

both_backends!(
    async fn resources_are_the_audience_and_the_superid_alias_reads_the_query(srv) {
        let a = app(&srv, Template::ServerToServer).await;
        let partner = srv.state.registry.get(&a.client_id).await.unwrap().partner_id;
        srv.state.registry.register_resource_server("https://api.example.com", "Acme API", Some(&partner), "test").await.unwrap();
        let (status, _, body) = post(&srv, "/token", Some((&a.client_id, &a.secret)), &[("grant_type", "client_credentials"), ("resource", "https://api.example.com")]).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(jwt_claims(body["access_token"].as_str().unwrap()).1["aud"], "https://api.example.com");
        let url = format!("{}?grant_type=client_credentials&client_id={}&client_secret={}", srv.url("/login/common/oauth/tokens"), a.client_id, a.secret);
        let r = http().post(url).header("content-type", "application/x-www-form-urlencoded").body("").send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
);

both_backends!(
    async fn app_signing_algorithms_and_dedicated_keys_verify_against_jwks(srv) {
        let a = app(&srv, Template::ServerToServer).await;
        let reg = &srv.state.registry;
        reg.set_token_settings(&a.client_id, TokenSettings { signing_alg: Some("ES256"), access_token_ttl: Some(600), ..Default::default() }, &["RS256", "ES256"], "test").await.unwrap();
        let err = reg.set_token_settings(&a.client_id, TokenSettings { signing_alg: Some("HS256"), ..Default::default() }, &["RS256", "ES256"], "test").await.unwrap_err();
        assert!(err.to_string().contains("signing-alg"));
        let grant = [("grant_type", "client_credentials")];
        let (_, _, body) = post(&srv, "/token", Some((&a.client_id, &a.secret)), &grant).await;
        let token = body["access_token"].as_str().unwrap();
        let (header, claims) = jwt_claims(token);
        assert_eq!(header["alg"], "ES256");
        assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 600);
        assert!(srv.state.keys.verify_own(token, "at+jwt").is_some());

        let app_id = reg.get(&a.client_id).await.unwrap().id;
        srv.state.keys.enable_app_key(&app_id, gatehouse::jose::Alg::RS256).await.unwrap();
        let (_, _, body) = post(&srv, "/token", Some((&a.client_id, &a.secret)), &grant).await;
        let (header, _) = jwt_claims(body["access_token"].as_str().unwrap());
        let own = srv.state.keys.app_signer(&app_id).unwrap();
        assert_eq!(header["kid"], own.kid.as_str());
        let jwks: Value = http().get(srv.url("/jwks")).send().await.unwrap().json().await.unwrap();
        assert!(jwks["keys"].as_array().unwrap().iter().any(|k| k["kid"] == own.kid.as_str()), "the app's key is published");
        let rotated = srv.state.keys.rotate_app(&app_id, &a.client_id, gatehouse::jose::Alg::RS256, "test").await.unwrap();
        assert_ne!(rotated.kid, own.kid);
        assert_eq!(srv.state.keys.signer(gatehouse::jose::Alg::RS256).unwrap().kid, srv.state.keys.list().await.unwrap().iter().find(|k| k.alg == "RS256" && k.state == "current").unwrap().kid, "server keys untouched");
    }
);

both_backends!(
    async fn opaque_and_jwt_tokens_introspect_and_revoke(srv) {
        let a = app(&srv, Template::ServerToServer).await;
        let other = app(&srv, Template::ServerToServer).await;
        let grant = [("grant_type", "client_credentials")];
        let auth = Some((a.client_id.as_str(), a.secret.as_str()));
        let (_, _, body) = post(&srv, "/token", auth, &grant).await;
        let jwt = body["access_token"].as_str().unwrap().to_string();
        srv.state.registry.set_token_settings(&a.client_id, TokenSettings { format: Some(TokenFormat::Opaque), ..Default::default() }, &["RS256"], "test").await.unwrap();
        let (_, _, body) = post(&srv, "/token", auth, &grant).await;
        let opaque = body["access_token"].as_str().unwrap().to_string();
        assert!(opaque.starts_with("gatehouse_at_"));

        for token in [&jwt, &opaque] {
            let (status, headers, body) = post(&srv, "/introspect", auth, &[("token", token)]).await;
            assert_eq!(status, 200);
            assert_eq!(headers["cache-control"], "no-store");
            assert_eq!(body["active"], true, "{body}");
            assert_eq!(body["client_id"], a.client_id.as_str());
            // Another app learns nothing about it.
            let (_, _, body) = post(&srv, "/introspect", Some((&other.client_id, &other.secret)), &[("token", token)]).await;
            assert_eq!(body, serde_json::json!({"active": false}));
            // Nor can it revoke it: RFC 7009 §2.1, the request is refused.
            let (status, _, body) = post(&srv, "/revoke", Some((&other.client_id, &other.secret)), &[("token", token)]).await;
            assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")), "{body}");
            let (_, _, body) = post(&srv, "/introspect", auth, &[("token", token)]).await;
            assert_eq!(body["active"], true);
            // Its own client can.
            let (status, _, _) = post(&srv, "/revoke", auth, &[("token", token)]).await;
            assert_eq!(status, 200);
            let (_, _, body) = post(&srv, "/introspect", auth, &[("token", token)]).await;
            assert_eq!(body, serde_json::json!({"active": false}));
        }
        for junk in ["gatehouse_at_nope", "a.b.c", "x"] {
            let (status, _, body) = post(&srv, "/introspect", auth, &[("token", junk)]).await;
            assert_eq!((status, body), (200, serde_json::json!({"active": false})));
            let (status, _, _) = post(&srv, "/revoke", auth, &[("token", junk)]).await;
            assert_eq!(status, 200, "invalid tokens are not an error (RFC 7009 §2.2)");
        }
        let (status, _, body) = post(&srv, "/introspect", None, &[("token", &jwt)]).await;
        assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));
        // An expired token is inactive.
        let (_, _, body) = post(&srv, "/token", auth, &grant).await;
        let fresh = body["access_token"].as_str().unwrap().to_string();
        srv.clock.advance(3601);
        let (_, _, body) = post(&srv, "/introspect", auth, &[("token", &fresh)]).await;
        assert_eq!(body["active"], false);
    }
);

both_backends!(
    async fn a_database_outage_is_a_503_not_a_bad_credential(srv) {
        let a = app(&srv, Template::ServerToServer).await;
        srv.state.store.close().await;
        let (status, _, body) = post(&srv, "/token", Some((&a.client_id, &a.secret)), &[("grant_type", "client_credentials")]).await;
        assert_eq!((status, body["error"].as_str()), (503, Some("temporarily_unavailable")), "{body}");
        let (status, _, body) = post(&srv, "/token", None, &[("grant_type", "client_credentials"), ("client_id", &a.client_id)]).await;
        assert_eq!(status, 503, "{body}");
    }
);

both_backends!(
    async fn a_secret_sent_as_client_id_never_reaches_the_audit_trail(srv) {
        let a = app(&srv, Template::ServerToServer).await;
        let (status, _, _) = post(&srv, "/token", None, &[("grant_type", "client_credentials"), ("client_id", &a.secret), ("client_secret", &a.client_id)]).await;
        assert_eq!(status, 401);
        let (status, _, _) = post(&srv, "/token", Some((&a.secret, &a.client_id)), &[("grant_type", "client_credentials")]).await;
        assert_eq!(status, 401);
        let leaked = gatehouse::on_db!(&srv.state.store.db, pool => {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM audit_events WHERE actor LIKE '%gatehouse_cs_%' OR subject LIKE '%gatehouse_cs_%' OR detail LIKE '%gatehouse_cs_%'")
                .fetch_one(pool).await.unwrap()
        });
        assert_eq!(leaked, 0);
        assert_eq!(srv.state.store.audit_trail("unknown", 10).await.unwrap().len(), 2, "refusals are still recorded");
    }
);

both_backends!(
    async fn introspection_reads_the_token_and_confirms_a_remembered_secret_in_one_statement(srv) {
        // Issue 15: a remembered client authentication is confirmed by the app's revision read in
        // the same statement as the token. It must still see, on another instance and at once,
        // a revoked secret (401) and a changed app whose secret still holds (200).
        let a = app(&srv, Template::ServerToServer).await;
        srv.state.registry.set_token_settings(&a.client_id, TokenSettings { format: Some(TokenFormat::Opaque), ..Default::default() }, &["RS256"], "test").await.unwrap();
        let grant = [("grant_type", "client_credentials")];
        let (status, _, body) = post(&srv, "/token", Some((&a.client_id, &a.secret)), &grant).await;
        assert_eq!(status, 200, "{body}");
        let token = body["access_token"].as_str().unwrap().to_string();
        let other = srv.another_instance().await;
        let introspect = |base: String, secret: String, token: String| {
            let client_id = a.client_id.clone();
            async move {
                let res = http().post(format!("{base}/introspect")).basic_auth(client_id, Some(secret)).form(&[("token", token)]).send().await.unwrap();
                (res.status().as_u16(), res.json::<Value>().await.unwrap())
            }
        };
        // Twice at the other instance: the second is a remembered authentication.
        for _ in 0..2 {
            let (status, seen) = introspect(other.base.clone(), a.secret.clone(), token.clone()).await;
            assert_eq!((status, seen["active"].clone()), (200, json!(true)), "{seen}");
        }
        let (_, unknown) = introspect(other.base.clone(), a.secret.clone(), "gatehouse_at_unknown".into()).await;
        assert_eq!(unknown, json!({ "active": false }));
        // A changed setting bumps the revision; the secret still holds, so the full check passes.
        srv.state.registry.set_token_settings(&a.client_id, TokenSettings { access_token_ttl: Some(600), ..Default::default() }, &["RS256"], "test").await.unwrap();
        let (status, seen) = introspect(other.base.clone(), a.secret.clone(), token.clone()).await;
        assert_eq!((status, seen["active"].clone()), (200, json!(true)), "{seen}");
        // A revoked secret is refused at once there, with a token or without.
        let secrets = srv.state.registry.secrets(&a.client_id).await.unwrap();
        let fresh = srv.state.registry.new_secret(&a.client_id, None, "test").await.unwrap();
        srv.state.registry.revoke_secret(&a.client_id, &secrets[0].id, "test").await.unwrap();
        let (status, seen) = introspect(other.base.clone(), a.secret.clone(), token.clone()).await;
        assert_eq!(status, 401, "{seen}");
        assert_eq!(seen["error"], "invalid_client");
        let (status, _) = introspect(other.base.clone(), a.secret.clone(), "gatehouse_at_unknown".into()).await;
        assert_eq!(status, 401);
        let (status, seen) = introspect(other.base.clone(), fresh.secret.expose().clone(), token.clone()).await;
        assert_eq!((status, seen["active"].clone()), (200, json!(true)), "{seen}");
    }
);

both_backends!(
    async fn an_opaque_token_confirms_a_remembered_secret_in_its_own_insert(srv) {
        // Issue 15: for an opaque client_credentials token, the INSERT that stores the token
        // checks the app's revision, instead of a read before it. Another instance must still
        // refuse a revoked secret at once and store nothing for it, and a changed app must
        // shape the answer (here, its new lifetime), never the remembered one.
        use gatehouse::apps::AUTH_CACHE_TTL;
        use std::time::{Duration, Instant};
        let a = app(&srv, Template::ServerToServer).await;
        srv.state.registry.set_token_settings(&a.client_id, TokenSettings { format: Some(TokenFormat::Opaque), ..Default::default() }, &["RS256"], "test").await.unwrap();
        let rp_http = openidconnect::reqwest::ClientBuilder::new().redirect(openidconnect::reqwest::redirect::Policy::none()).build().unwrap();
        let metadata = CoreProviderMetadata::discover_async(IssuerUrl::new(srv.base.clone()).unwrap(), &rp_http).await.unwrap();
        // Both instances are one issuer; this client sends its token requests to `base`.
        let issue = |base: &str, secret: &str| {
            let rp = CoreClient::from_provider_metadata(metadata.clone(), ClientId::new(a.client_id.clone()), Some(ClientSecret::new(secret.to_string())))
                .set_token_uri(TokenUrl::new(format!("{base}/token")).unwrap());
            let rp_http = rp_http.clone();
            async move { rp.exchange_client_credentials().request_async(&rp_http).await }
        };
        // Each case starts on a fresh instance, whose first request is a full check; it is
        // remembered from then on, so what follows within AUTH_CACHE_TTL takes the path under test.
        let remembered_since = |armed: Instant| {
            assert!(armed.elapsed() < AUTH_CACHE_TTL, "the remembered check expired: this run did not test the INSERT's condition");
        };

        // Unchanged app: the remembered request's token is stored and active.
        let other = srv.another_instance().await;
        let armed = Instant::now();
        let first = issue(&other.base, &a.secret).await.expect("client_credentials succeeds");
        let second = issue(&other.base, &a.secret).await.expect("a remembered secret succeeds");
        remembered_since(armed);
        for response in [&first, &second] {
            assert_eq!(response.expires_in(), Some(Duration::from_secs(3600)));
            let (_, _, body) = post(&srv, "/introspect", Some((&a.client_id, &a.secret)), &[("token", response.access_token().secret())]).await;
            assert_eq!(body["active"], true, "{body}");
        }

        // A changed setting bumps the revision: the insert refuses the remembered app, and the
        // answer comes from the full check, with the new lifetime.
        let other = srv.another_instance().await;
        let armed = Instant::now();
        issue(&other.base, &a.secret).await.expect("client_credentials succeeds");
        srv.state.registry.set_token_settings(&a.client_id, TokenSettings { access_token_ttl: Some(600), ..Default::default() }, &["RS256"], "test").await.unwrap();
        let response = issue(&other.base, &a.secret).await.expect("the secret still holds");
        remembered_since(armed);
        assert_eq!(response.expires_in(), Some(Duration::from_secs(600)));

        // A revoked secret is refused at once, and nothing is stored for it.
        let secrets = srv.state.registry.secrets(&a.client_id).await.unwrap();
        let fresh = srv.state.registry.new_secret(&a.client_id, None, "test").await.unwrap();
        let other = srv.another_instance().await;
        let armed = Instant::now();
        issue(&other.base, &a.secret).await.expect("client_credentials succeeds");
        srv.state.registry.revoke_secret(&a.client_id, &secrets[0].id, "test").await.unwrap();
        let stored = count(&srv, "access_tokens").await;
        let refused = issue(&other.base, &a.secret).await.expect_err("a revoked secret is refused");
        remembered_since(armed);
        match refused {
            openidconnect::RequestTokenError::ServerResponse(e) => assert_eq!(e.error().as_ref(), "invalid_client"),
            other => panic!("expected invalid_client, got {other:?}"),
        }
        assert_eq!(count(&srv, "access_tokens").await, stored, "nothing stored for a refused client");
        issue(&other.base, fresh.secret.expose()).await.expect("the new secret works");
    }
);
