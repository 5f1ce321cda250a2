//! PostgreSQL exports, read in keyset pages ([`crate::paging`]): a pooled
//! connection is held for one page's query, never while the client reads.

use futures::stream::BoxStream;
use sqlx::PgPool;
use sqlx::postgres::PgRow;

use super::rows::*;
use crate::Result;
use crate::model::*;
use crate::paging::{self, Keyset};

pub(super) fn export_transcripts(
    pool: &PgPool,
    org: OrgId,
    filter: ExportFilter,
) -> BoxStream<'static, Result<ExportRow>> {
    paging::by_session(pool.clone(), org, filter, transcript_rows)
}

/// One page of a messages export.
async fn transcript_rows(
    pool: PgPool,
    org: OrgId,
    filter: ExportFilter,
    keyset: Keyset,
    limit: i64,
) -> Result<Vec<ExportRow>> {
    let select = format!(
        "SELECT {MESSAGE_COLS}, c.uuid AS customer_uuid, p.identifier AS programme_identifier, \
         s.module_uuid FROM messages m JOIN sessions s ON s.id = m.session_id"
    );
    read_page(
        &pool,
        &select,
        "m",
        org,
        &filter,
        keyset,
        limit,
        export_row_from,
    )
    .await
}

/// One page of an answers export (the same order and keyset as the
/// messages, over `quiz_answers (session_id, id)`).
async fn answer_rows(
    pool: PgPool,
    org: OrgId,
    filter: ExportFilter,
    keyset: Keyset,
    limit: i64,
) -> Result<Vec<AnswerExportRow>> {
    let select = "SELECT a.id, a.session_id, s.uuid AS session_uuid, c.uuid AS customer_uuid, \
         s.module_uuid, mv.content_hash, p.identifier AS programme_identifier, a.quiz, \
         a.question_id, a.question, a.answer, a.correct, a.attempt, a.matched_by, a.created_at, a.choice \
         FROM quiz_answers a JOIN sessions s ON s.id = a.session_id \
         JOIN module_versions mv ON mv.id = s.module_version_id";
    read_page(
        &pool,
        select,
        "a",
        org,
        &filter,
        keyset,
        limit,
        answer_export_from,
    )
    .await
}

/// One page of a (session, row id) export: `select` (the columns, the
/// rows' table as `row` joined to `sessions s`), joined to the customer and
/// the programme, in the filter's programme and time range, after the
/// keyset.
#[allow(clippy::too_many_arguments)]
async fn read_page<T>(
    pool: &PgPool,
    select: &str,
    row: &str,
    org: OrgId,
    filter: &ExportFilter,
    keyset: Keyset,
    limit: i64,
    map: fn(&PgRow) -> Result<T>,
) -> Result<Vec<T>> {
    let keyset_sql = match keyset {
        Keyset::Rest(_) => format!("s.id = $5 AND {row}.id > $6 ORDER BY s.id, {row}.id LIMIT $7"),
        Keyset::After(_) => format!("s.id > $5 ORDER BY s.id, {row}.id LIMIT $6"),
    };
    let sql = format!(
        "{select} JOIN customers c ON c.id = s.customer_id \
         JOIN programmes p ON p.id = s.programme_id \
         WHERE s.org_id = $1 AND ($2::BIGINT IS NULL OR p.identifier = $2) \
         AND ($3::TIMESTAMPTZ IS NULL OR {row}.created_at >= $3) \
         AND ($4::TIMESTAMPTZ IS NULL OR {row}.created_at < $4) AND {keyset_sql}"
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(org)
        .bind(filter.programme)
        .bind(filter.from)
        .bind(filter.until)
        .bind(keyset.session());
    if let Keyset::Rest(c) = keyset {
        query = query.bind(c.row);
    }
    let rows = query.bind(limit).fetch_all(pool).await?;
    rows.iter().map(map).collect()
}

pub(super) fn export_sessions(
    pool: &PgPool,
    org: OrgId,
    identifier: i64,
) -> BoxStream<'static, Result<SessionExportRow>> {
    paging::sessions(pool.clone(), org, identifier, session_rows)
}

/// One page of a sessions export: the sessions after `after`.
async fn session_rows(
    pool: PgPool,
    org: OrgId,
    identifier: i64,
    after: i64,
    limit: i64,
) -> Result<Vec<SessionExportRow>> {
    let sql = format!(
        "SELECT {SESSION_COLS}, {SUMMARY_COLS}, c.full_name AS customer_full_name, \
         c.phone AS customer_phone, {DELIVERY_COLS} {SUMMARY_JOINS} \
         WHERE s.org_id = $1 AND p.identifier = $2 AND s.id > $3 ORDER BY s.id LIMIT $4"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(org)
        .bind(identifier)
        .bind(after)
        .bind(limit)
        .fetch_all(&pool)
        .await?;
    rows.iter().map(session_export_from).collect()
}

pub(super) fn export_answers(
    pool: &PgPool,
    org: OrgId,
    filter: ExportFilter,
) -> BoxStream<'static, Result<AnswerExportRow>> {
    paging::by_session(pool.clone(), org, filter, answer_rows)
}
