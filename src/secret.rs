//! Secrets as types: a `Secret<T>` never prints its value and compares in constant time.

use std::fmt;

/// No `PartialEq`: comparing secrets goes through `ct_eq`, which takes constant time.
#[derive(Clone)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Secret(value)
    }

    /// The value itself, for the one place that must show or hash it.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl<T: AsRef<[u8]>> Secret<T> {
    pub fn ct_eq(&self, other: &[u8]) -> bool {
        crate::crypto::ct_eq(self.0.as_ref(), other)
    }
}

impl From<String> for Secret<String> {
    fn from(s: String) -> Self {
        Secret(s)
    }
}
