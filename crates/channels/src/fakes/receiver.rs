//! A `webhook` channel's receiver: checks each request's Standard Webhooks
//! signature, records it, and answers as scripted (200 by default; a
//! status, `429` with `Retry-After`, a delay, or a dropped connection
//! when told).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use crate::signing::{HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP, SignedHeaders, WebhookSecret};

/// How the receiver answers one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `200 OK`.
    Ok,
    /// This status, empty body.
    Status(u16),
    /// `429 Too Many Requests` with `Retry-After: <seconds>`.
    RetryAfter(u64),
    /// Wait this long, then `200` (a slow receiver; the sender may time
    /// out first).
    Slow(Duration),
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// `webhook-id`: the sender's idempotency key.
    pub id: String,
    pub timestamp: String,
    /// Whether the signature matched the body under the receiver's secret.
    pub signature_valid: bool,
    /// The body, parsed (`Null` if it is not JSON).
    pub body: serde_json::Value,
    /// The status answered.
    pub answered: u16,
}

struct Shared {
    secret: WebhookSecret,
    check_timestamps: bool,
    log: super::Log<Reply, Delivery>,
    /// Requests that reached the handler, answered or not yet.
    started: std::sync::atomic::AtomicUsize,
}

/// The receiver, listening until dropped or stopped.
pub struct FakeReceiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: super::Stopper,
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

async fn receive(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    shared
        .started
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let signed = SignedHeaders {
        id: header(HEADER_ID),
        timestamp: header(HEADER_TIMESTAMP),
        signature: header(HEADER_SIGNATURE),
    };
    // Without the timestamp check (tests whose server clock is simulated),
    // the request's own timestamp stands for "now".
    let at = if shared.check_timestamps {
        now()
    } else {
        signed
            .timestamp
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or_else(now)
    };
    let signature_valid = shared.secret.verify(&signed, &body, at).is_ok();
    let reply = if signature_valid {
        shared.log.next_reply().unwrap_or(Reply::Ok)
    } else {
        Reply::Status(401)
    };
    if let Reply::Slow(wait) = &reply {
        tokio::time::sleep(*wait).await;
    }
    let response = match reply {
        Reply::Ok | Reply::Slow(_) => StatusCode::OK.into_response(),
        Reply::Status(code) => StatusCode::from_u16(code)
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            .into_response(),
        Reply::RetryAfter(seconds) => (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", seconds.to_string())],
        )
            .into_response(),
    };
    let delivery = Delivery {
        id: signed.id.unwrap_or_default().to_owned(),
        timestamp: signed.timestamp.unwrap_or_default().to_owned(),
        signature_valid,
        body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
        answered: response.status().as_u16(),
    };
    shared.log.record(delivery);
    response
}

impl FakeReceiver {
    /// Listens on a random port of 127.0.0.1, checking signatures with
    /// `secret`.
    pub async fn start(secret: WebhookSecret) -> std::io::Result<FakeReceiver> {
        FakeReceiver::start_on(secret, SocketAddr::from(([127, 0, 0, 1], 0)), true).await
    }

    /// Listens on `addr` (to come back on the same port after a stop).
    /// `check_timestamps: false` accepts any `webhook-timestamp` (for a
    /// sender whose clock a test simulates).
    pub async fn start_on(
        secret: WebhookSecret,
        addr: SocketAddr,
        check_timestamps: bool,
    ) -> std::io::Result<FakeReceiver> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            secret,
            check_timestamps,
            log: super::Log::new(),
            started: std::sync::atomic::AtomicUsize::new(0),
        });
        let app = Router::new()
            .route("/{*path}", post(receive))
            .route("/", post(receive))
            .with_state(Arc::clone(&shared));
        let stop = super::serve(listener, app);
        Ok(FakeReceiver { addr, shared, stop })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL to configure as the channel's endpoint.
    pub fn url(&self) -> String {
        format!("http://{}/hooks/chatcourse", self.addr)
    }

    /// The next requests are answered with these, in order; then `200`.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.shared.log.script(replies);
    }

    /// Every request so far, in arrival order.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.shared.log.all()
    }

    /// How many requests have reached the receiver, including those it is
    /// still answering (a [`Reply::Slow`]) and those whose sender went
    /// away before the answer (which [`FakeReceiver::deliveries`] omits).
    pub fn started(&self) -> usize {
        self.shared
            .started
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The requests answered with a 2xx, in arrival order.
    pub fn accepted(&self) -> Vec<Delivery> {
        self.deliveries()
            .into_iter()
            .filter(Self::is_accepted)
            .collect()
    }

    fn is_accepted(d: &Delivery) -> bool {
        (200..300).contains(&d.answered)
    }

    /// Waits until `n` requests have been accepted (or `timeout` passed)
    /// and returns the accepted ones.
    pub async fn wait_for_accepted(&self, n: usize, timeout: Duration) -> Vec<Delivery> {
        self.shared
            .log
            .wait_for(n, timeout, Self::is_accepted)
            .await
    }

    /// Stops listening (later requests find the port closed).
    pub fn stop(&mut self) {
        self.stop.stop();
    }
}
