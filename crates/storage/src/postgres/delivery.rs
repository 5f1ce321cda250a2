//! PostgreSQL statements of delivery: channels, phones, consent and the outbox.

use chrono::{DateTime, Utc};
use sqlx::Postgres;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;

use super::rows::{MESSAGE_COLS, customer_from, message_from};
use crate::model::*;
use crate::turn::{FailedDelivery, QueuedEvent, QueuedRow, Reach, delivery_failed_events};
use crate::{Result, parse};

const CHANNEL_COLS: &str = "id, uuid, org_id, kind, name, settings::text AS settings, secrets, default_country, \
     rate_per_second, created_at, disabled_at";

fn channel_from(row: &PgRow) -> Result<Channel> {
    Ok(Channel {
        id: ChannelId(row.try_get("id")?),
        uuid: row.try_get("uuid")?,
        org: OrgId(row.try_get("org_id")?),
        kind: row.try_get("kind")?,
        name: row.try_get("name")?,
        settings: row.try_get("settings")?,
        secrets: row.try_get("secrets")?,
        default_country: row.try_get("default_country")?,
        rate_per_second: u32::try_from(row.try_get::<i32, _>("rate_per_second")?).unwrap_or(1),
        created_at: row.try_get("created_at")?,
        disabled_at: row.try_get("disabled_at")?,
    })
}

pub(super) async fn create_channel(conn: &mut PgConnection, c: &NewChannel) -> Result<Channel> {
    let sql = format!(
        "INSERT INTO channels (uuid, org_id, kind, name, settings, secrets, default_country, \
         rate_per_second, created_at) VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9) RETURNING {CHANNEL_COLS}"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(c.uuid)
        .bind(c.org.0)
        .bind(&c.kind)
        .bind(&c.name)
        .bind(&c.settings)
        .bind(&c.secrets)
        .bind(&c.default_country)
        .bind(i32::try_from(c.rate_per_second).unwrap_or(i32::MAX))
        .bind(c.created_at)
        .fetch_one(conn)
        .await?;
    channel_from(&row)
}

/// Channels matching `filter` (a WHERE clause binding one value).
async fn channels_where<'q, T>(pool: &PgPool, filter: &str, value: T) -> Result<Vec<Channel>>
where
    T: 'q + sqlx::Encode<'q, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send,
{
    let sql = format!("SELECT {CHANNEL_COLS} FROM channels WHERE {filter} ORDER BY id");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(value)
        .fetch_all(pool)
        .await?;
    rows.iter().map(channel_from).collect()
}

pub(super) async fn list_channels(pool: &PgPool, org: OrgId) -> Result<Vec<Channel>> {
    channels_where(pool, "org_id = $1", org.0).await
}

pub(super) async fn find_channel(pool: &PgPool, uuid: Uuid) -> Result<Option<Channel>> {
    Ok(channels_where(pool, "uuid = $1", uuid).await?.pop())
}

pub(super) async fn channel(pool: &PgPool, id: ChannelId) -> Result<Option<Channel>> {
    Ok(channels_where(pool, "id = $1", id.0).await?.pop())
}

pub(super) async fn disable_channel(
    conn: &mut PgConnection,
    org: OrgId,
    uuid: Uuid,
    at: DateTime<Utc>,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE channels SET disabled_at = $1 WHERE org_id = $2 AND uuid = $3 AND disabled_at IS NULL",
    )
    .bind(at)
    .bind(org.0)
    .bind(uuid)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

pub(super) async fn customer_by_phone(
    pool: &PgPool,
    org: OrgId,
    phone: &str,
) -> Result<Option<Customer>> {
    let row = sqlx::query("SELECT * FROM customers WHERE org_id = $1 AND phone_e164 = $2")
        .bind(org.0)
        .bind(phone)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(customer_from).transpose()
}

pub(super) async fn opted_out(pool: &PgPool, org: OrgId, phone: &str) -> Result<bool> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM contacts WHERE org_id = $1 AND phone = $2 AND opted_out_at IS NOT NULL)",
    )
    .bind(org.0)
    .bind(phone)
    .fetch_one(pool)
    .await?)
}

pub(super) async fn opt_in(
    conn: &mut PgConnection,
    org: OrgId,
    phone: &str,
    at: DateTime<Utc>,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE contacts SET opted_out_at = NULL, opted_out_message_id = NULL, opted_in_at = $1 \
         WHERE org_id = $2 AND phone = $3 AND opted_out_at IS NOT NULL",
    )
    .bind(at)
    .bind(org.0)
    .bind(phone)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    sqlx::query(
        "INSERT INTO consent_events (org_id, phone, event, at) VALUES ($1, $2, 'opted_in', $3)",
    )
    .bind(org.0)
    .bind(phone)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(true)
}

// --- inside a turn -------------------------------------------------------------

pub(super) async fn subscribers(
    conn: &mut PgConnection,
    org: OrgId,
    event: &str,
) -> Result<Vec<ChannelId>> {
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM channels WHERE org_id = $1 AND disabled_at IS NULL \
         AND settings->'events' ? $2 ORDER BY id",
    )
    .bind(org.0)
    .bind(event)
    .fetch_all(conn)
    .await?;
    Ok(ids.into_iter().map(ChannelId).collect())
}

pub(super) async fn quiz_totals(
    conn: &mut PgConnection,
    version: ModuleVersionId,
) -> Result<(i32, i32)> {
    let row =
        sqlx::query("SELECT pre_quiz_total, post_quiz_total FROM module_versions WHERE id = $1")
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

pub(super) async fn queue_event(conn: &mut PgConnection, q: &QueuedEvent) -> Result<()> {
    sqlx::query(
        "INSERT INTO outbox (org_id, channel_id, recipient, message_id, session_id, purpose, payload, \
         idempotency_key, status, attempts, next_attempt_at, queued_at) \
         VALUES ($1, $2, $3, NULL, $4, 'event', $5::jsonb, $6, 'queued', 0, $7, $8)",
    )
    .bind(q.org.0)
    .bind(q.channel.0)
    .bind(&q.recipient)
    .bind(q.session.0)
    .bind(&q.payload)
    .bind(&q.idempotency_key)
    .bind(q.at)
    .bind(q.at)
    .execute(conn)
    .await?;
    Ok(())
}

/// How a customer (`c`, a `customers` row) is reached: their E.164 phone,
/// the channel to use and whether the contact opted out.
pub(super) const REACH_COLS: &str = "c.phone_e164, \
     COALESCE((SELECT ch.id FROM channels ch WHERE ch.id = c.channel_id AND ch.disabled_at IS NULL), \
      (SELECT ch.id FROM channels ch WHERE ch.org_id = c.org_id AND ch.disabled_at IS NULL \
       AND (ch.settings->>'messages') IS DISTINCT FROM 'false' ORDER BY ch.id LIMIT 1)) AS channel_id, \
     EXISTS (SELECT 1 FROM contacts k WHERE k.org_id = c.org_id AND k.phone = c.phone_e164 \
      AND k.opted_out_at IS NOT NULL) AS opted_out";

/// A row with [`REACH_COLS`]: `None` if the customer has no phone.
pub(super) fn reach_from(row: &PgRow) -> Result<Option<Reach>> {
    let Some(phone) = row.try_get::<Option<String>, _>("phone_e164")? else {
        return Ok(None);
    };
    Ok(Some(Reach {
        phone,
        channel: row.try_get::<Option<i64>, _>("channel_id")?.map(ChannelId),
        opted_out: row.try_get("opted_out")?,
    }))
}

pub(super) async fn reach(conn: &mut PgConnection, customer: CustomerId) -> Result<Option<Reach>> {
    let sql = format!("SELECT {REACH_COLS} FROM customers c WHERE c.id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(customer.0)
        .fetch_optional(conn)
        .await?;
    Ok(row.as_ref().map(reach_from).transpose()?.flatten())
}

/// Inserts outbox rows (queued, due at once) in one statement, in order.
/// The caller counts them on the session's row.
/// A data-modifying CTE `queued` inserting outbox rows of messages
/// (status queued, due at once) in order, from eight arrays bound as
/// parameters `$first` to `$first + 7` by [`bind_queued`]. A statement
/// carries it to write a turn's rows without a round trip of their own.
pub(super) fn queued_cte(first: usize) -> String {
    let p = |i: usize| format!("${}", first + i);
    format!(
        "queued AS (INSERT INTO outbox (org_id, channel_id, recipient, message_id, session_id, purpose, \
         idempotency_key, status, attempts, next_attempt_at, queued_at) \
         SELECT org_id, channel_id, recipient, message_id, session_id, purpose, idempotency_key, \
         'queued', 0, at, at \
         FROM unnest({}::bigint[], {}::bigint[], {}::text[], {}::bigint[], {}::bigint[], {}::text[], \
         {}::text[], {}::timestamptz[]) WITH ORDINALITY \
         AS q(org_id, channel_id, recipient, message_id, session_id, purpose, idempotency_key, at, n) \
         ORDER BY n)",
        p(0),
        p(1),
        p(2),
        p(3),
        p(4),
        p(5),
        p(6),
        p(7)
    )
}

/// Binds the eight arrays of [`queued_cte`], in its order.
pub(super) fn bind_queued<'q>(
    query: sqlx::query::Query<'q, Postgres, PgArguments>,
    rows: &[QueuedRow<'_>],
) -> sqlx::query::Query<'q, Postgres, PgArguments> {
    query
        .bind(rows.iter().map(|q| q.org.0).collect::<Vec<_>>())
        .bind(rows.iter().map(|q| q.channel.0).collect::<Vec<_>>())
        .bind(
            rows.iter()
                .map(|q| q.recipient.to_owned())
                .collect::<Vec<_>>(),
        )
        .bind(rows.iter().map(|q| q.message.id.0).collect::<Vec<_>>())
        .bind(rows.iter().map(|q| q.message.session.0).collect::<Vec<_>>())
        .bind(rows.iter().map(|q| q.purpose).collect::<Vec<_>>())
        .bind(
            rows.iter()
                .map(|q| q.idempotency_key.clone())
                .collect::<Vec<_>>(),
        )
        .bind(rows.iter().map(|q| q.at).collect::<Vec<_>>())
}

pub(super) async fn opt_out(
    conn: &mut PgConnection,
    org: OrgId,
    phone: &str,
    message: Option<MessageId>,
    at: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO contacts (org_id, phone, opted_out_at, opted_out_message_id) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (org_id, phone) DO UPDATE SET opted_out_at = excluded.opted_out_at, \
         opted_out_message_id = excluded.opted_out_message_id",
    )
    .bind(org.0)
    .bind(phone)
    .bind(at)
    .bind(message.map(|m| m.0))
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO consent_events (org_id, phone, event, message_id, at) VALUES ($1, $2, 'opted_out', $3, $4)",
    )
    .bind(org.0)
    .bind(phone)
    .bind(message.map(|m| m.0))
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

pub(super) async fn customer_opted_out(
    conn: &mut PgConnection,
    customer: CustomerId,
) -> Result<bool> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM customers c JOIN contacts k ON k.org_id = c.org_id \
         AND k.phone = c.phone_e164 WHERE c.id = $1 AND k.opted_out_at IS NOT NULL)",
    )
    .bind(customer.0)
    .fetch_one(conn)
    .await?)
}

// --- the outbox ------------------------------------------------------------------

fn outbox_from(row: &PgRow) -> Result<OutboxItem> {
    Ok(OutboxItem {
        id: OutboxId(row.try_get("outbox_id")?),
        org: OrgId(row.try_get("org_id")?),
        channel: ChannelId(row.try_get("channel_id")?),
        recipient: row.try_get("recipient")?,
        purpose: row.try_get("purpose")?,
        idempotency_key: row.try_get("idempotency_key")?,
        status: parse(row.try_get("status")?)?,
        attempts: u32::try_from(row.try_get::<i32, _>("attempts")?).unwrap_or(0),
        provider_message_id: row.try_get("provider_message_id")?,
        error: row.try_get("error")?,
        queued_at: row.try_get("queued_at")?,
        customer_uuid: row.try_get("customer_uuid")?,
        // Event rows carry a payload, not a message.
        message: match row.try_get::<Option<i64>, _>("id")? {
            Some(_) => Some(message_from(row)?),
            None => None,
        },
        payload: row.try_get("payload")?,
    })
}

/// Outbox rows matching `filter` (binding one value), in id order.
async fn outbox_where(
    conn: &mut PgConnection,
    filter: &str,
    value: i64,
) -> Result<Vec<OutboxItem>> {
    let sql = format!(
        "SELECT o.id AS outbox_id, o.org_id, o.channel_id, o.recipient, o.purpose, o.idempotency_key, \
         o.status, o.attempts, o.provider_message_id, o.error, o.queued_at, c.uuid AS customer_uuid, \
         o.payload::text AS payload, {MESSAGE_COLS} FROM outbox o LEFT JOIN messages m ON m.id = o.message_id \
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
    conn: &mut PgConnection,
    session: SessionId,
) -> Result<Vec<OutboxItem>> {
    // Message rows through `messages_session`, event rows through the
    // partial index `outbox_session_events`.
    outbox_where(
        conn,
        "o.id IN (SELECT x.id FROM messages xm JOIN outbox x ON x.message_id = xm.id \
         WHERE xm.session_id = $1 \
         UNION ALL SELECT x.id FROM outbox x WHERE x.session_id = $1 AND x.message_id IS NULL)",
        session.0,
    )
    .await
}

/// In a transaction: rows another claimer holds are skipped, not waited for.
pub(super) async fn claim_outbox(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<OutboxItem>> {
    let ids: Vec<i64> = sqlx::query_scalar(
        "UPDATE outbox SET lease_until = $1 WHERE id IN (SELECT o.id FROM outbox o \
         JOIN channels ch ON ch.id = o.channel_id AND ch.disabled_at IS NULL \
         WHERE o.status = 'queued' AND o.head AND o.next_attempt_at <= $2 \
         AND (o.lease_until IS NULL OR o.lease_until <= $3) \
         ORDER BY o.next_attempt_at, o.id LIMIT $4 FOR UPDATE OF o SKIP LOCKED) RETURNING id",
    )
    .bind(until)
    .bind(now)
    .bind(now)
    .bind(i64::from(limit))
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        out.extend(outbox_where(conn, "o.id = $1", id).await?);
    }
    out.sort_by_key(|o| o.id);
    Ok(out)
}

/// Before the outcomes of `moved` rows (sent or failed) are recorded:
/// their sessions, locked `FOR NO KEY UPDATE` in id order. Moving a
/// message's row updates its session's delivery counts, and a failed
/// message queues a `delivery.failed` event that references its session;
/// taking the sessions' locks first keeps the order a turn takes its locks
/// in (the session, then the learner's, from the queueing trigger). Taken
/// after a learner's lock (from the trigger that ends a head), one could
/// wait for a turn that waits for that learner's lock: a deadlock.
pub(super) async fn lock_sessions_of(conn: &mut PgConnection, moved: &[OutboxId]) -> Result<()> {
    if moved.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "SELECT 1 FROM sessions WHERE id IN (SELECT session_id FROM outbox WHERE id = ANY($1)) \
         ORDER BY id FOR NO KEY UPDATE",
    )
    .bind(moved.iter().map(|id| id.0).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}

/// The rest of a statement whose CTE `moved` moved a queued row to
/// `$column`'s status: the row's session counts it there (a message's row;
/// events are not counted), and the statement returns how many rows moved.
macro_rules! count_moved {
    ($column:literal) => {
        concat!(
            " RETURNING session_id, message_id), counted AS (UPDATE sessions s SET \
             outbox_queued = s.outbox_queued - 1, ",
            $column,
            " = s.",
            $column,
            " + 1 FROM moved m WHERE s.id = m.session_id AND m.message_id IS NOT NULL) \
             SELECT COUNT(*) FROM moved"
        )
    };
}

/// Records a claimed row's outcome, if the row is still queued. The
/// caller holds the lock of the row's session ([`lock_sessions_of`]).
pub(super) async fn finish_outbox(
    conn: &mut PgConnection,
    id: OutboxId,
    outcome: &OutboxOutcome,
    at: DateTime<Utc>,
) -> Result<()> {
    let moved: i64 =
        match outcome {
            OutboxOutcome::Sent {
                provider_message_id,
                segments,
            } => {
                sqlx::query_scalar(concat!(
                    "WITH moved AS (UPDATE outbox SET status = 'sent', sent_at = $1, \
                 provider_message_id = $2, segments = $3, error = NULL, attempts = attempts + 1, \
                 lease_until = NULL WHERE id = $4 AND status = 'queued'",
                    count_moved!("outbox_sent")
                ))
                .bind(at)
                .bind(provider_message_id.clone())
                .bind(segments.map(|n| i32::try_from(n).unwrap_or(i32::MAX)))
                .bind(id.0)
                .fetch_one(&mut *conn)
                .await?
            }
            OutboxOutcome::Retry { at: next, error } => {
                let done = sqlx::query(
                    "UPDATE outbox SET next_attempt_at = $1, error = $2, attempts = attempts + 1, \
                 lease_until = NULL WHERE id = $3 AND status = 'queued'",
                )
                .bind(*next)
                .bind(error.clone())
                .bind(id.0)
                .execute(&mut *conn)
                .await?;
                i64::try_from(done.rows_affected()).unwrap_or(i64::MAX)
            }
            OutboxOutcome::Failed { error } => sqlx::query_scalar(concat!(
                "WITH moved AS (UPDATE outbox SET status = 'failed', failed_at = $1, error = $2, \
                 attempts = attempts + 1, lease_until = NULL WHERE id = $3 AND status = 'queued'",
                count_moved!("outbox_failed")
            ))
            .bind(at)
            .bind(error.clone())
            .bind(id.0)
            .fetch_one(&mut *conn)
            .await?,
        };
    if let OutboxOutcome::Failed { error } = outcome
        && moved == 1
    {
        delivery_failed(conn, id, error, at).await?;
    }
    Ok(())
}

/// Queues `delivery.failed` for a message row just marked failed (not
/// for an event row: no event about events).
async fn delivery_failed(
    conn: &mut PgConnection,
    id: OutboxId,
    error: &str,
    at: DateTime<Utc>,
) -> Result<()> {
    let row = sqlx::query(
        "SELECT o.org_id, o.session_id, o.message_id, o.idempotency_key, o.purpose, \
         s.uuid AS session_uuid, c.uuid AS customer_uuid FROM outbox o \
         JOIN sessions s ON s.id = o.session_id JOIN customers c ON c.id = s.customer_id \
         WHERE o.id = $1 AND o.message_id IS NOT NULL",
    )
    .bind(id.0)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(()) };
    let failed = FailedDelivery {
        org: OrgId(row.try_get("org_id")?),
        session: SessionId(row.try_get("session_id")?),
        session_uuid: row.try_get::<Uuid, _>("session_uuid")?,
        customer_uuid: row.try_get::<Uuid, _>("customer_uuid")?,
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

pub(super) async fn outbox_depth(pool: &PgPool) -> Result<Vec<OutboxDepth>> {
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
                oldest_queued_at: row.try_get("oldest")?,
            })
        })
        .collect()
}

// --- delivery reports and records ---------------------------------------------------

/// Statuses move forward only (the SET expressions read the old row).
pub(super) async fn record_delivery_report(
    conn: &mut PgConnection,
    channel: ChannelId,
    provider_message_id: &str,
    report: &DeliveryReport,
    at: DateTime<Utc>,
) -> Result<Option<ReportedRow>> {
    // The row is locked first (`was`), then its session's counts move with
    // it. No lock order to keep with turns or the dispatcher: neither waits
    // for a row that has left 'queued'.
    let row = sqlx::query(
        "WITH was AS (SELECT id, status FROM outbox WHERE channel_id = $4 \
          AND provider_message_id = $5 AND status <> 'queued' ORDER BY id LIMIT 1 FOR UPDATE), \
         reported AS (UPDATE outbox o SET \
         status = CASE WHEN $1 IN ('delivered', 'failed') AND o.status = 'sent' THEN $1 ELSE o.status END, \
         sent_at = COALESCE(o.sent_at, $2), \
         delivered_at = CASE WHEN $1 = 'delivered' AND o.status = 'sent' THEN $2 ELSE o.delivered_at END, \
         failed_at = CASE WHEN $1 = 'failed' AND o.status = 'sent' THEN $2 ELSE o.failed_at END, \
         error = CASE WHEN $1 = 'failed' AND o.status = 'sent' THEN $3 ELSE o.error END \
         FROM was WHERE o.id = was.id \
         RETURNING o.id, o.org_id, o.recipient, o.status, o.session_id, o.message_id, was.status AS was), \
         counted AS (UPDATE sessions s SET \
          outbox_sent = s.outbox_sent - 1, \
          outbox_delivered = s.outbox_delivered + (r.status = 'delivered')::int, \
          outbox_failed = s.outbox_failed + (r.status = 'failed')::int \
          FROM reported r WHERE s.id = r.session_id AND r.message_id IS NOT NULL \
          AND r.was = 'sent' AND r.status <> 'sent') \
         SELECT id, org_id, recipient, status FROM reported",
    )
    .bind(report.status.as_str())
    .bind(at)
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
    pool: &PgPool,
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
         WHERE m.session_id = $1 AND m.id > $2 AND m.id <= $3 \
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
                attempts: u32::try_from(row.try_get::<i32, _>("attempts")?).unwrap_or(0),
                segments: row
                    .try_get::<Option<i32>, _>("segments")?
                    .map(|n| u32::try_from(n).unwrap_or(0)),
                queued_at: row.try_get("queued_at")?,
                sent_at: row.try_get("sent_at")?,
                delivered_at: row.try_get("delivered_at")?,
                failed_at: row.try_get("failed_at")?,
            })
        })
        .collect()
}

pub(super) async fn opt_out_contact(
    conn: &mut PgConnection,
    org: OrgId,
    phone: &str,
    at: DateTime<Utc>,
) -> Result<bool> {
    let already: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM contacts WHERE org_id = $1 AND phone = $2 \
         AND opted_out_at IS NOT NULL)",
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
    pool: &PgPool,
    customer: CustomerId,
) -> Result<Option<DateTime<Utc>>> {
    Ok(sqlx::query_scalar(
        "SELECT MAX(created_at) FROM messages WHERE customer_id = $1 AND direction = 'RECEIVED'",
    )
    .bind(customer.0)
    .fetch_one(pool)
    .await?)
}

/// The channel the customer is reached on from now on.
pub(super) async fn set_customer_channel(
    pool: &PgPool,
    customer: CustomerId,
    channel: ChannelId,
) -> Result<()> {
    sqlx::query("UPDATE customers SET channel_id = $1 WHERE id = $2")
        .bind(channel.0)
        .bind(customer.0)
        .execute(pool)
        .await?;
    Ok(())
}
