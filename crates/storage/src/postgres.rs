//! The PostgreSQL store: for several server processes on one database.
//!
//! A turn locks its session row (`SELECT ... FOR UPDATE`) for the whole
//! transaction, so turns of one session are serialized across connections
//! and processes; other sessions proceed in parallel. Commits of messages are
//! announced after they commit, in batches ([`live`]).

mod contacts;
mod delivery;
mod export;
mod live;
mod reads;
mod report;
mod rows;
mod turn;

use std::collections::HashSet;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::types::Json;
use uuid::Uuid;

use rows::{customer_from, key_from, module_from, org_from, programme_from};
use turn::PgTx;

use crate::clock::Clock;
use crate::model::*;
use crate::turn::{ENROL_ATTEMPTS, Enrolled, TurnDone, TurnRunner};
use crate::{
    AppliedMigration, Backend, Result, Store, StoreError, StoreOptions, migrations_applied,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");

/// The PostgreSQL implementation of [`Store`].
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    /// Live events: this process's subscribers and the NOTIFY batches.
    live: Arc<live::Live>,
    clock: Arc<dyn Clock>,
}

/// `pool.begin()`, safe to cancel. sqlx leaves the transaction open if the
/// future is dropped between sending `BEGIN` and reading its reply (the
/// connection then goes back to the pool inside a transaction); in a task of
/// its own the begin always completes, and a transaction nobody takes is
/// dropped, which rolls it back.
async fn begin(pool: &PgPool) -> Result<sqlx::Transaction<'static, sqlx::Postgres>> {
    let pool = pool.clone();
    tokio::spawn(async move {
        // What `pool.begin()` does, with the wait for a connection measured.
        let started = std::time::Instant::now();
        let conn = pool.acquire().await?;
        metrics::histogram!(crate::POOL_WAIT, "pool" => "postgres")
            .record(started.elapsed().as_secs_f64());
        sqlx::Transaction::begin(conn, None).await
    })
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
        let mut conn =
            tokio::time::timeout(crate::CONNECT_TIMEOUT, PgConnection::connect_with(&connect))
                .await
                .map_err(|_| StoreError::ConnectTimeout {
                    url: crate::redact(url),
                    seconds: crate::CONNECT_TIMEOUT.as_secs(),
                })?
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
            clock: options.clock.clone(),
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

    /// Commit, then announce `event` (new messages). Both run
    /// in a task of their own: a caller dropped during COMMIT cannot leave a
    /// committed turn unannounced.
    async fn commit(
        &self,
        tx: sqlx::Transaction<'static, sqlx::Postgres>,
        event: Option<MessageEvent>,
    ) -> Result<()> {
        let live = self.live.clone();
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
}

impl TurnRunner for PostgresStore {
    async fn try_turn(
        &self,
        session: SessionId,
        inbound: &Inbound,
        decide: &mut Decide<'_>,
    ) -> Result<TurnOutcome> {
        let mut tx = begin(&self.pool).await?;
        let done = crate::turn::turn(
            &mut PgTx::new(&mut tx),
            self.clock.as_ref(),
            session,
            inbound,
            decide,
        )
        .await?;
        match done {
            TurnDone::Replayed(outcome) => {
                tx.rollback().await?;
                Ok(outcome)
            }
            TurnDone::Applied(outcome, event) => {
                self.commit(tx, event).await?;
                Ok(outcome)
            }
        }
    }
}

#[async_trait]
impl Store for PostgresStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
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
        reads::find_org(&self.pool, name).await
    }

    async fn add_api_key_with_role(
        &self,
        org: OrgId,
        key_hash: &str,
        label: &str,
        role: KeyRole,
        at: DateTime<Utc>,
    ) -> Result<ApiKey> {
        let row = sqlx::query(
            "INSERT INTO api_keys (org_id, label, role, key_hash, created_at) VALUES ($1, $2, $3, $4, $5) \
             RETURNING id, org_id, label, role, key_hash, created_at, revoked_at",
        )
        .bind(org)
        .bind(label)
        .bind(role.as_str())
        .bind(key_hash)
        .bind(to_micros(at))
        .fetch_one(&self.pool)
        .await?;
        key_from(&row)
    }

    async fn find_key_grant(&self, key_hash: &str) -> Result<Option<(Organisation, KeyRole)>> {
        reads::find_key_grant(&self.pool, key_hash).await
    }

    async fn list_keys(&self, org: OrgId) -> Result<Vec<ApiKey>> {
        reads::list_keys(&self.pool, org).await
    }

    async fn revoke_key(&self, org: OrgId, key: ApiKeyId, at: DateTime<Utc>) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND org_id = $3 AND revoked_at IS NULL",
        )
        .bind(to_micros(at))
        .bind(key)
        .bind(org)
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
        .bind(org)
        .bind(identifier)
        .bind(format!("Programme {identifier}"))
        .bind(to_micros(at))
        .fetch_one(&self.pool)
        .await?;
        programme_from(&row)
    }

    async fn get_programme(&self, org: OrgId, identifier: i64) -> Result<Option<Programme>> {
        reads::get_programme(&self.pool, org, identifier).await
    }

    async fn rename_programme(&self, org: OrgId, identifier: i64, name: &str) -> Result<bool> {
        let done =
            sqlx::query("UPDATE programmes SET name = $1 WHERE org_id = $2 AND identifier = $3")
                .bind(name)
                .bind(org)
                .bind(identifier)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn register_module_version(&self, m: &NewModuleVersion) -> Result<ModuleVersion> {
        let row = sqlx::query(
            "INSERT INTO module_versions (module_id, module_uuid, name, goal, content_hash, source, languages, \
             pre_quiz_total, post_quiz_total, registered_at, org_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (module_id, content_hash) DO UPDATE SET module_id = EXCLUDED.module_id \
             RETURNING id, module_id, module_uuid, name, goal, content_hash, source, languages, \
             pre_quiz_total, post_quiz_total, registered_at, org_id",
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
        .bind(m.org)
        .fetch_one(&self.pool)
        .await?;
        module_from(&row)
    }

    async fn get_module_version(&self, id: ModuleVersionId) -> Result<Option<ModuleVersion>> {
        reads::get_module_version(&self.pool, id).await
    }

    async fn find_module(&self, module_uuid: Uuid) -> Result<Option<ModuleVersion>> {
        reads::find_module(&self.pool, module_uuid).await
    }

    async fn list_modules(&self) -> Result<Vec<ModuleVersion>> {
        reads::list_modules(&self.pool).await
    }

    async fn list_org_modules(&self, org: OrgId) -> Result<Vec<ModuleVersion>> {
        reads::list_org_modules(&self.pool, org).await
    }

    async fn find_org_module(
        &self,
        org: OrgId,
        module_uuid: Uuid,
    ) -> Result<Option<ModuleVersion>> {
        reads::find_org_module(&self.pool, org, module_uuid).await
    }

    async fn register_customer(&self, org: OrgId, c: &NewCustomer) -> Result<Customer> {
        // A phone already registered in the organisation: that customer.
        let row = sqlx::query(
            "INSERT INTO customers (uuid, org_id, full_name, national_id, phone, phone_e164, location, gender, \
             email, date_of_birth, registered_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (org_id, phone_e164) DO NOTHING RETURNING *",
        )
        .bind(Uuid::new_v4())
        .bind(org)
        .bind(&c.full_name)
        .bind(&c.national_id)
        .bind(&c.phone)
        .bind(&c.phone_e164)
        .bind(&c.location)
        .bind(&c.gender)
        .bind(&c.email)
        .bind(c.date_of_birth)
        .bind(to_micros(c.registered_at))
        .fetch_optional(&self.pool)
        .await?;
        let row = match row {
            Some(row) => row,
            None => {
                sqlx::query("SELECT * FROM customers WHERE org_id = $1 AND phone_e164 = $2")
                    .bind(org.0)
                    .bind(&c.phone_e164)
                    .fetch_one(&self.pool)
                    .await?
            }
        };
        customer_from(&row)
    }

    async fn get_customer(&self, org: OrgId, uuid: Uuid) -> Result<Option<Customer>> {
        reads::get_customer(&self.pool, org, uuid).await
    }

    async fn create_session(&self, org: OrgId, new: &NewSession) -> Result<CreatedSession> {
        // A live session can end between our conflict and our read of it: try again then.
        for _ in 0..ENROL_ATTEMPTS {
            let mut tx = begin(&self.pool).await?;
            match crate::turn::enrol(&mut PgTx::new(&mut tx), org, new).await? {
                Enrolled::New(created, event) => {
                    self.commit(tx, event).await?;
                    return Ok(created);
                }
                Enrolled::Existing(created) => {
                    tx.rollback().await?;
                    return Ok(created);
                }
                Enrolled::Retry => tx.rollback().await?,
            }
        }
        Err(crate::turn::enrol_gave_up())
    }

    async fn get_session(&self, org: OrgId, uuid: Uuid) -> Result<Option<Session>> {
        reads::get_session(&self.pool, org, uuid).await
    }

    async fn create_session_token(
        &self,
        org: OrgId,
        session: SessionId,
        token_hash: &str,
        key_hash: Option<&str>,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        let done = sqlx::query(
            "INSERT INTO session_tokens (session_id, token_hash, expires_at, api_key_id) \
             SELECT s.id, $1, $2, (SELECT k.id FROM api_keys k WHERE k.key_hash = $3 AND k.org_id = s.org_id) \
             FROM sessions s WHERE s.id = $4 AND s.org_id = $5",
        )
        .bind(token_hash)
        .bind(to_micros(expires_at))
        .bind(key_hash)
        .bind(session)
        .bind(org)
        .execute(&self.pool)
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
        let done = sqlx::query(
            "UPDATE session_tokens SET revoked_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL \
             AND session_id IN (SELECT id FROM sessions WHERE org_id = $3)",
        )
        .bind(to_micros(at))
        .bind(token_hash)
        .bind(org)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_expired_session_tokens(&self, now: DateTime<Utc>) -> Result<u64> {
        let done = sqlx::query("DELETE FROM session_tokens WHERE expires_at <= $1")
            .bind(to_micros(now))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn find_session_by_token(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Session>> {
        reads::find_session_by_token(&self.pool, token_hash, now).await
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
        let now = to_micros(now);
        let until = crate::turn::lease_until(now, lease);
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
            sessions.extend(turn::load_session(&mut tx, SessionId(id), false).await?);
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
        reads::messages(&self.pool, org, session, after, limit).await
    }

    async fn customer_sessions(
        &self,
        org: OrgId,
        customer: CustomerId,
    ) -> Result<Vec<SessionSummary>> {
        reads::customer_sessions(&self.pool, org, customer).await
    }

    async fn session_detail(&self, org: OrgId, session: Uuid) -> Result<Option<SessionDetail>> {
        reads::session_detail(&self.pool, org, session).await
    }

    async fn programme_summary(
        &self,
        org: OrgId,
        identifier: i64,
    ) -> Result<Option<ProgrammeSummary>> {
        report::programme_summary(&self.pool, org, identifier).await
    }

    async fn programme_answer_counts(
        &self,
        org: OrgId,
        identifier: i64,
    ) -> Result<Option<AnswerCounts>> {
        report::programme_answer_counts(&self.pool, org, identifier).await
    }

    async fn programme_figures(
        &self,
        org: OrgId,
        identifier: i64,
        scope: &crate::ReportScope,
    ) -> Result<Option<crate::ProgrammeFigures>> {
        report::programme_figures(&self.pool, org, identifier, scope).await
    }

    fn export_transcripts(
        &self,
        org: OrgId,
        filter: ExportFilter,
    ) -> BoxStream<'static, Result<ExportRow>> {
        export::export_transcripts(&self.pool, org, filter)
    }

    fn export_sessions(
        &self,
        org: OrgId,
        identifier: i64,
    ) -> BoxStream<'static, Result<SessionExportRow>> {
        export::export_sessions(&self.pool, org, identifier)
    }

    fn export_answers(
        &self,
        org: OrgId,
        filter: ExportFilter,
    ) -> BoxStream<'static, Result<AnswerExportRow>> {
        export::export_answers(&self.pool, org, filter)
    }

    async fn create_channel(&self, channel: &NewChannel) -> Result<Channel> {
        let mut conn = self.pool.acquire().await?;
        delivery::create_channel(&mut conn, channel).await
    }

    async fn list_channels(&self, org: OrgId) -> Result<Vec<Channel>> {
        delivery::list_channels(&self.pool, org).await
    }

    async fn get_channel(&self, org: OrgId, uuid: Uuid) -> Result<Option<Channel>> {
        Ok(delivery::find_channel(&self.pool, uuid)
            .await?
            .filter(|c| c.org == org))
    }

    async fn find_channel(&self, uuid: Uuid) -> Result<Option<Channel>> {
        delivery::find_channel(&self.pool, uuid).await
    }

    async fn channel(&self, id: ChannelId) -> Result<Option<Channel>> {
        delivery::channel(&self.pool, id).await
    }

    async fn disable_channel(&self, org: OrgId, uuid: Uuid, at: DateTime<Utc>) -> Result<bool> {
        let mut conn = self.pool.acquire().await?;
        delivery::disable_channel(&mut conn, org, uuid, to_micros(at)).await
    }

    async fn customer_by_phone(&self, org: OrgId, phone: &str) -> Result<Option<Customer>> {
        delivery::customer_by_phone(&self.pool, org, phone).await
    }

    async fn set_customer_channel(&self, customer: CustomerId, channel: ChannelId) -> Result<()> {
        delivery::set_customer_channel(&self.pool, customer, channel).await
    }

    async fn live_session_of(&self, org: OrgId, customer: CustomerId) -> Result<Option<Session>> {
        let id: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM sessions WHERE org_id = $1 AND customer_id = $2 \
             AND status IN ('Pending', 'InProgress') ORDER BY created_at DESC, id DESC LIMIT 1",
        )
        .bind(org.0)
        .bind(customer.0)
        .fetch_optional(&self.pool)
        .await?;
        match id {
            Some(id) => {
                let mut conn = self.pool.acquire().await?;
                turn::load_session(&mut conn, SessionId(id), false).await
            }
            None => Ok(None),
        }
    }

    async fn opt_in(&self, org: OrgId, phone: &str, at: DateTime<Utc>) -> Result<bool> {
        let mut tx = begin(&self.pool).await?;
        let done = delivery::opt_in(&mut tx, org, phone, to_micros(at)).await?;
        tx.commit().await?;
        Ok(done)
    }

    async fn opted_out(&self, org: OrgId, phone: &str) -> Result<bool> {
        delivery::opted_out(&self.pool, org, phone).await
    }

    async fn claim_outbox(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<OutboxItem>> {
        let now = to_micros(now);
        let until = crate::turn::lease_until(now, lease);
        let mut tx = begin(&self.pool).await?;
        let rows = delivery::claim_outbox(&mut tx, now, until, limit).await?;
        tx.commit().await?;
        Ok(rows)
    }

    async fn finish_outbox_many(
        &self,
        outcomes: &[(OutboxId, OutboxOutcome)],
        at: DateTime<Utc>,
    ) -> Result<()> {
        // One transaction: failed messages and their `delivery.failed`
        // events are stored together.
        let mut tx = begin(&self.pool).await?;
        let moved: Vec<OutboxId> = outcomes
            .iter()
            .filter(|(_, outcome)| !matches!(outcome, OutboxOutcome::Retry { .. }))
            .map(|(id, _)| *id)
            .collect();
        delivery::lock_sessions_of(&mut tx, &moved).await?;
        for (id, outcome) in outcomes {
            delivery::finish_outbox(&mut tx, *id, outcome, to_micros(at)).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn outbox_depth(&self) -> Result<Vec<OutboxDepth>> {
        delivery::outbox_depth(&self.pool).await
    }

    async fn quiet_hours(&self, org: OrgId) -> Result<Option<QuietHours>> {
        contacts::quiet_hours(&self.pool, org).await
    }

    async fn set_quiet_hours(&self, org: OrgId, quiet: Option<&QuietHours>) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        contacts::set_quiet_hours(&mut conn, org, quiet).await
    }

    async fn consent(&self, org: OrgId, phone: &str) -> Result<Option<Consent>> {
        contacts::consent(&self.pool, org, phone).await
    }

    async fn customers_without_e164(&self, after: CustomerId, limit: u32) -> Result<Vec<Customer>> {
        contacts::customers_without_e164(&self.pool, after, limit).await
    }

    async fn set_phone_e164(&self, customer: &Customer, phone: &str) -> Result<PhoneSet> {
        let mut tx = begin(&self.pool).await?;
        let set = contacts::set_phone_e164(&mut tx, customer, phone).await?;
        tx.commit().await?;
        Ok(set)
    }

    async fn session_outbox(&self, session: SessionId) -> Result<Vec<OutboxItem>> {
        let mut conn = self.pool.acquire().await?;
        delivery::session_outbox(&mut conn, session).await
    }

    async fn record_delivery_report(
        &self,
        channel: ChannelId,
        provider_message_id: &str,
        report: &DeliveryReport,
    ) -> Result<Option<ReportedRow>> {
        let mut conn = self.pool.acquire().await?;
        delivery::record_delivery_report(
            &mut conn,
            channel,
            provider_message_id,
            report,
            to_micros(report.at),
        )
        .await
    }

    async fn message_deliveries(
        &self,
        session: SessionId,
        after: Option<MessageId>,
        through: Option<MessageId>,
    ) -> Result<Vec<MessageDelivery>> {
        delivery::message_deliveries(&self.pool, session, after, through).await
    }

    async fn last_inbound_at(&self, customer: CustomerId) -> Result<Option<DateTime<Utc>>> {
        delivery::last_inbound_at(&self.pool, customer).await
    }

    async fn opt_out_contact(&self, org: OrgId, phone: &str, at: DateTime<Utc>) -> Result<bool> {
        let mut tx = begin(&self.pool).await?;
        let done = delivery::opt_out_contact(&mut tx, org, phone, to_micros(at)).await?;
        tx.commit().await?;
        Ok(done)
    }

    async fn subscribe(&self) -> Result<BoxStream<'static, MessageEvent>> {
        Ok(self.live.subscribe(&self.pool).await?)
    }
}
