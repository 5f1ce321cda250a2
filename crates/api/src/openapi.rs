//! The OpenAPI document (served at `/api/v1/openapi.json`): the paths come
//! from the router itself ([`crate::routes::endpoints`], through
//! `utoipa-axum`), the rest from the handlers' annotations, the wire types
//! and the error table.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::error::ErrorCode;
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "chatcourse",
        description = "The financial-education API family: customers, enrolment, conversations, summaries. Every response is an envelope {status, message, data}; every error {status, message, errors, code}."
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

/// `ErrorBody.code` lists every code of the error table. Applied by
/// [`finish`], after the endpoints' schemas are merged in.
struct ErrorCodes;

impl Modify for ErrorCodes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        let Some(RefOr::T(Schema::Object(body))) = components.schemas.get_mut("ErrorBody") else {
            return;
        };
        if let Some(RefOr::T(Schema::Object(code))) = body.properties.get_mut("code") {
            code.enum_values = Some(
                ErrorCode::ALL
                    .iter()
                    .map(|c| serde_json::Value::from(c.as_str()))
                    .collect(),
            );
        }
    }
}

/// An empty router carrying the document's info, components and security
/// schemes; the server merges the endpoints into it.
pub(crate) fn base() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(Doc::openapi())
}

/// Sets what the annotations cannot know: the version, the error codes.
pub(crate) fn finish(mut doc: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    ErrorCodes.modify(&mut doc);
    doc
}

/// The OpenAPI document of this server: the one its router serves.
pub fn document() -> utoipa::openapi::OpenApi {
    let endpoints = crate::routes::endpoints();
    finish(
        base()
            .merge(endpoints.ordinary)
            .merge(endpoints.streamed)
            .merge(endpoints.live)
            .into_openapi(),
    )
}
