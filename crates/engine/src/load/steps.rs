//! Lowering `steps:` into draft steps: everything about a step that can be
//! checked without looking at the other steps. References to other steps
//! stay names ([`Ref`]) until `graph` resolves them.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use super::Ctx;
use super::format::{self, ASK_ONLY as ASK_FIELDS, KINDS, MATCHERS};
use super::values::Fields;
use crate::diagnostics::suggest;
use crate::matching::normalize;
use crate::module::{Matcher, QuizKind, QuizQuestion, Text, Timeouts};
use crate::syntax::{Node, NodeKind, Span};

/// A named reference to a step, resolved later.
#[derive(Debug)]
pub(super) struct Ref {
    pub id: String,
    pub span: Span,
    /// The field it was written in (`next`, `on_exhausted`), for messages.
    pub field: &'static str,
}

#[derive(Debug)]
pub(super) struct DraftStep {
    /// `None` when missing or malformed (already reported).
    pub id: Option<(String, Span)>,
    pub line: u32,
    /// The kind key (`say:`...), or the step's map when it has none.
    pub kind_span: Span,
    pub kind: DraftKind,
    pub next: Option<Ref>,
    /// The step's map has no `id` key (reported by `lower_steps`).
    pub missing_id: bool,
    /// The step has no kind key (reported by `lower_steps`).
    pub missing_kind: bool,
    /// The step's node, where its `- ` item starts.
    pub span: Span,
    /// Lowering this step reported errors, so what it leads to may be
    /// incomplete: `refs` holds every step id its YAML names under `next`
    /// or `on_exhausted`, for reachability.
    pub suspect: bool,
    pub refs: Vec<(String, Span)>,
}

#[derive(Debug)]
pub(super) enum DraftKind {
    Say(Text),
    Ask(Box<DraftAsk>),
    End(Option<Text>),
    Wait(Box<super::pause::DraftWait>),
    /// No (or several) kind keys: reported, kept so ids still resolve.
    Broken,
}

#[derive(Debug)]
pub(super) struct DraftAsk {
    pub text: Text,
    pub choices: Vec<DraftChoice>,
    pub list_choices: bool,
    pub answers: Vec<DraftRule>,
    pub quiz: Option<QuizQuestion>,
    pub right: Option<Text>,
    pub wrong: Option<Text>,
    pub max_attempts: u32,
    pub reprompt: Option<Text>,
    pub on_exhausted: Option<Ref>,
    pub timeouts: Option<Timeouts>,
}

#[derive(Debug)]
pub(super) struct DraftChoice {
    pub text: Text,
    pub aliases: Vec<String>,
    pub reply: Option<Text>,
    pub next: Option<Ref>,
}

#[derive(Debug)]
pub(super) struct DraftRule {
    pub matcher: Matcher,
    pub reply: Option<Text>,
    pub next: Option<Ref>,
    pub correct: Option<bool>,
}

/// Largest regex program accepted (bytes of compiled automaton).
const REGEX_SIZE_LIMIT: usize = 1 << 20;

pub(super) fn lower_steps(cx: &mut Ctx<'_>, node: &Node) -> Vec<DraftStep> {
    let NodeKind::Seq(items) = &node.kind else {
        cx.wrong_type(
            node,
            "`steps` should be a list of steps",
            Some("write each step as `- id: ...`".into()),
        );
        return Vec::new();
    };
    if items.is_empty() {
        cx.error(
            "no-steps",
            node.span,
            "the module has no steps".into(),
            Some("add at least an `end:` step".into()),
        );
    }
    // The nearest quiz question above, for `{score}` and `{total}`.
    let mut last_quiz: Option<QuizKind> = None;
    let steps: Vec<DraftStep> = items
        .iter()
        .map(|item| {
            let errors = cx.error_count();
            let mut step = lower_step(cx, item, last_quiz);
            if cx.error_count() > errors || step.missing_id || step.missing_kind {
                step.suspect = true;
                collect_refs(item, &mut step.refs);
            }
            if let DraftKind::Ask(ask) = &step.kind
                && let Some(q) = &ask.quiz
            {
                last_quiz = Some(q.quiz);
            }
            step
        })
        .collect();
    report_missing_ids_and_kinds(cx, &steps, items);
    steps
}

/// `missing-field` for a step without `id` and `missing-step-kind` for one
/// without a kind; when a step without a kind is followed by one without an
/// id, the author most likely wrote a stray `- ` that split one step in
/// two: one finding, at the `- `.
fn report_missing_ids_and_kinds(cx: &mut Ctx<'_>, steps: &[DraftStep], items: &[Node]) {
    let mut i = 0;
    while i < steps.len() {
        let step = &steps[i];
        let split = steps
            .get(i + 1)
            .filter(|next| step.missing_kind && !step.missing_id && next.missing_id);
        if let Some(next) = split {
            let name = StepName(step.id.as_ref().map(|(id, _)| id.as_str()));
            let dash = dash_span(cx, next.span);
            let first_key = match &items[i + 1].kind {
                NodeKind::Map(entries) => entries.first().and_then(|e| e.key.as_scalar()),
                _ => None,
            }
            .unwrap_or("the next field");
            cx.error(
                "missing-step-kind",
                dash,
                format!(
                    "this `- ` starts a new step without an `id`, leaving {name} (line {}) with no kind",
                    step.line
                ),
                Some(format!(
                    "remove the `- ` so that `{first_key}` belongs to {name}"
                )),
            );
            i += 2;
            continue;
        }
        if step.missing_id {
            cx.error(
                "missing-field",
                step.span,
                "this step has no `id`".into(),
                Some("add `id:`, a name other steps can refer to, e.g. `id: lesson_1`".into()),
            );
        }
        if step.missing_kind {
            let name = StepName(step.id.as_ref().map(|(id, _)| id.as_str()));
            cx.error(
                "missing-step-kind",
                step.span,
                format!("{name} has no kind"),
                Some("add `say:`, `ask:`, `end:` or `wait:`".into()),
            );
        }
        i += 1;
    }
}

/// The `- ` in front of a sequence item at `span`, when it is there.
fn dash_span(cx: &Ctx<'_>, span: Span) -> Span {
    let source = cx.index.source();
    let before = source.get(..span.start).unwrap_or("");
    let trimmed = before.trim_end_matches(' ');
    if trimmed.ends_with('-') {
        let at = trimmed.len() - 1;
        return cx.index.span(at, at + 1);
    }
    span
}

/// Every step id named under a `next` or `on_exhausted` key (or a
/// misspelling of one) anywhere in `node`.
fn collect_refs(node: &Node, out: &mut Vec<(String, Span)>) {
    match &node.kind {
        NodeKind::Scalar { .. } => {}
        NodeKind::Seq(items) => items.iter().for_each(|n| collect_refs(n, out)),
        NodeKind::Map(entries) => {
            for e in entries {
                // Also under a misspelt key (`nxt:`): the step it names is
                // meant to be reached.
                let names_a_step = e.key.as_scalar().is_some_and(|k| {
                    let known = [
                        &format::STEP,
                        &format::CHOICE,
                        &format::RULE,
                        &format::RETRY,
                    ]
                    .iter()
                    .any(|shape| shape.field(k).is_some());
                    matches!(k, "next" | "on_exhausted")
                        || (!known
                            && crate::diagnostics::did_you_mean(k, ["next", "on_exhausted"])
                                .is_some())
                });
                if names_a_step && let Some(id) = e.value.as_scalar() {
                    out.push((id.to_owned(), e.value.span));
                }
                collect_refs(&e.value, out);
            }
        }
    }
}

fn lower_step(cx: &mut Ctx<'_>, node: &Node, last_quiz: Option<QuizKind>) -> DraftStep {
    let mut step = DraftStep {
        id: None,
        line: node.span.line,
        kind_span: node.span,
        kind: DraftKind::Broken,
        next: None,
        missing_id: false,
        missing_kind: false,
        span: node.span,
        suspect: false,
        refs: Vec::new(),
    };
    let Some(fields) = cx.fields(node, "a step", &format::STEP) else {
        return step;
    };
    let id_node = fields.get("id");
    step.missing_id = id_node.is_none() && fields.misspelt("id").is_none();
    step.id = id_node.and_then(|n| step_id(cx, n));
    let name = StepName(step.id.as_ref().map(|(id, _)| id.as_str()));

    let kinds: Vec<&str> = KINDS.iter().copied().filter(|k| fields.has(k)).collect();
    let kind = match kinds.as_slice() {
        [] => {
            // A misspelt kind (`sya:`) is reported as an unknown field.
            step.missing_kind = !KINDS.iter().any(|k| fields.misspelt(k).is_some());
            None
        }
        [kind] => Some(*kind),
        [first, second, ..] => {
            let span = fields.key(second).map_or(node.span, |k| k.span);
            cx.error(
                "conflicting-step-kinds",
                span,
                format!("{name} has both `{first}` and `{second}`; a step has exactly one kind"),
                Some("split it into two steps".into()),
            );
            None
        }
    };
    if let Some(key) = kind.and_then(|k| fields.key(k)) {
        step.kind_span = key.span;
    }
    if let Some(kind) = kind.filter(|k| *k != "ask") {
        for field in ASK_FIELDS {
            if let Some(key) = fields.key(field) {
                cx.error(
                    "field-not-allowed",
                    key.span,
                    format!(
                        "`{field}` is only allowed on `ask` steps, and {name} is a `{kind}` step"
                    ),
                    Some(format!("remove `{field}`, or make {name} an `ask` step")),
                );
            }
        }
        if kind == "end"
            && let Some(key) = fields.key("next")
        {
            cx.error(
                "field-not-allowed",
                key.span,
                "an `end` step finishes the course; it has no `next`".into(),
                Some("remove `next`, or make this a `say` step".into()),
            );
        }
    }
    if kind != Some("end") {
        step.next = fields.get("next").and_then(|n| step_ref(cx, n, "next"));
    }

    // `{score}`/`{total}`: this step's quiz, else the nearest above, else post.
    let own_quiz = if kind == Some("ask") {
        fields.get("quiz").and_then(|n| quiz_kind(cx, n))
    } else {
        None
    };
    cx.quiz_context = own_quiz.or(last_quiz).unwrap_or(QuizKind::Post);

    step.kind = match kind {
        Some("say") => {
            let text = match fields.get("say") {
                Some(n) => cx.text(n, "say", true),
                None => cx.placeholder_text(),
            };
            DraftKind::Say(text)
        }
        Some("end") => {
            let text = fields.get("end").and_then(|n| {
                if n.is_null() || n.as_scalar() == Some("") {
                    None
                } else {
                    Some(cx.text(n, "end", true))
                }
            });
            DraftKind::End(text)
        }
        Some("wait") => match fields.get("wait") {
            Some(n) => DraftKind::Wait(Box::new(super::pause::lower_wait(cx, n))),
            None => DraftKind::Broken,
        },
        Some(_) => DraftKind::Ask(Box::new(lower_ask(cx, &fields, own_quiz, &name))),
        None => DraftKind::Broken,
    };
    step
}

/// A step as messages name it: "step `id`", or "this step" without an id.
/// Formatted only when a message needs it.
pub(super) struct StepName<'a>(pub Option<&'a str>);

impl fmt::Display for StepName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(id) if !id.is_empty() => write!(f, "step `{id}`"),
            _ => f.write_str("this step"),
        }
    }
}

fn step_id(cx: &mut Ctx<'_>, node: &Node) -> Option<(String, Span)> {
    let id = cx.string(node, "id")?;
    let valid = !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !valid {
        cx.invalid_step_ids.insert(id.clone());
        cx.error(
            "invalid-step-id",
            node.span,
            format!("`{id}` is not a valid step id"),
            Some("use letters, digits, `-`, `_` and `.`, e.g. `lesson_1`".into()),
        );
        return None;
    }
    Some((id, node.span))
}

fn step_ref(cx: &mut Ctx<'_>, node: &Node, field: &'static str) -> Option<Ref> {
    let id = cx.string(node, field)?;
    Some(Ref {
        id,
        span: node.span,
        field,
    })
}

fn quiz_kind(cx: &mut Ctx<'_>, node: &Node) -> Option<QuizKind> {
    let value = cx.string(node, "quiz")?;
    match value.as_str() {
        "pre" => Some(QuizKind::Pre),
        "post" => Some(QuizKind::Post),
        other => {
            let hint =
                suggest(other, ["pre", "post"]).or_else(|| Some("write `pre` or `post`".into()));
            cx.error(
                "invalid-value",
                node.span,
                format!("`quiz` must be `pre` or `post`, not `{other}`"),
                hint,
            );
            None
        }
    }
}

fn lower_ask(
    cx: &mut Ctx<'_>,
    fields: &Fields<'_>,
    quiz: Option<QuizKind>,
    name: &StepName<'_>,
) -> DraftAsk {
    let ask_node = fields.get("ask");
    let text = match ask_node {
        Some(n) => cx.text(n, "ask", true),
        None => cx.placeholder_text(),
    };
    let ask_span = fields.key("ask").map_or(fields.span, |k| k.span);

    let choice_nodes: &[Node] = match fields.get("choices") {
        Some(Node {
            kind: NodeKind::Seq(items),
            ..
        }) => items,
        Some(other) => {
            cx.wrong_type(
                other,
                "`choices` should be a list",
                Some("write the choices as a list: `choices: [Yes, No]`, or one `- ` line per choice".into()),
            );
            &[]
        }
        None => &[],
    };
    let choices: Vec<DraftChoice> = choice_nodes.iter().map(|n| lower_choice(cx, n)).collect();
    check_ambiguous_choices(cx, &choices, choice_nodes);

    let answers: Vec<DraftRule> = match fields.get("answers") {
        Some(Node {
            kind: NodeKind::Seq(items),
            ..
        }) => items
            .iter()
            .filter_map(|n| lower_rule(cx, n, quiz.is_some()))
            .collect(),
        Some(other) => {
            cx.wrong_type(
                other,
                "`answers` should be a list of rules",
                Some("write one `- ` line per rule, e.g. `- keywords: [yes]`".into()),
            );
            Vec::new()
        }
        None => Vec::new(),
    };
    let has_answers = fields
        .get("answers")
        .is_some_and(|n| matches!(&n.kind, NodeKind::Seq(v) if !v.is_empty()));
    // `chioces:` is reported as an unknown field; what follows from the
    // missing choices would be knock-on errors.
    let misspelt_answers =
        fields.misspelt("choices").is_some() || fields.misspelt("answers").is_some();
    let misspelt_quiz = fields.misspelt("quiz").is_some();
    if choice_nodes.is_empty() && !has_answers && !misspelt_answers {
        cx.error(
            "no-answers",
            ask_span,
            format!("{name} asks a question but accepts no answer"),
            Some("add `choices:` or `answers:`".into()),
        );
    }

    let list_choices = fields
        .get("list_choices")
        .and_then(|n| cx.bool(n, "list_choices"))
        .unwrap_or(true);

    // Quiz scoring.
    let mut correct = Vec::new();
    match (fields.get("correct"), quiz) {
        // An invalid (or misspelt) `quiz:` was reported already.
        (Some(_), None) if fields.has("quiz") || misspelt_quiz => {}
        (Some(_), Some(_)) if choice_nodes.is_empty() && misspelt_answers => {}
        (None, Some(_)) if fields.misspelt("correct").is_some() => {}
        (Some(node), None) => {
            let key = fields.key("correct").map_or(node.span, |k| k.span);
            cx.error(
                "correct-without-quiz",
                key,
                format!("{name} has `correct` but is in no quiz"),
                Some("add `quiz: pre` or `quiz: post`, or remove `correct`".into()),
            );
        }
        (Some(node), Some(_)) if choice_nodes.is_empty() => {
            cx.error(
                "correct-without-choices",
                node.span,
                format!("{name} has `correct` but no choices"),
                Some(
                    "mark free-text answers with `correct: true` on the rule under `answers`"
                        .into(),
                ),
            );
        }
        (Some(node), Some(_)) => correct = correct_choices(cx, node, &choices),
        (None, Some(q)) if !choice_nodes.is_empty() => {
            let span = fields.get("quiz").map_or(ask_span, |n| n.span);
            cx.error(
                "missing-correct",
                span,
                format!(
                    "{name} is in the {}-quiz but says no `correct` choice",
                    q.as_str()
                ),
                Some("add `correct: N` (the number of the right choice) or a list `[1, 3]`".into()),
            );
        }
        (None, Some(q)) if has_answers && !answers.iter().any(|r| r.correct == Some(true)) => {
            let span = fields.get("quiz").map_or(ask_span, |n| n.span);
            cx.error(
                "missing-correct",
                span,
                format!(
                    "{name} is in the {}-quiz but no answer rule is `correct: true`",
                    q.as_str()
                ),
                Some("add `correct: true` to the rule that matches a right answer".into()),
            );
        }
        _ => {}
    }

    if let (Some(q), [_]) = (quiz, choice_nodes) {
        cx.warning(
            "too-few-choices",
            choice_text_node(&choice_nodes[0]).span,
            format!(
                "{name} is in the {}-quiz but has only one choice: every learner gets it right",
                q.as_str()
            ),
            Some("add the wrong choices too, or take the question out of the quiz".into()),
        );
    }

    let right = fields.get("right").map(|n| cx.text(n, "right", true));
    let wrong = fields.get("wrong").map(|n| cx.text(n, "wrong", true));
    if quiz.is_none() && !fields.has("quiz") && !misspelt_quiz {
        for field in ["right", "wrong"] {
            if let Some(key) = fields.key(field) {
                cx.warning(
                    "feedback-without-quiz",
                    key.span,
                    format!("`{field}` is never sent: {name} is in no quiz"),
                    Some("add `quiz: pre` or `quiz: post`, or use a choice's `reply`".into()),
                );
            }
        }
    }

    let mut max_attempts = cx.default_max_attempts;
    let mut reprompt = None;
    let mut on_exhausted = None;
    if let Some(node) = fields.get("retry")
        && let Some(retry) = cx.fields(node, "`retry`", &format::RETRY)
    {
        if let Some(n) = retry
            .get("max_attempts")
            .and_then(|n| cx.count(n, "max_attempts", 1, 1000))
        {
            max_attempts = n;
        }
        reprompt = retry.get("reprompt").map(|n| cx.text(n, "reprompt", true));
        on_exhausted = retry
            .get("on_exhausted")
            .and_then(|n| step_ref(cx, n, "on_exhausted"));
    }
    let timeouts = fields.get("timeouts").and_then(|n| {
        let module = cx.module_timeouts.take();
        let merged = lower_timeouts(cx, n, module.as_ref());
        cx.module_timeouts = module;
        merged
    });

    DraftAsk {
        text,
        choices,
        list_choices,
        answers,
        quiz: quiz.map(|quiz| QuizQuestion { quiz, correct }),
        right,
        wrong,
        max_attempts,
        reprompt,
        on_exhausted,
        timeouts,
    }
}

fn lower_choice(cx: &mut Ctx<'_>, node: &Node) -> DraftChoice {
    let mut choice = DraftChoice {
        text: cx.placeholder_text(),
        aliases: Vec::new(),
        reply: None,
        next: None,
    };
    if let NodeKind::Map(entries) = &node.kind {
        // A map is either a choice with fields, or a translated text.
        let is_fields = entries.iter().any(|e| {
            e.key.as_scalar().is_some_and(|k| {
                format::CHOICE.field(k).is_some()
                    || (!cx.is_module_language(k) && suggest(k, format::CHOICE.names()).is_some())
            })
        });
        if is_fields {
            let Some(fields) = cx.fields(node, "a choice", &format::CHOICE) else {
                return choice;
            };
            match cx.require(&fields, "text", "this choice") {
                Some(n) => choice.text = cx.text(n, "text", true),
                None => return choice,
            }
            if let Some(n) = fields.get("aliases") {
                choice.aliases = cx
                    .strings(n, "aliases")
                    .into_iter()
                    .map(|(a, _)| normalize(&a))
                    .filter(|a| !a.is_empty())
                    .collect();
            }
            choice.reply = fields.get("reply").map(|n| cx.text(n, "reply", true));
            choice.next = fields.get("next").and_then(|n| step_ref(cx, n, "next"));
            return choice;
        }
    }
    choice.text = cx.text(node, "choice", true);
    choice
}

/// Reports two choices of one question that accept the same reply: the same
/// normalised text or alias, or one choice's text that is another's number
/// or number word. Also warns when a module keyword hides a choice's text.
fn check_ambiguous_choices(cx: &mut Ctx<'_>, choices: &[DraftChoice], nodes: &[Node]) {
    if choices.is_empty() {
        return;
    }
    // The choice a reply picks by number or number word (`2`, `two`,
    // `option 2`), if any: numbers win over texts at run time.
    let implicit = |reply: &str| -> Option<usize> {
        let (n, _) = crate::matching::choice_number(reply)?;
        let n = n as usize;
        (1..=choices.len()).contains(&n).then(|| n - 1)
    };
    // What each choice accepts: its texts and aliases, normalised.
    let replies: Vec<Vec<Cow<'_, str>>> = choices
        .iter()
        .map(|choice| {
            choice
                .text
                .by_lang
                .iter()
                .map(|(_, t)| Cow::Owned(normalize_literal(t)))
                .chain(choice.aliases.iter().map(|a| Cow::Borrowed(a.as_str())))
                .filter(|r| !r.is_empty())
                .collect()
        })
        .collect();
    // Reply -> (choice index, where the author wrote it).
    let mut owner: HashMap<&str, (usize, Span)> = HashMap::new();
    for (i, (replies, node)) in replies.iter().zip(nodes).enumerate() {
        let node = choice_text_node(node);
        for reply in replies {
            let reply: &str = reply;
            if let Some(list) = cx.keyword_list(reply) {
                cx.warning(
                    "choice-shadowed-by-keyword",
                    node.span,
                    format!("choice {} accepts `{reply}`, which is the module's `{list}` keyword", i + 1),
                    Some(format!("`{reply}` will always mean `{list}`; the choice can still be picked by its number")),
                );
            }
            let clash = match implicit(reply) {
                Some(j) if j != i => Some(format!("it already picks choice {}", j + 1)),
                _ => match owner.get(&reply) {
                    Some(&(j, first)) if j != i => Some(format!(
                        "choice {} (line {}) already accepts it",
                        j + 1,
                        first.line
                    )),
                    Some(_) => None,
                    None => {
                        owner.insert(reply, (i, node.span));
                        None
                    }
                },
            };
            if let Some(why) = clash {
                cx.error(
                    "ambiguous-choice",
                    node.span,
                    format!("choice {} accepts `{reply}`, but {why}", i + 1),
                    Some("give each choice its own text and aliases".into()),
                );
            }
        }
    }
}

/// Where a choice's text is written: the choice itself when it is a text,
/// the value of `text:` for a choice with fields, the base-language (first)
/// text of a translated choice. Findings about a choice point there rather
/// than at a `{` or a `text:` key.
fn choice_text_node(node: &Node) -> &Node {
    let NodeKind::Map(entries) = &node.kind else {
        return node;
    };
    let text = entries
        .iter()
        .find(|e| e.key.as_scalar() == Some("text"))
        .map(|e| &e.value)
        .unwrap_or(node);
    match &text.kind {
        NodeKind::Map(langs) => langs.first().map_or(text, |e| &e.value),
        _ => text,
    }
}

/// The normalised text of a template's literal parts (variables left out).
fn normalize_literal(template: &crate::module::Template) -> String {
    match template.parts.as_slice() {
        [] => String::new(),
        [crate::module::Part::Lit(s)] => normalize(s),
        parts => normalize(
            &parts
                .iter()
                .map(|p| match p {
                    crate::module::Part::Lit(s) => s.as_str(),
                    crate::module::Part::Var(_) | crate::module::Part::VarOr(..) => "",
                })
                .collect::<String>(),
        ),
    }
}

/// `correct:` as choice numbers (`2`, `[1, 3]`) or choice texts.
fn correct_choices(cx: &mut Ctx<'_>, node: &Node, choices: &[DraftChoice]) -> Vec<usize> {
    let items: Vec<&Node> = match &node.kind {
        NodeKind::Seq(items) => items.iter().collect(),
        _ => vec![node],
    };
    if items.is_empty() {
        cx.error(
            "missing-correct",
            node.span,
            "`correct` lists no choice".into(),
            Some("write the number of the right choice".into()),
        );
    }
    // The choices' normalised texts, computed when a choice is named by
    // its text rather than its number.
    let mut texts: Option<Vec<String>> = None;
    let choice_texts = || -> Vec<String> {
        choices
            .iter()
            .map(|c| normalize(&super::literal(&c.text)))
            .collect()
    };
    let mut correct = Vec::new();
    for item in items {
        let Some(value) = item.as_scalar().filter(|_| !item.is_null()) else {
            cx.wrong_type(
                item,
                "`correct` should be a choice number",
                Some("write the number of the right choice, e.g. `correct: 2`".into()),
            );
            continue;
        };
        let index = match value.trim().parse::<i64>() {
            Ok(n) if item.is_plain() => {
                if n >= 1 && (n as usize) <= choices.len() {
                    Some(n as usize - 1)
                } else {
                    cx.error(
                        "correct-not-a-choice",
                        item.span,
                        format!("`correct: {n}` is not one of the {} choices", choices.len()),
                        Some(format!("choices are numbered 1 to {}", choices.len())),
                    );
                    continue;
                }
            }
            _ => {
                let norm = normalize(value);
                let texts = texts.get_or_insert_with(choice_texts);
                texts.iter().position(|t| *t == norm)
            }
        };
        match index {
            Some(i) if !correct.contains(&i) => correct.push(i),
            Some(_) => {}
            None => {
                let texts = texts.get_or_insert_with(choice_texts);
                let quoted_number = value
                    .trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=choices.len()).contains(n));
                let hint = match quoted_number {
                    Some(n) => Some(format!(
                        "`\"{n}\"` in quotes is read as a choice's text: write `{n}` without quotes for choice {n}"
                    )),
                    None => crate::diagnostics::did_you_mean(
                        &normalize(value),
                        texts.iter().map(String::as_str),
                    )
                    .and_then(|t| texts.iter().position(|x| x == t))
                    .map(|i| {
                        format!(
                            "did you mean choice {} (`{}`)? Write `{}`",
                            i + 1,
                            super::literal(&choices[i].text),
                            i + 1
                        )
                    }),
                }
                .or_else(|| Some(format!("write the choice's number, 1 to {}", choices.len())));
                cx.error(
                    "correct-not-a-choice",
                    item.span,
                    format!("`correct: {value}` is not one of the choices"),
                    hint,
                );
            }
        }
    }
    correct.sort_unstable();
    correct
}

fn lower_rule(cx: &mut Ctx<'_>, node: &Node, in_quiz: bool) -> Option<DraftRule> {
    let fields = cx.fields(node, "an answer rule", &format::RULE)?;
    let present: Vec<&str> = MATCHERS.iter().copied().filter(|m| fields.has(m)).collect();
    let matcher_name = match present.as_slice() {
        [] => {
            cx.error(
                "missing-matcher",
                node.span,
                "this answer rule says nothing about what it matches".into(),
                Some("add one of `keywords:`, `regex:`, `number:` or `any: true`".into()),
            );
            None
        }
        [one] => Some(*one),
        [first, second, ..] => {
            let span = fields.key(second).map_or(node.span, |k| k.span);
            cx.error(
                "conflicting-matchers",
                span,
                format!(
                    "this answer rule has both `{first}` and `{second}`; a rule matches one way"
                ),
                Some("split it into two rules".into()),
            );
            None
        }
    };
    let matcher = matcher_name.and_then(|m| {
        let value = fields.get(m)?;
        match m {
            "keywords" => keywords_matcher(cx, value),
            "regex" => regex_matcher(cx, value),
            "number" => number_range(cx, value),
            _ => any_matcher(cx, value),
        }
    });
    let correct = fields.get("correct").and_then(|n| cx.bool(n, "correct"));
    if correct.is_some() && !in_quiz {
        let span = fields.key("correct").map_or(node.span, |k| k.span);
        cx.error(
            "correct-without-quiz",
            span,
            "this rule has `correct` but its question is in no quiz".into(),
            Some("add `quiz: pre` or `quiz: post` to the step, or remove `correct`".into()),
        );
    }
    Some(DraftRule {
        matcher: matcher.unwrap_or(Matcher::Any),
        reply: fields.get("reply").map(|n| cx.text(n, "reply", true)),
        next: fields.get("next").and_then(|n| step_ref(cx, n, "next")),
        correct,
    })
}

/// The first upper-case letter a regular expression would match literally,
/// with its byte offset. Escapes (`\D`, `\p{Lu}`), group names and patterns
/// with the `i` flag do not count. Replies are normalised (lower-cased)
/// before regexes see them, so such a letter can never match.
fn uppercase_literal(pattern: &str) -> Option<(usize, char)> {
    let mut chars = pattern.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        match c {
            '\\' => {
                if let Some((_, 'p' | 'P')) = chars.next() {
                    if chars.peek().is_some_and(|&(_, c)| c == '{') {
                        chars.find(|&(_, c)| c == '}');
                    } else {
                        chars.next();
                    }
                }
            }
            '(' if chars.peek().is_some_and(|&(_, c)| c == '?') => {
                chars.next();
                // Flags (`(?i)`, `(?s-i:`) or a group name (`(?P<Name>`).
                let mut flags = String::new();
                while let Some(&(_, c)) = chars.peek() {
                    if c == ')' || c == ':' {
                        break;
                    }
                    if c == '<' || c == 'P' {
                        chars.find(|&(_, c)| c == '>');
                        break;
                    }
                    flags.push(c);
                    chars.next();
                }
                let on = flags.split('-').next().unwrap_or("");
                if on.contains('i') {
                    return None;
                }
            }
            c if c.is_uppercase() => return Some((at, c)),
            _ => {}
        }
    }
    None
}

/// `keywords: [..]`: normalised words or phrases, at least one.
fn keywords_matcher(cx: &mut Ctx<'_>, value: &Node) -> Option<Matcher> {
    let words: Vec<String> = cx
        .strings(value, "keywords")
        .into_iter()
        .filter_map(|(w, item)| {
            let norm = normalize(&w);
            if norm.is_empty() {
                cx.error(
                    "empty-keyword",
                    item.span,
                    format!("`{w}` has no letters or digits, so no reply can match it"),
                    Some("write a word with letters or digits, or remove this one (punctuation is dropped from replies before matching)".into()),
                );
                return None;
            }
            Some(norm)
        })
        .collect();
    if words.is_empty() {
        cx.error(
            "missing-matcher",
            value.span,
            "`keywords` lists no word".into(),
            Some("list the words that match, e.g. `keywords: [yes, ndiyo]`".into()),
        );
        return None;
    }
    Some(Matcher::Keywords(words))
}

/// `regex: '..'`: compiled (each distinct pattern once per module).
fn regex_matcher(cx: &mut Ctx<'_>, value: &Node) -> Option<Matcher> {
    let pattern = cx.string(value, "regex")?;
    if let Some((at, c)) = uppercase_literal(&pattern) {
        let span = cx.inner_span(value, &pattern, at..at + c.len_utf8());
        cx.warning(
            "regex-uppercase",
            span,
            format!("replies are lower-cased before matching, so this `{c}` never matches"),
            Some(format!(
                "write `{}`, or start the pattern with `(?i)`",
                c.to_lowercase()
            )),
        );
    }
    if let Some(re) = cx.regexes.get(&pattern) {
        return Some(Matcher::Regex(re.clone()));
    }
    match regex::RegexBuilder::new(&pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
    {
        Ok(re) => {
            cx.regexes.insert(pattern, re.clone());
            Some(Matcher::Regex(re))
        }
        Err(e) => {
            let why = match &e {
                regex::Error::Syntax(s) => s
                    .lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("")
                    .trim_start_matches("error: ")
                    .to_owned(),
                regex::Error::CompiledTooBig(_) => "the expression is too large".to_owned(),
                other => other.to_string(),
            };
            cx.error(
                "invalid-regex",
                value.span,
                format!("invalid regular expression: {why}"),
                Some(
                    "the syntax is that of the Rust `regex` crate; quote the pattern with '...'"
                        .into(),
                ),
            );
            None
        }
    }
}

/// `any: true`.
fn any_matcher(cx: &mut Ctx<'_>, value: &Node) -> Option<Matcher> {
    match cx.bool(value, "any") {
        Some(true) => Some(Matcher::Any),
        Some(false) => {
            cx.error(
                "invalid-value",
                value.span,
                "`any: false` matches nothing".into(),
                Some("write `any: true`, or remove the rule".into()),
            );
            None
        }
        None => None,
    }
}

/// `number: { min, max }` (either optional) or `number: true`.
fn number_range(cx: &mut Ctx<'_>, node: &Node) -> Option<Matcher> {
    if node.is_plain() && node.as_scalar() == Some("true") {
        return Some(Matcher::Number {
            min: None,
            max: None,
        });
    }
    let fields = cx.fields(node, "`number`", &format::RANGE)?;
    let min = fields.get("min").and_then(|n| cx.number(n, "min"));
    let max = fields.get("max").and_then(|n| cx.number(n, "max"));
    if let (Some(lo), Some(hi)) = (min, max)
        && lo > hi
    {
        cx.error(
            "invalid-range",
            node.span,
            format!("`min` ({lo}) is greater than `max` ({hi}): no number can match"),
            Some("swap them".into()),
        );
        return None;
    }
    Some(Matcher::Number { min, max })
}

/// Reads `timeouts:`; fields not set come from `base` (the module's).
pub(super) fn lower_timeouts(
    cx: &mut Ctx<'_>,
    node: &Node,
    base: Option<&Timeouts>,
) -> Option<Timeouts> {
    let fields = cx.fields(node, "`timeouts`", &format::TIMEOUTS)?;
    let mut t = base.cloned().unwrap_or(Timeouts {
        remind_after: None,
        reminder: None,
        max_reminders: 1,
        expire_after: None,
    });
    if let Some(n) = fields.get("remind_after") {
        t.remind_after = cx.duration(n, "remind_after");
    }
    if let Some(n) = fields.get("reminder") {
        t.reminder = Some(cx.text(n, "reminder", true));
    }
    if let Some(n) = fields.get("max_reminders")
        && let Some(m) = cx.count(n, "max_reminders", 0, 100)
    {
        t.max_reminders = m;
    }
    if let Some(n) = fields.get("expire_after") {
        t.expire_after = cx.duration(n, "expire_after");
    }
    // An invalid or misspelt `remind_after` is reported already.
    if t.remind_after.is_none()
        && !fields.has("remind_after")
        && fields.misspelt("remind_after").is_none()
        && let Some(key) = fields.key("reminder").or(fields.key("max_reminders"))
    {
        cx.warning(
            "unused-reminder",
            key.span,
            "no reminder is ever sent: `remind_after` is not set".into(),
            Some("add `remind_after:`, e.g. `remind_after: 1d`".into()),
        );
    }
    if let (Some(remind), Some(expire)) = (t.remind_after, t.expire_after)
        && expire <= remind
    {
        let span = fields
            .get("expire_after")
            .or(fields.get("remind_after"))
            .map_or(node.span, |n| n.span);
        cx.warning(
            "reminder-after-expiry",
            span,
            "the session expires before the first reminder is due".into(),
            Some("make `expire_after` longer than `remind_after`".into()),
        );
    }
    Some(t)
}

#[cfg(test)]
mod tests {
    use super::uppercase_literal;

    #[test]
    fn uppercase_literals_are_found_outside_escapes_and_names() {
        assert_eq!(uppercase_literal(r"^\d+\s*K$"), Some((7, 'K')));
        assert_eq!(uppercase_literal(r"^YES$"), Some((1, 'Y')));
        for fine in [
            r"^\d+\s*k$",
            r"\D\S\W\B",
            r"\p{Lu}+\P{Ll}",
            r"(?P<Amount>\d+)",
            r"(?<Amount>\d+)",
            r"(?i)^YES$",
            r"(?si:YES)",
        ] {
            assert_eq!(uppercase_literal(fine), None, "{fine}");
        }
        assert_eq!(uppercase_literal(r"(?s-i:YES)"), Some((6, 'Y')));
    }
}
