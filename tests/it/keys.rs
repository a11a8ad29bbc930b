use gatehouse::jose::Alg;

use crate::harness::http;

async fn published_kids(srv: &crate::harness::TestServer) -> Vec<String> {
    let jwks: serde_json::Value = http().get(srv.url("/jwks")).send().await.unwrap().json().await.unwrap();
    jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_string()).collect()
}

fn state_of(keys: &[gatehouse::keys::KeyInfo], alg: &str, state: &str) -> Vec<String> {
    keys.iter().filter(|k| k.alg == alg && k.state == state).map(|k| k.kid.clone()).collect()
}

both_backends!(
    async fn rotation_signs_only_with_a_key_that_was_published_first(srv) {
        let keys = &srv.state.keys;
        let before = keys.list().await.unwrap();
        let old_current = state_of(&before, "RS256", "current");
        let next = state_of(&before, "RS256", "next");
        assert_eq!((old_current.len(), next.len()), (1, 1));
        assert_eq!(keys.signer(Alg::RS256).unwrap().kid, old_current[0]);
        assert!(published_kids(&srv).await.contains(&next[0]), "the next key is in JWKS before it signs");

        let promoted = keys.rotate(Alg::RS256, "test").await.unwrap();
        assert_eq!(promoted.kid, next[0]);
        assert_eq!(keys.signer(Alg::RS256).unwrap().kid, next[0]);
        let after = keys.list().await.unwrap();
        assert_eq!(state_of(&after, "RS256", "retired"), old_current);
        let new_next = state_of(&after, "RS256", "next");
        assert_eq!(new_next.len(), 1);
        let published = published_kids(&srv).await;
        for kid in [&old_current[0], &next[0], &new_next[0]] {
            assert!(published.contains(kid), "{kid} should be published");
        }
        // ES256 was not touched.
        assert_eq!(state_of(&after, "ES256", "current"), state_of(&before, "ES256", "current"));
        let trail = srv.state.store.audit_trail("RS256", 10).await.unwrap();
        assert_eq!(trail[0].action, "key.rotated");
    }
);

both_backends!(
    async fn a_retired_key_leaves_jwks_once_no_token_can_need_it(srv) {
        let keys = &srv.state.keys;
        let first = keys.signer(Alg::ES256).unwrap().kid.clone();
        keys.rotate(Alg::ES256, "test").await.unwrap();
        assert!(published_kids(&srv).await.contains(&first));
        srv.clock.advance(srv.state.config.retired_key_ttl + 1);
        keys.rotate(Alg::ES256, "test").await.unwrap();
        let published = published_kids(&srv).await;
        assert!(!published.contains(&first), "a key retired longer than the TTL is gone");
        assert_eq!(published.len(), 5, "RS256 current+next, ES256 retired+current+next");
        assert!(!keys.list().await.unwrap().iter().any(|k| k.kid == first), "and deleted");
        assert!(!srv.dir.path().join("keys").join(format!("{first}.pem")).exists(), "with its file");
    }
);

both_backends!(
    async fn a_restart_loads_the_same_keys_and_key_files_are_private(srv) {
        use std::os::unix::fs::PermissionsExt;
        let kid = srv.state.keys.signer(Alg::RS256).unwrap().kid.clone();
        let config = crate::harness::test_config(&srv.database_url, srv.dir.path(), &srv.base);
        let again = gatehouse::AppState::open(config, srv.clock.clone()).await.unwrap();
        assert_eq!(again.keys.signer(Alg::RS256).unwrap().kid, kid);
        assert_eq!(again.keys.list().await.unwrap().len(), 4, "no new keys on restart");
        let mode = std::fs::metadata(srv.dir.path().join("keys").join(format!("{kid}.pem"))).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
);

both_backends!(
    async fn keys_encrypted_in_the_database_load_on_another_instance(srv) {
        use gatehouse::config::KeyStore;
        use gatehouse::secret::Secret;
        // A second database so the file-based keys of `srv` do not interfere.
        let store = srv.state.store.clone();
        let a = Secret::new([7u8; 32]);
        let key_store = KeyStore::Database { encryption_key: a };
        // Switch this database to database-held keys: retire the file keys by deleting them.
        gatehouse::on_db!(&store.db, pool => { sqlx::query("DELETE FROM signing_keys").execute(pool).await.unwrap(); });
        let one = gatehouse::keys::Keys::open(store.clone(), srv.clock.clone(), key_store.clone(), &[Alg::RS256, Alg::ES256], 86_400).await.unwrap();
        let two = gatehouse::keys::Keys::open(store.clone(), srv.clock.clone(), key_store, &[Alg::RS256, Alg::ES256], 86_400).await.unwrap();
        assert_eq!(one.signer(Alg::RS256).unwrap().kid, two.signer(Alg::RS256).unwrap().kid);
        assert_eq!(one.jwks(), two.jwks());
        let files = std::fs::read_dir(srv.dir.path().join("keys")).unwrap().count();
        assert_eq!(files, 4, "database keys write no files");
        one.rotate(Alg::RS256, "test").await.unwrap();
        two.reload().await.unwrap();
        assert_eq!(one.signer(Alg::RS256).unwrap().kid, two.signer(Alg::RS256).unwrap().kid, "a rotation reaches the other instance");
        let wrong = KeyStore::Database { encryption_key: Secret::new([8u8; 32]) };
        let err = gatehouse::keys::Keys::open(store, srv.clock.clone(), wrong, &[Alg::RS256], 86_400).await.unwrap_err().to_string();
        assert!(err.contains("internal error") || err.contains("decrypt"), "{err}");
    }
);
