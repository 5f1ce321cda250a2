//! Conversation tests: parsing (with positions) and running.

use chatcourse_engine::convtest::{parse_tests, run_tests};
use chatcourse_engine::{Module, load_module};

const MODULE: &str = r#"
module: tiny
name: Tiny
goal: test tests
version: "1"
language: en
messages:
  expired: Gone.
timeouts:
  remind_after: 1d
  reminder: Still there?
  expire_after: 3d
steps:
  - id: q1
    quiz: pre
    ask: Pick one
    choices: [Right, Wrong]
    correct: 1
    right: Yes!
    wrong: No.
  - id: branch
    ask: Go left or right?
    choices:
      - text: Left
        next: left
      - Right
  - id: right
    end: "Right end, {pre_score}/{pre_total}."
  - id: left
    end: Left end.
"#;

fn module() -> Module {
    let r = load_module(MODULE);
    r.module.unwrap_or_else(|| panic!("{:#?}", r.diagnostics))
}

#[test]
fn passing_tests_and_coverage() {
    let (file, diags) = parse_tests(
        r#"
tests:
  - name: right answers
    learner_name: Amina
    conversation:
      - bot: "Pick one\n1. Right\n2. Wrong\nReply 1 or 2."
      - learner: "1"
      - bot: Yes!
      - bot: { contains: "left or right" }
      - learner: right
      - bot: { matches: '^Right end, 1/1\.$' }
    expect:
      status: completed
      pre_score: 1/1
  - name: silence
    conversation:
      - bot: { contains: Pick }
      - wait: 25h
      - bot: Still there?
      - wait: 3d
      - bot: Gone.
    expect:
      status: expired
      pre_score: 0/1
"#,
    );
    assert!(diags.is_empty(), "{diags:#?}");
    let m = module();
    let report = run_tests(&m, &file.unwrap());
    for o in &report.outcomes {
        assert!(o.passed(), "{} failed:\n{}", o.name, o.report());
    }
    assert_eq!(report.passed(), 2);
    assert_eq!(report.unreached(&m), [("left", 29)]);
}

#[test]
fn failures_show_expected_actual_and_transcript() {
    let (file, diags) = parse_tests(
        r#"
tests:
  - name: wrong text
    conversation:
      - bot: { contains: Pick }
      - learner: "2"
      - bot: Yes!
  - name: unlisted message
    conversation:
      - bot: { contains: Pick }
      - learner: "1"
      - bot: Yes!
  - name: missing message
    conversation:
      - bot: { contains: Pick }
      - bot: Another
  - name: bad score
    conversation:
      - bot: { contains: Pick }
      - learner: "2"
      - bot: No.
      - bot: { contains: left }
    expect:
      pre_score: 1/1
      status: active
"#,
    );
    assert!(diags.is_empty(), "{diags:#?}");
    let report = run_tests(&module(), &file.unwrap());
    assert_eq!(report.failed(), 4);
    let o = &report.outcomes;

    let f = o[0].failure.as_ref().unwrap();
    assert_eq!(f.line, 7);
    assert_eq!(f.message, "bot message 2 differs");
    assert_eq!(f.expected.as_deref(), Some(r#""Yes!""#));
    assert_eq!(f.actual.as_deref(), Some(r#""No.""#));
    let report0 = o[0].report();
    assert!(report0.contains("you> 2\n"), "{report0}");
    assert!(report0.contains("bot> No."), "{report0}");

    let f = o[1].failure.as_ref().unwrap();
    assert!(
        f.message.contains("at the end of the conversation"),
        "{}",
        f.message
    );
    assert!(f.actual.as_deref().unwrap().contains("left or right"));

    let f = o[2].failure.as_ref().unwrap();
    assert_eq!(
        (f.line, f.message.as_str()),
        (16, "bot message 2 was never sent")
    );

    let f = o[3].failure.as_ref().unwrap();
    assert_eq!(f.message, "pre_score differs");
    assert_eq!(f.expected.as_deref(), Some("1/1"));
    assert_eq!(f.actual.as_deref(), Some("0/1"));
}

#[test]
fn parse_errors_have_positions() {
    let (file, diags) = parse_tests(
        r#"tests:
  - name: one
    conversaton: []
  - name: two
    conversation:
      - bot: hi
        learner: "1"
      - wait: soon
      - bot: { matches: "(" }
    expect:
      status: done
      pre_score: two
"#,
    );
    assert!(file.is_none());
    let at: Vec<(u32, u32)> = diags.iter().map(|d| (d.line, d.column)).collect();
    assert_eq!(
        at,
        [(2, 5), (3, 5), (6, 9), (8, 15), (9, 25), (11, 15), (12, 18)],
        "{diags:#?}"
    );
    assert!(diags[1].message.contains("unknown field `conversaton`"));
    assert_eq!(
        diags[1].hint.as_deref(),
        Some("did you mean `conversation`?")
    );
    assert!(diags.iter().all(|d| d.code == "invalid-test"));

    let (file, diags) = parse_tests("tests: [\n");
    assert!(file.is_none());
    assert_eq!(diags.len(), 1);
    let (file, diags) = parse_tests("");
    assert!(file.is_none() && diags.len() == 1);
}
