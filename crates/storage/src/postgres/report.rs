//! The item analysis's counts ([`crate::AnswerCounts`]), grouped in the
//! database.

use sqlx::PgPool;
use sqlx::Row;
use sqlx::postgres::PgRow;

use super::reads::get_programme;
use crate::model::*;
use crate::{Result, parse};

pub(super) async fn programme_answer_counts(
    pool: &PgPool,
    org: OrgId,
    identifier: i64,
) -> Result<Option<AnswerCounts>> {
    let Some(programme) = get_programme(pool, org, identifier).await? else {
        return Ok(None);
    };
    let rows = sqlx::query(sqlx::AssertSqlSafe(answer_counts_sql("$1")))
        .bind(programme.id)
        .fetch_all(pool)
        .await?;
    let versions = sqlx::query_scalar(sqlx::AssertSqlSafe(programme_versions_sql("$1")))
        .bind(programme.id)
        .fetch_all(pool)
        .await?;
    Ok(Some(AnswerCounts {
        rows: rows.iter().map(count_from).collect::<Result<_>>()?,
        versions,
    }))
}

fn count_from(row: &PgRow) -> Result<AnswerCount> {
    Ok(AnswerCount {
        question_id: row.try_get("question_id")?,
        quiz: parse(row.try_get("quiz")?)?,
        choice: row.try_get("choice")?,
        exhausted: row.try_get("exhausted")?,
        correct: row.try_get("correct")?,
        attempt: row.try_get("attempt")?,
        sessions: row.try_get("sessions")?,
        question: row.try_get("question")?,
    })
}
