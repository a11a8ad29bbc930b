//! The failed-login throttle (OWASP ASVS V2.2.1; OWASP Authentication Cheat Sheet, login
//! throttling with device cookies): which counters an attempt counts on, what their counts
//! decide, and the signed device cookie that keeps a known browser out of other addresses'
//! failures. An account is slowed down when it is guessed at, never locked for everyone: only
//! the source doing the guessing is refused.

use std::net::IpAddr;

pub use crate::config::LOGIN_FAILURE_WINDOW as FAILURE_WINDOW;
/// One source (an address for one account, or one known device) is slowed down after this
/// many failures…
const SOURCE_SLOW_AFTER: i64 = 3;
/// …and refused (429) after this many.
const SOURCE_REFUSE_AFTER: i64 = 10;
/// An address guessing at many accounts (password spraying) is refused after this many. High,
/// because a whole office can share one address.
const ADDRESS_REFUSE_AFTER: i64 = 100;
/// An account guessed at from anywhere answers unknown devices more slowly after this many,
/// one second more for each as many again.
const ACCOUNT_SLOW_AFTER: i64 = 20;
/// The longest delay: the password pages' deadline allows it (see `http::deadline`).
const MAX_DELAY_SECS: i64 = 5;

/// The device cookie: set after a successful password login, for this long.
pub const DEVICE_COOKIE: &str = "gatehouse_device";
pub const DEVICE_TTL: i64 = 90 * 86_400;

/// The counters one attempt reserves, by key in `login_failures`.
pub struct Counters {
    /// This address for this account, or this known device.
    pub source: String,
    /// This address across accounts; none for a known device, which is not refused for what
    /// others at its address do.
    pub address: Option<String>,
    /// This account from anywhere.
    pub account: String,
}

impl Counters {
    /// `device` is the digest of a device cookie already verified for this account.
    pub fn new(email: &str, addr: Option<IpAddr>, device: Option<&str>) -> Counters {
        let addr = addr.map(|a| a.to_string()).unwrap_or_default();
        match device {
            Some(device) => Counters { source: format!("device:{device}"), address: None, account: account_key(email) },
            None => Counters {
                source: format!("pair:{addr}|{email}"),
                address: Some(format!("addr:{addr}")),
                account: account_key(email),
            },
        }
    }
}

fn account_key(email: &str) -> String {
    format!("user:{email}")
}

/// Earlier attempts in the window on each counter (this one not included).
#[derive(Debug, Clone, Copy, Default)]
pub struct Counts {
    pub source: i64,
    pub address: i64,
    pub account: i64,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Answer 429 without checking the password.
    Refuse,
    /// Check the password after this many seconds.
    Check { delay_secs: u64 },
}

/// A source already over its limit is refused on its own count: nothing more is counted for it,
/// so a storm from one source costs one write per attempt, not one per counter.
pub fn source_refused(source_count: i64) -> bool {
    source_count >= SOURCE_REFUSE_AFTER
}

/// What the counts decide. A known device is not slowed down by its account's failures
/// elsewhere.
pub fn verdict(c: Counts, known_device: bool) -> Verdict {
    if c.source >= SOURCE_REFUSE_AFTER || c.address >= ADDRESS_REFUSE_AFTER {
        return Verdict::Refuse;
    }
    let source_delay = (c.source - SOURCE_SLOW_AFTER + 1).max(0);
    let account_delay = match known_device {
        false if c.account >= ACCOUNT_SLOW_AFTER => 1 + (c.account - ACCOUNT_SLOW_AFTER) / ACCOUNT_SLOW_AFTER,
        _ => 0,
    };
    Verdict::Check { delay_secs: source_delay.max(account_delay).min(MAX_DELAY_SECS) as u64 }
}

/// A device cookie for `user_id`: `user_id.issued_at.HMAC(key, user_id, issued_at)`.
pub fn device_cookie(key: &[u8], user_id: &str, now: i64) -> String {
    format!("{user_id}.{now}.{}", crate::crypto::b64url(&device_mac(key, user_id, now)))
}

/// The digest that names a device cookie in the counters, when the cookie is ours, unexpired,
/// and was issued to `user_id`.
pub fn known_device(key: &[u8], cookie: &str, user_id: &str, now: i64) -> Option<String> {
    let mut parts = cookie.splitn(3, '.');
    let (id, issued, mac) = (parts.next()?, parts.next()?, parts.next()?);
    let issued: i64 = issued.parse().ok()?;
    let fresh = issued <= now + 60 && now - issued < DEVICE_TTL;
    let signed =
        crate::crypto::b64url_decode(mac).is_some_and(|m| crate::crypto::ct_eq(&m, &device_mac(key, id, issued)));
    (id == user_id && fresh && signed).then(|| crate::crypto::hex(&crate::crypto::sha256(cookie.as_bytes())[..16]))
}

fn device_mac(key: &[u8], user_id: &str, issued: i64) -> [u8; 32] {
    crate::crypto::hmac_sha256(key, format!("gatehouse-device\0{user_id}\0{issued}").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(source: i64, address: i64, account: i64) -> Counts {
        Counts { source, address, account }
    }

    #[test]
    fn a_source_is_slowed_then_refused_and_an_account_is_only_ever_slowed() {
        assert_eq!(verdict(counts(0, 0, 0), false), Verdict::Check { delay_secs: 0 });
        assert_eq!(verdict(counts(3, 3, 3), false), Verdict::Check { delay_secs: 1 });
        assert_eq!(verdict(counts(9, 9, 9), false), Verdict::Check { delay_secs: 5 });
        assert_eq!(verdict(counts(10, 10, 10), false), Verdict::Refuse);
        assert_eq!(verdict(counts(0, 100, 0), false), Verdict::Refuse);
        // A million failures from elsewhere: slower, not refused; a known device not even slower.
        assert_eq!(verdict(counts(0, 0, 1_000_000), false), Verdict::Check { delay_secs: 5 });
        assert_eq!(verdict(counts(0, 0, 40), false), Verdict::Check { delay_secs: 2 });
        assert_eq!(verdict(counts(0, 0, 1_000_000), true), Verdict::Check { delay_secs: 0 });
        assert_eq!(verdict(counts(10, 0, 0), true), Verdict::Refuse);
    }

    #[test]
    fn a_device_cookie_is_known_only_for_its_account_with_its_key_while_fresh() {
        let key = [7u8; 32];
        let cookie = device_cookie(&key, "u1", 1_000);
        assert!(known_device(&key, &cookie, "u1", 1_000 + DEVICE_TTL - 1).is_some());
        assert!(known_device(&key, &cookie, "u2", 1_000).is_none());
        assert!(known_device(&[8u8; 32], &cookie, "u1", 1_000).is_none());
        assert!(known_device(&key, &cookie, "u1", 1_000 + DEVICE_TTL).is_none());
        assert!(known_device(&key, &cookie.replace(".1000.", ".1001."), "u1", 1_000).is_none());
        assert!(known_device(&key, "u1.1000", "u1", 1_000).is_none());
    }
}
