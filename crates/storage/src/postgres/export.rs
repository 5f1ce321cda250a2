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
///
/// The text names only the conditions the filter has, and the statement is
/// not kept prepared: each page is planned with its own values (a generic
/// plan cannot tell `$n IS NULL OR ...` apart, nor how small the `LIMIT`
/// is, and chose to sort every remaining row). The plan walks the sessions
/// in order (`sessions (programme_id, id)`, `sessions (org_id, id)`) and
/// the rows by `(session_id, id)`, from the keyset on.
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
    let mut sql = format!(
        "{select} JOIN customers c ON c.id = s.customer_id \
         JOIN programmes p ON p.id = s.programme_id WHERE s.org_id = $1"
    );
    let mut n = 1;
    let mut param = || {
        n += 1;
        n
    };
    if filter.programme.is_some() {
        let i = param();
        sql += &format!(
            " AND s.programme_id = (SELECT id FROM programmes WHERE org_id = $1 AND identifier = ${i})"
        );
    }
    if filter.from.is_some() {
        sql += &format!(" AND {row}.created_at >= ${}", param());
    }
    if filter.until.is_some() {
        sql += &format!(" AND {row}.created_at < ${}", param());
    }
    // The keyset on the rows' own `session_id` as well: PostgreSQL does not
    // carry `s.id > x` over to the column joined to it, and without it a
    // merge join reads the rows index from its start.
    match keyset {
        Keyset::Rest(_) => {
            let (session, id) = (param(), param());
            sql += &format!(
                " AND s.id = ${session} AND {row}.session_id = ${session} AND {row}.id > ${id}"
            );
        }
        Keyset::After(_) => {
            let session = param();
            sql += &format!(" AND s.id > ${session} AND {row}.session_id > ${session}");
        }
    }
    sql += &format!(" ORDER BY s.id, {row}.id LIMIT ${}", param());
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
        .persistent(false)
        .bind(org);
    if let Some(identifier) = filter.programme {
        query = query.bind(identifier);
    }
    if let Some(from) = filter.from {
        query = query.bind(from);
    }
    if let Some(until) = filter.until {
        query = query.bind(until);
    }
    query = query.bind(keyset.session());
    if let Keyset::Rest(c) = keyset {
        query = query.bind(c.row);
    }
    let rows = without_sort(pool, query.bind(limit)).await?;
    rows.iter().map(map).collect()
}

/// The rows of an export page's query, planned with explicit sorts off: a
/// page is in index order (sessions by id, each session's rows by
/// `(session_id, id)`), and the only sort the plan may keep is an
/// incremental one within a session. Without this, statistics older than
/// the rows (autovacuum off, a programme just loaded) made the planner
/// expect a handful of rows and sort every remaining row of the export on
/// every page: 2,000 rows/s instead of tens of thousands. One short
/// transaction per page, so no connection is held between pages.
async fn without_sort<'q>(
    pool: &PgPool,
    query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
) -> Result<Vec<PgRow>> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET LOCAL enable_sort = off")
        .execute(&mut *tx)
        .await?;
    let rows = query.fetch_all(&mut *tx).await?;
    tx.commit().await?;
    Ok(rows)
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
         WHERE s.org_id = $1 \
         AND s.programme_id = (SELECT id FROM programmes WHERE org_id = $1 AND identifier = $2) \
         AND s.id > $3 ORDER BY s.id LIMIT $4"
    );
    // Planned with its values and without a sort, as the other pages
    // ([`read_page`]).
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .persistent(false)
        .bind(org)
        .bind(identifier)
        .bind(after)
        .bind(limit);
    let rows = without_sort(&pool, rows).await?;
    rows.iter().map(session_export_from).collect()
}

pub(super) fn export_answers(
    pool: &PgPool,
    org: OrgId,
    filter: ExportFilter,
) -> BoxStream<'static, Result<AnswerExportRow>> {
    paging::by_session(pool.clone(), org, filter, answer_rows)
}
