//! `gatehouse app …`: apps, their secrets, certificates, URIs, keys and settings.

use std::path::PathBuf;

use clap::Subcommand;
use serde_json::json;

use super::{open, print, ACTOR};
use crate::apps::{Access, NewApp, Template, TokenSettings, UriKind};
use crate::config::Config;
use crate::jose::Alg;
use crate::AppState;

#[derive(Subcommand, Debug)]
pub(super) enum AppCmd {
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
    /// URLs told about the app's approvals, signed as Standard Webhooks.
    #[command(subcommand)]
    Webhook(WebhookCmd),
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
        /// required: authorization requests must be pushed first (RFC 9126 PAR); optional
        /// (default) also takes them in the browser's URL.
        #[arg(long, value_parser = ["required", "optional"])]
        par: Option<String>,
        /// required: every token request carries a DPoP proof and every token is bound to
        /// its key (RFC 9449); optional (default) binds tokens only when a proof is sent.
        #[arg(long, value_parser = ["required", "optional"])]
        dpop: Option<String>,
    },
    /// A signing key of the app's own (published in JWKS), or its rotation.
    #[command(subcommand)]
    Key(AppKeyCmd),
    /// Add an integration point (webapi, services88, webhook-agent, system-token, erp-sync-agent,
    /// act-for-users, act-for-administrators, token-exchange).
    Entitlement {
        client_id: String,
        entitlement: String,
        /// Why the app needs it (shown to the platform administrator for restricted ones).
        #[arg(long)]
        justification: Option<String>,
    },
    /// The platform administrator's decision on a restricted integration point that waits
    /// for one (as on the portal's administration page): approve or reject.
    Decide {
        client_id: String,
        entitlement: String,
        decision: String,
    },
}

#[derive(Subcommand, Debug)]
pub(super) enum AppKeyCmd {
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
pub(super) enum SecretCmd {
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
pub(super) enum CertCmd {
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
pub(super) enum WebhookCmd {
    /// Registers a URL; prints its signing secret (shown once).
    Add {
        client_id: String,
        url: String,
    },
    List {
        client_id: String,
    },
    Remove {
        client_id: String,
        url: String,
    },
}

#[derive(Subcommand, Debug)]
pub(super) enum RedirectCmd {
    Add {
        client_id: String,
        uri: String,
        /// redirect (default), post-logout, cors, resource or backchannel-logout (one URL).
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

pub(super) async fn app(config: Config, json: bool, cmd: AppCmd) -> anyhow::Result<()> {
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
        AppCmd::Set {
            client_id,
            token_format,
            signing_alg,
            access_token_ttl,
            refresh_mode,
            refresh_grace,
            pkce,
            par,
            dpop,
        } => {
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
                        require_par: par.as_deref().map(|p| p == "required"),
                        require_dpop: dpop.as_deref().map(|p| p == "required"),
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
        AppCmd::Decide { client_id, entitlement, decision } => {
            let e = crate::apps::Entitlement::parse(&entitlement)?;
            let approve = match decision.as_str() {
                "approve" => true,
                "reject" => false,
                _ => anyhow::bail!("the decision is approve or reject"),
            };
            let app = registry.decide_entitlement(&client_id, e, approve, ACTOR).await?;
            print(json, &app, || format!("{client_id}: {entitlement} {decision}d"))
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
            let current = state.keys.rotate_app(&app.id, &app.client_id, alg, ACTOR).await?;
            print(json, &current, || format!("{client_id}: {} is now the current key", current.kid))
        }
        AppCmd::Key(AppKeyCmd::List { client_id }) => {
            let app = registry.get(&client_id).await?;
            let keys = state.keys.list_for(Some(&app.id)).await?;
            print(json, &keys, || {
                keys.iter().map(|k| format!("{}  {:<6} {}", k.kid, k.alg, k.state)).collect::<Vec<_>>().join("\n")
            })
        }
        AppCmd::Webhook(WebhookCmd::Add { client_id, url }) => {
            let (hook, secret) = registry.add_webhook(&client_id, &url, ACTOR).await?;
            let out = json!({ "id": hook.id, "url": hook.url, "secret": secret });
            print(json, &out, || format!("webhook added: {url}\n  secret: {secret}   (shown only now)"))
        }
        AppCmd::Webhook(WebhookCmd::List { client_id }) => {
            let hooks = registry.webhooks(&client_id).await?;
            print(json, &hooks, || hooks.iter().map(|h| format!("{}  {}", h.id, h.url)).collect::<Vec<_>>().join("\n"))
        }
        AppCmd::Webhook(WebhookCmd::Remove { client_id, url }) => {
            registry.remove_webhook(&client_id, &url, ACTOR).await?;
            print(json, &json!({ "removed": url }), || format!("webhook removed: {url}"))
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

pub(super) fn read_upload(file: &PathBuf) -> anyhow::Result<Vec<u8>> {
    let meta = std::fs::metadata(file).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
    if meta.len() > crate::jose::certificate::MAX_UPLOAD_BYTES as u64 {
        anyhow::bail!(
            "{} is larger than {} KiB; a certificate is a few KiB",
            file.display(),
            crate::jose::certificate::MAX_UPLOAD_BYTES / 1024
        );
    }
    std::fs::read(file).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))
}

pub(super) fn days_from_now(state: &AppState, days: Option<i64>) -> anyhow::Result<Option<i64>> {
    match days {
        None => Ok(None),
        Some(d) if (1..=3650).contains(&d) => Ok(Some(state.clock.now() + d * 86_400)),
        Some(_) => anyhow::bail!("--expires-in-days must be between 1 and 3650"),
    }
}
