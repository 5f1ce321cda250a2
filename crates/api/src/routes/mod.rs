//! HTTP handlers, one module per group of endpoints.

pub mod channels;
pub mod customers;
pub mod enrolment;
pub mod exports;
pub mod messages;
pub mod modules;
pub mod ops;
pub mod session_tokens;
pub mod summaries;
pub mod ws;
