//! HTTP handlers, one module per group of endpoints, and [`endpoints`]:
//! the one list of documented routes, from which both the router and the
//! OpenAPI document are built.

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

pub mod channels;
pub mod customers;
pub mod dashboard;
pub mod enrolment;
pub mod exports;
pub mod messages;
pub mod modules;
pub mod ops;
pub mod organisation;
pub mod pages;
pub mod preview;
pub mod session_tokens;
pub mod summaries;
pub mod ws;

/// The documented endpoints, grouped by the layers they get (see
/// `server::router`).
pub(crate) struct Endpoints {
    /// Ordinary requests: a timeout, compression.
    pub ordinary: OpenApiRouter<AppState>,
    /// Streamed bodies (the exports): compression, no timeout.
    pub streamed: OpenApiRouter<AppState>,
    /// The WebSocket upgrade: neither.
    pub live: OpenApiRouter<AppState>,
}

/// Every documented endpoint; its path and method come from the handler's
/// `#[utoipa::path]`, so the router and the OpenAPI document cannot drift.
pub(crate) fn endpoints() -> Endpoints {
    Endpoints {
        ordinary: OpenApiRouter::new()
            .routes(routes!(customers::register))
            .routes(routes!(customers::fetch))
            .routes(routes!(enrolment::add))
            .routes(routes!(messages::all))
            .routes(routes!(messages::post))
            .routes(routes!(session_tokens::create))
            .routes(routes!(session_tokens::revoke))
            .routes(routes!(modules::list, modules::upload))
            .routes(routes!(summaries::customer))
            .routes(routes!(summaries::session))
            .routes(routes!(summaries::program))
            .routes(routes!(summaries::report))
            .routes(routes!(dashboard::program))
            .routes(routes!(channels::create, channels::list))
            .routes(routes!(channels::fetch, channels::disable))
            .routes(routes!(channels::inbound, channels::verify))
            .routes(routes!(channels::status))
            .routes(routes!(channels::token_inbound))
            .routes(routes!(channels::token_status))
            .routes(routes!(preview::compile))
            .routes(routes!(preview::step))
            .routes(routes!(organisation::fetch, organisation::update)),
        streamed: OpenApiRouter::new()
            .routes(routes!(exports::messages))
            .routes(routes!(exports::answers))
            .routes(routes!(exports::scores)),
        live: OpenApiRouter::new().routes(routes!(ws::connect)),
    }
}
