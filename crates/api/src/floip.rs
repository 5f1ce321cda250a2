//! FLOIP Flow Results data packages: a programme's quiz answers per
//! module, for tools that read the open standard (a Data Package whose
//! descriptor `datapackage.json` has the questions' schema, and a data
//! file of six-column response rows). See docs/analytics.md.

use std::collections::{BTreeMap, HashMap};

use chatcourse_engine::QuizQuestionText;
use chatcourse_storage::AnswerExportRow;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

/// The version of the Flow Results specification the packages follow.
pub const SPECIFICATION_VERSION: &str = "1.0.0-rc1";

/// The package's data file (beside its descriptor).
pub const DATA_FILE: &str = "responses.json";

/// The descriptor's file name.
pub const DESCRIPTOR_FILE: &str = "datapackage.json";

/// The questions of one module: by version (content hash), then by
/// question id.
#[derive(Debug, Default)]
pub struct ModuleQuestions {
    pub by_version: HashMap<String, BTreeMap<String, QuizQuestionText>>,
    /// Every question of every version, the newest version's text winning
    /// (the package's schema must describe every response).
    pub all: BTreeMap<String, QuizQuestionText>,
}

impl ModuleQuestions {
    /// Adds a version's questions; call oldest first.
    pub fn add_version(&mut self, content_hash: &str, questions: Vec<QuizQuestionText>) {
        let version = self.by_version.entry(content_hash.to_owned()).or_default();
        for q in questions {
            self.all.insert(q.id.clone(), q.clone());
            version.insert(q.id.clone(), q);
        }
    }
}

/// A package name as the Data Package specification wants it: lower case,
/// alphanumerics and `.`, `_`, `-`.
pub fn package_name(text: &str) -> String {
    text.chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// An RFC 3339 time with a numeric offset (`+00:00`, not `Z`), as the
/// specification asks.
fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, false)
}

/// The descriptor of a module's package.
pub fn descriptor(
    name: &str,
    title: &str,
    questions: &ModuleQuestions,
    at: DateTime<Utc>,
) -> Value {
    let field =
        |name: &str, title: &str, kind: &str| json!({"name": name, "title": title, "type": kind});
    let schema_questions: serde_json::Map<String, Value> = questions
        .all
        .values()
        .map(|q| {
            let question = if q.choices.is_empty() {
                json!({"type": "open", "label": q.question, "type_options": {}})
            } else {
                json!({"type": "select_one", "label": q.question, "type_options": {"choices": q.choices}})
            };
            (q.id.clone(), question)
        })
        .collect();
    json!({
        "profile": "flow-results-package",
        "flow_results_specification_version": SPECIFICATION_VERSION,
        "created": timestamp(at),
        "modified": timestamp(at),
        "id": Uuid::new_v4().to_string(),
        "name": package_name(name),
        "title": title,
        "resources": [{
            "name": "responses",
            "path": DATA_FILE,
            "mediatype": "application/json",
            "encoding": "utf-8",
            "schema": {
                "fields": [
                    field("timestamp", "Timestamp", "datetime"),
                    field("row_id", "Row ID", "string"),
                    field("contact_id", "Contact ID", "string"),
                    field("question_id", "Question ID", "string"),
                    field("response", "Response", "any"),
                    field("response_metadata", "Response Metadata", "object"),
                ],
                "questions": schema_questions,
            },
        }],
    })
}

/// The response row of a recorded answer: timestamp, row id (the
/// answer's id), contact id (the customer's uuid), question id, response
/// (the choice's text for a choice question, else what the learner typed)
/// and metadata (the quiz, whether it was right, the attempt, how the
/// reply matched, the typed text, the session and module version).
/// `None` for a reply to a choice question that picked no choice (the
/// attempts ran out: nothing the learner sent is a choice).
pub fn row(row: &AnswerExportRow, questions: &ModuleQuestions) -> Option<Value> {
    let a = &row.answer;
    let question = questions
        .by_version
        .get(&row.module_version_hash)
        .and_then(|v| v.get(&a.question_id));
    let response = match question {
        Some(q) if !q.choices.is_empty() => {
            let index = usize::try_from(a.choice?).ok()?.checked_sub(1)?;
            q.choices.get(index)?.clone()
        }
        _ => a.answer.clone(),
    };
    Some(json!([
        timestamp(a.created_at),
        row.id,
        row.customer_uuid.to_string(),
        a.question_id,
        response,
        {
            "quiz": a.quiz.as_str(),
            "correct": a.correct,
            "attempt": a.attempt,
            "matched_by": a.matched_by,
            "answer": a.answer,
            "session_uuid": row.session_uuid.to_string(),
            "module_version_hash": row.module_version_hash,
        },
    ]))
}
