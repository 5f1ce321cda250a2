//! `chatcourse migrate`: apply the database migrations of the backend named
//! by the URL (`serve` also applies them on start) and say what was done;
//! then give customers registered before phones were normalised their
//! E.164 phone, reporting (never merging) those whose phone another
//! customer of the organisation already has.

use std::process::ExitCode;

use chatcourse_channels::{Country, Phone};
use chatcourse_storage::{CustomerId, PhoneSet, Store, StoreOptions, connect_with};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub db: super::Database,
    #[command(flatten)]
    pub country: super::DefaultCountry,
}

pub fn run(args: Args) -> ExitCode {
    super::block_on(async {
        let store = migrate(&args.db.database).await?;
        fill_in_phones(store.as_ref(), args.country.default_country).await?;
        Ok::<_, chatcourse_storage::StoreError>(ExitCode::SUCCESS)
    })
}

async fn migrate(url: &str) -> Result<std::sync::Arc<dyn Store>, chatcourse_storage::StoreError> {
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
    Ok(store)
}

/// Customers read per query.
const PAGE: u32 = 500;

/// Fills in the E.164 phones still missing and prints what it did and
/// what it left for a person to decide.
async fn fill_in_phones(
    store: &dyn Store,
    country: Country,
) -> Result<(), chatcourse_storage::StoreError> {
    let mut after = CustomerId(0);
    let mut filled = 0u64;
    let mut left = Vec::new();
    loop {
        let page = store.customers_without_e164(after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.id;
        for customer in &page {
            let phone = match Phone::parse(&customer.phone, Some(country)) {
                Ok(phone) => phone,
                Err(e) => {
                    left.push(format!(
                        "customer {}: phone {:?} is not a phone number ({e}); not reachable on a channel",
                        customer.uuid, customer.phone
                    ));
                    continue;
                }
            };
            match store.set_phone_e164(customer, phone.as_str()).await? {
                PhoneSet::Set => filled += 1,
                PhoneSet::Taken { by } => left.push(format!(
                    "customer {}: phone {:?} is {}, which customer {by} has; not merged: keep one of them (register the other with another phone)",
                    customer.uuid,
                    customer.phone,
                    phone.as_str()
                )),
            }
        }
    }
    if filled > 0 {
        println!(
            "phones: {filled} customer(s) registered before phones were normalised now have their E.164 phone (default country {country})"
        );
    }
    if !left.is_empty() {
        println!(
            "phones: {} customer(s) left without an E.164 phone:",
            left.len()
        );
        for line in &left {
            println!("  {line}");
        }
    }
    Ok(())
}
