//! Storage contract tests (one binary).
