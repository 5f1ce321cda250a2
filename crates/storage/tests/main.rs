//! Storage contract tests (one binary).
//!
//! Every test in `contract/` is written once against `Arc<dyn Store>` and run
//! against SQLite (a fresh temp file, WAL) always, and against PostgreSQL when
//! `TEST_DATABASE_URL` is set (e.g. `postgres://postgres@127.0.0.1:5432/test`),
//! each test in its own freshly created schema, dropped afterwards. Without
//! `TEST_DATABASE_URL` the PostgreSQL tests are compiled as ignored, with the
//! reason (see `build.rs`), so `cargo test` reports them as `ignored`; with
//! `CHATCOURSE_REQUIRE_POSTGRES=1` (CI) they are not ignored and fail when
//! `TEST_DATABASE_URL` is missing.

mod contract;
mod fixture;
mod live;
mod misc;

/// Generates, for each contract test, one `#[tokio::test]` per backend.
macro_rules! contract_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let fixture = crate::fixture::Fixture::sqlite().await;
                    crate::contract::$name(fixture.store.clone(), fixture.clock.clone()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[cfg_attr(postgres_skipped, ignore = "set TEST_DATABASE_URL to run against PostgreSQL")]
                async fn $name() {
                    if let Some(fixture) = crate::fixture::Fixture::postgres().await {
                        crate::contract::$name(fixture.store.clone(), fixture.clock.clone()).await;
                    }
                }
            )*
        }
    };
}

contract_tests!(
    organisations_and_keys,
    organisation_owned_modules,
    key_roles,
    programmes_modules_customers,
    enrolment_is_atomic_and_single,
    concurrent_enrolment_creates_one_session,
    turn_stores_everything,
    progress_is_stored_as_planned,
    wake_up_turn_has_no_inbound,
    rejected_turn_leaves_no_trace,
    dropped_turn_is_whole_or_absent,
    panicking_turn_leaves_no_trace,
    panics_amid_concurrent_turns,
    stored_times_follow_commit_order,
    concurrent_turns_one_session,
    concurrent_turns_many_sessions,
    failures_amid_concurrent_turns,
    cancellations_amid_concurrent_turns,
    idempotent_external_id,
    organisations_are_isolated,
    message_paging,
    summaries,
    programme_figures,
    export_streams,
    export_keeps_every_text,
    export_sessions_streams,
    exports_read_in_pages,
    export_sessions_count_deliveries,
    wakeups_are_claimed_once,
    concurrent_wakeup_claimers,
    lease_too_long_to_represent,
    subscribe_sees_commits,
    subscribe_announces_each_commit_once,
    migrate_is_idempotent,
    session_tokens,
    session_token_revocation,
    outbox_rows_follow_turns,
    phones_are_unique_per_org,
    claims_keep_order_per_learner,
    backlog_waits_behind_its_head,
    queueing_while_sending,
    failing_while_queueing,
    delivery_reports_move_statuses_forward,
    message_deliveries_per_page,
    concurrent_outbox_claimers,
    opted_out_contacts_get_nothing,
    old_customers_get_e164_phones,
    quiet_hours_per_organisation,
    outcomes_recorded_together,
);
