//! `sqlx::migrate!` embeds the migration files at compile time; rebuild when
//! they change (a new file alone would not touch any source).
//!
//! The PostgreSQL twins of the storage tests are compiled as ignored ("set
//! TEST_DATABASE_URL ...") when `TEST_DATABASE_URL` is unset and
//! `CHATCOURSE_REQUIRE_POSTGRES` is not `1`, so a run without PostgreSQL
//! says so (`N ignored`) instead of passing them silently. Cargo reruns this
//! script, and rebuilds the tests, whenever either variable changes.
fn main() {
    println!("cargo::rerun-if-changed=../../migrations");
    println!("cargo::rerun-if-env-changed=TEST_DATABASE_URL");
    println!("cargo::rerun-if-env-changed=CHATCOURSE_REQUIRE_POSTGRES");
    println!("cargo::rustc-check-cfg=cfg(postgres_skipped)");
    let url_set = std::env::var("TEST_DATABASE_URL").is_ok_and(|url| !url.is_empty());
    let required = std::env::var("CHATCOURSE_REQUIRE_POSTGRES").as_deref() == Ok("1");
    if !url_set && !required {
        println!("cargo::rustc-cfg=postgres_skipped");
    }
}
