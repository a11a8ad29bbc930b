//! Opaque access tokens where they are stored and read: the token writer's batched INSERT and
//! its durability, the batched reader and the connections both keep, tokens that name their row
//! (issue 15), and the upgrade that keeps tokens issued before they did.

use crate::harness::apps::*;
use serde_json::{json, Value};

use crate::harness::TestServer;
use gatehouse::apps::{Template, TokenFormat, TokenSettings};
use gatehouse::store::tokens::OpaqueRef;
both_backends!(
    async fn a_batch_stores_only_the_tokens_whose_app_revision_still_holds(srv) {
        // The writer's INSERT, alone: each row's condition is its own, in one statement.
        let (a, b) = (app(&srv, Template::ServerToServer).await, app(&srv, Template::ServerToServer).await);
        // Two different revisions, so a condition read against another row's app shows.
        srv.state.registry.set_token_settings(&b.client_id, TokenSettings { access_token_ttl: Some(600), ..Default::default() }, &["RS256"], "test").await.unwrap();
        let a = srv.state.registry.get(&a.client_id).await.unwrap();
        let b = srv.state.registry.get(&b.client_id).await.unwrap();
        let (ra, rb) = (a.revision, b.revision);
        assert_ne!(ra, rb);
        let row = |jti: String, digest: Vec<u8>, app_id: &str| gatehouse::store::tokens::AccessTokenRow {
            jti,
            digest,
            app_id: app_id.to_string(),
            client_id: String::new(),
            subject: "s".into(),
            user_id: None,
            tenant_id: None,
            scope: String::new(),
            audience: "aud".into(),
            issued_at: 1,
            expires_at: i64::MAX,
            revoked_at: None,
            tenant_ctx: None,
            jkt: None,
            act: None,
        };
        let cases = [
            (&a.id, Some(ra), true),
            (&a.id, Some(ra + 1), false),
            (&b.id, None, true),
            (&b.id, Some(rb), true),
            (&b.id, Some(ra), false),
            (&a.id, Some(rb), false),
            (&"no-such-app".to_string(), Some(0), false),
        ];
        let rows: Vec<_> = cases.iter().enumerate().map(|(n, (app, requires, _))| (row(format!("batch-{n}"), vec![n as u8; 32], app), *requires)).collect();
        let stored = srv.state.store.insert_access_tokens(&mut None, &rows).await.unwrap().durable().await.unwrap();
        assert_eq!(stored, cases.iter().map(|c| c.2).collect::<Vec<_>>());
        for (n, (_, _, expected)) in cases.iter().enumerate() {
            let by = OpaqueRef { jti: Some(format!("batch-{n}")), digest: [n as u8; 32] };
            let found = srv.state.store.access_token(&by).await.unwrap();
            assert_eq!(found.is_some(), *expected, "row {n}");
        }
        // Every column comes back as it went in (SQLite's rows travel as JSON): text that JSON
        // escapes, the extreme integers, and each optional column set.
        let full = gatehouse::store::tokens::AccessTokenRow {
            user_id: Some("u \"1\" ø".into()),
            tenant_id: Some("t\\1".into()),
            scope: "openid  ünïcode 🔑".into(),
            issued_at: i64::MIN,
            jkt: Some("jkt-0".into()),
            act: Some(r#"{"sub":"actor","act":{"sub":"first"}}"#.into()),
            ..row("full \"jti\"\n".into(), (0..=255u8).step_by(8).collect(), &b.id)
        };
        let stored = srv.state.store.insert_access_tokens(&mut None, &[(full.clone(), Some(rb))]).await.unwrap();
        assert_eq!(stored.durable().await.unwrap(), [true]);
        let by = OpaqueRef { jti: Some(full.jti.clone()), digest: full.digest.clone().try_into().unwrap() };
        let back = srv.state.store.access_token(&by).await.unwrap().unwrap();
        let columns = |t: &gatehouse::store::tokens::AccessTokenRow| {
            (t.jti.clone(), t.digest.clone(), t.app_id.clone(), t.subject.clone(), t.user_id.clone(), t.tenant_id.clone())
        };
        assert_eq!(columns(&back), columns(&full));
        assert_eq!((&back.scope, &back.audience, back.issued_at, back.expires_at), (&full.scope, &full.audience, i64::MIN, i64::MAX));
        assert_eq!((&back.jkt, &back.act, back.revoked_at), (&full.jkt, &full.act, None));
        // The writer's largest batch (store::batch::MAX_BATCH) is one statement too.
        let rows: Vec<_> = (0..256usize)
            .map(|i| (row(format!("full-{i}"), [vec![0xEE, i as u8], vec![0; 30]].concat(), &a.id), Some(ra + (i % 2) as i64)))
            .collect();
        let stored = srv.state.store.insert_access_tokens(&mut None, &rows).await.unwrap().durable().await.unwrap();
        assert_eq!(stored, (0..256).map(|i| i % 2 == 0).collect::<Vec<_>>());
    }
);

both_backends!(
    async fn concurrent_introspections_each_get_their_own_answer_when_batched(srv) {
        // On PostgreSQL concurrent lookups share statements (`store::batch::TokenReader`):
        // every answer must still be the one for its own token and its own caller.
        let (a, b) = (app(&srv, Template::ServerToServer).await, app(&srv, Template::ServerToServer).await);
        let opaque = TokenSettings { format: Some(TokenFormat::Opaque), ..Default::default() };
        for x in [&a, &b] {
            srv.state.registry.set_token_settings(&x.client_id, opaque, &["RS256"], "test").await.unwrap();
        }
        let grant = [("grant_type", "client_credentials")];
        let mut tokens = Vec::new();
        for x in [&a, &a, &b] {
            tokens.push(post(&srv, "/token", Some((&x.client_id, &x.secret)), &grant).await.2["access_token"].as_str().unwrap().to_string());
        }
        let (a1, a2, b1) = (&tokens[0], &tokens[1], &tokens[2]);
        assert_eq!(post(&srv, "/revoke", Some((&a.client_id, &a.secret)), &[("token", a2)]).await.0, 200);
        // (caller, token, active?)
        let cases = [(&a, a1, true), (&a, a2, false), (&a, b1, false), (&b, b1, true), (&b, a1, false)];
        let asks = (0..12).flat_map(|round| {
            let srv = &srv;
            cases.iter().enumerate().map(move |(i, (caller, token, active))| async move {
                let (status, _, body) = post(srv, "/introspect", Some((&caller.client_id, &caller.secret)), &[("token", token)]).await;
                assert_eq!(status, 200, "{body}");
                assert_eq!(body["active"], *active, "round {round}, case {i}: {body}");
                if *active {
                    assert_eq!(body["client_id"], caller.client_id.as_str());
                }
            })
        });
        crate::harness::join_all(asks).await;
    }
);

/// Connections taken out of the reading pool: the fewest of a few looks, so that a background
/// task passing through does not count.
async fn reading_connections_in_use(srv: &TestServer) -> u32 {
    let mut fewest = u32::MAX;
    for _ in 0..5 {
        let in_use = gatehouse::on_db!(&srv.state.store.db, pool => pool.size() - pool.num_idle() as u32);
        fewest = fewest.min(in_use);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    fewest
}

/// An opaque token of a new server-to-server app, and the app.
async fn opaque_token(srv: &TestServer) -> (TestApp, String) {
    let a = app(srv, Template::ServerToServer).await;
    let opaque = TokenSettings { format: Some(TokenFormat::Opaque), ..Default::default() };
    srv.state.registry.set_token_settings(&a.client_id, opaque, &["RS256"], "test").await.unwrap();
    let grant = [("grant_type", "client_credentials")];
    let token = post(srv, "/token", Some((&a.client_id, &a.secret)), &grant).await.2["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    (a, token)
}

async fn introspect(srv: &TestServer, caller: &TestApp, token: &str) -> (u16, Value) {
    let (status, _, body) =
        post(srv, "/introspect", Some((&caller.client_id, &caller.secret)), &[("token", token)]).await;
    (status, body)
}

/// Longer than `store::batch::HOLD_IDLE`, after which writer and readers give their connection back.
const PAST_HOLD_IDLE: std::time::Duration = std::time::Duration::from_millis(1600);

both_backends!(
    async fn the_token_reader_keeps_its_connection_while_lookups_come_and_gives_it_back_after(srv) {
        // sqlx pings every connection that goes back to the pool, so the reader keeps its own
        // between batches, and lets go of it once introspections stop.
        let (a, token) = opaque_token(&srv).await;
        tokio::time::sleep(PAST_HOLD_IDLE).await; // the token writer lets go of its own
        assert_eq!(reading_connections_in_use(&srv).await, 0, "nothing is kept while nothing is asked");
        for _ in 0..3 {
            let (status, body) = introspect(&srv, &a, &token).await;
            assert_eq!((status, &body["active"]), (200, &json!(true)), "{body}");
            assert_eq!(reading_connections_in_use(&srv).await, 1, "the reader keeps the connection of its last batch");
        }
        tokio::time::sleep(PAST_HOLD_IDLE).await;
        assert_eq!(reading_connections_in_use(&srv).await, 0, "given back after a second without lookups");
    }
);

both_backends!(
    env [("GATEHOUSE_DB_MAX_CONNECTIONS", "3")];
    async fn a_pool_too_small_to_spare_a_connection_is_never_kept_by_the_writer_or_the_reader(srv) {
        // A quarter of the pool may be kept by the writer and the readers: with three
        // connections, none, so that every other request still finds one.
        let (a, token) = opaque_token(&srv).await;
        assert_eq!(reading_connections_in_use(&srv).await, 0, "the writer gave its connection back at once");
        let (status, body) = introspect(&srv, &a, &token).await;
        assert_eq!((status, &body["active"]), (200, &json!(true)), "{body}");
        assert_eq!(reading_connections_in_use(&srv).await, 0);
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_reading_connection_that_breaks_fails_one_batch_and_the_next_takes_a_new_one() {
    let Some(srv) = TestServer::start_with(crate::harness::Backend::Postgres, &[]).await else { return };
    let (a, token) = opaque_token(&srv).await;
    assert_eq!(introspect(&srv, &a, &token).await.0, 200);
    // The reader's backend: the one whose last statement was the batched lookup.
    let gatehouse::store::Db::Postgres(pool) = &srv.state.store.db else { unreachable!() };
    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE '%WITH ORDINALITY%'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(killed, [true], "one reader kept one connection");
    let (status, body) = introspect(&srv, &a, &token).await;
    assert_eq!(status, 503, "the batch on the broken connection is an outage, not an inactive token: {body}");
    assert_eq!(body["error"], "temporarily_unavailable", "{body}");
    let (status, body) = introspect(&srv, &a, &token).await;
    assert_eq!((status, &body["active"]), (200, &json!(true)), "the next batch took a new connection: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_opaque_token_is_handed_out_only_once_its_commit_is_on_disk() {
    // SQLite's writing connection commits without waiting for the disk (src/store/wal_sync.rs),
    // and the token writer stores its next batch while the last one's fsync runs: neither
    // batch may be answered before its fsync has finished.
    let srv = TestServer::start_with(crate::harness::Backend::Sqlite, &[]).await.unwrap();
    let (a, _) = opaque_token(&srv).await;
    let grant = [("grant_type", "client_credentials")];
    let fsyncs = srv.state.store.hold_log_fsyncs().await.expect("SQLite syncs its log itself");
    let both = async {
        tokio::join!(
            post(&srv, "/token", Some((&a.client_id, &a.secret)), &grant),
            post(&srv, "/token", Some((&a.client_id, &a.secret)), &grant)
        )
    };
    tokio::pin!(both);
    let early = tokio::time::timeout(std::time::Duration::from_millis(500), &mut both).await;
    assert!(early.is_err(), "a token was handed out before the log was synced");
    drop(fsyncs);
    let ((first, _, one), (second, _, other)) = both.await;
    assert_eq!((first, second), (200, 200), "{one} {other}");
    for token in [&one["access_token"], &other["access_token"]] {
        let (status, body) = introspect(&srv, &a, token.as_str().unwrap()).await;
        assert_eq!((status, &body["active"]), (200, &json!(true)), "{body}");
    }
}

both_backends!(
    async fn an_opaque_token_names_its_row_and_counts_only_with_its_own_secret(srv) {
        // Issue 15: an opaque token carries its row's jti, which finds the row by primary key.
        // The jti is no secret (introspection tells it), so a token with the right jti and any
        // other random part is unknown: RFC 7662 §2.2 `{"active": false}`, and RFC 7009 §2.2 a
        // 200 that revokes nothing.
        let (a, token) = opaque_token(&srv).await;
        let rest = token.strip_prefix("gatehouse_at_").unwrap();
        let (jti, secret) = rest.split_at(32);
        assert!(jti.bytes().all(|b| b.is_ascii_hexdigit()) && secret.len() == 44 && secret.starts_with('_'), "{token}");
        let (status, seen) = introspect(&srv, &a, &token).await;
        assert_eq!((status, seen["active"].clone(), seen["jti"].clone()), (200, json!(true), json!(jti)), "{seen}");
        let last = token.chars().last().unwrap();
        let forged = format!("{}{}", &token[..token.len() - 1], if last == 'A' { 'B' } else { 'A' });
        let legacy_shaped = format!("gatehouse_at_{}", &secret[1..]);
        for guess in [&forged, &legacy_shaped] {
            assert_eq!(introspect(&srv, &a, guess).await, (200, json!({ "active": false })), "{guess}");
            let (status, _, _) = post(&srv, "/revoke", Some((&a.client_id, &a.secret)), &[("token", guess.as_str())]).await;
            assert_eq!(status, 200);
        }
        assert_eq!(introspect(&srv, &a, &token).await.1["active"], json!(true), "a forged token revoked nothing");

        // A token issued before tokens carried their jti (the upgrade keeps its digest in
        // legacy_token_digests): still found, by the batched reader and by revocation's lookup.
        let app_id = srv.state.registry.get(&a.client_id).await.unwrap().id;
        let legacy = format!("gatehouse_at_{}", gatehouse::crypto::random_token());
        let digest = gatehouse::crypto::sha256(legacy.as_bytes());
        let row = gatehouse::store::tokens::AccessTokenRow {
            jti: gatehouse::crypto::random_id(),
            digest: digest.to_vec(),
            app_id,
            client_id: String::new(),
            subject: a.client_id.clone(),
            user_id: None,
            tenant_id: None,
            scope: "api".into(),
            audience: a.client_id.clone(),
            issued_at: srv.clock.now(),
            expires_at: srv.clock.now() + 600,
            revoked_at: None,
            tenant_ctx: None,
            jkt: None,
            act: None,
        };
        let stored = srv.state.store.insert_access_tokens(&mut None, &[(row.clone(), None)]).await.unwrap();
        assert_eq!(stored.durable().await.unwrap(), [true]);
        gatehouse::on_write!(&srv.state.store, pool => {
            sqlx::query("INSERT INTO legacy_token_digests (digest, jti, expires_at) VALUES ($1, $2, $3)")
                .bind(digest.as_slice()).bind(&row.jti).bind(row.expires_at).execute(pool).await.map(|_| ())
        })
        .unwrap();
        let (status, seen) = introspect(&srv, &a, &legacy).await;
        assert_eq!((status, seen["active"].clone(), seen["jti"].clone()), (200, json!(true), json!(row.jti)), "{seen}");
        let found = srv.state.store.access_token(&OpaqueRef { jti: None, digest }).await.unwrap().unwrap();
        assert_eq!(found.jti, row.jti);
        let (status, _, _) = post(&srv, "/revoke", Some((&a.client_id, &a.secret)), &[("token", legacy.as_str())]).await;
        assert_eq!(status, 200);
        assert_eq!(introspect(&srv, &a, &legacy).await, (200, json!({ "active": false })));
    }
);

/// The migration files of `backend` (`sqlite` or `postgres`) in order, as the runner applies them.
fn migration_files(backend: &str) -> Vec<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(backend);
    let mut files: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files
        .iter()
        .map(|f| (f.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read_to_string(f).unwrap()))
        .collect()
}

/// Before the upgrade: a partner, an app and two opaque tokens (one revoked, with every
/// optional column set) in the columns migration 0028 left; `d1` and `d2` are the digests as
/// SQL literals of the backend.
fn before_selectors(d1: &str, d2: &str) -> String {
    format!(
        r#"INSERT INTO partners (id, name, created_at) VALUES ('p', 'P', 1);
        INSERT INTO apps (id, client_id, partner_id, name, template, kind, access, client_type, grant_types,
            loopback_any_port, require_pkce, allow_plain_pkce, token_format, refresh_mode, signing_alg, created_at, updated_at)
        VALUES ('a', 'c', 'p', 'A', 'server-to-server', 'server', 'public', 'confidential', 'client_credentials',
            false, true, false, 'opaque', 'rotate', 'RS256', 1, 1);
        INSERT INTO access_tokens (jti, digest, app_id, subject, user_id, tenant_id, scope, audience, issued_at, expires_at,
            revoked_at, jkt, act)
        VALUES ('j1', {d1}, 'a', 's', NULL, NULL, 'api', 'c', 10, 20, NULL, NULL, NULL),
               ('j2', {d2}, 'a', 's', 'u', 't', 'api x', 'aud', 11, 21, 15, 'k', '{{"sub":"x"}}');"#
    )
}

type TokenColumns = (
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    String,
    i64,
    i64,
    Option<i64>,
    Option<String>,
    Option<String>,
);

/// Applies the files before 0029, seeds, applies the rest, and checks what became of the tokens.
macro_rules! upgrade_checks {
    ($pool:expr, $backend:literal, $d1:expr, $d2:expr) => {{
        let (before, after): (Vec<_>, Vec<_>) =
            migration_files($backend).into_iter().partition(|(name, _)| name.as_str() < "0029");
        for (_, sql) in before {
            sqlx::raw_sql(&sql).execute(&$pool).await.unwrap();
        }
        sqlx::raw_sql(&before_selectors($d1, $d2)).execute(&$pool).await.unwrap();
        for (name, sql) in after {
            sqlx::raw_sql(&sql).execute(&$pool).await.unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        let rows: Vec<TokenColumns> = sqlx::query_as(
            "SELECT jti, subject, user_id, tenant_id, scope, audience, issued_at, expires_at, revoked_at, jkt, act \
             FROM access_tokens ORDER BY jti",
        )
        .fetch_all(&$pool)
        .await
        .unwrap();
        let s = |v: &str| v.to_string();
        assert_eq!(
            rows,
            [
                (s("j1"), s("s"), None, None, s("api"), s("c"), 10, 20, None, None, None),
                (
                    s("j2"),
                    s("s"),
                    Some(s("u")),
                    Some(s("t")),
                    s("api x"),
                    s("aud"),
                    11,
                    21,
                    Some(15),
                    Some(s("k")),
                    Some(s(r#"{"sub":"x"}"#))
                ),
            ]
        );
        for (digest, jti) in [($d1, "j1"), ($d2, "j2")] {
            let sql = format!(
                "SELECT t.jti FROM legacy_token_digests l JOIN access_tokens t ON t.jti = l.jti \
                 WHERE l.digest = {digest} AND t.digest = {digest} AND l.expires_at = t.expires_at"
            );
            let found: (String,) = sqlx::query_as(&sql).fetch_one(&$pool).await.unwrap();
            assert_eq!(found.0, jti);
        }
    }};
}

#[tokio::test]
async fn the_upgrade_keeps_opaque_tokens_issued_before_they_carried_their_jti() {
    // Migration 0029 rebuilds (SQLite) or alters (PostgreSQL) access_tokens: every row and
    // column stays, and each digest is still found through legacy_token_digests.
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}?mode=rwc", dir.path().join("upgrade.db").display());
    let pool = sqlx::SqlitePool::connect(&sqlite).await.unwrap();
    upgrade_checks!(pool, "sqlite", "x'01'", "x'02'");
    pool.close().await;
    let Some(base) = crate::harness::postgres_base_url() else { return };
    let name = format!("gatehouse_upgrade_{}", gatehouse::crypto::random_id());
    let admin = sqlx::PgPool::connect(&base).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&admin).await.unwrap();
    let mut url = url::Url::parse(&base).unwrap();
    url.set_path(&name);
    let pool = sqlx::PgPool::connect(url.as_str()).await.unwrap();
    upgrade_checks!(pool, "postgres", r"'\x01'::bytea", r"'\x02'::bytea");
    pool.close().await;
    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)")).execute(&admin).await.unwrap();
}
