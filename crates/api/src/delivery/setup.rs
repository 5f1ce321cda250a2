//! Creating a channel (API and command line) and opening its secret.

use chatcourse_channels::sealing::SealingKey;
use chatcourse_channels::signing::WebhookSecret;
use chatcourse_storage::Channel;
use serde::{Deserialize, Serialize};

use super::kind::{KINDS, kind};

/// The default rate limit of a channel, messages per second (WhatsApp's
/// default per number).
pub const DEFAULT_RATE: u32 = 80;
pub const MAX_RATE: u32 = 10_000;

/// A channel to create, as asked (API or command line).
pub struct ChannelRequest {
    pub org: chatcourse_storage::OrgId,
    pub kind: String,
    pub name: String,
    /// The webhook's URL (`webhook` only; the same as `settings.url`).
    pub url: Option<String>,
    /// The kind's settings (docs/channels.md); `{}` if none.
    pub settings: serde_json::Value,
    /// The provider's credential (Twilio's auth token ...); not for
    /// `webhook`, whose secret chatcourse generates.
    pub credential: Option<String>,
    /// The provider's app secret (`whatsapp`: Meta's app secret, which
    /// signs its webhooks).
    pub app_secret: Option<String>,
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

/// A provider channel's secrets, sealed as JSON.
#[derive(Serialize, Deserialize)]
struct ProviderSecrets {
    credential: String,
    /// The generated token: in the URLs (`africastalking`) or the verify
    /// token of the webhook handshake (`whatsapp`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    path_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    app_secret: Option<String>,
}

/// What a new channel's creator is shown once.
pub struct Shown {
    /// The webhook's generated `whsec_` secret.
    pub secret: Option<String>,
    /// The secret path token of kinds whose callbacks are unsigned.
    pub path_token: Option<String>,
    /// The verify token of the provider's webhook handshake.
    pub verify_token: Option<String>,
}

impl Shown {
    /// Nothing (a channel shown again).
    pub fn none() -> Shown {
        Shown {
            secret: None,
            path_token: None,
            verify_token: None,
        }
    }
}

/// 24 random bytes in hex: unguessable, and safe in a URL path.
fn random_token() -> Result<String, String> {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).map_err(|e| format!("cannot generate a random token: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Checks a channel request and makes its row: a new uuid and its
/// secrets (generated for a webhook, the given credential for a
/// provider), sealed with `key` and bound to the uuid. Returns the row and
/// what to show once.
pub fn new_channel(
    request: ChannelRequest,
    key: &SealingKey,
) -> Result<(chatcourse_storage::NewChannel, Shown), NewChannelError> {
    let mut errors = Vec::new();
    let Some(handler) = kind(&request.kind) else {
        return Err(NewChannelError::Invalid(vec![format!(
            "kind: must be one of {}",
            KINDS.map(|k| format!("\"{k}\"")).join(", ")
        )]));
    };
    let name = request.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 200 {
        errors.push("name: must be 1 to 200 characters".to_owned());
    }
    let mut given = match request.settings {
        serde_json::Value::Object(map) => map,
        serde_json::Value::Null => serde_json::Map::new(),
        _ => {
            errors.push("settings: must be an object".to_owned());
            serde_json::Map::new()
        }
    };
    if let Some(url) = request.url {
        given.insert("url".to_owned(), serde_json::Value::String(url));
    }
    let given = serde_json::Value::Object(given);
    let mut settings = handler.settings(&given, &mut errors);
    // Keyword enrolment, for every kind.
    let keywords = super::keywords::keywords_setting(&given, &mut errors);
    if !keywords.is_empty() {
        settings["keywords"] = serde_json::json!(keywords);
    }
    let credential = match (handler.credential(), request.credential) {
        (None, None) => None,
        (None, Some(_)) => {
            errors.push("credential: not used by this kind (its secret is generated)".to_owned());
            None
        }
        (Some(what), None) => {
            errors.push(format!("credential: required ({what})"));
            None
        }
        (Some(what), Some(c)) if c.trim().is_empty() || c.len() > 1000 => {
            errors.push(format!("credential: must be 1 to 1000 characters ({what})"));
            None
        }
        (Some(_), Some(c)) => Some(c.trim().to_owned()),
    };
    let app_secret = match (handler.app_secret(), request.app_secret) {
        (false, None) => None,
        (false, Some(_)) => {
            errors.push("app_secret: not used by this kind".to_owned());
            None
        }
        (true, Some(a)) if !a.trim().is_empty() && a.len() <= 1000 => Some(a.trim().to_owned()),
        (true, _) => {
            errors.push("app_secret: required (1 to 1000 characters)".to_owned());
            None
        }
    };
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
    let (secret_text, shown) = match credential {
        None => {
            let secret = WebhookSecret::generate().map_err(|e| internal(&e))?;
            let text = secret.expose();
            (
                text.clone(),
                Shown {
                    secret: Some(text),
                    ..Shown::none()
                },
            )
        }
        Some(credential) => {
            let token = if handler.path_token() || handler.verify_token() {
                Some(random_token().map_err(|e| internal(&e))?)
            } else {
                None
            };
            let sealed = ProviderSecrets {
                credential,
                path_token: token.clone(),
                app_secret,
            };
            let shown = if handler.verify_token() {
                Shown {
                    verify_token: token,
                    ..Shown::none()
                }
            } else {
                Shown {
                    path_token: token,
                    ..Shown::none()
                }
            };
            (
                serde_json::to_string(&sealed).map_err(|e| internal(&e))?,
                shown,
            )
        }
    };
    let uuid = uuid::Uuid::new_v4();
    let sealed = key
        .seal(secret_text.as_bytes(), uuid.as_bytes())
        .map_err(|e| internal(&e))?;
    Ok((
        chatcourse_storage::NewChannel {
            uuid,
            org: request.org,
            kind: request.kind,
            name,
            settings: settings.to_string(),
            secrets: sealed,
            default_country: country,
            rate_per_second: rate,
            created_at: request.at,
        },
        shown,
    ))
}

/// A channel's secrets, opened with the server's key.
pub(crate) struct Opened {
    /// The webhook's `whsec_` secret, or the provider's credential.
    pub secret: String,
    /// The generated token of kinds that have one (path or verify token).
    pub path_token: Option<String>,
    pub app_secret: Option<String>,
}

/// Opens the channel's secrets with the server's key.
pub(crate) fn open(key: &SealingKey, channel: &Channel) -> Result<Opened, String> {
    let bytes = key
        .open(&channel.secrets, channel.uuid.as_bytes())
        .map_err(|e| format!("cannot open the channel's secret (is the server's secret key the one it was created with?): {e}"))?;
    let text =
        String::from_utf8(bytes).map_err(|_| "the channel's secret is not text".to_owned())?;
    if channel.kind == "webhook" {
        return Ok(Opened {
            secret: text,
            path_token: None,
            app_secret: None,
        });
    }
    let secrets: ProviderSecrets = serde_json::from_str(&text)
        .map_err(|_| "the channel's secrets are not readable".to_owned())?;
    Ok(Opened {
        secret: secrets.credential,
        path_token: secrets.path_token,
        app_secret: secrets.app_secret,
    })
}
