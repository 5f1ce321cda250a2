//! The programme report: the summary, the item analysis per question, the
//! funnel per step, breakdowns and figures over time, over the sessions a
//! scope covers, all computed from rows the database groups
//! ([`Store::programme_figures`]). Read by `GET /api/v1/fe/program/report`,
//! the dashboard and `chatcourse report`.

use std::collections::{BTreeMap, BTreeSet};

use chatcourse_engine::Module;
use chatcourse_storage::{
    AnswerCount, AnswerCounts, FunnelStep, GroupSummary, ModuleVersionId, OrgId, ProgrammeFigures,
    ReportScope, Store, TimelineBucket,
};
use chrono::NaiveDate;
use chrono_tz::Tz;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::wire::{ProgramSummaryData, percent};

/// A programme's report: one section per kind of figure, all over the
/// sessions of `scope`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProgramReportData {
    /// The programme summary, as `GET /api/v1/fe/program/summary` (over the
    /// scope's sessions).
    pub summary: ProgramSummaryData,
    /// The item analysis: one item per question and quiz, by question id.
    pub questions: Vec<QuestionItem>,
    /// The sessions the figures cover (the filters given).
    pub scope: ScopeData,
    /// The values the filters can take in this programme.
    pub filters: FiltersData,
    /// One item per step any session rested on (the steps a learner waits
    /// on: questions, pauses, the end), in the module's order.
    pub funnel: Vec<FunnelItem>,
    /// Completion, scores and gain by language, location, gender and
    /// module version.
    pub breakdowns: Vec<GroupItem>,
    /// Per day (in the server's time zone) from the first enrolment to the
    /// last event: the sessions as they stood at the end of that day.
    pub over_time: Vec<DayItem>,
}

/// The filters of a report (absent: all).
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct ScopeData {
    /// A module id.
    pub module: Option<String>,
    /// A module version's content hash.
    pub version: Option<String>,
    pub language: Option<String>,
    /// Sessions enrolled at or after this time (RFC 3339).
    pub from: Option<String>,
    /// Sessions enrolled before this time (RFC 3339).
    pub until: Option<String>,
}

/// What the filters can be set to.
#[derive(Debug, Serialize, ToSchema)]
pub struct FiltersData {
    /// Module ids, in the order their first version was registered.
    pub modules: Vec<String>,
    /// Module versions, oldest first.
    pub versions: Vec<VersionItem>,
    pub languages: Vec<String>,
}

/// A module version the programme's sessions use.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionItem {
    pub module: String,
    /// The content hash (the `version` filter's value).
    pub hash: String,
    pub name: String,
    /// `v1`, `v2`...: the order of registration among the module's versions
    /// in this programme.
    pub label: String,
    pub registered: String,
}

/// One step of the funnel.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct FunnelItem {
    pub step: String,
    /// Sessions that rested on the step at least once.
    pub reached: i64,
    /// Percent of the scope's sessions (one decimal).
    pub reached_share: f64,
    /// Live sessions waiting on the step now.
    pub waiting_live: i64,
    /// Expired sessions that ended on it.
    pub waiting_expired: i64,
    /// The median time from the step a session rested on before, in
    /// seconds; `null` for the first step.
    pub median_seconds_from_previous: Option<f64>,
}

/// The figures of one group of a breakdown.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GroupItem {
    /// `language`, `location`, `gender` or `module_version`.
    pub by: &'static str,
    /// The group's value (a language, a location...; for `module_version`
    /// the content hash); empty when not recorded.
    pub key: String,
    pub enrolled: i64,
    pub active: i64,
    pub completed: i64,
    pub opted_out: i64,
    pub expired: i64,
    /// Percent of the group's sessions that completed (one decimal).
    pub completion_rate: f64,
    pub average_pre_score: Option<f64>,
    pub average_post_score: Option<f64>,
    pub paired_learners: i64,
    pub paired_average_pre_score: Option<f64>,
    pub paired_average_post_score: Option<f64>,
    pub paired_knowledge_gain: Option<f64>,
}

/// The sessions as they stood at the end of one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct DayItem {
    /// `yyyy-MM-dd`, in the server's time zone.
    pub date: String,
    /// Enrolled that day.
    pub new_enrolled: i64,
    /// Enrolled by the end of the day.
    pub enrolled: i64,
    /// Live (neither completed, opted out nor expired) at its end.
    pub active: i64,
    pub completed: i64,
    pub opted_out: i64,
    pub expired: i64,
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

/// The report of programme `identifier` of `org` over `scope`; `None`: no
/// such programme.
pub async fn programme_report(
    store: &dyn Store,
    org: OrgId,
    identifier: i64,
    scope: &ReportScope,
    tz: Tz,
) -> Result<Option<ProgramReportData>, ApiError> {
    let Some(figures) = store
        .programme_figures(org, identifier, scope)
        .await
        .map_err(ApiError::internal)?
    else {
        return Ok(None);
    };
    let modules = compiled(store, figures.versions.iter().map(|v| v.id)).await?;
    let changed = changed_questions(&figures.answers, &modules);
    let order = step_order(&figures, &modules);
    let summary = crate::routes::summaries::summary_data(&figures.summary, tz);
    Ok(Some(ProgramReportData {
        questions: item_analysis(&figures.answers.rows, &changed),
        funnel: funnel(&figures.funnel, &order, figures.summary.enrolled),
        breakdowns: figures
            .breakdowns
            .iter()
            .map(|g| group_item(g, tz))
            .collect(),
        over_time: over_time(&figures.timeline, tz),
        scope: ScopeData {
            module: scope.module.clone(),
            version: scope.version.clone(),
            language: scope.language.clone(),
            from: scope.from.map(|t| t.to_rfc3339()),
            until: scope.until.map(|t| t.to_rfc3339()),
        },
        filters: filters(&figures, tz),
        summary,
    }))
}

fn filters(figures: &ProgrammeFigures, tz: Tz) -> FiltersData {
    let mut modules: Vec<String> = Vec::new();
    let mut per_module: BTreeMap<&str, usize> = BTreeMap::new();
    let versions = figures
        .versions
        .iter()
        .map(|v| {
            if !modules.contains(&v.module) {
                modules.push(v.module.clone());
            }
            let n = per_module.entry(v.module.as_str()).or_default();
            *n += 1;
            VersionItem {
                module: v.module.clone(),
                hash: v.hash.clone(),
                name: v.name.clone(),
                label: format!("v{n}"),
                registered: crate::time::display(v.registered_at, tz),
            }
        })
        .collect();
    FiltersData {
        modules,
        versions,
        languages: figures.languages.clone(),
    }
}

/// The module versions `ids` that still compile, by id.
async fn compiled(
    store: &dyn Store,
    ids: impl Iterator<Item = ModuleVersionId>,
) -> Result<BTreeMap<ModuleVersionId, Module>, ApiError> {
    let mut modules = BTreeMap::new();
    for id in ids {
        let Some(stored) = store
            .get_module_version(id)
            .await
            .map_err(ApiError::internal)?
        else {
            continue;
        };
        // A stored version that no longer compiles tells nothing.
        if let Some(module) = chatcourse_engine::load_module(&stored.source).module {
            modules.insert(id, module);
        }
    }
    Ok(modules)
}

/// The steps of the programme's module versions in module order (newest
/// version first, then steps only older versions have).
fn step_order(
    figures: &ProgrammeFigures,
    modules: &BTreeMap<ModuleVersionId, Module>,
) -> Vec<String> {
    let mut order: Vec<String> = Vec::new();
    for module in figures
        .versions
        .iter()
        .rev()
        .filter_map(|v| modules.get(&v.id))
    {
        for step in &module.steps {
            if !order.contains(&step.id) {
                order.push(step.id.clone());
            }
        }
    }
    order
}

/// The funnel in module order (`order`; unknown steps last, by id), shares
/// of `enrolled`.
pub fn funnel(steps: &[FunnelStep], order: &[String], enrolled: i64) -> Vec<FunnelItem> {
    let rank = |step: &str| order.iter().position(|s| s == step).unwrap_or(usize::MAX);
    let mut items: Vec<FunnelItem> = steps
        .iter()
        .map(|f| FunnelItem {
            step: f.step.clone(),
            reached: f.reached,
            reached_share: share(f.reached, enrolled),
            waiting_live: f.waiting_live,
            waiting_expired: f.waiting_expired,
            median_seconds_from_previous: f.median_seconds_from_previous,
        })
        .collect();
    items.sort_by(|a, b| (rank(&a.step), &a.step).cmp(&(rank(&b.step), &b.step)));
    items
}

fn group_item(group: &GroupSummary, tz: Tz) -> GroupItem {
    let s = crate::routes::summaries::summary_data(&group.summary, tz);
    GroupItem {
        by: group.by.as_str(),
        key: group.key.clone(),
        enrolled: s.enrolled,
        active: s.active,
        completed: s.completed,
        opted_out: s.opted_out,
        expired: s.expired,
        completion_rate: share(s.completed, s.enrolled),
        average_pre_score: s.average_pre_score,
        average_post_score: s.average_post_score,
        paired_learners: s.paired_learners,
        paired_average_pre_score: s.paired_average_pre_score,
        paired_average_post_score: s.paired_average_post_score,
        paired_knowledge_gain: s.paired_knowledge_gain,
    }
}

/// The quarter-hour buckets folded into days in `tz`, cumulated, every day
/// from the first bucket's to the last's (days without events included).
pub fn over_time(buckets: &[TimelineBucket], tz: Tz) -> Vec<DayItem> {
    let mut days: BTreeMap<NaiveDate, [i64; 4]> = BTreeMap::new();
    for b in buckets {
        let day = b.start.with_timezone(&tz).date_naive();
        let d = days.entry(day).or_default();
        d[0] += b.enrolled;
        d[1] += b.completed;
        d[2] += b.opted_out;
        d[3] += b.expired;
    }
    let (Some(&first), Some(&last)) = (days.keys().next(), days.keys().next_back()) else {
        return Vec::new();
    };
    let mut totals = [0i64; 4];
    first
        .iter_days()
        .take_while(|day| *day <= last)
        .map(|day| {
            let today = days.get(&day).copied().unwrap_or_default();
            for (total, n) in totals.iter_mut().zip(today) {
                *total += n;
            }
            let [enrolled, completed, opted_out, expired] = totals;
            DayItem {
                date: day.format("%Y-%m-%d").to_string(),
                new_enrolled: today[0],
                enrolled,
                active: enrolled - completed - opted_out - expired,
                completed,
                opted_out,
                expired,
            }
        })
        .collect()
}

/// The quiz questions whose right answers differ between the module
/// versions in `counts` that ask them.
fn changed_questions(
    counts: &AnswerCounts,
    modules: &BTreeMap<ModuleVersionId, Module>,
) -> BTreeSet<String> {
    let ids: BTreeSet<&str> = counts.rows.iter().map(|r| r.question_id.as_str()).collect();
    let mut rights: BTreeMap<&str, BTreeSet<Vec<String>>> = BTreeMap::new();
    for module in counts.versions.iter().filter_map(|v| modules.get(v)) {
        for &id in &ids {
            if let Some((right, _)) = chatcourse_engine::quiz_right_answers(module, id) {
                rights.entry(id).or_default().insert(right);
            }
        }
    }
    rights
        .into_iter()
        .filter(|(_, r)| r.len() > 1)
        .map(|(id, _)| id.to_owned())
        .collect()
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
