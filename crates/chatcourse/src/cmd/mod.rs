//! One file per subcommand. Each exposes `Args` (clap) and `run`.

pub mod graph;
pub mod keys;
pub mod migrate;
pub mod play;
pub mod schema;
pub mod serve;
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
