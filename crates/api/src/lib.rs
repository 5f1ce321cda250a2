//! chatcourse-api: the HTTP and WebSocket server of the financial-education
//! API family.
//!
//! Boundary: this is the only crate that knows the JSON wire types and
//! HTTP. It loads modules through the engine (`chatcourse_engine`), stores
//! and reads everything through the store (`chatcourse_storage::Store`),
//! and maps between their types and the wire shapes of the reference
//! (`{status, message, data}` envelopes, `dd/MM/yyyy HH:mm` times, `"k/n"`
//! scores). It contains no SQL and no course logic.
//!
//! Entry points: [`serve`] (or [`App`] for finer control), [`Config`], and
//! [`keys::generate`] for `chatcourse keys`.

pub mod catalogue;
mod charts;
pub mod config;
mod connections;
pub mod delivery;
mod diagram;
pub mod envelope;
pub mod error;
pub mod extract;
pub mod floip;
mod headers;
pub mod keys;
pub mod limits;
mod live;
pub mod metrics;
mod openapi;
pub mod quiet;
pub mod report;
mod roles;
mod routes;
mod server;
mod state;
pub mod time;
mod turns;
mod wakeup;
pub mod wire;

pub use catalogue::{LoadError, module_uuid};

/// The exports' lines and their encoding (CSV cells neutralised), shared
/// by the HTTP exports and `chatcourse export`.
pub mod export {
    pub use crate::routes::exports::{
        Edge, Encoder, Format, Line, answer_line, message_line, parse_bound, score_line,
    };
}
pub use config::{Config, ExportLimits, MAX_MESSAGE_CHARS, Tz, parse_origin, parse_timezone};
pub use error::ApiError;
pub use openapi::document as openapi_document;
pub use routes::pages::{PAGES, welcome};
pub use server::{App, StartError, serve};
