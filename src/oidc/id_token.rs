//! ID tokens (OIDC Core §2, §3.1.3.6) and the claims shared with userinfo (§5.1, §5.4), with
//! the SuperID claims under `http://schemes.superoffice.net/identity/`.

use serde_json::{json, Map, Value};

use crate::config::Config;
use crate::crypto::{b64url, sha256};
use crate::error::Error;
use crate::jose::Alg;
use crate::keys::Keys;
use crate::tenants::{Tenant, User};

pub const SUPERID: &str = "http://schemes.superoffice.net/identity/";

/// The SuperID claims an ID token can carry (under `SUPERID`), as discovery lists them.
pub const SUPERID_CLAIMS: [&str; 13] = [
    "ctx",
    "serial",
    "company_name",
    "is_administrator",
    "upn",
    "email",
    "associateid",
    "so_primary_email_address",
    "initials",
    "identityprovider",
    "webapi_url",
    "netserver_url",
    "system_token",
];

/// The SuperID URL claims of a tenant, from the configured templates.
pub fn tenant_urls(config: &crate::config::Config, tenant: &Tenant) -> Map<String, Value> {
    let mut c = Map::new();
    for (claim, template) in [("webapi_url", &config.webapi_url), ("netserver_url", &config.netserver_url)] {
        if let Some(t) = template {
            c.insert(format!("{SUPERID}{claim}"), json!(t.replace("{ctx}", &tenant.ctx)));
        }
    }
    c
}

/// The user claims a scope set releases (OIDC Core §5.4), plus the SuperID tenant claims.
pub fn user_claims(user: &User, tenant: Option<&Tenant>, is_admin: bool, scope: &[String]) -> Map<String, Value> {
    let has = |s: &str| scope.iter().any(|x| x == s);
    let mut c = Map::new();
    c.insert("sub".into(), json!(user.id));
    if has("profile") {
        c.insert("name".into(), json!(user.name));
        c.insert("preferred_username".into(), json!(user.email));
    }
    if has("email") {
        c.insert("email".into(), json!(user.email));
        // True once a link mailed to the address was used (an invitation, a verification or
        // a reset); an address an operator typed in is not verified.
        c.insert("email_verified".into(), json!(user.email_verified));
    }
    if let Some(t) = tenant {
        c.insert(format!("{SUPERID}ctx"), json!(t.ctx));
        c.insert(format!("{SUPERID}serial"), json!(t.serial.to_string()));
        c.insert(format!("{SUPERID}company_name"), json!(t.name));
        c.insert(format!("{SUPERID}is_administrator"), json!(if is_admin { "True" } else { "False" }));
        c.insert(format!("{SUPERID}upn"), json!(user.email));
        c.insert(format!("{SUPERID}email"), json!(user.email));
        // SuperID's associate id is a number (sent as a decimal string, like `serial`).
        c.insert(format!("{SUPERID}associateid"), json!(user.associate_id.to_string()));
        c.insert(format!("{SUPERID}so_primary_email_address"), json!(user.email));
        c.insert(format!("{SUPERID}initials"), json!(initials(&user.name)));
        // Who checked the password: we did (`sign` names a tenant's upstream provider instead).
        c.insert(format!("{SUPERID}identityprovider"), json!(LOCAL_IDENTITY_PROVIDER));
    }
    c
}

/// The `identityprovider` of people who sign in with a password of ours.
pub const LOCAL_IDENTITY_PROVIDER: &str = "gatehouse";

/// SuperID's `initials`: the first letter of each of the first three words of the name,
/// upper case ("Ada King Lovelace" → "AKL").
pub fn initials(name: &str) -> String {
    name.split_whitespace()
        .filter_map(|w| w.chars().find(|c| c.is_alphanumeric()))
        .take(3)
        .flat_map(char::to_uppercase)
        .collect()
}

/// `at_hash` (OIDC Core §3.1.3.6): the left half of the access token's hash, base64url. The
/// hash follows the ID token's `alg`: SHA-256 for RS256/PS256/ES256, SHA-512 for EdDSA
/// (Ed25519), per the OpenID errata.
pub fn at_hash(access_token: &str, alg: Alg) -> String {
    match alg {
        Alg::EdDSA => {
            let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA512, access_token.as_bytes());
            b64url(&d.as_ref()[..32])
        }
        _ => b64url(&sha256(access_token.as_bytes())[..16]),
    }
}

pub struct IdTokenInput<'a> {
    pub client_id: &'a str,
    pub signing_alg: &'a str,
    pub app_id: &'a str,
    pub user: &'a User,
    pub tenant: Option<&'a Tenant>,
    pub is_admin: bool,
    pub scope: &'a [String],
    pub nonce: Option<&'a str>,
    pub auth_time: i64,
    /// How the person signed in (RFC 8176 values, space-separated); `pwd` when unrecorded.
    pub amr: Option<&'a str>,
    /// The browser session the sign-in belongs to (OIDC Back-Channel Logout §2.1).
    pub sid: Option<&'a str>,
    pub access_token: &'a str,
    pub ttl: i64,
    /// SuperID's system token: only for a tenant administrator signing in to an app with the
    /// system-token entitlement.
    pub system_token: Option<&'a str>,
    /// The tenant's upstream provider the person signed in at (federation), for SuperID's
    /// `identityprovider`; None when they signed in here.
    pub identity_provider: Option<&'a str>,
}

/// Signs with the app's own key when it has one, else the server's current key of the app's
/// algorithm; `config` gives the issuer and the tenant URL templates.
pub fn sign(keys: &Keys, config: &Config, now: i64, i: IdTokenInput<'_>) -> Result<String, Error> {
    let mut c = user_claims(i.user, i.tenant, i.is_admin, i.scope);
    if let Some(t) = i.tenant {
        c.extend(tenant_urls(config, t));
        if let Some(idp) = i.identity_provider {
            c.insert(format!("{SUPERID}identityprovider"), json!(idp));
        }
    }
    c.insert("iss".into(), json!(config.issuer));
    c.insert("aud".into(), json!(i.client_id));
    c.insert("azp".into(), json!(i.client_id));
    c.insert("iat".into(), json!(now));
    c.insert("exp".into(), json!(now + i.ttl));
    c.insert("auth_time".into(), json!(i.auth_time));
    // OIDC Core §2: `amr` lists the methods used, `acr` names the level they reach.
    let amr = i.amr.unwrap_or(crate::tenants::factors::AMR_PASSWORD);
    c.insert("amr".into(), json!(amr.split(' ').filter(|m| !m.is_empty()).collect::<Vec<_>>()));
    c.insert("acr".into(), json!(crate::tenants::factors::acr_of(amr)));
    let key = match keys.app_signer(i.app_id) {
        Some(key) => key,
        None => {
            let alg = Alg::parse(i.signing_alg)?;
            keys.signer(alg).ok_or_else(|| Error::Internal(anyhow::anyhow!("no current {} key", alg.as_str())))?
        }
    };
    c.insert("at_hash".into(), json!(at_hash(i.access_token, key.alg)));
    if let Some(t) = i.system_token {
        c.insert(format!("{SUPERID}system_token"), json!(t));
    }
    if let Some(n) = i.nonce {
        c.insert("nonce".into(), json!(n));
    }
    if let Some(sid) = i.sid {
        c.insert("sid".into(), json!(sid));
    }
    Ok(key.sign_jwt("JWT", &Value::Object(c), keys.rng())?)
}
