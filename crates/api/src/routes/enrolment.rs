//! Customer subscription: enrol a customer in a module within a programme.

use axum::extract::State;

use crate::envelope::{Envelope, ok};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{JsonBody, check, parse_uuid};
use crate::state::{AppState, Org};
use crate::turns;
use crate::wire::{Enrol, EnrolData};

/// Longest accepted programme name, in characters.
const MAX_PROGRAM_NAME_CHARS: usize = 200;

/// Enrol a customer: creates the programme on first use of its identifier
/// (within the organisation), creates the session on the module's current
/// version and stores its enrolment message(s) as SENT. Enrolling again
/// while the session is live returns the same session.
#[utoipa::path(
    post,
    path = "/api/v1/fe/program/customer/add",
    tag = "enrolment",
    request_body = Enrol,
    responses(
        (status = 200, description = "Session created successfully", body = Envelope<EnrolData>),
        (status = 400, description = "Invalid input", body = ErrorBody),
        (status = 401, description = "Missing or wrong API key", body = ErrorBody),
        (status = 404, description = "Unknown customer (customer_not_found) or module (module_not_found)", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn add(
    State(state): State<AppState>,
    Org(org): Org,
    JsonBody(body): JsonBody<Enrol>,
) -> Result<Envelope<EnrolData>, ApiError> {
    let mut errors = Vec::new();
    let customer_uuid = parse_uuid("customer_uuid", &body.customer_uuid, &mut errors);
    if body.program_identifier < 0 {
        errors.push("program_identifier: must not be negative".to_owned());
    }
    if body.module.trim().is_empty() {
        errors.push("module: must not be empty".to_owned());
    }
    let program_name = body
        .program_name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty());
    let language = body
        .language
        .as_deref()
        .map(str::trim)
        .filter(|l| !l.is_empty());
    if let Some(tag) = language
        && !chatcourse_engine::is_language_tag(tag)
    {
        errors.push(format!(
            "language: `{}` is not a language tag (BCP 47), such as `en`, `sw-KE` or `fr-CM`",
            tag.chars().take(40).collect::<String>()
        ));
    }
    // The learner's time zone (for `wait` steps with a time of day): the
    // request's IANA name, else the server's `--timezone`.
    let timezone = match body.timezone.as_deref().map(str::trim) {
        Some(name) if !name.is_empty() => match name.parse::<chrono_tz::Tz>() {
            Ok(tz) => tz,
            Err(_) => {
                errors.push(format!(
                    "timezone: `{}` is not an IANA time zone name, such as `Africa/Nairobi` or `UTC`",
                    name.chars().take(60).collect::<String>()
                ));
                state.timezone
            }
        },
        _ => state.timezone,
    };
    if let Some(name) = program_name {
        if name.contains('\0') {
            errors.push("program_name: must not contain NUL characters".to_owned());
        } else if name.chars().count() > MAX_PROGRAM_NAME_CHARS {
            errors.push(format!(
                "program_name: must be at most {MAX_PROGRAM_NAME_CHARS} characters"
            ));
        }
    }
    check(errors)?;
    let customer_uuid = customer_uuid.ok_or(ApiError::CustomerNotFound)?;
    // A module the organisation owns first, then a shared one.
    let entry = state
        .catalogue
        .find_for(state.store.as_ref(), org, &body.module)
        .await?
        .ok_or(ApiError::ModuleNotFound)?;
    let customer = state
        .store
        .get_customer(org, customer_uuid)
        .await
        .map_err(ApiError::internal)?
        .ok_or(ApiError::CustomerNotFound)?;
    let programme = state
        .store
        .ensure_programme(org, body.program_identifier, state.clock.now())
        .await
        .map_err(ApiError::internal)?;
    if let Some(name) = program_name.filter(|n| *n != programme.name) {
        state
            .store
            .rename_programme(org, body.program_identifier, name)
            .await
            .map_err(ApiError::internal)?;
    }
    let session = turns::enrol(
        &state,
        &customer,
        &programme,
        &entry,
        (language, timezone.name()),
    )
    .await?;
    // The language and time zone the session runs in: chosen now, or when
    // an existing live session was first enrolled.
    let stored = chatcourse_engine::State::from_json(&session.state).ok();
    let timezone = stored
        .as_ref()
        .and_then(|s| s.timezone.clone())
        .unwrap_or_else(|| timezone.name().to_owned());
    let language = stored
        .map(|s| s.language)
        .unwrap_or_else(|| entry.module.resolve_language(language));
    Ok(ok(
        "Session created successfully",
        EnrolData {
            customer_uuid: customer.uuid.to_string(),
            session_uuid: session.uuid.to_string(),
            language: language.0,
            timezone,
        },
    ))
}
