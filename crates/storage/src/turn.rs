//! The turn and the enrolment, written once for both backends.
//!
//! A backend opens the transaction (and takes the session's lock, as it
//! must: SQLite holds the database write lock, PostgreSQL locks the row in
//! [`TurnTx::lock_session`]), runs [`turn`] or [`enrol`] on it through its
//! [`TurnTx`] / [`EnrolTx`] (its own SQL), and then commits or rolls back as
//! the result says. What a turn reads and writes, and in which order, is
//! decided here only.

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::clock::Clock;
use crate::model::*;
use crate::{Result, StoreError};

/// A message to insert.
pub(crate) struct NewMessage<'a> {
    pub session: &'a Session,
    pub direction: Direction,
    pub text: &'a str,
    pub at: DateTime<Utc>,
    pub external_id: Option<&'a str>,
    pub turn: i64,
}

impl NewMessage<'_> {
    /// The stored message, given its new id.
    fn stored(&self, id: MessageId) -> Message {
        Message {
            id,
            session: self.session.id,
            session_uuid: self.session.uuid,
            customer: self.session.customer,
            direction: self.direction,
            text: self.text.to_owned(),
            created_at: self.at,
            external_id: self.external_id.map(str::to_owned),
            turn: self.turn,
        }
    }
}

/// The statements of a turn, in one backend's SQL, on its open transaction.
pub(crate) trait TurnTx: Send {
    /// The session, locked until the transaction ends; `None` if missing.
    async fn lock_session(&mut self, id: SessionId) -> Result<Option<Session>>;
    /// The turn whose inbound message has this external id, if any.
    async fn turn_of_external_id(
        &mut self,
        session: SessionId,
        external_id: &str,
    ) -> Result<Option<i64>>;
    /// The session, locked, and the turn whose inbound message has
    /// `external_id`, if any: what a turn reads before it decides. A backend
    /// may read both at once.
    async fn open_turn(
        &mut self,
        id: SessionId,
        external_id: Option<&str>,
    ) -> Result<Option<(Session, Option<i64>)>> {
        let Some(session) = self.lock_session(id).await? else {
            return Ok(None);
        };
        let replay = match external_id {
            Some(external_id) => self.turn_of_external_id(id, external_id).await?,
            None => None,
        };
        Ok(Some((session, replay)))
    }
    /// The messages one turn of a session stored, in id order.
    async fn turn_messages(&mut self, session: SessionId, turn: i64) -> Result<Vec<Message>>;
    /// Insert `messages`, in order (their ids increase in that order).
    async fn insert_messages(&mut self, messages: &[NewMessage<'_>]) -> Result<Vec<MessageId>>;
    /// Insert a turn's quiz answers, in order.
    async fn insert_answers(
        &mut self,
        session: SessionId,
        answers: &[NewQuizAnswer],
        at: DateTime<Utc>,
    ) -> Result<()>;
    /// Store the session's new state, status, turns, wake-up, last activity,
    /// position and quiz progress, and end its wake-up lease. A session
    /// that ends (Completed, OptedOut, Expired) keeps `at` as the time it
    /// ended, unless it had ended before; a live one has no end.
    /// `reached`: a step the session rests on from now, recorded in
    /// `session_steps` unless it rested there before (the funnel counts the
    /// first time). `queued`: the turn's outbox rows, inserted (status
    /// queued, due at once) in order with the update, and added to the
    /// session's count of queued rows. They travel together so a backend
    /// can write them in one statement, and cannot be left behind.
    async fn update_session(
        &mut self,
        session: &Session,
        progress: &QuizProgress,
        at: DateTime<Utc>,
        reached: Option<&str>,
        queued: &[QueuedRow<'_>],
    ) -> Result<()>;
    /// How the session's customer is reached, if they have a phone.
    async fn reach(&mut self, session: &Session) -> Result<Option<Reach>>;
    /// Enabled channels of the organisation subscribed to `event`.
    async fn subscribers(&mut self, org: OrgId, event: &str) -> Result<Vec<ChannelId>>;
    /// Questions in the pre- and post-quiz of a module version.
    async fn quiz_totals(&mut self, version: ModuleVersionId) -> Result<(i32, i32)>;
    /// Insert an event's outbox row (status queued, due at once).
    async fn queue_event(&mut self, row: &QueuedEvent) -> Result<()>;
    /// Mark the contact opted out of the organisation (and audit it).
    async fn opt_out(
        &mut self,
        org: OrgId,
        phone: &str,
        message: Option<MessageId>,
        at: DateTime<Utc>,
    ) -> Result<()>;
}

/// How a customer is reached: their phone, the channel to use (none: the
/// organisation has no enabled channel) and whether the contact opted out.
pub(crate) struct Reach {
    pub phone: String,
    pub channel: Option<ChannelId>,
    pub opted_out: bool,
}

/// An outbox row to insert.
pub(crate) struct QueuedRow<'a> {
    pub org: OrgId,
    pub channel: ChannelId,
    pub recipient: &'a str,
    pub message: &'a Message,
    pub purpose: &'static str,
    pub idempotency_key: String,
    pub at: DateTime<Utc>,
}

/// An event's outbox row: no message, a JSON payload. Events of one
/// session are delivered in order (their `recipient` is the session).
pub(crate) struct QueuedEvent {
    pub org: OrgId,
    pub channel: ChannelId,
    pub session: SessionId,
    pub recipient: String,
    pub payload: String,
    pub idempotency_key: String,
    pub at: DateTime<Utc>,
}

/// The event an integrator may subscribe to when a session's status
/// changes to `to` (docs/channels.md).
fn session_event(from: SessionStatus, to: SessionStatus) -> Option<&'static str> {
    if from == to {
        return None;
    }
    match to {
        SessionStatus::Completed => Some("session.completed"),
        SessionStatus::OptedOut => Some("session.opted_out"),
        SessionStatus::Expired => Some("session.expired"),
        SessionStatus::Pending | SessionStatus::InProgress => None,
    }
}

/// Queues the session's status event to every subscribed channel, in the
/// turn's transaction: committed with the turn, or not at all.
async fn queue_session_event<T: TurnTx>(
    tx: &mut T,
    from: SessionStatus,
    session: &Session,
    progress: &QuizProgress,
    at: DateTime<Utc>,
) -> Result<()> {
    let Some(event) = session_event(from, session.status) else {
        return Ok(());
    };
    let channels = tx.subscribers(session.org, event).await?;
    if channels.is_empty() {
        return Ok(());
    }
    let (pre_total, post_total) = tx.quiz_totals(session.module_version).await?;
    for channel in channels {
        // One key per event and channel: the `webhook-id`.
        let key = format!(
            "evt_{}_{}_{}_{}",
            session.uuid.simple(),
            session.turns,
            event.rsplit('.').next().unwrap_or(event),
            channel.0
        );
        let payload = serde_json::json!({
            "type": event,
            "idempotency_key": key,
            "session_uuid": session.uuid,
            "customer_uuid": session.customer_uuid,
            "module_uuid": session.module_uuid,
            "status": session.status.as_str(),
            "pre_quiz": {"correct": progress.pre_correct, "answered": progress.pre_answered, "total": pre_total},
            "post_quiz": {"correct": progress.post_correct, "answered": progress.post_answered, "total": post_total},
            "at": at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        });
        tx.queue_event(&QueuedEvent {
            org: session.org,
            channel,
            session: session.id,
            recipient: format!("session:{}", session.uuid),
            payload: payload.to_string(),
            idempotency_key: key,
            at,
        })
        .await?;
    }
    Ok(())
}

/// A message the outbox gave up on, for the `delivery.failed` event.
pub(crate) struct FailedDelivery {
    pub org: OrgId,
    pub session: SessionId,
    pub session_uuid: Uuid,
    pub customer_uuid: Uuid,
    pub message_id: i64,
    pub idempotency_key: String,
    pub purpose: String,
}

/// The `delivery.failed` events of a failed message, one per subscribed
/// channel (the backend inserts them in the transaction that marks the
/// message failed).
pub(crate) fn delivery_failed_events(
    failed: &FailedDelivery,
    channels: &[ChannelId],
    error: &str,
    at: DateTime<Utc>,
) -> Vec<QueuedEvent> {
    channels
        .iter()
        .map(|channel| {
            let key = format!("evt_{}_failed_{}", failed.idempotency_key, channel.0);
            let payload = serde_json::json!({
                "type": "delivery.failed",
                "idempotency_key": key,
                "session_uuid": failed.session_uuid,
                "customer_uuid": failed.customer_uuid,
                "message_id": failed.message_id,
                "message_idempotency_key": failed.idempotency_key,
                "purpose": failed.purpose,
                "error": error,
                "at": at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            });
            QueuedEvent {
                org: failed.org,
                channel: *channel,
                session: failed.session,
                recipient: format!("session:{}", failed.session_uuid),
                payload: payload.to_string(),
                idempotency_key: key,
                at,
            }
        })
        .collect()
}

/// The idempotency key of a message's delivery: stable, unique, and the
/// same on every attempt (the `webhook-id`).
fn idempotency_key(message: &Message) -> String {
    format!("msg_{}_{}", message.session_uuid.simple(), message.id)
}

/// How many rows, for a session's count of queued rows.
pub(crate) fn count_rows(rows: &[QueuedRow<'_>]) -> i64 {
    i64::try_from(rows.len()).unwrap_or(i64::MAX)
}

/// The outbox rows of the sent messages, in id order, if the customer is
/// reachable on a channel and has not opted out; none otherwise.
fn rows_to_queue<'a>(
    reach: Option<&'a Reach>,
    org: OrgId,
    sent: &'a [Message],
    purpose: &'static str,
    at: DateTime<Utc>,
) -> Vec<QueuedRow<'a>> {
    let Some(Reach {
        phone,
        channel: Some(channel),
        opted_out: false,
    }) = reach
    else {
        return Vec::new();
    };
    sent.iter()
        .map(|message| QueuedRow {
            org,
            channel: *channel,
            recipient: phone,
            message,
            purpose,
            idempotency_key: idempotency_key(message),
            at,
        })
        .collect()
}

/// How a turn ended, for the backend to commit.
pub(crate) enum TurnDone {
    /// The inbound external id was stored before: nothing was written.
    Replayed(TurnOutcome),
    /// Written: commit, then announce `event` (if the turn stored messages).
    Applied(TurnOutcome, Option<MessageEvent>),
}

impl TurnDone {
    pub(crate) fn outcome(self) -> TurnOutcome {
        match self {
            TurnDone::Replayed(outcome) | TurnDone::Applied(outcome, _) => outcome,
        }
    }
}

/// One turn on an open transaction: lock and load the session; replay a
/// repeated external id; read the clock (now, under the lock) and decide;
/// store the inbound message, the replies and the answers with that time;
/// update the session. A rejection, a panic in `decide` or a missing session
/// returns an error before anything is written.
pub(crate) async fn turn<T: TurnTx>(
    tx: &mut T,
    clock: &dyn Clock,
    session: SessionId,
    inbound: &Inbound,
    decide: &mut Decide<'_>,
) -> Result<TurnDone> {
    let external_id = inbound
        .message
        .as_ref()
        .and_then(|m| m.external_id.as_deref());
    let (current, replay) = tx
        .open_turn(session, external_id)
        .await?
        .ok_or(StoreError::NotFound("session"))?;
    if let Some(turn) = replay {
        let messages = tx.turn_messages(session, turn).await?;
        return Ok(TurnDone::Replayed(TurnOutcome::replayed(current, messages)));
    }
    let at = to_micros(clock.now());
    let plan = decide_safely(decide, &current, at)?;
    let turn = current.turns + 1;
    // The learner's message, then the replies: stored at once, in order.
    let message = |direction, text, external_id| NewMessage {
        session: &current,
        direction,
        text,
        at,
        external_id,
        turn,
    };
    let new: Vec<NewMessage<'_>> = inbound
        .message
        .iter()
        .map(|m| message(Direction::Received, &m.text, external_id))
        .chain(
            plan.replies
                .iter()
                .map(|reply| message(Direction::Sent, reply, None)),
        )
        .collect();
    let ids = tx.insert_messages(&new).await?;
    let mut stored = new.iter().zip(ids).map(|(new, id)| new.stored(id));
    let received = inbound.message.as_ref().and_then(|_| stored.next());
    let sent: Vec<Message> = stored.collect();
    tx.insert_answers(session, &plan.answers, at).await?;
    // Delivery: the replies are queued in the outbox with the session's
    // update, in this transaction. A STOP opts the contact out, and its
    // confirmation is queued all the same (the reach was read before).
    let opts_out =
        plan.status == SessionStatus::OptedOut && current.status != SessionStatus::OptedOut;
    let reach = if !sent.is_empty() || opts_out {
        tx.reach(&current).await?
    } else {
        None
    };
    let expires = plan.status == SessionStatus::Expired && current.status != SessionStatus::Expired;
    let purpose = purpose_of(turn, received.is_some(), expires);
    let queued = rows_to_queue(reach.as_ref(), current.org, &sent, purpose, at);
    if opts_out
        && let Some(reach) = &reach
        && !reach.opted_out
    {
        let cause = received.as_ref().map(|m| m.id);
        tx.opt_out(current.org, &reach.phone, cause, at).await?;
    }
    let last_activity = plan.last_activity.map(to_micros).or(current.last_activity);
    let from = current.status;
    let reached = plan
        .position
        .as_ref()
        .filter(|p| {
            current
                .position
                .as_ref()
                .is_none_or(|now| now.step != p.step)
        })
        .map(|p| p.step.clone());
    let position = plan.position.or(current.position);
    let session = Session {
        status: plan.status,
        state: plan.state,
        state_format: plan.state_format,
        turns: turn,
        last_activity,
        wake_at: plan.wake_at.map(to_micros),
        position,
        ..current
    };
    tx.update_session(&session, &plan.progress, at, reached.as_deref(), &queued)
        .await?;
    queue_session_event(tx, from, &session, &plan.progress, at).await?;
    let event = event(
        &session,
        received.iter().chain(&sent).map(|m| m.id).collect(),
    );
    Ok(TurnDone::Applied(
        TurnOutcome {
            session,
            received,
            sent,
            replayed: false,
        },
        event,
    ))
}

/// `decide`, with a panic turned into a rejection of this turn only (on
/// SQLite other sessions' turns share the transaction; they must not fail
/// because of it).
fn decide_safely(
    decide: &mut Decide<'_>,
    session: &Session,
    at: DateTime<Utc>,
) -> Result<TurnPlan, TurnRejected> {
    match std::panic::catch_unwind(AssertUnwindSafe(|| decide(session, at))) {
        Ok(plan) => plan,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".to_owned());
            tracing::error!(session = %session.uuid, panic = %what, "the turn's decision panicked");
            Err(TurnRejected::new(format!(
                "the turn's decision panicked: {what}"
            )))
        }
    }
}

/// Runs a turn, and once more if a unique constraint refused it: the lock
/// makes the external-id check and insert atomic, so that only happens if
/// another writer got past it; the retry then replays its turn.
pub(crate) async fn with_retry<R: TurnRunner>(
    runner: &R,
    session: SessionId,
    inbound: &Inbound,
    decide: &mut Decide<'_>,
) -> Result<TurnOutcome> {
    match runner.try_turn(session, inbound, decide).await {
        Err(e) if e.is_unique_violation() => runner.try_turn(session, inbound, decide).await,
        other => other,
    }
}

/// A backend's whole turn: begin, [`turn`], commit.
pub(crate) trait TurnRunner: Sync {
    async fn try_turn(
        &self,
        session: SessionId,
        inbound: &Inbound,
        decide: &mut Decide<'_>,
    ) -> Result<TurnOutcome>;
}

/// The event announcing new messages of a session.
pub(crate) fn event(session: &Session, ids: Vec<MessageId>) -> Option<MessageEvent> {
    (!ids.is_empty()).then_some(MessageEvent::Committed {
        org: session.org,
        session: session.id,
        session_uuid: session.uuid,
        ids,
    })
}

/// Until when a wake-up claimed at `now` is leased. A lease too long to
/// represent lasts to the end of representable time (it never runs out),
/// on both backends: a claim never panics and never holds a session for
/// less than was asked.
pub(crate) fn lease_until(now: DateTime<Utc>, lease: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(lease)
        .ok()
        .and_then(|lease| now.checked_add_signed(lease))
        .map(to_micros)
        .unwrap_or_else(|| to_micros(DateTime::<Utc>::MAX_UTC))
}

/// The statements of an enrolment, in one backend's SQL.
pub(crate) trait EnrolTx: TurnTx {
    /// Whether the customer is `org`'s.
    async fn customer_of(&mut self, org: OrgId, customer: CustomerId) -> Result<bool>;
    /// Whether the customer's phone opted out of their organisation.
    async fn customer_opted_out(&mut self, customer: CustomerId) -> Result<bool>;
    /// Whether the programme is `org`'s.
    async fn programme_of(&mut self, org: OrgId, programme: ProgrammeId) -> Result<bool>;
    /// The module uuid of a module version.
    async fn module_uuid(&mut self, version: ModuleVersionId) -> Result<Option<Uuid>>;
    /// Insert the session unless the customer has a live one of this
    /// programme and module (then `None`, nothing written); the step it
    /// starts on (`new.position`) is the first of its `session_steps`.
    async fn insert_session(&mut self, row: &SessionInsert<'_>) -> Result<Option<SessionId>>;
    /// The customer's live session of this programme and module.
    async fn live_session(
        &mut self,
        customer: CustomerId,
        programme: ProgrammeId,
        module_uuid: Uuid,
    ) -> Result<Option<SessionId>>;
    /// A session, not locked.
    async fn load_session(&mut self, id: SessionId) -> Result<Option<Session>>;
    /// Insert outbox rows of the session's messages (status queued, due at
    /// once), in order, and add them to the session's count of queued rows.
    async fn queue_outbox(&mut self, session: SessionId, rows: &[QueuedRow<'_>]) -> Result<()>;
}

/// The sessions row of an enrolment.
pub(crate) struct SessionInsert<'a> {
    pub uuid: Uuid,
    pub org: OrgId,
    pub module_uuid: Uuid,
    pub new: &'a NewSession,
    pub at: DateTime<Utc>,
}

/// How an enrolment ended, for the backend to commit.
pub(crate) enum Enrolled {
    /// Created: commit, then announce `event`.
    New(CreatedSession, Option<MessageEvent>),
    /// The customer's live session (nothing written: roll back).
    Existing(CreatedSession),
    /// A live session blocked ours but ended before we could read it: roll
    /// back and try again.
    Retry,
}

/// An enrolment on an open transaction: check ownership, insert the session
/// unless a live one exists (then return that one), insert the enrolment
/// messages (turn 0).
pub(crate) async fn enrol<T: EnrolTx>(
    tx: &mut T,
    org: OrgId,
    new: &NewSession,
) -> Result<Enrolled> {
    if !tx.customer_of(org, new.customer).await? {
        return Err(StoreError::NotFound("customer"));
    }
    if !tx.programme_of(org, new.programme).await? {
        return Err(StoreError::NotFound("programme"));
    }
    if tx.customer_opted_out(new.customer).await? {
        return Err(StoreError::OptedOut);
    }
    let module_uuid = tx
        .module_uuid(new.module_version)
        .await?
        .ok_or(StoreError::NotFound("module version"))?;
    let at = to_micros(new.at);
    let row = SessionInsert {
        uuid: Uuid::new_v4(),
        org,
        module_uuid,
        new,
        at,
    };
    let Some(id) = tx.insert_session(&row).await? else {
        let Some(existing) = tx
            .live_session(new.customer, new.programme, module_uuid)
            .await?
        else {
            return Ok(Enrolled::Retry);
        };
        let session = tx
            .load_session(existing)
            .await?
            .ok_or(StoreError::NotFound("session"))?;
        let messages = tx.turn_messages(session.id, 0).await?;
        return Ok(Enrolled::Existing(CreatedSession {
            session,
            messages,
            existing: true,
        }));
    };
    let session = tx
        .load_session(id)
        .await?
        .ok_or(StoreError::NotFound("session"))?;
    let rows: Vec<NewMessage<'_>> = new
        .messages
        .iter()
        .map(|text| NewMessage {
            session: &session,
            direction: Direction::Sent,
            text,
            at,
            external_id: None,
            turn: 0,
        })
        .collect();
    let ids = tx.insert_messages(&rows).await?;
    let messages: Vec<Message> = rows.iter().zip(ids).map(|(m, id)| m.stored(id)).collect();
    if !messages.is_empty() {
        let reach = tx.reach(&session).await?;
        let queued = rows_to_queue(reach.as_ref(), org, &messages, "enrolment", at);
        if !queued.is_empty() {
            tx.queue_outbox(session.id, &queued).await?;
        }
    }
    let event = event(&session, messages.iter().map(|m| m.id).collect());
    Ok(Enrolled::New(
        CreatedSession {
            session,
            messages,
            existing: false,
        },
        event,
    ))
}

/// Attempts of an enrolment whose conflicting live session keeps ending.
pub(crate) const ENROL_ATTEMPTS: usize = 3;

/// The error after [`ENROL_ATTEMPTS`] retries.
pub(crate) fn enrol_gave_up() -> StoreError {
    StoreError::Database(sqlx::Error::Protocol(
        "enrolment kept conflicting with a session that ended; try again".into(),
    ))
}
