//! The binary as an operator uses it. Commands run against the test server's own database.

both_backends!(
    async fn an_operator_sets_up_a_partner_app_tenant_and_user(srv) {
        let partner = srv.cli(&["--json", "partner", "add", "--name", "Acme Apps"], None).json();
        let partner_id = partner["id"].as_str().unwrap();
        let created = srv
            .cli(&["--json", "app", "create", "--partner", partner_id, "--template", "web", "--name", "Acme CRM", "--redirect-uri", "https://acme.example.com/cb", "--public"], None)
            .json();
        let client_id = created["app"]["client_id"].as_str().unwrap().to_string();
        let secret = created["client_secret"]["secret"].as_str().unwrap().to_string();
        assert_eq!(created["app"]["access"], "public");
        assert!(srv.state.registry.verify_secret(&client_id, &secret).await.unwrap());

        // `app show` never shows the secret again.
        let shown = srv.cli(&["--json", "app", "show", &client_id], None);
        assert!(!shown.stdout.contains(&secret));
        assert_eq!(shown.json()["app"]["redirect_uris"][0], "https://acme.example.com/cb");

        let text = srv.cli(&["app", "create", "--partner", partner_id, "--template", "native", "--name", "Acme Mobile"], None);
        assert_eq!(text.code, 0, "{}", text.stderr);
        assert!(text.stdout.contains("client_secret: none"));

        let cert_path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/certs/app-cert.pem");
        let cert = srv.cli(&["--json", "app", "cert", "add", &client_id, cert_path.to_str().unwrap()], None).json();
        assert_eq!(cert["format"], "x509");
        let generated = srv.cli(&["--json", "app", "cert", "generate", &client_id], None).json();
        assert!(generated["private_key_pem"].as_str().unwrap().contains("BEGIN PRIVATE KEY"));
        let new_secret = srv.cli(&["--json", "app", "secret", "new", &client_id], None).json();
        assert!(new_secret["secret"].as_str().unwrap().starts_with("gatehouse_cs_"));
        srv.cli(&["--json", "app", "redirect", "add", &client_id, "https://acme.example.com/cb2"], None).json();

        let tenant = srv.cli(&["--json", "tenant", "add", "--ctx", "Cust100", "--name", "Customer"], None).json();
        assert_eq!(tenant["ctx"], "Cust100");
        let user = srv.cli(&["--json", "user", "add", "--email", "ann@example.com", "--tenant", "Cust100", "--admin", "--password-stdin"], Some("a long enough passphrase\n")).json();
        assert_eq!(user["email"], "ann@example.com");
        assert!(srv.state.directory.verify_password("ann@example.com", gatehouse::secret::Secret::new("a long enough passphrase".into())).await.unwrap().is_some());

        let keys = srv.cli(&["--json", "keys", "list"], None).json();
        assert_eq!(keys.as_array().unwrap().len(), 4);
        let rotated = srv.cli(&["--json", "keys", "rotate", "--alg", "ES256"], None).json();
        assert_eq!(rotated["state"], "current");
        let apps = srv.cli(&["--json", "app", "list", "--partner", partner_id], None).json();
        assert_eq!(apps.as_array().unwrap().len(), 2);
        assert!(srv.cli(&["migrate"], None).stdout.contains("up to date"));
    }
);

/// Every failure is exit code 1 and one line on stderr that says what and why.
fn assert_one_line_error(out: &crate::harness::CliOutput, needle: &str) {
    assert_eq!(out.code, 1, "stdout: {} stderr: {}", out.stdout, out.stderr);
    assert_eq!(out.stderr.trim_end().lines().count(), 1, "one line: {}", out.stderr);
    assert!(out.stderr.starts_with("error: "), "{}", out.stderr);
    assert!(out.stderr.contains(needle), "expected '{needle}' in: {}", out.stderr);
}

both_backends!(
    async fn bad_input_gets_one_clear_line_and_changes_nothing(srv) {
        let partner = srv.partner().await;
        assert_one_line_error(&srv.cli(&["app", "create", "--partner", &partner, "--template", "mobile", "--name", "X"], None), "template: 'mobile' is not one of");
        assert_one_line_error(
            &srv.cli(&["app", "create", "--partner", &partner, "--template", "web", "--name", "X", "--redirect-uri", "https://ok.example.com/cb", "--redirect-uri", "http://bad.example.com/cb"], None),
            "redirect_uri: 'http://bad.example.com/cb' plain http",
        );
        assert!(srv.state.registry.list(Some(&partner)).await.unwrap().is_empty());
        assert_one_line_error(&srv.cli(&["app", "show", "nope"], None), "app 'nope' not found");
        let weak = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/certs/weak-rsa1024-public.pem");
        let app = srv.cli(&["--json", "app", "create", "--partner", &partner, "--template", "web", "--name", "Y"], None).json();
        let client_id = app["app"]["client_id"].as_str().unwrap();
        assert_one_line_error(&srv.cli(&["app", "cert", "add", client_id, weak.to_str().unwrap()], None), "at least 2048");
        assert_one_line_error(&srv.cli(&["app", "cert", "add", client_id, "/no/such/file.pem"], None), "cannot read /no/such/file.pem");
        assert!(srv.state.registry.certificates(client_id).await.unwrap().is_empty());
        assert_one_line_error(&srv.cli(&["tenant", "add", "--ctx", "Cust1", "--name", "A"], None).then_again(&srv, &["tenant", "add", "--ctx", "Cust1", "--name", "B"]), "already exists");
        assert_one_line_error(&srv.cli(&["user", "add", "--email", "bob@example.com", "--tenant", "Cust1", "--password-stdin"], Some("short\n")), "password: must be at least 12");
        assert_one_line_error(&srv.cli(&["keys", "rotate", "--alg", "HS256"], None), "alg: 'HS256' is not one of");
        let bad_config = srv.dir.path().join("bad.toml");
        std::fs::write(&bad_config, "listen = \"here\"\n").unwrap();
        assert_one_line_error(&srv.cli(&["--config", bad_config.to_str().unwrap(), "serve"], None), "listen: 'here' is not an address");
        assert_one_line_error(&crate::harness::run_cli("mysql://x", srv.dir.path(), &["migrate"], None), "database_url: must start with");
    }
);

trait ThenAgain {
    fn then_again(self, srv: &crate::harness::TestServer, args: &[&str]) -> crate::harness::CliOutput;
}

impl ThenAgain for crate::harness::CliOutput {
    /// Runs a second command after this one succeeded, for errors that need prior state.
    fn then_again(self, srv: &crate::harness::TestServer, args: &[&str]) -> crate::harness::CliOutput {
        assert_eq!(self.code, 0, "{}", self.stderr);
        srv.cli(args, None)
    }
}
