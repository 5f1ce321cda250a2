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
    /// How often `modules_dir` is looked at again for new or changed module
    /// files, which become new versions for new enrolments
    /// ([`crate::catalogue::Catalogue::refresh`]); `None`: never (the
    /// folder is read once, at start). Default: every 5 seconds.
    pub modules_poll: Option<std::time::Duration>,
    /// Longest an ordinary request may take before it is answered with
    /// `503 request_timeout` (not the WebSocket, nor the streamed exports).
    pub request_timeout: std::time::Duration,
    /// Tests only: adds `GET /__test/panic` (a handler that panics) and
    /// `GET /__test/sleep?ms=` (a slow handler). Never set by the binary.
    #[doc(hidden)]
    pub test_routes: bool,
    /// Origins allowed to frame the learner's chat page (`https://lender.example`);
    /// empty: no site may frame it.
    pub frame_origins: Vec<String>,
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
    /// How many exports may run at once (beyond: `429 too_many_exports`).
    pub export_limits: ExportLimits,
}

/// How many programme exports may stream at once. An export holds no
/// database connection while its client reads (it reads in pages), but
/// each costs database work and memory (a page of rows), so their number
/// is bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportLimits {
    /// Per organisation (2).
    pub per_org: usize,
    /// In total, all organisations together (8).
    pub total: usize,
}

impl Default for ExportLimits {
    fn default() -> ExportLimits {
        ExportLimits {
            per_org: 2,
            total: 8,
        }
    }
}

impl Default for Config {
    fn default() -> Config {
        Config {
            database_url: chatcourse_storage::DEFAULT_DATABASE_URL.to_owned(),
            modules_dir: PathBuf::from("modules"),
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            timezone: chrono_tz::UTC,
            wakeup_interval: std::time::Duration::from_secs(5),
            modules_poll: Some(std::time::Duration::from_secs(5)),
            request_timeout: std::time::Duration::from_secs(30),
            test_routes: false,
            frame_origins: Vec::new(),
            secret_key: None,
            default_country: "KE"
                .parse()
                .unwrap_or_else(|_| unreachable!("KE is a country")),
            delivery: crate::delivery::DeliveryConfig::default(),
            export_limits: ExportLimits::default(),
        }
    }
}

/// Parses an IANA time zone name (`UTC`, `Africa/Nairobi`).
pub fn parse_timezone(name: &str) -> Result<Tz, String> {
    name.trim().parse::<Tz>().map_err(|_| {
        format!("unknown time zone {name:?} (expected an IANA name such as Africa/Nairobi)")
    })
}

impl Config {
    /// The CSP `frame-ancestors` source list: the configured origins, or
    /// `'none'`.
    pub fn frame_ancestors(&self) -> String {
        if self.frame_origins.is_empty() {
            "'none'".to_owned()
        } else {
            self.frame_origins.join(" ")
        }
    }
}

/// Parses an origin allowed to frame the pages: `https://host[:port]` (or
/// `http://` for local testing), nothing after the authority.
pub fn parse_origin(text: &str) -> Result<String, String> {
    let text = text.trim().trim_end_matches('/');
    let rest = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"))
        .ok_or_else(|| {
            format!("{text:?} is not an origin: write https://host (or https://host:port)")
        })?;
    let valid = !rest.is_empty()
        && rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']' | '*'));
    if valid {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "{text:?} is not an origin: write https://host (or https://host:port), no path"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_origins_are_origins() {
        assert_eq!(
            parse_origin(" https://www.lender.example/ ").unwrap(),
            "https://www.lender.example"
        );
        assert_eq!(
            parse_origin("http://127.0.0.1:3000").unwrap(),
            "http://127.0.0.1:3000"
        );
        for bad in [
            "",
            "www.lender.example",
            "https://",
            "https://a.example/path",
            "javascript:alert(1)",
            "https://a.example; script-src *",
        ] {
            assert!(parse_origin(bad).is_err(), "{bad}");
        }
        let mut config = Config::default();
        assert_eq!(config.frame_ancestors(), "'none'");
        config.frame_origins = vec!["https://a.example".into(), "https://b.example".into()];
        assert_eq!(
            config.frame_ancestors(),
            "https://a.example https://b.example"
        );
    }
}
