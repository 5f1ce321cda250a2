//! The `whatsapp` kind: Meta's WhatsApp Cloud API, direct (the wire format
//! is `chatcourse_channels::whatsapp`). Outside the 24-hour window since
//! the learner last wrote, a message goes out as the template the channel
//! maps to its purpose, or fails with the reason.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chatcourse_channels::Phone;
use chatcourse_channels::whatsapp::{self as wire, Notification, SendVerdict};
use chatcourse_storage::DeliveryStatus;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::kind::{
    Answer, Endpoint, Event, Handled, Incoming, Kind, Outgoing, request, text_setting, url_setting,
};
use crate::error::ApiError;

pub(crate) struct WhatsApp;

/// The purposes a template may be mapped to.
const PURPOSES: [&str; 4] = ["enrolment", "reminder", "expiry", "reply"];

/// A template for messages of one purpose outside the window.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Template {
    name: String,
    /// The template's language code.
    language: String,
    /// Whether the template's body variable `{{1}}` gets the message's
    /// text.
    text: bool,
}

#[derive(Debug, Deserialize)]
struct Settings {
    phone_number_id: String,
    api_version: String,
    base_url: String,
    #[serde(default)]
    templates: BTreeMap<String, Template>,
    /// Prompts that list choices go as reply buttons or lists.
    #[serde(default)]
    interactive: bool,
}

fn templates(given: &serde_json::Value, errors: &mut Vec<String>) -> BTreeMap<String, Template> {
    let mut out = BTreeMap::new();
    let Some(map) = given.get("templates").filter(|t| !t.is_null()) else {
        return out;
    };
    let Some(map) = map.as_object() else {
        errors.push("settings.templates: must be an object of purpose to template".to_owned());
        return out;
    };
    for (purpose, t) in map {
        if !PURPOSES.contains(&purpose.as_str()) {
            errors.push(format!(
                "settings.templates.{purpose}: the purposes are enrolment, reminder, expiry, reply"
            ));
            continue;
        }
        let name = t.get("name").and_then(|n| n.as_str()).map(str::trim);
        let Some(name) = name.filter(|n| !n.is_empty() && n.len() <= 512) else {
            errors.push(format!("settings.templates.{purpose}.name: required"));
            continue;
        };
        let language = t.get("language").and_then(|l| l.as_str()).unwrap_or("en");
        let text = t
            .get("text")
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(true);
        out.insert(
            purpose.clone(),
            Template {
                name: name.to_owned(),
                language: language.trim().to_owned(),
                text,
            },
        );
    }
    out
}

impl Kind for WhatsApp {
    fn settings(&self, given: &serde_json::Value, errors: &mut Vec<String>) -> serde_json::Value {
        let phone_number_id = text_setting(given, "phone_number_id", true, errors);
        if let Some(id) = &phone_number_id
            && !id.chars().all(|c| c.is_ascii_digit())
        {
            errors.push("settings.phone_number_id: the phone number's id, digits".to_owned());
        }
        let api_version = text_setting(given, "api_version", false, errors)
            .unwrap_or_else(|| wire::DEFAULT_VERSION.to_owned());
        if !api_version.starts_with('v') || api_version.contains('/') {
            errors.push("settings.api_version: like v21.0".to_owned());
        }
        let base_url = url_setting(given, "base_url", Some(wire::DEFAULT_BASE_URL), errors);
        let public_url = given
            .get("public_url")
            .filter(|v| !v.is_null())
            .and_then(|_| url_setting(given, "public_url", None, errors));
        let interactive = match given.get("interactive") {
            None | Some(serde_json::Value::Null) => false,
            Some(serde_json::Value::Bool(b)) => *b,
            Some(_) => {
                errors.push("settings.interactive: must be true or false".to_owned());
                false
            }
        };
        json!({
            "phone_number_id": phone_number_id,
            "interactive": interactive,
            "api_version": api_version,
            "base_url": base_url,
            "public_url": public_url,
            "templates": templates(given, errors),
        })
    }

    fn credential(&self) -> Option<&'static str> {
        Some("the access token")
    }

    fn app_secret(&self) -> bool {
        true
    }

    fn verify_token(&self) -> bool {
        true
    }

    fn send<'a>(&'a self, out: Outgoing<'a>) -> BoxFuture<'a, Answer> {
        Box::pin(send(out))
    }

    fn receive(&self, incoming: &Incoming<'_>) -> Result<Vec<Event>, ApiError> {
        let app_secret = incoming.app_secret.unwrap_or_default();
        let signature = incoming
            .headers
            .get(wire::SIGNATURE_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if app_secret.is_empty() || !wire::verify(app_secret, incoming.body, signature) {
            return Err(ApiError::InvalidSignature);
        }
        let body: serde_json::Value = serde_json::from_slice(incoming.body)
            .map_err(|e| ApiError::MalformedJson(vec![e.to_string()]))?;
        // Messages and statuses come to the same URL: either endpoint
        // takes both.
        wire::parse_notification(&body)
            .into_iter()
            .map(|n| match n {
                Notification::Message { from, id, text, .. } => {
                    let from = Phone::parse(&format!("+{}", from.trim_start_matches('+')), None)
                        .map_err(|e| ApiError::Validation(vec![format!("from: {e}")]))?;
                    Ok(match text {
                        Some(text) => Event::Message { from, text, id },
                        // Voice notes, images without caption, locations ...
                        None => Event::Ignored,
                    })
                }
                Notification::Status { id, status, error } => Ok(match status.as_str() {
                    "sent" => Event::report(id, DeliveryStatus::Sent, None, false),
                    "delivered" | "read" => {
                        Event::report(id, DeliveryStatus::Delivered, None, false)
                    }
                    "failed" => {
                        let reason = error.as_ref().map_or_else(
                            || "WhatsApp: failed".to_owned(),
                            |(code, title)| format!("WhatsApp error {code}: {title}"),
                        );
                        let opt_out = error.is_some_and(|(code, _)| {
                            wire::error_verdict(400, Some(code))
                                == (SendVerdict::Permanent { opt_out: true })
                        });
                        Event::report(id, DeliveryStatus::Failed, Some(reason), opt_out)
                    }
                    _ => Event::Ignored,
                }),
            })
            .collect()
    }

    fn respond(&self, _endpoint: Endpoint, _handled: Handled) -> Response {
        (StatusCode::OK, "OK").into_response()
    }
}

async fn send(out: Outgoing<'_>) -> Answer {
    let settings: Settings = match serde_json::from_str(&out.channel.settings) {
        Ok(s) => s,
        Err(e) => return Answer::permanent(format!("bad channel settings: {e}")),
    };
    let row = out.row;
    let Some(message) = &out.row.message else {
        return Answer::permanent(super::kind::EVENTS_ON_WEBHOOKS_ONLY);
    };
    let now = out.state.clock.now();
    let last = match out.state.store.last_inbound_at(message.customer).await {
        Ok(last) => last,
        Err(e) => {
            return Answer::Retry {
                error: format!("reading the learner's last message failed: {e}"),
                after: None,
            };
        }
    };
    let window_open = last.is_some_and(|at| now - at < chrono::Duration::hours(wire::WINDOW_HOURS));
    let body = if window_open {
        settings
            .interactive
            .then(|| wire::interactive_message(&row.recipient, &message.text))
            .flatten()
            .unwrap_or_else(|| wire::text_message(&row.recipient, &message.text))
    } else {
        let Some(t) = settings.templates.get(&row.purpose) else {
            return Answer::permanent(format!(
                "outside WhatsApp's 24-hour window (the learner last wrote {}), and the channel \
                 maps no template to {} messages (settings.templates.{})",
                last.map_or_else(|| "never".to_owned(), |at| at.to_rfc3339()),
                row.purpose,
                row.purpose
            ));
        };
        wire::template_message(
            &row.recipient,
            &t.name,
            &t.language,
            t.text.then_some(message.text.as_str()),
        )
    };
    let url = format!(
        "{}{}",
        settings.base_url,
        wire::messages_path(&settings.api_version, &settings.phone_number_id)
    );
    let sending = out
        .dispatcher
        .client
        .post(url)
        .bearer_auth(out.secret)
        .json(&body);
    let reply = match request(sending, now).await {
        Ok(reply) => reply,
        Err(answer) => return answer,
    };
    let json = reply.json.unwrap_or_default();
    if (200..300).contains(&reply.status) {
        return Answer::Sent {
            id: wire::sent_id(&json),
            segments: None,
        };
    }
    let error = wire::error_of(&json);
    let reason = error.as_ref().map_or_else(
        || format!("HTTP {}", reply.status),
        |(code, message)| format!("WhatsApp error {code}: {message}"),
    );
    match wire::error_verdict(reply.status, error.map(|(code, _)| code)) {
        SendVerdict::Retry => Answer::Retry {
            error: reason,
            after: reply.retry_after,
        },
        SendVerdict::Permanent { opt_out } => Answer::Permanent {
            error: reason,
            opt_out,
        },
    }
}
