//! Register and fetch customers.

use axum::extract::State;
use chatcourse_channels::phone::{Country, Phone};
use chatcourse_storage::{Customer, NewCustomer};
use chrono::{DateTime, NaiveDate, Utc};

use crate::envelope::{Envelope, ok};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{JsonBody, QueryParams, check};
use crate::state::{AppState, Org};
use crate::wire::{CustomerData, RegisterCustomer};

/// Longest accepted text field of a customer, in characters.
const MAX_FIELD_CHARS: usize = 200;

/// Register customer.
#[utoipa::path(
    post,
    path = "/api/v1/customer/mfi/register",
    tag = "customers",
    request_body = RegisterCustomer,
    responses(
        (status = 200, description = "Customer successfully registered", body = Envelope<CustomerData>),
        (status = 400, description = "Invalid input", body = ErrorBody),
        (status = 401, description = "Missing or wrong API key", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn register(
    State(state): State<AppState>,
    Org(org): Org,
    JsonBody(body): JsonBody<RegisterCustomer>,
) -> Result<Envelope<CustomerData>, ApiError> {
    let customer = validate(body, state.default_country, state.clock.now())?;
    let stored = state
        .store
        .register_customer(org, &customer)
        .await
        .map_err(ApiError::internal)?;
    Ok(ok(
        "Customer successfully registered",
        customer_data(&state, &stored).await?,
    ))
}

/// The customer as answered, with its contact's consent.
async fn customer_data(state: &AppState, customer: &Customer) -> Result<CustomerData, ApiError> {
    let consent = match &customer.phone_e164 {
        Some(phone) => state
            .store
            .consent(customer.org, phone)
            .await
            .map_err(ApiError::internal)?,
        None => None,
    };
    Ok(CustomerData::new(
        customer,
        consent.as_ref(),
        state.timezone,
    ))
}

/// Fetch customer.
#[utoipa::path(
    get,
    path = "/api/v1/customer/mfi",
    tag = "customers",
    params(("customerUuid" = String, Query, description = "The customer's uuid")),
    responses(
        (status = 200, description = "Customer successfully fetched", body = Envelope<CustomerData>),
        (status = 400, description = "Missing or invalid parameter", body = ErrorBody),
        (status = 401, description = "Missing or wrong API key", body = ErrorBody),
        (status = 404, description = "No such customer in this organisation", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn fetch(
    State(state): State<AppState>,
    Org(org): Org,
    query: QueryParams,
) -> Result<Envelope<CustomerData>, ApiError> {
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
    Ok(ok(
        "Customer successfully fetched",
        customer_data(&state, &customer).await?,
    ))
}

fn validate(
    body: RegisterCustomer,
    country: Country,
    registered_at: DateTime<Utc>,
) -> Result<NewCustomer, ApiError> {
    let mut errors = Vec::new();
    let mut text = |name: &str, value: &str, required: bool| -> String {
        let value = value.trim();
        if required && value.is_empty() {
            errors.push(format!("{name}: must not be empty"));
        } else if value.contains('\0') {
            errors.push(format!("{name}: must not contain NUL characters"));
        } else if value.chars().count() > MAX_FIELD_CHARS {
            errors.push(format!(
                "{name}: must be at most {MAX_FIELD_CHARS} characters"
            ));
        }
        value.to_owned()
    };
    let full_name = text("full_name", &body.full_name, true);
    let national_id = text("national_id", &body.national_id, true);
    let phone = text("phone", &body.phone, true);
    let location = text("location", &body.location, false);
    let gender = text("gender", &body.gender, false);
    let email = text("email", body.email.as_deref().unwrap_or(""), false);
    if !phone.is_empty() && !valid_phone(&phone) {
        errors.push("phone: must be 7 to 15 digits, optionally after a +".to_owned());
    }
    // The phone in E.164, the key a learner is reached and found by
    // (docs/channels.md); the response keeps the phone as given.
    let phone_e164 = if phone.is_empty() || !valid_phone(&phone) {
        None
    } else {
        match Phone::parse(&phone, Some(country)) {
            Ok(e164) => Some(e164.as_str().to_owned()),
            Err(e) => {
                errors.push(format!("phone: {e}"));
                None
            }
        }
    };
    if !email.is_empty() && !email.contains('@') {
        errors.push("email: must be an email address".to_owned());
    }
    let date_of_birth = match body.date_of_birth.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(raw) => {
            let parsed = NaiveDate::parse_from_str(raw, "%d/%m/%Y")
                .or_else(|_| NaiveDate::parse_from_str(raw, "%Y-%m-%d"));
            match parsed {
                Ok(date) => Some(date),
                Err(_) => {
                    errors.push("date_of_birth: must be dd/MM/yyyy or yyyy-MM-dd".to_owned());
                    None
                }
            }
        }
    };
    check(errors)?;
    Ok(NewCustomer {
        full_name,
        national_id,
        phone,
        phone_e164,
        location,
        gender,
        email: (!email.is_empty()).then_some(email),
        date_of_birth,
        registered_at,
    })
}

/// 7 to 15 digits, optionally after a `+`; spaces between digits are
/// allowed (`0712 345 678`).
fn valid_phone(phone: &str) -> bool {
    let digits: String = phone.chars().filter(|c| *c != ' ').collect();
    let digits = digits.strip_prefix('+').unwrap_or(&digits);
    (7..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body() -> RegisterCustomer {
        RegisterCustomer {
            full_name: " Jane Wanjiku ".to_owned(),
            national_id: "12345678".to_owned(),
            phone: "254712345678".to_owned(),
            location: "Nairobi".to_owned(),
            gender: "Female".to_owned(),
            email: None,
            date_of_birth: Some("01/02/1990".to_owned()),
        }
    }

    fn ke() -> Country {
        "KE".parse().unwrap()
    }

    #[test]
    fn accepts_a_good_customer() {
        let c = validate(body(), ke(), Utc::now()).unwrap();
        assert_eq!(c.full_name, "Jane Wanjiku");
        assert_eq!(c.phone_e164.as_deref(), Some("+254712345678"));
        assert_eq!(c.date_of_birth, NaiveDate::from_ymd_opt(1990, 2, 1));
    }

    #[test]
    fn phones_are_normalised_with_the_default_country() {
        for (given, e164) in [
            ("0712 345 678", "+254712345678"),
            ("254712345678", "+254712345678"),
            ("+254712345678", "+254712345678"),
            ("+256772123456", "+256772123456"),
        ] {
            let mut b = body();
            b.phone = given.to_owned();
            let c = validate(b, ke(), Utc::now()).unwrap();
            assert_eq!(c.phone_e164.as_deref(), Some(e164), "{given}");
            assert_eq!(c.phone, given.trim(), "the phone as given is kept");
        }
        let mut b = body();
        b.phone = "0012345678".to_owned();
        let e = validate(b, ke(), Utc::now()).unwrap_err();
        assert_eq!(e.code(), "validation_failed");
    }

    #[test]
    fn reports_every_problem_at_once() {
        let mut b = body();
        b.full_name = "  ".to_owned();
        b.phone = "07-12".to_owned();
        b.date_of_birth = Some("1990/02/01".to_owned());
        let e = validate(b, ke(), Utc::now()).unwrap_err();
        assert_eq!(e.code(), "validation_failed");
        assert_eq!(
            e.details(),
            [
                "full_name: must not be empty",
                "phone: must be 7 to 15 digits, optionally after a +",
                "date_of_birth: must be dd/MM/yyyy or yyyy-MM-dd",
            ]
        );
    }
}
