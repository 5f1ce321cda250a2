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
    /// `module_invalid` only: every finding of the module loader, as
    /// `chatcourse validate --format json` prints them (`line`, `column`,
    /// `severity`, `code`, `message`, `hint`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub diagnostics: Option<Vec<serde_json::Value>>,
}

/// The table of error codes: one row per code, with its HTTP status and
/// message. Everything else is derived from it: [`ErrorCode`] (its code
/// string, status and message), the `code` enum of the OpenAPI document,
/// and the test that docs/api.md lists every code with its status.
macro_rules! error_codes {
    ($($variant:ident => ($status:ident, $code:literal, $message:literal)),* $(,)?) => {
        /// The closed set of error codes (one per row of the table).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($variant),*
        }

        impl ErrorCode {
            /// Every code, in the order of the table.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),*];

            /// The stable machine-readable code, e.g. `validation_failed`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code),*
                }
            }

            pub const fn status(self) -> StatusCode {
                match self {
                    $(ErrorCode::$variant => StatusCode::$status),*
                }
            }

            /// The envelope's `message`.
            pub const fn message(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $message),*
                }
            }
        }
    };
}

error_codes! {
    MissingApiKey => (UNAUTHORIZED, "missing_api_key", "Missing API key"),
    InvalidApiKey => (UNAUTHORIZED, "invalid_api_key", "Invalid API key"),
    InvalidToken => (UNAUTHORIZED, "invalid_token", "Invalid or expired session token"),
    InvalidSignature => (UNAUTHORIZED, "invalid_signature", "Missing or invalid webhook signature"),
    InsufficientRole => (FORBIDDEN, "insufficient_role", "This API key's role does not allow this request"),
    ValidationFailed => (BAD_REQUEST, "validation_failed", "Validation failed for one or more arguments"),
    MalformedJson => (BAD_REQUEST, "malformed_json", "Malformed JSON body"),
    InvalidUtf8 => (BAD_REQUEST, "invalid_utf8", "Request body is not valid UTF-8"),
    UnsupportedMediaType => (UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "Request body must be JSON (Content-Type: application/json)"),
    PayloadTooLarge => (PAYLOAD_TOO_LARGE, "payload_too_large", "Request body is too large"),
    MessageTooLong => (BAD_REQUEST, "message_too_long", "Message is too long"),
    CustomerNotFound => (NOT_FOUND, "customer_not_found", "Customer not found"),
    SessionNotFound => (NOT_FOUND, "session_not_found", "Session not found"),
    ConversationNotFound => (NOT_FOUND, "conversation_not_found", "No conversation matches the query"),
    ModuleNotFound => (NOT_FOUND, "module_not_found", "Module not found"),
    ModuleInvalid => (UNPROCESSABLE_ENTITY, "module_invalid", "The module has errors"),
    ProgramNotFound => (NOT_FOUND, "program_not_found", "Program not found"),
    RouteNotFound => (NOT_FOUND, "route_not_found", "Route not found"),
    ChannelNotFound => (NOT_FOUND, "channel_not_found", "Channel not found"),
    CustomerOptedOut => (CONFLICT, "customer_opted_out", "The customer opted out of messages from this organisation"),
    MethodNotAllowed => (METHOD_NOT_ALLOWED, "method_not_allowed", "Method not allowed"),
    TooManyExports => (TOO_MANY_REQUESTS, "too_many_exports", "Too many exports are running; try again when one has finished"),
    ShuttingDown => (SERVICE_UNAVAILABLE, "shutting_down", "The server is shutting down"),
    NotReady => (SERVICE_UNAVAILABLE, "not_ready", "The service is not ready"),
    RequestTimeout => (SERVICE_UNAVAILABLE, "request_timeout", "The request took too long"),
    InternalError => (INTERNAL_SERVER_ERROR, "internal_error", "Internal server error"),
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every error the API can answer with: an [`ErrorCode`] and what the
/// variant carries (the `errors` details, or a cause that is logged).
#[derive(Debug)]
pub enum ApiError {
    MissingApiKey,
    InvalidApiKey,
    /// A learner token (`/api/v1/ws?token=`) that is unknown or expired.
    InvalidToken,
    /// A valid key whose role does not allow the request (say, an analyst
    /// key enrolling).
    InsufficientRole {
        role: &'static str,
    },
    /// Input that parsed but breaks a rule; one `field: reason` per problem.
    Validation(Vec<String>),
    /// The body is not JSON, or JSON of the wrong shape (types, missing
    /// fields); one `field: reason` per problem.
    MalformedJson(Vec<String>),
    InvalidUtf8,
    UnsupportedMediaType,
    PayloadTooLarge {
        limit_bytes: usize,
    },
    MessageTooLong {
        limit_chars: usize,
    },
    CustomerNotFound,
    SessionNotFound,
    ConversationNotFound,
    ModuleNotFound,
    /// An uploaded module that does not load: every diagnostic (errors
    /// and warnings) and the errors rendered one per line.
    ModuleInvalid {
        diagnostics: Vec<serde_json::Value>,
        errors: Vec<String>,
    },
    ProgramNotFound,
    RouteNotFound,
    /// An inbound request whose Standard Webhooks signature is missing,
    /// stale or wrong.
    InvalidSignature,
    ChannelNotFound,
    /// The customer's phone sent STOP: no session starts until START.
    CustomerOptedOut,
    MethodNotAllowed,
    /// The organisation's (or the server's) exports are all running.
    TooManyExports,
    ShuttingDown,
    NotReady,
    /// An ordinary request that ran longer than the request timeout.
    Timeout,
    /// Anything that is the server's fault. The cause is logged, not shown.
    Internal(String),
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.kind().message())
    }
}

impl std::error::Error for ApiError {}

impl ApiError {
    /// Wraps an internal failure; it is logged when turned into a response.
    pub fn internal(cause: impl std::fmt::Display) -> ApiError {
        ApiError::Internal(cause.to_string())
    }

    /// The row of the error table this error answers with.
    pub fn kind(&self) -> ErrorCode {
        match self {
            ApiError::MissingApiKey => ErrorCode::MissingApiKey,
            ApiError::InvalidApiKey => ErrorCode::InvalidApiKey,
            ApiError::InvalidToken => ErrorCode::InvalidToken,
            ApiError::InsufficientRole { .. } => ErrorCode::InsufficientRole,
            ApiError::Validation(_) => ErrorCode::ValidationFailed,
            ApiError::MalformedJson(_) => ErrorCode::MalformedJson,
            ApiError::InvalidUtf8 => ErrorCode::InvalidUtf8,
            ApiError::UnsupportedMediaType => ErrorCode::UnsupportedMediaType,
            ApiError::PayloadTooLarge { .. } => ErrorCode::PayloadTooLarge,
            ApiError::MessageTooLong { .. } => ErrorCode::MessageTooLong,
            ApiError::CustomerNotFound => ErrorCode::CustomerNotFound,
            ApiError::SessionNotFound => ErrorCode::SessionNotFound,
            ApiError::ConversationNotFound => ErrorCode::ConversationNotFound,
            ApiError::ModuleNotFound => ErrorCode::ModuleNotFound,
            ApiError::ModuleInvalid { .. } => ErrorCode::ModuleInvalid,
            ApiError::ProgramNotFound => ErrorCode::ProgramNotFound,
            ApiError::RouteNotFound => ErrorCode::RouteNotFound,
            ApiError::CustomerOptedOut => ErrorCode::CustomerOptedOut,
            ApiError::InvalidSignature => ErrorCode::InvalidSignature,
            ApiError::ChannelNotFound => ErrorCode::ChannelNotFound,
            ApiError::MethodNotAllowed => ErrorCode::MethodNotAllowed,
            ApiError::TooManyExports => ErrorCode::TooManyExports,
            ApiError::ShuttingDown => ErrorCode::ShuttingDown,
            ApiError::NotReady => ErrorCode::NotReady,
            ApiError::Timeout => ErrorCode::RequestTimeout,
            ApiError::Internal(_) => ErrorCode::InternalError,
        }
    }

    pub fn code(&self) -> &'static str {
        self.kind().as_str()
    }

    pub fn status(&self) -> StatusCode {
        self.kind().status()
    }

    /// The `errors` array: what exactly was wrong with the input.
    pub fn details(&self) -> Vec<String> {
        match self {
            ApiError::Validation(errors)
            | ApiError::MalformedJson(errors)
            | ApiError::ModuleInvalid { errors, .. } => errors.clone(),
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
            ApiError::InsufficientRole { role } => vec![format!(
                "Authorization: this is an {role} key; see docs/api.md#key-roles for what each role may do"
            )],
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
            diagnostics: match self {
                ApiError::ModuleInvalid { diagnostics, .. } => Some(diagnostics.clone()),
                _ => None,
            },
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

    #[test]
    fn codes_are_unique() {
        let mut codes: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), ErrorCode::ALL.len(), "codes are unique");
    }

    #[test]
    fn internal_errors_do_not_leak_their_cause() {
        let body = ApiError::internal("password=hunter2 in connection string").body();
        let json = serde_json::to_string(&body).unwrap();
        assert!(!json.contains("hunter2"), "{json}");
        assert_eq!(body.status, 500);
        assert_eq!(body.code, "internal_error");
        assert_eq!(body.message, "Internal server error");
    }

    #[test]
    fn only_server_faults_and_availability_are_5xx() {
        for code in ErrorCode::ALL {
            let s = code.status().as_u16();
            match code {
                ErrorCode::InternalError
                | ErrorCode::ShuttingDown
                | ErrorCode::NotReady
                | ErrorCode::RequestTimeout => assert!(s >= 500),
                _ => assert!((400..500).contains(&s), "{code} -> {s}"),
            }
        }
    }

    /// docs/api.md has one row `| <status> | `<code>` | ... |` per code of
    /// the table, and no row for a code that does not exist.
    #[test]
    fn the_api_reference_lists_every_code_with_its_status() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/api.md");
        let docs = std::fs::read_to_string(path).unwrap();
        let section = docs
            .split("\n## Errors\n")
            .nth(1)
            .and_then(|rest| rest.split("\n## ").next())
            .expect("docs/api.md has an Errors section");
        let mut documented: Vec<(u16, String)> = section
            .lines()
            .filter_map(|line| {
                let cells: Vec<&str> = line.split('|').map(str::trim).collect();
                let status = cells.get(1)?.parse().ok()?;
                let code = cells.get(2)?.strip_prefix('`')?.strip_suffix('`')?;
                Some((status, code.to_owned()))
            })
            .collect();
        let mut table: Vec<(u16, String)> = ErrorCode::ALL
            .iter()
            .map(|c| (c.status().as_u16(), c.as_str().to_owned()))
            .collect();
        documented.sort();
        table.sort();
        assert_eq!(documented, table, "docs/api.md's error table");
    }
}
