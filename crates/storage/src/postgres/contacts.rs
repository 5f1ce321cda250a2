//! PostgreSQL statements of contacts and their organisation: consent
//! records, E.164 phones filled in for customers registered before phones
//! were normalised, and the organisation's quiet hours.

use chrono::{DateTime, Utc};
use sqlx::postgres::PgPool;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use super::rows::customer_from;
use crate::Result;
use crate::model::*;

pub(super) async fn consent(pool: &PgPool, org: OrgId, phone: &str) -> Result<Option<Consent>> {
    let row = sqlx::query(
        "SELECT c.phone, c.opted_out_at, c.opted_in_at, m.text AS opted_out_message \
         FROM contacts c LEFT JOIN messages m ON m.id = c.opted_out_message_id \
         WHERE c.org_id = $1 AND c.phone = $2",
    )
    .bind(org.0)
    .bind(phone)
    .fetch_optional(pool)
    .await?;
    row.map(|row| {
        Ok(Consent {
            phone: row.try_get("phone")?,
            opted_out_at: row.try_get::<Option<DateTime<Utc>>, _>("opted_out_at")?,
            opted_out_message: row.try_get("opted_out_message")?,
            opted_in_at: row.try_get::<Option<DateTime<Utc>>, _>("opted_in_at")?,
        })
    })
    .transpose()
}

pub(super) async fn customers_without_e164(
    pool: &PgPool,
    after: CustomerId,
    limit: u32,
) -> Result<Vec<Customer>> {
    let rows = sqlx::query(
        "SELECT * FROM customers WHERE phone_e164 IS NULL AND id > $1 ORDER BY id LIMIT $2",
    )
    .bind(after.0)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    rows.iter().map(customer_from).collect()
}

pub(super) async fn set_phone_e164(
    conn: &mut PgConnection,
    customer: &Customer,
    phone: &str,
) -> Result<PhoneSet> {
    // The unique index decides between two writers; the loser reads the
    // holder.
    let set = sqlx::query(
        "UPDATE customers SET phone_e164 = $1 WHERE id = $2 AND NOT EXISTS \
         (SELECT 1 FROM customers WHERE org_id = $3 AND phone_e164 = $1)",
    )
    .bind(phone)
    .bind(customer.id.0)
    .bind(customer.org.0)
    .execute(&mut *conn)
    .await?;
    if set.rows_affected() == 1 {
        return Ok(PhoneSet::Set);
    }
    let by: Uuid =
        sqlx::query_scalar("SELECT uuid FROM customers WHERE org_id = $1 AND phone_e164 = $2")
            .bind(customer.org.0)
            .bind(phone)
            .fetch_one(&mut *conn)
            .await?;
    Ok(PhoneSet::Taken { by })
}

pub(super) async fn quiet_hours(pool: &PgPool, org: OrgId) -> Result<Option<QuietHours>> {
    let row = sqlx::query(
        "SELECT quiet_start, quiet_end, quiet_timezone FROM organisations WHERE id = $1",
    )
    .bind(org.0)
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let start: Option<String> = row.try_get("quiet_start")?;
    let end: Option<String> = row.try_get("quiet_end")?;
    let timezone: Option<String> = row.try_get("quiet_timezone")?;
    Ok(start.zip(end).map(|(start, end)| QuietHours {
        start,
        end,
        timezone,
    }))
}

pub(super) async fn set_quiet_hours(
    conn: &mut PgConnection,
    org: OrgId,
    quiet: Option<&QuietHours>,
) -> Result<()> {
    sqlx::query("UPDATE organisations SET quiet_start = $1, quiet_end = $2, quiet_timezone = $3 WHERE id = $4")
        .bind(quiet.map(|q| q.start.as_str()))
        .bind(quiet.map(|q| q.end.as_str()))
        .bind(quiet.and_then(|q| q.timezone.as_deref()))
        .bind(org.0)
        .execute(conn)
        .await?;
    Ok(())
}
