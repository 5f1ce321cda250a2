//! `chatcourse channels`: add, list and disable an organisation's delivery
//! channels, over the store directly (docs/channels.md). The secret of a
//! new channel is printed once, on the last line of stdout.

use std::process::ExitCode;

use chatcourse_api::delivery::{ChannelRequest, NewChannelError, new_channel};
use chatcourse_channels::sealing::SealingKey;
use chrono::Utc;
use uuid::Uuid;

use super::{Database, SecretKey};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Add a channel to an organisation. A webhook's secret (or a
    /// provider's generated token) is printed once, on the last line.
    Add {
        /// The organisation's name (it must exist: `keys create` makes it).
        #[arg(long)]
        org: String,
        #[arg(long)]
        name: String,
        /// `webhook`, `twilio`, `africastalking` or `whatsapp`.
        #[arg(long, default_value = "webhook")]
        kind: String,
        /// A webhook's URL: where messages are POSTed.
        #[arg(long)]
        url: Option<String>,
        /// A provider's setting, `NAME=VALUE` (repeat; e.g.
        /// `--setting account_sid=AC... --setting from=+14155550100`).
        /// `templates` takes JSON.
        #[arg(long = "setting", value_name = "NAME=VALUE")]
        settings: Vec<String>,
        /// A provider's credential (auth token, API key, access token).
        #[arg(long, env = "CHATCOURSE_CHANNEL_CREDENTIAL", hide_env_values = true)]
        credential: Option<String>,
        /// WhatsApp: the Meta app's secret.
        #[arg(long, env = "CHATCOURSE_CHANNEL_APP_SECRET", hide_env_values = true)]
        app_secret: Option<String>,
        /// Country of phones without a country code (KE).
        #[arg(long)]
        default_country: Option<String>,
        /// Messages per second at most (80).
        #[arg(long)]
        rate_per_second: Option<u32>,
        #[command(flatten)]
        db: Database,
        #[command(flatten)]
        key: SecretKey,
    },
    /// List an organisation's channels (never their secrets).
    List {
        #[arg(long)]
        org: String,
        #[command(flatten)]
        db: Database,
    },
    /// Disable a channel: nothing more is queued to it or sent over it.
    Remove {
        #[arg(long)]
        org: String,
        /// The channel's uuid (from `channels list`).
        #[arg(long)]
        uuid: Uuid,
        #[command(flatten)]
        db: Database,
    },
}

pub fn run(command: Command) -> ExitCode {
    super::block_on(async {
        execute(command).await?;
        Ok::<_, String>(ExitCode::SUCCESS)
    })
}

/// `NAME=VALUE` settings as a JSON object (`templates` and `true`/`false`
/// read as JSON).
fn settings_of(pairs: &[String]) -> Result<serde_json::Value, String> {
    let mut map = serde_json::Map::new();
    for pair in pairs {
        let (name, value) = pair
            .split_once('=')
            .ok_or_else(|| format!("--setting {pair:?}: write NAME=VALUE"))?;
        let value = match (name, value) {
            ("templates", v) => serde_json::from_str(v)
                .map_err(|e| format!("--setting templates: not JSON: {e}"))?,
            (_, "true") => serde_json::Value::Bool(true),
            (_, "false") => serde_json::Value::Bool(false),
            (_, v) => serde_json::Value::String(v.to_owned()),
        };
        map.insert(name.trim().to_owned(), value);
    }
    Ok(serde_json::Value::Object(map))
}

async fn execute(command: Command) -> Result<(), String> {
    let (org_name, db) = match &command {
        Command::Add { org, db, .. }
        | Command::List { org, db }
        | Command::Remove { org, db, .. } => (org.trim().to_owned(), db),
    };
    let store = chatcourse_storage::connect(&db.database)
        .await
        .map_err(|e| e.to_string())?;
    let org = store
        .find_org(&org_name)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| {
            format!(
                "no organisation named {org_name:?}; organisations are created by `keys create`"
            )
        })?;
    let now = Utc::now();
    match command {
        Command::Add {
            name,
            kind,
            url,
            settings,
            credential,
            app_secret,
            default_country,
            rate_per_second,
            key,
            ..
        } => {
            let key = SealingKey::from_base64(&key.load()?).map_err(|e| e.to_string())?;
            let request = ChannelRequest {
                org: org.id,
                kind,
                name,
                url,
                settings: settings_of(&settings)?,
                credential,
                app_secret,
                default_country,
                rate_per_second,
                at: now,
            };
            let (new, secret) = new_channel(request, &key).map_err(|e| match e {
                NewChannelError::Invalid(errors) => errors.join("; "),
                NewChannelError::Internal(e) => e,
            })?;
            let channel = store
                .create_channel(&new)
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "channel: {} ({}) of {}",
                channel.uuid, channel.name, org.name
            );
            let inbound = format!("/api/v1/channels/{}", channel.uuid);
            if let Some(secret) = secret.secret {
                println!("This secret is shown only now; give it to the receiver:");
                println!("{secret}");
            } else if let Some(token) = secret.path_token {
                println!("callback URLs (the token is shown only now):");
                println!("  inbound: {inbound}/{token}/inbound");
                println!("  delivery reports: {inbound}/{token}/status");
                println!("{token}");
            } else if let Some(token) = secret.verify_token {
                println!("webhook URL: {inbound}/inbound; verify token (shown only now):");
                println!("{token}");
            } else {
                println!("inbound URL: {inbound}/inbound; status callbacks: {inbound}/status");
            }
        }
        Command::List { .. } => {
            let channels = store
                .list_channels(org.id)
                .await
                .map_err(|e| e.to_string())?;
            if channels.is_empty() {
                println!("organisation {} has no channels", org.name);
            }
            for c in channels {
                let state = match c.disabled_at {
                    Some(at) => format!("disabled {}", at.format("%Y-%m-%d %H:%M UTC")),
                    None => "enabled".to_owned(),
                };
                println!(
                    "{}\t{}\t{}\t{}\t{}/s\t{}\t{}",
                    c.uuid, c.kind, c.name, c.settings, c.rate_per_second, c.default_country, state
                );
            }
        }
        Command::Remove { uuid, .. } => {
            if !store
                .disable_channel(org.id, uuid, now)
                .await
                .map_err(|e| e.to_string())?
            {
                return Err(format!("{} has no enabled channel {uuid}", org.name));
            }
            println!("disabled channel {uuid} of {}", org.name);
        }
    }
    Ok(())
}
