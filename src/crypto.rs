//! Random values, digests and encodings. Every random byte comes from aws-lc-rs's CSPRNG.

use aws_lc_rs::{constant_time, digest, hmac, rand};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;

/// `n` bytes from the operating system's CSPRNG (through aws-lc).
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    // aws-lc's RNG only fails when the OS has no entropy source, which is not survivable.
    rand::fill(&mut buf).expect("the system random source failed");
    buf
}

/// A random identifier: 16 bytes as 32 lowercase hex characters (SuperID's client ID shape).
pub fn random_id() -> String {
    hex(&random_bytes::<16>())
}

/// An identifier in the shape of `random_id` whose first 12 hex characters are the wall clock's
/// milliseconds, so that ids made later sort later, and 80 random bits follow. For primary keys
/// written many times a second (opaque tokens' `jti`): each new key lands in the index's last
/// page instead of a random one, so a batch of tokens writes one page of that index, not one
/// page per token, to SQLite's log and PostgreSQL's WAL (issue 15).
pub fn time_ordered_id() -> String {
    let millis = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    let millis = u64::try_from(millis).unwrap_or(u64::MAX).to_be_bytes();
    hex(&[&millis[2..], random_bytes::<10>().as_slice()].concat())
}

/// 32 random bytes as unpadded base64url: the body of secrets and tokens.
pub fn random_token() -> String {
    b64url(&random_bytes::<32>())
}

/// AES-256-GCM with a random nonce, which leads the output; `aad` binds it to its place.
pub fn aead_seal(key: &[u8], aad: &[u8], plain: &[u8]) -> Option<Vec<u8>> {
    use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).ok()?);
    let nonce = random_bytes::<NONCE_LEN>();
    let mut sealed = plain.to_vec();
    key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut sealed).ok()?;
    Some([nonce.as_slice(), &sealed].concat())
}

/// Opens what `aead_seal` made with the same key and `aad`; None if anything differs.
pub fn aead_open(key: &[u8], aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
    if sealed.len() <= NONCE_LEN {
        return None;
    }
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).ok()?);
    let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
    let mut buf = ciphertext.to_vec();
    let plain = key.open_in_place(Nonce::try_assume_unique_for_key(nonce).ok()?, Aad::from(aad), &mut buf).ok()?;
    Some(plain.to_vec())
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    let d = digest::digest(&digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// HMAC-SHA-256 of `data` under `key`.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data);
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref());
    out
}

pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    constant_time::verify_slices_are_equal(a, b).is_ok()
}

pub fn b64url(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

pub fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s).ok()
}

pub fn b64(data: &[u8]) -> String {
    STANDARD.encode(data)
}

/// Standard base64; whitespace inside the value (as in pasted XML) is ignored.
/// Standard base64 exactly as a signer writes it: padded, no whitespace, canonical trailing
/// bits, so one value has one spelling (a replay cannot be disguised as a new input).
pub fn b64_decode_strict(s: &str) -> Option<Vec<u8>> {
    let bytes = STANDARD.decode(s).ok()?;
    (STANDARD.encode(&bytes) == s).then_some(bytes)
}

pub fn b64_decode(s: &str) -> Option<Vec<u8>> {
    let compact: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    STANDARD.decode(compact).ok()
}

pub fn hex(data: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(data.len() * 2);
    for b in data {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn time_ordered_ids_have_the_random_ids_shape_and_sort_by_time() {
        let first = super::time_ordered_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = super::time_ordered_id();
        for id in [&first, &second] {
            assert_eq!(id.len(), super::random_id().len());
            assert!(id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "{id}");
        }
        assert!(first < second, "{first} then {second}");
        assert_ne!(
            super::time_ordered_id(),
            super::time_ordered_id(),
            "the random part tells ids of one millisecond apart"
        );
    }
}
