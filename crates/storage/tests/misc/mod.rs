//! Tests outside the contract: URLs and backend-specific set-up.

use chatcourse_storage::{Backend, StoreError, backend_of, connect};

#[test]
fn backend_is_chosen_by_url() {
    assert_eq!(
        backend_of("sqlite://data/chat.db").unwrap(),
        Backend::Sqlite
    );
    assert_eq!(backend_of("sqlite::memory:").unwrap(), Backend::Sqlite);
    assert_eq!(backend_of("postgres://u@h/db").unwrap(), Backend::Postgres);
    assert_eq!(
        backend_of("postgresql://u@h/db").unwrap(),
        Backend::Postgres
    );
    assert!(matches!(
        backend_of("mysql://u@h/db"),
        Err(StoreError::BadUrl(_))
    ));
    assert!(matches!(backend_of("chat.db"), Err(StoreError::BadUrl(_))));
}

#[tokio::test]
async fn bad_url_is_a_clear_error() {
    let err = connect("mysql://localhost/x")
        .await
        .err()
        .expect("must fail");
    assert!(
        err.to_string().contains("unsupported database URL"),
        "{err}"
    );
}

#[tokio::test]
async fn memory_database_works() {
    let store = connect("sqlite::memory:").await.unwrap();
    let org = store
        .create_org_if_missing("acme", chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(store.list_keys(org.id).await.unwrap(), vec![]);
    assert_eq!(store.backend(), Backend::Sqlite);
}

/// A database whose keys were made before keys had roles: after the
/// upgrade (the remaining migrations, applied on connect) they are admin.
#[tokio::test]
async fn keys_made_before_roles_become_admin() {
    let path = std::env::temp_dir().join(format!("chatcourse-roles-{}.db", uuid::Uuid::new_v4()));
    let url = format!("sqlite://{}", path.display());
    let mut before = sqlx::migrate!("../../migrations/sqlite");
    before.migrations = before
        .migrations
        .iter()
        .filter(|m| m.version < 20261209000001)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    let options = url
        .parse::<sqlx::sqlite::SqliteConnectOptions>()
        .unwrap()
        .create_if_missing(true);
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    before.run(&pool).await.unwrap();
    let hash = chatcourse_storage::hash_api_key("an-old-key");
    sqlx::query("INSERT INTO organisations (name, created_at) VALUES ('old', 0)")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO api_keys (org_id, label, key_hash, created_at) \
         SELECT id, 'old', ?, 0 FROM organisations WHERE name = 'old'",
    )
    .bind(&hash)
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    let store = connect(&url).await.unwrap();
    let (org, role) = store.find_key_grant(&hash).await.unwrap().expect("the key");
    assert_eq!(org.name, "old");
    assert_eq!(role, chatcourse_storage::KeyRole::Admin);
    drop(store);
    let _ = std::fs::remove_file(&path);
}

/// PostgreSQL: a row queued while its learner's head is being ended (two
/// transactions at once) becomes the next head when both have committed:
/// the head's end waits for the queueing transaction (the learner's lock)
/// and then sees its row. Without the lock the new row would be left with
/// no head, never claimed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    postgres_skipped,
    ignore = "set TEST_DATABASE_URL to run against PostgreSQL"
)]
async fn head_moves_past_a_concurrent_queueing() {
    use crate::contract::{at, channel, learner, sent, world};
    use sqlx::Connection;
    use std::time::Duration;

    let Some(fixture) = crate::fixture::Fixture::postgres().await else {
        return;
    };
    let store = fixture.store.clone();
    let w = world(&store, "acme").await;
    let ch = channel(&store, w.org).await;
    let session = learner(&store, &w, "+254700000001").await;
    let lease = Duration::from_secs(60);
    let head = store.claim_outbox(at(1), lease, 10).await.unwrap();
    assert_eq!(head.len(), 1);

    // Another transaction queues a row for the same learner and stays open.
    let mut raw = raw_connection(&fixture).await;
    let mut tx = raw.begin().await.unwrap();
    let queued = queue_raw(&mut tx, &w, &ch, &session).await;

    // The head is sent meanwhile: its end waits for the open transaction.
    let finish = {
        let (store, id) = (store.clone(), head[0].id);
        tokio::spawn(async move { store.finish_outbox(id, &sent(), at(2)).await.unwrap() })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !finish.is_finished(),
        "the head's end waits for the learner's lock"
    );
    tx.commit().await.unwrap();
    finish.await.unwrap();

    let next = store.claim_outbox(at(3), lease, 10).await.unwrap();
    assert_eq!(
        next.iter().map(|r| r.id.0).collect::<Vec<_>>(),
        [queued],
        "the row queued meanwhile is the learner's next head"
    );
}

/// SQLite: queued rows written before migration `outbox_heads` get their
/// marks from it: after the upgrade each learner's oldest queued row is
/// claimed, and only it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_rows_get_heads_on_upgrade() {
    use crate::contract::{at, channel, counter, learner, sent, world};
    use chatcourse_storage::{Inbound, OutboxOutcome, Store};
    use std::sync::Arc;
    use std::time::Duration;

    let path = std::env::temp_dir().join(format!("chatcourse-heads-{}.db", uuid::Uuid::new_v4()));
    let url = format!("sqlite://{}", path.display());
    let store: Arc<dyn Store> = connect(&url).await.unwrap();
    let w = world(&store, "acme").await;
    channel(&store, w.org).await;
    let mut sessions = Vec::new();
    for phone in ["+254700000001", "+254700000002"] {
        let session = learner(&store, &w, phone).await;
        for _ in 0..3 {
            store
                .apply_turn(session.id, Inbound::wake_up(), &mut counter)
                .await
                .unwrap();
        }
        sessions.push(session);
    }
    // The first learner's first row is sent before the upgrade.
    let lease = Duration::from_secs(60);
    let heads = store.claim_outbox(at(1), lease, 10).await.unwrap();
    store
        .finish_outbox(heads[0].id, &sent(), at(1))
        .await
        .unwrap();
    let release = OutboxOutcome::Retry {
        at: at(1),
        error: "later".into(),
    };
    store
        .finish_outbox(heads[1].id, &release, at(1))
        .await
        .unwrap();
    drop(store);

    // Back to the schema before the migration, rows and all.
    sqlite_run(
        &url,
        &[
            "DROP TRIGGER outbox_next_head",
            "DROP INDEX outbox_due",
            "ALTER TABLE outbox DROP COLUMN head",
            "CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE status = 'queued'",
            "DELETE FROM _sqlx_migrations WHERE version = 20261216000001",
        ],
    )
    .await;

    let store: Arc<dyn Store> = connect(&url).await.unwrap();
    let mut expected = Vec::new();
    for s in &sessions {
        let rows = store.session_outbox(s.id).await.unwrap();
        let queued = rows
            .iter()
            .filter(|r| r.status == chatcourse_storage::DeliveryStatus::Queued);
        expected.push(queued.map(|r| r.id).min().unwrap());
    }
    // The turns' rows are due at the wall clock's time of the turn.
    let later = chrono::Utc::now() + chrono::Duration::days(1);
    let claimed = store.claim_outbox(later, lease, 10).await.unwrap();
    assert_eq!(claimed.iter().map(|r| r.id).collect::<Vec<_>>(), expected);
    drop(store);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

/// SQLite: runs `statements` on the database at `url`, outside any store.
async fn sqlite_run(url: &str, statements: &[&str]) {
    let pool = sqlx::SqlitePool::connect(url).await.unwrap();
    for sql in statements {
        sqlx::query(sqlx::AssertSqlSafe(*sql))
            .execute(&pool)
            .await
            .unwrap();
    }
    pool.close().await;
}

/// PostgreSQL: a connection of its own on the fixture's schema.
async fn raw_connection(fixture: &crate::fixture::Fixture) -> sqlx::PgConnection {
    use sqlx::Connection;
    let (url, schema) = fixture.postgres_schema().unwrap();
    let mut raw = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("SET search_path = {schema}")))
        .execute(&mut raw)
        .await
        .unwrap();
    raw
}

/// Queues an event row for the session's learner (its phone), as any
/// statement could; its id.
async fn queue_raw(
    conn: &mut sqlx::PgConnection,
    w: &crate::contract::World,
    ch: &chatcourse_storage::Channel,
    session: &chatcourse_storage::Session,
) -> i64 {
    sqlx::query_scalar(
        "INSERT INTO outbox (org_id, channel_id, recipient, session_id, purpose, payload, \
         idempotency_key, status, attempts, next_attempt_at, queued_at) \
         SELECT $1, $2, c.phone_e164, $3, 'event', '{}', 'evt_raw', 'queued', 0, $4, $4 \
         FROM customers c WHERE c.id = $5 RETURNING id",
    )
    .bind(w.org.0)
    .bind(ch.id.0)
    .bind(session.id.0)
    .bind(crate::contract::at(1))
    .bind(session.customer.0)
    .fetch_one(conn)
    .await
    .unwrap()
}

/// PostgreSQL: a learner's row ids follow the order its rows commit in.
/// A turn's row that waited for the learner's lock while another
/// transaction queued and committed gets the later id (its id is drawn
/// under the lock, not before it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    postgres_skipped,
    ignore = "set TEST_DATABASE_URL to run against PostgreSQL"
)]
async fn ids_follow_commits_per_learner() {
    use crate::contract::{channel, counter, enrolled_twice, world};
    use chatcourse_storage::Inbound;
    use sqlx::Connection;
    use std::time::Duration;

    let Some(fixture) = crate::fixture::Fixture::postgres().await else {
        return;
    };
    let store = fixture.store.clone();
    let w = world(&store, "acme").await;
    let ch = channel(&store, w.org).await;
    // Two sessions of one learner: the other transaction queues for the
    // second (as a turn of it would), the turn runs on the first.
    let [session, other] = enrolled_twice(&store, &w, "+254700000001").await;

    // Another transaction holds the learner's lock.
    let mut raw = raw_connection(&fixture).await;
    let mut tx = raw.begin().await.unwrap();
    sqlx::query("SELECT outbox_lock_learner($1, '+254700000001')")
        .bind(ch.id.0)
        .execute(&mut *tx)
        .await
        .unwrap();
    // A turn queues its reply meanwhile, and waits.
    let turn = {
        let (store, id) = (store.clone(), session.id);
        tokio::spawn(async move {
            store
                .apply_turn(id, Inbound::wake_up(), &mut counter)
                .await
                .unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!turn.is_finished(), "the turn waits for the learner's lock");
    // The other transaction queues a row of its own and commits first.
    let first = queue_raw(&mut tx, &w, &ch, &other).await;
    tx.commit().await.unwrap();
    turn.await.unwrap();

    let rows = store.session_outbox(session.id).await.unwrap();
    let reply = rows.iter().find(|r| r.purpose == "reminder").unwrap();
    assert!(
        reply.id.0 > first,
        "the row committed later has the later id: {} after {first}",
        reply.id.0
    );
}

/// Rows queued and moved before migration `session_delivery_counts`: a
/// learner with rows queued, sent and delivered, another with rows queued
/// and failed. Returns the organisation and each session's counts as its
/// rows say them.
async fn rows_to_count(
    store: &std::sync::Arc<dyn chatcourse_storage::Store>,
) -> (
    chatcourse_storage::OrgId,
    Vec<(
        chatcourse_storage::SessionId,
        chatcourse_storage::DeliveryCounts,
    )>,
) {
    use crate::contract::{at, channel, counter, learner, world};
    use chatcourse_storage::{
        DeliveryCounts, DeliveryReport, DeliveryStatus, Inbound, OutboxOutcome,
    };
    let lease = std::time::Duration::from_secs(60);
    let w = world(store, "acme").await;
    let ch = channel(store, w.org).await;
    let mut sessions = Vec::new();
    for phone in ["+254700000001", "+254700000002"] {
        let session = learner(store, &w, phone).await;
        for _ in 0..3 {
            store
                .apply_turn(session.id, Inbound::message("hi", None), &mut counter)
                .await
                .unwrap();
        }
        sessions.push(session);
    }
    // The heads: the first learner's is sent (and delivered), the second's
    // fails; then the first learner's next one is sent.
    let heads = store.claim_outbox(at(1), lease, 10).await.unwrap();
    let sent = |id: &str| OutboxOutcome::Sent {
        provider_message_id: Some(id.to_owned()),
        segments: None,
    };
    let failed = OutboxOutcome::Failed {
        error: "no".to_owned(),
    };
    store
        .finish_outbox_many(&[(heads[0].id, sent("SM1")), (heads[1].id, failed)], at(1))
        .await
        .unwrap();
    // The turns' rows are due at the time of the turn: the wall clock's on
    // a store that was not given one.
    let later = chrono::Utc::now() + chrono::Duration::days(1);
    let next = store.claim_outbox(later, lease, 10).await.unwrap();
    let first = next
        .iter()
        .find(|r| r.recipient == "+254700000001")
        .unwrap();
    store
        .finish_outbox(first.id, &sent("SM2"), at(2))
        .await
        .unwrap();
    let delivered = DeliveryReport {
        status: DeliveryStatus::Delivered,
        error: None,
        at: at(3),
    };
    store
        .record_delivery_report(ch.id, "SM1", &delivered)
        .await
        .unwrap();
    let mut counts = Vec::new();
    for session in &sessions {
        let rows = store.session_outbox(session.id).await.unwrap();
        let count = |status| {
            let rows = rows
                .iter()
                .filter(|r| r.message.is_some() && r.status == status);
            rows.count() as i64
        };
        counts.push((
            session.id,
            DeliveryCounts {
                queued: count(DeliveryStatus::Queued),
                sent: count(DeliveryStatus::Sent),
                delivered: count(DeliveryStatus::Delivered),
                failed: count(DeliveryStatus::Failed),
            },
        ));
    }
    assert_eq!(
        counts
            .iter()
            .map(|(_, c)| c.queued + c.sent + c.delivered + c.failed)
            .sum::<i64>(),
        8,
        "every message queued: {counts:?}"
    );
    (w.org, counts)
}

/// Each session's counts, as the scores export of the world's programme
/// reads them.
async fn exported_counts(
    store: &std::sync::Arc<dyn chatcourse_storage::Store>,
    org: chatcourse_storage::OrgId,
) -> Vec<(
    chatcourse_storage::SessionId,
    chatcourse_storage::DeliveryCounts,
)> {
    use futures::StreamExt;
    let rows: Vec<chatcourse_storage::SessionExportRow> = store
        .export_sessions(org, 49)
        .map(Result::unwrap)
        .collect()
        .await;
    rows.iter()
        .map(|r| (r.summary.session.id, r.delivery))
        .collect()
}

/// SQLite: sessions whose outbox rows were written before migration
/// `session_delivery_counts` get their counts from it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_counts_on_upgrade_sqlite() {
    let path = std::env::temp_dir().join(format!("chatcourse-counts-{}.db", uuid::Uuid::new_v4()));
    let url = format!("sqlite://{}", path.display());
    let store = connect(&url).await.unwrap();
    let (org, counts) = rows_to_count(&store).await;
    assert_eq!(exported_counts(&store, org).await, counts);
    drop(store);

    // Back to the schema before the migration, rows and all.
    sqlite_run(
        &url,
        &[
            "DROP TRIGGER outbox_count_moved",
            "DROP INDEX outbox_session_events",
            "CREATE INDEX outbox_session ON outbox (session_id, message_id, status)",
            "ALTER TABLE sessions DROP COLUMN outbox_queued",
            "ALTER TABLE sessions DROP COLUMN outbox_sent",
            "ALTER TABLE sessions DROP COLUMN outbox_delivered",
            "ALTER TABLE sessions DROP COLUMN outbox_failed",
            "DELETE FROM _sqlx_migrations WHERE version = 20261217000001",
        ],
    )
    .await;

    let store = connect(&url).await.unwrap();
    assert_eq!(exported_counts(&store, org).await, counts);
    drop(store);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

/// PostgreSQL: the same, on the fixture's schema.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    postgres_skipped,
    ignore = "set TEST_DATABASE_URL to run against PostgreSQL"
)]
async fn delivery_counts_on_upgrade_postgres() {
    use chatcourse_storage::{StoreOptions, connect_with};
    let Some(fixture) = crate::fixture::Fixture::postgres().await else {
        return;
    };
    let (org, counts) = rows_to_count(&fixture.store).await;
    assert_eq!(exported_counts(&fixture.store, org).await, counts);

    let mut raw = raw_connection(&fixture).await;
    for sql in [
        "DROP INDEX outbox_session_events",
        "CREATE INDEX outbox_session ON outbox (session_id, message_id, status)",
        "ALTER TABLE sessions DROP COLUMN outbox_queued, DROP COLUMN outbox_sent, \
         DROP COLUMN outbox_delivered, DROP COLUMN outbox_failed",
        "DELETE FROM _sqlx_migrations WHERE version = 20261217000001",
    ] {
        sqlx::query(sql).execute(&mut raw).await.unwrap();
    }
    let (url, schema) = fixture.postgres_schema().unwrap();
    let upgraded = connect_with(StoreOptions {
        postgres_schema: Some(schema.to_owned()),
        ..StoreOptions::new(url)
    })
    .await
    .unwrap();
    assert_eq!(exported_counts(&upgraded, org).await, counts);
}
