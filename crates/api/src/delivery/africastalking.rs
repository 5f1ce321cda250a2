//! The `africastalking` kind: SMS through Africa's Talking's messaging
//! API (the wire format is `chatcourse_channels::africastalking`). Their
//! callbacks are not signed: the channel's URLs carry a secret path token,
//! checked by the route before the kind reads the request.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chatcourse_channels::africastalking::{
    self as wire, API_KEY_HEADER, MESSAGING_PATH, RecipientVerdict, Report,
};
use chatcourse_channels::form::{encode_form, param, parse_form};
use chatcourse_channels::retry::{Verdict, verdict_for_status};
use chatcourse_channels::{Country, Phone, sms};
use chatcourse_storage::DeliveryStatus;
use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::json;

use super::kind::{
    Answer, Endpoint, Event, Handled, Incoming, Kind, Outgoing, form_field, request, text_setting,
    url_setting,
};
use crate::error::ApiError;

pub(crate) struct AfricasTalking;

/// The settings of an africastalking channel (the API key is the sealed
/// credential).
#[derive(Debug, Deserialize)]
struct Settings {
    username: String,
    /// A sender id or short code; the account's default if absent.
    from: Option<String>,
    base_url: String,
}

impl Kind for AfricasTalking {
    fn settings(&self, given: &serde_json::Value, errors: &mut Vec<String>) -> serde_json::Value {
        let username = text_setting(given, "username", true, errors);
        let from = text_setting(given, "from", false, errors);
        let base_url = url_setting(given, "base_url", Some(wire::DEFAULT_BASE_URL), errors);
        let public_url = given
            .get("public_url")
            .filter(|v| !v.is_null())
            .and_then(|_| url_setting(given, "public_url", None, errors));
        json!({
            "username": username,
            "from": from,
            "base_url": base_url,
            "public_url": public_url,
        })
    }

    fn credential(&self) -> Option<&'static str> {
        Some("the app's API key")
    }

    fn path_token(&self) -> bool {
        true
    }

    fn send<'a>(&'a self, out: Outgoing<'a>) -> BoxFuture<'a, Answer> {
        Box::pin(send(out))
    }

    fn receive(&self, incoming: &Incoming<'_>) -> Result<Vec<Event>, ApiError> {
        self.receive_one(incoming).map(|event| vec![event])
    }

    fn respond(&self, _endpoint: Endpoint, _handled: Handled) -> Response {
        (StatusCode::OK, "OK").into_response()
    }
}

impl AfricasTalking {
    fn receive_one(&self, incoming: &Incoming<'_>) -> Result<Event, ApiError> {
        let params = parse_form(incoming.body);
        let field = |name: &str| form_field(&params, name);
        match incoming.endpoint {
            Endpoint::Inbound => {
                let country = incoming.channel.default_country.parse::<Country>().ok();
                let from = Phone::parse(field("from")?, country)
                    .map_err(|e| ApiError::Validation(vec![format!("from: {e}")]))?;
                let id = field("id")?.to_owned();
                let text = param(&params, "text").unwrap_or_default();
                if text.trim().is_empty() {
                    return Ok(Event::Ignored);
                }
                Ok(Event::Message {
                    from,
                    text: text.to_owned(),
                    id,
                })
            }
            Endpoint::Status => {
                let id = field("id")?.to_owned();
                let report = wire::report(field("status")?, param(&params, "failureReason"))
                    .ok_or_else(|| ApiError::Validation(vec!["status: unknown status".into()]))?;
                let (status, error, opt_out) = match report {
                    Report::Sent => (DeliveryStatus::Sent, None, false),
                    Report::Delivered => (DeliveryStatus::Delivered, None, false),
                    Report::Failed { reason, opt_out } => {
                        (DeliveryStatus::Failed, Some(reason), opt_out)
                    }
                };
                Ok(Event::report(id, status, error, opt_out))
            }
        }
    }
}

async fn send(out: Outgoing<'_>) -> Answer {
    let settings: Settings = match serde_json::from_str(&out.channel.settings) {
        Ok(s) => s,
        Err(e) => return Answer::permanent(format!("bad channel settings: {e}")),
    };
    let Some(message) = &out.row.message else {
        return Answer::permanent(super::kind::EVENTS_ON_WEBHOOKS_ONLY);
    };
    let text = &message.text;
    let mut fields = vec![
        ("username", settings.username.as_str()),
        ("to", out.row.recipient.as_str()),
        ("message", text.as_str()),
    ];
    if let Some(from) = &settings.from {
        fields.push(("from", from.as_str()));
    }
    let sending = out
        .dispatcher
        .client
        .post(format!("{}{MESSAGING_PATH}", settings.base_url))
        .header(API_KEY_HEADER, out.secret)
        .header("accept", "application/json")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(encode_form(fields));
    let reply = match request(sending, out.state.clock.now()).await {
        Ok(reply) => reply,
        Err(answer) => return answer,
    };
    match verdict_for_status(reply.status, reply.retry_after) {
        Verdict::Retry { after } => {
            return Answer::Retry {
                error: format!("HTTP {}", reply.status),
                after,
            };
        }
        Verdict::Permanent => return Answer::permanent(format!("HTTP {}", reply.status)),
        Verdict::Delivered => {}
    }
    let answer = reply.json.unwrap_or_default();
    let Some(recipient) = wire::first_recipient(&answer) else {
        return Answer::permanent(format!(
            "Africa's Talking sent nothing: {}",
            wire::answer_message(&answer).unwrap_or("no recipient in the answer")
        ));
    };
    let error = format!(
        "Africa's Talking: {} ({})",
        recipient.status, recipient.status_code
    );
    match wire::recipient_verdict(recipient.status_code) {
        // Sent as one request: Africa's Talking sends a long text as one
        // concatenated SMS, billed per segment.
        RecipientVerdict::Sent => Answer::Sent {
            id: recipient.message_id,
            segments: Some(u32::try_from(sms::cost(text).segments).unwrap_or(u32::MAX)),
        },
        RecipientVerdict::Retry => Answer::Retry { error, after: None },
        RecipientVerdict::Permanent { opt_out } => Answer::Permanent { error, opt_out },
    }
}
