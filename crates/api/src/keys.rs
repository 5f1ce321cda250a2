//! API keys: how they are made. Storage keeps only their hash
//! ([`chatcourse_storage::hash_api_key`]).
//!
//! A key is `cck_` followed by 64 hex digits (244 random bits from two
//! UUID v4s, which come from the operating system's CSPRNG). It is shown
//! once, when it is created.

use uuid::Uuid;

/// The prefix that makes a chatcourse key recognisable (e.g. by secret
/// scanners).
pub const KEY_PREFIX: &str = "cck_";

/// A new random API key.
pub fn generate() -> String {
    format!(
        "{KEY_PREFIX}{}{}",
        Uuid::new_v4().simple(),
        Uuid::new_v4().simple()
    )
}

/// A short, non-secret label for a key, so that a person can tell keys
/// apart in `keys list` (the prefix and the first 8 hex digits).
pub fn label(key: &str) -> String {
    key.chars().take(KEY_PREFIX.len() + 8).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_well_formed() {
        let a = generate();
        let b = generate();
        assert_ne!(a, b);
        assert_eq!(a.len(), KEY_PREFIX.len() + 64);
        assert!(a.starts_with(KEY_PREFIX));
        assert!(a[KEY_PREFIX.len()..].chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(label(&a).len(), KEY_PREFIX.len() + 8);
    }
}
