//! SQLite exports, read in keyset pages ([`crate::paging`]): a connection
//! of the reader pool is held for one page's query, never while the
//! client reads.

use futures::stream::BoxStream;
use sqlx::Row;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteArguments, SqliteRow};

use super::rows::*;
use crate::Result;
use crate::model::*;
use crate::paging::{self, Keyset};

pub(super) fn export_transcripts(
    pool: &SqlitePool,
    org: OrgId,
    filter: ExportFilter,
) -> BoxStream<'static, Result<ExportRow>> {
    paging::by_session(pool.clone(), org, filter, transcript_rows)
}

/// One page of a messages export, read as one JSON value.
///
/// sqlx hands a query's rows from its SQLite thread one at a time, each
/// with a copy of every value: for an export of millions of short rows
/// that per-row toll, not SQLite, set the pace. SQLite builds the page as
/// one JSON array of row arrays instead (its JSON functions escape every
/// text), which crosses the thread once and is parsed in one pass.
async fn transcript_rows(
    pool: SqlitePool,
    org: OrgId,
    filter: ExportFilter,
    keyset: Keyset,
    limit: i64,
) -> Result<Vec<ExportRow>> {
    let select = "SELECT m.id, m.session_id, s.uuid AS session_uuid, m.customer_id, m.direction, m.text, \
         m.created_at, m.external_id, m.turn, c.uuid AS customer_uuid, p.identifier AS programme_identifier, \
         s.module_uuid FROM messages m JOIN sessions s ON s.id = m.session_id";
    let page = Page::new(select, "m", &filter, keyset, limit);
    let cells: Vec<TranscriptCells> = page
        .read_json(
            &pool,
            org,
            "json_array(id, session_id, session_uuid, customer_id, direction, text, created_at, \
             external_id, turn, customer_uuid, programme_identifier, module_uuid)",
        )
        .await?;
    let mut rows = cells
        .into_iter()
        .map(TranscriptCells::into_row)
        .collect::<Result<Vec<_>>>()?;
    // An aggregate's order is its input's in practice, not by contract.
    rows.sort_unstable_by_key(|r| (r.message.session, r.message.id));
    Ok(rows)
}

/// One row of [`transcript_rows`]'s JSON: serde reads a struct from an
/// array field by field, so the fields follow the `json_array` order.
#[derive(serde::Deserialize)]
struct TranscriptCells {
    id: i64,
    session_id: i64,
    session_uuid: uuid::Uuid,
    customer_id: i64,
    direction: String,
    text: String,
    created_at: i64,
    external_id: Option<String>,
    turn: i64,
    customer_uuid: uuid::Uuid,
    programme_identifier: i64,
    module_uuid: uuid::Uuid,
}

impl TranscriptCells {
    fn into_row(self) -> Result<ExportRow> {
        Ok(ExportRow {
            message: Message {
                id: MessageId(self.id),
                session: SessionId(self.session_id),
                session_uuid: self.session_uuid,
                customer: CustomerId(self.customer_id),
                direction: crate::parse(&self.direction)?,
                text: self.text,
                created_at: time(self.created_at)?,
                external_id: self.external_id,
                turn: self.turn,
            },
            customer_uuid: self.customer_uuid,
            programme_identifier: self.programme_identifier,
            module_uuid: self.module_uuid,
        })
    }
}

/// One page of an answers export (the same order and keyset as the
/// messages, over `quiz_answers (session_id, id)`).
async fn answer_rows(
    pool: SqlitePool,
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
    let page = Page::new(select, "a", &filter, keyset, limit);
    page.read(&pool, org, answer_export_from).await
}

/// The query of one page of a (session, row id) export: `select` (the
/// columns, the rows' table as `row` joined to `sessions s`), joined to the
/// customer and the programme, in the filter's programme and time range,
/// after the keyset.
struct Page<'a> {
    sql: String,
    filter: &'a ExportFilter,
    keyset: Keyset,
    limit: i64,
}

impl<'a> Page<'a> {
    fn new(select: &str, row: &str, filter: &'a ExportFilter, keyset: Keyset, limit: i64) -> Self {
        // The programme as a scalar subquery and the order as (s.id, row
        // id) let SQLite walk sessions_programme and the rows' (session_id,
        // id) index in order, with no sort.
        let programme = if filter.programme.is_some() {
            "AND s.programme_id = (SELECT id FROM programmes WHERE org_id = ? AND identifier = ?)"
        } else {
            ""
        };
        let keyset_sql = match keyset {
            Keyset::Rest(_) => format!("s.id = ? AND {row}.id > ?"),
            Keyset::After(_) => "s.id > ?".to_owned(),
        };
        let sql = format!(
            "{select} JOIN customers c ON c.id = s.customer_id \
             JOIN programmes p ON p.id = s.programme_id WHERE s.org_id = ? {programme} \
             AND (? IS NULL OR {row}.created_at >= ?) AND (? IS NULL OR {row}.created_at < ?) \
             AND {keyset_sql} ORDER BY s.id, {row}.id LIMIT CAST(? AS INTEGER)"
        );
        Page {
            sql,
            filter,
            keyset,
            limit,
        }
    }

    /// The page as one JSON array of `cells` (a `json_array` of the
    /// page's column names) per row, decoded as `T`s.
    async fn read_json<T: serde::de::DeserializeOwned>(
        mut self,
        pool: &SqlitePool,
        org: OrgId,
        cells: &str,
    ) -> Result<Vec<T>> {
        self.sql = format!("SELECT json_group_array({cells}) FROM ({})", self.sql);
        let row = self.query(org).fetch_one(pool).await?;
        let json: &str = row.try_get(0)?;
        serde_json::from_str(json)
            .map_err(|e| crate::StoreError::Corrupt(format!("an export page: {e}")))
    }

    /// The page's query with its arguments.
    fn query(self, org: OrgId) -> sqlx::query::Query<'static, sqlx::Sqlite, SqliteArguments> {
        let from = self.filter.from.map(us);
        let until = self.filter.until.map(us);
        let mut query = sqlx::query(sqlx::AssertSqlSafe(self.sql)).bind(org);
        if let Some(identifier) = self.filter.programme {
            query = query.bind(org).bind(identifier);
        }
        query = query
            .bind(from)
            .bind(from)
            .bind(until)
            .bind(until)
            .bind(self.keyset.session());
        if let Keyset::Rest(c) = self.keyset {
            query = query.bind(c.row);
        }
        query.bind(self.limit)
    }

    async fn read<T>(
        self,
        pool: &SqlitePool,
        org: OrgId,
        map: fn(&SqliteRow) -> Result<T>,
    ) -> Result<Vec<T>> {
        let rows = self.query(org).fetch_all(pool).await?;
        rows.iter().map(map).collect()
    }
}

pub(super) fn export_sessions(
    pool: &SqlitePool,
    org: OrgId,
    identifier: i64,
) -> BoxStream<'static, Result<SessionExportRow>> {
    paging::sessions(pool.clone(), org, identifier, session_rows)
}

/// One page of a sessions export: the sessions after `after`.
async fn session_rows(
    pool: SqlitePool,
    org: OrgId,
    identifier: i64,
    after: i64,
    limit: i64,
) -> Result<Vec<SessionExportRow>> {
    let sql = format!(
        "SELECT {SESSION_COLS}, {SUMMARY_COLS}, c.full_name AS customer_full_name, \
         c.phone AS customer_phone, {DELIVERY_COLS} {SUMMARY_JOINS} \
         WHERE s.programme_id = (SELECT id FROM programmes WHERE org_id = ? AND identifier = ?) \
         AND s.org_id = ? AND s.id > ? ORDER BY s.id LIMIT CAST(? AS INTEGER)"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(org)
        .bind(identifier)
        .bind(org)
        .bind(after)
        .bind(limit)
        .fetch_all(&pool)
        .await?;
    rows.iter().map(session_export_from).collect()
}

pub(super) fn export_answers(
    pool: &SqlitePool,
    org: OrgId,
    filter: ExportFilter,
) -> BoxStream<'static, Result<AnswerExportRow>> {
    paging::by_session(pool.clone(), org, filter, answer_rows)
}
