//! Subscribe to WebSocket: the live chat of one session.
//!
//! `GET /api/v1/ws?customerUuid=&sessionUuid=[&afterId=]` with the API key
//! header, or `GET /api/v1/ws?token=[&afterId=]` with a learner token
//! (`POST /api/v1/fe/session/token`) and no key: the token names the session;
//! `customerUuid`/`sessionUuid`, if given, must be its own (else 404).
//! Problems before the upgrade are ordinary error envelopes. Then:
//! - the server sends every message of the session as a JSON text frame,
//!   shaped exactly like an item of `/api/v1/message/all`: first the history
//!   (after `afterId` when given), then every new message as it is committed,
//!   whoever committed it (this connection, `POST /api/v1/message`, a
//!   wake-up, another server process on PostgreSQL);
//! - the client sends `{"message": "...", "external_id": "..."?}` text
//!   frames; each runs one learner turn. Its RECEIVED message and the
//!   replies come back as message frames;
//! - a bad frame gets an error-envelope frame (`{"status", "message",
//!   "errors", "code"}`) and the connection stays open;
//! - once the session has ended (completed, expired, opted out) the server
//!   sends one `{"session_status": "Completed"}` frame after its messages
//!   (at connection, or when the turn that ended it is delivered);
//! - at server shutdown the server finishes the turn in progress, then
//!   closes with code 1001 (going away).

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message as Frame, WebSocket, WebSocketUpgrade, close_code};
use axum::http::HeaderMap;
use axum::response::Response;
use chatcourse_storage::{MessageEvent, MessageId, OrgId, Session};
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{MAX_BODY_BYTES, QueryParams, check, parse_json};
use crate::routes::messages::{find_session, read_deliveries, read_messages};
use crate::routes::session_tokens;
use crate::state::{AppState, authenticate};
use crate::turns::{self, TurnKind};
use crate::wire::MessageItem;

/// A learner's frame.
#[derive(Debug, Deserialize)]
struct Inbound {
    message: String,
    #[serde(default)]
    external_id: Option<String>,
}

/// Open the live chat of a session (WebSocket upgrade).
#[utoipa::path(
    get,
    path = "/api/v1/ws",
    tag = "messages",
    params(
        ("customerUuid" = Option<String>, Query, description = "The customer's uuid (required with an API key; with a token, optional and must match)"),
        ("sessionUuid" = Option<String>, Query, description = "The session's uuid (required with an API key; with a token, optional and must match)"),
        ("token" = Option<String>, Query, description = "A learner token from POST /api/v1/fe/session/token, instead of the API key"),
        ("afterId" = Option<i64>, Query, description = "Send only history after this message id"),
    ),
    responses(
        (status = 101, description = "Switching to the WebSocket protocol (see docs/api.md)"),
        (status = 400, description = "Missing or invalid parameter, or not a WebSocket request", body = ErrorBody),
        (status = 401, description = "Missing or wrong API key (no token), or unknown or expired token", body = ErrorBody),
        (status = 404, description = "No such session of this customer in this organisation", body = ErrorBody),
    ),
    security(("api_key" = []), ())
)]
pub async fn connect(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: QueryParams,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    // Authenticate before anything else: a learner token, else the API key.
    let auth = match query.get("token") {
        Some(token) => Auth::Token(session_tokens::session_of(&state, token.trim()).await?),
        None => Auth::ApiKey(
            authenticate(&headers, &axum::http::Method::GET, "/api/v1/ws", &state).await?,
        ),
    };
    let mut errors = Vec::new();
    let (customer_uuid, session_uuid) = match auth {
        Auth::Token(_) => (
            query.opt_uuid("customerUuid", &mut errors),
            query.opt_uuid("sessionUuid", &mut errors),
        ),
        Auth::ApiKey(_) => (
            query.uuid("customerUuid", &mut errors),
            query.uuid("sessionUuid", &mut errors),
        ),
    };
    let after = query.opt_u64("afterId", 0..=i64::MAX as u64, &mut errors);
    check(errors)?;
    let session = match auth {
        // Uuids given with a token must be its session's own: another
        // session is `404`, as if it did not exist.
        Auth::Token(session) => Some(session).filter(|s| {
            customer_uuid.is_none_or(|c| c == s.customer_uuid)
                && session_uuid.is_none_or(|u| u == s.uuid)
        }),
        Auth::ApiKey(org) => match (customer_uuid, session_uuid) {
            (Some(c), Some(s)) => find_session(&state, org, c, s).await?,
            _ => None,
        },
    }
    .ok_or(ApiError::SessionNotFound)?;
    let upgrade =
        upgrade.map_err(|e| ApiError::Validation(vec![format!("Upgrade: {}", e.body_text())]))?;
    if state.shutdown.is_cancelled() {
        return Err(ApiError::ShuttingDown);
    }
    let after = after.map(|a| MessageId(a as i64));
    let tracker = state.tasks.clone();
    Ok(upgrade
        .max_message_size(MAX_BODY_BYTES)
        .on_upgrade(move |socket| {
            tracker.track_future(async move {
                state.metrics.websocket_opened();
                let session_uuid = session.uuid;
                if let Err(e) = Connection::new(state.clone(), session, after)
                    .run(socket)
                    .await
                {
                    tracing::warn!(%session_uuid, error = %e, "websocket closed with an error");
                }
                state.metrics.websocket_closed();
            })
        }))
}

/// Who opens the socket.
enum Auth {
    /// A learner token: the session it opens.
    Token(Session),
    /// The organisation of the API key.
    ApiKey(OrgId),
}

struct Connection {
    state: AppState,
    session: Session,
    /// The last message id sent to the client.
    last: Option<MessageId>,
    /// The `session_status` frame has been sent.
    ended_sent: bool,
}

/// Why a connection ended early (logged).
#[derive(Debug, thiserror::Error)]
enum ConnError {
    #[error("socket: {0}")]
    Socket(#[from] axum::Error),
    #[error("{0}")]
    Api(#[from] ApiError),
}

impl Connection {
    fn new(state: AppState, session: Session, after: Option<MessageId>) -> Connection {
        Connection {
            state,
            session,
            last: after,
            ended_sent: false,
        }
    }

    async fn run(mut self, mut socket: WebSocket) -> Result<(), ConnError> {
        // Subscribe before the first read, so nothing committed in between
        // is missed (a message read twice is skipped by `last`).
        let mut events = self.state.events.subscribe();
        self.deliver(&mut socket).await?;
        let shutdown = self.state.shutdown.clone();
        loop {
            tokio::select! {
                // Shutdown first: no new turn starts once it has begun.
                biased;
                () = shutdown.cancelled() => {
                    let _ = socket
                        .send(Frame::Close(Some(CloseFrame {
                            code: close_code::AWAY,
                            reason: "server shutting down".into(),
                        })))
                        .await;
                    return Ok(());
                }
                event = events.recv() => match event {
                    Ok(MessageEvent::Committed { session, .. }) if session == self.session.id => {
                        self.deliver(&mut socket).await?;
                    }
                    Ok(MessageEvent::Lagged) | Err(RecvError::Lagged(_)) => {
                        self.deliver(&mut socket).await?;
                    }
                    Ok(_) => {}
                    Err(RecvError::Closed) => return Ok(()),
                },
                frame = socket.recv() => match frame {
                    None | Some(Ok(Frame::Close(_))) => return Ok(()),
                    Some(Err(e)) => return Err(e.into()),
                    Some(Ok(Frame::Text(text))) => {
                        self.on_text(&mut socket, text.as_bytes()).await?;
                    }
                    Some(Ok(Frame::Binary(bytes))) => {
                        self.on_text(&mut socket, &bytes).await?;
                    }
                    Some(Ok(Frame::Ping(_) | Frame::Pong(_))) => {}
                },
            }
        }
    }

    /// One learner frame: a turn, then delivery of what it committed.
    async fn on_text(&mut self, socket: &mut WebSocket, bytes: &[u8]) -> Result<(), ConnError> {
        let result = async {
            let inbound: Inbound = parse_json(bytes)?;
            let mut errors = Vec::new();
            let external_id = turns::validate_external_id(inbound.external_id, &mut errors);
            check(errors)?;
            turns::validate_text(&inbound.message)?;
            turns::learner_turn(
                &self.state,
                &self.session,
                inbound.message,
                external_id,
                TurnKind::WebSocket,
            )
            .await
        }
        .await;
        match result {
            Ok(_) => self.deliver(socket).await,
            Err(e) => {
                if let ApiError::Internal(cause) = &e {
                    tracing::error!(%cause, "websocket turn failed");
                }
                send_json(socket, &e.body()).await
            }
        }
    }

    /// Sends every message after the last one sent, then, once, the
    /// session's end when it has ended.
    async fn deliver(&mut self, socket: &mut WebSocket) -> Result<(), ConnError> {
        let first = self.last.is_none() && !self.ended_sent;
        let messages = read_messages(&self.state, &self.session, self.last, None).await?;
        let deliveries = if messages.is_empty() {
            Vec::new()
        } else {
            read_deliveries(&self.state, &self.session, self.last).await?
        };
        let items = MessageItem::list(&messages, &deliveries, self.state.timezone);
        for (m, item) in messages.iter().zip(&items) {
            send_json(socket, item).await?;
            self.last = Some(m.id);
        }
        // Only a delivery of new messages can follow the end of a session.
        if !self.ended_sent && (first || !messages.is_empty()) {
            let current = self
                .state
                .store
                .get_session(self.session.org, self.session.uuid)
                .await
                .map_err(ApiError::internal)?;
            if let Some(current) = current
                && !current.status.is_live()
            {
                self.ended_sent = true;
                let frame = serde_json::json!({ "session_status": current.status.as_str() });
                send_json(socket, &frame).await?;
            }
        }
        Ok(())
    }
}

async fn send_json<T: serde::Serialize>(
    socket: &mut WebSocket,
    value: &T,
) -> Result<(), ConnError> {
    let text = serde_json::to_string(value).map_err(ApiError::internal)?;
    socket.send(Frame::Text(text.into())).await?;
    Ok(())
}
