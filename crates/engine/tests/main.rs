//! Engine integration tests (one binary).
mod loader;
mod runtime;
mod convtest;
