//! Redirect URIs: registration checks (`apps::redirect_uri::validate`, `validate_origin`) and
//! the match an authorization request makes (`App::redirect_uri_matches` →
//! `apps::redirect_uri::matches`), including the native loopback any-port rule.
//!
//! Beyond "no panic": matching without the loopback rule is byte equality; matching is
//! symmetric and reflexive; a requested URI accepted under the loopback rule, parsed the way a
//! browser parses it, goes to the same loopback host, path and query as the registered one
//! and carries no user info or fragment; a URI valid for a web app is valid for a native one;
//! a valid URI parses and has no fragment, user info or forbidden scheme.

#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use gatehouse::apps::redirect_uri::{matches, validate, validate_origin, MAX_URI_LEN};
use gatehouse::apps::{Access, App, AppKind, ClientType, RefreshMode, Template, TokenFormat};
use libfuzzer_sys::fuzz_target;
use url::{Host, Url};

#[derive(Arbitrary, Debug)]
enum Requested<'a> {
    /// Any string at all.
    Raw(&'a str),
    /// A registered URI with a port (any digits) put after its host prefix.
    WithPort { of: u8, port: &'a str },
    /// A registered URI with one byte replaced or inserted.
    Edit { of: u8, at: u16, byte: u8, insert: bool },
    /// A registered URI with text appended.
    Suffix { of: u8, suffix: &'a str },
}

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    registered: Vec<&'a str>,
    requested: Requested<'a>,
    native: bool,
}

const FORBIDDEN: &[&str] = &["javascript", "data", "file", "vbscript", "about", "blob", "filesystem"];

fn pick<'a>(registered: &[&'a str], of: u8) -> Option<&'a str> {
    (!registered.is_empty()).then(|| registered[of as usize % registered.len()])
}

fn requested(input: &Input<'_>) -> Option<String> {
    Some(match &input.requested {
        Requested::Raw(s) => s.to_string(),
        Requested::WithPort { of, port } => {
            let r = pick(&input.registered, *of)?;
            let host_end = ["http://127.0.0.1", "http://[::1]"]
                .iter()
                .find(|p| r.starts_with(*p))
                .map(|p| p.len())
                .or_else(|| r.find("://").map(|i| i + 3 + r[i + 3..].find('/').unwrap_or(r.len() - i - 3)))?;
            format!("{}:{}{}", &r[..host_end], port, &r[host_end..])
        }
        Requested::Edit { of, at, byte, insert } => {
            let mut b = pick(&input.registered, *of)?.as_bytes().to_vec();
            let at = *at as usize % (b.len() + 1);
            if *insert || at == b.len() {
                b.insert(at, *byte);
            } else {
                b[at] = *byte;
            }
            String::from_utf8(b).ok()?
        }
        Requested::Suffix { of, suffix } => format!("{}{}", pick(&input.registered, *of)?, suffix),
    })
}

fn loopback(url: &Url) -> Option<Host<&str>> {
    match url.host()? {
        h @ Host::Ipv4(ip) if ip.is_loopback() => Some(h),
        h @ Host::Ipv6(ip) if ip.is_loopback() => Some(h),
        _ => None,
    }
}

fn check_valid(uri: &str, native: bool) {
    let web = validate(uri, false);
    let nat = validate(uri, true);
    if web.is_ok() {
        assert!(nat.is_ok(), "valid for a web app but not for a native one: {uri:?}: {nat:?}");
    }
    if (if native { nat } else { web }).is_err() {
        return;
    }
    assert!(!uri.is_empty() && uri.len() <= MAX_URI_LEN);
    let url = Url::parse(uri).unwrap_or_else(|e| panic!("validated {uri:?} does not parse: {e}"));
    assert!(url.fragment().is_none(), "validated {uri:?} has a fragment");
    assert!(url.username().is_empty() && url.password().is_none(), "validated {uri:?} has user info");
    assert!(!FORBIDDEN.contains(&url.scheme()), "validated {uri:?} has a forbidden scheme");
    match url.scheme() {
        "https" => {}
        "http" => assert!(
            matches!(url.host_str(), Some("localhost")) || loopback(&url).is_some(),
            "validated plain-http {uri:?} is not for a loopback host"
        ),
        other => assert!(native && other.contains('.'), "validated {uri:?} has scheme {other}"),
    }
}

fn check_match(registered: &str, requested: &str, native: bool) {
    let exact = matches(registered, requested, false);
    assert_eq!(exact, registered == requested, "exact match is not byte equality: {registered:?} {requested:?}");
    assert!(matches(registered, registered, true) && matches(registered, registered, false));
    let any_port = matches(registered, requested, true);
    assert_eq!(any_port, matches(requested, registered, true), "not symmetric: {registered:?} {requested:?}");
    assert!(!exact || any_port);
    if !any_port || exact || validate(registered, native).is_err() {
        return;
    }
    // Accepted only through the loopback rule: the browser must land on the same place.
    let reg = Url::parse(registered).expect("validated");
    let req = Url::parse(requested)
        .unwrap_or_else(|e| panic!("{requested:?} matched {registered:?} under the loopback rule but is no URL: {e}"));
    assert_eq!(req.scheme(), "http", "{requested:?} matched {registered:?}");
    let host = loopback(&req).unwrap_or_else(|| panic!("{requested:?} matched {registered:?} on a non-loopback host"));
    assert_eq!(Some(host), loopback(&reg), "{requested:?} matched {registered:?} on another host");
    assert!(req.username().is_empty() && req.password().is_none(), "{requested:?} has user info");
    assert_eq!(req.path(), reg.path(), "{requested:?} matched {registered:?} with another path");
    assert_eq!(req.query(), reg.query(), "{requested:?} matched {registered:?} with another query");
    assert!(req.fragment().is_none(), "{requested:?} matched {registered:?} with a fragment");
}

fn app(redirect_uris: Vec<String>, native: bool) -> App {
    App {
        id: "a".into(),
        client_id: "c".into(),
        partner_id: "p".into(),
        name: "fuzz".into(),
        template: if native { Template::Native } else { Template::Web },
        kind: AppKind::Standard,
        custom_tenant_id: None,
        access: Access::Public,
        client_type: if native { ClientType::Public } else { ClientType::Confidential },
        grant_types: Vec::new(),
        loopback_any_port: native,
        require_pkce: true,
        allow_plain_pkce: false,
        require_par: false,
        require_dpop: false,
        token_format: TokenFormat::Jwt,
        access_token_ttl: None,
        refresh_mode: RefreshMode::Rotating,
        refresh_grace_secs: None,
        jwks_uri: None,
        token_auth_method: None,
        signing_alg: "RS256".into(),
        technical_contact: None,
        redirect_uris,
        post_logout_redirect_uris: Vec::new(),
        cors_origins: Vec::new(),
        resources: Vec::new(),
        backchannel_logout_uris: Vec::new(),
        entitlements: Vec::new(),
        created_at: 0,
        updated_at: 0,
        revision: 0,
    }
}

// The first byte picks the kind of input: even, the rest is lines of text, the requested URI
// then the registered ones, for a native app if bit 1 is set (seeds are written this way);
// odd, the rest builds the lists and derives the requested URI from a registered one.
fuzz_target!(|data: &[u8]| {
    let Some((mode, rest)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(rest);
    let input = if mode % 2 == 0 {
        let mut lines = text.split('\n');
        let requested = Requested::Raw(lines.next().unwrap_or(""));
        Input { registered: lines.collect(), requested, native: mode & 2 != 0 }
    } else {
        match Input::arbitrary_take_rest(Unstructured::new(rest)) {
            Ok(i) => i,
            Err(_) => return,
        }
    };
    check(&input);
});

fn check(input: &Input<'_>) {
    let Some(requested) = requested(input) else { return };
    for r in &input.registered {
        check_valid(r, input.native);
        check_match(r, &requested, input.native);
        if let Ok(()) = validate_origin(r) {
            let url = Url::parse(r).expect("a valid origin parses");
            assert_eq!(url.origin().ascii_serialization(), *r);
            assert!(url.scheme() == "https" || url.scheme() == "http");
        }
    }
    check_valid(&requested, input.native);
    let app = app(input.registered.iter().map(|s| s.to_string()).collect(), input.native);
    let expected = input.registered.iter().any(|r| matches(r, &requested, input.native));
    assert_eq!(app.redirect_uri_matches(&requested), expected);
}
