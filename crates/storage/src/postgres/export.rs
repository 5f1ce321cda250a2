//! PostgreSQL exports: one streamed query each (one snapshot), read by a
//! task that feeds a bounded channel.

use futures::stream::BoxStream;
use sqlx::PgPool;

use super::rows::*;
use crate::Result;
use crate::model::*;

pub(super) fn export_transcripts(
    pool: &PgPool,
    org: OrgId,
    filter: ExportFilter,
) -> BoxStream<'static, Result<ExportRow>> {
    let pool = pool.clone();
    crate::channel_stream(move |tx| async move {
        let sql = format!(
            "SELECT {MESSAGE_COLS}, c.uuid AS customer_uuid, p.identifier AS programme_identifier, \
             s.module_uuid FROM messages m JOIN sessions s ON s.id = m.session_id \
             JOIN customers c ON c.id = s.customer_id JOIN programmes p ON p.id = s.programme_id \
             WHERE s.org_id = $1 AND ($2::BIGINT IS NULL OR p.identifier = $2) \
             AND ($3::TIMESTAMPTZ IS NULL OR m.created_at >= $3) \
             AND ($4::TIMESTAMPTZ IS NULL OR m.created_at < $4) \
             ORDER BY m.session_id, m.id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.0)
            .bind(filter.programme)
            .bind(filter.from)
            .bind(filter.until)
            .fetch(&pool);
        crate::forward_rows(rows, &tx, export_row_from).await;
    })
}

pub(super) fn export_sessions(
    pool: &PgPool,
    org: OrgId,
    identifier: i64,
) -> BoxStream<'static, Result<SessionExportRow>> {
    let pool = pool.clone();
    crate::channel_stream(move |tx| async move {
        let sql = format!(
            "SELECT {SESSION_COLS}, {SUMMARY_COLS}, c.full_name AS customer_full_name, \
             c.phone AS customer_phone {SUMMARY_JOINS} \
             WHERE s.org_id = $1 AND p.identifier = $2 ORDER BY s.id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.0)
            .bind(identifier)
            .fetch(&pool);
        crate::forward_rows(rows, &tx, session_export_from).await;
    })
}
