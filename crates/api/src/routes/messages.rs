//! The conversation: read it (`GET /api/v1/message/all`) and add a learner
//! turn to it (`POST /api/v1/message`).

use axum::extract::State;
use chatcourse_storage::{Message, MessageId, Session};
use uuid::Uuid;

use crate::envelope::{Envelope, ok};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{JsonBody, QueryParams, check, parse_uuid};
use crate::state::{AppState, Org};
use crate::turns::{self, TurnKind};
use crate::wire::{MessageItem, PostMessage, TurnData};

/// Page size when reading a whole conversation from the store.
const PAGE: u32 = 1000;

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

/// Messages of `session` after `after`: all of them when `limit` is `None`.
/// The delivery records of a session's messages after `after`.
pub(crate) async fn read_deliveries(
    state: &AppState,
    session: &Session,
    after: Option<MessageId>,
) -> Result<Vec<chatcourse_storage::MessageDelivery>, ApiError> {
    state
        .store
        .message_deliveries(session.id, after)
        .await
        .map_err(ApiError::internal)
}

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
) -> Result<Envelope<Vec<MessageItem>>, ApiError> {
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
    let messages = read_messages(
        &state,
        &session,
        after.map(|a| MessageId(a as i64)),
        limit.map(|l| l as u32),
    )
    .await?;
    let deliveries = read_deliveries(&state, &session, after.map(|a| MessageId(a as i64))).await?;
    let items = MessageItem::list(&messages, &deliveries, state.timezone);
    Ok(ok("Messages successfully fetched", items))
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
    ),
    security(("api_key" = []))
)]
pub async fn post(
    State(state): State<AppState>,
    Org(org): Org,
    JsonBody(body): JsonBody<PostMessage>,
) -> Result<Envelope<TurnData>, ApiError> {
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
