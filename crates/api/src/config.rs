//! Server configuration. The binary fills it from flags and environment
//! variables; the defaults need nothing.

use std::net::SocketAddr;
use std::path::PathBuf;

pub use chrono_tz::Tz;

/// Longest learner message accepted, in characters (Unicode scalar values).
/// Longer ones get `400 message_too_long`. Generous for chat, and above the
/// 1,600 characters of a long concatenated SMS.
pub const MAX_MESSAGE_CHARS: usize = 2000;

#[derive(Debug, Clone)]
pub struct Config {
    /// `sqlite://path` (created if missing) or `postgres://...`.
    pub database_url: String,
    /// Folder of module YAML files: every `*.yaml` except `*.test.yaml`, in
    /// sub-folders too ([`crate::catalogue::module_files`]).
    pub modules_dir: PathBuf,
    pub bind: SocketAddr,
    /// Zone of the `dd/MM/yyyy HH:mm` display times.
    pub timezone: Tz,
    /// How often the wake-up loop looks for sessions whose timer is due.
    pub wakeup_interval: std::time::Duration,
    /// The key that seals channel secrets at rest (base64 of 32 bytes;
    /// `chatcourse serve` reads it from `--secret-key-file` or
    /// `CHATCOURSE_SECRET_KEY`). Every server of one database must share
    /// it. `None`: a key for this process only (tests): channels created
    /// with it cannot be used after a restart.
    pub secret_key: Option<String>,
    /// Country of customers' phones written without a country code
    /// (ISO 3166-1 alpha-2); `KE`.
    pub default_country: chatcourse_channels::Country,
    /// The outbox dispatcher: retries, waits, timeout.
    pub delivery: crate::delivery::DeliveryConfig,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            database_url: chatcourse_storage::DEFAULT_DATABASE_URL.to_owned(),
            modules_dir: PathBuf::from("modules"),
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            timezone: chrono_tz::UTC,
            wakeup_interval: std::time::Duration::from_secs(5),
            secret_key: None,
            default_country: "KE"
                .parse()
                .unwrap_or_else(|_| unreachable!("KE is a country")),
            delivery: crate::delivery::DeliveryConfig::default(),
        }
    }
}

/// Parses an IANA time zone name (`UTC`, `Africa/Nairobi`).
pub fn parse_timezone(name: &str) -> Result<Tz, String> {
    name.trim().parse::<Tz>().map_err(|_| {
        format!("unknown time zone {name:?} (expected an IANA name such as Africa/Nairobi)")
    })
}
