//! JSON wire types: the shapes of the financial-education API family.
//! Field names and types are fixed by the reference (snake_case JSON,
//! `dd/MM/yyyy HH:mm` time strings, `""` for a missing string or time,
//! `"k/n"` scores); fields added by chatcourse are additive.

use chatcourse_storage::{Consent, Customer, Message, MessageDelivery, Score};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::time::{display, display_opt};

/// One message of a conversation, as in `GET /api/v1/message/all` and in
/// WebSocket frames.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MessageItem {
    #[schema(example = 888)]
    pub id: i64,
    #[schema(
        example = "Congratulations! You have successfully been enrolled to the Test Module Updated ..."
    )]
    pub message: String,
    #[schema(example = "ea922437-0364-456d-a454-1ed530419292")]
    pub session_uuid: String,
    /// `SENT` (course to learner) or `RECEIVED` (learner to course).
    #[schema(example = "SENT")]
    pub message_type: &'static str,
    #[schema(example = "15/04/2020 16:52")]
    pub date_time: String,
    /// Delivery over a channel (SENT messages to a learner reachable on
    /// one; absent otherwise): `queued`, `sent`, `delivered` or `failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "delivered")]
    pub delivery_status: Option<&'static str>,
    /// The provider's id of the message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_message_id: Option<String>,
    /// Why it failed (or why the last attempt did not go).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_error: Option<String>,
    /// SMS segments handed to the provider (SMS channels).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sms_segments: Option<u32>,
    /// When the message was queued, sent, delivered, failed
    /// (`dd/MM/yyyy HH:mm`; empty until it happens).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queued_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_at: Option<String>,
}

impl MessageItem {
    pub fn new(m: &Message, tz: Tz) -> MessageItem {
        MessageItem {
            id: m.id.0,
            message: m.text.clone(),
            session_uuid: m.session_uuid.to_string(),
            message_type: m.direction.as_str(),
            date_time: display(m.created_at, tz),
            delivery_status: None,
            provider_message_id: None,
            delivery_error: None,
            sms_segments: None,
            queued_at: None,
            sent_at: None,
            delivered_at: None,
            failed_at: None,
        }
    }

    /// The item with its delivery record.
    pub fn with_delivery(mut self, d: Option<&MessageDelivery>, tz: Tz) -> MessageItem {
        if let Some(d) = d {
            self.delivery_status = Some(d.status.as_str());
            self.provider_message_id.clone_from(&d.provider_message_id);
            self.delivery_error.clone_from(&d.error);
            self.sms_segments = d.segments;
            self.queued_at = Some(display(d.queued_at, tz));
            self.sent_at = Some(display_opt(d.sent_at, tz));
            self.delivered_at = Some(display_opt(d.delivered_at, tz));
            self.failed_at = Some(display_opt(d.failed_at, tz));
        }
        self
    }

    /// Items of `messages` with the delivery records among `deliveries`.
    pub fn list(messages: &[Message], deliveries: &[MessageDelivery], tz: Tz) -> Vec<MessageItem> {
        let by_message: std::collections::HashMap<_, _> =
            deliveries.iter().map(|d| (d.message, d)).collect();
        messages
            .iter()
            .map(|m| MessageItem::new(m, tz).with_delivery(by_message.get(&m.id).copied(), tz))
            .collect()
    }
}

/// Body of `POST /api/v1/customer/mfi/register`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RegisterCustomer {
    #[schema(example = "Jane Wanjiku")]
    pub full_name: String,
    #[schema(example = "12345678")]
    pub national_id: String,
    /// Digits, optionally with a leading `+` (e.g. `254712345678`).
    #[schema(example = "254712345678")]
    pub phone: String,
    /// County, e.g. Nairobi.
    #[schema(example = "Nairobi")]
    pub location: String,
    #[schema(example = "Female")]
    pub gender: String,
    #[serde(default)]
    pub email: Option<String>,
    /// `dd/MM/yyyy` or `yyyy-MM-dd`; may be empty.
    #[serde(default)]
    pub date_of_birth: Option<String>,
}

/// A registered customer.
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerData {
    pub id: i64,
    pub full_name: String,
    pub national_id: String,
    pub gender: String,
    pub phone: String,
    /// `dd/MM/yyyy`, or `""` if unknown.
    pub date_of_birth: String,
    /// `dd/MM/yyyy HH:mm`.
    pub date_registered: String,
    pub name: String,
    pub location: String,
    pub uuid: String,
    /// `""` if unknown.
    pub email: String,
    /// The phone in E.164 (`+254712345678`), by which channels reach and
    /// find the customer; `""` if the customer has none yet
    /// (docs/channels.md).
    pub phone_e164: String,
    /// The contact's consent in the organisation.
    pub consent: ConsentData,
}

/// A contact's consent (STOP and START, docs/channels.md).
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentData {
    /// True while the contact is opted out: nothing is sent to it and it
    /// cannot be enrolled (`409 customer_opted_out`).
    pub opted_out: bool,
    /// `dd/MM/yyyy HH:mm`; `""` unless opted out.
    pub opted_out_at: String,
    /// The learner's message that opted the contact out; `""` unless
    /// opted out.
    pub opted_out_message: String,
    /// The last opt-in (START), `dd/MM/yyyy HH:mm`; `""` if none.
    pub opted_in_at: String,
}

impl ConsentData {
    pub fn new(consent: Option<&Consent>, tz: Tz) -> ConsentData {
        ConsentData {
            opted_out: consent.is_some_and(|c| c.opted_out_at.is_some()),
            opted_out_at: display_opt(consent.and_then(|c| c.opted_out_at), tz),
            opted_out_message: consent
                .and_then(|c| c.opted_out_message.clone())
                .unwrap_or_default(),
            opted_in_at: display_opt(consent.and_then(|c| c.opted_in_at), tz),
        }
    }
}

impl CustomerData {
    pub fn new(c: &Customer, consent: Option<&Consent>, tz: Tz) -> CustomerData {
        CustomerData {
            id: c.id.0,
            full_name: c.full_name.clone(),
            national_id: c.national_id.clone(),
            gender: c.gender.clone(),
            phone: c.phone.clone(),
            date_of_birth: c
                .date_of_birth
                .map(|d| d.format("%d/%m/%Y").to_string())
                .unwrap_or_default(),
            date_registered: display(c.registered_at, tz),
            name: c.full_name.clone(),
            location: c.location.clone(),
            uuid: c.uuid.to_string(),
            email: c.email.clone().unwrap_or_default(),
            phone_e164: c.phone_e164.clone().unwrap_or_default(),
            consent: ConsentData::new(consent, tz),
        }
    }
}

/// Body of `POST /api/v1/fe/program/customer/add`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct Enrol {
    /// The programme; created on first use within the organisation.
    #[schema(example = 49)]
    pub program_identifier: i64,
    pub customer_uuid: String,
    /// The module's `module_uuid` (from Fetch Modules), or its `module:` id.
    pub module: String,
    /// Optional BCP 47 language tag (`en`, `sw-KE`, `fr-CM`), matched
    /// case-insensitively against the module's languages (`sw-KE` gets
    /// `sw`); the module's base language when none fits. Not a language
    /// tag: `400 validation_failed`.
    #[serde(default)]
    pub language: Option<String>,
    /// Optional name of the programme (shown as `program_name` in
    /// summaries); sets or changes it. Default for a new programme:
    /// `Programme <identifier>`.
    #[serde(default)]
    pub program_name: Option<String>,
    /// Optional IANA time zone of the learner (`Africa/Nairobi`): `wait`
    /// steps with a time of day (`at: "09:00"`) wake the session at that
    /// local time. Default: the server's `--timezone`. Not a zone name:
    /// `400 validation_failed`.
    #[serde(default)]
    #[schema(example = "Africa/Nairobi")]
    pub timezone: Option<String>,
}

/// Body of `POST /api/v1/fe/session/token`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SessionTokenRequest {
    pub customer_uuid: String,
    pub session_uuid: String,
    /// How long the token is valid, in seconds: 1 to 604800 (7 days);
    /// default 86400 (24 hours).
    #[serde(default)]
    #[schema(example = 86400)]
    pub ttl_seconds: Option<i64>,
}

/// A learner token for the live chat of one session.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionTokenData {
    /// The secret: `cst_` and 64 hex digits. Pass it as
    /// `/api/v1/ws?token=...`. Shown only here; the server keeps its hash.
    pub token: String,
    /// When the token stops opening the socket, RFC 3339 UTC
    /// (`2026-11-25T22:59:00Z`).
    pub expires_at: String,
}

/// Result of an enrolment.
#[derive(Debug, Serialize, ToSchema)]
pub struct EnrolData {
    pub customer_uuid: String,
    pub session_uuid: String,
    /// The module language the session runs in, negotiated from the
    /// requested tag (BCP 47 lookup: `sw-KE` gets `sw`).
    #[schema(example = "sw")]
    pub language: String,
    /// The IANA time zone the session runs in (the requested one, or the
    /// server's default); for a session that already existed, the one it
    /// was enrolled with.
    #[schema(example = "Africa/Nairobi")]
    pub timezone: String,
}

/// Body of `POST /api/v1/message`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PostMessage {
    pub customer_uuid: String,
    pub session_uuid: String,
    #[schema(example = "1")]
    pub message: String,
    /// The channel's id for this message (idempotency key).
    #[serde(default)]
    pub external_id: Option<String>,
}

/// Result of one learner turn.
#[derive(Debug, Serialize, ToSchema)]
pub struct TurnData {
    pub session_uuid: String,
    /// The session's status after the turn.
    #[schema(example = "InProgress")]
    pub status: &'static str,
    /// The learner's message as stored.
    pub received: Option<MessageItem>,
    /// The course's replies, in order.
    pub replies: Vec<MessageItem>,
    /// True when `external_id` had already been applied: nothing changed,
    /// and `received` and `replies` are those of the original turn.
    pub duplicate: bool,
}

/// One module of the catalogue (Fetch Modules).
#[derive(Debug, Serialize, ToSchema)]
pub struct ModuleItem {
    /// Stable across versions; what `module` in an enrolment names.
    pub module_uuid: String,
    /// The author's `module:` id.
    pub module_id: String,
    pub module_name: String,
    pub goal: String,
    /// The author's version label.
    pub version: String,
    /// SHA-256 of the module file: identifies the exact version.
    pub version_hash: String,
    pub languages: Vec<String>,
    pub pre_quiz_questions: u32,
    pub post_quiz_questions: u32,
    /// When this version was first registered.
    pub date_registered: String,
    /// `shared`: a module of the server's modules folder, offered to every
    /// organisation; `organisation`: uploaded by (and only visible to) the
    /// caller's organisation.
    #[schema(example = "shared")]
    pub owner: &'static str,
}

/// Body of `POST /api/v1/fe/modules`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ModuleUpload {
    /// The module's YAML text (docs/module-format.md).
    #[schema(example = "module: saving-basics\nname: Saving Basics\n...")]
    pub source: String,
}

/// Result of `POST /api/v1/fe/modules`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModuleUploaded {
    #[serde(flatten)]
    pub module: ModuleItem,
    /// The loader's warnings (the module loaded); same fields as
    /// `diagnostics` of `module_invalid`.
    #[schema(value_type = Vec<Object>)]
    pub warnings: Vec<serde_json::Value>,
}

/// One session in a customer's summary.
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerSessionItem {
    pub session_uuid: String,
    /// Pending, InProgress, Completed, OptedOut or Expired.
    #[schema(example = "Pending")]
    pub status: &'static str,
    pub program_name: String,
    pub program_identifier: i64,
    /// `""` when the learner has never replied.
    pub last_active_date: String,
    pub module_name: String,
    pub module_uuid: String,
    #[schema(example = "0/2")]
    pub pre_quiz_score: String,
    #[schema(example = "0/2")]
    pub post_quiz_score: String,
    pub date_enrolled: String,
    /// True while the customer's phone is opted out of the organisation
    /// (STOP in any session; START opts back in): nothing is sent to it.
    pub contact_opted_out: bool,
    /// The module language the session runs in (`en`, `sw`...), as
    /// negotiated from the enrolment's `language`.
    #[schema(example = "en")]
    pub language: String,
    /// The id of the step the session is at: the step waiting for the
    /// learner while active, the last step reached otherwise.
    #[schema(example = "pre_q1")]
    pub current_step: String,
}

/// One quiz answer in a session summary.
#[derive(Debug, Serialize, ToSchema)]
pub struct AnswerItem {
    /// `pre` or `post`.
    pub quiz: &'static str,
    pub question_id: String,
    pub question: String,
    pub answer: String,
    pub correct: bool,
    pub attempt: i32,
    pub date_time: String,
}

/// One session in detail (Fetch Customer Session Summary).
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionSummaryData {
    #[serde(flatten)]
    pub session: CustomerSessionItem,
    pub customer_uuid: String,
    /// Hash of the module version the session is pinned to.
    pub module_version_hash: String,
    pub message_count: i64,
    pub first_message_date: String,
    pub last_message_date: String,
    pub answers: Vec<AnswerItem>,
    /// The session's messages by delivery status (those sent over a
    /// channel).
    pub delivery: DeliveryCounts,
}

/// Messages by delivery status.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct DeliveryCounts {
    pub queued: i64,
    pub sent: i64,
    pub delivered: i64,
    pub failed: i64,
    /// SMS segments handed to providers, in all.
    pub sms_segments: i64,
}

impl DeliveryCounts {
    pub fn of(deliveries: &[MessageDelivery]) -> DeliveryCounts {
        let mut counts = DeliveryCounts::default();
        for d in deliveries {
            *match d.status {
                chatcourse_storage::DeliveryStatus::Queued => &mut counts.queued,
                chatcourse_storage::DeliveryStatus::Sent => &mut counts.sent,
                chatcourse_storage::DeliveryStatus::Delivered => &mut counts.delivered,
                chatcourse_storage::DeliveryStatus::Failed => &mut counts.failed,
            } += 1;
            counts.sms_segments += i64::from(d.segments.unwrap_or(0));
        }
        counts
    }
}

/// One programme's figures (Fetch Program Summary).
#[derive(Debug, Serialize, ToSchema)]
pub struct ProgramSummaryData {
    pub program_identifier: i64,
    pub program_name: String,
    pub date_created: String,
    /// Every session ever created in the programme.
    pub enrolled: i64,
    /// Pending + InProgress.
    pub active: i64,
    pub pending: i64,
    pub in_progress: i64,
    pub completed: i64,
    pub opted_out: i64,
    pub expired: i64,
    /// Mean pre-quiz score in percent (one decimal) over sessions with a
    /// pre-quiz answer; `null` when there is none.
    pub average_pre_score: Option<f64>,
    pub average_post_score: Option<f64>,
    /// average_post_score - average_pre_score, in percentage points.
    /// These compare different learners (see the paired figures).
    pub knowledge_gain: Option<f64>,
    /// Sessions whose current run answered every pre-quiz question.
    pub pre_quiz_completed: i64,
    /// Sessions whose current run answered some, not all, pre-quiz
    /// questions (in the averages above, their unanswered questions count
    /// as wrong; in the paired figures they are left out).
    pub pre_quiz_in_progress: i64,
    pub post_quiz_completed: i64,
    pub post_quiz_in_progress: i64,
    /// Sessions whose current run completed both quizzes: the learners the
    /// paired figures are about.
    pub paired_learners: i64,
    /// Mean pre-quiz score in percent (one decimal) over the paired
    /// learners; `null` when there is none.
    pub paired_average_pre_score: Option<f64>,
    /// Mean post-quiz score over the same learners.
    pub paired_average_post_score: Option<f64>,
    /// Mean gain of the paired learners (post minus pre), in percentage
    /// points (one decimal); `null` when there is none.
    pub paired_knowledge_gain: Option<f64>,
}

/// `"correct/total"`.
pub fn score(s: Score) -> String {
    format!("{}/{}", s.correct, s.total)
}

/// A fraction in 0..=1 as a percentage with one decimal.
pub fn percent(fraction: f64) -> f64 {
    (fraction * 1000.0).round() / 10.0
}

/// One line of the messages export (`GET /api/v1/fe/program/export/messages`):
/// the fields of a `/api/v1/message/all` item, the message's UTC time in
/// RFC 3339, and whose session it is.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageExportLine {
    #[schema(example = 888)]
    pub id: i64,
    pub message: String,
    pub session_uuid: String,
    /// `SENT` or `RECEIVED`.
    #[schema(example = "SENT")]
    pub message_type: &'static str,
    /// `dd/MM/yyyy HH:mm` in the server's zone, as in the other endpoints.
    #[schema(example = "24/11/2026 21:45")]
    pub date_time: String,
    /// The same time in UTC, RFC 3339 with microseconds.
    #[schema(example = "2026-11-24T21:45:03.123456Z")]
    pub timestamp: String,
    pub customer_uuid: String,
    pub module_uuid: String,
    #[schema(example = 49)]
    pub program_identifier: i64,
}

/// One line of the answers export (`GET /api/v1/fe/program/export/answers`):
/// one recorded quiz answer, with whose it is.
#[derive(Debug, Serialize, ToSchema)]
pub struct AnswerExportLine {
    /// The answer's id: its place in the session's answer log.
    pub id: i64,
    pub session_uuid: String,
    pub customer_uuid: String,
    pub module_uuid: String,
    /// The content hash of the module version the session follows.
    pub module_version_hash: String,
    pub program_identifier: i64,
    /// `pre` or `post`.
    #[schema(example = "pre")]
    pub quiz: &'static str,
    /// The question's stable id in the module (`pre_q1`).
    pub question_id: String,
    pub question: String,
    /// The learner's reply, as sent.
    pub answer: String,
    pub correct: bool,
    /// 1 for the first reply on the question, 2 after one reply that
    /// matched nothing, and so on.
    pub attempt: i32,
    /// Which rule of the question matched (the engine's wording).
    pub matched_by: String,
    /// `dd/MM/yyyy HH:mm` in the server's zone.
    pub date_time: String,
    /// The same time in UTC, RFC 3339 with microseconds.
    pub timestamp: String,
}

/// One line of the scores export (`GET /api/v1/fe/program/export/scores`):
/// one session of the programme.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScoreExportLine {
    pub session_uuid: String,
    pub customer_uuid: String,
    pub full_name: String,
    pub phone: String,
    pub module_uuid: String,
    pub module_name: String,
    /// Pending, InProgress, Completed, OptedOut or Expired.
    #[schema(example = "Completed")]
    pub status: &'static str,
    /// `"correct/total"`, as in the summaries.
    #[schema(example = "1/2")]
    pub pre_quiz_score: String,
    pub pre_quiz_correct: i32,
    pub pre_quiz_total: i32,
    #[schema(example = "2/2")]
    pub post_quiz_score: String,
    pub post_quiz_correct: i32,
    pub post_quiz_total: i32,
    pub date_enrolled: String,
    /// `""` when the learner has never replied.
    pub last_active_date: String,
    /// Questions answered in each quiz in the current run (a quiz is
    /// complete when this reaches its total).
    pub pre_quiz_answered: i32,
    pub post_quiz_answered: i32,
    /// The module language the session runs in (`en`, `sw`...).
    #[schema(example = "en")]
    pub language: String,
    /// The step the session is at (the step waiting for the learner while
    /// active, the last one reached otherwise), by its id in the module.
    #[schema(example = "pre_q1")]
    pub current_step: String,
    /// The session's messages through channels, by delivery status.
    pub messages_queued: i64,
    pub messages_sent: i64,
    pub messages_delivered: i64,
    pub messages_failed: i64,
}
