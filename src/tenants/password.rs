//! User passwords: Argon2id with OWASP's parameters (19 MiB, 2 passes, 1 lane), hashed on the
//! blocking pool so an async worker never stalls on a 20 ms computation.
//!
//! Argon2's 19 MiB of working memory is reused from a small pool rather than allocated per
//! hash: freed, such a block stays with whichever allocator arena the blocking thread used
//! (glibc raises its mmap threshold after the first free), and under a login storm the
//! process grew to over 500 MiB (issue 15). At most one block per core is kept, which is also
//! how many hashes run at once (`Directory`'s hashing permits).

use std::sync::{Mutex, OnceLock};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

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

/// Working memory kept for reuse: one block set per core at most.
static MEMORY: Mutex<Vec<Vec<Block>>> = Mutex::new(Vec::new());

/// Runs `f` with `blocks` Argon2 blocks of reused memory.
fn with_memory<T>(blocks: usize, f: impl FnOnce(&mut [Block]) -> T) -> T {
    let reused = MEMORY.lock().ok().and_then(|mut kept| {
        let at = kept.iter().position(|m| m.len() == blocks)?;
        Some(kept.swap_remove(at))
    });
    // Argon2 writes every block before it reads it, so what a block held before is irrelevant.
    let mut memory = reused.unwrap_or_else(|| vec![Block::default(); blocks]);
    let result = f(&mut memory);
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    if let Ok(mut kept) = MEMORY.lock() {
        if kept.len() < cores {
            kept.push(memory);
        }
    }
    result
}

/// The Argon2id output of `password` with `salt`, `params` and `version`, into `len` bytes.
fn compute(password: &[u8], salt: &[u8], params: Params, version: Version, len: usize) -> Result<Output, Error> {
    let blocks = params.block_count();
    let argon2 = Argon2::new(Algorithm::Argon2id, version, params);
    let fail = |e: String| Error::Internal(anyhow::anyhow!("argon2 failed: {e}"));
    with_memory(blocks, |memory| {
        Output::init_with(len, |out| {
            argon2.hash_password_into_with_memory(password, salt, out, &mut *memory).map_err(|e| e.into())
        })
    })
    .map_err(|e| fail(e.to_string()))
}

/// Hashes a password into a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`).
pub async fn hash(password: Secret<String>) -> Result<String, Error> {
    tokio::task::spawn_blocking(move || hash_now(password.expose().as_bytes()))
        .await
        .map_err(|e| Error::Internal(e.into()))?
}

fn hash_now(password: &[u8]) -> Result<String, Error> {
    let salt = SaltString::generate(&mut OsRng);
    let mut raw = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut raw).map_err(|e| Error::Internal(anyhow::anyhow!("salt: {e}")))?;
    let params = argon2().params().clone();
    let output = compute(password, salt_bytes, params.clone(), Version::V0x13, Params::DEFAULT_OUTPUT_LEN)?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: (&params).try_into().map_err(|e| Error::Internal(anyhow::anyhow!("params: {e}")))?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(phc.to_string())
}

/// Verifies a password against a stored hash, or against a dummy hash when the user does not
/// exist, so unknown and known users take the same time.
pub async fn verify(password: Secret<String>, stored: Option<String>) -> Result<bool, Error> {
    tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let phc = stored.unwrap_or_else(|| dummy_hash().to_string());
        let ok = verify_now(password.expose().as_bytes(), &phc)?;
        Ok(known && ok)
    })
    .await
    .map_err(|e| Error::Internal(e.into()))?
}

fn verify_now(password: &[u8], phc: &str) -> Result<bool, Error> {
    let unreadable = |e: String| Error::Internal(anyhow::anyhow!("stored hash unreadable: {e}"));
    let parsed = PasswordHash::new(phc).map_err(|e| unreadable(e.to_string()))?;
    if Algorithm::try_from(parsed.algorithm).ok() != Some(Algorithm::Argon2id) {
        return Err(unreadable("not argon2id".into()));
    }
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Err(unreadable("no salt or hash".into()));
    };
    let params = Params::try_from(&parsed).map_err(|e| unreadable(e.to_string()))?;
    let version = parsed.version.map(Version::try_from).transpose().map_err(|e| unreadable(e.to_string()))?;
    let mut raw = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut raw).map_err(|e| unreadable(e.to_string()))?;
    let computed = compute(password, salt_bytes, params, version.unwrap_or(Version::V0x13), expected.len())?;
    // `Output`'s equality is constant-time.
    Ok(computed == expected)
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_now(b"no user has this password").unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_read_both_ways_with_the_argon2_crates_own_hasher_and_verifier() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let salt = SaltString::generate(&mut OsRng);
        let theirs = argon2().hash_password(b"correct horse battery", &salt).unwrap();
        assert!(verify_now(b"correct horse battery", &theirs.to_string()).unwrap());
        assert!(!verify_now(b"correct horse batterY", &theirs.to_string()).unwrap());
        let ours = hash_now(b"correct horse battery").unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(argon2().verify_password(b"correct horse battery", &parsed).is_ok());
        assert!(MEMORY.lock().unwrap().len() <= std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2));
    }

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
