//! How replies are matched, on modules loaded from YAML and run through
//! the runtime: one table of (question, reply, expected choice and rule)
//! per category and language, every example of the module format's "How
//! replies are matched", and properties (no reply selects a choice it does
//! not name; filler words never make an unmatched reply match a wrong
//! choice).

use chatcourse_engine::{Effect, Input, Module, StartOptions, Status, load_module, start, step};
use chrono::{TimeZone, Utc};
use proptest::prelude::*;

/// The questions the cases below answer, each the first step of a module
/// in en, sw and fr (texts per language).
const QUESTIONS: &[(&str, &str)] = &[
    (
        "keep",
        r#"
    ask: Where is the safest place to keep savings?
    choices:
      - { en: Under the mattress, sw: Chini ya godoro, fr: Sous le matelas }
      - { en: A savings account, sw: Akaunti ya akiba, fr: Un compte d'épargne }
      - { en: With a friend, sw: Kwa rafiki, fr: Chez un ami }
"#,
    ),
    (
        "budget",
        r#"
    ask: What is a budget about?
    choices:
      - Buying what you want
      - Knowing how much you earn and spend
      - Borrowing from friends
"#,
    ),
    (
        "bank",
        r#"
    ask: What do you do with extra money?
    choices:
      - Keep it in the bank
      - Spend it at once
      - Hide it at home
      - Lend it to a neighbour
"#,
    ),
    (
        "amount",
        r#"
    ask: How much can you save each week?
    choices:
      - 100 shillings
      - 500 shillings
      - Ksh 1,000
"#,
    ),
    (
        "groups",
        r#"
    ask: Which one is a savings group?
    choices:
      - A savings account
      - A savings group
      - A loan
"#,
    ),
    (
        "amount2",
        r#"
    ask: How much can you save each week?
    choices:
      - 100 shillings
      - 500 shillings
      - 2 shillings
"#,
    ),
    (
        "bounds",
        r#"
    ask: How much do you spend on airtime a week?
    choices:
      - Less than 100 shillings
      - 100 to 500 shillings
      - More than 500 shillings
"#,
    ),
];

fn module_for(question: &str) -> Module {
    let body = QUESTIONS
        .iter()
        .find(|(name, _)| *name == question)
        .map(|(_, body)| *body)
        .unwrap_or_else(|| panic!("no question {question}"));
    let yaml = format!(
        "module: m\nname: M\ngoal: g\nversion: \"1\"\nlanguage: en\nlanguages: [en, sw, fr]\n\
         messages:\n  help: HELP TEXT\n  stopped: STOPPED\n  invalid: INVALID\n  finished: FINISHED\n  expired: EXPIRED\n\
         steps:\n  - id: q{body}\n  - id: done\n    end: DONE\n"
    );
    let loaded = load_module(&yaml);
    match loaded.module {
        Some(m) => m,
        None => panic!("module does not load: {:#?}", loaded.diagnostics),
    }
}

/// What one reply did.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// Choice (1-based) and the rule's name.
    Chose(u32, String),
    Unmatched,
    Stop,
    Help,
}

fn reply(module: &Module, lang: &str, text: &str) -> Outcome {
    let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap();
    let opts = StartOptions {
        language: Some(lang.to_owned()),
        learner_name: None,
    };
    let turn = start(module, opts, t0);
    let next = step(module, &turn.state, &Input::text(text, t0)).expect("state fits");
    if next.state.status == Status::OptedOut {
        return Outcome::Stop;
    }
    if next.messages().next() == Some("HELP TEXT") {
        return Outcome::Help;
    }
    for e in &next.effects {
        match e {
            Effect::Answer {
                choice: Some(c),
                matched_by,
                ..
            } => return Outcome::Chose(*c, matched_by.as_str().to_owned()),
            Effect::Unmatched { .. } => return Outcome::Unmatched,
            _ => {}
        }
    }
    panic!(
        "{text:?}: neither an answer nor unmatched: {:?}",
        next.effects
    )
}

/// `(question, language, reply, expected)`; expected is `"3 choice_mention"`,
/// `"-"` (matches nothing), `"STOP"` or `"HELP"`.
const CASES: &[(&str, &str, &str, &str)] = &[
    // The rules that existed before: still the same.
    ("keep", "en", "2", "2 choice_number"),
    ("keep", "en", "option 2", "2 choice_number"),
    ("keep", "en", "two", "2 choice_word"),
    ("keep", "en", "A savings account", "2 choice_text"),
    ("keep", "sw", "akaunti ya akiba", "2 choice_text"),
    ("keep", "en", "savings acount", "2 choice_partial"),
    // A single reference amid filler words.
    ("keep", "en", "i'd say 3", "3 choice_mention"),
    ("keep", "en", "3 thank you", "3 choice_mention"),
    ("keep", "en", "number 3 sir", "3 choice_mention"),
    ("keep", "en", "I think it's 2", "2 choice_mention"),
    ("keep", "en", "my answer is two", "2 choice_mention"),
    ("keep", "en", "hello, 1 please", "1 choice_mention"),
    ("keep", "sw", "ni 2", "2 choice_mention"),
    ("keep", "sw", "jibu ni 3", "3 choice_mention"),
    ("keep", "sw", "nadhani ni mbili", "2 choice_mention"),
    ("keep", "sw", "2 asante", "2 choice_mention"),
    ("keep", "fr", "je crois 1", "1 choice_mention"),
    ("keep", "fr", "je pense 3 merci", "3 choice_mention"),
    ("keep", "fr", "c'est la 2", "2 choice_mention"),
    // French number words and prefixes.
    ("keep", "fr", "deux", "2 choice_word"),
    ("keep", "fr", "trois", "3 choice_word"),
    ("keep", "fr", "un", "1 choice_word"),
    ("keep", "fr", "n°3", "3 choice_number"),
    ("keep", "fr", "N° 3", "3 choice_number"),
    ("keep", "fr", "numéro 2", "2 choice_number"),
    ("keep", "fr", "numero 2", "2 choice_number"),
    ("keep", "fr", "réponse 2", "2 choice_number"),
    ("keep", "fr", "choix 1", "1 choice_number"),
    ("keep", "fr", "numéro deux", "2 choice_word"),
    ("keep", "fr", "je choisis le numéro 3", "3 choice_mention"),
    // Ordinals.
    ("keep", "en", "third", "3 choice_ordinal"),
    ("keep", "en", "the 3rd", "3 choice_ordinal"),
    ("keep", "en", "the first one", "1 choice_ordinal"),
    ("keep", "en", "second", "2 choice_ordinal"),
    ("keep", "en", "2nd one", "2 choice_ordinal"),
    ("keep", "en", "option three", "3 choice_word"),
    ("keep", "en", "the last one", "3 choice_ordinal"),
    ("bank", "en", "the last one", "4 choice_ordinal"),
    ("keep", "sw", "ya tatu", "3 choice_ordinal"),
    ("keep", "sw", "ya kwanza", "1 choice_ordinal"),
    ("keep", "sw", "ya pili", "2 choice_ordinal"),
    ("keep", "sw", "ya mwisho", "3 choice_ordinal"),
    ("keep", "fr", "troisième", "3 choice_ordinal"),
    ("keep", "fr", "3e", "3 choice_ordinal"),
    ("keep", "fr", "la 2ème", "2 choice_ordinal"),
    ("keep", "fr", "le premier", "1 choice_ordinal"),
    ("keep", "fr", "la première", "1 choice_ordinal"),
    ("keep", "fr", "le dernier", "3 choice_ordinal"),
    ("keep", "en", "the tenth", "-"),
    // A copied list line, or a number with that same choice's text.
    (
        "budget",
        "en",
        "2. Knowing how much you earn and spend",
        "2 choice_line",
    ),
    (
        "budget",
        "en",
        "2) knowing how much you earn",
        "2 choice_line",
    ),
    ("keep", "en", "2 savings account", "2 choice_line"),
    ("keep", "sw", "2 akaunti ya akiba", "2 choice_line"),
    ("keep", "fr", "2 compte d'épargne", "2 choice_line"),
    // A number contradicted by another choice's text.
    ("keep", "en", "3 savings account", "-"),
    ("budget", "en", "1. Knowing how much you earn", "-"),
    // Partial choice text.
    ("keep", "en", "savings account", "2 choice_partial"),
    ("keep", "en", "a savings acount", "2 choice_text"),
    ("keep", "en", "my savings acount", "2 choice_partial"),
    ("keep", "en", "mattress", "1 choice_partial"),
    ("keep", "en", "the mattress please", "1 choice_partial"),
    ("keep", "en", "friend", "3 choice_partial"),
    ("keep", "en", "friends", "3 choice_partial"),
    ("keep", "sw", "akiba", "2 choice_partial"),
    ("keep", "sw", "godoro", "1 choice_partial"),
    ("keep", "sw", "rafiki", "3 choice_partial"),
    ("keep", "fr", "compte d'épargne", "2 choice_partial"),
    ("keep", "fr", "le matelas", "1 choice_partial"),
    ("keep", "fr", "un ami", "3 choice_partial"),
    ("keep", "fr", "chez des amis", "3 choice_partial"),
    ("bank", "en", "with the bank", "1 choice_partial"),
    ("bank", "en", "in the bank", "1 choice_partial"),
    ("bank", "en", "banks", "1 choice_partial"),
    ("bank", "en", "at home", "3 choice_partial"),
    ("bank", "en", "lend to my neighbor", "4 choice_partial"),
    ("groups", "en", "savings group", "2 choice_partial"),
    ("groups", "en", "group", "2 choice_partial"),
    ("groups", "en", "savings", "-"),
    ("groups", "en", "loans", "3 choice_partial"),
    ("bank", "en", "keep it under the bed", "-"),
    ("bank", "en", "spend it at the bank", "-"),
    // Amounts.
    ("amount", "en", "Ksh 500", "2 choice_amount"),
    ("amount", "en", "500/=", "2 choice_amount"),
    ("amount", "en", "500 bob", "2 choice_amount"),
    ("amount", "en", "500", "2 choice_amount"),
    ("amount", "en", "ksh500", "2 choice_amount"),
    ("amount", "en", "1000", "3 choice_amount"),
    ("amount", "en", "1,000 shillings", "3 choice_amount"),
    ("amount", "sw", "shilingi 100", "1 choice_amount"),
    ("amount", "en", "700", "-"),
    ("amount", "en", "ksh 700", "-"),
    ("amount", "en", "2", "2 choice_number"),
    ("amount2", "en", "2", "2 choice_number"),
    ("amount2", "en", "I'd say 2", "-"),
    ("amount2", "en", "500 bob", "2 choice_amount"),
    ("amount2", "sw", "shilingi 500", "2 choice_amount"),
    ("bounds", "en", "500", "-"),
    ("bounds", "en", "100", "-"),
    // Opt-out and help phrases.
    ("keep", "en", "stop it now", "STOP"),
    ("keep", "en", "please stop sending", "STOP"),
    ("keep", "en", "STOP!!", "STOP"),
    ("keep", "sw", "acha tafadhali", "STOP"),
    ("keep", "sw", "acha", "STOP"),
    ("keep", "fr", "arrêtez s'il vous plaît", "STOP"),
    ("keep", "en", "unsubscribe me", "STOP"),
    ("keep", "en", "help please", "HELP"),
    ("keep", "en", "i need help", "HELP"),
    ("keep", "sw", "nisaidie", "HELP"),
    ("keep", "sw", "msaada tafadhali", "HELP"),
    ("keep", "fr", "aidez-moi", "HELP"),
    ("keep", "fr", "aide", "HELP"),
    ("keep", "en", "don't stop", "-"),
    ("keep", "en", "never stop", "-"),
    ("keep", "en", "no stop", "-"),
    ("keep", "en", "stop 2", "-"),
    ("keep", "en", "stop spending money", "-"),
    ("keep", "en", "I don't need help", "-"),
    ("keep", "fr", "n'arrêtez pas", "-"),
    // What must stay unmatched.
    ("keep", "en", "1 or 3", "-"),
    ("keep", "en", "2,3", "-"),
    ("keep", "en", "1.5", "-"),
    ("keep", "en", "1 and 3", "-"),
    ("keep", "en", "2 3", "-"),
    ("keep", "en", "not 2", "-"),
    ("keep", "en", "no, not 2", "-"),
    ("keep", "en", "2 but maybe 3", "-"),
    ("keep", "en", "2 or the last one", "-"),
    ("keep", "sw", "si 2", "-"),
    ("keep", "sw", "sio ya kwanza", "-"),
    ("keep", "sw", "1 au 3", "-"),
    ("keep", "fr", "pas 2", "-"),
    ("keep", "fr", "ce n'est pas la 2", "-"),
    ("keep", "fr", "1 ou 3", "-"),
    ("keep", "en", "ok", "-"),
    ("keep", "en", "yes", "-"),
    ("keep", "en", "hello", "-"),
    ("keep", "en", "?", "-"),
    ("keep", "en", "", "-"),
    ("keep", "en", "   ", "-"),
    ("keep", "sw", "sawa", "-"),
    ("keep", "fr", "bonjour", "-"),
    ("keep", "en", "7", "-"),
    ("keep", "en", "i'd say 7", "-"),
    ("keep", "en", "i have 2 children", "-"),
    ("keep", "en", "in 2 weeks", "-"),
    ("keep", "en", "5k", "-"),
    ("keep", "en", "no one", "-"),
    ("keep", "en", "I don't have a savings account", "-"),
    ("keep", "sw", "sina akaunti ya akiba", "-"),
    ("keep", "fr", "je n'ai pas de compte d'épargne", "-"),
    ("keep", "en", "savings account or friend", "-"),
    ("keep", "en", "mattress friend", "-"),
    ("keep", "en", "banana", "-"),
    ("keep", "en", "the", "-"),
];

fn expected(s: &str) -> Outcome {
    match s {
        "-" => Outcome::Unmatched,
        "STOP" => Outcome::Stop,
        "HELP" => Outcome::Help,
        _ => {
            let (n, by) = s.split_once(' ').expect("`N rule`");
            Outcome::Chose(n.parse().expect("a choice number"), by.to_owned())
        }
    }
}

#[test]
fn replies_match_as_the_table_says() {
    let mut failures = Vec::new();
    for &(question, lang, text, want) in CASES {
        let module = module_for(question);
        let got = reply(&module, lang, text);
        let want = expected(want);
        if got != want {
            failures.push(format!(
                "{question}/{lang} {text:?}: got {got:?}, want {want:?}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}

/// Words a learner wraps around an answer (never a choice on their own).
const FILLERS: &[&str] = &[
    "please",
    "thanks",
    "i think",
    "maybe",
    "sir",
    "ok",
    "asante",
    "tafadhali",
    "nadhani",
    "merci",
    "je crois",
    "hello",
    "jibu",
    "ni",
    "the",
    "yes",
];

/// Every reply that selects a choice names it: its number (as digits, a
/// word or an ordinal) or words of its own text.
fn names_choice(module: &Module, choice: u32, text: &str) -> bool {
    let norm = chatcourse_engine::normalize(text);
    let count = 3;
    let number_words: &[&[&str]] = &[
        &[
            "1",
            "one",
            "moja",
            "un",
            "une",
            "first",
            "kwanza",
            "premier",
            "première",
            "1st",
            "1er",
            "1re",
        ],
        &[
            "2",
            "two",
            "mbili",
            "deux",
            "second",
            "pili",
            "deuxième",
            "2nd",
            "2e",
            "2ème",
        ],
        &[
            "3",
            "three",
            "tatu",
            "trois",
            "third",
            "troisième",
            "3rd",
            "3e",
            "last",
            "mwisho",
            "dernier",
        ],
    ];
    let _ = module;
    let words: Vec<&str> = norm
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let idx = (choice - 1) as usize;
    if idx >= count {
        return false;
    }
    let texts: [&[&str]; 3] = [
        &[
            "under", "the", "mattress", "chini", "ya", "godoro", "sous", "le", "matelas",
        ],
        &[
            "a", "savings", "account", "akaunti", "ya", "akiba", "un", "compte", "d", "épargne",
        ],
        &["with", "a", "friend", "kwa", "rafiki", "chez", "un", "ami"],
    ];
    let stem = |s: &str| s.chars().take(3).collect::<String>();
    words.iter().any(|w| {
        number_words[idx].contains(w)
            || texts[idx]
                .iter()
                .any(|t| *w == *t || (t.chars().count() >= 4 && stem(w) == stem(t)))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// No reply selects a choice whose number or text it does not contain
    /// or refer to.
    #[test]
    fn a_selected_choice_is_always_named(
        words in prop::collection::vec(
            prop::sample::select(vec![
                "1", "2", "3", "7", "one", "two", "tatu", "deux", "first", "last", "3rd", "ya",
                "the", "i", "think", "savings", "account", "mattress", "friend", "rafiki",
                "akiba", "ami", "not", "or", "please", "stop", "help", "500", "ksh", "hello",
                "bank", "money", "group", "compte", "le", "la", "ni", "jibu", "pas", "si",
            ]),
            0..6,
        ),
        lang in prop::sample::select(vec!["en", "sw", "fr"]),
    ) {
        let module = module_for("keep");
        let text = words.join(" ");
        if let Outcome::Chose(c, _) = reply(&module, lang, &text) {
            prop_assert!(names_choice(&module, c, &text), "{text:?} chose {c}");
        }
    }

    /// Adding filler words to a reply that matches nothing never makes it
    /// match a choice other than one it names.
    #[test]
    fn filler_never_makes_an_unmatched_reply_match_a_wrong_choice(
        base in prop::sample::select(vec![
            "not 2", "1 or 3", "banana", "2,3", "1.5", "si 2", "pas 2", "ok", "hello", "7",
            "savings", "1 and 3", "no", "maybe", "3 savings account", "i have 2 children",
        ]),
        before in prop::sample::subsequence(FILLERS.to_vec(), 0..3),
        after in prop::sample::subsequence(FILLERS.to_vec(), 0..3),
        lang in prop::sample::select(vec!["en", "sw", "fr"]),
    ) {
        let module = module_for("groups");
        prop_assume!(reply(&module, lang, base) == Outcome::Unmatched);
        let text = format!("{} {base} {}", before.join(" "), after.join(" "));
        let got = reply(&module, lang, &text);
        prop_assert!(
            matches!(got, Outcome::Unmatched | Outcome::Stop | Outcome::Help),
            "{text:?} -> {got:?}"
        );
    }
}
