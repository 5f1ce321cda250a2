//! Africa's Talking SMS, as far as chatcourse uses it:
//!
//! - **Outbound**: `POST {base}/version1/messaging`, header `apiKey`,
//!   `Accept: application/json`, form fields `username`, `to`, `message`
//!   and optionally `from` (a sender id or short code). The answer's
//!   `SMSMessageData.Recipients[]` carries, per number, a `statusCode`
//!   ([`recipient_verdict`]) and the `messageId`.
//! - **Inbound** (a learner's SMS): a form POST with `from`, `to`, `text`,
//!   `date`, `id`, `linkId`.
//! - **Delivery reports**: form POSTs with `id`, `status` and, when it
//!   failed, `failureReason` ([`report`]).
//!
//! Africa's Talking does not sign its callbacks: chatcourse puts an
//! unguessable token in each channel's callback URLs ([`tokens_match`]).

/// The production and sandbox APIs.
pub const DEFAULT_BASE_URL: &str = "https://api.africastalking.com";
pub const SANDBOX_BASE_URL: &str = "https://api.sandbox.africastalking.com";
/// The path of the messaging API.
pub const MESSAGING_PATH: &str = "/version1/messaging";
/// The header of the API key.
pub const API_KEY_HEADER: &str = "apikey";

/// What a recipient's `statusCode` in a send's answer means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecipientVerdict {
    /// 100 Processed, 101 Sent, 102 Queued.
    Sent,
    /// 405 InsufficientBalance, 500 InternalServerError, 501 GatewayError:
    /// may work later.
    Retry,
    /// Anything else (403 InvalidPhoneNumber, 404 UnsupportedNumberType,
    /// 406 UserInBlacklist ...); `opt_out` for 406 (the recipient blocked
    /// the sender).
    Permanent { opt_out: bool },
}

pub fn recipient_verdict(status_code: u32) -> RecipientVerdict {
    match status_code {
        100..=102 => RecipientVerdict::Sent,
        405 | 500 | 501 => RecipientVerdict::Retry,
        406 => RecipientVerdict::Permanent { opt_out: true },
        _ => RecipientVerdict::Permanent { opt_out: false },
    }
}

/// The first recipient of a send's JSON answer: its `statusCode`,
/// `status` and `messageId`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub status_code: u32,
    pub status: String,
    pub message_id: Option<String>,
}

/// Reads `SMSMessageData.Recipients[0]`; `None` when there is none (the
/// answer's `Message` then says why, e.g. `InvalidSenderId`).
pub fn first_recipient(answer: &serde_json::Value) -> Option<Recipient> {
    let r = answer.get("SMSMessageData")?.get("Recipients")?.get(0)?;
    Some(Recipient {
        status_code: r
            .get("statusCode")
            .and_then(serde_json::Value::as_u64)
            .and_then(|c| u32::try_from(c).ok())?,
        status: r
            .get("status")
            .and_then(|s| s.as_str())
            .unwrap_or_default()
            .to_owned(),
        message_id: r
            .get("messageId")
            .and_then(|s| s.as_str())
            .filter(|s| !s.is_empty() && *s != "None")
            .map(str::to_owned),
    })
}

/// The answer's `SMSMessageData.Message` (a summary, or why nothing was
/// sent).
pub fn answer_message(answer: &serde_json::Value) -> Option<&str> {
    answer.get("SMSMessageData")?.get("Message")?.as_str()
}

/// What a delivery report says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// `Sent`, `Submitted`, `Buffered`: on its way.
    Sent,
    /// `Success`: delivered to the handset.
    Delivered,
    /// `Failed`, `Rejected`, `AbsentSubscriber`, `Expired`; the reason, and
    /// whether it means the recipient blocked the sender.
    Failed { reason: String, opt_out: bool },
}

/// Reads a delivery report's `status` and `failureReason`; `None` for an
/// unknown status.
pub fn report(status: &str, failure_reason: Option<&str>) -> Option<Report> {
    Some(match status.trim() {
        "Sent" | "Submitted" | "Buffered" => Report::Sent,
        "Success" => Report::Delivered,
        "Failed" | "Rejected" | "AbsentSubscriber" | "Expired" => {
            let reason = failure_reason.map(str::trim).filter(|r| !r.is_empty());
            Report::Failed {
                reason: match reason {
                    Some(r) => format!("Africa's Talking: {} ({r})", status.trim()),
                    None => format!("Africa's Talking: {}", status.trim()),
                },
                opt_out: reason.is_some_and(|r| r.eq_ignore_ascii_case("UserInBlacklist")),
            }
        }
        _ => return None,
    })
}

/// Whether a request's path token is the channel's, in time that does not
/// depend on where they differ.
pub fn tokens_match(given: &str, expected: &str) -> bool {
    let (a, b) = (given.as_bytes(), expected.as_bytes());
    if a.len() != b.len() || b.is_empty() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn send_answers() {
        let answer = json!({"SMSMessageData": {
            "Message": "Sent to 1/1 Total Cost: KES 0.8000",
            "Recipients": [{"statusCode": 101, "number": "+254711000000", "status": "Success",
                            "cost": "KES 0.8000", "messageId": "ATXid_1"}]}});
        let r = first_recipient(&answer).unwrap();
        assert_eq!(r.status_code, 101);
        assert_eq!(r.message_id.as_deref(), Some("ATXid_1"));
        assert_eq!(recipient_verdict(r.status_code), RecipientVerdict::Sent);
        let none = json!({"SMSMessageData": {"Message": "InvalidSenderId", "Recipients": []}});
        assert_eq!(first_recipient(&none), None);
        assert_eq!(answer_message(&none), Some("InvalidSenderId"));
        assert_eq!(recipient_verdict(500), RecipientVerdict::Retry);
        assert_eq!(
            recipient_verdict(406),
            RecipientVerdict::Permanent { opt_out: true }
        );
        assert_eq!(
            recipient_verdict(403),
            RecipientVerdict::Permanent { opt_out: false }
        );
    }

    #[test]
    fn delivery_reports() {
        assert_eq!(report("Success", None), Some(Report::Delivered));
        assert_eq!(report("Buffered", None), Some(Report::Sent));
        assert_eq!(
            report("Failed", Some("UserInBlacklist")),
            Some(Report::Failed {
                reason: "Africa's Talking: Failed (UserInBlacklist)".into(),
                opt_out: true
            })
        );
        assert_eq!(
            report("Rejected", Some("")),
            Some(Report::Failed {
                reason: "Africa's Talking: Rejected".into(),
                opt_out: false
            })
        );
        assert_eq!(report("Exploded", None), None);
    }

    #[test]
    fn tokens() {
        assert!(tokens_match("abc123", "abc123"));
        assert!(!tokens_match("abc124", "abc123"));
        assert!(!tokens_match("abc12", "abc123"));
        assert!(!tokens_match("", ""));
    }
}
