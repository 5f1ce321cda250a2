//! The records the store keeps and the values its methods take and return.
//! Plain data: no SQL here.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        /// Stored as the row's BIGINT / INTEGER id: binds and decodes as one.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, sqlx::Type)]
        #[sqlx(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// An organisation (a client of the API; owns everything else).
    OrgId
);
id_type!(
    /// An API key row (not the key itself).
    ApiKeyId
);
id_type!(
    /// A programme row (not the API's `program_identifier`).
    ProgrammeId
);
id_type!(
    /// One registered version of a module.
    ModuleVersionId
);
id_type!(
    /// A customer; also the `id` the API returns on registration.
    CustomerId
);
id_type!(
    /// A session (internal key; the API uses [`Session::uuid`]).
    SessionId
);
id_type!(
    /// A delivery channel of an organisation.
    ChannelId
);
id_type!(
    /// A row of the outbox (one message to deliver).
    OutboxId
);
id_type!(
    /// A message. Within a session, ids strictly increase in commit order.
    MessageId
);

/// An organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organisation {
    pub id: OrgId,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

/// What a key may do (the api enforces it, docs/api.md): `admin`
/// everything (keys made before roles existed are admin), `analyst` read
/// only (summaries, reports, exports, the dashboard), `author` the module
/// preview and upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyRole {
    Admin,
    Analyst,
    Author,
}

impl KeyRole {
    pub const ALL: [KeyRole; 3] = [KeyRole::Admin, KeyRole::Analyst, KeyRole::Author];

    pub fn as_str(self) -> &'static str {
        match self {
            KeyRole::Admin => "admin",
            KeyRole::Analyst => "analyst",
            KeyRole::Author => "author",
        }
    }
}

impl FromStr for KeyRole {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|role| role.as_str() == s)
            .ok_or_else(|| format!("unknown key role {s:?} (expected admin, analyst or author)"))
    }
}

/// An API key as stored: only the SHA-256 hash of the secret (see [`crate::hash_api_key`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub org: OrgId,
    pub label: String,
    pub role: KeyRole,
    pub key_hash: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A programme of an organisation, named by the API's integer `program_identifier`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Programme {
    pub id: ProgrammeId,
    pub org: OrgId,
    pub identifier: i64,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

/// A module version to register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewModuleVersion {
    /// The module's `id` in its YAML (stable across versions).
    pub module_id: String,
    /// The uuid the API uses for the module (stable across versions).
    pub module_uuid: Uuid,
    pub name: String,
    pub goal: String,
    /// Hash of the YAML source; (module_id, content_hash) identifies a version.
    pub content_hash: String,
    pub source: String,
    /// Language codes the module is written in.
    pub languages: Vec<String>,
    /// Number of questions of the pre-quiz and of the post-quiz (score totals).
    pub pre_quiz_total: i32,
    pub post_quiz_total: i32,
    pub registered_at: DateTime<Utc>,
    /// The organisation that owns the module (uploaded through the API);
    /// `None` for the modules folder's shared modules. An owned module's
    /// `module_id` must be unique to its owner (the api namespaces it).
    pub org: Option<OrgId>,
}

/// A registered module version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleVersion {
    pub id: ModuleVersionId,
    pub module_id: String,
    pub module_uuid: Uuid,
    pub name: String,
    pub goal: String,
    pub content_hash: String,
    pub source: String,
    pub languages: Vec<String>,
    pub pre_quiz_total: i32,
    pub post_quiz_total: i32,
    pub registered_at: DateTime<Utc>,
    /// The owning organisation; `None`: a shared module.
    pub org: Option<OrgId>,
}

/// A customer to register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCustomer {
    pub full_name: String,
    pub national_id: String,
    pub phone: String,
    /// The phone in E.164 (`+254712345678`), unique within the
    /// organisation: registering it again returns the existing customer.
    /// `None`: not reachable on a channel.
    pub phone_e164: Option<String>,
    pub location: String,
    pub gender: String,
    pub email: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
    pub registered_at: DateTime<Utc>,
}

/// A registered customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    pub id: CustomerId,
    pub uuid: Uuid,
    pub org: OrgId,
    pub full_name: String,
    pub national_id: String,
    pub phone: String,
    pub phone_e164: Option<String>,
    pub location: String,
    pub gender: String,
    pub email: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
    pub registered_at: DateTime<Utc>,
    /// The channel the customer is reached on (the one they last wrote
    /// through); `None`: the organisation's default channel.
    pub channel: Option<ChannelId>,
}

/// Where a session stands. Stored as the API spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionStatus {
    Pending,
    InProgress,
    Completed,
    OptedOut,
    Expired,
}

impl SessionStatus {
    pub const ALL: [SessionStatus; 5] = [
        Self::Pending,
        Self::InProgress,
        Self::Completed,
        Self::OptedOut,
        Self::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::InProgress => "InProgress",
            Self::Completed => "Completed",
            Self::OptedOut => "OptedOut",
            Self::Expired => "Expired",
        }
    }

    /// Pending and InProgress sessions are live: turns and wake-ups apply to
    /// them, and a customer has at most one live session per programme and module.
    pub fn is_live(self) -> bool {
        matches!(self, Self::Pending | Self::InProgress)
    }
}

impl fmt::Display for SessionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SessionStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| format!("unknown session status {s:?}"))
    }
}

/// A session: one customer taking one module version in one programme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    pub uuid: Uuid,
    pub org: OrgId,
    pub customer: CustomerId,
    pub customer_uuid: Uuid,
    pub programme: ProgrammeId,
    pub module_version: ModuleVersionId,
    pub module_uuid: Uuid,
    pub status: SessionStatus,
    /// The engine state, serialized by the engine; opaque to the store.
    pub state: String,
    /// Layout version of `state`, as given by the engine.
    pub state_format: i32,
    /// Number of turns applied (0 after creation); every turn increments it.
    pub turns: i64,
    pub created_at: DateTime<Utc>,
    pub last_activity: Option<DateTime<Utc>>,
    pub wake_at: Option<DateTime<Utc>>,
    /// The step the session rests on and its language, as the engine names
    /// them (`None`: not recorded, as for a state the store could not read).
    pub position: Option<Position>,
}

/// Where a session is in its module, as the engine names it: the step it
/// rests on (the waiting question, or the last step reached) and the
/// language it runs in. Stored beside the opaque state so reports can
/// group by them in the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub step: String,
    pub language: String,
}

impl Position {
    /// From the `step` and `language` columns (both or nothing).
    pub(crate) fn from_columns(step: Option<String>, language: Option<String>) -> Option<Self> {
        Some(Position {
            step: step?,
            language: language?,
        })
    }
}

/// Direction of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the course to the learner.
    Sent,
    /// From the learner to the course.
    Received,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "SENT",
            Self::Received => "RECEIVED",
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Direction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "SENT" => Ok(Self::Sent),
            "RECEIVED" => Ok(Self::Received),
            _ => Err(format!("unknown message direction {s:?}")),
        }
    }
}

/// A stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: MessageId,
    pub session: SessionId,
    pub session_uuid: Uuid,
    pub customer: CustomerId,
    pub direction: Direction,
    pub text: String,
    pub created_at: DateTime<Utc>,
    pub external_id: Option<String>,
    /// The session's turn that stored it (0: the enrolment).
    pub turn: i64,
}

/// Which quiz an answer scores into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuizKind {
    Pre,
    Post,
}

impl QuizKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pre => "pre",
            Self::Post => "post",
        }
    }
}

impl FromStr for QuizKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "pre" => Ok(Self::Pre),
            "post" => Ok(Self::Post),
            _ => Err(format!("unknown quiz {s:?}")),
        }
    }
}

/// A quiz answer produced by a turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewQuizAnswer {
    pub quiz: QuizKind,
    pub question_id: String,
    pub question: String,
    pub answer: String,
    pub correct: bool,
    pub attempt: i32,
    /// Which rule of the question matched (engine's wording, e.g. `choice 2`).
    pub matched_by: String,
    /// The 1-based number of the choice picked; `None` for a free-text
    /// rule or a reply that matched nothing.
    pub choice: Option<i32>,
}

/// A stored quiz answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuizAnswer {
    pub quiz: QuizKind,
    pub question_id: String,
    pub question: String,
    pub answer: String,
    pub correct: bool,
    pub attempt: i32,
    pub matched_by: String,
    pub created_at: DateTime<Utc>,
    /// The 1-based choice picked; `None`: free text, no match, or recorded
    /// before choices were.
    pub choice: Option<i32>,
}

/// A session to create together with its enrolment messages. Its quiz
/// progress starts at zero (nothing is answered before the first turn).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    pub customer: CustomerId,
    pub programme: ProgrammeId,
    pub module_version: ModuleVersionId,
    pub status: SessionStatus,
    pub state: String,
    pub state_format: i32,
    /// The SENT messages of the enrolment, in order (turn 0).
    pub messages: Vec<String>,
    pub wake_at: Option<DateTime<Utc>>,
    pub at: DateTime<Utc>,
    /// Where the session starts resting.
    pub position: Option<Position>,
}

/// Result of [`crate::Store::create_session`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedSession {
    pub session: Session,
    /// The enrolment messages (those of the existing session when `existing`).
    pub messages: Vec<Message>,
    /// True when the customer already had a live session of this programme
    /// and module: that session is returned and nothing was stored.
    pub existing: bool,
}

/// What arrives for a turn: a learner's message, or nothing (a wake-up).
/// The turn's time is not here: the store reads its [`crate::Clock`] under
/// the session's lock and gives it to `decide`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    pub message: Option<InboundMessage>,
}

impl Inbound {
    /// A learner's message; `external_id` is the channel's id for it, if any.
    pub fn message(text: impl Into<String>, external_id: Option<String>) -> Self {
        Inbound {
            message: Some(InboundMessage {
                text: text.into(),
                external_id,
            }),
        }
    }

    /// A wake-up turn: no inbound message.
    pub fn wake_up() -> Self {
        Inbound { message: None }
    }
}

/// A learner's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundMessage {
    pub text: String,
    /// Idempotency key: a message whose external id is already stored for the
    /// session is not applied again.
    pub external_id: Option<String>,
}

/// What the caller's engine decided for a turn (see [`crate::Store::apply_turn`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnPlan {
    pub state: String,
    pub state_format: i32,
    pub status: SessionStatus,
    /// SENT replies, in order.
    pub replies: Vec<String>,
    /// Every quiz answer of the turn, for the log (scores come from `progress`).
    pub answers: Vec<NewQuizAnswer>,
    /// The session's quiz progress after the turn, as the engine counts it;
    /// stored as given (it is what the learner's `{score}` showed).
    pub progress: QuizProgress,
    /// The next wake-up (replaces the current one; `None` clears it).
    pub wake_at: Option<DateTime<Utc>>,
    /// Set last activity to this time; `None` keeps it.
    pub last_activity: Option<DateTime<Utc>>,
    /// Where the session rests after the turn; `None` keeps the current
    /// position.
    pub position: Option<Position>,
}

/// A session's quiz progress in its current run, as the engine counts it
/// (the first answer to a question in a run scores; a restart resets both
/// quizzes). The store keeps it verbatim; the answer log is separate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QuizProgress {
    pub pre_correct: i32,
    pub pre_answered: i32,
    pub post_correct: i32,
    pub post_answered: i32,
}

/// The engine declined the turn; nothing is stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("turn rejected: {reason}")]
pub struct TurnRejected {
    pub reason: String,
}

impl TurnRejected {
    pub fn new(reason: impl Into<String>) -> Self {
        TurnRejected {
            reason: reason.into(),
        }
    }
}

/// The decision closure of [`crate::Store::apply_turn`]: given the session as
/// stored (under its lock) and the turn's time (the store's clock, read under
/// that lock; every time the turn stores is this one), plan the turn. Pure,
/// synchronous and fast: it runs inside the transaction. It may run more than
/// once if the store retries. A panic in it rejects the turn
/// ([`crate::StoreError::Rejected`]) and nothing else.
pub type Decide<'a> =
    dyn FnMut(&Session, DateTime<Utc>) -> Result<TurnPlan, TurnRejected> + Send + 'a;

/// Result of [`crate::Store::apply_turn`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnOutcome {
    /// The session after the turn.
    pub session: Session,
    /// The stored inbound message (`None` for a wake-up).
    pub received: Option<Message>,
    /// The stored SENT replies, in order.
    pub sent: Vec<Message>,
    /// True when the inbound external id was already stored: nothing changed
    /// and `received`/`sent` are those of the original turn.
    pub replayed: bool,
}

impl TurnOutcome {
    /// The outcome of a repeated delivery: the original turn's messages
    /// (its RECEIVED message and its SENT replies, in id order).
    pub(crate) fn replayed(session: Session, messages: Vec<Message>) -> TurnOutcome {
        let (received, sent): (Vec<_>, Vec<_>) = messages
            .into_iter()
            .partition(|m| m.direction == Direction::Received);
        TurnOutcome {
            session,
            received: received.into_iter().next(),
            sent,
            replayed: true,
        }
    }
}

/// Times are stored with microsecond precision on both backends; truncating
/// before storing makes what a caller gets back equal to what is stored.
pub(crate) fn to_micros(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(at.timestamp_micros()).unwrap_or(at)
}

/// Pre and post quiz scores of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scores {
    pub pre: Score,
    pub post: Score,
}

/// A quiz score: questions answered correctly and questions answered, as
/// the last turn's [`QuizProgress`] said, and questions in the quiz.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Score {
    pub correct: i32,
    pub answered: i32,
    pub total: i32,
}

/// One session in a customer's list.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionSummary {
    pub session: Session,
    pub programme_identifier: i64,
    pub programme_name: String,
    pub module_name: String,
    pub scores: Scores,
}

/// One session in detail.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionDetail {
    pub summary: SessionSummary,
    pub answers: Vec<QuizAnswer>,
    pub message_count: i64,
    pub first_message_at: Option<DateTime<Utc>>,
    pub last_message_at: Option<DateTime<Utc>>,
}

/// A programme's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct ProgrammeSummary {
    pub programme: Programme,
    pub enrolled: i64,
    pub pending: i64,
    pub in_progress: i64,
    pub completed: i64,
    pub opted_out: i64,
    pub expired: i64,
    /// Mean of correct/total over sessions with at least one pre-quiz answer
    /// (0.0..=1.0); `None` when there is none.
    pub average_pre_score: Option<f64>,
    /// The same for the post-quiz.
    pub average_post_score: Option<f64>,
    /// Sessions whose current run answered every question of the pre-quiz.
    pub pre_quiz_completed: i64,
    /// Sessions whose current run answered some, not all, of the pre-quiz.
    pub pre_quiz_in_progress: i64,
    /// The same two for the post-quiz.
    pub post_quiz_completed: i64,
    pub post_quiz_in_progress: i64,
    /// Sessions whose current run completed both quizzes (paired).
    pub paired: i64,
    /// Mean pre-quiz correct/total over the paired sessions (0.0..=1.0);
    /// `None` when there is none.
    pub paired_pre_score: Option<f64>,
    /// The same for the post-quiz, over the same sessions.
    pub paired_post_score: Option<f64>,
}

impl ProgrammeSummary {
    /// The figures of no session.
    pub fn empty(programme: Programme) -> Self {
        ProgrammeSummary {
            programme,
            enrolled: 0,
            pending: 0,
            in_progress: 0,
            completed: 0,
            opted_out: 0,
            expired: 0,
            average_pre_score: None,
            average_post_score: None,
            pre_quiz_completed: 0,
            pre_quiz_in_progress: 0,
            post_quiz_completed: 0,
            post_quiz_in_progress: 0,
            paired: 0,
            paired_pre_score: None,
            paired_post_score: None,
        }
    }
}

/// The answers of a programme's sessions counted for the item analysis:
/// each session's **first** recorded answer to each question of each quiz
/// (the one that scored), grouped. Computed in the database; the rows are
/// few (questions x choices x attempts), whatever the number of sessions.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AnswerCounts {
    /// One row per distinct (question, quiz, choice, exhausted, correct,
    /// attempt), in no particular order.
    pub rows: Vec<AnswerCount>,
    /// The module versions the programme's sessions are pinned to
    /// (ascending).
    pub versions: Vec<ModuleVersionId>,
}

/// A group of first answers, see [`AnswerCounts`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerCount {
    pub question_id: String,
    pub quiz: QuizKind,
    /// The 1-based choice picked; `None`: free text, exhausted, or an
    /// answer recorded before choices were.
    pub choice: Option<i32>,
    /// Nothing matched and the attempts ran out (`matched_by` `exhausted`).
    pub exhausted: bool,
    pub correct: bool,
    pub attempt: i32,
    /// The number of sessions in the group.
    pub sessions: i64,
    /// A question text of the group (the smallest, for stability).
    pub question: String,
}

/// The SQL condition (over `sessions s` joined to `module_versions mv`) of
/// a paired session: its current run completed both quizzes.
pub(crate) const PAIRED_SQL: &str = "(mv.pre_quiz_total > 0 AND s.pre_answered >= mv.pre_quiz_total \
     AND mv.post_quiz_total > 0 AND s.post_answered >= mv.post_quiz_total)";

/// Which messages a transcript export covers (all given conditions apply).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExportFilter {
    /// A programme (`program_identifier`).
    pub programme: Option<i64>,
    /// Messages at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Messages strictly before this time.
    pub until: Option<DateTime<Utc>>,
}

/// One line of a transcript export, ordered by session then message id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportRow {
    pub message: Message,
    pub customer_uuid: Uuid,
    pub programme_identifier: i64,
    pub module_uuid: Uuid,
}

/// One line of an answers export: a recorded quiz answer with whose it is.
/// Ordered by session id then answer id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerExportRow {
    /// The answer's row id (its order in the session's log).
    pub id: i64,
    pub session: SessionId,
    pub session_uuid: Uuid,
    pub customer_uuid: Uuid,
    pub module_uuid: Uuid,
    /// The content hash of the module version the session is pinned to.
    pub module_version_hash: String,
    pub programme_identifier: i64,
    pub answer: QuizAnswer,
}

/// One line of a session (scores) export: a session of a programme with
/// its scores and its customer's name and phone. Ordered by session id
/// (enrolment order).
#[derive(Debug, Clone, PartialEq)]
pub struct SessionExportRow {
    pub summary: SessionSummary,
    pub customer_full_name: String,
    pub customer_phone: String,
    /// The session's outbox rows by status.
    pub delivery: DeliveryCounts,
}

/// A session's messages through channels, by outbox status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeliveryCounts {
    pub queued: i64,
    pub sent: i64,
    pub delivered: i64,
    pub failed: i64,
}

/// The columns of [`DeliveryCounts`] for a query over `sessions s`: the
/// session row keeps the counts (migration `session_delivery_counts`).
pub(crate) const DELIVERY_COLS: &str =
    "s.outbox_queued, s.outbox_sent, s.outbox_delivered, s.outbox_failed";

/// New messages were committed. Delivered by [`crate::Store::subscribe`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageEvent {
    /// Messages `ids` of `session` were committed.
    Committed {
        org: OrgId,
        session: SessionId,
        session_uuid: Uuid,
        ids: Vec<MessageId>,
    },
    /// Some events may have been missed (slow subscriber, lost connection):
    /// re-read the sessions you follow from the last id you delivered.
    Lagged,
}

/// A channel to create. The caller picks the uuid (the sealed secrets are
/// bound to it).
#[derive(Debug, Clone)]
pub struct NewChannel {
    pub uuid: Uuid,
    pub org: OrgId,
    /// `webhook`, `twilio`, `africastalking` or `whatsapp`.
    pub kind: String,
    pub name: String,
    /// JSON settings, without secrets (`{"url": ...}`).
    pub settings: String,
    /// The secrets, sealed by the caller (the store never sees them in clear).
    pub secrets: String,
    /// ISO 3166 alpha-2 country for phones without a country code.
    pub default_country: String,
    pub rate_per_second: u32,
    pub created_at: DateTime<Utc>,
}

/// A channel of an organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    pub id: ChannelId,
    pub uuid: Uuid,
    pub org: OrgId,
    pub kind: String,
    pub name: String,
    pub settings: String,
    pub secrets: String,
    pub default_country: String,
    pub rate_per_second: u32,
    pub created_at: DateTime<Utc>,
    pub disabled_at: Option<DateTime<Utc>>,
}

/// Where an outbox row stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    Queued,
    Sent,
    Delivered,
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Queued => "queued",
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }
}

impl FromStr for DeliveryStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "queued" => DeliveryStatus::Queued,
            "sent" => DeliveryStatus::Sent,
            "delivered" => DeliveryStatus::Delivered,
            "failed" => DeliveryStatus::Failed,
            other => return Err(format!("unknown delivery status {other:?}")),
        })
    }
}

/// Why a message was queued: `enrolment` (turn 0), `reply` (to the
/// learner's message), `expiry` (a wake-up turn that expired the
/// session: the expiry notice), `reminder` (any other wake-up turn).
pub(crate) fn purpose_of(turn: i64, inbound: bool, expires: bool) -> &'static str {
    match (turn, inbound, expires) {
        (0, _, _) => "enrolment",
        (_, true, _) => "reply",
        (_, false, true) => "expiry",
        (_, false, false) => "reminder",
    }
}

/// One outbox row with the message it delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxItem {
    pub id: OutboxId,
    pub org: OrgId,
    pub channel: ChannelId,
    /// E.164.
    pub recipient: String,
    pub purpose: String,
    /// Stable across retries: the `webhook-id`.
    pub idempotency_key: String,
    pub status: DeliveryStatus,
    /// Attempts made before this one.
    pub attempts: u32,
    pub provider_message_id: Option<String>,
    pub error: Option<String>,
    pub queued_at: DateTime<Utc>,
    pub customer_uuid: Uuid,
    /// The message to deliver; `None` for an event (purpose `event`).
    pub message: Option<Message>,
    /// An event's JSON (docs/channels.md, events for integrators).
    pub payload: Option<String>,
}

/// How an attempt to deliver an outbox row ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutboxOutcome {
    /// Accepted by the receiver, with its message id if it gave one and
    /// the SMS segments it was handed (SMS channels).
    Sent {
        provider_message_id: Option<String>,
        segments: Option<u32>,
    },
    /// Try again at `at`.
    Retry { at: DateTime<Utc>, error: String },
    /// Given up.
    Failed { error: String },
}

/// The queued rows of one channel: how many, and since when the oldest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxDepth {
    pub channel: ChannelId,
    pub queued: i64,
    pub oldest_queued_at: DateTime<Utc>,
}

/// A delivery report: what a provider says became of a message it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryReport {
    /// `Sent` (accepted downstream), `Delivered` or `Failed`.
    pub status: DeliveryStatus,
    /// Why it failed (`Failed` only).
    pub error: Option<String>,
    pub at: DateTime<Utc>,
}

/// The outbox row a delivery report matched, as it stands after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportedRow {
    pub id: OutboxId,
    pub org: OrgId,
    /// E.164.
    pub recipient: String,
    pub status: DeliveryStatus,
}

/// The delivery record of one message (its outbox row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageDelivery {
    pub message: MessageId,
    pub status: DeliveryStatus,
    pub provider_message_id: Option<String>,
    /// The last error: why it failed, or why the last attempt did not go.
    pub error: Option<String>,
    pub attempts: u32,
    /// SMS segments handed to the provider (SMS channels).
    pub segments: Option<u32>,
    pub queued_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub failed_at: Option<DateTime<Utc>>,
}

/// A contact's consent in its organisation (docs/channels.md): when it
/// last opted out and the message that did it, and when it opted back in.
/// A contact that never opted out has no record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    pub phone: String,
    /// Set while the contact is opted out.
    pub opted_out_at: Option<DateTime<Utc>>,
    /// The learner's text that opted the contact out.
    pub opted_out_message: Option<String>,
    /// The last opt-in (START), if any.
    pub opted_in_at: Option<DateTime<Utc>>,
}

/// What setting a customer's E.164 phone did ([`crate::Store::set_phone_e164`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhoneSet {
    Set,
    /// Another customer of the organisation has that phone already.
    Taken {
        by: Uuid,
    },
}

/// An organisation's quiet hours as stored: local times `HH:MM` (the API
/// checks them) and an IANA zone, `None` for the server's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuietHours {
    pub start: String,
    pub end: String,
    pub timezone: Option<String>,
}
