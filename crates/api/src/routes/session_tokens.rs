//! Learner tokens: what a learner's chat widget uses instead of the API key.
//!
//! `POST /api/v1/fe/session/token` (API key) hands out a random token that
//! opens the live chat (`/api/v1/ws?token=`) of one session, and nothing
//! else, until it expires. Storage keeps only its hash
//! ([`chatcourse_storage::hash_api_key`]).

use axum::extract::State;
use chrono::{DateTime, Duration, SecondsFormat, SubsecRound, Utc};
use uuid::Uuid;

use crate::envelope::{Envelope, ok};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{JsonBody, check, parse_uuid};
use crate::limits::Caller;
use crate::routes::messages::find_session;
use crate::state::{AppState, Org};
use crate::wire::{RevokeTokenData, RevokeTokenRequest, SessionTokenData, SessionTokenRequest};

/// The prefix that makes a learner token recognisable (e.g. by secret
/// scanners) and tells it apart from an API key (`cck_`).
pub const TOKEN_PREFIX: &str = "cst_";

/// Validity of a token when the request names none: 24 hours.
pub const DEFAULT_TTL_SECONDS: i64 = 24 * 60 * 60;

/// The longest validity a request may ask for: 7 days.
pub const MAX_TTL_SECONDS: i64 = 7 * 24 * 60 * 60;

/// A new random token: the prefix and 64 hex digits (244 random bits from
/// two UUID v4s, which come from the operating system's CSPRNG).
pub fn generate() -> String {
    format!(
        "{TOKEN_PREFIX}{}{}",
        Uuid::new_v4().simple(),
        Uuid::new_v4().simple()
    )
}

/// Create a learner token: it opens the live chat of this one session
/// (`GET /api/v1/ws?token=`) until `expires_at`, and works nowhere else.
/// Give it to the learner's chat widget; never give it the API key.
#[utoipa::path(
    post,
    path = "/api/v1/fe/session/token",
    tag = "messages",
    request_body = SessionTokenRequest,
    responses(
        (status = 200, description = "Token created successfully", body = Envelope<SessionTokenData>),
        (status = 400, description = "Invalid input", body = ErrorBody),
        (status = 401, description = "Missing or wrong API key", body = ErrorBody),
        (status = 404, description = "No such session of this customer in this organisation", body = ErrorBody),
        (status = 429, description = "Rate limited (see Retry-After)", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    Org(org): Org,
    caller: Caller,
    JsonBody(body): JsonBody<SessionTokenRequest>,
) -> Result<Envelope<SessionTokenData>, ApiError> {
    state.limiters.token(&caller)?;
    let mut errors = Vec::new();
    let customer_uuid = parse_uuid("customer_uuid", &body.customer_uuid, &mut errors);
    let session_uuid = parse_uuid("session_uuid", &body.session_uuid, &mut errors);
    let ttl = body.ttl_seconds.unwrap_or(DEFAULT_TTL_SECONDS);
    if !(1..=MAX_TTL_SECONDS).contains(&ttl) {
        errors.push(format!(
            "ttl_seconds: must be an integer from 1 to {MAX_TTL_SECONDS}"
        ));
    }
    check(errors)?;
    let (Some(customer_uuid), Some(session_uuid)) = (customer_uuid, session_uuid) else {
        return Err(ApiError::SessionNotFound);
    };
    let session = find_session(&state, org, customer_uuid, session_uuid)
        .await?
        .ok_or(ApiError::SessionNotFound)?;
    let expires_at = expiry(state.clock.now(), ttl);
    let token = generate();
    state
        .store
        .create_session_token(
            org,
            session.id,
            &chatcourse_storage::hash_api_key(&token),
            caller.key.as_deref(),
            expires_at,
        )
        .await
        .map_err(ApiError::internal)?;
    Ok(ok(
        "Token created successfully",
        SessionTokenData {
            token,
            expires_at: expires_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        },
    ))
}

/// Revoke a learner token: from now on it opens nothing, and the live chat
/// sockets opened with it are closed at their next ping (code 1008).
/// Revoking is idempotent: `revoked` says whether this request did it.
#[utoipa::path(
    post,
    path = "/api/v1/fe/session/token/revoke",
    tag = "messages",
    request_body = RevokeTokenRequest,
    responses(
        (status = 200, description = "Token revoked successfully (or there was nothing to revoke: see `revoked`)", body = Envelope<RevokeTokenData>),
        (status = 400, description = "Invalid input", body = ErrorBody),
        (status = 401, description = "Missing or wrong API key", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn revoke(
    State(state): State<AppState>,
    Org(org): Org,
    JsonBody(body): JsonBody<RevokeTokenRequest>,
) -> Result<Envelope<RevokeTokenData>, ApiError> {
    let token = body.token.trim();
    if token.is_empty() {
        return Err(ApiError::Validation(vec!["token: is required".to_owned()]));
    }
    let revoked = state
        .store
        .revoke_session_token(
            org,
            &chatcourse_storage::hash_api_key(token),
            state.clock.now(),
        )
        .await
        .map_err(ApiError::internal)?;
    Ok(ok(
        "Token revoked successfully",
        RevokeTokenData { revoked },
    ))
}

/// Deletes expired learner tokens now and then (they open nothing; their
/// rows only take room).
pub(crate) async fn sweep_expired(state: AppState, every: std::time::Duration) {
    // Not at start: the first sweep waits a whole interval.
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tokio::select! {
            () = state.shutdown.cancelled() => return,
            _ = tick.tick() => match state.store.delete_expired_session_tokens(state.clock.now()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(deleted = n, "expired learner tokens deleted"),
                Err(e) => tracing::warn!(error = %e, "cannot delete expired learner tokens"),
            },
        }
    }
}

/// `now + ttl` in whole seconds, so that the `expires_at` shown is exactly
/// the one stored.
fn expiry(now: DateTime<Utc>, ttl_seconds: i64) -> DateTime<Utc> {
    (now + Duration::seconds(ttl_seconds)).trunc_subsecs(0)
}

/// The session a learner token opens: `401 invalid_token` when the token
/// is unknown or expired.
pub(crate) async fn session_of(
    state: &AppState,
    token: &str,
) -> Result<chatcourse_storage::Session, ApiError> {
    state
        .store
        .find_session_by_token(&chatcourse_storage::hash_api_key(token), state.clock.now())
        .await
        .map_err(ApiError::internal)?
        .ok_or(ApiError::InvalidToken)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn tokens_are_unique_and_well_formed() {
        let a = generate();
        let b = generate();
        assert_ne!(a, b);
        assert_eq!(a.len(), TOKEN_PREFIX.len() + 64);
        assert!(a.starts_with(TOKEN_PREFIX));
        assert!(
            a[TOKEN_PREFIX.len()..]
                .chars()
                .all(|c| c.is_ascii_hexdigit())
        );
    }

    #[test]
    fn expiry_is_in_whole_seconds() {
        let now =
            Utc.with_ymd_and_hms(2026, 11, 24, 22, 59, 0).unwrap() + Duration::milliseconds(999);
        let at = expiry(now, DEFAULT_TTL_SECONDS);
        assert_eq!(
            at.to_rfc3339_opts(SecondsFormat::Micros, true),
            "2026-11-25T22:59:00.000000Z"
        );
    }
}
