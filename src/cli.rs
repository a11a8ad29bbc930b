//! The `gatehouse` command line. Every command calls the same domain code the server uses;
//! output is for people by default and JSON with `--json`. Errors print one line and exit 1.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use serde::Serialize;
use serde_json::json;

use crate::apps::{Access, NewApp, Template, TokenSettings, UriKind};
use crate::clock::Clock;
use crate::config::{Config, LogFormat, Overrides};
use crate::keys::Alg;
use crate::secret::Secret;
use crate::AppState;

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

#[derive(Subcommand, Debug)]
enum ResourceCmd {
    /// Register an API. With --partner it is that partner's own (its apps may ask for it);
    /// without, a platform API that apps get only by `resource grant`.
    Add {
        /// The audience tokens will carry, e.g. https://api.example.com
        #[arg(long)]
        identifier: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        partner: Option<String>,
    },
    /// Let an app ask for tokens for an API its partner does not own.
    Grant {
        #[arg(long)]
        identifier: String,
        #[arg(long)]
        client_id: String,
    },
}

#[derive(Subcommand, Debug)]
enum RegistrationCmd {
    /// Print an initial access token for `POST /register` (usable until it expires).
    #[command(subcommand)]
    Token(RegistrationTokenCmd),
}

#[derive(Subcommand, Debug)]
enum RegistrationTokenCmd {
    Create {
        #[arg(long, default_value_t = 24)]
        expires_in_hours: i64,
    },
}

#[derive(Subcommand, Debug)]
enum CredentialCmd {
    /// Create a credential for a user, usable only by the named apps; printed once.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        tenant: String,
        #[arg(long = "client-id", value_name = "CLIENT_ID", required = true)]
        client_ids: Vec<String>,
        /// Without this the credential does not expire.
        #[arg(long, value_name = "DAYS")]
        expires_in_days: Option<i64>,
    },
    List {
        #[arg(long)]
        email: String,
    },
    Revoke {
        id: String,
    },
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

#[derive(Subcommand, Debug)]
enum PartnerCmd {
    /// Register a partner.
    Add {
        #[arg(long)]
        name: String,
    },
    List,
    /// Make an existing user a developer of the partner.
    Member {
        #[arg(long)]
        partner: String,
        #[arg(long)]
        email: String,
    },
}

#[derive(Subcommand, Debug)]
enum AppCmd {
    /// Create an app from a template; prints the client ID and secret (shown once).
    Create {
        #[arg(long)]
        partner: String,
        /// web, native, server-to-server, mirroring, erp-sync or empty.
        #[arg(long)]
        template: String,
        #[arg(long)]
        name: String,
        #[arg(long = "redirect-uri", value_name = "URI")]
        redirect_uris: Vec<String>,
        /// Any tenant that approves the app may use it.
        #[arg(long, conflicts_with = "private")]
        public: bool,
        /// Only the partner's own tenants may use it (the default).
        #[arg(long)]
        private: bool,
    },
    Show {
        client_id: String,
    },
    List {
        #[arg(long)]
        partner: Option<String>,
    },
    #[command(subcommand)]
    Secret(SecretCmd),
    #[command(subcommand)]
    Cert(CertCmd),
    #[command(subcommand)]
    Redirect(RedirectCmd),
    /// Token settings: format (jwt or opaque), signing algorithm, access-token lifetime.
    Set {
        client_id: String,
        #[arg(long)]
        token_format: Option<String>,
        #[arg(long)]
        signing_alg: Option<String>,
        #[arg(long, value_name = "SECONDS")]
        access_token_ttl: Option<i64>,
        /// rotating (default) or long-lived (SuperID: no rotation, ends with the tenant's approval).
        #[arg(long)]
        refresh_mode: Option<String>,
        /// Opt in to a grace period (0-120 s) in which a rotated-out refresh token may be retried
        /// and gets the same successor back. The default, 0, is strict one-time use: any reuse
        /// revokes the whole grant. A grace period tolerates lost responses, at the cost of
        /// letting a stolen token be used once more within it without alarm.
        #[arg(long, value_name = "SECONDS")]
        refresh_grace: Option<i64>,
        /// required (default) or optional. Optional is SuperID legacy for confidential apps
        /// only: a request without PKCE must then be OpenID Connect with a nonce.
        #[arg(long, value_parser = ["required", "optional"])]
        pkce: Option<String>,
    },
    /// A signing key of the app's own (published in JWKS), or its rotation.
    #[command(subcommand)]
    Key(AppKeyCmd),
    /// Add an integration point (webapi, services88, webhook-agent, system-token, erp-sync-agent).
    Entitlement {
        client_id: String,
        entitlement: String,
        /// Why the app needs it (shown to the platform administrator for restricted ones).
        #[arg(long)]
        justification: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
enum AppKeyCmd {
    /// Sign this app's tokens with a key pair dedicated to it.
    Enable {
        client_id: String,
        #[arg(long, default_value = "RS256")]
        alg: String,
    },
    Rotate {
        client_id: String,
    },
    List {
        client_id: String,
    },
}

#[derive(Subcommand, Debug)]
enum SecretCmd {
    /// Issue a new client secret (shown once; at most two active).
    New {
        client_id: String,
        #[arg(long, value_name = "DAYS")]
        expires_in_days: Option<i64>,
    },
    Revoke {
        client_id: String,
        secret_id: String,
    },
    List {
        client_id: String,
    },
}

#[derive(Subcommand, Debug)]
enum CertCmd {
    /// Upload a public key: PEM, X.509 (PEM or DER), JWK, or .NET <RSAKeyValue> XML.
    Add {
        client_id: String,
        file: PathBuf,
        #[arg(long, value_name = "DAYS")]
        expires_in_days: Option<i64>,
    },
    /// Generate an RSA key pair; the private key is printed once, as PEM and as RSA XML.
    Generate {
        client_id: String,
        #[arg(long, value_name = "DAYS")]
        expires_in_days: Option<i64>,
    },
    Revoke {
        client_id: String,
        cert_id: String,
    },
    List {
        client_id: String,
    },
}

#[derive(Subcommand, Debug)]
enum RedirectCmd {
    Add {
        client_id: String,
        uri: String,
        /// redirect (default), post-logout, cors or resource.
        #[arg(long, default_value = "redirect")]
        kind: String,
    },
    Remove {
        client_id: String,
        uri: String,
        #[arg(long, default_value = "redirect")]
        kind: String,
    },
}

#[derive(Subcommand, Debug)]
enum TenantCmd {
    Add {
        #[arg(long)]
        ctx: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        serial: Option<i64>,
        /// The partner that owns this tenant (its private apps admit this tenant's users).
        #[arg(long)]
        partner: Option<String>,
    },
    List,
    /// Approve an app for the whole tenant (as its administrator would on the approval page).
    Approve {
        #[arg(long)]
        ctx: String,
        #[arg(long)]
        client_id: String,
    },
    /// End an app's approval: its refresh tokens and system token in the tenant end too.
    Revoke {
        #[arg(long)]
        ctx: String,
        #[arg(long)]
        client_id: String,
    },
    /// Refuse an app for the tenant.
    Deny {
        #[arg(long)]
        ctx: String,
        #[arg(long)]
        client_id: String,
    },
}

#[derive(Subcommand, Debug)]
enum UserCmd {
    /// Add a user to a tenant; the password is read from standard input.
    Add {
        #[arg(long)]
        email: String,
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        name: Option<String>,
        /// Make the user an administrator of the tenant.
        #[arg(long)]
        admin: bool,
        /// Read the password from standard input (required: passwords never go on the command line).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Grant or remove the platform administrator flag.
    PlatformAdmin {
        #[arg(long)]
        email: String,
        #[arg(long)]
        revoke: bool,
    },
    Show {
        email: String,
    },
}

#[derive(Subcommand, Debug)]
enum KeysCmd {
    List,
    /// Promote the published next key to current, retire the current one, publish a new next.
    Rotate {
        #[arg(long, default_value = "RS256")]
        alg: String,
    },
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
        Command::Partner(cmd) => partner(config, json, cmd).await,
        Command::App(cmd) => app(config, json, cmd).await,
        Command::Tenant(cmd) => tenant(config, json, cmd).await,
        Command::User(cmd) => user(config, json, cmd).await,
        Command::Keys(cmd) => keys(config, json, cmd).await,
        Command::Credential(cmd) => credential(config, json, cmd).await,
        Command::Resource(cmd) => {
            let state = open(config).await?;
            match cmd {
                ResourceCmd::Add { identifier, name, partner } => {
                    let r =
                        state.registry.register_resource_server(&identifier, &name, partner.as_deref(), ACTOR).await?;
                    print(json, &r, || {
                        let owner = r.owner_partner_id.as_deref().unwrap_or("the platform");
                        format!("resource server {} registered (owner: {owner})", r.identifier)
                    })
                }
                ResourceCmd::Grant { identifier, client_id } => {
                    state.registry.grant_resource(&identifier, &client_id, ACTOR).await?;
                    print(json, &json!({ "identifier": identifier, "client_id": client_id }), || {
                        format!("{client_id} may now ask for tokens for {identifier}")
                    })
                }
            }
        }
        Command::Registration(RegistrationCmd::Token(RegistrationTokenCmd::Create { expires_in_hours })) => {
            if !(1..=24 * 365).contains(&expires_in_hours) {
                anyhow::bail!("--expires-in-hours must be between 1 and 8760");
            }
            let state = open(config).await?;
            let (token, expires_at) = crate::oidc::registration::create_initial_token(&state, expires_in_hours).await?;
            print(json, &json!({ "token": token, "expires_at": expires_at }), || token.clone())
        }
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
    if state.directory.partners().await.map(|p| p.is_empty()).unwrap_or(false) {
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

async fn partner(config: Config, json: bool, cmd: PartnerCmd) -> anyhow::Result<()> {
    let state = open(config).await?;
    match cmd {
        PartnerCmd::Add { name } => {
            let p = state.directory.add_partner(&name, ACTOR).await?;
            print(json, &p, || format!("partner {} created: {}", p.id, p.name))
        }
        PartnerCmd::List => {
            let ps = state.directory.partners().await?;
            print(json, &ps, || ps.iter().map(|p| format!("{}  {}", p.id, p.name)).collect::<Vec<_>>().join("\n"))
        }
        PartnerCmd::Member { partner, email } => {
            state.directory.add_partner_member(&partner, &email, ACTOR).await?;
            print(json, &json!({ "partner": partner, "email": email }), || {
                format!("{email} is now a developer of partner {partner}")
            })
        }
    }
}

async fn app(config: Config, json: bool, cmd: AppCmd) -> anyhow::Result<()> {
    let state = open(config).await?;
    let registry = &state.registry;
    match cmd {
        AppCmd::Create { partner, template, name, redirect_uris, public, private: _ } => {
            let template = Template::parse(&template)?;
            let access = if public { Access::Public } else { Access::Private };
            let created = registry
                .create(
                    NewApp {
                        partner_id: partner,
                        name,
                        template,
                        redirect_uris,
                        access,
                        technical_contact: None,
                        justification: None,
                    },
                    ACTOR,
                )
                .await?;
            print(json, &created, || {
                let mut out = format!("app created: {}\nclient_id:     {}\n", created.app.name, created.app.client_id);
                match &created.client_secret {
                    Some(s) => out.push_str(&format!(
                        "client_secret: {}\n\nThe secret is shown only now. Store it safely; it cannot be shown again.",
                        s.secret.expose()
                    )),
                    None => out.push_str("client_secret: none (public client: use PKCE)"),
                }
                out
            })
        }
        AppCmd::Show { client_id } => {
            let app = registry.get(&client_id).await?;
            let secrets = registry.secrets(&client_id).await?;
            let certificates = registry.certificates(&client_id).await?;
            let body = json!({ "app": app, "secrets": secrets, "certificates": certificates });
            print(json, &body, || serde_json::to_string_pretty(&body).unwrap_or_default())
        }
        AppCmd::List { partner } => {
            let apps = registry.list(partner.as_deref()).await?;
            print(json, &apps, || {
                apps.iter()
                    .map(|a| format!("{}  {:<16} {}", a.client_id, a.template.as_str(), a.name))
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        AppCmd::Secret(SecretCmd::New { client_id, expires_in_days }) => {
            let s = registry.new_secret(&client_id, expires_in_days, ACTOR).await?;
            print(json, &s, || {
                format!(
                    "secret {}: {}\n\nThe secret is shown only now. Store it safely; it cannot be shown again.",
                    s.id,
                    s.secret.expose()
                )
            })
        }
        AppCmd::Secret(SecretCmd::Revoke { client_id, secret_id }) => {
            registry.revoke_secret(&client_id, &secret_id, ACTOR).await?;
            print(json, &json!({ "revoked": secret_id }), || format!("secret {secret_id} revoked"))
        }
        AppCmd::Secret(SecretCmd::List { client_id }) => {
            let secrets = registry.secrets(&client_id).await?;
            print(json, &secrets, || {
                secrets
                    .iter()
                    .map(|s| format!("{}  …{}  {}", s.id, s.hint, if s.active { "active" } else { "inactive" }))
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        AppCmd::Cert(CertCmd::Add { client_id, file, expires_in_days }) => {
            let bytes = read_upload(&file)?;
            let expires_at = days_from_now(&state, expires_in_days)?;
            let cert = registry.add_certificate(&client_id, &bytes, expires_at, ACTOR).await?;
            print(json, &cert, || format!("certificate {} added (kid {}, {})", cert.id, cert.kid, cert.kty))
        }
        AppCmd::Cert(CertCmd::Generate { client_id, expires_in_days }) => {
            let expires_at = days_from_now(&state, expires_in_days)?;
            let (cert, private) = registry.generate_certificate(&client_id, expires_at, ACTOR).await?;
            let body = json!({
                "certificate": cert,
                "private_key_pem": private.pem.expose(),
                "private_key_rsa_xml": private.rsa_xml.expose(),
            });
            print(json, &body, || {
                format!(
                    "certificate {} generated (kid {})\n\nPrivate key (shown only now):\n{}\n{}\n",
                    cert.id,
                    cert.kid,
                    private.pem.expose(),
                    private.rsa_xml.expose()
                )
            })
        }
        AppCmd::Cert(CertCmd::Revoke { client_id, cert_id }) => {
            registry.revoke_certificate(&client_id, &cert_id, ACTOR).await?;
            print(json, &json!({ "revoked": cert_id }), || format!("certificate {cert_id} revoked"))
        }
        AppCmd::Cert(CertCmd::List { client_id }) => {
            let certs = registry.certificates(&client_id).await?;
            print(json, &certs, || {
                certs.iter().map(|c| format!("{}  {}  {}", c.id, c.kid, c.kty)).collect::<Vec<_>>().join("\n")
            })
        }
        AppCmd::Set { client_id, token_format, signing_alg, access_token_ttl, refresh_mode, refresh_grace, pkce } => {
            if refresh_grace.is_some_and(|g| g < 0) {
                return Err(crate::error::Error::invalid("refresh-grace", "must be between 0 and 120 seconds").into());
            }
            let format = token_format.as_deref().map(crate::apps::TokenFormat::parse).transpose()?;
            let refresh_mode = refresh_mode.as_deref().map(crate::apps::RefreshMode::parse).transpose()?;
            let algs: Vec<&str> = state.config.signing_algs.iter().map(|a| a.as_str()).collect();
            let app = registry
                .set_token_settings(
                    &client_id,
                    TokenSettings {
                        format,
                        signing_alg: signing_alg.as_deref(),
                        access_token_ttl,
                        refresh_mode,
                        refresh_grace_secs: refresh_grace,
                        require_pkce: pkce.as_deref().map(|p| p == "required"),
                    },
                    &algs,
                    ACTOR,
                )
                .await?;
            print(json, &app, || {
                format!("{}: tokens are {} signed with {}", app.client_id, app.token_format.as_str(), app.signing_alg)
            })
        }
        AppCmd::Entitlement { client_id, entitlement, justification } => {
            let e = crate::apps::Entitlement::parse(&entitlement)?;
            let app = registry.add_entitlement(&client_id, e, justification.as_deref(), ACTOR).await?;
            print(json, &app, || format!("{client_id}: {entitlement} added"))
        }
        AppCmd::Key(AppKeyCmd::Enable { client_id, alg }) => {
            let app = registry.get(&client_id).await?;
            state.keys.enable_app_key(&app.id, Alg::parse(&alg)?).await?;
            let keys = state.keys.list_for(Some(&app.id)).await?;
            print(json, &keys, || format!("{client_id} now has a signing key of its own ({alg})"))
        }
        AppCmd::Key(AppKeyCmd::Rotate { client_id }) => {
            let app = registry.get(&client_id).await?;
            let alg = state.keys.app_signer(&app.id).map(|k| k.alg).ok_or_else(|| {
                anyhow::anyhow!("{client_id} has no signing key of its own; run `app key enable` first")
            })?;
            let current = state.keys.rotate_app(&app.id, alg, ACTOR).await?;
            print(json, &current, || format!("{client_id}: {} is now the current key", current.kid))
        }
        AppCmd::Key(AppKeyCmd::List { client_id }) => {
            let app = registry.get(&client_id).await?;
            let keys = state.keys.list_for(Some(&app.id)).await?;
            print(json, &keys, || {
                keys.iter().map(|k| format!("{}  {:<6} {}", k.kid, k.alg, k.state)).collect::<Vec<_>>().join("\n")
            })
        }
        AppCmd::Redirect(RedirectCmd::Add { client_id, uri, kind }) => {
            let app = registry.add_uri(&client_id, UriKind::parse(&kind)?, &uri, ACTOR).await?;
            print(json, &app, || format!("{kind} URI added: {uri}"))
        }
        AppCmd::Redirect(RedirectCmd::Remove { client_id, uri, kind }) => {
            let app = registry.remove_uri(&client_id, UriKind::parse(&kind)?, &uri, ACTOR).await?;
            print(json, &app, || format!("{kind} URI removed: {uri}"))
        }
    }
}

fn read_upload(file: &PathBuf) -> anyhow::Result<Vec<u8>> {
    let meta = std::fs::metadata(file).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
    if meta.len() > crate::apps::certificate::MAX_UPLOAD_BYTES as u64 {
        anyhow::bail!(
            "{} is larger than {} KiB; a certificate is a few KiB",
            file.display(),
            crate::apps::certificate::MAX_UPLOAD_BYTES / 1024
        );
    }
    std::fs::read(file).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))
}

fn days_from_now(state: &AppState, days: Option<i64>) -> anyhow::Result<Option<i64>> {
    match days {
        None => Ok(None),
        Some(d) if (1..=3650).contains(&d) => Ok(Some(state.clock.now() + d * 86_400)),
        Some(_) => anyhow::bail!("--expires-in-days must be between 1 and 3650"),
    }
}

async fn tenant(config: Config, json: bool, cmd: TenantCmd) -> anyhow::Result<()> {
    let state = open(config).await?;
    match cmd {
        TenantCmd::Add { ctx, name, serial, partner } => {
            let t = state.directory.add_tenant(&ctx, &name, serial, partner.as_deref(), ACTOR).await?;
            print(json, &t, || format!("tenant {} (serial {}) created: {}", t.ctx, t.serial, t.name))
        }
        TenantCmd::Approve { ctx, client_id } => {
            let app = state.registry.get(&client_id).await?;
            state.directory.approve_app(&ctx, &app, None, ACTOR).await?;
            print(json, &json!({ "tenant": ctx, "client_id": client_id, "status": "approved" }), || {
                format!("{ctx} approved app {client_id}")
            })
        }
        TenantCmd::Revoke { ctx, client_id } => {
            let app = state.registry.get(&client_id).await?;
            state.directory.end_approval(&ctx, &app, crate::tenants::ApprovalEnd::Revoked, ACTOR).await?;
            print(json, &json!({ "tenant": ctx, "client_id": client_id, "status": "revoked" }), || {
                format!("{ctx} revoked app {client_id}")
            })
        }
        TenantCmd::Deny { ctx, client_id } => {
            let app = state.registry.get(&client_id).await?;
            state.directory.end_approval(&ctx, &app, crate::tenants::ApprovalEnd::Denied, ACTOR).await?;
            print(json, &json!({ "tenant": ctx, "client_id": client_id, "status": "denied" }), || {
                format!("{ctx} denied app {client_id}")
            })
        }
        TenantCmd::List => {
            let ts = state.directory.tenants().await?;
            print(json, &ts, || {
                ts.iter().map(|t| format!("{:<12} {:>8}  {}", t.ctx, t.serial, t.name)).collect::<Vec<_>>().join("\n")
            })
        }
    }
}

async fn user(config: Config, json: bool, cmd: UserCmd) -> anyhow::Result<()> {
    let state = open(config).await?;
    match cmd {
        UserCmd::Add { email, tenant, name, admin, password_stdin: _ } => {
            let mut password = String::new();
            std::io::stdin()
                .take(4096)
                .read_to_string(&mut password)
                .map_err(|e| anyhow::anyhow!("cannot read the password from standard input: {e}"))?;
            let password = password.trim_end_matches(['\n', '\r']).to_string();
            let u =
                state.directory.add_user(&email, name.as_deref(), &tenant, admin, Secret::new(password), ACTOR).await?;
            print(json, &u, || {
                format!("user {} is a{} member of {tenant}", u.email, if admin { "n administrator and" } else { "" })
            })
        }
        UserCmd::PlatformAdmin { email, revoke } => {
            let u = state.directory.set_platform_admin(&email, !revoke).await?;
            print(json, &u, || format!("{}: platform administrator = {}", u.email, u.platform_admin))
        }
        UserCmd::Show { email } => {
            let u = state.directory.user(&email).await?;
            let memberships = state.directory.memberships(&u.id).await?;
            let body = json!({ "user": u, "memberships": memberships });
            print(json, &body, || serde_json::to_string_pretty(&body).unwrap_or_default())
        }
    }
}

async fn keys(config: Config, json: bool, cmd: KeysCmd) -> anyhow::Result<()> {
    let state = open(config).await?;
    match cmd {
        KeysCmd::List => {
            let keys = state.keys.list().await?;
            print(json, &keys, || {
                keys.iter().map(|k| format!("{}  {:<6} {}", k.kid, k.alg, k.state)).collect::<Vec<_>>().join("\n")
            })
        }
        KeysCmd::Rotate { alg } => {
            let current = state.keys.rotate(Alg::parse(&alg)?, ACTOR).await?;
            print(json, &current, || format!("{} rotated: {} is now current", current.alg, current.kid))
        }
    }
}

async fn credential(config: Config, json: bool, cmd: CredentialCmd) -> anyhow::Result<()> {
    use crate::tenants::credentials;
    let state = open(config).await?;
    match cmd {
        CredentialCmd::Create { email, tenant, client_ids, expires_in_days } => {
            let issued = credentials::create(&state, &email, &tenant, &client_ids, expires_in_days, ACTOR).await?;
            print(json, &issued, || {
                format!(
                    "credential {} created for {email}\n\n{}\n\nThe credential is shown only now. Store it safely; it cannot be shown again.",
                    issued.credential.id,
                    issued.jwt.expose()
                )
            })
        }
        CredentialCmd::List { email } => {
            let list = credentials::list(&state, &email).await?;
            print(json, &list, || {
                list.iter()
                    .map(|c| {
                        format!(
                            "{}  {}  {}  {}",
                            c.id,
                            c.tenant,
                            c.client_ids.join(","),
                            if c.revoked_at.is_some() { "revoked" } else { "active" }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        CredentialCmd::Revoke { id } => {
            credentials::revoke(&state, &id, ACTOR).await?;
            print(json, &json!({ "revoked": id }), || format!("credential {id} revoked"))
        }
    }
}
