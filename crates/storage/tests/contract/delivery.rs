//! Delivery: outbox rows in the turn's transaction, claims in order per
//! learner, consent, phones unique per organisation.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chatcourse_storage::*;
use uuid::Uuid;

use super::*;

const LEASE: StdDuration = StdDuration::from_secs(60);

pub async fn channel(store: &Arc<dyn Store>, org: OrgId) -> Channel {
    webhook(store, org, "gateway", r#"{"url":"http://127.0.0.1:9/"}"#).await
}

/// A webhook channel of the organisation's subscribed to
/// `delivery.failed` events, and sending no messages.
pub async fn events_channel(store: &Arc<dyn Store>, org: OrgId) -> Channel {
    let settings = r#"{"url":"http://127.0.0.1:9/","messages":false,"events":["delivery.failed"]}"#;
    webhook(store, org, "events", settings).await
}

async fn webhook(store: &Arc<dyn Store>, org: OrgId, name: &str, settings: &str) -> Channel {
    store
        .create_channel(&NewChannel {
            uuid: Uuid::new_v4(),
            org,
            kind: "webhook".to_owned(),
            name: name.to_owned(),
            settings: settings.to_owned(),
            secrets: "sealed".to_owned(),
            default_country: "KE".to_owned(),
            rate_per_second: 80,
            created_at: t0(),
        })
        .await
        .unwrap()
}

/// A customer with a phone, enrolled (one enrolment message).
pub async fn learner(store: &Arc<dyn Store>, w: &World, phone: &str) -> Session {
    let mut new = new_customer(phone);
    new.phone_e164 = Some(phone.to_owned());
    let customer = store.register_customer(w.org, &new).await.unwrap();
    store
        .create_session(w.org, &new_session(w, &customer, &["Welcome!"]))
        .await
        .unwrap()
        .session
}

/// A customer with a phone enrolled in two programmes (one enrolment
/// message each): two sessions, one learner.
pub async fn enrolled_twice(store: &Arc<dyn Store>, w: &World, phone: &str) -> [Session; 2] {
    let mut new = new_customer(phone);
    new.phone_e164 = Some(phone.to_owned());
    let customer = store.register_customer(w.org, &new).await.unwrap();
    let second = store.ensure_programme(w.org, 50, t0()).await.unwrap();
    let mut sessions = Vec::new();
    for programme in [w.programme.id, second.id] {
        let mut new = new_session(w, &customer, &["Welcome!"]);
        new.programme = programme;
        sessions.push(store.create_session(w.org, &new).await.unwrap().session);
    }
    assert_ne!(sessions[0].id, sessions[1].id);
    sessions.try_into().unwrap()
}

/// A send the receiver accepted without a message id of its own.
pub fn sent() -> OutboxOutcome {
    OutboxOutcome::Sent {
        provider_message_id: None,
        segments: None,
    }
}

/// A task applying `turns` wake-up turns (one reply each) to a session.
fn wake_ups(
    store: &Arc<dyn Store>,
    session: SessionId,
    turns: usize,
) -> tokio::task::JoinHandle<()> {
    let store = store.clone();
    tokio::spawn(async move {
        for _ in 0..turns {
            store
                .apply_turn(session, Inbound::wake_up(), &mut counter)
                .await
                .unwrap();
        }
    })
}

/// Whether a claim at `at` hands out nothing.
async fn nothing_due(store: &Arc<dyn Store>, at: chrono::DateTime<chrono::Utc>) -> bool {
    store.claim_outbox(at, LEASE, 10).await.unwrap().is_empty()
}

fn texts(rows: &[OutboxItem]) -> Vec<(String, &str)> {
    rows.iter()
        .map(|r| (r.message.as_ref().unwrap().text.clone(), r.purpose.as_str()))
        .collect()
}

pub async fn outbox_rows_follow_turns(store: Arc<dyn Store>, _clock: Arc<ManualClock>) {
    let w = world(&store, "acme").await;
    // No channel yet: nothing queued.
    let before = learner(&store, &w, "+254700000001").await;
    assert!(store.session_outbox(before.id).await.unwrap().is_empty());
    let ch = channel(&store, w.org).await;
    // No phone: nothing queued.
    let phoneless = session(&store, &w).await;
    assert!(store.session_outbox(phoneless.id).await.unwrap().is_empty());

    let s = learner(&store, &w, "+254700000002").await;
    store
        .apply_turn(
            s.id,
            Inbound::message("hi", Some("e1".into())),
            &mut counter,
        )
        .await
        .unwrap();
    store
        .apply_turn(s.id, Inbound::wake_up(), &mut counter)
        .await
        .unwrap();
    // A rejected turn and a replayed one queue nothing.
    store
        .apply_turn(s.id, Inbound::message("x", None), &mut |_: &Session,
                                                             _: DateTime<
            Utc,
        >| {
            Err(TurnRejected::new("no"))
        })
        .await
        .unwrap_err();
    store
        .apply_turn(
            s.id,
            Inbound::message("hi", Some("e1".into())),
            &mut counter,
        )
        .await
        .unwrap();
    let rows = store.session_outbox(s.id).await.unwrap();
    assert_eq!(
        texts(&rows),
        [
            ("Welcome!".to_owned(), "enrolment"),
            ("reply 1".to_owned(), "reply"),
            ("reply 2".to_owned(), "reminder"),
        ]
    );
    for r in &rows {
        assert_eq!(r.channel, ch.id);
        assert_eq!(r.recipient, "+254700000002");
        assert_eq!(r.status, DeliveryStatus::Queued);
        assert_eq!(r.attempts, 0);
        assert_eq!(r.customer_uuid, s.customer_uuid);
    }
    let keys: HashSet<_> = rows.iter().map(|r| &r.idempotency_key).collect();
    assert_eq!(keys.len(), 3);
    assert_eq!(
        store.outbox_depth().await.unwrap(),
        [OutboxDepth {
            channel: ch.id,
            queued: 3,
            oldest_queued_at: rows[0].queued_at,
        }]
    );

    // A disabled channel gets nothing more.
    assert!(store.disable_channel(w.org, ch.uuid, at(1)).await.unwrap());
    assert!(!store.disable_channel(w.org, ch.uuid, at(1)).await.unwrap());
    store
        .apply_turn(s.id, Inbound::message("more", None), &mut counter)
        .await
        .unwrap();
    assert_eq!(store.session_outbox(s.id).await.unwrap().len(), 3);
}

pub async fn phones_are_unique_per_org(store: Arc<dyn Store>, _clock: Arc<ManualClock>) {
    let w = world(&store, "acme").await;
    let other = store.create_org_if_missing("other", t0()).await.unwrap().id;
    let mut new = new_customer("A");
    new.phone_e164 = Some("+254712345678".to_owned());
    let a = store.register_customer(w.org, &new).await.unwrap();
    new.full_name = "B".to_owned();
    let again = store.register_customer(w.org, &new).await.unwrap();
    assert_eq!(again, a, "the same phone returns the existing customer");
    let elsewhere = store.register_customer(other, &new).await.unwrap();
    assert_ne!(elsewhere.uuid, a.uuid);
    assert_eq!(
        store
            .customer_by_phone(w.org, "+254712345678")
            .await
            .unwrap(),
        Some(a.clone())
    );
    assert_eq!(
        store
            .customer_by_phone(w.org, "+254700000000")
            .await
            .unwrap(),
        None
    );
    let s = store
        .create_session(w.org, &new_session(&w, &a, &["Welcome!"]))
        .await
        .unwrap()
        .session;
    assert_eq!(
        store
            .live_session_of(w.org, a.id)
            .await
            .unwrap()
            .map(|x| x.id),
        Some(s.id)
    );
    assert_eq!(store.live_session_of(other, a.id).await.unwrap(), None);
}

pub async fn claims_keep_order_per_learner(store: Arc<dyn Store>, _clock: Arc<ManualClock>) {
    let w = world(&store, "acme").await;
    channel(&store, w.org).await;
    let a = learner(&store, &w, "+254700000001").await;
    let b = learner(&store, &w, "+254700000002").await;
    for s in [&a, &b] {
        for _ in 0..2 {
            store
                .apply_turn(s.id, Inbound::wake_up(), &mut counter)
                .await
                .unwrap();
        }
    }
    let now = at(10);
    let first = store.claim_outbox(now, LEASE, 10).await.unwrap();
    assert_eq!(texts(&first).len(), 2, "one head per learner: {first:?}");
    assert!(
        first
            .iter()
            .all(|r| r.message.as_ref().unwrap().text == "Welcome!")
    );
    assert!(nothing_due(&store, now).await);
    let (ra, rb) = (&first[0], &first[1]);
    assert_eq!(ra.message.as_ref().unwrap().session, a.id);
    // a's head sent: its next comes; b's head still leased: nothing of b.
    store
        .finish_outbox(
            ra.id,
            &OutboxOutcome::Sent {
                provider_message_id: Some("p1".into()),
                segments: Some(2),
            },
            now,
        )
        .await
        .unwrap();
    let next = store.claim_outbox(now, LEASE, 10).await.unwrap();
    assert_eq!(texts(&next), [("reply 1".to_owned(), "reminder")]);
    assert_eq!(next[0].message.as_ref().unwrap().session, a.id);
    // b's head to retry later: nothing of b before then.
    store
        .finish_outbox(
            rb.id,
            &OutboxOutcome::Retry {
                at: at(100),
                error: "HTTP 500".into(),
            },
            now,
        )
        .await
        .unwrap();
    assert!(nothing_due(&store, at(50)).await);
    // At 100 b's head is due again, and a's second row's lease (until 70)
    // has expired, as if its sender had crashed: claimed again.
    let retried = store.claim_outbox(at(100), LEASE, 10).await.unwrap();
    assert_eq!(
        retried.iter().map(|r| r.id).collect::<Vec<_>>(),
        [rb.id, next[0].id]
    );
    assert_eq!(retried[0].attempts, 1);
    assert_eq!(retried[0].error.as_deref(), Some("HTTP 500"));
    // Failed ends the row: the next of b comes.
    store
        .finish_outbox(
            rb.id,
            &OutboxOutcome::Failed {
                error: "gone".into(),
            },
            at(100),
        )
        .await
        .unwrap();
    let later = store.claim_outbox(at(100), LEASE, 10).await.unwrap();
    assert_eq!(
        later
            .iter()
            .map(|r| (
                r.message.as_ref().unwrap().session,
                r.message.as_ref().unwrap().text.as_str()
            ))
            .collect::<Vec<_>>(),
        [(b.id, "reply 1")]
    );
    // An ended row stays ended (a late sender's outcome is ignored).
    store
        .finish_outbox(
            rb.id,
            &OutboxOutcome::Sent {
                provider_message_id: None,
                segments: None,
            },
            at(101),
        )
        .await
        .unwrap();
    let rows = store.session_outbox(a.id).await.unwrap();
    assert_eq!(rows[0].status, DeliveryStatus::Sent);
    assert_eq!(rows[0].provider_message_id.as_deref(), Some("p1"));
    let rows = store.session_outbox(b.id).await.unwrap();
    assert_eq!(rows[0].status, DeliveryStatus::Failed);
    assert_eq!(rows[0].attempts, 2);
    assert_eq!(rows[0].error.as_deref(), Some("gone"));
}

/// A learner's long queue behind a head that waits for a retry (a
/// receiver that is down) holds back that learner only; a learner whose
/// queue emptied gets a new row at once; one learner's rows from two
/// sessions go out in the order they were queued, each once.
pub async fn backlog_waits_behind_its_head(store: Arc<dyn Store>, _clock: Arc<ManualClock>) {
    let w = world(&store, "acme").await;
    channel(&store, w.org).await;
    // a is enrolled twice: both sessions' rows join a's one queue.
    let [a, a2] = enrolled_twice(&store, &w, "+254700000001").await;
    let b = learner(&store, &w, "+254700000002").await;
    for _ in 0..15 {
        for s in [&a, &a2] {
            store
                .apply_turn(s.id, Inbound::wake_up(), &mut counter)
                .await
                .unwrap();
        }
    }
    let mut queued = Vec::new();
    for s in [&a, &a2] {
        queued.extend(
            store
                .session_outbox(s.id)
                .await
                .unwrap()
                .iter()
                .map(|r| r.id),
        );
    }
    assert_eq!(queued.len(), 32);

    // a's head goes first (queued first) and fails for now.
    let head = store.claim_outbox(at(10), LEASE, 1).await.unwrap();
    assert_eq!(head[0].message.as_ref().unwrap().session, a.id);
    let retry = OutboxOutcome::Retry {
        at: at(1000),
        error: "HTTP 503".into(),
    };
    store
        .finish_outbox(head[0].id, &retry, at(10))
        .await
        .unwrap();
    // Thirty-one of a's rows are due and none may go: b's comes, even one
    // at a time.
    let next = store.claim_outbox(at(10), LEASE, 1).await.unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].message.as_ref().unwrap().session, b.id);
    store
        .finish_outbox(next[0].id, &sent(), at(10))
        .await
        .unwrap();
    assert!(nothing_due(&store, at(10)).await);
    // b's queue is empty: a new row of b is due at once.
    store
        .apply_turn(b.id, Inbound::wake_up(), &mut counter)
        .await
        .unwrap();
    let fresh = store.claim_outbox(at(11), LEASE, 10).await.unwrap();
    assert_eq!(texts(&fresh), [("reply 1".to_owned(), "reminder")]);
    store
        .finish_outbox(fresh[0].id, &sent(), at(11))
        .await
        .unwrap();

    // The receiver is back: a's rows, both sessions', one at a time in
    // the order they were queued, each once.
    let mut delivered = Vec::new();
    for n in 0..40 {
        let claimed = store.claim_outbox(at(1000 + n), LEASE, 10).await.unwrap();
        if claimed.is_empty() {
            break;
        }
        assert_eq!(claimed.len(), 1, "one row of a learner at a time");
        store
            .finish_outbox(claimed[0].id, &sent(), at(1000 + n))
            .await
            .unwrap();
        delivered.push(claimed[0].id);
    }
    let mut in_order = queued.clone();
    in_order.sort();
    assert_eq!(delivered, in_order);
}

/// Two sessions of one learner queue rows while a dispatcher sends them:
/// the learner has one row out at a time, rows go in the order they were
/// queued, and none is left behind.
pub async fn queueing_while_sending(store: Arc<dyn Store>, _clock: Arc<ManualClock>) {
    const TURNS: usize = 40;
    let w = world(&store, "acme").await;
    channel(&store, w.org).await;
    let sessions = enrolled_twice(&store, &w, "+254700000001").await;
    let writers: Vec<_> = sessions
        .iter()
        .map(|s| wake_ups(&store, s.id, TURNS))
        .collect();
    let total = 2 * (TURNS + 1);
    let mut delivered = Vec::new();
    let mut idle = 0;
    while delivered.len() < total {
        let claimed = store.claim_outbox(at(10), LEASE, 10).await.unwrap();
        assert!(
            claimed.len() <= 1,
            "one row of a learner at a time: {claimed:?}"
        );
        match claimed.first() {
            Some(row) => {
                idle = 0;
                store.finish_outbox(row.id, &sent(), at(10)).await.unwrap();
                delivered.push(row.id);
            }
            None => {
                idle += 1;
                assert!(
                    idle < 2_000,
                    "rows left behind: {} of {total}",
                    delivered.len()
                );
                tokio::time::sleep(StdDuration::from_millis(1)).await;
            }
        }
    }
    for writer in writers {
        writer.await.unwrap();
    }
    assert!(nothing_due(&store, at(10)).await);
    let mut queued = Vec::new();
    for s in &sessions {
        let rows = store.session_outbox(s.id).await.unwrap();
        assert!(rows.iter().all(|r| r.status == DeliveryStatus::Sent));
        queued.extend(rows.iter().map(|r| r.id));
    }
    queued.sort();
    assert_eq!(delivered, queued, "sent in the order queued, each once");
}

/// A learner's turns queue rows while the dispatcher gives up on them
/// (each failure queues a `delivery.failed` event for the session): both
/// go through, neither waits on the other for good.
pub async fn failing_while_queueing(store: Arc<dyn Store>, _clock: Arc<ManualClock>) {
    const TURNS: usize = 60;
    let w = world(&store, "acme").await;
    channel(&store, w.org).await;
    events_channel(&store, w.org).await;
    let session = learner(&store, &w, "+254700000001").await;
    let writer = wake_ups(&store, session.id, TURNS);
    let failed = OutboxOutcome::Failed {
        error: "gone".into(),
    };
    let mut ended = 0;
    let mut idle = 0;
    while ended < TURNS + 1 {
        let claimed = store.claim_outbox(at(10), LEASE, 10).await.unwrap();
        let messages: Vec<_> = claimed.iter().filter(|r| r.message.is_some()).collect();
        if messages.is_empty() {
            idle += 1;
            assert!(idle < 2_000, "rows left behind: {ended} of {}", TURNS + 1);
            tokio::time::sleep(StdDuration::from_millis(1)).await;
        }
        let outcomes: Vec<_> = claimed.iter().map(|r| (r.id, failed.clone())).collect();
        store.finish_outbox_many(&outcomes, at(10)).await.unwrap();
        ended += messages.len();
    }
    writer.await.unwrap();
    let rows = store.session_outbox(session.id).await.unwrap();
    let events = rows.iter().filter(|r| r.message.is_none()).count();
    assert_eq!(
        events,
        TURNS + 1,
        "one delivery.failed event per failed message"
    );
}

pub async fn concurrent_outbox_claimers(store: Arc<dyn Store>, _clock: Arc<ManualClock>) {
    let w = world(&store, "acme").await;
    channel(&store, w.org).await;
    for i in 0..40 {
        learner(&store, &w, &format!("+2547000001{i:02}")).await;
    }
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let got = store.claim_outbox(at(10), LEASE, 3).await.unwrap();
                if got.is_empty() {
                    return mine;
                }
                mine.extend(got.into_iter().map(|r| r.id));
            }
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let distinct: HashSet<_> = all.iter().collect();
    assert_eq!(all.len(), 40, "each row claimed once");
    assert_eq!(distinct.len(), 40);
}

pub async fn opted_out_contacts_get_nothing(store: Arc<dyn Store>, _clock: Arc<ManualClock>) {
    let w = world(&store, "acme").await;
    channel(&store, w.org).await;
    let s = learner(&store, &w, "+254700000009").await;
    let mut stop = |s: &Session, now: DateTime<Utc>| {
        let mut p = counter(s, now)?;
        p.status = SessionStatus::OptedOut;
        p.replies = vec!["You will get no more messages.".into()];
        Ok(p)
    };
    let out = store
        .apply_turn(s.id, Inbound::message("STOP", None), &mut stop)
        .await
        .unwrap();
    assert!(store.opted_out(w.org, "+254700000009").await.unwrap());
    // Kept, with the learner's message (auditable).
    let consent = store
        .consent(w.org, "+254700000009")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(consent.opted_out_message.as_deref(), Some("STOP"));
    assert!(consent.opted_out_at.is_some());
    assert_eq!(consent.opted_in_at, None);
    assert_eq!(store.consent(w.org, "+254700000001").await.unwrap(), None);
    // The confirmation was queued; nothing after it.
    let rows = store.session_outbox(s.id).await.unwrap();
    assert_eq!(
        texts(&rows).last().unwrap().0,
        "You will get no more messages."
    );
    let customer = store
        .customer_by_phone(w.org, "+254700000009")
        .await
        .unwrap()
        .unwrap();
    let programme = store.ensure_programme(w.org, 50, t0()).await.unwrap();
    let mut new = new_session(&w, &customer, &["Welcome again"]);
    new.programme = programme.id;
    let err = store.create_session(w.org, &new).await.unwrap_err();
    assert!(matches!(err, StoreError::OptedOut), "{err}");
    // START opts back in.
    assert!(store.opt_in(w.org, "+254700000009", at(5)).await.unwrap());
    assert!(!store.opt_in(w.org, "+254700000009", at(5)).await.unwrap());
    let consent = store
        .consent(w.org, "+254700000009")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (consent.opted_out_at, consent.opted_in_at),
        (None, Some(at(5)))
    );
    let again = store.create_session(w.org, &new).await.unwrap().session;
    assert_eq!(store.session_outbox(again.id).await.unwrap().len(), 1);
    assert!(out.received.is_some());
}

pub async fn delivery_reports_move_statuses_forward(
    store: Arc<dyn Store>,
    _clock: Arc<ManualClock>,
) {
    let w = world(&store, "acme").await;
    let ch = channel(&store, w.org).await;
    let other = channel(&store, w.org).await;
    let a = learner(&store, &w, "+254700000001").await;
    store
        .apply_turn(a.id, Inbound::wake_up(), &mut counter)
        .await
        .unwrap();
    let report = |status, error: Option<&str>, seconds| DeliveryReport {
        status,
        error: error.map(str::to_owned),
        at: at(seconds),
    };
    // Not sent yet: a report finds nothing.
    assert_eq!(
        store
            .record_delivery_report(ch.id, "SM1", &report(DeliveryStatus::Delivered, None, 1))
            .await
            .unwrap(),
        None
    );
    let first = store.claim_outbox(at(1), LEASE, 10).await.unwrap();
    store
        .finish_outbox(
            first[0].id,
            &OutboxOutcome::Sent {
                provider_message_id: Some("SM1".into()),
                segments: Some(1),
            },
            at(2),
        )
        .await
        .unwrap();
    let second = store.claim_outbox(at(2), LEASE, 10).await.unwrap();
    store
        .finish_outbox(
            second[0].id,
            &OutboxOutcome::Sent {
                provider_message_id: Some("SM2".into()),
                segments: None,
            },
            at(3),
        )
        .await
        .unwrap();
    // Another channel's id does not match.
    assert_eq!(
        store
            .record_delivery_report(other.id, "SM1", &report(DeliveryStatus::Delivered, None, 4))
            .await
            .unwrap(),
        None
    );
    let got = store
        .record_delivery_report(ch.id, "SM1", &report(DeliveryStatus::Delivered, None, 5))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (got.id, got.org, got.recipient.as_str(), got.status),
        (
            first[0].id,
            w.org,
            "+254700000001",
            DeliveryStatus::Delivered
        )
    );
    // A late `sent` or `failed` does not undo `delivered`.
    for late in [DeliveryStatus::Sent, DeliveryStatus::Failed] {
        let got = store
            .record_delivery_report(ch.id, "SM1", &report(late, Some("late"), 6))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.status, DeliveryStatus::Delivered);
    }
    let got = store
        .record_delivery_report(
            ch.id,
            "SM2",
            &report(DeliveryStatus::Failed, Some("30003 unreachable"), 7),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.status, DeliveryStatus::Failed);
    let all = store.message_deliveries(a.id, None, None).await.unwrap();
    assert_eq!(all.len(), 2);
    let (d1, d2) = (&all[0], &all[1]);
    assert_eq!(d1.message, first[0].message.as_ref().unwrap().id);
    assert_eq!(
        (d1.status, d1.provider_message_id.as_deref(), d1.segments),
        (DeliveryStatus::Delivered, Some("SM1"), Some(1))
    );
    assert_eq!(
        (d1.queued_at, d1.sent_at, d1.delivered_at, d1.failed_at),
        (first[0].queued_at, Some(at(2)), Some(at(5)), None)
    );
    assert_eq!(d1.attempts, 1);
    assert_eq!(
        (d2.status, d2.error.as_deref(), d2.failed_at, d2.segments),
        (
            DeliveryStatus::Failed,
            Some("30003 unreachable"),
            Some(at(7)),
            None
        )
    );
    let after = store
        .message_deliveries(a.id, Some(first[0].message.as_ref().unwrap().id), None)
        .await
        .unwrap();
    assert_eq!(after, vec![d2.clone()]);
    // A wake-up that expires the session queues the expiry notice as such.
    let mut expire = |s: &Session, now: DateTime<Utc>| {
        let mut p = counter(s, now)?;
        p.status = SessionStatus::Expired;
        p.replies = vec!["This session has expired.".into()];
        Ok(p)
    };
    store
        .apply_turn(a.id, Inbound::wake_up(), &mut expire)
        .await
        .unwrap();
    let rows = store.session_outbox(a.id).await.unwrap();
    assert_eq!(
        texts(&rows).last().unwrap(),
        &("This session has expired.".to_owned(), "expiry")
    );
    assert_eq!(rows[1].purpose, "reminder");
    // A provider's opt-out, outside a turn, with its audit event.
    assert!(
        store
            .opt_out_contact(w.org, "+254700000001", at(8))
            .await
            .unwrap()
    );
    assert!(
        !store
            .opt_out_contact(w.org, "+254700000001", at(9))
            .await
            .unwrap()
    );
    assert!(store.opted_out(w.org, "+254700000001").await.unwrap());
}

/// A transcript page reads the delivery records of its own id range only
/// (`after` exclusive, `through` inclusive): each page of a long session,
/// later pages included, shows exactly its messages' statuses, and another
/// session's rows between its ids never appear.
pub async fn message_deliveries_per_page(store: Arc<dyn Store>, _clock: Arc<ManualClock>) {
    let w = world(&store, "acme").await;
    channel(&store, w.org).await;
    let a = learner(&store, &w, "+254700000001").await;
    let b = learner(&store, &w, "+254700000002").await;
    // Turns of both sessions interleaved: a's ids have b's between them.
    for _ in 0..12 {
        for s in [&a, &b] {
            store
                .apply_turn(s.id, Inbound::message("hi", None), &mut counter)
                .await
                .unwrap();
        }
    }
    // Deliver (each claim hands out each learner's oldest queued row): a's
    // rows become sent, failed, sent...; its last three are put off (still
    // queued); b's all fail.
    let mut expected = std::collections::HashMap::new();
    let mut finished_of_a = 0;
    for n in 0.. {
        let claimed = store.claim_outbox(at(100 + n), LEASE, 10).await.unwrap();
        if claimed.is_empty() {
            break;
        }
        for row in claimed {
            let message = row.message.as_ref().unwrap();
            let outcome = if message.session != a.id {
                OutboxOutcome::Failed { error: "b".into() }
            } else if finished_of_a >= 10 {
                OutboxOutcome::Retry {
                    at: at(1_000_000),
                    error: "later".into(),
                }
            } else {
                finished_of_a += 1;
                if finished_of_a % 2 == 1 {
                    expected.insert(message.id, DeliveryStatus::Sent);
                    OutboxOutcome::Sent {
                        provider_message_id: Some(format!("SM{}", message.id.0)),
                        segments: None,
                    }
                } else {
                    expected.insert(message.id, DeliveryStatus::Failed);
                    OutboxOutcome::Failed {
                        error: format!("no {}", message.id.0),
                    }
                }
            };
            store
                .finish_outbox(row.id, &outcome, at(100 + n))
                .await
                .unwrap();
        }
    }
    for row in store.session_outbox(a.id).await.unwrap() {
        expected
            .entry(row.message.as_ref().unwrap().id)
            .or_insert(DeliveryStatus::Queued);
    }
    let statuses: HashSet<_> = expected.values().copied().collect();
    assert_eq!(statuses.len(), 3, "sent, failed and queued: {expected:?}");

    // Page a's transcript 5 messages at a time (enrolment, then a
    // RECEIVED and a SENT per turn: 25 messages, 5 pages).
    let mut after = None;
    let mut pages = 0;
    let mut seen = 0;
    loop {
        let page = store.messages(w.org, a.id, after, 5).await.unwrap();
        let (Some(first), Some(last)) = (page.first(), page.last()) else {
            break;
        };
        pages += 1;
        let got = store
            .message_deliveries(a.id, Some(MessageId(first.id.0 - 1)), Some(last.id))
            .await
            .unwrap();
        let want: Vec<_> = page
            .iter()
            .filter_map(|m| expected.get(&m.id).map(|status| (m.id, *status)))
            .collect();
        let got_pairs: Vec<_> = got.iter().map(|d| (d.message, d.status)).collect();
        assert_eq!(got_pairs, want, "page {pages}");
        for d in &got {
            let sent = d.status == DeliveryStatus::Sent;
            assert_eq!(
                d.provider_message_id,
                sent.then(|| format!("SM{}", d.message.0))
            );
        }
        seen += got.len();
        after = Some(last.id);
    }
    assert_eq!(pages, 5);
    assert_eq!(seen, expected.len(), "every record on exactly one page");
    // The bounds are exclusive below and inclusive above; b's rows never.
    let whole = store.message_deliveries(a.id, None, None).await.unwrap();
    assert_eq!(whole.len(), expected.len());
    let (second, last) = (whole[1].message, whole[whole.len() - 1].message);
    let middle = store
        .message_deliveries(a.id, Some(whole[0].message), Some(second))
        .await
        .unwrap();
    assert_eq!(middle, vec![whole[1].clone()]);
    let tail = store
        .message_deliveries(a.id, Some(second), None)
        .await
        .unwrap();
    assert_eq!(tail[..], whole[2..]);
    assert_eq!(tail.last().map(|d| d.message), Some(last));
    assert_eq!(
        store
            .message_deliveries(a.id, Some(last), Some(MessageId(last.0 + 1000)))
            .await
            .unwrap(),
        vec![]
    );
}

/// Customers registered before phones were normalised get their E.164
/// phone, once; a phone another customer of the organisation holds is
/// not taken (and says who holds it); other organisations don't matter.
pub async fn old_customers_get_e164_phones(store: Arc<dyn Store>, _clock: Arc<ManualClock>) {
    let w = world(&store, "acme").await;
    let other = world(&store, "other").await;
    let holder = {
        let mut new = new_customer("holder");
        new.phone_e164 = Some("+254700000021".to_owned());
        store.register_customer(w.org, &new).await.unwrap()
    };
    let old_a = store
        .register_customer(w.org, &new_customer("a"))
        .await
        .unwrap();
    let old_b = store
        .register_customer(w.org, &new_customer("b"))
        .await
        .unwrap();
    let old_c = store
        .register_customer(other.org, &new_customer("c"))
        .await
        .unwrap();
    let pending = store
        .customers_without_e164(CustomerId(0), 100)
        .await
        .unwrap();
    // (`world` registers phoneless customers of its own.)
    let ours = [old_a.id, old_b.id, old_c.id];
    let ids: Vec<_> = pending
        .iter()
        .map(|c| c.id)
        .filter(|id| ours.contains(id))
        .collect();
    assert_eq!(ids, ours);
    assert!(pending.windows(2).all(|p| p[0].id < p[1].id));
    assert!(pending.iter().all(|c| c.id != holder.id));
    let page = store.customers_without_e164(old_a.id, 1).await.unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].id, old_b.id);

    let set = |c: Customer, phone: &'static str| {
        let store = Arc::clone(&store);
        async move { store.set_phone_e164(&c, phone).await.unwrap() }
    };
    assert_eq!(set(old_a.clone(), "+254700000022").await, PhoneSet::Set);
    assert_eq!(
        set(old_b.clone(), "+254700000021").await,
        PhoneSet::Taken { by: holder.uuid }
    );
    assert_eq!(set(old_c.clone(), "+254700000021").await, PhoneSet::Set);
    let found = store
        .customer_by_phone(w.org, "+254700000022")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.uuid, old_a.uuid);
    let left = store
        .customers_without_e164(CustomerId(0), 100)
        .await
        .unwrap();
    let left: Vec<_> = left
        .iter()
        .map(|c| c.id)
        .filter(|id| ours.contains(id))
        .collect();
    assert_eq!(left, vec![old_b.id]);
}

/// Quiet hours are the organisation's own: set, read back, cleared.
pub async fn quiet_hours_per_organisation(store: Arc<dyn Store>, _clock: Arc<ManualClock>) {
    let w = world(&store, "acme").await;
    let other = world(&store, "other").await;
    assert_eq!(store.quiet_hours(w.org).await.unwrap(), None);
    let quiet = QuietHours {
        start: "21:00".to_owned(),
        end: "07:00".to_owned(),
        timezone: Some("Africa/Nairobi".to_owned()),
    };
    store.set_quiet_hours(w.org, Some(&quiet)).await.unwrap();
    assert_eq!(store.quiet_hours(w.org).await.unwrap(), Some(quiet));
    assert_eq!(store.quiet_hours(other.org).await.unwrap(), None);
    let server_zone = QuietHours {
        start: "22:30".to_owned(),
        end: "06:00".to_owned(),
        timezone: None,
    };
    store
        .set_quiet_hours(w.org, Some(&server_zone))
        .await
        .unwrap();
    assert_eq!(store.quiet_hours(w.org).await.unwrap(), Some(server_zone));
    store.set_quiet_hours(w.org, None).await.unwrap();
    assert_eq!(store.quiet_hours(w.org).await.unwrap(), None);
}

/// A round's outcomes recorded together: each row as if finished alone,
/// and a row already ended is left as it is.
pub async fn outcomes_recorded_together(store: Arc<dyn Store>, _clock: Arc<ManualClock>) {
    let w = world(&store, "acme").await;
    channel(&store, w.org).await;
    let a = learner(&store, &w, "+254700000031").await;
    let b = learner(&store, &w, "+254700000032").await;
    let claimed = store.claim_outbox(at(10), LEASE, 10).await.unwrap();
    assert_eq!(claimed.len(), 2);
    let outcomes = vec![
        (
            claimed[0].id,
            OutboxOutcome::Sent {
                provider_message_id: Some("p-a".into()),
                segments: None,
            },
        ),
        (
            claimed[1].id,
            OutboxOutcome::Failed {
                error: "HTTP 400".into(),
            },
        ),
    ];
    store.finish_outbox_many(&outcomes, at(11)).await.unwrap();
    let (ra, rb) = (
        store.session_outbox(a.id).await.unwrap(),
        store.session_outbox(b.id).await.unwrap(),
    );
    assert_eq!(ra[0].status, DeliveryStatus::Sent);
    assert_eq!(ra[0].provider_message_id.as_deref(), Some("p-a"));
    assert_eq!(ra[0].attempts, 1);
    assert_eq!(rb[0].status, DeliveryStatus::Failed);
    assert_eq!(rb[0].error.as_deref(), Some("HTTP 400"));
    // Again: both already ended, nothing changes.
    store.finish_outbox_many(&outcomes, at(12)).await.unwrap();
    assert_eq!(store.session_outbox(a.id).await.unwrap()[0].attempts, 1);
    assert!(nothing_due(&store, at(13)).await);
}
