//! The `twilio` kind: SMS and WhatsApp through Twilio's Messages API
//! (the wire format is `chatcourse_channels::twilio`).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chatcourse_channels::twilio::{self as wire, Address, SendVerdict, Status};
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

pub(crate) struct Twilio;

/// The settings of a twilio channel (stored as JSON; the auth token is the
/// sealed credential).
#[derive(Debug, Deserialize)]
struct Settings {
    account_sid: String,
    /// The sender: `+14155550100`, or `whatsapp:+14155238886`.
    from: String,
    base_url: String,
    /// chatcourse's public base URL, as Twilio reaches it.
    public_url: String,
}

fn settings(stored: &str) -> Result<Settings, String> {
    serde_json::from_str(stored).map_err(|e| format!("bad channel settings: {e}"))
}

/// The URL of one of a channel's endpoints, as configured at Twilio.
fn endpoint_url(public_url: &str, channel: uuid::Uuid, endpoint: Endpoint) -> String {
    let last = match endpoint {
        Endpoint::Inbound => "inbound",
        Endpoint::Status => "status",
    };
    format!("{public_url}/api/v1/channels/{channel}/{last}")
}

impl Kind for Twilio {
    fn settings(&self, given: &serde_json::Value, errors: &mut Vec<String>) -> serde_json::Value {
        let account_sid = text_setting(given, "account_sid", true, errors);
        if let Some(sid) = &account_sid
            && (!sid.starts_with("AC") || !sid.chars().all(|c| c.is_ascii_alphanumeric()))
        {
            errors.push("settings.account_sid: an account SID starts with AC".to_owned());
        }
        let from = text_setting(given, "from", true, errors);
        if let Some(from) = &from
            && Phone::parse(Address::parse(from).number, None).is_err()
        {
            errors.push(
                "settings.from: must be a phone in E.164 (+14155550100) or whatsapp:+14155238886"
                    .to_owned(),
            );
        }
        let base_url = url_setting(given, "base_url", Some(wire::DEFAULT_BASE_URL), errors);
        let public_url = url_setting(given, "public_url", None, errors);
        json!({
            "account_sid": account_sid,
            "from": from,
            "base_url": base_url,
            "public_url": public_url,
        })
    }

    fn credential(&self) -> Option<&'static str> {
        Some("the account's auth token")
    }

    fn send<'a>(&'a self, out: Outgoing<'a>) -> BoxFuture<'a, Answer> {
        Box::pin(send(out))
    }

    fn receive(&self, incoming: &Incoming<'_>) -> Result<Vec<Event>, ApiError> {
        self.receive_one(incoming).map(|event| vec![event])
    }

    fn respond(&self, endpoint: Endpoint, _handled: Handled) -> Response {
        match endpoint {
            // Nothing said back through Twilio: replies go out through the
            // API, in order, from the outbox.
            Endpoint::Inbound => (
                StatusCode::OK,
                [("content-type", "text/xml")],
                wire::EMPTY_TWIML,
            )
                .into_response(),
            Endpoint::Status => StatusCode::OK.into_response(),
        }
    }
}

impl Twilio {
    fn receive_one(&self, incoming: &Incoming<'_>) -> Result<Event, ApiError> {
        let settings = settings(&incoming.channel.settings).map_err(ApiError::internal)?;
        let params = wire::parse_form(incoming.body);
        let url = format!("{}{}", settings.public_url, incoming.path_and_query);
        let signature = incoming
            .headers
            .get(wire::SIGNATURE_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if !wire::verify(incoming.secret, &url, &params, signature) {
            return Err(ApiError::InvalidSignature);
        }
        let field = |name: &str| form_field(&params, name);
        match incoming.endpoint {
            Endpoint::Inbound => {
                let from = Address::parse(field("From")?);
                let country = incoming.channel.default_country.parse::<Country>().ok();
                let from = Phone::parse(from.number, country)
                    .map_err(|e| ApiError::Validation(vec![format!("From: {e}")]))?;
                let id = field("MessageSid")?.to_owned();
                // A message without text (media only) is not a turn.
                let text = wire::param(&params, "Body").unwrap_or_default();
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
                let sid = field("MessageSid")?.to_owned();
                let status =
                    wire::status(field("MessageStatus")?, wire::param(&params, "ErrorCode"))
                        .ok_or_else(|| {
                            ApiError::Validation(vec!["MessageStatus: unknown status".to_owned()])
                        })?;
                Ok(match status {
                    Status::Pending => Event::Ignored,
                    Status::Sent => Event::report(sid, DeliveryStatus::Sent, None, false),
                    Status::Delivered => Event::report(sid, DeliveryStatus::Delivered, None, false),
                    Status::Failed { error_code } => Event::report(
                        sid,
                        DeliveryStatus::Failed,
                        Some(error_code.map_or_else(
                            || {
                                format!(
                                    "Twilio status {}",
                                    field("MessageStatus").unwrap_or("failed")
                                )
                            },
                            wire::error_reason,
                        )),
                        wire::failure_opts_out(error_code),
                    ),
                })
            }
        }
    }
}

async fn send(out: Outgoing<'_>) -> Answer {
    let settings = match settings(&out.channel.settings) {
        Ok(s) => s,
        Err(e) => return Answer::permanent(e),
    };
    let Some(message) = &out.row.message else {
        return Answer::permanent(super::kind::EVENTS_ON_WEBHOOKS_ONLY);
    };
    let text = &message.text;
    let to = Address::to_format(&out.row.recipient, &settings.from);
    let callback = endpoint_url(&settings.public_url, out.channel.uuid, Endpoint::Status);
    let body = wire::encode_form([
        ("To", to.as_str()),
        ("From", settings.from.as_str()),
        ("Body", text.as_str()),
        ("StatusCallback", callback.as_str()),
    ]);
    let url = format!(
        "{}{}",
        settings.base_url,
        wire::messages_path(&settings.account_sid)
    );
    let now = out.state.clock.now();
    let sending = out
        .dispatcher
        .client
        .post(url)
        .basic_auth(&settings.account_sid, Some(out.secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    let reply = match request(sending, now).await {
        Ok(reply) => reply,
        Err(answer) => return answer,
    };
    let (status, json) = (reply.status, reply.json);
    if (200..300).contains(&status) {
        let sid = json
            .as_ref()
            .and_then(|v| v.get("sid")?.as_str().map(str::to_owned));
        // Twilio sends a long text as one concatenated SMS (up to 1,600
        // characters); WhatsApp has no segments.
        let segments = (!Address::parse(&settings.from).whatsapp)
            .then(|| u32::try_from(sms::cost(text).segments).unwrap_or(u32::MAX));
        return Answer::Sent { id: sid, segments };
    }
    let code = json
        .as_ref()
        .and_then(|v| v.get("code")?.as_u64())
        .and_then(|c| u32::try_from(c).ok());
    let error = code.map_or_else(|| format!("HTTP {status}"), wire::error_reason);
    match wire::error_verdict(status, code) {
        SendVerdict::Retry => Answer::Retry {
            error,
            after: reply.retry_after,
        },
        SendVerdict::Permanent { opt_out } => Answer::Permanent { error, opt_out },
    }
}
