//! Keyword enrolment: a channel may map a word (`JIFUNZE`) to a module and
//! a programme, so that a learner who texts it, with no live session, is
//! enrolled (and registered by phone if new). Stored in the channel's
//! settings, for every kind (docs/channels.md).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What a keyword enrols in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeywordTarget {
    /// The module: its `module:` id or `module_uuid`.
    pub module: String,
    pub program_identifier: i64,
    /// The language to enrol in (BCP 47); the module's base language if
    /// absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

/// The longest keyword, in characters.
const MAX_KEYWORD_CHARS: usize = 30;

/// The keyword a learner's text is, if it is one word: upper-cased, so
/// `jifunze`, ` Jifunze ` and `JIFUNZE` are the same.
pub fn keyword_of(text: &str) -> Option<String> {
    let word = text.trim();
    (!word.is_empty() && word.chars().all(char::is_alphanumeric)).then(|| word.to_uppercase())
}

/// Reads `settings.keywords` (absent: none); each problem is pushed to
/// `errors`. Keys are stored upper-cased.
pub fn keywords_setting(
    given: &serde_json::Value,
    errors: &mut Vec<String>,
) -> BTreeMap<String, KeywordTarget> {
    let mut keywords = BTreeMap::new();
    let Some(value) = given.get("keywords") else {
        return keywords;
    };
    let Some(map) = value.as_object() else {
        errors.push(
            "settings.keywords: must be an object such as {\"JIFUNZE\": {\"module\": \"budgeting-basics\", \"program_identifier\": 49}}"
                .to_owned(),
        );
        return keywords;
    };
    for (word, target) in map {
        let Some(key) = keyword_of(word).filter(|k| k.chars().count() <= MAX_KEYWORD_CHARS) else {
            errors.push(format!(
                "settings.keywords: `{word}` must be one word of letters and digits, at most {MAX_KEYWORD_CHARS} characters"
            ));
            continue;
        };
        match serde_json::from_value::<KeywordTarget>(target.clone()) {
            Ok(t) if t.module.trim().is_empty() => errors.push(format!(
                "settings.keywords.{word}.module: must name a module"
            )),
            Ok(t) if t.program_identifier < 0 => errors.push(format!(
                "settings.keywords.{word}.program_identifier: must not be negative"
            )),
            Ok(t) if t
                .language
                .as_deref()
                .is_some_and(|l| !chatcourse_engine::is_language_tag(l)) =>
            {
                errors.push(format!(
                    "settings.keywords.{word}.language: not a language tag (BCP 47), such as `sw` or `fr-CM`"
                ));
            }
            Ok(t) => {
                if keywords.insert(key.clone(), t).is_some() {
                    errors.push(format!("settings.keywords: `{key}` is given twice"));
                }
            }
            Err(e) => errors.push(format!(
                "settings.keywords.{word}: {e} (write {{\"module\": ..., \"program_identifier\": ..., \"language\": ...}})"
            )),
        }
    }
    keywords
}

/// The keyword targets stored in a channel's settings.
pub fn stored(settings: &str) -> BTreeMap<String, KeywordTarget> {
    serde_json::from_str::<serde_json::Value>(settings)
        .ok()
        .and_then(|v| serde_json::from_value(v.get("keywords")?.clone()).ok())
        .unwrap_or_default()
}
