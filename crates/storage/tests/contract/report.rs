//! The programme report's figures (funnel, breakdowns, timeline, scope),
//! checked against a hand count on a small programme.

use std::sync::Arc;

use chatcourse_storage::*;
use chrono::{Duration, TimeZone};

use super::*;

fn here(step: &str, language: &str) -> Option<Position> {
    Some(Position {
        step: step.to_owned(),
        language: language.to_owned(),
    })
}

/// One turn at `when` that moves the session to `step` with `status`.
async fn move_to(
    store: &Arc<dyn Store>,
    clock: &ManualClock,
    s: &Session,
    when: DateTime<Utc>,
    (step, status): (&str, SessionStatus),
    progress: QuizProgress,
) {
    let language = s.position.as_ref().map(|p| p.language.clone());
    let mut plan = Some(TurnPlan {
        state: "0".to_owned(),
        state_format: 1,
        status,
        replies: vec![format!("now at {step}")],
        answers: vec![],
        progress,
        wake_at: None,
        last_activity: Some(when),
        position: here(step, &language.unwrap_or_default()),
    });
    clock.set(when);
    store
        .apply_turn(s.id, Inbound::message("next", None), &mut |_: &Session,
                                                                _: DateTime<
            Utc,
        >| {
            Ok(plan.take().expect("decide runs once"))
        })
        .await
        .unwrap();
}

struct Learner<'a> {
    name: &'a str,
    location: &'a str,
    gender: &'a str,
    language: &'a str,
    version: ModuleVersionId,
    enrolled: DateTime<Utc>,
}

async fn enrol(store: &Arc<dyn Store>, w: &World, l: &Learner<'_>, phone: &str) -> Session {
    let customer = store
        .register_customer(
            w.org,
            &NewCustomer {
                location: l.location.to_owned(),
                gender: l.gender.to_owned(),
                phone: phone.to_owned(),
                ..new_customer(l.name)
            },
        )
        .await
        .unwrap();
    let created = store
        .create_session(
            w.org,
            &NewSession {
                module_version: l.version,
                at: l.enrolled,
                position: here("intro", l.language),
                ..new_session(w, &customer, &["Welcome!"])
            },
        )
        .await
        .unwrap();
    assert_eq!(created.session.position, here("intro", l.language));
    created.session
}

/// Four learners on two versions of one module: A completes (paired
/// scores), B expires on q1, C waits on q2, D enrols a day later and opts
/// out on the first step.
pub async fn programme_figures(store: Arc<dyn Store>, clock: Arc<ManualClock>) {
    let w = world(&store, "acme").await;
    let v2 = store
        .register_module_version(&new_module("credit-scores", "h2"))
        .await
        .unwrap();
    let day = Duration::days(1);
    let learner = |name, location, gender, language, version, enrolled| Learner {
        name,
        location,
        gender,
        language,
        version,
        enrolled,
    };
    let a = enrol(
        &store,
        &w,
        &learner("A", "Nairobi", "Female", "en", w.module.id, at(0)),
        "254700000001",
    )
    .await;
    let b = enrol(
        &store,
        &w,
        &learner("B", "Mombasa", "Male", "sw", w.module.id, at(10)),
        "254700000002",
    )
    .await;
    let c = enrol(
        &store,
        &w,
        &learner("C", "Nairobi", "Male", "en", v2.id, at(20)),
        "254700000003",
    )
    .await;
    let d = enrol(
        &store,
        &w,
        &learner("D", "Kisumu", "Female", "en", v2.id, at(0) + day),
        "254700000004",
    )
    .await;
    use SessionStatus::*;
    let none = QuizProgress::default();
    let paired = QuizProgress {
        pre_correct: 1,
        pre_answered: 2,
        post_correct: 4,
        post_answered: 4,
    };
    move_to(&store, &clock, &a, at(60), ("q1", InProgress), none).await;
    move_to(&store, &clock, &a, at(180), ("q2", InProgress), none).await;
    move_to(&store, &clock, &a, at(300), ("end", Completed), paired).await;
    move_to(&store, &clock, &b, at(100), ("q1", InProgress), none).await;
    move_to(&store, &clock, &b, at(1000), ("q1", Expired), none).await;
    move_to(&store, &clock, &c, at(80), ("q1", InProgress), none).await;
    move_to(&store, &clock, &c, at(200), ("q2", InProgress), none).await;
    move_to(&store, &clock, &d, at(30) + day, ("intro", OptedOut), none).await;

    let all = store
        .programme_figures(w.org, w.programme.identifier, &ReportScope::default())
        .await
        .unwrap()
        .expect("the programme exists");
    let s = &all.summary;
    assert_eq!(
        (
            s.enrolled,
            s.in_progress,
            s.completed,
            s.opted_out,
            s.expired
        ),
        (4, 1, 1, 1, 1)
    );
    assert_eq!(s.paired, 1);

    // The funnel, by step id: reached, live and expired sessions resting
    // there, median seconds from the step before.
    let funnel: Vec<_> = all
        .funnel
        .iter()
        .map(|f| {
            (
                f.step.as_str(),
                f.reached,
                f.waiting_live,
                f.waiting_expired,
                f.median_seconds_from_previous,
            )
        })
        .collect();
    assert_eq!(
        funnel,
        [
            ("end", 1, 0, 0, Some(120.0)),
            ("intro", 4, 0, 0, None),
            // Gaps 60 (A), 90 (B), 60 (C).
            ("q1", 3, 0, 1, Some(60.0)),
            // Gaps 120 (A), 120 (C).
            ("q2", 2, 1, 0, Some(120.0)),
        ]
    );

    let groups = |by: Breakdown| -> Vec<(String, i64, i64, i64)> {
        all.breakdowns
            .iter()
            .filter(|g| g.by == by)
            .map(|g| {
                (
                    g.key.clone(),
                    g.summary.enrolled,
                    g.summary.completed,
                    g.summary.paired,
                )
            })
            .collect()
    };
    let row = |k: &str, n, done, paired| (k.to_owned(), n, done, paired);
    assert_eq!(
        groups(Breakdown::Language),
        [row("en", 3, 1, 1), row("sw", 1, 0, 0)]
    );
    assert_eq!(
        groups(Breakdown::Location),
        [
            row("Kisumu", 1, 0, 0),
            row("Mombasa", 1, 0, 0),
            row("Nairobi", 2, 1, 1)
        ]
    );
    assert_eq!(
        groups(Breakdown::Gender),
        [row("Female", 2, 1, 1), row("Male", 2, 0, 0)]
    );
    assert_eq!(
        groups(Breakdown::ModuleVersion),
        [row("h1", 2, 1, 1), row("h2", 2, 0, 0)]
    );
    let en = all
        .breakdowns
        .iter()
        .find(|g| g.by == Breakdown::Language && g.key == "en")
        .unwrap();
    assert_eq!(en.summary.paired_pre_score, Some(0.5));
    assert_eq!(en.summary.paired_post_score, Some(1.0));

    // t0 is 16:52 UTC: its quarter starts at 16:45. B expired at 17:08:40.
    let quarter = |h, m, plus_days| {
        Utc.with_ymd_and_hms(2026, 4, 15, h, m, 0).unwrap() + Duration::days(plus_days)
    };
    let timeline: Vec<_> = all
        .timeline
        .iter()
        .map(|b| (b.start, b.enrolled, b.completed, b.opted_out, b.expired))
        .collect();
    assert_eq!(
        timeline,
        [
            (quarter(16, 45, 0), 3, 1, 0, 0),
            (quarter(17, 0, 0), 0, 0, 0, 1),
            (quarter(16, 45, 1), 1, 0, 1, 0),
        ]
    );
    assert_eq!(
        all.versions
            .iter()
            .map(|v| v.hash.as_str())
            .collect::<Vec<_>>(),
        ["h1", "h2"]
    );
    assert_eq!(all.languages, ["en", "sw"]);

    // A scope: English sessions enrolled on the first day.
    let first_day_en = ReportScope {
        language: Some("en".to_owned()),
        until: Some(at(3600)),
        ..ReportScope::default()
    };
    let scoped = store
        .programme_figures(w.org, w.programme.identifier, &first_day_en)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(scoped.summary.enrolled, 2, "A and C");
    assert_eq!(
        scoped
            .funnel
            .iter()
            .map(|f| (f.step.as_str(), f.reached))
            .collect::<Vec<_>>(),
        [("end", 1), ("intro", 2), ("q1", 2), ("q2", 2)]
    );
    // Filters list every version and language whatever the scope.
    assert_eq!(scoped.languages, ["en", "sw"]);
    let v2_only = ReportScope {
        version: Some("h2".to_owned()),
        from: Some(at(0)),
        ..ReportScope::default()
    };
    let scoped = store
        .programme_figures(w.org, w.programme.identifier, &v2_only)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(scoped.summary.enrolled, 2, "C and D");
    assert_eq!(scoped.summary.opted_out, 1);
    let other_module = ReportScope {
        module: Some("budgeting".to_owned()),
        ..ReportScope::default()
    };
    let scoped = store
        .programme_figures(w.org, w.programme.identifier, &other_module)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(scoped.summary.enrolled, 0);
    assert!(scoped.funnel.is_empty() && scoped.timeline.is_empty());

    // The summary endpoint's figures are the unscoped ones.
    let summary = store
        .programme_summary(w.org, w.programme.identifier)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&summary, s);
    // Another organisation sees no such programme.
    let other = world(&store, "other").await;
    assert!(
        store
            .programme_figures(other.org, 4242, &ReportScope::default())
            .await
            .unwrap()
            .is_none()
    );
}
