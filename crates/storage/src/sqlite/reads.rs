//! SQLite reads, on the read-only pool (the last committed state).

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::SqlitePool;
use uuid::Uuid;

use super::rows::*;
use crate::model::*;
use crate::{Result, parse};

enum SqliteKey {
    Id(i64),
    Uuid(Uuid),
}

async fn summary_where(
    pool: &SqlitePool,
    condition: &str,
    org: OrgId,
    key: SqliteKey,
) -> Result<Vec<SessionSummary>> {
    let sql = format!(
        "SELECT {SESSION_COLS}, {SUMMARY_COLS} {SUMMARY_JOINS} WHERE s.org_id = ? AND {condition} \
         ORDER BY s.created_at DESC, s.id DESC"
    );
    let query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(org);
    let query = match key {
        SqliteKey::Id(id) => query.bind(id),
        SqliteKey::Uuid(u) => query.bind(u.hyphenated()),
    };
    let rows = query.fetch_all(pool).await?;
    rows.iter().map(summary_from).collect()
}

pub(super) async fn find_org(pool: &SqlitePool, name: &str) -> Result<Option<Organisation>> {
    let row = sqlx::query("SELECT id, name, created_at FROM organisations WHERE name = ?")
        .bind(name)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(org_from).transpose()
}

pub(super) async fn find_key_grant(
    pool: &SqlitePool,
    key_hash: &str,
) -> Result<Option<(Organisation, KeyRole)>> {
    let row = sqlx::query(
        "SELECT o.id, o.name, o.created_at, k.role FROM api_keys k JOIN organisations o ON o.id = k.org_id \
         WHERE k.key_hash = ? AND k.revoked_at IS NULL",
    )
    .bind(key_hash)
    .fetch_optional(pool)
    .await?;
    row.as_ref()
        .map(|row| Ok((org_from(row)?, parse(row.try_get("role")?)?)))
        .transpose()
}

pub(super) async fn list_keys(pool: &SqlitePool, org: OrgId) -> Result<Vec<ApiKey>> {
    let rows = sqlx::query(
        "SELECT id, org_id, label, role, key_hash, created_at, revoked_at FROM api_keys WHERE org_id = ? ORDER BY id",
    )
    .bind(org)
    .fetch_all(pool)
    .await?;
    rows.iter().map(key_from).collect()
}

pub(super) async fn get_programme(
    pool: &SqlitePool,
    org: OrgId,
    identifier: i64,
) -> Result<Option<Programme>> {
    let row = sqlx::query(
        "SELECT id, org_id, identifier, name, created_at FROM programmes WHERE org_id = ? AND identifier = ?",
    )
    .bind(org)
    .bind(identifier)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(programme_from).transpose()
}

pub(super) async fn get_module_version(
    pool: &SqlitePool,
    id: ModuleVersionId,
) -> Result<Option<ModuleVersion>> {
    let row = sqlx::query("SELECT * FROM module_versions WHERE id = ?")
        .bind(id)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(module_from).transpose()
}

pub(super) async fn find_module(
    pool: &SqlitePool,
    module_uuid: Uuid,
) -> Result<Option<ModuleVersion>> {
    let row =
        sqlx::query("SELECT * FROM module_versions WHERE module_uuid = ? ORDER BY id DESC LIMIT 1")
            .bind(module_uuid.hyphenated())
            .fetch_optional(pool)
            .await?;
    row.as_ref().map(module_from).transpose()
}

pub(super) async fn list_modules(pool: &SqlitePool) -> Result<Vec<ModuleVersion>> {
    let rows = sqlx::query(
        "SELECT * FROM module_versions mv WHERE mv.id = \
         (SELECT MAX(l.id) FROM module_versions l WHERE l.module_uuid = mv.module_uuid) ORDER BY mv.name, mv.id",
    )
    .fetch_all(pool)
    .await?;
    rows.iter().map(module_from).collect()
}

/// The latest version of the module `module_uuid` that `org` owns.
pub(super) async fn find_org_module(
    pool: &SqlitePool,
    org: OrgId,
    module_uuid: Uuid,
) -> Result<Option<ModuleVersion>> {
    let row = sqlx::query(
        "SELECT * FROM module_versions WHERE module_uuid = ? AND org_id = ? ORDER BY id DESC LIMIT 1",
    )
    .bind(module_uuid.hyphenated())
    .bind(org)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(module_from).transpose()
}

/// The current (latest) version of every module `org` owns, by name.
pub(super) async fn list_org_modules(pool: &SqlitePool, org: OrgId) -> Result<Vec<ModuleVersion>> {
    let rows = sqlx::query(
        "SELECT * FROM module_versions mv WHERE mv.org_id = ? AND mv.id = \
         (SELECT MAX(l.id) FROM module_versions l WHERE l.module_uuid = mv.module_uuid) ORDER BY mv.name, mv.id",
    )
    .bind(org)
    .fetch_all(pool)
    .await?;
    rows.iter().map(module_from).collect()
}

pub(super) async fn get_customer(
    pool: &SqlitePool,
    org: OrgId,
    uuid: Uuid,
) -> Result<Option<Customer>> {
    let row = sqlx::query("SELECT * FROM customers WHERE uuid = ? AND org_id = ?")
        .bind(uuid.hyphenated())
        .bind(org)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(customer_from).transpose()
}

pub(super) async fn get_session(
    pool: &SqlitePool,
    org: OrgId,
    uuid: Uuid,
) -> Result<Option<Session>> {
    let sql = format!(
        "SELECT {SESSION_COLS} FROM sessions s JOIN customers c ON c.id = s.customer_id \
         WHERE s.uuid = ? AND s.org_id = ?"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(uuid.hyphenated())
        .bind(org)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(session_from).transpose()
}

pub(super) async fn find_session_by_token(
    pool: &SqlitePool,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<Session>> {
    let sql = format!(
        "SELECT {SESSION_COLS} FROM session_tokens t JOIN sessions s ON s.id = t.session_id \
         JOIN customers c ON c.id = s.customer_id WHERE t.token_hash = ? AND t.expires_at > ? \
         AND t.revoked_at IS NULL AND (t.api_key_id IS NULL OR EXISTS \
         (SELECT 1 FROM api_keys k WHERE k.id = t.api_key_id AND k.revoked_at IS NULL))"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(token_hash)
        .bind(us(now))
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(session_from).transpose()
}

pub(super) async fn messages(
    pool: &SqlitePool,
    org: OrgId,
    session: SessionId,
    after: Option<MessageId>,
    limit: u32,
) -> Result<Vec<Message>> {
    let sql = format!(
        "SELECT {MESSAGE_COLS} FROM messages m JOIN sessions s ON s.id = m.session_id \
         WHERE m.session_id = ? AND s.org_id = ? AND m.id > ? ORDER BY m.id LIMIT CAST(? AS INTEGER)"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(session)
        .bind(org)
        .bind(after.map_or(0, |a| a.0))
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?;
    rows.iter().map(message_from).collect()
}

pub(super) async fn customer_sessions(
    pool: &SqlitePool,
    org: OrgId,
    customer: CustomerId,
) -> Result<Vec<SessionSummary>> {
    summary_where(pool, "s.customer_id = ?", org, SqliteKey::Id(customer.0)).await
}

pub(super) async fn session_detail(
    pool: &SqlitePool,
    org: OrgId,
    session: Uuid,
) -> Result<Option<SessionDetail>> {
    let Some(summary) = summary_where(pool, "s.uuid = ?", org, SqliteKey::Uuid(session))
        .await?
        .pop()
    else {
        return Ok(None);
    };
    let rows = sqlx::query(
        "SELECT quiz, question_id, question, answer, correct, attempt, matched_by, created_at, choice \
         FROM quiz_answers WHERE session_id = ? ORDER BY id",
    )
    .bind(summary.session.id)
    .fetch_all(pool)
    .await?;
    let answers = rows
        .iter()
        .map(quiz_answer_from)
        .collect::<Result<Vec<_>>>()?;
    let row = sqlx::query("SELECT COUNT(*) AS n, MIN(created_at) AS first, MAX(created_at) AS last FROM messages WHERE session_id = ?")
        .bind(summary.session.id)
        .fetch_one(pool)
        .await?;
    Ok(Some(SessionDetail {
        answers,
        message_count: row.try_get("n")?,
        first_message_at: opt_time(row.try_get("first")?)?,
        last_message_at: opt_time(row.try_get("last")?)?,
        summary,
    }))
}
