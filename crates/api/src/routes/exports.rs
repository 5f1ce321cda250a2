//! Streaming exports of a programme for analysts: every message
//! (`/api/v1/fe/program/export/messages`), every recorded quiz answer
//! (`/api/v1/fe/program/export/answers`) and every session's scores
//! (`/api/v1/fe/program/export/scores`), as NDJSON or CSV.
//!
//! The rows come from the store's streamed reads and are encoded in
//! batches as they arrive (`Body::from_stream`): memory stays bounded
//! whatever the size of the programme. Problems found before the first
//! byte (parameters, unknown programme, a database that fails at once) are
//! ordinary error envelopes. A database error after the first byte ends an
//! NDJSON body with one line `{"error": {...}}` ([`ERROR_LINE`]) and aborts
//! a CSV body (the connection is closed without the final chunk), so a
//! truncated export is never mistaken for a complete one.
//!
//! The store reads an export in keyset pages, holding a pooled connection
//! only for each page's query, so a client that reads slowly (or never)
//! holds no connection. The running exports are bounded per organisation
//! and in total ([`ExportSlots`]); beyond that, `429 too_many_exports`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::HeaderValue;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE, RETRY_AFTER};
use axum::response::{IntoResponse, Response};
use chatcourse_storage::{
    AnswerExportRow, ExportFilter, ExportRow, OrgId, SessionExportRow, StoreError,
};
use chrono::{DateTime, NaiveDate, NaiveTime, SecondsFormat, TimeZone, Utc};
use chrono_tz::Tz;
use futures::stream::{self, BoxStream, Stream, StreamExt};
use serde::Serialize;

use crate::config::ExportLimits;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{QueryParams, check};
use crate::state::{AppState, Org};
use crate::time::{display, display_opt};
use crate::wire::{AnswerExportLine, MessageExportLine, ScoreExportLine, score};

mod cells;

use cells::Cells;

/// Rows encoded into one chunk of the body at most (those already
/// available; a chunk never waits for more rows).
const BATCH: usize = 256;

/// The last line of an NDJSON export that failed part-way. The lines before
/// it are complete; the export is not.
pub const ERROR_LINE: &str = "{\"error\":{\"status\":500,\"code\":\"internal_error\",\"message\":\"The export failed part-way; the lines before this one are complete, the export is not\"}}\n";

/// Seconds a client refused with `429 too_many_exports` is told to wait
/// (`Retry-After`).
pub const EXPORT_RETRY_AFTER_SECONDS: u32 = 10;

/// The running exports, counted per organisation and in total.
#[derive(Debug, Clone)]
pub(crate) struct ExportSlots {
    limits: ExportLimits,
    running: Arc<Mutex<Running>>,
}

#[derive(Debug, Default)]
struct Running {
    total: usize,
    per_org: HashMap<OrgId, usize>,
}

/// One running export: released when dropped (the body ended, or its
/// client went away).
#[derive(Debug)]
pub(crate) struct ExportSlot {
    org: OrgId,
    running: Arc<Mutex<Running>>,
}

impl ExportSlots {
    pub(crate) fn new(limits: ExportLimits) -> ExportSlots {
        ExportSlots {
            limits,
            running: Arc::default(),
        }
    }

    /// A slot for an export of `org`, or `429 too_many_exports` when the
    /// organisation, or the server, runs as many as it may.
    fn acquire(&self, org: OrgId) -> Result<ExportSlot, ApiError> {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        let of_org = running.per_org.get(&org).copied().unwrap_or(0);
        if of_org >= self.limits.per_org || running.total >= self.limits.total {
            return Err(ApiError::TooManyExports);
        }
        running.total += 1;
        running.per_org.insert(org, of_org + 1);
        Ok(ExportSlot {
            org,
            running: Arc::clone(&self.running),
        })
    }
}

impl Drop for ExportSlot {
    fn drop(&mut self) {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        running.total = running.total.saturating_sub(1);
        if let Some(n) = running.per_org.get_mut(&self.org) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                running.per_org.remove(&self.org);
            }
        }
    }
}

/// `429 too_many_exports` with `Retry-After`.
fn too_many_exports() -> Response {
    let mut response = ApiError::TooManyExports.into_response();
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(EXPORT_RETRY_AFTER_SECONDS));
    response
}

/// The body format, from `format=ndjson|csv` (default NDJSON).
/// An export's file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Ndjson,
    Csv,
}

impl Format {
    fn content_type(self) -> &'static str {
        match self {
            Format::Ndjson => "application/x-ndjson",
            Format::Csv => "text/csv; charset=utf-8",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            Format::Ndjson => "ndjson",
            Format::Csv => "csv",
        }
    }
}

/// A line of an export: a JSON object (NDJSON) or a CSV record, both
/// serialized by serde from the same struct (the CSV record through the
/// `csv` crate), so the fields are the same, in the same order.
/// A line of an export: its serde fields are its CSV columns, in order.
pub trait Line: Serialize + Send + 'static {
    /// The CSV header: the serialized field names, in order (written even
    /// when there is no record; a test checks it against serde's header).
    const COLUMNS: &'static [&'static str];
}

impl Line for MessageExportLine {
    const COLUMNS: &'static [&'static str] = &[
        "id",
        "message",
        "session_uuid",
        "message_type",
        "date_time",
        "timestamp",
        "customer_uuid",
        "module_uuid",
        "program_identifier",
    ];
}

impl Line for AnswerExportLine {
    const COLUMNS: &'static [&'static str] = &[
        "id",
        "session_uuid",
        "customer_uuid",
        "module_uuid",
        "module_version_hash",
        "program_identifier",
        "quiz",
        "question_id",
        "question",
        "answer",
        "correct",
        "attempt",
        "matched_by",
        "date_time",
        "timestamp",
    ];
}

impl Line for ScoreExportLine {
    const COLUMNS: &'static [&'static str] = &[
        "session_uuid",
        "customer_uuid",
        "full_name",
        "phone",
        "module_uuid",
        "module_name",
        "status",
        "pre_quiz_score",
        "pre_quiz_correct",
        "pre_quiz_total",
        "post_quiz_score",
        "post_quiz_correct",
        "post_quiz_total",
        "date_enrolled",
        "last_active_date",
        "pre_quiz_answered",
        "post_quiz_answered",
        "language",
        "current_step",
        "messages_queued",
        "messages_sent",
        "messages_delivered",
        "messages_failed",
    ];
}

/// Export a programme's messages, by session then id.
///
/// Every message of the organisation's sessions in the programme, in the
/// optional time range `[from, until)`, one per line.
#[utoipa::path(
    get,
    path = "/api/v1/fe/program/export/messages",
    tag = "exports",
    params(
        ("programIdentifier" = i64, Query, description = "The programme's identifier (as in enrolments)"),
        ("from" = Option<String>, Query, description = "Only messages at or after this time: RFC 3339 (`2026-11-01T00:00:00Z`), or a date `dd/MM/yyyy` / `yyyy-MM-dd` meaning its start in the server's zone"),
        ("until" = Option<String>, Query, description = "Only messages before this time: RFC 3339, or a date meaning its end (the whole day is included)"),
        ("format" = Option<String>, Query, description = "`ndjson` (default) or `csv`"),
    ),
    responses(
        (status = 200, description = "A stream of lines, one per message, by session then id; NDJSON lines are MessageExportLine objects, CSV has a header line. An NDJSON export that fails part-way ends with a line {\"error\": {\"status\", \"code\", \"message\"}}; a CSV export that fails part-way is aborted.",
            content(
                (MessageExportLine = "application/x-ndjson"),
                (String = "text/csv"),
            )),
        (status = 400, description = "Missing or invalid parameter", body = ErrorBody),
        (status = 401, description = "Missing or wrong API key", body = ErrorBody),
        (status = 404, description = "No such programme in this organisation", body = ErrorBody),
        (status = 429, description = "Too many exports running (`too_many_exports`, with `Retry-After`)", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn messages(
    State(state): State<AppState>,
    Org(org): Org,
    query: QueryParams,
) -> Result<Response, ApiError> {
    let tz = state.timezone;
    let export = match ranged(&state, org, &query).await? {
        Ok(export) => export,
        Err(busy) => return Ok(busy),
    };
    let lines = state
        .store
        .export_transcripts(org, export.filter.clone())
        .map(move |row| row.map(|row| message_line(row, tz)));
    export.respond("messages", lines).await
}

/// A ranged export about to start: its format, its filter (of an existing
/// programme) and its slot.
struct Ranged {
    format: Format,
    filter: ExportFilter,
    slot: ExportSlot,
}

impl Ranged {
    async fn respond<L: Line>(
        self,
        kind: &'static str,
        lines: impl Stream<Item = Result<L, StoreError>> + Send + Unpin + 'static,
    ) -> Result<Response, ApiError> {
        let identifier = self.filter.programme.unwrap_or_default();
        respond(self.format, kind, identifier, self.slot, lines).await
    }
}

/// The parameters of a ranged export (`programIdentifier`, `format`,
/// `from`, `until`) checked, and a slot for it: `Ok(Err(429 response))`
/// when there is none.
async fn ranged(
    state: &AppState,
    org: OrgId,
    query: &QueryParams,
) -> Result<Result<Ranged, Response>, ApiError> {
    let tz = state.timezone;
    let mut errors = Vec::new();
    let identifier = program_identifier(query, &mut errors);
    let format = format(query, &mut errors);
    let from = time_param(query, "from", Edge::Start, tz, &mut errors);
    let until = time_param(query, "until", Edge::End, tz, &mut errors);
    if let (Some(from), Some(until)) = (from, until)
        && from >= until
    {
        errors.push("until: must be later than from".to_owned());
    }
    check(errors)?;
    let identifier = existing_programme(state, org, identifier).await?;
    let Ok(slot) = state.exports.acquire(org) else {
        return Ok(Err(too_many_exports()));
    };
    Ok(Ok(Ranged {
        format,
        filter: ExportFilter {
            programme: Some(identifier),
            from,
            until,
        },
        slot,
    }))
}

/// Export a programme's quiz answers: one tidy line per recorded answer,
/// by session then answer.
///
/// Every answer ever recorded (across restarts), of the organisation's
/// sessions in the programme, in the optional time range `[from, until)`.
#[utoipa::path(
    get,
    path = "/api/v1/fe/program/export/answers",
    tag = "exports",
    params(
        ("programIdentifier" = i64, Query, description = "The programme's identifier (as in enrolments)"),
        ("from" = Option<String>, Query, description = "Only answers at or after this time (as for the messages export)"),
        ("until" = Option<String>, Query, description = "Only answers before this time (as for the messages export)"),
        ("format" = Option<String>, Query, description = "`ndjson` (default) or `csv`"),
    ),
    responses(
        (status = 200, description = "A stream of lines, one per recorded answer, by session then id; NDJSON lines are AnswerExportLine objects, CSV has a header line. Failures part-way as for the messages export.",
            content(
                (AnswerExportLine = "application/x-ndjson"),
                (String = "text/csv"),
            )),
        (status = 400, description = "Missing or invalid parameter", body = ErrorBody),
        (status = 401, description = "Missing or wrong API key", body = ErrorBody),
        (status = 404, description = "No such programme in this organisation", body = ErrorBody),
        (status = 429, description = "Too many exports running (`too_many_exports`, with `Retry-After`)", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn answers(
    State(state): State<AppState>,
    Org(org): Org,
    query: QueryParams,
) -> Result<Response, ApiError> {
    let tz = state.timezone;
    let export = match ranged(&state, org, &query).await? {
        Ok(export) => export,
        Err(busy) => return Ok(busy),
    };
    let lines = state
        .store
        .export_answers(org, export.filter.clone())
        .map(move |row| row.map(|row| answer_line(row, tz)));
    export.respond("answers", lines).await
}

/// Export a programme's scores: one line per session, by session.
#[utoipa::path(
    get,
    path = "/api/v1/fe/program/export/scores",
    tag = "exports",
    params(
        ("programIdentifier" = i64, Query, description = "The programme's identifier (as in enrolments)"),
        ("format" = Option<String>, Query, description = "`ndjson` (default) or `csv`"),
    ),
    responses(
        (status = 200, description = "A stream of lines, one per session of the programme in enrolment order; NDJSON lines are ScoreExportLine objects, CSV has a header line. Failures part-way as for the messages export.",
            content(
                (ScoreExportLine = "application/x-ndjson"),
                (String = "text/csv"),
            )),
        (status = 400, description = "Missing or invalid parameter", body = ErrorBody),
        (status = 401, description = "Missing or wrong API key", body = ErrorBody),
        (status = 404, description = "No such programme in this organisation", body = ErrorBody),
        (status = 429, description = "Too many exports running (`too_many_exports`, with `Retry-After`)", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn scores(
    State(state): State<AppState>,
    Org(org): Org,
    query: QueryParams,
) -> Result<Response, ApiError> {
    let tz = state.timezone;
    let mut errors = Vec::new();
    let identifier = program_identifier(&query, &mut errors);
    let format = format(&query, &mut errors);
    check(errors)?;
    let identifier = existing_programme(&state, org, identifier).await?;
    let Ok(slot) = state.exports.acquire(org) else {
        return Ok(too_many_exports());
    };
    let lines = state
        .store
        .export_sessions(org, identifier)
        .map(move |row| row.map(|row| score_line(row, tz)));
    respond(format, "scores", identifier, slot, lines).await
}

/// The identifier of a programme of `org` (404 when there is none), checked
/// before the first byte so that the error is an envelope, not a cut stream.
async fn existing_programme(
    state: &AppState,
    org: OrgId,
    identifier: Option<i64>,
) -> Result<i64, ApiError> {
    let identifier = identifier.ok_or(ApiError::ProgramNotFound)?;
    state
        .store
        .get_programme(org, identifier)
        .await
        .map_err(ApiError::internal)?
        .ok_or(ApiError::ProgramNotFound)?;
    Ok(identifier)
}

pub fn message_line(row: ExportRow, tz: Tz) -> MessageExportLine {
    let m = row.message;
    MessageExportLine {
        id: m.id.0,
        session_uuid: m.session_uuid.to_string(),
        message_type: m.direction.as_str(),
        date_time: display(m.created_at, tz),
        timestamp: m.created_at.to_rfc3339_opts(SecondsFormat::Micros, true),
        customer_uuid: row.customer_uuid.to_string(),
        module_uuid: row.module_uuid.to_string(),
        program_identifier: row.programme_identifier,
        message: m.text,
    }
}

pub fn answer_line(row: AnswerExportRow, tz: Tz) -> AnswerExportLine {
    let a = row.answer;
    AnswerExportLine {
        id: row.id,
        session_uuid: row.session_uuid.to_string(),
        customer_uuid: row.customer_uuid.to_string(),
        module_uuid: row.module_uuid.to_string(),
        module_version_hash: row.module_version_hash,
        program_identifier: row.programme_identifier,
        quiz: a.quiz.as_str(),
        question_id: a.question_id,
        question: a.question,
        answer: a.answer,
        correct: a.correct,
        attempt: a.attempt,
        matched_by: a.matched_by,
        date_time: display(a.created_at, tz),
        timestamp: a.created_at.to_rfc3339_opts(SecondsFormat::Micros, true),
    }
}

pub fn score_line(row: SessionExportRow, tz: Tz) -> ScoreExportLine {
    let s = row.summary;
    // The language and the step are in the engine's state, which the
    // store does not read.
    let state = chatcourse_engine::State::from_json(&s.session.state).ok();
    ScoreExportLine {
        session_uuid: s.session.uuid.to_string(),
        customer_uuid: s.session.customer_uuid.to_string(),
        full_name: row.customer_full_name,
        phone: row.customer_phone,
        module_uuid: s.session.module_uuid.to_string(),
        module_name: s.module_name,
        status: s.session.status.as_str(),
        pre_quiz_score: score(s.scores.pre),
        pre_quiz_correct: s.scores.pre.correct,
        pre_quiz_total: s.scores.pre.total,
        post_quiz_score: score(s.scores.post),
        post_quiz_correct: s.scores.post.correct,
        post_quiz_total: s.scores.post.total,
        date_enrolled: display(s.session.created_at, tz),
        last_active_date: display_opt(s.session.last_activity, tz),
        pre_quiz_answered: s.scores.pre.answered,
        post_quiz_answered: s.scores.post.answered,
        language: state
            .as_ref()
            .map(|state| state.language.0.clone())
            .unwrap_or_default(),
        current_step: state.map(|state| state.step).unwrap_or_default(),
        messages_queued: row.delivery.queued,
        messages_sent: row.delivery.sent,
        messages_delivered: row.delivery.delivered,
        messages_failed: row.delivery.failed,
    }
}

/// `programIdentifier`: a required integer.
fn program_identifier(query: &QueryParams, errors: &mut Vec<String>) -> Option<i64> {
    match query.get("programIdentifier").map(str::trim) {
        None | Some("") => {
            errors.push("programIdentifier: is required".to_owned());
            None
        }
        Some(raw) => raw.parse().ok().or_else(|| {
            errors.push("programIdentifier: must be an integer".to_owned());
            None
        }),
    }
}

/// `format`: `ndjson` (the default) or `csv`, in any case.
fn format(query: &QueryParams, errors: &mut Vec<String>) -> Format {
    match query.get("format").map(|f| f.trim().to_ascii_lowercase()) {
        None => Format::Ndjson,
        Some(f) if f.is_empty() || f == "ndjson" => Format::Ndjson,
        Some(f) if f == "csv" => Format::Csv,
        Some(_) => {
            errors.push("format: must be ndjson or csv".to_owned());
            Format::Ndjson
        }
    }
}

/// Which end of a range a date names.
#[derive(Debug, Clone, Copy)]
pub enum Edge {
    /// The start of the day.
    Start,
    /// The end of the day (the start of the next): the day is included.
    End,
}

/// An optional time parameter: RFC 3339 (`2026-11-01T00:00:00Z`,
/// `2026-11-01T03:00:00+03:00`), or a date (`01/11/2026` or `2026-11-01`)
/// taken in `tz` at the start (`from`) or end (`until`) of that day.
pub(crate) fn time_param(
    query: &QueryParams,
    name: &str,
    edge: Edge,
    tz: Tz,
    errors: &mut Vec<String>,
) -> Option<DateTime<Utc>> {
    let raw = query.get(name)?.trim();
    if raw.is_empty() {
        return None;
    }
    let parsed = parse_bound(raw, edge, tz);
    if parsed.is_none() {
        errors.push(format!(
            "{name}: must be an RFC 3339 time (2026-11-01T00:00:00Z) or a date (01/11/2026), in the years {} to {}",
            BOUND_YEARS.start(),
            BOUND_YEARS.end()
        ));
    }
    parsed
}

/// The years a range's bound may fall in (both backends store them).
pub const BOUND_YEARS: std::ops::RangeInclusive<i32> = 1900..=9999;

/// A range's bound: RFC 3339, or a date (`01/11/2026`, `2026-11-01`)
/// meaning the start (`Edge::Start`) or the end (`Edge::End`) of that day
/// in `tz`, in [`BOUND_YEARS`]; `None` otherwise.
pub fn parse_bound(raw: &str, edge: Edge, tz: Tz) -> Option<DateTime<Utc>> {
    use chrono::Datelike;
    parse_any_bound(raw, edge, tz).filter(|at| BOUND_YEARS.contains(&at.year()))
}

fn parse_any_bound(raw: &str, edge: Edge, tz: Tz) -> Option<DateTime<Utc>> {
    match DateTime::parse_from_rfc3339(raw) {
        Ok(at) => Some(at.with_timezone(&Utc)),
        Err(_) => NaiveDate::parse_from_str(raw, "%d/%m/%Y")
            .or_else(|_| NaiveDate::parse_from_str(raw, "%Y-%m-%d"))
            .ok()
            .and_then(|day| match edge {
                Edge::Start => Some(day),
                Edge::End => day.succ_opt(),
            })
            .and_then(|day| start_of_day(day, tz)),
    }
}

/// The first instant of `day` in `tz` (in a zone whose clocks skip
/// midnight, the first existing time after it).
fn start_of_day(day: NaiveDate, tz: Tz) -> Option<DateTime<Utc>> {
    let midnight = day.and_time(NaiveTime::MIN);
    (0..=2)
        .find_map(|hours| {
            tz.from_local_datetime(&(midnight + chrono::Duration::hours(hours)))
                .earliest()
        })
        .map(|at| at.with_timezone(&Utc))
}

/// The streamed response. The first row is awaited before answering, so a
/// database that fails at once gets the ordinary 500 envelope.
async fn respond<L: Line>(
    format: Format,
    kind: &'static str,
    identifier: i64,
    slot: ExportSlot,
    lines: impl Stream<Item = Result<L, StoreError>> + Send + Unpin + 'static,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    // Fused: an empty stream has ended here and must not be polled again.
    let mut lines = lines.fuse();
    let first = match lines.next().await {
        Some(Err(e)) => return Err(ApiError::internal(e)),
        first => first,
    };
    let lines = stream::iter(first).chain(lines).boxed();
    let log = ExportLog {
        kind,
        identifier,
        started,
        _slot: Some(slot),
    };
    let filename = format!(
        "attachment; filename=\"program-{identifier}-{kind}.{}\"",
        format.extension()
    );
    Ok((
        [
            (CONTENT_TYPE, format.content_type().to_owned()),
            (CONTENT_DISPOSITION, filename),
        ],
        body(format, lines, log),
    )
        .into_response())
}

/// Logs the end of an export, and holds its slot until the body is done.
struct ExportLog {
    kind: &'static str,
    identifier: i64,
    started: Instant,
    _slot: Option<ExportSlot>,
}

impl ExportLog {
    fn finished(&self, rows: u64) {
        tracing::info!(
            export = self.kind,
            program_identifier = self.identifier,
            rows,
            micros = self.started.elapsed().as_micros() as u64,
            "export finished"
        );
    }

    fn failed(&self, rows: u64, error: &dyn std::fmt::Display) {
        tracing::error!(
            export = self.kind,
            program_identifier = self.identifier,
            rows,
            %error,
            "export failed part-way"
        );
    }
}

/// Where the body's stream stands.
enum Stage<L> {
    Rows {
        lines: BoxStream<'static, Result<L, StoreError>>,
        encoder: Encoder,
        rows: u64,
        log: ExportLog,
    },
    /// Send the error that aborts the body, then stop.
    Abort(std::io::Error),
    Done,
}

/// Encodes lines into the bytes of the next chunk: each chunk's records
/// are written into one buffer (through one CSV writer), which becomes the
/// chunk.
pub enum Encoder {
    Ndjson(Vec<u8>),
    /// The writer and the cells of the line being written (text cells
    /// neutralised against formula injection: [`cells`]).
    Csv(Box<(csv::Writer<Vec<u8>>, Cells)>),
}

impl Encoder {
    /// A new encoder; a CSV one starts with the header record.
    pub fn new<L: Line>(format: Format) -> Result<Encoder, csv::Error> {
        Ok(match format {
            Format::Ndjson => Encoder::Ndjson(Vec::new()),
            Format::Csv => {
                let mut writer = csv_writer(Vec::new());
                writer.write_record(L::COLUMNS)?;
                Encoder::Csv(Box::new((writer, Cells::default())))
            }
        })
    }

    /// Encodes one line.
    pub fn line<L: Line>(&mut self, line: &L) -> Result<(), String> {
        match self {
            Encoder::Ndjson(out) => {
                serde_json::to_writer(&mut *out, line).map_err(|e| e.to_string())?;
                out.push(b'\n');
            }
            Encoder::Csv(csv) => {
                let (writer, cells) = &mut **csv;
                cells.read(line).map_err(|e| e.to_string())?;
                writer
                    .write_record(cells.iter())
                    .map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    }

    /// The NDJSON line that ends an export that failed part-way.
    fn error_line(&mut self) {
        if let Encoder::Ndjson(out) = self {
            out.extend_from_slice(ERROR_LINE.as_bytes());
        }
    }

    /// Writes the bytes encoded since the last call to `out`, then keeps
    /// the emptied buffer for the next lines (a file export reuses one
    /// buffer instead of growing a new one per batch).
    pub fn write_to(&mut self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        let mut buffer = self.drain();
        out.write_all(&buffer)?;
        buffer.clear();
        match self {
            Encoder::Ndjson(out) => *out = buffer,
            Encoder::Csv(csv) => csv.0 = csv_writer(buffer),
        }
        Ok(())
    }

    /// The bytes encoded since the last call.
    pub fn take(&mut self) -> Bytes {
        Bytes::from(self.drain())
    }

    /// The bytes encoded since the last call, leaving an empty buffer.
    fn drain(&mut self) -> Vec<u8> {
        match self {
            Encoder::Ndjson(out) => std::mem::take(out),
            Encoder::Csv(csv) => {
                let writer = std::mem::replace(&mut csv.0, csv_writer(Vec::new()));
                // Flushing into a Vec cannot fail.
                writer.into_inner().unwrap_or_default()
            }
        }
    }
}

/// The CSV writer of the exports: RFC 4180 records ending with CRLF, a
/// field quoted only when it holds a comma, a double quote, CR or LF.
fn csv_writer<W: std::io::Write>(out: W) -> csv::Writer<W> {
    csv::WriterBuilder::new()
        .has_headers(false)
        .terminator(csv::Terminator::CRLF)
        .from_writer(out)
}

/// The body: batches of encoded lines as rows arrive.
fn body<L: Line>(
    format: Format,
    lines: BoxStream<'static, Result<L, StoreError>>,
    log: ExportLog,
) -> Body {
    let start = match Encoder::new::<L>(format) {
        Ok(encoder) => Stage::Rows {
            lines,
            encoder,
            rows: 0,
            log,
        },
        Err(error) => {
            log.failed(0, &error);
            Stage::Abort(std::io::Error::other("export failed"))
        }
    };
    // Fused: some readers of the body (the gzip encoder) poll once more
    // after the end.
    Body::from_stream(stream::unfold(start, next_chunk).fuse())
}

async fn next_chunk<L: Line>(stage: Stage<L>) -> Option<(Result<Bytes, std::io::Error>, Stage<L>)> {
    let (mut lines, mut encoder, mut rows, log) = match stage {
        Stage::Rows {
            lines,
            encoder,
            rows,
            log,
        } => (lines, encoder, rows, log),
        Stage::Abort(error) => return Some((Err(error), Stage::Done)),
        Stage::Done => return None,
    };
    // Wait for one row, then take those already available, up to BATCH.
    let mut next = lines.next().await;
    let mut taken = 0;
    loop {
        let failure = match next {
            None => {
                log.finished(rows);
                let out = encoder.take();
                return (!out.is_empty()).then_some((Ok(out), Stage::Done));
            }
            Some(Ok(line)) => encoder.line(&line).err(),
            Some(Err(error)) => Some(error.to_string()),
        };
        if let Some(error) = failure {
            log.failed(rows, &error);
            return Some(match encoder {
                Encoder::Ndjson(_) => {
                    encoder.error_line();
                    (Ok(encoder.take()), Stage::Done)
                }
                Encoder::Csv(_) => (
                    Ok(encoder.take()),
                    Stage::Abort(std::io::Error::other("export failed part-way")),
                ),
            });
        }
        rows += 1;
        taken += 1;
        if taken == BATCH {
            break;
        }
        match futures::FutureExt::now_or_never(lines.next()) {
            Some(item) => next = item,
            None => break,
        }
    }
    Some((
        Ok(encoder.take()),
        Stage::Rows {
            lines,
            encoder,
            rows,
            log,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Row {
        n: i64,
        text: String,
    }

    impl Line for Row {
        const COLUMNS: &'static [&'static str] = &["n", "text"];
    }

    fn rows(n: i64, fail: bool) -> BoxStream<'static, Result<Row, StoreError>> {
        let ok = (0..n).map(|n| {
            Ok(Row {
                n,
                text: format!("a, \"b\"\nc {n}"),
            })
        });
        let err = fail.then(|| Err(StoreError::Corrupt("disk on fire".to_owned())));
        stream::iter(ok.chain(err)).boxed()
    }

    fn log() -> ExportLog {
        ExportLog {
            kind: "test",
            identifier: 1,
            started: Instant::now(),
            _slot: None,
        }
    }

    async fn collect(format: Format, n: i64, fail: bool) -> Result<String, axum::Error> {
        let bytes = axum::body::to_bytes(body(format, rows(n, fail), log()), usize::MAX).await?;
        Ok(String::from_utf8(bytes.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn ndjson_lines_and_a_final_error_line() {
        let text = collect(Format::Ndjson, 600, false).await.unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 600);
        assert_eq!(lines[0], r#"{"n":0,"text":"a, \"b\"\nc 0"}"#);
        assert!(text.ends_with("}\n"));

        let text = collect(Format::Ndjson, 300, true).await.unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 301);
        let last: serde_json::Value = serde_json::from_str(lines[300]).unwrap();
        assert_eq!(last["error"]["code"], "internal_error");
        assert_eq!(last["error"]["status"], 500);
        assert!(
            !text.contains("disk on fire"),
            "the cause is logged, not shown"
        );
    }

    #[tokio::test]
    async fn csv_has_a_header_quotes_fields_and_aborts_on_error() {
        let text = collect(Format::Csv, 2, false).await.unwrap();
        assert_eq!(
            text,
            "n,text\r\n0,\"a, \"\"b\"\"\nc 0\"\r\n1,\"a, \"\"b\"\"\nc 1\"\r\n"
        );
        assert_eq!(collect(Format::Csv, 0, false).await.unwrap(), "n,text\r\n");
        assert_eq!(collect(Format::Ndjson, 0, false).await.unwrap(), "");
        assert!(collect(Format::Csv, 300, true).await.is_err());
    }

    /// The raw HTTP/1.1 response of a server whose only route answers with
    /// `body(format, 300 rows, then an error a little later)`.
    async fn raw_response(format: Format) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let app = axum::Router::new().route(
            "/",
            axum::routing::get(move || async move {
                // The failure comes once the first rows are on the wire.
                let failure = stream::once(async {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    Err(StoreError::Corrupt("disk on fire".to_owned()))
                });
                body(format, rows(300, false).chain(failure).boxed(), log())
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
        socket
            .write_all(b"GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut raw = Vec::new();
        // Ends when the server closes the connection (normally or not).
        let _ = socket.read_to_end(&mut raw).await;
        server.abort();
        String::from_utf8(raw).unwrap()
    }

    #[tokio::test]
    async fn a_failure_part_way_is_visible_on_the_wire() {
        let ndjson = raw_response(Format::Ndjson).await;
        assert!(ndjson.contains("transfer-encoding: chunked"), "{ndjson}");
        assert!(ndjson.contains("\"code\":\"internal_error\""), "{ndjson}");
        assert!(ndjson.ends_with("\r\n0\r\n\r\n"), "NDJSON ends normally");

        let csv = raw_response(Format::Csv).await;
        assert!(csv.contains("transfer-encoding: chunked"), "{csv:?}");
        assert!(
            csv.contains("\r\n299,"),
            "the rows before the failure are sent"
        );
        assert!(
            !csv.ends_with("\r\n0\r\n\r\n"),
            "CSV is aborted: no final chunk"
        );
    }

    /// The CSV header is serde's (the JSON field names), and each field
    /// lands in its column.
    fn assert_columns_are_fields<L: Line>(line: L) {
        let json = serde_json::to_value(&line).unwrap();
        let object = json.as_object().unwrap();
        let mut writer = csv::WriterBuilder::new().from_writer(Vec::new());
        writer.serialize(&line).unwrap();
        let text = String::from_utf8(writer.into_inner().unwrap()).unwrap();
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let header: Vec<String> = reader
            .headers()
            .unwrap()
            .iter()
            .map(str::to_owned)
            .collect();
        assert_eq!(header, L::COLUMNS, "serde's header is Line::COLUMNS");
        let record = reader.records().next().unwrap().unwrap();
        assert_eq!(record.len(), object.len());
        for (column, field) in L::COLUMNS.iter().zip(record.iter()) {
            let value = match &object[*column] {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            assert_eq!(value, field, "{column}");
        }
    }

    #[test]
    fn csv_columns_match_the_json_fields() {
        assert_columns_are_fields(MessageExportLine {
            id: 1,
            message: "m".to_owned(),
            session_uuid: "s".to_owned(),
            message_type: "SENT",
            date_time: "d".to_owned(),
            timestamp: "t".to_owned(),
            customer_uuid: "c".to_owned(),
            module_uuid: "u".to_owned(),
            program_identifier: 49,
        });
        assert_columns_are_fields(AnswerExportLine {
            id: 1,
            session_uuid: "s".to_owned(),
            customer_uuid: "c".to_owned(),
            module_uuid: "u".to_owned(),
            module_version_hash: "h".to_owned(),
            program_identifier: 49,
            quiz: "pre",
            question_id: "pre_q1".to_owned(),
            question: "q".to_owned(),
            answer: "2".to_owned(),
            correct: true,
            attempt: 1,
            matched_by: "choice 2".to_owned(),
            date_time: "d".to_owned(),
            timestamp: "t".to_owned(),
        });
        assert_columns_are_fields(ScoreExportLine {
            session_uuid: "s".to_owned(),
            customer_uuid: "c".to_owned(),
            full_name: "f".to_owned(),
            phone: "p".to_owned(),
            module_uuid: "u".to_owned(),
            module_name: "n".to_owned(),
            status: "Completed",
            pre_quiz_score: "1/2".to_owned(),
            pre_quiz_correct: 1,
            pre_quiz_total: 2,
            post_quiz_score: "3/4".to_owned(),
            post_quiz_correct: 3,
            post_quiz_total: 4,
            date_enrolled: "e".to_owned(),
            last_active_date: "l".to_owned(),
            pre_quiz_answered: 2,
            post_quiz_answered: 1,
            language: "sw".to_owned(),
            current_step: "post_q2".to_owned(),
            messages_queued: 1,
            messages_sent: 2,
            messages_delivered: 3,
            messages_failed: 4,
        });
    }

    #[test]
    fn csv_fields_are_quoted_only_when_needed() {
        let mut writer = csv_writer(Vec::new());
        writer
            .write_record(["plain", "", "+254", "a\rb", "x\"y", "=1+2", "#"])
            .unwrap();
        let text = String::from_utf8(writer.into_inner().unwrap()).unwrap();
        assert_eq!(text, "plain,,+254,\"a\rb\",\"x\"\"y\",=1+2,#\r\n");
    }

    #[test]
    fn dates_in_the_zone() {
        let nairobi = chrono_tz::Africa::Nairobi;
        let day = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        assert_eq!(
            start_of_day(day, nairobi).unwrap().to_rfc3339(),
            "2026-10-31T21:00:00+00:00"
        );
        // Havana skips midnight to 01:00 when summer time starts.
        let havana = chrono_tz::America::Havana;
        let day = NaiveDate::from_ymd_opt(2026, 3, 8).unwrap();
        assert!(start_of_day(day, havana).is_some());
    }
}
