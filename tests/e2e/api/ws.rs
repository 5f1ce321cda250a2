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

use super::harness::{Backend, TestApp, assert_error, both_backends, modules_dir};

pub(super) type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

both_backends!(
    round_trip,
    live_delivery_of_other_channels,
    the_sessions_end_is_sent_once,
    shutdown_closes_connections,
    learner_token_opens_the_chat,
    learner_token_opens_only_its_session_until_it_expires,
    learner_token_is_not_an_api_key,
    learner_tokens_only_for_own_sessions,
);

/// A learner token for the session; returns the whole response data.
pub(super) async fn learner_token(
    app: &TestApp,
    customer: &str,
    session: &str,
    ttl: Option<i64>,
) -> Value {
    let mut body = json!({"customer_uuid": customer, "session_uuid": session});
    if let Some(ttl) = ttl {
        body["ttl_seconds"] = json!(ttl);
    }
    let (status, body) = app.post("/api/v1/fe/session/token", &body).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], 200);
    body["data"].clone()
}

/// Opens the socket with a learner token only (no API key header).
pub(super) async fn open_with_token(app: &TestApp, query: &str) -> Socket {
    let (socket, response) = connect_async(app.ws_url(&format!("/api/v1/ws?{query}")))
        .await
        .expect("websocket connects");
    assert_eq!(response.status().as_u16(), 101);
    socket
}

/// A plain GET of the socket route without any key (refused before the
/// upgrade, so no upgrade headers are needed to see why).
async fn refused(app: &TestApp, query: &str) -> (u16, Value) {
    let response = app
        .client
        .get(app.url(&format!("/api/v1/ws?{query}")))
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

pub(super) async fn open(app: &TestApp, query: &str) -> Socket {
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
pub(super) async fn next(socket: &mut Socket) -> Value {
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

pub(super) async fn send(socket: &mut Socket, value: Value) {
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

/// A new learner's session with a socket open on it, past its enrolment
/// message.
async fn enrolled_socket(app: &TestApp) -> (String, String, Socket) {
    let (customer, session) = app.enrolled().await;
    let mut socket = open(
        app,
        &format!("customerUuid={customer}&sessionUuid={session}"),
    )
    .await;
    next(&mut socket).await; // enrolment
    (customer, session, socket)
}

/// Says `text` over HTTP; the socket gets the turn's messages live.
async fn say_while_open(
    app: &TestApp,
    socket: &mut Socket,
    customer: &str,
    session: &str,
    text: &str,
) {
    let turn = app.say(customer, session, text).await;
    assert_eq!(next(socket).await, turn["received"]);
    for reply in turn["replies"].as_array().expect("replies") {
        assert_eq!(&next(socket).await, reply);
    }
}

async fn live_delivery_of_other_channels(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (customer, session, mut socket) = enrolled_socket(&app).await;
    // A message through the HTTP channel is delivered live.
    say_while_open(&app, &mut socket, &customer, &session, "1").await;
    quiet(&mut socket).await;
    // Messages of other sessions are not.
    let (other_customer, other_session) = app.enrolled().await;
    app.say(&other_customer, &other_session, "1").await;
    quiet(&mut socket).await;
}

/// A session's end follows its last messages, once: when the socket's
/// own turn ends it, and when another channel's turn does.
async fn the_sessions_end_is_sent_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ended = json!({"session_status": "OptedOut"});
    // Its own turn.
    let (_, _, mut socket) = enrolled_socket(&app).await;
    send(&mut socket, json!({"message": "STOP"})).await;
    assert_eq!(next(&mut socket).await["message_type"], "RECEIVED");
    assert_eq!(next(&mut socket).await["message_type"], "SENT");
    assert_eq!(next(&mut socket).await, ended);
    quiet(&mut socket).await;

    // Another channel's turn, while the socket is open.
    let (customer, session, mut socket) = enrolled_socket(&app).await;
    say_while_open(&app, &mut socket, &customer, &session, "STOP").await;
    assert_eq!(next(&mut socket).await, ended);
    quiet(&mut socket).await;
    // A socket opened on the ended session gets its history, then its end.
    let mut late = open(
        &app,
        &format!("customerUuid={customer}&sessionUuid={session}"),
    )
    .await;
    for _ in 0..3 {
        assert!(next(&mut late).await["message_type"].is_string());
    }
    assert_eq!(next(&mut late).await, ended);
    quiet(&mut late).await;
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
#[cfg_attr(
    not(postgres_tests),
    ignore = "PostgreSQL: set TEST_DATABASE_URL to run"
)]
async fn live_delivery_across_servers_postgres() {
    let backend = Backend::postgres();
    let app = TestApp::spawn(backend).await;
    let config = chatcourse_api::Config {
        modules_dir: modules_dir(),
        ..chatcourse_api::Config::default()
    };
    let other = app.second_server(&config).await;

    let (customer, session) = app.enrolled().await;
    let mut socket = open(
        &app,
        &format!("customerUuid={customer}&sessionUuid={session}"),
    )
    .await;
    next(&mut socket).await; // enrolment
    let response = app
        .client
        .post(other.url("/api/v1/message"))
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
    other.stop().await;
}

async fn learner_token_opens_the_chat(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (customer, session) = app.enrolled().await;
    let before = chrono::Utc::now();
    let data = learner_token(&app, &customer, &session, None).await;
    let token = data["token"].as_str().expect("token").to_owned();
    assert!(token.starts_with("cst_"), "{token}");
    assert_eq!(token.len(), 4 + 64);
    assert_ne!(token, app.key);
    // Valid for 24 hours by default.
    let expires_at =
        chrono::DateTime::parse_from_rfc3339(data["expires_at"].as_str().expect("time"))
            .expect("RFC 3339");
    let ttl = expires_at.signed_duration_since(before);
    assert!((86_398..=86_401).contains(&ttl.num_seconds()), "{ttl:?}");
    // A second token is another secret.
    let second = learner_token(&app, &customer, &session, None).await;
    assert_ne!(second["token"], data["token"]);

    // The learner chats with the token alone: history, then a turn.
    let mut socket = open_with_token(&app, &format!("token={token}")).await;
    let transcript = app.transcript(&customer, &session).await;
    assert_eq!(next(&mut socket).await, transcript[0]);
    send(&mut socket, json!({"message": "1"})).await;
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
    assert_eq!(transcript[1..], [received.clone(), reply]);

    // The session's own uuids may be given too, with afterId.
    let after = received["id"].as_i64().expect("id");
    let mut again = open_with_token(
        &app,
        &format!("token={token}&customerUuid={customer}&sessionUuid={session}&afterId={after}"),
    )
    .await;
    assert_eq!(next(&mut again).await, transcript[2]);
    quiet(&mut again).await;
    socket.close(None).await.expect("close");
}

async fn learner_token_opens_only_its_session_until_it_expires(backend: Backend) {
    // The server's clock is the test's: expiry without sleeping.
    let clock = std::sync::Arc::new(chatcourse_storage::ManualClock::new(chrono::Utc::now()));
    let app =
        TestApp::spawn_with_clock(backend, chatcourse_api::Config::default(), clock.clone()).await;
    let (customer, session) = app.enrolled().await;
    let (other_customer, other_session) = app.enrolled().await;
    let token = learner_token(&app, &customer, &session, None).await["token"]
        .as_str()
        .expect("token")
        .to_owned();

    // Another session's uuids with this token: as if it did not exist.
    for query in [
        format!("token={token}&customerUuid={other_customer}&sessionUuid={other_session}"),
        format!("token={token}&sessionUuid={other_session}"),
        format!("token={token}&customerUuid={other_customer}"),
        format!("token={token}&customerUuid={customer}&sessionUuid={other_session}"),
    ] {
        let (status, body) = refused(&app, &query).await;
        assert_error(status, &body, 404, "session_not_found");
    }
    let (status, body) = refused(&app, &format!("token={token}&sessionUuid=nope")).await;
    assert_error(status, &body, 400, "validation_failed");
    assert_eq!(body["errors"], json!(["sessionUuid: must be a UUID"]));

    // Unknown tokens, including the API key and an empty one.
    for bad in ["cst_0000", "", app.key.as_str()] {
        let (status, body) = refused(&app, &format!("token={bad}&afterId=x")).await;
        assert_error(status, &body, 401, "invalid_token");
    }

    // The requested lifetime is bounded.
    for ttl in [0, -1, 604_801] {
        let (status, body) = app
            .post(
                "/api/v1/fe/session/token",
                &json!({"customer_uuid": customer, "session_uuid": session, "ttl_seconds": ttl}),
            )
            .await;
        assert_error(status, &body, 400, "validation_failed");
        assert_eq!(
            body["errors"],
            json!(["ttl_seconds: must be an integer from 1 to 604800"])
        );
    }

    // A one-second token opens the socket, then no longer does.
    let short = learner_token(&app, &customer, &session, Some(1)).await;
    let short_token = short["token"].as_str().expect("token");
    let expires_at =
        chrono::DateTime::parse_from_rfc3339(short["expires_at"].as_str().expect("time"))
            .expect("RFC 3339");
    let mut socket = open_with_token(&app, &format!("token={short_token}")).await;
    next(&mut socket).await; // enrolment
    let left = expires_at.signed_duration_since(chatcourse_storage::Clock::now(clock.as_ref()));
    assert!(left <= chrono::Duration::seconds(1), "{left}");
    // Just before the end it still opens; at the end it no longer does.
    clock.set(expires_at.with_timezone(&chrono::Utc) - chrono::Duration::milliseconds(1));
    next(&mut open_with_token(&app, &format!("token={short_token}")).await).await;
    clock.set(expires_at.with_timezone(&chrono::Utc));
    let (status, body) = refused(&app, &format!("token={short_token}")).await;
    assert_error(status, &body, 401, "invalid_token");
    // The other token still works.
    let mut still = open_with_token(&app, &format!("token={token}")).await;
    next(&mut still).await;
}

async fn learner_token_is_not_an_api_key(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (customer, session) = app.enrolled().await;
    let token = learner_token(&app, &customer, &session, None).await["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let query = format!("customerUuid={customer}&sessionUuid={session}");
    let (status, body) = app
        .get_with(&format!("/api/v1/message/all?{query}"), &token)
        .await;
    assert_error(status, &body, 401, "invalid_api_key");
    let (status, body) = app
        .post_with(
            "/api/v1/message",
            &json!({"customer_uuid": customer, "session_uuid": session, "message": "1"}),
            &token,
        )
        .await;
    assert_error(status, &body, 401, "invalid_api_key");
    // Nor can a token make more tokens.
    let (status, body) = app
        .post_with(
            "/api/v1/fe/session/token",
            &json!({"customer_uuid": customer, "session_uuid": session}),
            &token,
        )
        .await;
    assert_error(status, &body, 401, "invalid_api_key");
    // On the socket route, a token in the header instead of the query is
    // an API key like any other.
    let (status, body) = app.get_with(&format!("/api/v1/ws?{query}"), &token).await;
    assert_error(status, &body, 401, "invalid_api_key");
}

async fn learner_tokens_only_for_own_sessions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (customer, session) = app.enrolled().await;
    let body = json!({"customer_uuid": customer, "session_uuid": session});
    // Another organisation: as if the session did not exist.
    let other_key = app.new_key("Other Microfinance").await;
    let (status, reply) = app
        .post_with("/api/v1/fe/session/token", &body, &other_key)
        .await;
    assert_error(status, &reply, 404, "session_not_found");
    // Our own session under another customer does not exist either.
    let other_customer = app.register_customer().await;
    let (status, reply) = app
        .post(
            "/api/v1/fe/session/token",
            &json!({"customer_uuid": other_customer, "session_uuid": session}),
        )
        .await;
    assert_error(status, &reply, 404, "session_not_found");
    // No key at all.
    let response = app
        .client
        .post(app.url("/api/v1/fe/session/token"))
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    let reply: Value = response.json().await.expect("json");
    assert_error(status, &reply, 401, "missing_api_key");
    // Bad uuids are all reported.
    let (status, reply) = app
        .post(
            "/api/v1/fe/session/token",
            &json!({"customer_uuid": "x", "session_uuid": "y"}),
        )
        .await;
    assert_error(status, &reply, 400, "validation_failed");
    assert_eq!(
        reply["errors"],
        json!([
            "customer_uuid: must be a UUID",
            "session_uuid: must be a UUID"
        ])
    );
}
