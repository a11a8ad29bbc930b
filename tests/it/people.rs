//! People by email (issue 18), over HTTP on both databases, with mail going through a real
//! SMTP server (`harness::mail`): invitations make verified accounts and work once; reset
//! links work once, expire, end sessions and refresh tokens, and the form answers the same
//! for unknown addresses; verification makes `email_verified` true; a tenant keeps its last
//! administrator. The same stories in Chromium are in `people_browser.rs`.

use serde_json::Value;

use crate::harness::mail::MailSink;
use crate::harness::signin::{authorize_url, code_of, redeem, refresh, world, Browser, World, PASSWORD};
use crate::harness::{http, Instance, TestServer};
use gatehouse::secret::Secret;

/// A second instance on the same database that sends its mail to `sink`.
async fn mailing(srv: &TestServer, sink: &MailSink) -> Instance {
    let url = sink.url();
    srv.another_instance_with(&[
        ("GATEHOUSE_SMTP_URL", url.as_str()),
        ("GATEHOUSE_OUTBOUND_ALLOW_PRIVATE_NETWORKS", "true"),
    ])
    .await
}

/// The ID token's claims of a fresh sign-in of `email` (whose password is `PASSWORD`).
async fn id_claims(srv: &TestServer, w: &World, email: &str) -> (Value, Value) {
    let mut browser = Browser::new();
    let start = authorize_url(srv, w, &[("scope", "openid email profile offline_access")]);
    let params = browser.sign_in(srv, &start, email).await;
    let code = params.iter().find(|(k, _)| k == "code").map(|(_, v)| v.clone()).expect("a code");
    let (status, tokens) = redeem(&srv.base, w, &code).await;
    assert_eq!(status, 200, "{tokens}");
    let payload = tokens["id_token"].as_str().unwrap().split('.').nth(1).unwrap().to_string();
    let claims = serde_json::from_slice(&gatehouse::crypto::b64url_decode(&payload).unwrap()).unwrap();
    (claims, tokens)
}

fn page_says(html: &str, text: &str) {
    assert!(html.contains(text), "the page should say {text:?}: {html}");
}

both_backends!(
    async fn an_invitation_makes_a_verified_account_once_and_a_dead_link_is_refused(srv) {
        let Some(sink) = MailSink::start() else { return };
        let w = world(&srv).await;
        let inst = mailing(&srv, &sink).await;
        srv.state.approvals.approve("Cust1", &srv.state.registry.get(&w.client_id).await.unwrap(), None, "test").await.unwrap();

        let sent = inst.state.people.invite_to_tenant("Cust1", "New@Example.com", false, "test").await.unwrap();
        assert!(sent.delivered);
        let mail = sink.wait_for("new@example.com", 1).await;
        assert_eq!(mail.subject, "You are invited to Customer One (Cust1)");
        assert_eq!(mail.link(), sent.link);
        assert!(mail.link().starts_with(&format!("{}/account/invitation?token=", srv.base)), "{}", mail.link());
        let token = mail.token();

        let page = http().get(mail.link()).send().await.unwrap();
        assert_eq!(page.status(), 200);
        page_says(&page.text().await.unwrap(), "new@example.com");
        // Bad input is answered on the page, and the link stays usable.
        let form = |name: &'static str, p1: &'static str, p2: &'static str| {
            vec![("token", token.clone()), ("name", name.into()), ("password", p1.into()), ("password2", p2.into())]
        };
        let res = http().post(srv.url("/account/invitation")).form(&form("Nina", PASSWORD, "something else")).send().await.unwrap();
        page_says(&res.text().await.unwrap(), "The two passwords are not the same.");
        let res = http().post(srv.url("/account/invitation")).form(&form("Nina", "short", "short")).send().await.unwrap();
        page_says(&res.text().await.unwrap(), "at least 12 characters");
        // A form another site posts is refused before the token is looked at.
        let res = http()
            .post(srv.url("/account/invitation"))
            .header("origin", "https://evil.example")
            .form(&form("Nina", PASSWORD, PASSWORD))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403);

        let res = http().post(srv.url("/account/invitation")).form(&form("Nina New", PASSWORD, PASSWORD)).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert!(res.headers().get_all("set-cookie").iter().any(|c| c.to_str().unwrap().starts_with("gatehouse_session=")));
        page_says(&res.text().await.unwrap(), "You have joined Customer One (Cust1)");
        // Used once: the same link again is refused, on its page and its form.
        let again = http().post(srv.url("/account/invitation")).form(&form("Nina", PASSWORD, PASSWORD)).send().await.unwrap();
        assert_eq!(again.status(), 400);
        page_says(&again.text().await.unwrap(), "has expired or was already used");
        assert_eq!(http().get(mail.link()).send().await.unwrap().status(), 400);

        // OIDC Core §5.1: the address came through the mail, so it is verified.
        let (claims, _) = id_claims(&srv, &w, "new@example.com").await;
        assert_eq!((claims["email"].as_str(), claims["email_verified"].as_bool()), (Some("new@example.com"), Some(true)));
        assert_eq!(claims["name"], "Nina New");

        // An invitation dies after seven days.
        inst.state.people.invite_to_tenant("Cust1", "late@example.com", false, "test").await.unwrap();
        let late = sink.wait_for("late@example.com", 1).await;
        srv.clock.advance(gatehouse::tenants::people::INVITATION_TTL + 1);
        assert_eq!(http().get(late.link()).send().await.unwrap().status(), 400);
        // A link of another kind is refused too: a reset token is no invitation.
        let other = http().get(format!("{}/account/reset/confirm?token={}", srv.base, token)).send().await.unwrap();
        assert_eq!(other.status(), 400);
        let garbage = http().get(srv.url("/account/invitation?token=nonsense")).send().await.unwrap();
        assert_eq!(garbage.status(), 400);
    }
);

both_backends!(
    async fn someone_with_an_account_accepts_by_signing_in_and_keeps_a_higher_role(srv) {
        let Some(sink) = MailSink::start() else { return };
        let w = world(&srv).await;
        let _ = w;
        let inst = mailing(&srv, &sink).await;
        let dir = &srv.state.directory;
        dir.add_tenant("Cust2", "Customer Two", None, None, "test").await.unwrap();
        inst.state.people.invite_to_tenant("Cust2", "admin@example.com", false, "test").await.unwrap();
        let mail = sink.wait_for("admin@example.com", 1).await;
        let page = http().get(mail.link()).send().await.unwrap().text().await.unwrap();
        page_says(&page, "This address has an account");
        let token = mail.token();
        let post = |password: &'static str| {
            http().post(srv.url("/account/invitation")).form(&[("token", token.as_str()), ("password", password)]).send()
        };
        let wrong = post("not the password at all").await.unwrap();
        page_says(&wrong.text().await.unwrap(), "The password is not right.");
        let res = post(PASSWORD).await.unwrap();
        assert_eq!(res.status(), 200);
        let user = dir.user("admin@example.com").await.unwrap();
        let roles = dir.memberships(&user.id).await.unwrap();
        assert!(roles.iter().any(|m| m.tenant == "Cust2" && !m.is_admin), "{roles:?}");
        assert!(roles.iter().any(|m| m.tenant == "Cust1" && m.is_admin), "{roles:?}");
        assert!(user.email_verified);

        // An invitation as member never demotes an administrator.
        inst.state.people.invite_to_tenant("Cust1", "admin@example.com", false, "test").await.unwrap();
        let token = sink.wait_for("admin@example.com", 2).await.token();
        let res = http().post(srv.url("/account/invitation")).form(&[("token", token.as_str()), ("password", PASSWORD)]).send().await.unwrap();
        assert_eq!(res.status(), 200);
        let roles = dir.memberships(&user.id).await.unwrap();
        assert!(roles.iter().any(|m| m.tenant == "Cust1" && m.is_admin), "{roles:?}");

        // The tenant's last administrator stays one and cannot be removed.
        let people = &srv.state.people;
        assert!(matches!(people.set_role("Cust1", "admin@example.com", false, "test").await, Err(gatehouse::error::Error::Conflict(_))));
        assert!(matches!(people.remove("Cust1", "admin@example.com", "test").await, Err(gatehouse::error::Error::Conflict(_))));
        dir.add_user("second@example.com", None, "Cust1", false, Secret::new(PASSWORD.into()), "test").await.unwrap();
        people.set_role("Cust1", "second@example.com", true, "test").await.unwrap();
        people.set_role("Cust1", "admin@example.com", false, "test").await.unwrap();
        people.remove("Cust1", "admin@example.com", "test").await.unwrap();
        let roles = dir.memberships(&user.id).await.unwrap();
        assert!(roles.iter().all(|m| m.tenant != "Cust1"), "{roles:?}");
    }
);

both_backends!(
    async fn a_password_reset_tells_no_one_which_addresses_exist_and_ends_sessions_and_refresh_tokens(srv) {
        let Some(sink) = MailSink::start() else { return };
        let w = world(&srv).await;
        let inst = mailing(&srv, &sink).await;
        let (_, tokens) = id_claims(&srv, &w, "admin@example.com").await;
        let old_refresh = tokens["refresh_token"].as_str().unwrap().to_string();
        let mut browser = Browser::new();
        code_of(&srv, &mut browser, &w, &[]).await;

        // The same answer for an unknown address and a known one.
        let ask = |email: &'static str| http().post(format!("{}/account/reset", inst.base)).form(&[("email", email)]).send();
        let unknown = ask("nobody@example.com").await.unwrap();
        let (unknown_status, unknown_page) = (unknown.status(), unknown.text().await.unwrap());
        let known = ask("admin@example.com").await.unwrap();
        assert_eq!((unknown_status, unknown_page), (known.status(), known.text().await.unwrap()));
        let mail = sink.wait_for("admin@example.com", 1).await;
        // Requests are handled in order: the unknown one was done before the known one's mail.
        assert!(sink.to("nobody@example.com").is_empty(), "{:?}", sink.all());
        assert_eq!(mail.subject, "Reset your password");

        let page = http().get(mail.link()).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let token = mail.token();
        let set = |p1: &'static str, p2: &'static str| {
            http()
                .post(srv.url("/account/reset/confirm"))
                .form(&[("token", token.as_str()), ("password", p1), ("password2", p2)])
                .send()
        };
        page_says(&set("a brand new passphrase", "another one").await.unwrap().text().await.unwrap(), "not the same");
        page_says(&set("short", "short").await.unwrap().text().await.unwrap(), "at least 12 characters");
        let res = set("a brand new passphrase", "a brand new passphrase").await.unwrap();
        assert_eq!(res.status(), 200);
        page_says(&res.text().await.unwrap(), "signed out everywhere");
        assert_eq!(set("yet another passphrase", "yet another passphrase").await.unwrap().status(), 400, "used once");

        let dir = &srv.state.directory;
        assert!(dir.verify_password("admin@example.com", Secret::new(PASSWORD.into())).await.unwrap().is_none());
        assert!(dir.verify_password("admin@example.com", Secret::new("a brand new passphrase".into())).await.unwrap().is_some());
        // RFC 6749 §6: the refresh token issued before the reset is refused.
        let (status, body) = refresh(&srv.base, &w, &old_refresh).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
        // The browser's session ended: prompt=none needs a login (OIDC Core §3.1.2.6).
        let res = browser.get(&authorize_url(&srv, &w, &[("prompt", "none")])).await;
        let location = res.headers()["location"].to_str().unwrap().to_string();
        assert!(location.contains("error=login_required"), "{location}");

        // A reset link dies after 30 minutes.
        ask("admin@example.com").await.unwrap();
        let second = sink.wait_for("admin@example.com", 2).await;
        srv.clock.advance(gatehouse::tenants::people::RESET_TTL + 1);
        assert_eq!(http().get(second.link()).send().await.unwrap().status(), 400);
    }
);

both_backends!(
    async fn a_verification_link_makes_email_verified_true_in_userinfo(srv) {
        let Some(sink) = MailSink::start() else { return };
        let w = world(&srv).await;
        let inst = mailing(&srv, &sink).await;
        let (claims, tokens) = id_claims(&srv, &w, "admin@example.com").await;
        assert_eq!(claims["email_verified"], false, "an address an operator typed is not verified");
        let access = tokens["access_token"].as_str().unwrap().to_string();

        let user = srv.state.directory.user("admin@example.com").await.unwrap();
        inst.state.people.send_verification(&user, "test").await.unwrap();
        let mail = sink.wait_for("admin@example.com", 1).await;
        // Opening the link changes nothing (mail scanners open links); the button does.
        let page = http().get(mail.link()).send().await.unwrap().text().await.unwrap();
        page_says(&page, "Confirm my address");
        assert!(!srv.state.directory.user("admin@example.com").await.unwrap().email_verified);
        let res =
            http().post(srv.url("/account/verify")).form(&[("token", mail.token().as_str())]).send().await.unwrap();
        assert_eq!(res.status(), 200);
        let info: Value =
            http().get(srv.url("/userinfo")).bearer_auth(&access).send().await.unwrap().json().await.unwrap();
        assert_eq!(info["email_verified"], true, "{info}");
        let res =
            http().post(srv.url("/account/verify")).form(&[("token", mail.token().as_str())]).send().await.unwrap();
        assert_eq!(res.status(), 400, "used once");
    }
);

/// Signs `email` in to the portal in a fresh cookie-keeping browser; returns it with the CSRF
/// token of the tenant page.
pub(crate) async fn on_tenant_page(srv: &TestServer, email: &str) -> (Browser, String, u16) {
    use crate::harness::signin::hidden;
    let mut b = Browser::new();
    let page = b.get(&srv.url("/portal/login")).await.text().await.unwrap();
    let csrf = hidden(&page, "csrf").unwrap();
    b.post(
        &srv.url("/portal/login"),
        &[("csrf", &csrf), ("next", "/portal"), ("email", email), ("password", PASSWORD)],
    )
    .await;
    let res = b.get(&srv.url("/admin/tenant?ctx=Cust1")).await;
    let status = res.status().as_u16();
    let html = res.text().await.unwrap();
    let csrf = hidden(&html, "csrf").unwrap_or_default();
    (b, csrf, status)
}

both_backends!(
    async fn the_tenant_pages_people_forms_refuse_what_they_must(srv) {
        let _w = world(&srv).await;
        let dir = &srv.state.directory;
        dir.add_user("bob@example.com", None, "Cust1", false, Secret::new(PASSWORD.into()), "test").await.unwrap();
        dir.add_tenant("Cust2", "Customer Two", None, None, "test").await.unwrap();
        dir.add_user("bob@example.com", None, "Cust2", false, Secret::new(PASSWORD.into()), "test").await.unwrap();
        let (mut admin, csrf, status) = on_tenant_page(&srv, "admin@example.com").await;
        assert_eq!(status, 200);
        let post = |action: &'static str, email: &'static str| {
            vec![("csrf", csrf.clone()), ("ctx", "Cust1".to_string()), ("action", action.to_string()), ("email", email.to_string())]
        };
        let send = |b: &mut Browser, form: Vec<(&'static str, String)>| {
            let url = srv.url("/admin/tenant/people");
            let mut b2 = Browser { cookies: b.cookies.clone(), forwarded_for: None };
            async move {
                let borrowed: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
                let res = b2.post(&url, &borrowed).await;
                (res.status().as_u16(), res.text().await.unwrap())
            }
        };
        let (status, page) = send(&mut admin, post("invite", "not an address")).await;
        assert_eq!(status, 400);
        assert!(page.contains("email: is not an email address"), "{page}");
        assert_eq!(send(&mut admin, post("invite", "carol@example.com")).await.0, 303);
        let page = admin.get(&srv.url("/admin/tenant?ctx=Cust1")).await.text().await.unwrap();
        assert!(page.contains("Invited, not yet joined:") && page.contains("<li>carol@example.com "), "{page}");
        // Withdrawn, an invitation's link stops working; withdrawing again is a 404.
        let sent = srv.state.people.invite_to_tenant("Cust1", "dave@example.com", false, "test").await.unwrap();
        assert_eq!(http().get(&sent.link).send().await.unwrap().status(), 200);
        assert_eq!(send(&mut admin, post("withdraw", "dave@example.com")).await.0, 303);
        assert_eq!(http().get(&sent.link).send().await.unwrap().status(), 400);
        assert_eq!(send(&mut admin, post("withdraw", "dave@example.com")).await.0, 404);
        // The last administrator can be neither demoted nor removed.
        let (status, page) = send(&mut admin, post("member", "admin@example.com")).await;
        assert_eq!(status, 409);
        assert!(page.contains("last administrator"), "{page}");
        assert_eq!(send(&mut admin, post("remove", "admin@example.com")).await.0, 409);
        // Bob belongs to Cust2 too: this tenant's administrator may remove him, not disable him.
        let (status, page) = send(&mut admin, post("disable", "bob@example.com")).await;
        assert_eq!(status, 409);
        assert!(page.contains("belongs to other tenants"), "{page}");
        assert!(dir.user("bob@example.com").await.unwrap().disabled_at.is_none());
        assert_eq!(send(&mut admin, post("frobnicate", "bob@example.com")).await.0, 400);
        // Without the CSRF token nothing happens.
        let mut forged = post("remove", "bob@example.com");
        forged[0].1 = "wrong".into();
        assert_eq!(send(&mut admin, forged).await.0, 403);
        assert_eq!(send(&mut admin, post("remove", "bob@example.com")).await.0, 303);
        assert!(dir.memberships(&dir.user("bob@example.com").await.unwrap().id).await.unwrap().iter().all(|m| m.tenant != "Cust1"));

        // A plain member has no say.
        dir.add_user("mia@example.com", None, "Cust1", false, Secret::new(PASSWORD.into()), "test").await.unwrap();
        let (mut mia, mia_csrf, status) = on_tenant_page(&srv, "mia@example.com").await;
        assert_eq!(status, 403, "not an administrator");
        let form = vec![("csrf", mia_csrf), ("ctx", "Cust1".to_string()), ("action", "invite".to_string()), ("email", "x@example.com".to_string())];
        assert_eq!(send(&mut mia, form).await.0, 403);
    }
);

both_backends!(
    async fn a_partners_developer_invites_another_in_the_portal(srv) {
        use crate::harness::signin::hidden;
        let Some(sink) = MailSink::start() else { return };
        let w = crate::harness::portal::portal_world(&srv).await;
        let inst = mailing(&srv, &sink).await;
        let portal_password = crate::harness::portal::PASSWORD;
        let base = inst.base.clone();
        let login = |email: &'static str| {
            let base = base.clone();
            async move {
                let mut b = Browser::new();
                let page = b.get(&format!("{base}/portal/login")).await.text().await.unwrap();
                let csrf = hidden(&page, "csrf").unwrap();
                let form = [("csrf", csrf.as_str()), ("next", "/portal"), ("email", email), ("password", portal_password)];
                b.post(&format!("{base}/portal/login"), &form).await;
                let page = b.get(&format!("{base}/portal")).await.text().await.unwrap();
                (b, hidden(&page, "csrf").unwrap(), page)
            }
        };
        let (mut dev, csrf, page) = login("dev@example.com").await;
        assert!(page.contains("Developers of Test Partner AS") && page.contains("dev@example.com"), "{page}");
        let form = [("csrf", csrf.as_str()), ("partner", w.partner.as_str()), ("email", "dana@example.com")];
        let res = dev.post(&format!("{}/portal/developers", inst.base), &form).await;
        assert_eq!(res.status(), 303);
        let mail = sink.wait_for("dana@example.com", 1).await;
        assert_eq!(mail.subject, "You are invited to the developers of Test Partner AS");
        let token = mail.token();
        let accept = [("token", token.as_str()), ("name", "Dana Dev"), ("password", PASSWORD), ("password2", PASSWORD)];
        assert_eq!(http().post(srv.url("/account/invitation")).form(&accept).send().await.unwrap().status(), 200);
        let dana = srv.state.directory.user("dana@example.com").await.unwrap();
        let partners = srv.state.store.partners_of(&dana.id).await.unwrap();
        assert_eq!(partners.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(), [w.partner.as_str()]);

        // A developer of another partner cannot invite to this one.
        let (mut other, csrf, _) = login("other@example.com").await;
        let form = [("csrf", csrf.as_str()), ("partner", w.partner.as_str()), ("email", "eve@example.com")];
        assert_eq!(other.post(&format!("{}/portal/developers", inst.base), &form).await.status(), 403);
        assert!(sink.to("eve@example.com").is_empty());
    }
);
