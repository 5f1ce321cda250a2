//! The organisation's own settings (`/api/v1/fe/organisation/settings`):
//! its quiet hours (docs/channels.md).

use axum::extract::State;
use chatcourse_storage::QuietHours;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::envelope::{Envelope, ok};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{JsonBody, check};
use crate::quiet::Window;
use crate::state::{AppState, Org};

/// A daily window, in local time, in which nothing the bot starts by
/// itself (reminders, expiry notices, paced lessons) is sent: those wait
/// until it ends. Replies to a learner's own message go at once.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct QuietHoursData {
    /// `HH:MM`, 24-hour clock.
    #[schema(example = "21:00")]
    pub start: String,
    /// `HH:MM`; before `start` for a window across midnight.
    #[schema(example = "07:00")]
    pub end: String,
    /// IANA time zone of `start` and `end`; absent or `null`: the server's
    /// `--timezone`.
    #[schema(example = "Africa/Nairobi")]
    #[serde(default)]
    pub timezone: Option<String>,
}

/// The organisation's settings.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SettingsData {
    /// `null`: no quiet hours.
    #[serde(default)]
    pub quiet_hours: Option<QuietHoursData>,
}

/// Fetch the organisation's settings.
#[utoipa::path(
    get,
    path = "/api/v1/fe/organisation/settings",
    tag = "organisation",
    responses(
        (status = 200, description = "Settings successfully fetched", body = Envelope<SettingsData>),
        (status = 401, description = "Missing or wrong API key", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn fetch(
    State(state): State<AppState>,
    Org(org): Org,
) -> Result<Envelope<SettingsData>, ApiError> {
    let quiet = state
        .store
        .quiet_hours(org)
        .await
        .map_err(ApiError::internal)?;
    Ok(ok("Settings successfully fetched", settings(quiet)))
}

/// Replace the organisation's settings.
#[utoipa::path(
    put,
    path = "/api/v1/fe/organisation/settings",
    tag = "organisation",
    request_body = SettingsData,
    responses(
        (status = 200, description = "Settings successfully updated", body = Envelope<SettingsData>),
        (status = 400, description = "Invalid settings", body = ErrorBody),
        (status = 401, description = "Missing or wrong API key", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn update(
    State(state): State<AppState>,
    Org(org): Org,
    JsonBody(body): JsonBody<SettingsData>,
) -> Result<Envelope<SettingsData>, ApiError> {
    let quiet = match body.quiet_hours {
        Some(q) => {
            let mut errors = Vec::new();
            let timezone = q
                .timezone
                .as_deref()
                .map(str::trim)
                .filter(|t| !t.is_empty());
            let zone = match timezone.map(crate::config::parse_timezone) {
                Some(Ok(zone)) => zone,
                Some(Err(e)) => {
                    errors.push(format!("quiet_hours.timezone: {e}"));
                    state.timezone
                }
                None => state.timezone,
            };
            if let Err(e) = Window::new(&q.start, &q.end, zone) {
                errors.push(format!("quiet_hours: {e}"));
            }
            check(errors)?;
            Some(QuietHours {
                start: q.start.trim().to_owned(),
                end: q.end.trim().to_owned(),
                timezone: timezone.map(str::to_owned),
            })
        }
        None => None,
    };
    state
        .store
        .set_quiet_hours(org, quiet.as_ref())
        .await
        .map_err(ApiError::internal)?;
    Ok(ok("Settings successfully updated", settings(quiet)))
}

fn settings(quiet: Option<QuietHours>) -> SettingsData {
    SettingsData {
        quiet_hours: quiet.map(|q| QuietHoursData {
            start: q.start,
            end: q.end,
            timezone: q.timezone,
        }),
    }
}
