//! The author commands of the real binary: `validate`, `play` (piped) and
//! `test`, on modules written to a temporary folder.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const MODULE: &str = r#"module: cli-demo
name: CLI Demo
goal: check the commands
version: "1"
language: en
steps:
  - id: welcome
    ask: Hello {learner_name}! Reply 1 to start.
    choices: [Start]
    list_choices: false
  - id: pre_q1
    quiz: pre
    ask: Where do savings grow?
    choices: [Under the bed, In a savings account]
    correct: 2
    right: Correct!
    wrong: Not quite.
  - id: side
    say: A side note.
  - id: done
    end: "Done: {pre_score}/{pre_total}."
"#;

const BROKEN: &str = r#"module: broken
name: Broken
goal: fail
version: "1"
language: en
steps:
  - id: welcome
    ask: Hello
    choices: [Go]
    next: nowhere
"#;

const PASSING_TESTS: &str = r#"tests:
  - name: right answer
    learner_name: Amina
    conversation:
      - bot: Hello Amina! Reply 1 to start.
      - learner: "1"
      - bot: { contains: "Where do savings grow?" }
      - learner: "2"
      - bot: Correct!
      - bot: A side note.
      - bot: "Done: 1/1."
    expect:
      status: completed
      pre_score: 1/1
"#;

const FAILING_TESTS: &str = r#"tests:
  - name: expects the wrong question
    conversation:
      - bot: { contains: Hello }
      - learner: "1"
      - bot: Where?
"#;

/// A fresh folder under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let dir = std::env::temp_dir().join(format!("chatcourse-cli-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn chatcourse(args: &[&str], dir: &Path, stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_chatcourse"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn validate_reports_errors_with_positions_and_exit_codes() {
    let dir = TempDir::new();
    dir.write("demo.yaml", MODULE);
    dir.write("demo.test.yaml", PASSING_TESTS); // not a module: skipped

    let ok = chatcourse(&["validate", "."], &dir.0, "");
    assert!(ok.status.success(), "{}", stdout(&ok));
    assert!(
        stdout(&ok).contains("checked 1 module: 0 errors"),
        "{}",
        stdout(&ok)
    );

    dir.write("broken.yaml", BROKEN);
    let bad = chatcourse(&["validate", "."], &dir.0, "");
    assert_eq!(bad.status.code(), Some(1));
    let out = stdout(&bad);
    assert!(out.contains("broken.yaml:10:11"), "{out}");
    assert!(out.contains("checked 2 modules: 1 error"), "{out}");

    let json = chatcourse(&["validate", "--format", "json", "broken.yaml"], &dir.0, "");
    assert_eq!(json.status.code(), Some(1));
    let lines: Vec<serde_json::Value> = stdout(&json)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["file"], "broken.yaml");
    assert_eq!(lines[0]["line"], 10);
    assert_eq!(lines[0]["column"], 11);
    assert_eq!(lines[0]["severity"], "error");
    assert!(lines[0]["code"].is_string() && lines[0]["message"].is_string());

    let missing = chatcourse(&["validate", "nope.yaml"], &dir.0, "");
    assert_eq!(missing.status.code(), Some(1));
}

/// `validate --previous OLD` compares the file of the same module id
/// with the version learners were enrolled on: a quiz question whose right
/// answer changed under the same id is a warning (exit status 0).
#[test]
fn validate_warns_when_a_question_keeps_its_id_but_changes_its_answer() {
    let dir = TempDir::new();
    let course = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../modules/test-module-updated.yaml"),
    )
    .unwrap();
    dir.write("old.yaml", &course);
    dir.write("other.yaml", MODULE);
    // pre_q1's right answer moves from choice 2 to choice 1.
    let changed = course.replacen("    correct: 2", "    correct: 1", 1);
    let line = changed.lines().position(|l| l == "    correct: 1").unwrap() + 1;
    dir.write("new.yaml", &changed);
    let out = chatcourse(
        &[
            "validate",
            "--previous",
            "old.yaml",
            "new.yaml",
            "other.yaml",
        ],
        &dir.0,
        "",
    );
    assert!(out.status.success(), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(
        text.contains("warning[correct-changed]: question `pre_q1`"),
        "{text}"
    );
    assert!(text.contains(&format!("new.yaml:{line}:14")), "{text}");
    assert!(text.contains("pre_q1_v2"), "{text}");
    assert!(
        text.contains("checked 2 modules: 0 errors, 1 warning"),
        "{text}"
    );
    // Without --previous, or compared with itself: nothing to say.
    let same = chatcourse(
        &["validate", "--previous", "old.yaml", "old.yaml"],
        &dir.0,
        "",
    );
    assert!(
        stdout(&same).contains("0 errors, 0 warnings"),
        "{}",
        stdout(&same)
    );
    let missing = chatcourse(
        &["validate", "--previous", "nope.yaml", "new.yaml"],
        &dir.0,
        "",
    );
    assert_eq!(missing.status.code(), Some(1));
}

/// `play` shows a paced course's pause with its local end, answers a
/// message during it as the engine does, and `/next` jumps to the lesson.
#[test]
fn play_shows_pauses_and_skips_ahead_with_next() {
    let dir = TempDir::new();
    let module = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../modules/savings-week.yaml");
    let module = module.to_str().unwrap();
    let out = chatcourse(
        &["play", "--timezone", "Africa/Nairobi", module],
        &dir.0,
        "1\n2\n2\nhello\n/next\n/quit\n",
    );
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    let paused = text
        .lines()
        .find(|l| l.starts_with("-- paused at `pause_1` until "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        paused.ends_with("09:00 EAT (/next to skip ahead)"),
        "{paused}"
    );
    assert!(text.contains("bot> Your next lesson comes "), "{text}");
    let after_next = text
        .split("you> /next")
        .nth(1)
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        after_next.contains("bot> Day 2: Give your savings a goal."),
        "{text}"
    );
    let bad = chatcourse(&["play", "--timezone", "Nairobi", module], &dir.0, "");
    assert!(!bad.status.success());
}

#[test]
fn play_piped_prints_a_transcript_and_a_summary() {
    let dir = TempDir::new();
    dir.write("demo.yaml", MODULE);
    let o = chatcourse(
        &["play", "demo.yaml", "--name", "Amina"],
        &dir.0,
        "1\nhelp\n/state\n2\n",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = stdout(&o);
    let expected_start = "bot> Hello Amina! Reply 1 to start.\nyou> 1\nbot> Where do savings grow?\n     1. Under the bed\n     2. In a savings account\n     Reply 1 or 2.\nyou> help\n";
    assert!(out.starts_with(expected_start), "{out}");
    assert!(
        out.contains("\"step\": \"pre_q1\""),
        "/state shows the state: {out}"
    );
    assert!(
        out.ends_with("you> 2\nbot> Correct!\nbot> A side note.\nbot> Done: 1/1.\n-- completed; pre-quiz 1/1\n"),
        "{out}"
    );

    let broken = TempDir::new();
    broken.write("broken.yaml", BROKEN);
    let o = chatcourse(&["play", "broken.yaml"], &broken.0, "");
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("broken.yaml:10:11"));
}

#[test]
fn test_command_reports_passes_failures_and_coverage() {
    let dir = TempDir::new();
    dir.write("demo.yaml", MODULE);
    dir.write("demo.test.yaml", PASSING_TESTS);
    let o = chatcourse(&["test", "."], &dir.0, "");
    let out = stdout(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("  ok    right answer"), "{out}");
    assert!(out.contains("coverage: 4/4 steps"), "{out}");
    assert!(out.ends_with("1 passed, 0 failed\n"), "{out}");

    dir.write("demo.test.yaml", FAILING_TESTS);
    let o = chatcourse(&["test"], &dir.0, "");
    assert!(!o.status.success(), "no modules/ folder here");
    let o = chatcourse(&["test", "demo.yaml"], &dir.0, "");
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("FAIL  expects the wrong question"), "{out}");
    assert!(out.contains("line 6: bot message 2 differs"), "{out}");
    assert!(out.contains(r#"expected: "Where?""#), "{out}");
    assert!(
        out.contains(r#"actual:   "Where do savings grow?\n1. Under"#),
        "{out}"
    );
    assert!(out.contains("    you> 1\n"), "transcript: {out}");
    assert!(
        out.contains("coverage: 2/4 steps; unreached: side (line 18), done (line 20)"),
        "{out}"
    );
    assert!(out.ends_with("0 passed, 1 failed\n"), "{out}");

    dir.write("broken.yaml", BROKEN);
    dir.write("broken.test.yaml", PASSING_TESTS);
    let o = chatcourse(&["test", "broken.test.yaml"], &dir.0, "");
    assert_eq!(
        o.status.code(),
        Some(1),
        "a module that does not load fails"
    );
}

#[test]
fn graph_prints_mermaid_by_default_and_dot_on_request() {
    let dir = TempDir::new();
    dir.write("demo.yaml", MODULE);
    dir.write("broken.yaml", BROKEN);

    let mermaid = chatcourse(&["graph", "demo.yaml"], &dir.0, "");
    assert!(mermaid.status.success(), "{mermaid:?}");
    let out = stdout(&mermaid);
    assert!(out.starts_with("flowchart TD\n"), "{out}");
    assert!(out.contains("subgraph pre_quiz"), "{out}");
    assert!(
        out.contains("s1 -->|\"choices 1-2 (right: 2)\"| s2"),
        "{out}"
    );
    assert!(out.contains("s1 -.->|\"no match x3\"| s2"), "{out}");

    let dot = chatcourse(&["graph", "--format", "dot", "demo.yaml"], &dir.0, "");
    assert!(dot.status.success(), "{dot:?}");
    let out = stdout(&dot);
    assert!(out.starts_with("digraph \"cli-demo\" {"), "{out}");
    assert!(out.contains("s2 -> s3;"), "{out}");

    let bad = chatcourse(&["graph", "broken.yaml"], &dir.0, "");
    assert_eq!(bad.status.code(), Some(1));
    assert!(stdout(&bad).is_empty());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown-step"));
}

#[test]
fn schema_prints_the_shipped_schema() {
    let dir = TempDir::new();
    let out = chatcourse(&["schema"], &dir.0, "");
    assert!(out.status.success(), "{out:?}");
    let shipped = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/module.schema.json"),
    )
    .unwrap();
    assert_eq!(stdout(&out), shipped);
    let schema: serde_json::Value = serde_json::from_str(&shipped).unwrap();
    assert_eq!(schema["title"], "chatcourse module");
    assert!(schema["$defs"]["step"]["properties"]["choices"].is_object());
}

#[test]
fn validate_for_sms_warns_about_costly_texts() {
    let dir = TempDir::new();
    let long = "Put a little aside every week and your savings will grow. ".repeat(3);
    let module = MODULE.replace(
        "    say: A side note.",
        &format!("    say: \"{long}It\u{2019}s yours.\""),
    );
    dir.write("demo.yaml", &module);
    // Without --channel: no SMS warnings.
    let plain = chatcourse(&["validate", "demo.yaml"], &dir.0, "");
    assert!(
        !stdout(&plain).contains("sms-segments"),
        "{}",
        stdout(&plain)
    );
    let out = chatcourse(
        &[
            "validate",
            "--channel",
            "sms",
            "--max-segments",
            "2",
            "--format",
            "json",
            "demo.yaml",
        ],
        &dir.0,
        "",
    );
    assert!(out.status.success(), "warnings only: {}", stdout(&out));
    let lines: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let w = &lines[0];
    assert_eq!(
        (w["code"].as_str(), w["severity"].as_str()),
        (Some("sms-segments"), Some("warning"))
    );
    // At the curly quote itself: line 19, after `    say: "` and the text.
    assert_eq!(w["line"], 19, "{w}");
    assert_eq!(w["column"], 11 + long.chars().count() as u64 + 2, "{w}");
    assert!(
        w["message"]
            .as_str()
            .unwrap()
            .contains("3 SMS segments (UCS-2"),
        "{w}"
    );
    let hint = w["hint"].as_str().unwrap();
    assert!(
        hint.contains("U+2019") && hint.contains("without it the text is 2 segments"),
        "{hint}"
    );
    let text = chatcourse(&["validate", "--channel", "sms", "demo.yaml"], &dir.0, "");
    assert!(
        stdout(&text).contains("warning[sms-segments]"),
        "{}",
        stdout(&text)
    );
    let relaxed = chatcourse(
        &[
            "validate",
            "--channel",
            "sms",
            "--max-segments",
            "3",
            "demo.yaml",
        ],
        &dir.0,
        "",
    );
    assert!(
        !stdout(&relaxed).contains("sms-segments"),
        "{}",
        stdout(&relaxed)
    );
}
