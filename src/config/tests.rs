use super::*;

#[test]
fn an_issuer_derived_from_a_public_listener_is_refused_like_a_configured_one() {
    let e = load(&[("GATEHOUSE_LISTEN", "0.0.0.0:8080")]).unwrap_err();
    assert_eq!(e.setting, "issuer");
    assert!(load(&[("GATEHOUSE_LISTEN", "0.0.0.0:8080"), ("GATEHOUSE_ISSUER", "https://id.example.com")]).is_ok());
    assert_eq!(load(&[("GATEHOUSE_LISTEN", "127.0.0.1:9000")]).unwrap().issuer, "http://127.0.0.1:9000");
}

#[test]
fn rfc8414_3_an_issuer_with_a_path_is_refused_because_metadata_is_served_at_the_root() {
    let e = load(&[("GATEHOUSE_ISSUER", "https://id.example.com/tenant")]).unwrap_err();
    assert_eq!(e.setting, "issuer");
    assert!(load(&[("GATEHOUSE_ISSUER", "https://id.example.com")]).is_ok());
}

fn load(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Config::load(&Overrides::default(), |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
}

#[test]
fn defaults_serve_sqlite_on_loopback() {
    let c = load(&[]).unwrap();
    assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(c.issuer, "http://127.0.0.1:8080");
    assert_eq!(c.database_url, DEFAULT_DATABASE_URL);
    assert!(matches!(c.key_store, KeyStore::Files(_)));
}

#[test]
fn a_wrong_value_names_its_setting() {
    let e = load(&[("GATEHOUSE_LISTEN", "nowhere")]).unwrap_err();
    assert_eq!(e.setting, "listen");
    let e = load(&[("GATEHOUSE_ISSUER", "http://example.com")]).unwrap_err();
    assert_eq!(e.setting, "issuer");
    let e = load(&[("GATEHOUSE_ISSUER", "https://example.com/")]).unwrap_err();
    assert!(e.message.contains("'/'"));
    let e = load(&[("GATEHOUSE_DB_ACQUIRE_TIMEOUT_SECS", "soon")]).unwrap_err();
    assert_eq!(e.setting, "GATEHOUSE_DB_ACQUIRE_TIMEOUT_SECS");
    let e = load(&[("GATEHOUSE_KEY_STORE", "database")]).unwrap_err();
    assert_eq!(e.setting, "GATEHOUSE_KEY_ENCRYPTION_KEY");
    let e = load(&[("GATEHOUSE_DATABASE_URL", "mysql://x")]).unwrap_err();
    assert_eq!(e.setting, "database_url");
}

#[test]
fn audit_retention_pruning_period_and_pending_cap_are_read_and_checked() {
    let c = load(&[]).unwrap();
    assert_eq!((c.audit_retention_days, c.prune_interval.as_secs(), c.max_pending_per_address), (365, 600, 500));
    let c = load(&[
        ("GATEHOUSE_AUDIT_RETENTION_DAYS", "90"),
        ("GATEHOUSE_PRUNE_INTERVAL_SECS", "60"),
        ("GATEHOUSE_MAX_PENDING_PER_ADDRESS", "20"),
    ])
    .unwrap();
    assert_eq!((c.audit_retention_days, c.prune_interval.as_secs(), c.max_pending_per_address), (90, 60, 20));
    for (var, value, setting) in [
        ("GATEHOUSE_AUDIT_RETENTION_DAYS", "0", "audit.retention_days"),
        ("GATEHOUSE_AUDIT_RETENTION_DAYS", "a year", "GATEHOUSE_AUDIT_RETENTION_DAYS"),
        ("GATEHOUSE_PRUNE_INTERVAL_SECS", "1", "pruning.interval_secs"),
        ("GATEHOUSE_MAX_PENDING_PER_ADDRESS", "0", "authorize.max_pending_per_address"),
    ] {
        assert_eq!(load(&[(var, value)]).unwrap_err().setting, setting, "{var}={value}");
    }
    let file = std::env::temp_dir().join(format!("gh-config-{}", crate::crypto::random_id()));
    std::fs::write(&file, "[audit]\nretention_days = 30\n[pruning]\ninterval_secs = 10\n").unwrap();
    let o = Overrides { config_file: Some(file.clone()), ..Default::default() };
    let c = Config::load(&o, |_| None);
    std::fs::remove_file(file).ok();
    let c = c.unwrap();
    assert_eq!((c.audit_retention_days, c.prune_interval.as_secs()), (30, 10));
}

#[test]
fn the_audit_log_goes_to_stdout_or_a_file() {
    assert_eq!(load(&[]).unwrap().audit_log, None);
    assert_eq!(load(&[("GATEHOUSE_AUDIT_LOG", "stdout")]).unwrap().audit_log, Some(AuditLog::Stdout));
    assert_eq!(
        load(&[("GATEHOUSE_AUDIT_LOG", "/var/log/gatehouse/audit.jsonl")]).unwrap().audit_log,
        Some(AuditLog::File("/var/log/gatehouse/audit.jsonl".into()))
    );
    assert_eq!(load(&[("GATEHOUSE_AUDIT_LOG", "/var/log/")]).unwrap_err().setting, "audit.log");
}

#[test]
fn superid_url_templates_are_checked() {
    let dir = std::env::temp_dir().join(format!("gh-config-{}", crate::crypto::random_id()));
    std::fs::write(&dir, "[superid]\nwebapi_url = \"https://{ctx}.example.com/api/\"\nnetserver_url = \"not a url\"\n")
        .unwrap();
    let o = Overrides { config_file: Some(dir.clone()), ..Default::default() };
    let e = Config::load(&o, |_| None).unwrap_err();
    std::fs::remove_file(dir).ok();
    assert_eq!(e.setting, "superid.netserver_url");
}

#[test]
fn trusted_proxies_are_cidrs_checked_at_start() {
    let c = load(&[("GATEHOUSE_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.7,2001:db8::/32")]).unwrap();
    let trusted = |a: &str| c.trusted_proxies.iter().any(|p| p.contains(a.parse().unwrap()));
    assert!(trusted("10.200.3.4") && trusted("192.0.2.7") && trusted("2001:db8::1") && trusted("::ffff:10.0.0.1"));
    assert!(!trusted("11.0.0.1") && !trusted("192.0.2.8") && !trusted("2001:db9::1"));
    assert!(load(&[]).unwrap().trusted_proxies.is_empty());
    for bad in ["10.0.0.0/33", "proxy.internal", "10.0.0.0/", "::/129"] {
        let e = load(&[("GATEHOUSE_TRUSTED_PROXIES", bad)]).unwrap_err();
        assert_eq!(e.setting, "network.trusted_proxies", "{bad}");
    }
    let file = std::env::temp_dir().join(format!("gh-config-{}", crate::crypto::random_id()));
    std::fs::write(&file, "[network]\ntrusted_proxies = [\"172.16.0.0/12\"]\n").unwrap();
    let o = Overrides { config_file: Some(file.clone()), ..Default::default() };
    let c = Config::load(&o, |_| None).unwrap();
    std::fs::remove_file(file).ok();
    assert_eq!(c.trusted_proxies, [Cidr::parse("172.16.0.0/12").unwrap()]);
}

#[test]
fn flags_win_over_environment() {
    let o = Overrides { listen: Some("127.0.0.1:9000".into()), ..Default::default() };
    let c = Config::load(&o, |n| (n == "GATEHOUSE_LISTEN").then(|| "127.0.0.1:7000".to_string())).unwrap();
    assert_eq!(c.listen.port(), 9000);
}

#[test]
fn unknown_file_keys_are_refused() {
    let dir = std::env::temp_dir().join(format!("gh-config-{}", crate::crypto::random_id()));
    std::fs::write(&dir, "listen = \"127.0.0.1:1\"\nlisten_port = 3\n").unwrap();
    let o = Overrides { config_file: Some(dir.clone()), ..Default::default() };
    let e = Config::load(&o, |_| None).unwrap_err();
    std::fs::remove_file(dir).ok();
    assert_eq!(e.setting, "--config");
    assert!(e.message.contains("listen_port"), "{}", e.message);
}
