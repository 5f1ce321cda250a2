//! The module format's maps and their fields: the one table that both the
//! loader (which fields a map accepts, for `unknown-field` and its
//! did-you-mean hints) and the JSON Schema ([`json_schema`]) are built
//! from, so the two cannot drift.

use serde_json::{Value, json};

/// One kind of YAML map of the format and the fields it accepts.
#[derive(Debug)]
pub struct Shape {
    /// The `$defs` name in the schema.
    pub name: &'static str,
    pub doc: &'static str,
    pub fields: &'static [Field],
}

#[derive(Debug)]
pub struct Field {
    pub name: &'static str,
    pub ty: Ty,
    pub required: bool,
    pub doc: &'static str,
}

/// A required field.
const fn req(name: &'static str, ty: Ty, doc: &'static str) -> Field {
    Field {
        name,
        ty,
        required: true,
        doc,
    }
}

/// An optional field.
const fn opt(name: &'static str, ty: Ty, doc: &'static str) -> Field {
    Field {
        name,
        ty,
        required: false,
        doc,
    }
}

/// What a field's value is.
#[derive(Debug)]
pub enum Ty {
    /// A translatable text (a string, or a map from language to string).
    Text,
    /// A text that may be empty (`end: ""`) or null.
    OptionalText,
    /// A plain value read as text; numbers and booleans are accepted
    /// (`version: 1`). With a pattern when the text has a syntax.
    Str(Option<&'static str>),
    /// One text or a list of texts.
    Strings(Option<&'static str>),
    Bool,
    /// A whole number in `min..=max`.
    Int(i64, i64),
    Number,
    Duration,
    Quiz,
    /// `correct:` of a question: choice numbers or texts.
    Correct,
    /// `number:` of an answer rule: `true` or a range.
    NumberRule,
    /// `any: true`.
    True,
    Map(&'static Shape),
    List(&'static Shape),
    /// A list of choices: texts or choice maps.
    Choices,
    /// `wait:` of a step: a duration, a time of day, or a [`WAIT`] map.
    Wait,
    /// A time of day, `HH:MM` (24-hour).
    TimeOfDay,
    /// Weekdays: one or a list of `mon` ... `sun` (or full names), or a
    /// range `mon-fri`.
    Weekdays,
    /// Read by the loader only to say it is not allowed here (the
    /// module-wide `retry` has no `reprompt`); left out of the schema.
    NotAllowed,
}

const TAG: &str = "^[A-Za-z0-9]+(-[A-Za-z0-9]+)*$";
/// Letters, digits, `-`, `_` and `.` (no ASCII punctuation or space; the
/// loader also rejects other non-alphanumeric characters).
const STEP_ID: &str = "^[^\\s!-,/:-@\\[-^`{-~]+$";

#[rustfmt::skip]
pub static MODULE: Shape = Shape {
    name: "module",
    doc: "A chatcourse module: one course, as a list of steps.",
    fields: &[
        req("module", Ty::Str(Some("^[A-Za-z0-9_-]+$")), "Stable identifier (letters, digits, - and _); never change it once learners are enrolled."),
        req("name", Ty::Text, "Shown to learners as {module_name}."),
        req("goal", Ty::Text, "Short goal, shown as {module_goal}."),
        req("version", Ty::Str(None), "Your version label (free text)."),
        req(
            "language",
            Ty::Str(Some(TAG)), "Base language tag (en, sw, ...). Every text must exist in it."),
        opt("languages", Ty::Strings(Some(TAG)), "All languages offered, base included; defaults to [language]."),
        opt("keywords", Ty::Map(&KEYWORDS), "Rename or translate STOP / HELP / RESTART."),
        opt("messages", Ty::Map(&MESSAGES), "Texts the engine sends by itself."),
        opt("retry", Ty::Map(&MODULE_RETRY), "Default retry policy for ask steps."),
        opt("timeouts", Ty::Map(&TIMEOUTS), "Default silence handling for waiting steps."),
        req("steps", Ty::List(&STEP), "The steps; the first is where every learner starts."),
    ],
};

#[rustfmt::skip]
pub static KEYWORDS: Shape = Shape {
    name: "keywords",
    doc: "Module-wide keywords; a list replaces the default.",
    fields: &[
        opt("stop", Ty::Strings(None), "Opt out (default [STOP])."),
        opt(
            "help",
            Ty::Strings(None), "Send messages.help and the prompt again (default [HELP])."),
        opt("restart", Ty::Strings(None), "Start again from the first step (default [RESTART])."),
    ],
};

#[rustfmt::skip]
pub static MESSAGES: Shape = Shape {
    name: "messages",
    doc: "Texts the engine sends by itself.",
    fields: &[
        opt("help", Ty::Text, "Sent on HELP."),
        opt("stopped", Ty::Text, "Sent on STOP."),
        opt(
            "invalid",
            Ty::Text, "Sent when a reply matches nothing and the step has no reprompt."),
        opt("finished", Ty::Text, "Sent when a learner writes after the course is over."),
        opt("expired", Ty::OptionalText, "Sent when the session expires; empty to send nothing."),
    ],
};

#[rustfmt::skip]
pub static MODULE_RETRY: Shape = Shape {
    name: "module_retry",
    doc: "The module-wide retry policy (steps may set reprompt and on_exhausted).",
    fields: &[
        opt("max_attempts", Ty::Int(1, 1000), "Attempts allowed for replies that match nothing (default 3)."),
        opt("reprompt", Ty::NotAllowed, ""),
        opt("on_exhausted", Ty::NotAllowed, ""),
    ],
};

#[rustfmt::skip]
pub static RETRY: Shape = Shape {
    name: "retry",
    doc: "A step's retry policy.",
    fields: &[
        opt(
            "max_attempts",
            Ty::Int(1, 1000), "Attempts allowed for replies that match nothing."),
        opt("reprompt", Ty::Text, "Sent (with the prompt again) after a reply that matches nothing."),
        opt("on_exhausted", Ty::Str(Some(STEP_ID)), "The step to go to when attempts run out (default: next)."),
    ],
};

#[rustfmt::skip]
pub static TIMEOUTS: Shape = Shape {
    name: "timeouts",
    doc: "Silence handling: reminders and expiry.",
    fields: &[
        opt("remind_after", Ty::Duration, "Send a reminder after this much silence (30s, 15m, 2h, 1d, 1w, 1d12h)."),
        opt("reminder", Ty::Text, "The reminder (default: the prompt again)."),
        opt("max_reminders", Ty::Int(0, 100), "At most this many reminders (default 1)."),
        opt("expire_after", Ty::Duration, "End the session as expired after this much silence."),
    ],
};

#[rustfmt::skip]
pub static STEP: Shape = Shape {
    name: "step",
    doc: "A step: exactly one of say, ask, end, wait.",
    fields: &[
        req("id", Ty::Str(Some(STEP_ID)), "Unique in the module."),
        opt("say", Ty::Text, "Send a message and go on."),
        opt("ask", Ty::Text, "Send a prompt and wait for the learner."),
        opt(
            "end",
            Ty::OptionalText, "The completion message; the session is completed."),
        opt("wait", Ty::Wait, "Pause the course until a time, then go on: a duration (2h), a time of day (\"09:00\", in the learner's time zone), or a map."),
        opt("next", Ty::Str(Some(STEP_ID)), "The step to go to (default: the step below)."),
        opt("quiz", Ty::Quiz, "The quiz this question scores into."),
        opt("choices", Ty::Choices, "Numbered choices."),
        opt(
            "correct",
            Ty::Correct, "Quiz questions: the right choice number (or text), or a list."),
        opt("right", Ty::Text, "Quiz feedback for a right answer."),
        opt("wrong", Ty::Text, "Quiz feedback for a wrong answer."),
        opt(
            "list_choices",
            Ty::Bool, "Append the numbered choices and 'Reply 1, 2 or 3.' (default true)."),
        opt("answers", Ty::List(&RULE), "Free-text answer rules, tried in order after the choices."),
        opt("retry", Ty::Map(&RETRY), "This step's retry policy."),
        opt(
            "timeouts",
            Ty::Map(&TIMEOUTS), "This step's silence handling (over the module's)."),
    ],
};

#[rustfmt::skip]
pub static CHOICE: Shape = Shape {
    name: "choice",
    doc: "A choice with more than its text.",
    fields: &[
        req("text", Ty::Text, "The choice's text."),
        opt("aliases", Ty::Strings(None), "Extra words that select it."),
        opt("reply", Ty::Text, "Sent when this choice is picked."),
        opt(
            "next",
            Ty::Str(Some(STEP_ID)), "The step to go to when this choice is picked."),
    ],
};

#[rustfmt::skip]
pub static RULE: Shape = Shape {
    name: "answer_rule",
    doc: "A free-text answer rule: exactly one of keywords, regex, number, any.",
    fields: &[
        opt("keywords", Ty::Strings(None), "Words or phrases that match."),
        opt("regex", Ty::Str(None), "A regular expression on the normalised (lower-case) reply."),
        opt("number", Ty::NumberRule, "A number, optionally in a range: true or {min, max}."),
        opt("any", Ty::True, "Any reply that is not empty."),
        opt("reply", Ty::Text, "Sent when this rule matches."),
        opt(
            "next",
            Ty::Str(Some(STEP_ID)), "The step to go to when this rule matches."),
        opt("correct", Ty::Bool, "Quiz questions: whether this answer is right."),
    ],
};

#[rustfmt::skip]
pub static RANGE: Shape = Shape {
    name: "number_range",
    doc: "A number range, ends included.",
    fields: &[
        opt("min", Ty::Number, "The smallest number accepted."),
        opt("max", Ty::Number, "The largest number accepted."),
    ],
};

#[rustfmt::skip]
pub static WAIT: Shape = Shape {
    name: "wait",
    doc: "A pause: at least `after`, then the next `at` (on one of `days`). At least one of after and at.",
    fields: &[
        opt("after", Ty::Duration, "Pause at least this long (30s, 15m, 2h, 1d, 1w, 1d12h)."),
        opt("at", Ty::TimeOfDay, "Then go on at the next time of day, HH:MM in the learner's time zone (\"09:00\")."),
        opt("days", Ty::Weekdays, "Only on these weekdays (with at): [mon, wed, fri], or a range mon-fri."),
        opt("skip", Ty::Strings(None), "Replies that end the pause at once (\"next\", \"ready\")."),
        opt("reply", Ty::Text, "Sent when the learner writes during the pause; {resume_day} and {resume_time} say when it ends."),
    ],
};

/// Every map of the format, in schema order.
pub static SHAPES: &[&Shape] = &[
    &MODULE,
    &KEYWORDS,
    &MESSAGES,
    &MODULE_RETRY,
    &STEP,
    &CHOICE,
    &RULE,
    &RANGE,
    &RETRY,
    &TIMEOUTS,
    &WAIT,
];

impl Shape {
    pub fn names(&self) -> impl Iterator<Item = &'static str> + Clone + use<> {
        let fields: &'static [Field] = self.fields;
        fields.iter().map(|f| f.name)
    }

    pub fn field(&self, name: &str) -> Option<&'static Field> {
        let fields: &'static [Field] = self.fields;
        fields.iter().find(|f| f.name == name)
    }
}

/// The step kinds and the answer-rule matchers: exactly one of each.
pub const KINDS: &[&str] = &["say", "ask", "end", "wait"];
pub const MATCHERS: &[&str] = &["keywords", "regex", "number", "any"];
/// Fields only an `ask` step may have.
pub const ASK_ONLY: &[&str] = &[
    "quiz",
    "choices",
    "correct",
    "right",
    "wrong",
    "list_choices",
    "answers",
    "retry",
    "timeouts",
];

/// The JSON Schema (draft 2020-12) of the module format, for editors:
/// completion, hover documentation and inline errors. It checks the
/// shape of a module (fields, types, syntaxes); the loader checks
/// everything else (references, quizzes, translations...).
pub fn json_schema() -> Value {
    let mut defs = serde_json::Map::new();
    defs.insert("text".into(), text_schema());
    for shape in SHAPES.iter().skip(1) {
        defs.insert(shape.name.into(), shape_schema(shape));
    }
    let mut root = shape_schema(&MODULE);
    let obj = root.as_object_mut().expect("an object schema");
    let mut out = serde_json::Map::new();
    out.insert(
        "$schema".into(),
        json!("https://json-schema.org/draft/2020-12/schema"),
    );
    out.insert(
        "$id".into(),
        json!("https://chatcourse.invalid/module.schema.json"),
    );
    out.insert("title".into(), json!("chatcourse module"));
    out.append(obj);
    out.insert("$defs".into(), Value::Object(defs));
    Value::Object(out)
}

/// [`json_schema`] as the text shipped in `docs/module.schema.json` and
/// printed by `chatcourse schema`: pretty-printed, ending in a newline.
pub fn json_schema_text() -> String {
    let mut text = serde_json::to_string_pretty(&json_schema()).unwrap_or_default();
    text.push('\n');
    text
}

fn text_schema() -> Value {
    let scalar = json!({ "type": ["string", "number", "boolean"] });
    json!({
        "description": "A text in the base language, or a map from language tag to text. {variables} are allowed where the format says.",
        "anyOf": [
            scalar,
            {
                "type": "object",
                "minProperties": 1,
                "propertyNames": { "pattern": TAG },
                "additionalProperties": scalar,
            },
        ],
    })
}

fn shape_schema(shape: &Shape) -> Value {
    let mut properties = serde_json::Map::new();
    for f in shape.fields {
        if matches!(f.ty, Ty::NotAllowed) {
            continue;
        }
        let mut schema = ty_schema(&f.ty);
        if let Some(obj) = schema.as_object_mut()
            && !f.doc.is_empty()
            && !obj.contains_key("$ref")
        {
            obj.insert("description".into(), json!(f.doc));
        }
        properties.insert(f.name.into(), schema);
    }
    let required: Vec<&str> = shape
        .fields
        .iter()
        .filter(|f| f.required)
        .map(|f| f.name)
        .collect();
    let mut schema = json!({
        "type": "object",
        "description": shape.doc,
        "properties": properties,
        "additionalProperties": false,
    });
    let obj = schema.as_object_mut().expect("an object");
    if !required.is_empty() {
        obj.insert("required".into(), json!(required));
    }
    let one_of = |names: &[&str]| -> Value {
        json!(
            names
                .iter()
                .map(|n| json!({ "required": [n] }))
                .collect::<Vec<_>>()
        )
    };
    if std::ptr::eq(shape, &STEP) {
        obj.insert("oneOf".into(), one_of(KINDS));
    }
    if std::ptr::eq(shape, &RULE) {
        obj.insert("oneOf".into(), one_of(MATCHERS));
    }
    schema
}

fn ty_schema(ty: &Ty) -> Value {
    let scalar = || json!(["string", "number", "boolean"]);
    match ty {
        Ty::Text => json!({ "$ref": "#/$defs/text" }),
        Ty::OptionalText => json!({ "anyOf": [{ "$ref": "#/$defs/text" }, { "type": "null" }] }),
        Ty::Str(None) => json!({ "type": scalar() }),
        Ty::Str(Some(p)) => json!({ "type": ["string", "number"], "pattern": p }),
        Ty::Strings(pattern) => {
            let item = match pattern {
                Some(p) => json!({ "type": "string", "pattern": p }),
                None => json!({ "type": scalar() }),
            };
            json!({ "anyOf": [item.clone(), { "type": "array", "items": item }] })
        }
        Ty::Bool => json!({ "type": "boolean" }),
        Ty::Int(min, max) => json!({ "type": "integer", "minimum": min, "maximum": max }),
        Ty::Number => json!({ "type": "number" }),
        Ty::Duration => json!({
            "type": "string",
            "pattern": "^\\s*([0-9]+\\s*[smhdw]\\s*)+$",
        }),
        Ty::Quiz => json!({ "enum": ["pre", "post"] }),
        Ty::Correct => {
            let one =
                json!({ "anyOf": [{ "type": "integer", "minimum": 1 }, { "type": "string" }] });
            json!({ "anyOf": [one.clone(), { "type": "array", "minItems": 1, "items": one }] })
        }
        Ty::NumberRule => {
            json!({ "anyOf": [{ "const": true }, { "$ref": "#/$defs/number_range" }] })
        }
        Ty::True => json!({ "const": true }),
        Ty::Map(shape) => json!({ "$ref": format!("#/$defs/{}", shape.name) }),
        Ty::List(shape) => json!({
            "type": "array",
            "items": { "$ref": format!("#/$defs/{}", shape.name) },
        }),
        Ty::Choices => json!({
            "type": "array",
            "items": { "anyOf": [{ "$ref": "#/$defs/choice" }, { "$ref": "#/$defs/text" }] },
        }),
        Ty::Wait => json!({
            "anyOf": [
                ty_schema(&Ty::Duration),
                ty_schema(&Ty::TimeOfDay),
                { "$ref": "#/$defs/wait" },
            ],
        }),
        Ty::TimeOfDay => json!({
            "type": "string",
            "pattern": "^\\s*([01]?[0-9]|2[0-3]):[0-5][0-9]\\s*$",
        }),
        Ty::Weekdays => {
            let day = json!({
                "type": "string",
                "pattern": "^\\s*[A-Za-z]{3,9}(\\s*-\\s*[A-Za-z]{3,9})?\\s*$",
            });
            json!({ "anyOf": [day.clone(), { "type": "array", "minItems": 1, "items": day }] })
        }
        Ty::NotAllowed => json!(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_matchers_and_ask_fields_are_fields_of_their_maps() {
        for name in KINDS.iter().chain(ASK_ONLY) {
            assert!(STEP.field(name).is_some(), "{name}");
        }
        for name in MATCHERS {
            assert!(RULE.field(name).is_some(), "{name}");
        }
    }

    #[test]
    fn every_map_referenced_is_defined() {
        let schema = json_schema().to_string();
        let defs = json_schema()["$defs"].as_object().unwrap().clone();
        for part in schema.split("\"#/$defs/").skip(1) {
            let name = part.split('"').next().unwrap();
            assert!(defs.contains_key(name), "{name}");
        }
    }
}
