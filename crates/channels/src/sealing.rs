//! Channel secrets at rest. A gateway's API key or a webhook's signing
//! secret must be usable by the server (to sign, to call the gateway), so
//! it cannot be stored as a hash; it is stored sealed instead:
//! ChaCha20-Poly1305 under the server's sealing key, which lives outside
//! the database (a key file or an environment variable). A database dump
//! alone hands out no secret, and a sealed value moved to another row
//! (another channel) no longer opens: the row's id is authenticated with
//! it.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};

/// What a sealed value starts with: the scheme's version.
const VERSION: &str = "v1:";
const NONCE_BYTES: usize = 12;
const KEY_BYTES: usize = 32;

/// The server's sealing key (32 bytes). Its `Debug` never shows it.
#[derive(Clone)]
pub struct SealingKey([u8; KEY_BYTES]);

impl fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealingKey(***)")
    }
}

/// Why a key or a sealed value cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error(
        "a sealing key is the base64 of 32 bytes (generate one with `chatcourse channels key`)"
    )]
    BadKey,
    #[error(
        "a stored secret does not open with this sealing key (another server's key, or a changed row)"
    )]
    WrongKey,
    #[error("a stored secret is not in the sealed format")]
    Malformed,
    #[error("the system cannot generate random bytes: {0}")]
    Random(String),
}

fn random<const N: usize>() -> Result<[u8; N], SealError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| SealError::Random(e.to_string()))?;
    Ok(bytes)
}

impl SealingKey {
    /// A new random key.
    pub fn generate() -> Result<SealingKey, SealError> {
        random().map(SealingKey)
    }

    /// Reads the base64 form (surrounding whitespace ignored, so a key
    /// file may end with a newline).
    pub fn from_base64(text: &str) -> Result<SealingKey, SealError> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|_| SealError::BadKey)?;
        bytes
            .try_into()
            .map(SealingKey)
            .map_err(|_| SealError::BadKey)
    }

    /// The base64 form, for a key file.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    fn cipher(&self) -> ChaCha20Poly1305 {
        ChaCha20Poly1305::new(&Key::from(self.0))
    }

    /// Seals `secret`, bound to `context` (the owning row's stable id):
    /// `v1:` and the base64 of a random nonce and the ciphertext.
    pub fn seal(&self, secret: &[u8], context: &[u8]) -> Result<String, SealError> {
        let nonce: [u8; NONCE_BYTES] = random()?;
        let sealed = self
            .cipher()
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: secret,
                    aad: context,
                },
            )
            .map_err(|_| SealError::Malformed)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(format!("{VERSION}{}", STANDARD.encode(out)))
    }

    /// Opens what [`SealingKey::seal`] made with the same key and context.
    pub fn open(&self, sealed: &str, context: &[u8]) -> Result<Vec<u8>, SealError> {
        let encoded = sealed.strip_prefix(VERSION).ok_or(SealError::Malformed)?;
        let bytes = STANDARD.decode(encoded).map_err(|_| SealError::Malformed)?;
        if bytes.len() < NONCE_BYTES + 16 {
            return Err(SealError::Malformed);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
        let nonce: [u8; NONCE_BYTES] = nonce.try_into().map_err(|_| SealError::Malformed)?;
        self.cipher()
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context,
                },
            )
            .map_err(|_| SealError::WrongKey)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_their_key_and_row() {
        let key = SealingKey::generate().unwrap();
        let sealed = key.seal(b"whsec_abc", b"channel-1").unwrap();
        assert!(sealed.starts_with("v1:"));
        assert!(!sealed.contains("whsec_abc"));
        assert_eq!(key.open(&sealed, b"channel-1").unwrap(), b"whsec_abc");
        // Random nonces: the same secret seals differently each time.
        assert_ne!(key.seal(b"whsec_abc", b"channel-1").unwrap(), sealed);

        assert_eq!(key.open(&sealed, b"channel-2"), Err(SealError::WrongKey));
        let other = SealingKey::generate().unwrap();
        assert_eq!(other.open(&sealed, b"channel-1"), Err(SealError::WrongKey));
        let mut tampered = sealed.clone().into_bytes();
        let last = tampered.len() - 3;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert!(key.open(&tampered, b"channel-1").is_err());
        for bad in ["", "v1:", "v1:!!", "v2:AAAA", "v1:AAAA"] {
            assert_eq!(
                key.open(bad, b"channel-1"),
                Err(SealError::Malformed),
                "{bad}"
            );
        }
    }

    #[test]
    fn keys_round_trip_through_base64() {
        let key = SealingKey::generate().unwrap();
        let text = format!("{}\n", key.to_base64());
        let again = SealingKey::from_base64(&text).unwrap();
        let sealed = key.seal(b"s", b"c").unwrap();
        assert_eq!(again.open(&sealed, b"c").unwrap(), b"s");
        assert!(!format!("{key:?}").contains(&key.to_base64()));
        for bad in ["", "AAAA", "not base64!", &STANDARD.encode([0u8; 31])] {
            assert_eq!(
                SealingKey::from_base64(bad).err(),
                Some(SealError::BadKey),
                "{bad}"
            );
        }
    }
}
