//! End-to-end tests of the chatcourse binary (one binary).
mod api;
mod architecture;
mod cli;

/// CI sets `CHATCOURSE_REQUIRE_POSTGRES=1`: then the PostgreSQL twins must
/// have been built to run, not to be ignored.
#[test]
fn postgres_tests_run_when_required() {
    if std::env::var("CHATCOURSE_REQUIRE_POSTGRES").as_deref() == Ok("1") {
        let built_for_postgres = cfg!(postgres_tests);
        assert!(
            built_for_postgres,
            "CHATCOURSE_REQUIRE_POSTGRES=1 but the PostgreSQL tests were built \
             without TEST_DATABASE_URL and are ignored"
        );
    }
}
