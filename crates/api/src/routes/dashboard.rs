//! The programme dashboard's data (the page is `/dashboard`): the
//! programme report (over the sessions the filters select) and the
//! organisation's delivery health, as sections, each a table of numbers
//! with its chart (SVG, `crate::charts`). A new kind of figure is one more
//! section: the page draws any section it is given.

use axum::extract::State;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::envelope::{Envelope, ok};
use crate::error::{ApiError, ErrorBody};
use crate::extract::QueryParams;
use crate::report::{DayItem, FiltersData, FunnelItem, GroupItem, ProgramReportData, ScopeData};
use crate::state::{AppState, Org};
use crate::wire::ProgramSummaryData;

/// One figure of the dashboard: its numbers as a table, and a chart of
/// them.
#[derive(Debug, Serialize, ToSchema)]
pub struct DashboardSection {
    /// Stable name (`status`, `scores`, `delivery`): the CSV file's name.
    #[schema(example = "status")]
    pub id: &'static str,
    #[schema(example = "Learners by status")]
    pub title: String,
    /// The table's header.
    pub columns: Vec<&'static str>,
    /// The table's rows: a label, then numbers (`null`: none yet).
    #[schema(value_type = Vec<Vec<Object>>)]
    pub rows: Vec<Vec<Value>>,
    /// The chart (an SVG document); null when there is nothing to draw.
    pub svg: Option<String>,
    /// What the numbers cover, when it is not obvious.
    pub note: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DashboardData {
    /// Over the sessions of `scope`.
    pub summary: ProgramSummaryData,
    /// The filters applied.
    pub scope: ScopeData,
    /// The values the filters can take.
    pub filters: FiltersData,
    pub sections: Vec<DashboardSection>,
}

/// Fetch a programme's dashboard: the programme report (status, figures
/// over time, funnel, scores, breakdowns, questions) as charts and tables,
/// optionally over one module, version, language or enrolment period, and
/// the delivery health of the organisation's channels.
#[utoipa::path(
    get,
    path = "/api/v1/fe/program/dashboard",
    tag = "summaries",
    params(
        ("programIdentifier" = i64, Query, description = "The programme's identifier (as in enrolments)"),
        ("module" = Option<String>, Query, description = "Only sessions of this module (its id)"),
        ("version" = Option<String>, Query, description = "Only sessions of this module version (its content hash)"),
        ("language" = Option<String>, Query, description = "Only sessions in this language"),
        ("from" = Option<String>, Query, description = "Only sessions enrolled at or after this time (RFC 3339, or a date in the server's zone)"),
        ("until" = Option<String>, Query, description = "Only sessions enrolled before this time (RFC 3339, or a date: the whole day is included)"),
    ),
    responses(
        (status = 200, description = "Dashboard successfully fetched", body = Envelope<DashboardData>),
        (status = 400, description = "Missing or invalid parameter", body = ErrorBody),
        (status = 401, description = "Missing or wrong API key", body = ErrorBody),
        (status = 403, description = "The key's role may not read", body = ErrorBody),
        (status = 404, description = "No such programme in this organisation", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn program(
    State(state): State<AppState>,
    Org(org): Org,
    query: QueryParams,
) -> Result<Envelope<DashboardData>, ApiError> {
    let ProgramReportData {
        summary,
        questions: items,
        scope,
        filters,
        funnel: steps,
        breakdowns,
        over_time: days,
    } = super::summaries::program_report(&state, org, &query).await?;
    let mut sections = vec![status(&summary)];
    sections.extend(over_time(&days));
    sections.extend(funnel(&steps, summary.enrolled));
    sections.push(scores(&summary));
    sections.extend(paired(&summary));
    for (by, title) in [
        ("language", "By language"),
        ("location", "By location"),
        ("gender", "By gender"),
        ("module_version", "By module version"),
    ] {
        sections.extend(breakdown(by, title, &breakdowns, &filters));
    }
    if !items.is_empty() {
        sections.push(questions(&items));
    }
    sections.push(delivery(&state, org).await?);
    Ok(ok(
        "Dashboard successfully fetched",
        DashboardData {
            summary,
            scope,
            filters,
            sections,
        },
    ))
}

/// Enrolled, active, completed, opted out and expired at the end of each
/// day (none yet: no section).
fn over_time(days: &[DayItem]) -> Option<DashboardSection> {
    if days.is_empty() {
        return None;
    }
    let x: Vec<String> = days.iter().map(|d| d.date.clone()).collect();
    let series = |f: fn(&DayItem) -> i64| days.iter().map(|d| f(d) as f64).collect::<Vec<_>>();
    let title = "Learners over time (at the end of each day)";
    let svg = crate::charts::lines(
        title,
        "Learners",
        &x,
        &[
            ("Enrolled", series(|d| d.enrolled)),
            ("Active", series(|d| d.active)),
            ("Completed", series(|d| d.completed)),
            ("Opted out", series(|d| d.opted_out)),
            ("Expired", series(|d| d.expired)),
        ],
    );
    Some(DashboardSection {
        id: "over_time",
        title: title.to_owned(),
        columns: vec![
            "Day",
            "Enrolled that day",
            "Enrolled",
            "Active",
            "Completed",
            "Opted out",
            "Expired",
        ],
        rows: days
            .iter()
            .map(|d| {
                vec![
                    Value::from(d.date.clone()),
                    Value::from(d.new_enrolled),
                    Value::from(d.enrolled),
                    Value::from(d.active),
                    Value::from(d.completed),
                    Value::from(d.opted_out),
                    Value::from(d.expired),
                ]
            })
            .collect(),
        svg,
        note: Some(
            "Days in the server's time zone, by enrolment and by the day each session ended."
                .to_owned(),
        ),
    })
}

/// How many learners reached each step, in the module's order (none yet:
/// no section).
fn funnel(steps: &[FunnelItem], enrolled: i64) -> Option<DashboardSection> {
    if steps.is_empty() {
        return None;
    }
    let title = "Steps reached (funnel)";
    let bars: Vec<(String, f64)> = steps
        .iter()
        .map(|s| (s.step.clone(), s.reached as f64))
        .collect();
    Some(DashboardSection {
        id: "funnel",
        title: title.to_owned(),
        columns: vec![
            "Step",
            "Learners who reached it",
            "Share of enrolled (%)",
            "Waiting there now",
            "Expired there",
            "Median minutes from the step before",
        ],
        rows: steps
            .iter()
            .map(|s| {
                vec![
                    Value::from(s.step.clone()),
                    Value::from(s.reached),
                    Value::from(s.reached_share),
                    Value::from(s.waiting_live),
                    Value::from(s.waiting_expired),
                    s.median_seconds_from_previous
                        .map_or(Value::Null, |secs| Value::from((secs / 6.0).round() / 10.0)),
                ]
            })
            .collect(),
        svg: crate::charts::bars(title, "Learners", &bars),
        note: Some(format!(
            "The steps learners wait on (questions, pauses, the end), of {enrolled} enrolled learner(s)."
        )),
    })
}

/// One breakdown of the report (`by`) as a table, its completion rate as
/// bars (no groups: no section).
fn breakdown(
    by: &'static str,
    title: &str,
    groups: &[GroupItem],
    filters: &FiltersData,
) -> Option<DashboardSection> {
    let groups: Vec<&GroupItem> = groups.iter().filter(|g| g.by == by).collect();
    if groups.is_empty() {
        return None;
    }
    // Versions show as `module v2`, not as their hash.
    let label = |key: &str| -> String {
        if key.is_empty() {
            return "(not recorded)".to_owned();
        }
        match filters
            .versions
            .iter()
            .find(|v| by == "module_version" && v.hash == key)
        {
            Some(v) => format!("{} {}", v.module, v.label),
            None => key.to_owned(),
        }
    };
    let bars: Vec<(String, f64)> = groups
        .iter()
        .map(|g| (label(&g.key), g.completion_rate))
        .collect();
    let number = |v: Option<f64>| v.map_or(Value::Null, Value::from);
    Some(DashboardSection {
        id: by,
        title: format!("{title}: completion and scores"),
        columns: vec![
            "Group",
            "Enrolled",
            "Completed",
            "Completion (%)",
            "Average pre-quiz (%)",
            "Average post-quiz (%)",
            "Learners with both quizzes",
            "Paired gain (points)",
        ],
        rows: groups
            .iter()
            .map(|g| {
                vec![
                    Value::from(label(&g.key)),
                    Value::from(g.enrolled),
                    Value::from(g.completed),
                    Value::from(g.completion_rate),
                    number(g.average_pre_score),
                    number(g.average_post_score),
                    Value::from(g.paired_learners),
                    number(g.paired_knowledge_gain),
                ]
            })
            .collect(),
        svg: crate::charts::bars(&format!("{title}: completion"), "Completed (%)", &bars),
        note: None,
    })
}

/// A section whose rows are `(label, one number)`, charted as bars.
fn bar_section(
    id: &'static str,
    title: &str,
    columns: [&'static str; 2],
    rows: Vec<(String, Option<f64>)>,
) -> DashboardSection {
    let bars: Vec<(String, f64)> = rows
        .iter()
        .filter_map(|(label, value)| value.map(|v| (label.clone(), v)))
        .collect();
    DashboardSection {
        id,
        title: title.to_owned(),
        columns: columns.to_vec(),
        svg: (!bars.is_empty())
            .then(|| crate::charts::bars(title, columns[1], &bars))
            .flatten(),
        rows: rows
            .into_iter()
            .map(|(label, value)| vec![Value::from(label), value.map_or(Value::Null, Value::from)])
            .collect(),
        note: None,
    }
}

fn status(s: &ProgramSummaryData) -> DashboardSection {
    let rows = [
        ("Enrolled", s.enrolled),
        ("Active", s.active),
        ("Completed", s.completed),
        ("Opted out", s.opted_out),
        ("Expired", s.expired),
    ]
    .into_iter()
    .map(|(label, n)| (label.to_owned(), Some(n as f64)))
    .collect();
    bar_section("status", "Learners by status", ["Status", "Learners"], rows)
}

fn scores(s: &ProgramSummaryData) -> DashboardSection {
    let mut section = bar_section(
        "scores",
        "Average quiz score, before and after",
        ["Quiz", "Average score (%)"],
        vec![
            ("Before (pre-quiz)".to_owned(), s.average_pre_score),
            ("After (post-quiz)".to_owned(), s.average_post_score),
        ],
    );
    section.note = Some(match s.knowledge_gain {
        Some(gain) => format!(
            "Knowledge gain: {gain} percentage points (after minus before, over the sessions that answered each quiz)."
        ),
        None => "Knowledge gain: not yet (no session has answered both quizzes).".to_owned(),
    });
    section
}

/// The paired knowledge gain: the learners who completed both quizzes,
/// before and after (none yet: no section).
fn paired(s: &ProgramSummaryData) -> Option<DashboardSection> {
    if s.paired_learners == 0 {
        return None;
    }
    let mut section = bar_section(
        "paired",
        "Learners who took both quizzes: score before and after",
        ["Quiz", "Average score (%)"],
        vec![
            ("Before (pre-quiz)".to_owned(), s.paired_average_pre_score),
            ("After (post-quiz)".to_owned(), s.paired_average_post_score),
        ],
    );
    section.note = Some(format!(
        "Paired knowledge gain: {} percentage points, over the {} learner(s) who completed both quizzes.",
        s.paired_knowledge_gain
            .map_or("-".to_owned(), |g| g.to_string()),
        s.paired_learners
    ));
    Some(section)
}

/// Share of learners whose first answer was right, per question and quiz
/// (the report's item analysis).
fn questions(items: &[crate::report::QuestionItem]) -> DashboardSection {
    let rows = items
        .iter()
        .map(|q| {
            (
                format!("{} ({})", q.question_id, q.quiz),
                Some(q.correct_share),
            )
        })
        .collect();
    let mut section = bar_section(
        "questions",
        "Share of learners right, per question (pre and post)",
        ["Question (quiz)", "Right on the first answer (%)"],
        rows,
    );
    let changed: Vec<&str> = items
        .iter()
        .filter(|q| q.correct_changed)
        .map(|q| q.question_id.as_str())
        .collect();
    section.note = Some(if changed.is_empty() {
        "Each learner's first answer to the question; the full item analysis is GET /api/v1/fe/program/report.".to_owned()
    } else {
        format!(
            "The right answer changed between module versions for: {} (results before and after do not compare).",
            changed.join(", ")
        )
    });
    section
}

async fn delivery(
    state: &AppState,
    org: chatcourse_storage::OrgId,
) -> Result<DashboardSection, ApiError> {
    let channels = state
        .store
        .list_channels(org)
        .await
        .map_err(ApiError::internal)?;
    let depth = state
        .store
        .outbox_depth()
        .await
        .map_err(ApiError::internal)?;
    let now = state.clock.now();
    let rows: Vec<Vec<Value>> = channels
        .iter()
        .map(|channel| {
            let queued = depth.iter().find(|d| d.channel == channel.id);
            vec![
                Value::from(channel.name.clone()),
                Value::from(queued.map_or(0, |d| d.queued)),
                queued.map_or(Value::Null, |d| {
                    Value::from((now - d.oldest_queued_at).num_minutes().max(0))
                }),
            ]
        })
        .collect();
    let bars: Vec<(String, f64)> = channels
        .iter()
        .zip(&rows)
        .map(|(c, row)| (c.name.clone(), row[1].as_f64().unwrap_or(0.0)))
        .collect();
    Ok(DashboardSection {
        id: "delivery",
        title: "Messages waiting for delivery".to_owned(),
        columns: vec!["Channel", "Queued", "Oldest queued (minutes)"],
        svg: (!bars.is_empty())
            .then(|| crate::charts::bars("Messages waiting for delivery", "Queued", &bars))
            .flatten(),
        rows,
        note: Some(if channels.is_empty() {
            "No channel: messages reach learners through the API and the chat page only.".to_owned()
        } else {
            "All programmes of the organisation, per channel (docs/channels.md).".to_owned()
        }),
    })
}
