//! The OpenAPI document, generated from the handlers' annotations and the
//! wire types (served at `/api/v1/openapi.json`).

use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "chatcourse",
        description = "The financial-education API family: customers, enrolment, conversations, summaries. Every response is an envelope {status, message, data}; every error {status, message, errors, code}."
    ),
    paths(
        routes::customers::register,
        routes::customers::fetch,
        routes::enrolment::add,
        routes::messages::all,
        routes::messages::post,
        routes::ws::connect,
        routes::session_tokens::create,
        routes::modules::list,
        routes::summaries::customer,
        routes::summaries::session,
        routes::summaries::program,
        routes::exports::messages,
        routes::exports::scores,
        routes::channels::create,
        routes::channels::list,
        routes::channels::fetch,
        routes::channels::disable,
        routes::channels::inbound,
    ),
    components(schemas(crate::error::ErrorBody)),
    modifiers(&Security)
)]
struct Doc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "`Bearer <API key>`; `Authentication: <API key>` is accepted too",
            ))),
        );
    }
}

/// The OpenAPI document of this server.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = Doc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc
}
