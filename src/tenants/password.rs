//! User passwords: Argon2id with OWASP's parameters (19 MiB, 2 passes, 1 lane), hashed on the
//! blocking pool so an async worker never stalls on a 20 ms computation.

use std::sync::OnceLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::error::Error;
use crate::secret::Secret;

pub const MIN_LEN: usize = 12;
/// Longer inputs only cost CPU; nobody types a password this long.
pub const MAX_LEN: usize = 1024;

fn argon2() -> Argon2<'static> {
    // OWASP Password Storage Cheat Sheet: m=19456 KiB, t=2, p=1.
    let params = Params::new(19_456, 2, 1, None).expect("constant Argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

pub fn check_policy(password: &str) -> Result<(), Error> {
    let chars = password.chars().count();
    if chars < MIN_LEN {
        return Err(Error::invalid("password", format!("must be at least {MIN_LEN} characters")));
    }
    if password.len() > MAX_LEN {
        return Err(Error::invalid("password", format!("must be at most {MAX_LEN} bytes")));
    }
    Ok(())
}

/// Hashes a password into a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`).
pub async fn hash(password: Secret<String>) -> Result<String, Error> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        argon2()
            .hash_password(password.expose().as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| Error::Internal(anyhow::anyhow!("argon2 failed: {e}")))
    })
    .await
    .map_err(|e| Error::Internal(e.into()))?
}

/// Verifies a password against a stored hash, or against a dummy hash when the user does not
/// exist, so unknown and known users take the same time.
pub async fn verify(password: Secret<String>, stored: Option<String>) -> Result<bool, Error> {
    tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let phc = stored.unwrap_or_else(|| dummy_hash().to_string());
        let parsed =
            PasswordHash::new(&phc).map_err(|e| Error::Internal(anyhow::anyhow!("stored hash unreadable: {e}")))?;
        let ok = argon2().verify_password(password.expose().as_bytes(), &parsed).is_ok();
        Ok(known && ok)
    })
    .await
    .map_err(|e| Error::Internal(e.into()))?
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        argon2().hash_password(b"no user has this password", &salt).map(|h| h.to_string()).unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_only_its_password_and_unknown_users_never_verify() {
        let h = hash(Secret::new("correct horse battery".into())).await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify(Secret::new("correct horse battery".into()), Some(h.clone())).await.unwrap());
        assert!(!verify(Secret::new("wrong horse battery".into()), Some(h)).await.unwrap());
        assert!(!verify(Secret::new("no user has this password".into()), None).await.unwrap());
    }

    #[test]
    fn the_policy_names_the_rule() {
        assert!(check_policy("short").unwrap_err().to_string().contains("at least 12"));
        assert!(check_policy(&"x".repeat(MAX_LEN + 1)).is_err());
        assert!(check_policy("a long enough passphrase").is_ok());
    }
}
