//! The end-to-end tests' PostgreSQL twins are compiled as ignored (with the
//! reason shown by `cargo test`) unless `TEST_DATABASE_URL` is set when they
//! are built, so a green run without PostgreSQL says what it skipped.
//! Cargo rebuilds the tests when the variable changes.
fn main() {
    println!("cargo::rerun-if-env-changed=TEST_DATABASE_URL");
    println!("cargo::rustc-check-cfg=cfg(postgres_tests)");
    if std::env::var("TEST_DATABASE_URL").is_ok_and(|url| !url.is_empty()) {
        println!("cargo::rustc-cfg=postgres_tests");
    }
}
