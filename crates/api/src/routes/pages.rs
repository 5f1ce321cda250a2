//! Web pages served by the server itself, their assets embedded in the
//! binary (no other server, no network at run time).
//!
//! `GET /chat?token=...`: the learner's chat page (docs/web.md). It talks
//! only to this server (its WebSocket and, to tell an expired link, a plain
//! GET of the same URL); the token stays in the page's URL, so the page is
//! never cached and sends no referrer.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

const CHAT_HTML: &str = include_str!("../../assets/chat.html");
const PREVIEW_HTML: &str = include_str!("../../assets/preview.html");
const DASHBOARD_HTML: &str = include_str!("../../assets/dashboard.html");

/// The scripts and stylesheets of the pages, by file name under `/assets/`.
const ASSETS: &[(&str, &str, &str)] = &[
    ("chat.js", JS, include_str!("../../assets/chat.js")),
    ("chat.css", CSS, include_str!("../../assets/chat.css")),
    ("key.js", JS, include_str!("../../assets/key.js")),
    ("preview.js", JS, include_str!("../../assets/preview.js")),
    (
        "dashboard.js",
        JS,
        include_str!("../../assets/dashboard.js"),
    ),
    ("app.css", CSS, include_str!("../../assets/app.css")),
    (
        "icon.svg",
        "image/svg+xml",
        include_str!("../../assets/icon.svg"),
    ),
];
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// The pages' routes and their assets' (merged into the server's router).
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    let mut router = OpenApiRouter::new()
        .route("/chat", get(chat))
        .route("/preview", get(preview))
        .route("/dashboard", get(dashboard));
    for &(name, content_type, body) in ASSETS {
        router = router.route(
            &format!("/assets/{name}"),
            get(move || async move { asset(content_type, body) }),
        );
    }
    router
}

/// The pages a person opens in a browser, with what each is for, in the
/// order `chatcourse serve` prints them on start ([`welcome`]).
pub const PAGES: &[(&str, &str)] = &[
    (
        "/chat?token=TOKEN",
        "learner chat (TOKEN from POST /api/v1/fe/session/token)",
    ),
    (
        "/preview",
        "author preview: check and play a module (admin or author key)",
    ),
    ("/dashboard", "programme dashboard (admin or analyst key)"),
    ("/api/v1/docs/", "API reference"),
];

/// What `chatcourse serve` prints once it listens on `addr`: the address of
/// each page of [`PAGES`]. An unspecified address (`0.0.0.0`, `::`) is
/// shown as the loopback one, which a browser on the same machine opens.
pub fn welcome(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let base = format!("http://{}", SocketAddr::new(ip, addr.port()));
    let mut text = format!("chatcourse is serving on {base}\n");
    let width = PAGES.iter().map(|(path, _)| path.len()).max().unwrap_or(0) + base.len();
    for (path, what) in PAGES {
        let url = format!("{base}{path}");
        text.push_str(&format!("  {url:<width$}  {what}\n"));
    }
    text
}

/// The Content-Security-Policy of a page: only this origin's scripts,
/// styles and connections; framed only by `frame_ancestors` (`'none'`
/// unless configured).
pub fn content_security_policy(frame_ancestors: &str) -> String {
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
         img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors {frame_ancestors}"
    )
}

/// The Content-Security-Policy of the pages that use an API key (preview,
/// dashboard): as the chat's, never framed, and images may also be `blob:`
/// URLs (the flow's SVG, made in the page from the server's answer).
const KEY_PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self' blob:; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

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

/// The learner's chat page: framed only by the configured origins.
pub async fn chat(State(state): State<AppState>) -> Response {
    let response = page(CHAT_HTML, &state.page_csp);
    // X-Frame-Options cannot name several origins: it is sent only when no
    // site may frame the page (browsers that know CSP obey frame-ancestors).
    if state.page_csp.ends_with("frame-ancestors 'none'") {
        never_framed(response)
    } else {
        response
    }
}

/// The author preview (its key is asked for by the page itself).
pub async fn preview() -> Response {
    never_framed(page(PREVIEW_HTML, KEY_PAGE_CSP))
}

/// The programme dashboard (its key is asked for by the page itself).
pub async fn dashboard() -> Response {
    never_framed(page(DASHBOARD_HTML, KEY_PAGE_CSP))
}

/// `X-Frame-Options: DENY`, for browsers without CSP `frame-ancestors`
/// (OWASP's clickjacking defence: both headers).
fn never_framed(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn welcome_names_every_page_at_a_reachable_address() {
        let text = welcome("0.0.0.0:8080".parse().unwrap());
        assert!(
            text.starts_with("chatcourse is serving on http://127.0.0.1:8080\n"),
            "{text}"
        );
        for (path, _) in PAGES {
            assert!(
                text.contains(&format!("http://127.0.0.1:8080{path}")),
                "{text}"
            );
        }
        let text = welcome("[::]:9000".parse().unwrap());
        assert!(text.contains("http://[::1]:9000/api/v1/docs/"), "{text}");
        let text = welcome("192.0.2.7:80".parse().unwrap());
        assert!(
            text.contains("http://192.0.2.7:80/chat?token=TOKEN"),
            "{text}"
        );
    }
}
