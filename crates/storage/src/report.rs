//! The programme report's figures ([`ProgrammeFigures`]), computed in the
//! database over the sessions a [`ReportScope`] covers. The SQL is shared
//! by both backends: it is plain SQL both accept, with the few differences
//! (placeholders, time arithmetic) in a [`Dialect`].

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;

use crate::model::{
    AnswerCount, AnswerCounts, ModuleVersionId, Programme, ProgrammeId, ProgrammeSummary,
};
use crate::{Result, StoreError, parse};

/// Which of a programme's sessions a report covers (all given conditions
/// apply; an empty scope covers them all).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReportScope {
    /// The module's id (`module_id` in the YAML).
    pub module: Option<String>,
    /// A module version, by its content hash.
    pub version: Option<String>,
    /// The sessions' language.
    pub language: Option<String>,
    /// Sessions enrolled at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Sessions enrolled strictly before this time.
    pub until: Option<DateTime<Utc>>,
}

/// What the summaries of [`ProgrammeFigures::breakdowns`] are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Breakdown {
    /// The session's language.
    Language,
    /// The customer's location, as registered.
    Location,
    /// The customer's gender, as registered.
    Gender,
    /// The module version, by content hash.
    ModuleVersion,
}

impl Breakdown {
    pub const ALL: [Breakdown; 4] = [
        Breakdown::Language,
        Breakdown::Location,
        Breakdown::Gender,
        Breakdown::ModuleVersion,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Breakdown::Language => "language",
            Breakdown::Location => "location",
            Breakdown::Gender => "gender",
            Breakdown::ModuleVersion => "module_version",
        }
    }

    /// The grouping key over `sessions s`, `customers c`, `module_versions mv`.
    fn key_sql(self) -> &'static str {
        match self {
            Breakdown::Language => "COALESCE(s.language, '')",
            Breakdown::Location => "c.location",
            Breakdown::Gender => "c.gender",
            Breakdown::ModuleVersion => "mv.content_hash",
        }
    }
}

/// The summary of the sessions of one group (`key`: a language, a
/// location...; empty when not recorded).
#[derive(Debug, Clone, PartialEq)]
pub struct GroupSummary {
    pub by: Breakdown,
    pub key: String,
    pub summary: ProgrammeSummary,
}

/// One step of the funnel: the sessions that rested on it at least once,
/// those resting on it now, and how long sessions took to get there from
/// the step they rested on before.
#[derive(Debug, Clone, PartialEq)]
pub struct FunnelStep {
    /// The step's id, as the engine names it.
    pub step: String,
    /// Sessions that rested on the step at least once.
    pub reached: i64,
    /// Live sessions (Pending, InProgress) resting on it now.
    pub waiting_live: i64,
    /// Expired sessions that ended on it.
    pub waiting_expired: i64,
    /// The median time from the step a session rested on before to this
    /// one, in seconds; `None` when no session came from another step.
    pub median_seconds_from_previous: Option<f64>,
}

/// What happened to a programme's sessions in one quarter of an hour (UTC;
/// every time zone's offset is a whole number of quarters, so any local
/// day is a whole number of buckets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineBucket {
    pub start: DateTime<Utc>,
    pub enrolled: i64,
    pub completed: i64,
    pub opted_out: i64,
    pub expired: i64,
}

/// A module version of the programme's sessions, for filters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeVersion {
    pub id: crate::model::ModuleVersionId,
    pub module: String,
    pub hash: String,
    pub name: String,
    pub registered_at: DateTime<Utc>,
}

/// Every figure of the programme report, over one [`ReportScope`].
#[derive(Debug, Clone, PartialEq)]
pub struct ProgrammeFigures {
    pub summary: ProgrammeSummary,
    /// One summary per group of each [`Breakdown`], by dimension then key.
    pub breakdowns: Vec<GroupSummary>,
    /// The item analysis's counts.
    pub answers: AnswerCounts,
    /// One item per step any session rested on, by step id (the caller
    /// orders them as the module does).
    pub funnel: Vec<FunnelStep>,
    /// By start, only buckets where something happened.
    pub timeline: Vec<TimelineBucket>,
    /// Every module version of the programme's sessions (whatever the
    /// scope), oldest first.
    pub versions: Vec<ScopeVersion>,
    /// Every language of the programme's sessions (whatever the scope).
    pub languages: Vec<String>,
}

/// The two backends' differences in the report's SQL.
pub(crate) struct Dialect {
    /// `?` (SQLite's `?1`) or `$` (PostgreSQL's `$1`).
    pub param: &'static str,
    /// The 15-minute bucket (an integer count since the epoch) of a time column.
    pub quarter: fn(&str) -> String,
    /// Seconds (a float) from time `a` to time `b`.
    pub seconds: fn(&str, &str) -> String,
}

pub(crate) const SQLITE: Dialect = Dialect {
    param: "?",
    quarter: |col| format!("({col} / 900000000)"),
    seconds: |a, b| format!("(CAST({b} - {a} AS DOUBLE PRECISION) / 1000000.0)"),
};

pub(crate) const POSTGRES: Dialect = Dialect {
    param: "$",
    quarter: |col| format!("CAST(FLOOR(EXTRACT(EPOCH FROM {col}) / 900) AS BIGINT)"),
    seconds: |a, b| format!("CAST(EXTRACT(EPOCH FROM ({b} - {a})) AS DOUBLE PRECISION)"),
};

/// Quarter-hour buckets, in seconds.
pub(crate) const QUARTER_SECONDS: i64 = 900;

impl Dialect {
    /// The scope's condition over `sessions s` and `module_versions mv`:
    /// parameters 1 (programme row id) to 6 (module, version hash,
    /// language, from, until; each may be NULL), bound by
    /// the backend in that order.
    pub fn scope(&self) -> String {
        let p = self.param;
        format!(
            "s.programme_id = {p}1 AND ({p}2 IS NULL OR mv.module_id = {p}2) \
             AND ({p}3 IS NULL OR mv.content_hash = {p}3) \
             AND ({p}4 IS NULL OR s.language = {p}4) \
             AND ({p}5 IS NULL OR s.created_at >= {p}5) \
             AND ({p}6 IS NULL OR s.created_at < {p}6)"
        )
    }

    /// The summary's figures (the columns [`ProgrammeSummary`] reads),
    /// grouped by `by` (column `key`) or over the whole scope.
    pub fn summaries(&self, by: Option<Breakdown>) -> String {
        let count = |cond: &str| format!("COALESCE(SUM(CASE WHEN {cond} THEN 1 ELSE 0 END), 0)");
        let mean = |cond: &str, num: &str, den: &str| {
            format!("AVG(CASE WHEN {cond} THEN CAST({num} AS DOUBLE PRECISION) / {den} END)")
        };
        let paired = crate::model::PAIRED_SQL;
        let (key, group) = match by {
            Some(by) => (
                by.key_sql(),
                format!(" GROUP BY {} ORDER BY 1", by.key_sql()),
            ),
            None => ("''", String::new()),
        };
        format!(
            "SELECT {key} AS key, COUNT(*) AS enrolled, \
             {pending} AS pending, {in_progress} AS in_progress, {completed} AS completed, \
             {opted_out} AS opted_out, {expired} AS expired, \
             {avg_pre} AS avg_pre, {avg_post} AS avg_post, \
             {pre_completed} AS pre_completed, {pre_in_progress} AS pre_in_progress, \
             {post_completed} AS post_completed, {post_in_progress} AS post_in_progress, \
             {paired_count} AS paired, {paired_pre} AS paired_pre, {paired_post} AS paired_post \
             FROM sessions s JOIN module_versions mv ON mv.id = s.module_version_id \
             JOIN customers c ON c.id = s.customer_id WHERE {scope}{group}",
            pending = count("s.status = 'Pending'"),
            in_progress = count("s.status = 'InProgress'"),
            completed = count("s.status = 'Completed'"),
            opted_out = count("s.status = 'OptedOut'"),
            expired = count("s.status = 'Expired'"),
            avg_pre = mean(
                "s.pre_answered > 0 AND mv.pre_quiz_total > 0",
                "s.pre_correct",
                "mv.pre_quiz_total"
            ),
            avg_post = mean(
                "s.post_answered > 0 AND mv.post_quiz_total > 0",
                "s.post_correct",
                "mv.post_quiz_total"
            ),
            pre_completed = count("mv.pre_quiz_total > 0 AND s.pre_answered >= mv.pre_quiz_total"),
            pre_in_progress = count("s.pre_answered > 0 AND s.pre_answered < mv.pre_quiz_total"),
            post_completed =
                count("mv.post_quiz_total > 0 AND s.post_answered >= mv.post_quiz_total"),
            post_in_progress =
                count("s.post_answered > 0 AND s.post_answered < mv.post_quiz_total"),
            paired_count = count(paired),
            paired_pre = mean(paired, "s.pre_correct", "mv.pre_quiz_total"),
            paired_post = mean(paired, "s.post_correct", "mv.post_quiz_total"),
            scope = self.scope(),
        )
    }

    /// [`crate::model::AnswerCount`] rows over the scope: each session's
    /// first answer (lowest id) to each question of each quiz, grouped.
    pub fn answer_counts(&self) -> String {
        format!(
            "SELECT a.question_id, a.quiz, a.choice, (a.matched_by = 'exhausted') AS exhausted, \
             a.correct, a.attempt, COUNT(*) AS sessions, MIN(a.question) AS question \
             FROM quiz_answers a WHERE a.id IN (SELECT MIN(f.id) FROM quiz_answers f \
             JOIN sessions s ON s.id = f.session_id \
             JOIN module_versions mv ON mv.id = s.module_version_id WHERE {scope} \
             GROUP BY f.session_id, f.quiz, f.question_id) \
             GROUP BY a.question_id, a.quiz, a.choice, (a.matched_by = 'exhausted'), a.correct, a.attempt",
            scope = self.scope()
        )
    }

    /// The module versions in the scope (ids, ascending).
    pub fn scope_versions(&self) -> String {
        format!(
            "SELECT DISTINCT s.module_version_id FROM sessions s \
             JOIN module_versions mv ON mv.id = s.module_version_id WHERE {scope} \
             ORDER BY s.module_version_id",
            scope = self.scope()
        )
    }

    /// The funnel: per step, `reached`, `waiting_live`, `waiting_expired`
    /// and `median_gap` (seconds).
    pub fn funnel(&self) -> String {
        let scope = self.scope();
        let gap = (self.seconds)(
            "LAG(st.reached_at) OVER (PARTITION BY st.session_id ORDER BY st.reached_at, st.id)",
            "st.reached_at",
        );
        format!(
            "WITH scoped AS (SELECT s.id, s.status, s.step FROM sessions s \
               JOIN module_versions mv ON mv.id = s.module_version_id WHERE {scope}), \
             steps AS (SELECT st.step, {gap} AS gap FROM session_steps st \
               JOIN scoped ON scoped.id = st.session_id), \
             reached AS (SELECT step, COUNT(*) AS reached FROM steps GROUP BY step), \
             ranked AS (SELECT step, gap, ROW_NUMBER() OVER (PARTITION BY step ORDER BY gap) AS n, \
               COUNT(*) OVER (PARTITION BY step) AS total FROM steps WHERE gap IS NOT NULL), \
             medians AS (SELECT step, AVG(gap) AS median_gap FROM ranked \
               WHERE n IN ((total + 1) / 2, (total + 2) / 2) GROUP BY step), \
             waiting AS (SELECT step, \
               COALESCE(SUM(CASE WHEN status IN ('Pending', 'InProgress') THEN 1 ELSE 0 END), 0) AS live, \
               COALESCE(SUM(CASE WHEN status = 'Expired' THEN 1 ELSE 0 END), 0) AS expired \
               FROM scoped WHERE step IS NOT NULL GROUP BY step) \
             SELECT reached.step, reached.reached, COALESCE(waiting.live, 0) AS waiting_live, \
               COALESCE(waiting.expired, 0) AS waiting_expired, medians.median_gap \
             FROM reached LEFT JOIN waiting ON waiting.step = reached.step \
             LEFT JOIN medians ON medians.step = reached.step ORDER BY reached.step"
        )
    }

    /// Enrolments and ends per quarter hour (`bucket`, an integer).
    pub fn timeline(&self) -> String {
        let scope = self.scope();
        let enrolled = (self.quarter)("s.created_at");
        let ended = (self.quarter)("s.ended_at");
        let one = |status: &str| format!("CASE WHEN s.status = '{status}' THEN 1 ELSE 0 END");
        format!(
            "SELECT bucket, SUM(enrolled) AS enrolled, SUM(completed) AS completed, \
               SUM(opted_out) AS opted_out, SUM(expired) AS expired FROM ( \
             SELECT {enrolled} AS bucket, 1 AS enrolled, 0 AS completed, 0 AS opted_out, 0 AS expired \
               FROM sessions s JOIN module_versions mv ON mv.id = s.module_version_id WHERE {scope} \
             UNION ALL \
             SELECT {ended}, 0, {completed}, {opted_out}, {expired} \
               FROM sessions s JOIN module_versions mv ON mv.id = s.module_version_id \
               WHERE {scope} AND s.ended_at IS NOT NULL \
             ) events GROUP BY bucket ORDER BY bucket",
            completed = one("Completed"),
            opted_out = one("OptedOut"),
            expired = one("Expired"),
        )
    }

    /// Every module version of the programme's sessions (parameter 1: the
    /// programme row id), oldest first.
    pub fn programme_versions(&self) -> String {
        let p = self.param;
        format!(
            "SELECT mv.id, mv.module_id, mv.content_hash, mv.name, mv.registered_at FROM module_versions mv \
             WHERE mv.id IN (SELECT DISTINCT module_version_id FROM sessions WHERE programme_id = {p}1) \
             ORDER BY mv.registered_at, mv.id"
        )
    }

    /// Every language of the programme's sessions (parameter 1).
    pub fn programme_languages(&self) -> String {
        let p = self.param;
        format!(
            "SELECT DISTINCT language FROM sessions WHERE programme_id = {p}1 \
             AND language IS NOT NULL ORDER BY language"
        )
    }
}

/// What a backend gives the report: the rows of the report's SQL (in its
/// [`Dialect`]), read with its own pool and types. The figures are put
/// together once, in [`figures`].
pub(crate) trait ReportSource: Sync {
    type Row: ReportRow + Send;
    fn dialect(&self) -> &'static Dialect;
    /// The rows of `sql` with parameters 1 to 6 of [`Dialect::scope`] bound.
    async fn scoped(
        &self,
        sql: String,
        programme: ProgrammeId,
        scope: &ReportScope,
    ) -> Result<Vec<Self::Row>>;
    /// The rows of `sql` with parameter 1, the programme, bound.
    async fn of_programme(&self, sql: String, programme: ProgrammeId) -> Result<Vec<Self::Row>>;
    /// A time column, as the backend stores times.
    fn time(row: &Self::Row, column: &str) -> Result<DateTime<Utc>>;
}

/// A row of either backend, read by column name.
pub(crate) trait ReportRow {
    fn get<T: ReportValue>(&self, column: &str) -> Result<T>;
}

/// The types the report reads from rows, on both backends.
pub(crate) trait ReportValue: Sized {
    fn from_sqlite(row: &SqliteRow, column: &str) -> Result<Self>;
    fn from_postgres(row: &PgRow, column: &str) -> Result<Self>;
}

macro_rules! report_values {
    ($($t:ty),*) => {$(
        impl ReportValue for $t {
            fn from_sqlite(row: &SqliteRow, column: &str) -> Result<Self> {
                Ok(row.try_get(column)?)
            }
            fn from_postgres(row: &PgRow, column: &str) -> Result<Self> {
                Ok(row.try_get(column)?)
            }
        }
    )*};
}

report_values!(i64, i32, Option<i32>, bool, String, Option<f64>);

impl ReportRow for SqliteRow {
    fn get<T: ReportValue>(&self, column: &str) -> Result<T> {
        T::from_sqlite(self, column)
    }
}

impl ReportRow for PgRow {
    fn get<T: ReportValue>(&self, column: &str) -> Result<T> {
        T::from_postgres(self, column)
    }
}

/// The figures of `programme` over `scope`, from `source`'s rows.
pub(crate) async fn figures<S: ReportSource>(
    source: &S,
    programme: Programme,
    scope: &ReportScope,
) -> Result<ProgrammeFigures> {
    let d = source.dialect();
    let summary = summaries(source, &programme, scope, None)
        .await?
        .pop()
        .map(|g| g.summary)
        .unwrap_or_else(|| ProgrammeSummary::empty(programme.clone()));
    let mut breakdowns = Vec::new();
    for by in Breakdown::ALL {
        breakdowns.extend(summaries(source, &programme, scope, Some(by)).await?);
    }
    let answers = answer_counts(source, programme.id, scope).await?;
    let funnel = source
        .scoped(d.funnel(), programme.id, scope)
        .await?
        .iter()
        .map(|row| {
            Ok(FunnelStep {
                step: row.get("step")?,
                reached: row.get("reached")?,
                waiting_live: row.get("waiting_live")?,
                waiting_expired: row.get("waiting_expired")?,
                median_seconds_from_previous: row.get("median_gap")?,
            })
        })
        .collect::<Result<_>>()?;
    let timeline = source
        .scoped(d.timeline(), programme.id, scope)
        .await?
        .iter()
        .map(|row| {
            let bucket: i64 = row.get("bucket")?;
            Ok(TimelineBucket {
                start: bucket
                    .checked_mul(QUARTER_SECONDS)
                    .and_then(|s| DateTime::from_timestamp(s, 0))
                    .ok_or_else(|| StoreError::Corrupt(format!("time bucket {bucket}")))?,
                enrolled: row.get("enrolled")?,
                completed: row.get("completed")?,
                opted_out: row.get("opted_out")?,
                expired: row.get("expired")?,
            })
        })
        .collect::<Result<_>>()?;
    let versions = source
        .of_programme(d.programme_versions(), programme.id)
        .await?
        .iter()
        .map(|row| {
            Ok(ScopeVersion {
                id: ModuleVersionId(row.get("id")?),
                module: row.get("module_id")?,
                hash: row.get("content_hash")?,
                name: row.get("name")?,
                registered_at: S::time(row, "registered_at")?,
            })
        })
        .collect::<Result<_>>()?;
    let languages = source
        .of_programme(d.programme_languages(), programme.id)
        .await?
        .iter()
        .map(|row| row.get("language"))
        .collect::<Result<_>>()?;
    Ok(ProgrammeFigures {
        summary,
        breakdowns,
        answers,
        funnel,
        timeline,
        versions,
        languages,
    })
}

/// The summary of all the programme's sessions.
pub(crate) async fn summary<S: ReportSource>(
    source: &S,
    programme: Programme,
) -> Result<ProgrammeSummary> {
    let all = ReportScope::default();
    let summary = summaries(source, &programme, &all, None).await?.pop();
    Ok(summary.map_or_else(|| ProgrammeSummary::empty(programme), |g| g.summary))
}

/// The summaries of the scope's sessions: one (`by` `None`), or one per
/// group of `by`.
async fn summaries<S: ReportSource>(
    source: &S,
    programme: &Programme,
    scope: &ReportScope,
    by: Option<Breakdown>,
) -> Result<Vec<GroupSummary>> {
    let rows = source
        .scoped(source.dialect().summaries(by), programme.id, scope)
        .await?;
    rows.iter()
        .map(|row| {
            Ok(GroupSummary {
                by: by.unwrap_or(Breakdown::ModuleVersion),
                key: row.get("key")?,
                summary: ProgrammeSummary {
                    programme: programme.clone(),
                    enrolled: row.get("enrolled")?,
                    pending: row.get("pending")?,
                    in_progress: row.get("in_progress")?,
                    completed: row.get("completed")?,
                    opted_out: row.get("opted_out")?,
                    expired: row.get("expired")?,
                    average_pre_score: row.get("avg_pre")?,
                    average_post_score: row.get("avg_post")?,
                    pre_quiz_completed: row.get("pre_completed")?,
                    pre_quiz_in_progress: row.get("pre_in_progress")?,
                    post_quiz_completed: row.get("post_completed")?,
                    post_quiz_in_progress: row.get("post_in_progress")?,
                    paired: row.get("paired")?,
                    paired_pre_score: row.get("paired_pre")?,
                    paired_post_score: row.get("paired_post")?,
                },
            })
        })
        .collect()
}

/// The item analysis's counts over the scope.
pub(crate) async fn answer_counts<S: ReportSource>(
    source: &S,
    programme: ProgrammeId,
    scope: &ReportScope,
) -> Result<AnswerCounts> {
    let d = source.dialect();
    let rows = source
        .scoped(d.answer_counts(), programme, scope)
        .await?
        .iter()
        .map(|row| {
            Ok(AnswerCount {
                question_id: row.get("question_id")?,
                quiz: parse(&row.get::<String>("quiz")?)?,
                choice: row.get("choice")?,
                exhausted: row.get("exhausted")?,
                correct: row.get("correct")?,
                attempt: row.get("attempt")?,
                sessions: row.get("sessions")?,
                question: row.get("question")?,
            })
        })
        .collect::<Result<_>>()?;
    let versions = source
        .scoped(d.scope_versions(), programme, scope)
        .await?
        .iter()
        .map(|row| Ok(ModuleVersionId(row.get("module_version_id")?)))
        .collect::<Result<_>>()?;
    Ok(AnswerCounts { rows, versions })
}
