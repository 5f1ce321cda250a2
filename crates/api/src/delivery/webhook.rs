//! The `webhook` kind: a signed JSON POST per message (Standard Webhooks).

use std::time::Duration;

use chatcourse_channels::retry::{Verdict, parse_retry_after, verdict_for_status};
use chatcourse_channels::signing::{HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP, WebhookSecret};
use chatcourse_storage::{Channel, OutboxItem};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::Dispatcher;
use crate::state::AppState;
use crate::wire::MessageItem;

/// The settings of a webhook channel (stored as JSON; no secrets).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebhookSettings {
    pub url: String,
}

/// How a receiver answered.
pub(super) enum Answer {
    /// 2xx; the receiver's message id if its JSON body had one (`id`).
    Sent(Option<String>),
    Retry {
        error: String,
        after: Option<Duration>,
    },
    Permanent(String),
}

/// The channel's webhook secret, opened with the server's key.
pub fn open_secret(
    key: &chatcourse_channels::sealing::SealingKey,
    channel: &Channel,
) -> Result<WebhookSecret, String> {
    let bytes = key
        .open(&channel.secrets, channel.uuid.as_bytes())
        .map_err(|e| format!("cannot open the channel's secret (is the server's secret key the one it was created with?): {e}"))?;
    let text =
        String::from_utf8(bytes).map_err(|_| "the channel's secret is not text".to_owned())?;
    WebhookSecret::parse(&text).map_err(|e| e.to_string())
}

pub(super) async fn send(
    state: &AppState,
    dispatcher: &Dispatcher,
    channel: &Channel,
    row: &OutboxItem,
) -> Answer {
    let settings: WebhookSettings = match serde_json::from_str(&channel.settings) {
        Ok(s) => s,
        Err(e) => return Answer::Permanent(format!("bad channel settings: {e}")),
    };
    let secret = match open_secret(&dispatcher.key, channel) {
        Ok(secret) => secret,
        Err(e) => return Answer::Permanent(e),
    };
    let body = json!({
        "type": "message",
        "idempotency_key": row.idempotency_key,
        "channel": channel.uuid,
        "customer": {"uuid": row.customer_uuid, "phone": row.recipient},
        "session_uuid": row.message.session_uuid,
        "purpose": row.purpose,
        "message": MessageItem::new(&row.message, state.timezone),
    });
    let body = body.to_string().into_bytes();
    let now = state.clock.now();
    let timestamp = now.timestamp();
    let signature = secret.sign(&row.idempotency_key, timestamp, &body);
    let response = dispatcher
        .client
        .post(&settings.url)
        .header(HEADER_ID, &row.idempotency_key)
        .header(HEADER_TIMESTAMP, timestamp.to_string())
        .header(HEADER_SIGNATURE, signature)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await;
    let response = match response {
        Ok(r) => r,
        Err(e) => {
            // Refused, reset, timed out: the receiver may come back.
            return Answer::Retry {
                error: format!("request failed: {e}"),
                after: None,
            };
        }
    };
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, now));
    match verdict_for_status(status, retry_after) {
        Verdict::Delivered => {
            let id = response
                .json::<serde_json::Value>()
                .await
                .ok()
                .and_then(|v| v.get("id").and_then(|id| id.as_str()).map(str::to_owned));
            Answer::Sent(id)
        }
        Verdict::Retry { after } => Answer::Retry {
            error: format!("HTTP {status}"),
            after,
        },
        Verdict::Permanent => Answer::Permanent(format!("HTTP {status}")),
    }
}

/// The default rate limit of a channel, messages per second (WhatsApp's
/// default per number).
pub const DEFAULT_RATE: u32 = 80;
pub const MAX_RATE: u32 = 10_000;

/// A channel to create, as asked (API or command line).
pub struct ChannelRequest {
    pub org: chatcourse_storage::OrgId,
    pub kind: String,
    pub name: String,
    pub url: String,
    /// `KE` if `None`.
    pub default_country: Option<String>,
    /// [`DEFAULT_RATE`] if `None`.
    pub rate_per_second: Option<u32>,
    pub at: chrono::DateTime<chrono::Utc>,
}

/// Why a channel cannot be created.
#[derive(Debug)]
pub enum NewChannelError {
    /// One `field: reason` per problem.
    Invalid(Vec<String>),
    Internal(String),
}

/// Checks a channel request and makes its row: a new uuid and a new
/// secret, sealed with `key` and bound to the uuid. Returns the row and
/// the secret, to show once.
pub fn new_channel(
    request: ChannelRequest,
    key: &chatcourse_channels::sealing::SealingKey,
) -> Result<(chatcourse_storage::NewChannel, String), NewChannelError> {
    let mut errors = Vec::new();
    if request.kind != "webhook" {
        errors.push("kind: must be \"webhook\"".to_owned());
    }
    let name = request.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 200 {
        errors.push("name: must be 1 to 200 characters".to_owned());
    }
    let url = request.url.trim().to_owned();
    let scheme_ok = url.starts_with("http://") || url.starts_with("https://");
    if !scheme_ok || url.len() > 2000 || reqwest::Url::parse(&url).is_err() {
        errors.push("url: must be an http:// or https:// URL".to_owned());
    }
    let country = request.default_country.as_deref().unwrap_or("KE");
    let country = match country.parse::<chatcourse_channels::Country>() {
        Ok(c) => c.code().to_owned(),
        Err(e) => {
            errors.push(format!("default_country: {e}"));
            String::new()
        }
    };
    let rate = request.rate_per_second.unwrap_or(DEFAULT_RATE);
    if !(1..=MAX_RATE).contains(&rate) {
        errors.push(format!("rate_per_second: must be 1 to {MAX_RATE}"));
    }
    if !errors.is_empty() {
        return Err(NewChannelError::Invalid(errors));
    }
    let internal = |e: &dyn std::fmt::Display| NewChannelError::Internal(e.to_string());
    let secret = WebhookSecret::generate().map_err(|e| internal(&e))?;
    let uuid = uuid::Uuid::new_v4();
    let shown = secret.expose();
    let sealed = key
        .seal(shown.as_bytes(), uuid.as_bytes())
        .map_err(|e| internal(&e))?;
    let settings = serde_json::to_string(&WebhookSettings { url }).map_err(|e| internal(&e))?;
    Ok((
        chatcourse_storage::NewChannel {
            uuid,
            org: request.org,
            kind: request.kind,
            name,
            settings,
            secrets: sealed,
            default_country: country,
            rate_per_second: rate,
            created_at: request.at,
        },
        shown,
    ))
}
