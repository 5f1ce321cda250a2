//! Channels of an organisation (`/api/v1/fe/channels`) and the inbound
//! messages of a webhook channel (`/api/v1/channels/{uuid}/inbound`).
//! See docs/channels.md.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use chatcourse_channels::phone::{Country, Phone};
use chatcourse_channels::signing::{HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP, SignedHeaders};
use chatcourse_storage::Channel;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::delivery::webhook::{
    ChannelRequest, NewChannelError, WebhookSettings, new_channel, open_secret,
};
use crate::envelope::{Envelope, ok};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{JsonBody, check};
use crate::state::{AppState, Org};
use crate::time::{display, display_opt};
use crate::turns::{self, TurnKind};

/// Body of `POST /api/v1/fe/channels`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateChannel {
    /// `webhook` (the only kind so far).
    #[schema(example = "webhook")]
    pub kind: String,
    #[schema(example = "Lender backend")]
    pub name: String,
    /// Where messages are POSTed (`http://` or `https://`).
    #[schema(example = "https://lender.example/chatcourse")]
    pub url: String,
    /// Country of phone numbers written without a country code; `KE`.
    #[schema(example = "KE")]
    pub default_country: Option<String>,
    /// Messages per second at most; 80.
    pub rate_per_second: Option<u32>,
}

/// A channel. `secret` only in the answer that created it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelData {
    pub uuid: String,
    pub kind: String,
    pub name: String,
    pub url: String,
    pub default_country: String,
    pub rate_per_second: u32,
    pub created_at: String,
    /// Empty while enabled.
    pub disabled_at: String,
    /// The `whsec_...` signing secret: shown once, at creation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl ChannelData {
    fn new(c: &Channel, state: &AppState, secret: Option<String>) -> ChannelData {
        let url = serde_json::from_str::<WebhookSettings>(&c.settings)
            .map(|s| s.url)
            .unwrap_or_default();
        ChannelData {
            uuid: c.uuid.to_string(),
            kind: c.kind.clone(),
            name: c.name.clone(),
            url,
            default_country: c.default_country.clone(),
            rate_per_second: c.rate_per_second,
            created_at: display(c.created_at, state.timezone),
            disabled_at: display_opt(c.disabled_at, state.timezone),
            secret,
        }
    }
}

/// Create a channel.
#[utoipa::path(
    post,
    path = "/api/v1/fe/channels",
    tag = "channels",
    request_body = CreateChannel,
    responses(
        (status = 200, description = "Channel created; its secret is shown this once", body = Envelope<ChannelData>),
        (status = 400, description = "Invalid input", body = ErrorBody),
        (status = 401, description = "Missing or wrong API key", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    Org(org): Org,
    JsonBody(body): JsonBody<CreateChannel>,
) -> Result<Envelope<ChannelData>, ApiError> {
    let dispatcher = state
        .dispatcher
        .as_ref()
        .ok_or_else(|| ApiError::internal("no secret key"))?;
    let request = ChannelRequest {
        org,
        kind: body.kind,
        name: body.name,
        url: body.url,
        default_country: body.default_country,
        rate_per_second: body.rate_per_second,
        at: state.clock.now(),
    };
    let (new, shown) = new_channel(request, &dispatcher.key).map_err(|e| match e {
        NewChannelError::Invalid(errors) => ApiError::Validation(errors),
        NewChannelError::Internal(e) => ApiError::internal(e),
    })?;
    let channel = state
        .store
        .create_channel(&new)
        .await
        .map_err(ApiError::internal)?;
    Ok(ok(
        "Channel created",
        ChannelData::new(&channel, &state, Some(shown)),
    ))
}

/// List channels.
#[utoipa::path(
    get,
    path = "/api/v1/fe/channels",
    tag = "channels",
    responses(
        (status = 200, description = "The organisation's channels", body = Envelope<Vec<ChannelData>>),
        (status = 401, description = "Missing or wrong API key", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    Org(org): Org,
) -> Result<Envelope<Vec<ChannelData>>, ApiError> {
    let channels = state
        .store
        .list_channels(org)
        .await
        .map_err(ApiError::internal)?;
    Ok(ok(
        "Channels successfully fetched",
        channels
            .iter()
            .map(|c| ChannelData::new(c, &state, None))
            .collect(),
    ))
}

async fn own_channel(
    state: &AppState,
    org: chatcourse_storage::OrgId,
    uuid: &str,
) -> Result<Channel, ApiError> {
    let uuid = Uuid::parse_str(uuid.trim()).map_err(|_| ApiError::ChannelNotFound)?;
    state
        .store
        .get_channel(org, uuid)
        .await
        .map_err(ApiError::internal)?
        .ok_or(ApiError::ChannelNotFound)
}

/// Fetch a channel.
#[utoipa::path(
    get,
    path = "/api/v1/fe/channels/{uuid}",
    tag = "channels",
    params(("uuid" = String, Path, description = "The channel's uuid")),
    responses(
        (status = 200, description = "The channel", body = Envelope<ChannelData>),
        (status = 401, description = "Missing or wrong API key", body = ErrorBody),
        (status = 404, description = "No such channel in this organisation", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn fetch(
    State(state): State<AppState>,
    Org(org): Org,
    Path(uuid): Path<String>,
) -> Result<Envelope<ChannelData>, ApiError> {
    let channel = own_channel(&state, org, &uuid).await?;
    Ok(ok(
        "Channel successfully fetched",
        ChannelData::new(&channel, &state, None),
    ))
}

/// Disable a channel: nothing more is queued to it or sent over it.
#[utoipa::path(
    delete,
    path = "/api/v1/fe/channels/{uuid}",
    tag = "channels",
    params(("uuid" = String, Path, description = "The channel's uuid")),
    responses(
        (status = 200, description = "The channel, disabled", body = Envelope<ChannelData>),
        (status = 401, description = "Missing or wrong API key", body = ErrorBody),
        (status = 404, description = "No such channel in this organisation", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn disable(
    State(state): State<AppState>,
    Org(org): Org,
    Path(uuid): Path<String>,
) -> Result<Envelope<ChannelData>, ApiError> {
    let channel = own_channel(&state, org, &uuid).await?;
    state
        .store
        .disable_channel(org, channel.uuid, state.clock.now())
        .await
        .map_err(ApiError::internal)?;
    let channel = own_channel(&state, org, &uuid).await?;
    Ok(ok(
        "Channel disabled",
        ChannelData::new(&channel, &state, None),
    ))
}

/// Body of an inbound message.
#[derive(Debug, Deserialize, ToSchema)]
pub struct InboundMessage {
    /// The learner's phone; read with the channel's default country.
    #[schema(example = "0712 345 678")]
    pub from: String,
    pub text: String,
    /// The gateway's message id: a repeated id is applied once.
    pub id: String,
}

/// Where an inbound message went.
#[derive(Debug, Serialize, ToSchema)]
pub struct InboundData {
    /// False: no customer with that phone, or no live session (nothing
    /// stored; see docs/channels.md).
    pub routed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_uuid: Option<String>,
    /// True when the text was START and the phone was opted out.
    pub opted_in: bool,
}

/// Words that opt a phone back in.
const START_WORDS: [&str; 3] = ["START", "RESTART", "ANZA"];

/// A learner's message from a gateway, signed with the channel's secret.
#[utoipa::path(
    post,
    path = "/api/v1/channels/{uuid}/inbound",
    tag = "channels",
    params(("uuid" = String, Path, description = "The channel's uuid")),
    request_body = InboundMessage,
    responses(
        (status = 200, description = "Received (routed or not); replies go out through the channel", body = Envelope<InboundData>),
        (status = 400, description = "Invalid input", body = ErrorBody),
        (status = 401, description = "Bad or missing signature", body = ErrorBody),
        (status = 404, description = "No such enabled channel", body = ErrorBody),
    )
)]
pub async fn inbound(
    State(state): State<AppState>,
    Path(uuid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Envelope<InboundData>, ApiError> {
    let uuid = Uuid::parse_str(uuid.trim()).map_err(|_| ApiError::ChannelNotFound)?;
    let channel = state
        .store
        .find_channel(uuid)
        .await
        .map_err(ApiError::internal)?
        .filter(|c| c.disabled_at.is_none())
        .ok_or(ApiError::ChannelNotFound)?;
    let dispatcher = state
        .dispatcher
        .as_ref()
        .ok_or_else(|| ApiError::internal("no secret key"))?;
    let secret = open_secret(&dispatcher.key, &channel).map_err(ApiError::internal)?;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let signed = SignedHeaders {
        id: header(HEADER_ID),
        timestamp: header(HEADER_TIMESTAMP),
        signature: header(HEADER_SIGNATURE),
    };
    secret
        .verify(&signed, &body, state.clock.now().timestamp())
        .map_err(|_| ApiError::InvalidSignature)?;
    let message: InboundMessage =
        serde_json::from_slice(&body).map_err(|e| ApiError::MalformedJson(vec![e.to_string()]))?;
    let mut errors = Vec::new();
    let country = channel.default_country.parse::<Country>().ok();
    let from = match Phone::parse(&message.from, country) {
        Ok(p) => Some(p),
        Err(e) => {
            errors.push(format!("from: {e}"));
            None
        }
    };
    let external_id = turns::validate_external_id(Some(message.id), &mut errors);
    if external_id.is_none() && errors.is_empty() {
        errors.push("id: must not be empty".to_owned());
    }
    check(errors)?;
    turns::validate_text(&message.text)?;
    let Some(from) = from else {
        return Err(ApiError::Validation(vec!["from: missing".to_owned()]));
    };
    let now = state.clock.now();
    let word = message.text.trim().to_ascii_uppercase();
    if START_WORDS.contains(&word.as_str())
        && state
            .store
            .opt_in(channel.org, from.as_str(), now)
            .await
            .map_err(ApiError::internal)?
    {
        return Ok(ok(
            "Opted in",
            InboundData {
                routed: false,
                session_uuid: None,
                opted_in: true,
            },
        ));
    }
    let not_routed = || {
        ok(
            "Not routed: no customer or no live session for this phone",
            InboundData {
                routed: false,
                session_uuid: None,
                opted_in: false,
            },
        )
    };
    let Some(customer) = state
        .store
        .customer_by_phone(channel.org, from.as_str())
        .await
        .map_err(ApiError::internal)?
    else {
        return Ok(not_routed());
    };
    let Some(session) = state
        .store
        .live_session_of(channel.org, customer.id)
        .await
        .map_err(ApiError::internal)?
    else {
        return Ok(not_routed());
    };
    turns::learner_turn(
        &state,
        &session,
        message.text,
        external_id,
        TurnKind::Message,
    )
    .await?;
    Ok(ok(
        "Message received",
        InboundData {
            routed: true,
            session_uuid: Some(session.uuid.to_string()),
            opted_in: false,
        },
    ))
}
