//! Storage for chatcourse: the only crate that speaks SQL.
//!
//! One [`Store`] trait, implemented once per backend ([`SqliteStore`],
//! [`PostgresStore`]), each with its own migrations (`migrations/sqlite`,
//! `migrations/postgres`, embedded and applied on [`connect`]). The engine
//! state is an opaque string here: this crate does not know the engine.
//!
//! The heart is [`Store::apply_turn`]: a whole turn (inbound message, new
//! state, replies, quiz answers) is stored in one transaction, holding the
//! session's lock while the caller's engine decides, so turns of one session
//! never interleave, ids follow commit order and an inbound external id is
//! applied at most once.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use sha2::{Digest, Sha256};
use uuid::Uuid;

mod clock;
mod model;
mod paging;
mod postgres;
mod report;
mod sqlite;
mod turn;

pub use clock::{Clock, ManualClock, SystemClock};
pub use model::*;
pub use postgres::PostgresStore;
pub use report::{
    Breakdown, FunnelStep, GroupSummary, ProgrammeFigures, ReportScope, ScopeVersion,
    TimelineBucket,
};
pub use sqlite::SqliteStore;

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL names no supported backend or cannot be parsed.
    #[error(
        "unsupported database URL {0:?}: expected sqlite://PATH, sqlite::memory: or postgres://..."
    )]
    BadUrl(String),
    /// The database cannot be opened or reached.
    #[error("cannot open database {url}: {source}")]
    Connect {
        /// The URL, password removed.
        url: String,
        source: sqlx::Error,
    },
    /// The SQLite file cannot be opened as asked: its folder is missing,
    /// or it is missing and [`StoreOptions::create_if_missing`] is off.
    #[error("{0}")]
    SqliteFile(String),
    /// The database server accepted the connection but did not answer.
    #[error(
        "database {url} did not answer within {seconds} seconds: check that --database names a running PostgreSQL server (host and port)"
    )]
    ConnectTimeout { url: String, seconds: u64 },
    /// The customer's phone opted out of the organisation (STOP): nothing
    /// may be sent to it, so no session starts.
    #[error("the customer opted out of messages from this organisation")]
    OptedOut,
    /// A referenced row does not exist (or belongs to another organisation).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The decision closure declined the turn; nothing was stored.
    #[error(transparent)]
    Rejected(#[from] TurnRejected),
    /// The transaction holding the turn failed to commit; nothing of it
    /// was stored.
    #[error("commit failed, nothing stored: {0}")]
    Commit(String),
    /// A stored value could not be read back (corrupt or foreign data).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// A unique constraint refused the write (a concurrent twin won).
    pub(crate) fn is_unique_violation(&self) -> bool {
        matches!(self, StoreError::Database(sqlx::Error::Database(e)) if e.is_unique_violation())
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Histogram of the time to get a connection, in seconds, labelled `pool`
/// (`sqlite_writer`, `postgres`).
pub(crate) const POOL_WAIT: &str = "chatcourse_store_pool_wait_seconds";

/// Which backend a store uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The store. Every read of organisation data takes the organisation: rows of
/// other organisations are invisible (not found / empty). Module versions are
/// a global catalogue.
#[async_trait]
pub trait Store: Send + Sync {
    fn backend(&self) -> Backend;

    /// The clock turns read their time from ([`StoreOptions::clock`]); a
    /// server built on the store uses the same one.
    fn clock(&self) -> Arc<dyn Clock>;

    /// Apply pending migrations; returns the versions applied now (empty when
    /// up to date). [`connect`] already does this.
    async fn migrate(&self) -> Result<Vec<AppliedMigration>>;

    // --- organisations and API keys -------------------------------------

    /// The organisation with this name, created if missing.
    async fn create_org_if_missing(&self, name: &str, at: DateTime<Utc>) -> Result<Organisation>;
    /// The organisation with this name, if it exists (never creates one).
    async fn find_org(&self, name: &str) -> Result<Option<Organisation>>;
    /// Store an `admin` key by its hash ([`hash_api_key`]).
    async fn add_api_key(
        &self,
        org: OrgId,
        key_hash: &str,
        label: &str,
        at: DateTime<Utc>,
    ) -> Result<ApiKey> {
        self.add_api_key_with_role(org, key_hash, label, KeyRole::Admin, at)
            .await
    }
    /// Store a key of `role` by its hash ([`hash_api_key`]).
    async fn add_api_key_with_role(
        &self,
        org: OrgId,
        key_hash: &str,
        label: &str,
        role: KeyRole,
        at: DateTime<Utc>,
    ) -> Result<ApiKey>;
    /// The organisation owning this key hash, unless the key is revoked.
    async fn find_org_by_key_hash(&self, key_hash: &str) -> Result<Option<Organisation>> {
        Ok(self.find_key_grant(key_hash).await?.map(|(org, _)| org))
    }
    /// The organisation owning this key hash and the key's role, unless
    /// the key is revoked.
    async fn find_key_grant(&self, key_hash: &str) -> Result<Option<(Organisation, KeyRole)>>;
    async fn list_keys(&self, org: OrgId) -> Result<Vec<ApiKey>>;
    /// Revoke a key; false when no such unrevoked key of `org` exists.
    async fn revoke_key(&self, org: OrgId, key: ApiKeyId, at: DateTime<Utc>) -> Result<bool>;

    // --- programmes, modules, customers ---------------------------------

    /// The programme `identifier` of `org`, created on first use (named
    /// `"Programme <identifier>"` until renamed).
    async fn ensure_programme(
        &self,
        org: OrgId,
        identifier: i64,
        at: DateTime<Utc>,
    ) -> Result<Programme>;
    async fn get_programme(&self, org: OrgId, identifier: i64) -> Result<Option<Programme>>;
    /// Rename a programme; false when it does not exist.
    async fn rename_programme(&self, org: OrgId, identifier: i64, name: &str) -> Result<bool>;

    /// Register a module version; idempotent on (module_id, content_hash)
    /// (the stored row is returned unchanged).
    async fn register_module_version(&self, module: &NewModuleVersion) -> Result<ModuleVersion>;
    async fn get_module_version(&self, id: ModuleVersionId) -> Result<Option<ModuleVersion>>;
    /// The latest registered version of the module with this uuid.
    async fn find_module(&self, module_uuid: Uuid) -> Result<Option<ModuleVersion>>;
    /// The latest version of every module, by name.
    async fn list_modules(&self) -> Result<Vec<ModuleVersion>>;
    /// The current (latest registered) version of every module `org` owns
    /// (registered with `NewModuleVersion::org`), by name. Shared modules
    /// and other organisations' are not listed.
    async fn list_org_modules(&self, org: OrgId) -> Result<Vec<ModuleVersion>>;
    /// The latest version of the module with this uuid that `org` owns;
    /// `None` for a shared module or another organisation's.
    async fn find_org_module(&self, org: OrgId, module_uuid: Uuid)
    -> Result<Option<ModuleVersion>>;

    async fn register_customer(&self, org: OrgId, customer: &NewCustomer) -> Result<Customer>;
    async fn get_customer(&self, org: OrgId, uuid: Uuid) -> Result<Option<Customer>>;

    // --- sessions and turns ----------------------------------------------

    /// Create a session and store its enrolment messages in one transaction.
    /// If the customer already has a live session of the same programme and
    /// module, that session is returned (`existing`) and nothing is stored;
    /// race-free across processes. Fails with NotFound if the customer or
    /// programme is not `org`'s.
    async fn create_session(&self, org: OrgId, session: &NewSession) -> Result<CreatedSession>;
    async fn get_session(&self, org: OrgId, uuid: Uuid) -> Result<Option<Session>>;
    /// Store a learner token, by its hash ([`hash_api_key`]), that opens
    /// `session` until `expires_at` (exclusive), created with the API key
    /// whose hash is `key_hash` (revoking that key invalidates the token).
    /// Fails with NotFound if the session is not `org`'s.
    async fn create_session_token(
        &self,
        org: OrgId,
        session: SessionId,
        token_hash: &str,
        key_hash: Option<&str>,
        expires_at: DateTime<Utc>,
    ) -> Result<()>;
    /// Revoke a learner token of `org`'s sessions; false if there is no
    /// such token (or it was revoked already).
    async fn revoke_session_token(
        &self,
        org: OrgId,
        token_hash: &str,
        at: DateTime<Utc>,
    ) -> Result<bool>;
    /// Delete the tokens expired at `now`; returns how many.
    async fn delete_expired_session_tokens(&self, now: DateTime<Utc>) -> Result<u64>;
    /// The session a learner token opens, unless the token is unknown,
    /// expired at `now`, revoked, or created with a key since revoked.
    async fn find_session_by_token(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Session>>;

    /// Apply one turn atomically. Under the session's lock: if the inbound
    /// external id is already stored for the session, return the original
    /// turn (`replayed`, nothing changes); otherwise read the clock, call
    /// `decide` with the session as stored and that time, and store the
    /// inbound message, the replies, the answers (all at that time), the
    /// quiz progress and the new state, then commit. A rejection, a panic in
    /// `decide` (returned as [`StoreError::Rejected`]) or any error stores
    /// nothing. Turns of one session are
    /// serialized across connections and processes. `Err(StoreError::Commit)`
    /// means the transaction holding the turn failed (on SQLite, turns of
    /// several sessions share a commit): nothing of the turn was stored.
    async fn apply_turn(
        &self,
        session: SessionId,
        inbound: Inbound,
        decide: &mut Decide<'_>,
    ) -> Result<TurnOutcome>;

    /// Hand out up to `limit` live sessions whose wake-up time has passed and
    /// that nobody else holds, each leased to the caller for `lease`. A turn
    /// on the session ends the lease; when it runs out the session can be
    /// claimed again. Two concurrent callers never get the same session.
    async fn claim_due_wakeups(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<Session>>;

    // --- reads --------------------------------------------------------------

    /// Messages of a session by id, those after `after` (exclusive), at most `limit`.
    async fn messages(
        &self,
        org: OrgId,
        session: SessionId,
        after: Option<MessageId>,
        limit: u32,
    ) -> Result<Vec<Message>>;
    /// A customer's sessions, newest first, with scores.
    async fn customer_sessions(
        &self,
        org: OrgId,
        customer: CustomerId,
    ) -> Result<Vec<SessionSummary>>;
    async fn session_detail(&self, org: OrgId, session: Uuid) -> Result<Option<SessionDetail>>;
    async fn programme_summary(
        &self,
        org: OrgId,
        identifier: i64,
    ) -> Result<Option<ProgrammeSummary>>;
    /// The grouped first answers of a programme's sessions and the module
    /// versions they use (for the item analysis); `None`: no such programme.
    async fn programme_answer_counts(
        &self,
        org: OrgId,
        identifier: i64,
    ) -> Result<Option<AnswerCounts>>;
    /// Every figure of programme `identifier`'s report over the sessions
    /// `scope` covers, computed in the database (the rows returned are few
    /// whatever the number of sessions); `None`: no such programme.
    async fn programme_figures(
        &self,
        org: OrgId,
        identifier: i64,
        scope: &ReportScope,
    ) -> Result<Option<ProgrammeFigures>>;
    /// Transcripts of `org`, ordered by session then message id, streamed
    /// from the database (bounded memory). Dropping the stream cancels it.
    fn export_transcripts(
        &self,
        org: OrgId,
        filter: ExportFilter,
    ) -> BoxStream<'static, Result<ExportRow>>;
    /// The sessions of `org`'s programme `identifier` with their scores and
    /// customers, ordered by session id, streamed from the database
    /// (bounded memory). Empty when the programme has no sessions or is not
    /// `org`'s. Dropping the stream cancels it.
    fn export_sessions(
        &self,
        org: OrgId,
        identifier: i64,
    ) -> BoxStream<'static, Result<SessionExportRow>>;
    /// Every recorded quiz answer of the organisation's sessions matching
    /// `filter` (programme, answer time), by session then answer id, read
    /// in pages like [`Store::export_transcripts`].
    fn export_answers(
        &self,
        org: OrgId,
        filter: ExportFilter,
    ) -> BoxStream<'static, Result<AnswerExportRow>>;

    /// Live message events: every commit of messages by any process (on
    /// PostgreSQL) or by this process (SQLite), after it commits. This
    /// process's commits arrive at once; on PostgreSQL other processes'
    /// arrive shortly after (batched NOTIFY), and events of one session may
    /// come out of commit order. An event is a hint: re-read the session
    /// from the last id delivered (ids of one session grow in commit order).
    async fn subscribe(&self) -> Result<BoxStream<'static, MessageEvent>>;

    // --- delivery (docs/channels.md) -----------------------------------------

    async fn create_channel(&self, channel: &NewChannel) -> Result<Channel>;
    /// The organisation's channels, enabled or not, oldest first.
    async fn list_channels(&self, org: OrgId) -> Result<Vec<Channel>>;
    async fn get_channel(&self, org: OrgId, uuid: Uuid) -> Result<Option<Channel>>;
    /// Any organisation's channel by uuid (inbound requests name it; they
    /// are authenticated by its secret) or by id (the dispatcher).
    async fn find_channel(&self, uuid: Uuid) -> Result<Option<Channel>>;
    async fn channel(&self, id: ChannelId) -> Result<Option<Channel>>;
    /// Disable a channel: nothing more is queued to it nor sent over it.
    /// False if not `org`'s or already disabled.
    async fn disable_channel(&self, org: OrgId, uuid: Uuid, at: DateTime<Utc>) -> Result<bool>;
    /// The organisation's customer with this E.164 phone.
    async fn customer_by_phone(&self, org: OrgId, phone: &str) -> Result<Option<Customer>>;
    /// The channel a customer is reached on from now on (the one they
    /// wrote through, or the one named at enrolment).
    async fn set_customer_channel(&self, customer: CustomerId, channel: ChannelId) -> Result<()>;
    /// The customer's live session: the most recent Pending or InProgress.
    async fn live_session_of(&self, org: OrgId, customer: CustomerId) -> Result<Option<Session>>;
    /// Opt a contact back in (START); false if it was not opted out.
    async fn opt_in(&self, org: OrgId, phone: &str, at: DateTime<Utc>) -> Result<bool>;
    /// Whether the contact opted out of the organisation.
    async fn opted_out(&self, org: OrgId, phone: &str) -> Result<bool>;
    /// Lease up to `limit` due outbox rows until `now + lease`. Each is the
    /// oldest queued row of its (channel, recipient), so a learner's message
    /// 2 is never handed out before message 1 has ended (sent or failed);
    /// rows of distinct learners come together. Rows of disabled channels
    /// wait. Two claimers never get the same row while its lease runs; an
    /// expired lease (a crashed sender) is claimed again.
    async fn claim_outbox(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<OutboxItem>>;
    /// Record an attempt: attempts + 1, lease ended; sent, retry at, or
    /// failed. A row already ended (by another process whose claim came
    /// after our lease ran out) is left as it is.
    async fn finish_outbox(
        &self,
        id: OutboxId,
        outcome: &OutboxOutcome,
        at: DateTime<Utc>,
    ) -> Result<()> {
        self.finish_outbox_many(&[(id, outcome.clone())], at).await
    }
    /// [`Store::finish_outbox`] for many rows in one transaction (the
    /// dispatcher records a round's outcomes together).
    async fn finish_outbox_many(
        &self,
        outcomes: &[(OutboxId, OutboxOutcome)],
        at: DateTime<Utc>,
    ) -> Result<()>;
    /// Queued rows per channel (metrics), channels with none left out.
    async fn outbox_depth(&self) -> Result<Vec<OutboxDepth>>;
    /// A session's outbox rows, in id order (status pages, tests).
    async fn session_outbox(&self, session: SessionId) -> Result<Vec<OutboxItem>>;
    /// Apply a delivery report to the row of `channel` that was sent with
    /// this provider message id. Statuses only move forward: `sent` (sets
    /// `sent_at` if unset), then `delivered` or `failed` (from `sent`; a
    /// repeated report changes nothing). `None`: no such row.
    async fn record_delivery_report(
        &self,
        channel: ChannelId,
        provider_message_id: &str,
        report: &DeliveryReport,
    ) -> Result<Option<ReportedRow>>;
    /// The delivery records of a session's messages after `after` and up
    /// to `through` (inclusive; `None`: to the end), in message order
    /// (messages without an outbox row have none). A page of a transcript
    /// passes its own id range, so the work is that of the page, whatever
    /// the session's length (a range of `messages_session`, each message's
    /// row found by its unique `message_id`).
    async fn message_deliveries(
        &self,
        session: SessionId,
        after: Option<MessageId>,
        through: Option<MessageId>,
    ) -> Result<Vec<MessageDelivery>>;
    /// When the customer last wrote (their latest RECEIVED message, in any
    /// session): WhatsApp's 24-hour window runs from it.
    async fn last_inbound_at(&self, customer: CustomerId) -> Result<Option<DateTime<Utc>>>;
    /// Opt a contact out outside a turn (a provider said the recipient
    /// unsubscribed), with its audit event. False if it already was.
    async fn opt_out_contact(&self, org: OrgId, phone: &str, at: DateTime<Utc>) -> Result<bool>;
    /// The organisation's quiet hours, if it set any.
    async fn quiet_hours(&self, org: OrgId) -> Result<Option<QuietHours>>;
    /// Sets (or, with `None`, clears) the organisation's quiet hours.
    async fn set_quiet_hours(&self, org: OrgId, quiet: Option<&QuietHours>) -> Result<()>;
    /// The contact's consent record; `None` if it never opted out.
    async fn consent(&self, org: OrgId, phone: &str) -> Result<Option<Consent>>;
    /// Customers (any organisation) registered without an E.164 phone,
    /// with ids above `after`, in id order, at most `limit`: those
    /// registered before phones were normalised (`chatcourse migrate`
    /// fills them in).
    async fn customers_without_e164(&self, after: CustomerId, limit: u32) -> Result<Vec<Customer>>;
    /// Sets a customer's E.164 phone, unless another customer of its
    /// organisation has it (then nothing changes).
    async fn set_phone_e164(&self, customer: &Customer, phone: &str) -> Result<PhoneSet>;
}

/// A migration applied by [`Store::migrate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedMigration {
    pub version: i64,
    pub description: String,
}

/// How long connecting to a database server may take (TCP, TLS and the
/// start-up exchange) before it is reported as not answering.
pub const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The embedded default: a SQLite file in the working directory, created
/// on first use. Every command and the server default to it.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://chatcourse.db";

/// How to open a store. [`connect`] uses the defaults.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub url: String,
    /// PostgreSQL only: use (and create) this schema instead of `public`.
    /// Separate schemas are separate stores (tests use one each).
    pub postgres_schema: Option<String>,
    /// Connections of the pool (PostgreSQL; SQLite readers). Default 10.
    pub max_connections: u32,
    /// Apply migrations on connect (default true).
    pub migrate: bool,
    /// PostgreSQL only: announce committed messages to other processes
    /// (default true; their [`Store::subscribe`] relies on it). After each
    /// commit the store's notifier task sends the events that arrived
    /// meanwhile with one NOTIFY on a connection of its own, so turns never
    /// wait for it. Off, this process's subscribers still hear of its
    /// commits, and the store opens no notifier connection: for processes
    /// whose writes nobody elsewhere needs to hear of live (imports, tools).
    pub postgres_notify: bool,
    /// SQLite only: create the file if it is missing (default true).
    /// Tools that only read (`keys list`) turn it off.
    pub create_if_missing: bool,
    /// Where turns read their time (default [`SystemClock`]). Tests pass a
    /// [`ManualClock`] to move time instead of waiting.
    pub clock: Arc<dyn Clock>,
}

impl StoreOptions {
    pub fn new(url: impl Into<String>) -> Self {
        StoreOptions {
            url: url.into(),
            postgres_schema: None,
            max_connections: 10,
            migrate: true,
            postgres_notify: true,
            create_if_missing: true,
            clock: Arc::new(SystemClock),
        }
    }
}

/// Open the store named by `url` (`sqlite://PATH`, `sqlite::memory:`,
/// `postgres://...`) and apply its migrations.
pub async fn connect(url: &str) -> Result<Arc<dyn Store>> {
    connect_with(StoreOptions::new(url)).await
}

/// [`connect`] with options.
pub async fn connect_with(options: StoreOptions) -> Result<Arc<dyn Store>> {
    Ok(match backend_of(&options.url)? {
        Backend::Sqlite => Arc::new(SqliteStore::connect(&options).await?),
        Backend::Postgres => Arc::new(PostgresStore::connect(&options).await?),
    })
}

/// The backend a URL names.
pub fn backend_of(url: &str) -> Result<Backend> {
    if url.starts_with("sqlite:") {
        Ok(Backend::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Backend::Postgres)
    } else {
        Err(StoreError::BadUrl(redact(url)))
    }
}

/// `url` without its password, for messages.
pub(crate) fn redact(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://")
        && let Some((credentials, host)) = rest.split_once('@')
        && let Some((user, _password)) = credentials.split_once(':')
    {
        return format!("{scheme}://{user}:***@{host}");
    }
    url.to_owned()
}

/// The hash stored for an API key: lowercase hex SHA-256 of the secret.
pub fn hash_api_key(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    let mut out = String::with_capacity(64);
    for byte in digest {
        out.push(char::from_digit(u32::from(byte >> 4), 16).unwrap_or('0'));
        out.push(char::from_digit(u32::from(byte & 0xf), 16).unwrap_or('0'));
    }
    out
}

/// Score of one quiz from stored counts.
pub(crate) fn score(correct: i64, answered: i64, total: i32) -> Score {
    Score {
        correct: i32::try_from(correct).unwrap_or(i32::MAX),
        answered: i32::try_from(answered).unwrap_or(i32::MAX),
        total,
    }
}

pub(crate) fn parse<T: std::str::FromStr<Err = String>>(s: &str) -> Result<T> {
    s.parse().map_err(StoreError::Corrupt)
}

pub(crate) fn migrations_applied(
    before: &std::collections::HashSet<i64>,
    migrator: &sqlx::migrate::Migrator,
) -> Vec<AppliedMigration> {
    migrator
        .iter()
        .filter(|m| !m.migration_type.is_down_migration() && !before.contains(&m.version))
        .map(|m| AppliedMigration {
            version: m.version,
            description: m.description.to_string(),
        })
        .collect()
}

/// The events of a broadcast channel; a lagging receiver yields
/// [`MessageEvent::Lagged`] and goes on.
pub(crate) fn broadcast_stream(
    rx: tokio::sync::broadcast::Receiver<MessageEvent>,
) -> BoxStream<'static, MessageEvent> {
    use tokio::sync::broadcast::error::RecvError;
    Box::pin(futures::stream::unfold(rx, |mut rx| async move {
        match rx.recv().await {
            Ok(event) => Some((event, rx)),
            Err(RecvError::Lagged(_)) => Some((MessageEvent::Lagged, rx)),
            Err(RecvError::Closed) => None,
        }
    }))
}
