//! SQLite exports, read in keyset pages ([`crate::paging`]): a connection
//! of the reader pool is held for one page's query, never while the
//! client reads.

use futures::stream::BoxStream;
use sqlx::SqlitePool;

use super::rows::*;
use crate::Result;
use crate::model::*;
use crate::paging::{self, Keyset};

pub(super) fn export_transcripts(
    pool: &SqlitePool,
    org: OrgId,
    filter: ExportFilter,
) -> BoxStream<'static, Result<ExportRow>> {
    paging::transcripts(pool.clone(), org, filter, transcript_rows)
}

/// One page of a messages export.
async fn transcript_rows(
    pool: SqlitePool,
    org: OrgId,
    filter: ExportFilter,
    keyset: Keyset,
    limit: i64,
) -> Result<Vec<ExportRow>> {
    // The programme as a scalar subquery and the order as (s.id, m.id)
    // let SQLite walk sessions_programme and messages_session in order,
    // with no sort.
    let programme = if filter.programme.is_some() {
        "AND s.programme_id = (SELECT id FROM programmes WHERE org_id = ? AND identifier = ?)"
    } else {
        ""
    };
    let keyset_sql = match keyset {
        Keyset::Rest(_) => "s.id = ? AND m.id > ?",
        Keyset::After(_) => "s.id > ?",
    };
    let sql = format!(
        "SELECT {MESSAGE_COLS}, c.uuid AS customer_uuid, p.identifier AS programme_identifier, \
         s.module_uuid FROM messages m JOIN sessions s ON s.id = m.session_id \
         JOIN customers c ON c.id = s.customer_id JOIN programmes p ON p.id = s.programme_id \
         WHERE s.org_id = ? {programme} \
         AND (? IS NULL OR m.created_at >= ?) AND (? IS NULL OR m.created_at < ?) \
         AND {keyset_sql} ORDER BY s.id, m.id LIMIT ?"
    );
    let from = filter.from.map(us);
    let until = filter.until.map(us);
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(org);
    if let Some(identifier) = filter.programme {
        query = query.bind(org).bind(identifier);
    }
    query = query
        .bind(from)
        .bind(from)
        .bind(until)
        .bind(until)
        .bind(keyset.session());
    if let Keyset::Rest(c) = keyset {
        query = query.bind(c.message);
    }
    let rows = query.bind(limit).fetch_all(&pool).await?;
    rows.iter().map(export_row_from).collect()
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
         c.phone AS customer_phone {SUMMARY_JOINS} \
         WHERE s.programme_id = (SELECT id FROM programmes WHERE org_id = ? AND identifier = ?) \
         AND s.org_id = ? AND s.id > ? ORDER BY s.id LIMIT ?"
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
