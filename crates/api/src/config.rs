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
    /// Longest an ordinary request may take before it is answered with
    /// `503 request_timeout` (not the WebSocket, nor the streamed exports).
    pub request_timeout: std::time::Duration,
    /// Tests only: adds `GET /__test/panic` (a handler that panics) and
    /// `GET /__test/sleep?ms=` (a slow handler). Never set by the binary.
    #[doc(hidden)]
    pub test_routes: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            database_url: chatcourse_storage::DEFAULT_DATABASE_URL.to_owned(),
            modules_dir: PathBuf::from("modules"),
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            timezone: chrono_tz::UTC,
            wakeup_interval: std::time::Duration::from_secs(5),
            request_timeout: std::time::Duration::from_secs(30),
            test_routes: false,
        }
    }
}

/// Parses an IANA time zone name (`UTC`, `Africa/Nairobi`).
pub fn parse_timezone(name: &str) -> Result<Tz, String> {
    name.trim().parse::<Tz>().map_err(|_| {
        format!("unknown time zone {name:?} (expected an IANA name such as Africa/Nairobi)")
    })
}
