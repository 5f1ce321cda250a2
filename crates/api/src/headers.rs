//! Security headers on every response, and CORS when configured.
//!
//! - `X-Content-Type-Options: nosniff` everywhere;
//! - `Cache-Control: no-store` unless the handler chose otherwise (the
//!   chat page's assets are cacheable): API responses carry keys, learner
//!   tokens and personal data, which no cache may keep;
//! - `Referrer-Policy: no-referrer` (learner tokens travel in URLs);
//! - on HTML without a policy of its own (the API reference page), a
//!   restrictive `Content-Security-Policy`: this origin's scripts only, no
//!   framing. The chat page sets its own (`routes::pages`).
//!
//! CORS is off unless origins are configured (`--cors-origin`): then those
//! origins, and only they, may call the API from a browser.

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// The policy of HTML pages that set none: the Swagger UI page loads its
/// own scripts and styles (and sets inline styles and data: images).
pub const DEFAULT_HTML_CSP: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; \
    connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Adds the security headers a response lacks.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let html = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("text/html"));
    let defaults = [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::CACHE_CONTROL, "no-store"),
        (header::REFERRER_POLICY, "no-referrer"),
    ];
    for (name, value) in defaults {
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
    if html && !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(DEFAULT_HTML_CSP),
        );
    }
    response
}

/// CORS for `origins` (each `https://host[:port]`, see
/// [`crate::parse_origin`]); `None` when there are none: no CORS header is
/// ever sent, so browsers keep other sites out.
pub fn cors(origins: &[String]) -> Option<CorsLayer> {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    if origins.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::GET, Method::POST, Method::DELETE])
            .allow_headers([
                header::AUTHORIZATION,
                HeaderName::from_static("authentication"),
                header::CONTENT_TYPE,
                HeaderName::from_static("x-request-id"),
            ])
            .expose_headers([HeaderName::from_static("x-request-id"), header::RETRY_AFTER])
            .max_age(std::time::Duration::from_secs(600)),
    )
}
