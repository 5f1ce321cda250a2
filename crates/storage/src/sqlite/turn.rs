//! SQLite statements of turns, enrolments and wake-up claims. They run on
//! the writer connection, which holds the database write lock (`BEGIN
//! IMMEDIATE`): that is the session's lock.

use chrono::{DateTime, Utc};
use sqlx::sqlite::SqliteArguments;
use sqlx::types::uuid::fmt::Hyphenated;
use sqlx::{Arguments, Row, Sqlite, SqliteConnection};
use uuid::Uuid;

use super::delivery::{self, REACH_COLS};
use super::rows::{MESSAGE_COLS, SESSION_COLS, message_from, session_from, us};
use crate::model::*;
use crate::turn::{
    EnrolTx, NewMessage, QueuedEvent, QueuedRow, Reach, SessionInsert, TurnTx, count_rows,
};
use crate::{Result, StoreError};

/// The writer connection, inside a batch, with the batch's writes held
/// back in [`Pending`].
///
/// Every statement sqlx runs is a hand-off to its SQLite worker thread and
/// back. A turn's writes do not depend on each other's results (message ids
/// are handed out here, under the write lock, from `sqlite_sequence`), so
/// they are not sent when they are made: they wait in the writer's
/// [`Pending`] and go with the next statement that must be answered, which
/// is the next turn's read of its session or the batch's `COMMIT`. A kept
/// turn therefore costs one round trip to SQLite's thread, its read, and
/// the batch's `BEGIN` and `COMMIT` travel with the first read and the last
/// writes. Every read sends what is pending first, in the same query, so a
/// read always sees the batch's own writes.
pub(super) struct SqliteTx<'c> {
    conn: &'c mut SqliteConnection,
    /// The next message id, once read (the writer holds the write lock:
    /// nobody else inserts messages until the transaction ends).
    next_message: &'c mut Option<i64>,
    pending: &'c mut Pending,
    /// How the customer of the session read by `open_turn` is reached.
    reach: Option<(CustomerId, Option<Reach>)>,
    /// Sending held-back writes failed: the batch is broken, whatever the
    /// turn's own result says.
    broken: bool,
}

/// Statements of the open batch not yet sent, and their arguments in order.
#[derive(Default)]
pub(super) struct Pending {
    sql: String,
    args: SqliteArguments,
}

impl Pending {
    pub(super) fn push(&mut self, sql: &str) -> &mut Self {
        self.sql.push_str(sql);
        self
    }

    fn bind<'t, T: sqlx::Encode<'t, Sqlite> + sqlx::Type<Sqlite>>(
        &mut self,
        value: T,
    ) -> Result<&mut Self> {
        self.args
            .add(value)
            .map_err(|e| StoreError::Database(sqlx::Error::Encode(e)))?;
        Ok(self)
    }

    /// The statements and their arguments, leaving nothing pending.
    pub(super) fn take(&mut self) -> (String, SqliteArguments) {
        let Pending { sql, args } = std::mem::take(self);
        (sql, args)
    }
}

impl<'c> SqliteTx<'c> {
    /// `next_message` is the batch's message-id counter (`None` until it is
    /// read from the database); `pending` its held-back writes.
    pub(super) fn new(
        conn: &'c mut SqliteConnection,
        next_message: &'c mut Option<i64>,
        pending: &'c mut Pending,
    ) -> Self {
        SqliteTx {
            conn,
            next_message,
            pending,
            reach: None,
            broken: false,
        }
    }

    /// Whether sending held-back writes (this turn's or earlier turns' of
    /// the batch) failed.
    pub(super) fn broken(&self) -> bool {
        self.broken
    }

    /// Send the held-back writes, if any.
    pub(super) async fn flush(&mut self) -> Result<()> {
        self.read().await.map(drop)
    }

    /// The connection for a read: after the held-back writes.
    async fn read(&mut self) -> Result<&mut SqliteConnection> {
        if !self.pending.sql.is_empty() {
            let (sql, args) = self.pending.take();
            self.broken = true;
            sqlx::query_with(sqlx::AssertSqlSafe(sql), args)
                .execute(&mut *self.conn)
                .await?;
            self.broken = false;
        }
        Ok(self.conn)
    }

    /// Records that the session rests on `step` from `at` (unless it did
    /// before).
    fn reach_step(&mut self, session: SessionId, step: &str, at: DateTime<Utc>) -> Result<()> {
        self.pending
            .push(
                "INSERT INTO session_steps (session_id, step, reached_at) VALUES (?, ?, ?) \
                 ON CONFLICT (session_id, step) DO NOTHING;",
            )
            .bind(session)?
            .bind(step.to_owned())?
            .bind(us(at))?;
        Ok(())
    }

    /// Outbox rows of messages, held back with the turn's other writes.
    fn push_outbox(&mut self, rows: &[QueuedRow<'_>]) -> Result<()> {
        for q in rows {
            self.pending
                .push(delivery::QUEUE_OUTBOX)
                .bind(q.org.0)?
                .bind(q.channel.0)?
                .bind(q.recipient.to_owned())?
                .bind(q.message.id.0)?
                .bind(q.message.session.0)?
                .bind(q.purpose)?
                .bind(q.idempotency_key.clone())?
                .bind(us(q.at))?
                .bind(us(q.at))?
                .bind(q.channel.0)?
                .bind(q.recipient.to_owned())?;
        }
        Ok(())
    }

    async fn next_message_id(&mut self) -> Result<i64> {
        let id = match *self.next_message {
            Some(id) => id,
            None => {
                // AUTOINCREMENT: never an id used before, even a deleted one.
                let seq: i64 = sqlx::query_scalar(MESSAGE_SEQ)
                    .fetch_one(self.read().await?)
                    .await?;
                seq + 1
            }
        };
        *self.next_message = Some(id + 1);
        Ok(id)
    }
}

/// The last message id handed out (0 if none).
const MESSAGE_SEQ: &str =
    "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'messages'), 0)";

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
        load_session(self.read().await?, id).await
    }

    async fn open_turn(
        &mut self,
        id: SessionId,
        external_id: Option<&str>,
    ) -> Result<Option<(Session, Option<i64>)>> {
        // The write lock is held already: one plain read, sent with the
        // batch's held-back writes.
        let select = format!(
            "SELECT {SESSION_COLS}, \
             (SELECT m.turn FROM messages m WHERE m.session_id = s.id AND m.external_id = ?) AS replay_turn, \
             ({MESSAGE_SEQ}) AS message_seq, \
             {REACH_COLS} \
             FROM sessions s JOIN customers c ON c.id = s.customer_id WHERE s.id = ?;"
        );
        // Until it answers, the held-back writes' fate is unknown.
        self.broken = true;
        self.pending
            .push(&select)
            .bind(external_id.map(str::to_owned))?
            .bind(id)?;
        let (sql, args) = self.pending.take();
        let row = sqlx::query_with(sqlx::AssertSqlSafe(sql), args)
            .fetch_optional(&mut *self.conn)
            .await?;
        self.broken = false;
        let Some(row) = row else {
            return Ok(None);
        };
        let session = session_from(&row)?;
        if self.next_message.is_none() {
            let seq: i64 = row.try_get("message_seq")?;
            *self.next_message = Some(seq + 1);
        }
        self.reach = Some((session.customer, delivery::reach_from(&row)?));
        Ok(Some((session, row.try_get("replay_turn")?)))
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
            .fetch_optional(self.read().await?)
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
            .fetch_all(self.read().await?)
            .await?;
        rows.iter().map(message_from).collect()
    }

    async fn insert_messages(&mut self, messages: &[NewMessage<'_>]) -> Result<Vec<MessageId>> {
        let mut ids = Vec::with_capacity(messages.len());
        for m in messages {
            let id = self.next_message_id().await?;
            self.pending
                .push(
                    "INSERT INTO messages (id, session_id, customer_id, direction, text, created_at, external_id, turn) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?);",
                )
                .bind(id)?
                .bind(m.session.id)?
                .bind(m.session.customer)?
                .bind(m.direction.as_str())?
                .bind(m.text.to_owned())?
                .bind(us(m.at))?
                .bind(m.external_id.map(str::to_owned))?
                .bind(m.turn)?;
            ids.push(MessageId(id));
        }
        Ok(ids)
    }

    async fn insert_answers(
        &mut self,
        session: SessionId,
        answers: &[NewQuizAnswer],
        at: DateTime<Utc>,
    ) -> Result<()> {
        for answer in answers {
            self.pending
                .push(
                    "INSERT INTO quiz_answers (session_id, quiz, question_id, question, answer, correct, attempt, \
                     matched_by, created_at, choice) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?);",
                )
                .bind(session)?
                .bind(answer.quiz.as_str())?
                .bind(answer.question_id.clone())?
                .bind(answer.question.clone())?
                .bind(answer.answer.clone())?
                .bind(answer.correct)?
                .bind(answer.attempt)?
                .bind(answer.matched_by.clone())?
                .bind(us(at))?
                .bind(answer.choice)?;
        }
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
        self.push_outbox(queued)?;
        if let Some(step) = reached {
            self.reach_step(s.id, step, at)?;
        }
        let (step, language) = match &s.position {
            Some(p) => (Some(p.step.clone()), Some(p.language.clone())),
            None => (None, None),
        };
        self.pending
            .push(
                "UPDATE sessions SET state = ?, state_format = ?, status = ?, turns = ?, wake_at = ?, \
                 last_activity = ?, claimed_until = NULL, pre_correct = ?, pre_answered = ?, \
                 post_correct = ?, post_answered = ?, step = ?, language = ?, \
                 outbox_queued = outbox_queued + ?, \
                 ended_at = CASE WHEN ? IN ('Pending', 'InProgress') THEN NULL \
                 ELSE COALESCE(ended_at, ?) END WHERE id = ?;",
            )
            .bind(s.state.clone())?
            .bind(s.state_format)?
            .bind(s.status.as_str())?
            .bind(s.turns)?
            .bind(s.wake_at.map(us))?
            .bind(s.last_activity.map(us))?
            .bind(progress.pre_correct)?
            .bind(progress.pre_answered)?
            .bind(progress.post_correct)?
            .bind(progress.post_answered)?
            .bind(step)?
            .bind(language)?
            .bind(count_rows(queued))?
            // The new status (in SET, `status` would read the old one).
            .bind(s.status.as_str())?
            .bind(us(at))?
            .bind(s.id)?;
        Ok(())
    }

    async fn reach(&mut self, session: &Session) -> Result<Option<Reach>> {
        match self.reach.take() {
            // Read with the session, under this transaction's write lock.
            Some((customer, reach)) if customer == session.customer => Ok(reach),
            _ => delivery::reach(self.read().await?, session.customer).await,
        }
    }

    async fn subscribers(&mut self, org: OrgId, event: &str) -> Result<Vec<ChannelId>> {
        delivery::subscribers(self.read().await?, org, event).await
    }

    async fn quiz_totals(&mut self, version: ModuleVersionId) -> Result<(i32, i32)> {
        delivery::quiz_totals(self.read().await?, version).await
    }

    async fn queue_event(&mut self, q: &QueuedEvent) -> Result<()> {
        self.pending
            .push(delivery::QUEUE_EVENT)
            .bind(q.org.0)?
            .bind(q.channel.0)?
            .bind(q.recipient.clone())?
            .bind(q.session.0)?
            .bind(q.payload.clone())?
            .bind(q.idempotency_key.clone())?
            .bind(us(q.at))?
            .bind(us(q.at))?
            .bind(q.channel.0)?
            .bind(q.recipient.clone())?;
        Ok(())
    }

    async fn opt_out(
        &mut self,
        org: OrgId,
        phone: &str,
        message: Option<MessageId>,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let message = message.map(|m| m.0);
        self.pending
            .push(delivery::OPT_OUT)
            .bind(org.0)?
            .bind(phone.to_owned())?
            .bind(us(at))?
            .bind(message)?
            .push(delivery::OPTED_OUT_EVENT)
            .bind(org.0)?
            .bind(phone.to_owned())?
            .bind(message)?
            .bind(us(at))?;
        Ok(())
    }
}

impl EnrolTx for SqliteTx<'_> {
    async fn customer_opted_out(&mut self, customer: CustomerId) -> Result<bool> {
        delivery::customer_opted_out(self.read().await?, customer).await
    }

    async fn customer_of(&mut self, org: OrgId, customer: CustomerId) -> Result<bool> {
        let found: Option<i64> =
            sqlx::query_scalar("SELECT id FROM customers WHERE id = ? AND org_id = ?")
                .bind(customer)
                .bind(org)
                .fetch_optional(self.read().await?)
                .await?;
        Ok(found.is_some())
    }

    async fn programme_of(&mut self, org: OrgId, programme: ProgrammeId) -> Result<bool> {
        let found: Option<i64> =
            sqlx::query_scalar("SELECT id FROM programmes WHERE id = ? AND org_id = ?")
                .bind(programme)
                .bind(org)
                .fetch_optional(self.read().await?)
                .await?;
        Ok(found.is_some())
    }

    async fn module_uuid(&mut self, version: ModuleVersionId) -> Result<Option<Uuid>> {
        let found: Option<Hyphenated> =
            sqlx::query_scalar("SELECT module_uuid FROM module_versions WHERE id = ?")
                .bind(version)
                .fetch_optional(self.read().await?)
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
             state, state_format, turns, created_at, last_activity, wake_at, step, language) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, NULL, ?, ?, ?) RETURNING id",
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
        .bind(new.position.as_ref().map(|p| &p.step))
        .bind(new.position.as_ref().map(|p| &p.language))
        .fetch_one(self.read().await?)
        .await?;
        if let Some(position) = &new.position {
            self.reach_step(SessionId(id), &position.step, row.at)?;
        }
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
        .fetch_optional(self.read().await?)
        .await?;
        Ok(id)
    }

    async fn load_session(&mut self, id: SessionId) -> Result<Option<Session>> {
        load_session(self.read().await?, id).await
    }

    async fn queue_outbox(&mut self, session: SessionId, rows: &[QueuedRow<'_>]) -> Result<()> {
        self.push_outbox(rows)?;
        self.pending
            .push("UPDATE sessions SET outbox_queued = outbox_queued + ? WHERE id = ?;")
            .bind(count_rows(rows))?
            .bind(session)?;
        Ok(())
    }
}
