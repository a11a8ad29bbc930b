//! A real Gatehouse on 127.0.0.1:0 with a fresh database and its own keys folder per test.

use gatehouse::clock::Clock;
use gatehouse::config::{Config, Overrides};
use gatehouse::AppState;
use tempfile::TempDir;

pub mod apps;
pub mod authenticator;
pub mod browser;
pub mod fake_dns;
pub mod fake_op;
pub mod jwt;
pub mod mail;
pub mod portal;
pub mod receiver;
pub mod rp;
pub mod signin;
pub mod system_user;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestServer {
    /// The issuer, e.g. `http://127.0.0.1:41234`.
    pub base: String,
    pub state: AppState,
    pub clock: Clock,
    pub database_url: String,
    pub dir: TempDir,
    server: tokio::task::JoinHandle<()>,
    postgres_db: Option<(String, String)>,
}

/// Defines `$name::sqlite` and `$name::postgres`, each running the body with a fresh server;
/// `env [(NAME, value), …];` first starts the servers with those settings instead of the defaults.
macro_rules! both_backends {
    ($(#[$meta:meta])* async fn $name:ident($srv:ident) $body:block) => {
        both_backends!(env [("GATEHOUSE_OUTBOUND_ALLOW_PRIVATE_NETWORKS", "true")]; $(#[$meta])* async fn $name($srv) $body);
    };
    (env $env:expr; $(#[$meta:meta])* async fn $name:ident($srv:ident) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            $(#[$meta])*
            async fn run($srv: $crate::harness::TestServer) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                run($crate::harness::TestServer::start_with($crate::harness::Backend::Sqlite, &$env).await.unwrap()).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(srv) = $crate::harness::TestServer::start_with($crate::harness::Backend::Postgres, &$env).await {
                    run(srv).await
                }
            }
        }
    };
}

/// The PostgreSQL server tests create their databases on, if any. With `CI` set it must be
/// configured: the PostgreSQL half of the suite never skips silently there.
pub fn postgres_base_url() -> Option<String> {
    match std::env::var("GATEHOUSE_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => panic!("CI is set but GATEHOUSE_TEST_POSTGRES_URL is not"),
        _ => None,
    }
}

impl TestServer {
    /// Starts a server; None only for PostgreSQL when no test database is configured.
    pub async fn start(backend: Backend) -> Option<TestServer> {
        Self::start_with(backend, &[("GATEHOUSE_OUTBOUND_ALLOW_PRIVATE_NETWORKS", "true")]).await
    }

    /// Starts a server with these environment settings (tests start with the outbound client
    /// allowed on loopback, where their relying parties listen).
    pub async fn start_with(backend: Backend, env: &[(&str, &str)]) -> Option<TestServer> {
        gatehouse::outbound::install_crypto_provider();
        let dir = tempfile::tempdir().unwrap();
        let (database_url, postgres_db) = match backend {
            Backend::Sqlite => (format!("sqlite://{}", dir.path().join("gatehouse.db").display()), None),
            Backend::Postgres => {
                let base = postgres_base_url()?;
                let name = format!("gatehouse_test_{}", gatehouse::crypto::random_id());
                let admin = sqlx::PgPool::connect(&base).await.expect("connect to GATEHOUSE_TEST_POSTGRES_URL");
                sqlx::query(&format!("CREATE DATABASE {name}")).execute(&admin).await.unwrap();
                admin.close().await;
                let mut url = url::Url::parse(&base).unwrap();
                url.set_path(&name);
                (url.to_string(), Some((base, name)))
            }
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // GATEHOUSE_ISSUER in `env` names another issuer (an https one, as behind a TLS proxy),
        // or `http://localhost`: this server by that name and its port, where browsers allow
        // passkeys (an IP address cannot be a WebAuthn RP ID).
        let issuer = env.iter().find(|(k, _)| *k == "GATEHOUSE_ISSUER").map(|(_, v)| v.to_string());
        let by_name = issuer.as_deref() == Some(LOCALHOST);
        let issuer = match issuer {
            Some(i) if i == LOCALHOST => format!("{LOCALHOST}:{}", addr.port()),
            Some(i) => i,
            None => format!("http://{addr}"),
        };
        let base = if by_name { issuer.clone() } else { format!("http://{addr}") };
        let config = test_config_with(&database_url, dir.path(), &issuer, env);
        let clock = Clock::manual(Clock::System.now());
        let state = AppState::open(config, clock.clone()).await.expect("server state");
        let app = gatehouse::app(state.clone()).into_make_service_with_connect_info::<std::net::SocketAddr>();
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Some(TestServer { base, state, clock, database_url, dir, server, postgres_db })
    }

    /// A second Gatehouse on the same database and keys, as behind a load balancer.
    pub async fn another_instance(&self) -> Instance {
        self.another_instance_with(&[("GATEHOUSE_OUTBOUND_ALLOW_PRIVATE_NETWORKS", "true")]).await
    }

    /// A second instance with settings of its own (one that names something the test made).
    pub async fn another_instance_with(&self, env: &[(&str, &str)]) -> Instance {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // Same issuer: both instances are one deployment.
        let config = test_config_with(&self.database_url, self.dir.path(), &self.base, env);
        let state = AppState::open(config, self.clock.clone()).await.expect("second instance");
        let app = gatehouse::app(state.clone()).into_make_service_with_connect_info::<std::net::SocketAddr>();
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Instance { base: format!("http://{addr}"), state, server }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Runs the `gatehouse` binary against this server's database and keys.
    pub fn cli(&self, args: &[&str], stdin: Option<&str>) -> CliOutput {
        run_cli(&self.database_url, self.dir.path(), args, stdin)
    }

    /// A partner to own apps in tests.
    pub async fn partner(&self) -> String {
        self.state.directory.add_partner("Test Partner AS", "test").await.unwrap().id
    }
}

pub struct Instance {
    pub base: String,
    pub state: AppState,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The issuer a test names to reach its server as `localhost` (`TestServer::start_with`).
pub const LOCALHOST: &str = "http://localhost";

pub fn test_config(database_url: &str, dir: &std::path::Path, issuer: &str) -> Config {
    test_config_with(database_url, dir, issuer, &[("GATEHOUSE_OUTBOUND_ALLOW_PRIVATE_NETWORKS", "true")])
}

pub fn test_config_with(database_url: &str, dir: &std::path::Path, issuer: &str, env: &[(&str, &str)]) -> Config {
    let keys_dir = dir.join("keys").display().to_string();
    let overrides = Overrides {
        database_url: Some(database_url.to_string()),
        keys_dir: Some(keys_dir),
        listen: Some("127.0.0.1:0".into()),
        issuer: Some(issuer.to_string()),
        config_file: None,
    };
    // Mail goes to the test's own folder unless a test names an SMTP server.
    let outbox = dir.join("outbox").display().to_string();
    Config::load(&overrides, |name| {
        if name == "GATEHOUSE_SUPERID_WEBAPI_URL" {
            return Some("https://{ctx}.example.com/api/".to_string());
        }
        let given = env.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string());
        if name == "GATEHOUSE_OUTBOX_DIR" {
            return given.or_else(|| Some(outbox.clone()));
        }
        // Tenants the fixtures make ask nobody for a second factor unless a test says so
        // (`second_factor.rs` and the Chromium stories keep the product's default, `admins`).
        if name == "GATEHOUSE_DEFAULT_MFA_POLICY" {
            return given.or_else(|| Some("off".into()));
        }
        given
    })
    .unwrap()
}

pub struct CliOutput {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl CliOutput {
    pub fn json(&self) -> serde_json::Value {
        assert_eq!(self.code, 0, "command failed: {}", self.stderr);
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }
}

pub fn run_cli(database_url: &str, dir: &std::path::Path, args: &[&str], stdin: Option<&str>) -> CliOutput {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(args)
        .env("GATEHOUSE_DATABASE_URL", database_url)
        .env("GATEHOUSE_KEYS_DIR", dir.join("keys"))
        .env("GATEHOUSE_DEFAULT_MFA_POLICY", "off")
        .env_remove("GATEHOUSE_LISTEN")
        .env_remove("GATEHOUSE_ISSUER")
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    CliOutput {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.server.abort();
        if let Some((base, name)) = self.postgres_db.take() {
            // Drop runs inside the test's runtime; drop the database from a thread of its own.
            // FORCE ends the server's own pooled connections.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                rt.block_on(async move {
                    if let Ok(admin) = sqlx::PgPool::connect(&base).await {
                        let _ =
                            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&admin).await;
                        admin.close().await;
                    }
                });
            })
            .join();
        }
    }
}

/// A reqwest client that never follows redirects (tests look at each response).
pub fn http() -> reqwest::Client {
    gatehouse::outbound::install_crypto_provider();
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/certs").join(name)).unwrap()
}

/// Runs the futures concurrently on this task (spawned tasks would need 'static borrows).
pub async fn join_all<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut pending: Vec<_> = futures.map(|f| Some(Box::pin(f))).collect();
    let mut results: Vec<Option<F::Output>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        for (slot, result) in pending.iter_mut().zip(results.iter_mut()) {
            if let Some(f) = slot {
                if let std::task::Poll::Ready(v) = f.as_mut().poll(cx) {
                    *result = Some(v);
                    *slot = None;
                }
            }
        }
        if pending.iter().all(Option::is_none) {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    results.into_iter().map(|r| r.expect("every future finished")).collect()
}
