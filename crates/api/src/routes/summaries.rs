//! Summaries: a customer's sessions, one session in detail, a programme.

use axum::extract::State;
use chatcourse_storage::{Customer, ReportScope, SessionSummary};
use chrono_tz::Tz;

use crate::envelope::{Envelope, ok};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{QueryParams, check};
use crate::state::{AppState, Org};
use crate::time::{display, display_opt};
use crate::wire::{
    AnswerItem, CustomerSessionItem, DeliveryCounts, ProgramSummaryData, SessionSummaryData,
    percent, score,
};

fn session_item(s: &SessionSummary, contact_opted_out: bool, tz: Tz) -> CustomerSessionItem {
    // The language the session runs in (negotiated at enrolment) and its
    // step are kept in the engine's state, which the store does not read.
    let state = chatcourse_engine::State::from_json(&s.session.state).ok();
    CustomerSessionItem {
        session_uuid: s.session.uuid.to_string(),
        status: s.session.status.as_str(),
        program_name: s.programme_name.clone(),
        program_identifier: s.programme_identifier,
        last_active_date: display_opt(s.session.last_activity, tz),
        module_name: s.module_name.clone(),
        module_uuid: s.session.module_uuid.to_string(),
        pre_quiz_score: score(s.scores.pre),
        post_quiz_score: score(s.scores.post),
        date_enrolled: display(s.session.created_at, tz),
        contact_opted_out,
        language: state
            .as_ref()
            .map(|state| state.language.0.clone())
            .unwrap_or_default(),
        current_step: state.map(|state| state.step).unwrap_or_default(),
    }
}

/// Whether the customer's contact (phone) opted out of the organisation.
async fn contact_opted_out(state: &AppState, customer: &Customer) -> Result<bool, ApiError> {
    match &customer.phone_e164 {
        Some(phone) => state
            .store
            .opted_out(customer.org, phone)
            .await
            .map_err(ApiError::internal),
        None => Ok(false),
    }
}

/// Fetch customer summary: one item per session of the customer, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/fe/customer/summary",
    tag = "summaries",
    params(("customerUuid" = String, Query, description = "The customer's uuid")),
    responses(
        (status = 200, description = "Summary successfully fetched", body = Envelope<Vec<CustomerSessionItem>>),
        (status = 400, description = "Missing or invalid parameter", body = ErrorBody),
        (status = 401, description = "Missing or wrong API key", body = ErrorBody),
        (status = 404, description = "No such customer in this organisation", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn customer(
    State(state): State<AppState>,
    Org(org): Org,
    query: QueryParams,
) -> Result<Envelope<Vec<CustomerSessionItem>>, ApiError> {
    let mut errors = Vec::new();
    let uuid = query.uuid("customerUuid", &mut errors);
    check(errors)?;
    let uuid = uuid.ok_or(ApiError::CustomerNotFound)?;
    let customer = state
        .store
        .get_customer(org, uuid)
        .await
        .map_err(ApiError::internal)?
        .ok_or(ApiError::CustomerNotFound)?;
    let sessions = state
        .store
        .customer_sessions(org, customer.id)
        .await
        .map_err(ApiError::internal)?;
    let opted_out = contact_opted_out(&state, &customer).await?;
    let items = sessions
        .iter()
        .map(|s| session_item(s, opted_out, state.timezone))
        .collect();
    Ok(ok("Summary successfully fetched", items))
}

/// Fetch customer session summary: one session in detail.
#[utoipa::path(
    get,
    path = "/api/v1/fe/customer/session/summary",
    tag = "summaries",
    params(
        ("customerUuid" = String, Query, description = "The customer's uuid"),
        ("sessionUuid" = String, Query, description = "The session's uuid"),
    ),
    responses(
        (status = 200, description = "Summary successfully fetched", body = Envelope<SessionSummaryData>),
        (status = 400, description = "Missing or invalid parameter", body = ErrorBody),
        (status = 401, description = "Missing or wrong API key", body = ErrorBody),
        (status = 404, description = "No such session of this customer in this organisation", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn session(
    State(state): State<AppState>,
    Org(org): Org,
    query: QueryParams,
) -> Result<Envelope<SessionSummaryData>, ApiError> {
    let mut errors = Vec::new();
    let customer_uuid = query.uuid("customerUuid", &mut errors);
    let session_uuid = query.uuid("sessionUuid", &mut errors);
    check(errors)?;
    let (Some(customer_uuid), Some(session_uuid)) = (customer_uuid, session_uuid) else {
        return Err(ApiError::SessionNotFound);
    };
    let detail = state
        .store
        .session_detail(org, session_uuid)
        .await
        .map_err(ApiError::internal)?
        .filter(|d| d.summary.session.customer_uuid == customer_uuid)
        .ok_or(ApiError::SessionNotFound)?;
    let tz = state.timezone;
    let deliveries = state
        .store
        .message_deliveries(detail.summary.session.id, None, None)
        .await
        .map_err(ApiError::internal)?;
    let customer = state
        .store
        .get_customer(org, customer_uuid)
        .await
        .map_err(ApiError::internal)?
        .ok_or(ApiError::SessionNotFound)?;
    let opted_out = contact_opted_out(&state, &customer).await?;
    let version_hash = state
        .store
        .get_module_version(detail.summary.session.module_version)
        .await
        .map_err(ApiError::internal)?
        .map(|v| v.content_hash)
        .unwrap_or_default();
    let data = SessionSummaryData {
        session: session_item(&detail.summary, opted_out, tz),
        customer_uuid: customer_uuid.to_string(),
        module_version_hash: version_hash,
        message_count: detail.message_count,
        first_message_date: display_opt(detail.first_message_at, tz),
        last_message_date: display_opt(detail.last_message_at, tz),
        answers: detail
            .answers
            .iter()
            .map(|a| AnswerItem {
                quiz: a.quiz.as_str(),
                question_id: a.question_id.clone(),
                question: a.question.clone(),
                answer: a.answer.clone(),
                correct: a.correct,
                attempt: a.attempt,
                date_time: display(a.created_at, tz),
            })
            .collect(),
        delivery: DeliveryCounts::of(&deliveries),
    };
    Ok(ok("Summary successfully fetched", data))
}

/// Fetch program summary.
#[utoipa::path(
    get,
    path = "/api/v1/fe/program/summary",
    tag = "summaries",
    params(("programIdentifier" = i64, Query, description = "The programme's identifier (as in enrolments)")),
    responses(
        (status = 200, description = "Summary successfully fetched", body = Envelope<ProgramSummaryData>),
        (status = 400, description = "Missing or invalid parameter", body = ErrorBody),
        (status = 401, description = "Missing or wrong API key", body = ErrorBody),
        (status = 404, description = "No such programme in this organisation", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn program(
    State(state): State<AppState>,
    Org(org): Org,
    query: QueryParams,
) -> Result<Envelope<ProgramSummaryData>, ApiError> {
    let data = program_summary(&state, org, &query).await?;
    Ok(ok("Summary successfully fetched", data))
}

/// The summary of the programme named by `programIdentifier` (also read
/// by the dashboard).
pub(crate) async fn program_summary(
    state: &AppState,
    org: chatcourse_storage::OrgId,
    query: &QueryParams,
) -> Result<ProgramSummaryData, ApiError> {
    let identifier = program_identifier(query)?;
    let summary = state
        .store
        .programme_summary(org, identifier)
        .await
        .map_err(ApiError::internal)?
        .ok_or(ApiError::ProgramNotFound)?;
    Ok(summary_data(&summary, state.timezone))
}

/// The programme `identifier` (the `programIdentifier` parameter).
pub(crate) fn program_identifier(query: &QueryParams) -> Result<i64, ApiError> {
    match query.get("programIdentifier").map(str::trim) {
        None | Some("") => Err(vec!["programIdentifier: is required".to_owned()]),
        Some(raw) => raw
            .parse::<i64>()
            .map_err(|_| vec!["programIdentifier: must be an integer".to_owned()]),
    }
    .map_err(ApiError::Validation)
}

/// A programme summary on the wire, times shown in `tz`.
pub fn summary_data(summary: &chatcourse_storage::ProgrammeSummary, tz: Tz) -> ProgramSummaryData {
    let pre = summary.average_pre_score.map(percent);
    let post = summary.average_post_score.map(percent);
    ProgramSummaryData {
        program_identifier: summary.programme.identifier,
        program_name: summary.programme.name.clone(),
        date_created: display(summary.programme.created_at, tz),
        enrolled: summary.enrolled,
        active: summary.pending + summary.in_progress,
        pending: summary.pending,
        in_progress: summary.in_progress,
        completed: summary.completed,
        opted_out: summary.opted_out,
        expired: summary.expired,
        average_pre_score: pre,
        average_post_score: post,
        knowledge_gain: pre
            .zip(post)
            .map(|(pre, post)| percent((post - pre) / 100.0)),
        pre_quiz_completed: summary.pre_quiz_completed,
        pre_quiz_in_progress: summary.pre_quiz_in_progress,
        post_quiz_completed: summary.post_quiz_completed,
        post_quiz_in_progress: summary.post_quiz_in_progress,
        paired_learners: summary.paired,
        paired_average_pre_score: summary.paired_pre_score.map(percent),
        paired_average_post_score: summary.paired_post_score.map(percent),
        paired_knowledge_gain: summary
            .paired_pre_score
            .zip(summary.paired_post_score)
            .map(|(pre, post)| percent(post - pre)),
    }
}

/// The query parameters of a report's scope.
const SCOPE_PARAMS: [(&str, usize); 3] = [("module", 200), ("version", 200), ("language", 35)];

/// The sessions a report covers, from `module`, `version`, `language`,
/// `from` and `until` (enrolment times; dates are days in `tz`).
pub(crate) fn report_scope(query: &QueryParams, tz: Tz) -> Result<ReportScope, ApiError> {
    use super::exports::{Edge, time_param};
    let mut errors = Vec::new();
    let mut text = |name: &str, max: usize| -> Option<String> {
        let value = query.get(name).map(str::trim).filter(|v| !v.is_empty())?;
        if value.chars().count() > max || value.chars().any(char::is_control) {
            errors.push(format!(
                "{name}: must be at most {max} printable characters"
            ));
            return None;
        }
        Some(value.to_owned())
    };
    let [module, version, language] = SCOPE_PARAMS.map(|(name, max)| text(name, max));
    let from = time_param(query, "from", Edge::Start, tz, &mut errors);
    let until = time_param(query, "until", Edge::End, tz, &mut errors);
    if let (Some(from), Some(until)) = (from, until)
        && from >= until
    {
        errors.push("until: must be later than from".to_owned());
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    Ok(ReportScope {
        module,
        version,
        language,
        from,
        until,
    })
}

/// The report of the programme named by `programIdentifier` over the
/// scope the query gives (also read by the dashboard).
pub(crate) async fn program_report(
    state: &AppState,
    org: chatcourse_storage::OrgId,
    query: &QueryParams,
) -> Result<crate::report::ProgramReportData, ApiError> {
    let identifier = program_identifier(query);
    let scope = report_scope(query, state.timezone);
    let (identifier, scope) = match (identifier, scope) {
        (Ok(identifier), Ok(scope)) => (identifier, scope),
        (Err(ApiError::Validation(mut a)), Err(ApiError::Validation(b))) => {
            a.extend(b);
            return Err(ApiError::Validation(a));
        }
        (Err(e), _) | (_, Err(e)) => return Err(e),
    };
    crate::report::programme_report(
        state.store.as_ref(),
        org,
        identifier,
        &scope,
        state.timezone,
    )
    .await?
    .ok_or(ApiError::ProgramNotFound)
}

/// Fetch program report: the summary, the item analysis per question, the
/// funnel per step, breakdowns and figures over time, optionally over the
/// sessions of one module, version, language or enrolment period.
#[utoipa::path(
    get,
    path = "/api/v1/fe/program/report",
    tag = "summaries",
    params(
        ("programIdentifier" = i64, Query, description = "The programme's identifier (as in enrolments)"),
        ("module" = Option<String>, Query, description = "Only sessions of this module (its id)"),
        ("version" = Option<String>, Query, description = "Only sessions of this module version (its content hash, as listed in `filters.versions`)"),
        ("language" = Option<String>, Query, description = "Only sessions in this language"),
        ("from" = Option<String>, Query, description = "Only sessions enrolled at or after this time: RFC 3339, or a date `dd/MM/yyyy` / `yyyy-MM-dd` meaning its start in the server's zone"),
        ("until" = Option<String>, Query, description = "Only sessions enrolled before this time: RFC 3339, or a date meaning its end (the whole day is included)"),
    ),
    responses(
        (status = 200, description = "Report successfully fetched", body = Envelope<crate::report::ProgramReportData>),
        (status = 400, description = "Missing or invalid parameter", body = ErrorBody),
        (status = 401, description = "Missing or wrong API key", body = ErrorBody),
        (status = 404, description = "No such programme in this organisation", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn report(
    State(state): State<AppState>,
    Org(org): Org,
    query: QueryParams,
) -> Result<Envelope<crate::report::ProgramReportData>, ApiError> {
    let data = program_report(&state, org, &query).await?;
    Ok(ok("Report successfully fetched", data))
}
