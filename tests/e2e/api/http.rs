//! The HTTP stack around the handlers: request ids, compression, panics,
//! timeouts, the API reference page and the operators' metrics. It does
//! not depend on the database, so these run on SQLite only.

use std::time::Duration;

use chatcourse_api::Config;
use chatcourse_api::error::ErrorCode;
use reqwest::header::{ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_TYPE};
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::harness::{Backend, TestApp};

async fn spawn_with_test_routes(request_timeout: Duration) -> TestApp {
    let config = Config {
        test_routes: true,
        request_timeout,
        ..Config::default()
    };
    TestApp::spawn_with(Backend::Sqlite, config).await
}

pub(super) async fn metrics(app: &TestApp) -> String {
    let response = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics");
    response.text().await.expect("text")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ids_are_generated_or_echoed() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let response = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("request");
    let generated = response.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert_eq!(generated.len(), 36, "a UUID: {generated}");
    let again = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("request");
    assert_ne!(
        again.headers()["x-request-id"],
        generated.as_str(),
        "one per request"
    );

    // The client's own id is kept, on errors too.
    for path in ["/healthz", "/api/v1/message/all", "/no/such/route"] {
        let response = app
            .client
            .get(app.url(path))
            .header("x-request-id", "integrator-42")
            .send()
            .await
            .expect("request");
        assert_eq!(
            response.headers()["x-request-id"],
            "integrator-42",
            "{path}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transcripts_and_exports_are_gzipped_when_the_client_accepts_it() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (customer, session) = app.enrolled().await;
    app.say(&customer, &session, "1").await;
    let transcript = format!("/api/v1/message/all?customerUuid={customer}&sessionUuid={session}");
    let exports = [
        "/api/v1/fe/program/export/messages?programIdentifier=49",
        "/api/v1/fe/program/export/messages?programIdentifier=49&format=csv",
        "/api/v1/fe/program/export/scores?programIdentifier=49",
    ];
    for path in std::iter::once(transcript.as_str()).chain(exports) {
        let response = app
            .client
            .get(app.url(path))
            .bearer_auth(&app.key)
            .header(ACCEPT_ENCODING, "gzip")
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()[CONTENT_ENCODING], "gzip", "{path}");
        let body = response.bytes().await.expect("body");
        assert_eq!(&body[..2], &[0x1f, 0x8b], "{path}: a gzip stream");

        // Not asked, not compressed.
        let response = app
            .client
            .get(app.url(path))
            .bearer_auth(&app.key)
            .send()
            .await
            .expect("request");
        assert!(response.headers().get(CONTENT_ENCODING).is_none(), "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_that_panics_gets_the_internal_error_envelope() {
    let app = spawn_with_test_routes(Duration::from_secs(30)).await;
    let (status, body) = app.get("/__test/panic").await;
    assert_eq!(status, 500);
    assert_eq!(
        body,
        serde_json::json!({
            "status": 500,
            "message": "Internal server error",
            "errors": [],
            "code": "internal_error"
        })
    );
    // The server goes on, and counts the 500.
    let (status, _) = app.get("/healthz").await;
    assert_eq!(status, 200);
    let text = metrics(&app).await;
    let line =
        "chatcourse_http_requests_total{method=\"GET\",route=\"/__test/panic\",status=\"500\"} 1";
    assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_request_gets_the_timeout_envelope() {
    let app = spawn_with_test_routes(Duration::from_millis(300)).await;
    let (status, body) = app.get("/__test/sleep?ms=0").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app.get("/__test/sleep?ms=5000").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "request_timeout");
    assert_eq!(body["status"], 503);
    assert_eq!(body["message"], "The request took too long");
    assert_eq!(body["errors"], serde_json::json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_websocket_outlives_the_request_timeout() {
    let app = spawn_with_test_routes(Duration::from_millis(300)).await;
    let (customer, session) = app.enrolled().await;
    let mut request = app
        .ws_url(&format!(
            "/api/v1/ws?customerUuid={customer}&sessionUuid={session}"
        ))
        .into_client_request()
        .expect("request");
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {}", app.key).parse().expect("header"),
    );
    let (mut socket, _) = connect_async(request).await.expect("websocket connects");
    use futures::{SinkExt, StreamExt};
    // The history arrives, then the socket stays usable past the timeout.
    let first = socket.next().await.expect("a frame").expect("no error");
    assert!(first.is_text());
    let mut open = String::new();
    for _ in 0..50 {
        open = metrics(&app).await;
        if open
            .lines()
            .any(|l| l == "chatcourse_websocket_connections 1")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        open.lines()
            .any(|l| l == "chatcourse_websocket_connections 1"),
        "{open}"
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    socket
        .send(tokio_tungstenite::tungstenite::Message::text(
            r#"{"message":"1"}"#,
        ))
        .await
        .expect("send");
    let echo = socket.next().await.expect("a frame").expect("no error");
    let echo: serde_json::Value =
        serde_json::from_str(echo.to_text().expect("text")).expect("json");
    assert_eq!(echo["message_type"], "RECEIVED", "{echo}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_reference_page_is_served_from_the_binary() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let response = app
        .client
        .get(app.url("/api/v1/docs/"))
        .send()
        .await
        .expect("page");
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()[CONTENT_TYPE]
            .to_str()
            .expect("ascii")
            .starts_with("text/html")
    );
    let html = response.text().await.expect("html");
    // Every asset it references is relative: same origin, no CDN.
    let references: Vec<&str> = ["src=\"", "href=\""]
        .iter()
        .flat_map(|attr| html.split(attr).skip(1))
        .filter_map(|rest| rest.split('"').next())
        .collect();
    assert!(references.len() >= 3, "{html}");
    for reference in &references {
        assert!(
            !reference.contains("//") && !reference.starts_with("data:http"),
            "{reference} is not same-origin in\n{html}"
        );
        let url = app.url(&format!(
            "/api/v1/docs/{}",
            reference.trim_start_matches("./")
        ));
        let asset = app.client.get(&url).send().await.expect("asset");
        assert_eq!(asset.status(), 200, "{url}");
        assert!(!asset.bytes().await.expect("body").is_empty(), "{url}");
    }
    assert!(html.contains("swagger-ui-bundle.js"), "{html}");

    // It loads this server's document, and validates nothing elsewhere.
    let initializer = app
        .client
        .get(app.url("/api/v1/docs/swagger-initializer.js"))
        .send()
        .await
        .expect("initializer")
        .text()
        .await
        .expect("text");
    assert!(
        initializer.contains("/api/v1/openapi.json"),
        "{initializer}"
    );
    assert!(!initializer.contains("https://"), "{initializer}");

    // Without the slash: redirected to the page.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let response = client
        .get(app.url("/api/v1/docs"))
        .send()
        .await
        .expect("page");
    assert_eq!(response.status().as_u16() / 100, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_lists_every_error_code() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (status, doc) = app.get("/api/v1/openapi.json").await;
    assert_eq!(status, 200);
    let codes: Vec<&str> = doc["components"]["schemas"]["ErrorBody"]["properties"]["code"]["enum"]
        .as_array()
        .expect("an enum")
        .iter()
        .map(|c| c.as_str().expect("a string"))
        .collect();
    let table: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(codes, table);
    // What the router serves is the document the library describes.
    let described = serde_json::to_value(chatcourse_api::openapi_document()).expect("json");
    assert_eq!(doc, described);
    // The reference page and the document itself are not API endpoints
    // (the operations routes are: see `hardening::openapi_says_what_is_enforced`).
    for path in ["/api/v1/docs", "/api/v1/openapi.json"] {
        assert!(doc["paths"][path].is_null(), "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_for_operators_with_bounded_labels() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let brew = reqwest::Method::from_bytes(b"BREW").expect("method");
    let response = app
        .client
        .request(brew, app.url("/no/such/route?token=secret"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 404);
    let text = metrics(&app).await;
    for line in [
        "chatcourse_http_requests_total{method=\"other\",route=\"unmatched\",status=\"404\"} 1",
        "chatcourse_websocket_connections 0",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
    }
    for name in [
        "chatcourse_wakeup_backlog ",
        "process_resident_memory_bytes ",
        "process_cpu_seconds_total ",
        "process_open_fds ",
        "# TYPE chatcourse_http_request_duration_seconds histogram",
    ] {
        assert!(text.contains(name), "{name} not in\n{text}");
    }
    assert!(!text.contains("BREW") && !text.contains("secret"), "{text}");
}
