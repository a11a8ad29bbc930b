//! `gatehouse --server URL --token TOKEN …`: the commands an automation host runs, through the
//! admin API (`/api/v1`) with a token of the app it runs as (`admin:partner` for a partner's
//! apps, `admin:platform` for tenants), so the host needs no database credentials. A command
//! the API does not offer is refused with a sentence saying so; the database mode (no
//! `--server`) stays for bootstrap, migrations and the rest.

use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use serde_json::{json, Value};

use super::app::{AppCmd, AppKeyCmd, CertCmd, SecretCmd, WebhookCmd};
use super::keys::KeysCmd;
use super::partner::{PartnerCmd, PartnerWebhookCmd};
use super::tenant::{IdpCmd, TenantCmd};
use super::user::UserCmd;
use super::{print, Command};

pub(super) struct Remote {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Remote {
    pub(super) fn new(server: &str, token: &str) -> anyhow::Result<Remote> {
        let base = server.trim_end_matches('/').to_string();
        let url = url::Url::parse(&base).context("--server is not a URL")?;
        let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
        if url.scheme() != "https" && !(url.scheme() == "http" && loopback) {
            bail!("--server must be https (http only on this machine's loopback)");
        }
        if token.is_empty() {
            bail!("--server needs --token (or GATEHOUSE_TOKEN): an access token of an app with admin:partner or admin:platform");
        }
        crate::outbound::install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("gatehouse-cli/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Remote { base, token: token.to_string(), http })
    }

    /// One call; a problem document (RFC 9457) becomes an error with its status and detail.
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let mut req = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.header(reqwest::header::CONTENT_TYPE, "application/json").body(b.to_string());
        }
        let res = req.send().await.with_context(|| format!("cannot reach {}", self.base))?;
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if !status.is_success() {
            let detail = body["detail"].as_str().or(body["title"].as_str()).unwrap_or(text.as_str());
            bail!("the server answered {}: {detail}", status.as_u16());
        }
        Ok(body)
    }

    /// Every item of a cursor-paged list.
    async fn all(&self, path: &str) -> anyhow::Result<Vec<Value>> {
        let mut items = Vec::new();
        let mut next = path.to_string();
        for _ in 0..1_000 {
            let page = self.call(reqwest::Method::GET, &next, None).await?;
            items.extend(page["items"].as_array().cloned().unwrap_or_default());
            match page["next_cursor"].as_str() {
                Some(c) => next = format!("{path}?cursor={c}"),
                None => return Ok(items),
            }
        }
        bail!("the list did not end after 1000 pages")
    }
}

fn seg(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn lines(items: &[Value], line: impl Fn(&Value) -> String) -> String {
    items.iter().map(line).collect::<Vec<_>>().join("\n")
}

fn read_stdin(what: &str) -> anyhow::Result<String> {
    use std::io::Read;
    let mut s = String::new();
    std::io::stdin()
        .take(4096)
        .read_to_string(&mut s)
        .map_err(|e| anyhow!("cannot read {what} from standard input: {e}"))?;
    Ok(s.trim_end_matches(['\n', '\r']).to_string())
}

pub(super) async fn run(r: Remote, json: bool, cmd: Command) -> anyhow::Result<()> {
    use reqwest::Method;
    match cmd {
        Command::App(AppCmd::List { .. }) => {
            let apps = r.all("/api/v1/apps").await?;
            print(json, &apps, || {
                lines(&apps, |a| {
                    format!(
                        "{}  {}  {}",
                        a["client_id"].as_str().unwrap_or(""),
                        a["template"].as_str().unwrap_or(""),
                        a["name"].as_str().unwrap_or("")
                    )
                })
            })
        }
        Command::App(AppCmd::Show { client_id }) => {
            let app = r.call(Method::GET, &format!("/api/v1/apps/{}", seg(&client_id)), None).await?;
            print(json, &app, || serde_json::to_string_pretty(&app).unwrap_or_default())
        }
        Command::App(AppCmd::Create { partner, template, name, redirect_uris, public, private: _ }) => {
            let body = json!({
                "name": name, "template": template, "redirect_uris": redirect_uris,
                "access": if public { "public" } else { "private" }, "partner_id": partner,
            });
            let created = r.call(Method::POST, "/api/v1/apps", Some(body)).await?;
            print(json, &created, || {
                format!(
                    "app created\n  client_id:     {}\n  client_secret: {}   (shown only now)",
                    created["app"]["client_id"].as_str().unwrap_or(""),
                    created["client_secret"].as_str().unwrap_or("none (public client)")
                )
            })
        }
        Command::App(AppCmd::Secret(cmd)) => match cmd {
            SecretCmd::New { client_id, expires_in_days } => {
                let path = format!("/api/v1/apps/{}/secrets", seg(&client_id));
                let issued = r.call(Method::POST, &path, Some(json!({ "expires_in_days": expires_in_days }))).await?;
                print(json, &issued, || {
                    format!(
                        "secret {} issued: {}   (shown only now)",
                        issued["id"].as_str().unwrap_or(""),
                        issued["secret"].as_str().unwrap_or("")
                    )
                })
            }
            SecretCmd::Revoke { client_id, secret_id } => {
                r.call(Method::DELETE, &format!("/api/v1/apps/{}/secrets/{}", seg(&client_id), seg(&secret_id)), None)
                    .await?;
                print(json, &json!({ "revoked": secret_id }), || format!("secret {secret_id} revoked"))
            }
            SecretCmd::List { client_id } => {
                let all = r.call(Method::GET, &format!("/api/v1/apps/{}/secrets", seg(&client_id)), None).await?;
                let items =
                    all["items"].as_array().cloned().unwrap_or_else(|| all.as_array().cloned().unwrap_or_default());
                print(json, &items, || {
                    lines(&items, |s| {
                        format!(
                            "{}  …{}  active: {}",
                            s["id"].as_str().unwrap_or(""),
                            s["hint"].as_str().unwrap_or(""),
                            s["active"]
                        )
                    })
                })
            }
        },
        Command::App(AppCmd::Cert(cmd)) => match cmd {
            CertCmd::Add { client_id, file, expires_in_days } => {
                let key = std::fs::read_to_string(&file).with_context(|| {
                    format!(
                        "cannot read {} as text (PEM, JWK or <RSAKeyValue>; DER goes in without --server)",
                        file.display()
                    )
                })?;
                let expires_at = expires_in_days.map(|d| crate::clock::Clock::System.now() + d * 86_400);
                let path = format!("/api/v1/apps/{}/certificates", seg(&client_id));
                let cert = r.call(Method::POST, &path, Some(json!({ "key": key, "expires_at": expires_at }))).await?;
                print(json, &cert, || {
                    format!(
                        "certificate {} added (kid {})",
                        cert["id"].as_str().unwrap_or(""),
                        cert["kid"].as_str().unwrap_or("")
                    )
                })
            }
            CertCmd::Revoke { client_id, cert_id } => {
                let path = format!("/api/v1/apps/{}/certificates/{}", seg(&client_id), seg(&cert_id));
                r.call(Method::DELETE, &path, None).await?;
                print(json, &json!({ "revoked": cert_id }), || format!("certificate {cert_id} revoked"))
            }
            CertCmd::List { client_id } => {
                let all = r.call(Method::GET, &format!("/api/v1/apps/{}/certificates", seg(&client_id)), None).await?;
                let items =
                    all["items"].as_array().cloned().unwrap_or_else(|| all.as_array().cloned().unwrap_or_default());
                print(json, &items, || {
                    lines(&items, |c| {
                        format!(
                            "{}  kid {}  {}",
                            c["id"].as_str().unwrap_or(""),
                            c["kid"].as_str().unwrap_or(""),
                            c["format"].as_str().unwrap_or("")
                        )
                    })
                })
            }
            CertCmd::Generate { .. } => not_offered("app cert generate"),
        },
        Command::App(AppCmd::Webhook(cmd)) => {
            let path = |client_id: &str| format!("/api/v1/apps/{}/webhooks", seg(client_id));
            match cmd {
                WebhookCmd::Add { client_id, url } => {
                    let hook = r.call(Method::POST, &path(&client_id), Some(json!({ "url": url }))).await?;
                    print_new_webhook(json, &hook)
                }
                WebhookCmd::List { client_id } => {
                    let all = r.call(Method::GET, &path(&client_id), None).await?;
                    let items =
                        all["items"].as_array().cloned().unwrap_or_else(|| all.as_array().cloned().unwrap_or_default());
                    print(json, &items, || {
                        lines(&items, |h| {
                            format!("{}  {}", h["id"].as_str().unwrap_or(""), h["url"].as_str().unwrap_or(""))
                        })
                    })
                }
                WebhookCmd::Remove { client_id, url } => {
                    let all = r.call(Method::GET, &path(&client_id), None).await?;
                    let items =
                        all["items"].as_array().cloned().unwrap_or_else(|| all.as_array().cloned().unwrap_or_default());
                    let id = items
                        .iter()
                        .find(|h| h["url"] == url.as_str())
                        .and_then(|h| h["id"].as_str())
                        .ok_or_else(|| anyhow!("app {client_id} has no webhook {url}"))?
                        .to_string();
                    r.call(Method::DELETE, &format!("{}/{}", path(&client_id), seg(&id)), None).await?;
                    print(json, &json!({ "removed": url }), || format!("webhook {url} removed"))
                }
            }
        }
        Command::Tenant(TenantCmd::Add { ctx, name, serial, partner, mfa, admin_email }) => {
            if mfa.is_some() {
                bail!("--mfa is not offered by the admin API yet; set it without --server");
            }
            let admin_email = admin_email.ok_or_else(|| {
                anyhow!("with --server, --admin-email is required: the tenant's first administrator is invited by mail")
            })?;
            let body = json!({ "ctx": ctx, "name": name, "serial": serial, "owner_partner_id": partner, "administrator_email": admin_email });
            let created = r.call(Method::POST, "/api/v1/tenants", Some(body)).await?;
            print(json, &created, || {
                format!(
                    "tenant {} created; {} is invited as its administrator{}",
                    created["tenant"]["ctx"].as_str().unwrap_or(""),
                    created["invitation"]["email"].as_str().unwrap_or(""),
                    if created["invitation"]["delivered"] == true { "" } else { " (the mail could not be sent)" }
                )
            })
        }
        Command::Tenant(TenantCmd::Idp(cmd)) => match cmd {
            IdpCmd::Add {
                ctx,
                issuer,
                client_id,
                domains,
                admin_group,
                allow_passwords,
                private_key_jwt,
                email_claim,
                name_claim,
                groups_claim,
            } => {
                let secret = if private_key_jwt { None } else { Some(read_stdin("the client secret")?) };
                let body = json!({
                    "issuer": issuer, "client_id": client_id, "client_secret": secret, "domains": domains,
                    "admin_group": admin_group, "passwords_allowed": allow_passwords,
                    "email_claim": email_claim, "name_claim": name_claim, "groups_claim": groups_claim,
                });
                let path = format!("/api/v1/tenants/{}/identity-providers", seg(&ctx));
                let added = r.call(Method::POST, &path, Some(body)).await?;
                print(json, &added, || format!("{ctx}: identity provider {} added", added["id"].as_str().unwrap_or("")))
            }
            IdpCmd::List { ctx } => {
                let all =
                    r.call(Method::GET, &format!("/api/v1/tenants/{}/identity-providers", seg(&ctx)), None).await?;
                let items = all.as_array().cloned().unwrap_or_default();
                print(json, &items, || {
                    lines(&items, |p| {
                        format!(
                            "{}  {}  {}",
                            p["id"].as_str().unwrap_or(""),
                            p["issuer"].as_str().unwrap_or(""),
                            p["domains"]
                        )
                    })
                })
            }
            IdpCmd::Remove { ctx, id } => {
                let path = format!("/api/v1/tenants/{}/identity-providers/{}", seg(&ctx), seg(&id));
                r.call(Method::DELETE, &path, None).await?;
                print(json, &json!({ "tenant": ctx, "removed": id }), || {
                    format!("{ctx}: identity provider {id} removed")
                })
            }
            IdpCmd::Prove { ctx, id, domain } => {
                let path = format!(
                    "/api/v1/tenants/{}/identity-providers/{}/domains/{}/proof",
                    seg(&ctx),
                    seg(&id),
                    seg(&domain)
                );
                r.call(Method::POST, &path, None).await?;
                print(json, &json!({ "tenant": ctx, "id": id, "proven": domain }), || {
                    format!("{ctx}: {domain} is proven; its people sign in at identity provider {id}")
                })
            }
        },
        Command::Tenant(TenantCmd::Approve { ctx, client_id }) => decide(&r, json, &ctx, &client_id, "approve").await,
        Command::Tenant(TenantCmd::Revoke { ctx, client_id }) => decide(&r, json, &ctx, &client_id, "revoke").await,
        Command::Tenant(TenantCmd::Deny { ctx, client_id }) => decide(&r, json, &ctx, &client_id, "deny").await,
        Command::User(UserCmd::Invite { email, tenant, admin }) => {
            let body = json!({ "email": email, "role": if admin { "admin" } else { "member" } });
            let path = format!("/api/v1/tenants/{}/invitations", seg(&tenant));
            let sent = r.call(Method::POST, &path, Some(body)).await?;
            print(json, &sent, || {
                let email = sent["email"].as_str().unwrap_or("");
                match sent["delivered"] == true {
                    true => format!("{tenant}: {email} is invited"),
                    false => format!("{tenant}: {email} is invited, but the mail could not be sent"),
                }
            })
        }
        Command::User(UserCmd::Role { email, tenant, member }) => {
            let body = json!({ "role": if member { "member" } else { "admin" } });
            let path = format!("/api/v1/tenants/{}/members/{}", seg(&tenant), seg(&email));
            let changed = r.call(Method::PATCH, &path, Some(body)).await?;
            print(json, &changed, || format!("{tenant}: {email} is {}", changed["role"].as_str().unwrap_or("")))
        }
        Command::User(UserCmd::Remove { email, tenant }) => {
            let path = format!("/api/v1/tenants/{}/members/{}", seg(&tenant), seg(&email));
            r.call(Method::DELETE, &path, None).await?;
            print(json, &json!({ "tenant": tenant, "removed": email }), || format!("{tenant}: {email} removed"))
        }
        Command::App(AppCmd::Key(cmd)) => {
            let (client_id, method, tail, body) = match cmd {
                AppKeyCmd::List { client_id } => (client_id, Method::GET, "", None),
                AppKeyCmd::Enable { client_id, alg } => (client_id, Method::POST, "", Some(json!({ "alg": alg }))),
                AppKeyCmd::Rotate { client_id } => (client_id, Method::POST, "/rotate", None),
            };
            let answer = r.call(method, &format!("/api/v1/apps/{}/keys{tail}", seg(&client_id)), body).await?;
            let items = answer.as_array().cloned().unwrap_or_else(|| vec![answer.clone()]);
            print(json, &answer, || {
                lines(&items, |k| {
                    format!(
                        "{}  {:<6} {}",
                        k["kid"].as_str().unwrap_or(""),
                        k["alg"].as_str().unwrap_or(""),
                        k["state"].as_str().unwrap_or("")
                    )
                })
            })
        }
        Command::Partner(PartnerCmd::Add { name }) => {
            let p = r.call(Method::POST, "/api/v1/partners", Some(json!({ "name": name }))).await?;
            print(json, &p, || format!("partner {} created: {}", p["id"].as_str().unwrap_or(""), name))
        }
        Command::Partner(PartnerCmd::List) => {
            let all = r.call(Method::GET, "/api/v1/partners", None).await?;
            let items = all.as_array().cloned().unwrap_or_default();
            print(json, &items, || {
                lines(&items, |p| format!("{}  {}", p["id"].as_str().unwrap_or(""), p["name"].as_str().unwrap_or("")))
            })
        }
        Command::Partner(PartnerCmd::Invite { partner, email }) => {
            let path = format!("/api/v1/partners/{}/developers", seg(&partner));
            let sent = r.call(Method::POST, &path, Some(json!({ "email": email }))).await?;
            print(json, &sent, || format!("{email} is invited to develop for partner {partner}"))
        }
        Command::Partner(PartnerCmd::Webhook(cmd)) => {
            let path = |partner: &str| format!("/api/v1/partners/{}/webhooks", seg(partner));
            match cmd {
                PartnerWebhookCmd::Add { partner, url } => {
                    let hook = r.call(Method::POST, &path(&partner), Some(json!({ "url": url }))).await?;
                    print_new_webhook(json, &hook)
                }
                PartnerWebhookCmd::List { partner } => {
                    let all = r.call(Method::GET, &path(&partner), None).await?;
                    let items = all.as_array().cloned().unwrap_or_default();
                    print(json, &items, || {
                        lines(&items, |h| {
                            format!("{}  {}", h["id"].as_str().unwrap_or(""), h["url"].as_str().unwrap_or(""))
                        })
                    })
                }
                PartnerWebhookCmd::Remove { partner, id } => {
                    r.call(Method::DELETE, &format!("{}/{}", path(&partner), seg(&id)), None).await?;
                    print(json, &json!({ "removed": id }), || format!("webhook {id} removed"))
                }
            }
        }
        Command::Keys(KeysCmd::List) => {
            let keys = r.call(Method::GET, "/api/v1/keys", None).await?;
            let items = keys.as_array().cloned().unwrap_or_default();
            print(json, &items, || {
                lines(&items, |k| {
                    format!(
                        "{}  {}  {}",
                        k["alg"].as_str().unwrap_or(""),
                        k["kid"].as_str().unwrap_or(""),
                        k["state"].as_str().unwrap_or("")
                    )
                })
            })
        }
        Command::Keys(KeysCmd::Rotate { alg }) => {
            let current = r.call(Method::POST, "/api/v1/keys/rotate", Some(json!({ "alg": alg }))).await?;
            print(json, &current, || {
                format!("{} rotated: {} is now current", alg, current["kid"].as_str().unwrap_or(""))
            })
        }
        other => {
            not_offered(&format!("{other:?}").split([' ', '(', '{']).next().unwrap_or("this command").to_lowercase())
        }
    }
}

/// A webhook the API just made, with its signing secret (shown only now).
fn print_new_webhook(json: bool, hook: &Value) -> anyhow::Result<()> {
    print(json, hook, || {
        format!(
            "webhook {} added; its signing secret (shown only now): {}",
            hook["id"].as_str().unwrap_or(""),
            hook["secret"].as_str().unwrap_or("")
        )
    })
}

fn not_offered(what: &str) -> anyhow::Result<()> {
    bail!(
        "`{what}` is not offered by the admin API; with --server only app list|show|create, app secret|cert|webhook|key, \
         partner add|list|invite|webhook, tenant add|approve|revoke|deny|idp, user invite|role|remove and keys run. Run it where the database is, \
         without --server"
    )
}

/// A tenant's decision about an app, through `PUT …/approvals/{client_id}`.
async fn decide(r: &Remote, json: bool, ctx: &str, client_id: &str, decision: &str) -> anyhow::Result<()> {
    let path = format!("/api/v1/tenants/{}/approvals/{}", seg(ctx), seg(client_id));
    let record = r.call(reqwest::Method::PUT, &path, Some(json!({ "decision": decision }))).await?;
    print(json, &record, || format!("{ctx}: {client_id} is {}", record["status"].as_str().unwrap_or("")))
}
