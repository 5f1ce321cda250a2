//! The end-to-end tests' PostgreSQL twins are compiled as ignored (with the
//! reason shown by `cargo test`) unless `TEST_DATABASE_URL` is set when they
//! are built, so a green run without PostgreSQL says what it skipped.
//! Likewise the browser tests, unless `CHATCOURSE_BROWSER` names a
//! Chromium (and `npm ci` has run in tests/browser). Cargo rebuilds the
//! tests when a variable changes.
fn main() {
    println!("cargo::rerun-if-env-changed=CHATCOURSE_BROWSER");
    println!("cargo::rustc-check-cfg=cfg(browser_tests)");
    if std::env::var("CHATCOURSE_BROWSER").is_ok_and(|path| !path.is_empty()) {
        println!("cargo::rustc-cfg=browser_tests");
    }
    println!("cargo::rerun-if-env-changed=TEST_DATABASE_URL");
    println!("cargo::rustc-check-cfg=cfg(postgres_tests)");
    if std::env::var("TEST_DATABASE_URL").is_ok_and(|url| !url.is_empty()) {
        println!("cargo::rustc-cfg=postgres_tests");
    }
}
