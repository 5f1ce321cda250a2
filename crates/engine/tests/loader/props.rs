//! `load_module` never panics: not on arbitrary text, not on valid modules
//! with random edits; and every finding has a hint.

use chatcourse_engine::diagnostics::{render_all, to_json};
use chatcourse_engine::load_module;
use proptest::prelude::*;

const VALID: &str = include_str!("../../../../modules/budgeting.yaml");

/// Loads, renders every diagnostic and checks the basic contract.
fn check(source: &str) {
    let result = load_module(source);
    assert_eq!(
        result.module.is_some(),
        !result.diagnostics.iter().any(|d| d.is_error())
    );
    for d in &result.diagnostics {
        assert!(d.span.start <= d.span.end && d.span.end <= source.len());
        assert!(source.is_char_boundary(d.span.start) && source.is_char_boundary(d.span.end));
        assert!(d.line >= 1 && d.column >= 1);
        assert!(d.hint.is_some(), "no hint: {d:?}");
        let _ = to_json("m.yaml", d);
    }
    let _ = render_all("m.yaml", source, &result.diagnostics);
}

/// Snippets that make YAML and module structure go wrong in interesting ways.
const PIECES: &[&str] = &[
    "\n",
    ": ",
    "- ",
    "{",
    "}",
    "[",
    "]",
    "\"",
    "'",
    "&a ",
    "*a",
    "!!str ",
    "\t",
    "#",
    "|\n",
    ">-\n",
    "{learner_name}",
    "{{",
    "}}",
    "{score}",
    "{learner_name|rafiki}",
    "|",
    ", ",
    "1 day",
    "\t- ",
    "next: ",
    "steps:",
    "ask: ",
    "say: ",
    "end: ",
    "id: x",
    "choices: [a, b]",
    "correct: 9",
    "quiz: pre",
    "é",
    "👋",
    "\r",
    "---\n",
    "~",
    "  ",
    "0",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(source in "\\PC{0,200}") {
        check(&source);
    }

    #[test]
    fn yaml_like_text_never_panics(parts in prop::collection::vec(prop::sample::select(PIECES), 0..60)) {
        check(&parts.concat());
    }

    #[test]
    fn mutated_valid_modules_never_panic(
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0usize..40, prop::sample::select(PIECES)), 1..6)
    ) {
        let mut source = VALID.to_owned();
        for (at, delete, insert) in edits {
            let mut start = at.index(source.len() + 1);
            while !source.is_char_boundary(start) { start -= 1; }
            let mut end = (start + delete).min(source.len());
            while !source.is_char_boundary(end) { end -= 1; }
            source.replace_range(start..end, insert);
        }
        check(&source);
    }
}

#[test]
fn the_valid_module_itself_loads() {
    let result = load_module(VALID);
    assert!(result.module.is_some(), "{:#?}", result.diagnostics);
}
