//! The reference flow: register, enrol in "Test Module Updated", read the
//! seed's conversation, reply through the whole module, read summaries.

use serde_json::{Value, json};

use super::harness::{Backend, TestApp, assert_error, both_backends, is_display_time};

/// The first message of the seed transcript, exactly.
const SEED_ENROLMENT: &str = "Congratulations! You have successfully been enrolled to the Test Module Updated that aims to help you climb up the financial ladder. To start, please take this pre-quiz to gauge your level of knowledge before the training.\n Reply with 1 to start.";

both_backends!(
    seed_conversation_shape,
    whole_module_transcript_and_scores,
    restart_scores_the_new_run,
    enrolling_again_returns_the_live_session,
    repeated_external_id_changes_nothing,
    conversation_paging,
    registered_customer_can_be_fetched,
    concurrent_messages_never_interleave,
    opting_out_ends_the_session,
    enrolment_language_and_learner_name,
);

async fn seed_conversation_shape(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (customer, session) = app.enrolled().await;
    let (status, body) = app
        .get(&format!(
            "/api/v1/message/all?customerUuid={customer}&sessionUuid={session}"
        ))
        .await;
    assert_eq!(status, 200);
    let top: Vec<&String> = body.as_object().expect("object").keys().collect();
    assert_eq!(top.len(), 3, "{body}");
    assert_eq!(body["status"], 200);
    assert_eq!(body["message"], "Messages successfully fetched");
    let data = body["data"].as_array().expect("array");
    assert_eq!(data.len(), 1, "{body}");
    let item = data[0].as_object().expect("item");
    let mut keys: Vec<&str> = item.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["date_time", "id", "message", "message_type", "session_uuid"]
    );
    assert!(item["id"].is_i64(), "{body}");
    assert_eq!(item["message"], SEED_ENROLMENT);
    assert_eq!(item["session_uuid"], session.as_str());
    assert_eq!(item["message_type"], "SENT");
    assert!(
        is_display_time(item["date_time"].as_str().expect("date_time")),
        "{body}"
    );

    // The learner's reply is RECEIVED, then the course's replies are SENT.
    let turn = app.say(&customer, &session, "1").await;
    assert_eq!(turn["received"]["message"], "1");
    assert_eq!(turn["received"]["message_type"], "RECEIVED");
    assert_eq!(turn["duplicate"], false);
    let transcript = app.transcript(&customer, &session).await;
    assert_eq!(transcript[1]["message"], "1");
    assert_eq!(transcript[1]["message_type"], "RECEIVED");
    assert!(
        transcript[2]["message"]
            .as_str()
            .expect("text")
            .starts_with("What is the first step to climbing the financial ladder?")
    );
    assert_ids_ascending(&transcript);
}

fn assert_ids_ascending(transcript: &[Value]) {
    let ids: Vec<i64> = transcript
        .iter()
        .map(|m| m["id"].as_i64().expect("id"))
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids {ids:?}");
}

async fn whole_module_transcript_and_scores(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (customer, session) = app.enrolled().await;
    // start, pre_q1 right, pre_q2 wrong, next lesson, post_q1 right, post_q2 right
    let mut last = Value::Null;
    for reply in ["1", "2", "3", "1", "2", "1"] {
        last = app.say(&customer, &session, reply).await;
    }
    assert_eq!(last["status"], "Completed", "{last}");
    let replies = last["replies"].as_array().expect("replies");
    assert_eq!(
        replies.last().expect("a reply")["message"],
        "Congratulations, you have completed the Test Module Updated! You scored 1/2 before the training and 2/2 after it.",
        "{last}"
    );

    let transcript = app.transcript(&customer, &session).await;
    assert_ids_ascending(&transcript);
    assert_eq!(transcript[0]["message"], SEED_ENROLMENT);
    let received: Vec<&str> = transcript
        .iter()
        .filter(|m| m["message_type"] == "RECEIVED")
        .map(|m| m["message"].as_str().expect("text"))
        .collect();
    assert_eq!(received, ["1", "2", "3", "1", "2", "1"]);
    assert!(
        transcript
            .iter()
            .all(|m| m["session_uuid"] == session.as_str())
    );
    let texts: Vec<&str> = transcript
        .iter()
        .map(|m| m["message"].as_str().expect("text"))
        .collect();
    for expected in [
        "You scored 1/2 in the pre-quiz. Now let us learn.",
        "Well done! Now take the post-quiz to see how much you have learned.",
    ] {
        assert!(texts.contains(&expected), "{expected:?} not in {texts:#?}");
    }

    // Customer summary.
    let (status, body) = app
        .get(&format!(
            "/api/v1/fe/customer/summary?customerUuid={customer}"
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["message"], "Summary successfully fetched");
    let item = &body["data"][0];
    assert_eq!(item["session_uuid"], session.as_str());
    assert_eq!(item["status"], "Completed");
    assert_eq!(item["module_name"], "Test Module Updated");
    assert_eq!(item["pre_quiz_score"], "1/2");
    assert_eq!(item["post_quiz_score"], "2/2");
    assert_eq!(item["program_identifier"], 49);
    assert!(is_display_time(
        item["last_active_date"].as_str().expect("time")
    ));

    // Session summary: the four quiz answers.
    let (status, body) = app
        .get(&format!(
            "/api/v1/fe/customer/session/summary?customerUuid={customer}&sessionUuid={session}"
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    let data = &body["data"];
    assert_eq!(data["status"], "Completed");
    assert_eq!(data["pre_quiz_score"], "1/2");
    assert_eq!(data["post_quiz_score"], "2/2");
    assert_eq!(data["message_count"], transcript.len());
    let answers = data["answers"].as_array().expect("answers");
    let summary: Vec<(&str, &str, bool)> = answers
        .iter()
        .map(|a| {
            (
                a["quiz"].as_str().expect("quiz"),
                a["question_id"].as_str().expect("question_id"),
                a["correct"].as_bool().expect("correct"),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("pre", "pre_q1", true),
            ("pre", "pre_q2", false),
            ("post", "post_q1", true),
            ("post", "post_q2", true),
        ],
        "{body}"
    );

    // Programme summary.
    let (status, body) = app
        .get("/api/v1/fe/program/summary?programIdentifier=49")
        .await;
    assert_eq!(status, 200, "{body}");
    let data = &body["data"];
    assert_eq!(data["enrolled"], 1);
    assert_eq!(data["completed"], 1);
    assert_eq!(data["active"], 0);
    assert_eq!(data["average_pre_score"], 50.0);
    assert_eq!(data["average_post_score"], 100.0);
    assert_eq!(data["knowledge_gain"], 50.0);

    // A message after the end gets the module's "finished" answer and
    // does not change the scores.
    let after = app.say(&customer, &session, "2").await;
    assert_eq!(after["status"], "Completed", "{after}");
    let (_, body) = app
        .get(&format!(
            "/api/v1/fe/customer/summary?customerUuid={customer}"
        ))
        .await;
    assert_eq!(body["data"][0]["post_quiz_score"], "2/2");
}

/// RESTART begins a new run with both quizzes reset: the summaries show the
/// engine's count for the run (what `{score}` tells the learner), while the
/// session summary still lists every answer ever given.
async fn restart_scores_the_new_run(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (customer, session) = app.enrolled().await;
    app.say(&customer, &session, "1").await;
    let right = app.say(&customer, &session, "2").await;
    assert_eq!(right["replies"][0]["message"], "Correct!", "{right}");
    assert_eq!(pre_quiz_score(&app, &customer).await, "1/2");

    // A new run: nothing answered yet. (Counting each question by its
    // latest answer would still say 1/2.)
    app.say(&customer, &session, "RESTART").await;
    assert_eq!(pre_quiz_score(&app, &customer).await, "0/2");
    let (_, body) = app
        .get("/api/v1/fe/program/summary?programIdentifier=49")
        .await;
    assert!(
        body["data"]["average_pre_score"].is_null(),
        "no pre-quiz answer in the current run: {body}"
    );

    app.say(&customer, &session, "1").await;
    let wrong = app.say(&customer, &session, "1").await;
    assert_eq!(
        wrong["replies"][0]["message"], "Not quite. It starts with knowing where your money goes.",
        "{wrong}"
    );
    assert_eq!(pre_quiz_score(&app, &customer).await, "0/2");
    let done = app.say(&customer, &session, "3").await;
    let texts: Vec<&str> = done["replies"]
        .as_array()
        .expect("replies")
        .iter()
        .map(|m| m["message"].as_str().expect("text"))
        .collect();
    let told = "You scored 0/2 in the pre-quiz. Now let us learn.";
    assert!(texts.contains(&told), "{told:?} not in {texts:#?}");
    assert_eq!(pre_quiz_score(&app, &customer).await, "0/2");

    let (status, body) = app
        .get(&format!(
            "/api/v1/fe/customer/session/summary?customerUuid={customer}&sessionUuid={session}"
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["pre_quiz_score"], "0/2");
    let answers: Vec<(&str, bool)> = body["data"]["answers"]
        .as_array()
        .expect("answers")
        .iter()
        .map(|a| {
            (
                a["question_id"].as_str().expect("question_id"),
                a["correct"].as_bool().expect("correct"),
            )
        })
        .collect();
    assert_eq!(
        answers,
        [("pre_q1", true), ("pre_q1", false), ("pre_q2", false)],
        "{body}"
    );
    let (_, body) = app
        .get("/api/v1/fe/program/summary?programIdentifier=49")
        .await;
    assert_eq!(body["data"]["average_pre_score"], 0.0, "{body}");
}

/// The `pre_quiz_score` of the customer's (only) session in the customer summary.
async fn pre_quiz_score(app: &TestApp, customer: &str) -> Value {
    let (status, body) = app
        .get(&format!(
            "/api/v1/fe/customer/summary?customerUuid={customer}"
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    body["data"][0]["pre_quiz_score"].clone()
}

async fn enrolling_again_returns_the_live_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (customer, session) = app.enrolled().await;
    let module = app.module_uuid("Test Module Updated").await;
    assert_eq!(app.enrol(&customer, &module, 49).await, session);
    // Still one enrolment message.
    assert_eq!(app.transcript(&customer, &session).await.len(), 1);
    // Another programme is another session; so is another module.
    let other_programme = app.enrol(&customer, &module, 50).await;
    assert_ne!(other_programme, session);
    let other_module = app.module_uuid("Budgeting Basics").await;
    let budgeting = app.enrol(&customer, &other_module, 49).await;
    assert_ne!(budgeting, session);
    // The module may also be named by its `module:` id.
    assert_eq!(
        app.enrol(&customer, "test-module-updated", 49).await,
        session
    );

    let (_, body) = app
        .get(&format!(
            "/api/v1/fe/customer/summary?customerUuid={customer}"
        ))
        .await;
    assert_eq!(body["data"].as_array().expect("array").len(), 3, "{body}");
    let (_, body) = app
        .get("/api/v1/fe/program/summary?programIdentifier=49")
        .await;
    assert_eq!(body["data"]["enrolled"], 2, "{body}");
    assert_eq!(body["data"]["pending"], 2, "{body}");
}

async fn repeated_external_id_changes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (customer, session) = app.enrolled().await;
    let body = json!({
        "customer_uuid": customer,
        "session_uuid": session,
        "message": "1",
        "external_id": "sms-0001",
    });
    let (status, first) = app.post("/api/v1/message", &body).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["data"]["duplicate"], false);
    let before = app.transcript(&customer, &session).await;
    for _ in 0..3 {
        let (status, again) = app.post("/api/v1/message", &body).await;
        assert_eq!(status, 200, "{again}");
        assert_eq!(again["data"]["duplicate"], true);
        assert_eq!(again["data"]["received"], first["data"]["received"]);
        assert_eq!(again["data"]["replies"], first["data"]["replies"]);
    }
    assert_eq!(app.transcript(&customer, &session).await, before);
    // The same external id with other text is still the same message.
    let mut other = body.clone();
    other["message"] = json!("2");
    let (_, again) = app.post("/api/v1/message", &other).await;
    assert_eq!(again["data"]["duplicate"], true);
    assert_eq!(app.transcript(&customer, &session).await, before);
}

async fn conversation_paging(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (customer, session) = app.enrolled().await;
    app.say(&customer, &session, "1").await;
    app.say(&customer, &session, "2").await;
    let all = app.transcript(&customer, &session).await;
    assert!(all.len() >= 5, "{all:?}");
    let base = format!("/api/v1/message/all?customerUuid={customer}&sessionUuid={session}");
    let (_, body) = app.get(&format!("{base}&limit=2")).await;
    assert_eq!(body["data"].as_array().expect("array"), &all[..2]);
    let after = all[1]["id"].as_i64().expect("id");
    let (_, body) = app.get(&format!("{base}&afterId={after}&limit=2")).await;
    assert_eq!(body["data"].as_array().expect("array"), &all[2..4]);
    let last = all.last().expect("last")["id"].as_i64().expect("id");
    let (status, body) = app.get(&format!("{base}&afterId={last}")).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"], json!([]));
}

async fn registered_customer_can_be_fetched(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let registered = app.register_customer_with(&app.key, "Jane Wanjiku").await;
    for field in [
        "full_name",
        "national_id",
        "gender",
        "phone",
        "location",
        "uuid",
        "name",
    ] {
        assert!(registered[field].is_string(), "{field}: {registered}");
    }
    assert!(registered["id"].is_i64(), "{registered}");
    assert_eq!(registered["date_of_birth"], "");
    assert_eq!(registered["email"], "");
    assert!(is_display_time(
        registered["date_registered"].as_str().expect("time")
    ));
    let uuid = registered["uuid"].as_str().expect("uuid");
    let (status, body) = app
        .get(&format!("/api/v1/customer/mfi?customerUuid={uuid}"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["message"], "Customer successfully fetched");
    assert_eq!(body["data"], registered);
}

async fn concurrent_messages_never_interleave(backend: Backend) {
    let app = std::sync::Arc::new(TestApp::spawn(backend).await);
    let (customer, session) = app.enrolled().await;
    // 20 learner messages at once (HELP never moves the course on, so
    // every one of them is a full turn with replies).
    let mut tasks = Vec::new();
    for i in 0..20 {
        let (app, customer, session) = (app.clone(), customer.clone(), session.clone());
        tasks.push(tokio::spawn(async move {
            let (status, body) = app
                .post(
                    "/api/v1/message",
                    &json!({
                        "customer_uuid": customer,
                        "session_uuid": session,
                        "message": "HELP",
                        "external_id": format!("c-{i}"),
                    }),
                )
                .await;
            assert_eq!(status, 200, "{body}");
            body["data"].clone()
        }));
    }
    let mut turns = Vec::new();
    for task in tasks {
        turns.push(task.await.expect("join"));
    }
    let transcript = app.transcript(&customer, &session).await;
    assert_ids_ascending(&transcript);
    let received = transcript
        .iter()
        .filter(|m| m["message_type"] == "RECEIVED")
        .count();
    assert_eq!(received, 20);
    // Each turn's messages are one contiguous block of the transcript.
    for turn in &turns {
        let mut block = vec![turn["received"].clone()];
        block.extend(turn["replies"].as_array().expect("replies").iter().cloned());
        assert!(block.len() >= 2, "{turn}");
        let start = transcript
            .iter()
            .position(|m| *m == block[0])
            .expect("received message in the transcript");
        assert_eq!(transcript[start..start + block.len()], block[..], "{turn}");
    }
}

async fn opting_out_ends_the_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (customer, session) = app.enrolled().await;
    let stop = app.say(&customer, &session, "stop").await;
    assert_eq!(stop["status"], "OptedOut", "{stop}");
    assert_eq!(
        stop["replies"].as_array().expect("replies").len(),
        1,
        "{stop}"
    );
    // An opted-out session stays silent, and the message is still logged.
    let after = app.say(&customer, &session, "hello?").await;
    assert_eq!(after["status"], "OptedOut", "{after}");
    assert_eq!(after["replies"], json!([]), "{after}");
    assert_eq!(after["received"]["message"], "hello?");
    let (_, body) = app
        .get("/api/v1/fe/program/summary?programIdentifier=49")
        .await;
    assert_eq!(body["data"]["opted_out"], 1, "{body}");
    assert_eq!(body["data"]["active"], 0, "{body}");
    // The opt-out holds for the contact (the phone) across sessions:
    // enrolling again is refused until the learner sends START.
    let module = app.module_uuid("Test Module Updated").await;
    let (status, body) = app
        .post(
            "/api/v1/fe/program/customer/add",
            &json!({"program_identifier": 49, "customer_uuid": customer, "module": module}),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "customer_opted_out", "{body}");
    let (_, body) = app
        .get(&format!(
            "/api/v1/fe/customer/summary?customerUuid={customer}"
        ))
        .await;
    let statuses: Vec<&str> = body["data"]
        .as_array()
        .expect("array")
        .iter()
        .map(|s| s["status"].as_str().expect("status"))
        .collect();
    assert_eq!(statuses, ["OptedOut"], "{body}");
}

async fn enrolment_language_and_learner_name(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let customer = app.register_customer().await;
    let module = app.module_uuid("Budgeting Basics").await;
    for (language, program, greeting, chosen) in [
        (Some("sw"), 1, "Karibu Jane!", "sw"),
        (Some("fr"), 2, "Welcome Jane!", "en"), // not offered: the base language
        (None, 3, "Welcome Jane!", "en"),
        (Some("sw-KE"), 4, "Karibu Jane!", "sw"), // BCP 47 lookup
        (Some("SW-ke"), 5, "Karibu Jane!", "sw"),
        (Some("fr-CM"), 6, "Welcome Jane!", "en"),
    ] {
        let mut body =
            json!({"program_identifier": program, "customer_uuid": customer, "module": module});
        if let Some(language) = language {
            body["language"] = json!(language);
        }
        let (status, response) = app.post("/api/v1/fe/program/customer/add", &body).await;
        assert_eq!(status, 200, "{response}");
        assert_eq!(response["data"]["language"], chosen, "{language:?}");
        let session = response["data"]["session_uuid"].as_str().expect("uuid");
        let first = &app.transcript(&customer, session).await[0];
        let text = first["message"].as_str().expect("text");
        assert!(text.starts_with(greeting), "{language:?}: {text}");
        // The summaries say it too.
        let (_, summary) = app
            .get(&format!(
                "/api/v1/fe/customer/session/summary?customerUuid={customer}&sessionUuid={session}"
            ))
            .await;
        assert_eq!(summary["data"]["language"], chosen, "{summary}");
    }
    let (_, summary) = app
        .get(&format!(
            "/api/v1/fe/customer/summary?customerUuid={customer}"
        ))
        .await;
    let languages: Vec<&str> = summary["data"]
        .as_array()
        .expect("sessions")
        .iter()
        .map(|s| s["language"].as_str().expect("a language"))
        .collect();
    // Newest first.
    assert_eq!(languages, ["en", "sw", "sw", "en", "en", "sw"], "{summary}");
    for bad in ["english", "sw_KE", "1", "sw-"] {
        let body = json!({"program_identifier": 9, "customer_uuid": customer, "module": module, "language": bad});
        let (status, response) = app.post("/api/v1/fe/program/customer/add", &body).await;
        assert_error(status, &response, 400, "validation_failed");
        let message = response.to_string();
        assert!(message.contains("not a language tag"), "{message}");
    }
}
