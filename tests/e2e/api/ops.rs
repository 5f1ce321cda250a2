//! Health, readiness, metrics, the OpenAPI document, time zones and
//! graceful shutdown.

use chatcourse_api::Config;
use chrono::Utc;

use super::harness::{Backend, TestApp, both_backends};

both_backends!(
    health_readiness_metrics,
    openapi_document_lists_every_endpoint,
    times_are_shown_in_the_configured_zone,
    shutdown_lets_requests_finish,
);

async fn health_readiness_metrics(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (status, body) = app.get("/healthz").await;
    assert_eq!((status, &body["status"]), (200, &200.into()));
    let (status, body) = app.get("/readyz").await;
    assert_eq!((status, &body["message"]), (200, &"Ready".into()));

    let (customer, session) = app.enrolled().await;
    app.say(&customer, &session, "1").await;
    app.get("/api/v1/message/all").await; // a 400
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    for line in [
        "chatcourse_http_requests_total{method=\"POST\",route=\"/api/v1/message\",status=\"200\"} 1",
        "chatcourse_http_requests_total{method=\"GET\",route=\"/api/v1/message/all\",status=\"400\"} 1",
        "chatcourse_http_requests_total{method=\"POST\",route=\"/api/v1/fe/program/customer/add\",status=\"200\"} 1",
        "chatcourse_turns_total{kind=\"enrol\",outcome=\"applied\"} 1",
        "chatcourse_turns_total{kind=\"message\",outcome=\"applied\"} 1",
        "chatcourse_turn_duration_seconds_count{kind=\"message\"} 1",
        "chatcourse_websocket_connections 0",
    ] {
        assert!(text.lines().any(|l| l == line), "{line:?} not in\n{text}");
    }
    // Paths with ids never become labels.
    assert!(!text.contains(&customer), "{text}");
}

async fn openapi_document_lists_every_endpoint(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (status, doc) = app.get("/api/v1/openapi.json").await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().expect("version").starts_with('3'));
    for (path, method) in [
        ("/api/v1/customer/mfi/register", "post"),
        ("/api/v1/customer/mfi", "get"),
        ("/api/v1/fe/program/customer/add", "post"),
        ("/api/v1/message/all", "get"),
        ("/api/v1/message", "post"),
        ("/api/v1/ws", "get"),
        ("/api/v1/fe/session/token", "post"),
        ("/api/v1/fe/modules", "get"),
        ("/api/v1/fe/customer/summary", "get"),
        ("/api/v1/fe/customer/session/summary", "get"),
        ("/api/v1/fe/program/summary", "get"),
        ("/api/v1/fe/program/export/messages", "get"),
        ("/api/v1/fe/program/export/scores", "get"),
    ] {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} missing from the OpenAPI document"
        );
    }
    assert!(doc["components"]["schemas"]["MessageItem"].is_object());
    assert!(doc["components"]["securitySchemes"]["api_key"].is_object());
}

async fn times_are_shown_in_the_configured_zone(backend: Backend) {
    let config = Config {
        timezone: chatcourse_api::parse_timezone("Africa/Nairobi").expect("zone"),
        ..Config::default()
    };
    let app = TestApp::spawn_with(backend, config).await;
    let before = Utc::now();
    let (customer, session) = app.enrolled().await;
    let after = Utc::now();
    let shown = app.transcript(&customer, &session).await[0]["date_time"]
        .as_str()
        .expect("time")
        .to_owned();
    // Nairobi is UTC+3 all year.
    let expected = |t: chrono::DateTime<Utc>| {
        (t + chrono::Duration::hours(3))
            .format("%d/%m/%Y %H:%M")
            .to_string()
    };
    assert!(
        shown == expected(before) || shown == expected(after),
        "{shown} is not {} (UTC+3)",
        expected(before)
    );
}

async fn shutdown_lets_requests_finish(backend: Backend) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let mut app = TestApp::spawn(backend).await;
    let (customer, session) = app.enrolled().await;
    // A request that is certainly in the handler when shutdown starts: its
    // head asks `Expect: 100-continue`, and the server answers `100
    // Continue` only when the handler starts reading the body.
    let body =
        serde_json::json!({"customer_uuid": customer, "session_uuid": session, "message": "1"})
            .to_string();
    let head = format!(
        "POST /api/v1/message HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\
         Expect: 100-continue\r\nConnection: close\r\n\r\n",
        app.addr,
        app.key,
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(app.addr)
        .await
        .expect("connect");
    stream.write_all(head.as_bytes()).await.expect("send head");
    let mut continued = [0u8; 25];
    stream
        .read_exact(&mut continued)
        .await
        .expect("100 Continue");
    assert!(
        continued.starts_with(b"HTTP/1.1 100 Continue"),
        "{:?}",
        String::from_utf8_lossy(&continued)
    );

    let client = async move {
        // Shutdown has been asked for by now; the body arrives late.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        stream.write_all(body.as_bytes()).await.expect("send body");
        let mut response = String::new();
        stream
            .read_to_string(&mut response)
            .await
            .expect("read the response");
        response
    };
    let (stopped, response) = tokio::join!(app.stop(), client);
    stopped.expect("clean stop");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("\"status\":200"), "{response}");
    // After the stop nothing listens.
    assert!(app.client.get(app.url("/healthz")).send().await.is_err());
    // The turn is stored.
    let org = app
        .store
        .find_org("org-a")
        .await
        .expect("read")
        .expect("the test's organisation")
        .id;
    let stored = app
        .store
        .get_session(org, session.parse().expect("uuid"))
        .await
        .expect("read")
        .expect("session");
    let messages = app
        .store
        .messages(org, stored.id, None, 100)
        .await
        .expect("messages");
    assert!(
        messages.iter().any(|m| m.text == "1"),
        "the in-flight turn is stored"
    );
}
