//! End-to-end tests of the API: the real server on 127.0.0.1 (random port)
//! with a real HTTP/WebSocket client, on SQLite always and on PostgreSQL
//! when `TEST_DATABASE_URL` is set (each test in its own schema); and the
//! `chatcourse keys` / `chatcourse serve` binary.

mod harness;

mod auth;
mod binary;
mod delivery;
mod dispatch;
mod errors;
mod export;
mod flow;
mod http;
mod lifecycle;
mod ops;
mod pages;
mod providers;
mod ws;
