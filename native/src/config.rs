//! The parser options resolved once: the header-hashing HMAC key, the sensitive header
//! names and whether `event.original` is kept.

use sha2::{Digest, Sha256};

use crate::write;

/// What a `ParserOptions` means here, resolved once.
pub struct Config {
    inner: Sha256,
    outer: Sha256,
    /// Sensitive names that a lower-cased ASCII header name can equal.
    sensitive: Vec<String>,
    pub keep_original: bool,
}

impl Config {
    pub fn new(hash_key: &[u8], sensitive: Vec<String>, keep_original: bool) -> Self {
        let mut block = [0u8; 64];
        if hash_key.len() > 64 {
            block[..32].copy_from_slice(&Sha256::digest(hash_key));
        } else {
            block[..hash_key.len()].copy_from_slice(hash_key);
        }
        let mut inner = Sha256::new();
        inner.update(block.map(|b| b ^ 0x36));
        let mut outer = Sha256::new();
        outer.update(block.map(|b| b ^ 0x5c));
        // `name.lower() in names` with an ASCII name can only hold for an ASCII name
        // without upper-case letters
        let mut names: Vec<String> = sensitive
            .into_iter()
            .filter(|n| n.is_ascii() && !n.bytes().any(|c| c.is_ascii_uppercase()))
            .collect();
        names.sort();
        names.dedup();
        Config {
            inner,
            outer,
            sensitive: names,
            keep_original,
        }
    }

    /// `name.lower() in sensitive_headers` for an ASCII `name`.
    #[inline]
    pub fn is_sensitive(&self, name: &str) -> bool {
        self.sensitive
            .iter()
            .any(|s| s.len() == name.len() && s.as_bytes().eq_ignore_ascii_case(name.as_bytes()))
    }

    /// `hmac-sha256:` + the first 32 hex digits of HMAC-SHA256(key, value).
    pub fn hash(&self, value: &str) -> String {
        let mut inner = self.inner.clone();
        inner.update(value.as_bytes());
        let mut outer = self.outer.clone();
        outer.update(inner.finalize());
        let digest = outer.finalize();
        let mut text = String::with_capacity(44);
        text.push_str("hmac-sha256:");
        write::hex(&mut text, &digest[..16]);
        text
    }
}
