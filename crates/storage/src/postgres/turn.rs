//! PostgreSQL statements of turns and enrolments, on a transaction of the
//! pool. The session's lock is its row lock (`SELECT ... FOR UPDATE`), held
//! until the transaction ends; other sessions proceed in parallel.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::delivery;
use super::rows::{MESSAGE_COLS, SESSION_COLS, message_from, session_from};
use crate::Result;
use crate::model::*;
use crate::turn::{EnrolTx, NewMessage, QueuedEvent, QueuedRow, Reach, SessionInsert, TurnTx};

/// A connection inside a transaction.
pub(super) struct PgTx<'c>(pub(super) &'c mut PgConnection);

pub(super) async fn load_session(
    conn: &mut PgConnection,
    id: SessionId,
    lock: bool,
) -> Result<Option<Session>> {
    let sql = format!(
        "SELECT {SESSION_COLS} FROM sessions s JOIN customers c ON c.id = s.customer_id WHERE s.id = $1 {}",
        if lock { "FOR UPDATE OF s" } else { "" }
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(session_from).transpose()
}

impl TurnTx for PgTx<'_> {
    async fn lock_session(&mut self, id: SessionId) -> Result<Option<Session>> {
        load_session(self.0, id, true).await
    }

    async fn turn_of_external_id(
        &mut self,
        session: SessionId,
        external_id: &str,
    ) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT turn FROM messages WHERE session_id = $1 AND external_id = $2",
        )
        .bind(session)
        .bind(external_id)
        .fetch_optional(&mut *self.0)
        .await?)
    }

    async fn turn_messages(&mut self, session: SessionId, turn: i64) -> Result<Vec<Message>> {
        let sql = format!(
            "SELECT {MESSAGE_COLS} FROM messages m JOIN sessions s ON s.id = m.session_id \
             WHERE m.session_id = $1 AND m.turn = $2 ORDER BY m.id"
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
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(m.session.id)
        .bind(m.session.customer)
        .bind(m.direction.as_str())
        .bind(m.text)
        .bind(m.at)
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
             matched_by, created_at, choice) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(session)
        .bind(answer.quiz.as_str())
        .bind(&answer.question_id)
        .bind(&answer.question)
        .bind(&answer.answer)
        .bind(answer.correct)
        .bind(answer.attempt)
        .bind(&answer.matched_by)
        .bind(at)
        .bind(answer.choice)
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    async fn update_session(
        &mut self,
        s: &Session,
        progress: &QuizProgress,
        at: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE sessions SET state = $1, state_format = $2, status = $3, turns = $4, wake_at = $5, \
             last_activity = $6, claimed_until = NULL, pre_correct = $7, pre_answered = $8, \
             post_correct = $9, post_answered = $10, step = $11, language = $12, \
             ended_at = CASE WHEN $3 IN ('Pending', 'InProgress') THEN NULL \
             ELSE COALESCE(ended_at, $13) END WHERE id = $14",
        )
        .bind(&s.state)
        .bind(s.state_format)
        .bind(s.status.as_str())
        .bind(s.turns)
        .bind(s.wake_at)
        .bind(s.last_activity)
        .bind(progress.pre_correct)
        .bind(progress.pre_answered)
        .bind(progress.post_correct)
        .bind(progress.post_answered)
        .bind(s.position.as_ref().map(|p| &p.step))
        .bind(s.position.as_ref().map(|p| &p.language))
        .bind(at)
        .bind(s.id)
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    async fn reach_step(
        &mut self,
        session: SessionId,
        step: &str,
        at: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO session_steps (session_id, step, reached_at) VALUES ($1, $2, $3) \
             ON CONFLICT (session_id, step) DO NOTHING",
        )
        .bind(session)
        .bind(step)
        .bind(at)
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

impl EnrolTx for PgTx<'_> {
    async fn customer_opted_out(&mut self, customer: CustomerId) -> Result<bool> {
        delivery::customer_opted_out(self.0, customer).await
    }

    async fn customer_of(&mut self, org: OrgId, customer: CustomerId) -> Result<bool> {
        let found: Option<i64> =
            sqlx::query_scalar("SELECT id FROM customers WHERE id = $1 AND org_id = $2")
                .bind(customer)
                .bind(org)
                .fetch_optional(&mut *self.0)
                .await?;
        Ok(found.is_some())
    }

    async fn programme_of(&mut self, org: OrgId, programme: ProgrammeId) -> Result<bool> {
        let found: Option<i64> =
            sqlx::query_scalar("SELECT id FROM programmes WHERE id = $1 AND org_id = $2")
                .bind(programme)
                .bind(org)
                .fetch_optional(&mut *self.0)
                .await?;
        Ok(found.is_some())
    }

    async fn module_uuid(&mut self, version: ModuleVersionId) -> Result<Option<Uuid>> {
        Ok(
            sqlx::query_scalar("SELECT module_uuid FROM module_versions WHERE id = $1")
                .bind(version)
                .fetch_optional(&mut *self.0)
                .await?,
        )
    }

    async fn insert_session(&mut self, row: &SessionInsert<'_>) -> Result<Option<SessionId>> {
        let new = row.new;
        // The unique partial index makes a concurrent enrolment wait for
        // ours and then do nothing.
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO sessions (uuid, org_id, customer_id, programme_id, module_version_id, module_uuid, \
             status, state, state_format, turns, created_at, last_activity, wake_at, step, language) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, $10, NULL, $11, $12, $13) \
             ON CONFLICT (customer_id, programme_id, module_uuid) WHERE status IN ('Pending', 'InProgress') \
             DO NOTHING RETURNING id",
        )
        .bind(row.uuid)
        .bind(row.org)
        .bind(new.customer)
        .bind(new.programme)
        .bind(new.module_version)
        .bind(row.module_uuid)
        .bind(new.status.as_str())
        .bind(&new.state)
        .bind(new.state_format)
        .bind(row.at)
        .bind(new.wake_at.map(to_micros))
        .bind(new.position.as_ref().map(|p| &p.step))
        .bind(new.position.as_ref().map(|p| &p.language))
        .fetch_optional(&mut *self.0)
        .await?;
        Ok(id.map(SessionId))
    }

    async fn live_session(
        &mut self,
        customer: CustomerId,
        programme: ProgrammeId,
        module_uuid: Uuid,
    ) -> Result<Option<SessionId>> {
        let id: Option<SessionId> = sqlx::query_scalar(
            "SELECT id FROM sessions WHERE customer_id = $1 AND programme_id = $2 AND module_uuid = $3 \
             AND status IN ('Pending', 'InProgress')",
        )
        .bind(customer)
        .bind(programme)
        .bind(module_uuid)
        .fetch_optional(&mut *self.0)
        .await?;
        Ok(id)
    }

    async fn load_session(&mut self, id: SessionId) -> Result<Option<Session>> {
        load_session(self.0, id, false).await
    }
}
