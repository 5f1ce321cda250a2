//! The PostgreSQL store: for several server processes on one database.
//!
//! A turn locks its session row (`SELECT ... FOR UPDATE`) for the whole
//! transaction, so turns of one session are serialized across connections
//! and processes; other sessions proceed in parallel. Commits of messages are
//! announced after they commit, in batches ([`live`]).

mod live;

use std::collections::HashSet;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use futures::stream::BoxStream;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgRow};
use sqlx::types::Json;
use sqlx::{Connection, Row};
use uuid::Uuid;

use crate::model::*;
use crate::{
    AppliedMigration, Backend, Result, Store, StoreError, StoreOptions, migrations_applied, parse,
    score,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");

/// The PostgreSQL implementation of [`Store`].
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    /// Live events: this process's subscribers and the NOTIFY batches.
    live: Arc<live::Live>,
}

const SESSION_COLS: &str = "s.id, s.uuid, s.org_id, s.customer_id, c.uuid AS customer_uuid, s.programme_id, \
     s.module_version_id, s.module_uuid, s.status, s.state, s.state_format, s.turns, s.created_at, \
     s.last_activity, s.wake_at";

fn session_from(row: &PgRow) -> Result<Session> {
    Ok(Session {
        id: SessionId(row.try_get("id")?),
        uuid: row.try_get("uuid")?,
        org: OrgId(row.try_get("org_id")?),
        customer: CustomerId(row.try_get("customer_id")?),
        customer_uuid: row.try_get("customer_uuid")?,
        programme: ProgrammeId(row.try_get("programme_id")?),
        module_version: ModuleVersionId(row.try_get("module_version_id")?),
        module_uuid: row.try_get("module_uuid")?,
        status: parse(row.try_get("status")?)?,
        state: row.try_get("state")?,
        state_format: row.try_get("state_format")?,
        turns: row.try_get("turns")?,
        created_at: row.try_get("created_at")?,
        last_activity: row.try_get("last_activity")?,
        wake_at: row.try_get("wake_at")?,
    })
}

const MESSAGE_COLS: &str = "m.id, m.session_id, s.uuid AS session_uuid, m.customer_id, m.direction, m.text, m.created_at, m.external_id, m.turn";

fn message_from(row: &PgRow) -> Result<Message> {
    Ok(Message {
        id: MessageId(row.try_get("id")?),
        session: SessionId(row.try_get("session_id")?),
        session_uuid: row.try_get("session_uuid")?,
        customer: CustomerId(row.try_get("customer_id")?),
        direction: parse(row.try_get("direction")?)?,
        text: row.try_get("text")?,
        created_at: row.try_get("created_at")?,
        external_id: row.try_get("external_id")?,
        turn: row.try_get("turn")?,
    })
}

fn org_from(row: &PgRow) -> Result<Organisation> {
    Ok(Organisation {
        id: OrgId(row.try_get("id")?),
        name: row.try_get("name")?,
        created_at: row.try_get("created_at")?,
    })
}

fn key_from(row: &PgRow) -> Result<ApiKey> {
    Ok(ApiKey {
        id: ApiKeyId(row.try_get("id")?),
        org: OrgId(row.try_get("org_id")?),
        label: row.try_get("label")?,
        key_hash: row.try_get("key_hash")?,
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

fn programme_from(row: &PgRow) -> Result<Programme> {
    Ok(Programme {
        id: ProgrammeId(row.try_get("id")?),
        org: OrgId(row.try_get("org_id")?),
        identifier: row.try_get("identifier")?,
        name: row.try_get("name")?,
        created_at: row.try_get("created_at")?,
    })
}

fn module_from(row: &PgRow) -> Result<ModuleVersion> {
    Ok(ModuleVersion {
        id: ModuleVersionId(row.try_get("id")?),
        module_id: row.try_get("module_id")?,
        module_uuid: row.try_get("module_uuid")?,
        name: row.try_get("name")?,
        goal: row.try_get("goal")?,
        content_hash: row.try_get("content_hash")?,
        source: row.try_get("source")?,
        languages: row.try_get::<Json<Vec<String>>, _>("languages")?.0,
        pre_quiz_total: row.try_get("pre_quiz_total")?,
        post_quiz_total: row.try_get("post_quiz_total")?,
        registered_at: row.try_get("registered_at")?,
    })
}

fn customer_from(row: &PgRow) -> Result<Customer> {
    Ok(Customer {
        id: CustomerId(row.try_get("id")?),
        uuid: row.try_get("uuid")?,
        org: OrgId(row.try_get("org_id")?),
        full_name: row.try_get("full_name")?,
        national_id: row.try_get("national_id")?,
        phone: row.try_get("phone")?,
        location: row.try_get("location")?,
        gender: row.try_get("gender")?,
        email: row.try_get("email")?,
        date_of_birth: row.try_get("date_of_birth")?,
        registered_at: row.try_get("registered_at")?,
    })
}

const SUMMARY_COLS: &str = "p.identifier AS programme_identifier, p.name AS programme_name, \
     mv.name AS module_name, mv.pre_quiz_total, mv.post_quiz_total, \
     s.pre_correct, s.pre_answered, s.post_correct, s.post_answered";

const SUMMARY_JOINS: &str = "FROM sessions s JOIN customers c ON c.id = s.customer_id \
     JOIN programmes p ON p.id = s.programme_id JOIN module_versions mv ON mv.id = s.module_version_id";

fn summary_from(row: &PgRow) -> Result<SessionSummary> {
    let count = |column: &str| -> Result<i64> { Ok(i64::from(row.try_get::<i32, _>(column)?)) };
    Ok(SessionSummary {
        session: session_from(row)?,
        programme_identifier: row.try_get("programme_identifier")?,
        programme_name: row.try_get("programme_name")?,
        module_name: row.try_get("module_name")?,
        scores: Scores {
            pre: score(
                count("pre_correct")?,
                count("pre_answered")?,
                row.try_get("pre_quiz_total")?,
            ),
            post: score(
                count("post_correct")?,
                count("post_answered")?,
                row.try_get("post_quiz_total")?,
            ),
        },
    })
}

async fn load_session(
    conn: &mut PgConnection,
    id: SessionId,
    lock: bool,
) -> Result<Option<Session>> {
    let sql = format!(
        "SELECT {SESSION_COLS} FROM sessions s JOIN customers c ON c.id = s.customer_id WHERE s.id = $1 {}",
        if lock { "FOR UPDATE OF s" } else { "" }
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.0)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(session_from).transpose()
}

async fn turn_messages(
    conn: &mut PgConnection,
    session: SessionId,
    turn: i64,
) -> Result<Vec<Message>> {
    let sql = format!(
        "SELECT {MESSAGE_COLS} FROM messages m JOIN sessions s ON s.id = m.session_id \
         WHERE m.session_id = $1 AND m.turn = $2 ORDER BY m.id"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(session.0)
        .bind(turn)
        .fetch_all(conn)
        .await?;
    rows.iter().map(message_from).collect()
}

async fn replay(
    conn: &mut PgConnection,
    session: SessionId,
    external_id: &str,
) -> Result<Option<Vec<Message>>> {
    let turn: Option<i64> =
        sqlx::query_scalar("SELECT turn FROM messages WHERE session_id = $1 AND external_id = $2")
            .bind(session.0)
            .bind(external_id)
            .fetch_optional(&mut *conn)
            .await?;
    match turn {
        Some(turn) => Ok(Some(turn_messages(conn, session, turn).await?)),
        None => Ok(None),
    }
}

async fn insert_message(
    conn: &mut PgConnection,
    session: &Session,
    direction: Direction,
    text: &str,
    at: DateTime<Utc>,
    external_id: Option<&str>,
    turn: i64,
) -> Result<Message> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO messages (session_id, customer_id, direction, text, created_at, external_id, turn) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(session.id.0)
    .bind(session.customer.0)
    .bind(direction.as_str())
    .bind(text)
    .bind(at)
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

/// `pool.begin()`, safe to cancel. sqlx leaves the transaction open if the
/// future is dropped between sending `BEGIN` and reading its reply (the
/// connection then goes back to the pool inside a transaction); in a task of
/// its own the begin always completes, and a transaction nobody takes is
/// dropped, which rolls it back.
async fn begin(pool: &PgPool) -> Result<sqlx::Transaction<'static, sqlx::Postgres>> {
    let pool = pool.clone();
    tokio::spawn(async move { pool.begin().await })
        .await
        .map_err(|_| StoreError::Database(sqlx::Error::WorkerCrashed))?
        .map_err(StoreError::from)
}

fn valid_schema(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 40
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit()
}

impl PostgresStore {
    /// Connect (creating the schema if one is given) and migrate unless told not to.
    pub async fn connect(options: &StoreOptions) -> Result<Self> {
        let url = &options.url;
        let mut connect =
            PgConnectOptions::from_str(url).map_err(|_| StoreError::BadUrl(crate::redact(url)))?;
        let mut channel = "chatcourse_messages".to_owned();
        // One plain connection first: it reports why the server cannot be
        // reached (a pool would only report a timeout).
        let mut conn = PgConnection::connect_with(&connect)
            .await
            .map_err(|source| StoreError::Connect {
                url: crate::redact(url),
                source,
            })?;
        if let Some(schema) = &options.postgres_schema {
            if !valid_schema(schema) {
                return Err(StoreError::BadUrl(format!(
                    "{} (schema {schema:?}: use [a-z_][a-z0-9_]*, at most 40)",
                    crate::redact(url)
                )));
            }
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "CREATE SCHEMA IF NOT EXISTS {schema}"
            )))
            .execute(&mut conn)
            .await?;
            connect = connect.options([("search_path", schema.as_str())]);
            channel = format!("chatcourse_messages_{schema}");
        }
        conn.close().await?;
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .connect_with(connect.clone())
            .await?;
        let store = PostgresStore {
            pool,
            live: Arc::new(live::Live::new(connect, channel, options.postgres_notify)),
        };
        if options.migrate {
            store.migrate().await?;
        }
        Ok(store)
    }

    /// Drop a schema made by [`StoreOptions::postgres_schema`] (tests).
    pub async fn drop_schema(url: &str, schema: &str) -> Result<()> {
        if !valid_schema(schema) {
            return Err(StoreError::BadUrl(format!("schema {schema:?}")));
        }
        let connect =
            PgConnectOptions::from_str(url).map_err(|_| StoreError::BadUrl(url.to_owned()))?;
        let mut conn = PgConnection::connect_with(&connect).await?;
        // A store still holding locks in it (a leaked transaction) makes this
        // fail rather than wait forever.
        sqlx::query("SET lock_timeout = '10s'")
            .execute(&mut conn)
            .await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE"
        )))
        .execute(&mut conn)
        .await?;
        conn.close().await?;
        Ok(())
    }

    /// The underlying pool (benchmarks).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Commit, then announce the new messages `ids` of `session`. Both run
    /// in a task of their own: a caller dropped during COMMIT cannot leave a
    /// committed turn unannounced.
    async fn commit(
        &self,
        tx: sqlx::Transaction<'static, sqlx::Postgres>,
        session: &Session,
        ids: Vec<MessageId>,
    ) -> Result<()> {
        let live = self.live.clone();
        let event = (!ids.is_empty()).then_some(MessageEvent::Committed {
            org: session.org,
            session: session.id,
            session_uuid: session.uuid,
            ids,
        });
        tokio::spawn(async move {
            let committed = tx.commit().await;
            if let Some(event) = event {
                match &committed {
                    Ok(()) => live.announce(event),
                    // It may have committed all the same: have everyone re-read.
                    Err(_) => live.announce(MessageEvent::Lagged),
                }
            }
            committed
        })
        .await
        .map_err(|_| StoreError::Database(sqlx::Error::WorkerCrashed))?
        .map_err(StoreError::from)
    }

    async fn summary_where(
        &self,
        condition: &str,
        org: OrgId,
        key: PgKey,
    ) -> Result<Vec<SessionSummary>> {
        let sql = format!(
            "SELECT {SESSION_COLS}, {SUMMARY_COLS} {SUMMARY_JOINS} WHERE s.org_id = $1 AND {condition} \
             ORDER BY s.created_at DESC, s.id DESC"
        );
        let query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(org.0);
        let query = match key {
            PgKey::Id(id) => query.bind(id),
            PgKey::Uuid(u) => query.bind(u),
        };
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter().map(summary_from).collect()
    }

    async fn try_apply_turn(
        &self,
        session: SessionId,
        inbound: &Inbound,
        decide: &mut Decide<'_>,
    ) -> Result<TurnOutcome> {
        let at = to_micros(inbound.at);
        let mut tx = begin(&self.pool).await?;
        let current = load_session(&mut tx, session, true)
            .await?
            .ok_or(StoreError::NotFound("session"))?;
        let external_id = inbound
            .message
            .as_ref()
            .and_then(|m| m.external_id.as_deref());
        if let Some(external_id) = external_id
            && let Some(messages) = replay(&mut tx, session, external_id).await?
        {
            tx.rollback().await?;
            return Ok(TurnOutcome::replayed(current, messages));
        }
        let plan = decide(&current)?;
        let turn = current.turns + 1;
        let received = match &inbound.message {
            Some(m) => Some(
                insert_message(
                    &mut tx,
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
            sent.push(
                insert_message(&mut tx, &current, Direction::Sent, reply, at, None, turn).await?,
            );
        }
        for answer in &plan.answers {
            sqlx::query(
                "INSERT INTO quiz_answers (session_id, quiz, question_id, question, answer, correct, attempt, \
                 matched_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(session.0)
            .bind(answer.quiz.as_str())
            .bind(&answer.question_id)
            .bind(&answer.question)
            .bind(&answer.answer)
            .bind(answer.correct)
            .bind(answer.attempt)
            .bind(&answer.matched_by)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        let wake_at = plan.wake_at.map(to_micros);
        let last_activity = plan.last_activity.map(to_micros).or(current.last_activity);
        sqlx::query(
            "UPDATE sessions SET state = $1, state_format = $2, status = $3, turns = $4, wake_at = $5, \
             last_activity = $6, claimed_until = NULL, pre_correct = $7, pre_answered = $8, \
             post_correct = $9, post_answered = $10 WHERE id = $11",
        )
        .bind(&plan.state)
        .bind(plan.state_format)
        .bind(plan.status.as_str())
        .bind(turn)
        .bind(wake_at)
        .bind(last_activity)
        .bind(plan.progress.pre_correct)
        .bind(plan.progress.pre_answered)
        .bind(plan.progress.post_correct)
        .bind(plan.progress.post_answered)
        .bind(session.0)
        .execute(&mut *tx)
        .await?;
        let ids: Vec<MessageId> = received.iter().chain(&sent).map(|m| m.id).collect();
        self.commit(tx, &current, ids).await?;
        Ok(TurnOutcome {
            session: Session {
                status: plan.status,
                state: plan.state,
                state_format: plan.state_format,
                turns: turn,
                last_activity,
                wake_at,
                ..current
            },
            received,
            sent,
            replayed: false,
        })
    }
}

enum PgKey {
    Id(i64),
    Uuid(Uuid),
}

#[async_trait]
impl Store for PostgresStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    async fn migrate(&self) -> Result<Vec<AppliedMigration>> {
        let exists: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
            .fetch_one(&self.pool)
            .await?;
        let before: HashSet<i64> = if exists {
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .collect()
        } else {
            HashSet::new()
        };
        MIGRATOR.run(&self.pool).await?;
        Ok(migrations_applied(&before, &MIGRATOR))
    }

    async fn create_org_if_missing(&self, name: &str, at: DateTime<Utc>) -> Result<Organisation> {
        // The no-op update makes RETURNING yield the existing row too.
        let row = sqlx::query(
            "INSERT INTO organisations (name, created_at) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id, name, created_at",
        )
        .bind(name)
        .bind(to_micros(at))
        .fetch_one(&self.pool)
        .await?;
        org_from(&row)
    }

    async fn find_org(&self, name: &str) -> Result<Option<Organisation>> {
        let row = sqlx::query("SELECT id, name, created_at FROM organisations WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
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
        let row = sqlx::query(
            "INSERT INTO api_keys (org_id, label, key_hash, created_at) VALUES ($1, $2, $3, $4) \
             RETURNING id, org_id, label, key_hash, created_at, revoked_at",
        )
        .bind(org.0)
        .bind(label)
        .bind(key_hash)
        .bind(to_micros(at))
        .fetch_one(&self.pool)
        .await?;
        key_from(&row)
    }

    async fn find_org_by_key_hash(&self, key_hash: &str) -> Result<Option<Organisation>> {
        let row = sqlx::query(
            "SELECT o.id, o.name, o.created_at FROM api_keys k JOIN organisations o ON o.id = k.org_id \
             WHERE k.key_hash = $1 AND k.revoked_at IS NULL",
        )
        .bind(key_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(org_from).transpose()
    }

    async fn list_keys(&self, org: OrgId) -> Result<Vec<ApiKey>> {
        let rows = sqlx::query(
            "SELECT id, org_id, label, key_hash, created_at, revoked_at FROM api_keys WHERE org_id = $1 ORDER BY id",
        )
        .bind(org.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(key_from).collect()
    }

    async fn revoke_key(&self, org: OrgId, key: ApiKeyId, at: DateTime<Utc>) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND org_id = $3 AND revoked_at IS NULL",
        )
        .bind(to_micros(at))
        .bind(key.0)
        .bind(org.0)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn ensure_programme(
        &self,
        org: OrgId,
        identifier: i64,
        at: DateTime<Utc>,
    ) -> Result<Programme> {
        let row = sqlx::query(
            "INSERT INTO programmes (org_id, identifier, name, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (org_id, identifier) DO UPDATE SET identifier = EXCLUDED.identifier \
             RETURNING id, org_id, identifier, name, created_at",
        )
        .bind(org.0)
        .bind(identifier)
        .bind(format!("Programme {identifier}"))
        .bind(to_micros(at))
        .fetch_one(&self.pool)
        .await?;
        programme_from(&row)
    }

    async fn get_programme(&self, org: OrgId, identifier: i64) -> Result<Option<Programme>> {
        let row = sqlx::query(
            "SELECT id, org_id, identifier, name, created_at FROM programmes WHERE org_id = $1 AND identifier = $2",
        )
        .bind(org.0)
        .bind(identifier)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(programme_from).transpose()
    }

    async fn rename_programme(&self, org: OrgId, identifier: i64, name: &str) -> Result<bool> {
        let done =
            sqlx::query("UPDATE programmes SET name = $1 WHERE org_id = $2 AND identifier = $3")
                .bind(name)
                .bind(org.0)
                .bind(identifier)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn register_module_version(&self, m: &NewModuleVersion) -> Result<ModuleVersion> {
        let row = sqlx::query(
            "INSERT INTO module_versions (module_id, module_uuid, name, goal, content_hash, source, languages, \
             pre_quiz_total, post_quiz_total, registered_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (module_id, content_hash) DO UPDATE SET module_id = EXCLUDED.module_id \
             RETURNING id, module_id, module_uuid, name, goal, content_hash, source, languages, \
             pre_quiz_total, post_quiz_total, registered_at",
        )
        .bind(&m.module_id)
        .bind(m.module_uuid)
        .bind(&m.name)
        .bind(&m.goal)
        .bind(&m.content_hash)
        .bind(&m.source)
        .bind(Json(&m.languages))
        .bind(m.pre_quiz_total)
        .bind(m.post_quiz_total)
        .bind(to_micros(m.registered_at))
        .fetch_one(&self.pool)
        .await?;
        module_from(&row)
    }

    async fn get_module_version(&self, id: ModuleVersionId) -> Result<Option<ModuleVersion>> {
        let row = sqlx::query("SELECT * FROM module_versions WHERE id = $1")
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(module_from).transpose()
    }

    async fn find_module(&self, module_uuid: Uuid) -> Result<Option<ModuleVersion>> {
        let row = sqlx::query(
            "SELECT * FROM module_versions WHERE module_uuid = $1 ORDER BY id DESC LIMIT 1",
        )
        .bind(module_uuid)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(module_from).transpose()
    }

    async fn list_modules(&self) -> Result<Vec<ModuleVersion>> {
        let rows = sqlx::query(
            "SELECT * FROM module_versions mv WHERE mv.id = \
             (SELECT MAX(l.id) FROM module_versions l WHERE l.module_uuid = mv.module_uuid) ORDER BY mv.name, mv.id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(module_from).collect()
    }

    async fn register_customer(&self, org: OrgId, c: &NewCustomer) -> Result<Customer> {
        let row = sqlx::query(
            "INSERT INTO customers (uuid, org_id, full_name, national_id, phone, location, gender, email, \
             date_of_birth, registered_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING *",
        )
        .bind(Uuid::new_v4())
        .bind(org.0)
        .bind(&c.full_name)
        .bind(&c.national_id)
        .bind(&c.phone)
        .bind(&c.location)
        .bind(&c.gender)
        .bind(&c.email)
        .bind(c.date_of_birth)
        .bind(to_micros(c.registered_at))
        .fetch_one(&self.pool)
        .await?;
        customer_from(&row)
    }

    async fn get_customer(&self, org: OrgId, uuid: Uuid) -> Result<Option<Customer>> {
        let row = sqlx::query("SELECT * FROM customers WHERE uuid = $1 AND org_id = $2")
            .bind(uuid)
            .bind(org.0)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(customer_from).transpose()
    }

    async fn create_session(&self, org: OrgId, new: &NewSession) -> Result<CreatedSession> {
        let at = to_micros(new.at);
        // A live session can end between our conflict and our read of it: try again then.
        for _ in 0..3 {
            let mut tx = begin(&self.pool).await?;
            let customer_ok: Option<i64> =
                sqlx::query_scalar("SELECT id FROM customers WHERE id = $1 AND org_id = $2")
                    .bind(new.customer.0)
                    .bind(org.0)
                    .fetch_optional(&mut *tx)
                    .await?;
            customer_ok.ok_or(StoreError::NotFound("customer"))?;
            let programme_ok: Option<i64> =
                sqlx::query_scalar("SELECT id FROM programmes WHERE id = $1 AND org_id = $2")
                    .bind(new.programme.0)
                    .bind(org.0)
                    .fetch_optional(&mut *tx)
                    .await?;
            programme_ok.ok_or(StoreError::NotFound("programme"))?;
            let module_uuid: Uuid =
                sqlx::query_scalar("SELECT module_uuid FROM module_versions WHERE id = $1")
                    .bind(new.module_version.0)
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or(StoreError::NotFound("module version"))?;
            // The unique partial index makes a concurrent enrolment wait for ours
            // and then do nothing.
            let id: Option<i64> = sqlx::query_scalar(
                "INSERT INTO sessions (uuid, org_id, customer_id, programme_id, module_version_id, module_uuid, \
                 status, state, state_format, turns, created_at, last_activity, wake_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, $10, NULL, $11) \
                 ON CONFLICT (customer_id, programme_id, module_uuid) WHERE status IN ('Pending', 'InProgress') \
                 DO NOTHING RETURNING id",
            )
            .bind(Uuid::new_v4())
            .bind(org.0)
            .bind(new.customer.0)
            .bind(new.programme.0)
            .bind(new.module_version.0)
            .bind(module_uuid)
            .bind(new.status.as_str())
            .bind(&new.state)
            .bind(new.state_format)
            .bind(at)
            .bind(new.wake_at.map(to_micros))
            .fetch_optional(&mut *tx)
            .await?;
            let Some(id) = id else {
                let existing: Option<i64> = sqlx::query_scalar(
                    "SELECT id FROM sessions WHERE customer_id = $1 AND programme_id = $2 AND module_uuid = $3 \
                     AND status IN ('Pending', 'InProgress')",
                )
                .bind(new.customer.0)
                .bind(new.programme.0)
                .bind(module_uuid)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(existing) = existing else {
                    tx.rollback().await?;
                    continue;
                };
                let session = load_session(&mut tx, SessionId(existing), false)
                    .await?
                    .ok_or(StoreError::NotFound("session"))?;
                let messages = turn_messages(&mut tx, session.id, 0).await?;
                tx.rollback().await?;
                return Ok(CreatedSession {
                    session,
                    messages,
                    existing: true,
                });
            };
            let session = load_session(&mut tx, SessionId(id), false)
                .await?
                .ok_or(StoreError::NotFound("session"))?;
            let mut messages = Vec::with_capacity(new.messages.len());
            for text in &new.messages {
                messages.push(
                    insert_message(&mut tx, &session, Direction::Sent, text, at, None, 0).await?,
                );
            }
            let ids: Vec<MessageId> = messages.iter().map(|m| m.id).collect();
            self.commit(tx, &session, ids).await?;
            return Ok(CreatedSession {
                session,
                messages,
                existing: false,
            });
        }
        Err(StoreError::Database(sqlx::Error::Protocol(
            "enrolment kept conflicting with a session that ended; try again".into(),
        )))
    }

    async fn get_session(&self, org: OrgId, uuid: Uuid) -> Result<Option<Session>> {
        let sql = format!(
            "SELECT {SESSION_COLS} FROM sessions s JOIN customers c ON c.id = s.customer_id \
             WHERE s.uuid = $1 AND s.org_id = $2"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(uuid)
            .bind(org.0)
            .fetch_optional(&self.pool)
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
        let done = sqlx::query(
            "INSERT INTO session_tokens (session_id, token_hash, expires_at) \
             SELECT id, $1, $2 FROM sessions WHERE id = $3 AND org_id = $4",
        )
        .bind(token_hash)
        .bind(to_micros(expires_at))
        .bind(session.0)
        .bind(org.0)
        .execute(&self.pool)
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
             JOIN customers c ON c.id = s.customer_id WHERE t.token_hash = $1 AND t.expires_at > $2"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(token_hash)
            .bind(to_micros(now))
            .fetch_optional(&self.pool)
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
            // Backstop: the row lock makes the external-id check and insert
            // atomic; if the unique constraint still fires, the retry replays.
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
        let now = to_micros(now);
        let until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::days(365));
        let mut tx = begin(&self.pool).await?;
        let ids: Vec<i64> = sqlx::query_scalar(
            "UPDATE sessions SET claimed_until = $1 WHERE id IN (SELECT id FROM sessions \
             WHERE wake_at IS NOT NULL AND wake_at <= $2 AND status IN ('Pending', 'InProgress') \
             AND (claimed_until IS NULL OR claimed_until <= $2) ORDER BY wake_at LIMIT $3 \
             FOR UPDATE SKIP LOCKED) RETURNING id",
        )
        .bind(until)
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        let mut sessions = Vec::with_capacity(ids.len());
        for id in ids {
            sessions.extend(load_session(&mut tx, SessionId(id), false).await?);
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
             WHERE m.session_id = $1 AND s.org_id = $2 AND m.id > $3 ORDER BY m.id LIMIT $4"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(session.0)
            .bind(org.0)
            .bind(after.map_or(0, |a| a.0))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(message_from).collect()
    }

    async fn customer_sessions(
        &self,
        org: OrgId,
        customer: CustomerId,
    ) -> Result<Vec<SessionSummary>> {
        self.summary_where("s.customer_id = $2", org, PgKey::Id(customer.0))
            .await
    }

    async fn session_detail(&self, org: OrgId, session: Uuid) -> Result<Option<SessionDetail>> {
        let Some(summary) = self
            .summary_where("s.uuid = $2", org, PgKey::Uuid(session))
            .await?
            .pop()
        else {
            return Ok(None);
        };
        let rows = sqlx::query(
            "SELECT quiz, question_id, question, answer, correct, attempt, matched_by, created_at \
             FROM quiz_answers WHERE session_id = $1 ORDER BY id",
        )
        .bind(summary.session.id.0)
        .fetch_all(&self.pool)
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
                    created_at: row.try_get("created_at")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, MIN(created_at) AS first, MAX(created_at) AS last FROM messages WHERE session_id = $1",
        )
        .bind(summary.session.id.0)
        .fetch_one(&self.pool)
        .await?;
        Ok(Some(SessionDetail {
            answers,
            message_count: row.try_get("n")?,
            first_message_at: row.try_get("first")?,
            last_message_at: row.try_get("last")?,
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
             COUNT(*) FILTER (WHERE s.status = 'Pending') AS pending, \
             COUNT(*) FILTER (WHERE s.status = 'InProgress') AS in_progress, \
             COUNT(*) FILTER (WHERE s.status = 'Completed') AS completed, \
             COUNT(*) FILTER (WHERE s.status = 'OptedOut') AS opted_out, \
             COUNT(*) FILTER (WHERE s.status = 'Expired') AS expired, \
             AVG(CASE WHEN s.pre_answered > 0 AND mv.pre_quiz_total > 0 \
                 THEN CAST(s.pre_correct AS DOUBLE PRECISION) / mv.pre_quiz_total END) AS avg_pre, \
             AVG(CASE WHEN s.post_answered > 0 AND mv.post_quiz_total > 0 \
                 THEN CAST(s.post_correct AS DOUBLE PRECISION) / mv.post_quiz_total END) AS avg_post \
             FROM sessions s JOIN module_versions mv ON mv.id = s.module_version_id WHERE s.programme_id = $1",
        )
        .bind(programme.id.0)
        .fetch_one(&self.pool)
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
        let pool = self.pool.clone();
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

    fn export_sessions(
        &self,
        org: OrgId,
        identifier: i64,
    ) -> BoxStream<'static, Result<SessionExportRow>> {
        let pool = self.pool.clone();
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

    async fn subscribe(&self) -> Result<BoxStream<'static, MessageEvent>> {
        Ok(self.live.subscribe(&self.pool).await?)
    }
}
