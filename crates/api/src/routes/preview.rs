//! The author preview's two endpoints (the page is `/preview`): compile a
//! module's YAML as sent, and play it. Nothing is stored: the module comes
//! with every request, and so does the learner's engine state, which the
//! page keeps and sends back (the pure engine runs here, on the server, as
//! it does for real sessions; docs/web.md says why not WebAssembly).

use chatcourse_engine::flow::Flow;
use chatcourse_engine::{Effect, Input, LoadResult, Module, StartOptions, State, Status};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::envelope::{Envelope, ok};
use crate::error::{ApiError, ErrorBody};
use crate::extract::JsonBody;
use crate::state::Org;

/// Most wake-ups one `advance` runs (a module's reminders and its expiry
/// are a handful; this bounds a request whatever the state says).
const MAX_WAKEUPS: usize = 50;

#[derive(Debug, Deserialize, ToSchema)]
pub struct CompileRequest {
    /// The module's YAML, as the author wrote it.
    pub source: String,
}

/// One finding, at its place in the source (1-based line and column, the
/// column in characters).
#[derive(Debug, Serialize, ToSchema)]
pub struct PreviewDiagnostic {
    #[schema(example = "error")]
    pub severity: &'static str,
    #[schema(example = "unknown-step")]
    pub code: &'static str,
    #[schema(example = "`next` names a step that does not exist: `lesson_3`")]
    pub message: String,
    #[schema(example = 42)]
    pub line: u32,
    #[schema(example = 11)]
    pub column: u32,
    #[schema(example = "did you mean `lesson_2`?")]
    pub hint: Option<String>,
}

/// What the compiled module offers (present when it has no error).
#[derive(Debug, Serialize, ToSchema)]
pub struct PreviewModule {
    pub id: String,
    pub name: String,
    pub version: String,
    /// SHA-256 of the source: the version a preview state is pinned to.
    pub content_hash: String,
    /// Every language it is written in, base language first.
    pub languages: Vec<String>,
    pub steps: usize,
}

/// The flow of the module, as a picture and as Mermaid text.
#[derive(Debug, Serialize, ToSchema)]
pub struct PreviewFlow {
    /// An SVG document (null if it could not be laid out).
    pub svg: Option<String>,
    /// The same graph as a Mermaid flowchart (`chatcourse graph`).
    pub mermaid: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CompileData {
    /// False when some diagnostic is an error: the module cannot be played.
    pub valid: bool,
    /// Every finding, in source order.
    pub diagnostics: Vec<PreviewDiagnostic>,
    pub module: Option<PreviewModule>,
    pub flow: Option<PreviewFlow>,
}

/// Compile a module for the author preview: every diagnostic and, when it
/// is valid, its flow. Stores nothing.
#[utoipa::path(
    post,
    path = "/api/v1/fe/preview/compile",
    tag = "preview",
    request_body = CompileRequest,
    responses(
        (status = 200, description = "Module compiled (valid or not: see `valid`)", body = Envelope<CompileData>),
        (status = 400, description = "Invalid input", body = ErrorBody),
        (status = 401, description = "Missing or wrong API key", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn compile(
    Org(_): Org,
    JsonBody(body): JsonBody<CompileRequest>,
) -> Result<Envelope<CompileData>, ApiError> {
    let LoadResult {
        module,
        diagnostics,
    } = chatcourse_engine::load_module(&body.source);
    let data = CompileData {
        valid: module.is_some(),
        diagnostics: diagnostics
            .iter()
            .map(|d| PreviewDiagnostic {
                severity: d.severity.as_str(),
                code: d.code,
                message: d.message.clone(),
                line: d.line,
                column: d.column,
                hint: d.hint.clone(),
            })
            .collect(),
        flow: module.as_ref().map(|module| {
            let flow = Flow::build(module);
            PreviewFlow {
                svg: crate::diagram::flow_svg(&flow),
                mermaid: flow.mermaid(),
            }
        }),
        module: module.map(|m| PreviewModule {
            steps: m.steps.len(),
            id: m.id,
            name: m.name,
            version: m.version,
            content_hash: m.content_hash,
            languages: m.languages.into_iter().map(|l| l.0).collect(),
        }),
    };
    Ok(ok("Module successfully compiled", data))
}

/// What the preview's learner does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PreviewAction {
    /// Start a session at `at` (in `language`, if the module offers it).
    Start,
    /// The learner sends `text` at `at`.
    Reply,
    /// The simulated clock moves on to `at`: every wake-up due by then
    /// (reminders, expiry) runs at its own time.
    Advance,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct StepRequest {
    /// The module's YAML (the same text as compiled).
    pub source: String,
    pub action: PreviewAction,
    /// The state the previous answer returned (not for `start`).
    #[serde(default)]
    pub state: Option<String>,
    /// The learner's message (`reply`).
    #[serde(default)]
    pub text: Option<String>,
    /// The wanted language (`start`): a tag the module offers, else its
    /// base language.
    #[serde(default)]
    pub language: Option<String>,
    /// The learner's name (`start`), for `{learner_name}`.
    #[serde(default)]
    pub learner_name: Option<String>,
    /// The simulated time of the action (RFC 3339).
    #[schema(value_type = String, example = "2026-12-04T09:00:00Z")]
    pub at: DateTime<Utc>,
}

/// A message the course sent, at its simulated time.
#[derive(Debug, Serialize, ToSchema)]
pub struct PreviewMessage {
    pub text: String,
    /// RFC 3339.
    pub at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StepData {
    /// The engine state after the action: send it back with the next one.
    pub state: String,
    /// `active`, `completed`, `opted_out` or `expired`.
    pub status: &'static str,
    /// The step the learner is at.
    pub step: String,
    pub language: String,
    /// What the course sent, in order.
    pub messages: Vec<PreviewMessage>,
    /// What else happened, in words: answers recorded, scores, reminders,
    /// the end of the session.
    pub events: Vec<String>,
    /// When the next wake-up is due (RFC 3339), if any.
    pub wake_at: Option<String>,
}

/// Play a module in the author preview: start, reply, or move the simulated
/// clock on. Stateless: the state comes and goes with the request.
#[utoipa::path(
    post,
    path = "/api/v1/fe/preview/step",
    tag = "preview",
    request_body = StepRequest,
    responses(
        (status = 200, description = "Step played", body = Envelope<StepData>),
        (status = 400, description = "Invalid input: a module with errors, a missing or foreign state, no text", body = ErrorBody),
        (status = 401, description = "Missing or wrong API key", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn step(
    Org(_): Org,
    JsonBody(body): JsonBody<StepRequest>,
) -> Result<Envelope<StepData>, ApiError> {
    let module = chatcourse_engine::load_module(&body.source)
        .module
        .ok_or_else(|| invalid("source: the module has errors; compile it and fix them first"))?;
    let mut played = Played::default();
    let state = match body.action {
        PreviewAction::Start => {
            let options = StartOptions {
                language: body.language.clone(),
                learner_name: body.learner_name.clone(),
            };
            let turn = chatcourse_engine::start(&module, options, body.at);
            played.take(turn.effects, body.at);
            turn.state
        }
        PreviewAction::Reply => {
            let state = previous_state(&body)?;
            let text = body
                .text
                .as_deref()
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .ok_or_else(|| invalid("text: is required"))?;
            if text.chars().count() > crate::config::MAX_MESSAGE_CHARS {
                return Err(ApiError::MessageTooLong {
                    limit_chars: crate::config::MAX_MESSAGE_CHARS,
                });
            }
            play(&module, &state, &Input::text(text, body.at), &mut played)?
        }
        PreviewAction::Advance => {
            let mut state = previous_state(&body)?;
            for _ in 0..MAX_WAKEUPS {
                match state.wake_at {
                    Some(due) if state.status == Status::Active && due <= body.at => {
                        state = play(&module, &state, &Input::Wake { at: due }, &mut played)?;
                    }
                    _ => break,
                }
            }
            state
        }
    };
    Ok(ok(
        "Step successfully played",
        StepData {
            status: state.status.as_str(),
            step: state.step.clone(),
            language: state.language.0.clone(),
            wake_at: state.wake_at.map(rfc3339),
            state: state.to_json(),
            messages: played.messages,
            events: played.events,
        },
    ))
}

fn invalid(reason: &str) -> ApiError {
    ApiError::Validation(vec![reason.to_owned()])
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn previous_state(body: &StepRequest) -> Result<State, ApiError> {
    let json = body
        .state
        .as_deref()
        .ok_or_else(|| invalid("state: is required (start first)"))?;
    State::from_json(json).map_err(|e| invalid(&format!("state: {e}")))
}

/// One engine step; a state that does not fit the module (another version
/// of the source, an unknown step) is the caller's mistake.
fn play(
    module: &Module,
    state: &State,
    input: &Input,
    played: &mut Played,
) -> Result<State, ApiError> {
    let turn = chatcourse_engine::step(module, state, input).map_err(|e| {
        invalid(&format!(
            "state: {e}; the source changed since this conversation started: start again"
        ))
    })?;
    played.take(turn.effects, input.at());
    Ok(turn.state)
}

/// What a request's turns produced, in order.
#[derive(Default)]
struct Played {
    messages: Vec<PreviewMessage>,
    events: Vec<String>,
}

impl Played {
    fn take(&mut self, effects: Vec<Effect>, at: DateTime<Utc>) {
        for effect in effects {
            let event = match effect {
                Effect::Send { text } => {
                    self.messages.push(PreviewMessage {
                        text,
                        at: rfc3339(at),
                    });
                    continue;
                }
                Effect::Answer {
                    step_id,
                    answer,
                    correct,
                    attempt,
                    ..
                } => {
                    let verdict = match correct {
                        Some(true) => ", correct",
                        Some(false) => ", wrong",
                        None => "",
                    };
                    format!("answer recorded at {step_id}: {answer:?} (attempt {attempt}{verdict})")
                }
                Effect::Score { quiz, score, total } => {
                    format!("{}-quiz score {score}/{total}", quiz.as_str())
                }
                Effect::Unmatched {
                    step_id,
                    attempts_left,
                    ..
                } => format!("no choice matched at {step_id} ({attempts_left} attempts left)"),
                Effect::Reminded { step_id, count } => {
                    format!("reminder {count} sent at {step_id}")
                }
                Effect::Paused { step_id, until } => match until {
                    Some(until) => format!("paused at {step_id} until {}", rfc3339(until)),
                    None => format!("paused at {step_id}"),
                },
                Effect::Restarted => "restarted: scores reset".to_owned(),
                Effect::Completed => "completed".to_owned(),
                Effect::OptedOut => "opted out".to_owned(),
                Effect::Expired => "expired".to_owned(),
            };
            self.events.push(event);
        }
    }
}
