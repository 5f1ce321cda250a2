//! Engine integration tests (one binary).
mod convtest;
mod examples;
mod loader;
mod matching;
mod runtime;
