//! chatcourse-engine: course modules and the pure state machine that runs them.
//!
//! Boundary: this crate does no I/O (no files, no network, no database), reads
//! no clock and uses no randomness. Callers pass source text in and get a
//! compiled [`Module`] plus diagnostics out (`load`), and pass a module, a
//! learner's [`State`] and an [`Input`] in and get the next state plus
//! [`Effect`]s out (`runtime`); conversation tests run on the same pure
//! functions, from test-file text (`convtest`). Everything that touches the
//! world lives in the storage, api and chatcourse crates.

pub mod convtest;
pub mod diagnostics;
pub mod flow;
pub mod load;
pub mod matching;
pub mod module;
pub mod runtime;
pub mod syntax;

pub use diagnostics::{Diagnostic, Severity};
pub use load::{
    LoadResult, QuizQuestionText, load_module, load_module_after, quiz_questions,
    quiz_right_answers,
};
pub use matching::{MatchedBy, normalize};
pub use module::{Lang, Module, QuizKind, Wait, is_language_tag, negotiate_language};
pub use runtime::{
    Effect, Input, StartOptions, State, StateError, Status, StepError, Turn, is_time_zone, start,
    start_in_zone, start_traced, step, step_traced,
};
