//! Dynamic client registration metadata (RFC 7591, OIDC Dynamic Client Registration):
//! the request body through `http::register::object` (JSON object or refusal) and
//! `oauth::registration::plan`, which checks every member (application type, grant and response
//! types, authentication method, jwks through `jose::certificate::parse`, redirect and
//! post-logout URIs through `apps::redirect_uri::validate`, ID token alg, name) before anything
//! is stored. `plan` reads only the configuration; the `Provider` it is given sits on an
//! in-memory SQLite database made once per process and never touched while fuzzing.
//!
//! Inputs are any bytes, or metadata built from fuzz data over the members the server knows.
//! Beyond "no panic": an accepted plan is consistent (public client iff `none`; private_key_jwt
//! has keys; every URI and key passes the registration checks; web clients of an https issuer
//! use https; the name is at most 100 characters) and normalising is idempotent: the metadata
//! it echoes back plans to itself.

#![no_main]

use std::sync::OnceLock;

use arbitrary::{Arbitrary, Unstructured};
use axum::body::Bytes;
use gatehouse::apps::{redirect_uri, ClientType, Template};
use gatehouse::jose::certificate;
use gatehouse::clock::Clock;
use gatehouse::config::{Config, Overrides};
use gatehouse::vocab::GrantType;
use gatehouse::oauth::registration::{plan, Plan};
use gatehouse::provider::Provider;
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Map, Value};

/// Two servers: one with an https issuer (production rules), one on loopback http.
fn states() -> &'static (Provider, Provider) {
    static STATES: OnceLock<(tokio::runtime::Runtime, Provider, Provider)> = OnceLock::new();
    let (_, production, development) = STATES.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let env = |name: &str| -> Option<String> {
            match name {
                "GATEHOUSE_ISSUER" => Some("https://id.example.com".into()),
                // One connection: each in-memory SQLite connection is its own database.
                "GATEHOUSE_DATABASE_URL" => Some("sqlite::memory:".into()),
                "GATEHOUSE_DB_MAX_CONNECTIONS" => Some("1".into()),
                "GATEHOUSE_KEY_STORE" => Some("database".into()),
                "GATEHOUSE_KEY_ENCRYPTION_KEY" => Some(gatehouse::crypto::b64(&[7u8; 32])),
                _ => None,
            }
        };
        let config = Config::load(&Overrides::default(), env).expect("fuzz configuration");
        let production = runtime.block_on(Provider::open(config, Clock::System)).expect("server state");
        let mut dev_config = (*production.config).clone();
        dev_config.issuer = "http://127.0.0.1:8080".into();
        let development = Provider { config: std::sync::Arc::new(dev_config), ..production.clone() };
        (runtime, production, development)
    });
    // Safe to hand out without the runtime: `plan` never awaits.
    static PAIR: OnceLock<(Provider, Provider)> = OnceLock::new();
    PAIR.get_or_init(|| (production.clone(), development.clone()))
}

const GRANTS: &[&str] = &[
    "authorization_code",
    "refresh_token",
    "client_credentials",
    "urn:ietf:params:oauth:grant-type:jwt-bearer",
    "implicit",
    "password",
    "urn:ietf:params:oauth:grant-type:device_code",
];
const METHODS: &[&str] = &["client_secret_basic", "client_secret_post", "private_key_jwt", "none", "tls_client_auth"];
const ALGS: &[&str] = &["RS256", "ES256", "EdDSA", "PS256", "none", "HS256"];

/// A member: absent, null, a value from the list, or some other JSON.
#[derive(Arbitrary, Debug)]
enum Member<'a> {
    Absent,
    Null,
    Known(u8),
    Text(&'a str),
    Number(i64),
    List(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
struct Built<'a> {
    application_type: Member<'a>,
    grant_types: Member<'a>,
    response_types: Member<'a>,
    token_endpoint_auth_method: Member<'a>,
    id_token_signed_response_alg: Member<'a>,
    client_name: Member<'a>,
    redirect_uris: Vec<&'a str>,
    redirect_uris_absent: bool,
    post_logout_redirect_uris: Vec<&'a str>,
    /// JWKs given as text (parsed as JSON if they are JSON).
    jwks: Option<Vec<&'a str>>,
    jwks_uri: bool,
    extra: Option<(&'a str, &'a str)>,
}

fn member(m: &Member<'_>, known: &[&str], list: bool) -> Option<Value> {
    Some(match m {
        Member::Absent => return None,
        Member::Null => Value::Null,
        Member::Known(i) if list => json!([known[*i as usize % known.len()]]),
        Member::Known(i) => json!(known[*i as usize % known.len()]),
        Member::Text(s) => json!(s),
        Member::Number(n) => json!(n),
        Member::List(items) => json!(items.iter().map(|i| known[*i as usize % known.len()]).collect::<Vec<_>>()),
    })
}

fn build(b: &Built<'_>) -> Map<String, Value> {
    let mut meta = Map::new();
    let mut put = |name: &str, v: Option<Value>| {
        if let Some(v) = v {
            meta.insert(name.into(), v);
        }
    };
    put("application_type", member(&b.application_type, &["web", "native", "service"], false));
    put("grant_types", member(&b.grant_types, GRANTS, true));
    put("response_types", member(&b.response_types, &["code", "token", "id_token", "code id_token"], true));
    put("token_endpoint_auth_method", member(&b.token_endpoint_auth_method, METHODS, false));
    put("id_token_signed_response_alg", member(&b.id_token_signed_response_alg, ALGS, false));
    put("client_name", member(&b.client_name, &["Example", ""], false));
    if !b.redirect_uris_absent {
        put("redirect_uris", Some(json!(b.redirect_uris)));
    }
    if !b.post_logout_redirect_uris.is_empty() {
        put("post_logout_redirect_uris", Some(json!(b.post_logout_redirect_uris)));
    }
    if let Some(keys) = &b.jwks {
        let keys: Vec<Value> = keys.iter().map(|k| serde_json::from_str(k).unwrap_or_else(|_| json!(k))).collect();
        put("jwks", Some(json!({ "keys": keys })));
    }
    if b.jwks_uri {
        put("jwks_uri", Some(json!("https://rp.example.com/jwks")));
    }
    if let Some((k, v)) = b.extra {
        put(k, Some(json!(v)));
    }
    meta
}

fn check(state: &Provider, meta: &Map<String, Value>) {
    let Ok(p) = plan(state, meta) else { return };
    check_plan(state, &p);
    let again =
        plan(state, &p.metadata).unwrap_or_else(|e| panic!("the echoed metadata is refused: {}", e.description));
    assert_eq!(again.metadata, p.metadata, "normalising is not idempotent");
    assert_eq!(again.redirect_uris, p.redirect_uris);
    assert_eq!(again.jwks, p.jwks);
    assert_eq!(again.template, p.template);
    assert_eq!(again.overrides.grant_types, p.overrides.grant_types);
    assert_eq!(again.overrides.client_type, p.overrides.client_type);
}

fn check_plan(state: &Provider, p: &Plan) {
    let m = &p.metadata;
    let method = m["token_endpoint_auth_method"].as_str().expect("method echoed");
    let native = m["application_type"] == json!("native");
    assert_eq!(p.overrides.client_type == Some(ClientType::Public), method == "none");
    if method == "private_key_jwt" {
        assert!(!p.jwks.is_empty() || p.overrides.jwks_uri.is_some());
    }
    assert!(p.jwks.is_empty() || p.overrides.jwks_uri.is_none(), "jwks and jwks_uri both accepted");
    for jwk in &p.jwks {
        certificate::parse(jwk.as_bytes()).expect("an accepted jwk uploads");
    }
    let https_issuer = state.config.issuer.starts_with("https://");
    for uri in p.redirect_uris.iter().chain(&p.overrides.post_logout_redirect_uris) {
        redirect_uri::validate(uri, native).expect("an accepted URI validates");
        if https_issuer && !native {
            assert!(!uri.starts_with("http:"), "web client of an https issuer with {uri}");
        }
    }
    let grants = p.overrides.grant_types.as_ref().expect("grants are set");
    if grants.contains(&GrantType::AuthorizationCode) {
        assert!(!p.redirect_uris.is_empty());
    }
    assert_eq!(p.template == Template::Native, native);
    assert!(p.name.chars().count() <= 100);
    assert_eq!(m["client_name"], json!(p.name));
}

// The first byte picks the kind of input: even, the rest is the request body (seeds are
// written this way); odd, the rest builds metadata over the members the server knows.
fuzz_target!(|data: &[u8]| {
    let (production, development) = states();
    let Some((mode, rest)) = data.split_first() else { return };
    let meta = match mode % 2 {
        0 => match gatehouse::http::register::object(Ok(Bytes::copy_from_slice(rest))) {
            Ok(m) => m,
            Err(_) => {
                assert!(!matches!(serde_json::from_slice::<Value>(rest), Ok(Value::Object(_))));
                return;
            }
        },
        _ => match Built::arbitrary_take_rest(Unstructured::new(rest)) {
            Ok(b) => build(&b),
            Err(_) => return,
        },
    };
    check(production, &meta);
    check(development, &meta);
});
