//! Learning analytics (issue 13): the programme summary's paired knowledge
//! gain and quiz progress, checked against a hand computation on a small
//! programme played through the real engine.

use serde_json::{Value, json};

use super::harness::{Backend, TestApp, both_backends};

both_backends!(
    paired_gain_leaves_out_quizzes_in_progress,
    answers_export_is_the_answer_log,
    item_analysis_matches_a_hand_count,
    cli_reads_what_the_http_api_serves,
    floip_package_has_the_required_fields,
    funnel_breakdowns_and_filters,
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

/// A learner of `module` in programme `program` who sends `replies`.
async fn play(app: &TestApp, name: &str, module: &str, program: i64, replies: &[&str]) {
    let customer = app.register_customer_with(&app.key, name).await["uuid"]
        .as_str()
        .expect("uuid")
        .to_owned();
    let session = app.enrol(&customer, module, program).await;
    for reply in replies {
        app.say(&customer, &session, reply).await;
    }
}

/// Uploads `source` as an organisation module: its uuid and warnings.
async fn upload(app: &TestApp, source: &str) -> (String, Value) {
    let (status, body) = app
        .post("/api/v1/fe/modules", &json!({ "source": source }))
        .await;
    assert_eq!(status, 200, "{body}");
    let uuid = body["data"]["module_uuid"]
        .as_str()
        .expect("uuid")
        .to_owned();
    (uuid, body["data"]["warnings"].clone())
}

/// The programme report's item analysis: each session's first answer to
/// each question, over two module versions of which the second changed
/// pre_q2's right answer (1 -> 2), checked against a hand count.
async fn item_analysis_matches_a_hand_count(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let v1 =
        std::fs::read_to_string(super::harness::modules_dir().join("test-module-updated.yaml"))
            .expect("module")
            .replace("module: test-module-updated", "module: report-course")
            .replace("name: Test Module Updated", "name: Report Course");
    let (module, warnings) = upload(&app, &v1).await;
    assert_eq!(warnings, json!([]));
    // Version 1: pre_q1 right with 2, pre_q2 with 1.
    play(&app, "R1", &module, 60, &WHOLE).await; // pre_q1 2 ok, pre_q2 3 wrong, post 2 ok, 1 ok
    play(&app, "R2", &module, 60, &["1", "hello?", "1", "1"]).await; // pre_q1: 1 wrong at attempt 2; pre_q2 1 ok
    play(&app, "R3", &module, 60, &["1", "zzz", "qqq", "hmm"]).await; // pre_q1 exhausted (3 replies)
    // Version 2: pre_q2 right with 2 (only the first `correct: 1` is pre_q2's).
    let v2 = v1.replacen("    correct: 1\n", "    correct: 2\n", 1);
    let (again, warnings) = upload(&app, &v2).await;
    assert_eq!(again, module, "the same module, a new version");
    assert!(
        warnings.to_string().contains("correct-changed"),
        "{warnings}"
    );
    // R4: pre_q1 2 ok, pre_q2 2 ok (v2); then a new run answering pre_q1
    // wrong, which is not its first answer.
    play(
        &app,
        "R4",
        &module,
        60,
        &["1", "2", "2", "RESTART", "1", "1"],
    )
    .await;
    play(&app, "R5", &module, 60, &["1", "3", "1"]).await; // pre_q1 3 wrong, pre_q2 1 wrong (v2)
    // Not counted: another programme.
    play(&app, "R6", &module, 61, &["1", "1", "1"]).await;

    let (status, body) = app
        .get("/api/v1/fe/program/report?programIdentifier=60")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], 200, "{body}");
    let data = &body["data"];
    // The summary section is the programme summary.
    let (_, summary) = app
        .get("/api/v1/fe/program/summary?programIdentifier=60")
        .await;
    assert_eq!(data["summary"], summary["data"], "{body}");
    assert_eq!(data["summary"]["enrolled"], 5, "{body}");
    assert_eq!(data["summary"]["paired_learners"], 1, "{body}");

    let questions = data["questions"].as_array().expect("questions");
    let ids: Vec<(&str, &str)> = questions
        .iter()
        .map(|q| {
            (
                q["question_id"].as_str().unwrap(),
                q["quiz"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        ids,
        [
            ("post_q1", "post"),
            ("post_q2", "post"),
            ("pre_q1", "pre"),
            ("pre_q2", "pre")
        ]
    );
    let choice = |c: i64, n: i64, ok: bool| json!({"choice": c, "learners": n, "correct": ok});
    // pre_q1: R1 2 ok (1 reply), R2 1 wrong (2 replies), R3 exhausted (3
    // replies), R4 2 ok (1), R5 3 wrong (1): 2 of 5 right; attempts 1 1 1
    // 2 3 -> median 1; replies 8, of which 0+1+3+0+0 = 4 matched nothing.
    assert_eq!(
        questions[2],
        json!({
            "question_id": "pre_q1",
            "quiz": "pre",
            "question": "What is the first step to climbing the financial ladder?",
            "learners": 5,
            "correct_share": 40.0,
            "correct_first_attempt_share": 40.0,
            "choices": [choice(1, 1, false), choice(2, 2, true), choice(3, 1, false)],
            "free_text": 0,
            "no_match": 1,
            "median_attempts": 1.0,
            "unmatched_reply_share": 50.0,
            "correct_changed": false,
        }),
        "{body}"
    );
    // pre_q2: R1 3 wrong, R2 1 ok (v1), R4 2 ok, R5 1 wrong (v2); R3 never
    // answered it. Choice 1 was right in v1 and wrong in v2: two items.
    let q = &questions[3];
    assert_eq!(q["learners"], 4, "{body}");
    assert_eq!(q["correct_share"], 50.0, "{body}");
    assert_eq!(
        q["choices"],
        json!([
            choice(1, 1, false),
            choice(1, 1, true),
            choice(2, 1, true),
            choice(3, 1, false)
        ]),
        "{body}"
    );
    assert_eq!(q["correct_changed"], true, "{body}");
    assert_eq!(q["median_attempts"], 1.0, "{body}");
    assert_eq!(q["unmatched_reply_share"], 0.0, "{body}");
    // The post-quiz: R1 alone, both right.
    for q in &questions[..2] {
        assert_eq!(q["learners"], 1, "{body}");
        assert_eq!(q["correct_share"], 100.0, "{body}");
        assert_eq!(q["correct_changed"], false, "{body}");
    }
    assert_eq!(questions[0]["choices"], json!([choice(2, 1, true)]));

    // Programme 61 is counted apart: R6's one wrong pre_q1 answer.
    let (_, body) = app
        .get("/api/v1/fe/program/report?programIdentifier=61")
        .await;
    let questions = body["data"]["questions"].as_array().expect("questions");
    assert_eq!(questions[0]["learners"], 1, "{body}");
    assert_eq!(questions[0]["correct_share"], 0.0, "{body}");

    // Errors in the family's envelope.
    let (status, body) = app
        .get("/api/v1/fe/program/report?programIdentifier=62")
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("program_not_found")),
        "{body}"
    );
    let (status, body) = app.get("/api/v1/fe/program/report").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("validation_failed")),
        "{body}"
    );
}

/// `chatcourse` with `args`, its environment cleared of the settings the
/// tests may have: (exit code, stdout, stderr). Its stderr is a pipe, not
/// a terminal.
async fn chatcourse(args: &[&str]) -> (i32, String, String) {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_chatcourse"));
    for var in ["CHATCOURSE_DATABASE", "CHATCOURSE_TIMEZONE"] {
        command.env_remove(var);
    }
    let out = command.args(args).output().await.expect("run chatcourse");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `chatcourse export` writes, byte for byte, what the HTTP exports serve
/// (same rows, same CSV neutralisation), with progress lines on stderr;
/// `chatcourse report --format json` prints the report endpoint's data;
/// an unknown organisation or programme is exit 1 with a clear message.
async fn cli_reads_what_the_http_api_serves(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let module = app.module_uuid("Test Module Updated").await;
    play(&app, "=cmd|' /C calc'!A0", &module, 49, &WHOLE).await;
    play(&app, "Jane", &module, 49, &["1", "=1+1", "-2", "2"]).await;
    play(&app, "Other", &module, 50, &["1", "1"]).await;
    let dir = std::env::temp_dir().join(format!(
        "chatcourse-cli-export-{}",
        super::harness::unique()
    ));
    std::fs::create_dir_all(&dir).expect("dir");
    let db = app.database_url.clone();
    let base = [
        "--database",
        db.as_str(),
        "--org",
        "org-a",
        "--program",
        "49",
    ];

    for (kind, format, content_type) in [
        ("messages", "csv", "text/csv; charset=utf-8"),
        ("answers", "csv", "text/csv; charset=utf-8"),
        ("scores", "csv", "text/csv; charset=utf-8"),
        ("messages", "ndjson", "application/x-ndjson"),
    ] {
        let file = dir.join(format!("{kind}.{format}"));
        let file_name = file.to_str().expect("path");
        let mut args = vec!["export", kind];
        args.extend(base);
        args.extend(["--format", format, "-o", file_name]);
        let (code, stdout, stderr) = chatcourse(&args).await;
        assert_eq!(code, 0, "{kind}: {stderr}");
        assert!(stdout.is_empty(), "{stdout}");
        let written = std::fs::read_to_string(&file).expect("export file");
        let served = export_body(
            &app,
            &format!("/api/v1/fe/program/export/{kind}?programIdentifier=49&format={format}"),
            content_type,
        )
        .await;
        assert_eq!(written, served, "{kind} {format}");
        // Not on a terminal: plain progress lines, the last with the count.
        let rows = if format == "csv" {
            csv::Reader::from_reader(written.as_bytes())
                .records()
                .count()
        } else {
            written.lines().count()
        };
        assert!(rows > 0, "{kind}");
        assert!(stderr.contains(&format!("{kind}: exporting")), "{stderr}");
        assert!(
            stderr.contains(&format!("{kind}: {rows} rows written to {file_name}")),
            "{stderr}"
        );
        assert!(!stderr.contains('\u{1b}'), "no terminal codes: {stderr:?}");
    }
    // The hostile cells, read back with the csv crate.
    let scores = std::fs::read_to_string(dir.join("scores.csv")).expect("scores");
    let mut reader = csv::Reader::from_reader(scores.as_bytes());
    let names: Vec<String> = reader
        .records()
        .map(|r| r.expect("record")[2].to_owned())
        .collect();
    assert_eq!(names, ["'=cmd|' /C calc'!A0", "Jane"]);
    let messages = std::fs::read_to_string(dir.join("messages.csv")).expect("messages");
    let texts: Vec<String> = csv::Reader::from_reader(messages.as_bytes())
        .records()
        .map(|r| r.expect("record")[1].to_owned())
        .collect();
    assert!(texts.contains(&"'=1+1".to_owned()), "{texts:?}");
    assert!(texts.contains(&"'-2".to_owned()), "{texts:?}");

    // A time range: nothing before the first message.
    let file = dir.join("none.csv");
    let mut args = vec!["export", "messages"];
    args.extend(base);
    args.extend(["--until", "2000-01-01", "-o", file.to_str().unwrap()]);
    let (code, _, stderr) = chatcourse(&args).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        csv::Reader::from_path(&file)
            .expect("csv")
            .records()
            .count(),
        0
    );

    // The report: the endpoint's data, and a text for people.
    let mut args = vec!["report"];
    args.extend(base);
    args.extend(["--format", "json"]);
    let (code, stdout, stderr) = chatcourse(&args).await;
    assert_eq!(code, 0, "{stderr}");
    let printed: Value = serde_json::from_str(&stdout).expect("json");
    let (_, served) = app
        .get("/api/v1/fe/program/report?programIdentifier=49")
        .await;
    assert_eq!(printed, served["data"]);
    assert_eq!(printed["questions"][2]["question_id"], "pre_q1");
    let mut args = vec!["report"];
    args.extend(base);
    let (code, stdout, _) = chatcourse(&args).await;
    assert_eq!(code, 0);
    assert!(
        stdout.contains("Paired gain: 50.0 points over 1 learners"),
        "{stdout}"
    );
    assert!(stdout.contains("pre_q1 (pre-quiz)"), "{stdout}");

    // Unknown organisation or programme: exit 1, a message naming it.
    for (org, program, message) in [
        ("org-zz", "49", "no organisation named \"org-zz\""),
        ("org-a", "77", "organisation \"org-a\" has no programme 77"),
    ] {
        for command in [vec!["export", "scores"], vec!["report"]] {
            let mut args = command;
            args.extend([
                "--database",
                db.as_str(),
                "--org",
                org,
                "--program",
                program,
            ]);
            let (code, stdout, stderr) = chatcourse(&args).await;
            assert_eq!(code, 1, "{args:?}");
            assert!(stdout.is_empty(), "{stdout}");
            assert!(stderr.contains(message), "{stderr}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `chatcourse export floip`: a Flow Results package per module with the
/// specification's required descriptor fields, its six-column rows (one
/// per answer that picked a choice) and each row's question described in
/// the schema.
async fn floip_package_has_the_required_fields(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let module = app.module_uuid("Test Module Updated").await;
    play(&app, "F1", &module, 49, &WHOLE).await; // 4 answers
    play(&app, "F2", &module, 49, &["1", "zzz", "qqq", "hmm", "1"]).await; // exhausted, then pre_q2
    let dir = std::env::temp_dir().join(format!("chatcourse-floip-{}", super::harness::unique()));
    let db = app.database_url.clone();
    let args = [
        "export",
        "floip",
        "--database",
        &db,
        "--org",
        "org-a",
        "--program",
        "49",
        "-o",
        dir.to_str().unwrap(),
    ];
    let (code, _, stderr) = chatcourse(&args).await;
    assert_eq!(code, 0, "{stderr}");
    let package = dir.join("test-module-updated-program-49");
    assert!(
        stderr.contains(&format!(
            "floip: 5 responses written to {} (1 replies that picked no choice left out)",
            package.display()
        )),
        "{stderr}"
    );
    let descriptor: Value = serde_json::from_str(
        &std::fs::read_to_string(package.join("datapackage.json")).expect("descriptor"),
    )
    .expect("json");
    // Required by the specification: profile, version, created, modified
    // (RFC 3339), id (a version 4 UUID); exactly one resource, with a path
    // and an inline schema of the six fields and the questions.
    assert_eq!(descriptor["profile"], "flow-results-package");
    assert_eq!(
        descriptor["flow_results_specification_version"],
        "1.0.0-rc1"
    );
    for field in ["created", "modified"] {
        let at = descriptor[field].as_str().expect(field);
        assert!(chrono::DateTime::parse_from_rfc3339(at).is_ok(), "{at}");
    }
    let id = uuid::Uuid::parse_str(descriptor["id"].as_str().expect("id")).expect("uuid");
    assert_eq!(id.get_version_num(), 4);
    let name = descriptor["name"].as_str().expect("name");
    assert!(
        name.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c)),
        "{name}"
    );
    let resources = descriptor["resources"].as_array().expect("resources");
    assert_eq!(resources.len(), 1);
    let resource = &resources[0];
    assert_eq!(resource["path"], "responses.json");
    let fields: Vec<&str> = resource["schema"]["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "timestamp",
            "row_id",
            "contact_id",
            "question_id",
            "response",
            "response_metadata"
        ]
    );
    let questions = &resource["schema"]["questions"];
    assert_eq!(
        questions["pre_q1"],
        json!({
            "type": "select_one",
            "label": "What is the first step to climbing the financial ladder?",
            "type_options": {"choices": ["Taking a big loan", "Knowing how much you earn and spend", "Buying on credit"]},
        })
    );
    assert_eq!(questions.as_object().unwrap().len(), 4, "{questions}");

    let rows: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(package.join("responses.json")).expect("rows"),
    )
    .expect("a JSON array");
    assert_eq!(rows.len(), 5);
    let mut ids = std::collections::BTreeSet::new();
    for row in &rows {
        let row = row.as_array().expect("a row array");
        assert_eq!(row.len(), 6, "{row:?}");
        let at = row[0].as_str().expect("timestamp");
        assert!(at.ends_with("+00:00"), "an offset, not Z: {at}");
        assert!(chrono::DateTime::parse_from_rfc3339(at).is_ok(), "{at}");
        assert!(ids.insert(row[1].to_string()), "row ids are unique");
        assert!(uuid::Uuid::parse_str(row[2].as_str().unwrap()).is_ok());
        let question = &questions[row[3].as_str().unwrap()];
        let choices = question["type_options"]["choices"]
            .as_array()
            .expect("choices");
        assert!(choices.contains(&row[4]), "{row:?}");
        assert!(row[5].is_object());
    }
    // F1's pre_q1: "2" picked the second choice, right.
    assert_eq!(rows[0][3], "pre_q1");
    assert_eq!(rows[0][4], "Knowing how much you earn and spend");
    assert_eq!(rows[0][5]["correct"], true);
    assert_eq!(rows[0][5]["answer"], "2");
    // F2's pre_q2 ("1": an emergency fund, right) is its only row.
    assert_eq!(rows[4][3], "pre_q2");
    assert_eq!(rows[4][4], "An emergency fund");
    assert_ne!(rows[4][2], rows[0][2]);

    // No folder: a clear error.
    let (code, _, stderr) = chatcourse(&args[..8]).await;
    assert_eq!(code, 1);
    assert!(stderr.contains("-o DIR"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The report's funnel (module order, shares, who waits where), its
/// breakdowns, figures over time and filters, over HTTP and in the CLI,
/// checked against a hand count; the dashboard draws the same.
async fn funnel_breakdowns_and_filters(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let module = app.module_uuid("Test Module Updated").await;
    play(&app, "F1", &module, 70, &WHOLE).await; // completes
    play(&app, "F2", &module, 70, &["1", "2"]).await; // waits on pre_q2
    play(&app, "F3", &module, 70, &[]).await; // waits on the enrolment question
    play(&app, "F4", &module, 70, &["1", "STOP"]).await; // opts out on pre_q1
    play(&app, "F5", &module, 71, &["1"]).await; // another programme

    let (status, body) = app
        .get("/api/v1/fe/program/report?programIdentifier=70")
        .await;
    assert_eq!(status, 200, "{body}");
    let data = &body["data"];
    // Steps a learner waits on, in the module's order: (step, reached,
    // share of the 4 enrolled, live there now, expired there).
    let funnel: Vec<(String, i64, f64, i64, i64)> = data["funnel"]
        .as_array()
        .expect("funnel")
        .iter()
        .map(|f| {
            (
                f["step"].as_str().unwrap().to_owned(),
                f["reached"].as_i64().unwrap(),
                f["reached_share"].as_f64().unwrap(),
                f["waiting_live"].as_i64().unwrap(),
                f["waiting_expired"].as_i64().unwrap(),
            )
        })
        .collect();
    let step = |s: &str, n, share, live| (s.to_owned(), n, share, live, 0);
    assert_eq!(
        funnel,
        [
            step("enrolment", 4, 100.0, 1),
            step("pre_q1", 3, 75.0, 0),
            step("pre_q2", 2, 50.0, 1),
            step("lesson_1_check", 1, 25.0, 0),
            step("post_q1", 1, 25.0, 0),
            step("post_q2", 1, 25.0, 0),
            step("completion", 1, 25.0, 0),
        ],
        "{body}"
    );
    assert_eq!(
        data["funnel"][0]["median_seconds_from_previous"],
        Value::Null
    );
    assert!(
        data["funnel"][1]["median_seconds_from_previous"]
            .as_f64()
            .unwrap()
            >= 0.0
    );

    // Breakdowns: everyone is in English, on one version.
    let groups = data["breakdowns"].as_array().expect("breakdowns");
    let language: Vec<&Value> = groups.iter().filter(|g| g["by"] == "language").collect();
    assert_eq!(language.len(), 1, "{body}");
    assert_eq!(language[0]["key"], "en");
    assert_eq!(language[0]["enrolled"], 4);
    assert_eq!(language[0]["completed"], 1);
    assert_eq!(language[0]["completion_rate"], 25.0);
    assert_eq!(language[0]["paired_learners"], 1);
    let versions = data["filters"]["versions"].as_array().expect("versions");
    assert_eq!(versions.len(), 1, "{body}");
    assert_eq!(versions[0]["label"], "v1");
    let hash = versions[0]["hash"].as_str().unwrap().to_owned();
    assert_eq!(data["filters"]["modules"], json!(["test-module-updated"]));
    assert_eq!(data["filters"]["languages"], json!(["en"]));
    for by in ["location", "gender", "module_version"] {
        let total: i64 = groups
            .iter()
            .filter(|g| g["by"] == by)
            .map(|g| g["enrolled"].as_i64().unwrap())
            .sum();
        assert_eq!(total, 4, "{by}: {body}");
    }

    // Over time: one day, as it ended.
    let days = data["over_time"].as_array().expect("over_time");
    assert_eq!(days.len(), 1, "{body}");
    let day = &days[0];
    assert_eq!(
        (
            &day["new_enrolled"],
            &day["enrolled"],
            &day["active"],
            &day["completed"],
            &day["opted_out"],
            &day["expired"]
        ),
        (
            &json!(4),
            &json!(4),
            &json!(2),
            &json!(1),
            &json!(1),
            &json!(0)
        ),
        "{body}"
    );

    // Filters: each narrows every figure; unknown values select nothing.
    let enrolled = |query: String| {
        let app = &app;
        async move {
            let (status, body) = app
                .get(&format!(
                    "/api/v1/fe/program/report?programIdentifier=70&{query}"
                ))
                .await;
            assert_eq!(status, 200, "{query}: {body}");
            body["data"]["summary"]["enrolled"].as_i64().unwrap()
        }
    };
    assert_eq!(enrolled("language=en".into()).await, 4);
    assert_eq!(enrolled(format!("version={hash}")).await, 4);
    assert_eq!(enrolled("module=test-module-updated".into()).await, 4);
    assert_eq!(enrolled("module=budgeting".into()).await, 0);
    assert_eq!(enrolled("language=sw".into()).await, 0);
    assert_eq!(enrolled("until=2000-01-01".into()).await, 0);
    assert_eq!(enrolled("from=2000-01-01".into()).await, 4);
    let (_, body) = app
        .get("/api/v1/fe/program/report?programIdentifier=70&language=sw")
        .await;
    assert_eq!(body["data"]["funnel"], json!([]), "{body}");
    assert_eq!(body["data"]["scope"]["language"], "sw");
    // The filters still list what there is.
    assert_eq!(body["data"]["filters"]["languages"], json!(["en"]));
    for bad in [
        "from=yesterday",
        "from=2026-02-01&until=2026-01-01",
        "language=%01",
    ] {
        let (status, body) = app
            .get(&format!(
                "/api/v1/fe/program/report?programIdentifier=70&{bad}"
            ))
            .await;
        super::harness::assert_error(status, &body, 400, "validation_failed");
    }

    // The dashboard: the same figures as sections, filtered the same way.
    let (status, body) = app
        .get("/api/v1/fe/program/dashboard?programIdentifier=70")
        .await;
    assert_eq!(status, 200, "{body}");
    let sections = body["data"]["sections"].as_array().expect("sections");
    let ids: Vec<&str> = sections.iter().map(|s| s["id"].as_str().unwrap()).collect();
    for id in [
        "status",
        "over_time",
        "funnel",
        "language",
        "module_version",
    ] {
        assert!(ids.contains(&id), "{id}: {ids:?}");
    }
    let funnel = sections.iter().find(|s| s["id"] == "funnel").unwrap();
    assert_eq!(funnel["rows"][0][0], "enrolment");
    assert_eq!(funnel["rows"][0][1], 4);
    assert!(funnel["svg"].as_str().unwrap().starts_with("<svg"));
    let over_time = sections.iter().find(|s| s["id"] == "over_time").unwrap();
    assert!(over_time["svg"].as_str().unwrap().contains("Completed"));
    let version = sections
        .iter()
        .find(|s| s["id"] == "module_version")
        .unwrap();
    assert_eq!(version["rows"][0][0], "test-module-updated v1");
    let (_, body) = app
        .get("/api/v1/fe/program/dashboard?programIdentifier=70&language=sw")
        .await;
    assert_eq!(body["data"]["summary"]["enrolled"], 0, "{body}");
    assert_eq!(body["data"]["filters"]["languages"], json!(["en"]));

    // The CLI reads the same, filters included.
    let db = app.database_url.clone();
    let base = [
        "report",
        "--database",
        db.as_str(),
        "--org",
        "org-a",
        "--program",
        "70",
    ];
    let mut args = base.to_vec();
    args.extend(["--language", "en", "--format", "json"]);
    let (code, stdout, stderr) = chatcourse(&args).await;
    assert_eq!(code, 0, "{stderr}");
    let printed: Value = serde_json::from_str(&stdout).expect("json");
    let (_, served) = app
        .get("/api/v1/fe/program/report?programIdentifier=70&language=en")
        .await;
    assert_eq!(printed, served["data"]);
    let (code, stdout, _) = chatcourse(&base).await;
    assert_eq!(code, 0);
    assert!(
        stdout.contains("enrolment: reached by 4 (100.0%); waiting now 1, expired there 0"),
        "{stdout}"
    );
    assert!(
        stdout.contains("By language:\n  en: 4 enrolled, 1 completed (25.0%)"),
        "{stdout}"
    );
    let mut args = base.to_vec();
    args.extend(["--from", "2026-02-01", "--until", "2026-01-01"]);
    let (code, _, stderr) = chatcourse(&args).await;
    assert_eq!(code, 1);
    assert!(
        stderr.contains("--until must be later than --from"),
        "{stderr}"
    );
}
