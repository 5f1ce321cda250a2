//! Web pages served by the server itself, their assets embedded in the
//! binary (no other server, no network at run time).
//!
//! `GET /chat?token=...`: the learner's chat page (docs/web.md). It talks
//! only to this server (its WebSocket and, to tell an expired link, a plain
//! GET of the same URL); the token stays in the page's URL, so the page is
//! never cached and sends no referrer.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

const CHAT_HTML: &str = include_str!("../../assets/chat.html");
const CHAT_JS: &str = include_str!("../../assets/chat.js");
const CHAT_CSS: &str = include_str!("../../assets/chat.css");

/// The Content-Security-Policy of a page: only this origin's scripts,
/// styles and connections; framed only by `frame_ancestors` (`'none'`
/// unless configured).
pub fn content_security_policy(frame_ancestors: &str) -> String {
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
         img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors {frame_ancestors}"
    )
}

fn page(html: &'static str, csp: &str) -> Response {
    let mut response = (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        html,
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(csp) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, value);
    }
    response
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            // Assets change with the binary; a day is short enough.
            (header::CACHE_CONTROL, "public, max-age=86400"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

/// The learner's chat page.
pub async fn chat(State(state): State<AppState>) -> Response {
    page(CHAT_HTML, &state.page_csp)
}

pub async fn chat_js() -> Response {
    asset("text/javascript; charset=utf-8", CHAT_JS)
}

pub async fn chat_css() -> Response {
    asset("text/css; charset=utf-8", CHAT_CSS)
}
