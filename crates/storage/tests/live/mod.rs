//! PostgreSQL only: live events between stores sharing one schema, as
//! between server processes (`TEST_DATABASE_URL`; skipped without it).

use std::time::Duration;

use chatcourse_storage::*;
use chrono::{DateTime, Utc};
use futures::StreamExt;

use crate::contract::*;
use crate::fixture::Fixture;

/// A commit through either store reaches the subscriptions of both, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    postgres_skipped,
    ignore = "set TEST_DATABASE_URL to run against PostgreSQL"
)]
async fn commits_reach_other_stores_once() {
    let Some(fixture) = Fixture::postgres().await else {
        return;
    };
    let a = fixture.store.clone();
    let b = fixture.postgres_twin().await.unwrap();
    let mut on_a = a.subscribe().await.unwrap();
    let mut on_b = b.subscribe().await.unwrap();
    let w = world(&a, "acme").await;
    let created = a
        .create_session(w.org, &new_session(&w, &w.customer, &["Welcome!"]))
        .await
        .unwrap();
    let s = created.session;
    let rejected = b
        .apply_turn(
            s.id,
            Inbound::wake_up(),
            &mut |_: &Session, _: DateTime<Utc>| Err(TurnRejected::new("no")),
        )
        .await;
    assert!(rejected.is_err());
    let on_a_turn = a
        .apply_turn(s.id, Inbound::message("via a", None), &mut counter)
        .await
        .unwrap();
    let on_b_turn = b
        .apply_turn(s.id, Inbound::message("via b", None), &mut counter)
        .await
        .unwrap();
    let mut expected = created.messages;
    for out in [on_a_turn, on_b_turn] {
        expected.extend(out.received);
        expected.extend(out.sent);
    }
    assert_eq!(expected.len(), 5);
    expect_announced_once(&mut on_a, &expected).await;
    expect_announced_once(&mut on_b, &expected).await;
}

/// A commit too large for one NOTIFY payload (8000 bytes) is announced in
/// several, every id once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    postgres_skipped,
    ignore = "set TEST_DATABASE_URL to run against PostgreSQL"
)]
async fn large_commits_span_several_payloads() {
    let Some(fixture) = Fixture::postgres().await else {
        return;
    };
    let a = fixture.store.clone();
    let b = fixture.postgres_twin().await.unwrap();
    let mut on_b = b.subscribe().await.unwrap();
    let w = world(&a, "acme").await;
    let texts: Vec<String> = (0..3_000).map(|i| format!("part {i}")).collect();
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    let created = a
        .create_session(w.org, &new_session(&w, &w.customer, &texts))
        .await
        .unwrap();
    assert_eq!(created.messages.len(), 3_000);
    expect_announced_once(&mut on_b, &created.messages).await;
}

/// Payloads of versions that notified inside the transaction (one bare
/// notice) are understood; a payload nobody understands means "re-read".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    postgres_skipped,
    ignore = "set TEST_DATABASE_URL to run against PostgreSQL"
)]
async fn older_and_unknown_payloads() {
    let Some(fixture) = Fixture::postgres().await else {
        return;
    };
    let (url, schema) = fixture.postgres_schema().unwrap();
    let mut events = fixture.store.subscribe().await.unwrap();
    let raw = PostgresStore::connect(&StoreOptions {
        postgres_schema: Some(schema.to_owned()),
        max_connections: 1,
        migrate: false,
        postgres_notify: false,
        ..StoreOptions::new(url)
    })
    .await
    .unwrap();
    let session_uuid = uuid::Uuid::new_v4();
    let channel = format!("chatcourse_messages_{schema}");
    for payload in [
        format!(r#"{{"o":1,"s":2,"u":"{session_uuid}","i":[3,4]}}"#),
        "something else".to_owned(),
    ] {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(&channel)
            .bind(payload)
            .execute(raw.pool())
            .await
            .unwrap();
    }
    let mut next = async || {
        tokio::time::timeout(Duration::from_secs(10), events.next())
            .await
            .expect("event within 10 s")
            .expect("stream open")
    };
    assert_eq!(
        next().await,
        MessageEvent::Committed {
            org: OrgId(1),
            session: SessionId(2),
            session_uuid,
            ids: vec![MessageId(3), MessageId(4)],
        }
    );
    assert_eq!(next().await, MessageEvent::Lagged);
}
