//! The web pages: served with their security headers, and, in a real
//! browser (Debian's Chromium driven by playwright-core, tests/browser),
//! the learner's chat page completes a module by tapping buttons,
//! recovers from a server restart with every message once and in order,
//! and says clearly when its link has expired.

use serde_json::{Value, json};

use super::harness::{Backend, TestApp};

async fn learner_token(app: &TestApp, customer: &str, session: &str, ttl: i64) -> String {
    let (status, body) = app
        .post(
            "/api/v1/fe/session/token",
            &json!({"customer_uuid": customer, "session_uuid": session, "ttl_seconds": ttl}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["data"]["token"].as_str().expect("token").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_page_and_assets_are_served_with_their_headers() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let page = app
        .client
        .get(app.url("/chat?token=abc"))
        .send()
        .await
        .expect("page");
    assert_eq!(page.status(), 200);
    let headers = page.headers().clone();
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["x-frame-options"], "DENY");
    let csp = headers["content-security-policy"].to_str().expect("csp");
    for part in [
        "default-src 'none'",
        "script-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(part), "{csp}");
    }
    let html = page.text().await.expect("html");
    assert!(
        html.contains(r#"<label for="text""#),
        "the reply box has a label"
    );
    // Only same-origin assets, no inline script.
    assert!(html.contains(r#"src="/assets/chat.js""#));
    assert!(!html.contains("http://") && !html.contains("https://") && !html.contains("<script>"));
    for (path, kind) in [
        ("/assets/chat.js", "text/javascript"),
        ("/assets/chat.css", "text/css"),
    ] {
        let asset = app.client.get(app.url(path)).send().await.expect("asset");
        assert_eq!(asset.status(), 200, "{path}");
        assert!(
            asset.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with(kind),
            "{path}"
        );
        assert!(!asset.text().await.unwrap().is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_page_may_be_framed_by_configured_origins_only() {
    let config = chatcourse_api::Config {
        frame_origins: vec!["https://www.lender.example".to_owned()],
        ..chatcourse_api::Config::default()
    };
    let app = TestApp::spawn_with(Backend::Sqlite, config).await;
    let page = app.client.get(app.url("/chat")).send().await.expect("page");
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .expect("csp");
    assert!(
        csp.ends_with("frame-ancestors https://www.lender.example"),
        "{csp}"
    );
    // X-Frame-Options cannot allow one origin: it is left out.
    assert!(page.headers().get("x-frame-options").is_none());
}

/// Where the browser scenarios write their screenshots.
fn artifacts() -> std::path::PathBuf {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/browser-artifacts");
    std::fs::create_dir_all(&dir).expect("artifacts folder");
    dir
}

/// Starts `node tests/browser/chat.mjs SCENARIO BASE TOKEN ARTIFACTS`.
fn browser(scenario: &str, base: &str, token: &str) -> tokio::process::Child {
    browser_script("chat.mjs", &[scenario, base, token])
}

/// Starts `node tests/browser/SCRIPT ARGS... ARTIFACTS`.
fn browser_script(script: &str, args: &[&str]) -> tokio::process::Child {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/browser")
        .join(script);
    tokio::process::Command::new("node")
        .arg(script)
        .args(args)
        .arg(artifacts())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs (install Node.js, and `npm ci` in tests/browser)")
}

async fn finished(child: tokio::process::Child) -> String {
    let output = tokio::time::timeout(
        std::time::Duration::from_secs(120),
        child.wait_with_output(),
    )
    .await
    .expect("the browser scenario ends within 2 minutes")
    .expect("node output");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success() && stdout.lines().any(|l| l == "ok"),
        "browser scenario failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The message ids the page showed, from the JSON line the script prints.
fn shown_ids(stdout: &str) -> Vec<i64> {
    let line = stdout
        .lines()
        .find(|l| l.starts_with('['))
        .expect("the page's messages");
    let shown: Vec<Value> = serde_json::from_str(line).expect("JSON");
    shown
        .iter()
        .map(|m| m["id"].as_i64().expect("id"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(browser_tests),
    ignore = "a browser: set CHATCOURSE_BROWSER=/usr/bin/chromium and run `npm ci` in tests/browser"
)]
async fn browser_learner_completes_the_module_by_tapping() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (customer, session) = app.enrolled().await;
    let token = learner_token(&app, &customer, &session, 3600).await;
    let stdout = finished(browser("complete", &app.url(""), &token)).await;
    // The page showed exactly the stored conversation, in order.
    let stored: Vec<i64> = app
        .transcript(&customer, &session)
        .await
        .iter()
        .map(|m| m["id"].as_i64().expect("id"))
        .collect();
    assert_eq!(shown_ids(&stdout), stored);
    let (_, summary) = app
        .get(&format!(
            "/api/v1/fe/customer/summary?customerUuid={customer}"
        ))
        .await;
    assert_eq!(summary["data"][0]["status"], "Completed", "{summary}");
    assert_eq!(summary["data"][0]["post_quiz_score"], "2/2", "{summary}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(browser_tests),
    ignore = "a browser: set CHATCOURSE_BROWSER=/usr/bin/chromium and run `npm ci` in tests/browser"
)]
async fn browser_chat_recovers_from_a_server_restart() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    let mut app = TestApp::spawn(Backend::Sqlite).await;
    let (customer, session) = app.enrolled().await;
    let token = learner_token(&app, &customer, &session, 3600).await;
    let mut child = browser("reconnect", &app.url(""), &token);
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut before = Vec::new();
    loop {
        let line = tokio::time::timeout(std::time::Duration::from_secs(60), lines.next_line())
            .await
            .expect("the page reaches the cut")
            .expect("read")
            .expect("a line before the end");
        if line == "ready-to-cut" {
            break;
        }
        before.push(line);
    }
    // The server goes away (its sockets closed with 1001) and comes back on
    // the same address; the page reconnects by itself with afterId.
    let config = chatcourse_api::Config {
        modules_dir: super::harness::modules_dir(),
        ..chatcourse_api::Config::default()
    };
    tokio::time::timeout(
        std::time::Duration::from_secs(30),
        app.restart_same_address(&config),
    )
    .await
    .expect("the server restarts within 30 s");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"cut\n").await.expect("tell the page");
    drop(stdin); // end of input: node may exit when done
    let mut rest = String::new();
    while let Ok(Some(line)) = lines.next_line().await {
        rest.push_str(&line);
        rest.push('\n');
    }
    let status = child.wait().await.expect("node exits");
    assert!(
        status.success(),
        "browser scenario failed:\n{}\n{rest}",
        before.join("\n")
    );
    assert!(rest.lines().any(|l| l == "ok"), "{rest}");
    let stored: Vec<i64> = app
        .transcript(&customer, &session)
        .await
        .iter()
        .map(|m| m["id"].as_i64().expect("id"))
        .collect();
    assert_eq!(shown_ids(&rest), stored, "every message once, in order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(browser_tests),
    ignore = "a browser: set CHATCOURSE_BROWSER=/usr/bin/chromium and run `npm ci` in tests/browser"
)]
async fn browser_chat_says_when_the_link_expired() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    finished(browser("expired", &app.url(""), "not-a-valid-token")).await;
}

/// The JSON line a browser script printed (the first that starts with `[`).
fn printed(stdout: &str) -> Vec<Value> {
    let line = stdout
        .lines()
        .find(|l| l.starts_with('['))
        .expect("the page's JSON line");
    serde_json::from_str(line).expect("JSON")
}

/// `module` in a file for the browser script; removed when dropped.
struct ModuleFile(std::path::PathBuf);

impl ModuleFile {
    fn new(module: &str) -> ModuleFile {
        let path = std::env::temp_dir().join(format!(
            "chatcourse-preview-{}.yaml",
            super::harness::unique()
        ));
        std::fs::write(&path, module).expect("module file");
        ModuleFile(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("a UTF-8 path")
    }
}

impl Drop for ModuleFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preview_page_is_never_framed() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let page = app
        .client
        .get(app.url("/preview"))
        .send()
        .await
        .expect("page");
    assert_eq!(page.status(), 200);
    let headers = page.headers().clone();
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["cache-control"], "no-store");
    let csp = headers["content-security-policy"].to_str().expect("csp");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("img-src 'self' blob:"), "{csp}");
    let html = page.text().await.expect("html");
    assert!(
        html.contains(r#"<label for="key""#),
        "the key box has a label"
    );
    assert!(
        html.contains(r#"<label for="source""#),
        "the source box has a label"
    );
    assert!(!html.contains("http://") && !html.contains("https://") && !html.contains("<script>"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(browser_tests),
    ignore = "a browser: set CHATCOURSE_BROWSER=/usr/bin/chromium and run `npm ci` in tests/browser"
)]
async fn browser_preview_shows_each_diagnostic_at_its_line() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let source = super::preview::broken_module();
    let file = ModuleFile::new(&source);
    let stdout = finished(browser_script(
        "preview.mjs",
        &["diagnostics", &app.url(""), &app.key, file.path()],
    ))
    .await;
    let shown = printed(&stdout);
    let expected = chatcourse_engine::load_module(&source).diagnostics;
    assert!(expected.len() >= 2, "{expected:?}");
    assert_eq!(shown.len(), expected.len(), "{shown:?}");
    let lines: Vec<&str> = source.lines().collect();
    for (got, want) in shown.iter().zip(&expected) {
        assert_eq!(got["code"], want.code, "{got}");
        assert_eq!(got["line"], want.line, "{got}");
        assert_eq!(got["column"], want.column, "{got}");
        // Shown under the very line it is about, with its message and hint.
        assert_eq!(got["under"], want.line, "{got}");
        assert_eq!(got["source"], lines[want.line as usize - 1], "{got}");
        let text = got["text"].as_str().unwrap();
        assert!(text.contains(&want.message), "{text}");
        if let Some(hint) = &want.hint {
            assert!(text.contains(hint.as_str()), "{text}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(browser_tests),
    ignore = "a browser: set CHATCOURSE_BROWSER=/usr/bin/chromium and run `npm ci` in tests/browser"
)]
async fn browser_preview_plays_a_module() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let source =
        std::fs::read_to_string(super::harness::modules_dir().join("test-module-updated.yaml"))
            .expect("module");
    let file = ModuleFile::new(&source);
    let stdout = finished(browser_script(
        "preview.mjs",
        &["play", &app.url(""), &app.key, file.path()],
    ))
    .await;
    let log = printed(&stdout);
    let texts: Vec<(&str, &str)> = log
        .iter()
        .map(|m| (m["kind"].as_str().unwrap(), m["text"].as_str().unwrap()))
        .collect();
    // The enrolment message, the reminder after the simulated day, then the
    // course; the learner's taps in between; the engine's events.
    let position = |kind: &str, part: &str| {
        texts
            .iter()
            .position(|(k, t)| *k == kind && t.contains(part))
            .unwrap_or_else(|| panic!("{kind} {part:?} in {texts:?}"))
    };
    let enrolled = position("course", "Reply with 1 to start.");
    let reminder = position("course", "your course is waiting");
    let question = position("course", "What is the first step");
    let end = position("course", "you have completed the Test Module Updated");
    assert!(enrolled < reminder && reminder < question && question < end);
    position("event", "reminder 1");
    position("event", "pre-quiz score");
    position("event", "post-quiz score 2/2");
    position("event", "completed");
    assert!(texts.iter().any(|(k, t)| *k == "learner" && *t == "2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_page_is_never_framed() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let page = app
        .client
        .get(app.url("/dashboard"))
        .send()
        .await
        .expect("page");
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .expect("csp")
        .to_owned();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    let html = page.text().await.expect("html");
    assert!(html.contains(r#"<label for="programme""#));
    assert!(!html.contains("http://") && !html.contains("https://") && !html.contains("<script>"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(browser_tests),
    ignore = "a browser: set CHATCOURSE_BROWSER=/usr/bin/chromium and run `npm ci` in tests/browser"
)]
async fn browser_dashboard_shows_the_programme_as_the_api_does() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    super::dashboard::build_programme(&app).await;
    let analyst = app
        .new_key_with_role("org-a", chatcourse_storage::KeyRole::Analyst)
        .await;
    let stdout = finished(browser_script(
        "dashboard.mjs",
        &[&app.url(""), &analyst, "49"],
    ))
    .await;
    let line = stdout
        .lines()
        .find(|l| l.starts_with('{'))
        .expect("the tables");
    let tables: Value = serde_json::from_str(line).expect("JSON");
    let (_, summary) = app
        .get("/api/v1/fe/program/summary?programIdentifier=49")
        .await;
    let summary = &summary["data"];
    let shown = |section: &str, label: &str| -> String {
        tables[section]
            .as_array()
            .expect("rows")
            .iter()
            .find(|row| row[0] == label)
            .unwrap_or_else(|| panic!("{label} in {tables}"))[1]
            .as_str()
            .unwrap()
            .to_owned()
    };
    for (label, field) in super::dashboard::STATUS_ROWS {
        assert_eq!(
            shown("status", label),
            summary[field].to_string(),
            "{label}"
        );
    }
    assert_eq!(
        shown("scores", "Before (pre-quiz)").parse::<f64>().ok(),
        summary["average_pre_score"].as_f64()
    );
    assert_eq!(
        shown("scores", "After (post-quiz)").parse::<f64>().ok(),
        summary["average_post_score"].as_f64()
    );
    // The funnel and the figures over time, as the report has them.
    let (_, report) = app
        .get("/api/v1/fe/program/report?programIdentifier=49")
        .await;
    let first = &report["data"]["funnel"][0];
    assert_eq!(
        shown("funnel", first["step"].as_str().unwrap()),
        first["reached"].to_string()
    );
    let day = &report["data"]["over_time"][0];
    assert_eq!(
        shown("over_time", day["date"].as_str().unwrap()),
        day["new_enrolled"].to_string()
    );
    // Filtered by date (nobody), by language (all three speak English),
    // then unfiltered.
    let filtered = stdout
        .lines()
        .find_map(|l| l.strip_prefix("filtered: "))
        .expect("the filtered counts");
    let all = summary["enrolled"].to_string();
    assert_eq!(filtered, format!("0 {all} {all}"), "{stdout}");
}
