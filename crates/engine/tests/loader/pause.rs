//! `wait` steps: how they compile, and the findings for times, weekdays
//! and pauses that would never end.

use chatcourse_engine::module::StepKind;
use chatcourse_engine::{Diagnostic, load_module};
use chrono::{NaiveTime, Weekday};

fn module(steps: &str) -> String {
    format!(
        "module: m\nname: M\ngoal: g\nversion: \"1\"\nlanguage: en\nsteps:\n  - id: a\n    say: Hi.\n{steps}  - id: done\n    end: Bye.\n"
    )
}

fn findings(steps: &str) -> Vec<Diagnostic> {
    load_module(&module(steps)).diagnostics
}

/// The one finding of `steps`: (code, line, column, hint).
fn one(steps: &str) -> (&'static str, u32, u32, String) {
    let d = findings(steps);
    assert_eq!(d.len(), 1, "{d:#?}");
    let d = &d[0];
    (d.code, d.line, d.column, d.hint.clone().unwrap_or_default())
}

#[test]
fn wait_forms_compile() {
    let src = module(
        "  - id: p1\n    wait: 2h\n  - id: p2\n    wait: \"9:30\"\n  - id: p3\n    wait:\n      after: 12h\n      at: \"09:00\"\n      days: [mon-wed, Friday, fri]\n      skip: [Next, SASA]\n      reply: Back {resume_day} at {resume_time}.\n",
    );
    let r = load_module(&src);
    assert!(r.diagnostics.is_empty(), "{:#?}", r.diagnostics);
    let m = r.module.unwrap();
    let wait = |i: usize| match &m.steps[i].kind {
        StepKind::Wait(w) => w.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(wait(1).after, Some(chrono::Duration::hours(2)));
    assert_eq!(wait(1).at, None);
    assert_eq!(wait(2).at, NaiveTime::from_hms_opt(9, 30, 0));
    let p3 = wait(3);
    assert_eq!(
        p3.days,
        [Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Fri]
    );
    assert_eq!(p3.skip, ["next", "sasa"]);
    assert_eq!(m.step(p3.next).id, "done");
    assert_eq!(p3.describe(), "wait 12h, then until 09:00 mon,tue,wed,fri");
    assert_eq!(wait(1).describe(), "wait 2h");
}

#[test]
fn times_written_as_people_say_them_get_the_time_meant() {
    let (code, line, column, hint) = one("  - id: p\n    wait: { at: 9am }\n");
    assert_eq!((code, line, column), ("invalid-time", 10, 17));
    assert!(hint.contains("`\"09:00\"`"), "{hint}");
    let (code, _, _, hint) = one("  - id: p\n    wait: 9.30pm\n");
    assert_eq!(code, "invalid-time");
    assert!(hint.contains("`\"21:30\"`"), "{hint}");
    let (code, _, _, hint) = one("  - id: p\n    wait: \"24:00\"\n");
    assert_eq!(code, "invalid-time");
    assert!(hint.contains("`\"00:00\"`"), "{hint}");
    let (code, _, _, hint) = one("  - id: p\n    wait: { at: noon }\n");
    assert_eq!(code, "invalid-time");
    assert!(hint.contains("HH:MM"), "{hint}");
    // A duration in words, as elsewhere.
    let (code, _, _, hint) = one("  - id: p\n    wait: 1 day\n");
    assert_eq!(code, "invalid-duration");
    assert!(hint.contains("`1d`"), "{hint}");
}

#[test]
fn weekdays_are_checked_with_a_suggestion() {
    let (code, line, column, hint) =
        one("  - id: p\n    wait:\n      at: \"09:00\"\n      days: [mon, wensday]\n");
    assert_eq!((code, line, column), ("invalid-weekday", 12, 19));
    assert!(hint.starts_with("did you mean `wed`?"), "{hint}");
    let (code, _, _, hint) = one("  - id: p\n    wait: { at: \"09:00\", days: mon-fryday }\n");
    assert_eq!(code, "invalid-weekday");
    assert!(hint.starts_with("did you mean `fri`?"), "{hint}");
    let (code, _, _, _) = one("  - id: p\n    wait: { at: \"09:00\", days: [] }\n");
    assert_eq!(code, "invalid-value");
}

#[test]
fn pauses_that_would_never_end_or_say_too_much_are_errors() {
    let (code, line, _, hint) = one("  - id: p\n    wait: { days: [mon] }\n");
    assert_eq!((code, line), ("missing-field", 10));
    assert!(hint.contains("at: \"09:00\""), "{hint}");
    let (code, _, _, hint) = one("  - id: p\n    wait: { skip: [next] }\n");
    assert_eq!(code, "missing-field");
    assert!(hint.contains("after"), "{hint}");
    // A misspelt `at` is one finding, not also "never ends".
    let (code, _, _, hint) = one("  - id: p\n    wait: { att: \"09:00\" }\n");
    assert_eq!(code, "unknown-field");
    assert!(hint.contains("`at`"), "{hint}");
    // `ask` fields do not belong on a wait step.
    let (code, _, _, _) = one("  - id: p\n    wait: 1d\n    choices: [Yes]\n");
    assert_eq!(code, "field-not-allowed");
    // The resume variables only mean something in the wait's reply.
    let (code, _, _, hint) = one("  - id: p\n    say: Back at {resume_time}.\n");
    assert_eq!(code, "unknown-template-variable");
    assert!(hint.contains("`wait` step's `reply`"), "{hint}");
    // A wait as the last step leads nowhere.
    let src = "module: m\nname: M\ngoal: g\nversion: \"1\"\nlanguage: en\nsteps:\n  - id: a\n    say: Hi.\n  - id: p\n    wait: 1d\n";
    let codes: Vec<&str> = load_module(src)
        .diagnostics
        .iter()
        .map(|d| d.code)
        .collect();
    assert_eq!(codes, ["no-way-on"]);
    // Two kinds.
    let (code, _, _, _) = one("  - id: p\n    wait: 1d\n    say: Hi.\n");
    assert_eq!(code, "conflicting-step-kinds");
}
