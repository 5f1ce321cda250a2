//! Signatures of the Standard Webhooks specification: a request carries
//! `webhook-id`, `webhook-timestamp` (Unix seconds) and
//! `webhook-signature` (`v1,` and the base64 HMAC-SHA256 of
//! `id.timestamp.body` under the secret; several space-separated
//! signatures are allowed while a secret is rotated). The secret is
//! written `whsec_` and the base64 of its bytes.
//!
//! chatcourse signs what it sends to a `webhook` channel with this, and
//! checks what a `webhook` channel sends in with it.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header names.
pub const HEADER_ID: &str = "webhook-id";
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
pub const HEADER_SIGNATURE: &str = "webhook-signature";

/// How far a request's timestamp may be from the receiver's clock, in
/// seconds, either way (replays older than this are refused).
pub const TOLERANCE_SECONDS: i64 = 5 * 60;

const PREFIX: &str = "whsec_";
/// Bytes of a generated secret (the specification asks for 24 to 64).
const GENERATED_BYTES: usize = 32;

/// A signing secret. Its `Debug` never shows the key.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(Vec<u8>);

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(***)")
    }
}

/// Why a secret or a signed request is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("a webhook secret is `whsec_` followed by base64 (24 to 64 bytes)")]
    BadSecret,
    #[error("the `{0}` header is missing")]
    MissingHeader(&'static str),
    #[error("`webhook-timestamp` is not Unix seconds")]
    BadTimestamp,
    #[error("`webhook-timestamp` is more than 5 minutes from now")]
    Stale,
    #[error("no `webhook-signature` matches the body")]
    Mismatch,
    #[error("the system cannot generate a random secret: {0}")]
    Random(String),
}

impl WebhookSecret {
    /// A new random secret.
    pub fn generate() -> Result<WebhookSecret, SignatureError> {
        let mut bytes = vec![0u8; GENERATED_BYTES];
        getrandom::fill(&mut bytes).map_err(|e| SignatureError::Random(e.to_string()))?;
        Ok(WebhookSecret(bytes))
    }

    /// Reads `whsec_<base64>`.
    pub fn parse(text: &str) -> Result<WebhookSecret, SignatureError> {
        let encoded = text
            .trim()
            .strip_prefix(PREFIX)
            .ok_or(SignatureError::BadSecret)?;
        let bytes = STANDARD
            .decode(encoded)
            .map_err(|_| SignatureError::BadSecret)?;
        if !(24..=64).contains(&bytes.len()) {
            return Err(SignatureError::BadSecret);
        }
        Ok(WebhookSecret(bytes))
    }

    /// `whsec_<base64>`: the form shown to the receiver, once.
    pub fn expose(&self) -> String {
        format!("{PREFIX}{}", STANDARD.encode(&self.0))
    }

    fn mac(&self, id: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
        // HMAC takes keys of any length: this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }

    /// The `webhook-signature` value for this request: `v1,<base64>`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let tag = self.mac(id, timestamp, body).finalize().into_bytes();
        format!("v1,{}", STANDARD.encode(tag))
    }

    /// Checks a request signed with this secret at `now` (Unix seconds):
    /// the timestamp within [`TOLERANCE_SECONDS`], and one of the `v1`
    /// signatures equal to ours (compared in constant time).
    pub fn verify(
        &self,
        headers: &SignedHeaders<'_>,
        body: &[u8],
        now: i64,
    ) -> Result<(), SignatureError> {
        let id = headers.id.ok_or(SignatureError::MissingHeader(HEADER_ID))?;
        let timestamp: i64 = headers
            .timestamp
            .ok_or(SignatureError::MissingHeader(HEADER_TIMESTAMP))?
            .trim()
            .parse()
            .map_err(|_| SignatureError::BadTimestamp)?;
        let signatures = headers
            .signature
            .ok_or(SignatureError::MissingHeader(HEADER_SIGNATURE))?;
        if now.abs_diff(timestamp) > TOLERANCE_SECONDS.unsigned_abs() {
            return Err(SignatureError::Stale);
        }
        let matches = signatures
            .split_whitespace()
            .filter_map(|s| s.strip_prefix("v1,"))
            .filter_map(|s| STANDARD.decode(s).ok())
            .any(|tag| self.mac(id, timestamp, body).verify_slice(&tag).is_ok());
        if matches {
            Ok(())
        } else {
            Err(SignatureError::Mismatch)
        }
    }
}

/// The three headers of a signed request, as received.
#[derive(Debug, Clone, Copy, Default)]
pub struct SignedHeaders<'a> {
    pub id: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub signature: Option<&'a str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixed secret, as a receiver would have stored it.
    fn secret() -> WebhookSecret {
        WebhookSecret::parse("whsec_Y2hhdGNvdXJzZS10ZXN0LXNlY3JldC0x").unwrap()
    }

    #[test]
    fn signatures_follow_the_specification() {
        let secret = secret();
        let body = br#"{"text": "hello"}"#;
        let signature = secret.sign("msg_2f1c0b7e", 1764800000, body);
        // Recomputed independently: HMAC-SHA256 over "id.timestamp.body".
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(
            &STANDARD.decode("Y2hhdGNvdXJzZS10ZXN0LXNlY3JldC0x").unwrap(),
        )
        .unwrap();
        mac.update(b"msg_2f1c0b7e.1764800000.{\"text\": \"hello\"}");
        let want = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
        assert_eq!(signature, want);
        assert!(signature.starts_with("v1,") && signature.len() == 3 + 44);
    }

    #[test]
    fn verify_accepts_its_own_and_refuses_the_rest() {
        let secret = secret();
        let body = b"{\"text\":\"1\"}";
        let now = 1_700_000_000;
        let signature = secret.sign("msg_1", now, body);
        let ts = now.to_string();
        let headers = SignedHeaders {
            id: Some("msg_1"),
            timestamp: Some(&ts),
            signature: Some(&signature),
        };
        assert_eq!(secret.verify(&headers, body, now), Ok(()));
        assert_eq!(secret.verify(&headers, body, now + 299), Ok(()));
        // Several signatures (rotation): one match is enough.
        let rotated = format!("v1,AAAA {signature}");
        let with_two = SignedHeaders {
            signature: Some(&rotated),
            ..headers
        };
        assert_eq!(secret.verify(&with_two, body, now), Ok(()));

        assert_eq!(
            secret.verify(&headers, b"{\"text\":\"2\"}", now),
            Err(SignatureError::Mismatch)
        );
        let other = WebhookSecret::generate().unwrap();
        assert_eq!(
            other.verify(&headers, body, now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            secret.verify(&headers, body, now + 301),
            Err(SignatureError::Stale)
        );
        let other_id = SignedHeaders {
            id: Some("msg_2"),
            ..headers
        };
        assert_eq!(
            secret.verify(&other_id, body, now),
            Err(SignatureError::Mismatch)
        );
        let missing = SignedHeaders {
            signature: None,
            ..headers
        };
        assert_eq!(
            secret.verify(&missing, body, now),
            Err(SignatureError::MissingHeader(HEADER_SIGNATURE))
        );
        let bad_ts = SignedHeaders {
            timestamp: Some("yesterday"),
            ..headers
        };
        assert_eq!(
            secret.verify(&bad_ts, body, now),
            Err(SignatureError::BadTimestamp)
        );
    }

    #[test]
    fn secrets_round_trip_and_bad_ones_are_refused() {
        let secret = WebhookSecret::generate().unwrap();
        let shown = secret.expose();
        assert!(shown.starts_with("whsec_"));
        assert_eq!(WebhookSecret::parse(&shown).unwrap(), secret);
        assert_ne!(WebhookSecret::generate().unwrap(), secret);
        assert!(!format!("{secret:?}").contains(&shown[6..]));
        for bad in [
            "",
            "whsec_",
            "whsec_!!!",
            "Y2hhdGNvdXJzZS10ZXN0LXNlY3JldC0x",
            "whsec_YWJj",
        ] {
            assert_eq!(
                WebhookSecret::parse(bad),
                Err(SignatureError::BadSecret),
                "{bad}"
            );
        }
    }
}
