//! Client secrets (SuperID: ApplicationToken): 256 random bits behind a recognisable prefix,
//! shown once, stored as a SHA-256 digest and compared in constant time.
//!
//! A plain digest is enough because the secret is a uniformly random 256-bit value: there is
//! nothing to brute-force, so a slow password hash would only make the hottest path slow
//! (see docs/decisions/0002-client-secret-digest.md).

use crate::crypto;
use crate::secret::Secret;

/// Every secret starts with this, so scanners and people recognise a leaked one.
pub const PREFIX: &str = "gatehouse_cs_";

/// At most this many unrevoked, unexpired secrets per app: enough to rotate without downtime.
pub const MAX_ACTIVE: i64 = 2;

/// A freshly generated secret. The value exists only until it is shown.
pub struct NewSecret {
    pub value: Secret<String>,
    pub digest: [u8; 32],
    /// The last four characters, shown in listings so a developer can tell secrets apart.
    pub hint: String,
}

pub fn generate() -> NewSecret {
    let value = format!("{PREFIX}{}", crypto::random_token());
    let digest = digest(&value);
    let hint = value[value.len() - 4..].to_string();
    NewSecret { value: Secret::new(value), digest, hint }
}

pub fn digest(presented: &str) -> [u8; 32] {
    crypto::sha256(presented.as_bytes())
}

/// Compares a presented secret with the stored digests of an app's active secrets. Every
/// digest is compared (no early exit), and each comparison is constant-time.
pub fn verify<'a>(presented: &str, stored: impl IntoIterator<Item = &'a [u8]>) -> bool {
    let candidate = digest(presented);
    stored.into_iter().fold(false, |found, d| crypto::ct_eq(&candidate, d) | found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_prefixed_random_and_only_their_digest_verifies() {
        let a = generate();
        let b = generate();
        assert!(a.value.expose().starts_with(PREFIX));
        assert_eq!(a.value.expose().len(), PREFIX.len() + 43, "256 bits as base64url");
        assert_ne!(a.value.expose(), b.value.expose());
        assert!(verify(a.value.expose(), [&b.digest[..], &a.digest[..]]));
        assert!(!verify(b.value.expose(), [&a.digest[..]]));
        assert!(!verify("", [&a.digest[..]]));
        assert!(!format!("{:?}", a.value).contains(PREFIX));
    }
}
