//! Over time: sessions stay pinned to their module version across a
//! restart with a changed module file, and the wake-up loop sends
//! reminders and expires silent sessions.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chatcourse_api::Config;
use chatcourse_storage::ManualClock;
use serde_json::{Value, json};

use super::harness::{Backend, TestApp, both_backends, modules_dir, unique};

both_backends!(
    sessions_stay_on_their_module_version,
    reminders_and_expiry,
    changed_module_files_are_served_without_a_restart,
    quiet_hours_hold_reminders_back,
);

/// A temp modules folder, removed at the end.
struct ModulesDir(std::path::PathBuf);

impl ModulesDir {
    fn new() -> ModulesDir {
        let dir = std::env::temp_dir().join(format!("chatcourse-e2e-modules-{}", unique()));
        std::fs::create_dir_all(&dir).expect("modules dir");
        ModulesDir(dir)
    }

    fn write(&self, name: &str, source: &str) {
        std::fs::write(self.0.join(name), source).expect("write module");
    }

    fn config(&self) -> Config {
        Config {
            modules_dir: self.0.clone(),
            wakeup_interval: Duration::from_millis(100),
            ..Config::default()
        }
    }
}

impl Drop for ModulesDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).expect("read module")
}

async fn module_entry(app: &TestApp, name: &str) -> Value {
    let (_, body) = app.get("/api/v1/fe/modules").await;
    body["data"]
        .as_array()
        .expect("modules")
        .iter()
        .find(|m| m["module_name"] == name)
        .cloned()
        .expect("module listed")
}

async fn sessions_stay_on_their_module_version(backend: Backend) {
    let modules = ModulesDir::new();
    let original = read(&modules_dir().join("test-module-updated.yaml"));
    modules.write("course.yaml", &original);
    let mut app = TestApp::spawn_with(backend, modules.config()).await;
    let before = module_entry(&app, "Test Module Updated").await;
    let (old_customer, old_session) = app.enrolled().await;

    // The author edits the first question; the server restarts.
    let old_question = "What is the first step to climbing the financial ladder?";
    let new_question = "Version two, what comes first on the financial ladder?";
    modules.write(
        "course.yaml",
        &original.replacen(old_question, new_question, 1),
    );
    app.restart(&modules.config()).await;
    let after = module_entry(&app, "Test Module Updated").await;
    assert_eq!(after["module_uuid"], before["module_uuid"]);
    assert_ne!(after["version_hash"], before["version_hash"]);

    // The old session goes on with the version it was enrolled on...
    let turn = app.say(&old_customer, &old_session, "1").await;
    let text = turn["replies"][0]["message"].as_str().expect("text");
    assert!(text.starts_with(old_question), "{turn}");
    let (_, summary) = app
        .get(&format!(
            "/api/v1/fe/customer/session/summary?customerUuid={old_customer}&sessionUuid={old_session}"
        ))
        .await;
    assert_eq!(
        summary["data"]["module_version_hash"],
        before["version_hash"]
    );

    // ...and a new enrolment gets the new version.
    let (new_customer, new_session) = app.enrolled().await;
    assert_ne!(new_session, old_session);
    let turn = app.say(&new_customer, &new_session, "1").await;
    let text = turn["replies"][0]["message"].as_str().expect("text");
    assert!(text.starts_with(new_question), "{turn}");
}

/// Polls `check` every 100 ms for up to 30 s.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The reminder (after 1 s) and the expiry (after 8 s) on a manual clock:
/// the wake-up loop polls every 100 ms of real time but goes by the clock,
/// so the test moves the clock instead of waiting.
async fn reminders_and_expiry(backend: Backend) {
    let modules = ModulesDir::new();
    modules.write("reminders.yaml", include_str!("fixtures/reminders.yaml"));
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let app = TestApp::spawn_with_clock(backend, modules.config(), clock.clone()).await;
    let customer = app.register_customer().await;
    let module = app.module_uuid("Reminder Check").await;
    let session = app.enrol(&customer, &module, 7).await;

    // Several rounds of the loop, but no time passes on the clock: nothing.
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(app.transcript(&customer, &session).await.len(), 1);

    clock.advance(Duration::from_secs(2));
    eventually("the reminder", || async {
        app.transcript(&customer, &session)
            .await
            .iter()
            .any(|m| m["message"] == "Hello Jane, reply to continue.")
    })
    .await;
    clock.advance(Duration::from_secs(10));
    eventually("the expiry", || async {
        let (_, body) = app
            .get(&format!(
                "/api/v1/fe/customer/summary?customerUuid={customer}"
            ))
            .await;
        body["data"][0]["status"] == "Expired"
    })
    .await;
    let transcript = app.transcript(&customer, &session).await;
    let texts: Vec<&str> = transcript
        .iter()
        .map(|m| m["message"].as_str().expect("text"))
        .collect();
    assert_eq!(
        texts,
        [
            "Reply with 1 to start.",
            "Hello Jane, reply to continue.",
            "This session has expired.",
        ]
    );
    // The learner never wrote: no activity.
    let (_, body) = app
        .get(&format!(
            "/api/v1/fe/customer/summary?customerUuid={customer}"
        ))
        .await;
    assert_eq!(body["data"][0]["last_active_date"], "");
}

/// `serve` looks at the modules folder again (here every 100 ms): a changed
/// file becomes the version new enrolments get, live sessions stay on
/// theirs, a broken file is refused while the previous version keeps
/// serving, and a new file adds a module.
async fn changed_module_files_are_served_without_a_restart(backend: Backend) {
    let modules = ModulesDir::new();
    let original = read(&modules_dir().join("test-module-updated.yaml"));
    modules.write("course.yaml", &original);
    let config = Config {
        modules_poll: Some(Duration::from_millis(100)),
        ..modules.config()
    };
    let app = TestApp::spawn_with(backend, config).await;
    let before = module_entry(&app, "Test Module Updated").await;
    let (old_customer, old_session) = app.enrolled().await;
    let first_question = |turn: &Value| {
        turn["replies"][0]["message"]
            .as_str()
            .expect("text")
            .to_owned()
    };

    // A broken edit is refused: the current version keeps serving.
    modules.write("course.yaml", &original.replacen("steps:", "stepz:", 1));
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        module_entry(&app, "Test Module Updated").await["version_hash"],
        before["version_hash"]
    );
    let old_question = "What is the first step to climbing the financial ladder?";
    let (customer, session) = app.enrolled().await;
    assert!(first_question(&app.say(&customer, &session, "1").await).starts_with(old_question));

    // A valid edit becomes the new version, without a restart.
    let new_question = "Version two, what comes first on the financial ladder?";
    modules.write(
        "course.yaml",
        &original.replacen(old_question, new_question, 1),
    );
    eventually("the new version", || async {
        module_entry(&app, "Test Module Updated").await["version_hash"] != before["version_hash"]
    })
    .await;
    let after = module_entry(&app, "Test Module Updated").await;
    assert_eq!(after["module_uuid"], before["module_uuid"]);
    let (customer, session) = app.enrolled().await;
    assert!(first_question(&app.say(&customer, &session, "1").await).starts_with(new_question));
    // The session enrolled before goes on with its version.
    assert!(
        first_question(&app.say(&old_customer, &old_session, "1").await).starts_with(old_question)
    );

    // A new file is a new module.
    modules.write("reminders.yaml", include_str!("fixtures/reminders.yaml"));
    eventually("the new module", || async {
        let (_, body) = app.get("/api/v1/fe/modules").await;
        body["data"]
            .as_array()
            .expect("modules")
            .iter()
            .any(|m| m["module_name"] == "Reminder Check")
    })
    .await;
}

/// A module whose reminder comes an hour after the question.
const HOURLY_REMINDER: &str = r#"
module: e2e-quiet-hours
name: Quiet Hours Check
goal: check that reminders wait for the end of quiet hours
version: "1"
language: en

timeouts:
  remind_after: 1h
  reminder: "Still there, {learner_name}? Reply 1 to go on."
  max_reminders: 1
  expire_after: 3d

steps:
  - id: start
    ask: Reply with 1 to start.
    choices: [Start]
    list_choices: false

  - id: done
    end: Done.
"#;

/// Quiet hours 21:00-07:00 in Nairobi (UTC+3): a reminder due at 21:30
/// local waits until 07:00 the next morning; a learner who writes during
/// the quiet hours is answered at once. Settings are the organisation's
/// own, validated, and can be cleared.
async fn quiet_hours_hold_reminders_back(backend: Backend) {
    let modules = ModulesDir::new();
    modules.write("quiet.yaml", HOURLY_REMINDER);
    // 20:30 in Nairobi.
    let start = chrono::DateTime::parse_from_rfc3339("2026-12-04T17:30:00Z")
        .expect("time")
        .with_timezone(&chrono::Utc);
    let clock = Arc::new(ManualClock::new(start));
    let app = TestApp::spawn_with_clock(backend, modules.config(), clock.clone()).await;

    let settings =
        json!({"quiet_hours": {"start": "21:00", "end": "07:00", "timezone": "Africa/Nairobi"}});
    let request = app
        .client
        .put(app.url("/api/v1/fe/organisation/settings"))
        .bearer_auth(&app.key);
    let response = request.json(&settings).send().await.expect("put");
    assert_eq!(response.status().as_u16(), 200);
    let (_, body) = app.get("/api/v1/fe/organisation/settings").await;
    assert_eq!(body["data"], settings, "{body}");
    // Another organisation has none.
    let other = app.new_key("org-b").await;
    let (_, body) = app
        .get_with("/api/v1/fe/organisation/settings", &other)
        .await;
    assert_eq!(body["data"]["quiet_hours"], Value::Null, "{body}");
    for (bad, says) in [
        (json!({"start": "9pm", "end": "07:00"}), "HH:MM"),
        (json!({"start": "21:00", "end": "21:00"}), "same time"),
        (
            json!({"start": "21:00", "end": "07:00", "timezone": "Mars/Olympus"}),
            "unknown time zone",
        ),
    ] {
        let response = app
            .client
            .put(app.url("/api/v1/fe/organisation/settings"))
            .bearer_auth(&other)
            .json(&json!({"quiet_hours": bad}))
            .send()
            .await
            .expect("put");
        assert_eq!(response.status().as_u16(), 400);
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["code"], "validation_failed");
        assert!(body.to_string().contains(says), "{body}");
    }

    let customer = app.register_customer().await;
    let module = app.module_uuid("Quiet Hours Check").await;
    let session = app.enrol(&customer, &module, 8).await;
    let talker = app.register_customer().await;
    let talker_session = app.enrol(&talker, &module, 8).await;

    // 21:30:01 in Nairobi: the reminder is due, inside the quiet hours.
    clock.advance(Duration::from_secs(3600 + 1));
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(app.transcript(&customer, &session).await.len(), 1);
    // A learner's own message is answered at once.
    let turn = app.say(&talker, &talker_session, "1").await;
    assert_eq!(turn["replies"][0]["message"], "Done.", "{turn}");

    // 06:59 the next morning: still waiting.
    clock.advance(Duration::from_secs(9 * 3600 + 29 * 60));
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(app.transcript(&customer, &session).await.len(), 1);
    // 07:00: the reminder goes.
    clock.advance(Duration::from_secs(60));
    eventually("the reminder after the quiet hours", || async {
        app.transcript(&customer, &session)
            .await
            .iter()
            .any(|m| m["message"] == "Still there, Jane? Reply 1 to go on.")
    })
    .await;

    // Cleared: no quiet hours.
    let response = app
        .client
        .put(app.url("/api/v1/fe/organisation/settings"))
        .bearer_auth(&app.key)
        .json(&json!({"quiet_hours": null}))
        .send()
        .await
        .expect("put");
    assert_eq!(response.status().as_u16(), 200);
    let (_, body) = app.get("/api/v1/fe/organisation/settings").await;
    assert_eq!(body["data"]["quiet_hours"], Value::Null, "{body}");
}
