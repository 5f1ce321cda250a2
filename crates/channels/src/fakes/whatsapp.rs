//! A fake WhatsApp Cloud API: the messages endpoint chatcourse sends to
//! (bearer token, JSON text and template messages, Meta's error JSON on
//! command), and Meta's side of the webhooks: the verification handshake,
//! and learners' messages and statuses POSTed as signed JSON.

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
use serde_json::{Value, json};

use crate::whatsapp::{self, SIGNATURE_HEADER};

/// How the fake answers one send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaReply {
    Ok,
    /// Meta's error JSON with this HTTP status and code.
    Error {
        status: u16,
        code: u64,
    },
}

/// A message chatcourse sent.
#[derive(Debug, Clone)]
pub struct WaMessage {
    /// The `wamid` answered (empty if refused).
    pub id: String,
    pub to: String,
    /// `text`, `template` or `interactive`.
    pub kind: String,
    /// Interactive messages: the reply buttons' or list rows' ids and
    /// titles.
    pub choices: Vec<(String, String)>,
    /// The text, or the template's body parameter.
    pub text: Option<String>,
    pub template: Option<String>,
    pub language: Option<String>,
    pub answered: u16,
}

struct Shared {
    phone_number_id: String,
    access_token: String,
    app_secret: String,
    log: super::Log<WaReply, WaMessage>,
    next: AtomicU64,
    client: reqwest::Client,
}

/// The fake, listening until dropped.
pub struct FakeWhatsApp {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: super::Stopper,
}

fn error(status: u16, code: u64, message: &str) -> Response {
    let body = json!({"error": {"message": message, "type": "OAuthException",
                                "code": code, "fbtrace_id": "fake"}});
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn messages(
    State(shared): State<Arc<Shared>>,
    Path((_version, phone_number_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let bearer = format!("Bearer {}", shared.access_token);
    let authorised = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == bearer);
    if !authorised || phone_number_id != shared.phone_number_id {
        return error(401, 190, "Invalid OAuth access token");
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return error(400, 100, "Invalid parameter");
    };
    let s = |v: &Value| v.as_str().map(str::to_owned);
    let mut message = WaMessage {
        id: String::new(),
        to: s(&request["to"]).unwrap_or_default(),
        kind: s(&request["type"]).unwrap_or_default(),
        text: s(&request["text"]["body"])
            .or_else(|| s(&request["interactive"]["body"]["text"]))
            .or_else(|| s(&request["template"]["components"][0]["parameters"][0]["text"])),
        choices: request["interactive"]["action"]["buttons"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|b| &b["reply"])
            .chain(
                request["interactive"]["action"]["sections"][0]["rows"]
                    .as_array()
                    .into_iter()
                    .flatten(),
            )
            .filter_map(|c| Some((s(&c["id"])?, s(&c["title"])?)))
            .collect(),
        template: s(&request["template"]["name"]),
        language: s(&request["template"]["language"]["code"]),
        answered: 0,
    };
    let well_formed = request["messaging_product"] == "whatsapp"
        && !message.to.is_empty()
        && match message.kind.as_str() {
            "text" => message.text.is_some(),
            "template" => message.template.is_some() && message.language.is_some(),
            "interactive" => message.text.is_some() && !message.choices.is_empty(),
            _ => false,
        };
    let reply = if well_formed {
        shared.log.next_reply().unwrap_or(WaReply::Ok)
    } else {
        WaReply::Error {
            status: 400,
            code: 100,
        }
    };
    let response = match reply {
        WaReply::Ok => {
            let n = shared.next.fetch_add(1, Ordering::Relaxed);
            message.id = format!("wamid.FAKE{n:020}");
            let body = json!({"messaging_product": "whatsapp",
                              "contacts": [{"input": message.to, "wa_id": message.to}],
                              "messages": [{"id": message.id}]});
            (
                StatusCode::OK,
                [("content-type", "application/json")],
                body.to_string(),
            )
                .into_response()
        }
        WaReply::Error { status, code } => error(status, code, "Error from the fake"),
    };
    message.answered = response.status().as_u16();
    shared.log.record(message);
    response
}

impl FakeWhatsApp {
    /// Listens on a random port of 127.0.0.1 for this phone number id,
    /// access token and app secret.
    pub async fn start(
        phone_number_id: &str,
        access_token: &str,
        app_secret: &str,
    ) -> std::io::Result<FakeWhatsApp> {
        FakeWhatsApp::start_on(
            phone_number_id,
            access_token,
            app_secret,
            SocketAddr::from(([127, 0, 0, 1], 0)),
        )
        .await
    }

    pub async fn start_on(
        phone_number_id: &str,
        access_token: &str,
        app_secret: &str,
        addr: SocketAddr,
    ) -> std::io::Result<FakeWhatsApp> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            phone_number_id: phone_number_id.to_owned(),
            access_token: access_token.to_owned(),
            app_secret: app_secret.to_owned(),
            log: super::Log::new(),
            next: AtomicU64::new(1),
            client: reqwest::Client::new(),
        });
        let app = Router::new()
            .route("/{version}/{phone_number_id}/messages", post(messages))
            .with_state(Arc::clone(&shared));
        let stop = super::serve(listener, app);
        Ok(FakeWhatsApp { addr, shared, stop })
    }

    /// The base URL to configure as the channel's `base_url`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The next sends are answered with these, in order; then `Ok`.
    pub fn script(&self, replies: impl IntoIterator<Item = WaReply>) {
        self.shared.log.script(replies);
    }

    /// Every send so far.
    pub fn messages(&self) -> Vec<WaMessage> {
        self.shared.log.all()
    }

    /// The sends answered with a message id.
    pub fn accepted(&self) -> Vec<WaMessage> {
        self.messages()
            .into_iter()
            .filter(Self::is_accepted)
            .collect()
    }

    fn is_accepted(m: &WaMessage) -> bool {
        !m.id.is_empty()
    }

    /// Waits until `n` sends were accepted (or `timeout` passed).
    pub async fn wait_for_accepted(&self, n: usize, timeout: Duration) -> Vec<WaMessage> {
        self.shared
            .log
            .wait_for(n, timeout, Self::is_accepted)
            .await
    }

    /// Meta's verification handshake: `GET url?hub.mode=subscribe&...`.
    /// Returns the status and the body.
    pub async fn verify(
        &self,
        url: &str,
        verify_token: &str,
        challenge: &str,
    ) -> reqwest::Result<(u16, String)> {
        let query = crate::form::encode_form([
            ("hub.mode", "subscribe"),
            ("hub.verify_token", verify_token),
            ("hub.challenge", challenge),
        ]);
        let response = self
            .shared
            .client
            .get(format!("{url}?{query}"))
            .send()
            .await?;
        let status = response.status().as_u16();
        Ok((status, response.text().await?))
    }

    /// POSTs a notification to `url`, signed with the app secret (or with
    /// this signature header, a forgery when it is not the right one).
    pub async fn notify(
        &self,
        url: &str,
        notification: &Value,
        signature: Option<String>,
    ) -> reqwest::Result<reqwest::Response> {
        let body = notification.to_string();
        let signature = signature
            .unwrap_or_else(|| whatsapp::signature(&self.shared.app_secret, body.as_bytes()));
        self.shared
            .client
            .post(url)
            .header("content-type", "application/json")
            .header(SIGNATURE_HEADER, signature)
            .body(body)
            .send()
            .await
    }

    /// A learner's text message (`from`: E.164 with or without `+`).
    pub async fn inbound(
        &self,
        url: &str,
        from: &str,
        text: &str,
    ) -> reqwest::Result<reqwest::Response> {
        let n = self.shared.next.fetch_add(1, Ordering::Relaxed);
        let notification = whatsapp::text_notification(
            &self.shared.phone_number_id,
            from.trim_start_matches('+'),
            &format!("wamid.IN{n:020}"),
            text,
        );
        self.notify(url, &notification, None).await
    }

    /// A learner's tap on a reply button (or list row) `button_id`.
    pub async fn tap(
        &self,
        url: &str,
        from: &str,
        button_id: &str,
        title: &str,
    ) -> reqwest::Result<reqwest::Response> {
        let n = self.shared.next.fetch_add(1, Ordering::Relaxed);
        let notification = whatsapp::button_reply_notification(
            &self.shared.phone_number_id,
            from.trim_start_matches('+'),
            &format!("wamid.IN{n:020}"),
            button_id,
            title,
        );
        self.notify(url, &notification, None).await
    }

    /// A status of a message sent, with an error code for `failed`.
    pub async fn report(
        &self,
        url: &str,
        id: &str,
        status: &str,
        recipient: &str,
        error: Option<(u64, &str)>,
    ) -> reqwest::Result<reqwest::Response> {
        let notification = whatsapp::status_notification(
            &self.shared.phone_number_id,
            id,
            status,
            recipient.trim_start_matches('+'),
            error,
        );
        self.notify(url, &notification, None).await
    }

    pub fn stop(&mut self) {
        self.stop.stop();
    }
}
