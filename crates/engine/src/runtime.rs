//! The pure state machine: (module, state, input) -> (state, effects).

use chrono::{DateTime, Utc};

use crate::module::QuizKind;

/// Version of the serialized [`State`] layout. Bump when it changes, and keep
/// reading older versions.
pub const STATE_FORMAT: u32 = 1;

/// Where a learner's session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Active,
    Completed,
    OptedOut,
    Expired,
}

/// A learner's position in a module. Serializes with serde; storage keeps it
/// opaque. `module_hash` pins the module version the session started on.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct State {
    pub format: u32,
    pub module_hash: String,
    pub status: Status,
}

/// What happens to a session.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// The learner sent a message at `at`.
    Text { text: String, at: DateTime<Utc> },
    /// The caller wakes the session (at or after the `wake_at` it was given).
    Wake { at: DateTime<Utc> },
}

/// Something the caller must do or record.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "effect", rename_all = "snake_case")]
pub enum Effect {
    Send {
        text: String,
    },
    Completed,
    OptedOut,
    Expired,
    #[serde(skip)]
    _Quiz(QuizKind),
}

/// The result of one input.
#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    pub state: State,
    pub effects: Vec<Effect>,
}
