//! SQLite statements of turns, enrolments and wake-up claims. They run on
//! the writer connection, which holds the database write lock (`BEGIN
//! IMMEDIATE`): that is the session's lock.

use chrono::{DateTime, Utc};
use sqlx::SqliteConnection;
use sqlx::types::uuid::fmt::Hyphenated;
use uuid::Uuid;

use super::delivery;
use super::rows::{MESSAGE_COLS, SESSION_COLS, message_from, session_from, us};
use crate::Result;
use crate::model::*;
use crate::turn::{EnrolTx, NewMessage, QueuedEvent, QueuedRow, Reach, SessionInsert, TurnTx};

/// The writer connection, inside a transaction.
pub(super) struct SqliteTx<'c>(pub(super) &'c mut SqliteConnection);

pub(super) async fn load_session(
    conn: &mut SqliteConnection,
    id: SessionId,
) -> Result<Option<Session>> {
    let sql = format!(
        "SELECT {SESSION_COLS} FROM sessions s JOIN customers c ON c.id = s.customer_id WHERE s.id = ?"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(session_from).transpose()
}

impl TurnTx for SqliteTx<'_> {
    async fn lock_session(&mut self, id: SessionId) -> Result<Option<Session>> {
        // The write lock is held already: a plain read.
        load_session(self.0, id).await
    }

    async fn turn_of_external_id(
        &mut self,
        session: SessionId,
        external_id: &str,
    ) -> Result<Option<i64>> {
        Ok(
            sqlx::query_scalar(
                "SELECT turn FROM messages WHERE session_id = ? AND external_id = ?",
            )
            .bind(session)
            .bind(external_id)
            .fetch_optional(&mut *self.0)
            .await?,
        )
    }

    async fn turn_messages(&mut self, session: SessionId, turn: i64) -> Result<Vec<Message>> {
        let sql = format!(
            "SELECT {MESSAGE_COLS} FROM messages m JOIN sessions s ON s.id = m.session_id \
             WHERE m.session_id = ? AND m.turn = ? ORDER BY m.id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(session)
            .bind(turn)
            .fetch_all(&mut *self.0)
            .await?;
        rows.iter().map(message_from).collect()
    }

    async fn insert_message(&mut self, m: &NewMessage<'_>) -> Result<MessageId> {
        let id: MessageId = sqlx::query_scalar(
            "INSERT INTO messages (session_id, customer_id, direction, text, created_at, external_id, turn) \
             VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(m.session.id)
        .bind(m.session.customer)
        .bind(m.direction.as_str())
        .bind(m.text)
        .bind(us(m.at))
        .bind(m.external_id)
        .bind(m.turn)
        .fetch_one(&mut *self.0)
        .await?;
        Ok(id)
    }

    async fn insert_answer(
        &mut self,
        session: SessionId,
        answer: &NewQuizAnswer,
        at: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO quiz_answers (session_id, quiz, question_id, question, answer, correct, attempt, \
             matched_by, created_at, choice) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(session)
        .bind(answer.quiz.as_str())
        .bind(&answer.question_id)
        .bind(&answer.question)
        .bind(&answer.answer)
        .bind(answer.correct)
        .bind(answer.attempt)
        .bind(&answer.matched_by)
        .bind(us(at))
        .bind(answer.choice)
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    async fn update_session(&mut self, s: &Session, progress: &QuizProgress) -> Result<()> {
        sqlx::query(
            "UPDATE sessions SET state = ?, state_format = ?, status = ?, turns = ?, wake_at = ?, \
             last_activity = ?, claimed_until = NULL, pre_correct = ?, pre_answered = ?, \
             post_correct = ?, post_answered = ? WHERE id = ?",
        )
        .bind(&s.state)
        .bind(s.state_format)
        .bind(s.status.as_str())
        .bind(s.turns)
        .bind(s.wake_at.map(us))
        .bind(s.last_activity.map(us))
        .bind(progress.pre_correct)
        .bind(progress.pre_answered)
        .bind(progress.post_correct)
        .bind(progress.post_answered)
        .bind(s.id)
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    async fn reach(&mut self, session: &Session) -> Result<Option<Reach>> {
        delivery::reach(self.0, session.customer).await
    }

    async fn queue_outbox(&mut self, row: &QueuedRow<'_>) -> Result<()> {
        delivery::queue_outbox(self.0, row).await
    }

    async fn subscribers(&mut self, org: OrgId, event: &str) -> Result<Vec<ChannelId>> {
        delivery::subscribers(self.0, org, event).await
    }

    async fn quiz_totals(&mut self, version: ModuleVersionId) -> Result<(i32, i32)> {
        delivery::quiz_totals(self.0, version).await
    }

    async fn queue_event(&mut self, row: &QueuedEvent) -> Result<()> {
        delivery::queue_event(self.0, row).await
    }

    async fn opt_out(
        &mut self,
        org: OrgId,
        phone: &str,
        message: Option<MessageId>,
        at: DateTime<Utc>,
    ) -> Result<()> {
        delivery::opt_out(self.0, org, phone, message, at).await
    }
}

impl EnrolTx for SqliteTx<'_> {
    async fn customer_opted_out(&mut self, customer: CustomerId) -> Result<bool> {
        delivery::customer_opted_out(self.0, customer).await
    }

    async fn customer_of(&mut self, org: OrgId, customer: CustomerId) -> Result<bool> {
        let found: Option<i64> =
            sqlx::query_scalar("SELECT id FROM customers WHERE id = ? AND org_id = ?")
                .bind(customer)
                .bind(org)
                .fetch_optional(&mut *self.0)
                .await?;
        Ok(found.is_some())
    }

    async fn programme_of(&mut self, org: OrgId, programme: ProgrammeId) -> Result<bool> {
        let found: Option<i64> =
            sqlx::query_scalar("SELECT id FROM programmes WHERE id = ? AND org_id = ?")
                .bind(programme)
                .bind(org)
                .fetch_optional(&mut *self.0)
                .await?;
        Ok(found.is_some())
    }

    async fn module_uuid(&mut self, version: ModuleVersionId) -> Result<Option<Uuid>> {
        let found: Option<Hyphenated> =
            sqlx::query_scalar("SELECT module_uuid FROM module_versions WHERE id = ?")
                .bind(version)
                .fetch_optional(&mut *self.0)
                .await?;
        Ok(found.map(Hyphenated::into_uuid))
    }

    async fn insert_session(&mut self, row: &SessionInsert<'_>) -> Result<Option<SessionId>> {
        let new = row.new;
        // Under the write lock this check and the insert are atomic; the
        // unique partial index sessions_one_live backs it up.
        if self
            .live_session(new.customer, new.programme, row.module_uuid)
            .await?
            .is_some()
        {
            return Ok(None);
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO sessions (uuid, org_id, customer_id, programme_id, module_version_id, module_uuid, status, \
             state, state_format, turns, created_at, last_activity, wake_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, NULL, ?) RETURNING id",
        )
        .bind(row.uuid.hyphenated())
        .bind(row.org)
        .bind(new.customer)
        .bind(new.programme)
        .bind(new.module_version)
        .bind(row.module_uuid.hyphenated())
        .bind(new.status.as_str())
        .bind(&new.state)
        .bind(new.state_format)
        .bind(us(row.at))
        .bind(new.wake_at.map(to_micros).map(us))
        .fetch_one(&mut *self.0)
        .await?;
        Ok(Some(SessionId(id)))
    }

    async fn live_session(
        &mut self,
        customer: CustomerId,
        programme: ProgrammeId,
        module_uuid: Uuid,
    ) -> Result<Option<SessionId>> {
        let id: Option<SessionId> = sqlx::query_scalar(
            "SELECT id FROM sessions WHERE customer_id = ? AND programme_id = ? AND module_uuid = ? \
             AND status IN ('Pending', 'InProgress')",
        )
        .bind(customer)
        .bind(programme)
        .bind(module_uuid.hyphenated())
        .fetch_optional(&mut *self.0)
        .await?;
        Ok(id)
    }

    async fn load_session(&mut self, id: SessionId) -> Result<Option<Session>> {
        load_session(self.0, id).await
    }
}
