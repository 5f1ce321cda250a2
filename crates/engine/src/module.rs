//! The compiled module: what the loader produces and the runtime executes.
//!
//! A [`Module`] can only be built by the loader (`crate::load`), and the
//! loader only builds one when there is no error diagnostic. So every value
//! of this type is valid by construction: step references are resolved to
//! [`StepIdx`], regular expressions are compiled, templates are parsed and
//! name only known variables, every non-final step has a way on.
//!
//! The runtime never re-checks any of that; it may index `steps` with a
//! `StepIdx` without bounds worries.

use std::fmt;

/// A language tag as the author wrote it (`en`, `sw`, `fr`...), lower-cased.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct Lang(pub String);

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// True when `tag` is a well-formed BCP 47 language tag as learners' tags
/// are accepted: a primary language subtag of two or three letters, then
/// subtags of one to eight letters or digits, separated by `-`, at most 35
/// characters (`en`, `sw-KE`, `fr-CM`, `zh-Hant-TW`, `es-419`).
pub fn is_language_tag(tag: &str) -> bool {
    let mut parts = tag.split('-');
    let primary_ok = parts
        .next()
        .is_some_and(|p| (2..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphabetic()));
    tag.len() <= 35
        && primary_ok
        && parts.all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// The language of `offered` a learner asking for `wanted` gets (see
/// [`Module::resolve_language`]); `None` when none fits.
pub fn negotiate_language(wanted: &str, offered: &[Lang]) -> Option<Lang> {
    let wanted = wanted.trim().to_ascii_lowercase();
    if wanted.is_empty() {
        return None;
    }
    let find = |tag: &str| offered.iter().find(|l| l.0.eq_ignore_ascii_case(tag));
    let mut range = wanted.as_str();
    loop {
        if let Some(l) = find(range) {
            return Some(l.clone());
        }
        let Some(cut) = range.rfind('-') else { break };
        range = &range[..cut];
        // A single-letter subtag (`x`, an extension) goes with the next one.
        if range.len() >= 2 && range.as_bytes()[range.len() - 2] == b'-' {
            range = &range[..range.len() - 2];
        }
    }
    let primary = |t: &str| t.split('-').next().unwrap_or("").to_owned();
    let want = primary(&wanted);
    offered
        .iter()
        .find(|l| primary(&l.0).eq_ignore_ascii_case(&want))
        .cloned()
}

/// Index of a step in [`Module::steps`]. Only the loader creates these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StepIdx(pub(crate) u32);

impl StepIdx {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// Which quiz a question scores into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QuizKind {
    Pre,
    Post,
}

impl QuizKind {
    pub fn as_str(self) -> &'static str {
        match self {
            QuizKind::Pre => "pre",
            QuizKind::Post => "post",
        }
    }
}

/// A compiled, valid course module.
#[derive(Debug, Clone)]
pub struct Module {
    /// The author's stable identifier (`module:` in the YAML). Stays the same
    /// across versions of the module; the API derives `module_uuid` from it.
    pub id: String,
    pub name: String,
    pub goal: String,
    /// `name` and `goal` in every language they are written in (base
    /// first): what `{module_name}` and `{module_goal}` show a learner.
    /// Literal text, never templates. (`name`/`goal` above are the base
    /// language versions.)
    pub name_text: Text,
    pub goal_text: Text,
    /// The author's version label (`version:`), free text.
    pub version: String,
    /// Hex SHA-256 of the YAML source bytes: identifies this exact version.
    pub content_hash: String,
    pub base_language: Lang,
    /// Every language the module offers, base language first.
    pub languages: Vec<Lang>,
    /// Module-wide keywords, already normalised (see `crate::matching`).
    pub keywords: Keywords,
    /// Texts the runtime sends on its own (help, opt-out confirmation, ...).
    pub messages: SystemMessages,
    /// Default retry policy for `ask` steps that do not set their own.
    /// (`on_exhausted` is resolved per step, so it is not here.)
    pub default_max_attempts: u32,
    /// Module-wide silence handling, used by waiting steps that set none.
    pub timeouts: Option<Timeouts>,
    /// Number of questions in each quiz (`total` in `score/total`).
    pub pre_quiz_total: u32,
    pub post_quiz_total: u32,
    /// All steps; `steps[0]` is where a session starts.
    pub steps: Vec<Step>,
}

impl Module {
    pub fn step(&self, idx: StepIdx) -> &Step {
        &self.steps[idx.index()]
    }

    pub fn step_by_id(&self, id: &str) -> Option<StepIdx> {
        self.steps
            .iter()
            .position(|s| s.id == id)
            .map(|i| StepIdx(i as u32))
    }

    pub fn quiz_total(&self, quiz: QuizKind) -> u32 {
        match quiz {
            QuizKind::Pre => self.pre_quiz_total,
            QuizKind::Post => self.post_quiz_total,
        }
    }

    /// The language a learner gets, negotiated as BCP 47 lookup (RFC 4647)
    /// does, case-insensitively: the module language equal to `wanted`, or
    /// to `wanted` with subtags dropped from the end (`sw-KE` gets `sw`,
    /// `fr-Latn-CM` gets `fr`); else a module language with the same
    /// primary subtag (`pt` gets `pt-br`); else the base language.
    pub fn resolve_language(&self, wanted: Option<&str>) -> Lang {
        wanted
            .and_then(|w| negotiate_language(w, &self.languages))
            .unwrap_or_else(|| self.base_language.clone())
    }
}

/// Module-wide keywords. Precedence, highest first: stop, restart, help,
/// then the current step's own choices and answers.
#[derive(Debug, Clone, Default)]
pub struct Keywords {
    pub stop: Vec<String>,
    pub restart: Vec<String>,
    pub help: Vec<String>,
}

/// Texts the runtime sends by itself.
#[derive(Debug, Clone)]
pub struct SystemMessages {
    /// Sent on HELP; the current prompt is sent again after it.
    pub help: Text,
    /// Sent once on STOP; the session then ends as opted out.
    pub stopped: Text,
    /// Sent when input matches nothing and the step has no `reprompt`.
    pub invalid: Text,
    /// Sent when a learner writes to a session that has ended.
    pub finished: Text,
    /// Sent when the session expires for silence (may be empty: not sent).
    pub expired: Option<Text>,
}

/// Silence handling for a step that waits for the learner.
#[derive(Debug, Clone)]
pub struct Timeouts {
    /// Send `reminder` after this long without input...
    pub remind_after: Option<chrono::Duration>,
    pub reminder: Option<Text>,
    /// ...at most this many times while waiting on one step.
    pub max_reminders: u32,
    /// End the session as expired after this long without input.
    pub expire_after: Option<chrono::Duration>,
}

#[derive(Debug, Clone)]
pub struct Step {
    pub id: String,
    /// 1-based line of the step in the source (for coverage reports).
    pub line: u32,
    pub kind: StepKind,
}

#[derive(Debug, Clone)]
pub enum StepKind {
    /// Send a message and go on without waiting.
    Say { text: Text, next: StepIdx },
    /// Send a prompt and wait for the learner.
    Ask(Box<Ask>),
    /// Send an optional closing message; the session is completed.
    End { text: Option<Text> },
    /// Pause the course until a time, then go on to `next` (courses paced
    /// over days).
    Wait(Box<Wait>),
}

/// A pause: the session rests on this step until [`Wait::resume_at`].
#[derive(Debug, Clone)]
pub struct Wait {
    /// At least this long after the pause begins...
    pub after: Option<chrono::Duration>,
    /// ...then at the next time of day (in the learner's time zone)...
    pub at: Option<chrono::NaiveTime>,
    /// ...on one of these weekdays (empty: any day). Only with `at`.
    pub days: Vec<chrono::Weekday>,
    /// Replies that end the pause early (normalised).
    pub skip: Vec<String>,
    /// Sent when the learner writes during the pause (default: the
    /// engine's "Your next lesson comes ...").
    pub reply: Option<Text>,
    pub next: StepIdx,
}

impl Wait {
    /// The pause as an author would say it: `wait 1d`, `wait until 09:00`,
    /// `wait 12h, then until 09:00 mon-fri`.
    pub fn describe(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::from("wait");
        if let Some(d) = self.after {
            let mut secs = d.num_seconds();
            out.push(' ');
            for (unit, len) in [
                ('w', 604_800),
                ('d', 86_400),
                ('h', 3_600),
                ('m', 60),
                ('s', 1),
            ] {
                if secs >= len {
                    let _ = write!(out, "{}{unit}", secs / len);
                    secs %= len;
                }
            }
        }
        if let Some(at) = self.at {
            if self.after.is_some() {
                out.push_str(", then");
            }
            let _ = write!(out, " until {}", at.format("%H:%M"));
            let days: Vec<String> = self
                .days
                .iter()
                .map(|d| d.to_string().to_lowercase())
                .collect();
            // Consecutive days (`days` is sorted, Monday first) as a range.
            let run = self.days.windows(2).all(|w| w[0].succ() == w[1]);
            match days.as_slice() {
                [] => {}
                all if all.len() == 7 => {}
                [first, .., last] if run && days.len() > 2 => {
                    let _ = write!(out, " {first}-{last}");
                }
                _ => {
                    let _ = write!(out, " {}", days.join(","));
                }
            }
        }
        out
    }

    /// When a pause that begins at `now` ends, for a learner in `tz`:
    /// `now + after`, then (with `at`) the first `at` on an allowed day
    /// after that (at or after `now + after` when `after` is set, strictly
    /// after `now` otherwise). A local time that a clock change skips is
    /// taken an hour later; one that occurs twice, the first time. `None`
    /// only when the time is beyond what dates can hold.
    pub fn resume_at(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        tz: chrono_tz::Tz,
    ) -> Option<chrono::DateTime<chrono::Utc>> {
        use chrono::{Datelike, TimeZone};
        let base = match self.after {
            Some(d) => now.checked_add_signed(d)?,
            None => now,
        };
        let Some(at) = self.at else {
            return Some(base);
        };
        let first_day = base.with_timezone(&tz).date_naive();
        // Eight days always include the next allowed weekday after a day
        // whose time has passed.
        for offset in 0..=8 {
            let day = first_day.checked_add_days(chrono::Days::new(offset))?;
            if !self.days.is_empty() && !self.days.contains(&day.weekday()) {
                continue;
            }
            let local = day.and_time(at);
            let when = tz.from_local_datetime(&local).earliest().or_else(|| {
                tz.from_local_datetime(&(local + chrono::Duration::hours(1)))
                    .earliest()
            })?;
            let when = when.with_timezone(&chrono::Utc);
            let later = if self.after.is_some() {
                when >= base
            } else {
                when > base
            };
            if later {
                return Some(when);
            }
        }
        None
    }
}

#[derive(Debug, Clone)]
pub struct Ask {
    pub text: Text,
    /// Numbered choices (choice `i` is answered by `i + 1`).
    pub choices: Vec<Choice>,
    /// Append the numbered list and "Reply 1, 2 or 3" to the prompt.
    pub list_choices: bool,
    /// Free-text rules, tried in order after the choices.
    pub answers: Vec<AnswerRule>,
    /// Set when this question scores into a quiz.
    pub quiz: Option<QuizQuestion>,
    /// Feedback for a quiz answer (after the choice's own `reply`, if any).
    pub right: Option<Text>,
    pub wrong: Option<Text>,
    /// Where to go after an accepted answer whose rule names no `next`.
    pub next: StepIdx,
    pub retry: Retry,
    pub timeouts: Option<Timeouts>,
}

#[derive(Debug, Clone)]
pub struct QuizQuestion {
    pub quiz: QuizKind,
    /// Indices into `choices` (0-based) that are correct; never empty when
    /// the question has choices. For free-text questions, correctness is
    /// `AnswerRule::correct`.
    pub correct: Vec<usize>,
}

#[derive(Debug, Clone)]
pub struct Choice {
    pub text: Text,
    /// Extra words that select this choice (normalised), besides its
    /// number, number word and text.
    pub aliases: Vec<String>,
    pub reply: Option<Text>,
    pub next: Option<StepIdx>,
    /// The normalised texts and words the matcher compares replies with,
    /// computed once when the module is loaded ([`Choice::new`]).
    pub(crate) index: crate::matching::ChoiceIndex,
}

impl Choice {
    /// A choice, with its texts and aliases read for the matcher once.
    pub fn new(
        text: Text,
        aliases: Vec<String>,
        reply: Option<Text>,
        next: Option<StepIdx>,
    ) -> Choice {
        let index = crate::matching::ChoiceIndex::new(&text, &aliases);
        Choice {
            text,
            aliases,
            reply,
            next,
            index,
        }
    }
}

#[derive(Debug, Clone)]
pub struct AnswerRule {
    pub matcher: Matcher,
    pub reply: Option<Text>,
    pub next: Option<StepIdx>,
    /// For quiz questions answered in free text.
    pub correct: Option<bool>,
}

#[derive(Debug, Clone)]
pub enum Matcher {
    /// Any of these words or phrases (normalised; typo-tolerant for words of
    /// four letters or more).
    Keywords(Vec<String>),
    Regex(regex::Regex),
    /// A number (digits in any script, or a number word) in the range, ends
    /// included.
    Number {
        min: Option<f64>,
        max: Option<f64>,
    },
    /// Anything not empty.
    Any,
}

#[derive(Debug, Clone)]
pub struct Retry {
    /// Attempts allowed for input that matches nothing (>= 1).
    pub max_attempts: u32,
    pub reprompt: Option<Text>,
    /// Where to go when attempts run out.
    pub on_exhausted: StepIdx,
}

/// A translatable text: one template per language; `get` falls back to the
/// module's base language, which the loader guarantees is present.
#[derive(Debug, Clone)]
pub struct Text {
    pub(crate) by_lang: Vec<(Lang, Template)>,
}

impl Text {
    pub fn new(by_lang: Vec<(Lang, Template)>) -> Text {
        assert!(!by_lang.is_empty(), "a Text has at least its base language");
        Text { by_lang }
    }

    /// The template for `lang`, or for the base language (stored first).
    pub fn get(&self, lang: &Lang) -> &Template {
        self.by_lang
            .iter()
            .find(|(l, _)| l == lang)
            .map(|(_, t)| t)
            .unwrap_or(&self.by_lang[0].1)
    }

    pub fn languages(&self) -> impl Iterator<Item = &Lang> {
        self.by_lang.iter().map(|(l, _)| l)
    }
}

/// A parsed template: literal text and variables.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Lit(String),
    Var(Var),
    /// `{learner_name|rafiki}`: the variable, or the default text when the
    /// value is empty (no learner name, no answer yet).
    VarOr(Var, String),
}

/// Template variables. `{score}`/`{total}` are resolved by the loader to the
/// quiz of the step (or of the nearest quiz question before it in the file;
/// the post-quiz if there is none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Var {
    ModuleName,
    ModuleGoal,
    LearnerName,
    Score(QuizKind),
    Total(QuizKind),
    /// The learner's last accepted answer, as typed.
    Answer,
    /// Attempts left on the current step.
    AttemptsLeft,
    /// In a `wait` step's `reply`: when the pause ends, in the learner's
    /// time zone: the day (`today`, `tomorrow`, `on Monday`, in the
    /// learner's language when the engine speaks it) and the time
    /// (`09:00`).
    ResumeDay,
    ResumeTime,
}

impl Var {
    /// The names of the variables that may be empty, and so may have a
    /// default (`{learner_name|friend}`).
    pub const WITH_DEFAULT: &'static [&'static str] = &["learner_name", "answer"];

    /// Every name an author may write, with its variable (for `{score}` and
    /// `{total}` the quiz is a placeholder the loader replaces).
    pub const NAMES: &'static [&'static str] = &[
        "module_name",
        "module_goal",
        "learner_name",
        "score",
        "total",
        "pre_score",
        "pre_total",
        "post_score",
        "post_total",
        "answer",
        "attempts_left",
        "resume_day",
        "resume_time",
    ];

    /// The variables only a `wait` step's `reply` may show.
    pub const PAUSE_ONLY: &'static [&'static str] = &["resume_day", "resume_time"];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_tags() {
        for ok in [
            "en",
            "sw-KE",
            "fr-CM",
            "FR-cm",
            "zh-Hant-TW",
            "es-419",
            "sw-x-kenya",
        ] {
            assert!(is_language_tag(ok), "{ok}");
        }
        for bad in [
            "",
            "english",
            "e",
            "sw_KE",
            "sw-",
            "-sw",
            "sw--ke",
            "12",
            "sw ke",
            "sw-abcdefghi",
            "ελ",
        ] {
            assert!(!is_language_tag(bad), "{bad}");
        }
    }

    #[test]
    fn negotiation_is_bcp47_lookup_then_primary_subtag() {
        let offered: Vec<Lang> = ["en", "sw", "fr", "pt-br"]
            .iter()
            .map(|l| Lang((*l).into()))
            .collect();
        let get = |w: &str| negotiate_language(w, &offered).map(|l| l.0);
        assert_eq!(get("sw-KE").as_deref(), Some("sw"));
        assert_eq!(get("SW-ke").as_deref(), Some("sw"));
        assert_eq!(get("fr-CM").as_deref(), Some("fr"));
        assert_eq!(get("fr-Latn-CM").as_deref(), Some("fr"));
        assert_eq!(get("en").as_deref(), Some("en"));
        assert_eq!(get("PT-BR").as_deref(), Some("pt-br"));
        assert_eq!(get("pt").as_deref(), Some("pt-br"));
        assert_eq!(get("sw-x-a").as_deref(), Some("sw"));
        assert_eq!(get("de-DE"), None);
        assert_eq!(get(" "), None);
    }
}
