//! PostgreSQL statements of turns and enrolments, on a transaction of the
//! pool. The session's lock is its row lock (`SELECT ... FOR UPDATE`), held
//! until the transaction ends; other sessions proceed in parallel.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use super::delivery;
use super::delivery::REACH_COLS;
use super::rows::{MESSAGE_COLS, SESSION_COLS, message_from, session_from};
use crate::Result;
use crate::model::*;
use crate::turn::{
    EnrolTx, NewMessage, QueuedEvent, QueuedRow, Reach, SessionInsert, TurnTx, count_rows,
};

/// A connection inside a transaction. A turn costs few round trips: one
/// read before it decides (the session, locked, its replay check and how
/// its customer is reached), then one statement per kind of row (messages,
/// answers: each a multi-row insert), and the session's update with its
/// funnel step and its outbox rows (CTEs of the same statement).
pub(super) struct PgTx<'c> {
    conn: &'c mut PgConnection,
    /// How the customer of the session read by `open_turn` is reached.
    reach: Option<(CustomerId, Option<Reach>)>,
}

/// A turn's update of its session ($1 to $16), with its funnel step.
const UPDATE_SESSION_TAIL: &str = "UPDATE sessions SET state = $1, state_format = $2, status = $3, \
     turns = $4, wake_at = $5, last_activity = $6, claimed_until = NULL, pre_correct = $7, \
     pre_answered = $8, post_correct = $9, post_answered = $10, step = $11, language = $12, \
     outbox_queued = outbox_queued + $16, \
     ended_at = CASE WHEN $3 IN ('Pending', 'InProgress') THEN NULL \
     ELSE COALESCE(ended_at, $13) END WHERE id = $14";

const REACHED_CTE: &str = "reached AS (INSERT INTO session_steps (session_id, step, reached_at) \
     SELECT $14, $15, $13 WHERE $15::text IS NOT NULL \
     ON CONFLICT (session_id, step) DO NOTHING)";

static UPDATE_SESSION: LazyLock<String> =
    LazyLock::new(|| format!("WITH {REACHED_CTE} {UPDATE_SESSION_TAIL}"));

/// The same with the turn's outbox rows ($17 to $24).
static UPDATE_SESSION_QUEUED: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH {REACHED_CTE}, {} {UPDATE_SESSION_TAIL}",
        delivery::queued_cte(17)
    )
});

/// An enrolment's outbox rows ($3 to $10) and their count ($1) on its
/// session ($2).
static QUEUE_ENROLMENT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH {} UPDATE sessions SET outbox_queued = outbox_queued + $1 WHERE id = $2",
        delivery::queued_cte(3)
    )
});

impl<'c> PgTx<'c> {
    pub(super) fn new(conn: &'c mut PgConnection) -> Self {
        PgTx { conn, reach: None }
    }
}

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
        load_session(self.conn, id, true).await
    }

    async fn open_turn(
        &mut self,
        id: SessionId,
        external_id: Option<&str>,
    ) -> Result<Option<(Session, Option<i64>)>> {
        let sql = format!(
            "SELECT {SESSION_COLS}, \
             (SELECT m.turn FROM messages m WHERE m.session_id = s.id AND m.external_id = $2) AS replay_turn, \
             {REACH_COLS} \
             FROM sessions s JOIN customers c ON c.id = s.customer_id WHERE s.id = $1 FOR UPDATE OF s"
        );
        let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .bind(external_id)
            .fetch_optional(&mut *self.conn)
            .await?
        else {
            return Ok(None);
        };
        let session = session_from(&row)?;
        self.reach = Some((session.customer, delivery::reach_from(&row)?));
        Ok(Some((session, row.try_get("replay_turn")?)))
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
        .fetch_optional(&mut *self.conn)
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
            .fetch_all(&mut *self.conn)
            .await?;
        rows.iter().map(message_from).collect()
    }

    async fn insert_messages(&mut self, messages: &[NewMessage<'_>]) -> Result<Vec<MessageId>> {
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        let column = |f: fn(&NewMessage<'_>) -> Option<String>| -> Vec<Option<String>> {
            messages.iter().map(f).collect()
        };
        // Rows are inserted in `n` order, so their ids increase in it.
        let mut ids: Vec<MessageId> = sqlx::query_scalar(
            "INSERT INTO messages (session_id, customer_id, direction, text, created_at, external_id, turn) \
             SELECT session_id, customer_id, direction, text, created_at, external_id, turn \
             FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::timestamptz[], $6::text[], \
             $7::bigint[]) WITH ORDINALITY \
             AS m(session_id, customer_id, direction, text, created_at, external_id, turn, n) \
             ORDER BY n RETURNING id",
        )
        .bind(messages.iter().map(|m| m.session.id.0).collect::<Vec<_>>())
        .bind(messages.iter().map(|m| m.session.customer.0).collect::<Vec<_>>())
        .bind(column(|m| Some(m.direction.as_str().to_owned())))
        .bind(column(|m| Some(m.text.to_owned())))
        .bind(messages.iter().map(|m| m.at).collect::<Vec<_>>())
        .bind(column(|m| m.external_id.map(str::to_owned)))
        .bind(messages.iter().map(|m| m.turn).collect::<Vec<_>>())
        .fetch_all(&mut *self.conn)
        .await?;
        ids.sort();
        Ok(ids)
    }

    async fn insert_answers(
        &mut self,
        session: SessionId,
        answers: &[NewQuizAnswer],
        at: DateTime<Utc>,
    ) -> Result<()> {
        if answers.is_empty() {
            return Ok(());
        }
        let text = |f: fn(&NewQuizAnswer) -> &str| -> Vec<&str> { answers.iter().map(f).collect() };
        sqlx::query(
            "INSERT INTO quiz_answers (session_id, quiz, question_id, question, answer, correct, attempt, \
             matched_by, created_at, choice) \
             SELECT $1, quiz, question_id, question, answer, correct, attempt, matched_by, $2, choice \
             FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::boolean[], $8::integer[], \
             $9::text[], $10::integer[]) WITH ORDINALITY \
             AS a(quiz, question_id, question, answer, correct, attempt, matched_by, choice, n) ORDER BY n",
        )
        .bind(session)
        .bind(at)
        .bind(text(|a| a.quiz.as_str()))
        .bind(text(|a| &a.question_id))
        .bind(text(|a| &a.question))
        .bind(text(|a| &a.answer))
        .bind(answers.iter().map(|a| a.correct).collect::<Vec<_>>())
        .bind(answers.iter().map(|a| a.attempt).collect::<Vec<_>>())
        .bind(text(|a| &a.matched_by))
        .bind(answers.iter().map(|a| a.choice).collect::<Vec<_>>())
        .execute(&mut *self.conn)
        .await?;
        Ok(())
    }

    async fn update_session(
        &mut self,
        s: &Session,
        progress: &QuizProgress,
        at: DateTime<Utc>,
        reached: Option<&str>,
        queued: &[QueuedRow<'_>],
    ) -> Result<()> {
        // The outbox rows ride in the same statement, a CTE of their own.
        let sql: &str = if queued.is_empty() {
            &UPDATE_SESSION
        } else {
            &UPDATE_SESSION_QUEUED
        };
        let query = sqlx::query(sqlx::AssertSqlSafe(sql))
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
            .bind(reached)
            .bind(count_rows(queued));
        let query = if queued.is_empty() {
            query
        } else {
            delivery::bind_queued(query, queued)
        };
        query.execute(&mut *self.conn).await?;
        Ok(())
    }

    async fn reach(&mut self, session: &Session) -> Result<Option<Reach>> {
        match self.reach.take() {
            // Read with the session, under its row lock.
            Some((customer, reach)) if customer == session.customer => Ok(reach),
            _ => delivery::reach(self.conn, session.customer).await,
        }
    }

    async fn subscribers(&mut self, org: OrgId, event: &str) -> Result<Vec<ChannelId>> {
        delivery::subscribers(self.conn, org, event).await
    }

    async fn quiz_totals(&mut self, version: ModuleVersionId) -> Result<(i32, i32)> {
        delivery::quiz_totals(self.conn, version).await
    }

    async fn queue_event(&mut self, row: &QueuedEvent) -> Result<()> {
        delivery::queue_event(self.conn, row).await
    }

    async fn opt_out(
        &mut self,
        org: OrgId,
        phone: &str,
        message: Option<MessageId>,
        at: DateTime<Utc>,
    ) -> Result<()> {
        delivery::opt_out(self.conn, org, phone, message, at).await
    }
}

impl EnrolTx for PgTx<'_> {
    async fn customer_opted_out(&mut self, customer: CustomerId) -> Result<bool> {
        delivery::customer_opted_out(self.conn, customer).await
    }

    async fn customer_of(&mut self, org: OrgId, customer: CustomerId) -> Result<bool> {
        let found: Option<i64> =
            sqlx::query_scalar("SELECT id FROM customers WHERE id = $1 AND org_id = $2")
                .bind(customer)
                .bind(org)
                .fetch_optional(&mut *self.conn)
                .await?;
        Ok(found.is_some())
    }

    async fn programme_of(&mut self, org: OrgId, programme: ProgrammeId) -> Result<bool> {
        let found: Option<i64> =
            sqlx::query_scalar("SELECT id FROM programmes WHERE id = $1 AND org_id = $2")
                .bind(programme)
                .bind(org)
                .fetch_optional(&mut *self.conn)
                .await?;
        Ok(found.is_some())
    }

    async fn module_uuid(&mut self, version: ModuleVersionId) -> Result<Option<Uuid>> {
        Ok(
            sqlx::query_scalar("SELECT module_uuid FROM module_versions WHERE id = $1")
                .bind(version)
                .fetch_optional(&mut *self.conn)
                .await?,
        )
    }

    async fn insert_session(&mut self, row: &SessionInsert<'_>) -> Result<Option<SessionId>> {
        let new = row.new;
        // The unique partial index makes a concurrent enrolment wait for
        // ours and then do nothing.
        let id: Option<i64> = sqlx::query_scalar(
            "WITH created AS (INSERT INTO sessions (uuid, org_id, customer_id, programme_id, module_version_id, \
             module_uuid, status, state, state_format, turns, created_at, last_activity, wake_at, step, language) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, $10, NULL, $11, $12, $13) \
             ON CONFLICT (customer_id, programme_id, module_uuid) WHERE status IN ('Pending', 'InProgress') \
             DO NOTHING RETURNING id), \
             first_step AS (INSERT INTO session_steps (session_id, step, reached_at) \
             SELECT id, $12, $10 FROM created WHERE $12::text IS NOT NULL) \
             SELECT id FROM created",
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
        .fetch_optional(&mut *self.conn)
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
        .fetch_optional(&mut *self.conn)
        .await?;
        Ok(id)
    }

    async fn load_session(&mut self, id: SessionId) -> Result<Option<Session>> {
        load_session(self.conn, id, false).await
    }

    async fn queue_outbox(&mut self, session: SessionId, rows: &[QueuedRow<'_>]) -> Result<()> {
        let query = sqlx::query(sqlx::AssertSqlSafe(&**QUEUE_ENROLMENT))
            .bind(count_rows(rows))
            .bind(session.0);
        delivery::bind_queued(query, rows)
            .execute(&mut *self.conn)
            .await?;
        Ok(())
    }
}
