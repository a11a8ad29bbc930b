//! The Developer Portal and the administration pages over HTTP, on both backends: the wizard
//! for every template, the app page's changes, and every bad input the issue lists. Each
//! step checks the stored state through the domain API, not only the page.

use crate::harness::portal::{portal_world, PASSWORD};
use gatehouse::apps::{EntitlementStatus, Template};

use crate::harness::{fixture, http, TestServer};

/// A signed-in portal user: keeps cookies, reads the CSRF token off each page.
pub struct Portal {
    base: String,
    cookies: Vec<(String, String)>,
    pub csrf: String,
}

pub struct Page {
    pub status: u16,
    pub html: String,
}

fn value_of(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    Some(html[start..start + html[start..].find('"')?].replace("&amp;", "&"))
}

/// The value of the element with this id (`value="…"` of a readonly input).
pub fn input_value(html: &str, id: &str) -> Option<String> {
    let start = html.find(&format!("id=\"{id}\""))?;
    let rest = &html[start..];
    let v = rest.find("value=\"")? + "value=\"".len();
    Some(rest[v..v + rest[v..].find('"')?].to_string())
}

impl Portal {
    pub async fn login(srv: &TestServer, email: &str) -> Portal {
        let mut p = Portal { base: srv.url(""), cookies: Vec::new(), csrf: String::new() };
        let page = p.get("/portal/login").await;
        let csrf = value_of(&page.html, "csrf").unwrap();
        let res = p
            .post("/portal/login", &[("csrf", &csrf), ("next", "/portal"), ("email", email), ("password", PASSWORD)])
            .await;
        assert_eq!(res.status, 303, "login failed: {}", res.html);
        p.get("/portal").await;
        p
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    async fn read(&mut self, res: reqwest::Response) -> Page {
        crate::harness::signin::keep_cookies(&mut self.cookies, &res);
        let status = res.status().as_u16();
        let html = res.text().await.unwrap();
        if let Some(c) = value_of(&html, "csrf") {
            self.csrf = c;
        }
        Page { status, html }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let res =
            http().get(format!("{}{path}", self.base)).header("cookie", self.cookie_header()).send().await.unwrap();
        self.read(res).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let res = http()
            .post(format!("{}{path}", self.base))
            .form(form)
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.read(res).await
    }

    /// A multipart form, as a browser sends a file input.
    pub async fn upload(&mut self, path: &str, fields: &[(&str, &str)], file: &[u8]) -> Page {
        let boundary = "gatehouse-test-boundary-7d1c";
        let mut body = Vec::new();
        for (k, v) in fields {
            body.extend_from_slice(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n").as_bytes(),
            );
        }
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"key\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(file);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let res = http()
            .post(format!("{}{path}", self.base))
            .header("content-type", format!("multipart/form-data; boundary={boundary}"))
            .header("cookie", self.cookie_header())
            .body(body)
            .send()
            .await
            .unwrap();
        self.read(res).await
    }
}

/// Walks the wizard for one template; returns the final page.
pub async fn wizard(
    p: &mut Portal,
    partner: &str,
    template: &str,
    name: &str,
    redirect: &str,
) -> (Page, Vec<(String, String)>) {
    let first = p.get("/portal/apps/new").await;
    assert_eq!(first.status, 200, "{}", first.html);
    let key = value_of(&first.html, "key").unwrap();
    let mut form: Vec<(String, String)> = vec![
        ("key".into(), key),
        ("partner".into(), partner.into()),
        ("template".into(), template.into()),
        ("kind".into(), "standard".into()),
        ("custom_ctx".into(), String::new()),
    ];
    let step = |form: &[(String, String)], n: &str| {
        let mut f: Vec<(String, String)> = form.to_vec();
        f.push(("step".into(), n.into()));
        f.push(("go".into(), "next".into()));
        f
    };
    let send = |f: &Vec<(String, String)>| f.iter().map(|(k, v)| (k.clone(), v.clone())).collect::<Vec<_>>();
    for (n, extra) in [
        ("1", vec![]),
        ("2", vec![("name", name)]),
        ("3", if redirect.is_empty() { vec![] } else { vec![("redirect_uri", redirect)] }),
        (
            "4",
            vec![
                ("entitlements_chosen", "1"),
                ("entitlement", "webapi"),
                ("entitlement", "services88"),
                ("justification", "We call the SOAP API."),
            ],
        ),
        ("5", vec![("contact", "dev@example.com")]),
    ] {
        form.extend(extra.into_iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let mut f = send(&step(&form, n));
        f.push(("csrf".into(), p.csrf.clone()));
        let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let page = p.post("/portal/apps/new", &pairs).await;
        assert_eq!(page.status, 200, "step {n} of {template}: {}", page.html);
    }
    let mut f = send(&step(&form, "6"));
    f.push(("csrf".into(), p.csrf.clone()));
    let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    (p.post("/portal/apps/new", &pairs).await, f)
}

both_backends!(
    async fn the_wizard_creates_an_app_from_every_template_once(srv) {
        let w = portal_world(&srv).await;
        let mut p = Portal::login(&srv, "dev@example.com").await;
        for t in Template::ALL {
            let redirect = match t {
                Template::Native => "http://127.0.0.1/callback",
                Template::Web => "https://app.example.com/callback",
                _ => "",
            };
            let name = format!("Acme {}", t.as_str());
            let (done, form) = wizard(&mut p, &w.partner, t.as_str(), &name, redirect).await;
            assert_eq!(done.status, 201, "{}", done.html);
            let client_id = input_value(&done.html, "client-id").unwrap_or_else(|| panic!("{}", done.html));
            let app = srv.state.registry.get(&client_id).await.unwrap();
            assert_eq!(app.name, name);
            assert_eq!(app.template, *t);
            let dev = srv.state.directory.user("dev@example.com").await.unwrap();
            assert_eq!(app.technical_contact.as_deref(), Some(dev.id.as_str()), "the contact is the developer");
            assert_eq!(app.redirect_uris, if redirect.is_empty() { vec![] } else { vec![redirect.to_string()] });
            let services = app.entitlements.iter().find(|e| e.entitlement.as_str() == "services88").unwrap();
            assert_eq!(services.status, EntitlementStatus::Pending, "restricted integration points wait");
            match input_value(&done.html, "client-secret") {
                Some(secret) => {
                    assert_ne!(*t, Template::Native);
                    assert!(srv.state.registry.verify_secret(&client_id, &secret).await.unwrap(), "the shown secret works");
                }
                None => assert_eq!(*t, Template::Native, "only native apps get no secret"),
            }
            // The same final page again: no second app, and the secret is not shown again.
            let before = srv.state.registry.list(Some(&w.partner)).await.unwrap().len();
            let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let again = p.post("/portal/apps/new", &pairs).await;
            assert_eq!(again.status, 409, "{}", again.html);
            assert!(again.html.contains("already created"));
            assert!(input_value(&again.html, "client-secret").is_none());
            assert_eq!(srv.state.registry.list(Some(&w.partner)).await.unwrap().len(), before);
        }
        let home = p.get("/portal").await;
        assert!(home.html.contains("Acme erp-sync"));
    }
);

both_backends!(
    async fn bad_redirect_urls_are_refused_beside_the_field_and_nothing_is_stored(srv) {
        let w = portal_world(&srv).await;
        let mut p = Portal::login(&srv, "dev@example.com").await;
        let (done, _) = wizard(&mut p, &w.partner, "web", "Acme Web", "https://app.example.com/cb").await;
        let client_id = input_value(&done.html, "client-id").unwrap_or_else(|| panic!("{}", done.html));
        let long = format!("https://app.example.com/{}", "a".repeat(2000));
        for (bad, why) in [
            ("https://app.example.com/cb#frag", "fragment"),
            ("https://*.example.com/cb", "wildcard"),
            ("http://app.example.com/cb", "https"),
            (long.as_str(), "longer than 2000"),
        ] {
            let csrf = p.csrf.clone();
            let page = p
                .post(&format!("/portal/apps/{client_id}/uri-add"), &[("csrf", &csrf), ("kind", "redirect"), ("uri", bad)])
                .await;
            assert_eq!(page.status, 400, "{bad}");
            assert!(page.html.contains("id=\"uri-redirect-error\""), "the message is beside the field");
            assert!(page.html.contains(why), "{bad}: {}", page.html);
            assert_eq!(srv.state.registry.get(&client_id).await.unwrap().redirect_uris, vec!["https://app.example.com/cb"]);
        }
        // The same rules in the wizard: a fragment on the redirect step.
        let first = p.get("/portal/apps/new").await;
        let key = value_of(&first.html, "key").unwrap();
        let csrf = p.csrf.clone();
        let page = p
            .post(
                "/portal/apps/new",
                &[("csrf", &csrf), ("key", &key), ("partner", &w.partner), ("template", "web"), ("kind", "standard"), ("name", "X App"), ("redirect_uri", "https://a.example.com/#x"), ("step", "3"), ("go", "next")],
            )
            .await;
        assert_eq!(page.status, 400);
        assert!(page.html.contains("id=\"redirect_uri_0-error\"") && page.html.contains("fragment"), "{}", page.html);
        // A good one is added and then removed.
        let csrf = p.csrf.clone();
        let added = p
            .post(&format!("/portal/apps/{client_id}/uri-add"), &[("csrf", &csrf), ("kind", "cors"), ("uri", "https://spa.example.com")])
            .await;
        assert_eq!(added.status, 303);
        assert_eq!(srv.state.registry.get(&client_id).await.unwrap().cors_origins, vec!["https://spa.example.com"]);
        let csrf = p.csrf.clone();
        p.post(&format!("/portal/apps/{client_id}/uri-remove"), &[("csrf", &csrf), ("kind", "cors"), ("uri", "https://spa.example.com")]).await;
        assert!(srv.state.registry.get(&client_id).await.unwrap().cors_origins.is_empty());
    }
);

both_backends!(
    async fn certificates_and_secrets_are_managed_and_bad_keys_leave_nothing_behind(srv) {
        let w = portal_world(&srv).await;
        let mut p = Portal::login(&srv, "dev@example.com").await;
        let (done, _) = wizard(&mut p, &w.partner, "server-to-server", "Acme Sync", "").await;
        let client_id = input_value(&done.html, "client-id").unwrap_or_else(|| panic!("{}", done.html));
        let first_secret = input_value(&done.html, "client-secret").unwrap();
        let reg = &srv.state.registry;
        let upload = format!("/portal/apps/{client_id}/cert-upload");
        // Each accepted format: PEM (file), X.509 DER (file), JWK (pasted), RSA XML (pasted).
        let public = gatehouse::jose::certificate::generate_rsa().unwrap().0.to_jwk();
        let jwk = public.to_string();
        let b64 = |s: &str| {
            let raw = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, s).unwrap();
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, raw)
        };
        let ec = fixture("ec-p256-public.pem");
        let xml = format!(
            "<RSAKeyValue><Modulus>{}</Modulus><Exponent>{}</Exponent></RSAKeyValue>",
            b64(public["n"].as_str().unwrap()),
            b64(public["e"].as_str().unwrap())
        );
        let csrf = p.csrf.clone();
        assert_eq!(p.upload(&upload, &[("csrf", &csrf)], &fixture("app-cert.der")).await.status, 303);
        let csrf = p.csrf.clone();
        assert_eq!(p.upload(&upload, &[("csrf", &csrf)], &ec).await.status, 303);
        let csrf = p.csrf.clone();
        assert_eq!(p.upload(&upload, &[("csrf", &csrf), ("pasted", &xml)], b"").await.status, 303);
        assert_eq!(reg.certificates(&client_id).await.unwrap().len(), 3);
        // The JWK is the XML's key: refused as a duplicate, said beside the form.
        let csrf = p.csrf.clone();
        let dup = p.upload(&upload, &[("csrf", &csrf), ("pasted", &jwk)], b"").await;
        assert_eq!(dup.status, 409);
        assert!(dup.html.contains("id=\"cert-error\""));

        let mut private_jwk = public.clone();
        private_jwk["d"] = serde_json::json!("AQAB");
        let pem = String::from_utf8(fixture("app-public.pem")).unwrap();
        let truncated = &pem[..pem.len() / 2];
        for (bad, why) in [
            (String::from_utf8(fixture("weak-rsa1024-public.pem")).unwrap(), "1024 bits"),
            (String::from_utf8(fixture("app-private.pem")).unwrap(), "private key"),
            (truncated.to_string(), "malformed"),
            (private_jwk.to_string(), "private key"),
        ] {
            let csrf = p.csrf.clone();
            let page = p.upload(&upload, &[("csrf", &csrf), ("pasted", &bad)], b"").await;
            assert_eq!(page.status, 400, "{why}");
            assert!(page.html.contains(why), "{why}: {}", page.html);
            assert_eq!(reg.certificates(&client_id).await.unwrap().len(), 3, "{why}: nothing stored");
        }
        // Generated key pair: the private key is shown once, only the public half is kept.
        let csrf = p.csrf.clone();
        let generated = p.post(&format!("/portal/apps/{client_id}/cert-generate"), &[("csrf", &csrf)]).await;
        assert_eq!(generated.status, 201);
        // The RSA XML is text on the page, escaped (askama writes numeric entities).
        assert!(generated.html.contains("-----BEGIN PRIVATE KEY-----") && generated.html.contains("&#60;RSAKeyValue&#62;"));
        assert!(!generated.html.contains("<RSAKeyValue>"));
        assert_eq!(reg.certificates(&client_id).await.unwrap().len(), 4);
        let cert = reg.certificates(&client_id).await.unwrap().remove(0);
        let csrf = p.csrf.clone();
        assert_eq!(p.post(&format!("/portal/apps/{client_id}/cert-revoke"), &[("csrf", &csrf), ("cert_id", &cert.id)]).await.status, 303);
        assert!(reg.certificates(&client_id).await.unwrap().iter().any(|c| c.id == cert.id && c.revoked_at.is_some()));

        // Secrets: a second one is shown once; a third active one is refused; revoking ends the first.
        let csrf = p.csrf.clone();
        let new = p.post(&format!("/portal/apps/{client_id}/secret-new"), &[("csrf", &csrf), ("expires_in_days", "30")]).await;
        assert_eq!(new.status, 201);
        let second = input_value(&new.html, "client-secret").unwrap();
        assert!(reg.verify_secret(&client_id, &second).await.unwrap());
        let csrf = p.csrf.clone();
        let third = p.post(&format!("/portal/apps/{client_id}/secret-new"), &[("csrf", &csrf)]).await;
        assert_eq!(third.status, 409);
        assert!(third.html.contains("id=\"secret-error\""));
        assert_eq!(reg.secrets(&client_id).await.unwrap().len(), 2);
        let first_id = reg.secrets(&client_id).await.unwrap().into_iter().find(|s| s.expires_at.is_none()).unwrap().id;
        p.get(&format!("/portal/apps/{client_id}")).await;
        let csrf = p.csrf.clone();
        assert_eq!(p.post(&format!("/portal/apps/{client_id}/secret-revoke"), &[("csrf", &csrf), ("secret_id", &first_id)]).await.status, 303);
        assert!(!reg.verify_secret(&client_id, &first_secret).await.unwrap());
        assert!(reg.verify_secret(&client_id, &second).await.unwrap());
        let page = p.get(&format!("/portal/apps/{client_id}?done=secret-revoked")).await;
        assert!(page.html.contains("The secret was revoked"));
        assert!(!page.html.contains(&second), "a secret is never shown again");

        // An integration point added later: a restricted one needs a justification.
        let csrf = p.csrf.clone();
        let refused = p.post(&format!("/portal/apps/{client_id}/entitlement-add"), &[("csrf", &csrf), ("entitlement", "erp-sync-agent")]).await;
        assert_eq!(refused.status, 400);
        assert!(refused.html.contains("id=\"entitlement-error\""));
        let csrf = p.csrf.clone();
        let added = p
            .post(&format!("/portal/apps/{client_id}/entitlement-add"), &[("csrf", &csrf), ("entitlement", "erp-sync-agent"), ("justification", "Quotes")])
            .await;
        assert_eq!(added.status, 303);
        let ent = reg.get(&client_id).await.unwrap().entitlements.into_iter().find(|e| e.entitlement.as_str() == "erp-sync-agent").unwrap();
        assert_eq!(ent.status, EntitlementStatus::Pending);

        // Access, token settings and deletion.
        let csrf = p.csrf.clone();
        p.post(&format!("/portal/apps/{client_id}/access"), &[("csrf", &csrf), ("access", "public")]).await;
        assert_eq!(reg.get(&client_id).await.unwrap().access, gatehouse::apps::Access::Public);
        let csrf = p.csrf.clone();
        let bad_ttl = p
            .post(
                &format!("/portal/apps/{client_id}/token-settings"),
                &[("csrf", &csrf), ("token_format", "opaque"), ("access_token_ttl", "5"), ("signing_alg", "RS256"), ("refresh_mode", "rotating")],
            )
            .await;
        assert_eq!(bad_ttl.status, 400);
        assert_eq!(reg.get(&client_id).await.unwrap().token_format, gatehouse::apps::TokenFormat::Jwt);
        let csrf = p.csrf.clone();
        p.post(
            &format!("/portal/apps/{client_id}/token-settings"),
            &[("csrf", &csrf), ("token_format", "opaque"), ("access_token_ttl", "600"), ("signing_alg", "RS256"), ("refresh_mode", "long-lived")],
        )
        .await;
        let app = reg.get(&client_id).await.unwrap();
        assert_eq!((app.token_format, app.access_token_ttl), (gatehouse::apps::TokenFormat::Opaque, Some(600)));
        let confirm = p.get(&format!("/portal/apps/{client_id}/delete")).await;
        assert_eq!(confirm.status, 200);
        let csrf = p.csrf.clone();
        let wrong = p.post(&format!("/portal/apps/{client_id}/delete"), &[("csrf", &csrf), ("confirm", "Acme")]).await;
        assert_eq!(wrong.status, 400);
        assert!(reg.get(&client_id).await.is_ok());
        let csrf = p.csrf.clone();
        let deleted = p.post(&format!("/portal/apps/{client_id}/delete"), &[("csrf", &csrf), ("confirm", "Acme Sync")]).await;
        assert_eq!(deleted.status, 200);
        assert!(reg.get(&client_id).await.is_err());
    }
);

both_backends!(
    async fn forms_without_the_csrf_token_or_from_another_partner_change_nothing(srv) {
        let w = portal_world(&srv).await;
        let mut dev = Portal::login(&srv, "dev@example.com").await;
        let (done, _) = wizard(&mut dev, &w.partner, "web", "Acme Web", "https://app.example.com/cb").await;
        let client_id = input_value(&done.html, "client-id").unwrap_or_else(|| panic!("{}", done.html));
        let add = format!("/portal/apps/{client_id}/uri-add");
        let no_csrf = dev.post(&add, &[("kind", "redirect"), ("uri", "https://evil.example.com/cb")]).await;
        assert_eq!(no_csrf.status, 403);
        assert!(no_csrf.html.contains("did not come from this site"));
        let wrong = dev.post(&add, &[("csrf", "forged"), ("kind", "redirect"), ("uri", "https://evil.example.com/cb")]).await;
        assert_eq!(wrong.status, 403);
        // Another partner's developer, with a valid token of their own.
        let mut other = Portal::login(&srv, "other@example.com").await;
        assert_eq!(other.get(&format!("/portal/apps/{client_id}")).await.status, 403);
        let csrf = other.csrf.clone();
        let theirs = other.post(&add, &[("csrf", &csrf), ("kind", "redirect"), ("uri", "https://evil.example.com/cb")]).await;
        assert_eq!(theirs.status, 403);
        assert!(theirs.html.contains("another partner"));
        let csrf = other.csrf.clone();
        assert_eq!(other.post(&format!("/portal/apps/{client_id}/delete"), &[("csrf", &csrf), ("confirm", "Acme Web")]).await.status, 403);
        assert!(!other.get("/portal").await.html.contains("Acme Web"), "other partners' apps are not listed");
        // A cross-site Origin is refused even with the token.
        let res = http()
            .post(srv.url(&add))
            .header("origin", "https://evil.example.com")
            .header("cookie", dev.cookies_for_test())
            .form(&[("csrf", dev.csrf.as_str()), ("kind", "redirect"), ("uri", "https://evil.example.com/cb")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403);
        let app = srv.state.registry.get(&client_id).await.unwrap();
        assert_eq!(app.redirect_uris, vec!["https://app.example.com/cb"]);
        assert!(srv.state.registry.get(&client_id).await.is_ok());
        // Signed out, the portal sends people to its login page.
        let res = http().get(srv.url("/portal")).send().await.unwrap();
        assert_eq!(res.status(), 303);
        assert!(res.headers()["location"].to_str().unwrap().starts_with("/portal/login"));
    }
);

both_backends!(
    async fn tenant_and_platform_administrators_decide(srv) {
        let w = portal_world(&srv).await;
        let mut dev = Portal::login(&srv, "dev@example.com").await;
        let (done, _) = wizard(&mut dev, &w.partner, "web", "Acme Web", "https://app.example.com/cb").await;
        let client_id = input_value(&done.html, "client-id").unwrap_or_else(|| panic!("{}", done.html));
        let app = srv.state.registry.get(&client_id).await.unwrap();
        let tenant = srv.state.directory.tenant("Cust1").await.unwrap();
        // A plain user tries the app: it asks for the tenant.
        srv.state.store.record_app_request(&app.id, &tenant.id, srv.clock.now()).await.unwrap();
        let page = dev.get("/admin/tenant?ctx=Cust1").await;
        assert_eq!(page.status, 200);
        assert!(page.html.contains("Acme Web") && page.html.contains("requested"));
        let csrf = dev.csrf.clone();
        let res = dev.post("/admin/tenant", &[("csrf", &csrf), ("ctx", "Cust1"), ("client_id", &client_id), ("decision", "approve")]).await;
        assert_eq!(res.status, 303);
        assert!(srv.state.approvals.admits(&app, &tenant).await.unwrap());
        let page = dev.get("/admin/tenant?ctx=Cust1&done=approve").await;
        assert!(page.html.contains("dev@example.com") && page.html.contains("approved"), "who approved is shown");
        let csrf = dev.csrf.clone();
        dev.post("/admin/tenant", &[("csrf", &csrf), ("ctx", "Cust1"), ("client_id", &client_id), ("decision", "revoke")]).await;
        assert!(!srv.state.approvals.admits(&app, &tenant).await.unwrap());
        assert_eq!(srv.state.store.authorization_status(&app.id, &tenant.id).await.unwrap().as_deref(), Some("revoked"));
        // Not an administrator of Cust1: refused, unchanged.
        let mut other = Portal::login(&srv, "other@example.com").await;
        let csrf = other.csrf.clone();
        let res = other.post("/admin/tenant", &[("csrf", &csrf), ("ctx", "Cust1"), ("client_id", &client_id), ("decision", "approve")]).await;
        assert_eq!(res.status, 403);
        assert_eq!(srv.state.store.authorization_status(&app.id, &tenant.id).await.unwrap().as_deref(), Some("revoked"));
        // Platform administration: the justification is shown; a developer may not decide.
        assert_eq!(dev.get("/portal/admin").await.status, 403);
        let mut root = Portal::login(&srv, "root@example.com").await;
        let page = root.get("/portal/admin").await;
        assert!(page.html.contains("We call the SOAP API.") && page.html.contains("services88"), "{}", page.html);
        let csrf = root.csrf.clone();
        let res = root.post("/portal/admin", &[("csrf", &csrf), ("client_id", &client_id), ("entitlement", "services88"), ("decision", "approve")]).await;
        assert_eq!(res.status, 303);
        let app = srv.state.registry.get(&client_id).await.unwrap();
        assert!(app.active_entitlements().any(|e| e.as_str() == "services88"));
        // The platform administrator sees every app.
        assert!(root.get("/portal").await.html.contains("Acme Web"));
    }
);

impl Portal {
    pub fn cookies_for_test(&self) -> String {
        self.cookie_header()
    }
}

both_backends!(
    async fn the_app_page_takes_a_back_channel_logout_url_and_shows_its_deliveries(srv) {
        let w = portal_world(&srv).await;
        let mut p = Portal::login(&srv, "dev@example.com").await;
        let (done, _) = wizard(&mut p, &w.partner, "web", "Acme Web", "https://app.example.com/cb").await;
        let client_id = input_value(&done.html, "client-id").unwrap_or_else(|| panic!("{}", done.html));
        let add = |uri: &'static str| (format!("/portal/apps/{client_id}/uri-add"), uri);
        let (path, uri) = add("https://app.example.com/logout#x");
        let csrf = p.csrf.clone();
        let page = p.post(&path, &[("csrf", &csrf), ("kind", "backchannel-logout"), ("uri", uri)]).await;
        assert_eq!(page.status, 400, "a fragment is refused");
        assert!(page.html.contains("id=\"uri-backchannel-logout-error\""), "{}", page.html);
        let (path, uri) = add("https://app.example.com/logout");
        let csrf = p.csrf.clone();
        assert_eq!(p.post(&path, &[("csrf", &csrf), ("kind", "backchannel-logout"), ("uri", uri)]).await.status, 303);
        let app = srv.state.registry.get(&client_id).await.unwrap();
        assert_eq!(app.backchannel_logout_uris, vec!["https://app.example.com/logout".to_string()]);
        let page = p.get(&format!("/portal/apps/{client_id}")).await;
        assert!(page.html.contains("Deliveries") && page.html.contains("None sent yet."));

        // A session that signed in to the app ends: its logout is listed, waiting for its attempt.
        let now = srv.clock.now();
        let sid = gatehouse::store::sessions::sid_of(b"a session");
        srv.state.store.record_session_app(&sid, &app.id, "someone", now + 3_600).await.unwrap();
        srv.state.store.delete_session(b"a session", now).await.unwrap();
        let page = p.get(&format!("/portal/apps/{client_id}")).await;
        let table = &page.html[page.html.find("id=\"deliveries\"").expect("the deliveries table")..];
        assert!(table.contains("next attempt") && table.contains("<td>0</td>"), "{table}");
        // Webhooks are listed by URL, never with their secret.
        let (_, secret) = srv.state.registry.add_webhook(&client_id, "https://hooks.example.com/in", "test").await.unwrap();
        let page = p.get(&format!("/portal/apps/{client_id}")).await;
        assert!(page.html.contains("https://hooks.example.com/in") && !page.html.contains(&secret));
        // The form refuses what the API refuses, next to the field, and shows a secret once.
        let csrf = p.csrf.clone();
        let add = format!("/portal/apps/{client_id}/webhook-add");
        let page = p.post(&add, &[("csrf", &csrf), ("url", "http://hooks.example.com/plain")]).await;
        assert_eq!(page.status, 400);
        assert!(page.html.contains("id=\"webhook-error\""), "{}", page.html);
        let page = p.post(&add, &[("csrf", &csrf), ("url", "https://hooks.example.com/second")]).await;
        assert_eq!(page.status, 201);
        assert!(page.html.contains("whsec_"));
        let page = p.post(&add, &[("url", "https://hooks.example.com/third")]).await;
        assert_eq!(page.status, 403, "no CSRF token, nothing added");
        assert_eq!(srv.state.registry.webhooks(&client_id).await.unwrap().len(), 2);
    }
);

both_backends!(
    async fn a_partners_developers_add_and_remove_webhooks_for_all_of_its_apps(srv) {
        const PATH: &str = "/portal/partner-webhooks";
        let w = portal_world(&srv).await;
        let partner = w.partner.as_str();
        let mut dev = Portal::login(&srv, "dev@example.com").await;
        let csrf = dev.csrf.clone();
        let add = [("csrf", csrf.as_str()), ("partner", partner), ("op", "add"), ("url", "https://hooks.example.com/all")];
        let page = dev.post(PATH, &add).await;
        assert_eq!(page.status, 201, "{}", page.html);
        let secret = input_value(&page.html, "webhook-secret").expect("the secret, once");
        assert!(secret.starts_with("whsec_"));
        let hooks = srv.state.store.partner_webhooks(partner).await.unwrap();
        assert_eq!(hooks.len(), 1);
        // Listed with the newest events sent to it, never with the secret.
        srv.state.keys.rotate(gatehouse::jose::Alg::RS256, "test").await.unwrap();
        let home = dev.get("/portal").await;
        assert!(home.html.contains("https://hooks.example.com/all") && !home.html.contains(&secret));
        let table = &home.html[home.html.find("partner-deliveries").expect("the deliveries")..];
        assert!(table.contains("<code>RS256</code>") && table.contains("next attempt"), "{table}");

        // Another partner's developer, with a valid form of their own, changes nothing; nor
        // does a form without the CSRF token.
        let mut other = Portal::login(&srv, "other@example.com").await;
        let csrf = other.csrf.clone();
        let theirs = [("csrf", csrf.as_str()), ("partner", partner), ("op", "remove"), ("id", hooks[0].id.as_str())];
        assert_eq!(other.post(PATH, &theirs).await.status, 403);
        let forged = [("partner", partner), ("op", "add"), ("url", "https://hooks.example.com/x")];
        assert_eq!(dev.post(PATH, &forged).await.status, 403);
        assert_eq!(srv.state.store.partner_webhooks(partner).await.unwrap().len(), 1);

        let csrf = dev.csrf.clone();
        let remove = [("csrf", csrf.as_str()), ("partner", partner), ("op", "remove"), ("id", hooks[0].id.as_str())];
        assert_eq!(dev.post(PATH, &remove).await.status, 303);
        assert!(srv.state.store.partner_webhooks(partner).await.unwrap().is_empty());
    }
);
