//! Where private signing keys rest: 0600 PEM files under `keys/` (the single-node default), or
//! AES-256-GCM ciphertext in the database for several instances. The key id is the AEAD's
//! associated data, so a ciphertext moved onto another row does not decrypt.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use aws_lc_rs::aead::NONCE_LEN;

use crate::config::KeyStore;

/// Stores a private key; returns what goes into the database's `private_key` column.
pub fn seal(store: &KeyStore, kid: &str, pkcs8: &[u8]) -> anyhow::Result<Option<Vec<u8>>> {
    match store {
        KeyStore::Files(dir) => {
            write_private_file(dir, kid, pkcs8)?;
            Ok(None)
        }
        KeyStore::Database { encryption_key } => {
            let sealed = crate::crypto::aead_seal(encryption_key.expose(), kid.as_bytes(), pkcs8)
                .ok_or_else(|| anyhow::anyhow!("encrypting key {kid} failed"))?;
            Ok(Some(sealed))
        }
    }
}

/// Reads a private key back as PKCS#8 DER.
pub fn open(store: &KeyStore, kid: &str, column: Option<&[u8]>) -> anyhow::Result<Vec<u8>> {
    match (store, column) {
        (KeyStore::Database { encryption_key }, Some(sealed)) => {
            anyhow::ensure!(sealed.len() > NONCE_LEN, "stored key {kid} is truncated");
            crate::crypto::aead_open(encryption_key.expose(), kid.as_bytes(), sealed).ok_or_else(|| {
                anyhow::anyhow!("key {kid} does not decrypt: is GATEHOUSE_KEY_ENCRYPTION_KEY the one it was stored with?")
            })
        }
        (KeyStore::Database { .. }, None) => anyhow::bail!(
            "key {kid} was stored in a keys/ folder, but keys.store is 'database'; rotate keys after switching stores"
        ),
        (KeyStore::Files(dir), None) => {
            let path = file_path(dir, kid);
            let pem = std::fs::read_to_string(&path).with_context(|| format!("cannot read signing key {}", path.display()))?;
            let (_, der) = der::pem::decode_vec(pem.as_bytes()).map_err(|e| anyhow::anyhow!("{} is not PEM: {e}", path.display()))?;
            Ok(der)
        }
        (KeyStore::Files(_), Some(_)) => anyhow::bail!(
            "key {kid} is encrypted in the database, but keys.store is 'files'; set keys.store = 'database' and its encryption key"
        ),
    }
}

/// Deletes the file of a key no longer needed (nothing to do for database keys).
pub fn remove(store: &KeyStore, kid: &str) {
    if let KeyStore::Files(dir) = store {
        let _ = std::fs::remove_file(file_path(dir, kid));
    }
}

fn file_path(dir: &Path, kid: &str) -> PathBuf {
    dir.join(format!("{kid}.pem"))
}

fn write_private_file(dir: &Path, kid: &str, pkcs8: &[u8]) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create the keys folder {}", dir.display()))?;
    let pem =
        der::pem::encode_string("PRIVATE KEY", der::pem::LineEnding::LF, pkcs8).map_err(|e| anyhow::anyhow!("{e}"))?;
    let path = file_path(dir, kid);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(pem.as_bytes())?;
    // The database row that names this key commits after this returns; the file must be on disk first.
    file.sync_all()?;
    Ok(())
}
