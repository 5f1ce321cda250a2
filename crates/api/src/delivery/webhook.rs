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
pub(crate) struct WebhookSettings {
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
pub(crate) fn open_secret(
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
