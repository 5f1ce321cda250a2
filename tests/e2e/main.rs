//! End-to-end tests of the chatcourse binary (one binary).
mod api;
mod cli;
