//! The `webhook` kind: a signed JSON POST per message (Standard Webhooks);
//! learners' messages and delivery reports come back as signed JSON.

use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use chatcourse_channels::retry::{Verdict, verdict_for_status};
use chatcourse_channels::signing::{
    HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP, SignedHeaders, WebhookSecret,
};
use chatcourse_channels::{Country, Phone};
use chatcourse_storage::DeliveryStatus;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::kind::{
    Answer, Endpoint, Event, Handled, Incoming, Kind, Outgoing, request, url_setting,
};
use crate::envelope::ok;
use crate::error::ApiError;
use crate::wire::MessageItem;

/// The settings of a webhook channel (stored as JSON; no secrets).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebhookSettings {
    pub url: String,
    /// The integrator events this channel is sent ([`EVENTS`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<String>,
    /// `false`: events only, no learner messages (absent: true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<bool>,
}

/// The events a webhook channel may subscribe to (docs/channels.md).
pub const EVENTS: [&str; 4] = [
    "session.completed",
    "session.opted_out",
    "session.expired",
    "delivery.failed",
];

/// `settings.events`: a list of [`EVENTS`], each once.
fn events_setting(given: &serde_json::Value, errors: &mut Vec<String>) -> Vec<String> {
    let Some(value) = given.get("events") else {
        return Vec::new();
    };
    let Some(list) = value.as_array() else {
        errors.push(format!(
            "settings.events: must be a list of events, e.g. [\"session.completed\"] (known: {})",
            EVENTS.join(", ")
        ));
        return Vec::new();
    };
    let mut events = Vec::new();
    for item in list {
        match item.as_str() {
            Some(event) if EVENTS.contains(&event) => {
                if !events.iter().any(|e| e == event) {
                    events.push(event.to_owned());
                }
            }
            _ => errors.push(format!(
                "settings.events: unknown event {item} (known: {})",
                EVENTS.join(", ")
            )),
        }
    }
    events
}

pub(crate) struct Webhook;

fn secret(text: &str) -> Result<WebhookSecret, String> {
    WebhookSecret::parse(text).map_err(|e| e.to_string())
}

/// Checks the Standard Webhooks signature of a request.
fn verify(incoming: &Incoming<'_>) -> Result<(), ApiError> {
    let secret = secret(incoming.secret).map_err(ApiError::internal)?;
    let headers: &HeaderMap = incoming.headers;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let signed = SignedHeaders {
        id: header(HEADER_ID),
        timestamp: header(HEADER_TIMESTAMP),
        signature: header(HEADER_SIGNATURE),
    };
    secret
        .verify(&signed, incoming.body, incoming.now)
        .map_err(|_| ApiError::InvalidSignature)
}

/// Body of an inbound message.
#[derive(Debug, Deserialize, ToSchema)]
pub struct InboundMessage {
    /// The learner's phone; read with the channel's default country.
    #[schema(example = "0712 345 678")]
    pub from: String,
    pub text: String,
    /// The gateway's message id: a repeated id is applied once.
    pub id: String,
}

/// Body of a delivery report (`POST /api/v1/channels/{uuid}/status`).
#[derive(Debug, Deserialize, ToSchema)]
pub struct StatusReport {
    /// The message's id as the receiver answered it, or its
    /// `idempotency_key` when the receiver answered none.
    #[schema(example = "gateway-message-id-123")]
    pub id: String,
    /// `sent`, `delivered` or `failed`.
    #[schema(example = "delivered")]
    pub status: String,
    /// Why it failed.
    pub reason: Option<String>,
}

/// Where an inbound message went.
#[derive(Debug, Serialize, ToSchema)]
pub struct InboundData {
    /// False: no customer with that phone, or no live session (nothing
    /// stored; see docs/channels.md).
    pub routed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_uuid: Option<String>,
    /// True when the text was START and the phone was opted out.
    pub opted_in: bool,
}

/// What a delivery report did.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusData {
    /// False: no message sent over this channel has that id.
    pub matched: bool,
    /// The message's delivery status after the report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_status: Option<&'static str>,
}

impl Kind for Webhook {
    fn settings(&self, given: &serde_json::Value, errors: &mut Vec<String>) -> serde_json::Value {
        let before = errors.len();
        let url = url_setting(given, "url", None, errors);
        // The webhook's URL is the request's `url`: name it so.
        for e in &mut errors[before..] {
            *e = e.replacen("settings.url", "url", 1);
        }
        let events = events_setting(given, errors);
        let mut settings = json!({ "url": url.unwrap_or_default() });
        if !events.is_empty() {
            settings["events"] = json!(events);
        }
        // `messages: false`: an events-only channel, never chosen for
        // learners' messages.
        match given.get("messages") {
            None | Some(serde_json::Value::Bool(true)) => {}
            Some(serde_json::Value::Bool(false)) => settings["messages"] = json!(false),
            Some(other) => errors.push(format!(
                "settings.messages: must be true or false, not {other}"
            )),
        }
        settings
    }

    fn credential(&self) -> Option<&'static str> {
        None
    }

    fn send<'a>(&'a self, out: Outgoing<'a>) -> BoxFuture<'a, Answer> {
        Box::pin(send(out))
    }

    fn receive(&self, incoming: &Incoming<'_>) -> Result<Vec<Event>, ApiError> {
        self.receive_one(incoming).map(|event| vec![event])
    }

    fn respond(&self, _endpoint: Endpoint, handled: Handled) -> Response {
        match handled {
            Handled::Message {
                routed,
                session_uuid,
                opted_in,
            } => {
                let message = if opted_in {
                    "Opted in"
                } else if routed {
                    "Message received"
                } else {
                    "Not routed: no customer or no live session for this phone"
                };
                ok(
                    message,
                    InboundData {
                        routed,
                        session_uuid,
                        opted_in,
                    },
                )
                .into_response()
            }
            Handled::Report { matched, status } => ok(
                if matched {
                    "Delivery status recorded"
                } else {
                    "No message with that id"
                },
                StatusData {
                    matched,
                    delivery_status: status.map(DeliveryStatus::as_str),
                },
            )
            .into_response(),
            Handled::Ignored => ok("Ignored", json!({})).into_response(),
        }
    }
}

impl Webhook {
    fn receive_one(&self, incoming: &Incoming<'_>) -> Result<Event, ApiError> {
        verify(incoming)?;
        match incoming.endpoint {
            Endpoint::Inbound => {
                let message: InboundMessage = serde_json::from_slice(incoming.body)
                    .map_err(|e| ApiError::MalformedJson(vec![e.to_string()]))?;
                let country = incoming.channel.default_country.parse::<Country>().ok();
                let from = Phone::parse(&message.from, country)
                    .map_err(|e| ApiError::Validation(vec![format!("from: {e}")]))?;
                Ok(Event::Message {
                    from,
                    text: message.text,
                    id: message.id,
                })
            }
            Endpoint::Status => {
                let report: StatusReport = serde_json::from_slice(incoming.body)
                    .map_err(|e| ApiError::MalformedJson(vec![e.to_string()]))?;
                let status = match report.status.trim() {
                    "sent" => DeliveryStatus::Sent,
                    "delivered" => DeliveryStatus::Delivered,
                    "failed" => DeliveryStatus::Failed,
                    _ => {
                        return Err(ApiError::Validation(vec![
                            "status: must be \"sent\", \"delivered\" or \"failed\"".to_owned(),
                        ]));
                    }
                };
                if report.id.trim().is_empty() || report.id.len() > 255 {
                    return Err(ApiError::Validation(vec![
                        "id: must be 1 to 255 characters".to_owned(),
                    ]));
                }
                let reason = report
                    .reason
                    .filter(|r| !r.trim().is_empty())
                    .map(|r| r.chars().take(500).collect());
                Ok(Event::Report {
                    provider_message_id: report.id.trim().to_owned(),
                    status,
                    error: reason.or_else(|| {
                        (status == DeliveryStatus::Failed).then(|| "failed".to_owned())
                    }),
                    opt_out: false,
                })
            }
        }
    }
}

async fn send(out: Outgoing<'_>) -> Answer {
    let Outgoing {
        state,
        dispatcher,
        channel,
        secret: secret_text,
        row,
    } = out;
    let settings: WebhookSettings = match serde_json::from_str(&channel.settings) {
        Ok(s) => s,
        Err(e) => return Answer::permanent(format!("bad channel settings: {e}")),
    };
    let secret = match secret(secret_text) {
        Ok(secret) => secret,
        Err(e) => return Answer::permanent(e),
    };
    let body = match (&row.message, &row.payload) {
        (Some(message), _) => json!({
            "type": "message",
            "idempotency_key": row.idempotency_key,
            "channel": channel.uuid,
            "customer": {"uuid": row.customer_uuid, "phone": row.recipient},
            "session_uuid": message.session_uuid,
            "purpose": row.purpose,
            "message": MessageItem::new(message, state.timezone),
        }),
        // An event for the integrator: its payload, and the channel.
        (None, Some(payload)) => match serde_json::from_str::<serde_json::Value>(payload) {
            Ok(mut event) => {
                event["channel"] = json!(channel.uuid);
                event
            }
            Err(e) => return Answer::permanent(format!("bad event payload: {e}")),
        },
        (None, None) => return Answer::permanent("an outbox row with neither message nor event"),
    };
    let body = body.to_string().into_bytes();
    let now = state.clock.now();
    let timestamp = now.timestamp();
    let signature = secret.sign(&row.idempotency_key, timestamp, &body);
    let sending = dispatcher
        .client
        .post(&settings.url)
        .header(HEADER_ID, &row.idempotency_key)
        .header(HEADER_TIMESTAMP, timestamp.to_string())
        .header(HEADER_SIGNATURE, signature)
        .header("content-type", "application/json")
        .body(body);
    let reply = match request(sending, now).await {
        Ok(reply) => reply,
        Err(answer) => return answer,
    };
    let status = reply.status;
    match verdict_for_status(status, reply.retry_after) {
        Verdict::Delivered => {
            let id = reply
                .json
                .as_ref()
                .and_then(|v| v.get("id")?.as_str().map(str::to_owned))
                .filter(|id| !id.is_empty());
            // Without an id of the receiver's, delivery reports name the
            // message by its idempotency key.
            Answer::Sent {
                id: Some(id.unwrap_or_else(|| row.idempotency_key.clone())),
                segments: None,
            }
        }
        Verdict::Retry { after } => Answer::Retry {
            error: format!("HTTP {status}"),
            after,
        },
        Verdict::Permanent => Answer::permanent(format!("HTTP {status}")),
    }
}
