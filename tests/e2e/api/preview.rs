//! The author preview's endpoints over HTTP: compile a module as sent
//! (every diagnostic at its place, the flow as SVG), and play it without
//! storing anything, the state travelling with each request, reminders by
//! a simulated clock.

use serde_json::{Value, json};

use super::harness::{Backend, TestApp, assert_error, modules_dir};

fn module_source(name: &str) -> String {
    std::fs::read_to_string(modules_dir().join(name)).expect("module file")
}

/// A copy of "Test Module Updated" with two mistakes: a `next` to a step
/// that does not exist (line 21) and an unknown field (line 24).
pub fn broken_module() -> String {
    let mut lines: Vec<String> = module_source("test-module-updated.yaml")
        .lines()
        .map(str::to_owned)
        .collect();
    let pre_q1 = lines
        .iter()
        .position(|l| l.trim() == "- id: pre_q1")
        .expect("pre_q1");
    lines.insert(pre_q1 + 1, "    next: pre_q9".to_owned());
    lines.insert(pre_q1 + 4, "    colour: blue".to_owned());
    lines.join("\n")
}

async fn step(app: &TestApp, body: Value) -> Value {
    let (status, reply) = app.post("/api/v1/fe/preview/step", &body).await;
    assert_eq!(status, 200, "{reply}");
    reply["data"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compile_reports_every_diagnostic_at_its_line() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let source = broken_module();
    let (status, body) = app
        .post("/api/v1/fe/preview/compile", &json!({ "source": source }))
        .await;
    assert_eq!(status, 200, "{body}");
    let data = &body["data"];
    assert_eq!(data["valid"], false);
    assert!(data["module"].is_null() && data["flow"].is_null(), "{data}");
    let diagnostics = data["diagnostics"].as_array().expect("diagnostics");
    // The same findings, at the same places, as the engine reports.
    let expected = chatcourse_engine::load_module(&source).diagnostics;
    assert_eq!(diagnostics.len(), expected.len(), "{data}");
    for (got, want) in diagnostics.iter().zip(&expected) {
        assert_eq!(got["line"], want.line);
        assert_eq!(got["column"], want.column);
        assert_eq!(got["code"], want.code);
        assert_eq!(got["severity"], want.severity.as_str());
        assert_eq!(got["hint"], json!(want.hint));
    }
    let lines: Vec<&str> = source.lines().collect();
    let at = |code: &str| {
        let d = diagnostics
            .iter()
            .find(|d| d["code"] == code)
            .unwrap_or_else(|| panic!("{code} in {data}"));
        lines[d["line"].as_u64().unwrap() as usize - 1]
    };
    assert!(at("unknown-step").contains("pre_q9"));
    assert!(at("unknown-field").contains("colour"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compile_draws_a_valid_modules_flow() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (status, body) = app
        .post(
            "/api/v1/fe/preview/compile",
            &json!({ "source": module_source("budgeting.yaml") }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let data = &body["data"];
    assert_eq!(data["valid"], true, "{data}");
    assert_eq!(data["module"]["languages"], json!(["en", "sw"]));
    let svg = data["flow"]["svg"].as_str().expect("an SVG");
    assert!(svg.contains("<svg") && svg.contains("</svg>"), "{svg}");
    let mermaid = data["flow"]["mermaid"].as_str().expect("mermaid");
    assert!(mermaid.starts_with("flowchart TD"), "{mermaid}");
    // Nothing was stored: no module version beyond the served ones.
    let (_, modules) = app.get("/api/v1/fe/modules").await;
    let served = std::fs::read_dir(modules_dir())
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            let name = name.to_string_lossy();
            name.ends_with(".yaml") && !name.ends_with(".test.yaml")
        })
        .count();
    assert_eq!(modules["data"].as_array().unwrap().len(), served);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_module_plays_to_the_end_with_the_state_in_the_requests() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let source = module_source("test-module-updated.yaml");
    let at = "2026-12-01T09:00:00Z";
    let mut data = step(
        &app,
        json!({"source": source, "action": "start", "at": at, "learner_name": "Amina"}),
    )
    .await;
    assert_eq!(data["status"], "active");
    assert!(
        data["messages"][0]["text"]
            .as_str()
            .unwrap()
            .contains("Reply with 1 to start."),
        "{data}"
    );
    assert_eq!(data["messages"][0]["at"], at);
    for (reply, expect) in [
        ("1", "What is the first step"),
        ("2", "emergency without borrowing"),
        ("1", "Reply with 1 when you are ready"),
        ("1", "first step to climbing the financial ladder?"),
        ("2", "Correct!"),
        ("1", "you have completed the Test Module Updated"),
    ] {
        data = step(
            &app,
            json!({"source": source, "action": "reply", "state": data["state"], "text": reply, "at": at}),
        )
        .await;
        let texts: Vec<&str> = data["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["text"].as_str().unwrap())
            .collect();
        assert!(
            texts.iter().any(|t| t.contains(expect)),
            "{reply}: {texts:?}"
        );
    }
    assert_eq!(data["status"], "completed", "{data}");
    let events = data["events"].to_string();
    assert!(events.contains("post-quiz score 2/2"), "{events}");
    assert!(events.contains("completed"), "{events}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulated_clock_brings_reminders_then_expiry() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let source = module_source("test-module-updated.yaml");
    let start = step(
        &app,
        json!({"source": source, "action": "start", "at": "2026-12-01T09:00:00Z"}),
    )
    .await;
    // remind_after: 1d
    assert_eq!(start["wake_at"], "2026-12-02T09:00:00Z", "{start}");
    // An hour later: nothing is due.
    let quiet = step(
        &app,
        json!({"source": source, "action": "advance", "state": start["state"], "at": "2026-12-01T10:00:00Z"}),
    )
    .await;
    assert_eq!(quiet["messages"], json!([]));
    // A day later: the first reminder, at its due time.
    let reminded = step(
        &app,
        json!({"source": source, "action": "advance", "state": quiet["state"], "at": "2026-12-02T12:00:00Z"}),
    )
    .await;
    assert_eq!(
        reminded["messages"].as_array().unwrap().len(),
        1,
        "{reminded}"
    );
    assert!(
        reminded["messages"][0]["text"]
            .as_str()
            .unwrap()
            .contains("your course is waiting"),
        "{reminded}"
    );
    assert_eq!(reminded["messages"][0]["at"], "2026-12-02T09:00:00Z");
    assert!(
        reminded["events"].to_string().contains("reminder 1"),
        "{reminded}"
    );
    // Two weeks on: the second reminder, then the expiry (expire_after: 7d).
    let expired = step(
        &app,
        json!({"source": source, "action": "advance", "state": reminded["state"], "at": "2026-12-15T09:00:00Z"}),
    )
    .await;
    assert_eq!(expired["status"], "expired", "{expired}");
    assert!(
        expired["events"].to_string().contains("reminder 2"),
        "{expired}"
    );
    assert!(expired["wake_at"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_language_is_chosen_at_start() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let source = module_source("budgeting.yaml");
    let en = step(
        &app,
        json!({"source": source, "action": "start", "at": "2026-12-01T09:00:00Z"}),
    )
    .await;
    let sw = step(
        &app,
        json!({"source": source, "action": "start", "language": "sw", "at": "2026-12-01T09:00:00Z"}),
    )
    .await;
    assert_eq!(en["language"], "en");
    assert_eq!(sw["language"], "sw");
    assert_ne!(en["messages"], sw["messages"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_preview_requests_are_clear_4xx() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let source = module_source("test-module-updated.yaml");
    let at = "2026-12-01T09:00:00Z";
    // No key.
    let response = app
        .client
        .post(app.url("/api/v1/fe/preview/compile"))
        .json(&json!({"source": source}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    // A module with errors cannot be played.
    let (status, body) = app
        .post(
            "/api/v1/fe/preview/step",
            &json!({"source": broken_module(), "action": "start", "at": at}),
        )
        .await;
    assert_error(status, &body, 400, "validation_failed");
    // A reply without a state, or with one that is not a state.
    for state in [Value::Null, json!("not json"), json!("{\"format\": 99}")] {
        let (status, body) = app
            .post(
                "/api/v1/fe/preview/step",
                &json!({"source": source, "action": "reply", "state": state, "text": "1", "at": at}),
            )
            .await;
        assert_error(status, &body, 400, "validation_failed");
    }
    // A state started on another version of the source.
    let started = step(&app, json!({"source": source, "action": "start", "at": at})).await;
    let changed = source.replace("version: \"2\"", "version: \"3\"");
    let (status, body) = app
        .post(
            "/api/v1/fe/preview/step",
            &json!({"source": changed, "action": "reply", "state": started["state"], "text": "1", "at": at}),
        )
        .await;
    assert_error(status, &body, 400, "validation_failed");
    assert!(
        body["errors"][0].as_str().unwrap().contains("start again"),
        "{body}"
    );
    // An empty reply, a bad time, an unknown action.
    for bad in [
        json!({"source": source, "action": "reply", "state": started["state"], "text": "  ", "at": at}),
        json!({"source": source, "action": "start", "at": "yesterday"}),
        json!({"source": source, "action": "jump", "at": at}),
    ] {
        let (status, body) = app.post("/api/v1/fe/preview/step", &bad).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
}
