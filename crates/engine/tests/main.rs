//! Engine integration tests (one binary).
mod loader;
