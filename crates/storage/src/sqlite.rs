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
use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::types::Json;
use sqlx::{ConnectOptions, Connection};
use tokio::sync::broadcast;
use uuid::Uuid;

mod contacts;
mod delivery;
mod export;
mod reads;
mod report;
mod rows;
mod turn;
mod writer;

use rows::{customer_from, key_from, module_from, org_from, programme_from, us};
use turn::{Pending, SqliteTx};
use writer::{TurnEnd, Writer};

use crate::clock::Clock;
use crate::model::*;
use crate::turn::{ENROL_ATTEMPTS, Enrolled, TurnDone, TurnRunner};
use crate::{
    AppliedMigration, Backend, Result, Store, StoreError, StoreOptions, migrations_applied,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");

/// Prepared statements the writer connection keeps.
const WRITER_STATEMENTS: usize = 1024;

/// How long a writer of another process waits for the write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// The SQLite implementation of [`Store`].
#[derive(Clone)]
pub struct SqliteStore {
    writer: Arc<Writer>,
    reader: SqlitePool,
    events: broadcast::Sender<MessageEvent>,
    options: SqliteConnectOptions,
    clock: Arc<dyn Clock>,
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

/// A clear error, before SQLite's "unable to open database file", when the
/// file's folder is missing or the file is and may not be created.
fn check_file(path: &std::path::Path, create: bool) -> Result<()> {
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => std::path::Path::new("."),
    };
    if !folder.is_dir() {
        return Err(StoreError::SqliteFile(format!(
            "cannot create the SQLite database {}: the folder {} does not exist; create it (mkdir -p {}) or name another file with --database sqlite://PATH",
            path.display(),
            folder.display(),
            folder.display()
        )));
    }
    if !create && !path.exists() {
        return Err(StoreError::SqliteFile(format!(
            "there is no SQLite database at {}: check --database (sqlite://PATH), or create one with `chatcourse migrate` or `chatcourse keys create`",
            path.display()
        )));
    }
    Ok(())
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
        if temporary.is_none() {
            check_file(connect.get_filename(), options.create_if_missing)?;
        }
        let connect = connect
            .create_if_missing(options.create_if_missing)
            .journal_mode(SqliteJournalMode::Wal)
            // Every commit is fsynced: a turn reported stored survives power
            // loss. Group commit pays one fsync for many turns.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        // Another process creating or migrating the file at this moment
        // can hold the lock that switching to WAL needs, and SQLite then
        // answers "database is locked" without waiting: try again a while.
        let mut tries = 0;
        // The writer's queries are its batches' held-back writes, which
        // vary with what the batch's turns wrote: keep many prepared.
        let writer_connect = connect.clone().statement_cache_capacity(WRITER_STATEMENTS);
        let conn = loop {
            match writer_connect.connect().await {
                Err(sqlx::Error::Database(e))
                    if e.code().as_deref() == Some("5") && tries < 100 =>
                {
                    tries += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                other => {
                    break other.map_err(|source| StoreError::Connect {
                        url: crate::redact(url),
                        source,
                    })?;
                }
            }
        };
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
            clock: options.clock.clone(),
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
}

impl TurnRunner for SqliteStore {
    async fn try_turn(
        &self,
        session: SessionId,
        inbound: &Inbound,
        decide: &mut Decide<'_>,
    ) -> Result<TurnOutcome> {
        let mut writer = self.writer.begin_turn().await?;
        let state = &mut *writer;
        let mut tx = SqliteTx::new(&mut state.conn, &mut state.next_message, &mut state.pending);
        let result =
            crate::turn::turn(&mut tx, self.clock.as_ref(), session, inbound, decide).await;
        let end = match &result {
            // Writes of this batch (perhaps of earlier turns) failed: the
            // batch is rolled back, whatever the turn made of the error.
            _ if tx.broken() => TurnEnd::Failed(match &result {
                Err(e) => e.to_string(),
                Ok(_) => "the batch's writes failed".to_owned(),
            }),
            Ok(TurnDone::Applied(_, event)) => TurnEnd::Kept(event.clone()),
            // A replay read what may be this batch's uncommitted turn: it
            // waits for the commit too.
            Ok(TurnDone::Replayed(_)) => TurnEnd::Kept(None),
            // Both happen before the turn writes anything.
            Err(StoreError::Rejected(_) | StoreError::NotFound(_)) => TurnEnd::NothingWritten,
            Err(e) => TurnEnd::Failed(e.to_string()),
        };
        let ticket = self.writer.end_turn(writer, end).await?;
        let outcome = result?.outcome();
        if let Some(ticket) = ticket {
            ticket.committed().await?;
        }
        Ok(outcome)
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
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
        // Another process may be migrating the same file at this moment:
        // sqlx checks what is applied outside the transaction that applies
        // a migration, so both may try one and the second fails ("table
        // ... already exists") once the first has committed. Its
        // transaction rolled back; run again: it then sees the other's
        // migration as applied. Each retry finds at least one more applied.
        // Each retry on a new connection: the failed one may still be
        // inside the migration's transaction.
        let mut attempts = MIGRATOR.iter().count() + 1;
        let mut pool = pool;
        let result = loop {
            match MIGRATOR.run(&pool).await {
                Err(
                    sqlx::migrate::MigrateError::Execute(_)
                    | sqlx::migrate::MigrateError::ExecuteMigration(..),
                ) if attempts > 1 => {
                    attempts -= 1;
                    pool.close().await;
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    pool = SqlitePoolOptions::new()
                        .max_connections(1)
                        .connect_with(self.options.clone())
                        .await?;
                }
                other => break other,
            }
        };
        pool.close().await;
        result?;
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
        reads::find_org(&self.reader, name).await
    }

    async fn add_api_key_with_role(
        &self,
        org: OrgId,
        key_hash: &str,
        label: &str,
        role: KeyRole,
        at: DateTime<Utc>,
    ) -> Result<ApiKey> {
        let mut writer = self.writer.exclusive().await;
        let row = sqlx::query(
            "INSERT INTO api_keys (org_id, label, role, key_hash, created_at) VALUES (?, ?, ?, ?, ?) \
             RETURNING id, org_id, label, role, key_hash, created_at, revoked_at",
        )
        .bind(org)
        .bind(label)
        .bind(role.as_str())
        .bind(key_hash)
        .bind(us(at))
        .fetch_one(&mut writer.conn)
        .await?;
        key_from(&row)
    }

    async fn find_key_grant(&self, key_hash: &str) -> Result<Option<(Organisation, KeyRole)>> {
        reads::find_key_grant(&self.reader, key_hash).await
    }

    async fn list_keys(&self, org: OrgId) -> Result<Vec<ApiKey>> {
        reads::list_keys(&self.reader, org).await
    }

    async fn revoke_key(&self, org: OrgId, key: ApiKeyId, at: DateTime<Utc>) -> Result<bool> {
        let mut writer = self.writer.exclusive().await;
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND org_id = ? AND revoked_at IS NULL",
        )
        .bind(us(at))
        .bind(key)
        .bind(org)
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
        .bind(org)
        .bind(identifier)
        .bind(format!("Programme {identifier}"))
        .bind(us(at))
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query(
            "SELECT id, org_id, identifier, name, created_at FROM programmes WHERE org_id = ? AND identifier = ?",
        )
        .bind(org)
        .bind(identifier)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        programme_from(&row)
    }

    async fn get_programme(&self, org: OrgId, identifier: i64) -> Result<Option<Programme>> {
        reads::get_programme(&self.reader, org, identifier).await
    }

    async fn rename_programme(&self, org: OrgId, identifier: i64, name: &str) -> Result<bool> {
        let mut writer = self.writer.exclusive().await;
        let done =
            sqlx::query("UPDATE programmes SET name = ? WHERE org_id = ? AND identifier = ?")
                .bind(name)
                .bind(org)
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
             pre_quiz_total, post_quiz_total, registered_at, org_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
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
        .bind(m.org)
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
        reads::get_module_version(&self.reader, id).await
    }

    async fn find_module(&self, module_uuid: Uuid) -> Result<Option<ModuleVersion>> {
        reads::find_module(&self.reader, module_uuid).await
    }

    async fn list_modules(&self) -> Result<Vec<ModuleVersion>> {
        reads::list_modules(&self.reader).await
    }

    async fn list_org_modules(&self, org: OrgId) -> Result<Vec<ModuleVersion>> {
        reads::list_org_modules(&self.reader, org).await
    }

    async fn find_org_module(
        &self,
        org: OrgId,
        module_uuid: Uuid,
    ) -> Result<Option<ModuleVersion>> {
        reads::find_org_module(&self.reader, org, module_uuid).await
    }

    async fn register_customer(&self, org: OrgId, c: &NewCustomer) -> Result<Customer> {
        let mut writer = self.writer.exclusive().await;
        // A phone already registered in the organisation: that customer.
        let row = sqlx::query(
            "INSERT INTO customers (uuid, org_id, full_name, national_id, phone, phone_e164, location, gender, \
             email, date_of_birth, registered_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (org_id, phone_e164) DO NOTHING RETURNING *",
        )
        .bind(Uuid::new_v4().hyphenated())
        .bind(org)
        .bind(&c.full_name)
        .bind(&c.national_id)
        .bind(&c.phone)
        .bind(&c.phone_e164)
        .bind(&c.location)
        .bind(&c.gender)
        .bind(&c.email)
        .bind(c.date_of_birth.map(|d| d.to_string()))
        .bind(us(c.registered_at))
        .fetch_optional(&mut writer.conn)
        .await?;
        let row = match row {
            Some(row) => row,
            None => {
                sqlx::query("SELECT * FROM customers WHERE org_id = ? AND phone_e164 = ?")
                    .bind(org.0)
                    .bind(&c.phone_e164)
                    .fetch_one(&mut writer.conn)
                    .await?
            }
        };
        customer_from(&row)
    }

    async fn get_customer(&self, org: OrgId, uuid: Uuid) -> Result<Option<Customer>> {
        reads::get_customer(&self.reader, org, uuid).await
    }

    async fn create_session(&self, org: OrgId, new: &NewSession) -> Result<CreatedSession> {
        for _ in 0..ENROL_ATTEMPTS {
            let mut writer = self.writer.exclusive().await;
            let mut tx = writer.conn.begin_with("BEGIN IMMEDIATE").await?;
            let (mut next_message, mut pending) = (None, Pending::default());
            let mut enrol = SqliteTx::new(&mut tx, &mut next_message, &mut pending);
            match crate::turn::enrol(&mut enrol, org, new).await? {
                Enrolled::New(created, event) => {
                    enrol.flush().await?;
                    tx.commit().await?;
                    if let Some(event) = event {
                        // No receivers is fine: nobody listens.
                        let _ = self.events.send(event);
                    }
                    return Ok(created);
                }
                Enrolled::Existing(created) => {
                    tx.rollback().await?;
                    return Ok(created);
                }
                // Not under the write lock; kept for symmetry.
                Enrolled::Retry => tx.rollback().await?,
            }
        }
        Err(crate::turn::enrol_gave_up())
    }

    async fn get_session(&self, org: OrgId, uuid: Uuid) -> Result<Option<Session>> {
        reads::get_session(&self.reader, org, uuid).await
    }

    async fn create_session_token(
        &self,
        org: OrgId,
        session: SessionId,
        token_hash: &str,
        key_hash: Option<&str>,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        let mut writer = self.writer.exclusive().await;
        let done = sqlx::query(
            "INSERT INTO session_tokens (session_id, token_hash, expires_at, api_key_id) \
             SELECT s.id, ?, ?, (SELECT k.id FROM api_keys k WHERE k.key_hash = ? AND k.org_id = s.org_id) \
             FROM sessions s WHERE s.id = ? AND s.org_id = ?",
        )
        .bind(token_hash)
        .bind(us(expires_at))
        .bind(key_hash)
        .bind(session)
        .bind(org)
        .execute(&mut writer.conn)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("session"));
        }
        Ok(())
    }

    async fn revoke_session_token(
        &self,
        org: OrgId,
        token_hash: &str,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        let mut writer = self.writer.exclusive().await;
        let done = sqlx::query(
            "UPDATE session_tokens SET revoked_at = ? WHERE token_hash = ? AND revoked_at IS NULL \
             AND session_id IN (SELECT id FROM sessions WHERE org_id = ?)",
        )
        .bind(us(at))
        .bind(token_hash)
        .bind(org)
        .execute(&mut writer.conn)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_expired_session_tokens(&self, now: DateTime<Utc>) -> Result<u64> {
        let mut writer = self.writer.exclusive().await;
        let done = sqlx::query("DELETE FROM session_tokens WHERE expires_at <= ?")
            .bind(us(now))
            .execute(&mut writer.conn)
            .await?;
        Ok(done.rows_affected())
    }

    async fn find_session_by_token(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Session>> {
        reads::find_session_by_token(&self.reader, token_hash, now).await
    }

    async fn apply_turn(
        &self,
        session: SessionId,
        inbound: Inbound,
        decide: &mut Decide<'_>,
    ) -> Result<TurnOutcome> {
        crate::turn::with_retry(self, session, &inbound, decide).await
    }

    async fn claim_due_wakeups(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<Session>> {
        let until = crate::turn::lease_until(now, lease);
        let mut writer = self.writer.exclusive().await;
        let mut tx = writer.conn.begin_with("BEGIN IMMEDIATE").await?;
        let ids: Vec<i64> = sqlx::query_scalar(
            "UPDATE sessions SET claimed_until = ? WHERE id IN (SELECT id FROM sessions \
             WHERE wake_at IS NOT NULL AND wake_at <= ? AND status IN ('Pending', 'InProgress') \
             AND (claimed_until IS NULL OR claimed_until <= ?) ORDER BY wake_at LIMIT CAST(? AS INTEGER)) RETURNING id",
        )
        .bind(us(until))
        .bind(us(now))
        .bind(us(now))
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        let mut sessions = Vec::with_capacity(ids.len());
        for id in ids {
            sessions.extend(turn::load_session(&mut tx, SessionId(id)).await?);
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
        reads::messages(&self.reader, org, session, after, limit).await
    }

    async fn customer_sessions(
        &self,
        org: OrgId,
        customer: CustomerId,
    ) -> Result<Vec<SessionSummary>> {
        reads::customer_sessions(&self.reader, org, customer).await
    }

    async fn session_detail(&self, org: OrgId, session: Uuid) -> Result<Option<SessionDetail>> {
        reads::session_detail(&self.reader, org, session).await
    }

    async fn programme_summary(
        &self,
        org: OrgId,
        identifier: i64,
    ) -> Result<Option<ProgrammeSummary>> {
        report::programme_summary(&self.reader, org, identifier).await
    }

    async fn programme_answer_counts(
        &self,
        org: OrgId,
        identifier: i64,
    ) -> Result<Option<AnswerCounts>> {
        report::programme_answer_counts(&self.reader, org, identifier).await
    }

    async fn programme_figures(
        &self,
        org: OrgId,
        identifier: i64,
        scope: &crate::ReportScope,
    ) -> Result<Option<crate::ProgrammeFigures>> {
        report::programme_figures(&self.reader, org, identifier, scope).await
    }

    fn export_transcripts(
        &self,
        org: OrgId,
        filter: ExportFilter,
    ) -> BoxStream<'static, Result<ExportRow>> {
        export::export_transcripts(&self.reader, org, filter)
    }

    fn export_sessions(
        &self,
        org: OrgId,
        identifier: i64,
    ) -> BoxStream<'static, Result<SessionExportRow>> {
        export::export_sessions(&self.reader, org, identifier)
    }

    fn export_answers(
        &self,
        org: OrgId,
        filter: ExportFilter,
    ) -> BoxStream<'static, Result<AnswerExportRow>> {
        export::export_answers(&self.reader, org, filter)
    }

    async fn create_channel(&self, channel: &NewChannel) -> Result<Channel> {
        let mut writer = self.writer.exclusive().await;
        delivery::create_channel(&mut writer.conn, channel).await
    }

    async fn list_channels(&self, org: OrgId) -> Result<Vec<Channel>> {
        delivery::list_channels(&self.reader, org).await
    }

    async fn get_channel(&self, org: OrgId, uuid: Uuid) -> Result<Option<Channel>> {
        Ok(delivery::find_channel(&self.reader, uuid)
            .await?
            .filter(|c| c.org == org))
    }

    async fn find_channel(&self, uuid: Uuid) -> Result<Option<Channel>> {
        delivery::find_channel(&self.reader, uuid).await
    }

    async fn channel(&self, id: ChannelId) -> Result<Option<Channel>> {
        delivery::channel(&self.reader, id).await
    }

    async fn disable_channel(&self, org: OrgId, uuid: Uuid, at: DateTime<Utc>) -> Result<bool> {
        let mut writer = self.writer.exclusive().await;
        delivery::disable_channel(&mut writer.conn, org, uuid, at).await
    }

    async fn customer_by_phone(&self, org: OrgId, phone: &str) -> Result<Option<Customer>> {
        delivery::customer_by_phone(&self.reader, org, phone).await
    }

    async fn set_customer_channel(&self, customer: CustomerId, channel: ChannelId) -> Result<()> {
        let mut writer = self.writer.exclusive().await;
        delivery::set_customer_channel(&mut writer.conn, customer, channel).await
    }

    async fn live_session_of(&self, org: OrgId, customer: CustomerId) -> Result<Option<Session>> {
        let id: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM sessions WHERE org_id = ? AND customer_id = ? \
             AND status IN ('Pending', 'InProgress') ORDER BY created_at DESC, id DESC LIMIT 1",
        )
        .bind(org.0)
        .bind(customer.0)
        .fetch_optional(&self.reader)
        .await?;
        match id {
            Some(id) => {
                let mut conn = self.reader.acquire().await?;
                turn::load_session(&mut conn, SessionId(id)).await
            }
            None => Ok(None),
        }
    }

    async fn opt_in(&self, org: OrgId, phone: &str, at: DateTime<Utc>) -> Result<bool> {
        let mut writer = self.writer.exclusive().await;
        let mut tx = writer.conn.begin_with("BEGIN IMMEDIATE").await?;
        let done = delivery::opt_in(&mut tx, org, phone, at).await?;
        tx.commit().await?;
        Ok(done)
    }

    async fn opted_out(&self, org: OrgId, phone: &str) -> Result<bool> {
        delivery::opted_out(&self.reader, org, phone).await
    }

    async fn claim_outbox(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<OutboxItem>> {
        let until = crate::turn::lease_until(now, lease);
        self.writer
            .in_batch(async |conn| delivery::claim_outbox(conn, now, until, limit).await)
            .await
    }

    async fn finish_outbox_many(
        &self,
        outcomes: &[(OutboxId, OutboxOutcome)],
        at: DateTime<Utc>,
    ) -> Result<()> {
        // Together: failed messages and their `delivery.failed` events are
        // stored with each other.
        self.writer
            .in_batch(async |conn| delivery::finish_outbox_many(conn, outcomes, at).await)
            .await
    }

    async fn outbox_depth(&self) -> Result<Vec<OutboxDepth>> {
        delivery::outbox_depth(&self.reader).await
    }

    async fn quiet_hours(&self, org: OrgId) -> Result<Option<QuietHours>> {
        contacts::quiet_hours(&self.reader, org).await
    }

    async fn set_quiet_hours(&self, org: OrgId, quiet: Option<&QuietHours>) -> Result<()> {
        let mut writer = self.writer.exclusive().await;
        contacts::set_quiet_hours(&mut writer.conn, org, quiet).await
    }

    async fn consent(&self, org: OrgId, phone: &str) -> Result<Option<Consent>> {
        contacts::consent(&self.reader, org, phone).await
    }

    async fn customers_without_e164(&self, after: CustomerId, limit: u32) -> Result<Vec<Customer>> {
        contacts::customers_without_e164(&self.reader, after, limit).await
    }

    async fn set_phone_e164(&self, customer: &Customer, phone: &str) -> Result<PhoneSet> {
        let mut writer = self.writer.exclusive().await;
        let mut tx = writer.conn.begin_with("BEGIN IMMEDIATE").await?;
        let set = contacts::set_phone_e164(&mut tx, customer, phone).await?;
        tx.commit().await?;
        Ok(set)
    }

    async fn session_outbox(&self, session: SessionId) -> Result<Vec<OutboxItem>> {
        let mut conn = self.reader.acquire().await?;
        delivery::session_outbox(&mut conn, session).await
    }

    async fn record_delivery_report(
        &self,
        channel: ChannelId,
        provider_message_id: &str,
        report: &DeliveryReport,
    ) -> Result<Option<ReportedRow>> {
        self.writer
            .in_batch(async |conn| {
                delivery::record_delivery_report(conn, channel, provider_message_id, report).await
            })
            .await
    }

    async fn message_deliveries(
        &self,
        session: SessionId,
        after: Option<MessageId>,
        through: Option<MessageId>,
    ) -> Result<Vec<MessageDelivery>> {
        delivery::message_deliveries(&self.reader, session, after, through).await
    }

    async fn last_inbound_at(&self, customer: CustomerId) -> Result<Option<DateTime<Utc>>> {
        delivery::last_inbound_at(&self.reader, customer).await
    }

    async fn opt_out_contact(&self, org: OrgId, phone: &str, at: DateTime<Utc>) -> Result<bool> {
        let mut writer = self.writer.exclusive().await;
        let mut tx = writer.conn.begin_with("BEGIN IMMEDIATE").await?;
        let done = delivery::opt_out_contact(&mut tx, org, phone, at).await?;
        tx.commit().await?;
        Ok(done)
    }

    async fn subscribe(&self) -> Result<BoxStream<'static, MessageEvent>> {
        Ok(crate::broadcast_stream(self.events.subscribe()))
    }
}
