//! The channels crate's integration tests (one binary).
mod docs_verify;
mod fakes;
