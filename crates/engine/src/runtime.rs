//! The pure state machine: (module, state, input) -> (state, effects).
//!
//! [`start`] opens a session, [`step`] applies one learner message or one
//! wake-up. Both are pure: time comes only from the input, there is no
//! randomness and no I/O, and no input makes them panic. The semantics are
//! documented for authors in docs/module-format.md; in short:
//!
//! - Reply precedence: STOP, RESTART, HELP (exact), then the step's choices,
//!   then STOP or HELP in a short phrase (`please stop sending`), then
//!   `answers` in order, then STOP, RESTART, HELP with one typo forgiven
//!   (so `stpo` opts out, but a reply the step accepts is never taken for a
//!   misspelt keyword).
//! - A reply that matches nothing uses an attempt: `reprompt` (or
//!   `messages.invalid`) and the prompt again. The last allowed attempt
//!   sends `messages.invalid` and goes to `on_exhausted`; a quiz question
//!   then records an [`Effect::Answer`] with `correct: Some(false)` and
//!   `matched_by: Exhausted`.
//! - A quiz question counts once per run through the module: the first
//!   answer scores, later ones (after a loop back) are recorded but do not
//!   change the score; RESTART resets both quizzes.
//! - Every learner message restarts the silence clock. A wake-up at or
//!   after `wake_at` sends the reminder (up to `max_reminders`) or expires
//!   the session; an early wake-up changes nothing.
//! - A reply that arrives after the expiry time finds the session expired
//!   (whether or not that wake-up was delivered), so outcomes do not
//!   depend on when the caller's wake-ups run.
//! - A finished session (completed or expired) answers every message with
//!   `messages.finished`; an opted-out one stays silent. RESTART reopens
//!   both from the first step with scores reset; STOP opts out of either.

use std::fmt;

use chrono::{DateTime, Utc};

use crate::matching::{self, MatchedBy};
use crate::module::{Ask, Lang, Module, Part, QuizKind, StepIdx, StepKind, Template, Text, Var};

/// Version of the serialized [`State`] layout. Bump when it changes, and keep
/// reading older versions.
pub const STATE_FORMAT: u32 = 1;

/// Where a learner's session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Active,
    Completed,
    OptedOut,
    Expired,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Completed => "completed",
            Status::OptedOut => "opted_out",
            Status::Expired => "expired",
        }
    }
}

/// Progress in one quiz during the current run through the module.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct QuizProgress {
    /// Questions answered correctly (each question counts once).
    pub correct: u32,
    /// Ids of the questions answered (or exhausted), in order.
    pub answered: IdSet,
}

/// A small set of step ids, kept in insertion order in one allocation (so
/// cloning a [`State`] stays cheap). Serializes as a list of strings.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct IdSet {
    /// Ids separated by `\n` (the loader only accepts step ids made of
    /// letters, digits, `-`, `_` and `.`).
    joined: String,
}

impl IdSet {
    pub fn contains(&self, id: &str) -> bool {
        self.iter().any(|x| x == id)
    }

    /// Adds `id`; false if it was already there.
    pub fn insert(&mut self, id: &str) -> bool {
        if self.contains(id) {
            return false;
        }
        if !self.joined.is_empty() {
            self.joined.push('\n');
        }
        self.joined.push_str(id);
        true
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.joined.split('\n').filter(|s| !s.is_empty())
    }

    pub fn len(&self) -> usize {
        self.iter().count()
    }

    pub fn is_empty(&self) -> bool {
        self.joined.is_empty()
    }
}

impl fmt::Debug for IdSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl serde::Serialize for IdSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> serde::Deserialize<'de> for IdSet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let ids = <Vec<String> as serde::Deserialize>::deserialize(d)?;
        let mut set = IdSet::default();
        for id in &ids {
            set.insert(id);
        }
        Ok(set)
    }
}

/// A learner's position in a module. Serializes with serde (see
/// [`State::to_json`] / [`State::from_json`]); storage keeps it opaque.
/// `module_hash` pins the module version the session started on.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct State {
    pub format: u32,
    pub module_hash: String,
    pub status: Status,
    /// The step the session is at: the waiting `ask` step while active, the
    /// last step reached otherwise. An id, not an index, so it reads the
    /// same after the pinned module is loaded again.
    pub step: String,
    /// Replies on the current step that matched nothing.
    pub attempts: u32,
    /// Reminders sent since the learner last wrote.
    pub reminders: u32,
    pub language: Lang,
    pub learner_name: Option<String>,
    pub pre: QuizProgress,
    pub post: QuizProgress,
    /// The learner's last accepted answer, as typed (`{answer}`).
    pub last_answer: Option<String>,
    /// When the session started waiting for the learner (the last prompt or
    /// the learner's last message); silence is measured from here.
    pub waiting_since: Option<DateTime<Utc>>,
    /// When the last reminder was sent.
    pub last_reminder_at: Option<DateTime<Utc>>,
    /// When the caller should send [`Input::Wake`]; `None`: never. While
    /// the session rests on a `wait` step: when the pause ends.
    pub wake_at: Option<DateTime<Utc>>,
    /// The learner's IANA time zone (`Africa/Nairobi`), from the
    /// enrolment: `wait` steps with a time of day use it. `None` (and
    /// states written before it existed): UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
}

impl State {
    pub fn quiz(&self, quiz: QuizKind) -> &QuizProgress {
        match quiz {
            QuizKind::Pre => &self.pre,
            QuizKind::Post => &self.post,
        }
    }

    fn quiz_mut(&mut self, quiz: QuizKind) -> &mut QuizProgress {
        match quiz {
            QuizKind::Pre => &mut self.pre,
            QuizKind::Post => &mut self.post,
        }
    }

    /// The learner's time zone ([`State::timezone`]; UTC when unset or
    /// not a zone name).
    pub fn tz(&self) -> chrono_tz::Tz {
        self.timezone
            .as_deref()
            .and_then(|name| name.parse().ok())
            .unwrap_or(chrono_tz::UTC)
    }

    pub fn to_json(&self) -> String {
        // A State holds only strings, numbers, dates and sequences.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads a stored state. A state written by a newer engine (higher
    /// `format`) is an error, never a guess.
    pub fn from_json(json: &str) -> Result<State, StateError> {
        #[derive(serde::Deserialize)]
        struct Probe {
            format: u32,
        }
        let probe: Probe = serde_json::from_str(json).map_err(StateError::Json)?;
        if probe.format == 0 || probe.format > STATE_FORMAT {
            return Err(StateError::UnsupportedFormat {
                found: probe.format,
            });
        }
        serde_json::from_str(json).map_err(StateError::Json)
    }
}

/// Why a stored state could not be read.
#[derive(Debug)]
pub enum StateError {
    Json(serde_json::Error),
    UnsupportedFormat { found: u32 },
}

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateError::Json(e) => write!(f, "invalid session state: {e}"),
            StateError::UnsupportedFormat { found } => write!(
                f,
                "session state format {found} is not supported (this engine reads format {STATE_FORMAT})"
            ),
        }
    }
}

impl std::error::Error for StateError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StateError::Json(e) => Some(e),
            StateError::UnsupportedFormat { .. } => None,
        }
    }
}

/// Why [`step`] refused a state: it does not fit the module it was given.
/// Never caused by what the learner typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepError {
    /// The state's `format` is not [`STATE_FORMAT`].
    UnsupportedFormat { found: u32 },
    /// The state was started on another version of the module.
    ModuleMismatch { state: String, module: String },
    /// An active state names a step the module does not have.
    UnknownStep { id: String },
    /// An active state names a step that neither waits for a reply nor
    /// pauses.
    NotWaiting { id: String },
}

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StepError::UnsupportedFormat { found } => write!(
                f,
                "session state format {found} is not supported (expected {STATE_FORMAT})"
            ),
            StepError::ModuleMismatch { state, module } => write!(
                f,
                "session was started on module version {state}, not {module}"
            ),
            StepError::UnknownStep { id } => write!(f, "the module has no step `{id}`"),
            StepError::NotWaiting { id } => {
                write!(f, "step `{id}` does not wait for a reply")
            }
        }
    }
}

impl std::error::Error for StepError {}

/// What happens to a session.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// The learner sent a message at `at`.
    Text { text: String, at: DateTime<Utc> },
    /// The caller wakes the session (at or after the `wake_at` it was given).
    Wake { at: DateTime<Utc> },
}

impl Input {
    pub fn text(text: impl Into<String>, at: DateTime<Utc>) -> Input {
        Input::Text {
            text: text.into(),
            at,
        }
    }

    pub fn at(&self) -> DateTime<Utc> {
        match self {
            Input::Text { at, .. } | Input::Wake { at } => *at,
        }
    }
}

/// Something the caller must do or record, in order.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "effect", rename_all = "snake_case")]
pub enum Effect {
    /// Send this message to the learner.
    Send {
        text: String,
    },
    /// The learner answered the question at `step_id` (or ran out of
    /// attempts on a quiz question: `matched_by` is `exhausted`).
    Answer {
        step_id: String,
        quiz: Option<QuizKind>,
        /// The question's text (without the list of choices).
        question: String,
        /// What the learner typed (trimmed).
        answer: String,
        /// 1-based number of the choice picked, if a choice was picked.
        choice: Option<u32>,
        /// For quiz questions (and free-text rules marked `correct:`).
        correct: Option<bool>,
        /// 1 for the first reply on this step, 2 after one unmatched reply...
        attempt: u32,
        matched_by: MatchedBy,
        /// A typo was forgiven to match.
        typo: bool,
    },
    /// The quiz's score after a quiz answer.
    Score {
        quiz: QuizKind,
        score: u32,
        total: u32,
    },
    /// A reply matched nothing on `step_id` (an attempt was used).
    Unmatched {
        step_id: String,
        answer: String,
        attempt: u32,
        attempts_left: u32,
    },
    /// A reminder was sent for `step_id` (the `count`th since the learner
    /// last wrote).
    Reminded {
        step_id: String,
        count: u32,
    },
    /// The session rests on the `wait` step `step_id` until `until` (the
    /// caller is woken then: [`Turn::wake_at`]).
    Paused {
        step_id: String,
        until: Option<DateTime<Utc>>,
    },
    /// The learner sent RESTART: scores were reset.
    Restarted,
    Completed,
    OptedOut,
    Expired,
}

/// The result of one input.
#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    pub state: State,
    pub effects: Vec<Effect>,
}

impl Turn {
    /// When the caller should wake the session next.
    pub fn wake_at(&self) -> Option<DateTime<Utc>> {
        self.state.wake_at
    }

    /// The messages to send, in order.
    pub fn messages(&self) -> impl Iterator<Item = &str> {
        self.effects.iter().filter_map(|e| match e {
            Effect::Send { text } => Some(text.as_str()),
            _ => None,
        })
    }
}

/// How a new session starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StartOptions {
    /// Wanted language; the module's base language if absent or not offered.
    pub language: Option<String>,
    pub learner_name: Option<String>,
}

/// True when `name` is an IANA time zone name the engine knows
/// (`Africa/Nairobi`, `UTC`), case-sensitively as the database spells it.
pub fn is_time_zone(name: &str) -> bool {
    name.parse::<chrono_tz::Tz>().is_ok()
}

/// Opens a session at `at`: runs from the first step, sending messages,
/// until a step waits for the learner (or the module ends).
pub fn start(module: &Module, opts: StartOptions, at: DateTime<Utc>) -> Turn {
    start_inner(module, (opts, None), at, None)
}

/// [`start`] for a learner in the IANA time zone `timezone`
/// (`Africa/Nairobi`), which `wait` steps with a time of day use; UTC if
/// `None` or not a zone name (callers check names: [`is_time_zone`]). The
/// zone is kept in the [`State`].
pub fn start_in_zone(
    module: &Module,
    opts: StartOptions,
    timezone: Option<&str>,
    at: DateTime<Utc>,
) -> Turn {
    start_inner(module, (opts, timezone), at, None)
}

/// [`start`], also appending every step run (sent, prompted or ended) to
/// `trace`, for coverage reports.
pub fn start_traced(
    module: &Module,
    opts: StartOptions,
    at: DateTime<Utc>,
    trace: &mut Vec<StepIdx>,
) -> Turn {
    start_inner(module, (opts, None), at, Some(trace))
}

pub(crate) fn start_inner(
    module: &Module,
    (opts, timezone): (StartOptions, Option<&str>),
    at: DateTime<Utc>,
    trace: Option<&mut Vec<StepIdx>>,
) -> Turn {
    let state = State {
        format: STATE_FORMAT,
        module_hash: module.content_hash.clone(),
        status: Status::Active,
        step: String::new(),
        attempts: 0,
        reminders: 0,
        language: module.resolve_language(opts.language.as_deref()),
        learner_name: opts
            .learner_name
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty()),
        pre: QuizProgress::default(),
        post: QuizProgress::default(),
        last_answer: None,
        waiting_since: None,
        last_reminder_at: None,
        wake_at: None,
        timezone: timezone
            .and_then(|name| name.trim().parse::<chrono_tz::Tz>().ok())
            .map(|tz| tz.name().to_owned()),
    };
    let mut m = Machine::new(module, state, at, trace);
    m.run_from(StepIdx(0));
    m.finish()
}

/// Applies one input to a session. Errors only when `state` does not fit
/// `module` (another module version, an unknown step, a newer state
/// format); any text the learner sends is handled.
pub fn step(module: &Module, state: &State, input: &Input) -> Result<Turn, StepError> {
    step_inner(module, state, input, None)
}

/// [`step`], also appending every step run to `trace` (see
/// [`start_traced`]).
pub fn step_traced(
    module: &Module,
    state: &State,
    input: &Input,
    trace: &mut Vec<StepIdx>,
) -> Result<Turn, StepError> {
    step_inner(module, state, input, Some(trace))
}

fn step_inner(
    module: &Module,
    state: &State,
    input: &Input,
    trace: Option<&mut Vec<StepIdx>>,
) -> Result<Turn, StepError> {
    if state.format != STATE_FORMAT {
        return Err(StepError::UnsupportedFormat {
            found: state.format,
        });
    }
    if state.module_hash != module.content_hash {
        return Err(StepError::ModuleMismatch {
            state: state.module_hash.clone(),
            module: module.content_hash.clone(),
        });
    }
    let current = if state.status == Status::Active {
        let idx = find_step(module, &state.step).ok_or_else(|| StepError::UnknownStep {
            id: state.step.clone(),
        })?;
        match &module.step(idx).kind {
            StepKind::Ask(_) | StepKind::Wait(_) => Some(idx),
            _ => {
                return Err(StepError::NotWaiting {
                    id: state.step.clone(),
                });
            }
        }
    } else {
        None
    };
    let mut m = Machine::new(module, state.clone(), input.at(), trace);
    match (input, current) {
        (Input::Text { text, .. }, Some(idx)) if m.is_pause(idx) => m.reply_paused(idx, text),
        (Input::Wake { .. }, Some(idx)) if m.is_pause(idx) => m.wake_paused(idx),
        (Input::Text { text, .. }, Some(idx)) => {
            // A reply after the expiry time finds the session expired, even
            // if the caller never delivered that wake-up.
            if m.expiry_passed(idx) {
                m.expire();
                m.reply_when_finished(text);
            } else {
                m.reply(idx, text);
            }
        }
        (Input::Text { text, .. }, None) => m.reply_when_finished(text),
        (Input::Wake { .. }, Some(idx)) => m.wake(idx),
        (Input::Wake { .. }, None) => {}
    }
    Ok(m.finish())
}

/// Module-wide keywords, in precedence order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Command {
    Stop,
    Restart,
    Help,
}

/// One turn in progress.
struct Machine<'m, 't> {
    module: &'m Module,
    /// Steps run during this turn, when the caller asked for a trace.
    trace: Option<&'t mut Vec<StepIdx>>,
    state: State,
    effects: Vec<Effect>,
    at: DateTime<Utc>,
    /// Value of `{attempts_left}` while rendering.
    attempts_left: u32,
}

impl<'m, 't> Machine<'m, 't> {
    fn new(
        module: &'m Module,
        state: State,
        at: DateTime<Utc>,
        trace: Option<&'t mut Vec<StepIdx>>,
    ) -> Machine<'m, 't> {
        Machine {
            module,
            trace,
            state,
            effects: Vec::with_capacity(6),
            at,
            attempts_left: module.default_max_attempts,
        }
    }

    fn finish(self) -> Turn {
        Turn {
            state: self.state,
            effects: self.effects,
        }
    }

    fn command(&self, norm: &str, typos: bool) -> Option<Command> {
        let k = &self.module.keywords;
        [
            (Command::Stop, &k.stop),
            (Command::Restart, &k.restart),
            (Command::Help, &k.help),
        ]
        .into_iter()
        .find(|(_, words)| {
            if typos {
                matching::whole_keyword(norm, words).is_some()
            } else {
                words.iter().any(|w| w == norm)
            }
        })
        .map(|(c, _)| c)
    }

    /// STOP or HELP in a short phrase (`please stop sending`, `nisaidie`):
    /// the module's keywords or the engine's own words in en/sw/fr, with
    /// only courtesy words around them and no negation.
    fn phrase_command(&self, norm: &str) -> Option<Command> {
        let k = &self.module.keywords;
        if matching::phrase_keyword(norm, &k.stop, matching::BUILTIN_STOP) {
            Some(Command::Stop)
        } else if matching::phrase_keyword(norm, &k.help, matching::BUILTIN_HELP) {
            Some(Command::Help)
        } else {
            None
        }
    }

    /// A learner message while the session waits on the `ask` step `idx`.
    fn reply(&mut self, idx: StepIdx, text: &str) {
        let module = self.module;
        let StepKind::Ask(ask) = &module.step(idx).kind else {
            return;
        };
        let ask: &Ask = ask;
        self.attempts_left = ask.retry.max_attempts.saturating_sub(self.state.attempts);
        let norm = matching::normalize(text);
        if let Some(c) = self.command(&norm, false) {
            return self.obey(c, idx, ask);
        }
        let mut buf = String::new();
        let chosen = matching::match_choice(&norm, &ask.choices, |i, f| {
            let choice_text = &ask.choices[i].text;
            for (_, tpl) in &choice_text.by_lang {
                buf.clear();
                render_into(
                    module,
                    &self.state,
                    (self.attempts_left, self.at),
                    tpl,
                    &mut buf,
                );
                f(&matching::normalize(&buf));
            }
        });
        // Content words that are an opt-out or help phrase (`please stop`)
        // are that phrase, even if a choice holds the word ("Stop buying
        // airtime"): honouring an opt-out comes first.
        if let Some((_, m)) = chosen
            && m.by == MatchedBy::ChoicePartial
            && let Some(c) = self.phrase_command(&norm)
        {
            return self.obey(c, idx, ask);
        }
        if let Some((i, m)) = chosen {
            let choice = &ask.choices[i];
            let correct = ask.quiz.as_ref().map(|q| q.correct.contains(&i));
            let next = choice.next.unwrap_or(ask.next);
            let accepted = Accepted {
                choice: Some(i as u32 + 1),
                correct,
                matched_by: m.by,
                typo: m.typo,
                reply: choice.reply.as_ref(),
                next,
            };
            return self.accept(idx, ask, text, accepted);
        }
        if let Some(c) = self.phrase_command(&norm) {
            return self.obey(c, idx, ask);
        }
        for rule in &ask.answers {
            if let Some(m) = matching::match_rule(&norm, text, &rule.matcher) {
                let correct = match &ask.quiz {
                    Some(_) => Some(rule.correct.unwrap_or(false)),
                    None => rule.correct,
                };
                let accepted = Accepted {
                    choice: None,
                    correct,
                    matched_by: m.by,
                    typo: m.typo,
                    reply: rule.reply.as_ref(),
                    next: rule.next.unwrap_or(ask.next),
                };
                return self.accept(idx, ask, text, accepted);
            }
        }
        if let Some(c) = self.command(&norm, true) {
            return self.obey(c, idx, ask);
        }
        self.unmatched(idx, ask, text);
    }

    fn obey(&mut self, command: Command, idx: StepIdx, ask: &Ask) {
        match command {
            Command::Stop => self.opt_out(),
            Command::Restart => self.restart(),
            Command::Help => {
                self.send(&self.module.messages.help);
                self.prompt(ask);
                self.restart_silence_clock(idx);
            }
        }
    }

    fn accept(&mut self, idx: StepIdx, ask: &Ask, text: &str, a: Accepted<'_>) {
        let module = self.module;
        let typed = text.trim();
        self.state.last_answer = Some(typed.to_owned());
        let quiz = ask.quiz.as_ref().map(|q| q.quiz);
        let question = self.render(ask.text.get(&self.state.language));
        self.effects.push(Effect::Answer {
            step_id: module.step(idx).id.clone(),
            quiz,
            question,
            answer: typed.to_owned(),
            choice: a.choice,
            correct: a.correct,
            attempt: self.state.attempts + 1,
            matched_by: a.matched_by,
            typo: a.typo,
        });
        if let Some(quiz) = quiz {
            self.score(idx, quiz, a.correct == Some(true));
        }
        if let Some(reply) = a.reply {
            self.send(reply);
        }
        let feedback = match a.correct {
            Some(true) => ask.right.as_ref(),
            Some(false) => ask.wrong.as_ref(),
            None => None,
        };
        if let Some(feedback) = feedback {
            self.send(feedback);
        }
        self.run_from(a.next);
    }

    /// Records a quiz answer (the first one per question counts) and emits
    /// the quiz's score.
    fn score(&mut self, idx: StepIdx, quiz: QuizKind, correct: bool) {
        let id = &self.module.step(idx).id;
        let progress = self.state.quiz_mut(quiz);
        if progress.answered.insert(id) && correct {
            progress.correct += 1;
        }
        let score = progress.correct;
        self.effects.push(Effect::Score {
            quiz,
            score,
            total: self.module.quiz_total(quiz),
        });
    }

    fn unmatched(&mut self, idx: StepIdx, ask: &Ask, text: &str) {
        let module = self.module;
        self.state.attempts = self.state.attempts.saturating_add(1);
        let max = ask.retry.max_attempts.max(1);
        self.attempts_left = max.saturating_sub(self.state.attempts);
        let step_id = &module.step(idx).id;
        self.effects.push(Effect::Unmatched {
            step_id: step_id.clone(),
            answer: text.trim().to_owned(),
            attempt: self.state.attempts,
            attempts_left: self.attempts_left,
        });
        if self.state.attempts >= max {
            if let Some(q) = &ask.quiz {
                let question = self.render(ask.text.get(&self.state.language));
                self.effects.push(Effect::Answer {
                    step_id: step_id.clone(),
                    quiz: Some(q.quiz),
                    question,
                    answer: text.trim().to_owned(),
                    choice: None,
                    correct: Some(false),
                    attempt: self.state.attempts,
                    matched_by: MatchedBy::Exhausted,
                    typo: false,
                });
                self.score(idx, q.quiz, false);
            }
            self.send(&module.messages.invalid);
            self.run_from(ask.retry.on_exhausted);
            return;
        }
        self.send(
            ask.retry
                .reprompt
                .as_ref()
                .unwrap_or(&module.messages.invalid),
        );
        self.prompt(ask);
        self.restart_silence_clock(idx);
    }

    /// A learner message to a completed, expired or opted-out session.
    fn reply_when_finished(&mut self, text: &str) {
        let norm = matching::normalize(text);
        let command = self
            .command(&norm, true)
            .or_else(|| self.phrase_command(&norm));
        match command {
            Some(Command::Restart) => self.restart(),
            Some(Command::Stop) if self.state.status != Status::OptedOut => self.opt_out(),
            _ if self.state.status == Status::OptedOut => {}
            _ => self.send(&self.module.messages.finished),
        }
    }

    fn is_pause(&self, idx: StepIdx) -> bool {
        matches!(self.module.step(idx).kind, StepKind::Wait(_))
    }

    /// True when the pause the session rests on has reached its time.
    fn pause_over(&self) -> bool {
        self.state.wake_at.is_some_and(|due| due <= self.at)
    }

    /// A learner message during a pause on the `wait` step `idx`: STOP,
    /// RESTART and HELP work as anywhere; once the pause's time has come
    /// (its wake-up not delivered yet), or on a `skip` reply, the course
    /// goes on at once (the message answers nothing else); any other
    /// message gets the `reply` saying when the course goes on.
    fn reply_paused(&mut self, idx: StepIdx, text: &str) {
        let StepKind::Wait(wait) = &self.module.step(idx).kind else {
            return;
        };
        let norm = matching::normalize(text);
        let command = self
            .command(&norm, false)
            .or_else(|| self.phrase_command(&norm))
            .or_else(|| self.command(&norm, true));
        match command {
            Some(Command::Stop) => return self.opt_out(),
            Some(Command::Restart) => return self.restart(),
            Some(Command::Help) => {
                self.send(&self.module.messages.help);
                return self.pause_reply(wait);
            }
            None => {}
        }
        if self.pause_over() || matching::whole_keyword(&norm, &wait.skip).is_some() {
            self.resume(wait);
        } else {
            self.pause_reply(wait);
        }
    }

    fn wake_paused(&mut self, idx: StepIdx) {
        if let StepKind::Wait(wait) = &self.module.step(idx).kind
            && self.pause_over()
        {
            self.resume(wait);
        }
    }

    fn resume(&mut self, wait: &crate::module::Wait) {
        self.state.wake_at = None;
        self.run_from(wait.next);
    }

    /// Tells a learner who writes during a pause when it ends.
    fn pause_reply(&mut self, wait: &crate::module::Wait) {
        match &wait.reply {
            Some(text) => self.send(text),
            None => {
                let d = defaults::for_learner(&self.state.language);
                let (day, time) = resume_words(&self.state, self.at);
                let text = d
                    .paused
                    .replace("{resume_day}", day)
                    .replace("{resume_time}", &time);
                self.push_send(text);
            }
        }
    }

    /// The session rests on the `wait` step `idx` from now.
    fn pause(&mut self, idx: StepIdx, wait: &crate::module::Wait) {
        self.state.step.clone_from(&self.module.step(idx).id);
        self.state.attempts = 0;
        self.stop_waiting();
        let until = wait.resume_at(self.at, self.state.tz());
        self.state.wake_at = until;
        self.effects.push(Effect::Paused {
            step_id: self.module.step(idx).id.clone(),
            until,
        });
    }

    fn opt_out(&mut self) {
        self.state.status = Status::OptedOut;
        self.stop_waiting();
        self.send(&self.module.messages.stopped);
        self.effects.push(Effect::OptedOut);
    }

    fn restart(&mut self) {
        let s = &mut self.state;
        s.status = Status::Active;
        s.pre = QuizProgress::default();
        s.post = QuizProgress::default();
        s.last_answer = None;
        self.effects.push(Effect::Restarted);
        self.run_from(StepIdx(0));
    }

    fn wake(&mut self, idx: StepIdx) {
        let module = self.module;
        let Some(due) = self.state.wake_at else {
            return;
        };
        if self.at < due {
            return;
        }
        let StepKind::Ask(ask) = &module.step(idx).kind else {
            return;
        };
        let Some(t) = ask.timeouts.as_ref().or(module.timeouts.as_ref()) else {
            self.state.wake_at = None;
            return;
        };
        if self.expiry_passed(idx) {
            self.expire();
            return;
        }
        if self.reminder_due(t).is_some_and(|r| r <= self.at) {
            self.state.reminders += 1;
            self.state.last_reminder_at = Some(self.at);
            self.attempts_left = ask.retry.max_attempts.saturating_sub(self.state.attempts);
            match &t.reminder {
                Some(text) => self.send(text),
                None => self.prompt(ask),
            }
            self.effects.push(Effect::Reminded {
                step_id: module.step(idx).id.clone(),
                count: self.state.reminders,
            });
        }
        self.schedule(ask);
    }

    /// True when the session waiting on `idx` has been silent for its
    /// `expire_after` at `self.at`.
    fn expiry_passed(&self, idx: StepIdx) -> bool {
        let StepKind::Ask(ask) = &self.module.step(idx).kind else {
            return false;
        };
        let expire_after = ask
            .timeouts
            .as_ref()
            .or(self.module.timeouts.as_ref())
            .and_then(|t| t.expire_after);
        self.state
            .waiting_since
            .zip(expire_after)
            .and_then(|(since, d)| since.checked_add_signed(d))
            .is_some_and(|e| e <= self.at)
    }

    fn expire(&mut self) {
        self.state.status = Status::Expired;
        self.stop_waiting();
        if let Some(text) = &self.module.messages.expired {
            self.send(text);
        }
        self.effects.push(Effect::Expired);
    }

    fn reminder_due(&self, t: &crate::module::Timeouts) -> Option<DateTime<Utc>> {
        if self.state.reminders >= t.max_reminders {
            return None;
        }
        let from = self.state.last_reminder_at.or(self.state.waiting_since)?;
        from.checked_add_signed(t.remind_after?)
    }

    /// Runs steps from `idx`: sends `say`s, stops at the first `ask` (which
    /// then waits) or `end` (which completes the session).
    fn run_from(&mut self, mut idx: StepIdx) {
        let module = self.module;
        // A chain of `say`s longer than the module is a loop; the loader
        // rejects those, so this bound only guards hand-built modules.
        for _ in 0..=module.steps.len() {
            let Some(step) = module.steps.get(idx.index()) else {
                break;
            };
            if let Some(trace) = self.trace.as_deref_mut() {
                trace.push(idx);
            }
            match &step.kind {
                StepKind::Say { text, next } => {
                    self.send(text);
                    idx = *next;
                }
                StepKind::Ask(ask) => {
                    self.state.step.clone_from(&step.id);
                    self.state.attempts = 0;
                    self.attempts_left = ask.retry.max_attempts;
                    self.prompt(ask);
                    self.restart_silence_clock(idx);
                    return;
                }
                StepKind::Wait(wait) => {
                    self.pause(idx, wait);
                    return;
                }
                StepKind::End { text } => {
                    self.state.step.clone_from(&step.id);
                    if let Some(text) = text {
                        self.send(text);
                    }
                    self.complete();
                    return;
                }
            }
        }
        self.complete();
    }

    fn complete(&mut self) {
        self.state.status = Status::Completed;
        self.state.attempts = 0;
        self.stop_waiting();
        self.effects.push(Effect::Completed);
    }

    fn stop_waiting(&mut self) {
        let s = &mut self.state;
        s.waiting_since = None;
        s.last_reminder_at = None;
        s.reminders = 0;
        s.wake_at = None;
    }

    /// The learner is (again) being waited for on `idx`, from now.
    fn restart_silence_clock(&mut self, idx: StepIdx) {
        self.state.waiting_since = Some(self.at);
        self.state.last_reminder_at = None;
        self.state.reminders = 0;
        if let StepKind::Ask(ask) = &self.module.step(idx).kind {
            self.schedule(ask);
        }
    }

    /// Sets `wake_at` to the next reminder or the expiry, whichever is first.
    fn schedule(&mut self, ask: &Ask) {
        let Some(t) = ask.timeouts.as_ref().or(self.module.timeouts.as_ref()) else {
            self.state.wake_at = None;
            return;
        };
        let expires = self
            .state
            .waiting_since
            .zip(t.expire_after)
            .and_then(|(since, d)| since.checked_add_signed(d));
        let remind = self.reminder_due(t);
        self.state.wake_at = match (remind, expires) {
            (Some(r), Some(e)) => Some(r.min(e)),
            (r, e) => r.or(e),
        };
    }

    /// Sends the prompt of `ask`, with its numbered choices when listed.
    fn prompt(&mut self, ask: &Ask) {
        let lang = &self.state.language;
        let mut out = String::with_capacity(256);
        render_into(
            self.module,
            &self.state,
            (self.attempts_left, self.at),
            ask.text.get(lang),
            &mut out,
        );
        if ask.list_choices && !ask.choices.is_empty() {
            for (i, choice) in ask.choices.iter().enumerate() {
                out.push('\n');
                push_u32(&mut out, i as u32 + 1);
                out.push_str(". ");
                render_into(
                    self.module,
                    &self.state,
                    (self.attempts_left, self.at),
                    choice.text.get(lang),
                    &mut out,
                );
            }
            out.push('\n');
            reply_hint(lang, ask.choices.len(), &mut out);
        }
        self.push_send(out);
    }

    fn send(&mut self, text: &Text) {
        let out = self.render(text.get(&self.state.language));
        self.push_send(out);
    }

    fn push_send(&mut self, text: String) {
        if !text.trim().is_empty() {
            self.effects.push(Effect::Send { text });
        }
    }

    fn render(&self, tpl: &Template) -> String {
        let mut out = String::with_capacity(rendered_len_hint(tpl));
        render_into(
            self.module,
            &self.state,
            (self.attempts_left, self.at),
            tpl,
            &mut out,
        );
        out
    }
}

/// What an accepted reply leads to.
struct Accepted<'a> {
    choice: Option<u32>,
    correct: Option<bool>,
    matched_by: MatchedBy,
    typo: bool,
    reply: Option<&'a Text>,
    next: StepIdx,
}

/// `Module::step_by_id`, comparing ids from their last byte: ids of one
/// module often share a prefix (`pre_q1`, `pre_q2`), so this rejects most
/// steps at the first byte compared.
fn find_step(module: &Module, id: &str) -> Option<StepIdx> {
    let id = id.as_bytes();
    module
        .steps
        .iter()
        .position(|s| {
            let s = s.id.as_bytes();
            s.len() == id.len() && s.iter().rev().zip(id.iter().rev()).all(|(a, b)| a == b)
        })
        .map(|i| StepIdx(i as u32))
}

/// Appends `n` in decimal (cheaper than `write!` on the hot path).
fn push_u32(out: &mut String, n: u32) {
    let mut buf = [0u8; 10];
    let mut i = buf.len();
    let mut n = n;
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &b in &buf[i..] {
        out.push(char::from(b));
    }
}

/// Roughly how long `tpl` renders (variables are short), so one allocation
/// usually suffices.
fn rendered_len_hint(tpl: &Template) -> usize {
    tpl.parts
        .iter()
        .map(|p| match p {
            Part::Lit(s) => s.len(),
            Part::Var(_) => 16,
            Part::VarOr(_, d) => 16 + d.len(),
        })
        .sum()
}

/// Renders a template for the learner in `state`.
fn render_into(
    module: &Module,
    state: &State,
    (attempts_left, at): (u32, DateTime<Utc>),
    tpl: &Template,
    out: &mut String,
) {
    for part in &tpl.parts {
        match part {
            Part::Lit(s) => out.push_str(s),
            Part::Var(v) => match v {
                Var::ModuleName => literal(module.name_text.get(&state.language), out),
                Var::ModuleGoal => literal(module.goal_text.get(&state.language), out),
                Var::LearnerName => out.push_str(state.learner_name.as_deref().unwrap_or("")),
                Var::Score(q) => push_u32(out, state.quiz(*q).correct),
                Var::Total(q) => push_u32(out, module.quiz_total(*q)),
                Var::Answer => out.push_str(state.last_answer.as_deref().unwrap_or("")),
                Var::AttemptsLeft => push_u32(out, attempts_left),
                Var::ResumeDay => out.push_str(resume_words(state, at).0),
                Var::ResumeTime => out.push_str(&resume_words(state, at).1),
            },
            Part::VarOr(v, default) => {
                let value = match v {
                    Var::LearnerName => state.learner_name.as_deref(),
                    Var::Answer => state.last_answer.as_deref(),
                    _ => None,
                };
                match value.filter(|s| !s.trim().is_empty()) {
                    Some(s) => out.push_str(s),
                    None => out.push_str(default),
                }
            }
        }
    }
}

/// `{resume_day}` and `{resume_time}` of a paused session at `at`: the day
/// the pause ends, relative to the learner's today (in their language),
/// and its local time; empty when the session is not paused.
fn resume_words(state: &State, at: DateTime<Utc>) -> (&'static str, String) {
    use chrono::Datelike;
    let Some(until) = state.wake_at else {
        return ("", String::new());
    };
    let tz = state.tz();
    let d = defaults::for_learner(&state.language);
    let local = until.with_timezone(&tz);
    let today = at.with_timezone(&tz).date_naive();
    let day = match (local.date_naive() - today).num_days() {
        ..=0 => d.today,
        1 => d.tomorrow,
        _ => d.on_weekday[local.weekday().num_days_from_monday() as usize],
    };
    (day, local.format("%H:%M").to_string())
}

/// Appends a template's literal parts (module names and goals have no
/// variables).
fn literal(tpl: &Template, out: &mut String) {
    for part in &tpl.parts {
        if let Part::Lit(s) = part {
            out.push_str(s);
        }
    }
}

/// "Reply 1, 2 or 3." in the learner's language (English unless the engine
/// speaks it: see [`defaults`]).
fn reply_hint(lang: &Lang, n: usize, out: &mut String) {
    let texts = defaults::for_learner(lang);
    let (reply, or) = (texts.reply, texts.or);
    out.push_str(reply);
    for i in 1..=n {
        let sep = match i {
            1 => " ",
            _ if i == n => " ",
            _ => ", ",
        };
        out.push_str(sep);
        if i == n && n > 1 {
            out.push_str(or);
            out.push(' ');
        }
        push_u32(out, i as u32);
    }
    out.push('.');
}

pub mod defaults;

#[cfg(test)]
pub(crate) mod testkit;

#[cfg(test)]
mod tests;
