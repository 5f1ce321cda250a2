//! Loading: YAML source -> compiled [`Module`] plus *all* diagnostics.
//!
//! Three passes, none of which stops at the first problem:
//!
//! 1. `syntax::parse` builds a spanned YAML tree (YAML syntax errors end
//!    loading here: the parser cannot recover from them).
//! 2. Lowering (this file, `values`, `steps`) reads the tree field by field
//!    into draft steps, reporting unknown fields, wrong types, bad texts,
//!    templates, regular expressions, durations and per-step rules.
//! 3. `graph` resolves step references and checks the course as a whole:
//!    duplicate ids, unknown steps, steps with no way on, unreachable steps,
//!    endless `say` loops and empty quizzes. A [`Module`] is assembled only
//!    when no diagnostic is an error.

pub mod format;
mod graph;
mod pause;
mod steps;
mod values;

pub use format::{json_schema, json_schema_text};

use sha2::{Digest, Sha256};

use crate::diagnostics::{Diagnostic, Severity};
use crate::module::{Keywords, Lang, Module, Part, QuizKind, SystemMessages, Text};
use crate::syntax::{self, LineIndex, Node, NodeKind, Span};

/// The outcome of loading one module source. `module` is `Some` exactly when
/// no diagnostic is an error.
#[derive(Debug)]
pub struct LoadResult {
    pub module: Option<Module>,
    /// Every finding, sorted by position in the source.
    pub diagnostics: Vec<Diagnostic>,
}

impl LoadResult {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// [`load_module`], also comparing the module with its `previous` version
/// (the one learners were enrolled on so far): a quiz question kept under
/// the same `id` whose right answer changed gets a `correct-changed`
/// warning, since its results before and after are not comparable.
pub fn load_module_after(source: &str, previous: &Module) -> LoadResult {
    let mut result = load_module(source);
    let Some(module) = &result.module else {
        return result;
    };
    let index = LineIndex::new(source);
    let root = syntax::parse_with(&index).root;
    for (i, step) in module.steps.iter().enumerate() {
        let Some((now, quiz)) = right_answers(step) else {
            continue;
        };
        let Some((before, old_quiz)) = previous
            .step_by_id(&step.id)
            .and_then(|idx| right_answers(previous.step(idx)))
        else {
            continue;
        };
        if now == before || quiz != old_quiz {
            continue;
        }
        let span = root
            .as_ref()
            .and_then(|r| step_field_span(r, i, "correct"))
            .unwrap_or_else(|| {
                index.span(index.line_start(step.line), index.line_start(step.line))
            });
        let list = |answers: &[String]| {
            answers
                .iter()
                .map(|a| format!("`{a}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        result.diagnostics.push(Diagnostic {
            severity: Severity::Warning,
            code: "correct-changed",
            message: format!(
                "question `{}` was right with {} in the previous version, now with {}: its results before and after this change are not comparable",
                step.id,
                list(&before),
                list(&now)
            ),
            line: span.line,
            column: span.column,
            span: span.range(),
            hint: Some(format!(
                "give the changed question a new `id` (e.g. `{}_v2`), so that its results are kept apart",
                step.id
            )),
        });
    }
    result.diagnostics.sort_by_key(|d| d.span.start);
    result
}

/// The right answers of the quiz question `step_id` of `module` (as
/// [`load_module_after`] compares them: normalised base-language texts,
/// sorted) and its quiz; `None` when the module has no such quiz question.
pub fn quiz_right_answers(module: &Module, step_id: &str) -> Option<(Vec<String>, QuizKind)> {
    module
        .step_by_id(step_id)
        .and_then(|idx| right_answers(module.step(idx)))
}

/// A quiz question as the module writes it: its base-language texts, with
/// the template variables left out (to describe results, e.g. in a Flow
/// Results package).
#[derive(Debug, Clone, PartialEq)]
pub struct QuizQuestionText {
    pub id: String,
    pub quiz: QuizKind,
    pub question: String,
    /// The choices' texts, in order; empty for a free-text question.
    pub choices: Vec<String>,
}

/// The module's quiz questions, in step order.
pub fn quiz_questions(module: &Module) -> Vec<QuizQuestionText> {
    module
        .steps
        .iter()
        .filter_map(|step| {
            let crate::module::StepKind::Ask(ask) = &step.kind else {
                return None;
            };
            let quiz = ask.quiz.as_ref()?;
            Some(QuizQuestionText {
                id: step.id.clone(),
                quiz: quiz.quiz,
                question: literal(&ask.text).trim().to_owned(),
                choices: ask
                    .choices
                    .iter()
                    .map(|c| literal(&c.text).trim().to_owned())
                    .collect(),
            })
        })
        .collect()
}

/// The right answers of a quiz question, as their normalised base-language
/// texts (sorted), and its quiz; `None` for other steps.
fn right_answers(step: &crate::module::Step) -> Option<(Vec<String>, QuizKind)> {
    let crate::module::StepKind::Ask(ask) = &step.kind else {
        return None;
    };
    let quiz = ask.quiz.as_ref()?;
    let mut answers: Vec<String> = if ask.choices.is_empty() {
        // Free text: the rules marked right, as written.
        ask.answers
            .iter()
            .filter(|r| r.correct == Some(true))
            .map(|r| match &r.matcher {
                crate::module::Matcher::Keywords(words) => words.join(", "),
                crate::module::Matcher::Regex(re) => re.as_str().to_owned(),
                crate::module::Matcher::Number { min, max } => format!("{min:?}-{max:?}"),
                crate::module::Matcher::Any => "anything".to_owned(),
            })
            .collect()
    } else {
        quiz.correct
            .iter()
            .filter_map(|&c| ask.choices.get(c))
            .map(|c| crate::matching::normalize(&literal(&c.text)))
            .collect()
    };
    answers.sort();
    Some((answers, quiz.quiz))
}

/// The span of `field` in the `index`th step of the module's `steps`.
fn step_field_span(root: &Node, index: usize, field: &str) -> Option<Span> {
    let NodeKind::Map(entries) = &root.kind else {
        return None;
    };
    let steps = entries
        .iter()
        .find(|e| e.key.as_scalar() == Some("steps"))?;
    let NodeKind::Seq(items) = &steps.value.kind else {
        return None;
    };
    let NodeKind::Map(fields) = &items.get(index)?.kind else {
        return None;
    };
    fields
        .iter()
        .find(|e| e.key.as_scalar() == Some(field))
        .map(|e| e.value.span)
}

/// Parses and checks `source`. Never panics, whatever the input.
pub fn load_module(source: &str) -> LoadResult {
    let index = LineIndex::new(source);
    let parsed = syntax::parse_with(&index);
    let mut cx = Ctx::new(&index);
    cx.diags = parsed.diagnostics;
    let module = match &parsed.root {
        Some(root) => lower_module(&mut cx, root, source),
        None if cx.diags.iter().any(|d| d.code == "yaml-syntax") => {
            let at = cx
                .diags
                .iter()
                .find(|d| d.code == "yaml-syntax")
                .map_or(0, |d| d.line);
            let before = findings_before(&index, at);
            cx.diags.extend(before);
            None
        }
        None => {
            if !cx.has_errors() {
                cx.error(
                    "empty-module",
                    index.span(0, 0),
                    "the file holds no module".into(),
                    Some(
                        "a module starts with `module:`, `name:`, `goal:`, ... and `steps:`".into(),
                    ),
                );
            }
            None
        }
    };
    let mut diagnostics = cx.diags;
    for d in diagnostics.iter_mut().filter(|d| d.hint.is_none()) {
        d.hint = fallback_hint(d.code).map(str::to_owned);
    }
    diagnostics.sort_by_key(|d| d.span.start);
    // A value reused through a YAML alias is checked once per use; report
    // each finding once.
    let mut seen = std::collections::HashSet::new();
    diagnostics.retain(|d| seen.insert((d.span.clone(), d.code, d.message.clone())));
    let module = module.filter(|_| !diagnostics.iter().any(Diagnostic::is_error));
    LoadResult {
        module,
        diagnostics,
    }
}

/// The hint of the few findings whose hint does not depend on the case.
/// Every diagnostic carries a hint; the snapshot tests check it.
fn fallback_hint(code: &str) -> Option<&'static str> {
    Some(match code {
        "yaml-syntax" => {
            "check the indentation, quotes and brackets of this line and the lines above"
        }
        "yaml-too-deep" => "real modules need about six levels: check the indentation",
        "alias-limit" => "write the values out instead of repeating aliases",
        _ => return None,
    })
}

/// How many lines above a YAML syntax error the loader tries to cut the
/// file so that the part before it parses.
const MAX_CUT_TRIES: u32 = 40;

/// Findings that depend only on what is written, not on what is missing:
/// the ones worth reporting about the part of a file before a YAML syntax
/// error (the rest of the file may hold the missing field or step).
fn holds_without_the_rest(code: &str) -> bool {
    !matches!(
        code,
        "yaml-syntax"
            | "empty-module"
            | "missing-field"
            | "no-steps"
            | "missing-step-kind"
            | "no-answers"
            | "missing-correct"
            | "missing-matcher"
            | "no-way-on"
            | "unknown-step"
            | "unreachable-step"
            | "endless-loop"
            | "empty-quiz"
            | "missing-base-language"
            | "missing-translation"
            | "base-language-not-listed"
            | "default-message"
            | "no-stop-keyword"
            | "correct-not-a-choice"
            | "correct-without-choices"
            | "correct-without-quiz"
            | "feedback-without-quiz"
            | "unused-reminder"
            | "reminder-after-expiry"
            | "quiz-size-mismatch"
            | "too-few-choices"
    )
}

/// After a YAML syntax error on line `line`: the findings in the part of
/// the file above it. The file is cut at the start of a line at or above
/// the error, as late as still parses, and that part is checked; only
/// findings that hold whatever follows are kept.
fn findings_before(index: &LineIndex<'_>, line: u32) -> Vec<Diagnostic> {
    let source = index.source();
    for back in 0..MAX_CUT_TRIES {
        let Some(cut_line) = line.checked_sub(back).filter(|&l| l > 1) else {
            break;
        };
        let cut = index.line_start(cut_line);
        let prefix = &source[..cut];
        let prefix_index = LineIndex::new(prefix);
        let parsed = syntax::parse_with(&prefix_index);
        let Some(root) = parsed.root.as_ref() else {
            continue;
        };
        if parsed.diagnostics.iter().any(|d| d.code == "yaml-syntax") {
            continue;
        }
        let mut cx = Ctx::new(&prefix_index);
        cx.diags = parsed.diagnostics.clone();
        let _ = lower_module(&mut cx, root, prefix);
        // The last line of the part may have lost its value to the cut
        // (`steps:` with the list below it).
        let body = prefix.trim_end();
        let last_line = body.rfind(['\n', '\r']).map_or(0, |i| i + 1);
        return cx
            .diags
            .into_iter()
            .filter(|d| holds_without_the_rest(d.code) && d.span.end < last_line)
            .collect();
    }
    Vec::new()
}

/// Lowering state shared by every pass.
struct Ctx<'s> {
    index: &'s LineIndex<'s>,
    diags: Vec<Diagnostic>,
    base: Lang,
    /// Every language offered, base first.
    languages: Vec<Lang>,
    /// The quiz `{score}` and `{total}` mean in the text being read.
    quiz_context: QuizKind,
    /// First use of each quiz's variables: (variable name, span); pre, post.
    quiz_uses: [Option<(String, Span)>; 2],
    /// The first text that shows both quizzes' scores side by side: the
    /// span of its second score variable and that variable's name.
    compared_scores: Option<(String, Span)>,
    keywords: Keywords,
    /// Module-wide defaults that steps start from.
    default_max_attempts: u32,
    module_timeouts: Option<crate::module::Timeouts>,
    /// Regular expressions compiled so far, by pattern (authors reuse them;
    /// a `Regex` clone shares the compiled program).
    regexes: std::collections::HashMap<String, regex::Regex>,
    /// Step ids reported as invalid: references to them are not reported
    /// again as unknown steps.
    invalid_step_ids: std::collections::HashSet<String>,
    /// Reading a `wait` step's `reply`: `{resume_day}` and `{resume_time}`
    /// are known.
    pause_vars: bool,
}

impl<'s> Ctx<'s> {
    fn new(index: &'s LineIndex<'s>) -> Ctx<'s> {
        Ctx {
            index,
            diags: Vec::new(),
            base: Lang("en".into()),
            languages: vec![Lang("en".into())],
            quiz_context: QuizKind::Post,
            quiz_uses: [None, None],
            compared_scores: None,
            keywords: Keywords::default(),
            default_max_attempts: DEFAULT_MAX_ATTEMPTS,
            module_timeouts: None,
            regexes: std::collections::HashMap::new(),
            invalid_step_ids: std::collections::HashSet::new(),
            pause_vars: false,
        }
    }

    fn push(
        &mut self,
        severity: Severity,
        code: &'static str,
        span: Span,
        message: String,
        hint: Option<String>,
    ) {
        self.diags.push(Diagnostic {
            severity,
            code,
            message,
            line: span.line,
            column: span.column,
            span: span.range(),
            hint,
        });
    }

    pub fn error(&mut self, code: &'static str, span: Span, message: String, hint: Option<String>) {
        self.push(Severity::Error, code, span, message, hint);
    }

    pub fn warning(
        &mut self,
        code: &'static str,
        span: Span,
        message: String,
        hint: Option<String>,
    ) {
        self.push(Severity::Warning, code, span, message, hint);
    }

    pub fn has_errors(&self) -> bool {
        self.diags.iter().any(Diagnostic::is_error)
    }

    fn error_count(&self) -> usize {
        self.diags.iter().filter(|d| d.is_error()).count()
    }

    /// Which module keyword list (`stop`, `restart`, `help`) holds a
    /// normalised word, if any.
    fn keyword_list(&self, word: &str) -> Option<&'static str> {
        let k = &self.keywords;
        [
            ("stop", &k.stop),
            ("restart", &k.restart),
            ("help", &k.help),
        ]
        .into_iter()
        .find(|(_, list)| list.iter().any(|w| w == word))
        .map(|(name, _)| name)
    }

    fn note_quiz_use(&mut self, quiz: QuizKind, name: &str, span: Span) {
        let slot = &mut self.quiz_uses[quiz as usize];
        if slot.is_none() {
            *slot = Some((name.to_owned(), span));
        }
    }
}

/// Default attempts for `ask` steps when the module sets none.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;

fn lower_module(cx: &mut Ctx<'_>, root: &Node, source: &str) -> Option<Module> {
    let fields = cx.fields(root, "the module", &format::MODULE)?;
    let what = "the module";

    // Languages first: every text depends on them.
    let language = cx
        .require(&fields, "language", what)
        .and_then(|n| language_tag(cx, n));
    if let Some((base, _)) = &language {
        cx.base = base.clone();
    }
    let mut languages = vec![cx.base.clone()];
    if let Some(node) = fields.get("languages") {
        let mut listed = Vec::new();
        for (tag, item) in cx.strings(node, "languages") {
            let Some(lang) = check_language_tag(cx, &tag, item) else {
                continue;
            };
            if listed.contains(&lang) {
                cx.warning(
                    "duplicate-language",
                    item.span,
                    format!("`{lang}` is listed twice"),
                    Some("remove this one".into()),
                );
                continue;
            }
            listed.push(lang);
        }
        if let Some((base, _)) = &language
            && !listed.contains(base)
        {
            cx.error(
                "base-language-not-listed",
                node.span,
                format!("`languages` does not include the base language `{base}`"),
                Some(format!("add `{base}` to `languages`")),
            );
        }
        languages.extend(listed.into_iter().filter(|l| *l != cx.base));
    }
    cx.languages = languages.clone();

    let id = cx.require(&fields, "module", what).and_then(|n| {
        let id = cx.string(n, "module")?;
        let valid = !id.is_empty()
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid {
            cx.error(
                "invalid-module-id",
                n.span,
                format!("`{id}` is not a valid module id"),
                Some("use letters, digits, `-` and `_` only, e.g. `saving-basics`".into()),
            );
        }
        Some(id)
    });
    let name = cx
        .require(&fields, "name", what)
        .map(|n| cx.text(n, "name", false));
    let goal = cx
        .require(&fields, "goal", what)
        .map(|n| cx.text(n, "goal", false));
    let version = cx
        .require(&fields, "version", what)
        .and_then(|n| cx.string(n, "version"));

    let keywords = fields.get("keywords").map(|n| lower_keywords(cx, n));
    let keywords = keywords.unwrap_or_else(|| Keywords {
        stop: vec![crate::matching::normalize("STOP")],
        restart: vec![crate::matching::normalize("RESTART")],
        help: vec![crate::matching::normalize("HELP")],
    });
    cx.keywords = keywords.clone();

    cx.quiz_context = QuizKind::Post;
    let messages = lower_messages(cx, fields.get("messages"), language.as_ref().map(|l| l.1));

    let mut default_max_attempts = DEFAULT_MAX_ATTEMPTS;
    if let Some(node) = fields.get("retry") {
        let retry_fields = module_retry_fields(cx, node);
        if let Some(n) = retry_fields.and_then(|f| f.get("max_attempts"))
            && let Some(n) = cx.count(n, "max_attempts", 1, 1000)
        {
            default_max_attempts = n;
        }
    }
    cx.default_max_attempts = default_max_attempts;
    let timeouts = fields
        .get("timeouts")
        .and_then(|n| steps::lower_timeouts(cx, n, None));
    cx.module_timeouts = timeouts.clone();

    let steps_node = cx.require(&fields, "steps", what);
    let drafts = steps_node
        .map(|n| steps::lower_steps(cx, n))
        .unwrap_or_default();
    let lowering_errors = cx.error_count();
    let (steps, totals) = graph::resolve(cx, drafts, lowering_errors)?;

    if cx.has_errors() {
        return None;
    }
    let name = name?;
    let goal = goal?;
    Some(Module {
        id: id?,
        name: literal(&name),
        goal: literal(&goal),
        name_text: name,
        goal_text: goal,
        version: version?,
        content_hash: content_hash(source),
        base_language: cx.base.clone(),
        languages,
        keywords,
        messages,
        default_max_attempts,
        timeouts,
        pre_quiz_total: totals[0],
        post_quiz_total: totals[1],
        steps,
    })
}

/// Hex SHA-256 of the source bytes.
pub fn content_hash(source: &str) -> String {
    let digest = Sha256::digest(source.as_bytes());
    let mut hex = String::with_capacity(64);
    for byte in digest {
        use std::fmt::Write as _;
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

/// The base-language text of a literal (non-template) text.
fn literal(text: &Text) -> String {
    text.by_lang[0]
        .1
        .parts
        .iter()
        .map(|p| match p {
            Part::Lit(s) => s.as_str(),
            Part::Var(_) | Part::VarOr(..) => "",
        })
        .collect()
}

fn module_retry_fields<'n>(cx: &mut Ctx<'_>, node: &'n Node) -> Option<values::Fields<'n>> {
    let fields = cx.fields(node, "`retry`", &format::MODULE_RETRY)?;
    for (name, hint) in [
        (
            "reprompt",
            "use `messages.invalid` for a module-wide reprompt, or set `reprompt` on the step",
        ),
        (
            "on_exhausted",
            "set `on_exhausted` on each `ask` step; it defaults to the step's `next`",
        ),
    ] {
        if let Some(key) = fields.key(name) {
            cx.error(
                "field-not-allowed",
                key.span,
                format!("the module-wide `retry` sets only `max_attempts`, not `{name}`"),
                Some(hint.into()),
            );
        }
    }
    Some(fields)
}

fn language_tag(cx: &mut Ctx<'_>, node: &Node) -> Option<(Lang, Span)> {
    let tag = cx.string(node, "language")?;
    check_language_tag(cx, &tag, node).map(|l| (l, node.span))
}

fn check_language_tag(cx: &mut Ctx<'_>, tag: &str, node: &Node) -> Option<Lang> {
    let valid = !tag.is_empty()
        && tag.len() <= 35
        && tag
            .split('-')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric()));
    if !valid {
        cx.error(
            "invalid-language",
            node.span,
            format!("`{tag}` is not a language tag"),
            Some("write a tag such as `en`, `sw` or `pt-br`".into()),
        );
        return None;
    }
    Some(Lang(tag.to_ascii_lowercase()))
}

fn lower_keywords(cx: &mut Ctx<'_>, node: &Node) -> Keywords {
    let mut keywords = Keywords {
        stop: vec![crate::matching::normalize("STOP")],
        restart: vec![crate::matching::normalize("RESTART")],
        help: vec![crate::matching::normalize("HELP")],
    };
    let Some(fields) = cx.fields(node, "`keywords`", &format::KEYWORDS) else {
        return keywords;
    };
    // (normalised word, list, span) of every keyword, to find words in two lists.
    let mut seen: Vec<(String, &'static str, Span)> = Vec::new();
    for list in ["stop", "restart", "help"] {
        let Some(value) = fields.get(list) else {
            continue;
        };
        let mut words = Vec::new();
        for (word, item) in cx.strings(value, list) {
            let norm = crate::matching::normalize(&word);
            if norm.is_empty() {
                cx.error(
                    "empty-keyword",
                    item.span,
                    format!("`{word}` has no letters or digits, so no reply can match it"),
                    Some("write a word with letters or digits, or remove this one (punctuation is dropped from replies before matching)".into()),
                );
                continue;
            }
            if let Some((_, other, first)) = seen.iter().find(|(w, _, _)| *w == norm) {
                let (other, line) = (*other, first.line);
                if other == list {
                    cx.warning(
                        "duplicate-keyword",
                        item.span,
                        format!("`{word}` is already a `{list}` keyword (line {line})"),
                        Some("remove this one".into()),
                    );
                } else {
                    cx.error(
                        "duplicate-keyword",
                        item.span,
                        format!("`{word}` is both a `{other}` and a `{list}` keyword"),
                        Some(format!("`{other}` wins (line {line}); remove one of them")),
                    );
                }
                continue;
            }
            seen.push((norm.clone(), list, item.span));
            words.push(norm);
        }
        if list == "stop" && words.is_empty() {
            cx.warning(
                "no-stop-keyword",
                value.span,
                "learners have no way to opt out of the course".into(),
                Some("keep at least one `stop` keyword, such as STOP".into()),
            );
        }
        match list {
            "stop" => keywords.stop = words,
            "restart" => keywords.restart = words,
            _ => keywords.help = words,
        }
    }
    keywords
}

/// English defaults for the texts the engine sends by itself (all
/// languages: `runtime::defaults`).
pub const DEFAULT_HELP: &str = crate::runtime::defaults::EN.help;
pub const DEFAULT_STOPPED: &str = crate::runtime::defaults::EN.stopped;
pub const DEFAULT_INVALID: &str = crate::runtime::defaults::EN.invalid;
pub const DEFAULT_FINISHED: &str = crate::runtime::defaults::EN.finished;
pub const DEFAULT_EXPIRED: &str = crate::runtime::defaults::EN.expired;

fn lower_messages(
    cx: &mut Ctx<'_>,
    node: Option<&Node>,
    language_span: Option<Span>,
) -> SystemMessages {
    let fields = node.and_then(|n| cx.fields(n, "`messages`", &format::MESSAGES));
    let mut defaulted = Vec::new();
    let mut text = |cx: &mut Ctx<'_>, name: &'static str| -> Option<Text> {
        match fields.as_ref().and_then(|f| f.get(name)) {
            Some(n) if name == "expired" && (n.is_null() || n.as_scalar() == Some("")) => None,
            Some(n) => Some(cx.text(n, name, true)),
            None => {
                defaulted.push(name);
                Some(crate::runtime::defaults::message_text(
                    name,
                    &cx.base,
                    &cx.languages,
                ))
            }
        }
    };
    let help = text(cx, "help");
    let stopped = text(cx, "stopped");
    let invalid = text(cx, "invalid");
    let finished = text(cx, "finished");
    let expired = text(cx, "expired");
    let unspoken = crate::runtime::defaults::languages_without_texts(&cx.languages);
    if !defaulted.is_empty()
        && !unspoken.is_empty()
        && let Some(span) = language_span
    {
        let list = |items: Vec<String>| items.join(", ");
        cx.warning(
            "default-message",
            span,
            format!(
                "the engine has no texts of its own in {}, but these messages are not set and will be sent in English there: {}",
                list(unspoken.iter().map(|l| format!("`{l}`")).collect()),
                list(defaulted.iter().map(|n| format!("`{n}`")).collect())
            ),
            Some("set them under `messages:` (the engine speaks en, sw and fr)".into()),
        );
    }
    let empty = |cx: &Ctx<'_>| cx.placeholder_text();
    SystemMessages {
        help: help.unwrap_or_else(|| empty(cx)),
        stopped: stopped.unwrap_or_else(|| empty(cx)),
        invalid: invalid.unwrap_or_else(|| empty(cx)),
        finished: finished.unwrap_or_else(|| empty(cx)),
        expired,
    }
}
