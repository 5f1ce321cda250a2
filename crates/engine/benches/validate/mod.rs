//! Validation speed: `load_module` on a generated 1,000-step module, against
//! a baseline timed in the same run (saphyr-parser's events alone, the
//! floor any YAML loader pays), so the ratio means something on any machine.
//! Target: under 20 ms per load in release.
//!
//! Lives in a folder (`benches/validate/mod.rs`) so Cargo does not mistake it
//! for a bench target of its own; `benches/engine.rs` calls [`run`].

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Instant;

use chatcourse_engine::load_module;

const STEPS: usize = 1_000;
const RUNS: usize = 31;
const TARGET_MS: f64 = 20.0;

pub fn run() {
    let source = module_source(STEPS);
    let check = load_module(&source);
    assert!(
        check.module.is_some(),
        "the generated module must be valid: {:?}",
        check.diagnostics.iter().find(|d| d.is_error())
    );

    let events = time_ms(|| black_box(count_events(black_box(&source))));
    let tree = time_ms(|| black_box(chatcourse_engine::syntax::parse(black_box(&source))));
    let load = time_ms(|| black_box(load_module(black_box(&source))));

    println!(
        "validate: {STEPS}-step module ({} KiB), median (fastest) of {RUNS} runs",
        source.len() / 1024
    );
    println!(
        "  load_module              {:>8.2} ms ({:.2})",
        load.0, load.1
    );
    println!(
        "  spanned tree (syntax)    {:>8.2} ms ({:.2})",
        tree.0, tree.1
    );
    println!(
        "  baseline: parser events  {:>8.2} ms ({:.2})",
        events.0, events.1
    );
    println!(
        "  load costs {:.1}x the parser's events; target < {TARGET_MS} ms: {}",
        load.0 / events.0,
        if load.0 < TARGET_MS { "ok" } else { "MISSED" }
    );
}

fn time_ms<T>(mut f: impl FnMut() -> T) -> (f64, f64) {
    drop(f()); // warm-up
    let mut times: Vec<f64> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            let result = f();
            let ms = start.elapsed().as_secs_f64() * 1e3;
            drop(result);
            ms
        })
        .collect();
    times.sort_by(f64::total_cmp);
    (times[RUNS / 2], times[0])
}

fn count_events(source: &str) -> usize {
    let mut parser = saphyr_parser::Parser::new_from_str(source);
    let mut n = 0;
    while let Some(Ok(_)) = parser.next_event() {
        n += 1;
    }
    n
}

/// A realistic module: groups of a lesson, a multiple-choice quiz question
/// and a free-text question (one in ten with a regex), in two languages.
pub fn module_source(steps: usize) -> String {
    let mut s = String::from(
        "module: bench\nname: { en: Bench, sw: Benchi }\ngoal: measure validation\nversion: 1\nlanguage: en\nlanguages: [en, sw]\ntimeouts:\n  remind_after: 1d\n  reminder: Hello {learner_name}\n  expire_after: 7d\nsteps:\n",
    );
    for i in 0..steps.saturating_sub(1) {
        match i % 3 {
            0 => {
                let _ = write!(
                    s,
                    "  - id: lesson_{i}\n    say:\n      en: \"Lesson {i}: put aside a little every week, {{learner_name}}.\"\n      sw: \"Somo {i}: weka akiba kidogo kila wiki, {{learner_name}}.\"\n"
                );
            }
            1 => {
                let quiz = if i < steps / 2 { "pre" } else { "post" };
                let _ = write!(
                    s,
                    "  - id: q_{i}\n    quiz: {quiz}\n    ask:\n      en: Question {i}, where should savings go?\n      sw: Swali {i}, akiba iende wapi?\n    choices:\n      - {{ en: Under the mattress, sw: Chini ya godoro }}\n      - text: {{ en: A savings account, sw: Akaunti ya akiba }}\n        aliases: [bank, benki]\n        reply: {{ en: Good., sw: Vizuri. }}\n      - {{ en: With a friend, sw: Kwa rafiki }}\n    correct: 2\n    right: {{ en: \"Correct! {{score}}/{{total}}\", sw: \"Sahihi! {{score}}/{{total}}\" }}\n    wrong: {{ en: Not quite., sw: Si sahihi. }}\n"
                );
            }
            _ => {
                // Every regex differs, so none is served from the cache.
                let matcher = if i % 10 == 2 {
                    format!("regex: '^\\d+\\s*k$|^q{i}$'")
                } else {
                    "number: { min: 1, max: 100000 }".to_owned()
                };
                let _ = write!(
                    s,
                    "  - id: free_{i}\n    ask: {{ en: How much can you save?, sw: Unaweza kuweka akiba kiasi gani? }}\n    answers:\n      - {matcher}\n        reply: {{ en: \"Saving {{answer}} adds up.\", sw: \"Kuweka {{answer}} kunasaidia.\" }}\n      - keywords: [nothing, none, sifuri]\n        next: lesson_{}\n      - any: true\n    retry:\n      max_attempts: 2\n      reprompt: {{ en: Please reply with a number., sw: Tafadhali jibu kwa nambari. }}\n",
                    i - 2
                );
            }
        }
    }
    s.push_str("  - id: done\n    end: { en: \"Well done! {pre_score}/{pre_total} -> {post_score}/{post_total}\", sw: \"Hongera! {pre_score}/{pre_total} -> {post_score}/{post_total}\" }\n");
    s
}
