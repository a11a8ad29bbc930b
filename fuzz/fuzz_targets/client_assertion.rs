//! `private_key_jwt` client assertions up to the signature check, as
//! `oauth::client_auth::authenticate` → `by_assertion` runs them without the store:
//! `oauth::jws::Jws::parse`, `Jws::{str_claim, int_claim}`,
//! `oauth::client_auth::check_assertion_claims`, and `Jws::verify_with` over registered keys
//! (uploaded through `apps::certificate::parse`, read back through `PublicKey::from_jwk`).
//! The app lookup and the `jti` replay claim need the store and are left to the integration
//! tests.
//!
//! Two kinds of input: any string; and a JWT built from fuzz data (header, claims, signed by
//! one of the registered keys, maybe with one byte changed afterwards). Beyond "no panic":
//! - a JWT that carries or names a key (jku, jwk, x5u, x5c) or has `crit` is refused;
//! - a string the fuzzer made up never verifies; a built JWT verifies iff it was not changed,
//!   its `alg` is the one it was signed with and its `kid` (if any) is the signer's;
//! - the claim checks accept exactly a single-string `aud` naming this server, an `exp` in
//!   (now − skew, now + 5 min + skew], and `nbf`/`iat` no later than now + skew.

#![no_main]

mod common;

use arbitrary::{Arbitrary, Unstructured};
use gatehouse::oauth::client_auth::{check_assertion_claims, CLOCK_SKEW, MAX_ASSERTION_LIFETIME};
use gatehouse::jose::jws::Jws;
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Map, Value};

const ISSUER: &str = "https://id.example.com";
const TOKEN_ENDPOINT: &str = "https://id.example.com/token";
const NOW: i64 = 1_800_000_000;

#[derive(Arbitrary, Debug)]
enum Alg<'a> {
    /// The alg the key signs with.
    Own,
    /// Another alg that exists.
    Named(u8),
    Raw(&'a str),
    Missing,
}

#[derive(Arbitrary, Debug)]
enum Kid<'a> {
    None,
    Signer,
    Other(&'a str),
    NotAString(i64),
}

#[derive(Arbitrary, Debug)]
enum Time<'a> {
    Absent,
    FromNow(i16),
    Int(i64),
    Float(f64),
    Text(&'a str),
}

#[derive(Arbitrary, Debug)]
enum Aud<'a> {
    Absent,
    Issuer,
    TokenEndpoint,
    Other(&'a str),
    Array,
    Number(i64),
}

#[derive(Arbitrary, Debug)]
struct Built<'a> {
    key: u8,
    alg: Alg<'a>,
    kid: Kid<'a>,
    /// Extra header members: a name chosen from a list, and a value.
    header_extra: Vec<(u8, &'a str)>,
    iss: Option<&'a str>,
    sub_is_iss: bool,
    aud: Aud<'a>,
    exp: Time<'a>,
    nbf: Time<'a>,
    iat: Time<'a>,
    jti: Option<&'a str>,
    /// Changes one byte of the finished JWT.
    tamper: Option<(u16, u8)>,
}

const HEADER_NAMES: &[&str] = &["typ", "cty", "jku", "jwk", "x5u", "x5c", "x5t", "crit", "b64", "zip", "enc"];
const ALGS: &[&str] = &["RS256", "PS256", "ES256", "ES384", "EdDSA", "HS256", "none", "RS384", "ES512"];

fn time(t: &Time<'_>) -> Option<Value> {
    match t {
        Time::Absent => None,
        // Within about ±8.5 minutes of now, where the boundaries are.
        Time::FromNow(d) => Some(json!(NOW + i64::from(*d) / 64)),
        Time::Int(i) => Some(json!(i)),
        Time::Float(f) => Some(json!(f)),
        Time::Text(s) => Some(json!(s)),
    }
}

/// What `check_assertion_claims` must decide, worked out from the claims alone.
fn expected_claims(claims: &Map<String, Value>) -> Result<i64, ()> {
    match claims.get("aud") {
        Some(Value::String(a)) if a == ISSUER || a == TOKEN_ENDPOINT => {}
        _ => return Err(()),
    }
    // A number, truncated towards zero (and saturated) if it has a fraction.
    let num = |name: &str| -> Result<Option<i64>, ()> {
        match claims.get(name) {
            None => Ok(None),
            Some(v) => v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)).map(Some).ok_or(()),
        }
    };
    let exp = num("exp")?.ok_or(())?;
    if !(NOW - CLOCK_SKEW < exp && exp <= NOW + MAX_ASSERTION_LIFETIME + CLOCK_SKEW) {
        return Err(());
    }
    if num("nbf")?.is_some_and(|t| t > NOW + CLOCK_SKEW) || num("iat")?.is_some_and(|t| t > NOW + CLOCK_SKEW) {
        return Err(());
    }
    Ok(exp)
}

fn check_claims(jws: &Jws<'_>) {
    let got = check_assertion_claims(jws, &[ISSUER, TOKEN_ENDPOINT], NOW);
    let want = expected_claims(&jws.claims);
    match (got, want) {
        (Ok(a), Ok(b)) => assert_eq!(a, b),
        (Err(_), Err(())) => {}
        (got, _) => panic!("check_assertion_claims gave {got:?} for {:?}", jws.claims),
    }
    for name in ["iss", "sub", "jti"] {
        assert_eq!(jws.str_claim(name), jws.claims.get(name).and_then(Value::as_str));
    }
}

fn registered() -> impl Iterator<Item = &'static gatehouse::jose::ClientKey> {
    common::keys().iter().map(|k| &k.client)
}

fn raw(token: &str) {
    let Ok(jws) = Jws::parse(token) else { return };
    check_claims(&jws);
    assert!(jws.verify_with(registered()).is_err(), "a made-up JWT verified: {token:?}");
}

fn built(b: &Built<'_>) {
    let keys = common::keys();
    let index = match b.key % 8 {
        0..=2 => 0,
        3 => 1,
        4 | 5 => 2,
        _ => 3,
    };
    let signer = &keys[index];
    let own = if index == 3 && b.key % 8 == 7 { "PS256" } else { common::DEFAULT_ALGS[index] };
    let mut header = Map::new();
    let alg = match &b.alg {
        Alg::Own => Some(own),
        Alg::Named(i) => Some(ALGS[*i as usize % ALGS.len()]),
        Alg::Raw(s) => Some(*s),
        Alg::Missing => None,
    };
    if let Some(a) = alg {
        header.insert("alg".into(), json!(a));
    }
    match &b.kid {
        Kid::None => {}
        Kid::Signer => {
            header.insert("kid".into(), json!(signer.kid));
        }
        Kid::Other(s) => {
            header.insert("kid".into(), json!(s));
        }
        Kid::NotAString(i) => {
            header.insert("kid".into(), json!(i));
        }
    }
    for (name, value) in &b.header_extra {
        header.insert(HEADER_NAMES[*name as usize % HEADER_NAMES.len()].into(), json!(value));
    }
    let mut claims = Map::new();
    if let Some(iss) = b.iss {
        claims.insert("iss".into(), json!(iss));
        claims.insert("sub".into(), if b.sub_is_iss { json!(iss) } else { json!("someone else") });
    }
    match &b.aud {
        Aud::Absent => {}
        Aud::Issuer => {
            claims.insert("aud".into(), json!(ISSUER));
        }
        Aud::TokenEndpoint => {
            claims.insert("aud".into(), json!(TOKEN_ENDPOINT));
        }
        Aud::Other(s) => {
            claims.insert("aud".into(), json!(s));
        }
        Aud::Array => {
            claims.insert("aud".into(), json!([ISSUER]));
        }
        Aud::Number(n) => {
            claims.insert("aud".into(), json!(n));
        }
    }
    for (name, t) in [("exp", &b.exp), ("nbf", &b.nbf), ("iat", &b.iat)] {
        if let Some(v) = time(t) {
            claims.insert(name.into(), v);
        }
    }
    if let Some(jti) = b.jti {
        claims.insert("jti".into(), json!(jti));
    }
    let signing_input = format!(
        "{}.{}",
        common::b64url(Value::Object(header.clone()).to_string().as_bytes()),
        common::b64url(Value::Object(claims.clone()).to_string().as_bytes())
    );
    let signature = signer.sign(own, signing_input.as_bytes());
    let mut token = format!("{signing_input}.{}", common::b64url(&signature)).into_bytes();
    let mut tampered = false;
    if let Some((at, byte)) = b.tamper {
        let at = at as usize % token.len();
        tampered = token[at] != byte;
        token[at] = byte;
    }
    let Ok(token) = String::from_utf8(token) else { return };

    let parsed = Jws::parse(&token);
    if tampered {
        if let Ok(jws) = parsed {
            check_claims(&jws);
            assert!(jws.verify_with(registered()).is_err(), "a changed JWT verified: {token:?}");
        }
        return;
    }
    let carries_key = header.keys().any(|k| ["jku", "jwk", "x5u", "x5c", "crit"].contains(&k.as_str()));
    let well_formed = alg.is_some() && !matches!(b.kid, Kid::NotAString(_)) && !carries_key && token.len() <= 8 * 1024;
    let jws = match parsed {
        Ok(jws) => {
            assert!(well_formed, "accepted a JWT with header {header:?}");
            jws
        }
        Err(e) => {
            assert!(!well_formed, "refused a well-formed JWT ({e}) with header {header:?}");
            return;
        }
    };
    assert_eq!(Some(jws.alg.as_str()), alg);
    // Compared after one trip through JSON text: floats need not survive it bit for bit.
    let reread: Map<String, Value> = serde_json::from_str(&Value::Object(claims).to_string()).unwrap();
    assert_eq!(jws.claims, reread);
    check_claims(&jws);
    let kid_ok = match &b.kid {
        Kid::None | Kid::Signer => true,
        Kid::Other(s) => *s == signer.kid,
        Kid::NotAString(_) => unreachable!(),
    };
    let should_verify = alg == Some(own) && kid_ok;
    match jws.verify_with(registered()) {
        Ok(kid) => {
            assert!(should_verify, "verified with alg {alg:?} kid {:?}", b.kid);
            assert_eq!(kid, signer.kid);
        }
        Err(e) => assert!(!should_verify, "did not verify ({e}): alg {alg:?} kid {:?}", b.kid),
    }
}

// The first byte picks the kind of input: even, the rest is the string (seeds are written
// this way); odd, the rest builds a JWT.
fuzz_target!(|data: &[u8]| match data.split_first() {
    Some((mode, rest)) if mode % 2 == 0 => raw(&String::from_utf8_lossy(rest)),
    Some((_, rest)) => {
        if let Ok(b) = Built::arbitrary_take_rest(Unstructured::new(rest)) {
            built(&b)
        }
    }
    None => {}
});
