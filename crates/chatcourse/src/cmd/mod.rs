//! One file per subcommand. Each exposes `Args` (clap) and `run`.

pub mod channels;
pub mod export;
pub mod floip;
pub mod graph;
pub mod keys;
pub mod migrate;
pub mod play;
pub mod report;
pub mod schema;
pub mod serve;
pub mod sms_check;
pub mod test;
pub mod validate;

/// `--database`, shared by every subcommand that opens the store, so the
/// default is written once (in the storage crate).
#[derive(clap::Args)]
pub struct Database {
    /// Database URL: sqlite://PATH (created if missing), sqlite::memory: or postgres://...
    #[arg(
        long,
        env = "CHATCOURSE_DATABASE",
        default_value = chatcourse_storage::DEFAULT_DATABASE_URL
    )]
    pub database: String,
}

/// `--default-country`: the country of phones written without a country
/// code (`serve` reads customers' phones with it; `migrate` fills in the
/// phones of customers registered before they were normalised).
#[derive(clap::Args)]
pub struct DefaultCountry {
    /// Country of phones written without a country code (ISO 3166-1
    /// alpha-2): `0712 345 678` with KE is +254712345678.
    #[arg(long, env = "CHATCOURSE_DEFAULT_COUNTRY", default_value = "KE", value_parser = parse_country)]
    pub default_country: chatcourse_channels::Country,
}

fn parse_country(code: &str) -> Result<chatcourse_channels::Country, String> {
    code.parse()
        .map_err(|e: chatcourse_channels::PhoneError| e.to_string())
}

/// The key that seals channel secrets at rest: `CHATCOURSE_SECRET_KEY`
/// (base64 of 32 bytes), else the file `--secret-key-file`, created with
/// a new key (mode 0600) if missing. Every `serve` process of one database
/// must use the same key, or none can open the others' channel secrets.
#[derive(clap::Args)]
pub struct SecretKey {
    /// File holding the key (base64); created with a new key if missing.
    #[arg(
        long,
        env = "CHATCOURSE_SECRET_KEY_FILE",
        default_value = "chatcourse.key"
    )]
    pub secret_key_file: std::path::PathBuf,
}

impl SecretKey {
    /// The key, base64.
    pub fn load(&self) -> Result<String, String> {
        use chatcourse_channels::sealing::SealingKey;
        if let Ok(text) = std::env::var("CHATCOURSE_SECRET_KEY") {
            SealingKey::from_base64(text.trim())
                .map_err(|e| format!("CHATCOURSE_SECRET_KEY: {e}"))?;
            return Ok(text.trim().to_owned());
        }
        let path = &self.secret_key_file;
        match std::fs::read_to_string(path) {
            Ok(text) => {
                SealingKey::from_base64(text.trim())
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                Ok(text.trim().to_owned())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = SealingKey::generate()
                    .map_err(|e| format!("cannot make a secret key: {e}"))?
                    .to_base64();
                write_private(path, &key)
                    .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
                eprintln!(
                    "created the secret key {} (keep it: channel secrets cannot be read without it; every server of this database needs it)",
                    path.display()
                );
                Ok(key)
            }
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        }
    }
}

/// Writes a new file readable by its owner only.
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

/// A runtime for a command: the command's future runs on this thread and,
/// with `workers`, the tasks it spawns (an export's page reader) on that
/// many other threads, so reading and writing overlap; `None` (reported)
/// if it cannot start.
fn runtime(workers: Option<usize>) -> Option<tokio::runtime::Runtime> {
    let built = match workers {
        Some(n) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .enable_all()
            .build(),
        None => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
    };
    match built {
        Ok(runtime) => Some(runtime),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            None
        }
    }
}

/// Runs a store command to completion on a current-thread runtime: its
/// exit code, or `error: ...` on stderr and failure.
pub fn block_on<E: std::fmt::Display>(
    command: impl std::future::Future<Output = Result<std::process::ExitCode, E>>,
) -> std::process::ExitCode {
    run_on(None, command)
}

/// [`block_on`] with one worker thread beside this one, for the exports:
/// the next page is read and decoded there while this thread encodes and
/// writes the current one (measured: docs/performance.md).
pub fn block_on_streaming<E: std::fmt::Display>(
    command: impl std::future::Future<Output = Result<std::process::ExitCode, E>>,
) -> std::process::ExitCode {
    run_on(Some(1), command)
}

fn run_on<E: std::fmt::Display>(
    workers: Option<usize>,
    command: impl std::future::Future<Output = Result<std::process::ExitCode, E>>,
) -> std::process::ExitCode {
    let Some(runtime) = runtime(workers) else {
        return std::process::ExitCode::FAILURE;
    };
    runtime.block_on(command).unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::ExitCode::FAILURE
    })
}
