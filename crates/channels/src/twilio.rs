//! Twilio's Programmable Messaging (SMS and WhatsApp), as far as
//! chatcourse uses it:
//!
//! - **Outbound**: `POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json`,
//!   HTTP basic auth (account SID, auth token), form fields `To`, `From`,
//!   `Body`, `StatusCallback`; the JSON answer's `sid` is the message id.
//!   Errors are JSON with a numeric `code` ([`error_verdict`]).
//! - **Inbound** and **status callbacks**: form POSTs (`From`, `To`, `Body`,
//!   `MessageSid`; `MessageSid`, `MessageStatus`, `ErrorCode`) signed with
//!   `X-Twilio-Signature`: the base64 HMAC-SHA1, keyed with the auth token,
//!   of the full URL Twilio requested followed by every POST parameter's
//!   name and value, sorted by name ([`signature`]).
//! - WhatsApp addresses are the phone with a `whatsapp:` prefix
//!   ([`Address`]).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// The signature header of Twilio's requests.
pub const SIGNATURE_HEADER: &str = "x-twilio-signature";
/// The production API.
pub const DEFAULT_BASE_URL: &str = "https://api.twilio.com";

/// The path of the Messages resource of an account.
pub fn messages_path(account_sid: &str) -> String {
    format!("/2010-04-01/Accounts/{account_sid}/Messages.json")
}

pub use crate::form::{Params, encode_form, param, parse_form};

fn mac(auth_token: &str, url: &str, params: &[(String, String)]) -> Hmac<Sha1> {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    // By name, then value (a repeated name keeps a stable order).
    sorted.sort();
    let mut mac = Hmac::<Sha1>::new_from_slice(auth_token.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(url.as_bytes());
    for (k, v) in sorted {
        mac.update(k.as_bytes());
        mac.update(v.as_bytes());
    }
    mac
}

/// `X-Twilio-Signature` of a POST to `url` with these form parameters.
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    STANDARD.encode(mac(auth_token, url, params).finalize().into_bytes())
}

/// Whether `header` is the signature of this request (constant time).
pub fn verify(auth_token: &str, url: &str, params: &[(String, String)], header: &str) -> bool {
    let Ok(given) = STANDARD.decode(header.trim()) else {
        return false;
    };
    mac(auth_token, url, params).verify_slice(&given).is_ok()
}

/// A Twilio address: a phone number, or `whatsapp:` and a phone number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Address<'a> {
    pub whatsapp: bool,
    /// The phone as written after any prefix.
    pub number: &'a str,
}

impl<'a> Address<'a> {
    pub fn parse(address: &'a str) -> Address<'a> {
        let trimmed = address.trim();
        match trimmed.get(..9) {
            Some(prefix) if prefix.eq_ignore_ascii_case("whatsapp:") => Address {
                whatsapp: true,
                number: &trimmed[9..],
            },
            _ => Address {
                whatsapp: false,
                number: trimmed,
            },
        }
    }

    /// The address for an E.164 phone on the same network as `from` (the
    /// channel's sender): `whatsapp:+254...` when `from` is a WhatsApp
    /// sender.
    pub fn to_format(e164: &str, from: &str) -> String {
        if Address::parse(from).whatsapp {
            format!("whatsapp:{e164}")
        } else {
            e164.to_owned()
        }
    }
}

/// What a status callback says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// `accepted`, `queued`, `sending`, `scheduled`: still on its way.
    Pending,
    /// `sent`: handed to the carrier.
    Sent,
    /// `delivered`, `read`.
    Delivered,
    /// `undelivered`, `failed`, `canceled`: with the error code if given.
    Failed { error_code: Option<u32> },
}

/// Reads `MessageStatus` (and `ErrorCode`); `None` for an unknown status.
pub fn status(message_status: &str, error_code: Option<&str>) -> Option<Status> {
    Some(match message_status.trim() {
        "accepted" | "queued" | "sending" | "scheduled" | "receiving" | "received" => {
            Status::Pending
        }
        "sent" => Status::Sent,
        "delivered" | "read" => Status::Delivered,
        "undelivered" | "failed" | "canceled" => Status::Failed {
            error_code: error_code.and_then(|c| c.trim().parse().ok()),
        },
        _ => return None,
    })
}

/// What an answer to a send means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendVerdict {
    /// Try again later (rate limits, Twilio's own trouble).
    Retry,
    /// Trying again cannot help; `opt_out` when the recipient has
    /// unsubscribed (the contact is to be opted out).
    Permanent { opt_out: bool },
}

/// Error codes that mean the recipient unsubscribed (replied STOP to the
/// sender): 21610.
pub const UNSUBSCRIBED: u32 = 21610;

/// The verdict for an error answer: its HTTP status and Twilio's `code`.
/// 429, 5xx and code 20429 (too many requests) are retried; every other
/// 4xx is permanent, and 21610 also opts the contact out.
pub fn error_verdict(http_status: u16, code: Option<u32>) -> SendVerdict {
    match (http_status, code) {
        (_, Some(UNSUBSCRIBED)) => SendVerdict::Permanent { opt_out: true },
        (_, Some(20429)) | (408 | 429 | 500..=599, _) => SendVerdict::Retry,
        _ => SendVerdict::Permanent { opt_out: false },
    }
}

/// What a delivery failure's error code means for the contact: 21610
/// (unsubscribed) opts it out.
pub fn failure_opts_out(error_code: Option<u32>) -> bool {
    error_code == Some(UNSUBSCRIBED)
}

/// A short reason for an error code (the ones seen most; others by
/// number).
pub fn error_reason(code: u32) -> String {
    let what = match code {
        21211 => "invalid 'To' phone number",
        21408 => "permission to send to this region is not enabled",
        21610 => "the recipient unsubscribed (replied STOP)",
        21614 => "'To' is not a mobile number",
        30003 => "unreachable destination handset",
        30004 => "message blocked",
        30005 => "unknown destination handset",
        30006 => "landline or unreachable carrier",
        30007 => "carrier filtering",
        30008 => "unknown error",
        63016 => "outside the WhatsApp 24-hour window (a template is required)",
        _ => "",
    };
    if what.is_empty() {
        format!("Twilio error {code}")
    } else {
        format!("Twilio error {code}: {what}")
    }
}

/// The empty TwiML answer: receipt acknowledged, nothing sent back
/// through Twilio (chatcourse's replies go out through the API).
pub const EMPTY_TWIML: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>";

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn signature_of_twilios_documented_example() {
        // The example of Twilio's security documentation.
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        let p = params(&[
            ("Digits", "1234"),
            ("To", "+18005551212"),
            ("From", "+12349013030"),
            ("Caller", "+12349013030"),
            ("CallSid", "CA1234567890ABCDE"),
        ]);
        assert_eq!(signature("12345", url, &p), "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
        assert!(verify("12345", url, &p, "0/KCTR6DLpKmkAf8muzZqo1nDgQ="));
        assert!(!verify("12346", url, &p, "0/KCTR6DLpKmkAf8muzZqo1nDgQ="));
        assert!(!verify(
            "12345",
            "https://mycompany.com/myapp.php",
            &p,
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        ));
        assert!(!verify("12345", url, &p, "not base64!"));
        let mut tampered = p.clone();
        tampered[0].1 = "9999".to_owned();
        assert!(!verify(
            "12345",
            url,
            &tampered,
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        ));
    }

    #[test]
    fn forms_round_trip() {
        let body = encode_form([("Body", "Jambo & karibu! 100%"), ("To", "+254712345678")]);
        assert_eq!(body, "Body=Jambo+%26+karibu%21+100%25&To=%2B254712345678");
        let back = parse_form(body.as_bytes());
        assert_eq!(param(&back, "Body"), Some("Jambo & karibu! 100%"));
        assert_eq!(param(&back, "To"), Some("+254712345678"));
        assert_eq!(param(&back, "to"), None);
    }

    #[test]
    fn whatsapp_addresses() {
        assert_eq!(
            Address::parse("whatsapp:+254712345678"),
            Address {
                whatsapp: true,
                number: "+254712345678"
            }
        );
        assert_eq!(
            Address::parse(" +254712345678 "),
            Address {
                whatsapp: false,
                number: "+254712345678"
            }
        );
        assert_eq!(
            Address::to_format("+254712345678", "whatsapp:+14155238886"),
            "whatsapp:+254712345678"
        );
        assert_eq!(
            Address::to_format("+254712345678", "+14155238886"),
            "+254712345678"
        );
    }

    #[test]
    fn statuses_and_errors() {
        assert_eq!(status("queued", None), Some(Status::Pending));
        assert_eq!(status("sent", None), Some(Status::Sent));
        assert_eq!(status("delivered", None), Some(Status::Delivered));
        assert_eq!(
            status("undelivered", Some("30003")),
            Some(Status::Failed {
                error_code: Some(30003)
            })
        );
        assert_eq!(
            status("failed", Some("")),
            Some(Status::Failed { error_code: None })
        );
        assert_eq!(status("exploded", None), None);
        assert_eq!(error_verdict(429, Some(20429)), SendVerdict::Retry);
        assert_eq!(error_verdict(503, None), SendVerdict::Retry);
        assert_eq!(
            error_verdict(400, Some(21211)),
            SendVerdict::Permanent { opt_out: false }
        );
        assert_eq!(
            error_verdict(400, Some(21610)),
            SendVerdict::Permanent { opt_out: true }
        );
        assert_eq!(
            error_verdict(401, None),
            SendVerdict::Permanent { opt_out: false }
        );
        assert!(failure_opts_out(Some(21610)));
        assert!(!failure_opts_out(Some(30003)));
        assert_eq!(error_reason(99999), "Twilio error 99999");
        assert!(error_reason(21610).contains("unsubscribed"));
    }
}
