//! The closed set of errors the API returns.
//!
//! Every variant has a stable machine-readable `code`, an HTTP status and a
//! short message; the response body is always the error envelope
//! `{"status", "message", "errors": ["field: reason", ...], "code"}`.
//! Internal errors are logged with their cause and shown only as
//! `internal_error`, so nothing about the server's insides leaks.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// The error envelope. `errors` is always present (possibly empty).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Repeats the HTTP status code.
    #[schema(example = 400)]
    pub status: u16,
    #[schema(example = "Validation failed for one or more arguments")]
    pub message: String,
    /// Problems with the input, each as `"<field>: <reason>"`.
    #[schema(example = json!(["customerUuid: must be a UUID"]))]
    pub errors: Vec<String>,
    /// Stable machine-readable code (see docs/api.md).
    #[schema(example = "validation_failed")]
    pub code: &'static str,
}

/// Every error the API can answer with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("Missing API key")]
    MissingApiKey,
    #[error("Invalid API key")]
    InvalidApiKey,
    /// A learner token (`/api/v1/ws?token=`) that is unknown or expired.
    #[error("Invalid or expired session token")]
    InvalidToken,
    /// Input that parsed but breaks a rule; one `field: reason` per problem.
    #[error("Validation failed for one or more arguments")]
    Validation(Vec<String>),
    /// The body is not JSON, or JSON of the wrong shape (types, missing
    /// fields); one `field: reason` per problem.
    #[error("Malformed JSON body")]
    MalformedJson(Vec<String>),
    #[error("Request body is not valid UTF-8")]
    InvalidUtf8,
    #[error("Request body must be JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    #[error("Request body is too large")]
    PayloadTooLarge { limit_bytes: usize },
    #[error("Message is too long")]
    MessageTooLong { limit_chars: usize },
    #[error("Customer not found")]
    CustomerNotFound,
    #[error("Session not found")]
    SessionNotFound,
    #[error("No conversation matches the query")]
    ConversationNotFound,
    #[error("Module not found")]
    ModuleNotFound,
    #[error("Program not found")]
    ProgramNotFound,
    #[error("Route not found")]
    RouteNotFound,
    #[error("Method not allowed")]
    MethodNotAllowed,
    #[error("The server is shutting down")]
    ShuttingDown,
    #[error("The service is not ready")]
    NotReady,
    /// Anything that is the server's fault. The cause is logged, not shown.
    #[error("Internal server error")]
    Internal(String),
}

impl ApiError {
    /// Every code, for the docs table and the tests.
    pub const CODES: &'static [&'static str] = &[
        "missing_api_key",
        "invalid_api_key",
        "invalid_token",
        "validation_failed",
        "malformed_json",
        "invalid_utf8",
        "unsupported_media_type",
        "payload_too_large",
        "message_too_long",
        "customer_not_found",
        "session_not_found",
        "conversation_not_found",
        "module_not_found",
        "program_not_found",
        "route_not_found",
        "method_not_allowed",
        "shutting_down",
        "not_ready",
        "internal_error",
    ];

    /// Wraps an internal failure; it is logged when turned into a response.
    pub fn internal(cause: impl std::fmt::Display) -> ApiError {
        ApiError::Internal(cause.to_string())
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::MissingApiKey => "missing_api_key",
            ApiError::InvalidApiKey => "invalid_api_key",
            ApiError::InvalidToken => "invalid_token",
            ApiError::Validation(_) => "validation_failed",
            ApiError::MalformedJson(_) => "malformed_json",
            ApiError::InvalidUtf8 => "invalid_utf8",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::MessageTooLong { .. } => "message_too_long",
            ApiError::CustomerNotFound => "customer_not_found",
            ApiError::SessionNotFound => "session_not_found",
            ApiError::ConversationNotFound => "conversation_not_found",
            ApiError::ModuleNotFound => "module_not_found",
            ApiError::ProgramNotFound => "program_not_found",
            ApiError::RouteNotFound => "route_not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::ShuttingDown => "shutting_down",
            ApiError::NotReady => "not_ready",
            ApiError::Internal(_) => "internal_error",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::MissingApiKey | ApiError::InvalidApiKey | ApiError::InvalidToken => {
                StatusCode::UNAUTHORIZED
            }
            ApiError::Validation(_)
            | ApiError::MalformedJson(_)
            | ApiError::InvalidUtf8
            | ApiError::MessageTooLong { .. } => StatusCode::BAD_REQUEST,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::CustomerNotFound
            | ApiError::SessionNotFound
            | ApiError::ConversationNotFound
            | ApiError::ModuleNotFound
            | ApiError::ProgramNotFound
            | ApiError::RouteNotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::ShuttingDown | ApiError::NotReady => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `errors` array: what exactly was wrong with the input.
    pub fn details(&self) -> Vec<String> {
        match self {
            ApiError::Validation(errors) | ApiError::MalformedJson(errors) => errors.clone(),
            ApiError::InvalidUtf8 => vec!["body: is not valid UTF-8".to_owned()],
            ApiError::UnsupportedMediaType => {
                vec!["Content-Type: must be application/json".to_owned()]
            }
            ApiError::PayloadTooLarge { limit_bytes } => {
                vec![format!("body: must be at most {limit_bytes} bytes")]
            }
            ApiError::MessageTooLong { limit_chars } => {
                vec![format!("message: must be at most {limit_chars} characters")]
            }
            ApiError::MissingApiKey => vec![
                "Authorization: send `Authorization: Bearer <API key>` or `Authentication: <API key>`"
                    .to_owned(),
            ],
            _ => Vec::new(),
        }
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            status: self.status().as_u16(),
            message: self.to_string(),
            errors: self.details(),
            code: self.code(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(cause) = &self {
            tracing::error!(%cause, "internal error");
        }
        (self.status(), Json(self.body())).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<ApiError> {
        vec![
            ApiError::MissingApiKey,
            ApiError::InvalidApiKey,
            ApiError::InvalidToken,
            ApiError::Validation(vec![]),
            ApiError::MalformedJson(vec![]),
            ApiError::InvalidUtf8,
            ApiError::UnsupportedMediaType,
            ApiError::PayloadTooLarge { limit_bytes: 1 },
            ApiError::MessageTooLong { limit_chars: 1 },
            ApiError::CustomerNotFound,
            ApiError::SessionNotFound,
            ApiError::ConversationNotFound,
            ApiError::ModuleNotFound,
            ApiError::ProgramNotFound,
            ApiError::RouteNotFound,
            ApiError::MethodNotAllowed,
            ApiError::ShuttingDown,
            ApiError::NotReady,
            ApiError::Internal(String::new()),
        ]
    }

    #[test]
    fn codes_are_listed_once_and_every_variant_has_one() {
        let codes: Vec<&str> = all().iter().map(ApiError::code).collect();
        assert_eq!(codes, ApiError::CODES);
        let mut sorted = codes.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), codes.len(), "codes are unique");
    }

    #[test]
    fn internal_errors_do_not_leak_their_cause() {
        let body = ApiError::internal("password=hunter2 in connection string").body();
        let json = serde_json::to_string(&body).unwrap();
        assert!(!json.contains("hunter2"), "{json}");
        assert_eq!(body.status, 500);
        assert_eq!(body.code, "internal_error");
    }

    #[test]
    fn only_internal_errors_are_5xx_besides_availability() {
        for e in all() {
            let s = e.status().as_u16();
            match e {
                ApiError::Internal(_) | ApiError::ShuttingDown | ApiError::NotReady => {
                    assert!(s >= 500)
                }
                _ => assert!((400..500).contains(&s), "{e:?} -> {s}"),
            }
        }
    }
}
