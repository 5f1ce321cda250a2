//! The success envelope `{"status", "message", "data"}` of the API family.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// A successful answer: `status` repeats the HTTP status, `message` is a
/// short past-tense phrase ("Messages successfully fetched").
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Envelope<T> {
    #[schema(example = 200)]
    pub status: u16,
    #[schema(value_type = String)]
    pub message: &'static str,
    pub data: T,
}

/// A `200 OK` envelope.
pub fn ok<T: Serialize>(message: &'static str, data: T) -> Envelope<T> {
    Envelope {
        status: 200,
        message,
        data,
    }
}

impl<T: Serialize> IntoResponse for Envelope<T> {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::OK);
        (status, Json(self)).into_response()
    }
}
