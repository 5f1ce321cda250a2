//! The turn: atomic, serialized per session, ids in commit order, idempotent.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use chatcourse_storage::*;

use super::*;

fn answer(quiz: QuizKind, question: &str, correct: bool) -> NewQuizAnswer {
    NewQuizAnswer {
        quiz,
        question_id: question.to_owned(),
        question: format!("What is {question}?"),
        answer: "2".to_owned(),
        correct,
        attempt: 1,
        matched_by: "choice 2".to_owned(),
        choice: Some(2),
    }
}

pub async fn turn_stores_everything(store: Arc<dyn Store>, clock: Arc<ManualClock>) {
    let w = world(&store, "acme").await;
    let s = session(&store, &w).await;
    let mut decide = |current: &Session, now: DateTime<Utc>| {
        assert_eq!(
            (current.id, current.turns, current.state.as_str()),
            (s.id, 0, "0")
        );
        assert_eq!(now, at(5), "decide gets the turn's time");
        Ok(TurnPlan {
            state: "{\"step\":\"q2\"}".to_owned(),
            state_format: 3,
            status: SessionStatus::InProgress,
            replies: vec!["Correct!".to_owned(), "Question 2?".to_owned()],
            answers: vec![answer(QuizKind::Pre, "q1", true)],
            progress: QuizProgress {
                pre_correct: 1,
                pre_answered: 1,
                ..QuizProgress::default()
            },
            wake_at: Some(at(3600)),
            last_activity: Some(at(5)),
            position: None,
        })
    };
    clock.set(at(5));
    let out = store
        .apply_turn(
            s.id,
            Inbound::message("2", Some("wamid.1".to_owned())),
            &mut decide,
        )
        .await
        .unwrap();
    assert!(!out.replayed);
    let received = out.received.clone().unwrap();
    assert_eq!(
        (
            received.direction,
            received.text.as_str(),
            received.external_id.as_deref(),
            received.turn
        ),
        (Direction::Received, "2", Some("wamid.1"), 1)
    );
    assert_eq!(received.created_at, at(5));
    assert_eq!(
        out.sent.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(),
        ["Correct!", "Question 2?"]
    );
    assert!(received.id < out.sent[0].id && out.sent[0].id < out.sent[1].id);
    let expected = Session {
        status: SessionStatus::InProgress,
        state: "{\"step\":\"q2\"}".to_owned(),
        state_format: 3,
        turns: 1,
        wake_at: Some(at(3600)),
        last_activity: Some(at(5)),
        ..s.clone()
    };
    assert_eq!(out.session, expected);
    assert_eq!(
        store.get_session(w.org, s.uuid).await.unwrap(),
        Some(expected)
    );

    let messages = all_messages(&store, w.org, s.id).await;
    assert_eq!(messages.len(), 4);
    assert_eq!(
        messages[1..],
        [vec![received], out.sent.clone()].concat()[..]
    );
    let detail = store.session_detail(w.org, s.uuid).await.unwrap().unwrap();
    assert_eq!(detail.answers.len(), 1);
    assert_eq!(
        detail.summary.scores.pre,
        Score {
            correct: 1,
            answered: 1,
            total: 2
        }
    );

    // A later turn without last_activity keeps it; its progress (none: a
    // restart) is stored although it has no answers.
    clock.set(at(9));
    let out = store
        .apply_turn(s.id, Inbound::message("hi", None), &mut |_: &Session,
                                                              _: DateTime<
            Utc,
        >| {
            Ok(TurnPlan {
                state: "x".to_owned(),
                state_format: 3,
                status: SessionStatus::InProgress,
                replies: vec![],
                answers: vec![],
                progress: QuizProgress::default(),
                wake_at: None,
                last_activity: None,
                position: None,
            })
        })
        .await
        .unwrap();
    assert_eq!(
        (
            out.session.last_activity,
            out.session.wake_at,
            out.sent.len()
        ),
        (Some(at(5)), None, 0)
    );
    let detail = store.session_detail(w.org, s.uuid).await.unwrap().unwrap();
    assert_eq!(detail.answers.len(), 1, "the answer log keeps every answer");
    assert_eq!(
        detail.summary.scores.pre,
        Score {
            correct: 0,
            answered: 0,
            total: 2
        }
    );
}

/// The stored scores are the plans' progress, verbatim: here the engine
/// counts q1 right, then a restart resets the run, then q1 wrong in the new
/// run. The answer log keeps all of it.
pub async fn progress_is_stored_as_planned(store: Arc<dyn Store>, _clock: Arc<ManualClock>) {
    let w = world(&store, "acme").await;
    let s = session(&store, &w).await;
    let steps = [
        (vec![answer(QuizKind::Pre, "q1", true)], (1, 1), Some(0.5)),
        (vec![], (0, 0), None),
        (vec![answer(QuizKind::Pre, "q1", false)], (0, 1), Some(0.0)),
    ];
    for (i, (answers, (pre_correct, pre_answered), average)) in steps.into_iter().enumerate() {
        let mut plan = Some(TurnPlan {
            state: i.to_string(),
            state_format: 1,
            status: SessionStatus::InProgress,
            replies: vec![],
            answers,
            progress: QuizProgress {
                pre_correct,
                pre_answered,
                ..QuizProgress::default()
            },
            wake_at: None,
            last_activity: None,
            position: None,
        });
        store
            .apply_turn(s.id, Inbound::message("x", None), &mut |_: &Session,
                                                                 _: DateTime<
                Utc,
            >| {
                Ok(plan.take().expect("decide runs once"))
            })
            .await
            .unwrap();
        let detail = store.session_detail(w.org, s.uuid).await.unwrap().unwrap();
        assert_eq!(
            (detail.summary.scores.pre, detail.summary.scores.post),
            (
                Score {
                    correct: pre_correct,
                    answered: pre_answered,
                    total: 2
                },
                Score {
                    correct: 0,
                    answered: 0,
                    total: 4
                }
            ),
            "after turn {i}"
        );
        let programme = store.programme_summary(w.org, 49).await.unwrap().unwrap();
        assert_eq!(programme.average_pre_score, average, "after turn {i}");
    }
    let detail = store.session_detail(w.org, s.uuid).await.unwrap().unwrap();
    assert_eq!(
        detail
            .answers
            .iter()
            .map(|a| (a.question_id.as_str(), a.correct))
            .collect::<Vec<_>>(),
        [("q1", true), ("q1", false)]
    );
}

pub async fn wake_up_turn_has_no_inbound(store: Arc<dyn Store>, _clock: Arc<ManualClock>) {
    let w = world(&store, "acme").await;
    let s = session(&store, &w).await;
    let out = store
        .apply_turn(s.id, Inbound::wake_up(), &mut counter)
        .await
        .unwrap();
    assert_eq!(out.received, None);
    assert_eq!(out.sent.len(), 1);
    assert_eq!((out.session.turns, out.session.state.as_str()), (1, "1"));
    let messages = all_messages(&store, w.org, s.id).await;
    assert_eq!(messages.len(), 2);
    assert!(messages.iter().all(|m| m.direction == Direction::Sent));
}

pub async fn rejected_turn_leaves_no_trace(store: Arc<dyn Store>, _clock: Arc<ManualClock>) {
    let w = world(&store, "acme").await;
    let s = session(&store, &w).await;
    let before = all_messages(&store, w.org, s.id).await;
    let err = store
        .apply_turn(
            s.id,
            Inbound::message("hello", Some("e1".to_owned())),
            &mut |_: &Session, _: DateTime<Utc>| Err(TurnRejected::new("session is over")),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Rejected(r) if r.reason == "session is over"),
        "{err}"
    );
    assert_eq!(all_messages(&store, w.org, s.id).await, before);
    assert_eq!(
        store.get_session(w.org, s.uuid).await.unwrap(),
        Some(s.clone())
    );
    // The external id was not consumed: the same message applies now.
    let out = store
        .apply_turn(
            s.id,
            Inbound::message("hello", Some("e1".to_owned())),
            &mut counter,
        )
        .await
        .unwrap();
    assert!(!out.replayed);
    assert_eq!(out.session.turns, 1);

    let missing = store
        .apply_turn(SessionId(i64::MAX), Inbound::wake_up(), &mut counter)
        .await
        .unwrap_err();
    assert!(matches!(missing, StoreError::NotFound(_)), "{missing}");
}

/// A turn whose caller goes away in the middle is stored whole or not at
/// all: on PostgreSQL the cut-off transaction rolls back; on SQLite the
/// turn's writes are held back and, once the turn has made them all, its
/// batch's commit runs in a task of its own and stores them all.
pub async fn dropped_turn_is_whole_or_absent(store: Arc<dyn Store>, _clock: Arc<ManualClock>) {
    let w = world(&store, "acme").await;
    let s = session(&store, &w).await;
    let before = all_messages(&store, w.org, s.id).await;
    // The decision blocks (as a slow engine would) past the timeout, and asks
    // for many replies: the timeout drops the turn's future at the first
    // statement after the decision that is not answered at once.
    let mut slow = |current: &Session, now: DateTime<Utc>| {
        std::thread::sleep(std::time::Duration::from_millis(150));
        let mut plan = counter(current, now)?;
        plan.replies = (0..200).map(|i| format!("reply {i}")).collect();
        Ok(plan)
    };
    let turn = store.apply_turn(
        s.id,
        Inbound::message("lost", Some("x1".to_owned())),
        &mut slow,
    );
    let result = tokio::time::timeout(std::time::Duration::from_millis(20), turn).await;
    assert!(result.is_err(), "the turn should have been cut off");
    // An enrolment takes the writer for itself: a commit in flight ends
    // first. (The session is live: it answers with the existing one.)
    let existing = store
        .create_session(w.org, &new_session(&w, &w.customer, &[]))
        .await
        .unwrap();
    assert!(existing.existing);
    let messages = all_messages(&store, w.org, s.id).await;
    assert_eq!(messages[..before.len()], *before);
    if messages.len() == before.len() {
        after_crash(&store, &w, &s, &before).await;
        return;
    }
    let texts: Vec<_> = messages[before.len()..]
        .iter()
        .map(|m| m.text.clone())
        .collect();
    let whole: Vec<String> = std::iter::once("lost".to_owned())
        .chain((0..200).map(|i| format!("reply {i}")))
        .collect();
    assert_eq!(texts, whole, "a stored turn is stored whole");
    let again = store
        .apply_turn(
            s.id,
            Inbound::message("again", Some("x1".to_owned())),
            &mut counter,
        )
        .await
        .unwrap();
    assert!(
        again.replayed,
        "the stored turn is replayed, not applied again"
    );
    assert_eq!(again.session.turns, 1);
}

/// A turn whose engine panics (inside the transaction) is rejected, naming
/// the panic, and leaves no trace.
pub async fn panicking_turn_leaves_no_trace(store: Arc<dyn Store>, _clock: Arc<ManualClock>) {
    let w = world(&store, "acme").await;
    let s = session(&store, &w).await;
    let before = all_messages(&store, w.org, s.id).await;
    let mut boom =
        |_: &Session, _: DateTime<Utc>| -> Result<TurnPlan, TurnRejected> { panic!("engine bug") };
    let err = store
        .apply_turn(
            s.id,
            Inbound::message("lost", Some("x1".to_owned())),
            &mut boom,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Rejected(r) if r.reason.contains("panicked: engine bug")),
        "{err}"
    );
    after_crash(&store, &w, &s, &before).await;
}

/// After a turn was cut off: no trace of it, the session not locked, its
/// external id still free.
async fn after_crash(store: &Arc<dyn Store>, w: &World, s: &Session, before: &[Message]) {
    let again = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        store.apply_turn(
            s.id,
            Inbound::message("again", Some("x1".to_owned())),
            &mut counter,
        ),
    )
    .await
    .expect("session still locked")
    .unwrap();
    assert!(!again.replayed, "the cut-off turn was stored");
    assert_eq!(
        (again.session.turns, again.session.state.as_str()),
        (1, "1")
    );
    let messages = all_messages(store, w.org, s.id).await;
    assert_eq!(messages[..before.len()], *before);
    let texts: Vec<_> = messages[before.len()..]
        .iter()
        .map(|m| m.text.as_str())
        .collect();
    assert_eq!(texts, ["again", "reply 1"]);
}

/// Checks a session's transcript after concurrent counter turns: every turn
/// once, in order, each reply the serial result.
async fn check_counter_transcript(
    store: &Arc<dyn Store>,
    org: OrgId,
    session: &Session,
    turns: usize,
) {
    let s = store.get_session(org, session.uuid).await.unwrap().unwrap();
    assert_eq!(s.turns, turns as i64);
    assert_eq!(
        s.state,
        turns.to_string(),
        "state equals serial application"
    );
    let messages = all_messages(store, org, session.id).await;
    let messages = &messages[1..]; // the enrolment message
    assert_eq!(messages.len(), 2 * turns, "no lost or duplicated message");
    assert!(messages.windows(2).all(|p| p[0].id < p[1].id));
    let mut seen = HashSet::new();
    for (i, pair) in messages.chunks(2).enumerate() {
        let turn = i as i64 + 1;
        // Ids follow the order turns were applied under the lock (= commit order).
        assert_eq!(
            (pair[0].turn, pair[1].turn),
            (turn, turn),
            "turns interleaved"
        );
        assert_eq!(pair[0].direction, Direction::Received);
        assert_eq!(pair[1].direction, Direction::Sent);
        assert_eq!(pair[1].text, format!("reply {turn}"));
        assert!(
            seen.insert(pair[0].text.clone()),
            "duplicate inbound {}",
            pair[0].text
        );
    }
    // Each sender's turns were stored in the order it sent them.
    let mut last_by_sender: BTreeMap<String, (usize, MessageId)> = BTreeMap::new();
    for m in messages
        .iter()
        .filter(|m| m.direction == Direction::Received)
    {
        let (sender, seq) = m.text.rsplit_once('-').unwrap();
        let seq: usize = seq.parse().unwrap();
        if let Some((prev, prev_id)) = last_by_sender.insert(sender.to_owned(), (seq, m.id)) {
            assert!(prev < seq && prev_id < m.id, "sender {sender} reordered");
        }
    }
}

pub async fn concurrent_turns_one_session(store: Arc<dyn Store>, _clock: Arc<ManualClock>) {
    const TASKS: usize = 50;
    const TURNS: usize = 20;
    let w = world(&store, "acme").await;
    let s = session(&store, &w).await;
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut last = None;
                for turn in 0..TURNS {
                    let text = format!("t{task}-{turn}");
                    let out = store
                        .apply_turn(
                            s.id,
                            Inbound::message(text, Some(format!("e{task}-{turn}"))),
                            &mut counter,
                        )
                        .await
                        .unwrap();
                    assert!(!out.replayed);
                    let id = out.received.unwrap().id;
                    assert!(last < Some(id), "a sender's later turn got a smaller id");
                    last = Some(id);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    check_counter_transcript(&store, w.org, &s, TASKS * TURNS).await;
}

pub async fn concurrent_turns_many_sessions(store: Arc<dyn Store>, _clock: Arc<ManualClock>) {
    const SESSIONS: usize = 200;
    const SENDERS: usize = 3;
    const TURNS: usize = 2;
    let w = world(&store, "acme").await;
    let mut sessions = Vec::new();
    for i in 0..SESSIONS {
        let customer = store
            .register_customer(w.org, &new_customer(&format!("c{i}")))
            .await
            .unwrap();
        let created = store
            .create_session(w.org, &new_session(&w, &customer, &["Welcome!"]))
            .await
            .unwrap();
        sessions.push(created.session);
    }
    let mut tasks = Vec::new();
    for s in &sessions {
        for sender in 0..SENDERS {
            let (store, id) = (store.clone(), s.id);
            tasks.push(tokio::spawn(async move {
                for turn in 0..TURNS {
                    let text = format!("s{sender}-{turn}");
                    store
                        .apply_turn(id, Inbound::message(text, None), &mut counter)
                        .await
                        .unwrap();
                }
            }));
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
    for s in &sessions {
        check_counter_transcript(&store, w.org, s, SENDERS * TURNS).await;
    }
}

pub async fn idempotent_external_id(store: Arc<dyn Store>, _clock: Arc<ManualClock>) {
    let w = world(&store, "acme").await;
    let s = session(&store, &w).await;
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .apply_turn(
                        s.id,
                        Inbound::message("2", Some("sms-77".to_owned())),
                        &mut counter,
                    )
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    assert_eq!(
        outcomes.iter().filter(|o| !o.replayed).count(),
        1,
        "applied exactly once"
    );
    let first = outcomes.iter().find(|o| !o.replayed).unwrap();
    for o in &outcomes {
        assert_eq!(o.sent, first.sent, "every caller gets the original replies");
        assert_eq!(o.received, first.received);
        assert_eq!(o.session.turns, 1);
    }
    assert_eq!(first.sent.len(), 1);
    let current = store.get_session(w.org, s.uuid).await.unwrap().unwrap();
    assert_eq!((current.turns, current.state.as_str()), (1, "1"));
    assert_eq!(all_messages(&store, w.org, s.id).await.len(), 3);

    // A later turn, then the old id again: still the original turn's replies.
    store
        .apply_turn(
            s.id,
            Inbound::message("3", Some("sms-78".to_owned())),
            &mut counter,
        )
        .await
        .unwrap();
    let late = store
        .apply_turn(
            s.id,
            Inbound::message("2", Some("sms-77".to_owned())),
            &mut |_: &Session, _: DateTime<Utc>| panic!("a replay must not run the engine"),
        )
        .await
        .unwrap();
    assert!(late.replayed);
    assert_eq!(late.sent, first.sent);
    assert_eq!(late.session.turns, 2);

    // External ids are per session.
    let other_customer = store
        .register_customer(w.org, &new_customer("other"))
        .await
        .unwrap();
    let other = store
        .create_session(w.org, &new_session(&w, &other_customer, &["Hi"]))
        .await
        .unwrap()
        .session;
    let out = store
        .apply_turn(
            other.id,
            Inbound::message("2", Some("sms-77".to_owned())),
            &mut counter,
        )
        .await
        .unwrap();
    assert!(!out.replayed);
}

/// Turns that fail (the engine declines every third one) among concurrent
/// turns of other sessions: only they are missing; the rest are all stored.
pub async fn failures_amid_concurrent_turns(store: Arc<dyn Store>, _clock: Arc<ManualClock>) {
    const SESSIONS: usize = 30;
    const TURNS: usize = 6;
    let w = world(&store, "acme").await;
    let mut sessions = Vec::new();
    for i in 0..SESSIONS {
        let customer = store
            .register_customer(w.org, &new_customer(&format!("c{i}")))
            .await
            .unwrap();
        let created = store
            .create_session(w.org, &new_session(&w, &customer, &["Welcome!"]))
            .await
            .unwrap();
        sessions.push(created.session);
    }
    let tasks: Vec<_> = sessions
        .iter()
        .map(|s| {
            let (store, id) = (store.clone(), s.id);
            tokio::spawn(async move {
                let mut stored = 0;
                for turn in 0..TURNS {
                    let mut picky = |s: &Session, now: DateTime<Utc>| {
                        if turn % 3 == 2 {
                            Err(TurnRejected::new("declined"))
                        } else {
                            counter(s, now)
                        }
                    };
                    let text = format!("m-{turn}");
                    match store
                        .apply_turn(id, Inbound::message(text, None), &mut picky)
                        .await
                    {
                        Ok(_) => stored += 1,
                        Err(StoreError::Rejected(_)) => {}
                        Err(e) => panic!("{e}"),
                    }
                }
                stored
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), 4);
    }
    for s in &sessions {
        check_counter_transcript(&store, w.org, s, 4).await;
    }
}

/// Callers cut off at random moments among concurrent turns: every turn
/// reported stored is stored, every turn reported failed is not, and each
/// transcript is still a gapless serial history.
pub async fn cancellations_amid_concurrent_turns(store: Arc<dyn Store>, _clock: Arc<ManualClock>) {
    const SESSIONS: usize = 20;
    const TURNS: usize = 8;
    let w = world(&store, "acme").await;
    let mut sessions = Vec::new();
    for i in 0..SESSIONS {
        let customer = store
            .register_customer(w.org, &new_customer(&format!("c{i}")))
            .await
            .unwrap();
        let created = store
            .create_session(w.org, &new_session(&w, &customer, &["Welcome!"]))
            .await
            .unwrap();
        sessions.push(created.session);
    }
    let tasks: Vec<_> = sessions
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let (store, id) = (store.clone(), s.id);
            tokio::spawn(async move {
                // (text, Some(true) stored / Some(false) failed / None cut off)
                let mut results = Vec::new();
                for turn in 0..TURNS {
                    let text = format!("s{i}-{turn}");
                    let inbound = Inbound::message(text.clone(), Some(text.clone()));
                    let result = if (i + turn) % 3 == 0 {
                        let mut slow = |s: &Session, now: DateTime<Utc>| {
                            std::thread::sleep(std::time::Duration::from_millis(2));
                            counter(s, now)
                        };
                        let limit = std::time::Duration::from_micros(500 * (turn as u64 % 4));
                        match tokio::time::timeout(limit, store.apply_turn(id, inbound, &mut slow))
                            .await
                        {
                            Ok(result) => Some(result.is_ok()),
                            Err(_) => None,
                        }
                    } else {
                        Some(store.apply_turn(id, inbound, &mut counter).await.is_ok())
                    };
                    results.push((text, result));
                }
                results
            })
        })
        .collect();
    for (task, s) in tasks.into_iter().zip(&sessions) {
        let results = task.await.unwrap();
        let current = store.get_session(w.org, s.uuid).await.unwrap().unwrap();
        let messages = all_messages(&store, w.org, s.id).await;
        let messages = &messages[1..];
        let turns = current.turns as usize;
        assert_eq!(current.state, turns.to_string());
        assert_eq!(messages.len(), 2 * turns);
        let stored: HashSet<&str> = messages
            .chunks(2)
            .enumerate()
            .map(|(k, pair)| {
                assert_eq!((pair[0].turn, pair[1].turn), (k as i64 + 1, k as i64 + 1));
                assert_eq!(pair[1].text, format!("reply {}", k + 1));
                pair[0].text.as_str()
            })
            .collect();
        for (text, result) in &results {
            match result {
                Some(true) => assert!(
                    stored.contains(text.as_str()),
                    "{text} reported stored, missing"
                ),
                Some(false) => assert!(
                    !stored.contains(text.as_str()),
                    "{text} reported failed, stored"
                ),
                None => {}
            }
        }
    }
}

/// `count` sessions of distinct customers, each with its enrolment message.
async fn many_sessions(store: &Arc<dyn Store>, w: &World, count: usize) -> Vec<Session> {
    let mut sessions = Vec::new();
    for i in 0..count {
        let customer = store
            .register_customer(w.org, &new_customer(&format!("c{i}")))
            .await
            .unwrap();
        let created = store
            .create_session(w.org, &new_session(w, &customer, &["Welcome!"]))
            .await
            .unwrap();
        sessions.push(created.session);
    }
    sessions
}

/// Decisions that panic (one turn of every fifth session) among many
/// concurrent turns of other sessions: each panicking turn is rejected and
/// leaves no trace; every other turn commits (on SQLite they share the
/// panicking turn's transaction).
pub async fn panics_amid_concurrent_turns(store: Arc<dyn Store>, _clock: Arc<ManualClock>) {
    const SESSIONS: usize = 40;
    const TURNS: usize = 6;
    let w = world(&store, "acme").await;
    let sessions = many_sessions(&store, &w, SESSIONS).await;
    let tasks: Vec<_> = sessions
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let (store, id) = (store.clone(), s.id);
            tokio::spawn(async move {
                let mut stored = 0;
                for turn in 0..TURNS {
                    let panics = i % 5 == 0 && turn == 3;
                    let mut engine = |s: &Session, now: DateTime<Utc>| {
                        if panics {
                            panic!("engine bug in session {i}");
                        }
                        counter(s, now)
                    };
                    let text = format!("m-{turn}");
                    match store
                        .apply_turn(id, Inbound::message(text, None), &mut engine)
                        .await
                    {
                        Ok(_) => {
                            assert!(!panics, "a panicking turn was stored");
                            stored += 1;
                        }
                        Err(StoreError::Rejected(r)) if panics => {
                            assert!(r.reason.contains("engine bug in session"), "{r}");
                        }
                        Err(e) => panic!("session {i}, turn {turn}: {e}"),
                    }
                }
                stored
            })
        })
        .collect();
    for (i, task) in tasks.into_iter().enumerate() {
        let expected = if i % 5 == 0 { TURNS - 1 } else { TURNS };
        assert_eq!(task.await.unwrap(), expected, "session {i}");
    }
    for (i, s) in sessions.iter().enumerate() {
        let expected = if i % 5 == 0 { TURNS - 1 } else { TURNS };
        check_counter_transcript(&store, w.org, s, expected).await;
    }
}

/// The turn's time is read under the session's lock: while the clock moves
/// on, concurrent turns store times that never decrease in id order within
/// a session, and `decide` is given the time the turn stores.
pub async fn stored_times_follow_commit_order(store: Arc<dyn Store>, clock: Arc<ManualClock>) {
    const SESSIONS: usize = 4;
    const SENDERS: usize = 8;
    const TURNS: usize = 10;
    let w = world(&store, "acme").await;
    let sessions = many_sessions(&store, &w, SESSIONS).await;
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let ticker = {
        let (clock, done) = (clock.clone(), done.clone());
        tokio::spawn(async move {
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                clock.advance(std::time::Duration::from_micros(7));
                tokio::task::yield_now().await;
            }
        })
    };
    let mut tasks = Vec::new();
    for s in &sessions {
        for sender in 0..SENDERS {
            let (store, id) = (store.clone(), s.id);
            tasks.push(tokio::spawn(async move {
                for turn in 0..TURNS {
                    let mut decided = None;
                    let mut engine = |s: &Session, now: DateTime<Utc>| {
                        decided = Some(now);
                        let mut plan = counter(s, now)?;
                        plan.last_activity = Some(now);
                        Ok(plan)
                    };
                    let text = format!("s{sender}-{turn}");
                    let out = store
                        .apply_turn(id, Inbound::message(text, None), &mut engine)
                        .await
                        .unwrap();
                    let received = out.received.unwrap();
                    assert_eq!(Some(received.created_at), decided);
                    assert!(out.sent.iter().all(|m| Some(m.created_at) == decided));
                    assert_eq!(out.session.last_activity, decided);
                }
            }));
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    ticker.await.unwrap();
    for s in &sessions {
        check_counter_transcript(&store, w.org, s, SENDERS * TURNS).await;
        let messages = all_messages(&store, w.org, s.id).await;
        for pair in messages.windows(2) {
            assert!(
                pair[0].created_at <= pair[1].created_at,
                "message {} at {} before message {} at {}",
                pair[0].id,
                pair[0].created_at,
                pair[1].id,
                pair[1].created_at
            );
        }
        assert!(
            messages.last().unwrap().created_at > messages[1].created_at,
            "the clock moved during the test"
        );
    }
}
