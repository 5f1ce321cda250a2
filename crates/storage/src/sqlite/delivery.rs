//! SQLite statements of delivery: channels, phones, consent and the outbox.

use chrono::{DateTime, Utc};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection, SqlitePool};
use uuid::Uuid;

use super::rows::{MESSAGE_COLS, customer_from, message_from, opt_time, time, us, uuid};
use crate::model::*;
use crate::turn::{FailedDelivery, QueuedEvent, Reach, delivery_failed_events};
use crate::{Result, parse};

/// Whether a row queued now for a channel and recipient (bound in that
/// order) is the learner's head: no row of theirs is queued. Exact on
/// SQLite, where inserts and the claim run on the one writer; the
/// migration `outbox_heads` says how the mark moves on.
macro_rules! is_head {
    () => {
        "NOT EXISTS (SELECT 1 FROM outbox WHERE channel_id = ? AND recipient = ? AND status = 'queued')"
    };
}

/// An outbox row of a message: org, channel, recipient, message, session,
/// purpose, idempotency key, due, queued, then channel and recipient again
/// for `is_head!`.
pub(super) const QUEUE_OUTBOX: &str = concat!(
    "INSERT INTO outbox (org_id, channel_id, recipient, message_id, session_id, purpose, \
     idempotency_key, status, attempts, next_attempt_at, queued_at, head) \
     VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', 0, ?, ?, ",
    is_head!(),
    ");"
);

/// An outbox row of an event: org, channel, recipient, session, payload,
/// idempotency key, due, queued, then channel and recipient again for
/// `is_head!`.
pub(super) const QUEUE_EVENT: &str = concat!(
    "INSERT INTO outbox (org_id, channel_id, recipient, message_id, session_id, purpose, payload, \
     idempotency_key, status, attempts, next_attempt_at, queued_at, head) \
     VALUES (?, ?, ?, NULL, ?, 'event', ?, ?, 'queued', 0, ?, ?, ",
    is_head!(),
    ");"
);

/// A contact opts out: org, phone, at, message.
pub(super) const OPT_OUT: &str = "INSERT INTO contacts (org_id, phone, opted_out_at, opted_out_message_id) VALUES (?, ?, ?, ?) \
     ON CONFLICT (org_id, phone) DO UPDATE SET opted_out_at = excluded.opted_out_at, \
     opted_out_message_id = excluded.opted_out_message_id;";

/// Its audit row: org, phone, message, at.
pub(super) const OPTED_OUT_EVENT: &str = "INSERT INTO consent_events (org_id, phone, event, message_id, at) VALUES (?, ?, 'opted_out', ?, ?);";

const CHANNEL_COLS: &str = "id, uuid, org_id, kind, name, settings, secrets, default_country, \
     rate_per_second, created_at, disabled_at";

fn channel_from(row: &SqliteRow) -> Result<Channel> {
    Ok(Channel {
        id: ChannelId(row.try_get("id")?),
        uuid: uuid(row, "uuid")?,
        org: OrgId(row.try_get("org_id")?),
        kind: row.try_get("kind")?,
        name: row.try_get("name")?,
        settings: row.try_get("settings")?,
        secrets: row.try_get("secrets")?,
        default_country: row.try_get("default_country")?,
        rate_per_second: row.try_get("rate_per_second")?,
        created_at: time(row.try_get("created_at")?)?,
        disabled_at: opt_time(row.try_get("disabled_at")?)?,
    })
}

pub(super) async fn create_channel(conn: &mut SqliteConnection, c: &NewChannel) -> Result<Channel> {
    let sql = format!(
        "INSERT INTO channels (uuid, org_id, kind, name, settings, secrets, default_country, \
         rate_per_second, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING {CHANNEL_COLS}"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(c.uuid.hyphenated())
        .bind(c.org.0)
        .bind(&c.kind)
        .bind(&c.name)
        .bind(&c.settings)
        .bind(&c.secrets)
        .bind(&c.default_country)
        .bind(c.rate_per_second)
        .bind(us(c.created_at))
        .fetch_one(conn)
        .await?;
    channel_from(&row)
}

/// Channels matching `filter` (a WHERE clause binding one value).
async fn channels_where<'q, T>(pool: &SqlitePool, filter: &str, value: T) -> Result<Vec<Channel>>
where
    T: 'q + sqlx::Encode<'q, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite> + Send,
{
    let sql = format!("SELECT {CHANNEL_COLS} FROM channels WHERE {filter} ORDER BY id");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(value)
        .fetch_all(pool)
        .await?;
    rows.iter().map(channel_from).collect()
}

pub(super) async fn list_channels(pool: &SqlitePool, org: OrgId) -> Result<Vec<Channel>> {
    channels_where(pool, "org_id = ?", org.0).await
}

pub(super) async fn find_channel(pool: &SqlitePool, uuid: Uuid) -> Result<Option<Channel>> {
    Ok(channels_where(pool, "uuid = ?", uuid.hyphenated())
        .await?
        .pop())
}

pub(super) async fn channel(pool: &SqlitePool, id: ChannelId) -> Result<Option<Channel>> {
    Ok(channels_where(pool, "id = ?", id.0).await?.pop())
}

pub(super) async fn disable_channel(
    conn: &mut SqliteConnection,
    org: OrgId,
    uuid: Uuid,
    at: DateTime<Utc>,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE channels SET disabled_at = ? WHERE org_id = ? AND uuid = ? AND disabled_at IS NULL",
    )
    .bind(us(at))
    .bind(org.0)
    .bind(uuid.hyphenated())
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

pub(super) async fn customer_by_phone(
    pool: &SqlitePool,
    org: OrgId,
    phone: &str,
) -> Result<Option<Customer>> {
    let row = sqlx::query("SELECT * FROM customers WHERE org_id = ? AND phone_e164 = ?")
        .bind(org.0)
        .bind(phone)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(customer_from).transpose()
}

pub(super) async fn opted_out(pool: &SqlitePool, org: OrgId, phone: &str) -> Result<bool> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM contacts WHERE org_id = ? AND phone = ? AND opted_out_at IS NOT NULL)",
    )
    .bind(org.0)
    .bind(phone)
    .fetch_one(pool)
    .await?)
}

pub(super) async fn opt_in(
    conn: &mut SqliteConnection,
    org: OrgId,
    phone: &str,
    at: DateTime<Utc>,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE contacts SET opted_out_at = NULL, opted_out_message_id = NULL, opted_in_at = ? \
         WHERE org_id = ? AND phone = ? AND opted_out_at IS NOT NULL",
    )
    .bind(us(at))
    .bind(org.0)
    .bind(phone)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    sqlx::query(
        "INSERT INTO consent_events (org_id, phone, event, at) VALUES (?, ?, 'opted_in', ?)",
    )
    .bind(org.0)
    .bind(phone)
    .bind(us(at))
    .execute(conn)
    .await?;
    Ok(true)
}

// --- inside a turn -------------------------------------------------------------

pub(super) async fn subscribers(
    conn: &mut SqliteConnection,
    org: OrgId,
    event: &str,
) -> Result<Vec<ChannelId>> {
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM channels WHERE org_id = ? AND disabled_at IS NULL \
         AND EXISTS (SELECT 1 FROM json_each(settings, '$.events') WHERE value = ?) ORDER BY id",
    )
    .bind(org.0)
    .bind(event)
    .fetch_all(conn)
    .await?;
    Ok(ids.into_iter().map(ChannelId).collect())
}

pub(super) async fn quiz_totals(
    conn: &mut SqliteConnection,
    version: ModuleVersionId,
) -> Result<(i32, i32)> {
    let row =
        sqlx::query("SELECT pre_quiz_total, post_quiz_total FROM module_versions WHERE id = ?")
            .bind(version.0)
            .fetch_optional(conn)
            .await?;
    match row {
        Some(row) => Ok((
            row.try_get("pre_quiz_total")?,
            row.try_get("post_quiz_total")?,
        )),
        None => Ok((0, 0)),
    }
}

pub(super) async fn queue_event(conn: &mut SqliteConnection, q: &QueuedEvent) -> Result<()> {
    sqlx::query(QUEUE_EVENT)
        .bind(q.org.0)
        .bind(q.channel.0)
        .bind(&q.recipient)
        .bind(q.session.0)
        .bind(&q.payload)
        .bind(&q.idempotency_key)
        .bind(us(q.at))
        .bind(us(q.at))
        .bind(q.channel.0)
        .bind(&q.recipient)
        .execute(conn)
        .await?;
    Ok(())
}

/// The columns of [`Reach`] for a customer `c`: its phone, the channel to
/// reach it through and whether the contact opted out.
pub(super) const REACH_COLS: &str = "c.phone_e164, \
     COALESCE((SELECT ch.id FROM channels ch WHERE ch.id = c.channel_id AND ch.disabled_at IS NULL), \
      (SELECT ch.id FROM channels ch WHERE ch.org_id = c.org_id AND ch.disabled_at IS NULL \
       AND json_extract(ch.settings, '$.messages') IS NOT 0 ORDER BY ch.id LIMIT 1)) AS channel_id, \
     EXISTS (SELECT 1 FROM contacts k WHERE k.org_id = c.org_id AND k.phone = c.phone_e164 \
      AND k.opted_out_at IS NOT NULL) AS opted_out";

/// A row with [`REACH_COLS`]: `None` if the customer has no phone.
pub(super) fn reach_from(row: &SqliteRow) -> Result<Option<Reach>> {
    let Some(phone) = row.try_get::<Option<String>, _>("phone_e164")? else {
        return Ok(None);
    };
    Ok(Some(Reach {
        phone,
        channel: row.try_get::<Option<i64>, _>("channel_id")?.map(ChannelId),
        opted_out: row.try_get("opted_out")?,
    }))
}

pub(super) async fn reach(
    conn: &mut SqliteConnection,
    customer: CustomerId,
) -> Result<Option<Reach>> {
    let sql = format!("SELECT {REACH_COLS} FROM customers c WHERE c.id = ?");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(customer.0)
        .fetch_optional(conn)
        .await?;
    Ok(row.as_ref().map(reach_from).transpose()?.flatten())
}

pub(super) async fn opt_out(
    conn: &mut SqliteConnection,
    org: OrgId,
    phone: &str,
    message: Option<MessageId>,
    at: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(OPT_OUT)
        .bind(org.0)
        .bind(phone)
        .bind(us(at))
        .bind(message.map(|m| m.0))
        .execute(&mut *conn)
        .await?;
    sqlx::query(OPTED_OUT_EVENT)
        .bind(org.0)
        .bind(phone)
        .bind(message.map(|m| m.0))
        .bind(us(at))
        .execute(conn)
        .await?;
    Ok(())
}

pub(super) async fn customer_opted_out(
    conn: &mut SqliteConnection,
    customer: CustomerId,
) -> Result<bool> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM customers c JOIN contacts k ON k.org_id = c.org_id \
         AND k.phone = c.phone_e164 WHERE c.id = ? AND k.opted_out_at IS NOT NULL)",
    )
    .bind(customer.0)
    .fetch_one(conn)
    .await?)
}

// --- the outbox ------------------------------------------------------------------

fn outbox_from(row: &SqliteRow) -> Result<OutboxItem> {
    Ok(OutboxItem {
        id: OutboxId(row.try_get("outbox_id")?),
        org: OrgId(row.try_get("org_id")?),
        channel: ChannelId(row.try_get("channel_id")?),
        recipient: row.try_get("recipient")?,
        purpose: row.try_get("purpose")?,
        idempotency_key: row.try_get("idempotency_key")?,
        status: parse(row.try_get("status")?)?,
        attempts: row.try_get("attempts")?,
        provider_message_id: row.try_get("provider_message_id")?,
        error: row.try_get("error")?,
        queued_at: time(row.try_get("queued_at")?)?,
        customer_uuid: uuid(row, "customer_uuid")?,
        // Event rows carry a payload, not a message.
        message: match row.try_get::<Option<i64>, _>("id")? {
            Some(_) => Some(message_from(row)?),
            None => None,
        },
        payload: row.try_get("payload")?,
    })
}

/// Outbox rows matching `filter` (binding one value), in id order.
async fn outbox_where<'q, V>(
    conn: &mut SqliteConnection,
    filter: &str,
    value: V,
) -> Result<Vec<OutboxItem>>
where
    V: 'q + sqlx::Encode<'q, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite> + Send,
{
    let sql = format!(
        "SELECT o.id AS outbox_id, o.org_id, o.channel_id, o.recipient, o.purpose, o.idempotency_key, \
         o.status, o.attempts, o.provider_message_id, o.error, o.queued_at, c.uuid AS customer_uuid, \
         o.payload, {MESSAGE_COLS} FROM outbox o LEFT JOIN messages m ON m.id = o.message_id \
         JOIN sessions s ON s.id = o.session_id JOIN customers c ON c.id = s.customer_id \
         WHERE {filter} ORDER BY o.id"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(value)
        .fetch_all(conn)
        .await?;
    rows.iter().map(outbox_from).collect()
}

pub(super) async fn session_outbox(
    conn: &mut SqliteConnection,
    session: SessionId,
) -> Result<Vec<OutboxItem>> {
    // Message rows through `messages_session`, event rows through the
    // partial index `outbox_session_events`.
    outbox_where(
        conn,
        "o.id IN (SELECT x.id FROM messages xm JOIN outbox x ON x.message_id = xm.id \
         WHERE xm.session_id = ?1 \
         UNION ALL SELECT x.id FROM outbox x INDEXED BY outbox_session_events \
         WHERE x.session_id = ?1 AND x.message_id IS NULL)",
        session.0,
    )
    .await
}

/// On the writer, in a transaction: the claim and its reads are atomic.
pub(super) async fn claim_outbox(
    conn: &mut SqliteConnection,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<OutboxItem>> {
    let ids: Vec<i64> = sqlx::query_scalar(
        "UPDATE outbox SET lease_until = ? WHERE id IN (SELECT o.id FROM outbox o \
         JOIN channels ch ON ch.id = o.channel_id AND ch.disabled_at IS NULL \
         WHERE o.status = 'queued' AND o.head = 1 AND o.next_attempt_at <= ? \
         AND (o.lease_until IS NULL OR o.lease_until <= ?) \
         ORDER BY o.next_attempt_at, o.id LIMIT CAST(? AS INTEGER)) RETURNING id",
    )
    .bind(us(until))
    .bind(us(now))
    .bind(us(now))
    .bind(i64::from(limit))
    .fetch_all(&mut *conn)
    .await?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    // The claimed rows in one read, not one round trip each.
    let ids = serde_json::Value::from(ids).to_string();
    outbox_where(conn, "o.id IN (SELECT value FROM json_each(?))", &ids).await
}

/// Sent rows of a round: a JSON array of `[id, provider message id, segments]`.
const FINISH_SENT: &str = "UPDATE outbox SET status = 'sent', sent_at = ?, \
     provider_message_id = json_extract(x.value, '$[1]'), segments = json_extract(x.value, '$[2]'), \
     error = NULL, attempts = attempts + 1, lease_until = NULL \
     FROM json_each(?) AS x WHERE outbox.id = json_extract(x.value, '$[0]') AND outbox.status = 'queued';";

/// Rows of a round to try again: `[id, due (µs), error]`.
const FINISH_RETRY: &str = "UPDATE outbox SET next_attempt_at = json_extract(x.value, '$[1]'), \
     error = json_extract(x.value, '$[2]'), attempts = attempts + 1, lease_until = NULL \
     FROM json_each(?) AS x WHERE outbox.id = json_extract(x.value, '$[0]') AND outbox.status = 'queued';";

/// A round's outcomes. Sent and retried rows are recorded by two
/// statements in one round trip to SQLite's thread, whatever their number;
/// failed rows one by one, since each may queue `delivery.failed` events.
pub(super) async fn finish_outbox_many(
    conn: &mut SqliteConnection,
    outcomes: &[(OutboxId, OutboxOutcome)],
    at: DateTime<Utc>,
) -> Result<()> {
    let (mut sent, mut retry) = (Vec::new(), Vec::new());
    for (id, outcome) in outcomes {
        match outcome {
            OutboxOutcome::Sent {
                provider_message_id,
                segments,
            } => sent.push(serde_json::json!([id.0, provider_message_id, segments])),
            OutboxOutcome::Retry { at: next, error } => {
                retry.push(serde_json::json!([id.0, us(*next), error]));
            }
            OutboxOutcome::Failed { .. } => {}
        }
    }
    if !sent.is_empty() || !retry.is_empty() {
        sqlx::query(sqlx::AssertSqlSafe(format!("{FINISH_SENT}{FINISH_RETRY}")))
            .bind(us(at))
            .bind(serde_json::Value::Array(sent).to_string())
            .bind(serde_json::Value::Array(retry).to_string())
            .execute(&mut *conn)
            .await?;
    }
    for (id, outcome) in outcomes {
        if let OutboxOutcome::Failed { .. } = outcome {
            finish_outbox(conn, *id, outcome, at).await?;
        }
    }
    Ok(())
}

pub(super) async fn finish_outbox(
    conn: &mut SqliteConnection,
    id: OutboxId,
    outcome: &OutboxOutcome,
    at: DateTime<Utc>,
) -> Result<()> {
    let query = match outcome {
        OutboxOutcome::Sent {
            provider_message_id,
            segments,
        } => sqlx::query(
            "UPDATE outbox SET status = 'sent', sent_at = ?, provider_message_id = ?, segments = ?, \
             error = NULL, attempts = attempts + 1, lease_until = NULL WHERE id = ? AND status = 'queued'",
        )
        .bind(us(at))
        .bind(provider_message_id.clone())
        .bind(*segments),
        OutboxOutcome::Retry { at: next, error } => sqlx::query(
            "UPDATE outbox SET next_attempt_at = ?, error = ?, attempts = attempts + 1, \
             lease_until = NULL WHERE id = ? AND status = 'queued'",
        )
        .bind(us(*next))
        .bind(error.clone()),
        OutboxOutcome::Failed { error } => sqlx::query(
            "UPDATE outbox SET status = 'failed', failed_at = ?, error = ?, attempts = attempts + 1, \
             lease_until = NULL WHERE id = ? AND status = 'queued'",
        )
        .bind(us(at))
        .bind(error.clone()),
    };
    let done = query.bind(id.0).execute(&mut *conn).await?;
    if let OutboxOutcome::Failed { error } = outcome
        && done.rows_affected() == 1
    {
        delivery_failed(conn, id, error, at).await?;
    }
    Ok(())
}

/// Queues `delivery.failed` for a message row just marked failed (not
/// for an event row: no event about events).
async fn delivery_failed(
    conn: &mut SqliteConnection,
    id: OutboxId,
    error: &str,
    at: DateTime<Utc>,
) -> Result<()> {
    let row = sqlx::query(
        "SELECT o.org_id, o.session_id, o.message_id, o.idempotency_key, o.purpose, \
         s.uuid AS session_uuid, c.uuid AS customer_uuid FROM outbox o \
         JOIN sessions s ON s.id = o.session_id JOIN customers c ON c.id = s.customer_id \
         WHERE o.id = ? AND o.message_id IS NOT NULL",
    )
    .bind(id.0)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(()) };
    let failed = FailedDelivery {
        org: OrgId(row.try_get("org_id")?),
        session: SessionId(row.try_get("session_id")?),
        session_uuid: uuid(&row, "session_uuid")?,
        customer_uuid: uuid(&row, "customer_uuid")?,
        message_id: row.try_get("message_id")?,
        idempotency_key: row.try_get("idempotency_key")?,
        purpose: row.try_get("purpose")?,
    };
    let channels = subscribers(&mut *conn, failed.org, "delivery.failed").await?;
    for event in delivery_failed_events(&failed, &channels, error, at) {
        queue_event(&mut *conn, &event).await?;
    }
    Ok(())
}

pub(super) async fn outbox_depth(pool: &SqlitePool) -> Result<Vec<OutboxDepth>> {
    let rows = sqlx::query(
        "SELECT channel_id, COUNT(*) AS queued, MIN(queued_at) AS oldest FROM outbox \
         WHERE status = 'queued' GROUP BY channel_id ORDER BY channel_id",
    )
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(OutboxDepth {
                channel: ChannelId(row.try_get("channel_id")?),
                queued: row.try_get("queued")?,
                oldest_queued_at: time(row.try_get("oldest")?)?,
            })
        })
        .collect()
}

// --- delivery reports and records ---------------------------------------------------

/// Statuses move forward only (the SET expressions read the old row).
pub(super) async fn record_delivery_report(
    conn: &mut SqliteConnection,
    channel: ChannelId,
    provider_message_id: &str,
    report: &DeliveryReport,
) -> Result<Option<ReportedRow>> {
    let row = sqlx::query(
        "UPDATE outbox SET \
         status = CASE WHEN ?1 IN ('delivered', 'failed') AND status = 'sent' THEN ?1 ELSE status END, \
         sent_at = COALESCE(sent_at, ?2), \
         delivered_at = CASE WHEN ?1 = 'delivered' AND status = 'sent' THEN ?2 ELSE delivered_at END, \
         failed_at = CASE WHEN ?1 = 'failed' AND status = 'sent' THEN ?2 ELSE failed_at END, \
         error = CASE WHEN ?1 = 'failed' AND status = 'sent' THEN ?3 ELSE error END \
         WHERE id = (SELECT id FROM outbox WHERE channel_id = ?4 AND provider_message_id = ?5 \
          AND status <> 'queued' ORDER BY id LIMIT 1) \
         RETURNING id, org_id, recipient, status",
    )
    .bind(report.status.as_str())
    .bind(us(report.at))
    .bind(report.error.clone())
    .bind(channel.0)
    .bind(provider_message_id)
    .fetch_optional(conn)
    .await?;
    row.map(|row| {
        Ok(ReportedRow {
            id: OutboxId(row.try_get("id")?),
            org: OrgId(row.try_get("org_id")?),
            recipient: row.try_get("recipient")?,
            status: parse(row.try_get("status")?)?,
        })
    })
    .transpose()
}

pub(super) async fn message_deliveries(
    pool: &SqlitePool,
    session: SessionId,
    after: Option<MessageId>,
    through: Option<MessageId>,
) -> Result<Vec<MessageDelivery>> {
    // A range of `messages_session (session_id, id)`, each message's row
    // found through the outbox's unique `message_id`.
    let rows = sqlx::query(
        "SELECT o.message_id, o.status, o.provider_message_id, o.error, o.attempts, o.segments, \
         o.queued_at, o.sent_at, o.delivered_at, o.failed_at \
         FROM messages m JOIN outbox o ON o.message_id = m.id \
         WHERE m.session_id = ? AND m.id > ? AND m.id <= ? \
         ORDER BY m.id",
    )
    .bind(session.0)
    .bind(after.map_or(0, |m| m.0))
    .bind(through.map_or(i64::MAX, |m| m.0))
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(MessageDelivery {
                message: MessageId(row.try_get("message_id")?),
                status: parse(row.try_get("status")?)?,
                provider_message_id: row.try_get("provider_message_id")?,
                error: row.try_get("error")?,
                attempts: row.try_get("attempts")?,
                segments: row.try_get("segments")?,
                queued_at: time(row.try_get("queued_at")?)?,
                sent_at: opt_time(row.try_get("sent_at")?)?,
                delivered_at: opt_time(row.try_get("delivered_at")?)?,
                failed_at: opt_time(row.try_get("failed_at")?)?,
            })
        })
        .collect()
}

pub(super) async fn opt_out_contact(
    conn: &mut SqliteConnection,
    org: OrgId,
    phone: &str,
    at: DateTime<Utc>,
) -> Result<bool> {
    let already: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM contacts WHERE org_id = ? AND phone = ? AND opted_out_at IS NOT NULL)",
    )
    .bind(org.0)
    .bind(phone)
    .fetch_one(&mut *conn)
    .await?;
    if already {
        return Ok(false);
    }
    opt_out(conn, org, phone, None, at).await?;
    Ok(true)
}

pub(super) async fn last_inbound_at(
    pool: &SqlitePool,
    customer: CustomerId,
) -> Result<Option<DateTime<Utc>>> {
    let at: Option<i64> = sqlx::query_scalar(
        "SELECT MAX(created_at) FROM messages WHERE customer_id = ? AND direction = 'RECEIVED'",
    )
    .bind(customer.0)
    .fetch_one(pool)
    .await?;
    opt_time(at)
}

/// The channel the customer is reached on from now on.
pub(super) async fn set_customer_channel(
    pool: &mut SqliteConnection,
    customer: CustomerId,
    channel: ChannelId,
) -> Result<()> {
    sqlx::query("UPDATE customers SET channel_id = ? WHERE id = ?")
        .bind(channel.0)
        .bind(customer.0)
        .execute(pool)
        .await?;
    Ok(())
}
