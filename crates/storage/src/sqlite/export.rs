//! SQLite exports: one streamed query each, read by a task that feeds a
//! bounded channel.

use futures::stream::BoxStream;
use sqlx::SqlitePool;

use super::rows::*;
use crate::Result;
use crate::model::*;

pub(super) fn export_transcripts(
    pool: &SqlitePool,
    org: OrgId,
    filter: ExportFilter,
) -> BoxStream<'static, Result<ExportRow>> {
    let pool = pool.clone();
    crate::channel_stream(move |tx| async move {
        // The programme as a scalar subquery and the order as (s.id, m.id)
        // let SQLite walk sessions_programme and messages_session in
        // order: rows stream from the first one, with no sort.
        let programme = if filter.programme.is_some() {
            "AND s.programme_id = (SELECT id FROM programmes WHERE org_id = ? AND identifier = ?)"
        } else {
            ""
        };
        let sql = format!(
            "SELECT {MESSAGE_COLS}, c.uuid AS customer_uuid, p.identifier AS programme_identifier, \
             s.module_uuid FROM messages m JOIN sessions s ON s.id = m.session_id \
             JOIN customers c ON c.id = s.customer_id JOIN programmes p ON p.id = s.programme_id \
             WHERE s.org_id = ? {programme} \
             AND (? IS NULL OR m.created_at >= ?) AND (? IS NULL OR m.created_at < ?) \
             ORDER BY s.id, m.id"
        );
        let from = filter.from.map(us);
        let until = filter.until.map(us);
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(org.0);
        if let Some(identifier) = filter.programme {
            query = query.bind(org.0).bind(identifier);
        }
        let rows = query
            .bind(from)
            .bind(from)
            .bind(until)
            .bind(until)
            .fetch(&pool);
        crate::forward_rows(rows, &tx, export_row_from).await;
    })
}

pub(super) fn export_sessions(
    pool: &SqlitePool,
    org: OrgId,
    identifier: i64,
) -> BoxStream<'static, Result<SessionExportRow>> {
    let pool = pool.clone();
    crate::channel_stream(move |tx| async move {
        let sql = format!(
            "SELECT {SESSION_COLS}, {SUMMARY_COLS}, c.full_name AS customer_full_name, \
             c.phone AS customer_phone {SUMMARY_JOINS} \
             WHERE s.programme_id = (SELECT id FROM programmes WHERE org_id = ? AND identifier = ?) \
             AND s.org_id = ? ORDER BY s.id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.0)
            .bind(identifier)
            .bind(org.0)
            .fetch(&pool);
        crate::forward_rows(rows, &tx, session_export_from).await;
    })
}
