//! Channels of an organisation (`/api/v1/fe/channels`) and the inbound
//! messages of a webhook channel (`/api/v1/channels/{uuid}/inbound`).
//! See docs/channels.md.

use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use chatcourse_channels::africastalking::tokens_match;
use chatcourse_channels::phone::Phone;
use chatcourse_storage::{Channel, DeliveryReport};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::delivery::keywords;
use crate::delivery::kind::{Endpoint, Event, Handled, Incoming, Kind, kind, stored};
use crate::delivery::setup::{Opened, open};
use crate::delivery::webhook::{InboundData, InboundMessage, StatusData, StatusReport};
use crate::delivery::{ChannelRequest, NewChannelError, Shown, new_channel};
use crate::envelope::{Envelope, ok};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{JsonBody, check};
use crate::state::{AppState, Org};
use crate::time::{display, display_opt};
use crate::turns::{self, TurnKind};

/// Body of `POST /api/v1/fe/channels`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateChannel {
    /// `webhook`, `twilio`, `africastalking` or `whatsapp`
    /// (docs/channels.md).
    #[schema(example = "webhook")]
    pub kind: String,
    #[schema(example = "Lender backend")]
    pub name: String,
    /// `webhook`: where messages are POSTed (`http://` or `https://`).
    #[schema(example = "https://lender.example/chatcourse")]
    pub url: Option<String>,
    /// The kind's settings, e.g. for `twilio`: `account_sid`, `from`,
    /// `public_url`, `base_url` (docs/channels.md).
    #[schema(value_type = Object)]
    pub settings: Option<serde_json::Value>,
    /// The provider's credential (`twilio`: the auth token;
    /// `africastalking`: the API key; `whatsapp`: the access token);
    /// stored sealed, never shown.
    pub credential: Option<String>,
    /// `whatsapp`: the Meta app's secret (checks `X-Hub-Signature-256`);
    /// stored sealed, never shown.
    pub app_secret: Option<String>,
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
    /// The secret path token of a kind whose callbacks are unsigned
    /// (`africastalking`): shown once, at creation; it is part of
    /// `inbound_url` and `status_url`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path_token: Option<String>,
    /// `whatsapp`: the verify token to give Meta for the webhook
    /// handshake; shown once, at creation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verify_token: Option<String>,
    /// The kind's settings (no secrets).
    #[schema(value_type = Object)]
    pub settings: serde_json::Value,
    /// Where the provider sends learners' messages: the full URL when the
    /// channel knows its `public_url`, else the path.
    pub inbound_url: String,
    /// Where the provider sends delivery reports.
    pub status_url: String,
}

impl ChannelData {
    fn new(c: &Channel, state: &AppState, shown: Shown) -> ChannelData {
        let Shown {
            secret,
            path_token,
            verify_token,
        } = shown;
        let url = stored(&c.settings, "url")
            .or_else(|| stored(&c.settings, "base_url"))
            .unwrap_or_default();
        let base = stored(&c.settings, "public_url").unwrap_or_default();
        // A kind with a path token: its URLs hold it (shown once; later
        // `{path_token}` stands for it).
        let token = match (kind(&c.kind).is_some_and(|k| k.path_token()), &path_token) {
            (false, _) => String::new(),
            (true, Some(token)) => format!("/{token}"),
            (true, None) => "/{path_token}".to_owned(),
        };
        let endpoint = |last: &str| format!("{base}/api/v1/channels/{}{token}/{last}", c.uuid);
        ChannelData {
            settings: serde_json::from_str(&c.settings).unwrap_or_default(),
            inbound_url: endpoint("inbound"),
            status_url: endpoint("status"),
            uuid: c.uuid.to_string(),
            kind: c.kind.clone(),
            name: c.name.clone(),
            url,
            default_country: c.default_country.clone(),
            rate_per_second: c.rate_per_second,
            created_at: display(c.created_at, state.timezone),
            disabled_at: display_opt(c.disabled_at, state.timezone),
            secret,
            path_token,
            verify_token,
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
        settings: body.settings.unwrap_or_default(),
        credential: body.credential,
        app_secret: body.app_secret,
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
        ChannelData::new(&channel, &state, shown),
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
            .map(|c| ChannelData::new(c, &state, Shown::none()))
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
        ChannelData::new(&channel, &state, Shown::none()),
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
        ChannelData::new(&channel, &state, Shown::none()),
    ))
}

/// Words that opt a phone back in.
const START_WORDS: [&str; 3] = ["START", "RESTART", "ANZA"];

/// A learner's message, in the channel's own format (a `webhook`: JSON
/// signed with the channel's secret; `twilio`: Twilio's signed form).
#[utoipa::path(
    post,
    path = "/api/v1/channels/{uuid}/inbound",
    tag = "channels",
    params(("uuid" = String, Path, description = "The channel's uuid")),
    request_body = InboundMessage,
    responses(
        (status = 200, description = "Received (routed or not); replies go out through the channel. A webhook gets this envelope; a provider the answer it expects", body = Envelope<InboundData>),
        (status = 400, description = "Invalid input", body = ErrorBody),
        (status = 401, description = "Bad or missing signature", body = ErrorBody),
        (status = 404, description = "No such enabled channel", body = ErrorBody),
    )
)]
pub async fn inbound(
    State(state): State<AppState>,
    Path(uuid): Path<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    receive(
        &state,
        &uuid,
        Request::new(Endpoint::Inbound, None, &uri, &headers, &body),
    )
    .await
}

/// A delivery report, in the channel's own format (a `webhook`: signed
/// JSON `{id, status, reason}`; `twilio`: Twilio's status callback).
#[utoipa::path(
    post,
    path = "/api/v1/channels/{uuid}/status",
    tag = "channels",
    params(("uuid" = String, Path, description = "The channel's uuid")),
    request_body = StatusReport,
    responses(
        (status = 200, description = "Recorded (or no such message). A webhook gets this envelope; a provider the answer it expects", body = Envelope<StatusData>),
        (status = 400, description = "Invalid input", body = ErrorBody),
        (status = 401, description = "Bad or missing signature", body = ErrorBody),
        (status = 404, description = "No such enabled channel", body = ErrorBody),
    )
)]
pub async fn status(
    State(state): State<AppState>,
    Path(uuid): Path<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    receive(
        &state,
        &uuid,
        Request::new(Endpoint::Status, None, &uri, &headers, &body),
    )
    .await
}

/// Meta's webhook verification handshake (`whatsapp`): answers
/// `hub.challenge` when `hub.mode` is `subscribe` and `hub.verify_token`
/// is the channel's verify token.
#[utoipa::path(
    get,
    path = "/api/v1/channels/{uuid}/inbound",
    tag = "channels",
    params(
        ("uuid" = String, Path, description = "The channel's uuid"),
        ("hub.mode" = String, Query, description = "`subscribe`"),
        ("hub.verify_token" = String, Query, description = "The channel's verify token"),
        ("hub.challenge" = String, Query, description = "Echoed back"),
    ),
    responses(
        (status = 200, description = "The challenge, as text"),
        (status = 401, description = "Wrong verify token or mode", body = ErrorBody),
        (status = 404, description = "No such enabled whatsapp channel", body = ErrorBody),
    )
)]
pub async fn verify(
    State(state): State<AppState>,
    Path(uuid): Path<String>,
    OriginalUri(uri): OriginalUri,
) -> Result<Response, ApiError> {
    let (_, handler, opened) = enabled_channel(&state, &uuid).await?;
    if !handler.verify_token() {
        return Err(ApiError::ChannelNotFound);
    }
    let query = chatcourse_channels::form::parse_form(uri.query().unwrap_or_default().as_bytes());
    let get = |name| chatcourse_channels::form::param(&query, name).unwrap_or_default();
    let expected = opened.path_token.as_deref().unwrap_or_default();
    if get("hub.mode") != "subscribe" || !tokens_match(get("hub.verify_token"), expected) {
        return Err(ApiError::InvalidSignature);
    }
    Ok(get("hub.challenge").to_owned().into_response())
}

/// A learner's message for a kind whose callbacks carry the channel's
/// secret path token (`africastalking`: unsigned form posts).
#[utoipa::path(
    post,
    path = "/api/v1/channels/{uuid}/{token}/inbound",
    tag = "channels",
    params(
        ("uuid" = String, Path, description = "The channel's uuid"),
        ("token" = String, Path, description = "The channel's path token, shown once at creation"),
    ),
    responses(
        (status = 200, description = "Received (routed or not)"),
        (status = 400, description = "Invalid input", body = ErrorBody),
        (status = 401, description = "Wrong path token", body = ErrorBody),
        (status = 404, description = "No such enabled channel", body = ErrorBody),
    )
)]
pub async fn token_inbound(
    State(state): State<AppState>,
    Path((uuid, token)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    receive(
        &state,
        &uuid,
        Request::new(
            Endpoint::Inbound,
            Some(token.as_str()),
            &uri,
            &headers,
            &body,
        ),
    )
    .await
}

/// A delivery report for a kind whose callbacks carry the channel's
/// secret path token (`africastalking`).
#[utoipa::path(
    post,
    path = "/api/v1/channels/{uuid}/{token}/status",
    tag = "channels",
    params(
        ("uuid" = String, Path, description = "The channel's uuid"),
        ("token" = String, Path, description = "The channel's path token, shown once at creation"),
    ),
    responses(
        (status = 200, description = "Recorded (or no such message)"),
        (status = 400, description = "Invalid input", body = ErrorBody),
        (status = 401, description = "Wrong path token", body = ErrorBody),
        (status = 404, description = "No such enabled channel", body = ErrorBody),
    )
)]
pub async fn token_status(
    State(state): State<AppState>,
    Path((uuid, token)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    receive(
        &state,
        &uuid,
        Request::new(
            Endpoint::Status,
            Some(token.as_str()),
            &uri,
            &headers,
            &body,
        ),
    )
    .await
}

/// A provider's request to one of a channel's endpoints.
struct Request<'a> {
    endpoint: Endpoint,
    /// The path token, on the token routes.
    token: Option<&'a str>,
    uri: &'a axum::http::Uri,
    headers: &'a HeaderMap,
    body: &'a [u8],
}

impl<'a> Request<'a> {
    fn new(
        endpoint: Endpoint,
        token: Option<&'a str>,
        uri: &'a axum::http::Uri,
        headers: &'a HeaderMap,
        body: &'a [u8],
    ) -> Request<'a> {
        Request {
            endpoint,
            token,
            uri,
            headers,
            body,
        }
    }
}

/// An enabled channel by uuid, its kind and its opened secrets.
async fn enabled_channel(
    state: &AppState,
    uuid: &str,
) -> Result<(Channel, &'static dyn Kind, Opened), ApiError> {
    let uuid = Uuid::parse_str(uuid.trim()).map_err(|_| ApiError::ChannelNotFound)?;
    let channel = state
        .store
        .find_channel(uuid)
        .await
        .map_err(ApiError::internal)?
        .filter(|c| c.disabled_at.is_none())
        .ok_or(ApiError::ChannelNotFound)?;
    let handler = kind(&channel.kind).ok_or(ApiError::ChannelNotFound)?;
    let dispatcher = state
        .dispatcher
        .as_ref()
        .ok_or_else(|| ApiError::internal("no secret key"))?;
    let opened = open(&dispatcher.key, &channel).map_err(ApiError::internal)?;
    Ok((channel, handler, opened))
}

/// Authenticates and reads a provider's request through its kind, then
/// routes the message or records the report.
async fn receive(state: &AppState, uuid: &str, request: Request<'_>) -> Result<Response, ApiError> {
    let Request {
        endpoint,
        token,
        uri,
        headers,
        body,
    } = request;
    let (channel, handler, opened) = enabled_channel(state, uuid).await?;
    // Kinds with a path token are reached only through the token routes,
    // and others only without one.
    match (handler.path_token(), token) {
        (false, None) => {}
        (false, Some(_)) => return Err(ApiError::ChannelNotFound),
        (true, given) => {
            let expected = opened.path_token.as_deref().unwrap_or_default();
            if !tokens_match(given.unwrap_or_default(), expected) {
                return Err(ApiError::InvalidSignature);
            }
        }
    }
    let path_and_query = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    let events = handler.receive(&Incoming {
        channel: &channel,
        secret: &opened.secret,
        app_secret: opened.app_secret.as_deref(),
        endpoint,
        path_and_query,
        headers,
        body,
        now: state.clock.now().timestamp(),
    })?;
    let mut last = Handled::Ignored;
    for event in events {
        last = match event {
            Event::Message { from, text, id } => message(state, &channel, from, text, id).await?,
            Event::Report {
                provider_message_id,
                status,
                error,
                opt_out,
            } => {
                let report = DeliveryReport {
                    status,
                    error,
                    at: state.clock.now(),
                };
                let row = state
                    .store
                    .record_delivery_report(channel.id, &provider_message_id, &report)
                    .await
                    .map_err(ApiError::internal)?;
                if let Some(row) = &row
                    && opt_out
                {
                    state
                        .store
                        .opt_out_contact(row.org, &row.recipient, report.at)
                        .await
                        .map_err(ApiError::internal)?;
                }
                Handled::Report {
                    matched: row.is_some(),
                    status: row.map(|r| r.status),
                }
            }
            Event::Ignored => Handled::Ignored,
        };
    }
    Ok(handler.respond(endpoint, last))
}

/// A learner's message by phone: START opts back in; otherwise the
/// customer with that phone and their live session take it as a turn.
async fn message(
    state: &AppState,
    channel: &Channel,
    from: Phone,
    text: String,
    id: String,
) -> Result<Handled, ApiError> {
    let mut errors = Vec::new();
    let external_id = turns::validate_external_id(Some(id), &mut errors);
    if external_id.is_none() && errors.is_empty() {
        errors.push("id: must not be empty".to_owned());
    }
    check(errors)?;
    turns::validate_text(&text)?;
    let now = state.clock.now();
    let word = text.trim().to_ascii_uppercase();
    if START_WORDS.contains(&word.as_str())
        && state
            .store
            .opt_in(channel.org, from.as_str(), now)
            .await
            .map_err(ApiError::internal)?
    {
        return Ok(Handled::Message {
            routed: false,
            session_uuid: None,
            opted_in: true,
        });
    }
    let not_routed = Handled::Message {
        routed: false,
        session_uuid: None,
        opted_in: false,
    };
    let customer = state
        .store
        .customer_by_phone(channel.org, from.as_str())
        .await
        .map_err(ApiError::internal)?;
    let session = match &customer {
        Some(customer) => state
            .store
            .live_session_of(channel.org, customer.id)
            .await
            .map_err(ApiError::internal)?,
        None => None,
    };
    let (Some(customer), Some(session)) = (customer, session) else {
        // No live session: a channel keyword enrols the learner.
        return match enrol_by_keyword(state, channel, &from, &text, now).await? {
            Some(session_uuid) => Ok(Handled::Message {
                routed: true,
                session_uuid: Some(session_uuid),
                opted_in: false,
            }),
            None => Ok(not_routed),
        };
    };
    // Replies go back the way the learner wrote, from this turn on.
    reach_through(state, &customer, channel).await?;
    turns::learner_turn(state, &session, text, external_id, TurnKind::Message).await?;
    Ok(Handled::Message {
        routed: true,
        session_uuid: Some(session.uuid.to_string()),
        opted_in: false,
    })
}

/// Keyword enrolment: `text` is one of the channel's keywords, so the
/// learner (registered now by phone if new) is enrolled in its module and
/// programme and reached on this channel. `None` when the text is no
/// keyword, or the enrolment cannot be made (an opted-out contact, a
/// module no longer served: logged).
async fn enrol_by_keyword(
    state: &AppState,
    channel: &Channel,
    from: &Phone,
    text: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Option<String>, ApiError> {
    let Some(word) = keywords::keyword_of(text) else {
        return Ok(None);
    };
    let Some(target) = keywords::stored(&channel.settings).remove(&word) else {
        return Ok(None);
    };
    let Some(entry) = state
        .catalogue
        .find_for(state.store.as_ref(), channel.org, &target.module)
        .await?
    else {
        tracing::warn!(channel = %channel.uuid, keyword = %word, module = %target.module,
            "keyword names a module this server does not serve");
        return Ok(None);
    };
    let customer = state
        .store
        .register_customer(
            channel.org,
            &chatcourse_storage::NewCustomer {
                full_name: String::new(),
                national_id: String::new(),
                phone: from.as_str().to_owned(),
                phone_e164: Some(from.as_str().to_owned()),
                location: String::new(),
                gender: String::new(),
                email: None,
                date_of_birth: None,
                registered_at: now,
            },
        )
        .await
        .map_err(ApiError::internal)?;
    reach_through(state, &customer, channel).await?;
    let programme = state
        .store
        .ensure_programme(channel.org, target.program_identifier, now)
        .await
        .map_err(ApiError::internal)?;
    match turns::enrol(
        state,
        &customer,
        &programme,
        &entry,
        (target.language.as_deref(), state.timezone.name()),
    )
    .await
    {
        Ok(session) => Ok(Some(session.uuid.to_string())),
        Err(ApiError::CustomerOptedOut) => Ok(None),
        Err(e) => Err(e),
    }
}

/// From now on the customer is reached on `channel`.
async fn reach_through(
    state: &AppState,
    customer: &chatcourse_storage::Customer,
    channel: &Channel,
) -> Result<(), ApiError> {
    if customer.channel == Some(channel.id) {
        return Ok(());
    }
    state
        .store
        .set_customer_channel(customer.id, channel.id)
        .await
        .map_err(ApiError::internal)
}
