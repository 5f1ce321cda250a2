//! SQLite statements of contacts and their organisation: consent records,
//! E.164 phones filled in for customers registered before phones were
//! normalised, and the organisation's quiet hours.

use sqlx::{Row, SqliteConnection, SqlitePool};

use super::rows::{customer_from, opt_time, uuid};
use crate::Result;
use crate::model::*;

pub(super) async fn consent(pool: &SqlitePool, org: OrgId, phone: &str) -> Result<Option<Consent>> {
    let row = sqlx::query(
        "SELECT c.phone, c.opted_out_at, c.opted_in_at, m.text AS opted_out_message \
         FROM contacts c LEFT JOIN messages m ON m.id = c.opted_out_message_id \
         WHERE c.org_id = ? AND c.phone = ?",
    )
    .bind(org.0)
    .bind(phone)
    .fetch_optional(pool)
    .await?;
    row.map(|row| {
        Ok(Consent {
            phone: row.try_get("phone")?,
            opted_out_at: opt_time(row.try_get("opted_out_at")?)?,
            opted_out_message: row.try_get("opted_out_message")?,
            opted_in_at: opt_time(row.try_get("opted_in_at")?)?,
        })
    })
    .transpose()
}

pub(super) async fn customers_without_e164(
    pool: &SqlitePool,
    after: CustomerId,
    limit: u32,
) -> Result<Vec<Customer>> {
    let rows = sqlx::query(
        "SELECT * FROM customers WHERE phone_e164 IS NULL AND id > ? ORDER BY id LIMIT CAST(? AS INTEGER)",
    )
    .bind(after.0)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    rows.iter().map(customer_from).collect()
}

pub(super) async fn set_phone_e164(
    conn: &mut SqliteConnection,
    customer: &Customer,
    phone: &str,
) -> Result<PhoneSet> {
    let holder = sqlx::query("SELECT uuid FROM customers WHERE org_id = ? AND phone_e164 = ?")
        .bind(customer.org.0)
        .bind(phone)
        .fetch_optional(&mut *conn)
        .await?;
    if let Some(holder) = holder {
        return Ok(PhoneSet::Taken {
            by: uuid(&holder, "uuid")?,
        });
    }
    sqlx::query("UPDATE customers SET phone_e164 = ? WHERE id = ?")
        .bind(phone)
        .bind(customer.id.0)
        .execute(&mut *conn)
        .await?;
    Ok(PhoneSet::Set)
}

pub(super) async fn quiet_hours(pool: &SqlitePool, org: OrgId) -> Result<Option<QuietHours>> {
    let row = sqlx::query(
        "SELECT quiet_start, quiet_end, quiet_timezone FROM organisations WHERE id = ?",
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
    conn: &mut SqliteConnection,
    org: OrgId,
    quiet: Option<&QuietHours>,
) -> Result<()> {
    sqlx::query(
        "UPDATE organisations SET quiet_start = ?, quiet_end = ?, quiet_timezone = ? WHERE id = ?",
    )
    .bind(quiet.map(|q| q.start.as_str()))
    .bind(quiet.map(|q| q.end.as_str()))
    .bind(quiet.and_then(|q| q.timezone.as_deref()))
    .bind(org.0)
    .execute(conn)
    .await?;
    Ok(())
}
