use super::testkit::*;
use super::*;
use crate::module::Matcher;

/// A session driven by a test, one hour between inputs by default.
struct Session<'m> {
    module: &'m Module,
    turn: Turn,
    now: i64,
}

impl<'m> Session<'m> {
    fn start(module: &'m Module) -> Self {
        Self::start_with(module, StartOptions::default())
    }

    fn start_with(module: &'m Module, opts: StartOptions) -> Self {
        Session {
            module,
            turn: start(module, opts, at(0)),
            now: 0,
        }
    }

    fn msgs(&self) -> Vec<&str> {
        self.turn.messages().collect()
    }

    fn state(&self) -> &State {
        &self.turn.state
    }

    /// The learner writes `text` one hour after the previous input.
    fn reply(&mut self, text: &str) -> Vec<String> {
        self.now += 1;
        self.input(Input::text(text, at(self.now)))
    }

    fn wake(&mut self, hour: i64) -> Vec<String> {
        self.now = hour;
        self.input(Input::Wake { at: at(hour) })
    }

    fn input(&mut self, input: Input) -> Vec<String> {
        self.turn = step(self.module, &self.turn.state, &input).expect("state fits module");
        self.turn.messages().map(str::to_owned).collect()
    }

    fn answers(&self) -> Vec<(Option<bool>, MatchedBy, bool)> {
        self.turn
            .effects
            .iter()
            .filter_map(|e| match e {
                Effect::Answer {
                    correct,
                    matched_by,
                    typo,
                    ..
                } => Some((*correct, *matched_by, *typo)),
                _ => None,
            })
            .collect()
    }
}

fn quiz_module() -> Module {
    module()
        .ask(
            "welcome",
            ask(t("Welcome {learner_name}! Reply 1 to start."))
                .choices(&["Start"])
                .unlisted(),
        )
        .ask(
            "pre_q1",
            ask(t("Where do you keep savings?"))
                .choices(&["Mattress", "Savings account", "Friend"])
                .quiz(QuizKind::Pre, &[2])
                .feedback("Correct!", "Not quite."),
        )
        .say("lesson", t("Save a little every week."))
        .say("lesson_2", t("Every week counts."))
        .ask(
            "post_q1",
            ask(t("How often should you save?"))
                .choices(&["Rarely", "Regularly"])
                .quiz(QuizKind::Post, &[2]),
        )
        .end(
            "done",
            Some("Done {learner_name}: {pre_score}/{pre_total} then {score}/{total}."),
        )
        .build()
}

#[test]
fn start_sends_until_the_first_waiting_step() {
    let m = quiz_module();
    let s = Session::start_with(
        &m,
        StartOptions {
            language: None,
            learner_name: Some(" Amina ".into()),
        },
    );
    assert_eq!(s.msgs(), ["Welcome Amina! Reply 1 to start."]);
    assert_eq!(s.state().status, Status::Active);
    assert_eq!(s.state().step, "welcome");
    assert_eq!(s.state().module_hash, "hash-1");
    assert_eq!(s.state().learner_name.as_deref(), Some("Amina"));
    assert_eq!(s.state().waiting_since, Some(at(0)));
    assert_eq!(s.turn.wake_at(), None, "no timeouts configured");
}

#[test]
fn prompts_list_choices_and_say_chains_go_out_in_one_turn() {
    let m = quiz_module();
    let mut s = Session::start(&m);
    assert_eq!(
        s.reply("1"),
        [
            "Where do you keep savings?\n1. Mattress\n2. Savings account\n3. Friend\nReply 1, 2 or 3."
        ]
    );
    assert_eq!(
        s.reply("2"),
        [
            "Correct!",
            "Save a little every week.",
            "Every week counts.",
            "How often should you save?\n1. Rarely\n2. Regularly\nReply 1 or 2."
        ]
    );
    assert_eq!(s.reply("Regularly"), ["Done : 1/1 then 1/1."]);
    assert_eq!(s.state().status, Status::Completed);
    assert_eq!(s.state().step, "done");
    assert!(s.turn.effects.contains(&Effect::Completed));
}

#[test]
fn messy_replies_select_choices() {
    let m = quiz_module();
    for reply in [
        "1", "1.", "1)", "(1)", "#1", " One ", "option 1", "no. 1", "jibu 1", "moja", "\u{0661}",
        "\u{FF11}", "start", "START!", "strat",
    ] {
        let mut s = Session::start(&m);
        s.reply(reply);
        assert_eq!(s.state().step, "pre_q1", "{reply:?} should select Start");
    }
}

#[test]
fn quiz_answers_are_recorded_and_scored() {
    let m = quiz_module();
    let mut s = Session::start(&m);
    s.reply("1");
    s.reply("mattress");
    assert_eq!(s.answers(), [(Some(false), MatchedBy::ChoiceText, false)]);
    let Some(Effect::Answer {
        step_id,
        quiz,
        question,
        answer,
        choice,
        attempt,
        ..
    }) = s.turn.effects.first()
    else {
        panic!("answer first: {:?}", s.turn.effects)
    };
    assert_eq!(step_id, "pre_q1");
    assert_eq!(*quiz, Some(QuizKind::Pre));
    assert_eq!(question, "Where do you keep savings?");
    assert_eq!(answer, "mattress");
    assert_eq!(*choice, Some(1));
    assert_eq!(*attempt, 1);
    assert!(s.turn.effects.contains(&Effect::Score {
        quiz: QuizKind::Pre,
        score: 0,
        total: 1
    }));
    assert_eq!(
        s.msgs()[0],
        "Not quite.",
        "a wrong choice is an answer, not an attempt"
    );
    assert_eq!(s.state().step, "post_q1");
    assert_eq!(s.state().pre.correct, 0);
    assert!(s.state().pre.answered.contains("pre_q1"));
}

#[test]
fn keyword_precedence_stop_restart_help_then_choices() {
    // A step whose choices are the keywords themselves: keywords still win.
    let m = module()
        .ask("q", ask(t("Pick")).choices(&["Stop", "Help", "Restart"]))
        .end("done", None)
        .build();
    let mut s = Session::start(&m);
    assert_eq!(
        s.reply("help"),
        [
            "HELP TEXT",
            "Pick\n1. Stop\n2. Help\n3. Restart\nReply 1, 2 or 3."
        ]
    );
    assert_eq!(s.state().attempts, 0, "HELP does not use an attempt");
    assert_eq!(
        s.reply("restart"),
        ["Pick\n1. Stop\n2. Help\n3. Restart\nReply 1, 2 or 3."]
    );
    assert!(s.turn.effects.contains(&Effect::Restarted));
    assert_eq!(s.reply("STOP"), ["STOPPED TEXT"]);
    assert_eq!(s.state().status, Status::OptedOut);
    assert!(s.answers().is_empty(), "STOP is never an answer");
    assert!(s.turn.effects.contains(&Effect::OptedOut));
}

#[test]
fn misspelt_keywords_count_only_when_the_step_does_not_accept_the_reply() {
    let m = module()
        .ask("q", ask(t("Pick")).choices(&["Shop", "Bank"]))
        .ask("free", ask(t("Anything?")).answer(rule(Matcher::Any)))
        .end("done", None)
        .build();
    let mut s = Session::start(&m);
    s.reply("shop");
    assert_eq!(
        s.state().step,
        "free",
        "`shop` is a choice, not a misspelt STOP"
    );
    s.reply("stpo");
    assert_eq!(s.state().status, Status::Completed, "`any` accepts stpo");

    let mut s = Session::start(&m);
    assert_eq!(s.reply("stpo"), ["STOPPED TEXT"]);
    assert_eq!(s.state().status, Status::OptedOut);
    let mut s = Session::start(&m);
    assert_eq!(s.reply("hepl")[0], "HELP TEXT");
    assert_eq!(s.reply("don't stop")[0], "INVALID TEXT");
    assert_eq!(s.state().status, Status::Active);
}

#[test]
fn unmatched_replies_use_attempts_then_go_to_on_exhausted() {
    let m = module()
        .ask(
            "q",
            ask(t("Pick")).choices(&["A", "B"]).retry(
                3,
                Some("Reply 1 or 2 ({attempts_left} left)."),
                Some("fallback"),
            ),
        )
        .end("done", Some("normal end"))
        .end("fallback", Some("fallback end"))
        .build();
    let mut s = Session::start(&m);
    let prompt = "Pick\n1. A\n2. B\nReply 1 or 2.";
    assert_eq!(s.reply("banana"), ["Reply 1 or 2 (2 left).", prompt]);
    assert_eq!(s.state().attempts, 1);
    assert_eq!(s.reply(""), ["Reply 1 or 2 (1 left).", prompt]);
    assert!(matches!(
        s.turn.effects[0],
        Effect::Unmatched {
            attempt: 2,
            attempts_left: 1,
            ..
        }
    ));
    assert_eq!(s.reply("7"), ["INVALID TEXT", "fallback end"]);
    assert_eq!(s.state().status, Status::Completed);
    assert_eq!(s.state().step, "fallback");
}

#[test]
fn exhausted_quiz_question_counts_as_not_correct() {
    let m = module()
        .ask(
            "q",
            ask(t("Q?"))
                .choices(&["A", "B"])
                .quiz(QuizKind::Pre, &[1])
                .retry(1, None, None),
        )
        .end("done", Some("{pre_score}/{pre_total}"))
        .build();
    let mut s = Session::start(&m);
    assert_eq!(s.reply("zzz"), ["INVALID TEXT", "0/1"]);
    assert_eq!(s.answers(), [(Some(false), MatchedBy::Exhausted, false)]);
    assert!(s.state().pre.answered.contains("q"));
}

#[test]
fn answers_rules_in_order_with_replies_and_branches() {
    let m = module()
        .ask(
            "amount",
            ask(t("How much?"))
                .answer(
                    rule(Matcher::Number {
                        min: Some(1.0),
                        max: Some(100_000.0),
                    })
                    .reply("Saving {answer} adds up.")
                    .next("big"),
                )
                .answer(
                    rule(keywords(&["nothing", "none", "sifuri"]))
                        .reply("Fine.")
                        .next("small"),
                )
                .answer(rule(Matcher::Regex(regex::Regex::new(r"^\d+\s*k$").unwrap())).next("big"))
                .answer(rule(Matcher::Any).next("small")),
        )
        .end("big", Some("big"))
        .end("small", Some("small"))
        .build();
    let cases: &[(&str, &[&str], MatchedBy)] = &[
        (
            "Ksh 1,500",
            &["Saving Ksh 1,500 adds up.", "big"],
            MatchedBy::Number,
        ),
        ("nothing", &["Fine.", "small"], MatchedBy::Keyword),
        ("nothnig really", &["Fine.", "small"], MatchedBy::Keyword),
        ("5K", &["big"], MatchedBy::Regex),
        ("0", &["small"], MatchedBy::Any),
        ("\u{1F44D}", &["small"], MatchedBy::Any),
    ];
    for (reply, want, by) in cases {
        let mut s = Session::start(&m);
        assert_eq!(s.reply(reply), *want, "{reply:?}");
        assert_eq!(s.answers()[0].1, *by, "{reply:?}");
        assert_eq!(s.answers()[0].0, None, "not a quiz");
    }
    let mut s = Session::start(&m);
    assert_eq!(s.reply("   ")[0], "INVALID TEXT", "blank is not `any`");
}

#[test]
fn choice_branches_aliases_and_replies() {
    let m = module()
        .ask(
            "q",
            ask(t("Need?"))
                .choice(choice(t("Food")))
                .choice(
                    choice(t("A new phone"))
                        .aliases(&["simu"])
                        .reply("A phone can wait.")
                        .next("phone"),
                )
                .next("after"),
        )
        .end("phone", Some("phone lesson"))
        .end("after", Some("after"))
        .build();
    let mut s = Session::start(&m);
    assert_eq!(s.reply("Simu"), ["A phone can wait.", "phone lesson"]);
    assert_eq!(s.answers(), [(None, MatchedBy::Alias, false)]);
    let mut s = Session::start(&m);
    assert_eq!(
        s.reply("a new phnoe"),
        ["A phone can wait.", "phone lesson"]
    );
    assert_eq!(s.answers(), [(None, MatchedBy::ChoiceText, true)]);
    let mut s = Session::start(&m);
    assert_eq!(s.reply("1"), ["after"]);
    let mut s = Session::start(&m);
    assert_eq!(
        s.reply("3")[0],
        "INVALID TEXT",
        "out-of-range number is not a choice"
    );
}

#[test]
fn ambiguous_typo_selects_nothing() {
    let m = module()
        .ask("q", ask(t("Pick")).choices(&["Cart", "Card"]))
        .end("done", None)
        .build();
    let mut s = Session::start(&m);
    assert_eq!(s.reply("carx")[0], "INVALID TEXT");
}

#[test]
fn restart_resets_scores_and_questions_count_once() {
    let m = module()
        .ask(
            "q1",
            ask(t("Q1")).choices(&["A", "B"]).quiz(QuizKind::Pre, &[1]),
        )
        .end("done", Some("{pre_score}/{pre_total}"))
        .build();
    let mut s = Session::start(&m);
    s.reply("1");
    assert_eq!(s.state().pre.correct, 1);
    s.reply("restart");
    assert_eq!(
        s.state().pre,
        QuizProgress::default(),
        "RESTART resets scores"
    );
    assert_eq!(s.state().step, "q1");
    s.reply("1");
    assert_eq!(s.state().pre.correct, 1, "counted once after restart");

    // Answering the same question twice without restart counts once.
    let m = module()
        .ask(
            "q1",
            ask(t("Q1")).choices(&["A", "B"]).quiz(QuizKind::Pre, &[2]),
        )
        .ask(
            "again",
            ask(t("Again?"))
                .choice(choice(t("Yes")).next("q1"))
                .choice(choice(t("No"))),
        )
        .end("done", Some("{pre_score}/{pre_total}"))
        .build();
    let mut s = Session::start(&m);
    s.reply("1"); // wrong first
    s.reply("yes");
    s.reply("2"); // right the second time: not counted
    assert_eq!(s.state().pre.correct, 0);
    assert!(
        s.answers()[0].0 == Some(true),
        "still recorded as a correct answer"
    );
    assert_eq!(s.reply("no"), ["0/1"]);
}

#[test]
fn finished_and_opted_out_sessions() {
    let m = module()
        .ask("q", ask(t("Go?")).choices(&["Yes"]))
        .end("done", Some("bye"))
        .build();
    let mut s = Session::start(&m);
    s.reply("1");
    assert_eq!(s.state().status, Status::Completed);
    assert_eq!(s.reply("hello"), ["FINISHED TEXT"]);
    assert_eq!(s.reply("1"), ["FINISHED TEXT"]);
    assert_eq!(s.reply("restart"), ["Go?\n1. Yes\nReply 1."]);
    assert_eq!(s.state().status, Status::Active);

    s.reply("stop");
    assert_eq!(s.state().status, Status::OptedOut);
    assert!(s.reply("hello").is_empty(), "opted out: silence");
    assert!(s.reply("help").is_empty());
    assert!(s.reply("stop").is_empty());
    assert_eq!(s.reply("RESTART"), ["Go?\n1. Yes\nReply 1."]);
    assert_eq!(s.state().status, Status::Active);
    s.reply("1");
    assert_eq!(
        s.reply("stop"),
        ["STOPPED TEXT"],
        "STOP after completion opts out"
    );
    assert_eq!(s.state().status, Status::OptedOut);
}

#[test]
fn language_fallback_to_base() {
    let m = module()
        .languages(&["en", "sw"])
        .ask(
            "q",
            ask(tr(&[("en", "Ready?"), ("sw", "Tayari?")]))
                .choice(choice(tr(&[("en", "Yes"), ("sw", "Ndio")])))
                .choice(choice(t("No"))),
        )
        .end("done", Some("Bye"))
        .build();
    let s = Session::start_with(
        &m,
        StartOptions {
            language: Some("SW".into()),
            learner_name: None,
        },
    );
    assert_eq!(s.msgs(), ["Tayari?\n1. Ndio\n2. No\nJibu 1 au 2."]);
    assert_eq!(s.state().language, Lang("sw".into()));
    let mut s2 = Session::start_with(
        &m,
        StartOptions {
            language: Some("fr".into()),
            learner_name: None,
        },
    );
    assert_eq!(s2.msgs(), ["Ready?\n1. Yes\n2. No\nReply 1 or 2."]);
    // Choice texts match in any of the module's languages.
    s2.reply("ndio");
    assert_eq!(s2.answers(), [(None, MatchedBy::ChoiceText, false)]);
}

fn timed_module() -> Module {
    module()
        .timeouts(timeouts(
            Some(24),
            Some("Still there {learner_name}?"),
            2,
            Some(24 * 7),
        ))
        .ask("q", ask(t("Go?")).choices(&["Yes"]))
        .ask(
            "q2",
            ask(t("Again?"))
                .choices(&["Yes"])
                .timeouts(timeouts(None, None, 1, Some(2))),
        )
        .end("done", None)
        .build()
}

#[test]
fn reminders_then_expiry() {
    let m = timed_module();
    let mut s = Session::start(&m);
    assert_eq!(s.turn.wake_at(), Some(at(24)));
    assert!(s.wake(23).is_empty(), "early wake-up changes nothing");
    assert_eq!(s.state().reminders, 0);
    assert_eq!(s.wake(24), ["Still there ?"]);
    assert!(s.turn.effects.contains(&Effect::Reminded {
        step_id: "q".into(),
        count: 1
    }));
    assert_eq!(s.turn.wake_at(), Some(at(48)));
    assert_eq!(
        s.wake(50),
        ["Still there ?"],
        "a late wake-up still reminds"
    );
    assert_eq!(
        s.turn.wake_at(),
        Some(at(24 * 7)),
        "max_reminders reached: next is expiry"
    );
    assert!(s.wake(100).is_empty());
    assert_eq!(s.wake(24 * 7), ["EXPIRED TEXT"]);
    assert_eq!(s.state().status, Status::Expired);
    assert_eq!(s.turn.wake_at(), None);
    assert_eq!(s.reply("1"), ["FINISHED TEXT"]);
    assert!(s.wake(24 * 30).is_empty());
}

#[test]
fn a_reply_after_the_expiry_time_finds_the_session_expired() {
    let m = timed_module();
    let mut s = Session::start(&m);
    s.now = 24 * 7; // no wake-up was delivered meanwhile
    assert_eq!(s.reply("1"), ["EXPIRED TEXT", "FINISHED TEXT"]);
    assert_eq!(s.state().status, Status::Expired);
    let mut s = Session::start(&m);
    s.now = 24 * 7;
    assert_eq!(
        s.reply("restart")[..2],
        [
            "EXPIRED TEXT".to_owned(),
            "Go?\n1. Yes\nReply 1.".to_owned()
        ]
    );
    assert_eq!(s.state().status, Status::Active);
    let mut s = Session::start(&m);
    s.now = 24 * 7 - 2;
    s.reply("1");
    assert_eq!(s.state().step, "q2", "one hour before expiry still counts");
}

#[test]
fn a_reply_restarts_the_silence_clock() {
    let m = timed_module();
    let mut s = Session::start(&m);
    s.wake(24);
    assert_eq!(s.state().reminders, 1);
    s.now = 30;
    s.reply("what?");
    assert_eq!(s.state().reminders, 0);
    assert_eq!(s.state().waiting_since, Some(at(31)));
    assert_eq!(s.turn.wake_at(), Some(at(31 + 24)));
    // Step-level timeouts override the module's: q2 has no reminders, expires in 2h.
    s.reply("1");
    assert_eq!(s.state().step, "q2");
    assert_eq!(s.turn.wake_at(), Some(at(32 + 2)));
    assert_eq!(s.wake(34), ["EXPIRED TEXT"]);
}

#[test]
fn state_json_round_trip_and_format_errors() {
    let m = quiz_module();
    let mut s = Session::start(&m);
    s.reply("1");
    s.reply("2");
    let json = s.state().to_json();
    assert_eq!(State::from_json(&json).unwrap(), *s.state());
    assert!(json.contains(r#""answered":["pre_q1"]"#), "{json}");
    let newer = json.replace(r#""format":1"#, r#""format":2"#);
    assert!(matches!(
        State::from_json(&newer),
        Err(StateError::UnsupportedFormat { found: 2 })
    ));
    assert!(matches!(State::from_json("{}"), Err(StateError::Json(_))));
    assert!(matches!(
        State::from_json("not json"),
        Err(StateError::Json(_))
    ));
}

#[test]
fn states_that_do_not_fit_the_module_are_errors() {
    let m = quiz_module();
    let s = Session::start(&m);
    let input = Input::text("1", at(1));
    let mut bad = s.state().clone();
    bad.step = "nope".into();
    assert_eq!(
        step(&m, &bad, &input),
        Err(StepError::UnknownStep { id: "nope".into() })
    );
    bad.step = "lesson".into();
    assert_eq!(
        step(&m, &bad, &input),
        Err(StepError::NotWaiting {
            id: "lesson".into()
        })
    );
    let mut other = s.state().clone();
    other.module_hash = "other".into();
    assert!(matches!(
        step(&m, &other, &input),
        Err(StepError::ModuleMismatch { .. })
    ));
    let mut newer = s.state().clone();
    newer.format = 9;
    assert_eq!(
        step(&m, &newer, &input),
        Err(StepError::UnsupportedFormat { found: 9 })
    );
}

#[test]
fn empty_end_finishes_silently() {
    let m = module()
        .ask("q", ask(t("Go?")).choices(&["Yes"]))
        .end("done", Some(""))
        .build();
    let mut s = Session::start(&m);
    assert!(s.reply("yes").is_empty());
    assert_eq!(s.state().status, Status::Completed);
}

#[test]
fn expiry_without_a_message_is_silent() {
    let m = module()
        .messages(|msgs| msgs.expired = None)
        .timeouts(timeouts(None, None, 1, Some(1)))
        .ask("q", ask(t("Go?")).choices(&["Yes"]))
        .end("done", None)
        .build();
    let mut s = Session::start(&m);
    assert!(s.wake(1).is_empty());
    assert_eq!(s.state().status, Status::Expired);
    assert!(s.turn.effects.contains(&Effect::Expired));
}

#[test]
fn a_say_loop_in_a_hand_built_module_is_cut_short() {
    // The loader rejects such modules; the runtime must still terminate.
    let m = module()
        .say_to("a", t("again"), "a")
        .end("done", None)
        .build();
    let turn = start(&m, StartOptions::default(), at(0));
    assert_eq!(turn.state.status, Status::Completed);
    assert_eq!(turn.messages().count(), m.steps.len() + 1);
}

/// A module whose keywords are all Swahili.
fn swahili_keywords_module() -> Module {
    module()
        .keywords(&["acha"], &["anza upya"], &["msaada"])
        .ask("q", ask(t("Go?")).choices(&["Yes"]))
        .end("done", None)
        .build()
}

#[test]
fn custom_keywords_replace_the_defaults() {
    let m = swahili_keywords_module();
    let mut s = Session::start(&m);
    assert_eq!(s.reply("restart")[0], "INVALID TEXT");
    assert_eq!(s.reply("Msaada")[0], "HELP TEXT");
    s.reply("ANZA UPYA");
    assert!(s.turn.effects.contains(&Effect::Restarted));
    s.reply("Acha!");
    assert_eq!(s.state().status, Status::OptedOut);
}

#[test]
fn the_engine_own_stop_and_help_words_work_whatever_the_module_keywords() {
    let m = swahili_keywords_module();
    let mut s = Session::start(&m);
    assert_eq!(s.reply("help please")[0], "HELP TEXT");
    s.reply("stop");
    assert_eq!(s.state().status, Status::OptedOut);
}

mod props {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Act {
        Text(String),
        Wake(i64),
    }

    fn act() -> impl Strategy<Value = Act> {
        prop_oneof![
            4 => any::<String>().prop_map(Act::Text),
            3 => prop::sample::select(vec!["1", "2", "3", "stop", "restart", "help", "yes", "", "١", "stpo"])
                .prop_map(|s| Act::Text(s.to_owned())),
            1 => "[\\x00-\\x1f ]{0,5}".prop_map(Act::Text),
            2 => (0i64..400).prop_map(Act::Wake),
        ]
    }

    fn rich_module() -> Module {
        module()
            .timeouts(timeouts(Some(24), Some("ping"), 2, Some(100)))
            .ask(
                "q1",
                ask(t("Q1 {attempts_left}"))
                    .choices(&["Alpha", "Beta", "Gamma"])
                    .quiz(QuizKind::Pre, &[1, 3])
                    .retry(2, None, None),
            )
            .ask(
                "free",
                ask(t("Free {answer}"))
                    .answer(
                        rule(Matcher::Number {
                            min: Some(1.0),
                            max: None,
                        })
                        .next("q1"),
                    )
                    .answer(rule(keywords(&["none", "yes pls"])).correct(true))
                    .answer(rule(Matcher::Regex(regex::Regex::new("^a+$").unwrap())))
                    .retry(1, None, Some("end")),
            )
            .ask(
                "post",
                ask(t("Post"))
                    .choices(&["X", "Y"])
                    .quiz(QuizKind::Post, &[2]),
            )
            .end(
                "end",
                Some("{pre_score}/{pre_total} {post_score}/{post_total}"),
            )
            .build()
    }

    proptest! {
        #[test]
        fn no_input_sequence_panics_and_states_round_trip(acts in prop::collection::vec(act(), 0..40)) {
            let m = rich_module();
            let mut turn = start(&m, StartOptions::default(), at(0));
            let mut now = 0;
            for a in acts {
                let input = match a {
                    Act::Text(text) => { now += 1; Input::Text { text, at: at(now) } }
                    Act::Wake(h) => { now = now.max(h); Input::Wake { at: at(h) } }
                };
                turn = step(&m, &turn.state, &input).expect("engine states always fit");
                let s = &turn.state;
                prop_assert_eq!(&State::from_json(&s.to_json()).unwrap(), s);
                prop_assert!(s.pre.correct <= m.pre_quiz_total);
                prop_assert!(s.post.correct <= m.post_quiz_total);
                prop_assert!(s.pre.answered.len() as u32 <= m.pre_quiz_total);
                prop_assert_eq!(s.wake_at.is_some(), s.status == Status::Active && s.wake_at.is_some());
                if s.status != Status::Active {
                    prop_assert_eq!(s.wake_at, None);
                }
            }
        }

        #[test]
        fn arbitrary_text_never_panics(text in any::<String>()) {
            let m = rich_module();
            let turn = start(&m, StartOptions { language: Some(text.clone()), learner_name: Some(text.clone()) }, at(0));
            let input = Input::Text { text, at: at(1) };
            let _ = step(&m, &turn.state, &input).expect("fits");
        }
    }

    #[test]
    fn extreme_times_do_not_overflow() {
        let m = rich_module();
        let turn = start(&m, StartOptions::default(), DateTime::<Utc>::MAX_UTC);
        assert_eq!(turn.state.wake_at, None, "no representable wake-up time");
        let input = Input::Wake {
            at: DateTime::<Utc>::MAX_UTC,
        };
        step(&m, &turn.state, &input).unwrap();
        let input = Input::Text {
            text: "x".repeat(100_000),
            at: DateTime::<Utc>::MIN_UTC,
        };
        step(&m, &turn.state, &input).unwrap();
    }
}
