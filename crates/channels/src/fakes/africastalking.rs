//! A fake Africa's Talking: the messaging API chatcourse sends to (the
//! `apiKey` header, form fields and JSON answers as theirs, recipient
//! status codes on command), and their side of the callbacks: a learner's
//! SMS and delivery reports POSTed to chatcourse as (unsigned) forms.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use crate::africastalking::{API_KEY_HEADER, MESSAGING_PATH};
use crate::form::{Params, encode_form, param, parse_form};

/// How the fake answers one send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AtReply {
    /// `201` with the recipient `Success` (statusCode 101).
    Ok,
    /// `201` with this recipient status code (e.g. 406 UserInBlacklist,
    /// 403 InvalidPhoneNumber, 500 InternalServerError).
    Recipient(u32),
    /// This HTTP status, plain text body.
    Http(u16),
}

/// A message chatcourse sent.
#[derive(Debug, Clone)]
pub struct AtMessage {
    /// The `messageId` answered (empty if none).
    pub id: String,
    pub username: String,
    pub to: String,
    pub from: Option<String>,
    pub message: String,
    /// The HTTP status answered and the recipient status code (0: none).
    pub answered: u16,
    pub status_code: u32,
}

struct Shared {
    username: String,
    api_key: String,
    log: super::Log<AtReply, AtMessage>,
    next: AtomicU64,
    auto_report: Mutex<Option<(Duration, String)>>,
    client: reqwest::Client,
}

/// The fake, listening until dropped.
pub struct FakeAfricasTalking {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: super::Stopper,
}

fn status_name(code: u32) -> &'static str {
    match code {
        100 => "Processed",
        101 => "Success",
        102 => "Queued",
        401 => "RiskHold",
        402 => "InvalidSenderId",
        403 => "InvalidPhoneNumber",
        404 => "UnsupportedNumberType",
        405 => "InsufficientBalance",
        406 => "UserInBlacklist",
        407 => "CouldNotRoute",
        409 => "DoNotDisturbRejection",
        500 => "InternalServerError",
        501 => "GatewayError",
        502 => "RejectedByGateway",
        _ => "Unknown",
    }
}

async fn messaging(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let key_ok = headers
        .get(API_KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|k| k == shared.api_key);
    let params = parse_form(&body);
    let get = |name| param(&params, name).unwrap_or_default().to_owned();
    let mut message = AtMessage {
        id: String::new(),
        username: get("username"),
        to: get("to"),
        from: param(&params, "from").map(str::to_owned),
        message: get("message"),
        answered: 0,
        status_code: 0,
    };
    let reply = if !key_ok || message.username != shared.username {
        AtReply::Http(401)
    } else if message.to.is_empty() || message.message.is_empty() {
        AtReply::Http(400)
    } else {
        shared.log.next_reply().unwrap_or(AtReply::Ok)
    };
    let response = match reply {
        AtReply::Http(status) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
            (status, status.canonical_reason().unwrap_or("error")).into_response()
        }
        AtReply::Ok | AtReply::Recipient(_) => {
            let code = match reply {
                AtReply::Recipient(code) => code,
                _ => 101,
            };
            message.status_code = code;
            if (100..=102).contains(&code) {
                let n = shared.next.fetch_add(1, Ordering::Relaxed);
                message.id = format!("ATXid_{n:016x}");
            }
            let id = if message.id.is_empty() {
                "None".to_owned()
            } else {
                message.id.clone()
            };
            let body = serde_json::json!({"SMSMessageData": {
                "Message": format!("Sent to {}/1 Total Cost: KES 0.8000", u8::from(!message.id.is_empty())),
                "Recipients": [{
                    "statusCode": code,
                    "number": message.to,
                    "status": status_name(code),
                    "cost": "KES 0.8000",
                    "messageId": id,
                }],
            }});
            let auto = shared.auto_report.lock().ok().and_then(|a| a.clone());
            if let (Some((wait, url)), false) = (auto, message.id.is_empty()) {
                let shared = Arc::clone(&shared);
                let id = message.id.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(wait).await;
                    let _ = post_report(&shared, &url, &id, "Success", None).await;
                });
            }
            (
                StatusCode::CREATED,
                [("content-type", "application/json")],
                body.to_string(),
            )
                .into_response()
        }
    };
    message.answered = response.status().as_u16();
    shared.log.record(message);
    response
}

async fn post_form(
    shared: &Shared,
    url: &str,
    params: &Params,
) -> reqwest::Result<reqwest::Response> {
    let body = encode_form(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    shared
        .client
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
}

async fn post_report(
    shared: &Shared,
    url: &str,
    id: &str,
    status: &str,
    failure_reason: Option<&str>,
) -> reqwest::Result<reqwest::Response> {
    let mut params: Params = vec![
        ("id".into(), id.into()),
        ("status".into(), status.into()),
        ("phoneNumber".into(), String::new()),
        ("networkCode".into(), "63902".into()),
        ("retryCount".into(), "0".into()),
    ];
    if let Some(reason) = failure_reason {
        params.push(("failureReason".into(), reason.into()));
    }
    post_form(shared, url, &params).await
}

impl FakeAfricasTalking {
    /// Listens on a random port of 127.0.0.1 for this app's username and
    /// API key.
    pub async fn start(username: &str, api_key: &str) -> std::io::Result<FakeAfricasTalking> {
        FakeAfricasTalking::start_on(username, api_key, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    pub async fn start_on(
        username: &str,
        api_key: &str,
        addr: SocketAddr,
    ) -> std::io::Result<FakeAfricasTalking> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            username: username.to_owned(),
            api_key: api_key.to_owned(),
            log: super::Log::new(),
            next: AtomicU64::new(1),
            auto_report: Mutex::default(),
            client: reqwest::Client::new(),
        });
        let app = Router::new()
            .route(MESSAGING_PATH, post(messaging))
            .with_state(Arc::clone(&shared));
        let stop = super::serve(listener, app);
        Ok(FakeAfricasTalking { addr, shared, stop })
    }

    /// The base URL to configure as the channel's `base_url`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every accepted message gets the delivery report `Success`, that
    /// long after, POSTed to `url` (the channel's delivery reports URL).
    pub fn auto_report(&self, wait: Duration, url: &str) {
        if let Ok(mut auto) = self.shared.auto_report.lock() {
            *auto = Some((wait, url.to_owned()));
        }
    }

    /// The next sends are answered with these, in order; then `Ok`.
    pub fn script(&self, replies: impl IntoIterator<Item = AtReply>) {
        self.shared.log.script(replies);
    }

    /// Every send so far, in arrival order.
    pub fn messages(&self) -> Vec<AtMessage> {
        self.shared.log.all()
    }

    /// The sends taken (a message id answered).
    pub fn accepted(&self) -> Vec<AtMessage> {
        self.messages()
            .into_iter()
            .filter(Self::is_accepted)
            .collect()
    }

    fn is_accepted(m: &AtMessage) -> bool {
        !m.id.is_empty()
    }

    /// Waits until `n` sends were taken (or `timeout` passed).
    pub async fn wait_for_accepted(&self, n: usize, timeout: Duration) -> Vec<AtMessage> {
        self.shared
            .log
            .wait_for(n, timeout, Self::is_accepted)
            .await
    }

    /// A learner's SMS, as Africa's Talking POSTs it to the channel's
    /// inbound URL.
    pub async fn inbound(
        &self,
        url: &str,
        from: &str,
        to: &str,
        text: &str,
    ) -> reqwest::Result<reqwest::Response> {
        let n = self.shared.next.fetch_add(1, Ordering::Relaxed);
        let params: Params = vec![
            ("date".into(), "2026-12-05 10:00:00".into()),
            ("from".into(), from.into()),
            ("id".into(), format!("in_{n:016x}")),
            ("linkId".into(), format!("link_{n}")),
            ("text".into(), text.into()),
            ("to".into(), to.into()),
            ("networkCode".into(), "63902".into()),
        ];
        post_form(&self.shared, url, &params).await
    }

    /// A delivery report for a message, POSTed to `url`.
    pub async fn report(
        &self,
        url: &str,
        id: &str,
        status: &str,
        failure_reason: Option<&str>,
    ) -> reqwest::Result<reqwest::Response> {
        post_report(&self.shared, url, id, status, failure_reason).await
    }

    pub fn stop(&mut self) {
        self.stop.stop();
    }
}
