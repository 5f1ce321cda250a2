//! Availability and security (issue 8): bad input is a 4xx and stores
//! nothing; start-up says what to do; slow or hostile clients cannot take
//! the service down for others.

use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::binary::chatcourse;
use super::harness::{Backend, TestApp, TestDatabase, assert_error, both_backends, unique};

both_backends!(
    impossible_customers_are_refused,
    reused_external_id_with_another_text_is_a_conflict,
    migrations_are_safe_to_race,
    revoking_a_key_closes_its_sockets,
    learner_tokens_are_revoked_and_swept,
    whole_transcripts_are_streamed,
    a_client_that_does_not_read_is_closed_with_1013_and_resumes,
);

/// Dates of birth out of range (the PostgreSQL `date` type refused
/// `-5000-01-01` with a 500), in the future, and names made only of
/// invisible characters: `400 validation_failed`, nothing stored.
async fn impossible_customers_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(2))
        .format("%d/%m/%Y")
        .to_string();
    let base = json!({
        "full_name": "Jane Wanjiku",
        "national_id": "12345678",
        "phone": "254712345678",
        "location": "Nairobi",
        "gender": "Female",
    });
    let cases = [
        (
            "date_of_birth",
            json!("-5000-01-01"),
            "date_of_birth: must be on or after 01/01/1900",
        ),
        (
            "date_of_birth",
            json!("0000-01-01"),
            "date_of_birth: must be on or after 01/01/1900",
        ),
        (
            "date_of_birth",
            json!(tomorrow),
            "date_of_birth: must not be in the future",
        ),
        (
            "date_of_birth",
            json!("2999-12-31"),
            "date_of_birth: must not be in the future",
        ),
        (
            "full_name",
            json!("\u{200B}\u{200C}\u{2060}"),
            "full_name: must contain a visible character",
        ),
        (
            "full_name",
            json!("\u{3164}\u{FEFF}"),
            "full_name: must contain a visible character",
        ),
    ];
    for (field, value, reason) in cases {
        let mut body = base.clone();
        body[field] = value.clone();
        let (status, response) = app.post("/api/v1/customer/mfi/register", &body).await;
        assert_error(status, &response, 400, "validation_failed");
        assert_eq!(response["errors"], json!([reason]), "{field} {value}");
    }
    // Nothing was stored: the phone is still free, so this registration
    // is a new customer, registered as given.
    let mut body = base.clone();
    body["date_of_birth"] = json!("1990-02-01");
    let (status, response) = app.post("/api/v1/customer/mfi/register", &body).await;
    assert_eq!(status, 200, "{response}");
    assert_eq!(response["data"]["date_of_birth"], "01/02/1990");
    assert_eq!(
        response["data"]["id"], 1,
        "no customer before this one: {response}"
    );
}

/// An `external_id` already applied with another text is `409
/// idempotency_conflict`: nothing is stored and the original turn is
/// untouched; the same text again is still a duplicate (200).
async fn reused_external_id_with_another_text_is_a_conflict(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (customer, session) = app.enrolled().await;
    let message = |text: &str| json!({"customer_uuid": customer, "session_uuid": session, "message": text, "external_id": "sms-1"});
    let (status, first) = app.post("/api/v1/message", &message("1")).await;
    assert_eq!(status, 200, "{first}");
    let before = app.transcript(&customer, &session).await;

    let (status, response) = app.post("/api/v1/message", &message("2")).await;
    assert_error(status, &response, 409, "idempotency_conflict");
    assert_eq!(
        app.transcript(&customer, &session).await,
        before,
        "nothing stored"
    );

    let (status, again) = app.post("/api/v1/message", &message("1")).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["data"]["duplicate"], true);
    assert_eq!(again["data"]["received"], first["data"]["received"]);
    assert_eq!(app.transcript(&customer, &session).await, before);
}

/// Two processes migrating one fresh database at the same moment both
/// succeed (on SQLite one used to exit with "table organisations already
/// exists"), and the database ends fully migrated.
async fn migrations_are_safe_to_race(backend: Backend) {
    for round in 0..5 {
        let db = TestDatabase::new(backend.clone()).await;
        let spawn = || {
            chatcourse()
                .args(["migrate", "--database", &db.url])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn migrate")
        };
        let (a, b) = (spawn(), spawn());
        for child in [a, b] {
            let output = child.wait_with_output().expect("migrate");
            assert!(output.status.success(), "round {round}: {output:?}");
        }
        let output = chatcourse()
            .args(["migrate", "--database", &db.url])
            .output()
            .expect("migrate");
        assert!(
            String::from_utf8_lossy(&output.stdout).contains("up to date"),
            "round {round}: {output:?}"
        );
    }
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `keys list` and `keys revoke` on a database that does not exist say so
/// and leave no empty database file behind; a missing SQLite folder is
/// named, with what to do.
#[test]
fn start_up_names_the_missing_database_or_folder() {
    let dir = std::env::temp_dir().join(format!("chatcourse-e2e-hard-{}", unique()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("nothing.db");
    let url = format!("sqlite://{}", file.display());
    for args in [
        &["keys", "list", "--org", "acme"][..],
        &["keys", "revoke", "--org", "acme", "--id", "1"],
    ] {
        let output = chatcourse()
            .args(args)
            .args(["--database", &url])
            .output()
            .expect("keys");
        assert_eq!(output.status.code(), Some(1), "{output:?}");
        assert!(
            stderr(&output).contains("there is no SQLite database at"),
            "{output:?}"
        );
        assert!(!file.exists(), "{args:?} created {}", file.display());
    }
    let nested = dir.join("no-such-folder").join("chatcourse.db");
    let url = format!("sqlite://{}", nested.display());
    for args in [&["migrate"][..], &["keys", "create", "--org", "acme"]] {
        let output = chatcourse()
            .args(args)
            .args(["--database", &url])
            .output()
            .expect("run");
        assert_eq!(output.status.code(), Some(1), "{output:?}");
        let text = stderr(&output);
        assert!(text.contains("no-such-folder does not exist"), "{text}");
        assert!(text.contains("mkdir -p"), "{text}");
        assert!(!text.contains("unable to open database file"), "{text}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A PostgreSQL address that accepts TCP and never answers: `migrate`,
/// `keys` and `serve` give up after the connect timeout with a message
/// that names the address, instead of hanging forever.
#[test]
fn a_database_that_never_answers_is_reported() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    // Accept and hold every connection, never writing a byte.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            match stream {
                Ok(stream) => held.push(stream),
                Err(_) => break,
            }
        }
    });
    let url = format!("postgres://postgres@127.0.0.1:{port}/test");
    let children: Vec<_> = [
        &["migrate"][..],
        &["keys", "list", "--org", "acme"],
        &["serve", "--bind", "127.0.0.1:0", "--modules"],
    ]
    .into_iter()
    .map(|args| {
        let mut command = chatcourse();
        command.args(args);
        if args[0] == "serve" {
            command.arg(super::harness::modules_dir());
        }
        command
            .args(["--database", &url])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn")
    })
    .collect();
    let started = Instant::now();
    for child in children {
        let output = child.wait_with_output().expect("wait");
        assert!(started.elapsed() < Duration::from_secs(40), "{output:?}");
        assert_eq!(output.status.code(), Some(1), "{output:?}");
        let text = stderr(&output);
        assert!(
            text.contains(&format!(
                "127.0.0.1:{port}/test did not answer within 10 seconds"
            )),
            "{text}"
        );
    }
}

/// A raw client socket on the app, after sending `bytes`.
async fn raw(app: &TestApp, bytes: &[u8]) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let mut socket = tokio::net::TcpStream::connect(app.addr)
        .await
        .expect("connect");
    socket.write_all(bytes).await.expect("write");
    socket
}

/// Reads until the server closes the socket; `None` if it is still open
/// after `within`. Returns what was read.
async fn closed_within(socket: &mut tokio::net::TcpStream, within: Duration) -> Option<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let mut all = Vec::new();
    let read = async {
        let mut buf = [0u8; 4096];
        loop {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => all.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(within, read).await.ok().map(|()| all)
}

const HALF_HEAD: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n";
const WHOLE_REQUEST: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

/// Unfinished request heads and idle kept-alive connections are closed
/// after the header-read timeout, so they cannot pile up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_heads_and_idle_connections_are_closed() {
    let config = chatcourse_api::Config {
        header_read_timeout: Duration::from_secs(1),
        ..chatcourse_api::Config::default()
    };
    let app = TestApp::spawn_with(Backend::Sqlite, config).await;
    let mut slow = Vec::new();
    for _ in 0..5 {
        slow.push(raw(&app, HALF_HEAD).await);
    }
    let mut idle = raw(&app, WHOLE_REQUEST).await;
    for socket in &mut slow {
        assert!(
            closed_within(socket, Duration::from_secs(5))
                .await
                .is_some(),
            "an unfinished head is closed after the header-read timeout"
        );
    }
    let answered = closed_within(&mut idle, Duration::from_secs(5))
        .await
        .expect("an idle kept-alive connection is closed");
    assert!(
        String::from_utf8_lossy(&answered).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answered)
    );
    let (status, _) = app.get("/healthz").await;
    assert_eq!(status, 200);
}

/// Beyond `max_connections`, a new connection waits until one ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_capped() {
    let config = chatcourse_api::Config {
        max_connections: 3,
        ..chatcourse_api::Config::default()
    };
    let app = TestApp::spawn_with(Backend::Sqlite, config).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(raw(&app, b"").await);
    }
    served_only_when_one_ends(&app, held).await;
}

/// With the connections `held` open (as many as the cap), a new
/// connection is not served; once one of them ends, it is.
async fn served_only_when_one_ends<T>(app: &TestApp, mut held: Vec<T>) {
    use tokio::io::AsyncReadExt;
    // Let the server take them.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut waiting = raw(app, WHOLE_REQUEST).await;
    let mut buf = [0u8; 64];
    assert!(
        tokio::time::timeout(Duration::from_millis(700), waiting.read(&mut buf))
            .await
            .is_err(),
        "a new connection is not served while {} are open",
        held.len()
    );
    drop(held.pop());
    let n = tokio::time::timeout(Duration::from_secs(5), waiting.read(&mut buf))
        .await
        .expect("served once a connection ended")
        .expect("read");
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{:?}", &buf[..n]);
}

/// An open WebSocket counts against `max_connections` as long as it is
/// open, not only until its upgrade: beyond the cap a new connection waits
/// until a socket closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websockets_count_against_the_connection_cap() {
    let config = chatcourse_api::Config {
        max_connections: 2,
        ..chatcourse_api::Config::default()
    };
    let app = TestApp::spawn_with(Backend::Sqlite, config).await;
    let (customer, session) = app.enrolled().await;
    let mut sockets = Vec::new();
    for _ in 0..2 {
        let query = format!("customerUuid={customer}&sessionUuid={session}");
        let mut socket = super::ws::open(&app, &query).await;
        let first = super::ws::next(&mut socket).await;
        assert_eq!(
            first["message_type"], "SENT",
            "the history arrives: {first}"
        );
        sockets.push(socket);
    }
    served_only_when_one_ends(&app, sockets).await;
}

/// Shutdown ends within its bound whatever the clients do: unfinished
/// heads, a request that would run for a minute, a WebSocket that never
/// reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_has_a_bound_whatever_the_clients_do() {
    let config = chatcourse_api::Config {
        header_read_timeout: Duration::from_secs(60),
        shutdown_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(120),
        test_routes: true,
        ..chatcourse_api::Config::default()
    };
    let mut app = TestApp::spawn_with(Backend::Sqlite, config).await;
    let (customer, session) = app.enrolled().await;
    let mut held = Vec::new();
    for _ in 0..5 {
        held.push(raw(&app, HALF_HEAD).await);
    }
    held.push(
        raw(
            &app,
            b"GET /__test/sleep?ms=60000 HTTP/1.1\r\nHost: x\r\n\r\n",
        )
        .await,
    );
    let socket = super::ws::open(
        &app,
        &format!("customerUuid={customer}&sessionUuid={session}"),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(10), app.stop())
        .await
        .expect("shutdown ends within its bound")
        .expect("clean stop");
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
    drop(socket);
}

/// Answers a GET with `key`: status, `Retry-After` and the JSON body.
async fn get_raw(app: &TestApp, path: &str, key: &str) -> (u16, Option<String>, serde_json::Value) {
    let response = app
        .client
        .get(app.url(path))
        .bearer_auth(key)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    let retry = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().expect("ascii").to_owned());
    (status, retry, response.json().await.expect("json"))
}

/// Wrong keys from one address: the first ones are 401s, then `429
/// rate_limited` with `Retry-After`, and the address is refused before any
/// key is looked up (even a right one) until the wait has passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authentication_failures_are_rate_limited() {
    let config = chatcourse_api::Config {
        rate_limits: chatcourse_api::limits::RateLimits {
            auth_failures_per_minute: 5,
            ..Default::default()
        },
        ..chatcourse_api::Config::default()
    };
    let app = TestApp::spawn_with(Backend::Sqlite, config).await;
    let (status, _, _) = get_raw(&app, "/api/v1/fe/modules", &app.key).await;
    assert_eq!(status, 200);
    for n in 0..5 {
        let (status, retry, body) =
            get_raw(&app, "/api/v1/fe/modules", &format!("cck_wrong{n}")).await;
        assert_error(status, &body, 401, "invalid_api_key");
        assert_eq!(retry, None);
    }
    let (status, retry, body) = get_raw(&app, "/api/v1/fe/modules", "cck_wrong").await;
    assert_error(status, &body, 429, "rate_limited");
    let wait: u64 = retry.expect("Retry-After").parse().expect("seconds");
    assert!((1..=60).contains(&wait), "{wait}");
    let (status, retry, body) = get_raw(&app, "/api/v1/fe/modules", &app.key).await;
    assert_error(status, &body, 429, "rate_limited");
    assert!(retry.is_some());
    // The live chat's learner tokens count too.
    let response = app
        .client
        .get(app.url("/api/v1/ws?token=cst_wrong"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 429);
    // Keyless endpoints still answer.
    let (status, _) = app.get("/healthz").await;
    assert_eq!(status, 200);
}

/// Learner tokens and learner turns are limited per key and address:
/// `429 rate_limited` with `Retry-After`, and a refused turn stores
/// nothing; over the WebSocket, an error frame and the socket stays open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_creation_and_turns_are_rate_limited() {
    let config = chatcourse_api::Config {
        rate_limits: chatcourse_api::limits::RateLimits {
            tokens_per_minute: 2,
            turns_per_minute: 4,
            ..Default::default()
        },
        ..chatcourse_api::Config::default()
    };
    let app = TestApp::spawn_with(Backend::Sqlite, config).await;
    let (customer, session) = app.enrolled().await;
    let body = json!({"customer_uuid": customer, "session_uuid": session});
    for _ in 0..2 {
        let (status, response) = app.post("/api/v1/fe/session/token", &body).await;
        assert_eq!(status, 200, "{response}");
    }
    let (status, response) = app.post("/api/v1/fe/session/token", &body).await;
    assert_error(status, &response, 429, "rate_limited");

    for text in ["1", "2", "1"] {
        app.say(&customer, &session, text).await;
    }
    let before = app.transcript(&customer, &session).await;
    let post_two = || {
        app.client
            .post(app.url("/api/v1/message"))
            .bearer_auth(&app.key)
            .json(&json!({"customer_uuid": customer, "session_uuid": session, "message": "2"}))
            .send()
    };
    // The fourth turn is allowed; the fifth, over the WebSocket, is not,
    // nor a sixth over HTTP.
    let response = post_two().await.expect("request");
    assert_eq!(response.status().as_u16(), 200);
    let after_four = app.transcript(&customer, &session).await;
    assert!(after_four.len() > before.len());
    let mut socket = super::ws::open(
        &app,
        &format!("customerUuid={customer}&sessionUuid={session}"),
    )
    .await;
    // The history first.
    for _ in 0..after_four.len() {
        super::ws::next(&mut socket).await;
    }
    super::ws::send(&mut socket, json!({"message": "1"})).await;
    let frame = super::ws::next(&mut socket).await;
    assert_eq!(frame["code"], "rate_limited", "{frame}");
    assert_eq!(frame["status"], 429, "{frame}");
    let response = post_two().await.expect("request");
    assert_eq!(response.status().as_u16(), 429);
    assert!(response.headers().get("retry-after").is_some());
    let body: serde_json::Value = response.json().await.expect("json");
    assert_error(429, &body, 429, "rate_limited");
    assert_eq!(
        app.transcript(&customer, &session).await,
        after_four,
        "nothing stored"
    );
}

/// Every response has `nosniff`; responses with keys, tokens or personal
/// data are `no-store`; HTML pages have a restrictive CSP (the chat page
/// keeps its own).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_headers_on_every_response() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (customer, session) = app.enrolled().await;
    let token = super::ws::learner_token(&app, &customer, &session, None).await;
    let token = token["token"].as_str().expect("token");
    let get = |path: String, key: Option<String>| {
        let mut request = app.client.get(app.url(&path));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        request.send()
    };
    let key = Some(app.key.clone());
    for (path, key, html) in [
        ("/healthz".to_owned(), None, false),
        ("/no-such-route".to_owned(), None, false),
        ("/api/v1/fe/modules".to_owned(), None, false),
        (
            format!("/api/v1/customer/mfi?customerUuid={customer}"),
            key.clone(),
            false,
        ),
        (
            format!("/api/v1/message/all?customerUuid={customer}&sessionUuid={session}"),
            key.clone(),
            false,
        ),
        ("/api/v1/docs/".to_owned(), None, true),
        (format!("/chat?token={token}"), None, true),
    ] {
        let response = get(path.clone(), key).await.expect("request");
        let headers = response.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["cache-control"], "no-store", "{path}");
        if html {
            let csp = headers["content-security-policy"].to_str().expect("csp");
            assert!(csp.contains("default-src 'none'"), "{path}: {csp}");
            assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
            assert!(!csp.contains("unsafe-eval"), "{path}: {csp}");
        }
    }
    // The chat page's own policy is kept (no inline styles there).
    let response = get(format!("/chat?token={token}"), None)
        .await
        .expect("chat");
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .expect("csp");
    assert!(csp.contains("style-src 'self';"), "{csp}");
    // The token response carries a secret: never stored by a cache.
    let response = app
        .client
        .post(app.url("/api/v1/fe/session/token"))
        .bearer_auth(&app.key)
        .json(&json!({"customer_uuid": customer, "session_uuid": session}))
        .send()
        .await
        .expect("token");
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
}

/// CORS is off by default (no `Access-Control-Allow-Origin`, whatever the
/// origin); with `cors_origins`, those origins and only they are allowed,
/// preflight included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_is_off_by_default_and_per_origin() {
    /// The allowed origin a preflight (`true`) or a GET from `origin` gets.
    async fn allowed(app: &TestApp, origin: &str, preflight: bool) -> Option<String> {
        let request = if preflight {
            app.client
                .request(reqwest::Method::OPTIONS, app.url("/api/v1/message"))
                .header("access-control-request-method", "POST")
                .header(
                    "access-control-request-headers",
                    "authorization, content-type",
                )
        } else {
            app.client
                .get(app.url("/api/v1/fe/modules"))
                .bearer_auth(&app.key)
        };
        let response = request
            .header("origin", origin)
            .send()
            .await
            .expect("request");
        assert!(response.status().is_success(), "{response:?}");
        if preflight
            && response
                .headers()
                .contains_key("access-control-allow-origin")
        {
            let methods = response.headers()["access-control-allow-methods"]
                .to_str()
                .expect("methods");
            assert!(methods.contains("POST"), "{methods}");
        }
        response
            .headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().expect("ascii").to_owned())
    }
    let lender = "https://lender.example";
    let app = TestApp::spawn(Backend::Sqlite).await;
    for preflight in [false, true] {
        // Off: a preflight is not even recognised, so any 2xx is fine as
        // long as it allows nothing.
        if preflight {
            let response = app
                .client
                .request(reqwest::Method::OPTIONS, app.url("/api/v1/message"))
                .header("origin", lender)
                .header("access-control-request-method", "POST")
                .send()
                .await
                .expect("preflight");
            assert!(
                response
                    .headers()
                    .get("access-control-allow-origin")
                    .is_none()
            );
        } else {
            assert_eq!(allowed(&app, lender, preflight).await, None);
        }
    }
    let config = chatcourse_api::Config {
        cors_origins: vec![lender.to_owned()],
        ..chatcourse_api::Config::default()
    };
    let app = TestApp::spawn_with(Backend::Sqlite, config).await;
    for preflight in [true, false] {
        assert_eq!(
            allowed(&app, lender, preflight).await.as_deref(),
            Some(lender)
        );
        assert_eq!(allowed(&app, "https://evil.example", preflight).await, None);
    }
}

/// Every label of the metrics is bounded: hundreds of made-up methods and
/// paths, without a key, add no series (they count as `other` and
/// `unmatched`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_labels_are_bounded() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let size = || async { super::http::metrics(&app).await.len() };
    let send = |method: String, path: String| {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        app.client.request(method, app.url(&path)).send()
    };
    for n in 0..3 {
        let _ = send(format!("M{n}"), format!("/p{n}"))
            .await
            .expect("request");
    }
    let before = size().await;
    for n in 3..400 {
        let response = send(format!("METHOD{n}"), format!("/nowhere/{n}"))
            .await
            .expect("request");
        assert!(response.status().is_client_error(), "{response:?}");
    }
    let after = size().await;
    assert!(
        after < before + 2048,
        "/metrics grew from {before} to {after} bytes"
    );
    let text = super::http::metrics(&app).await;
    assert!(!text.contains("METHOD3"), "{text}");
    assert!(!text.contains("/nowhere"), "{text}");
    assert!(text.contains("method=\"other\""), "{text}");
}

/// The close frame that ends `socket` (within 10 s): its code, or `None`
/// if the connection ended without one.
async fn close_code(socket: &mut super::ws::Socket) -> Option<u16> {
    use futures::StreamExt;
    use tokio_tungstenite::tungstenite::Message as Frame;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, socket.next())
            .await
            .expect("closed within 10 s")
        {
            Some(Ok(Frame::Close(frame))) => return frame.map(|f| u16::from(f.code)),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return None,
        }
    }
}

/// A frame over 64 KiB is answered with close code 1009 (message too
/// big), not a dropped connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_frame_is_closed_with_1009() {
    use futures::SinkExt;
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (customer, session) = app.enrolled().await;
    let mut socket = super::ws::open(
        &app,
        &format!("customerUuid={customer}&sessionUuid={session}"),
    )
    .await;
    super::ws::next(&mut socket).await;
    let big = json!({"message": "a".repeat(70 * 1024)}).to_string();
    socket
        .send(tokio_tungstenite::tungstenite::Message::Text(big.into()))
        .await
        .expect("send");
    assert_eq!(close_code(&mut socket).await, Some(1009));
}

/// The server pings; a client that answers nothing (it never reads, so
/// its pongs are never sent) is closed after one more interval.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_client_is_closed_after_a_ping_interval() {
    use futures::StreamExt;
    let config = chatcourse_api::Config {
        ws: chatcourse_api::config::WsOptions {
            ping_interval: Duration::from_millis(300),
            ..Default::default()
        },
        ..chatcourse_api::Config::default()
    };
    let app = TestApp::spawn_with(Backend::Sqlite, config).await;
    let (customer, session) = app.enrolled().await;
    let mut socket = super::ws::open(
        &app,
        &format!("customerUuid={customer}&sessionUuid={session}"),
    )
    .await;
    // A reading client gets pings (and answers them): it stays open.
    let mut pings = 0;
    let until = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < until {
        if let Ok(Some(Ok(frame))) =
            tokio::time::timeout(Duration::from_millis(100), socket.next()).await
        {
            assert!(!frame.is_close(), "{frame:?}");
            pings += usize::from(frame.is_ping());
        }
    }
    assert!(pings >= 2, "{pings} pings");
    // A silent one is closed.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let code = close_code(&mut socket).await;
    assert!(matches!(code, Some(1001) | None), "{code:?}");
}

/// A client that stops reading is not waited for: once a frame has waited
/// `send_timeout` the server closes the socket with 1013 (try again
/// later), and the client, reconnecting with `afterId` set to the last
/// message it received, gets every message exactly once and in order.
async fn a_client_that_does_not_read_is_closed_with_1013_and_resumes(backend: Backend) {
    use chatcourse_storage::{Inbound, QuizProgress, TurnPlan};
    use futures::StreamExt;
    use tokio_tungstenite::tungstenite::Message as Frame;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let send_timeout = Duration::from_millis(1000);
    let config = chatcourse_api::Config {
        ws: chatcourse_api::config::WsOptions {
            send_timeout,
            ..Default::default()
        },
        ..chatcourse_api::Config::default()
    };
    let app = TestApp::spawn_with(backend, config).await;
    let (customer, session_uuid) = app.enrolled().await;
    let query = format!("customerUuid={customer}&sessionUuid={session_uuid}");

    // A client whose kernel buffers little (no receive-buffer autotuning):
    // what it does not read stays in the server's socket.
    let tcp = tokio::net::TcpSocket::new_v4().expect("socket");
    tcp.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let stream = tcp.connect(app.addr).await.expect("connect");
    let mut request = app
        .ws_url(&format!("/api/v1/ws?{query}"))
        .into_client_request()
        .expect("request");
    request
        .headers_mut()
        .insert("Authentication", app.key.parse().expect("header value"));
    let (socket, response) =
        tokio_tungstenite::client_async(request, tokio_tungstenite::MaybeTlsStream::Plain(stream))
            .await
            .expect("websocket connects");
    assert_eq!(response.status().as_u16(), 101);
    let mut socket: super::ws::Socket = socket;
    let mut received = vec![super::ws::next(&mut socket).await];

    // Then it stops reading while two turns of the session commit 400
    // messages of 24 KB (9.6 MB, more than the server's socket buffers).
    let org = app
        .store
        .find_org("org-a")
        .await
        .expect("find org")
        .expect("org-a");
    let session = app
        .store
        .get_session(org.id, session_uuid.parse().expect("uuid"))
        .await
        .expect("get session")
        .expect("the session");
    for turn in 0..2 {
        let mut decide = |s: &chatcourse_storage::Session, now: chrono::DateTime<chrono::Utc>| {
            Ok(TurnPlan {
                state: s.state.clone(),
                state_format: s.state_format,
                status: s.status,
                replies: (0..200)
                    .map(|n| format!("{turn}-{n:03} {}", "x".repeat(24 * 1024)))
                    .collect(),
                answers: Vec::new(),
                progress: QuizProgress::default(),
                wake_at: s.wake_at,
                last_activity: Some(now),
                position: None,
            })
        };
        app.store
            .apply_turn(
                session.id,
                Inbound::message(format!("burst {turn}"), None),
                &mut decide,
            )
            .await
            .expect("turn");
    }
    // Past the send timeout (the server blocks as soon as its buffers are
    // full, some 2.8 MB, tens of milliseconds after the commits), but
    // within the send timeout the server then waits for its close frame:
    // about half a second of margin either way.
    tokio::time::sleep(send_timeout + send_timeout / 2).await;

    // Reading again: what the server had written, then its close frame.
    let code = loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a frame within 10 s");
        match frame {
            Some(Ok(Frame::Text(text))) => {
                received.push(serde_json::from_str(text.as_str()).expect("JSON frame"));
            }
            Some(Ok(Frame::Ping(_) | Frame::Pong(_))) => {}
            Some(Ok(Frame::Close(frame))) => break frame.map(|f| u16::from(f.code)),
            other => panic!("expected the close frame, got {other:?}"),
        }
    };
    assert_eq!(code, Some(1013), "closed as too slow");
    let transcript = app.transcript(&customer, &session_uuid).await;
    assert_eq!(transcript.len(), 1 + 2 * 201);
    assert!(
        received.len() < transcript.len(),
        "{} of {} messages before the close",
        received.len(),
        transcript.len()
    );
    // What came before the close is the start of the transcript.
    assert_eq!(received[..], transcript[..received.len()]);

    // Resuming after the last message received: the rest, once, in order.
    let last = received.last().expect("a message")["id"]
        .as_i64()
        .expect("id");
    let mut socket = super::ws::open(&app, &format!("{query}&afterId={last}")).await;
    while received.len() < transcript.len() {
        received.push(super::ws::next(&mut socket).await);
    }
    assert_eq!(received, transcript);
    let more = tokio::time::timeout(Duration::from_millis(300), socket.next()).await;
    assert!(more.is_err(), "nothing after the last message: {more:?}");
}

/// Revoking an API key closes the sockets opened with it (close code
/// 1008) at the next ping; sockets opened with another key stay open.
async fn revoking_a_key_closes_its_sockets(backend: Backend) {
    use futures::StreamExt;
    let config = chatcourse_api::Config {
        ws: chatcourse_api::config::WsOptions {
            ping_interval: Duration::from_millis(300),
            ..Default::default()
        },
        ..chatcourse_api::Config::default()
    };
    let mut app = TestApp::spawn_with(backend, config).await;
    let (customer, session) = app.enrolled().await;
    let query = format!("customerUuid={customer}&sessionUuid={session}");
    let mut kept = super::ws::open(&app, &query).await;
    let first_key = app.key.clone();
    app.key = app.new_key("org-a").await;
    let mut revoked = super::ws::open(&app, &query).await;
    let org = app
        .store
        .find_org("org-a")
        .await
        .expect("find org")
        .expect("org-a");
    let keys = app.store.list_keys(org.id).await.expect("keys");
    let newest = keys.iter().map(|k| k.id).max().expect("a key");
    assert!(
        app.store
            .revoke_key(org.id, newest, chrono::Utc::now())
            .await
            .expect("revoke")
    );
    assert_eq!(close_code(&mut revoked).await, Some(1008));
    // The other key's socket is still served.
    app.key = first_key;
    let until = Instant::now() + Duration::from_millis(800);
    while Instant::now() < until {
        if let Ok(Some(frame)) = tokio::time::timeout(Duration::from_millis(100), kept.next()).await
        {
            let frame = frame.expect("frame");
            assert!(!frame.is_close(), "{frame:?}");
        }
    }
    app.say(&customer, &session, "1").await;
    let received = super::ws::next(&mut kept).await;
    assert_eq!(received["message"], "1", "{received}");
}

/// A learner token dies with the key that created it, can be revoked
/// itself (its sockets close with 1008), by its organisation only; expired
/// tokens are deleted by the server.
async fn learner_tokens_are_revoked_and_swept(backend: Backend) {
    let config = chatcourse_api::Config {
        ws: chatcourse_api::config::WsOptions {
            ping_interval: Duration::from_millis(300),
            ..Default::default()
        },
        token_sweep_interval: Duration::from_millis(200),
        ..chatcourse_api::Config::default()
    };
    let mut app = TestApp::spawn_with(backend, config).await;
    let (customer, session) = app.enrolled().await;
    async fn token(app: &TestApp, customer: &str, session: &str) -> String {
        let (status, body) = app
            .post(
                "/api/v1/fe/session/token",
                &json!({"customer_uuid": customer, "session_uuid": session}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["data"]["token"].as_str().expect("token").to_owned()
    }
    async fn refused(app: &TestApp, token: String) -> u16 {
        let url = app.url(&format!("/api/v1/ws?token={token}"));
        let response = app.client.get(url).send().await.expect("request");
        response.status().as_u16()
    }
    let by_first_key = token(&app, &customer, &session).await;
    let first_key = app.key.clone();
    app.key = app.new_key("org-a").await;
    let by_second_key = token(&app, &customer, &session).await;
    let mut socket = super::ws::open_with_token(&app, &format!("token={by_second_key}")).await;
    let org = app
        .store
        .find_org("org-a")
        .await
        .expect("org")
        .expect("org-a");
    let newest = app
        .store
        .list_keys(org.id)
        .await
        .expect("keys")
        .iter()
        .map(|k| k.id)
        .max();
    assert!(
        app.store
            .revoke_key(org.id, newest.expect("key"), chrono::Utc::now())
            .await
            .expect("revoke")
    );
    assert_eq!(
        close_code(&mut socket).await,
        Some(1008),
        "its key was revoked"
    );
    assert_eq!(refused(&app, by_second_key).await, 401);

    app.key = first_key;
    let mut socket = super::ws::open_with_token(&app, &format!("token={by_first_key}")).await;
    let other_org = app.new_key("org-b").await;
    let revoke = |key: String, token: String| {
        let app = &app;
        async move {
            let (status, body) = app
                .post_with(
                    "/api/v1/fe/session/token/revoke",
                    &json!({"token": token}),
                    &key,
                )
                .await;
            assert_eq!(status, 200, "{body}");
            body["data"]["revoked"].as_bool().expect("revoked")
        }
    };
    assert!(
        !revoke(other_org, by_first_key.clone()).await,
        "another organisation's"
    );
    assert!(revoke(app.key.clone(), by_first_key.clone()).await);
    assert!(!revoke(app.key.clone(), by_first_key.clone()).await, "once");
    assert_eq!(close_code(&mut socket).await, Some(1008), "revoked");
    assert_eq!(refused(&app, by_first_key).await, 401);

    // Expired tokens are deleted by the server, not left to pile up.
    for _ in 0..3 {
        let (status, body) = app
            .post(
                "/api/v1/fe/session/token",
                &json!({"customer_uuid": customer, "session_uuid": session, "ttl_seconds": 1}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    tokio::time::sleep(Duration::from_millis(1800)).await;
    let left = app
        .store
        .delete_expired_session_tokens(chrono::Utc::now())
        .await
        .expect("delete");
    assert_eq!(left, 0, "the server had deleted the expired tokens");
}

/// Without `limit`, `/api/v1/message/all` streams the transcript page by
/// page (chunked, no `Content-Length`) in exactly the seed's shape; the
/// live chat sends a long history page by page too; nothing is missed or
/// repeated across pages.
async fn whole_transcripts_are_streamed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (customer, session) = app.enrolled().await;
    for n in 0..220 {
        app.say(&customer, &session, if n % 2 == 0 { "1" } else { "2" })
            .await;
    }
    let base = format!("/api/v1/message/all?customerUuid={customer}&sessionUuid={session}");
    // The same messages, read with `limit` (one ordinary envelope a page).
    let mut paged = Vec::new();
    let mut after = 0;
    loop {
        let (status, body) = app.get(&format!("{base}&limit=1000&afterId={after}")).await;
        assert_eq!(status, 200, "{body}");
        let page = body["data"].as_array().expect("data").clone();
        if page.is_empty() {
            break;
        }
        after = page.last().expect("last")["id"].as_i64().expect("id");
        paged.extend(page);
    }
    assert!(paged.len() > 440, "{} messages", paged.len());
    let response = app
        .client
        .get(app.url(&base))
        .bearer_auth(&app.key)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 200);
    assert!(
        response.headers().get("content-length").is_none(),
        "{response:?}"
    );
    assert_eq!(response.headers()["content-type"], "application/json");
    let text = response.text().await.expect("body");
    assert!(
        text.starts_with(
            r#"{"status":200,"message":"Messages successfully fetched","data":[{"id":"#
        ),
        "{}",
        &text[..100]
    );
    let body: serde_json::Value = serde_json::from_str(&text).expect("one JSON document");
    assert_eq!(body["data"].as_array().expect("data"), &paged);
    assert_eq!(
        body.as_object().expect("object").len(),
        3,
        "status, message, data"
    );
    // After the last id: an empty list, still the envelope.
    let (status, body) = app.get(&format!("{base}&afterId={after}")).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"status": 200, "message": "Messages successfully fetched", "data": []})
    );
    let (status, body) = app.get(&format!("{base}&afterId=3")).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"].as_array().expect("data")[..], paged[3..]);

    let mut socket = super::ws::open(
        &app,
        &format!("customerUuid={customer}&sessionUuid={session}"),
    )
    .await;
    for expected in &paged {
        let frame = super::ws::next(&mut socket).await;
        assert_eq!(&frame, expected);
    }
}

/// The OpenAPI document says what the server enforces: uuid ids, the
/// ranges of `limit`, `afterId`, `ttl_seconds` and `programIdentifier`,
/// the `format` enum, every status an operation can answer, the
/// operations routes, and the links register -> enrol -> message -> fetch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_says_what_is_enforced() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (status, doc) = app.get("/api/v1/openapi.json").await;
    assert_eq!(status, 200);
    let param = |path: &str, method: &str, name: &str| {
        doc["paths"][path][method]["parameters"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == name))
            .map(|p| p["schema"].clone())
            .unwrap_or_else(|| panic!("{method} {path} has {name}"))
    };
    let all = "/api/v1/message/all";
    assert_eq!(param(all, "get", "customerUuid")["format"], "uuid");
    assert!(param(all, "get", "sessionUuid")["pattern"].is_string());
    assert_eq!(param(all, "get", "limit")["minimum"], 1);
    assert_eq!(param(all, "get", "limit")["maximum"], 1000);
    assert_eq!(param(all, "get", "afterId")["minimum"], 0);
    assert_eq!(
        param("/api/v1/fe/program/summary", "get", "programIdentifier")["minimum"],
        0
    );
    let export = "/api/v1/fe/program/export/messages";
    assert_eq!(
        param(export, "get", "format")["enum"],
        json!(["ndjson", "csv"])
    );
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["SessionTokenRequest"]["properties"]["ttl_seconds"]["minimum"],
        1
    );
    assert_eq!(
        schemas["SessionTokenRequest"]["properties"]["ttl_seconds"]["maximum"],
        604_800
    );
    assert_eq!(
        schemas["PostMessage"]["properties"]["customer_uuid"]["format"],
        "uuid"
    );
    assert_eq!(
        schemas["PostMessage"]["properties"]["message"]["maxLength"],
        2000
    );
    let responses = &doc["paths"]["/api/v1/message"]["post"]["responses"];
    for status in [
        "200", "400", "401", "404", "413", "415", "429", "500", "503",
    ] {
        assert!(
            responses[status].is_object(),
            "POST /api/v1/message answers {status}"
        );
    }
    for path in ["/healthz", "/readyz", "/metrics"] {
        assert!(doc["paths"][path]["get"].is_object(), "{path}");
    }
    assert!(doc["paths"]["/readyz"]["get"]["responses"]["503"].is_object());
    let links = |path: &str| doc["paths"][path]["post"]["responses"]["200"]["links"].clone();
    let enrol_id = doc["paths"]["/api/v1/fe/program/customer/add"]["post"]["operationId"].clone();
    assert_eq!(
        links("/api/v1/customer/mfi/register")["Enrol"]["operationId"],
        enrol_id
    );
    assert_eq!(
        links("/api/v1/customer/mfi/register")["Enrol"]["requestBody"]["customer_uuid"],
        "$response.body#/data/uuid"
    );
    let enrol_links = links("/api/v1/fe/program/customer/add");
    assert_eq!(
        enrol_links["SendMessage"]["operationId"],
        doc["paths"]["/api/v1/message"]["post"]["operationId"]
    );
    assert_eq!(
        enrol_links["FetchConversation"]["operationId"],
        doc["paths"][all]["get"]["operationId"]
    );
    assert!(links("/api/v1/message")["FetchConversation"].is_object());
}

/// What the OpenAPI document states beyond single names (schemathesis's
/// "no schema-valid request rejected"): the report's scope texts, the
/// enrolment's language tag and time zones, quiet hours' times, the
/// customer's fields; and the server takes what the document allows where
/// it used to refuse it: an integer written `3600.0` (JSON Schema's
/// `integer`), empty optional texts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_valid_requests_are_accepted() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (status, doc) = app.get("/api/v1/openapi.json").await;
    assert_eq!(status, 200);
    let schemas = &doc["components"]["schemas"];
    let field = |schema: &str, name: &str| schemas[schema]["properties"][name].clone();
    let report = doc["paths"]["/api/v1/fe/program/report"]["get"]["parameters"]
        .as_array()
        .expect("parameters")
        .clone();
    let module = report
        .iter()
        .find(|p| p["name"] == "module")
        .expect("module")["schema"]
        .clone();
    assert_eq!(module["maxLength"], 200);
    assert!(module.get("minLength").is_none(), "empty is no filter");
    assert_eq!(
        field("Enrol", "language")["pattern"],
        "^([A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*)?$"
    );
    let zones = field("Enrol", "timezone")["enum"].clone();
    for zone in [
        json!(null),
        json!(""),
        json!("Africa/Nairobi"),
        json!("UTC"),
    ] {
        assert!(
            zones.as_array().expect("enum").contains(&zone),
            "{zone} in {zones}"
        );
    }
    assert_eq!(
        field("QuietHoursData", "start")["pattern"],
        "^([01][0-9]|2[0-3]):[0-5][0-9]$"
    );
    assert_eq!(
        field("RegisterCustomer", "phone")["pattern"],
        "^\\+?[0-9]( ?[0-9]){6,14}$"
    );
    assert_eq!(field("RegisterCustomer", "full_name")["maxLength"], 200);
    let message = field("PostMessage", "message")["pattern"]
        .as_str()
        .expect("pattern")
        .to_owned();
    assert!(message.starts_with("^[^\\u0000]*"), "no NUL: {message}");

    // The server takes what the document allows.
    let (customer, session) = app.enrolled().await;
    let token = |ttl: Value| json!({"customer_uuid": customer, "session_uuid": session, "ttl_seconds": ttl});
    let before = chrono::Utc::now();
    let (status, body) = app
        .post("/api/v1/fe/session/token", &token(json!(3600.0)))
        .await;
    assert_eq!(status, 200, "{body}");
    let expires = chrono::DateTime::parse_from_rfc3339(
        body["data"]["expires_at"].as_str().expect("expires_at"),
    )
    .expect("RFC 3339");
    let ttl = expires.signed_duration_since(before).num_seconds();
    assert!((3590..=3610).contains(&ttl), "{ttl} s");
    let (status, body) = app
        .post("/api/v1/fe/session/token", &token(json!(3600.5)))
        .await;
    assert_error(status, &body, 400, "malformed_json");
    let module = app.module_uuid("Test Module Updated").await;
    let other = app.register_customer().await;
    let (status, body) = app
        .post(
            "/api/v1/fe/program/customer/add",
            &json!({"program_identifier": 49.0, "customer_uuid": other, "module": module,
                    "language": "", "timezone": ""}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app
        .get(&format!(
            "/api/v1/fe/program/report?programIdentifier=49&module={}&version=",
            "m".repeat(200)
        ))
        .await;
    assert_eq!(status, 200, "{body}");
}

/// SIGTERM stops `chatcourse serve` within `--shutdown-timeout` even with
/// unfinished request heads open (they used to hold it forever).
#[test]
fn sigterm_finishes_despite_unfinished_heads() {
    use std::io::{BufRead, BufReader, Write};
    let dir = std::env::temp_dir().join(format!("chatcourse-e2e-sigterm-{}", unique()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let database = format!("sqlite://{}", dir.join("chatcourse.db").display());
    let mut child = super::binary::serve_command(&database, &super::harness::modules_dir())
        .args(["--header-timeout", "600", "--shutdown-timeout", "2"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("serve");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Some(addr) = super::binary::listening_addr(&line) {
                let _ = tx.send(addr);
            }
        }
    });
    let addr = rx.recv_timeout(Duration::from_secs(30)).expect("listening");
    let mut held = Vec::new();
    for _ in 0..5 {
        let mut socket = std::net::TcpStream::connect(&addr).expect("connect");
        socket.write_all(HALF_HEAD).expect("half a head");
        held.push(socket);
    }
    std::thread::sleep(Duration::from_millis(300));
    let status = std::process::Command::new("sh")
        .args(["-c", &format!("kill -TERM {}", child.id())])
        .status()
        .expect("kill");
    assert!(status.success());
    let started = Instant::now();
    let exit = loop {
        if let Some(exit) = child.try_wait().expect("wait") {
            break exit;
        }
        if started.elapsed() > Duration::from_secs(15) {
            let _ = child.kill();
            panic!("serve did not stop within 15 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit:?}");
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
    drop(held);
    let _ = std::fs::remove_dir_all(&dir);
}
