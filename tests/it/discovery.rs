use openidconnect::core::{CoreJwsSigningAlgorithm, CoreProviderMetadata};
use openidconnect::{IssuerUrl, JsonWebKey};

use crate::harness::http;
use gatehouse::jose::Alg;

fn rp_http() -> openidconnect::reqwest::Client {
    openidconnect::reqwest::ClientBuilder::new()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

both_backends!(
    async fn the_openidconnect_crate_discovers_the_provider_and_its_keys(srv) {
        let issuer = IssuerUrl::new(srv.base.clone()).unwrap();
        let metadata = CoreProviderMetadata::discover_async(issuer.clone(), &rp_http()).await.expect("discovery validates");
        assert_eq!(metadata.issuer(), &issuer);
        assert_eq!(metadata.jwks_uri().url().as_str(), srv.url("/jwks"));
        let algs: Vec<String> = metadata
            .id_token_signing_alg_values_supported()
            .iter()
            .map(|a| serde_json::to_value(a).unwrap().as_str().unwrap().to_string())
            .collect();
        assert!(algs.contains(&"RS256".to_string()), "OIDC requires RS256: {algs:?}");
        // A current and a next key per server algorithm.
        assert_eq!(metadata.jwks().keys().len(), 4);
    }
);

both_backends!(
    async fn every_discovery_alias_serves_the_same_document(srv) {
        let c = http();
        let mut bodies = Vec::new();
        for path in ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server", "/login/.well-known/openid-configuration"] {
            let r = c.get(srv.url(path)).send().await.unwrap();
            assert_eq!(r.status(), 200, "{path}");
            assert_eq!(r.headers()["content-type"], "application/json");
            bodies.push(r.bytes().await.unwrap());
        }
        assert!(bodies.windows(2).all(|w| w[0] == w[1]));
        // The SuperID path lists the same keys, the RSA signing key first (tests/it/superid.rs).
        let kids = |doc: serde_json::Value| {
            let mut kids: Vec<String> = doc["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_string()).collect();
            kids.sort();
            kids
        };
        let jwks = c.get(srv.url("/jwks")).send().await.unwrap().json().await.unwrap();
        let alias = c.get(srv.url("/login/.well-known/jwks")).send().await.unwrap().json().await.unwrap();
        assert_eq!(kids(jwks), kids(alias));
        let doc: serde_json::Value = serde_json::from_slice(&bodies[0]).unwrap();
        // Exactly the grants the token endpoint serves, and nothing it does not route yet.
        assert_eq!(
            doc["grant_types_supported"],
            serde_json::json!([
                "authorization_code",
                "refresh_token",
                "client_credentials",
                "urn:ietf:params:oauth:grant-type:jwt-bearer",
                "urn:ietf:params:oauth:grant-type:token-exchange",
                "urn:ietf:params:oauth:grant-type:device_code"
            ])
        );
        assert_eq!(doc["userinfo_endpoint"], srv.url("/userinfo"));
        assert_eq!(doc["end_session_endpoint"], srv.url("/logout"));
        assert_eq!(doc["response_modes_supported"], serde_json::json!(["query", "fragment", "form_post"]));
        assert_eq!(doc["introspection_endpoint"], srv.url("/introspect"));
        assert_eq!(doc["revocation_endpoint"], srv.url("/revoke"));
        assert_eq!(doc["token_endpoint_auth_methods_supported"], serde_json::json!(["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]));
        assert_eq!(doc["registration_endpoint"], srv.url("/register"));
    }
);

both_backends!(
    async fn jwks_holds_public_members_only(srv) {
        let jwks: serde_json::Value = http().get(srv.url("/jwks")).send().await.unwrap().json().await.unwrap();
        for key in jwks["keys"].as_array().unwrap() {
            for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
                assert!(key.get(private).is_none(), "JWKS leaks '{private}': {key}");
            }
            assert_eq!(key["use"], "sig");
            assert!(key["kid"].as_str().is_some_and(|k| !k.is_empty()));
            assert!(key["alg"].as_str().is_some());
        }
    }
);

both_backends!(
    async fn tokens_signed_with_the_cached_keys_verify_against_the_published_jwks(srv) {
        let metadata = CoreProviderMetadata::discover_async(IssuerUrl::new(srv.base.clone()).unwrap(), &rp_http()).await.unwrap();
        let claims = serde_json::json!({ "iss": srv.base, "sub": "user-1", "aud": "app-1", "exp": 2_000_000_000i64 });
        for (alg, rp_alg) in [(Alg::RS256, CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256), (Alg::ES256, CoreJwsSigningAlgorithm::EcdsaP256Sha256)] {
            let jwt = srv.state.keys.sign(alg, "JWT", &claims).unwrap();
            let (signed, signature) = jwt.rsplit_once('.').unwrap();
            let header: serde_json::Value =
                serde_json::from_slice(&gatehouse::crypto::b64url_decode(signed.split('.').next().unwrap()).unwrap()).unwrap();
            assert_eq!(header["alg"], alg.as_str());
            assert_eq!(header["typ"], "JWT");
            let kid = header["kid"].as_str().unwrap();
            let key = metadata.jwks().keys().iter().find(|k| k.key_id().map(|id| id.as_str()) == Some(kid)).expect("signing key is published");
            let signature = gatehouse::crypto::b64url_decode(signature).unwrap();
            key.verify_signature(&rp_alg, signed.as_bytes(), &signature).expect("signature verifies");
            let mut tampered = signature.clone();
            tampered[0] ^= 1;
            assert!(key.verify_signature(&rp_alg, signed.as_bytes(), &tampered).is_err());
        }
    }
);
