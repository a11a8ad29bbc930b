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

/// Starts `gatehouse serve` on the test server's database and returns what it logged in its
/// first two seconds of serving (at most 20 s in all), then stops it.
fn first_log_lines(srv: &crate::harness::TestServer) -> String {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("GATEHOUSE_DATABASE_URL", &srv.database_url)
        .env("GATEHOUSE_KEYS_DIR", srv.dir.path().join("keys"))
        .env_remove("GATEHOUSE_ISSUER")
        .current_dir(srv.dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    for pipe in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
    }
    let mut deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut log = String::new();
    while let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now())) {
        if line.contains("gatehouse is serving") {
            deadline = deadline.min(std::time::Instant::now() + std::time::Duration::from_secs(2));
        }
        log.push_str(&line);
        log.push('\n');
    }
    let _ = child.kill();
    let _ = child.wait();
    log
}

both_backends!(
    async fn a_first_start_says_how_to_reach_the_portal_and_the_root_page_links_the_pages(srv) {
        // Only the partner of dynamically registered apps exists (migration 0007): still a first start.
        let log = first_log_lines(&srv);
        assert!(log.contains("no partner yet"), "{log}");
        srv.partner().await;
        let log = first_log_lines(&srv);
        assert!(log.contains("gatehouse is serving") && !log.contains("no partner yet"), "{log}");
        first_run_setup(&srv, &log).await;
        let log = first_log_lines(&srv);
        assert!(!log.contains("first start"), "a platform administrator exists: no setup link: {log}");

        // Whoever types the server's address gets the pages, not a 404.
        let res = crate::harness::http().get(srv.url("/")).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert!(res.headers()["content-security-policy"].to_str().unwrap().contains("default-src 'none'"));
        let html = res.text().await.unwrap();
        for link in ["href=\"/portal\"", "href=\"/admin/tenant\"", "href=\"/.well-known/openid-configuration\""] {
            assert!(html.contains(link), "{link} in {html}");
        }
    }
);

/// The setup link a first start logged: it answers on loopback only, refuses bad input on the
/// page, creates the administrator, partner and tenant once, and signs them in to the portal.
async fn first_run_setup(srv: &crate::harness::TestServer, log: &str) {
    use crate::harness::http;
    let at = log.find("/setup?token=").unwrap_or_else(|| panic!("no setup link in {log}"));
    let token: String = log[at + "/setup?token=".len()..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    let page = http().get(srv.url(&format!("/setup?token={token}"))).send().await.unwrap();
    assert_eq!(page.status(), 200);
    // Behind a trusted proxy, a caller from elsewhere is refused.
    let proxied = srv.another_instance_with(&[("GATEHOUSE_TRUSTED_PROXIES", "127.0.0.1/32")]).await;
    let res = http()
        .get(format!("{}/setup?token={token}", proxied.base))
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let form = |ctx: &'static str| {
        [
            ("token", token.clone()),
            ("name", "Olga Operator".into()),
            ("email", "olga@example.com".into()),
            ("password", "the first admin's passphrase".into()),
            ("password2", "the first admin's passphrase".into()),
            ("partner", "Olga's Apps".into()),
            ("ctx", ctx.into()),
            ("tenant", "Olga's Own".into()),
        ]
    };
    let bad = http().post(srv.url("/setup")).form(&form("1bad ctx")).send().await.unwrap();
    assert_eq!(bad.status(), 200);
    assert!(bad.text().await.unwrap().contains("ctx: must be 2 to 32 letters"), "the error is on the page");
    let res = http().post(srv.url("/setup")).form(&form("Olga1")).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/portal");
    let user = srv.state.directory.user("olga@example.com").await.unwrap();
    assert!(user.platform_admin);
    let roles = srv.state.directory.memberships(&user.id).await.unwrap();
    assert!(roles.iter().any(|m| m.tenant == "Olga1" && m.is_admin), "{roles:?}");
    assert_eq!(srv.state.store.partners_of(&user.id).await.unwrap().len(), 1);
    let again = http().post(srv.url("/setup")).form(&form("Olga2")).send().await.unwrap();
    assert_eq!(again.status(), 400, "the link works once");
}
