//! Wake-ups: due sessions are handed out once, under a lease.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chatcourse_storage::*;

use super::*;

const LEASE: StdDuration = StdDuration::from_secs(1000);

/// `count` sessions of distinct customers, waking at `wake(i)`.
async fn sleeping_sessions(
    store: &Arc<dyn Store>,
    w: &World,
    count: usize,
    wake: impl Fn(usize) -> Option<DateTime<Utc>>,
) -> Vec<Session> {
    let mut out = Vec::new();
    for i in 0..count {
        let customer = store
            .register_customer(w.org, &new_customer(&format!("c{i}")))
            .await
            .unwrap();
        let mut new = new_session(w, &customer, &["Welcome!"]);
        new.wake_at = wake(i);
        out.push(store.create_session(w.org, &new).await.unwrap().session);
    }
    out
}

pub async fn wakeups_are_claimed_once(store: Arc<dyn Store>, _clock: Arc<ManualClock>) {
    let w = world(&store, "acme").await;
    // Even: due at t0 + i s; odd: due in an hour.
    let sessions = sleeping_sessions(&store, &w, 8, |i| {
        Some(if i % 2 == 0 { at(i as i64) } else { at(3600) })
    })
    .await;
    sleeping_sessions(&store, &w, 1, |_| None).await;
    let now = at(100);
    let first = store.claim_due_wakeups(now, LEASE, 3).await.unwrap();
    let ids: Vec<_> = first.iter().map(|s| s.id).collect();
    assert_eq!(
        ids,
        [sessions[0].id, sessions[2].id, sessions[4].id],
        "earliest due first"
    );
    let second = store.claim_due_wakeups(now, LEASE, 10).await.unwrap();
    assert_eq!(
        second.iter().map(|s| s.id).collect::<Vec<_>>(),
        [sessions[6].id]
    );
    assert!(
        store
            .claim_due_wakeups(now, LEASE, 10)
            .await
            .unwrap()
            .is_empty(),
        "all leased"
    );

    // A wake-up turn ends the lease; its new wake_at decides the next claim.
    let mut wake_again = |s: &Session, now: DateTime<Utc>| {
        let mut p = counter(s, now)?;
        p.wake_at = Some(at(200));
        Ok(p)
    };
    store
        .apply_turn(sessions[0].id, Inbound::wake_up(), &mut wake_again)
        .await
        .unwrap();
    assert!(
        store
            .claim_due_wakeups(at(150), LEASE, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let again = store.claim_due_wakeups(at(200), LEASE, 10).await.unwrap();
    assert_eq!(
        again.iter().map(|s| s.id).collect::<Vec<_>>(),
        [sessions[0].id]
    );
    assert_eq!(again[0].wake_at, Some(at(200)));

    // A lease that runs out makes the session claimable again.
    let later = at(100) + chrono::Duration::from_std(LEASE).unwrap();
    let expired: HashSet<_> = store
        .claim_due_wakeups(later, LEASE, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(
        expired,
        HashSet::from([sessions[2].id, sessions[4].id, sessions[6].id])
    );

    // Sessions that are over are never handed out.
    let mut finish = |s: &Session, now: DateTime<Utc>| {
        let mut p = counter(s, now)?;
        p.status = SessionStatus::Expired;
        p.wake_at = Some(at(0));
        Ok(p)
    };
    store
        .apply_turn(sessions[1].id, Inbound::wake_up(), &mut finish)
        .await
        .unwrap();
    let all = store
        .claim_due_wakeups(at(100_000), LEASE, 100)
        .await
        .unwrap();
    assert!(all.iter().all(|s| s.id != sessions[1].id));
}

pub async fn concurrent_wakeup_claimers(store: Arc<dyn Store>, _clock: Arc<ManualClock>) {
    let w = world(&store, "acme").await;
    let sessions = sleeping_sessions(&store, &w, 40, |i| Some(at(i as i64))).await;
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let claimed = store.claim_due_wakeups(at(1000), LEASE, 3).await.unwrap();
                    if claimed.is_empty() {
                        return mine;
                    }
                    mine.extend(claimed.into_iter().map(|s| s.id));
                }
            })
        })
        .collect();
    let mut seen = HashSet::new();
    for task in tasks {
        for id in task.await.unwrap() {
            assert!(seen.insert(id), "session {id} claimed twice");
        }
    }
    assert_eq!(seen, sessions.iter().map(|s| s.id).collect::<HashSet<_>>());
}

/// A lease too long to represent as a time (up to `Duration::MAX`) holds
/// the session until the end of representable time, on both backends: the
/// claim neither fails nor panics, and the session is not handed out again
/// a year later, or a hundred thousand years later.
pub async fn lease_too_long_to_represent(store: Arc<dyn Store>, _clock: Arc<ManualClock>) {
    let w = world(&store, "acme").await;
    let sessions = sleeping_sessions(&store, &w, 2, |_| Some(at(0))).await;
    let huge = StdDuration::from_secs(400 * 365 * 24 * 3600 * 1000);
    let first = store.claim_due_wakeups(at(1), huge, 1).await.unwrap();
    let second = store
        .claim_due_wakeups(at(1), StdDuration::MAX, 1)
        .await
        .unwrap();
    let claimed: HashSet<_> = first.iter().chain(&second).map(|s| s.id).collect();
    assert_eq!(
        claimed,
        sessions.iter().map(|s| s.id).collect::<HashSet<_>>()
    );
    for later in [
        at(1) + chrono::Duration::days(400),
        at(1) + chrono::Duration::days(100_000 * 365),
    ] {
        assert!(
            store
                .claim_due_wakeups(later, LEASE, 10)
                .await
                .unwrap()
                .is_empty(),
            "claimable again at {later}"
        );
    }
    // A turn still ends such a lease.
    store
        .apply_turn(
            sessions[0].id,
            Inbound::wake_up(),
            &mut |s: &Session, now| {
                let mut plan = counter(s, now)?;
                plan.wake_at = Some(at(2));
                Ok(plan)
            },
        )
        .await
        .unwrap();
    let again = store.claim_due_wakeups(at(3), LEASE, 10).await.unwrap();
    assert_eq!(
        again.iter().map(|s| s.id).collect::<Vec<_>>(),
        [sessions[0].id]
    );
}
