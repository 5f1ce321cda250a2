//! Reads: isolation, paging, summaries, export, live events.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chatcourse_storage::*;
use futures::StreamExt;

use super::*;

fn plan(
    state: &str,
    status: SessionStatus,
    answers: Vec<NewQuizAnswer>,
    progress: QuizProgress,
    at: DateTime<Utc>,
) -> TurnPlan {
    TurnPlan {
        state: state.to_owned(),
        state_format: 1,
        status,
        replies: vec![format!("ok {state}")],
        answers,
        progress,
        wake_at: None,
        last_activity: Some(at),
        position: None,
    }
}

fn answer(quiz: QuizKind, question: &str, correct: bool, attempt: i32) -> NewQuizAnswer {
    NewQuizAnswer {
        quiz,
        question_id: question.to_owned(),
        question: format!("Question {question}"),
        answer: if correct { "right" } else { "wrong" }.to_owned(),
        correct,
        attempt,
        matched_by: "choice".to_owned(),
        choice: Some(if correct { 1 } else { 2 }),
    }
}

/// A turn at `when` (the store's clock is set to it).
async fn turn(
    store: &Arc<dyn Store>,
    clock: &ManualClock,
    s: &Session,
    when: DateTime<Utc>,
    p: TurnPlan,
) -> TurnOutcome {
    let mut p = Some(p);
    clock.set(when);
    store
        .apply_turn(
            s.id,
            Inbound::message("answer", None),
            &mut |_: &Session, _: DateTime<Utc>| Ok(p.take().expect("decide runs once")),
        )
        .await
        .unwrap()
}

pub async fn organisations_are_isolated(store: Arc<dyn Store>, _clock: Arc<ManualClock>) {
    let a = world(&store, "acme").await;
    let b = world(&store, "beta").await;
    let s = session(&store, &a).await;
    store
        .apply_turn(s.id, Inbound::message("hi", None), &mut counter)
        .await
        .unwrap();

    assert_eq!(
        store.get_customer(b.org, a.customer.uuid).await.unwrap(),
        None
    );
    assert_eq!(store.get_session(b.org, s.uuid).await.unwrap(), None);
    assert!(
        store
            .messages(b.org, s.id, None, 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .customer_sessions(b.org, a.customer.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.session_detail(b.org, s.uuid).await.unwrap(), None);
    let summary = store.programme_summary(b.org, 49).await.unwrap().unwrap();
    assert_eq!(summary.enrolled, 0, "b's programme 49 is not a's");
    let exported: Vec<_> = store
        .export_transcripts(b.org, ExportFilter::default())
        .collect()
        .await;
    assert!(exported.is_empty());
    // a sees its own.
    assert_eq!(
        store.messages(a.org, s.id, None, 100).await.unwrap().len(),
        3
    );
    assert_eq!(
        store
            .export_transcripts(a.org, ExportFilter::default())
            .count()
            .await,
        3
    );
    let mut wrong = new_session(&a, &a.customer, &[]);
    wrong.customer = a.customer.id;
    assert!(matches!(
        store.create_session(b.org, &wrong).await,
        Err(StoreError::NotFound(_))
    ));
}

pub async fn message_paging(store: Arc<dyn Store>, clock: Arc<ManualClock>) {
    let w = world(&store, "acme").await;
    let s = session(&store, &w).await;
    for i in 0..12 {
        clock.set(at(i));
        store
            .apply_turn(s.id, Inbound::message(format!("m{i}"), None), &mut counter)
            .await
            .unwrap();
    }
    let all = store.messages(w.org, s.id, None, 1000).await.unwrap();
    assert_eq!(all.len(), 25);
    assert!(all.windows(2).all(|p| p[0].id < p[1].id));
    let mut paged = Vec::new();
    let mut after = None;
    let mut sizes = Vec::new();
    loop {
        let page = store.messages(w.org, s.id, after, 10).await.unwrap();
        if page.is_empty() {
            break;
        }
        sizes.push(page.len());
        after = page.last().map(|m| m.id);
        paged.extend(page);
    }
    assert_eq!(sizes, [10, 10, 5]);
    assert_eq!(paged, all);
    let tail = store
        .messages(w.org, s.id, Some(all[22].id), 10)
        .await
        .unwrap();
    assert_eq!(tail, all[23..]);
    assert!(
        store
            .messages(w.org, s.id, Some(all[24].id), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        all.iter()
            .all(|m| m.session_uuid == s.uuid && m.customer == w.customer.id)
    );
}

pub async fn summaries(store: Arc<dyn Store>, clock: Arc<ManualClock>) {
    let w = world(&store, "acme").await;
    store
        .rename_programme(w.org, 49, "Test Prog")
        .await
        .unwrap();
    let s = session(&store, &w).await;

    // Pre-quiz: q1 right, q2 wrong (second attempt). Post-quiz: p1 wrong,
    // p2 right, then the module loops back to p1 (answered right: logged,
    // but the engine's progress counts the first answer of the run) and p3
    // wrong. The stored scores are the plans' progress, not a recount.
    use QuizKind::{Post, Pre};
    let progress = |pre: (i32, i32), post: (i32, i32)| QuizProgress {
        pre_correct: pre.0,
        pre_answered: pre.1,
        post_correct: post.0,
        post_answered: post.1,
    };
    turn(
        &store,
        &clock,
        &s,
        at(10),
        plan(
            "1",
            SessionStatus::InProgress,
            vec![answer(Pre, "q1", true, 1)],
            progress((1, 1), (0, 0)),
            at(10),
        ),
    )
    .await;
    turn(
        &store,
        &clock,
        &s,
        at(20),
        plan(
            "2",
            SessionStatus::InProgress,
            vec![answer(Pre, "q2", false, 2)],
            progress((1, 2), (0, 0)),
            at(20),
        ),
    )
    .await;
    turn(
        &store,
        &clock,
        &s,
        at(30),
        plan(
            "3",
            SessionStatus::InProgress,
            vec![answer(Post, "p1", false, 1), answer(Post, "p2", true, 1)],
            progress((1, 2), (1, 2)),
            at(30),
        ),
    )
    .await;
    turn(
        &store,
        &clock,
        &s,
        at(40),
        plan(
            "4",
            SessionStatus::Completed,
            vec![answer(Post, "p1", true, 1), answer(Post, "p3", false, 1)],
            progress((1, 2), (1, 3)),
            at(40),
        ),
    )
    .await;

    let list = store.customer_sessions(w.org, w.customer.id).await.unwrap();
    assert_eq!(list.len(), 1);
    let summary = &list[0];
    assert_eq!(summary.session.status, SessionStatus::Completed);
    assert_eq!(summary.session.last_activity, Some(at(40)));
    assert_eq!(
        (
            summary.programme_identifier,
            summary.programme_name.as_str()
        ),
        (49, "Test Prog")
    );
    assert_eq!(summary.module_name, w.module.name);
    assert_eq!(
        summary.scores.pre,
        Score {
            correct: 1,
            answered: 2,
            total: 2
        }
    );
    assert_eq!(
        summary.scores.post,
        Score {
            correct: 1,
            answered: 3,
            total: 4
        }
    );

    let detail = store.session_detail(w.org, s.uuid).await.unwrap().unwrap();
    assert_eq!(detail.summary, *summary);
    assert_eq!(detail.answers.len(), 6);
    assert_eq!(detail.answers[1].attempt, 2);
    assert_eq!(
        (detail.answers[1].quiz, detail.answers[1].correct),
        (Pre, false)
    );
    assert_eq!(detail.answers[5].created_at, at(40));
    assert_eq!(detail.message_count, 9);
    assert_eq!(
        (detail.first_message_at, detail.last_message_at),
        (Some(t0()), Some(at(40)))
    );
    assert_eq!(
        store
            .session_detail(w.org, uuid::Uuid::new_v4())
            .await
            .unwrap(),
        None
    );

    // A second learner: pre 2/2, no post; a third who opts out; a fourth pending.
    let c2 = store
        .register_customer(w.org, &new_customer("B"))
        .await
        .unwrap();
    let s2 = store
        .create_session(w.org, &new_session(&w, &c2, &["Hi"]))
        .await
        .unwrap()
        .session;
    turn(
        &store,
        &clock,
        &s2,
        at(50),
        plan(
            "1",
            SessionStatus::InProgress,
            vec![answer(Pre, "q1", true, 1), answer(Pre, "q2", true, 1)],
            progress((2, 2), (0, 0)),
            at(50),
        ),
    )
    .await;
    let c3 = store
        .register_customer(w.org, &new_customer("C"))
        .await
        .unwrap();
    let s3 = store
        .create_session(w.org, &new_session(&w, &c3, &["Hi"]))
        .await
        .unwrap()
        .session;
    turn(
        &store,
        &clock,
        &s3,
        at(60),
        plan(
            "x",
            SessionStatus::OptedOut,
            vec![],
            QuizProgress::default(),
            at(60),
        ),
    )
    .await;
    let c4 = store
        .register_customer(w.org, &new_customer("D"))
        .await
        .unwrap();
    store
        .create_session(w.org, &new_session(&w, &c4, &["Hi"]))
        .await
        .unwrap();

    let p = store.programme_summary(w.org, 49).await.unwrap().unwrap();
    assert_eq!(p.programme.name, "Test Prog");
    assert_eq!(
        (
            p.enrolled,
            p.pending,
            p.in_progress,
            p.completed,
            p.opted_out,
            p.expired
        ),
        (4, 1, 1, 1, 1, 0)
    );
    let close = |a: Option<f64>, b: f64| a.is_some_and(|a| (a - b).abs() < 1e-9);
    assert!(
        close(p.average_pre_score, (0.5 + 1.0) / 2.0),
        "{:?}",
        p.average_pre_score
    );
    assert!(
        close(p.average_post_score, 0.25),
        "{:?}",
        p.average_post_score
    );
    assert_eq!(store.programme_summary(w.org, 50).await.unwrap(), None);

    // The item analysis's counts: each session's first answer per
    // question and quiz (s's second p1 answer is left out), grouped.
    let counts = store
        .programme_answer_counts(w.org, 49)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(counts.versions, [w.module.id]);
    let mut rows: Vec<_> = counts
        .rows
        .iter()
        .map(|r| {
            (
                r.question_id.as_str(),
                r.quiz,
                r.choice,
                r.exhausted,
                r.correct,
                r.attempt,
                r.sessions,
                r.question.as_str(),
            )
        })
        .collect();
    rows.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
    assert_eq!(
        rows,
        [
            ("p1", Post, Some(2), false, false, 1, 1, "Question p1"),
            ("p2", Post, Some(1), false, true, 1, 1, "Question p2"),
            ("p3", Post, Some(2), false, false, 1, 1, "Question p3"),
            ("q1", Pre, Some(1), false, true, 1, 2, "Question q1"),
            ("q2", Pre, Some(1), false, true, 1, 1, "Question q2"),
            ("q2", Pre, Some(2), false, false, 2, 1, "Question q2"),
        ]
    );
    assert_eq!(
        store.programme_answer_counts(w.org, 50).await.unwrap(),
        None
    );
    let empty = store.ensure_programme(w.org, 51, t0()).await.unwrap();
    assert_eq!(
        store.programme_answer_counts(w.org, 51).await.unwrap(),
        Some(AnswerCounts::default())
    );
    let p = store
        .programme_summary(w.org, empty.identifier)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (p.enrolled, p.average_pre_score, p.average_post_score),
        (0, None, None)
    );
}

/// Every field of every exported message is what the store's own reads
/// give, whatever the text holds (quotes, backslashes, line breaks,
/// control characters, non-BMP characters, JSON-looking text; NUL is
/// refused before the store: the API answers 400).
pub async fn export_keeps_every_text(store: Arc<dyn Store>, clock: Arc<ManualClock>) {
    let w = world(&store, "acme").await;
    let s = session(&store, &w).await;
    let texts = [
        "quote \" and backslash \\ and slash /",
        "line\nbreak\r\ntab\tend",
        "controls \u{1}\u{8}\u{c}\u{1b}\u{1f}\u{7f}",
        "emoji \u{1f389}, accents \u{e9}\u{1e61}, separators \u{2028}\u{2029}",
        "{\"json\": [1, null]}",
        "null",
        "",
        "   spaces kept   ",
    ];
    for (t, text) in texts.iter().enumerate() {
        clock.set(at(10 * t as i64));
        store
            .apply_turn(
                s.id,
                Inbound::message(*text, Some(format!("ext \"{t}\"\n"))),
                &mut counter,
            )
            .await
            .unwrap();
    }
    let exported: Vec<ExportRow> = store
        .export_transcripts(w.org, ExportFilter::default())
        .map(Result::unwrap)
        .collect()
        .await;
    let stored = all_messages(&store, w.org, s.id).await;
    let messages: Vec<Message> = exported.iter().map(|r| r.message.clone()).collect();
    assert_eq!(messages, stored);
    let received: Vec<&str> = stored
        .iter()
        .filter(|m| m.direction == Direction::Received)
        .map(|m| m.text.as_str())
        .collect();
    assert_eq!(received, texts);
    assert!(exported.iter().all(|r| r.customer_uuid == w.customer.uuid
        && r.module_uuid == w.module.module_uuid
        && r.programme_identifier == 49));
}

pub async fn export_streams(store: Arc<dyn Store>, clock: Arc<ManualClock>) {
    let w = world(&store, "acme").await;
    let other = store.ensure_programme(w.org, 7, t0()).await.unwrap();
    let mut sessions = Vec::new();
    for i in 0..6 {
        let customer = store
            .register_customer(w.org, &new_customer(&format!("c{i}")))
            .await
            .unwrap();
        let mut new = new_session(&w, &customer, &["Welcome!"]);
        if i % 2 == 1 {
            new.programme = other.id;
        }
        let s = store.create_session(w.org, &new).await.unwrap().session;
        for t in 0..5 {
            clock.set(at(100 * t));
            store
                .apply_turn(
                    s.id,
                    Inbound::message(format!("{i}/{t}"), None),
                    &mut counter,
                )
                .await
                .unwrap();
        }
        sessions.push(s);
    }
    // Everything: 6 sessions x (1 + 5 x 2) messages, by session then id.
    let all: Vec<ExportRow> = store
        .export_transcripts(w.org, ExportFilter::default())
        .map(Result::unwrap)
        .collect()
        .await;
    assert_eq!(all.len(), 66);
    assert!(all.windows(2).all(|p| {
        (p[0].message.session, p[0].message.id) < (p[1].message.session, p[1].message.id)
    }));
    let first = &all[0];
    assert_eq!(
        (first.programme_identifier, first.module_uuid),
        (49, w.module.module_uuid)
    );

    let programme: Vec<ExportRow> = store
        .export_transcripts(
            w.org,
            ExportFilter {
                programme: Some(7),
                ..Default::default()
            },
        )
        .map(Result::unwrap)
        .collect()
        .await;
    assert_eq!(programme.len(), 33);
    assert!(programme.iter().all(|r| r.programme_identifier == 7));

    // [at(100), at(300)): turns 1 and 2 of each session: 6 x 4 messages.
    let window = ExportFilter {
        programme: None,
        from: Some(at(100)),
        until: Some(at(300)),
    };
    let ranged: Vec<ExportRow> = store
        .export_transcripts(w.org, window)
        .map(Result::unwrap)
        .collect()
        .await;
    assert_eq!(ranged.len(), 24);
    assert!(
        ranged
            .iter()
            .all(|r| r.message.created_at >= at(100) && r.message.created_at < at(300))
    );

    // Taking a few rows and dropping the stream neither hangs nor blocks writes.
    let few: Vec<_> = store
        .export_transcripts(w.org, ExportFilter::default())
        .take(3)
        .collect()
        .await;
    assert_eq!(few.len(), 3);
    tokio::time::timeout(
        StdDuration::from_secs(10),
        store.apply_turn(
            sessions[0].id,
            Inbound::message("after", None),
            &mut counter,
        ),
    )
    .await
    .expect("writes go on after an export is dropped")
    .unwrap();
}

pub async fn subscribe_sees_commits(store: Arc<dyn Store>, _clock: Arc<ManualClock>) {
    let mut events = store.subscribe().await.unwrap();
    let w = world(&store, "acme").await;
    let created = store
        .create_session(w.org, &new_session(&w, &w.customer, &["Welcome!"]))
        .await
        .unwrap();
    let s = created.session;
    let rejected = store
        .apply_turn(
            s.id,
            Inbound::wake_up(),
            &mut |_: &Session, _: DateTime<Utc>| Err(TurnRejected::new("no")),
        )
        .await;
    assert!(rejected.is_err());
    let out = store
        .apply_turn(s.id, Inbound::message("hi", None), &mut counter)
        .await
        .unwrap();
    let mut expected = vec![
        MessageEvent::Committed {
            org: w.org,
            session: s.id,
            session_uuid: s.uuid,
            ids: created.messages.iter().map(|m| m.id).collect(),
        },
        MessageEvent::Committed {
            org: w.org,
            session: s.id,
            session_uuid: s.uuid,
            ids: vec![out.received.unwrap().id, out.sent[0].id],
        },
    ]
    .into_iter();
    // Exactly the committed ones, in order; the rejected turn announced nothing.
    for want in expected.by_ref() {
        let got = tokio::time::timeout(StdDuration::from_secs(10), events.next())
            .await
            .expect("event within 10 s")
            .expect("stream open");
        assert_eq!(got, want);
    }
    // A replay announces nothing new.
    let got = tokio::time::timeout(StdDuration::from_millis(300), events.next()).await;
    assert!(got.is_err(), "unexpected event {got:?}");
}

/// Concurrent enrolments and turns of several sessions: two subscriptions
/// each get every committed message once (on PostgreSQL, not again when the
/// store's own NOTIFY comes back).
pub async fn subscribe_announces_each_commit_once(store: Arc<dyn Store>, _clock: Arc<ManualClock>) {
    const SESSIONS: usize = 8;
    const TURNS: usize = 5;
    let mut first = store.subscribe().await.unwrap();
    let mut second = store.subscribe().await.unwrap();
    let w = world(&store, "acme").await;
    let tasks: Vec<_> = (0..SESSIONS)
        .map(|i| {
            let store = store.clone();
            let (org, programme, module) = (w.org, w.programme.id, w.module.id);
            tokio::spawn(async move {
                let customer = store
                    .register_customer(org, &new_customer(&format!("c{i}")))
                    .await
                    .unwrap();
                let created = store
                    .create_session(
                        org,
                        &NewSession {
                            customer: customer.id,
                            programme,
                            module_version: module,
                            status: SessionStatus::Pending,
                            state: "0".to_owned(),
                            state_format: 1,
                            messages: vec!["Welcome!".to_owned(), "Ready?".to_owned()],
                            wake_at: None,
                            at: t0(),
                            position: None,
                        },
                    )
                    .await
                    .unwrap();
                let mut messages = created.messages;
                for turn in 0..TURNS {
                    let out = store
                        .apply_turn(
                            created.session.id,
                            Inbound::message(format!("t{turn}"), None),
                            &mut counter,
                        )
                        .await
                        .unwrap();
                    messages.extend(out.received);
                    messages.extend(out.sent);
                }
                messages
            })
        })
        .collect();
    let mut messages = Vec::new();
    for task in tasks {
        messages.extend(task.await.unwrap());
    }
    assert_eq!(messages.len(), SESSIONS * (2 + 2 * TURNS));
    expect_announced_once(&mut first, &messages).await;
    expect_announced_once(&mut second, &messages).await;
}

pub async fn export_sessions_streams(store: Arc<dyn Store>, _clock: Arc<ManualClock>) {
    let a = world(&store, "acme").await;
    let b = world(&store, "beta").await;
    let empty = store.ensure_programme(a.org, 7, t0()).await.unwrap();
    let elsewhere = store.ensure_programme(a.org, 8, t0()).await.unwrap();
    let mut customers = Vec::new();
    let mut sessions = Vec::new();
    for i in 0..4 {
        let customer = store
            .register_customer(a.org, &new_customer(&format!("Learner {i}")))
            .await
            .unwrap();
        let s = store
            .create_session(a.org, &new_session(&a, &customer, &["Welcome!"]))
            .await
            .unwrap()
            .session;
        customers.push(customer);
        sessions.push(s);
    }
    // Another programme of a, and b's programme 49: neither is exported below.
    let mut other = new_session(&a, &a.customer, &["Welcome!"]);
    other.programme = elsewhere.id;
    store.create_session(a.org, &other).await.unwrap();
    let b_session = session(&store, &b).await;
    // Scores and status of the second session change with a turn.
    let progress = QuizProgress {
        pre_correct: 1,
        pre_answered: 2,
        post_correct: 3,
        post_answered: 4,
    };
    store
        .apply_turn(
            sessions[1].id,
            Inbound::message("2", None),
            &mut |_: &Session, _: DateTime<Utc>| {
                Ok(plan(
                    "done",
                    SessionStatus::Completed,
                    vec![],
                    progress,
                    at(5),
                ))
            },
        )
        .await
        .unwrap();

    let rows: Vec<SessionExportRow> = store
        .export_sessions(a.org, 49)
        .map(Result::unwrap)
        .collect()
        .await;
    let ids: Vec<SessionId> = rows.iter().map(|r| r.summary.session.id).collect();
    assert_eq!(
        ids,
        sessions.iter().map(|s| s.id).collect::<Vec<_>>(),
        "a's sessions of programme 49, by id"
    );
    for (row, customer) in rows.iter().zip(&customers) {
        // The same summary as the customer's list, plus the customer.
        let listed = store.customer_sessions(a.org, customer.id).await.unwrap();
        assert_eq!(listed, vec![row.summary.clone()]);
        assert_eq!(row.customer_full_name, customer.full_name);
        assert_eq!(row.customer_phone, customer.phone);
        assert_eq!(row.summary.programme_identifier, 49);
        assert_eq!(row.summary.module_name, a.module.name);
    }
    let done = &rows[1].summary;
    assert_eq!(done.session.status, SessionStatus::Completed);
    assert_eq!(done.session.last_activity, Some(at(5)));
    assert_eq!(
        done.scores,
        Scores {
            pre: Score {
                correct: 1,
                answered: 2,
                total: 2
            },
            post: Score {
                correct: 3,
                answered: 4,
                total: 4
            },
        }
    );

    // Organisations are isolated: b sees only its own session.
    let b_rows: Vec<SessionExportRow> = store
        .export_sessions(b.org, 49)
        .map(Result::unwrap)
        .collect()
        .await;
    assert_eq!(b_rows.len(), 1);
    assert_eq!(b_rows[0].summary.session.uuid, b_session.uuid);
    assert_eq!(b_rows[0].customer_full_name, b.customer.full_name);

    // An empty programme, and one that does not exist: nothing.
    assert_eq!(
        store.export_sessions(a.org, empty.identifier).count().await,
        0
    );
    assert_eq!(store.export_sessions(a.org, 12345).count().await, 0);
    assert_eq!(store.export_sessions(b.org, 8).count().await, 0);

    // Dropping a stream early neither hangs nor blocks writes.
    let first: Vec<_> = store.export_sessions(a.org, 49).take(1).collect().await;
    assert_eq!(first.len(), 1);
    tokio::time::timeout(
        StdDuration::from_secs(10),
        store.apply_turn(
            sessions[0].id,
            Inbound::message("after", None),
            &mut counter,
        ),
    )
    .await
    .expect("writes go on after an export is dropped")
    .unwrap();
}

/// Exports read in pages of 2,000 rows: a session longer than a page, a
/// page ending inside a session and one ending between sessions, and more
/// sessions than a page; every row once, in order, and the stream ends.
pub async fn exports_read_in_pages(store: Arc<dyn Store>, _clock: Arc<ManualClock>) {
    let w = world(&store, "acme").await;
    let mut sessions = Vec::new();
    for chunk in 0..41 {
        let new: Vec<NewCustomer> = (0..50)
            .map(|i| new_customer(&format!("Learner {chunk}/{i}")))
            .collect();
        let customers =
            futures::future::join_all(new.iter().map(|c| store.register_customer(w.org, c))).await;
        let new: Vec<NewSession> = customers
            .iter()
            .map(|c| new_session(&w, c.as_ref().unwrap(), &["Welcome!"]))
            .collect();
        let created =
            futures::future::join_all(new.iter().map(|new| store.create_session(w.org, new))).await;
        sessions.extend(created.into_iter().map(|c| c.unwrap().session));
    }
    sessions.sort_by_key(|s| s.id);
    assert_eq!(sessions.len(), 2050);
    // Session 0: 1 + 25 x 101 messages (longer than a page); session 1000:
    // 1 + 20 x 101.
    for (index, turns) in [(0, 25), (1000, 20)] {
        for turn in 0..turns {
            store
                .apply_turn(
                    sessions[index].id,
                    Inbound::message(format!("turn {turn}"), None),
                    &mut |s: &Session, _: DateTime<Utc>| {
                        let mut plan = counter(s, t0())?;
                        plan.replies = vec!["r".to_owned(); 100];
                        plan.answers = vec![
                            NewQuizAnswer {
                                quiz: QuizKind::Pre,
                                question_id: "q1".to_owned(),
                                question: "Q?".to_owned(),
                                answer: "1".to_owned(),
                                correct: true,
                                attempt: 1,
                                matched_by: "choice 1".to_owned(),
                                choice: Some(1),
                            };
                            90
                        ];
                        Ok(plan)
                    },
                )
                .await
                .unwrap();
        }
    }
    let rows: Vec<ExportRow> = store
        .export_transcripts(w.org, ExportFilter::default())
        .map(Result::unwrap)
        .collect()
        .await;
    assert_eq!(rows.len(), 2050 + 25 * 101 + 20 * 101);
    assert!(rows.windows(2).all(|p| {
        (p[0].message.session, p[0].message.id) < (p[1].message.session, p[1].message.id)
    }));
    for (index, turns) in [(0, 25), (1000, 20), (1, 0), (2049, 0)] {
        let of_session: Vec<MessageId> = rows
            .iter()
            .filter(|r| r.message.session == sessions[index].id)
            .map(|r| r.message.id)
            .collect();
        let stored: Vec<MessageId> = all_messages(&store, w.org, sessions[index].id)
            .await
            .iter()
            .map(|m| m.id)
            .collect();
        assert_eq!(of_session.len(), 1 + turns * 101);
        assert_eq!(of_session, stored, "session {index}");
    }
    // Answers: 25 x 90 and 20 x 90, paged the same way.
    let answers: Vec<AnswerExportRow> = store
        .export_answers(w.org, ExportFilter::default())
        .map(Result::unwrap)
        .collect()
        .await;
    assert_eq!(answers.len(), 45 * 90);
    assert!(
        answers
            .windows(2)
            .all(|p| (p[0].session, p[0].id) < (p[1].session, p[1].id))
    );
    for (index, turns) in [(0, 25), (1000, 20)] {
        let of_session = answers.iter().filter(|a| a.session == sessions[index].id);
        assert_eq!(of_session.count(), turns * 90, "session {index}");
    }
    let exported: Vec<SessionId> = store
        .export_sessions(w.org, 49)
        .map(|row| row.unwrap().summary.session.id)
        .collect()
        .await;
    let ids: Vec<SessionId> = sessions.iter().map(|s| s.id).collect();
    assert_eq!(exported, ids, "every session once, in order");
}

/// The scores export counts each session's message rows in the outbox by
/// status, through every way a row is queued or moves: an enrolment and
/// turns queue, the dispatcher sends, retries and fails, delivery reports
/// deliver and fail. Event rows are not counted.
pub async fn export_sessions_count_deliveries(store: Arc<dyn Store>, _clock: Arc<ManualClock>) {
    const LEASE: StdDuration = StdDuration::from_secs(60);
    let w = world(&store, "acme").await;
    let ch = channel(&store, w.org).await;
    // Subscribed to `delivery.failed`: a failed message queues an event
    // row for the session, which the counts leave out.
    events_channel(&store, w.org).await;
    let mut new = new_customer("With a phone");
    new.phone_e164 = Some("+254700000009".to_owned());
    let customer = store.register_customer(w.org, &new).await.unwrap();
    let phoned = store
        .create_session(w.org, &new_session(&w, &customer, &["Welcome!"]))
        .await
        .unwrap()
        .session;
    let phoneless = session(&store, &w).await;
    for _ in 0..4 {
        store
            .apply_turn(phoned.id, Inbound::message("hi", None), &mut counter)
            .await
            .unwrap();
    }
    let counts = |queued, sent, delivered, failed| DeliveryCounts {
        queued,
        sent,
        delivered,
        failed,
    };
    let exported = || async {
        let rows: Vec<SessionExportRow> = store
            .export_sessions(w.org, 49)
            .map(Result::unwrap)
            .collect()
            .await;
        rows.iter()
            .map(|r| (r.summary.session.id, r.delivery))
            .collect::<Vec<(SessionId, DeliveryCounts)>>()
    };
    assert_eq!(
        exported().await,
        [
            (phoned.id, counts(5, 0, 0, 0)),
            (phoneless.id, DeliveryCounts::default()),
        ]
    );
    // Queued: Welcome! and replies 1-4, one at a time (one learner). Send
    // the first three, fail the fourth (its event row is queued), retry
    // the fifth.
    let sent = |id: &str| OutboxOutcome::Sent {
        provider_message_id: Some(id.to_owned()),
        segments: None,
    };
    for outcome in [
        sent("SM1"),
        sent("SM2"),
        sent("SM3"),
        OutboxOutcome::Failed {
            error: "no".to_owned(),
        },
        OutboxOutcome::Retry {
            at: at(20),
            error: "later".to_owned(),
        },
    ] {
        let claimed = store.claim_outbox(at(10), LEASE, 10).await.unwrap();
        let message = claimed
            .iter()
            .find(|item| item.channel == ch.id)
            .expect("the learner's next message");
        store
            .finish_outbox(message.id, &outcome, at(10))
            .await
            .unwrap();
    }
    assert_eq!(exported().await[0], (phoned.id, counts(1, 3, 0, 1)));
    // Reports: SM1 delivered, SM2 failed downstream, SM1 again (no move),
    // SM3 only "sent" again (no move).
    let report = |status, seconds| DeliveryReport {
        status,
        error: None,
        at: at(seconds),
    };
    for (id, status) in [
        ("SM1", DeliveryStatus::Delivered),
        ("SM2", DeliveryStatus::Failed),
        ("SM1", DeliveryStatus::Delivered),
        ("SM3", DeliveryStatus::Sent),
    ] {
        store
            .record_delivery_report(ch.id, id, &report(status, 11))
            .await
            .unwrap()
            .expect("the row reported on");
    }
    assert_eq!(
        exported().await,
        [
            (phoned.id, counts(1, 1, 1, 2)),
            (phoneless.id, DeliveryCounts::default()),
        ]
    );
    // The counts are those of the rows.
    let rows = store.session_outbox(phoned.id).await.unwrap();
    let messages: Vec<&OutboxItem> = rows.iter().filter(|r| r.message.is_some()).collect();
    let count = |status| messages.iter().filter(|r| r.status == status).count() as i64;
    assert_eq!(
        counts(
            count(DeliveryStatus::Queued),
            count(DeliveryStatus::Sent),
            count(DeliveryStatus::Delivered),
            count(DeliveryStatus::Failed)
        ),
        counts(1, 1, 1, 2)
    );
    assert_eq!(rows.len(), messages.len() + 1, "one event row: {rows:?}");
}
