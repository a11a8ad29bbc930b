//! The failed-login throttle (audit issue 16, item 1; OWASP ASVS V2.2.1): failures count per
//! account and address and per address, so guessing from many addresses slows an account down
//! but never locks its owner out; a browser that signed in before carries a device cookie that
//! other addresses' failures do not touch; client addresses come from `X-Forwarded-For` only
//! through a trusted proxy.

use std::net::IpAddr;

use gatehouse::http::session::{self, Login};
use gatehouse::secret::Secret;

use crate::harness::signin::{authorize_url, code_of, hidden, world, Browser, World, PASSWORD};
use crate::harness::TestServer;

const OWNER: &str = "admin@example.com";

/// The test servers sit behind a proxy on loopback: requests come from 127.0.0.1.
const BEHIND_PROXY: [(&str, &str); 2] =
    [("GATEHOUSE_OUTBOUND_ALLOW_PRIVATE_NETWORKS", "true"), ("GATEHOUSE_TRUSTED_PROXIES", "127.0.0.1/32, ::1")];

/// Opens a new sign-in's login page (prompt=login, so a session does not skip it) and posts
/// this password; the answer to the post.
async fn try_password(srv: &TestServer, browser: &mut Browser, w: &World, password: &str) -> reqwest::Response {
    let res = browser.get(&authorize_url(srv, w, &[("prompt", "login")])).await;
    let location = res.headers()["location"].to_str().unwrap().to_string();
    let page = browser.get(&srv.url(&location)).await.text().await.unwrap();
    let request = hidden(&page, "request").unwrap_or_else(|| panic!("no login form: {page}"));
    let csrf = hidden(&page, "csrf").unwrap();
    let form = [
        ("request", request.as_str()),
        ("csrf", csrf.as_str()),
        ("action", "login"),
        ("email", OWNER),
        ("password", password),
    ];
    browser.post(&srv.url("/signin"), &form).await
}

/// One wrong guess at the owner's password from `addr`, through the domain function the
/// sign-in pages call (the bulk of an attack, without HTTP around it).
async fn guess(state: &gatehouse::AppState, addr: IpAddr) -> Login {
    let from = session::Attempt { addr: Some(addr), device: None };
    session::check_password(state, &from, OWNER, Secret::new("not the password at all".into()), "test").await.unwrap()
}

both_backends!(
    env BEHIND_PROXY;
    async fn a_known_device_signs_in_while_fifty_addresses_guess_its_password_a_thousand_times(srv) {
        let w = world(&srv).await;
        // The owner signed in from this browser before: it carries a device cookie.
        let mut owner = Browser::behind_proxy("198.51.100.7");
        code_of(&srv, &mut owner, &w, &[]).await;
        assert!(owner.cookies.iter().any(|(name, _)| name.ends_with("gatehouse_device")), "{:?}", owner.cookies);

        // 1,000 wrong guesses from 50 addresses, each address guessing in turn.
        let mut attackers = tokio::task::JoinSet::new();
        for a in 0..50u8 {
            let state = srv.state.clone();
            let addr: IpAddr = format!("203.0.113.{a}").parse().unwrap();
            attackers.spawn(async move {
                let mut refused = 0;
                for _ in 0..20 {
                    match guess(&state, addr).await {
                        Login::Ok(_) => panic!("a wrong password signed in"),
                        Login::Wrong => {}
                        Login::Throttled => refused += 1,
                    }
                }
                refused
            });
        }
        let refused: i32 = attackers.join_all().await.into_iter().sum();
        // Each address is refused once it has failed ten times for the account.
        assert_eq!(refused, 50 * 10);
        assert!(matches!(guess(&srv.state, "203.0.113.1".parse().unwrap()).await, Login::Throttled));

        // The owner, now somewhere else, signs in from the known device at once.
        owner.forwarded_for = Some("198.51.100.8".into());
        let paused = srv.clock.paused();
        let res = try_password(&srv, &mut owner, &w, PASSWORD).await;
        assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
        assert_eq!(srv.clock.paused(), paused, "a known device is not slowed by other addresses' failures");
        code_of(&srv, &mut owner, &w, &[]).await;

        // Without the device cookie the owner is slowed down, but still let in.
        let mut elsewhere = Browser::behind_proxy("198.51.100.9");
        let res = try_password(&srv, &mut elsewhere, &w, PASSWORD).await;
        assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
        assert!(srv.clock.paused() > paused, "an account under attack answers unknown devices slowly");
    }
);

both_backends!(
    env BEHIND_PROXY;
    async fn ten_failures_from_one_client_behind_the_proxy_leave_other_clients_alone(srv) {
        let w = world(&srv).await;
        let mut guesser = Browser::behind_proxy("198.51.100.20");
        for _ in 0..10 {
            let res = try_password(&srv, &mut guesser, &w, "wrong password!").await;
            assert_eq!(res.status(), 200);
            assert!(res.text().await.unwrap().contains("not right"));
        }
        // That client is refused now, even with the right password…
        let res = try_password(&srv, &mut guesser, &w, PASSWORD).await;
        assert_eq!(res.status(), 429);
        assert!(res.headers().get("retry-after").is_some());
        // …but the proxy's other clients are not: the address counted is the client's.
        let paused = srv.clock.paused();
        let mut colleague = Browser::behind_proxy("198.51.100.21");
        let res = try_password(&srv, &mut colleague, &w, PASSWORD).await;
        assert_eq!(res.status(), 303);
        assert_eq!(srv.clock.paused(), paused, "ten failures do not slow the account for everyone");
        // A proxy that appends to a chain: the client is the rightmost untrusted hop.
        let mut chained = Browser::behind_proxy("192.0.2.1, 198.51.100.20, 127.0.0.1");
        let res = try_password(&srv, &mut chained, &w, PASSWORD).await;
        assert_eq!(res.status(), 429, "127.0.0.1 is a trusted hop, so the client is 198.51.100.20");
    }
);

both_backends!(
    async fn an_untrusted_peers_forwarded_for_is_ignored(srv) {
        let w = world(&srv).await;
        // No trusted proxies: every request comes from 127.0.0.1, whatever it claims.
        for i in 0..10 {
            let mut claims = Browser::behind_proxy(&format!("198.51.100.{i}"));
            let res = try_password(&srv, &mut claims, &w, "wrong password!").await;
            assert_eq!(res.status(), 200);
        }
        let mut claims = Browser::behind_proxy("198.51.100.99");
        let res = try_password(&srv, &mut claims, &w, PASSWORD).await;
        assert_eq!(res.status(), 429, "the ten failures were all counted for 127.0.0.1");
        let mut forwarded = Browser::new();
        let res = forwarded.get(&authorize_url(&srv, &w, &[])).await;
        let location = res.headers()["location"].to_str().unwrap().to_string();
        let page = forwarded.get(&srv.url(&location)).await.text().await.unwrap();
        let form = [
            ("request", hidden(&page, "request").unwrap()),
            ("csrf", hidden(&page, "csrf").unwrap()),
            ("action", "login".into()),
            ("email", OWNER.into()),
            ("password", PASSWORD.into()),
        ];
        let res = crate::harness::http()
            .post(srv.url("/signin"))
            .header("forwarded", "for=198.51.100.98")
            .header("cookie", forwarded.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; "))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 429, "nor is a Forwarded header from an untrusted peer");
    }
);
