//! The SQLite store: one file, WAL, one writer connection, group commit.
//!
//! All writes go through one connection ([`writer::Writer`]), in
//! transactions that take the write lock at their start (`BEGIN IMMEDIATE`),
//! so they never fail later with "database is locked"; writers of other
//! processes wait in SQLite's busy handler. Turns of different sessions share
//! transactions (group commit); each caller returns after its turn's commit.
//! Reads use a separate pool and see the last committed state (WAL snapshot).

use std::collections::HashSet;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use futures::StreamExt;
use futures::stream::BoxStream;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::types::Json;
use sqlx::types::uuid::fmt::Hyphenated;
use sqlx::{ConnectOptions, Connection, Row, SqliteConnection};
use tokio::sync::broadcast;
use uuid::Uuid;

mod writer;
use writer::{TurnEnd, Writer};

use crate::model::*;
use crate::{
    AppliedMigration, Backend, Result, Store, StoreError, StoreOptions, migrations_applied, parse,
    score,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");

/// How long a writer of another process waits for the write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// The SQLite implementation of [`Store`].
#[derive(Clone)]
pub struct SqliteStore {
    writer: Arc<Writer>,
    reader: SqlitePool,
    events: broadcast::Sender<MessageEvent>,
    options: SqliteConnectOptions,
    _temporary: Option<Arc<TemporaryFile>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("file", &self.options.get_filename())
            .finish_non_exhaustive()
    }
}

/// The file behind `sqlite::memory:`, removed with the store.
struct TemporaryFile(PathBuf);

impl Drop for TemporaryFile {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut file = self.0.clone().into_os_string();
            file.push(suffix);
            let _ = std::fs::remove_file(file);
        }
    }
}

fn us(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

fn time(micros: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_micros(micros)
        .ok_or_else(|| StoreError::Corrupt(format!("time {micros} out of range")))
}

fn opt_time(micros: Option<i64>) -> Result<Option<DateTime<Utc>>> {
    micros.map(time).transpose()
}

fn uuid(row: &SqliteRow, column: &str) -> Result<Uuid> {
    Ok(row.try_get::<Hyphenated, _>(column)?.into_uuid())
}

const SESSION_COLS: &str = "s.id, s.uuid, s.org_id, s.customer_id, c.uuid AS customer_uuid, s.programme_id, \
     s.module_version_id, s.module_uuid, s.status, s.state, s.state_format, s.turns, s.created_at, \
     s.last_activity, s.wake_at";

fn session_from(row: &SqliteRow) -> Result<Session> {
    Ok(Session {
        id: SessionId(row.try_get("id")?),
        uuid: uuid(row, "uuid")?,
        org: OrgId(row.try_get("org_id")?),
        customer: CustomerId(row.try_get("customer_id")?),
        customer_uuid: uuid(row, "customer_uuid")?,
        programme: ProgrammeId(row.try_get("programme_id")?),
        module_version: ModuleVersionId(row.try_get("module_version_id")?),
        module_uuid: uuid(row, "module_uuid")?,
        status: parse(row.try_get("status")?)?,
        state: row.try_get("state")?,
        state_format: row.try_get("state_format")?,
        turns: row.try_get("turns")?,
        created_at: time(row.try_get("created_at")?)?,
        last_activity: opt_time(row.try_get("last_activity")?)?,
        wake_at: opt_time(row.try_get("wake_at")?)?,
    })
}

const MESSAGE_COLS: &str = "m.id, m.session_id, s.uuid AS session_uuid, m.customer_id, m.direction, m.text, m.created_at, m.external_id, m.turn";

fn message_from(row: &SqliteRow) -> Result<Message> {
    Ok(Message {
        id: MessageId(row.try_get("id")?),
        session: SessionId(row.try_get("session_id")?),
        session_uuid: uuid(row, "session_uuid")?,
        customer: CustomerId(row.try_get("customer_id")?),
        direction: parse(row.try_get("direction")?)?,
        text: row.try_get("text")?,
        created_at: time(row.try_get("created_at")?)?,
        external_id: row.try_get("external_id")?,
        turn: row.try_get("turn")?,
    })
}

fn org_from(row: &SqliteRow) -> Result<Organisation> {
    Ok(Organisation {
        id: OrgId(row.try_get("id")?),
        name: row.try_get("name")?,
        created_at: time(row.try_get("created_at")?)?,
    })
}

fn key_from(row: &SqliteRow) -> Result<ApiKey> {
    Ok(ApiKey {
        id: ApiKeyId(row.try_get("id")?),
        org: OrgId(row.try_get("org_id")?),
        label: row.try_get("label")?,
        key_hash: row.try_get("key_hash")?,
        created_at: time(row.try_get("created_at")?)?,
        revoked_at: opt_time(row.try_get("revoked_at")?)?,
    })
}

fn programme_from(row: &SqliteRow) -> Result<Programme> {
    Ok(Programme {
        id: ProgrammeId(row.try_get("id")?),
        org: OrgId(row.try_get("org_id")?),
        identifier: row.try_get("identifier")?,
        name: row.try_get("name")?,
        created_at: time(row.try_get("created_at")?)?,
    })
}

fn module_from(row: &SqliteRow) -> Result<ModuleVersion> {
    Ok(ModuleVersion {
        id: ModuleVersionId(row.try_get("id")?),
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
    })
}

fn customer_from(row: &SqliteRow) -> Result<Customer> {
    let date_of_birth: Option<String> = row.try_get("date_of_birth")?;
    Ok(Customer {
        id: CustomerId(row.try_get("id")?),
        uuid: uuid(row, "uuid")?,
        org: OrgId(row.try_get("org_id")?),
        full_name: row.try_get("full_name")?,
        national_id: row.try_get("national_id")?,
        phone: row.try_get("phone")?,
        location: row.try_get("location")?,
        gender: row.try_get("gender")?,
        email: row.try_get("email")?,
        date_of_birth: date_of_birth
            .map(|d| {
                NaiveDate::from_str(&d).map_err(|e| StoreError::Corrupt(format!("date {d:?}: {e}")))
            })
            .transpose()?,
        registered_at: time(row.try_get("registered_at")?)?,
    })
}

const SUMMARY_COLS: &str = "p.identifier AS programme_identifier, p.name AS programme_name, \
     mv.name AS module_name, mv.pre_quiz_total, mv.post_quiz_total, \
     s.pre_correct, s.pre_answered, s.post_correct, s.post_answered";

const SUMMARY_JOINS: &str = "FROM sessions s JOIN customers c ON c.id = s.customer_id \
     JOIN programmes p ON p.id = s.programme_id JOIN module_versions mv ON mv.id = s.module_version_id";

fn summary_from(row: &SqliteRow) -> Result<SessionSummary> {
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

async fn load_session(conn: &mut SqliteConnection, id: SessionId) -> Result<Option<Session>> {
    let sql = format!(
        "SELECT {SESSION_COLS} FROM sessions s JOIN customers c ON c.id = s.customer_id WHERE s.id = ?"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.0)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(session_from).transpose()
}

/// Messages of one turn of a session, in id order.
async fn turn_messages(
    conn: &mut SqliteConnection,
    session: SessionId,
    turn: i64,
) -> Result<Vec<Message>> {
    let sql = format!(
        "SELECT {MESSAGE_COLS} FROM messages m JOIN sessions s ON s.id = m.session_id \
         WHERE m.session_id = ? AND m.turn = ? ORDER BY m.id"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(session.0)
        .bind(turn)
        .fetch_all(conn)
        .await?;
    rows.iter().map(message_from).collect()
}

/// A previously stored inbound message with this external id, and its turn.
async fn replay(
    conn: &mut SqliteConnection,
    session: SessionId,
    external_id: &str,
) -> Result<Option<Vec<Message>>> {
    let turn: Option<i64> =
        sqlx::query_scalar("SELECT turn FROM messages WHERE session_id = ? AND external_id = ?")
            .bind(session.0)
            .bind(external_id)
            .fetch_optional(&mut *conn)
            .await?;
    match turn {
        Some(turn) => Ok(Some(turn_messages(conn, session, turn).await?)),
        None => Ok(None),
    }
}

#[allow(clippy::too_many_arguments)]
async fn insert_message(
    conn: &mut SqliteConnection,
    session: &Session,
    direction: Direction,
    text: &str,
    at: DateTime<Utc>,
    external_id: Option<&str>,
    turn: i64,
) -> Result<Message> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO messages (session_id, customer_id, direction, text, created_at, external_id, turn) \
         VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(session.id.0)
    .bind(session.customer.0)
    .bind(direction.as_str())
    .bind(text)
    .bind(us(at))
    .bind(external_id)
    .bind(turn)
    .fetch_one(conn)
    .await?;
    Ok(Message {
        id: MessageId(id),
        session: session.id,
        session_uuid: session.uuid,
        customer: session.customer,
        direction,
        text: text.to_owned(),
        created_at: at,
        external_id: external_id.map(str::to_owned),
        turn,
    })
}

impl SqliteStore {
    /// Open (creating the file if needed) and migrate unless told not to.
    /// `sqlite::memory:` opens a private temporary file, removed when the
    /// last clone of the store is dropped (an in-memory SQLite database
    /// cannot be shared by the writer and the readers).
    pub async fn connect(options: &StoreOptions) -> Result<Self> {
        let url = &options.url;
        let memory = url.contains(":memory:") || url.contains("mode=memory");
        let (connect, temporary) = if memory {
            let path = std::env::temp_dir().join(format!(
                "chatcourse-memory-{}-{}.db",
                std::process::id(),
                Uuid::new_v4().simple()
            ));
            let options = SqliteConnectOptions::new().filename(&path);
            (options, Some(Arc::new(TemporaryFile(path))))
        } else {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(|_| StoreError::BadUrl(crate::redact(url)))?;
            (options, None)
        };
        let connect = connect
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // Every commit is fsynced: a turn reported stored survives power
            // loss. Group commit pays one fsync for many turns.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let conn = connect
            .connect()
            .await
            .map_err(|source| StoreError::Connect {
                url: crate::redact(url),
                source,
            })?;
        let (events, _) = broadcast::channel(4096);
        let writer = Writer::new(conn, events.clone());
        let reader = SqlitePoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .connect_with(connect.clone().read_only(true))
            .await?;
        let store = SqliteStore {
            writer,
            reader,
            events,
            options: connect,
            _temporary: temporary,
        };
        if options.migrate {
            store.migrate().await?;
        }
        Ok(store)
    }

    /// The options of the store's connections (benchmarks and tools open
    /// their own with the same settings).
    pub fn connect_options(&self) -> &SqliteConnectOptions {
        &self.options
    }

    async fn summary_where(
        &self,
        condition: &str,
        org: OrgId,
        key: SqliteKey,
    ) -> Result<Vec<SessionSummary>> {
        let sql = format!(
            "SELECT {SESSION_COLS}, {SUMMARY_COLS} {SUMMARY_JOINS} WHERE s.org_id = ? AND {condition} \
             ORDER BY s.created_at DESC, s.id DESC"
        );
        let query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(org.0);
        let query = match key {
            SqliteKey::Id(id) => query.bind(id),
            SqliteKey::Uuid(u) => query.bind(u.hyphenated()),
        };
        let rows = query.fetch_all(&self.reader).await?;
        rows.iter().map(summary_from).collect()
    }

    async fn try_apply_turn(
        &self,
        session: SessionId,
        inbound: &Inbound,
        decide: &mut Decide<'_>,
    ) -> Result<TurnOutcome> {
        let mut writer = self.writer.begin_turn().await?;
        let result = turn(&mut writer.conn, session, inbound, decide).await;
        let end = match &result {
            Ok((_, event)) => TurnEnd::Kept(event.clone()),
            // Both happen before the turn writes anything.
            Err(StoreError::Rejected(_) | StoreError::NotFound(_)) => TurnEnd::NothingWritten,
            Err(e) => TurnEnd::Failed(e.to_string()),
        };
        let ticket = self.writer.end_turn(writer, end).await?;
        let (outcome, _) = result?;
        if let Some(ticket) = ticket {
            ticket.committed().await?;
        }
        Ok(outcome)
    }
}

/// The event announcing new messages of a session.
fn event(session: &Session, ids: Vec<MessageId>) -> Option<MessageEvent> {
    (!ids.is_empty()).then_some(MessageEvent::Committed {
        org: session.org,
        session: session.id,
        session_uuid: session.uuid,
        ids,
    })
}

/// One turn's reads and writes, inside its savepoint of the writer's batch.
async fn turn(
    conn: &mut SqliteConnection,
    session: SessionId,
    inbound: &Inbound,
    decide: &mut Decide<'_>,
) -> Result<(TurnOutcome, Option<MessageEvent>)> {
    let at = to_micros(inbound.at);
    let current = load_session(conn, session)
        .await?
        .ok_or(StoreError::NotFound("session"))?;
    let external_id = inbound
        .message
        .as_ref()
        .and_then(|m| m.external_id.as_deref());
    if let Some(external_id) = external_id
        && let Some(messages) = replay(conn, session, external_id).await?
    {
        return Ok((TurnOutcome::replayed(current, messages), None));
    }
    let plan = decide(&current)?;
    let turn = current.turns + 1;
    let received = match &inbound.message {
        Some(m) => Some(
            insert_message(
                conn,
                &current,
                Direction::Received,
                &m.text,
                at,
                external_id,
                turn,
            )
            .await?,
        ),
        None => None,
    };
    let mut sent = Vec::with_capacity(plan.replies.len());
    for reply in &plan.replies {
        sent.push(insert_message(conn, &current, Direction::Sent, reply, at, None, turn).await?);
    }
    for answer in &plan.answers {
        sqlx::query(
            "INSERT INTO quiz_answers (session_id, quiz, question_id, question, answer, correct, attempt, \
             matched_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(session.0)
        .bind(answer.quiz.as_str())
        .bind(&answer.question_id)
        .bind(&answer.question)
        .bind(&answer.answer)
        .bind(answer.correct)
        .bind(answer.attempt)
        .bind(&answer.matched_by)
        .bind(us(at))
        .execute(&mut *conn)
        .await?;
    }
    let wake_at = plan.wake_at.map(to_micros);
    let last_activity = plan.last_activity.map(to_micros).or(current.last_activity);
    sqlx::query(
        "UPDATE sessions SET state = ?, state_format = ?, status = ?, turns = ?, wake_at = ?, \
         last_activity = ?, claimed_until = NULL, pre_correct = ?, pre_answered = ?, \
         post_correct = ?, post_answered = ? WHERE id = ?",
    )
    .bind(&plan.state)
    .bind(plan.state_format)
    .bind(plan.status.as_str())
    .bind(turn)
    .bind(wake_at.map(us))
    .bind(last_activity.map(us))
    .bind(plan.progress.pre_correct)
    .bind(plan.progress.pre_answered)
    .bind(plan.progress.post_correct)
    .bind(plan.progress.post_answered)
    .bind(session.0)
    .execute(&mut *conn)
    .await?;
    let session = Session {
        status: plan.status,
        state: plan.state,
        state_format: plan.state_format,
        turns: turn,
        last_activity,
        wake_at,
        ..current
    };
    let event = event(
        &session,
        received.iter().chain(&sent).map(|m| m.id).collect(),
    );
    let outcome = TurnOutcome {
        session,
        received,
        sent,
        replayed: false,
    };
    Ok((outcome, event))
}

enum SqliteKey {
    Id(i64),
    Uuid(Uuid),
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    async fn migrate(&self) -> Result<Vec<AppliedMigration>> {
        // The migrator needs a pool; hold the writer so no batch is open.
        let _writer = self.writer.exclusive().await;
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(self.options.clone())
            .await?;
        let exists: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        )
        .fetch_one(&pool)
        .await?;
        let before: HashSet<i64> = if exists > 0 {
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                .fetch_all(&pool)
                .await?
                .into_iter()
                .collect()
        } else {
            HashSet::new()
        };
        MIGRATOR.run(&pool).await?;
        pool.close().await;
        Ok(migrations_applied(&before, &MIGRATOR))
    }

    async fn create_org_if_missing(&self, name: &str, at: DateTime<Utc>) -> Result<Organisation> {
        let mut writer = self.writer.exclusive().await;
        let mut tx = writer.conn.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query("INSERT INTO organisations (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING")
            .bind(name)
            .bind(us(at))
            .execute(&mut *tx)
            .await?;
        let row = sqlx::query("SELECT id, name, created_at FROM organisations WHERE name = ?")
            .bind(name)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        org_from(&row)
    }

    async fn find_org(&self, name: &str) -> Result<Option<Organisation>> {
        let row = sqlx::query("SELECT id, name, created_at FROM organisations WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(org_from).transpose()
    }

    async fn add_api_key(
        &self,
        org: OrgId,
        key_hash: &str,
        label: &str,
        at: DateTime<Utc>,
    ) -> Result<ApiKey> {
        let mut writer = self.writer.exclusive().await;
        let row = sqlx::query(
            "INSERT INTO api_keys (org_id, label, key_hash, created_at) VALUES (?, ?, ?, ?) \
             RETURNING id, org_id, label, key_hash, created_at, revoked_at",
        )
        .bind(org.0)
        .bind(label)
        .bind(key_hash)
        .bind(us(at))
        .fetch_one(&mut writer.conn)
        .await?;
        key_from(&row)
    }

    async fn find_org_by_key_hash(&self, key_hash: &str) -> Result<Option<Organisation>> {
        let row = sqlx::query(
            "SELECT o.id, o.name, o.created_at FROM api_keys k JOIN organisations o ON o.id = k.org_id \
             WHERE k.key_hash = ? AND k.revoked_at IS NULL",
        )
        .bind(key_hash)
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref().map(org_from).transpose()
    }

    async fn list_keys(&self, org: OrgId) -> Result<Vec<ApiKey>> {
        let rows = sqlx::query(
            "SELECT id, org_id, label, key_hash, created_at, revoked_at FROM api_keys WHERE org_id = ? ORDER BY id",
        )
        .bind(org.0)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(key_from).collect()
    }

    async fn revoke_key(&self, org: OrgId, key: ApiKeyId, at: DateTime<Utc>) -> Result<bool> {
        let mut writer = self.writer.exclusive().await;
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND org_id = ? AND revoked_at IS NULL",
        )
        .bind(us(at))
        .bind(key.0)
        .bind(org.0)
        .execute(&mut writer.conn)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn ensure_programme(
        &self,
        org: OrgId,
        identifier: i64,
        at: DateTime<Utc>,
    ) -> Result<Programme> {
        let mut writer = self.writer.exclusive().await;
        let mut tx = writer.conn.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query(
            "INSERT INTO programmes (org_id, identifier, name, created_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT (org_id, identifier) DO NOTHING",
        )
        .bind(org.0)
        .bind(identifier)
        .bind(format!("Programme {identifier}"))
        .bind(us(at))
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query(
            "SELECT id, org_id, identifier, name, created_at FROM programmes WHERE org_id = ? AND identifier = ?",
        )
        .bind(org.0)
        .bind(identifier)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        programme_from(&row)
    }

    async fn get_programme(&self, org: OrgId, identifier: i64) -> Result<Option<Programme>> {
        let row = sqlx::query(
            "SELECT id, org_id, identifier, name, created_at FROM programmes WHERE org_id = ? AND identifier = ?",
        )
        .bind(org.0)
        .bind(identifier)
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref().map(programme_from).transpose()
    }

    async fn rename_programme(&self, org: OrgId, identifier: i64, name: &str) -> Result<bool> {
        let mut writer = self.writer.exclusive().await;
        let done =
            sqlx::query("UPDATE programmes SET name = ? WHERE org_id = ? AND identifier = ?")
                .bind(name)
                .bind(org.0)
                .bind(identifier)
                .execute(&mut writer.conn)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn register_module_version(&self, m: &NewModuleVersion) -> Result<ModuleVersion> {
        let mut writer = self.writer.exclusive().await;
        let mut tx = writer.conn.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query(
            "INSERT INTO module_versions (module_id, module_uuid, name, goal, content_hash, source, languages, \
             pre_quiz_total, post_quiz_total, registered_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (module_id, content_hash) DO NOTHING",
        )
        .bind(&m.module_id)
        .bind(m.module_uuid.hyphenated())
        .bind(&m.name)
        .bind(&m.goal)
        .bind(&m.content_hash)
        .bind(&m.source)
        .bind(Json(&m.languages))
        .bind(m.pre_quiz_total)
        .bind(m.post_quiz_total)
        .bind(us(m.registered_at))
        .execute(&mut *tx)
        .await?;
        let row =
            sqlx::query("SELECT * FROM module_versions WHERE module_id = ? AND content_hash = ?")
                .bind(&m.module_id)
                .bind(&m.content_hash)
                .fetch_one(&mut *tx)
                .await?;
        tx.commit().await?;
        module_from(&row)
    }

    async fn get_module_version(&self, id: ModuleVersionId) -> Result<Option<ModuleVersion>> {
        let row = sqlx::query("SELECT * FROM module_versions WHERE id = ?")
            .bind(id.0)
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(module_from).transpose()
    }

    async fn find_module(&self, module_uuid: Uuid) -> Result<Option<ModuleVersion>> {
        let row = sqlx::query(
            "SELECT * FROM module_versions WHERE module_uuid = ? ORDER BY id DESC LIMIT 1",
        )
        .bind(module_uuid.hyphenated())
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref().map(module_from).transpose()
    }

    async fn list_modules(&self) -> Result<Vec<ModuleVersion>> {
        let rows = sqlx::query(
            "SELECT * FROM module_versions mv WHERE mv.id = \
             (SELECT MAX(l.id) FROM module_versions l WHERE l.module_uuid = mv.module_uuid) ORDER BY mv.name, mv.id",
        )
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(module_from).collect()
    }

    async fn register_customer(&self, org: OrgId, c: &NewCustomer) -> Result<Customer> {
        let mut writer = self.writer.exclusive().await;
        let row = sqlx::query(
            "INSERT INTO customers (uuid, org_id, full_name, national_id, phone, location, gender, email, \
             date_of_birth, registered_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
        )
        .bind(Uuid::new_v4().hyphenated())
        .bind(org.0)
        .bind(&c.full_name)
        .bind(&c.national_id)
        .bind(&c.phone)
        .bind(&c.location)
        .bind(&c.gender)
        .bind(&c.email)
        .bind(c.date_of_birth.map(|d| d.to_string()))
        .bind(us(c.registered_at))
        .fetch_one(&mut writer.conn)
        .await?;
        customer_from(&row)
    }

    async fn get_customer(&self, org: OrgId, uuid: Uuid) -> Result<Option<Customer>> {
        let row = sqlx::query("SELECT * FROM customers WHERE uuid = ? AND org_id = ?")
            .bind(uuid.hyphenated())
            .bind(org.0)
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(customer_from).transpose()
    }

    async fn create_session(&self, org: OrgId, new: &NewSession) -> Result<CreatedSession> {
        let at = to_micros(new.at);
        let mut writer = self.writer.exclusive().await;
        let mut tx = writer.conn.begin_with("BEGIN IMMEDIATE").await?;
        let customer_ok: Option<i64> =
            sqlx::query_scalar("SELECT id FROM customers WHERE id = ? AND org_id = ?")
                .bind(new.customer.0)
                .bind(org.0)
                .fetch_optional(&mut *tx)
                .await?;
        customer_ok.ok_or(StoreError::NotFound("customer"))?;
        let programme_ok: Option<i64> =
            sqlx::query_scalar("SELECT id FROM programmes WHERE id = ? AND org_id = ?")
                .bind(new.programme.0)
                .bind(org.0)
                .fetch_optional(&mut *tx)
                .await?;
        programme_ok.ok_or(StoreError::NotFound("programme"))?;
        let module_uuid: Hyphenated =
            sqlx::query_scalar("SELECT module_uuid FROM module_versions WHERE id = ?")
                .bind(new.module_version.0)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(StoreError::NotFound("module version"))?;
        // Under the write lock (BEGIN IMMEDIATE) this check and the insert are atomic;
        // the unique partial index sessions_one_live backs it up.
        let existing: Option<i64> = sqlx::query_scalar(
            "SELECT s.id FROM sessions s WHERE s.customer_id = ? AND s.programme_id = ? AND s.module_uuid = ? \
             AND s.status IN ('Pending', 'InProgress')",
        )
            .bind(new.customer.0)
            .bind(new.programme.0)
            .bind(module_uuid)
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(id) = existing {
            let session = load_session(&mut tx, SessionId(id))
                .await?
                .ok_or(StoreError::NotFound("session"))?;
            let messages = turn_messages(&mut tx, session.id, 0).await?;
            tx.rollback().await?;
            return Ok(CreatedSession {
                session,
                messages,
                existing: true,
            });
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO sessions (uuid, org_id, customer_id, programme_id, module_version_id, module_uuid, status, \
             state, state_format, turns, created_at, last_activity, wake_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, NULL, ?) RETURNING id",
        )
        .bind(Uuid::new_v4().hyphenated())
        .bind(org.0)
        .bind(new.customer.0)
        .bind(new.programme.0)
        .bind(new.module_version.0)
        .bind(module_uuid)
        .bind(new.status.as_str())
        .bind(&new.state)
        .bind(new.state_format)
        .bind(us(at))
        .bind(new.wake_at.map(to_micros).map(us))
        .fetch_one(&mut *tx)
        .await?;
        let session = load_session(&mut tx, SessionId(id))
            .await?
            .ok_or(StoreError::NotFound("session"))?;
        let mut messages = Vec::with_capacity(new.messages.len());
        for text in &new.messages {
            messages
                .push(insert_message(&mut tx, &session, Direction::Sent, text, at, None, 0).await?);
        }
        tx.commit().await?;
        if let Some(event) = event(&session, messages.iter().map(|m| m.id).collect()) {
            // No receivers is fine: nobody listens.
            let _ = self.events.send(event);
        }
        Ok(CreatedSession {
            session,
            messages,
            existing: false,
        })
    }

    async fn get_session(&self, org: OrgId, uuid: Uuid) -> Result<Option<Session>> {
        let sql = format!(
            "SELECT {SESSION_COLS} FROM sessions s JOIN customers c ON c.id = s.customer_id \
             WHERE s.uuid = ? AND s.org_id = ?"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(uuid.hyphenated())
            .bind(org.0)
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(session_from).transpose()
    }

    async fn create_session_token(
        &self,
        org: OrgId,
        session: SessionId,
        token_hash: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        let mut writer = self.writer.exclusive().await;
        let done = sqlx::query(
            "INSERT INTO session_tokens (session_id, token_hash, expires_at) \
             SELECT id, ?, ? FROM sessions WHERE id = ? AND org_id = ?",
        )
        .bind(token_hash)
        .bind(us(expires_at))
        .bind(session.0)
        .bind(org.0)
        .execute(&mut writer.conn)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("session"));
        }
        Ok(())
    }

    async fn find_session_by_token(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Session>> {
        let sql = format!(
            "SELECT {SESSION_COLS} FROM session_tokens t JOIN sessions s ON s.id = t.session_id \
             JOIN customers c ON c.id = s.customer_id WHERE t.token_hash = ? AND t.expires_at > ?"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(token_hash)
            .bind(us(now))
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(session_from).transpose()
    }

    async fn apply_turn(
        &self,
        session: SessionId,
        inbound: Inbound,
        decide: &mut Decide<'_>,
    ) -> Result<TurnOutcome> {
        match self.try_apply_turn(session, &inbound, decide).await {
            // Only reachable if another process stored the same external id
            // between our check and insert, which the write lock prevents;
            // the retry then replays it.
            Err(e) if e.is_unique_violation() => {
                self.try_apply_turn(session, &inbound, decide).await
            }
            other => other,
        }
    }

    async fn claim_due_wakeups(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<Session>> {
        let until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX);
        let mut writer = self.writer.exclusive().await;
        let mut tx = writer.conn.begin_with("BEGIN IMMEDIATE").await?;
        let ids: Vec<i64> = sqlx::query_scalar(
            "UPDATE sessions SET claimed_until = ? WHERE id IN (SELECT id FROM sessions \
             WHERE wake_at IS NOT NULL AND wake_at <= ? AND status IN ('Pending', 'InProgress') \
             AND (claimed_until IS NULL OR claimed_until <= ?) ORDER BY wake_at LIMIT ?) RETURNING id",
        )
        .bind(us(until))
        .bind(us(now))
        .bind(us(now))
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        let mut sessions = Vec::with_capacity(ids.len());
        for id in ids {
            sessions.extend(load_session(&mut tx, SessionId(id)).await?);
        }
        tx.commit().await?;
        sessions.sort_by_key(|s| (s.wake_at, s.id));
        Ok(sessions)
    }

    async fn messages(
        &self,
        org: OrgId,
        session: SessionId,
        after: Option<MessageId>,
        limit: u32,
    ) -> Result<Vec<Message>> {
        let sql = format!(
            "SELECT {MESSAGE_COLS} FROM messages m JOIN sessions s ON s.id = m.session_id \
             WHERE m.session_id = ? AND s.org_id = ? AND m.id > ? ORDER BY m.id LIMIT ?"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(session.0)
            .bind(org.0)
            .bind(after.map_or(0, |a| a.0))
            .bind(i64::from(limit))
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(message_from).collect()
    }

    async fn customer_sessions(
        &self,
        org: OrgId,
        customer: CustomerId,
    ) -> Result<Vec<SessionSummary>> {
        self.summary_where("s.customer_id = ?", org, SqliteKey::Id(customer.0))
            .await
    }

    async fn session_detail(&self, org: OrgId, session: Uuid) -> Result<Option<SessionDetail>> {
        let Some(summary) = self
            .summary_where("s.uuid = ?", org, SqliteKey::Uuid(session))
            .await?
            .pop()
        else {
            return Ok(None);
        };
        let rows = sqlx::query(
            "SELECT quiz, question_id, question, answer, correct, attempt, matched_by, created_at \
             FROM quiz_answers WHERE session_id = ? ORDER BY id",
        )
        .bind(summary.session.id.0)
        .fetch_all(&self.reader)
        .await?;
        let answers = rows
            .iter()
            .map(|row| {
                Ok(QuizAnswer {
                    quiz: parse(row.try_get("quiz")?)?,
                    question_id: row.try_get("question_id")?,
                    question: row.try_get("question")?,
                    answer: row.try_get("answer")?,
                    correct: row.try_get("correct")?,
                    attempt: row.try_get("attempt")?,
                    matched_by: row.try_get("matched_by")?,
                    created_at: time(row.try_get("created_at")?)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let row = sqlx::query("SELECT COUNT(*) AS n, MIN(created_at) AS first, MAX(created_at) AS last FROM messages WHERE session_id = ?")
            .bind(summary.session.id.0)
            .fetch_one(&self.reader)
            .await?;
        Ok(Some(SessionDetail {
            answers,
            message_count: row.try_get("n")?,
            first_message_at: opt_time(row.try_get("first")?)?,
            last_message_at: opt_time(row.try_get("last")?)?,
            summary,
        }))
    }

    async fn programme_summary(
        &self,
        org: OrgId,
        identifier: i64,
    ) -> Result<Option<ProgrammeSummary>> {
        let Some(programme) = self.get_programme(org, identifier).await? else {
            return Ok(None);
        };
        let row = sqlx::query(
            "SELECT COUNT(*) AS enrolled, \
             COALESCE(SUM(s.status = 'Pending'), 0) AS pending, \
             COALESCE(SUM(s.status = 'InProgress'), 0) AS in_progress, \
             COALESCE(SUM(s.status = 'Completed'), 0) AS completed, \
             COALESCE(SUM(s.status = 'OptedOut'), 0) AS opted_out, \
             COALESCE(SUM(s.status = 'Expired'), 0) AS expired, \
             AVG(CASE WHEN s.pre_answered > 0 AND mv.pre_quiz_total > 0 \
                 THEN CAST(s.pre_correct AS REAL) / mv.pre_quiz_total END) AS avg_pre, \
             AVG(CASE WHEN s.post_answered > 0 AND mv.post_quiz_total > 0 \
                 THEN CAST(s.post_correct AS REAL) / mv.post_quiz_total END) AS avg_post \
             FROM sessions s JOIN module_versions mv ON mv.id = s.module_version_id WHERE s.programme_id = ?",
        )
        .bind(programme.id.0)
        .fetch_one(&self.reader)
        .await?;
        Ok(Some(ProgrammeSummary {
            enrolled: row.try_get("enrolled")?,
            pending: row.try_get("pending")?,
            in_progress: row.try_get("in_progress")?,
            completed: row.try_get("completed")?,
            opted_out: row.try_get("opted_out")?,
            expired: row.try_get("expired")?,
            average_pre_score: row.try_get("avg_pre")?,
            average_post_score: row.try_get("avg_post")?,
            programme,
        }))
    }

    fn export_transcripts(
        &self,
        org: OrgId,
        filter: ExportFilter,
    ) -> BoxStream<'static, Result<ExportRow>> {
        let pool = self.reader.clone();
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
            let mut rows = query
                .bind(from)
                .bind(from)
                .bind(until)
                .bind(until)
                .fetch(&pool);
            while let Some(row) = rows.next().await {
                let item = row.map_err(StoreError::from).and_then(|row| {
                    Ok(ExportRow {
                        message: message_from(&row)?,
                        customer_uuid: uuid(&row, "customer_uuid")?,
                        programme_identifier: row.try_get("programme_identifier")?,
                        module_uuid: uuid(&row, "module_uuid")?,
                    })
                });
                let failed = item.is_err();
                if tx.send(item).await.is_err() || failed {
                    break;
                }
            }
        })
    }

    fn export_sessions(
        &self,
        org: OrgId,
        identifier: i64,
    ) -> BoxStream<'static, Result<SessionExportRow>> {
        let pool = self.reader.clone();
        crate::channel_stream(move |tx| async move {
            let sql = format!(
                "SELECT {SESSION_COLS}, {SUMMARY_COLS}, c.full_name AS customer_full_name, \
                 c.phone AS customer_phone {SUMMARY_JOINS} \
                 WHERE s.programme_id = (SELECT id FROM programmes WHERE org_id = ? AND identifier = ?) \
                 AND s.org_id = ? ORDER BY s.id"
            );
            let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(org.0)
                .bind(identifier)
                .bind(org.0)
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

    async fn subscribe(&self) -> Result<BoxStream<'static, MessageEvent>> {
        Ok(crate::broadcast_stream(self.events.subscribe()))
    }
}
