//! `chatcourse migrate`: apply the database migrations of the backend named
//! by the URL (`serve` also applies them on start) and say what was done.

use std::process::ExitCode;

use chatcourse_storage::{StoreOptions, connect_with};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub db: super::Database,
}

pub fn run(args: Args) -> ExitCode {
    super::block_on(async {
        migrate(&args.db.database).await?;
        Ok::<_, chatcourse_storage::StoreError>(ExitCode::SUCCESS)
    })
}

async fn migrate(url: &str) -> Result<(), chatcourse_storage::StoreError> {
    let options = StoreOptions {
        migrate: false,
        max_connections: 1,
        ..StoreOptions::new(url)
    };
    let store = connect_with(options).await?;
    let applied = store.migrate().await?;
    let backend = format!("{:?}", store.backend()).to_lowercase();
    if applied.is_empty() {
        println!("{backend} database is up to date");
    }
    for migration in &applied {
        println!(
            "applied {} {} ({backend})",
            migration.version, migration.description
        );
    }
    Ok(())
}
