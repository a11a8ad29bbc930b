//! Second factors: TOTP (RFC 6238, HMAC-SHA-1, 30-second steps, six digits: what every
//! authenticator app reads from an `otpauth://` URI) and single-use recovery codes; and the
//! tenant policy that says who must use one. The HMAC is aws-lc-rs's, our one crypto backend
//! (docs/decisions/0019); a code is accepted once, for a step newer than the last accepted.

use aws_lc_rs::hmac;
use serde_json::json;

use super::passkeys::RelyingParty;
use crate::clock::Clock;
use crate::crypto::{random_bytes, sha256};
use crate::error::{Error, Result};
use crate::store::audit::AuditEvent;
use crate::store::Store;

/// RFC 6238 §4: T0 = 0, X = 30 seconds.
pub const STEP: i64 = 30;
/// Codes of the step before and after are accepted too (RFC 6238 §5.2: clocks drift).
pub const WINDOW: i64 = 1;
pub const DIGITS: u32 = 6;
/// Recovery codes made at enrolment; each works once.
pub const RECOVERY_CODES: usize = 10;
/// Wrong codes a person may type in the failure window before code pages answer 429: six
/// digits must not be guessable by trying.
pub const MAX_WRONG_CODES: i64 = 5;

/// RFC 8176 values a session carries: the password alone, or with a one-time code.
pub const AMR_PASSWORD: &str = "pwd";
pub const AMR_SECOND_FACTOR: &str = "pwd otp mfa";
/// The `acr` values we answer (`acr_values_supported`): a password, or a password and a second
/// factor. Asking for `ACR_MFA` in `acr_values` makes the second factor required.
pub const ACR_PASSWORD: &str = "urn:gatehouse:acr:pwd";
pub const ACR_MFA: &str = "urn:gatehouse:acr:mfa";

/// Who in a tenant must use a second factor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    Off,
    /// Administrators: the default, since their "I approve" gives apps the tenant's data.
    Admins,
    Everyone,
}

impl Policy {
    pub fn parse(s: &str) -> Result<Policy> {
        match s {
            "off" => Ok(Policy::Off),
            "admins" => Ok(Policy::Admins),
            "everyone" => Ok(Policy::Everyone),
            _ => Err(Error::invalid("mfa", "must be off, admins or everyone")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Off => "off",
            Policy::Admins => "admins",
            Policy::Everyone => "everyone",
        }
    }

    pub fn requires(self, is_admin: bool) -> bool {
        match self {
            Policy::Off => false,
            Policy::Admins => is_admin,
            Policy::Everyone => true,
        }
    }
}

/// The `acr` of a session's `amr`.
pub fn acr_of(amr: &str) -> &'static str {
    if has_second_factor(amr) {
        ACR_MFA
    } else {
        ACR_PASSWORD
    }
}

/// The weakest of our levels among `wanted` (essential `acr` values, OIDC Core §5.5.1.1): what
/// the sign-in must reach at least. None when none of them is ours.
pub fn weakest_level_in(wanted: &[String]) -> Option<&'static str> {
    [ACR_PASSWORD, ACR_MFA].into_iter().find(|level| wanted.iter().any(|w| w == level))
}

/// Whether a session's `amr` shows two factors: a code or a passkey here, or `mfa` from a
/// tenant's upstream provider (federation), which that tenant chose to trust.
pub fn has_second_factor(amr: &str) -> bool {
    amr.split(' ').any(|m| m == "otp" || m == "hwk" || m == "mfa")
}

/// HOTP (RFC 4226 §5.3) of one counter value: dynamic truncation to `DIGITS` digits.
pub fn hotp(secret: &[u8], counter: u64) -> u32 {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let mac = hmac::sign(&key, &counter.to_be_bytes());
    let mac = mac.as_ref();
    let offset = (mac[mac.len() - 1] & 0x0f) as usize;
    let binary = u32::from_be_bytes([mac[offset] & 0x7f, mac[offset + 1], mac[offset + 2], mac[offset + 3]]);
    binary % 10u32.pow(DIGITS)
}

/// The TOTP time step of `now` (RFC 6238 §4.2).
pub fn step_of(now: i64) -> i64 {
    now.div_euclid(STEP)
}

/// The step within the window whose code `code` is, if any.
pub fn matching_step(secret: &[u8], code: &str, now: i64) -> Option<i64> {
    let code = code.trim().replace(' ', "");
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let wanted: u32 = code.parse().ok()?;
    let here = step_of(now);
    (here - WINDOW..=here + WINDOW).find(|s| *s >= 0 && hotp(secret, *s as u64) == wanted)
}

/// RFC 4648 base32 without padding, as `otpauth://` URIs carry secrets.
pub fn base32(data: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    for chunk in data.chunks(5) {
        let mut buf = [0u8; 5];
        buf[..chunk.len()].copy_from_slice(chunk);
        let bits = u64::from_be_bytes([0, 0, 0, buf[0], buf[1], buf[2], buf[3], buf[4]]);
        let chars = (chunk.len() * 8).div_ceil(5);
        for i in 0..chars {
            out.push(ALPHABET[((bits >> (35 - i * 5)) & 0x1f) as usize] as char);
        }
    }
    out
}

/// What a person enrolling sees: the secret for typing, and the URI an app reads as a QR code.
#[derive(Debug)]
pub struct Enrolment {
    pub secret: String,
    pub uri: String,
}

/// A recovery code: ten characters in two groups, easy to type from paper.
fn recovery_code() -> String {
    let raw = base32(&random_bytes::<7>());
    format!("{}-{}", &raw[..5].to_lowercase(), &raw[5..10].to_lowercase())
}

fn recovery_digest(code: &str) -> [u8; 32] {
    sha256(code.trim().to_lowercase().replace(' ', "").as_bytes())
}

#[derive(Clone, Debug)]
pub struct Factors {
    pub(super) store: Store,
    pub(super) clock: Clock,
    /// The issuer's host, shown by authenticator apps next to the account.
    label: String,
    /// Passkeys' relying party (`passkeys`).
    pub(super) rp: RelyingParty,
}

/// The second factors a person has set up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Kinds {
    pub totp: bool,
    pub passkeys: bool,
}

impl Kinds {
    pub fn any(self) -> bool {
        self.totp || self.passkeys
    }
}

impl Factors {
    pub fn new(store: Store, clock: Clock, issuer: &str) -> Factors {
        let label = url::Url::parse(issuer).ok().and_then(|u| u.host_str().map(str::to_string)).unwrap_or_default();
        let rp = RelyingParty::for_issuer(issuer);
        Factors { store, clock, label: format!("Gatehouse {label}").trim().to_string(), rp }
    }

    /// Whether the person has a confirmed second factor (an authenticator app or a passkey).
    pub async fn enrolled(&self, user_id: &str) -> Result<bool> {
        Ok(self.kinds(user_id).await?.any())
    }

    /// Which second factors the person has.
    pub async fn kinds(&self, user_id: &str) -> Result<Kinds> {
        let (totp, passkeys) = self.store.second_factor_kinds(user_id).await?;
        Ok(Kinds { totp, passkeys })
    }

    /// Starts (or restarts) enrolment: a new secret, not yet counted as a factor.
    pub async fn start_enrolment(&self, user_id: &str, email: &str) -> Result<Enrolment> {
        if self.kinds(user_id).await?.totp {
            return Err(Error::conflict("a second factor is set up already"));
        }
        let secret = random_bytes::<20>();
        self.store.put_pending_totp(user_id, &secret, self.clock.now()).await?;
        Ok(self.enrolment(&secret, email))
    }

    /// The enrolment of the secret being set up, to show again after a wrong code.
    pub async fn pending_enrolment(&self, user_id: &str, email: &str) -> Result<Option<Enrolment>> {
        Ok(match self.store.totp_factor(user_id).await? {
            Some(f) if !f.confirmed => Some(self.enrolment(&f.secret, email)),
            _ => None,
        })
    }

    fn enrolment(&self, secret: &[u8], email: &str) -> Enrolment {
        let secret = base32(secret);
        let label: String = form_urlencoded::byte_serialize(format!("{}:{email}", self.label).as_bytes()).collect();
        let issuer: String = form_urlencoded::byte_serialize(self.label.as_bytes()).collect();
        let uri = format!(
            "otpauth://totp/{label}?secret={secret}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={STEP}"
        );
        Enrolment { secret, uri }
    }

    /// Confirms enrolment with a first right code; returns the recovery codes, shown once.
    pub async fn confirm(&self, user_id: &str, code: &str) -> Result<Option<Vec<String>>> {
        let now = self.clock.now();
        let Some(factor) = self.store.totp_factor(user_id).await?.filter(|f| !f.confirmed) else {
            return Err(Error::conflict("no second factor is being set up"));
        };
        let Some(step) = matching_step(&factor.secret, code, now) else { return Ok(None) };
        let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| recovery_code()).collect();
        let digests: Vec<[u8; 32]> = codes.iter().map(|c| recovery_digest(c)).collect();
        let event = AuditEvent::new(now, user_id, "user.second_factor_added", user_id, json!({ "kind": "totp" }));
        if !self.store.confirm_totp(user_id, step, now, &digests, &event).await? {
            return Ok(None);
        }
        Ok(Some(codes))
    }

    /// Checks a one-time code (accepted once) or a recovery code (used up).
    pub async fn verify(&self, user_id: &str, code: &str) -> Result<bool> {
        let now = self.clock.now();
        let Some(factor) = self.store.totp_factor(user_id).await?.filter(|f| f.confirmed) else { return Ok(false) };
        if let Some(step) = matching_step(&factor.secret, code, now) {
            // A code of a step already used (the same code again, or an older one) is refused.
            return Ok(self.store.advance_totp_step(user_id, step).await?);
        }
        if code.trim().len() >= 10 {
            let event = AuditEvent::new(now, user_id, "user.recovery_code_used", user_id, json!({}));
            return Ok(self.store.use_recovery_code(user_id, &recovery_digest(code), now, &event).await?);
        }
        Ok(false)
    }

    /// Counts an attempt at a code against the person (every attempt counts, so parallel
    /// guesses do too); false when they have used up `MAX_WRONG_CODES` in the window.
    pub async fn reserve_attempt(&self, user_id: &str) -> Result<bool> {
        let key = format!("otp:{user_id}");
        let tries =
            self.store.reserve_login_attempt(&key, self.clock.now(), crate::config::LOGIN_FAILURE_WINDOW).await?;
        Ok(tries <= MAX_WRONG_CODES)
    }

    /// A right code forgives the wrong ones before it.
    pub async fn clear_attempts(&self, user_id: &str) {
        let _ = self.store.clear_login_failures(&format!("otp:{user_id}")).await;
    }

    /// Removes the person's second factors (authenticator app, passkeys) and recovery codes (an
    /// operator's reset, when a phone is lost and the codes with it).
    pub async fn remove(&self, user_id: &str, actor: &str) -> Result<bool> {
        let event = AuditEvent::new(self.clock.now(), actor, "user.second_factor_removed", user_id, json!({}));
        Ok(self.store.remove_second_factors(user_id, &event).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_factors_here_or_upstream_count_and_a_password_or_federation_alone_does_not() {
        for two in [AMR_SECOND_FACTOR, crate::tenants::passkeys::AMR_PASSKEY, "fed mfa"] {
            assert!(has_second_factor(two), "{two}");
            assert_eq!(acr_of(two), ACR_MFA);
        }
        for one in [AMR_PASSWORD, "fed"] {
            assert!(!has_second_factor(one), "{one}");
        }
    }

    /// RFC 6238 Appendix B, SHA-1 rows (the test key is "12345678901234567890"; eight digits
    /// there, so compare the last six).
    #[test]
    fn rfc_6238_appendix_b_vectors() {
        let key = b"12345678901234567890";
        for (time, eight) in [
            (59, 94287082u32),
            (1111111109, 7081804),
            (1111111111, 14050471),
            (1234567890, 89005924),
            (2000000000, 69279037),
            (20000000000, 65353130),
        ] {
            assert_eq!(hotp(key, step_of(time) as u64), eight % 1_000_000, "T = {time}");
        }
    }

    #[test]
    fn codes_of_the_neighbouring_steps_match_and_others_do_not() {
        let key = b"12345678901234567890";
        let now = 1111111111;
        let code = |t: i64| format!("{:06}", hotp(key, step_of(t) as u64));
        assert_eq!(matching_step(key, &code(now), now), Some(step_of(now)));
        assert_eq!(matching_step(key, &code(now - 30), now), Some(step_of(now) - 1));
        assert_eq!(matching_step(key, &code(now + 30), now), Some(step_of(now) + 1));
        assert_eq!(matching_step(key, &code(now - 90), now), None);
        assert_eq!(matching_step(key, "12345", now), None);
        assert_eq!(matching_step(key, "abcdef", now), None);
    }

    #[test]
    fn base32_is_rfc_4648() {
        // RFC 4648 §10, without padding.
        for (raw, encoded) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32(raw.as_bytes()), encoded);
        }
    }
}
