//! SQLite rows: column lists and row mappers. Times are INTEGER
//! microseconds since the epoch, uuids hyphenated TEXT.

use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use sqlx::types::Json;
use sqlx::types::uuid::fmt::Hyphenated;
use uuid::Uuid;

use crate::model::*;
use crate::{Result, StoreError, parse, score};

pub(super) fn us(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

pub(super) fn time(micros: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_micros(micros)
        .ok_or_else(|| StoreError::Corrupt(format!("time {micros} out of range")))
}

pub(super) fn opt_time(micros: Option<i64>) -> Result<Option<DateTime<Utc>>> {
    micros.map(time).transpose()
}

pub(super) fn uuid(row: &SqliteRow, column: &str) -> Result<Uuid> {
    Ok(row.try_get::<Hyphenated, _>(column)?.into_uuid())
}

pub(super) const SESSION_COLS: &str = "s.id, s.uuid, s.org_id, s.customer_id, c.uuid AS customer_uuid, s.programme_id, \
     s.module_version_id, s.module_uuid, s.status, s.state, s.state_format, s.turns, s.created_at, \
     s.last_activity, s.wake_at, s.step, s.language";

pub(super) fn session_from(row: &SqliteRow) -> Result<Session> {
    Ok(Session {
        id: row.try_get("id")?,
        uuid: uuid(row, "uuid")?,
        org: row.try_get("org_id")?,
        customer: row.try_get("customer_id")?,
        customer_uuid: uuid(row, "customer_uuid")?,
        programme: row.try_get("programme_id")?,
        module_version: row.try_get("module_version_id")?,
        module_uuid: uuid(row, "module_uuid")?,
        status: parse(row.try_get("status")?)?,
        state: row.try_get("state")?,
        state_format: row.try_get("state_format")?,
        turns: row.try_get("turns")?,
        created_at: time(row.try_get("created_at")?)?,
        last_activity: opt_time(row.try_get("last_activity")?)?,
        wake_at: opt_time(row.try_get("wake_at")?)?,
        position: Position::from_columns(row.try_get("step")?, row.try_get("language")?),
    })
}

pub(super) const MESSAGE_COLS: &str = "m.id, m.session_id, s.uuid AS session_uuid, m.customer_id, m.direction, m.text, m.created_at, m.external_id, m.turn";

pub(super) fn message_from(row: &SqliteRow) -> Result<Message> {
    Ok(Message {
        id: row.try_get("id")?,
        session: row.try_get("session_id")?,
        session_uuid: uuid(row, "session_uuid")?,
        customer: row.try_get("customer_id")?,
        direction: parse(row.try_get("direction")?)?,
        text: row.try_get("text")?,
        created_at: time(row.try_get("created_at")?)?,
        external_id: row.try_get("external_id")?,
        turn: row.try_get("turn")?,
    })
}

pub(super) fn org_from(row: &SqliteRow) -> Result<Organisation> {
    Ok(Organisation {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        created_at: time(row.try_get("created_at")?)?,
    })
}

pub(super) fn key_from(row: &SqliteRow) -> Result<ApiKey> {
    Ok(ApiKey {
        id: row.try_get("id")?,
        org: row.try_get("org_id")?,
        label: row.try_get("label")?,
        role: parse(row.try_get("role")?)?,
        key_hash: row.try_get("key_hash")?,
        created_at: time(row.try_get("created_at")?)?,
        revoked_at: opt_time(row.try_get("revoked_at")?)?,
    })
}

pub(super) fn programme_from(row: &SqliteRow) -> Result<Programme> {
    Ok(Programme {
        id: row.try_get("id")?,
        org: row.try_get("org_id")?,
        identifier: row.try_get("identifier")?,
        name: row.try_get("name")?,
        created_at: time(row.try_get("created_at")?)?,
    })
}

pub(super) fn module_from(row: &SqliteRow) -> Result<ModuleVersion> {
    Ok(ModuleVersion {
        id: row.try_get("id")?,
        module_id: row.try_get("module_id")?,
        module_uuid: uuid(row, "module_uuid")?,
        name: row.try_get("name")?,
        goal: row.try_get("goal")?,
        content_hash: row.try_get("content_hash")?,
        source: row.try_get("source")?,
        languages: row.try_get::<Json<Vec<String>>, _>("languages")?.0,
        pre_quiz_total: row.try_get("pre_quiz_total")?,
        post_quiz_total: row.try_get("post_quiz_total")?,
        registered_at: time(row.try_get("registered_at")?)?,
        org: row.try_get("org_id")?,
    })
}

pub(super) fn customer_from(row: &SqliteRow) -> Result<Customer> {
    let date_of_birth: Option<String> = row.try_get("date_of_birth")?;
    Ok(Customer {
        id: row.try_get("id")?,
        uuid: uuid(row, "uuid")?,
        org: row.try_get("org_id")?,
        full_name: row.try_get("full_name")?,
        national_id: row.try_get("national_id")?,
        phone: row.try_get("phone")?,
        phone_e164: row.try_get("phone_e164")?,
        location: row.try_get("location")?,
        gender: row.try_get("gender")?,
        email: row.try_get("email")?,
        date_of_birth: date_of_birth
            .map(|d| {
                NaiveDate::from_str(&d).map_err(|e| StoreError::Corrupt(format!("date {d:?}: {e}")))
            })
            .transpose()?,
        registered_at: time(row.try_get("registered_at")?)?,
        channel: row.try_get::<Option<i64>, _>("channel_id")?.map(ChannelId),
    })
}

pub(super) const SUMMARY_COLS: &str = "p.identifier AS programme_identifier, p.name AS programme_name, \
     mv.name AS module_name, mv.pre_quiz_total, mv.post_quiz_total, \
     s.pre_correct, s.pre_answered, s.post_correct, s.post_answered";

pub(super) const SUMMARY_JOINS: &str = "FROM sessions s JOIN customers c ON c.id = s.customer_id \
     JOIN programmes p ON p.id = s.programme_id JOIN module_versions mv ON mv.id = s.module_version_id";

pub(super) fn summary_from(row: &SqliteRow) -> Result<SessionSummary> {
    Ok(SessionSummary {
        session: session_from(row)?,
        programme_identifier: row.try_get("programme_identifier")?,
        programme_name: row.try_get("programme_name")?,
        module_name: row.try_get("module_name")?,
        scores: Scores {
            pre: score(
                row.try_get("pre_correct")?,
                row.try_get("pre_answered")?,
                row.try_get("pre_quiz_total")?,
            ),
            post: score(
                row.try_get("post_correct")?,
                row.try_get("post_answered")?,
                row.try_get("post_quiz_total")?,
            ),
        },
    })
}

pub(super) fn answer_export_from(row: &SqliteRow) -> Result<AnswerExportRow> {
    Ok(AnswerExportRow {
        id: row.try_get("id")?,
        session: row.try_get("session_id")?,
        session_uuid: uuid(row, "session_uuid")?,
        customer_uuid: uuid(row, "customer_uuid")?,
        module_uuid: uuid(row, "module_uuid")?,
        module_version_hash: row.try_get("content_hash")?,
        programme_identifier: row.try_get("programme_identifier")?,
        answer: quiz_answer_from(row)?,
    })
}

/// A `quiz_answers` row (`quiz, question_id, question, answer, correct,
/// attempt, matched_by, created_at`).
pub(super) fn quiz_answer_from(row: &SqliteRow) -> Result<QuizAnswer> {
    Ok(QuizAnswer {
        quiz: parse(row.try_get("quiz")?)?,
        question_id: row.try_get("question_id")?,
        question: row.try_get("question")?,
        answer: row.try_get("answer")?,
        correct: row.try_get("correct")?,
        attempt: row.try_get("attempt")?,
        matched_by: row.try_get("matched_by")?,
        choice: row.try_get("choice")?,
        created_at: time(row.try_get("created_at")?)?,
    })
}

pub(super) fn session_export_from(row: &SqliteRow) -> Result<SessionExportRow> {
    Ok(SessionExportRow {
        summary: summary_from(row)?,
        customer_full_name: row.try_get("customer_full_name")?,
        customer_phone: row.try_get("customer_phone")?,
        delivery: DeliveryCounts {
            queued: row.try_get("outbox_queued")?,
            sent: row.try_get("outbox_sent")?,
            delivered: row.try_get("outbox_delivered")?,
            failed: row.try_get("outbox_failed")?,
        },
    })
}
