//! `chatcourse keys`: create, list and revoke organisations' API keys.
//! A key is printed once, on the last line of stdout, when it is created;
//! only its SHA-256 hash is stored.

use std::process::ExitCode;

use chatcourse_storage::{ApiKeyId, KeyRole, Store};
use chrono::Utc;

use super::Database;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Create an API key for an organisation (created if needed); the key is
    /// printed once, on the last line.
    Create {
        /// The organisation's name.
        #[arg(long, value_parser = org_name)]
        org: String,
        /// A note to tell keys apart (default: the key's first characters).
        #[arg(long)]
        label: Option<String>,
        /// What the key may do: `admin` everything; `analyst` read only
        /// (summaries, reports, exports, the dashboard); `author` the
        /// module preview and upload.
        #[arg(long, default_value = "admin", value_parser = role)]
        role: KeyRole,
        #[command(flatten)]
        db: Database,
    },
    /// List an organisation's keys (ids, labels, dates; never the keys).
    /// The organisation must exist.
    List {
        #[arg(long, value_parser = org_name)]
        org: String,
        #[command(flatten)]
        db: Database,
    },
    /// Revoke a key by its id (from `keys list`). The organisation must exist.
    Revoke {
        #[arg(long, value_parser = org_name)]
        org: String,
        /// The key's id.
        #[arg(long)]
        id: i64,
        #[command(flatten)]
        db: Database,
    },
}

pub fn run(command: Command) -> ExitCode {
    super::block_on(execute(command))
}

async fn open(db: &Database) -> Result<std::sync::Arc<dyn Store>, chatcourse_storage::StoreError> {
    chatcourse_storage::connect(&db.database).await
}

fn role(text: &str) -> Result<KeyRole, String> {
    text.trim().parse()
}

/// Organisation names are trimmed and must not be empty.
fn org_name(name: &str) -> Result<String, String> {
    let name = name.trim();
    if name.is_empty() {
        Err("must not be empty".to_owned())
    } else {
        Ok(name.to_owned())
    }
}

/// `keys list` and `keys revoke` never create an organisation: a mistyped
/// name is an error, not a new empty organisation.
fn unknown_org(name: &str) -> ExitCode {
    eprintln!("error: no organisation named {name:?}; organisations are created by `keys create`");
    ExitCode::FAILURE
}

async fn execute(command: Command) -> Result<ExitCode, chatcourse_storage::StoreError> {
    let now = Utc::now();
    match command {
        Command::Create {
            org,
            label,
            role,
            db,
        } => {
            let store = open(&db).await?;
            let org = store.create_org_if_missing(&org, now).await?;
            let key = chatcourse_api::keys::generate();
            let label = label.unwrap_or_else(|| chatcourse_api::keys::label(&key));
            let hash = chatcourse_storage::hash_api_key(&key);
            let stored = store
                .add_api_key_with_role(org.id, &hash, &label, role, now)
                .await?;
            println!("organisation: {} (id {})", org.name, org.id);
            println!(
                "key id: {}  label: {}  role: {}",
                stored.id,
                stored.label,
                stored.role.as_str()
            );
            println!("This key is shown only now; store it safely:");
            println!("{key}");
            Ok(ExitCode::SUCCESS)
        }
        Command::List { org, db } => {
            let store = open(&db).await?;
            let Some(org) = store.find_org(&org).await? else {
                return Ok(unknown_org(&org));
            };
            let keys = store.list_keys(org.id).await?;
            if keys.is_empty() {
                println!("organisation {} has no keys", org.name);
            }
            for key in keys {
                let state = match key.revoked_at {
                    Some(at) => format!("revoked {}", at.format("%Y-%m-%d %H:%M UTC")),
                    None => "active".to_owned(),
                };
                println!(
                    "{}\t{}\t{}\tcreated {}\t{}",
                    key.id,
                    key.label,
                    key.role.as_str(),
                    key.created_at.format("%Y-%m-%d %H:%M UTC"),
                    state
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Revoke { org, id, db } => {
            let store = open(&db).await?;
            let Some(org) = store.find_org(&org).await? else {
                return Ok(unknown_org(&org));
            };
            if store.revoke_key(org.id, ApiKeyId(id), now).await? {
                println!("revoked key {id} of {}", org.name);
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("error: {} has no active key with id {id}", org.name);
                Ok(ExitCode::FAILURE)
            }
        }
    }
}
