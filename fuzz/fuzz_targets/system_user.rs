//! SuperID's signed system token, `"<system token>.<yyyyMMddHHmm>.<base64 signature>"`, as
//! `superid::system_user::authenticate` reads it once the store has named the app, tenant and
//! system token: split on the last two dots, `superid::system_user::parse_timestamp`,
//! `crypto::b64_decode`, and `PublicKey::verify("RS256", …)` with the app's key (uploaded as
//! .NET RSA XML through `apps::certificate::parse`, stored and read back as a JWK).
//!
//! `authenticate` itself needs the store (secret digest, tenant, authorization record,
//! certificates, replay claim), so its two `rsplit_once` calls are repeated here; everything
//! else is the server's own code.
//!
//! Beyond "no panic":
//! - `parse_timestamp` accepts exactly the 12-digit strings that name a real UTC minute, and
//!   its Unix time formats back (`clock::utc_minute`) to the same minute;
//! - a made-up signature never verifies; a signature by the app's key verifies iff the signed
//!   string was not changed afterwards.

#![no_main]

mod common;

use std::sync::OnceLock;

use arbitrary::{Arbitrary, Unstructured};
use gatehouse::jose::certificate;
use gatehouse::jose::PublicKey;
use gatehouse::clock::utc_minute;
use gatehouse::crypto::{b64, b64_decode};
use gatehouse::superid::system_user::parse_timestamp;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Stamp<'a> {
    Minute { y: u16, m: u8, d: u8, h: u8, min: u8 },
    Raw(&'a str),
}

/// Signed by the app's key, then maybe changed in one byte.
#[derive(Arbitrary, Debug)]
struct Signed<'a> {
    tamper: Option<(u16, u8)>,
    stamp: Stamp<'a>,
    token: &'a str,
}

struct App {
    key: common::TestKey,
    /// The key as the server holds it after an RSA XML upload.
    registered: PublicKey,
}

fn app() -> &'static App {
    static APP: OnceLock<App> = OnceLock::new();
    APP.get_or_init(|| {
        let key = common::rsa_key();
        let PublicKey::Rsa { n, e } = &key.public else { unreachable!() };
        let xml = format!("<RSAKeyValue><Modulus>{}</Modulus><Exponent>{}</Exponent></RSAKeyValue>", b64(n), b64(e));
        let parsed = certificate::parse(xml.as_bytes()).expect("an RSA XML upload");
        let stored = parsed.key.to_jwk().to_string();
        let registered = PublicKey::from_jwk(&serde_json::from_str(&stored).unwrap()).unwrap();
        assert_eq!(registered, key.public);
        App { key, registered }
    })
}

/// Whether `yyyyMMddHHmm` names a real minute, by the Gregorian calendar.
fn real_minute(s: &str) -> bool {
    let n = |r: std::ops::Range<usize>| s[r].parse::<u32>().unwrap();
    let (y, m, d, h, min) = (n(0..4), n(4..6), n(6..8), n(8..10), n(10..12));
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d) && h < 24 && min < 60
}

fn check_timestamp(s: &str) {
    let twelve_digits = s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit());
    match parse_timestamp(s) {
        Some(t) => {
            assert!(twelve_digits && real_minute(s), "accepted {s:?}");
            let want = format!("{}-{}-{} {}:{} UTC", &s[0..4], &s[4..6], &s[6..8], &s[8..10], &s[10..12]);
            assert_eq!(utc_minute(t), want, "{s:?} gave {t}");
            assert_eq!(t % 60, 0);
        }
        None => assert!(!(twelve_digits && real_minute(s)), "refused {s:?}"),
    }
}

/// What `authenticate` does with the string after the store lookups, up to the signature.
/// Returns whether the signature verifies.
fn read(signed: &str) -> Option<bool> {
    let (signed_part, signature) = signed.rsplit_once('.')?;
    let (_token, timestamp) = signed_part.rsplit_once('.')?;
    check_timestamp(timestamp);
    let signature = b64_decode(signature)?;
    Some(app().registered.verify("RS256", signed_part.as_bytes(), &signature))
}

fn raw(s: &str) {
    check_timestamp(s);
    assert_ne!(read(s), Some(true), "a made-up signed system token verified: {s:?}");
}

fn signed(Signed { token, stamp, tamper }: Signed<'_>) {
    let stamp = match stamp {
        // Mostly real minutes, with each field able to go one past its range.
        Stamp::Minute { y, m, d, h, min } => {
            format!("{:04}{:02}{:02}{:02}{:02}", y % 10_000, m % 14, d % 33, h % 25, min % 61)
        }
        Stamp::Raw(s) => s.to_string(),
    };
    let message = format!("{token}.{stamp}");
    let signature = app().key.sign("RS256", message.as_bytes());
    let mut signed = format!("{message}.{}", b64(&signature)).into_bytes();
    let mut tampered = false;
    if let Some((at, byte)) = tamper {
        let at = at as usize % signed.len();
        tampered = signed[at] != byte;
        signed[at] = byte;
    }
    let Ok(signed) = String::from_utf8(signed) else { return };
    let verified = read(&signed);
    if tampered {
        assert_ne!(verified, Some(true), "a changed signed system token verified: {signed:?}");
    } else if !stamp.contains('.') {
        assert_eq!(verified, Some(true), "a signed system token did not verify: {signed:?}");
    }
}

// The first byte picks the kind of input: even, the rest is the signed string (seeds are
// written this way); odd, the rest is a token and timestamp that the app's key signs.
fuzz_target!(|data: &[u8]| match data.split_first() {
    Some((mode, rest)) if mode % 2 == 0 => raw(&String::from_utf8_lossy(rest)),
    Some((_, rest)) => {
        if let Ok(s) = Signed::arbitrary_take_rest(Unstructured::new(rest)) {
            signed(s)
        }
    }
    None => {}
});
