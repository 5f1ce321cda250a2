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
//!   closes with code 1001 (going away);
//! - the server pings every `ping_interval` and checks that the key or
//!   token still opens the session (else 1008); a frame over 64 KiB is
//!   closed with 1009; a client that does not read is closed with 1013.

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message as Frame, WebSocket, WebSocketUpgrade, close_code};
use axum::http::HeaderMap;
use axum::response::Response;
use chatcourse_storage::{MessageId, OrgId, Session, SessionStatus};
use serde::Deserialize;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{MAX_BODY_BYTES, QueryParams, check, parse_json};
use crate::limits::Caller;
use crate::routes::messages::{STREAM_PAGE, find_session, page_deliveries, read_messages};
use crate::routes::session_tokens;
use crate::state::{AppState, authenticate};
use crate::turns::{self, TurnKind};
use crate::wire::MessageItem;

/// Read and write buffer of each WebSocket (docs/performance.md).
const SOCKET_BUFFER_BYTES: usize = 4 * 1024;

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
        (status = 429, description = "Too many authentication failures from this address (see Retry-After)", body = ErrorBody),
    ),
    security(("api_key" = []), ())
)]
pub async fn connect(
    State(state): State<AppState>,
    headers: HeaderMap,
    caller: Caller,
    query: QueryParams,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
    slot: Option<axum::Extension<crate::connections::ConnectionSlot>>,
) -> Result<Response, ApiError> {
    // Authenticate before anything else: a learner token, else the API key.
    let auth = match query.get("token") {
        Some(token) => {
            state.limiters.before_auth(caller.addr)?;
            let session = session_tokens::session_of(&state, token.trim())
                .await
                .map_err(|e| match e {
                    ApiError::InvalidToken => state.limiters.auth_failed(caller.addr, e),
                    other => other,
                })?;
            Auth::Token(Box::new(session))
        }
        None => Auth::ApiKey(
            authenticate(
                &headers,
                &axum::http::Method::GET,
                "/api/v1/ws",
                caller.addr,
                &state,
            )
            .await?,
        ),
    };
    // What is checked again while the socket is open.
    let credential = match (&auth, query.get("token"), &caller.key) {
        (Auth::Token(_), Some(token), _) => Credential::Token(token.trim().to_owned()),
        (_, _, Some(hash)) => Credential::Key(hash.clone()),
        _ => return Err(ApiError::MissingApiKey),
    };
    // A learner token counts as the key of its session for the limits.
    let caller = match &auth {
        Auth::Token(session) => Caller {
            key: Some(format!("session:{}", session.uuid)),
            addr: caller.addr,
        },
        Auth::ApiKey(_) => caller,
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
        Auth::Token(session) => Some(*session).filter(|s| {
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
        // Small buffers: an idle socket costs a few KiB, not the library's
        // 128 KiB read and write buffers (a learner's frames are small;
        // a bigger one is read in several reads).
        .read_buffer_size(SOCKET_BUFFER_BYTES)
        .write_buffer_size(SOCKET_BUFFER_BYTES)
        .max_message_size(MAX_BODY_BYTES)
        .on_upgrade(move |socket| {
            tracker.track_future(async move {
                // The socket holds its connection's place under
                // `max_connections` until it closes.
                let _slot = slot;
                state.metrics.websocket_opened();
                let session_uuid = session.uuid;
                if let Err(e) = Connection::new(state.clone(), session, after, caller, credential)
                    .run(socket)
                    .await
                {
                    tracing::warn!(%session_uuid, error = %e, "websocket closed with an error");
                }
                state.metrics.websocket_closed();
            })
        }))
}

/// What opened the socket, checked again at every ping: revoking the key
/// (or the token, or the key that created the token) closes the socket.
enum Credential {
    /// The hash of the API key.
    Key(String),
    /// The learner token.
    Token(String),
}

/// Who opens the socket.
enum Auth {
    /// A learner token: the session it opens.
    Token(Box<Session>),
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
    /// Who opened the socket (the turns' rate limits).
    caller: Caller,
    credential: Credential,
}

/// Why a connection ended early (logged).
#[derive(Debug, thiserror::Error)]
enum ConnError {
    /// Close the socket with this code and reason (sent if the client
    /// still reads).
    #[error("closing ({0}): {1}")]
    Closing(u16, &'static str),
    #[error("socket: {0}")]
    Socket(#[from] axum::Error),
    #[error("{0}")]
    Api(#[from] ApiError),
}

impl Connection {
    fn new(
        state: AppState,
        session: Session,
        after: Option<MessageId>,
        caller: Caller,
        credential: Credential,
    ) -> Connection {
        Connection {
            state,
            session,
            last: after,
            ended_sent: false,
            caller,
            credential,
        }
    }

    /// Whether the key or token that opened the socket still opens it.
    async fn still_valid(&self) -> Result<bool, ApiError> {
        Ok(match &self.credential {
            Credential::Key(hash) => self
                .state
                .store
                .find_org_by_key_hash(hash)
                .await
                .map_err(ApiError::internal)?
                .is_some_and(|org| org.id == self.session.org),
            Credential::Token(token) => {
                match session_tokens::session_of(&self.state, token).await {
                    Ok(session) => session.id == self.session.id,
                    Err(ApiError::InvalidToken) => false,
                    Err(e) => return Err(e),
                }
            }
        })
    }

    async fn run(mut self, mut socket: WebSocket) -> Result<(), ConnError> {
        match self.serve(&mut socket).await {
            Ok(()) => Ok(()),
            Err(ConnError::Closing(code, reason)) => {
                // A client that does not read cannot hold this either.
                let close = socket.send(Frame::Close(Some(CloseFrame {
                    code,
                    reason: reason.into(),
                })));
                let _ = tokio::time::timeout(self.state.ws.send_timeout, close).await;
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    async fn serve(&mut self, socket: &mut WebSocket) -> Result<(), ConnError> {
        // Subscribe before the first read, so nothing committed in between
        // is missed (a message read twice is skipped by `last`).
        let mut commits = self.state.live.subscribe(self.session.id);
        self.deliver(socket, None).await?;
        let shutdown = self.state.shutdown.clone();
        let every = self.state.ws.ping_interval;
        let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut awaiting_pong = false;
        loop {
            tokio::select! {
                // Shutdown first: no new turn starts once it has begun.
                biased;
                () = shutdown.cancelled() => {
                    return Err(ConnError::Closing(close_code::AWAY, "server shutting down"));
                }
                _ = ping.tick() => {
                    if awaiting_pong {
                        // Nothing heard for a whole interval: a dead peer.
                        return Err(ConnError::Closing(close_code::AWAY, "no pong"));
                    }
                    if !self.still_valid().await? {
                        return Err(ConnError::Closing(close_code::POLICY, "credentials revoked or expired"));
                    }
                    self.send_frame(socket, Frame::Ping(Default::default())).await?;
                    awaiting_pong = true;
                }
                woken = commits.changed() => {
                    // Its own turn's replies were read right after the turn:
                    // their commit's wake-up finds nothing new.
                    if woken.is_news_after(self.last) {
                        self.deliver(socket, None).await?;
                    }
                }
                frame = socket.recv() => {
                    awaiting_pong = false;
                    match frame {
                        None | Some(Ok(Frame::Close(_))) => return Ok(()),
                        Some(Err(e)) if too_big(&e) => {
                            return Err(ConnError::Closing(close_code::SIZE, "frame over 64 KiB"));
                        }
                        Some(Err(e)) => return Err(e.into()),
                        Some(Ok(Frame::Text(text))) => {
                            self.on_text(socket, text.as_bytes()).await?;
                        }
                        Some(Ok(Frame::Binary(bytes))) => {
                            self.on_text(socket, &bytes).await?;
                        }
                        Some(Ok(Frame::Ping(_) | Frame::Pong(_))) => {}
                    }
                }
            }
        }
    }

    /// Sends one frame; a client that does not take it within the send
    /// timeout is closed with 1013 (it may resume with `afterId`).
    async fn send_frame(&self, socket: &mut WebSocket, frame: Frame) -> Result<(), ConnError> {
        match tokio::time::timeout(self.state.ws.send_timeout, socket.send(frame)).await {
            Ok(sent) => Ok(sent?),
            Err(_) => Err(ConnError::Closing(
                close_code::AGAIN,
                "too slow: reconnect with afterId",
            )),
        }
    }

    async fn send_json<T: serde::Serialize>(
        &self,
        socket: &mut WebSocket,
        value: &T,
    ) -> Result<(), ConnError> {
        let text = serde_json::to_string(value).map_err(ApiError::internal)?;
        self.send_frame(socket, Frame::Text(text.into())).await
    }

    /// One learner frame: a turn, then delivery of what it committed.
    async fn on_text(&mut self, socket: &mut WebSocket, bytes: &[u8]) -> Result<(), ConnError> {
        let result = async {
            let inbound: Inbound = parse_json(bytes)?;
            let mut errors = Vec::new();
            let external_id = turns::validate_external_id(inbound.external_id, &mut errors);
            check(errors)?;
            turns::validate_text(&inbound.message)?;
            self.state.limiters.turn(&self.caller)?;
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
            Ok(outcome) => {
                let through = outcome
                    .received
                    .iter()
                    .chain(&outcome.sent)
                    .map(|m| m.id)
                    .max();
                let known = through.map(|through| (through, outcome.session.status));
                self.deliver(socket, known).await
            }
            Err(e) => {
                if let ApiError::Internal(cause) = &e {
                    tracing::error!(%cause, "websocket turn failed");
                }
                self.send_json(socket, &e.body()).await
            }
        }
    }

    /// Sends every message after the last one sent, then, once, the
    /// session's end when it has ended. `known`: the socket's own turn
    /// stored messages up to this id and left the session in this status
    /// (so if nothing later is delivered, the status need not be read).
    async fn deliver(
        &mut self,
        socket: &mut WebSocket,
        known: Option<(MessageId, SessionStatus)>,
    ) -> Result<(), ConnError> {
        let first = self.last.is_none() && !self.ended_sent;
        // Page by page: a long history is never held whole.
        let mut delivered = false;
        loop {
            let page =
                read_messages(&self.state, &self.session, self.last, Some(STREAM_PAGE)).await?;
            let deliveries = page_deliveries(&self.state, &self.session, &page).await?;
            let items = MessageItem::list(&page, &deliveries, self.state.timezone);
            for (m, item) in page.iter().zip(&items) {
                self.send_json(socket, item).await?;
                self.last = Some(m.id);
            }
            delivered |= !page.is_empty();
            if (page.len() as u32) < STREAM_PAGE {
                break;
            }
        }
        // Only a delivery of new messages can follow the end of a session.
        if !self.ended_sent && (first || delivered) {
            let status = match known {
                Some((through, status)) if self.last.is_some_and(|last| last <= through) => {
                    Some(status)
                }
                _ => self
                    .state
                    .store
                    .get_session(self.session.org, self.session.uuid)
                    .await
                    .map_err(ApiError::internal)?
                    .map(|current| current.status),
            };
            if let Some(status) = status
                && !status.is_live()
            {
                self.ended_sent = true;
                let frame = serde_json::json!({ "session_status": status.as_str() });
                self.send_json(socket, &frame).await?;
            }
        }
        Ok(())
    }
}

/// Whether a receive failed because the frame was over the size limit.
fn too_big(error: &axum::Error) -> bool {
    let text = error.to_string();
    text.contains("Space limit exceeded") || text.contains("too long")
}
