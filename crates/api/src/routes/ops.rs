//! Operations: health, readiness, metrics, and the envelopes for unknown
//! routes and methods. (The OpenAPI document is served by the router that
//! it describes: see `server::router`.)

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use serde_json::json;

use crate::envelope::{Envelope, ok};
use crate::error::ApiError;
use crate::state::AppState;

/// Liveness: the process is up.
pub async fn healthz() -> Envelope<serde_json::Value> {
    ok("OK", json!({}))
}

/// Readiness: the database answers and the server is not shutting down.
pub async fn readyz(
    State(state): State<AppState>,
) -> Result<Envelope<serde_json::Value>, ApiError> {
    if state.shutdown.is_cancelled() {
        return Err(ApiError::ShuttingDown);
    }
    match state.store.list_modules().await {
        Ok(_) => Ok(ok("Ready", json!({}))),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            Err(ApiError::NotReady)
        }
    }
}

/// Prometheus metrics (text exposition format).
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        state.metrics.render(),
    )
}

pub async fn not_found() -> ApiError {
    ApiError::RouteNotFound
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
