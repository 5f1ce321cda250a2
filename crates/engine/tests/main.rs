//! Engine integration tests (one binary).
mod convtest;
mod loader;
mod runtime;
