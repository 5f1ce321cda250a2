//! The programme report's rows ([`crate::report`] puts the figures
//! together): the report's SQL run on this backend's pool.

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::Query;
use sqlx::{PgPool, Postgres, Row};

use super::reads::get_programme;
use crate::Result;
use crate::model::*;
use crate::report::{self, Dialect, ProgrammeFigures, ReportScope, ReportSource};

/// The report's rows, read from `pool`.
pub(super) struct Source<'p>(pub &'p PgPool);

impl ReportSource for Source<'_> {
    type Row = PgRow;

    fn dialect(&self) -> &'static Dialect {
        &report::POSTGRES
    }

    async fn scoped(
        &self,
        sql: String,
        programme: ProgrammeId,
        scope: &ReportScope,
    ) -> Result<Vec<PgRow>> {
        Ok(
            bind_scope(sqlx::query(sqlx::AssertSqlSafe(sql)), programme, scope)
                .fetch_all(self.0)
                .await?,
        )
    }

    async fn of_programme(&self, sql: String, programme: ProgrammeId) -> Result<Vec<PgRow>> {
        Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(programme)
            .fetch_all(self.0)
            .await?)
    }

    fn time(row: &PgRow, column: &str) -> Result<DateTime<Utc>> {
        Ok(row.try_get(column)?)
    }
}

/// Every figure of programme `identifier`'s report over `scope`; `None`: no
/// such programme.
pub(super) async fn programme_figures(
    pool: &PgPool,
    org: OrgId,
    identifier: i64,
    scope: &ReportScope,
) -> Result<Option<ProgrammeFigures>> {
    let Some(programme) = get_programme(pool, org, identifier).await? else {
        return Ok(None);
    };
    Ok(Some(
        report::figures(&Source(pool), programme, scope).await?,
    ))
}

/// The summary of all the programme's sessions; `None`: no such programme.
pub(super) async fn programme_summary(
    pool: &PgPool,
    org: OrgId,
    identifier: i64,
) -> Result<Option<ProgrammeSummary>> {
    let Some(programme) = get_programme(pool, org, identifier).await? else {
        return Ok(None);
    };
    Ok(Some(report::summary(&Source(pool), programme).await?))
}

/// The item analysis's counts over all the programme's sessions; `None`:
/// no such programme.
pub(super) async fn programme_answer_counts(
    pool: &PgPool,
    org: OrgId,
    identifier: i64,
) -> Result<Option<AnswerCounts>> {
    let Some(programme) = get_programme(pool, org, identifier).await? else {
        return Ok(None);
    };
    let all = ReportScope::default();
    Ok(Some(
        report::answer_counts(&Source(pool), programme.id, &all).await?,
    ))
}

/// Binds parameters 1 to 6 of [`Dialect::scope`].
fn bind_scope<'q>(
    query: Query<'q, Postgres, PgArguments>,
    programme: ProgrammeId,
    scope: &ReportScope,
) -> Query<'q, Postgres, PgArguments> {
    query
        .bind(programme)
        .bind(scope.module.clone())
        .bind(scope.version.clone())
        .bind(scope.language.clone())
        .bind(scope.from)
        .bind(scope.until)
}
