//! Learning analytics (issue 13): the programme summary's paired knowledge
//! gain and quiz progress, checked against a hand computation on a small
//! programme played through the real engine.

use serde_json::{Value, json};

use super::harness::{Backend, TestApp, both_backends};

both_backends!(
    paired_gain_leaves_out_quizzes_in_progress,
    answers_export_is_the_answer_log,
);

/// "Test Module Updated": "1" starts the pre-quiz; pre_q1 is right with
/// "2", pre_q2 wrong with "3" (pre 1/2); "1" goes on after the lesson;
/// post_q1 right with "2", post_q2 right with "1" (post 2/2).
const WHOLE: [&str; 6] = ["1", "2", "3", "1", "2", "1"];

/// The customer's (only) session in the customer summary: (pre, post,
/// status, current step).
async fn scores(app: &TestApp, customer: &str) -> (Value, Value, Value, Value) {
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
        s["current_step"].clone(),
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

    // Each learner's run, as the hand computation below assumes, and the
    // step each is at (the module's step ids; L3's wrong first answer moved
    // it on to pre_q2; L5 waits after the first lesson).
    let want = [
        ("1/2", "2/2", "Completed", Some("completion")),
        ("1/2", "2/2", "Completed", Some("completion")),
        ("0/2", "0/2", "InProgress", Some("pre_q2")),
        ("0/2", "0/2", "Pending", Some("enrolment")),
        ("1/2", "0/2", "InProgress", Some("lesson_1_check")),
        ("1/2", "1/2", "InProgress", Some("post_q2")),
        ("0/2", "0/2", "InProgress", None),
    ];
    for (i, (customer, want)) in customers.iter().zip(want).enumerate() {
        let (pre, post, status, step) = scores(&app, customer).await;
        assert_eq!(
            (pre.as_str(), post.as_str(), status.as_str()),
            (Some(want.0), Some(want.1), Some(want.2)),
            "L{}",
            i + 1
        );
        if let Some(want) = want.3 {
            assert_eq!(step, want, "L{}", i + 1);
        }
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

/// The body of an export answered 200 with `content_type`.
async fn export_body(app: &TestApp, path: &str, content_type: &str) -> String {
    let response = app
        .client
        .get(app.url(path))
        .bearer_auth(&app.key)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 200, "{path}");
    assert_eq!(response.headers()["content-type"], content_type, "{path}");
    response.text().await.expect("body")
}

/// The answers export: one line per recorded answer (across restarts), by
/// session then id, the same as each session summary's `answers`; the CSV
/// has the same cells; other programmes and organisations are left out.
async fn answers_export_is_the_answer_log(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let module = app.module_uuid("Test Module Updated").await;
    let plans: [&[&str]; 4] = [
        &WHOLE,
        &["1", "1", "3", "RESTART", "1", "2"],
        &[],
        &["1", "hello?", "=1+1", "2"],
    ];
    let mut sessions = Vec::new();
    for (i, plan) in plans.iter().enumerate() {
        let customer = app.register_customer_with(&app.key, &format!("A{i}")).await["uuid"]
            .as_str()
            .expect("uuid")
            .to_owned();
        let session = app.enrol(&customer, &module, 49).await;
        for reply in plan.iter() {
            app.say(&customer, &session, reply).await;
        }
        sessions.push((customer, session));
    }
    let elsewhere = app.enrol(&sessions[2].0, &module, 50).await;
    app.say(&sessions[2].0, &elsewhere, "1").await;
    app.say(&sessions[2].0, &elsewhere, "2").await;

    // What the session summaries list, in enrolment order.
    let mut want = Vec::new();
    for (i, (customer, session)) in sessions.iter().enumerate() {
        let (status, body) = app
            .get(&format!(
                "/api/v1/fe/customer/session/summary?customerUuid={customer}&sessionUuid={session}"
            ))
            .await;
        assert_eq!(status, 200, "{body}");
        let data = &body["data"];
        // The session summary says where the session is.
        match i {
            0 => assert_eq!(data["current_step"], "completion", "{body}"),
            2 => assert_eq!(data["current_step"], "enrolment", "{body}"),
            _ => assert!(data["current_step"].is_string(), "{body}"),
        }
        for a in data["answers"].as_array().expect("answers") {
            want.push(json!({
                "session_uuid": session,
                "customer_uuid": customer,
                "module_uuid": module,
                "module_version_hash": data["module_version_hash"],
                "program_identifier": 49,
                "quiz": a["quiz"],
                "question_id": a["question_id"],
                "question": a["question"],
                "answer": a["answer"],
                "correct": a["correct"],
                "attempt": a["attempt"],
                "date_time": a["date_time"],
            }));
        }
    }
    assert_eq!(
        want.len(),
        4 + 5,
        "WHOLE: 4 answers; the restarted one: 3 then 2"
    );

    let path = "/api/v1/fe/program/export/answers?programIdentifier=49";
    let text = export_body(&app, path, "application/x-ndjson").await;
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    let got: Vec<Value> = lines
        .iter()
        .map(|l| {
            let mut l = l.clone();
            let o = l.as_object_mut().expect("object");
            for extra in ["id", "matched_by", "timestamp"] {
                assert!(o.remove(extra).is_some(), "{extra}");
            }
            l
        })
        .collect();
    assert_eq!(got, want);
    let ids: Vec<i64> = lines
        .iter()
        .map(|l| l["id"].as_i64().expect("id"))
        .collect();
    for pair in lines.windows(2) {
        if pair[0]["session_uuid"] == pair[1]["session_uuid"] {
            assert!(pair[0]["id"].as_i64() < pair[1]["id"].as_i64(), "{ids:?}");
        }
    }
    assert!(
        lines
            .iter()
            .all(|l| !l["matched_by"].as_str().expect("matched_by").is_empty()),
        "{text}"
    );

    assert!(
        lines.iter().any(|l| l["answer"] == "=1+1"),
        "NDJSON is verbatim: {text}"
    );
    // CSV: the same cells, read with the csv crate.
    let csv_text = export_body(
        &app,
        &format!("{path}&format=csv"),
        "text/csv; charset=utf-8",
    )
    .await;
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .expect("header")
        .iter()
        .map(str::to_owned)
        .collect();
    let records: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("record")).collect();
    assert_eq!(records.len(), lines.len());
    for (record, line) in records.iter().zip(&lines) {
        let object = line.as_object().expect("object");
        assert_eq!(header.len(), object.len());
        for (column, cell) in header.iter().zip(record.iter()) {
            // Text that would start a formula gets a quote (CSV safety).
            let want = match &object[column] {
                Value::String(s) if s.starts_with(['=', '+', '-', '@', '\t', '\r']) => {
                    format!("'{s}")
                }
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            assert_eq!(cell, want, "{column}");
        }
    }

    // A range with no answer; bad parameters.
    let empty = export_body(
        &app,
        &format!("{path}&until=2000-01-01"),
        "application/x-ndjson",
    )
    .await;
    assert_eq!(empty, "");
    let (status, body) = app
        .get("/api/v1/fe/program/export/answers?programIdentifier=x&format=xml")
        .await;
    super::harness::assert_error(status, &body, 400, "validation_failed");
    let (status, body) = app
        .get("/api/v1/fe/program/export/answers?programIdentifier=51")
        .await;
    super::harness::assert_error(status, &body, 404, "program_not_found");
}
