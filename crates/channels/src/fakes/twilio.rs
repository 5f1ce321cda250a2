//! A fake Twilio: the Messages resource chatcourse sends to (basic auth,
//! form fields, JSON answers and error codes as Twilio's), and Twilio's
//! side of the callbacks: inbound messages and status callbacks POSTed to
//! chatcourse as signed forms.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::twilio::{self, Params, SIGNATURE_HEADER};

/// How the fake answers one send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TwilioReply {
    /// `201 Created` with the message resource.
    Ok,
    /// An error answer: HTTP status and Twilio error code.
    Error { status: u16, code: u32 },
}

/// A message chatcourse sent.
#[derive(Debug, Clone)]
pub struct TwilioMessage {
    /// The `sid` answered (empty if the send was refused).
    pub sid: String,
    pub to: String,
    pub from: String,
    pub body: String,
    pub status_callback: Option<String>,
    /// The status answered.
    pub answered: u16,
}

struct Shared {
    account_sid: String,
    auth_token: String,
    log: super::Log<TwilioReply, TwilioMessage>,
    next: AtomicU64,
    auto_report: Option<Duration>,
    client: reqwest::Client,
}

/// The fake, listening until dropped.
pub struct FakeTwilio {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: super::Stopper,
}

fn error(status: u16, code: u32, message: &str) -> Response {
    let body = serde_json::json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status,
    });
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn authorised(shared: &Shared, headers: &HeaderMap) -> bool {
    let expected = format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", shared.account_sid, shared.auth_token))
    );
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == expected)
}

async fn messages(
    State(shared): State<Arc<Shared>>,
    Path(account): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if account.trim_end_matches(".json") != shared.account_sid || !authorised(&shared, &headers) {
        return error(401, 20003, "Authenticate");
    }
    let form_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let params = twilio::parse_form(&body);
    let get = |name| twilio::param(&params, name).unwrap_or_default().to_owned();
    let mut message = TwilioMessage {
        sid: String::new(),
        to: get("To"),
        from: get("From"),
        body: get("Body"),
        status_callback: twilio::param(&params, "StatusCallback").map(str::to_owned),
        answered: 0,
    };
    let reply = if !form_type || message.to.is_empty() || message.from.is_empty() {
        TwilioReply::Error {
            status: 400,
            code: 21604,
        }
    } else if message.body.is_empty() {
        TwilioReply::Error {
            status: 400,
            code: 21602,
        }
    } else {
        shared.log.next_reply().unwrap_or(TwilioReply::Ok)
    };
    let response = match reply {
        TwilioReply::Ok => {
            let n = shared.next.fetch_add(1, Ordering::Relaxed);
            message.sid = format!("SM{n:032x}");
            let segments = crate::sms::cost(&message.body).segments;
            let resource = serde_json::json!({
                "sid": message.sid,
                "account_sid": shared.account_sid,
                "to": message.to,
                "from": message.from,
                "body": message.body,
                "status": "queued",
                "num_segments": segments.to_string(),
                "direction": "outbound-api",
                "error_code": null,
                "error_message": null,
            });
            if let (Some(wait), Some(url)) = (shared.auto_report, message.status_callback.clone()) {
                let shared = Arc::clone(&shared);
                let sid = message.sid.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(wait).await;
                    for status in ["sent", "delivered"] {
                        let _ = post_status(&shared, &url, &sid, status, None).await;
                    }
                });
            }
            (
                StatusCode::CREATED,
                [("content-type", "application/json")],
                resource.to_string(),
            )
                .into_response()
        }
        TwilioReply::Error { status, code } => error(status, code, &twilio::error_reason(code)),
    };
    message.answered = response.status().as_u16();
    shared.log.record(message);
    response
}

async fn post_signed(
    shared: &Shared,
    url: &str,
    params: &Params,
    signature: Option<String>,
) -> reqwest::Result<reqwest::Response> {
    let signature = signature.unwrap_or_else(|| twilio::signature(&shared.auth_token, url, params));
    let body = twilio::encode_form(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    shared
        .client
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header(SIGNATURE_HEADER, signature)
        .body(body)
        .send()
        .await
}

async fn post_status(
    shared: &Shared,
    url: &str,
    sid: &str,
    status: &str,
    error_code: Option<u32>,
) -> reqwest::Result<reqwest::Response> {
    let mut params: Params = vec![
        ("MessageSid".into(), sid.into()),
        ("SmsSid".into(), sid.into()),
        ("AccountSid".into(), shared.account_sid.clone()),
        ("MessageStatus".into(), status.into()),
        ("SmsStatus".into(), status.into()),
    ];
    if let Some(code) = error_code {
        params.push(("ErrorCode".into(), code.to_string()));
    }
    post_signed(shared, url, &params, None).await
}

impl FakeTwilio {
    /// Listens on a random port of 127.0.0.1 for this account.
    pub async fn start(account_sid: &str, auth_token: &str) -> std::io::Result<FakeTwilio> {
        FakeTwilio::start_on(
            account_sid,
            auth_token,
            SocketAddr::from(([127, 0, 0, 1], 0)),
            None,
        )
        .await
    }

    /// Listens on `addr`; with `auto_report`, every accepted message gets
    /// the status callbacks `sent` and `delivered` that long after.
    pub async fn start_on(
        account_sid: &str,
        auth_token: &str,
        addr: SocketAddr,
        auto_report: Option<Duration>,
    ) -> std::io::Result<FakeTwilio> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            account_sid: account_sid.to_owned(),
            auth_token: auth_token.to_owned(),
            log: super::Log::new(),
            next: AtomicU64::new(1),
            auto_report,
            client: reqwest::Client::new(),
        });
        let app = Router::new()
            .route(
                "/2010-04-01/Accounts/{account}/Messages.json",
                post(messages),
            )
            .with_state(Arc::clone(&shared));
        let stop = super::serve(listener, app);
        Ok(FakeTwilio { addr, shared, stop })
    }

    /// The base URL to configure as the channel's `base_url`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The next sends are answered with these, in order; then `201`.
    pub fn script(&self, replies: impl IntoIterator<Item = TwilioReply>) {
        self.shared.log.script(replies);
    }

    /// Every send so far, in arrival order (refused ones too).
    pub fn messages(&self) -> Vec<TwilioMessage> {
        self.shared.log.all()
    }

    /// The sends answered `201`.
    pub fn accepted(&self) -> Vec<TwilioMessage> {
        self.messages()
            .into_iter()
            .filter(Self::is_accepted)
            .collect()
    }

    fn is_accepted(m: &TwilioMessage) -> bool {
        m.answered == 201
    }

    /// Waits until `n` sends were accepted (or `timeout` passed).
    pub async fn wait_for_accepted(&self, n: usize, timeout: Duration) -> Vec<TwilioMessage> {
        self.shared
            .log
            .wait_for(n, timeout, Self::is_accepted)
            .await
    }

    /// Twilio delivering a learner's message to chatcourse: a signed form
    /// POST to `url` (the channel's inbound URL). Returns the answer.
    pub async fn inbound(
        &self,
        url: &str,
        from: &str,
        to: &str,
        body: &str,
    ) -> reqwest::Result<reqwest::Response> {
        let n = self.shared.next.fetch_add(1, Ordering::Relaxed);
        let params = self.inbound_params(&format!("SM{n:032x}"), from, to, body);
        post_signed(&self.shared, url, &params, None).await
    }

    /// The form Twilio posts for an inbound message.
    pub fn inbound_params(&self, sid: &str, from: &str, to: &str, body: &str) -> Params {
        vec![
            ("MessageSid".into(), sid.into()),
            ("SmsMessageSid".into(), sid.into()),
            ("AccountSid".into(), self.shared.account_sid.clone()),
            ("From".into(), from.into()),
            ("To".into(), to.into()),
            ("Body".into(), body.into()),
            ("NumMedia".into(), "0".into()),
            ("NumSegments".into(), "1".into()),
        ]
    }

    /// POSTs `params` to `url` with this signature header (a forgery when
    /// it is not the right one), or the right one if `None`.
    pub async fn post_form(
        &self,
        url: &str,
        params: &Params,
        signature: Option<String>,
    ) -> reqwest::Result<reqwest::Response> {
        post_signed(&self.shared, url, params, signature).await
    }

    /// Twilio's status callback for a message: `MessageStatus` and
    /// `ErrorCode`, signed, to `url`.
    pub async fn report(
        &self,
        url: &str,
        sid: &str,
        status: &str,
        error_code: Option<u32>,
    ) -> reqwest::Result<reqwest::Response> {
        post_status(&self.shared, url, sid, status, error_code).await
    }

    /// Stops listening.
    pub fn stop(&mut self) {
        self.stop.stop();
    }
}
