//! Meta's WhatsApp Cloud API, as far as chatcourse uses it:
//!
//! - **Outbound**: `POST {base}/{version}/{phone_number_id}/messages` with
//!   a bearer token and JSON: a `text` message inside the 24-hour
//!   customer-service window, a `template` message outside it. The answer's
//!   `messages[0].id` (`wamid...`) is the message id; errors are
//!   `{"error": {"code", "message"}}` ([`error_verdict`]).
//! - **Webhooks**: a `GET` verification handshake (`hub.mode`,
//!   `hub.verify_token`, `hub.challenge`), then `POST`s of JSON
//!   notifications (`entry[].changes[].value.messages[]` and
//!   `.statuses[]`) signed with `X-Hub-Signature-256`: `sha256=` and the hex
//!   HMAC-SHA256 of the raw body under the app secret.

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

/// The signature header of Meta's webhooks.
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";
/// The Graph API and the version used when the channel names none.
pub const DEFAULT_BASE_URL: &str = "https://graph.facebook.com";
pub const DEFAULT_VERSION: &str = "v21.0";
/// The customer-service window, in hours.
pub const WINDOW_HOURS: i64 = 24;

/// The path of a phone number's messages.
pub fn messages_path(version: &str, phone_number_id: &str) -> String {
    format!("/{version}/{phone_number_id}/messages")
}

fn mac(app_secret: &str, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(app_secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(body);
    mac
}

/// `X-Hub-Signature-256` of a body.
pub fn signature(app_secret: &str, body: &[u8]) -> String {
    let digest = mac(app_secret, body).finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// Whether `header` signs `body` (constant time).
pub fn verify(app_secret: &str, body: &[u8], header: &str) -> bool {
    let Some(hex) = header.trim().strip_prefix("sha256=") else {
        return false;
    };
    if hex.len() != 64 || !hex.is_ascii() {
        return false;
    }
    let bytes: Option<Vec<u8>> = (0..32)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
        .collect();
    bytes.is_some_and(|b| mac(app_secret, body).verify_slice(&b).is_ok())
}

/// The recipient as the API writes it: E.164 digits without `+`.
pub fn recipient(e164: &str) -> &str {
    e164.trim_start_matches('+')
}

/// A text message (inside the window).
pub fn text_message(to_e164: &str, body: &str) -> Value {
    json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": recipient(to_e164),
        "type": "text",
        "text": {"preview_url": false, "body": body},
    })
}

/// The choices a prompt lists, as the engine writes them: a run of lines
/// `1. ...`, `2. ...` (at least two, numbered from 1), followed by at
/// most one line (the "Reply 1, 2 or 3." hint). `(number, label)` pairs.
pub fn listed_choices(text: &str) -> Option<Vec<(String, String)>> {
    let lines: Vec<&str> = text.lines().collect();
    let numbered = |line: &str, n: usize| {
        let rest = line.strip_prefix(&format!("{n}. "))?;
        (!rest.trim().is_empty()).then(|| rest.trim().to_owned())
    };
    for start in 0..lines.len() {
        let mut choices = Vec::new();
        while let Some(label) = lines
            .get(start + choices.len())
            .and_then(|l| numbered(l, choices.len() + 1))
        {
            choices.push(((choices.len() + 1).to_string(), label));
        }
        let after = lines.len() - start - choices.len();
        if choices.len() >= 2 && after <= 1 {
            return Some(choices);
        }
    }
    None
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// The text as an interactive message whose reply buttons (2 or 3
/// choices) or list rows (4 to 10) are its listed choices, each with the
/// choice's number as its id; `None` when the text lists no choices, more
/// than 10, or is too long for an interactive body (1,024 characters).
pub fn interactive_message(to_e164: &str, text: &str) -> Option<Value> {
    let choices = listed_choices(text)?;
    if choices.len() > 10 || text.chars().count() > 1024 {
        return None;
    }
    let interactive = if choices.len() <= 3 {
        let buttons: Vec<Value> = choices
            .iter()
            .map(|(id, label)| json!({"type": "reply", "reply": {"id": id, "title": truncate(&format!("{id}. {label}"), 20)}}))
            .collect();
        json!({"type": "button", "body": {"text": text}, "action": {"buttons": buttons}})
    } else {
        let rows: Vec<Value> = choices
            .iter()
            .map(|(id, label)| {
                json!({"id": id, "title": truncate(&format!("{id}. {label}"), 24),
                       "description": truncate(label, 72)})
            })
            .collect();
        json!({"type": "list", "body": {"text": text},
               "action": {"button": "Choose", "sections": [{"title": "Choices", "rows": rows}]}})
    };
    Some(json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": recipient(to_e164),
        "type": "interactive",
        "interactive": interactive,
    }))
}

/// A template message (outside the window). With `text`, the template's
/// body variable `{{1}}` is filled with it (new lines and runs of spaces
/// folded: template parameters may hold neither).
pub fn template_message(to_e164: &str, name: &str, language: &str, text: Option<&str>) -> Value {
    let mut template = json!({"name": name, "language": {"code": language}});
    if let Some(text) = text {
        let folded = text.split_whitespace().collect::<Vec<_>>().join(" ");
        template["components"] = json!([{
            "type": "body",
            "parameters": [{"type": "text", "text": folded}],
        }]);
    }
    json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": recipient(to_e164),
        "type": "template",
        "template": template,
    })
}

/// The id of a sent message (`messages[0].id`).
pub fn sent_id(answer: &Value) -> Option<String> {
    Some(
        answer
            .get("messages")?
            .get(0)?
            .get("id")?
            .as_str()?
            .to_owned(),
    )
}

/// The error code and message of an error answer.
pub fn error_of(answer: &Value) -> Option<(u64, String)> {
    let error = answer.get("error")?;
    Some((
        error.get("code")?.as_u64()?,
        error
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
    ))
}

/// What an error answer means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendVerdict {
    Retry,
    Permanent { opt_out: bool },
}

/// 429, 5xx and the rate-limit codes (4, 80007, 130429, 131048, 131056)
/// are retried; 131050 (the user stopped marketing messages) opts the
/// contact out; every other error is permanent (131047: outside the
/// 24-hour window; 131026: undeliverable ...).
pub fn error_verdict(http_status: u16, code: Option<u64>) -> SendVerdict {
    match code {
        Some(131_050) => SendVerdict::Permanent { opt_out: true },
        Some(4 | 80_007 | 130_429 | 131_048 | 131_056) => SendVerdict::Retry,
        _ if http_status == 429 || http_status >= 500 => SendVerdict::Retry,
        _ => SendVerdict::Permanent { opt_out: false },
    }
}

/// One thing a webhook notification says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notification {
    /// A learner's message. `text` is the text, the tapped button's or list
    /// row's title, or `None` for a message without text (image, voice
    /// note, location ...; `kind` says which).
    Message {
        from: String,
        id: String,
        kind: String,
        text: Option<String>,
    },
    /// What became of a message sent: `sent`, `delivered`, `read` or
    /// `failed` (with the first error's code and title).
    Status {
        id: String,
        status: String,
        error: Option<(u64, String)>,
    },
}

fn text_of(message: &Value) -> Option<String> {
    let str_at = |path: &[&str]| {
        let mut v = message;
        for key in path {
            v = v.get(key)?;
        }
        v.as_str().map(str::to_owned)
    };
    match message.get("type")?.as_str()? {
        "text" => str_at(&["text", "body"]),
        "button" => str_at(&["button", "text"]),
        // A tap on a reply button or a list row: its id (chatcourse's
        // buttons carry the choice's number), else its title.
        "interactive" => str_at(&["interactive", "button_reply", "id"])
            .or_else(|| str_at(&["interactive", "list_reply", "id"]))
            .or_else(|| str_at(&["interactive", "button_reply", "title"]))
            .or_else(|| str_at(&["interactive", "list_reply", "title"])),
        // A caption is the learner's text.
        "image" | "video" | "document" => str_at(&[message.get("type")?.as_str()?, "caption"]),
        _ => None,
    }
}

/// Reads a notification's messages and statuses, in order. Anything not
/// shaped as expected is skipped.
pub fn parse_notification(body: &Value) -> Vec<Notification> {
    let mut out = Vec::new();
    let values = body
        .get("entry")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| e.get("changes")?.as_array())
        .flatten()
        .filter_map(|c| c.get("value"));
    for value in values {
        for m in value
            .get("messages")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let (Some(from), Some(id)) = (
                m.get("from").and_then(Value::as_str),
                m.get("id").and_then(Value::as_str),
            ) else {
                continue;
            };
            out.push(Notification::Message {
                from: from.to_owned(),
                id: id.to_owned(),
                kind: m
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown")
                    .to_owned(),
                text: text_of(m).filter(|t| !t.trim().is_empty()),
            });
        }
        for s in value
            .get("statuses")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let (Some(id), Some(status)) = (
                s.get("id").and_then(Value::as_str),
                s.get("status").and_then(Value::as_str),
            ) else {
                continue;
            };
            let error = s.get("errors").and_then(|e| e.get(0)).and_then(|e| {
                Some((
                    e.get("code")?.as_u64()?,
                    e.get("title")
                        .or_else(|| e.get("message"))
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                ))
            });
            out.push(Notification::Status {
                id: id.to_owned(),
                status: status.to_owned(),
                error,
            });
        }
    }
    out
}

/// A notification with one learner's text message, as Meta sends it.
pub fn text_notification(phone_number_id: &str, from: &str, id: &str, text: &str) -> Value {
    notification(
        phone_number_id,
        json!({"messages": [{"from": from, "id": id, "timestamp": "1764936000",
                            "type": "text", "text": {"body": text}}],
               "contacts": [{"profile": {"name": "Learner"}, "wa_id": from}]}),
    )
}

/// A notification with a learner's tap on a reply button.
pub fn button_reply_notification(
    phone_number_id: &str,
    from: &str,
    id: &str,
    button_id: &str,
    title: &str,
) -> Value {
    notification(
        phone_number_id,
        json!({"messages": [{"from": from, "id": id, "timestamp": "1764936000",
                            "type": "interactive",
                            "interactive": {"type": "button_reply",
                                            "button_reply": {"id": button_id, "title": title}}}]}),
    )
}

/// A notification with one status of a message sent.
pub fn status_notification(
    phone_number_id: &str,
    id: &str,
    status: &str,
    recipient: &str,
    error: Option<(u64, &str)>,
) -> Value {
    let mut s = json!({"id": id, "status": status, "timestamp": "1764936000",
                       "recipient_id": recipient});
    if let Some((code, title)) = error {
        s["errors"] = json!([{"code": code, "title": title}]);
    }
    notification(phone_number_id, json!({"statuses": [s]}))
}

fn notification(phone_number_id: &str, mut value: Value) -> Value {
    value["messaging_product"] = json!("whatsapp");
    value["metadata"] = json!({"display_phone_number": "15550000000",
                               "phone_number_id": phone_number_id});
    json!({"object": "whatsapp_business_account",
           "entry": [{"id": "0", "changes": [{"field": "messages", "value": value}]}]})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures() {
        let body = br#"{"object":"whatsapp_business_account"}"#;
        let header = signature("app-secret", body);
        assert!(header.starts_with("sha256=") && header.len() == 71);
        assert!(verify("app-secret", body, &header));
        assert!(!verify("other", body, &header));
        assert!(!verify("app-secret", b"{}", &header));
        assert!(!verify("app-secret", body, "sha1=abc"));
        assert!(!verify("app-secret", body, "sha256=zz"));
    }

    #[test]
    fn notifications_round_trip() {
        let n = text_notification("123", "254712345678", "wamid.1", "2");
        assert_eq!(
            parse_notification(&n),
            [Notification::Message {
                from: "254712345678".into(),
                id: "wamid.1".into(),
                kind: "text".into(),
                text: Some("2".into())
            }]
        );
        let s = status_notification(
            "123",
            "wamid.2",
            "failed",
            "254712345678",
            Some((131_047, "Re-engagement message")),
        );
        assert_eq!(
            parse_notification(&s),
            [Notification::Status {
                id: "wamid.2".into(),
                status: "failed".into(),
                error: Some((131_047, "Re-engagement message".into()))
            }]
        );
        let voice = json!({"entry": [{"changes": [{"value": {"messages": [
            {"from": "1", "id": "a", "type": "audio", "audio": {"id": "x"}},
            {"from": "1", "id": "b", "type": "interactive",
             "interactive": {"type": "button_reply", "button_reply": {"id": "2", "title": "Yes"}}}]}}]}]});
        let parsed = parse_notification(&voice);
        assert!(
            matches!(&parsed[0], Notification::Message { text: None, kind, .. } if kind == "audio")
        );
        assert!(matches!(&parsed[1], Notification::Message { text: Some(t), .. } if t == "2"));
        assert!(parse_notification(&json!({"nonsense": true})).is_empty());
    }

    #[test]
    fn listed_choices_become_buttons_or_lists() {
        let q = "What is the first step?\n1. Taking a big loan\n2. Knowing how much you earn and spend\n3. Buying on credit\nReply 1, 2 or 3.";
        let choices = listed_choices(q).unwrap();
        assert_eq!(choices.len(), 3);
        assert_eq!(
            choices[1],
            (
                "2".to_owned(),
                "Knowing how much you earn and spend".to_owned()
            )
        );
        let m = interactive_message("+254712345678", q).unwrap();
        assert_eq!(m["interactive"]["type"], "button");
        let b = &m["interactive"]["action"]["buttons"][1]["reply"];
        assert_eq!(
            (b["id"].as_str(), b["title"].as_str()),
            (Some("2"), Some("2. Knowing how much…"))
        );
        assert_eq!(m["interactive"]["body"]["text"], q);
        let many: String = (1..=5).map(|n| format!("\n{n}. Option {n}")).collect();
        let list = interactive_message("+2547", &format!("Pick one{many}")).unwrap();
        assert_eq!(list["interactive"]["type"], "list");
        assert_eq!(
            list["interactive"]["action"]["sections"][0]["rows"][4]["id"],
            "5"
        );
        assert_eq!(listed_choices("No list here.\n1. only one"), None);
        assert_eq!(listed_choices("1. a\n3. c"), None);
        assert_eq!(listed_choices("Q\n1. a\n2. b\nhint\nmore text"), None);
        let eleven: String = (1..=11).map(|n| format!("\n{n}. x")).collect();
        assert_eq!(interactive_message("+2547", &format!("Q{eleven}")), None);
    }

    #[test]
    fn messages_and_errors() {
        let t = template_message(
            "+254712345678",
            "course_reminder",
            "en",
            Some("Hello\n  there"),
        );
        assert_eq!(t["to"], "254712345678");
        assert_eq!(
            t["template"]["components"][0]["parameters"][0]["text"],
            "Hello there"
        );
        assert_eq!(text_message("+2547", "hi")["text"]["body"], "hi");
        assert_eq!(
            sent_id(&json!({"messages": [{"id": "wamid.X"}]})).as_deref(),
            Some("wamid.X")
        );
        assert_eq!(
            error_verdict(400, Some(131_047)),
            SendVerdict::Permanent { opt_out: false }
        );
        assert_eq!(
            error_verdict(400, Some(131_050)),
            SendVerdict::Permanent { opt_out: true }
        );
        assert_eq!(error_verdict(400, Some(130_429)), SendVerdict::Retry);
        assert_eq!(error_verdict(503, None), SendVerdict::Retry);
    }
}
