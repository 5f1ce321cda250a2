//! Running turns: the engine decides, the store commits. This is the only
//! module that maps engine values (state, effects) to store values.

use std::sync::Arc;
use std::time::Instant;

use chatcourse_engine::Module;
use chatcourse_storage::{
    Customer, Inbound, NewSession, Programme, Session, StoreError, TurnOutcome, TurnPlan,
    TurnRejected,
};
use chrono::{DateTime, Utc};

use crate::catalogue::CatalogueEntry;
use crate::config::MAX_MESSAGE_CHARS;
use crate::error::ApiError;
use crate::state::AppState;

/// Longest accepted `external_id`, in characters.
pub const MAX_EXTERNAL_ID_CHARS: usize = 200;

/// What caused a turn (a metrics label).
#[derive(Debug, Clone, Copy)]
pub enum TurnKind {
    Enrol,
    Message,
    WebSocket,
    Wake,
}

impl TurnKind {
    fn label(self) -> &'static str {
        match self {
            TurnKind::Enrol => "enrol",
            TurnKind::Message => "message",
            TurnKind::WebSocket => "websocket",
            TurnKind::Wake => "wake",
        }
    }
}

/// A learner's message must have text, no NUL characters (PostgreSQL text
/// cannot hold them) and be at most [`MAX_MESSAGE_CHARS`] characters.
pub fn validate_text(text: &str) -> Result<(), ApiError> {
    if text.trim().is_empty() {
        return Err(ApiError::Validation(vec![
            "message: must not be empty".to_owned(),
        ]));
    }
    if text.contains('\0') {
        return Err(ApiError::Validation(vec![
            "message: must not contain NUL characters".to_owned(),
        ]));
    }
    if text.chars().count() > MAX_MESSAGE_CHARS {
        return Err(ApiError::MessageTooLong {
            limit_chars: MAX_MESSAGE_CHARS,
        });
    }
    Ok(())
}

/// An empty external id counts as none.
pub fn validate_external_id(id: Option<String>, errors: &mut Vec<String>) -> Option<String> {
    let id = id?.trim().to_owned();
    if id.is_empty() {
        return None;
    }
    if id.contains('\0') {
        errors.push("external_id: must not contain NUL characters".to_owned());
    }
    if id.chars().count() > MAX_EXTERNAL_ID_CHARS {
        errors.push(format!(
            "external_id: must be at most {MAX_EXTERNAL_ID_CHARS} characters"
        ));
    }
    Some(id)
}

fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound(_) => ApiError::SessionNotFound,
        other => ApiError::internal(other),
    }
}

/// Creates the session of `customer` in `programme` on the current version
/// of `entry`, with the enrolment messages; or returns the customer's live
/// session of that programme and module.
pub async fn enrol(
    state: &AppState,
    customer: &Customer,
    programme: &Programme,
    entry: &CatalogueEntry,
    (language, timezone): (Option<&str>, &str),
) -> Result<Session, ApiError> {
    let started = Instant::now();
    let now = state.clock.now();
    let plan = engine::start(&entry.module, customer, (language, timezone), now);
    let created = state
        .store
        .create_session(
            customer.org,
            &NewSession {
                customer: customer.id,
                programme: programme.id,
                module_version: entry.version.id,
                status: plan.status,
                state: plan.state,
                state_format: plan.state_format,
                messages: plan.replies,
                wake_at: plan.wake_at,
                at: now,
                position: Some(plan.position),
            },
        )
        .await
        .map_err(|e| match e {
            StoreError::NotFound(_) => ApiError::CustomerNotFound,
            StoreError::OptedOut => ApiError::CustomerOptedOut,
            other => ApiError::internal(other),
        });
    let outcome = match &created {
        Ok(c) if c.existing => "existing",
        Ok(_) => "applied",
        Err(_) => "error",
    };
    state
        .metrics
        .turn(TurnKind::Enrol.label(), outcome, started.elapsed());
    Ok(created?.session)
}

/// Applies a learner's message to `session` (pinned module version).
pub async fn learner_turn(
    state: &AppState,
    session: &Session,
    text: String,
    external_id: Option<String>,
    kind: TurnKind,
) -> Result<TurnOutcome, ApiError> {
    let inbound = Inbound::message(text.clone(), external_id);
    let sent = text.clone();
    let outcome = run(state, session, inbound, kind, move |module, s, at| {
        engine::step(module, s, Some(&text), at)
    })
    .await?;
    // A replayed external id must name the same message: another text under
    // it is a client's mistake, answered as a conflict (nothing was stored).
    if outcome.replayed
        && outcome
            .received
            .as_ref()
            .is_some_and(|received| received.text != sent)
    {
        return Err(ApiError::IdempotencyConflict);
    }
    Ok(outcome)
}

/// Wakes `session` (its timer is due).
pub async fn wake_turn(state: &AppState, session: &Session) -> Result<TurnOutcome, ApiError> {
    let quiet = quiet_window(state, session.org).await?;
    run(
        state,
        session,
        Inbound::wake_up(),
        TurnKind::Wake,
        move |module, s, at| match quiet.and_then(|w| w.holds(at)) {
            // Quiet hours (the time read under the session's lock): the
            // wake-up waits until they end, nothing else changes.
            Some(until) => engine::postpone(s, until),
            None => engine::step(module, s, None, at),
        },
    )
    .await
}

/// The organisation's quiet hours, in its zone or the server's.
async fn quiet_window(
    state: &AppState,
    org: chatcourse_storage::OrgId,
) -> Result<Option<crate::quiet::Window>, ApiError> {
    let Some(quiet) = state
        .store
        .quiet_hours(org)
        .await
        .map_err(ApiError::internal)?
    else {
        return Ok(None);
    };
    let zone = match quiet.timezone.as_deref() {
        Some(name) => crate::config::parse_timezone(name).map_err(ApiError::internal)?,
        None => state.timezone,
    };
    crate::quiet::Window::new(&quiet.start, &quiet.end, zone)
        .map(Some)
        .map_err(ApiError::internal)
}

async fn run(
    state: &AppState,
    session: &Session,
    inbound: Inbound,
    kind: TurnKind,
    decide: impl Fn(&Module, &Session, DateTime<Utc>) -> Result<TurnPlan, TurnRejected> + Send + Sync,
) -> Result<TurnOutcome, ApiError> {
    let started = Instant::now();
    let module: Arc<Module> = state
        .catalogue
        .version(state.store.as_ref(), session.module_version)
        .await?;
    // `at` is the store's clock, read under the session's lock.
    let mut decide = |s: &Session, at: DateTime<Utc>| decide(&module, s, at);
    let result = state
        .store
        .apply_turn(session.id, inbound, &mut decide)
        .await
        .map_err(store_error);
    let outcome = match &result {
        Ok(o) if o.replayed => "duplicate",
        Ok(_) => "applied",
        Err(_) => "error",
    };
    state.metrics.turn(kind.label(), outcome, started.elapsed());
    result
}

/// The engine's side of a turn, in store terms.
mod engine {
    use chatcourse_engine::runtime::STATE_FORMAT;
    use chatcourse_engine::{Effect, Input, StartOptions, State, Status};
    use chatcourse_storage::{NewQuizAnswer, Position, QuizKind, QuizProgress, SessionStatus};

    use super::*;

    /// What `start` decided: the first state and the enrolment messages.
    pub struct Start {
        pub state: String,
        pub state_format: i32,
        pub status: SessionStatus,
        pub replies: Vec<String>,
        pub wake_at: Option<DateTime<Utc>>,
        pub position: Position,
    }

    /// Where the engine's state rests, for the store's reports.
    fn position(state: &State) -> Position {
        Position {
            step: state.step.clone(),
            language: state.language.to_string(),
        }
    }

    fn state_format() -> i32 {
        i32::try_from(STATE_FORMAT).unwrap_or(i32::MAX)
    }

    /// The learner's name in messages: the first word of the full name.
    fn learner_name(customer: &Customer) -> Option<String> {
        customer
            .full_name
            .split_whitespace()
            .next()
            .map(str::to_owned)
    }

    fn count(n: impl TryInto<i32>) -> i32 {
        n.try_into().unwrap_or(i32::MAX)
    }

    /// The quiz progress the store keeps: the engine's own counts (those
    /// `{score}` shows), so summaries agree with what the learner was told.
    fn progress(state: &State) -> QuizProgress {
        QuizProgress {
            pre_correct: count(state.pre.correct),
            pre_answered: count(state.pre.answered.len()),
            post_correct: count(state.post.correct),
            post_answered: count(state.post.answered.len()),
        }
    }

    fn status(engine: Status, live: SessionStatus) -> SessionStatus {
        match engine {
            Status::Active => live,
            Status::Completed => SessionStatus::Completed,
            Status::OptedOut => SessionStatus::OptedOut,
            Status::Expired => SessionStatus::Expired,
        }
    }

    pub fn start(
        module: &Module,
        customer: &Customer,
        (language, timezone): (Option<&str>, &str),
        at: DateTime<Utc>,
    ) -> Start {
        let options = StartOptions {
            language: language.map(str::to_owned),
            learner_name: learner_name(customer),
        };
        let turn = chatcourse_engine::start_in_zone(module, options, Some(timezone), at);
        Start {
            state: turn.state.to_json(),
            state_format: state_format(),
            status: status(turn.state.status, SessionStatus::Pending),
            replies: turn.messages().map(str::to_owned).collect(),
            wake_at: turn.wake_at(),
            position: position(&turn.state),
        }
    }

    /// A wake-up held back until `until` (quiet hours): nothing is said or
    /// changed but the time of the next wake-up.
    pub fn postpone(session: &Session, until: DateTime<Utc>) -> Result<TurnPlan, TurnRejected> {
        let state = State::from_json(&session.state)
            .map_err(|e| TurnRejected::new(format!("session {}: {e}", session.uuid)))?;
        Ok(TurnPlan {
            state: session.state.clone(),
            state_format: session.state_format,
            status: session.status,
            replies: Vec::new(),
            answers: Vec::new(),
            progress: progress(&state),
            wake_at: Some(until),
            last_activity: None,
            position: None,
        })
    }

    /// Plans a turn: a learner's `text`, or a wake-up when `None`.
    /// A learner's message makes a live session InProgress; a wake-up
    /// keeps Pending sessions Pending.
    pub fn step(
        module: &Module,
        session: &Session,
        text: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<TurnPlan, TurnRejected> {
        let state = State::from_json(&session.state)
            .map_err(|e| TurnRejected::new(format!("session {}: {e}", session.uuid)))?;
        let input = match text {
            Some(text) => Input::text(text, at),
            None => Input::Wake { at },
        };
        let turn = chatcourse_engine::step(module, &state, &input)
            .map_err(|e| TurnRejected::new(format!("session {}: {e}", session.uuid)))?;
        let live = if text.is_none() && session.status == SessionStatus::Pending {
            SessionStatus::Pending
        } else {
            SessionStatus::InProgress
        };
        let answers = turn
            .effects
            .iter()
            .filter_map(|effect| match effect {
                Effect::Answer {
                    step_id,
                    quiz: Some(quiz),
                    question,
                    answer,
                    correct,
                    attempt,
                    matched_by,
                    choice,
                    ..
                } => Some(NewQuizAnswer {
                    quiz: match quiz {
                        chatcourse_engine::QuizKind::Pre => QuizKind::Pre,
                        chatcourse_engine::QuizKind::Post => QuizKind::Post,
                    },
                    question_id: step_id.clone(),
                    question: question.clone(),
                    answer: answer.clone(),
                    correct: correct.unwrap_or(false),
                    attempt: count(*attempt),
                    matched_by: matched_by.as_str().to_owned(),
                    choice: choice.map(count),
                }),
                _ => None,
            })
            .collect();
        Ok(TurnPlan {
            state: turn.state.to_json(),
            state_format: state_format(),
            status: status(turn.state.status, live),
            replies: turn.messages().map(str::to_owned).collect(),
            answers,
            progress: progress(&turn.state),
            wake_at: turn.wake_at(),
            last_activity: text.map(|_| at),
            position: Some(position(&turn.state)),
        })
    }
}
