//! The `gatehouse` command line. Every command calls the same domain code the server uses;
//! output is for people by default and JSON with `--json`. Errors print one line and exit 1.

mod app;
mod credential;
mod keys;
mod partner;
mod remote;
mod resource;
mod tenant;
mod user;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use serde::Serialize;
use serde_json::json;

use crate::clock::Clock;
use crate::config::{Config, LogFormat, Overrides};
use crate::AppState;
use app::AppCmd;
use credential::CredentialCmd;
use keys::KeysCmd;
use partner::PartnerCmd;
use resource::{RegistrationCmd, ResourceCmd};
use tenant::TenantCmd;
use user::UserCmd;

/// Who CLI changes are attributed to in the audit trail.
const ACTOR: &str = "cli";

#[derive(Parser, Debug)]
#[command(name = "gatehouse", version, about = "An OAuth 2.0 / OpenID Connect authorization server")]
pub struct Cli {
    /// TOML configuration file; GATEHOUSE_* variables and flags override it.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Database URL (sqlite://path or postgres://…); also GATEHOUSE_DATABASE_URL.
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// Run the command through this server's admin API instead of the database (app and
    /// tenant commands an automation host runs; needs --token).
    #[arg(long, global = true, env = "GATEHOUSE_SERVER", value_name = "URL")]
    server: Option<String>,
    /// An access token of an app with admin:partner or admin:platform, for --server.
    #[arg(long, global = true, env = "GATEHOUSE_TOKEN", value_name = "TOKEN", hide_env_values = true)]
    token: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the server (the default when no command is given).
    Serve(ServeArgs),
    /// Apply database migrations and exit.
    Migrate,
    /// Partners: the companies that build apps.
    #[command(subcommand)]
    Partner(PartnerCmd),
    /// Apps: create from a template, secrets, certificates, redirect URIs.
    #[command(subcommand)]
    App(AppCmd),
    /// Tenants: customer installations.
    #[command(subcommand)]
    Tenant(TenantCmd),
    /// Users: people who sign in.
    #[command(subcommand)]
    User(UserCmd),
    /// Server signing keys.
    #[command(subcommand)]
    Keys(KeysCmd),
    /// JWT credentials users create for their apps (the JWT bearer grant).
    #[command(subcommand)]
    Credential(CredentialCmd),
    /// Dynamic client registration.
    #[command(subcommand)]
    Registration(RegistrationCmd),
    /// Resource servers: the APIs access tokens are issued for (RFC 8707 `resource`).
    #[command(subcommand)]
    Resource(ResourceCmd),
}

#[derive(Args, Debug, Default)]
struct ServeArgs {
    /// Address to listen on; also GATEHOUSE_LISTEN.
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// Issuer URL; also GATEHOUSE_ISSUER.
    #[arg(long, value_name = "URL")]
    issuer: Option<String>,
    /// Folder for signing keys; also GATEHOUSE_KEYS_DIR.
    #[arg(long, value_name = "DIR")]
    keys_dir: Option<String>,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, as the operator needs to act on it.
fn one_line(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let s = cause.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
    }
    parts.join(": ").replace('\n', " ")
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Some(server) = &cli.server {
        let remote = remote::Remote::new(server, cli.token.as_deref().unwrap_or(""))?;
        let Some(cmd) = cli.command else {
            anyhow::bail!("--server runs app and tenant commands through the API; `serve` runs here, without it")
        };
        return remote::run(remote, cli.json, cmd).await;
    }
    let serve_args = match &cli.command {
        Some(Command::Serve(a)) => Some(a),
        None => None,
        Some(_) => None,
    };
    let overrides = Overrides {
        config_file: cli.config.clone(),
        database_url: cli.database_url.clone(),
        listen: serve_args.and_then(|a| a.listen.clone()),
        issuer: serve_args.and_then(|a| a.issuer.clone()),
        keys_dir: serve_args.and_then(|a| a.keys_dir.clone()),
    };
    let config = Config::load(&overrides, |name| std::env::var(name).ok())?;
    let json = cli.json;
    match cli.command.unwrap_or(Command::Serve(ServeArgs::default())) {
        Command::Serve(_) => serve(config).await,
        Command::Migrate => {
            let store = crate::store::Store::connect(&config.database_url, config.db_acquire_timeout, 2).await?;
            let applied = store.migrate().await?;
            print(json, &json!({ "applied": applied }), || {
                if applied.is_empty() {
                    "database is up to date".into()
                } else {
                    format!("applied: {}", applied.join(", "))
                }
            })
        }
        Command::Partner(cmd) => partner::partner(config, json, cmd).await,
        Command::App(cmd) => app::app(config, json, cmd).await,
        Command::Tenant(cmd) => tenant::tenant(config, json, cmd).await,
        Command::User(cmd) => user::user(config, json, cmd).await,
        Command::Keys(cmd) => keys::keys(config, json, cmd).await,
        Command::Credential(cmd) => credential::credential(config, json, cmd).await,
        Command::Resource(cmd) => resource::resource(config, json, cmd).await,
        Command::Registration(cmd) => resource::registration(config, json, cmd).await,
    }
}

fn print<T: Serialize>(json: bool, value: &T, text: impl FnOnce() -> String) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(value)?);
    } else {
        println!("{}", text());
    }
    Ok(())
}

async fn serve(config: Config) -> anyhow::Result<()> {
    init_logging(config.log_format);
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
    let state = AppState::open(config, Clock::System).await?;
    tracing::info!(
        listen = %listener.local_addr()?,
        issuer = %state.config.issuer,
        database = state.store.backend(),
        "gatehouse is serving; discovery at {}/.well-known/openid-configuration",
        state.config.issuer
    );
    if state.config.allow_http_loopback_redirects {
        tracing::warn!(
            "registration.allow_http_loopback_redirects is on: web clients may register plain-http \
             redirect URIs on localhost and loopback addresses; turn it off outside development"
        );
    }
    if state.config.outbound_allow_private {
        tracing::warn!(
            "outbound.allow_private_networks is on: registered URLs (jwks_uri) may point at loopback \
             and private addresses; turn it off outside development and tests"
        );
    }
    // While nobody is a platform administrator, a single-use link to the first-run page.
    if let Some(link) = state.people.setup_link().await? {
        tracing::info!(
            "first start: create the first administrator, partner and tenant at {link} \
             (from this machine, once, within an hour; a restart prints a new link)"
        );
    }
    // The partner that owns dynamically registered apps exists from the first migration on, so
    // "no partner yet" means no partner but that one.
    let dynamic = crate::store::registration::DYNAMIC_PARTNER;
    if state.directory.partners().await.map(|p| p.iter().all(|p| p.id == dynamic)).unwrap_or(false) {
        tracing::info!(
            "no partner yet; to sign in to the Developer Portal at {}/portal the first time: \
             `gatehouse tenant add --ctx <ctx> --name <name>`, \
             `gatehouse user add --email <you> --tenant <ctx> --admin --password-stdin`, \
             `gatehouse partner add --name <company>`, `gatehouse partner member --partner <id> --email <you>`",
            state.config.issuer
        );
    }
    crate::http::serve(state, listener).await
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("GATEHOUSE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

async fn open(config: Config) -> anyhow::Result<AppState> {
    AppState::open(config, Clock::System).await
}
