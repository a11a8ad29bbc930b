use gatehouse::apps::{Access, ClientType, EntitlementStatus, NewApp, Template, UriKind};
use gatehouse::error::Error;
use gatehouse::vocab::GrantType;

use crate::harness::{fixture, TestServer};

fn new_app(partner: &str, template: Template, redirect_uris: &[&str]) -> NewApp {
    NewApp {
        partner_id: partner.to_string(),
        name: format!("{} app", template.as_str()),
        template,
        redirect_uris: redirect_uris.iter().map(|s| s.to_string()).collect(),
        access: Access::Private,
        technical_contact: None,
        justification: Some("we sync quotes".into()),
    }
}

async fn web_app(srv: &TestServer) -> gatehouse::apps::CreatedApp {
    let partner = srv.partner().await;
    srv.state.registry.create(new_app(&partner, Template::Web, &["https://app.example.com/cb"]), "test").await.unwrap()
}

both_backends!(
    async fn every_template_expands_into_its_defaults(srv) {
        let partner = srv.partner().await;
        for template in Template::ALL {
            let uris: &[&str] = if *template == Template::Native { &["http://127.0.0.1/callback"] } else { &["https://app.example.com/cb"] };
            let created = srv.state.registry.create(new_app(&partner, *template, uris), "test").await.unwrap();
            let app = &created.app;
            let defaults = template.defaults();
            assert_eq!(app.template, *template);
            assert_eq!(app.client_type, defaults.client_type);
            assert_eq!(app.grant_types, defaults.grant_types.to_vec());
            assert_eq!(app.loopback_any_port, *template == Template::Native);
            assert_eq!(app.redirect_uris, uris);
            assert_eq!(created.client_secret.is_some(), app.client_type == ClientType::Confidential);
            let names: Vec<_> = app.entitlements.iter().map(|e| e.entitlement).collect();
            assert_eq!(names.len(), defaults.entitlements.len());
            for e in &app.entitlements {
                let expected = if e.entitlement.needs_approval() { EntitlementStatus::Pending } else { EntitlementStatus::Active };
                assert_eq!(e.status, expected, "{:?}", e.entitlement);
            }
        }
        let s2s = srv.state.registry.list(Some(&partner)).await.unwrap();
        assert_eq!(s2s.len(), Template::ALL.len());
        let server = s2s.iter().find(|a| a.template == Template::ServerToServer).unwrap();
        assert!(server.allows_grant(GrantType::ClientCredentials));
        assert!(!server.allows_grant(GrantType::RefreshToken));
        // Native apps match their loopback URI on any port; web apps only exactly.
        let native = s2s.iter().find(|a| a.template == Template::Native).unwrap();
        assert!(native.redirect_uri_matches("http://127.0.0.1:53219/callback"));
        let web = s2s.iter().find(|a| a.template == Template::Web).unwrap();
        assert!(web.redirect_uri_matches("https://app.example.com/cb"));
        assert!(!web.redirect_uri_matches("https://app.example.com/cb/"));
    }
);

both_backends!(
    async fn one_bad_redirect_uri_stores_nothing(srv) {
        let partner = srv.partner().await;
        let err = srv
            .state
            .registry
            .create(new_app(&partner, Template::Web, &["https://good.example.com/cb", "http://evil.example.com/cb"]), "test")
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Invalid { field: "redirect_uri", .. }), "{err}");
        assert!(err.to_string().contains("http://evil.example.com/cb"));
        assert!(srv.state.registry.list(Some(&partner)).await.unwrap().is_empty());
        let err = srv.state.registry.create(new_app("no-such-partner", Template::Web, &[]), "test").await.unwrap_err();
        assert!(matches!(err, Error::NotFound(_)), "{err}");
        let dup = new_app(&partner, Template::Web, &["https://a.example.com/cb", "https://a.example.com/cb"]);
        assert!(srv.state.registry.create(dup, "test").await.unwrap_err().to_string().contains("twice"));
    }
);

both_backends!(
    async fn secrets_are_shown_once_limited_to_two_and_expire(srv) {
        let created = web_app(&srv).await;
        let client_id = &created.app.client_id;
        let reg = &srv.state.registry;
        let first = created.client_secret.unwrap();
        assert!(first.secret.expose().starts_with("gatehouse_cs_"));
        assert!(reg.verify_secret(client_id, first.secret.expose()).await.unwrap());
        assert!(!reg.verify_secret(client_id, "gatehouse_cs_wrong").await.unwrap());
        assert!(!reg.verify_secret("other-client", first.secret.expose()).await.unwrap());

        let second = reg.new_secret(client_id, Some(1), "test").await.unwrap();
        let third = reg.new_secret(client_id, None, "test").await.unwrap_err();
        assert!(matches!(third, Error::Conflict(_)) && third.to_string().contains("2 active secrets"), "{third}");
        assert!(reg.verify_secret(client_id, second.secret.expose()).await.unwrap());

        // Expiry is enforced: a day and a second later the second secret no longer works,
        // and no longer counts against the limit.
        srv.clock.advance(86_401);
        assert!(!reg.verify_secret(client_id, second.secret.expose()).await.unwrap());
        let listed = reg.secrets(client_id).await.unwrap();
        assert_eq!(listed.iter().filter(|s| s.active).count(), 1);
        assert!(listed.iter().any(|s| s.last_used_at.is_some()));
        let fourth = reg.new_secret(client_id, None, "test").await.unwrap();

        reg.revoke_secret(client_id, &first.id, "test").await.unwrap();
        assert!(!reg.verify_secret(client_id, first.secret.expose()).await.unwrap());
        assert!(reg.verify_secret(client_id, fourth.secret.expose()).await.unwrap());
        assert!(matches!(reg.revoke_secret(client_id, &first.id, "test").await.unwrap_err(), Error::NotFound(_)));

        // Listings and the audit trail never hold a secret's value.
        let listing = serde_json::to_string(&reg.secrets(client_id).await.unwrap()).unwrap();
        let trail = serde_json::to_string(&srv.state.store.audit_trail(client_id, 50).await.unwrap()).unwrap();
        for value in [first.secret.expose(), second.secret.expose(), fourth.secret.expose()] {
            assert!(!listing.contains(value.as_str()) && !trail.contains(value.as_str()));
        }
        assert!(trail.contains("secret.revoked") && trail.contains("app.created"));
    }
);

both_backends!(
    async fn public_clients_get_no_secret(srv) {
        let partner = srv.partner().await;
        let created = srv.state.registry.create(new_app(&partner, Template::Native, &["com.example.app:/cb"]), "test").await.unwrap();
        assert!(created.client_secret.is_none());
        let err = srv.state.registry.new_secret(&created.app.client_id, None, "test").await.unwrap_err();
        assert!(err.to_string().contains("PKCE"), "{err}");
        let err = srv.state.registry.add_certificate(&created.app.client_id, &fixture("app-cert.pem"), None, "test").await.unwrap_err();
        assert!(matches!(err, Error::Conflict(_)), "{err}");
    }
);

both_backends!(
    async fn an_app_holds_a_bounded_number_of_usable_certificates(srv) {
        let client_id = web_app(&srv).await.app.client_id;
        let reg = &srv.state.registry;
        for _ in 0..gatehouse::apps::MAX_CERTIFICATES {
            reg.add_certificate(&client_id, &gatehouse::jose::certificate::generate_rsa().unwrap().0.to_jwk().to_string().into_bytes(), None, "test")
                .await
                .unwrap();
        }
        let err = reg.generate_certificate(&client_id, None, "test").await.unwrap_err();
        assert!(err.to_string().contains("at most"), "{err}");
        let first = reg.certificates(&client_id).await.unwrap()[0].id.clone();
        reg.revoke_certificate(&client_id, &first, "test").await.unwrap();
        reg.generate_certificate(&client_id, None, "test").await.unwrap();
    }
);

both_backends!(
    async fn certificates_in_every_format_and_bad_ones_change_nothing(srv) {
        let client_id = web_app(&srv).await.app.client_id;
        let reg = &srv.state.registry;
        let cert = reg.add_certificate(&client_id, &fixture("app-cert.pem"), None, "test").await.unwrap();
        assert_eq!(cert.format, "x509");
        assert!(cert.expires_at.is_some(), "an X.509 notAfter becomes the expiry");
        assert_eq!(cert.jwk["kid"], cert.kid.as_str());
        // The same key in another format is the same certificate.
        let dup = reg.add_certificate(&client_id, &fixture("app-public.pem"), None, "test").await.unwrap_err();
        assert!(matches!(dup, Error::Conflict(_)), "{dup}");
        reg.add_certificate(&client_id, &fixture("ec-p256-public.pem"), None, "test").await.unwrap();
        reg.add_certificate(&client_id, &fixture("ed25519-public.pem"), None, "test").await.unwrap();

        for (bad, why) in [("weak-rsa1024-public.pem", "1024 bits"), ("app-private.pem", "private key")] {
            let err = reg.add_certificate(&client_id, &fixture(bad), None, "test").await.unwrap_err();
            assert!(err.to_string().contains(why), "{bad}: {err}");
        }
        let err = reg.add_certificate(&client_id, b"garbage", None, "test").await.unwrap_err();
        assert!(matches!(err, Error::Invalid { field: "certificate", .. }));
        assert_eq!(reg.certificates(&client_id).await.unwrap().len(), 3, "failed uploads left the app unchanged");

        let (generated, private) = reg.generate_certificate(&client_id, None, "test").await.unwrap();
        assert_eq!(generated.format, "generated");
        assert!(private.pem.expose().starts_with("-----BEGIN PRIVATE KEY-----"));
        assert!(private.rsa_xml.expose().starts_with("<RSAKeyValue><Modulus>"));
        assert!(!generated.jwk.to_string().contains("\"d\""));

        reg.revoke_certificate(&client_id, &cert.id, "test").await.unwrap();
        let listed = reg.certificates(&client_id).await.unwrap();
        assert!(listed.iter().find(|c| c.id == cert.id).unwrap().revoked_at.is_some());
        assert!(matches!(reg.revoke_certificate(&client_id, &cert.id, "test").await.unwrap_err(), Error::NotFound(_)));
    }
);

both_backends!(
    async fn redirect_post_logout_and_cors_lists_use_the_registration_rules(srv) {
        let client_id = web_app(&srv).await.app.client_id;
        let reg = &srv.state.registry;
        let app = reg.add_uri(&client_id, UriKind::Redirect, "https://app.example.com/other", "test").await.unwrap();
        assert_eq!(app.redirect_uris.len(), 2);
        let app = reg.add_uri(&client_id, UriKind::PostLogout, "https://app.example.com/bye", "test").await.unwrap();
        assert_eq!(app.post_logout_redirect_uris, ["https://app.example.com/bye"]);
        let app = reg.add_uri(&client_id, UriKind::Cors, "https://app.example.com", "test").await.unwrap();
        assert_eq!(app.cors_origins, ["https://app.example.com"]);
        let err = reg.add_uri(&client_id, UriKind::Cors, "https://app.example.com/path", "test").await.unwrap_err();
        assert!(matches!(err, Error::Invalid { field: "cors_origin", .. }), "{err}");
        let err = reg.add_uri(&client_id, UriKind::Redirect, "https://*.example.com/cb", "test").await.unwrap_err();
        assert!(err.to_string().contains("wildcards"));
        let err = reg.add_uri(&client_id, UriKind::Redirect, "https://app.example.com/other", "test").await.unwrap_err();
        assert!(matches!(err, Error::Conflict(_)));
        let app = reg.remove_uri(&client_id, UriKind::Redirect, "https://app.example.com/other", "test").await.unwrap();
        assert_eq!(app.redirect_uris, ["https://app.example.com/cb"]);
        assert!(matches!(reg.remove_uri(&client_id, UriKind::Redirect, "https://nope.example.com", "test").await.unwrap_err(), Error::NotFound(_)));
    }
);

both_backends!(
    async fn concurrent_secret_creation_never_exceeds_two_active(srv) {
        let client_id = web_app(&srv).await.app.client_id;
        let attempts = (0..8).map(|_| {
            let reg = srv.state.registry.clone();
            let id = client_id.clone();
            tokio::spawn(async move { reg.new_secret(&id, None, "test").await })
        });
        let mut created = 0;
        for a in attempts {
            match a.await.unwrap() {
                Ok(_) => created += 1,
                Err(Error::Conflict(_)) => {}
                Err(e) => panic!("unexpected error: {e}"),
            }
        }
        assert_eq!(created, 1, "one slot was free");
        let active = srv.state.registry.secrets(&client_id).await.unwrap().iter().filter(|s| s.active).count();
        assert_eq!(active, 2);
    }
);
