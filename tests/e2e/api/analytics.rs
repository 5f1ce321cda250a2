//! Learning analytics (issue 13): the programme summary's paired knowledge
//! gain and quiz progress, checked against a hand computation on a small
//! programme played through the real engine.

use serde_json::{Value, json};

use super::harness::{Backend, TestApp, both_backends};

both_backends!(paired_gain_leaves_out_quizzes_in_progress);

/// "Test Module Updated": "1" starts the pre-quiz; pre_q1 is right with
/// "2", pre_q2 wrong with "3" (pre 1/2); "1" goes on after the lesson;
/// post_q1 right with "2", post_q2 right with "1" (post 2/2).
const WHOLE: [&str; 6] = ["1", "2", "3", "1", "2", "1"];

/// The customer's session summary: (pre, post, status).
async fn scores(app: &TestApp, customer: &str) -> (Value, Value, Value) {
    let (status, body) = app
        .get(&format!(
            "/api/v1/fe/customer/summary?customerUuid={customer}"
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    let s = &body["data"][0];
    (
        s["pre_quiz_score"].clone(),
        s["post_quiz_score"].clone(),
        s["status"].clone(),
    )
}

async fn paired_gain_leaves_out_quizzes_in_progress(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let module = app.module_uuid("Test Module Updated").await;
    // Seven learners of programme 49, each with the replies of its plan.
    let plans: [&[&str]; 7] = [
        &WHOLE,                                     // L1: pre 1/2, post 2/2
        &WHOLE,                                     // L2: the same
        &["1", "1"],                                // L3: pre_q1 wrong, stops: pre in progress
        &[],                                        // L4: enrolled only
        &["1", "2", "3"],                           // L5: pre 1/2 done, no post
        &["1", "2", "3", "1", "2"],                 // L6: pre 1/2, post_q1 right: post in progress
        &["1", "2", "3", "1", "2", "1", "RESTART"], // L7: done, then a new run
    ];
    let mut customers = Vec::new();
    for (i, plan) in plans.iter().enumerate() {
        let customer = app
            .register_customer_with(&app.key, &format!("L{}", i + 1))
            .await["uuid"]
            .as_str()
            .expect("uuid")
            .to_owned();
        let session = app.enrol(&customer, &module, 49).await;
        for reply in plan.iter() {
            app.say(&customer, &session, reply).await;
        }
        customers.push(customer);
    }
    // Not counted: another programme, another organisation.
    let elsewhere = app.register_customer_with(&app.key, "L8").await["uuid"]
        .as_str()
        .expect("uuid")
        .to_owned();
    let other = app.enrol(&elsewhere, &module, 50).await;
    for reply in ["1", "3", "3"] {
        app.say(&elsewhere, &other, reply).await;
    }
    let key_b = app.new_key("org-b").await;
    let stranger = app.register_customer_with(&key_b, "B").await["uuid"]
        .as_str()
        .expect("uuid")
        .to_owned();
    let session_b = app.enrol_with(&key_b, &stranger, &module, 49).await;
    let (status, body) = app
        .post_with(
            "/api/v1/message",
            &json!({"customer_uuid": stranger, "session_uuid": session_b, "message": "1"}),
            &key_b,
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // Each learner's run, as the hand computation below assumes.
    let want = [
        ("1/2", "2/2", "Completed"),
        ("1/2", "2/2", "Completed"),
        ("0/2", "0/2", "InProgress"),
        ("0/2", "0/2", "Pending"),
        ("1/2", "0/2", "InProgress"),
        ("1/2", "1/2", "InProgress"),
        ("0/2", "0/2", "InProgress"),
    ];
    for (i, (customer, want)) in customers.iter().zip(want).enumerate() {
        let (pre, post, status) = scores(&app, customer).await;
        assert_eq!(
            (pre.as_str(), post.as_str(), status.as_str()),
            (Some(want.0), Some(want.1), Some(want.2)),
            "L{}",
            i + 1
        );
    }

    let (status, body) = app
        .get("/api/v1/fe/program/summary?programIdentifier=49")
        .await;
    assert_eq!(status, 200, "{body}");
    let data = &body["data"];
    assert_eq!(data["enrolled"], 7, "{body}");
    // Unpaired, as before: every session with an answer in the quiz, an
    // unanswered question counting as wrong. Pre: L1 .5, L2 .5, L3 0/2,
    // L5 .5, L6 .5 -> 2.0 / 5 = 40.0. Post: L1 1, L2 1, L6 .5 -> 2.5 / 3
    // = 83.3. Gain 83.3 - 40.0 = 43.3: different learners.
    assert_eq!(data["average_pre_score"], 40.0, "{body}");
    assert_eq!(data["average_post_score"], 83.3, "{body}");
    assert_eq!(data["knowledge_gain"], 43.3, "{body}");
    // Quiz progress of the current runs: pre completed by L1, L2, L5, L6;
    // in progress L3; post completed by L1, L2; in progress L6. L7
    // restarted: nothing in its new run.
    assert_eq!(data["pre_quiz_completed"], 4, "{body}");
    assert_eq!(data["pre_quiz_in_progress"], 1, "{body}");
    assert_eq!(data["post_quiz_completed"], 2, "{body}");
    assert_eq!(data["post_quiz_in_progress"], 1, "{body}");
    // Paired: L1 and L2, each 50 -> 100.
    assert_eq!(data["paired_learners"], 2, "{body}");
    assert_eq!(data["paired_average_pre_score"], 50.0, "{body}");
    assert_eq!(data["paired_average_post_score"], 100.0, "{body}");
    assert_eq!(data["paired_knowledge_gain"], 50.0, "{body}");

    // A programme with no paired learner: null figures, zero count.
    let (_, body) = app
        .get("/api/v1/fe/program/summary?programIdentifier=50")
        .await;
    let data = &body["data"];
    assert_eq!(data["paired_learners"], 0, "{body}");
    assert!(data["paired_knowledge_gain"].is_null(), "{body}");
    assert!(data["paired_average_pre_score"].is_null(), "{body}");
    assert_eq!(data["pre_quiz_completed"], 1, "{body}");
    assert_eq!(data["average_pre_score"], 0.0, "{body}");
}
