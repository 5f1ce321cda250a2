//! Engine integration tests (one binary).
