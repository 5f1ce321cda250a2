//! PostgreSQL exports: one streamed query each (one snapshot), read by a
//! task that feeds a bounded channel.

use futures::StreamExt;
use futures::stream::BoxStream;
use sqlx::PgPool;
use sqlx::Row;

use super::rows::*;
use crate::model::*;
use crate::{Result, StoreError};

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
        let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.0)
            .bind(filter.programme)
            .bind(filter.from)
            .bind(filter.until)
            .fetch(&pool);
        while let Some(row) = rows.next().await {
            let item = row.map_err(StoreError::from).and_then(|row| {
                Ok(ExportRow {
                    message: message_from(&row)?,
                    customer_uuid: row.try_get("customer_uuid")?,
                    programme_identifier: row.try_get("programme_identifier")?,
                    module_uuid: row.try_get("module_uuid")?,
                })
            });
            let failed = item.is_err();
            if tx.send(item).await.is_err() || failed {
                break;
            }
        }
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
        let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.0)
            .bind(identifier)
            .fetch(&pool);
        while let Some(row) = rows.next().await {
            let item = row.map_err(StoreError::from).and_then(|row| {
                Ok(SessionExportRow {
                    summary: summary_from(&row)?,
                    customer_full_name: row.try_get("customer_full_name")?,
                    customer_phone: row.try_get("customer_phone")?,
                })
            });
            let failed = item.is_err();
            if tx.send(item).await.is_err() || failed {
                break;
            }
        }
    })
}
