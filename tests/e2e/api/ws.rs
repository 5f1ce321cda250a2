//! The live chat over WebSocket: history, turns, errors, live delivery of
//! messages committed elsewhere, and shutdown.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

use super::harness::{Backend, TestApp, both_backends, modules_dir};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

both_backends!(
    round_trip,
    live_delivery_of_other_channels,
    shutdown_closes_connections,
);

async fn open(app: &TestApp, query: &str) -> Socket {
    let mut request = app
        .ws_url(&format!("/api/v1/ws?{query}"))
        .into_client_request()
        .expect("request");
    request
        .headers_mut()
        .insert("Authentication", app.key.parse().expect("header value"));
    let (socket, response) = connect_async(request).await.expect("websocket connects");
    assert_eq!(response.status().as_u16(), 101);
    socket
}

/// The next text frame, as JSON (fails after 10 s).
async fn next(socket: &mut Socket) -> Value {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a frame within 10 s")
            .expect("socket open")
            .expect("frame");
        match frame {
            Frame::Text(text) => return serde_json::from_str(text.as_str()).expect("JSON frame"),
            Frame::Ping(_) | Frame::Pong(_) => continue,
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

/// Asserts nothing arrives for a short while.
async fn quiet(socket: &mut Socket) {
    if let Ok(frame) = tokio::time::timeout(Duration::from_millis(300), socket.next()).await {
        panic!("unexpected frame {frame:?}");
    }
}

async fn send(socket: &mut Socket, value: Value) {
    socket
        .send(Frame::Text(value.to_string().into()))
        .await
        .expect("send");
}

async fn round_trip(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (customer, session) = app.enrolled().await;
    let query = format!("customerUuid={customer}&sessionUuid={session}");
    let mut socket = open(&app, &query).await;

    // History first: the enrolment message, exactly as /message/all has it.
    let transcript = app.transcript(&customer, &session).await;
    assert_eq!(next(&mut socket).await, transcript[0]);
    quiet(&mut socket).await;

    // A turn: our message comes back as RECEIVED, then the replies.
    send(&mut socket, json!({"message": "1", "external_id": "wa-1"})).await;
    let received = next(&mut socket).await;
    assert_eq!(received["message_type"], "RECEIVED");
    assert_eq!(received["message"], "1");
    let reply = next(&mut socket).await;
    assert_eq!(reply["message_type"], "SENT");
    assert!(
        reply["message"]
            .as_str()
            .expect("text")
            .starts_with("What is the first step")
    );
    quiet(&mut socket).await;
    let transcript = app.transcript(&customer, &session).await;
    assert_eq!(transcript[1..], [received.clone(), reply.clone()]);

    // The same external id again: nothing new.
    send(&mut socket, json!({"message": "1", "external_id": "wa-1"})).await;
    quiet(&mut socket).await;

    // Bad frames get error envelopes and the connection stays open.
    socket.send(Frame::Text("{".into())).await.expect("send");
    let error = next(&mut socket).await;
    assert_eq!(error["status"], 400);
    assert_eq!(error["code"], "malformed_json");
    let long = "a".repeat(chatcourse_api::MAX_MESSAGE_CHARS + 1);
    send(&mut socket, json!({"message": long})).await;
    assert_eq!(next(&mut socket).await["code"], "message_too_long");
    send(&mut socket, json!({"text": "1"})).await;
    let error = next(&mut socket).await;
    assert_eq!(error["errors"], json!(["message: is required"]));
    assert_eq!(app.transcript(&customer, &session).await, transcript);

    // A second connection with afterId gets only what follows.
    let after = received["id"].as_i64().expect("id");
    let mut second = open(&app, &format!("{query}&afterId={after}")).await;
    assert_eq!(next(&mut second).await, reply);
    quiet(&mut second).await;

    // Both connections see the next turn.
    send(&mut socket, json!({"message": "2"})).await;
    for s in [&mut socket, &mut second] {
        let m = next(s).await;
        assert_eq!(m["message"], "2");
        assert_eq!(m["message_type"], "RECEIVED");
    }
    socket.close(None).await.expect("close");
}

async fn live_delivery_of_other_channels(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (customer, session) = app.enrolled().await;
    let mut socket = open(
        &app,
        &format!("customerUuid={customer}&sessionUuid={session}"),
    )
    .await;
    next(&mut socket).await; // enrolment
    // A message through the HTTP channel is delivered live.
    let turn = app.say(&customer, &session, "1").await;
    assert_eq!(next(&mut socket).await, turn["received"]);
    for reply in turn["replies"].as_array().expect("replies") {
        assert_eq!(&next(&mut socket).await, reply);
    }
    quiet(&mut socket).await;
    // Messages of other sessions are not.
    let (other_customer, other_session) = app.enrolled().await;
    app.say(&other_customer, &other_session, "1").await;
    quiet(&mut socket).await;
}

async fn shutdown_closes_connections(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let (customer, session) = app.enrolled().await;
    let mut socket = open(
        &app,
        &format!("customerUuid={customer}&sessionUuid={session}"),
    )
    .await;
    next(&mut socket).await;
    let stopping = tokio::spawn(async move {
        let result = app.stop().await;
        (app, result)
    });
    let frame = tokio::time::timeout(Duration::from_secs(10), socket.next())
        .await
        .expect("closed within 10 s");
    match frame {
        Some(Ok(Frame::Close(Some(close)))) => assert_eq!(close.code, CloseCode::Away),
        other => panic!("expected a close frame, got {other:?}"),
    }
    drop(socket);
    let (_app, result) = tokio::time::timeout(Duration::from_secs(10), stopping)
        .await
        .expect("server stops within 10 s")
        .expect("join");
    result.expect("server stopped cleanly");
}

/// Two server processes on one PostgreSQL database: a message committed
/// through one is delivered live to a WebSocket connected to the other
/// (LISTEN/NOTIFY).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_delivery_across_servers_postgres() {
    let Some(backend) = Backend::postgres() else {
        return;
    };
    let app = TestApp::spawn(backend).await;
    let store = app.second_store().await.expect("PostgreSQL");
    let config = chatcourse_api::Config {
        modules_dir: modules_dir(),
        ..chatcourse_api::Config::default()
    };
    let other = chatcourse_api::App::with_store(&config, store)
        .await
        .expect("second server starts");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let other_addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(other.serve(listener, async move {
        let _ = stopped.await;
    }));

    let (customer, session) = app.enrolled().await;
    let mut socket = open(
        &app,
        &format!("customerUuid={customer}&sessionUuid={session}"),
    )
    .await;
    next(&mut socket).await; // enrolment
    let response = app
        .client
        .post(format!("http://{other_addr}/api/v1/message"))
        .bearer_auth(&app.key)
        .json(&json!({"customer_uuid": customer, "session_uuid": session, "message": "1"}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 200);
    let turn: Value = response.json().await.expect("json");
    assert_eq!(next(&mut socket).await, turn["data"]["received"]);
    for reply in turn["data"]["replies"].as_array().expect("replies") {
        assert_eq!(&next(&mut socket).await, reply);
    }
    let _ = stop.send(());
    server.await.expect("join").expect("second server stops");
}
