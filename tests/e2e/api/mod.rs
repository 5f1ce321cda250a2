//! End-to-end tests of the API: the real server on 127.0.0.1 (random port)
//! with a real HTTP/WebSocket client, on SQLite always and on PostgreSQL
//! when `TEST_DATABASE_URL` is set (each test in its own schema); and the
//! `chatcourse keys` / `chatcourse serve` binary.

mod harness;

mod analytics;
mod auth;
mod binary;
mod dashboard;
mod delivery;
mod dispatch;
mod errors;
mod export;
mod flow;
mod http;
mod lifecycle;
mod ops;
mod org_modules;
mod pacing;
mod pages;
mod preview;
mod providers;
mod roles;
mod ws;
