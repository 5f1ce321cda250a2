//! Courses paced over days: `modules/savings-week.yaml` sends a lesson at
//! 09:00 in each learner's time zone (the enrolment's `timezone`, else the
//! server's `--timezone`). The wake-up loop goes by the store's clock, so
//! the test moves a manual clock over days instead of waiting.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chatcourse_api::Config;
use chatcourse_storage::ManualClock;
use chrono::{TimeZone, Utc};
use serde_json::json;

use super::harness::{Backend, TestApp, both_backends};

both_backends!(lessons_arrive_at_nine_local_time_day_after_day);

/// The texts of the session's messages, oldest first.
async fn texts(app: &TestApp, customer: &str, session: &str) -> Vec<String> {
    app.transcript(customer, session)
        .await
        .iter()
        .map(|m| m["message"].as_str().expect("text").to_owned())
        .collect()
}

/// Waits (real time, up to 30 s) until a message of the session starts
/// with `prefix`.
async fn arrives(app: &TestApp, customer: &str, session: &str, prefix: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !texts(app, customer, session)
        .await
        .iter()
        .any(|t| t.starts_with(prefix))
    {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {prefix:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn has(app: &TestApp, customer: &str, session: &str, prefix: &str) -> bool {
    texts(app, customer, session)
        .await
        .iter()
        .any(|t| t.starts_with(prefix))
}

async fn lessons_arrive_at_nine_local_time_day_after_day(backend: Backend) {
    // Monday 2026-01-05 08:00 UTC: 11:00 in Nairobi, 03:00 in New York.
    let start = Utc.with_ymd_and_hms(2026, 1, 5, 8, 0, 0).unwrap();
    let clock = Arc::new(ManualClock::new(start));
    let config = Config {
        timezone: "America/New_York".parse().unwrap(),
        wakeup_interval: Duration::from_millis(100),
        ..Config::default()
    };
    let app = TestApp::spawn_with_clock(backend, config, clock.clone()).await;
    let module = app.module_uuid("A Week of Saving").await;
    let enrol = |customer: String, timezone: Option<&str>| {
        let mut body =
            json!({"program_identifier": 5, "customer_uuid": customer, "module": module});
        if let Some(tz) = timezone {
            body["timezone"] = json!(tz);
        }
        body
    };

    // Not a time zone: refused, nothing created.
    let nairobi = app.register_customer().await;
    let (status, body) = app
        .post(
            "/api/v1/fe/program/customer/add",
            &enrol(nairobi.clone(), Some("Africa/Nairobbi")),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "validation_failed", "{body}");
    assert!(body.to_string().contains("Africa/Nairobbi"), "{body}");

    // One learner in Nairobi, one in the server's zone (New York).
    let (status, body) = app
        .post(
            "/api/v1/fe/program/customer/add",
            &enrol(nairobi.clone(), Some("Africa/Nairobi")),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["timezone"], "Africa/Nairobi");
    let a = body["data"]["session_uuid"].as_str().unwrap().to_owned();
    let new_york = app.register_customer().await;
    let (status, body) = app
        .post(
            "/api/v1/fe/program/customer/add",
            &enrol(new_york.clone(), None),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["timezone"], "America/New_York");
    let b = body["data"]["session_uuid"].as_str().unwrap().to_owned();
    // Enrolling again returns the live session with the zone it has.
    let (_, again) = app
        .post(
            "/api/v1/fe/program/customer/add",
            &enrol(nairobi.clone(), Some("Europe/London")),
        )
        .await;
    assert_eq!(again["data"]["session_uuid"], a.as_str());
    assert_eq!(again["data"]["timezone"], "Africa/Nairobi");

    // Day 1 for both, then the pause.
    for (customer, session) in [(&nairobi, &a), (&new_york, &b)] {
        for reply in ["1", "2", "2"] {
            app.say(customer, session, reply).await;
        }
        assert!(
            texts(&app, customer, session)
                .await
                .last()
                .unwrap()
                .starts_with("That is all for today."),
            "{:?}",
            texts(&app, customer, session).await
        );
    }

    // Tuesday 05:55 UTC (08:55 in Nairobi): nothing yet, and a message is
    // told when the lesson comes.
    clock.set(Utc.with_ymd_and_hms(2026, 1, 6, 5, 55, 0).unwrap());
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert!(!has(&app, &nairobi, &a, "Day 2").await);
    let turn = app.say(&nairobi, &a, "hello").await;
    assert_eq!(
        turn["replies"][0]["message"],
        "Your next lesson comes today at 09:00. Reply NEXT to get it now."
    );

    // 09:00 in Nairobi: day 2 there; New York (04:00 there) still waits.
    clock.set(Utc.with_ymd_and_hms(2026, 1, 6, 6, 0, 0).unwrap());
    arrives(&app, &nairobi, &a, "Day 2").await;
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert!(!has(&app, &new_york, &b, "Day 2").await);
    let turn = app.say(&new_york, &b, "hello").await;
    assert_eq!(
        turn["replies"][0]["message"],
        "Your next lesson comes today at 09:00. Reply NEXT to get it now."
    );
    // 09:00 in New York is 14:00 UTC.
    clock.set(Utc.with_ymd_and_hms(2026, 1, 6, 13, 59, 0).unwrap());
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert!(!has(&app, &new_york, &b, "Day 2").await);
    clock.set(Utc.with_ymd_and_hms(2026, 1, 6, 14, 0, 0).unwrap());
    arrives(&app, &new_york, &b, "Day 2").await;

    // The Nairobi learner goes on day after day, each lesson at 09:00.
    app.say(&nairobi, &a, "3").await;
    for (day, lesson) in [(7, "Day 3"), (8, "Day 4")] {
        clock.set(Utc.with_ymd_and_hms(2026, 1, day, 5, 59, 0).unwrap());
        tokio::time::sleep(Duration::from_millis(350)).await;
        assert!(!has(&app, &nairobi, &a, lesson).await, "{lesson} early");
        clock.set(Utc.with_ymd_and_hms(2026, 1, day, 6, 0, 0).unwrap());
        arrives(&app, &nairobi, &a, lesson).await;
    }
    app.say(&nairobi, &a, "50").await;
    clock.set(Utc.with_ymd_and_hms(2026, 1, 9, 6, 0, 0).unwrap());
    arrives(&app, &nairobi, &a, "Day 5").await;
    let turn = app.say(&nairobi, &a, "2").await;
    assert!(
        turn["replies"][1]["message"]
            .as_str()
            .unwrap()
            .starts_with("You finished A Week of Saving!"),
        "{turn}"
    );
    assert_eq!(turn["status"], "Completed", "{turn}");
}
