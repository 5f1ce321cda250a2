//! Reading typed values out of the spanned YAML tree: maps with known
//! fields, scalars, numbers, lists, translatable texts, templates and
//! durations. Every reader reports what is wrong and returns a placeholder
//! (or `None`), so lowering always goes on.

use chrono::Duration;

use super::Ctx;
use super::format::Shape;
use crate::diagnostics::{did_you_mean, suggest};
use crate::module::{Lang, Part, QuizKind, Template, Text, Var};
use crate::syntax::{Entry, Node, NodeKind, Span, Style};

/// The fields of one YAML map, looked up by name. Unknown and malformed keys
/// are reported when the map is read.
pub(super) struct Fields<'n> {
    shape: &'static Shape,
    /// Indexed like `shape.fields` (at most [`MAX_FIELDS`]).
    entries: [Option<&'n Entry>; MAX_FIELDS],
    /// The map itself (for "missing field" diagnostics).
    pub span: Span,
    /// Unknown keys that look like a misspelt field: (field, key).
    misspelt: Vec<(&'static str, &'n Node)>,
}

/// The most fields any map of the format has.
const MAX_FIELDS: usize = 16;

impl<'n> Fields<'n> {
    /// The value of field `name` (which must be one of the known names).
    pub fn get(&self, name: &str) -> Option<&'n Node> {
        self.entry(name).map(|e| &e.value)
    }

    /// The key node of field `name`, for diagnostics about the field itself.
    pub fn key(&self, name: &str) -> Option<&'n Node> {
        self.entry(name).map(|e| &e.key)
    }

    pub fn has(&self, name: &str) -> bool {
        self.entry(name).is_some()
    }

    /// An unknown key whose closest field is `name` (`chioces` for
    /// `choices`): what is missing is there, misspelt, and already
    /// reported, so findings about its absence would be knock-on errors.
    pub fn misspelt(&self, name: &str) -> Option<&'n Node> {
        self.misspelt
            .iter()
            .find(|(field, _)| same_name(field, name))
            .map(|(_, key)| *key)
    }

    fn entry(&self, name: &str) -> Option<&'n Entry> {
        let i = self
            .shape
            .fields
            .iter()
            .position(|f| same_name(f.name, name))?;
        self.entries.get(i).copied().flatten()
    }
}

/// `a == b` for the short field names of the format, compared inline: a
/// `memcmp` call per candidate name costs more than the comparison.
fn same_name(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| x == y)
}

impl Ctx<'_> {
    /// Reads `node` as a map whose keys must be among `names`. `what` names
    /// the map in messages ("a step", "`retry`").
    pub fn fields<'n>(
        &mut self,
        node: &'n Node,
        what: &str,
        shape: &'static Shape,
    ) -> Option<Fields<'n>> {
        let NodeKind::Map(entries) = &node.kind else {
            let hint = match node.kind {
                NodeKind::Scalar { .. } => Some(format!(
                    "write the fields of {what} as `name: value` lines, indented below it (accepted: {})",
                    shape
                        .names()
                        .map(|n| format!("`{n}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
                _ => None,
            };
            self.wrong_type(node, &format!("{what} should be a map"), hint);
            return None;
        };
        let mut fields = Fields {
            shape,
            entries: [None; MAX_FIELDS],
            span: node.span,
            misspelt: Vec::new(),
        };
        for entry in entries {
            let Some(key) = entry.key.as_scalar() else {
                self.error(
                    "invalid-key",
                    entry.key.span,
                    "a field name must be a plain word, not a list or a map".into(),
                    Some("write `name: value`; check the brackets and the indentation".into()),
                );
                continue;
            };
            match shape
                .fields
                .iter()
                .position(|f| same_name(f.name, key))
                .filter(|&i| i < MAX_FIELDS)
            {
                // Duplicates were reported by the parser; the first one wins.
                Some(i) if fields.entries[i].is_none() => fields.entries[i] = Some(entry),
                Some(_) => {}
                None => {
                    if let Some(field) = did_you_mean(key, shape.names()) {
                        fields.misspelt.push((field, &entry.key));
                    }
                    let hint = suggest(key, shape.names()).or_else(|| {
                        Some(format!(
                            "{what} accepts: {}",
                            shape
                                .names()
                                .map(|n| format!("`{n}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ))
                    });
                    self.error(
                        "unknown-field",
                        entry.key.span,
                        format!("unknown field `{key}` in {what}"),
                        hint,
                    );
                }
            }
        }
        Some(fields)
    }

    pub fn wrong_type(&mut self, node: &Node, expected: &str, hint: Option<String>) {
        let hint = hint.or_else(|| match &node.kind {
            NodeKind::Seq(_) => Some(
                "write one value here, not a list: remove the `- ` (or the `[ ]`); \
                 for a long text on several lines write `>-` and the text below it"
                    .into(),
            ),
            NodeKind::Map(_) => Some(
                "write one value here, not a map: is a `: ` inside a text? Put the text in quotes"
                    .into(),
            ),
            NodeKind::Scalar { .. } if node.is_null() => Some("write a value after the `:`".into()),
            NodeKind::Scalar { .. } => {
                Some("see the field's description in docs/module-format.md".into())
            }
        });
        self.error(
            "wrong-type",
            node.span,
            format!("{expected}, but this is {}", node.describe()),
            hint,
        );
    }

    /// A required field: reports `missing-field` at the map when absent.
    pub fn require<'n>(&mut self, fields: &Fields<'n>, name: &str, what: &str) -> Option<&'n Node> {
        let node = fields.get(name);
        if node.is_none() {
            self.error(
                "missing-field",
                fields.span,
                format!("{what} has no `{name}`"),
                Some(format!("add `{name}:`")),
            );
        }
        node
    }

    /// A scalar as text. Numbers and booleans are accepted as their text
    /// (`version: 1`); null is not.
    pub fn string(&mut self, node: &Node, field: &str) -> Option<String> {
        match &node.kind {
            NodeKind::Scalar { value, .. } if !node.is_null() => Some(value.clone()),
            _ => {
                self.wrong_type(node, &format!("`{field}` should be a text"), None);
                None
            }
        }
    }

    pub fn bool(&mut self, node: &Node, field: &str) -> Option<bool> {
        match (&node.kind, node.is_plain()) {
            (NodeKind::Scalar { value, .. }, true) => match value.as_str() {
                "true" | "True" | "TRUE" => return Some(true),
                "false" | "False" | "FALSE" => return Some(false),
                _ => {}
            },
            (NodeKind::Scalar { value, .. }, false)
                if matches!(value.as_str(), "true" | "false") =>
            {
                self.wrong_type(
                    node,
                    &format!("`{field}` should be true or false"),
                    Some("remove the quotes".into()),
                );
                return None;
            }
            _ => {}
        }
        self.wrong_type(
            node,
            &format!("`{field}` should be true or false"),
            Some(format!("write `{field}: true` or `{field}: false`")),
        );
        None
    }

    /// A whole number, written without quotes.
    pub fn integer(&mut self, node: &Node, field: &str) -> Option<i64> {
        if let NodeKind::Scalar { value, .. } = &node.kind
            && let Ok(n) = value.trim().parse::<i64>()
        {
            if node.is_plain() {
                return Some(n);
            }
            self.wrong_type(
                node,
                &format!("`{field}` should be a whole number"),
                Some("remove the quotes".into()),
            );
            return None;
        }
        self.wrong_type(
            node,
            &format!("`{field}` should be a whole number"),
            Some(format!("write digits, e.g. `{field}: 3`")),
        );
        None
    }

    /// A whole number in `min..=max`; `out-of-range` otherwise.
    pub fn count(&mut self, node: &Node, field: &str, min: u32, max: u32) -> Option<u32> {
        let n = self.integer(node, field)?;
        if n < i64::from(min) || n > i64::from(max) {
            self.error(
                "out-of-range",
                node.span,
                format!("`{field}` must be between {min} and {max}, not {n}"),
                Some(format!(
                    "write a whole number from {min} to {max}, e.g. `{field}: {}`",
                    n.clamp(i64::from(min), i64::from(max))
                )),
            );
            return None;
        }
        u32::try_from(n).ok()
    }

    pub fn number(&mut self, node: &Node, field: &str) -> Option<f64> {
        if let NodeKind::Scalar { value, .. } = &node.kind
            && let Ok(n) = value.trim().parse::<f64>()
            && n.is_finite()
        {
            return Some(n);
        }
        self.wrong_type(
            node,
            &format!("`{field}` should be a number"),
            Some(format!("write digits without quotes, e.g. `{field}: 100`")),
        );
        None
    }

    /// A list of texts; a single text is a list of one.
    pub fn strings<'n>(&mut self, node: &'n Node, field: &str) -> Vec<(String, &'n Node)> {
        match &node.kind {
            NodeKind::Seq(items) => items
                .iter()
                .filter_map(|item| self.string(item, field).map(|s| (s, item)))
                .collect(),
            NodeKind::Scalar { .. } if !node.is_null() => self
                .string(node, field)
                .map(|s| (s, node))
                .into_iter()
                .collect(),
            _ => {
                self.wrong_type(node, &format!("`{field}` should be a list of texts"), None);
                Vec::new()
            }
        }
    }

    /// A translatable text: a string in the base language, or a map from
    /// language to string. Templates are parsed when `templated`. Returns a
    /// placeholder after reporting an error.
    pub fn text(&mut self, node: &Node, field: &str, templated: bool) -> Text {
        match &node.kind {
            NodeKind::Scalar { value, .. } if !node.is_null() => {
                let template = self.template_or_literal(value, node, templated);
                let base = self.base.clone();
                if self.languages.len() > 1 {
                    self.missing_translations(node, field, std::slice::from_ref(&base));
                }
                Text::new(vec![(base, template)])
            }
            NodeKind::Map(entries) => {
                let mut by_lang: Vec<(Lang, Template)> = Vec::with_capacity(entries.len());
                for (at, entry) in entries.iter().enumerate() {
                    if at > 0 && self.comma_trap(entry, &entries[at - 1]) {
                        continue;
                    }
                    let Some(lang) = entry.key.as_scalar() else {
                        self.error(
                            "invalid-key",
                            entry.key.span,
                            "a language must be a tag like `en`".into(),
                            Some("write `en: ...` and one line per language".into()),
                        );
                        continue;
                    };
                    let lang = self.module_language(lang);
                    if !self.languages.contains(&lang) {
                        let hint = suggest(&lang.0, self.languages.iter().map(|l| l.0.as_str()))
                            .or_else(|| Some(format!("add `{lang}` to `languages`")));
                        self.error(
                            "unknown-language",
                            entry.key.span,
                            format!("`{lang}` is not one of the module's languages"),
                            hint,
                        );
                        continue;
                    }
                    if by_lang.iter().any(|(l, _)| *l == lang) {
                        continue; // duplicate key, already reported
                    }
                    let value = match &entry.value.kind {
                        NodeKind::Scalar { value, .. } if !entry.value.is_null() => value,
                        _ => {
                            self.wrong_type(
                                &entry.value,
                                &format!("`{field}` should be a text"),
                                None,
                            );
                            continue;
                        }
                    };
                    let template = self.template_or_literal(value, &entry.value, templated);
                    by_lang.push((lang, template));
                }
                let Some(base_at) = by_lang.iter().position(|(l, _)| *l == self.base) else {
                    self.error(
                        "missing-base-language",
                        node.span,
                        format!(
                            "this text has no `{}` version, the module's base language",
                            self.base
                        ),
                        Some(format!(
                            "add `{}: ...`; every text must exist in the base language",
                            self.base
                        )),
                    );
                    return self.placeholder_text();
                };
                by_lang.swap(0, base_at);
                if by_lang.len() < self.languages.len() {
                    let present: Vec<Lang> = by_lang.iter().map(|(l, _)| l.clone()).collect();
                    self.missing_translations(node, field, &present);
                }
                Text::new(by_lang)
            }
            _ => {
                self.wrong_type(
                    node,
                    &format!("`{field}` should be a text, or a map from language to text"),
                    None,
                );
                self.placeholder_text()
            }
        }
    }

    /// `{ en: No, I will save, sw: ... }`: the comma ended the `en` text and
    /// `I will save` became a key without a value. Reported as what it is
    /// (not as an unknown language); true when it was.
    fn comma_trap(&mut self, entry: &Entry, before: &Entry) -> bool {
        let (Some(key), Some(prev_key), Some(prev)) = (
            entry.key.as_scalar(),
            before.key.as_scalar(),
            before.value.as_scalar(),
        ) else {
            return false;
        };
        if !entry.value.is_null() || self.is_module_language(key) {
            return false;
        }
        // A real `key:` with an empty value is written with a colon.
        let source = self.index.source();
        let after_key = source.get(entry.key.span.end..).unwrap_or("");
        if after_key.trim_start().starts_with(':') {
            return false;
        }
        self.error(
            "unquoted-comma",
            entry.key.span,
            format!("a comma ends the text inside `{{ }}`, so `{key}` is read as a language"),
            Some(format!("quote the text: `{prev_key}: \"{prev}, {key}\"`")),
        );
        true
    }

    /// A language key of a translated text, lower-cased: a clone of the
    /// module's language when it is one (no case folding needed for the
    /// ASCII tags languages are).
    fn module_language(&self, key: &str) -> Lang {
        if key.is_ascii()
            && let Some(lang) = self
                .languages
                .iter()
                .find(|l| l.0.eq_ignore_ascii_case(key))
        {
            return lang.clone();
        }
        Lang(key.to_lowercase())
    }

    /// Whether `key` names one of the module's languages (ignoring case).
    pub fn is_module_language(&self, key: &str) -> bool {
        if key.is_ascii() {
            self.languages.iter().any(|l| l.0.eq_ignore_ascii_case(key))
        } else {
            let key = key.to_lowercase();
            self.languages.iter().any(|l| l.0 == key)
        }
    }

    pub fn placeholder_text(&self) -> Text {
        Text::new(vec![(self.base.clone(), Template { parts: Vec::new() })])
    }

    fn missing_translations(&mut self, node: &Node, field: &str, present: &[Lang]) {
        if self.languages.len() <= present.len() {
            return;
        }
        // A translated text is marked at its first text, not at its `{`.
        let span = match &node.kind {
            NodeKind::Map(entries) => entries.first().map_or(node.span, |e| e.value.span),
            _ => node.span,
        };
        let languages = std::mem::take(&mut self.languages);
        for lang in languages.iter().filter(|l| !present.contains(l)) {
            self.warning(
                "missing-translation",
                span,
                format!("`{field}` has no `{lang}` translation"),
                Some(format!(
                    "learners using `{lang}` get the `{}` text",
                    self.base
                )),
            );
        }
        self.languages = languages;
    }

    fn template_or_literal(&mut self, value: &str, node: &Node, templated: bool) -> Template {
        if templated {
            self.template(value, node)
        } else {
            Template {
                parts: vec![Part::Lit(value.to_owned())],
            }
        }
    }

    /// Parses `{var}` templates; `{{` and `}}` are literal braces.
    pub fn template(&mut self, value: &str, node: &Node) -> Template {
        if !value.contains(['{', '}']) {
            return literal_template(value);
        }
        let mut parts = Vec::new();
        // Which quizzes' scores this text shows, for `quiz-size-mismatch`.
        let mut scores_shown = [false; 2];
        let mut lit = String::with_capacity(value.len());
        let bytes = value.as_bytes();
        let mut i = 0;
        let mut lit_start = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'{' if bytes.get(i + 1) == Some(&b'{') => {
                    lit.push_str(&value[lit_start..i + 1]);
                    i += 2;
                    lit_start = i;
                }
                b'{' => {
                    let close = value[i + 1..].find(['{', '}']).map(|p| i + 1 + p);
                    let Some(close) = close.filter(|&c| bytes[c] == b'}') else {
                        let span = self.inner_span(node, value, i..i + 1);
                        let hint = broken_variable_hint(&value[i + 1..])
                            .unwrap_or_else(|| "write `{{` for a literal brace".into());
                        self.error(
                            "unbalanced-brace",
                            span,
                            "this `{` is never closed".into(),
                            Some(hint),
                        );
                        i += 1;
                        continue;
                    };
                    let inside = &value[i + 1..close];
                    let (name, default) = match inside.split_once('|') {
                        Some((name, default)) => (name, Some(default)),
                        None => (inside, None),
                    };
                    let word = name.trim();
                    if word.is_empty() || !word.chars().all(|c| c.is_alphanumeric() || c == '_') {
                        // Not a variable: most likely a brace meant literally.
                        let span = self.inner_span(node, value, i..i + 1);
                        let message = if inside.trim().is_empty() {
                            "`{}` names no variable".to_owned()
                        } else {
                            "this `{` does not start a variable".to_owned()
                        };
                        let suggested = broken_variable_hint(inside);
                        // A misspelt variable (`{learner name}`) takes its
                        // `}` with it; a literal brace does not.
                        i = if inside.trim().is_empty() || suggested.is_some() {
                            close + 1
                        } else {
                            i + 1
                        };
                        let hint = suggested.unwrap_or_else(|| {
                            "write `{{` for a literal brace, or a variable such as `{learner_name}`"
                                .into()
                        });
                        self.error("unbalanced-brace", span, message, Some(hint));
                        continue;
                    }
                    lit.push_str(&value[lit_start..i]);
                    let var = self.variable(name, node, value, i..close + 1);
                    let default = match (var, default) {
                        (Some(_), Some(d)) => {
                            self.template_default(word, d, node, value, i..close + 1)
                        }
                        _ => None,
                    };
                    if let Some(Var::Score(q)) = var {
                        scores_shown[q as usize] = true;
                        if scores_shown == [true, true] && self.compared_scores.is_none() {
                            let span = self.inner_span(node, value, i..close + 1);
                            self.compared_scores = Some((word.to_owned(), span));
                        }
                    }
                    if let Some(var) = var {
                        if !lit.is_empty() {
                            parts.push(Part::Lit(std::mem::take(&mut lit)));
                        }
                        parts.push(match default {
                            Some(d) => Part::VarOr(var, d),
                            None => Part::Var(var),
                        });
                    }
                    i = close + 1;
                    lit_start = i;
                }
                b'}' if bytes.get(i + 1) == Some(&b'}') => {
                    lit.push_str(&value[lit_start..i + 1]);
                    i += 2;
                    lit_start = i;
                }
                b'}' => {
                    let span = self.inner_span(node, value, i..i + 1);
                    self.error(
                        "unbalanced-brace",
                        span,
                        "this `}` closes nothing".into(),
                        Some("write `}}` for a literal brace".into()),
                    );
                    i += 1;
                }
                _ => i += 1,
            }
        }
        lit.push_str(&value[lit_start..]);
        if !lit.is_empty() {
            parts.push(Part::Lit(lit));
        }
        Template { parts }
    }

    /// The default of `{name|default}`: only for variables that can be
    /// empty, and not empty itself.
    fn template_default(
        &mut self,
        name: &str,
        default: &str,
        node: &Node,
        value: &str,
        at: std::ops::Range<usize>,
    ) -> Option<String> {
        let span = self.inner_span(node, value, at);
        if !Var::WITH_DEFAULT.contains(&name) {
            self.error(
                "invalid-template-default",
                span,
                format!("`{{{name}}}` always has a value, so it takes no default"),
                Some(format!(
                    "write `{{{name}}}`; only {} take a default after `|`",
                    Var::WITH_DEFAULT
                        .iter()
                        .map(|n| format!("`{{{n}}}`"))
                        .collect::<Vec<_>>()
                        .join(" and ")
                )),
            );
            return None;
        }
        let default = default.trim();
        if default.is_empty() {
            self.error(
                "invalid-template-default",
                span,
                format!("`{{{name}|}}` has an empty default"),
                Some(format!(
                    "write the default after `|`, e.g. `{{{name}|friend}}`, or write `{{{name}}}`"
                )),
            );
            return None;
        }
        Some(default.to_owned())
    }

    fn variable(
        &mut self,
        name: &str,
        node: &Node,
        value: &str,
        at: std::ops::Range<usize>,
    ) -> Option<Var> {
        let quiz = self.quiz_context;
        let (var, used) = match name {
            "module_name" => (Var::ModuleName, None),
            "module_goal" => (Var::ModuleGoal, None),
            "learner_name" => (Var::LearnerName, None),
            "score" => (Var::Score(quiz), Some(quiz)),
            "total" => (Var::Total(quiz), Some(quiz)),
            "pre_score" => (Var::Score(QuizKind::Pre), Some(QuizKind::Pre)),
            "pre_total" => (Var::Total(QuizKind::Pre), Some(QuizKind::Pre)),
            "post_score" => (Var::Score(QuizKind::Post), Some(QuizKind::Post)),
            "post_total" => (Var::Total(QuizKind::Post), Some(QuizKind::Post)),
            "answer" => (Var::Answer, None),
            "attempts_left" => (Var::AttemptsLeft, None),
            "resume_day" | "resume_time" if !self.pause_vars => {
                let span = self.inner_span(node, value, at);
                self.error(
                    "unknown-template-variable",
                    span,
                    format!("`{{{name}}}` is only known in a `wait` step's `reply`"),
                    Some("say when the course goes on in the `wait` step's `reply`, or write the day and time out".into()),
                );
                return None;
            }
            "resume_day" => (Var::ResumeDay, None),
            "resume_time" => (Var::ResumeTime, None),
            _ => {
                // The variables this text may show.
                let pause_vars = self.pause_vars;
                let names = Var::NAMES
                    .iter()
                    .copied()
                    .filter(|n| pause_vars || !Var::PAUSE_ONLY.contains(n));
                let hint = if name.trim() != name && Var::NAMES.contains(&name.trim()) {
                    Some(format!("write `{{{}}}` without spaces", name.trim()))
                } else {
                    crate::diagnostics::closest(name.trim(), names.clone())
                        .first()
                        .map(|n| format!("did you mean `{{{n}}}`?"))
                        .or_else(|| {
                            // `{learner}` for `{learner_name}`.
                            let word = name.trim();
                            names
                                .clone()
                                .find(|n| word.len() >= 4 && n.starts_with(word))
                                .map(|n| format!("did you mean `{{{n}}}`?"))
                        })
                        .or_else(|| {
                            Some(format!(
                                "the variables are {}",
                                names
                                    .clone()
                                    .map(|n| format!("`{{{n}}}`"))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ))
                        })
                };
                let span = self.inner_span(node, value, at);
                self.error(
                    "unknown-template-variable",
                    span,
                    format!("unknown template variable `{{{name}}}`"),
                    hint,
                );
                return None;
            }
        };
        // Only the first use of each quiz's variables is remembered.
        if let Some(quiz) = used
            && self.quiz_uses[quiz as usize].is_none()
        {
            let span = self.inner_span(node, value, at);
            self.note_quiz_use(quiz, name, span);
        }
        Some(var)
    }

    /// The span of `at` (a byte range of `value`, the scalar's parsed text)
    /// in the source. Exact when the source spells the value as is (plain
    /// or quoted without escapes); otherwise the same occurrence of the text
    /// is looked up in the source; failing that, the whole scalar.
    pub fn inner_span(&self, node: &Node, value: &str, at: std::ops::Range<usize>) -> Span {
        let source = self.index.source();
        let raw = source.get(node.span.range()).unwrap_or("");
        let quoted = matches!(
            node.kind,
            NodeKind::Scalar {
                style: Style::SingleQuoted | Style::DoubleQuoted,
                ..
            }
        );
        let (offset, raw) = if quoted && raw.len() >= 2 {
            (1, &raw[1..raw.len() - 1])
        } else {
            (0, raw)
        };
        let base = node.span.start + offset;
        if raw == value {
            return self.index.span(base + at.start, base + at.end);
        }
        let needle = &value[at.clone()];
        if !needle.is_empty() {
            let nth = value[..at.start].matches(needle).count();
            if value.matches(needle).count() == raw.matches(needle).count()
                && let Some((pos, _)) = raw.match_indices(needle).nth(nth)
            {
                return self.index.span(base + pos, base + pos + needle.len());
            }
        }
        node.span
    }

    /// A duration such as `30s`, `15m`, `2h`, `1d`, `1w` or `1h30m`.
    pub fn duration(&mut self, node: &Node, field: &str) -> Option<Duration> {
        let hint = || Some("write a number and a unit: `30s`, `15m`, `2h`, `1d` or `1w`".into());
        let Some(text) = node.as_scalar().filter(|_| !node.is_null()) else {
            self.wrong_type(node, &format!("`{field}` should be a duration"), hint());
            return None;
        };
        match parse_duration(text) {
            Ok(d) => Some(d),
            Err(why) => {
                let hint = duration_in_words(text)
                    .map(|d| format!("did you mean `{d}`? Durations are a number and a unit: `30s`, `15m`, `2h`, `1d` or `1w`"))
                    .or_else(hint);
                self.error(
                    "invalid-duration",
                    node.span,
                    format!("`{field}`: `{text}` is not a valid duration ({why})"),
                    hint,
                );
                None
            }
        }
    }
}

/// A template without variables or braces: one literal part (none when
/// empty).
fn literal_template(value: &str) -> Template {
    let parts = if value.is_empty() {
        Vec::new()
    } else {
        vec![Part::Lit(value.to_owned())]
    };
    Template { parts }
}

/// For a `{` that does not make a variable: "did you mean `{total}`?"
/// when the text after it starts with (or is close to) a variable's name,
/// as in `{total.`, `{learner name}` or `{scor`.
fn broken_variable_hint(after: &str) -> Option<String> {
    let word: String = after
        .trim_start()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    if word.is_empty() {
        return None;
    }
    let joined: String = after
        .split(['}', '.', ',', '!', '?', ':', ';'])
        .next()
        .unwrap_or("")
        .trim()
        .replace(' ', "_");
    let found = [word.as_str(), joined.as_str()].into_iter().find_map(|w| {
        Var::NAMES
            .iter()
            .copied()
            .find(|n| *n == w)
            .or_else(|| crate::diagnostics::did_you_mean(w, Var::NAMES.iter().copied()))
    })?;
    Some(format!(
        "did you mean `{{{found}}}`? (write `{{{{` for a literal brace)"
    ))
}

/// `1 day`, `2 hours`, `30 minutes and 1 hour`, `1.5h`: the duration
/// meant, written the way the format wants it (`1d`, `2h`, `1h30m`).
fn duration_in_words(text: &str) -> Option<String> {
    let lower = text.to_lowercase().replace(" and ", " ").replace(',', " ");
    let mut out = String::new();
    let mut number: Option<String> = None;
    let push = |n: &str, unit: char, out: &mut String| -> Option<()> {
        if let Some((whole, frac)) = n.split_once('.') {
            // 1.5h -> 90m; 1.5d -> 36h.
            let whole: u64 = if whole.is_empty() {
                0
            } else {
                whole.parse().ok()?
            };
            let frac: f64 = format!("0.{frac}").parse().ok()?;
            let (secs, smaller) = match unit {
                'w' => (7 * 86_400, 'h'),
                'd' => (86_400, 'h'),
                'h' => (3600, 'm'),
                'm' => (60, 's'),
                _ => return None,
            };
            let small_secs = match smaller {
                'h' => 3600,
                'm' => 60,
                _ => 1,
            };
            let total = whole
                .checked_mul(secs)?
                .checked_add((frac * secs as f64).round() as u64)?;
            if total % small_secs != 0 {
                return None;
            }
            out.push_str(&format!("{}{smaller}", total / small_secs));
        } else {
            let n: u64 = n.parse().ok()?;
            out.push_str(&format!("{n}{unit}"));
        }
        Some(())
    };
    let mut words = Vec::new();
    for token in lower.split_whitespace() {
        // `2hours`, `30mins`: split digits from letters.
        let split = token
            .find(|c: char| c.is_alphabetic())
            .unwrap_or(token.len());
        let (n, w) = token.split_at(split);
        if !n.is_empty() {
            words.push(n.to_owned());
        }
        if !w.is_empty() {
            words.push(w.to_owned());
        }
    }
    for word in words {
        if word.chars().all(|c| c.is_ascii_digit() || c == '.') {
            if number.is_some() {
                return None;
            }
            number = Some(word);
            continue;
        }
        let unit = match word.as_str() {
            "s" | "sec" | "secs" | "second" | "seconds" => 's',
            "m" | "min" | "mins" | "minute" | "minutes" | "dakika" => 'm',
            "h" | "hr" | "hrs" | "hour" | "hours" | "saa" => 'h',
            "d" | "day" | "days" | "siku" => 'd',
            "w" | "wk" | "wks" | "week" | "weeks" | "wiki" => 'w',
            "a" | "an" | "one" => {
                number = Some("1".into());
                continue;
            }
            _ => return None,
        };
        let n = number.take().unwrap_or_else(|| "1".into());
        push(&n, unit, &mut out)?;
    }
    if number.is_some() || out.is_empty() || out == text.trim() {
        return None;
    }
    parse_duration(&out).ok().map(|_| out)
}

/// Longest accepted duration: ten years.
const MAX_DURATION_SECS: i64 = 10 * 366 * 24 * 3600;

/// Parses `30s`, `15m`, `2h`, `1d`, `1w` and sums like `1h30m`.
pub(super) fn parse_duration(text: &str) -> Result<Duration, &'static str> {
    let text = text.trim();
    if text.is_empty() {
        return Err("it is empty");
    }
    let mut total: i64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err("a number must come first");
        }
        let n: i64 = rest[..digits]
            .parse()
            .map_err(|_| "the number is too large")?;
        rest = rest[digits..].trim_start();
        let unit = rest.chars().next().ok_or("the unit is missing")?;
        let secs = match unit {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 7 * 86_400,
            _ => return Err("the unit must be s, m, h, d or w"),
        };
        rest = rest[unit.len_utf8()..].trim_start();
        total = n
            .checked_mul(secs)
            .and_then(|s| total.checked_add(s))
            .filter(|&t| t <= MAX_DURATION_SECS)
            .ok_or("it is longer than ten years")?;
    }
    if total == 0 {
        return Err("it must be longer than zero");
    }
    Ok(Duration::seconds(total))
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use chrono::Duration;

    #[test]
    fn durations_accept_units_and_sums() {
        assert_eq!(parse_duration("30s"), Ok(Duration::seconds(30)));
        assert_eq!(parse_duration("15m"), Ok(Duration::minutes(15)));
        assert_eq!(parse_duration("2h"), Ok(Duration::hours(2)));
        assert_eq!(parse_duration("1w"), Ok(Duration::days(7)));
        assert_eq!(parse_duration("1d 12h"), Ok(Duration::hours(36)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::minutes(90)));
    }

    #[test]
    fn durations_reject_what_is_not_one() {
        assert_eq!(super::duration_in_words("1 day").as_deref(), Some("1d"));
        assert_eq!(super::duration_in_words("2 hours").as_deref(), Some("2h"));
        assert_eq!(super::duration_in_words("1.5h").as_deref(), Some("90m"));
        assert_eq!(
            super::duration_in_words("1 hour and 30 minutes").as_deref(),
            Some("1h30m")
        );
        assert_eq!(super::duration_in_words("a week").as_deref(), Some("1w"));
        assert_eq!(super::duration_in_words("soon"), None);
        assert_eq!(
            super::duration_in_words("99999999999999999999.5 days"),
            None
        );
        assert_eq!(
            super::duration_in_words("18446744073709551615.5 weeks"),
            None
        );
        assert_eq!(super::duration_in_words("2y"), None);
        for bad in [
            "",
            "90",
            "1 day",
            "2y",
            "0d",
            "h",
            "-1d",
            "99999999999999999999s",
            "600w",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
