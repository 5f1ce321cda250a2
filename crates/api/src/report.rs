//! The programme report: the summary and the item analysis per question,
//! computed from counts the database groups ([`Store::programme_answer_counts`]).
//! Read by `GET /api/v1/fe/program/report` and by `chatcourse report`.

use std::collections::{BTreeMap, BTreeSet};

use chatcourse_storage::{AnswerCount, AnswerCounts, OrgId, Store};
use chrono_tz::Tz;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::wire::{ProgramSummaryData, percent};

/// A programme's report: one section per kind of figure (more sections,
/// such as a funnel per step, may be added).
#[derive(Debug, Serialize, ToSchema)]
pub struct ProgramReportData {
    /// The programme summary, as `GET /api/v1/fe/program/summary`.
    pub summary: ProgramSummaryData,
    /// The item analysis: one item per question and quiz, by question id.
    pub questions: Vec<QuestionItem>,
}

/// What the learners answered to one quiz question (its stable id across
/// module versions) in one quiz. Counts each session's first answer to
/// the question: the one that scored.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct QuestionItem {
    pub question_id: String,
    /// `pre` or `post`.
    pub quiz: &'static str,
    /// The question's text (one of its recorded renderings).
    pub question: String,
    /// Sessions that answered the question.
    pub learners: i64,
    /// Percent of those whose first answer was right (one decimal).
    pub correct_share: f64,
    /// Percent of those whose very first reply was right (no unmatched
    /// reply before it).
    pub correct_first_attempt_share: f64,
    /// The choices picked: one item per choice number, by number.
    pub choices: Vec<ChoiceCount>,
    /// First answers matched by a free-text rule (or recorded before the
    /// choice was).
    pub free_text: i64,
    /// Sessions that ran out of attempts (nothing they sent matched).
    pub no_match: i64,
    /// The median number of replies it took to answer (1: the first reply
    /// matched).
    pub median_attempts: f64,
    /// Percent of the replies to the question that matched nothing.
    pub unmatched_reply_share: f64,
    /// The module versions of the programme's sessions disagree on the
    /// question's right answer: results before and after the change are
    /// not comparable.
    pub correct_changed: bool,
}

/// How many sessions picked one choice.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ChoiceCount {
    /// 1-based, as shown to learners.
    pub choice: i32,
    pub learners: i64,
    /// Whether that choice was right (in the version the learners had).
    pub correct: bool,
}

/// The report of programme `identifier` of `org`; `None`: no such programme.
pub async fn programme_report(
    store: &dyn Store,
    org: OrgId,
    identifier: i64,
    tz: Tz,
) -> Result<Option<ProgramReportData>, ApiError> {
    let Some(summary) = store
        .programme_summary(org, identifier)
        .await
        .map_err(ApiError::internal)?
    else {
        return Ok(None);
    };
    let counts = store
        .programme_answer_counts(org, identifier)
        .await
        .map_err(ApiError::internal)?
        .unwrap_or_default();
    let changed = changed_questions(store, &counts).await?;
    Ok(Some(ProgramReportData {
        summary: crate::routes::summaries::summary_data(&summary, tz),
        questions: item_analysis(&counts.rows, &changed),
    }))
}

/// The quiz questions whose right answers differ between the module
/// versions in `counts` that ask them.
async fn changed_questions(
    store: &dyn Store,
    counts: &AnswerCounts,
) -> Result<BTreeSet<String>, ApiError> {
    let ids: BTreeSet<&str> = counts.rows.iter().map(|r| r.question_id.as_str()).collect();
    let mut rights: BTreeMap<&str, BTreeSet<Vec<String>>> = BTreeMap::new();
    for &version in &counts.versions {
        let Some(stored) = store
            .get_module_version(version)
            .await
            .map_err(ApiError::internal)?
        else {
            continue;
        };
        // A stored version that no longer compiles tells nothing.
        let Some(module) = chatcourse_engine::load_module(&stored.source).module else {
            continue;
        };
        for &id in &ids {
            if let Some((right, _)) = chatcourse_engine::quiz_right_answers(&module, id) {
                rights.entry(id).or_default().insert(right);
            }
        }
    }
    Ok(rights
        .into_iter()
        .filter(|(_, r)| r.len() > 1)
        .map(|(id, _)| id.to_owned())
        .collect())
}

/// Folds the grouped first answers into one item per (question, quiz).
pub fn item_analysis(rows: &[AnswerCount], changed: &BTreeSet<String>) -> Vec<QuestionItem> {
    let mut groups: BTreeMap<(&str, &'static str), Vec<&AnswerCount>> = BTreeMap::new();
    for row in rows {
        groups
            .entry((row.question_id.as_str(), row.quiz.as_str()))
            .or_default()
            .push(row);
    }
    groups
        .into_iter()
        .map(|((id, quiz), rows)| question_item(id, quiz, &rows, changed.contains(id)))
        .collect()
}

fn question_item(
    id: &str,
    quiz: &'static str,
    rows: &[&AnswerCount],
    changed: bool,
) -> QuestionItem {
    let learners: i64 = rows.iter().map(|r| r.sessions).sum();
    let sum = |keep: &dyn Fn(&AnswerCount) -> bool| -> i64 {
        rows.iter().filter(|r| keep(r)).map(|r| r.sessions).sum()
    };
    let correct = sum(&|r| r.correct);
    let correct_first = sum(&|r| r.correct && r.attempt <= 1);
    let mut choices: BTreeMap<(i32, bool), i64> = BTreeMap::new();
    for r in rows {
        if let Some(choice) = r.choice {
            *choices.entry((choice, r.correct)).or_default() += r.sessions;
        }
    }
    let replies: i64 = rows.iter().map(|r| i64::from(r.attempt) * r.sessions).sum();
    // An accepted answer came after attempt - 1 unmatched replies; an
    // exhausted one is `attempt` unmatched replies.
    let unmatched: i64 = rows
        .iter()
        .map(|r| (i64::from(r.attempt) - i64::from(!r.exhausted)) * r.sessions)
        .sum();
    let mut attempts: BTreeMap<i32, i64> = BTreeMap::new();
    for r in rows {
        *attempts.entry(r.attempt).or_default() += r.sessions;
    }
    QuestionItem {
        question_id: id.to_owned(),
        quiz,
        question: rows
            .iter()
            .map(|r| r.question.as_str())
            .min()
            .unwrap_or_default()
            .to_owned(),
        learners,
        correct_share: share(correct, learners),
        correct_first_attempt_share: share(correct_first, learners),
        choices: choices
            .into_iter()
            .map(|((choice, correct), learners)| ChoiceCount {
                choice,
                learners,
                correct,
            })
            .collect(),
        free_text: sum(&|r| r.choice.is_none() && !r.exhausted),
        no_match: sum(&|r| r.exhausted),
        median_attempts: median(&attempts),
        unmatched_reply_share: share(unmatched, replies),
        correct_changed: changed,
    }
}

/// `part` of `whole` in percent (one decimal); 0 of nothing is 0.
fn share(part: i64, whole: i64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        percent(part as f64 / whole as f64)
    }
}

/// The median of a histogram (value -> count): the middle value, or the
/// mean of the two middle ones.
fn median(histogram: &BTreeMap<i32, i64>) -> f64 {
    let n: i64 = histogram.values().sum();
    if n == 0 {
        return 0.0;
    }
    // The 0-based ranks of the middle value(s).
    let (lo, hi) = ((n - 1) / 2, n / 2);
    let mut seen = 0;
    let (mut low, mut high) = (None, None);
    for (&value, &count) in histogram {
        let next = seen + count;
        if low.is_none() && lo < next {
            low = Some(value);
        }
        if high.is_none() && hi < next {
            high = Some(value);
            break;
        }
        seen = next;
    }
    (f64::from(low.unwrap_or(0)) + f64::from(high.unwrap_or(0))) / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(pairs: &[(i32, i64)]) -> BTreeMap<i32, i64> {
        pairs.iter().copied().collect()
    }

    #[test]
    fn median_of_a_histogram() {
        assert_eq!(median(&hist(&[])), 0.0);
        assert_eq!(median(&hist(&[(1, 1)])), 1.0);
        assert_eq!(median(&hist(&[(1, 1), (3, 1)])), 2.0);
        assert_eq!(median(&hist(&[(1, 2), (2, 1)])), 1.0);
        assert_eq!(median(&hist(&[(1, 1), (2, 1), (5, 2)])), 3.5);
        assert_eq!(median(&hist(&[(1, 3), (4, 1)])), 1.0);
    }
}
