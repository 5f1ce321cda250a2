//! One interface over the channel kinds: each kind (a file beside this
//! one) owns its settings, its outbound request and its inbound wire
//! format; the dispatcher and the inbound routes only talk to [`Kind`].

use std::time::Duration;

use axum::http::HeaderMap;
use axum::response::Response;
use chatcourse_channels::Phone;
use chatcourse_storage::{Channel, DeliveryStatus, OutboxItem};
use futures::future::BoxFuture;

use super::Dispatcher;
use crate::error::ApiError;
use crate::state::AppState;

/// How a provider answered one send.
#[derive(Debug)]
pub(crate) enum Answer {
    /// Accepted; the provider's message id, and the SMS segments handed.
    Sent {
        id: Option<String>,
        segments: Option<u32>,
    },
    Retry {
        error: String,
        after: Option<Duration>,
    },
    /// Trying again cannot help; `opt_out` when the provider says the
    /// recipient unsubscribed.
    Permanent { error: String, opt_out: bool },
}

impl Answer {
    pub(crate) fn permanent(error: impl Into<String>) -> Answer {
        Answer::Permanent {
            error: error.into(),
            opt_out: false,
        }
    }
}

/// Why an event row reached a kind that only sends messages (events are
/// subscribed to on `webhook` channels only).
pub(crate) const EVENTS_ON_WEBHOOKS_ONLY: &str = "events are sent to webhook channels only";

/// One message to send over a channel.
pub(crate) struct Outgoing<'a> {
    pub state: &'a AppState,
    pub dispatcher: &'a Dispatcher,
    pub channel: &'a Channel,
    /// The channel's secret, opened.
    pub secret: &'a str,
    pub row: &'a OutboxItem,
}

/// Which endpoint of a channel a provider called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// Learners' messages (`.../inbound`).
    Inbound,
    /// Delivery reports (`.../status`).
    Status,
}

/// A request a provider made to a channel's endpoint.
pub(crate) struct Incoming<'a> {
    pub channel: &'a Channel,
    /// The channel's secret, opened.
    pub secret: &'a str,
    /// The provider's app secret (kinds that sign with one).
    pub app_secret: Option<&'a str>,
    pub endpoint: Endpoint,
    /// The request's path and query, as received.
    pub path_and_query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    /// Unix seconds.
    pub now: i64,
}

/// What a provider's request says.
#[derive(Debug)]
pub(crate) enum Event {
    /// A learner's message.
    Message {
        from: Phone,
        text: String,
        id: String,
    },
    /// What became of a message sent.
    Report {
        provider_message_id: String,
        status: DeliveryStatus,
        error: Option<String>,
        /// The provider says the recipient unsubscribed.
        opt_out: bool,
    },
    /// Understood, nothing to do (a status chatcourse does not track, a
    /// message without text).
    Ignored,
}

impl Event {
    /// A delivery report.
    pub(crate) fn report(
        provider_message_id: String,
        status: DeliveryStatus,
        error: Option<String>,
        opt_out: bool,
    ) -> Event {
        Event::Report {
            provider_message_id,
            status,
            error,
            opt_out,
        }
    }
}

/// What chatcourse did with an event, for the kind's answer.
#[derive(Debug)]
pub(crate) enum Handled {
    Message {
        routed: bool,
        session_uuid: Option<String>,
        opted_in: bool,
    },
    Report {
        matched: bool,
        status: Option<DeliveryStatus>,
    },
    Ignored,
}

/// A channel kind.
pub(crate) trait Kind: Sync {
    /// Reads and checks this kind's settings from a create request;
    /// returns them as stored (JSON, no secrets). One `field: reason` per
    /// problem in `errors`.
    fn settings(&self, given: &serde_json::Value, errors: &mut Vec<String>) -> serde_json::Value;
    /// The credential the caller must give (the provider's token or key),
    /// by name, or `None` when chatcourse generates the secret (webhook).
    fn credential(&self) -> Option<&'static str>;
    /// Whether the kind's URLs carry a secret path token.
    fn path_token(&self) -> bool {
        false
    }
    /// Whether the kind takes an app secret besides its credential (to
    /// check the provider's signatures).
    fn app_secret(&self) -> bool {
        false
    }
    /// Whether chatcourse generates a verify token for the provider's
    /// webhook handshake.
    fn verify_token(&self) -> bool {
        false
    }
    /// Sends one outbox row.
    fn send<'a>(&'a self, out: Outgoing<'a>) -> BoxFuture<'a, Answer>;
    /// Authenticates and reads a provider's request (one request may
    /// carry several messages and statuses).
    fn receive(&self, incoming: &Incoming<'_>) -> Result<Vec<Event>, ApiError>;
    /// The answer the provider expects.
    fn respond(&self, endpoint: Endpoint, handled: Handled) -> Response;
}

/// The kind named `kind`.
pub(crate) fn kind(kind: &str) -> Option<&'static dyn Kind> {
    match kind {
        "webhook" => Some(&super::webhook::Webhook),
        "twilio" => Some(&super::twilio::Twilio),
        "africastalking" => Some(&super::africastalking::AfricasTalking),
        "whatsapp" => Some(&super::whatsapp::WhatsApp),
        _ => None,
    }
}

/// The kinds, as accepted by `POST /api/v1/fe/channels`.
pub const KINDS: [&str; 4] = ["webhook", "twilio", "africastalking", "whatsapp"];

/// A provider's HTTP answer to a send.
pub(crate) struct Reply {
    pub status: u16,
    /// The provider's `Retry-After`, read.
    pub retry_after: Option<Duration>,
    /// The body, if it is JSON.
    pub json: Option<serde_json::Value>,
}

/// Sends a request to a provider. A refused connection, a reset or a
/// timeout is a retry (the provider may come back).
pub(crate) async fn request(
    request: reqwest::RequestBuilder,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Reply, Answer> {
    let response = request.send().await.map_err(|e| Answer::Retry {
        error: format!("request failed: {e}"),
        after: None,
    })?;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| chatcourse_channels::retry::parse_retry_after(v, now));
    let json = response.json::<serde_json::Value>().await.ok();
    Ok(Reply {
        status,
        retry_after,
        json,
    })
}

/// A required, non-blank field of a provider's form.
pub(crate) fn form_field<'a>(
    params: &'a [(String, String)],
    name: &str,
) -> Result<&'a str, ApiError> {
    chatcourse_channels::form::param(params, name)
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| ApiError::Validation(vec![format!("{name}: missing")]))
}

/// A text setting: trimmed, required or not.
pub(crate) fn text_setting(
    given: &serde_json::Value,
    name: &str,
    required: bool,
    errors: &mut Vec<String>,
) -> Option<String> {
    match given.get(name) {
        Some(serde_json::Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        None | Some(serde_json::Value::Null) if !required => None,
        Some(serde_json::Value::String(_)) | None | Some(serde_json::Value::Null) => {
            errors.push(format!("settings.{name}: required"));
            None
        }
        Some(_) => {
            errors.push(format!("settings.{name}: must be a string"));
            None
        }
    }
}

/// A URL setting (`http://` or `https://`), without a trailing `/`.
pub(crate) fn url_setting(
    given: &serde_json::Value,
    name: &str,
    default: Option<&str>,
    errors: &mut Vec<String>,
) -> Option<String> {
    let value = text_setting(given, name, default.is_none(), errors)
        .or_else(|| default.map(str::to_owned))?;
    let scheme_ok = value.starts_with("http://") || value.starts_with("https://");
    if !scheme_ok || value.len() > 2000 || reqwest::Url::parse(&value).is_err() {
        errors.push(format!(
            "settings.{name}: must be an http:// or https:// URL"
        ));
        return None;
    }
    Some(value.trim_end_matches('/').to_owned())
}

/// A string field of stored settings.
pub(crate) fn stored(settings: &str, name: &str) -> Option<String> {
    serde_json::from_str::<serde_json::Value>(settings)
        .ok()?
        .get(name)?
        .as_str()
        .map(str::to_owned)
}
