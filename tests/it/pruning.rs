//! Pruning (audit issue 16, item 6): after a run, expired rows of every kind are gone and live
//! ones stay; spent codes and refresh tokens stay while their grant is in use, so a replay
//! still ends the grant; one instance prunes per period; pending sign-ins are capped per
//! client address.

use gatehouse::apps::{TokenFormat, TokenSettings};
use gatehouse::store::pruning::Prunable;
use serde_json::Value;

use crate::harness::signin::refresh;
use crate::harness::signin::{authorize_url, code_of, hidden, redeem, world, Browser, World};
use crate::harness::{http, TestServer};

async fn count(srv: &TestServer, table: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM {table}");
    gatehouse::on_db!(&srv.state.store.db, pool => sqlx::query_scalar::<_, i64>(&sql).fetch_one(pool).await.unwrap())
}

/// Rows in every table pruning looks after.
async fn counts(srv: &TestServer) -> Vec<(&'static str, i64)> {
    let mut all = Vec::new();
    for what in Prunable::ALL {
        all.push((what.table(), count(srv, what.table()).await));
    }
    all
}

/// A world whose app issues opaque access tokens, so they are stored rows too.
async fn opaque_world(srv: &TestServer) -> World {
    let w = world(srv).await;
    let settings = TokenSettings { format: Some(TokenFormat::Opaque), ..Default::default() };
    srv.state.registry.set_token_settings(&w.client_id, settings, &["RS256"], "test").await.unwrap();
    w
}

/// Signs in and redeems the code: the code, and the first token response.
async fn signed_in(srv: &TestServer, w: &World) -> (String, Value) {
    let code = code_of(srv, &mut Browser::new(), w, &[]).await;
    let (status, tokens) = redeem(&srv.base, w, &code).await;
    assert_eq!(status, 200, "{tokens}");
    (code, tokens)
}

/// Makes rows of every prunable kind, over HTTP where a caller can make them.
async fn fill(srv: &TestServer, w: &World) {
    // A session, a used code, an opaque access token and what the grant issued, a refresh
    // family of a used token and its live successor.
    let (_, tokens) = signed_in(srv, w).await;
    let (status, body) = refresh(&srv.base, w, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{body}");
    // A replayed code: its grant is revoked (a tombstone, and its tokens' ids on the revoked list).
    let (code, _) = signed_in(srv, w).await;
    assert_eq!(redeem(&srv.base, w, &code).await.0, 400);
    // A pending sign-in, and a failed login on it (counters per account and per address).
    let res = http().get(authorize_url(srv, w, &[])).send().await.unwrap();
    let flow_cookie = res.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let page = http().get(srv.url(res.headers()["location"].to_str().unwrap())).send().await.unwrap();
    let page = page.text().await.unwrap();
    let (request, csrf) = (hidden(&page, "request").unwrap(), hidden(&page, "csrf").unwrap());
    let form = [
        ("request", request.as_str()),
        ("csrf", csrf.as_str()),
        ("action", "login"),
        ("email", "admin@example.com"),
        ("password", "not the password"),
    ];
    let res = http().post(srv.url("/signin")).header("cookie", flow_cookie).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 200);
    // A refused token request (an audit event).
    let res = http()
        .post(srv.url("/token"))
        .basic_auth(&w.client_id, Some("gatehouse_cs_wrong"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    // Replay records and an initial access token, as the endpoints that check them store them.
    let now = srv.clock.now();
    let state = &srv.state;
    assert!(state.store.claim_jti(&w.client_id, &gatehouse::crypto::random_id(), now + 300).await.unwrap());
    let digest = gatehouse::crypto::sha256(gatehouse::crypto::random_id().as_bytes());
    assert!(state.store.claim_system_user_replay(&digest, "app", now + 660).await.unwrap());
    gatehouse::oauth::registration::create_initial_token(state, 1).await.unwrap();
    // A system-user ticket (six hours from its last use).
    let app = state.registry.get(&w.client_id).await.unwrap();
    let tenant = state.directory.tenant("Cust1").await.unwrap();
    state.directory.issue_ticket(&app.id, &tenant.id).await.unwrap();
    // An invitation link (mailed to the test's outbox folder).
    state.people.invite_to_tenant("Cust1", "invitee@example.com", false, "test").await.unwrap();
    // A passkey ceremony started on a page that was never answered.
    state.factors.start_assertion("signin:abandoned", None).await.unwrap();
    // A pushed authorization request whose request_uri was never used.
    let form =
        gatehouse::oauth::params::FormParams::parse(authorize_url(srv, w, &[]).split_once('?').unwrap().1.as_bytes())
            .unwrap();
    let client = gatehouse::oauth::client_auth::authenticate(state, None, &{
        let mut f = form.clone();
        f.set("client_secret", &w.secret);
        f
    })
    .await
    .unwrap();
    gatehouse::oauth::par::push(state, &client, &form, None).await.unwrap();
    // A device authorization nobody finished.
    let row = gatehouse::store::device_codes::DeviceRow {
        id: gatehouse::crypto::random_id(),
        device_digest: gatehouse::crypto::sha256(b"device").to_vec(),
        user_code: "BCDFGHJK".into(),
        app_id: app.id.clone(),
        scope: "openid".into(),
        status: "pending".into(),
        code_digest: None,
        poll_interval: 5,
        last_polled_at: None,
        created_at: now,
        expires_at: now + gatehouse::oauth::device::DEVICE_CODE_TTL,
        client_id: app.client_id.clone(),
    };
    assert!(state.store.insert_device_code(&row).await.unwrap());
    // The apps of a live session, and a logout delivered for an ended one.
    let ended = gatehouse::store::sessions::sid_of(b"ended");
    state.store.record_session_app("live", &app.id, "u1", now + 3_600).await.unwrap();
    state.store.record_session_app(&ended, &app.id, "u1", now + 3_600).await.unwrap();
    state.store.delete_session(b"ended", now).await.unwrap();
    state.store.delivered(&format!("{ended}.{}", app.id), now).await.unwrap();
    // A redirect to a tenant's upstream provider that never came back.
    let idp = gatehouse::store::federation::IdpRow {
        id: gatehouse::crypto::random_id(),
        tenant_id: state.directory.tenant("Cust1").await.unwrap().id,
        issuer: "https://idp.example".into(),
        client_id: "us".into(),
        client_secret: Some(vec![0; 40]),
        private_key: None,
        key_id: None,
        email_claim: "email".into(),
        name_claim: "name".into(),
        groups_claim: "groups".into(),
        admin_group: None,
        passwords_allowed: false,
        created_at: now,
        domains: vec!["corp.example".into()],
        pending: Vec::new(),
    };
    let event = gatehouse::store::audit::AuditEvent::new(
        now,
        "test",
        "tenant.identity_provider_added",
        "Cust1",
        serde_json::json!({}),
    );
    assert!(state.store.insert_identity_provider(&idp, &event).await.unwrap());
    let login = gatehouse::store::federation::UpstreamLoginRow {
        state_digest: gatehouse::crypto::sha256(b"state").to_vec(),
        idp_id: idp.id.clone(),
        request_id: "r".into(),
        nonce: "n".into(),
        verifier: "v".into(),
        expires_at: now + gatehouse::federation::upstream::LOGIN_TTL,
        portal_next: None,
    };
    state.store.insert_upstream_login(&login).await.unwrap();
    // An admin API create's idempotency key, and its answer.
    let begun = state.store.idempotency_begin(&app.client_id, "k", "f", now).await.unwrap();
    assert_eq!(begun, gatehouse::store::idempotency::Begun::Run);
    state.store.idempotency_finish(&app.client_id, "k", 201, "{}", None).await.unwrap();
    // What an upgrade keeps of an opaque token issued before tokens carried their jti (migration 0029).
    gatehouse::on_write!(&state.store, pool => {
        sqlx::query("INSERT INTO legacy_token_digests (digest, jti, expires_at) VALUES ($1, $2, $3)")
            .bind(gatehouse::crypto::sha256(b"legacy").as_slice())
            .bind("legacy")
            .bind(now + 3_600)
            .execute(pool)
            .await
            .map(|_| ())
    })
    .unwrap();
}

both_backends!(
    async fn expired_rows_of_every_kind_are_gone_after_a_pruning_run_and_live_ones_stay(srv) {
        let w = opaque_world(&srv).await;
        fill(&srv, &w).await;
        let before = counts(&srv).await;
        assert!(before.iter().all(|(_, n)| *n > 0), "every kind has rows to prune: {before:?}");

        let pruned = srv.state.pruner().prune().await.unwrap();
        assert_eq!(pruned.total(), 0, "nothing has expired yet: {pruned:?}");
        assert_eq!(counts(&srv).await, before);

        // Past every lifetime: refresh tokens (30 days) and the hour that race-deciding rows are kept.
        srv.clock.advance(31 * 86_400 + 2 * 3_600);
        let pruned = srv.state.pruner().prune().await.unwrap();
        for (table, n) in counts(&srv).await {
            if table == "audit_events" || table == "outbox" {
                assert!(n > 0, "{table} are kept for the audit retention, a year by default");
            } else {
                assert_eq!(n, 0, "{table} after {pruned:?}");
            }
        }
        srv.clock.advance(365 * 86_400);
        srv.state.pruner().prune().await.unwrap();
        assert_eq!(count(&srv, "audit_events").await, 0);
        assert_eq!(count(&srv, "outbox").await, 0);
    }
);

both_backends!(
    async fn a_replayed_code_or_refresh_token_still_ends_its_grant_after_pruning(srv) {
        let w = opaque_world(&srv).await;
        let (_, first) = signed_in(&srv, &w).await;
        let spent = first["refresh_token"].as_str().unwrap().to_string();
        let (_, second) = refresh(&srv.base, &w, &spent).await;
        let successor = second["refresh_token"].as_str().unwrap().to_string();
        let (code, other) = signed_in(&srv, &w).await;
        let other_refresh = other["refresh_token"].as_str().unwrap().to_string();

        // The codes and access tokens have expired, and the hour of grace with them; the
        // refresh tokens live on.
        srv.clock.advance(3 * 3_600);
        let pruned = srv.state.pruner().prune().await.unwrap();
        assert!(pruned.of(Prunable::GrantTokens) > 0 && pruned.of(Prunable::AccessTokens) > 0, "{pruned:?}");
        assert_eq!(count(&srv, "refresh_tokens").await, 3, "a spent token stays while its family is live");
        assert_eq!(count(&srv, "authorization_codes").await, 2, "a used code stays while its grant is in use");

        // RFC 9700 §4.14.2: the spent refresh token is recognised and ends its family.
        let (status, body) = refresh(&srv.base, &w, &spent).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
        assert_eq!(refresh(&srv.base, &w, &successor).await.0, 400, "the family ended");
        // RFC 6749 §4.1.2: the replayed code is recognised and revokes what it issued.
        assert_eq!(redeem(&srv.base, &w, &code).await.0, 400);
        assert_eq!(refresh(&srv.base, &w, &other_refresh).await.0, 400, "the code's grant ended");

        // Once nothing of the grants can be used, every row of them goes, tombstones included.
        srv.clock.advance(31 * 86_400);
        srv.state.pruner().prune().await.unwrap();
        for table in ["refresh_tokens", "authorization_codes", "grant_tokens", "revoked_grants", "revoked_jwts"] {
            assert_eq!(count(&srv, table).await, 0, "{table}");
        }
    }
);

both_backends!(
    async fn one_instance_prunes_per_period_however_many_there_are(srv) {
        let other = srv.another_instance().await;
        let runs = |n: &[&Option<gatehouse::pruning::Pruned>]| n.iter().filter(|r| r.is_some()).count();
        let a = srv.state.pruner().run_if_due().await.unwrap();
        let b = other.state.pruner().run_if_due().await.unwrap();
        assert_eq!(runs(&[&a, &b]), 1);
        srv.clock.advance(60);
        let a = srv.state.pruner().run_if_due().await.unwrap();
        let b = other.state.pruner().run_if_due().await.unwrap();
        assert_eq!(runs(&[&a, &b]), 0, "the period (600 s by default) has not passed");
        srv.clock.advance(600);
        let b = other.state.pruner().run_if_due().await.unwrap();
        let a = srv.state.pruner().run_if_due().await.unwrap();
        assert_eq!(runs(&[&a, &b]), 1);
    }
);

both_backends!(
    env [("GATEHOUSE_MAX_PENDING_PER_ADDRESS", "5"), ("GATEHOUSE_OUTBOUND_ALLOW_PRIVATE_NETWORKS", "true")];
    async fn pending_sign_ins_are_capped_per_client_address(srv) {
        let w = world(&srv).await;
        let from = |ip: &str| {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .local_address(ip.parse::<std::net::IpAddr>().unwrap())
                .build()
                .unwrap()
        };
        let start = |client: reqwest::Client| {
            let url = authorize_url(&srv, &w, &[]);
            async move { client.get(url).send().await.unwrap() }
        };
        for _ in 0..5 {
            assert_eq!(start(from("127.0.0.1")).await.status(), 303);
        }
        let refused = start(from("127.0.0.1")).await;
        assert_eq!(refused.status(), 429);
        assert!(refused.headers().get("retry-after").is_some());
        assert!(refused.headers().get("location").is_none(), "a page of ours, not a redirect to the app");
        assert!(refused.headers().get("set-cookie").is_none());
        assert_eq!(count(&srv, "authorization_requests").await, 5, "nothing is written over the cap");
        // Another address has room of its own.
        assert_eq!(start(from("127.0.0.2")).await.status(), 303);
        // Expired requests no longer count, even before pruning deletes them.
        srv.clock.advance(16 * 60);
        assert_eq!(start(from("127.0.0.1")).await.status(), 303);
        srv.state.pruner().prune().await.unwrap();
        assert_eq!(count(&srv, "authorization_requests").await, 1);
    }
);

both_backends!(
    async fn a_backlog_larger_than_a_batch_is_deleted_a_bounded_batch_at_a_time(srv) {
        let w = world(&srv).await;
        let app_id = srv.state.registry.get(&w.client_id).await.unwrap().id;
        let expired = srv.clock.now() - 1;
        let backlog = 2 * gatehouse::pruning::BATCH + 500;
        // One statement on either backend: a counter from a recursive CTE.
        let sql = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $3) \
            INSERT INTO authorization_requests (id, app_id, params, csrf, created_at, expires_at) \
            SELECT 'backlog-' || CAST(i AS TEXT), $1, '{}', 'csrf', $2, $2 FROM n";
        gatehouse::on_db!(&srv.state.store.db, pool => {
            sqlx::query(sql).bind(&app_id).bind(expired).bind(backlog).execute(pool).await.unwrap();
        });
        let now = srv.clock.now();
        let batch = gatehouse::pruning::BATCH;
        let one = srv.state.store.prune_batch(Prunable::PendingRequests, now, batch).await.unwrap();
        assert_eq!(one, batch as u64, "one statement deletes one batch, no more");
        let pruned = srv.state.pruner().prune().await.unwrap();
        assert_eq!(pruned.of(Prunable::PendingRequests), (backlog - batch) as u64, "the run goes on batch after batch");
        assert_eq!(count(&srv, "authorization_requests").await, 0);
    }
);
