//! A valid module compiles to the expected IR.

use chatcourse_engine::module::{Lang, Matcher, Part, StepKind, Template, Text, Var};
use chatcourse_engine::{QuizKind, Severity, load_module};

const MODULE: &str = r#"
module: saving-basics
name:
  en: Saving Basics
  sw: Misingi ya Akiba
goal: help you build a savings habit
version: 1
language: en
languages: [en, sw]
keywords:
  stop: [STOP, Acha]
retry:
  max_attempts: 2
timeouts:
  remind_after: 1d
  reminder: Still there, {learner_name}?
  expire_after: 7d

steps:
  - id: welcome
    ask: Welcome to {module_name}! Reply 1 to start.
    choices: [Start]
    list_choices: false

  - id: pre_q1
    quiz: pre
    ask: Where should savings go?
    choices:
      - Under the mattress
      - text: { en: A savings account, sw: Akaunti ya akiba }
        aliases: [Bank, " M-Pesa "]
        reply: Good thinking.
      - With a friend
    correct: [2]
    right: Correct!
    wrong: Not quite.

  - id: pre_result
    say: You scored {score}/{total}.

  - id: amount
    ask: How much can you save each week?
    answers:
      - number: { min: 1, max: 100000 }
        reply: Saving {answer} a week adds up.
        next: lesson_1
      - keywords: [Nothing, none]
        next: lesson_small
      - regex: '^\d+\s*k$'
      - any: true
        next: lesson_1
    retry:
      reprompt: Please reply with a number.
      on_exhausted: lesson_1
    timeouts:
      remind_after: 2h

  - id: lesson_small
    say: Even a little helps.

  - id: lesson_1
    say: Put aside a little every week. {{Literal}} braces.

  - id: post_q1
    quiz: post
    ask: How often should you save?
    choices: [Rarely, Regularly]
    correct: Regularly

  - id: done
    end: Well done, {learner_name}! From {pre_score}/{pre_total} to {score}/{total}.
"#;

fn lit(t: &Template) -> String {
    t.parts
        .iter()
        .map(|p| match p {
            Part::Lit(s) => s.clone(),
            Part::Var(v) => format!("<{v:?}>"),
            Part::VarOr(v, d) => format!("<{v:?}|{d}>"),
        })
        .collect()
}

fn en(t: &Text) -> String {
    lit(t.get(&Lang("en".into())))
}

#[test]
fn a_valid_module_compiles_to_the_expected_ir() {
    let result = load_module(MODULE);
    let errors: Vec<_> = result
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let m = result.module.expect("module loads");

    assert_eq!(m.id, "saving-basics");
    assert_eq!(m.name, "Saving Basics");
    assert_eq!(lit(m.name_text.get(&Lang("sw".into()))), "Misingi ya Akiba");
    assert_eq!(m.version, "1");
    assert_eq!(m.languages, vec![Lang("en".into()), Lang("sw".into())]);
    assert_eq!(m.keywords.stop, vec!["stop", "acha"]);
    assert_eq!(m.keywords.help, vec!["help"]);
    assert_eq!(m.keywords.restart, vec!["restart"]);
    assert_eq!(m.default_max_attempts, 2);
    assert_eq!((m.pre_quiz_total, m.post_quiz_total), (1, 1));
    assert_eq!(m.steps.len(), 8);
    assert_eq!(m.steps[0].line, 20);

    let idx = |id: &str| m.step_by_id(id).unwrap().index();

    // welcome: falls through to the step below.
    let StepKind::Ask(welcome) = &m.steps[0].kind else {
        panic!()
    };
    assert_eq!(welcome.next.index(), 1);
    assert_eq!(welcome.retry.on_exhausted.index(), 1);
    assert_eq!(welcome.retry.max_attempts, 2);
    assert!(!welcome.list_choices);
    assert!(welcome.quiz.is_none());
    assert_eq!(
        en(&welcome.text),
        "Welcome to <ModuleName>! Reply 1 to start."
    );

    // pre_q1: a quiz question with a translated, aliased choice.
    let StepKind::Ask(q) = &m.steps[1].kind else {
        panic!()
    };
    let quiz = q.quiz.as_ref().unwrap();
    assert_eq!(quiz.quiz, QuizKind::Pre);
    assert_eq!(quiz.correct, vec![1]);
    assert_eq!(q.choices.len(), 3);
    assert_eq!(q.choices[1].aliases, vec!["bank", "m-pesa"]);
    assert_eq!(
        lit(q.choices[1].text.get(&Lang("sw".into()))),
        "Akaunti ya akiba"
    );
    assert_eq!(en(q.right.as_ref().unwrap()), "Correct!");

    // pre_result: {score} is the quiz of the nearest question above.
    let StepKind::Say { text, next } = &m.steps[2].kind else {
        panic!()
    };
    assert_eq!(
        text.get(&Lang("en".into())).parts[1],
        Part::Var(Var::Score(QuizKind::Pre))
    );
    assert_eq!(next.index(), 3);

    // amount: free-text rules, resolved branches, compiled regex, merged timeouts.
    let StepKind::Ask(a) = &m.steps[idx("amount")].kind else {
        panic!()
    };
    assert_eq!(a.answers.len(), 4);
    assert!(matches!(
        a.answers[0].matcher,
        Matcher::Number {
            min: Some(1.0),
            max: Some(100000.0)
        }
    ));
    assert_eq!(a.answers[0].next.unwrap().index(), idx("lesson_1"));
    let Matcher::Keywords(words) = &a.answers[1].matcher else {
        panic!()
    };
    assert_eq!(words, &vec!["nothing".to_owned(), "none".to_owned()]);
    assert_eq!(a.answers[1].next.unwrap().index(), idx("lesson_small"));
    let Matcher::Regex(re) = &a.answers[2].matcher else {
        panic!()
    };
    assert!(re.is_match("5 k") && !re.is_match("five"));
    assert!(a.answers[2].next.is_none());
    assert!(matches!(a.answers[3].matcher, Matcher::Any));
    assert_eq!(a.next.index(), idx("lesson_small"));
    assert_eq!(a.retry.on_exhausted.index(), idx("lesson_1"));
    assert_eq!(
        en(a.retry.reprompt.as_ref().unwrap()),
        "Please reply with a number."
    );
    let t = a.timeouts.as_ref().unwrap();
    assert_eq!(t.remind_after, Some(chrono::Duration::hours(2)));
    assert_eq!(t.expire_after, Some(chrono::Duration::days(7)));
    assert_eq!(t.max_reminders, 1);
    assert_eq!(
        en(t.reminder.as_ref().unwrap()),
        "Still there, <LearnerName>?"
    );
    let module_t = m.timeouts.as_ref().unwrap();
    assert_eq!(module_t.remind_after, Some(chrono::Duration::days(1)));

    // Literal braces.
    let StepKind::Say { text, .. } = &m.steps[idx("lesson_1")].kind else {
        panic!()
    };
    assert_eq!(en(text), "Put aside a little every week. {Literal} braces.");

    // post_q1: `correct` by choice text.
    let StepKind::Ask(post) = &m.steps[idx("post_q1")].kind else {
        panic!()
    };
    assert_eq!(post.quiz.as_ref().unwrap().correct, vec![1]);

    // done: {score} after a post question is the post-quiz.
    let StepKind::End { text: Some(text) } = &m.steps[7].kind else {
        panic!()
    };
    assert_eq!(
        en(text),
        "Well done, <LearnerName>! From <Score(Pre)>/<Total(Pre)> to <Score(Post)>/<Total(Post)>."
    );

    // Defaults.
    assert_eq!(en(&m.messages.invalid), "Sorry, I did not understand that.");
    assert!(m.messages.expired.is_some());
}

#[test]
fn missing_translations_are_warnings_once_per_text_and_language() {
    let result = load_module(MODULE);
    let warnings: Vec<_> = result
        .diagnostics
        .iter()
        .filter(|d| d.code == "missing-translation")
        .collect();
    assert!(result.module.is_some());
    // Every text but `name` and one choice lacks `sw`; each warned once.
    let mut spans: Vec<_> = warnings.iter().map(|d| d.span.clone()).collect();
    spans.dedup();
    assert_eq!(spans.len(), warnings.len());
    assert!(warnings.len() > 10);
    assert!(warnings.iter().all(|d| d.severity == Severity::Warning));
}

#[test]
fn the_content_hash_is_the_sha256_of_the_source() {
    use sha2::Digest;
    let m = load_module(MODULE).module.unwrap();
    let expected: String = sha2::Sha256::digest(MODULE.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(m.content_hash, expected);
    assert_eq!(
        load_module(MODULE).module.unwrap().content_hash,
        m.content_hash
    );
    let changed = MODULE.replace("version: 1", "version: 2");
    assert_ne!(
        load_module(&changed).module.unwrap().content_hash,
        m.content_hash
    );
}

#[test]
fn a_last_ask_step_may_omit_next_when_every_way_on_is_named() {
    let src = "module: m\nname: M\ngoal: g\nversion: 1\nlanguage: en\nsteps:\n  - id: done\n    end: Bye\n  - id: q\n    ask: Go?\n    choices:\n      - text: Yes\n        next: done\n    retry:\n      on_exhausted: done\n";
    let result = load_module(src);
    let m = result
        .module
        .unwrap_or_else(|| panic!("{:#?}", result.diagnostics));
    let StepKind::Ask(q) = &m.steps[1].kind else {
        panic!()
    };
    assert_eq!(q.next.index(), 0);
    // Nothing leads to `q`, so it is unreachable (a warning, not an error).
    assert_eq!(result.diagnostics.len(), 1);
    assert_eq!(result.diagnostics[0].code, "unreachable-step");
}

#[test]
fn every_error_prevents_the_module_and_diagnostics_are_sorted() {
    let src = MODULE
        .replace("next: lesson_small", "next: lesson_smal")
        .replace("{answer}", "{answr}");
    let result = load_module(&src);
    assert!(result.module.is_none());
    let codes: Vec<_> = result
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.code)
        .collect();
    assert_eq!(codes, vec!["unknown-template-variable", "unknown-step"]);
    assert!(
        result
            .diagnostics
            .windows(2)
            .all(|w| w[0].span.start <= w[1].span.start)
    );
}

/// A question kept under its id with another right answer is compared
/// with the previous version: `correct-changed`; reordering the choices or
/// rewording other texts is not.
#[test]
fn a_changed_right_answer_under_the_same_id_is_a_warning() {
    use chatcourse_engine::load_module_after;
    let v1 = "module: q\nname: Q\ngoal: g\nversion: \"1\"\nlanguage: en\nsteps:\n  - id: pre_q1\n    quiz: pre\n    ask: Where?\n    choices: [Pocket, Bank, Friend]\n    correct: 2\n  - id: done\n    end: Bye.\n";
    let previous = load_module(v1).module.unwrap();
    let codes = |src: &str| -> Vec<(&'static str, u32, u32)> {
        load_module_after(src, &previous)
            .diagnostics
            .iter()
            .map(|d| (d.code, d.line, d.column))
            .collect()
    };
    assert_eq!(codes(v1), []);
    // Reordered, the same right answer: comparable.
    assert_eq!(
        codes(&v1.replace(
            "[Pocket, Bank, Friend]\n    correct: 2",
            "[Bank, Pocket, Friend]\n    correct: 1"
        )),
        []
    );
    assert_eq!(codes(&v1.replace("Where?", "Where is it safest?")), []);
    // Another right answer under the same id.
    assert_eq!(
        codes(&v1.replace("correct: 2", "correct: 3")),
        [("correct-changed", 11, 14)]
    );
    let d =
        &load_module_after(&v1.replace("correct: 2", "correct: [2, 3]"), &previous).diagnostics[0];
    assert!(
        d.message.contains("`bank`") && d.message.contains("`friend`"),
        "{}",
        d.message
    );
    assert_eq!(d.severity, Severity::Warning);
    // A new id: a new question, nothing to compare.
    assert_eq!(
        codes(
            &v1.replace("pre_q1", "pre_q1_v2")
                .replace("correct: 2", "correct: 3")
        ),
        []
    );
}
