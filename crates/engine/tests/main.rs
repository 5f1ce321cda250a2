//! Engine integration tests (one binary).
// The engine does no I/O (crates/engine/clippy.toml); its tests read the
// example modules from disk.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]
mod convtest;
mod examples;
mod loader;
mod matching;
mod runtime;
