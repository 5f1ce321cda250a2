//! The conversation: read it (`GET /api/v1/message/all`) and add a learner
//! turn to it (`POST /api/v1/message`).

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chatcourse_storage::{Message, MessageId, Session};
use futures::StreamExt;
use uuid::Uuid;

use crate::envelope::{Envelope, ok};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{JsonBody, QueryParams, check, parse_uuid};
use crate::state::{AppState, Org};
use crate::turns::{self, TurnKind};
use crate::wire::{MessageItem, PostMessage, TurnData};

/// Page size when reading a whole conversation from the store.
const PAGE: u32 = 1000;

/// Messages read at a time when a whole conversation is streamed (the
/// transcript without `limit`, the live chat's history): what one request
/// holds in memory at most, whatever the conversation's length.
pub(crate) const STREAM_PAGE: u32 = 200;

/// The start of the transcript's envelope, exactly as `ok(...)` writes it.
const TRANSCRIPT_HEAD: &str = r#"{"status":200,"message":"Messages successfully fetched","data":["#;

/// The session `session_uuid` of customer `customer_uuid` in `org`, or
/// `None` (another organisation's session is the same as no session).
pub(crate) async fn find_session(
    state: &AppState,
    org: chatcourse_storage::OrgId,
    customer_uuid: Uuid,
    session_uuid: Uuid,
) -> Result<Option<Session>, ApiError> {
    Ok(state
        .store
        .get_session(org, session_uuid)
        .await
        .map_err(ApiError::internal)?
        .filter(|s| s.customer_uuid == customer_uuid))
}

/// The delivery records of the messages of `page` (consecutive messages of
/// `session` in id order): one range of ids, so the work is the page's,
/// however long the session is.
pub(crate) async fn page_deliveries(
    state: &AppState,
    session: &Session,
    page: &[Message],
) -> Result<Vec<chatcourse_storage::MessageDelivery>, ApiError> {
    let (Some(first), Some(last)) = (page.first(), page.last()) else {
        return Ok(Vec::new());
    };
    state
        .store
        .message_deliveries(session.id, Some(MessageId(first.id.0 - 1)), Some(last.id))
        .await
        .map_err(ApiError::internal)
}

/// Messages of `session` after `after`: all of them when `limit` is `None`.
pub(crate) async fn read_messages(
    state: &AppState,
    session: &Session,
    mut after: Option<MessageId>,
    limit: Option<u32>,
) -> Result<Vec<Message>, ApiError> {
    let mut out = Vec::new();
    loop {
        let want = match limit {
            Some(limit) => limit.saturating_sub(out.len() as u32).min(PAGE),
            None => PAGE,
        };
        if want == 0 {
            break;
        }
        let page = state
            .store
            .messages(session.org, session.id, after, want)
            .await
            .map_err(ApiError::internal)?;
        let full = page.len() as u32 == want;
        after = page.last().map(|m| m.id).or(after);
        out.extend(page);
        if !full {
            break;
        }
    }
    Ok(out)
}

/// Fetch the conversation of a session (the seed's endpoint).
///
/// Returns every message in id order. Optional additive paging: `afterId`
/// (only messages with a greater id) and `limit` (at most that many).
#[utoipa::path(
    get,
    path = "/api/v1/message/all",
    tag = "messages",
    params(
        ("customerUuid" = String, Query, description = "The customer's uuid"),
        ("sessionUuid" = String, Query, description = "The session's uuid"),
        ("afterId" = Option<i64>, Query, description = "Only messages with a greater id"),
        ("limit" = Option<u32>, Query, description = "At most this many messages (1 to 1000)"),
    ),
    responses(
        (status = 200, description = "Messages successfully fetched", body = Envelope<Vec<MessageItem>>),
        (status = 400, description = "Missing or invalid parameter", body = ErrorBody),
        (status = 401, description = "Missing or wrong API key", body = ErrorBody),
        (status = 404, description = "No conversation matches the query", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn all(
    State(state): State<AppState>,
    Org(org): Org,
    query: QueryParams,
) -> Result<Response, ApiError> {
    let mut errors = Vec::new();
    let customer_uuid = query.uuid("customerUuid", &mut errors);
    let session_uuid = query.uuid("sessionUuid", &mut errors);
    let after = query.opt_u64("afterId", 0..=i64::MAX as u64, &mut errors);
    let limit = query.opt_u64("limit", 1..=u64::from(PAGE), &mut errors);
    check(errors)?;
    let (Some(customer_uuid), Some(session_uuid)) = (customer_uuid, session_uuid) else {
        return Err(ApiError::ConversationNotFound);
    };
    let session = find_session(&state, org, customer_uuid, session_uuid)
        .await?
        .ok_or(ApiError::ConversationNotFound)?;
    let after = after.map(|a| MessageId(a as i64));
    let Some(limit) = limit else {
        return Ok(stream_transcript(state, session, after));
    };
    let messages = read_messages(&state, &session, after, Some(limit as u32)).await?;
    let deliveries = page_deliveries(&state, &session, &messages).await?;
    let items = MessageItem::list(&messages, &deliveries, state.timezone);
    Ok(ok("Messages successfully fetched", items).into_response())
}

/// The whole transcript (after `after`), streamed page by page in the
/// envelope's exact shape: the server never holds more than a page. A
/// database failure part-way aborts the body (the JSON is then
/// incomplete, which every client notices).
fn stream_transcript(state: AppState, session: Session, after: Option<MessageId>) -> Response {
    enum Step {
        Head,
        Page {
            after: Option<MessageId>,
            first: bool,
        },
        Done,
    }
    let body = futures::stream::unfold(Step::Head, move |step| {
        let state = state.clone();
        let session = session.clone();
        async move {
            match step {
                Step::Head => Some((
                    Ok(Bytes::from_static(TRANSCRIPT_HEAD.as_bytes())),
                    Step::Page { after, first: true },
                )),
                Step::Page { after, first } => {
                    let page = match state
                        .store
                        .messages(session.org, session.id, after, STREAM_PAGE)
                        .await
                    {
                        Ok(page) => page,
                        Err(e) => {
                            tracing::error!(error = %e, "transcript failed part-way");
                            return Some((
                                Err(std::io::Error::other("transcript failed")),
                                Step::Done,
                            ));
                        }
                    };
                    let deliveries = match page_deliveries(&state, &session, &page).await {
                        Ok(deliveries) => deliveries,
                        Err(e) => {
                            tracing::error!(error = %e, "transcript failed part-way");
                            return Some((
                                Err(std::io::Error::other("transcript failed")),
                                Step::Done,
                            ));
                        }
                    };
                    let items = MessageItem::list(&page, &deliveries, state.timezone);
                    let mut chunk = Vec::with_capacity(page.len() * 256);
                    for (i, item) in items.iter().enumerate() {
                        if !(first && i == 0) {
                            chunk.push(b',');
                        }
                        if let Err(e) = serde_json::to_writer(&mut chunk, item) {
                            return Some((Err(std::io::Error::other(e)), Step::Done));
                        }
                    }
                    let next = if page.len() as u32 == STREAM_PAGE {
                        Step::Page {
                            after: page.last().map(|m| m.id),
                            first: first && page.is_empty(),
                        }
                    } else {
                        chunk.extend_from_slice(b"]}");
                        Step::Done
                    };
                    Some((Ok(Bytes::from(chunk)), next))
                }
                Step::Done => None,
            }
        }
    })
    // Compression may poll once more after the end.
    .fuse();
    (
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(body),
    )
        .into_response()
}

/// Send a learner's message (for channels that are not WebSocket: SMS or
/// WhatsApp gateways, test clients). Runs one turn and returns the replies.
#[utoipa::path(
    post,
    path = "/api/v1/message",
    tag = "messages",
    request_body = PostMessage,
    responses(
        (status = 200, description = "Message successfully sent", body = Envelope<TurnData>),
        (status = 400, description = "Invalid input (including message_too_long)", body = ErrorBody),
        (status = 401, description = "Missing or wrong API key", body = ErrorBody),
        (status = 404, description = "No such session of this customer in this organisation", body = ErrorBody),
        (status = 413, description = "Body over 64 KiB", body = ErrorBody),
        (status = 429, description = "Rate limited (see Retry-After)", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn post(
    State(state): State<AppState>,
    Org(org): Org,
    caller: crate::limits::Caller,
    JsonBody(body): JsonBody<PostMessage>,
) -> Result<Envelope<TurnData>, ApiError> {
    state.limiters.turn(&caller)?;
    let mut errors = Vec::new();
    let customer_uuid = parse_uuid("customer_uuid", &body.customer_uuid, &mut errors);
    let session_uuid = parse_uuid("session_uuid", &body.session_uuid, &mut errors);
    let external_id = turns::validate_external_id(body.external_id, &mut errors);
    check(errors)?;
    turns::validate_text(&body.message)?;
    let (Some(customer_uuid), Some(session_uuid)) = (customer_uuid, session_uuid) else {
        return Err(ApiError::SessionNotFound);
    };
    let session = find_session(&state, org, customer_uuid, session_uuid)
        .await?
        .ok_or(ApiError::SessionNotFound)?;
    let outcome = turns::learner_turn(
        &state,
        &session,
        body.message,
        external_id,
        TurnKind::Message,
    )
    .await?;
    let tz = state.timezone;
    Ok(ok(
        "Message successfully sent",
        TurnData {
            session_uuid: outcome.session.uuid.to_string(),
            status: outcome.session.status.as_str(),
            received: outcome.received.as_ref().map(|m| MessageItem::new(m, tz)),
            replies: outcome
                .sent
                .iter()
                .map(|m| MessageItem::new(m, tz))
                .collect(),
            duplicate: outcome.replayed,
        },
    ))
}
