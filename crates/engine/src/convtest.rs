//! Conversation tests: `NAME.test.yaml` files that script a learner and
//! check every bot message, the final status and the scores
//! (docs/module-format.md, "Conversation tests").
//!
//! Pure like the rest of the engine: [`parse_tests`] takes the test file's
//! text, [`run_tests`] a loaded [`Module`]; the `chatcourse test` command
//! reads the files. Time is simulated: a test starts at
//! [`TEST_START`], each learner message arrives one minute after the
//! previous event, and `wait: 25h` moves the clock forward, delivering every
//! wake-up that falls due on the way (each at its own `wake_at`).

use std::collections::VecDeque;
use std::fmt::{self, Write as _};

use chrono::{DateTime, Duration, TimeZone, Utc};

use crate::diagnostics::{Diagnostic, Severity};
use crate::module::{Module, QuizKind, StepIdx};
use crate::runtime::{self, Input, StartOptions, State, Status, Turn};
use crate::syntax::{self, LineIndex, Node, NodeKind, Span};

/// A parsed test file.
#[derive(Debug, Clone)]
pub struct TestFile {
    pub tests: Vec<ConvTest>,
}

/// One scripted conversation.
#[derive(Debug, Clone)]
pub struct ConvTest {
    pub name: String,
    /// 1-based line of the test in its file.
    pub line: u32,
    pub language: Option<String>,
    pub learner_name: Option<String>,
    /// The learner's IANA time zone (`timezone: Africa/Nairobi`), for
    /// `wait` steps with a time of day; UTC if absent.
    pub timezone: Option<String>,
    pub conversation: Vec<Item>,
    pub expect: Expect,
}

/// One line of a conversation, with its 1-based line in the test file.
#[derive(Debug, Clone)]
pub struct Item {
    pub line: u32,
    pub kind: ItemKind,
}

#[derive(Debug, Clone)]
pub enum ItemKind {
    /// The next bot message must fit.
    Bot(BotExpect),
    /// The learner sends this text.
    Learner(String),
    /// Time passes with no reply.
    Wait(Duration),
}

/// What a bot message must be.
#[derive(Debug, Clone)]
pub enum BotExpect {
    Exact(String),
    Contains(String),
    Matches(regex::Regex),
}

impl BotExpect {
    pub fn fits(&self, message: &str) -> bool {
        match self {
            BotExpect::Exact(s) => message == s,
            BotExpect::Contains(s) => message.contains(s.as_str()),
            BotExpect::Matches(re) => re.is_match(message),
        }
    }
}

impl fmt::Display for BotExpect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BotExpect::Exact(s) => write!(f, "{s:?}"),
            BotExpect::Contains(s) => write!(f, "a message containing {s:?}"),
            BotExpect::Matches(re) => write!(f, "a message matching /{}/", re.as_str()),
        }
    }
}

/// Checks made when the conversation is over.
#[derive(Debug, Clone, Default)]
pub struct Expect {
    pub status: Option<Status>,
    pub pre_score: Option<(u32, u32)>,
    pub post_score: Option<(u32, u32)>,
}

/// When every test conversation starts (simulated time).
pub const TEST_START: &str = "2026-01-05T08:00:00Z";

fn test_start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 8, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

// ---------------------------------------------------------------- parsing

/// Parses a test file. Returns the tests when there is no error, and every
/// problem found, with positions in the test file.
pub fn parse_tests(source: &str) -> (Option<TestFile>, Vec<Diagnostic>) {
    let index = LineIndex::new(source);
    let parsed = syntax::parse_with(&index);
    let mut p = Parser {
        diags: parsed.diagnostics,
    };
    let tests = match &parsed.root {
        Some(root) if !p.has_errors() => p.file(root),
        Some(_) => Vec::new(),
        None => {
            if !p.has_errors() {
                p.error(
                    index.span(0, 0),
                    "the file holds no tests",
                    "start with `tests:`",
                );
            }
            Vec::new()
        }
    };
    let ok = !p.has_errors();
    let mut diags = p.diags;
    diags.sort_by_key(|d| (d.line, d.column));
    (ok.then_some(TestFile { tests }), diags)
}

struct Parser {
    diags: Vec<Diagnostic>,
}

/// The entries of a YAML map checked against known field names.
type Fields<'n> = Vec<(&'n str, &'n Node, &'n Node)>;

impl Parser {
    fn has_errors(&self) -> bool {
        self.diags.iter().any(Diagnostic::is_error)
    }

    fn error(&mut self, span: Span, message: impl Into<String>, hint: impl Into<String>) {
        let hint: String = hint.into();
        self.diags.push(Diagnostic {
            severity: Severity::Error,
            code: "invalid-test",
            message: message.into(),
            line: span.line,
            column: span.column,
            span: span.range(),
            hint: (!hint.is_empty()).then_some(hint),
        });
    }

    /// The entries of map `node` (`what` names it); unknown keys are errors.
    fn map<'n>(&mut self, node: &'n Node, what: &str, known: &[&str]) -> Option<Fields<'n>> {
        let NodeKind::Map(entries) = &node.kind else {
            self.error(
                node.span,
                format!("{what} should be a map, found {}", node.describe()),
                "",
            );
            return None;
        };
        let mut out = Vec::new();
        for e in entries {
            match e.key.as_scalar() {
                Some(k) if known.contains(&k) => out.push((k, &e.key, &e.value)),
                Some(k) => {
                    let hint = crate::diagnostics::suggest(k, known.iter().copied())
                        .unwrap_or_else(|| format!("known fields: {}", known.join(", ")));
                    self.error(e.key.span, format!("unknown field `{k}` in {what}"), hint);
                }
                None => self.error(e.key.span, format!("keys of {what} should be names"), ""),
            }
        }
        Some(out)
    }

    fn scalar(&mut self, node: &Node, field: &str) -> Option<String> {
        match node.as_scalar() {
            Some(s) if !node.is_null() || field == "bot" => Some(s.to_owned()),
            _ => {
                self.error(
                    node.span,
                    format!("`{field}` should be a text, found {}", node.describe()),
                    "",
                );
                None
            }
        }
    }

    fn file(&mut self, root: &Node) -> Vec<ConvTest> {
        let Some(fields) = self.map(root, "a test file", &["tests"]) else {
            return Vec::new();
        };
        let Some((_, _, list)) = fields.iter().find(|(k, _, _)| *k == "tests") else {
            self.error(
                root.span,
                "a test file needs `tests:`",
                "`tests:` is a list of tests",
            );
            return Vec::new();
        };
        let NodeKind::Seq(items) = &list.kind else {
            self.error(list.span, "`tests` should be a list", "");
            return Vec::new();
        };
        items.iter().filter_map(|t| self.test(t)).collect()
    }

    fn test(&mut self, node: &Node) -> Option<ConvTest> {
        const KNOWN: &[&str] = &[
            "name",
            "language",
            "learner_name",
            "timezone",
            "conversation",
            "expect",
        ];
        let fields = self.map(node, "a test", KNOWN)?;
        let mut test = ConvTest {
            name: String::new(),
            line: node.span.line,
            language: None,
            learner_name: None,
            timezone: None,
            conversation: Vec::new(),
            expect: Expect::default(),
        };
        let mut has_name = false;
        let mut has_conversation = false;
        for (k, _, v) in fields {
            match k {
                "name" => {
                    has_name = true;
                    test.name = self.scalar(v, k).unwrap_or_default();
                }
                "language" => test.language = self.scalar(v, k),
                "learner_name" => test.learner_name = self.scalar(v, k),
                "timezone" => {
                    test.timezone = self.scalar(v, k);
                    if let Some(tz) = test.timezone.as_deref()
                        && !crate::runtime::is_time_zone(tz)
                    {
                        self.error(
                            v.span,
                            format!("`{tz}` is not a time zone"),
                            "write an IANA time zone name such as `Africa/Nairobi` or `UTC`",
                        );
                    }
                }
                "conversation" => {
                    has_conversation = true;
                    match &v.kind {
                        NodeKind::Seq(items) => {
                            test.conversation = items.iter().filter_map(|i| self.item(i)).collect();
                        }
                        _ => self.error(v.span, "`conversation` should be a list", ""),
                    }
                }
                _ => test.expect = self.expect(v),
            }
        }
        if !has_name {
            self.error(node.span, "a test needs a `name`", "");
        }
        if !has_conversation {
            self.error(
                node.span,
                "a test needs a `conversation`",
                "list `- bot: ...`, `- learner: ...` and `- wait: ...` lines",
            );
        }
        Some(test)
    }

    fn item(&mut self, node: &Node) -> Option<Item> {
        let fields = self.map(node, "a conversation line", &["bot", "learner", "wait"])?;
        let [(k, _, v)] = fields.as_slice() else {
            self.error(
                node.span,
                "a conversation line has exactly one of `bot`, `learner` or `wait`",
                "",
            );
            return None;
        };
        let line = node.span.line;
        let kind = match *k {
            "bot" => ItemKind::Bot(self.bot(v)?),
            "learner" => ItemKind::Learner(self.scalar(v, "learner")?),
            _ => {
                let text = self.scalar(v, "wait")?;
                match parse_duration(&text) {
                    Some(d) => ItemKind::Wait(d),
                    None => {
                        self.error(
                            v.span,
                            format!("`{text}` is not a duration"),
                            "write a number and a unit: `30s`, `15m`, `25h`, `2d` or `1w`",
                        );
                        return None;
                    }
                }
            }
        };
        Some(Item { line, kind })
    }

    fn bot(&mut self, node: &Node) -> Option<BotExpect> {
        if let NodeKind::Map(_) = node.kind {
            let fields = self.map(node, "`bot`", &["contains", "matches"])?;
            let [(k, _, v)] = fields.as_slice() else {
                self.error(node.span, "`bot` takes one of `contains` or `matches`", "");
                return None;
            };
            let text = self.scalar(v, k)?;
            return match *k {
                "contains" => Some(BotExpect::Contains(text)),
                _ => match regex::Regex::new(&text) {
                    Ok(re) => Some(BotExpect::Matches(re)),
                    Err(e) => {
                        self.error(v.span, format!("invalid regular expression: {e}"), "");
                        None
                    }
                },
            };
        }
        // `bot: ""` (and `bot:`) expects an empty message, which is never
        // sent; it is still parsed, and fails when run.
        let text = if node.is_null() {
            String::new()
        } else {
            self.scalar(node, "bot")?
        };
        Some(BotExpect::Exact(text))
    }

    fn expect(&mut self, node: &Node) -> Expect {
        let mut expect = Expect::default();
        let Some(fields) = self.map(node, "`expect`", &["status", "pre_score", "post_score"])
        else {
            return expect;
        };
        for (k, _, v) in fields {
            let Some(text) = self.scalar(v, k) else {
                continue;
            };
            match k {
                "status" => {
                    expect.status = match text.as_str() {
                        "active" => Some(Status::Active),
                        "completed" => Some(Status::Completed),
                        "opted_out" => Some(Status::OptedOut),
                        "expired" => Some(Status::Expired),
                        _ => {
                            self.error(
                                v.span,
                                format!("unknown status `{text}`"),
                                "one of: active, completed, opted_out, expired",
                            );
                            None
                        }
                    }
                }
                _ => {
                    let score = text
                        .split_once('/')
                        .and_then(|(a, b)| Some((a.trim().parse().ok()?, b.trim().parse().ok()?)));
                    if score.is_none() {
                        self.error(v.span, format!("`{k}` should look like `2/3`"), "");
                    }
                    if k == "pre_score" {
                        expect.pre_score = score;
                    } else {
                        expect.post_score = score;
                    }
                }
            }
        }
        expect
    }
}

/// `30s`, `15m`, `25h`, `2d`, `1w`, or sums such as `1d2h`.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    let mut secs: i64 = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let n: i64 = rest[..digits].parse().ok()?;
        rest = rest[digits..].trim_start();
        let unit = match rest.chars().next()? {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return None,
        };
        rest = rest[1..].trim_start();
        secs = secs.checked_add(n.checked_mul(unit)?)?;
    }
    // Ten years at most: enough for any test, far from overflow.
    (secs <= 10 * 366 * 86_400).then(|| Duration::seconds(secs))
}

// ---------------------------------------------------------------- running

/// One line of what actually happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Said {
    Bot(String),
    Learner(String),
    Wait(String),
}

impl fmt::Display for Said {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (who, text) = match self {
            Said::Bot(t) => ("bot> ", t.as_str()),
            Said::Learner(t) => ("you> ", t.as_str()),
            Said::Wait(t) => ("...  ", t.as_str()),
        };
        for (i, line) in text.split('\n').enumerate() {
            if i > 0 {
                f.write_str("\n     ")?;
            } else {
                f.write_str(who)?;
            }
            f.write_str(line)?;
        }
        Ok(())
    }
}

/// Why a test failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// 1-based line in the test file of the conversation line or `expect`.
    pub line: u32,
    pub message: String,
    /// Expected and actual values, when there is a comparison to show.
    pub expected: Option<String>,
    pub actual: Option<String>,
}

/// The result of one test.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub name: String,
    pub line: u32,
    pub failure: Option<Failure>,
    /// The conversation as it happened (up to the failure, plus the bot
    /// messages that were pending then).
    pub transcript: Vec<Said>,
    pub final_state: Option<State>,
}

impl Outcome {
    pub fn passed(&self) -> bool {
        self.failure.is_none()
    }

    /// A readable failure report: what differs, then the transcript with
    /// the last lines (the ones that matter) at the bottom.
    pub fn report(&self) -> String {
        let mut out = String::new();
        let Some(f) = &self.failure else {
            return out;
        };
        let _ = writeln!(out, "  line {}: {}", f.line, f.message);
        if let Some(e) = &f.expected {
            let _ = writeln!(out, "    expected: {e}");
        }
        if let Some(a) = &f.actual {
            let _ = writeln!(out, "    actual:   {a}");
        }
        const SHOWN: usize = 12;
        let skip = self.transcript.len().saturating_sub(SHOWN);
        let _ = writeln!(out, "  transcript:");
        if skip > 0 {
            let _ = writeln!(out, "    ({skip} earlier lines)");
        }
        for said in &self.transcript[skip..] {
            for line in said.to_string().lines() {
                let _ = writeln!(out, "    {line}");
            }
        }
        out
    }
}

/// Results of a test file, and which steps the tests reached.
#[derive(Debug, Clone)]
pub struct FileReport {
    pub outcomes: Vec<Outcome>,
    /// `visited[i]`: some test ran step `i`.
    pub visited: Vec<bool>,
}

impl FileReport {
    pub fn passed(&self) -> usize {
        self.outcomes.iter().filter(|o| o.passed()).count()
    }

    pub fn failed(&self) -> usize {
        self.outcomes.len() - self.passed()
    }

    /// Ids (and lines) of the steps no test reached, in file order.
    pub fn unreached<'m>(&self, module: &'m Module) -> Vec<(&'m str, u32)> {
        module
            .steps
            .iter()
            .zip(&self.visited)
            .filter(|(_, v)| !**v)
            .map(|(s, _)| (s.id.as_str(), s.line))
            .collect()
    }
}

/// Runs every test of `file` against `module`.
pub fn run_tests(module: &Module, file: &TestFile) -> FileReport {
    let mut visited = vec![false; module.steps.len()];
    let mut trace = Vec::new();
    let outcomes = file
        .tests
        .iter()
        .map(|t| {
            trace.clear();
            let outcome = run_test(module, t, &mut trace);
            for idx in &trace {
                if let Some(v) = visited.get_mut(idx.index()) {
                    *v = true;
                }
            }
            outcome
        })
        .collect();
    FileReport { outcomes, visited }
}

/// Runs one test; the steps it ran are appended to `trace`.
pub fn run_test(module: &Module, test: &ConvTest, trace: &mut Vec<StepIdx>) -> Outcome {
    let mut run = Run {
        module,
        now: test_start(),
        pending: VecDeque::new(),
        transcript: Vec::new(),
        trace,
        state: None,
    };
    let failure = run.play(test).err();
    let mut transcript = run.transcript;
    // Show what the bot had said but the test had not listed yet.
    transcript.extend(run.pending.into_iter().map(Said::Bot));
    Outcome {
        name: test.name.clone(),
        line: test.line,
        failure,
        transcript,
        final_state: run.state,
    }
}

struct Run<'a> {
    module: &'a Module,
    now: DateTime<Utc>,
    /// Bot messages sent but not yet checked.
    pending: VecDeque<String>,
    transcript: Vec<Said>,
    trace: &'a mut Vec<StepIdx>,
    state: Option<State>,
}

impl Run<'_> {
    fn play(&mut self, test: &ConvTest) -> Result<(), Failure> {
        let opts = StartOptions {
            language: test.language.clone(),
            learner_name: test.learner_name.clone(),
        };
        let zone = test.timezone.as_deref();
        let turn = runtime::start_inner(self.module, (opts, zone), self.now, Some(self.trace));
        self.take(turn);
        let mut bot_index = 0;
        for item in &test.conversation {
            match &item.kind {
                ItemKind::Bot(expect) => {
                    bot_index += 1;
                    let Some(message) = self.pending.pop_front() else {
                        return Err(fail(
                            item.line,
                            format!("bot message {bot_index} was never sent"),
                            Some(expect.to_string()),
                            Some("(no more messages)".into()),
                        ));
                    };
                    self.transcript.push(Said::Bot(message.clone()));
                    if !expect.fits(&message) {
                        return Err(fail(
                            item.line,
                            format!("bot message {bot_index} differs"),
                            Some(expect.to_string()),
                            Some(format!("{message:?}")),
                        ));
                    }
                }
                ItemKind::Learner(text) => {
                    self.no_unlisted(item.line, "before the learner replies")?;
                    self.now += Duration::minutes(1);
                    self.transcript.push(Said::Learner(text.clone()));
                    let input = Input::text(text.clone(), self.now);
                    self.input(item.line, &input)?;
                }
                ItemKind::Wait(d) => {
                    self.no_unlisted(item.line, "before the wait")?;
                    self.transcript
                        .push(Said::Wait(format!("{} pass", human(*d))));
                    let until = self.now + *d;
                    while let Some(wake) = self.state.as_ref().and_then(|s| s.wake_at) {
                        if wake > until {
                            break;
                        }
                        self.now = wake.max(self.now);
                        self.input(item.line, &Input::Wake { at: self.now })?;
                    }
                    self.now = until;
                }
            }
        }
        let end_line = test.conversation.last().map_or(test.line, |i| i.line);
        self.no_unlisted(end_line, "at the end of the conversation")?;
        self.check_expect(test)
    }

    fn take(&mut self, turn: Turn) {
        self.pending.extend(turn.messages().map(str::to_owned));
        self.state = Some(turn.state);
    }

    fn input(&mut self, line: u32, input: &Input) -> Result<(), Failure> {
        let Some(state) = &self.state else {
            return Ok(());
        };
        match runtime::step_traced(self.module, state, input, self.trace) {
            Ok(turn) => {
                self.take(turn);
                Ok(())
            }
            Err(e) => Err(fail(
                line,
                format!("the engine refused the state: {e}"),
                None,
                None,
            )),
        }
    }

    fn no_unlisted(&self, line: u32, when: &str) -> Result<(), Failure> {
        match self.pending.front() {
            None => Ok(()),
            Some(m) => Err(fail(
                line,
                format!(
                    "the bot sent {} message(s) {when} that the test does not list",
                    self.pending.len()
                ),
                None,
                Some(format!("{m:?}")),
            )),
        }
    }

    fn check_expect(&self, test: &ConvTest) -> Result<(), Failure> {
        let Some(state) = &self.state else {
            return Ok(());
        };
        let line = test.line;
        if let Some(want) = test.expect.status
            && want != state.status
        {
            return Err(fail(
                line,
                "status differs".into(),
                Some(want.as_str().into()),
                Some(state.status.as_str().into()),
            ));
        }
        for (quiz, want) in [
            (QuizKind::Pre, test.expect.pre_score),
            (QuizKind::Post, test.expect.post_score),
        ] {
            let Some(want) = want else { continue };
            let got = (state.quiz(quiz).correct, self.module.quiz_total(quiz));
            if got != want {
                return Err(fail(
                    line,
                    format!("{}_score differs", quiz.as_str()),
                    Some(format!("{}/{}", want.0, want.1)),
                    Some(format!("{}/{}", got.0, got.1)),
                ));
            }
        }
        Ok(())
    }
}

fn fail(line: u32, message: String, expected: Option<String>, actual: Option<String>) -> Failure {
    Failure {
        line,
        message,
        expected,
        actual,
    }
}

/// `25h`, `2d`, `90m` for transcripts.
fn human(d: Duration) -> String {
    let s = d.num_seconds();
    match s {
        _ if s % 86_400 == 0 => format!("{}d", s / 86_400),
        _ if s % 3600 == 0 => format!("{}h", s / 3600),
        _ if s % 60 == 0 => format!("{}m", s / 60),
        _ => format!("{s}s"),
    }
}
