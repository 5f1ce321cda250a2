//! The runtime on modules loaded from YAML, as authors write them.

use chatcourse_engine::{
    Effect, Input, MatchedBy, Module, QuizKind, StartOptions, State, Status, Turn, load_module,
    start, step,
};
use chrono::{DateTime, Duration, TimeZone, Utc};

mod pause;

fn load(yaml: &str) -> Module {
    let r = load_module(yaml);
    match r.module {
        Some(m) => m,
        None => panic!("module does not load: {:#?}", r.diagnostics),
    }
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap()
}

/// A learner session; every reply comes one minute after the last input.
struct Chat<'m> {
    module: &'m Module,
    turn: Turn,
    now: DateTime<Utc>,
}

impl<'m> Chat<'m> {
    fn new(module: &'m Module, language: Option<&str>, name: Option<&str>) -> Self {
        let opts = StartOptions {
            language: language.map(Into::into),
            learner_name: name.map(Into::into),
        };
        Chat {
            module,
            turn: start(module, opts, t0()),
            now: t0(),
        }
    }

    fn sent(&self) -> Vec<String> {
        self.turn.messages().map(str::to_owned).collect()
    }

    fn say(&mut self, text: &str) -> Vec<String> {
        self.now += Duration::minutes(1);
        let input = Input::text(text, self.now);
        self.turn = step(self.module, &self.turn.state, &input).unwrap();
        self.sent()
    }

    fn wake_at(&mut self, at: DateTime<Utc>) -> Vec<String> {
        self.now = at;
        self.turn = step(self.module, &self.turn.state, &Input::Wake { at }).unwrap();
        self.sent()
    }

    fn state(&self) -> &State {
        &self.turn.state
    }
}

const SAVING: &str = r#"
module: saving-basics
name: { en: Saving Basics, sw: Misingi ya Akiba }
goal: { en: help you build a savings habit, sw: kukusaidia kujenga tabia ya kuweka akiba }
version: "1"
language: en
languages: [en, sw]
keywords:
  stop: [STOP, ACHA]
  restart: [RESTART, ANZA UPYA]
  help: [HELP, MSAADA]
messages:
  help: { en: Reply with a number., sw: Jibu kwa nambari. }
  stopped: { en: You left., sw: Umeondoka. }
  invalid: { en: Sorry?, sw: Samahani? }
  finished: { en: Finished. Send RESTART., sw: Umemaliza. }
  expired: { en: Expired., sw: Imeisha. }
timeouts:
  remind_after: 1d
  reminder: { en: "Hello {learner_name}, reply to continue.", sw: "Habari {learner_name}, jibu ili kuendelea." }
  max_reminders: 2
  expire_after: 7d
steps:
  - id: welcome
    ask:
      en: Welcome to {module_name}, to {module_goal}. Reply 1 to start.
      sw: Karibu {module_name}, {module_goal}. Jibu 1 kuanza.
    choices: [{ en: Start, sw: Anza }]
    list_choices: false
  - id: pre_q1
    quiz: pre
    ask: { en: Where is the best place for savings?, sw: Wapi ni mahali bora pa akiba? }
    choices:
      - { en: Under the mattress, sw: Chini ya godoro }
      - text: { en: A savings account, sw: Akaunti ya akiba }
        aliases: [bank, benki]
      - { en: With a friend, sw: Kwa rafiki }
    correct: 2
    right: { en: Correct!, sw: Sahihi! }
    wrong: { en: Not quite., sw: Si sahihi. }
  - id: lesson_1
    say: { en: Save a little every week., sw: Weka akiba kidogo kila wiki. }
  - id: amount
    ask: { en: How much can you save each week?, sw: Unaweza kuweka kiasi gani kila wiki? }
    answers:
      - number: { min: 1, max: 100000 }
        reply: { en: "Saving {answer} a week adds up.", sw: "Kuweka {answer} kila wiki kunasaidia." }
      - keywords: [nothing, none, sifuri]
        reply: { en: Even 10 shillings is a start., sw: Hata shilingi 10 ni mwanzo. }
    retry:
      max_attempts: 2
      reprompt: { en: "Please reply with a number ({attempts_left} left).", sw: "Tafadhali jibu kwa nambari." }
  - id: post_q1
    quiz: post
    ask: { en: How often should you save?, sw: Uweke akiba mara ngapi? }
    choices:
      - { en: Only when I have a lot, sw: Nikiwa na pesa nyingi tu }
      - { en: "A little, regularly", sw: "Kidogo, mara kwa mara" }
    correct: 2
  - id: done
    end:
      en: "Well done, {learner_name|friend}! Pre-quiz {pre_score}/{pre_total}, post-quiz {post_score}/{post_total}."
      sw: "Hongera, {learner_name|rafiki}! Awali {pre_score}/{pre_total}, mwisho {post_score}/{post_total}."
"#;

#[test]
fn a_full_course_in_english() {
    let m = load(SAVING);
    let mut c = Chat::new(&m, None, Some("Amina"));
    assert_eq!(
        c.sent(),
        ["Welcome to Saving Basics, to help you build a savings habit. Reply 1 to start."]
    );
    assert_eq!(
        c.say("1."),
        [
            "Where is the best place for savings?\n1. Under the mattress\n2. A savings account\n3. With a friend\nReply 1, 2 or 3."
        ]
    );
    assert_eq!(
        c.say("bank"),
        [
            "Correct!",
            "Save a little every week.",
            "How much can you save each week?"
        ]
    );
    assert_eq!(
        c.say("lots"),
        [
            "Please reply with a number (1 left).",
            "How much can you save each week?"
        ]
    );
    assert_eq!(
        c.say("1,000"),
        [
            "Saving 1,000 a week adds up.",
            "How often should you save?\n1. Only when I have a lot\n2. A little, regularly\nReply 1 or 2."
        ]
    );
    assert_eq!(
        c.say("option 2"),
        ["Well done, Amina! Pre-quiz 1/1, post-quiz 1/1."]
    );
    assert_eq!(c.state().status, Status::Completed);
    assert_eq!(c.say("hi"), ["Finished. Send RESTART."]);
}

#[test]
fn a_full_course_in_swahili_with_fallback_and_swahili_keywords() {
    let m = load(SAVING);
    let mut c = Chat::new(&m, Some("sw"), None);
    assert_eq!(
        c.sent(),
        ["Karibu Misingi ya Akiba, kukusaidia kujenga tabia ya kuweka akiba. Jibu 1 kuanza."]
    );
    assert_eq!(
        c.say("msaada"),
        [
            "Jibu kwa nambari.",
            "Karibu Misingi ya Akiba, kukusaidia kujenga tabia ya kuweka akiba. Jibu 1 kuanza."
        ]
    );
    c.say("moja");
    assert_eq!(c.state().step, "pre_q1");
    assert_eq!(c.say("benki")[0], "Sahihi!");
    assert_eq!(c.say("sifuri")[0], "Hata shilingi 10 ni mwanzo.");
    assert_eq!(c.say("٢"), ["Hongera, rafiki! Awali 1/1, mwisho 1/1."]);
    assert_eq!(
        c.say("anza upya")[0],
        "Karibu Misingi ya Akiba, kukusaidia kujenga tabia ya kuweka akiba. Jibu 1 kuanza."
    );
    assert_eq!(c.state().pre.correct, 0, "restart resets scores");
    assert_eq!(c.say("ACHA"), ["Umeondoka."]);
    assert_eq!(c.state().status, Status::OptedOut);
}

#[test]
fn effects_record_answers_scores_and_the_matching_rule() {
    let m = load(SAVING);
    let mut c = Chat::new(&m, None, None);
    c.say("start");
    c.say("A savngs account");
    let answers: Vec<_> = c
        .turn
        .effects
        .iter()
        .filter(|e| matches!(e, Effect::Answer { .. } | Effect::Score { .. }))
        .cloned()
        .collect();
    assert_eq!(
        answers,
        [
            Effect::Answer {
                step_id: "pre_q1".into(),
                quiz: Some(QuizKind::Pre),
                question: "Where is the best place for savings?".into(),
                answer: "A savngs account".into(),
                choice: Some(2),
                correct: Some(true),
                attempt: 1,
                matched_by: MatchedBy::ChoiceText,
                typo: true,
            },
            Effect::Score {
                quiz: QuizKind::Pre,
                score: 1,
                total: 1
            },
        ]
    );
    // Effects serialize for storage and the API.
    let json = serde_json::to_string(&c.turn.effects[0]).unwrap();
    assert!(
        json.starts_with(r#"{"effect":"answer","step_id":"pre_q1""#),
        "{json}"
    );
    assert!(
        json.contains(r#""matched_by":"choice_text","typo":true"#),
        "{json}"
    );
}

#[test]
fn reminders_and_expiry_follow_the_module_timeouts() {
    let m = load(SAVING);
    let mut c = Chat::new(&m, None, Some("Juma"));
    let day = Duration::days(1);
    assert_eq!(c.turn.wake_at(), Some(t0() + day));
    assert!(c.wake_at(t0() + Duration::hours(23)).is_empty());
    assert_eq!(c.wake_at(t0() + day), ["Hello Juma, reply to continue."]);
    assert_eq!(
        c.wake_at(t0() + day * 2),
        ["Hello Juma, reply to continue."]
    );
    assert_eq!(
        c.turn.wake_at(),
        Some(t0() + day * 7),
        "two reminders at most"
    );
    assert_eq!(c.wake_at(t0() + day * 7), ["Expired."]);
    assert_eq!(c.state().status, Status::Expired);
    assert!(c.turn.effects.contains(&Effect::Expired));
    assert_eq!(c.say("1"), ["Finished. Send RESTART."]);
    c.say("restart");
    assert_eq!(c.state().status, Status::Active);
    assert_eq!(c.turn.wake_at(), Some(c.now + day));
}

#[test]
fn the_example_modules_play_through_with_number_replies() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../modules");
    let mut played = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.to_string_lossy().into_owned();
        if !name.ends_with(".yaml") || name.ends_with(".test.yaml") {
            continue;
        }
        let m = load(&std::fs::read_to_string(&path).unwrap());
        let mut c = Chat::new(&m, None, Some("Amina"));
        for _ in 0..500 {
            if c.state().status != Status::Active {
                break;
            }
            // A `wait` step pauses the course until its wake-up.
            match c.turn.effects.last() {
                Some(Effect::Paused { until, .. }) => {
                    let until = until.expect("a pause ends");
                    c.wake_at(until);
                }
                _ => {
                    c.say("1");
                }
            }
        }
        assert_eq!(c.state().status, Status::Completed, "{name} never ends");
        let round_trip = State::from_json(&c.state().to_json()).unwrap();
        assert_eq!(&round_trip, c.state());
        played += 1;
    }
    assert!(played >= 1, "no example modules found in {dir}");
}
