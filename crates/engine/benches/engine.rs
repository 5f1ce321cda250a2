//! Engine throughput, printed as plain figures (`cargo bench -p
//! chatcourse-engine`). A learner answers a 50-question module over and
//! over (restarting at the end), one turn per reply; the baselines, timed in
//! the same run, are `normalize` alone on the same replies and cloning the
//! session state, so the ratios stay meaningful on any machine.
// The engine reads no clock (crates/engine/clippy.toml); its benchmark does.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use chatcourse_engine::matching::match_choice;
use chatcourse_engine::module::{Ask, StepKind};
use chatcourse_engine::{Input, Module, StartOptions, Status, load_module, normalize, start, step};
use chrono::{TimeZone, Utc};

mod validate;

const QUESTIONS: usize = 50;
const TARGET_TURNS_PER_SEC: f64 = 500_000.0;
const TARGET_MATCHES_PER_SEC: f64 = 1_000_000.0;

fn main() {
    let module = bench_module();
    let replies = replies();

    let (turns, elapsed) = time(|| run_turns(&module, &replies, 400_000));
    let turns_per_sec = turns as f64 / elapsed.as_secs_f64();

    let (norms, norm_elapsed) = time(|| run_normalize(&replies, 2_000_000));
    let norms_per_sec = norms as f64 / norm_elapsed.as_secs_f64();

    let (clones, clone_elapsed) = time(|| run_clones(&module, 2_000_000));
    let clones_per_sec = clones as f64 / clone_elapsed.as_secs_f64();

    println!("engine: {QUESTIONS}-question module, one core");
    println!(
        "  turns (start/step)    {:>12.0} /s  ({:.0} ns each)",
        turns_per_sec,
        1e9 / turns_per_sec
    );
    println!(
        "  baseline: normalize   {:>12.0} /s  ({:.0} ns each)",
        norms_per_sec,
        1e9 / norms_per_sec
    );
    println!(
        "  baseline: state clone {:>12.0} /s  ({:.0} ns each)",
        clones_per_sec,
        1e9 / clones_per_sec
    );
    println!(
        "  a turn costs {:.1}x a normalize and {:.1}x a state clone",
        norms_per_sec / turns_per_sec,
        clones_per_sec / turns_per_sec
    );
    let verdict = if turns_per_sec >= TARGET_TURNS_PER_SEC {
        "meets"
    } else {
        "MISSES"
    };
    println!("  {verdict} the target of {TARGET_TURNS_PER_SEC:.0} turns/s");
    println!();
    run_matching();
    println!();
    validate::run();
}

/// Replies matched per second against one 4-choice question: normalise the
/// reply, then `match_choice` with the choices' normalised texts (what the
/// runtime does for every reply on a question with choices).
fn run_matching() {
    let module = load_module(
        "module: m\nname: M\ngoal: g\nversion: \"1\"\nlanguage: en\nlanguages: [en, sw]\nsteps:\n\
         \x20 - id: q\n    ask: Where do you keep your savings?\n    choices:\n\
         \x20     - Under the mattress\n      - A savings account at the bank\n\
         \x20     - text: With a friend or relative\n        aliases: [rafiki]\n\
         \x20     - { text: { en: In a savings group, sw: Katika chama cha akiba } }\n\
         \x20 - id: done\n    end: Bye\n",
    )
    .module
    .expect("matching bench module loads");
    let StepKind::Ask(ask) = &module.steps[0].kind else {
        panic!("first step asks");
    };
    let ask: &Ask = ask;
    let texts: Vec<Vec<String>> = ask
        .choices
        .iter()
        .enumerate()
        .map(|(i, _)| choice_texts(i))
        .collect();
    let replies = [
        "2",
        " 3. ",
        "option 4",
        "two",
        "Under the mattress",
        "rafiki",
        "savings acount at the bank",
        "i'd say 3",
        "the last one",
        "savings group",
        "banana",
        "2.Knowing how much you earn",
        "not 2",
        "ok",
        "Ksh 500",
        "ya kwanza",
    ];
    let n: u64 = 2_000_000;
    let mut hits = 0u64;
    let t = Instant::now();
    for i in 0..n {
        let reply = black_box(replies[i as usize % replies.len()]);
        let norm = normalize(reply);
        let found = match_choice(&norm, &ask.choices, |c, f| {
            for text in &texts[c] {
                f(text);
            }
        });
        hits += u64::from(black_box(found).is_some());
    }
    let per_sec = n as f64 / t.elapsed().as_secs_f64();
    // Baseline on the same replies: normalising them alone.
    let t = Instant::now();
    for i in 0..n {
        black_box(normalize(black_box(replies[i as usize % replies.len()])));
    }
    let norms_per_sec = n as f64 / t.elapsed().as_secs_f64();
    println!(
        "matching: a 4-choice question, {} kinds of reply, one core",
        replies.len()
    );
    println!(
        "  replies matched       {:>12.0} /s  ({:.0} ns each, {:.0}% selected a choice)",
        per_sec,
        1e9 / per_sec,
        100.0 * hits as f64 / n as f64
    );
    println!(
        "  a match costs {:.1}x normalizing the same reply",
        norms_per_sec / per_sec
    );
    let verdict = if per_sec >= TARGET_MATCHES_PER_SEC {
        "meets"
    } else {
        "MISSES"
    };
    println!("  {verdict} the target of {TARGET_MATCHES_PER_SEC:.0} replies/s");
}

/// The normalised texts of the bench question's choices, every language.
fn choice_texts(i: usize) -> Vec<String> {
    let texts: &[&str] = match i {
        0 => &["Under the mattress"],
        1 => &["A savings account at the bank"],
        2 => &["With a friend or relative"],
        _ => &["In a savings group", "Katika chama cha akiba"],
    };
    texts.iter().map(|t| normalize(t)).collect()
}

fn time(f: impl FnOnce() -> u64) -> (u64, Duration) {
    let t = Instant::now();
    let n = f();
    (n, t.elapsed())
}

/// A module like the real ones: enrolment, 25 pre-quiz questions, lessons,
/// 25 post-quiz questions with feedback, a free-text question, an end
/// message with scores, and module-wide reminders.
fn bench_module() -> Module {
    let mut y = String::from(
        "module: bench\nname: Bench\ngoal: measure the engine\nversion: \"1\"\nlanguage: en\n\
         timeouts:\n  remind_after: 1d\n  reminder: Hello {learner_name}, reply to continue.\n  expire_after: 7d\n\
         steps:\n  - id: welcome\n    ask: Welcome {learner_name} to {module_name}! Reply 1 to start.\n    choices: [Start]\n    list_choices: false\n",
    );
    for i in 0..QUESTIONS {
        let quiz = if i < QUESTIONS / 2 { "pre" } else { "post" };
        if i == QUESTIONS / 2 {
            y.push_str(
                "  - id: lesson\n    say: Pre-quiz {pre_score}/{pre_total}. A budget is a plan for your money.\n\
                 \x20 - id: income\n    ask: How much do you earn in a week?\n    answers:\n      - number: { min: 1, max: 1000000 }\n        reply: Saving some of {answer} is a start.\n      - any: true\n",
            );
        }
        y.push_str(&format!(
            "  - id: q{i}\n    quiz: {quiz}\n    ask: Question {i}, which is right?\n    choices:\n      - Under the mattress\n      - A savings account\n      - text: With a friend\n        aliases: [friend, rafiki]\n    correct: 2\n    right: Correct!\n    wrong: Not quite.\n"
        ));
    }
    y.push_str("  - id: done\n    end: Well done {learner_name}! {pre_score}/{pre_total} then {post_score}/{post_total}.\n");
    let loaded = load_module(&y);
    match loaded.module {
        Some(m) => m,
        None => panic!("bench module does not load: {:#?}", loaded.diagnostics),
    }
}

/// What the learner types, cycled: mostly numbers, some messy forms, texts,
/// typos and invalid replies.
fn replies() -> Vec<String> {
    [
        "2",
        "2",
        "1",
        " 2. ",
        "option 2",
        "two",
        "a savings account",
        "friend",
        "banana",
        "3",
        "2",
        "savings acount",
        "HELP",
        "2",
        "١",
        "5000",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect()
}

fn run_turns(module: &Module, replies: &[String], turns: u64) -> u64 {
    let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let opts = StartOptions {
        language: None,
        learner_name: Some("Amina".into()),
    };
    let mut turn = start(module, opts, t0);
    let mut done = 1;
    let mut i = 0;
    while done < turns {
        let text = if turn.state.status == Status::Active {
            replies[i % replies.len()].clone()
        } else {
            "restart".to_owned()
        };
        i += 1;
        let input = Input::Text {
            text,
            at: t0 + chrono::Duration::seconds(i as i64),
        };
        turn = step(module, &turn.state, &input).expect("bench state fits");
        black_box(&turn.effects);
        done += 1;
    }
    done
}

fn run_normalize(replies: &[String], n: u64) -> u64 {
    for i in 0..n {
        black_box(normalize(black_box(&replies[i as usize % replies.len()])));
    }
    n
}

fn run_clones(module: &Module, n: u64) -> u64 {
    let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let mut turn = start(module, StartOptions::default(), t0);
    // A state midway through the module, with answered questions.
    for k in 0..30 {
        let input = Input::Text {
            text: "2".into(),
            at: t0 + chrono::Duration::seconds(k),
        };
        turn = step(module, &turn.state, &input).expect("fits");
    }
    for _ in 0..n {
        black_box(black_box(&turn.state).clone());
    }
    n
}
