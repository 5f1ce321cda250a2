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

/// Sets what the annotations cannot know: the version, the error codes,
/// and what the server enforces everywhere ([`accuracy`]).
/// The document as JSON (what is served).
pub(crate) fn finish(mut doc: utoipa::openapi::OpenApi) -> serde_json::Value {
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    ErrorCodes.modify(&mut doc);
    let mut value = serde_json::to_value(&doc).unwrap_or_default();
    accuracy::apply(&mut value);
    value
}

/// What every handler's annotation would repeat, applied to the whole
/// document in one place, so that it says what the server enforces:
///
/// - ids: every `*Uuid` parameter and `*_uuid` body field is
///   `format: uuid`;
/// - the ranges the server checks: `limit` 1 to 1000, `afterId` and
///   `programIdentifier` / `program_identifier` at least 0, `ttl_seconds`
///   1 to 604800; `format` one of `ndjson`, `csv`;
/// - the statuses every operation can answer besides its own: `401`
///   and `429` (rate limits) with a key, `400`, `413` and `415` with a
///   body, `500`, and `503` (timeout, shutdown);
/// - `/healthz`, `/readyz` and `/metrics`;
/// - links register -> enrol -> message -> fetch, so that a stateful
///   client (an API fuzzer) can chain them.
mod accuracy {
    use serde_json::{Value, json};

    pub(super) fn apply(doc: &mut Value) {
        if let Some(schemas) = doc
            .pointer_mut("/components/schemas")
            .and_then(Value::as_object_mut)
        {
            for schema in schemas.values_mut() {
                if let Some(properties) =
                    schema.get_mut("properties").and_then(Value::as_object_mut)
                {
                    for (name, property) in properties.iter_mut() {
                        constrain(name, property);
                    }
                }
            }
        }
        let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
            return;
        };
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for (method, operation) in item.iter_mut() {
                if !matches!(method.as_str(), "get" | "post" | "put" | "patch" | "delete") {
                    continue;
                }
                operate(path, operation);
            }
        }
        paths.insert(
            "/healthz".into(),
            ops("Liveness: the process is up", "healthz", false),
        );
        paths.insert(
            "/readyz".into(),
            ops(
                "Readiness: the database answers and the server is not shutting down",
                "readyz",
                true,
            ),
        );
        paths.insert(
            "/metrics".into(),
            json!({"get": {
                "tags": ["operations"],
                "operationId": "metrics",
                "summary": "Prometheus metrics (text exposition format)",
                "responses": {"200": {"description": "The metrics", "content": {"text/plain": {"schema": {"type": "string"}}}}}
            }}),
        );
        link(paths);
    }

    /// The rule the server applies to a parameter or field named `name`.
    fn constrain(name: &str, schema: &mut Value) {
        let Some(schema) = schema.as_object_mut() else {
            return;
        };
        let kind = schema.get("type").cloned().unwrap_or(Value::Null);
        let is =
            |t: &str| kind == json!(t) || kind.as_array().is_some_and(|a| a.contains(&json!(t)));
        if (name.ends_with("Uuid") || name.ends_with("_uuid") || name == "uuid") && is("string") {
            // `format` alone is an annotation in JSON Schema 2020-12: the
            // pattern is what a validator (or a fuzzer) checks.
            schema.insert("format".into(), json!("uuid"));
            schema.insert(
                "pattern".into(),
                json!("^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"),
            );
        }
        match name {
            "limit" if is("integer") => {
                schema.insert("minimum".into(), json!(1));
                schema.insert("maximum".into(), json!(1000));
            }
            "afterId" | "programIdentifier" | "program_identifier" if is("integer") => {
                schema.insert("minimum".into(), json!(0));
            }
            "ttl_seconds" if is("integer") => {
                schema.insert("minimum".into(), json!(1));
                schema.insert("maximum".into(), json!(604_800));
            }
            "format" if is("string") => {
                schema.insert("enum".into(), json!(["ndjson", "csv"]));
            }
            "message" if is("string") => {
                schema.insert("minLength".into(), json!(1));
                schema.insert("maxLength".into(), json!(2000));
                schema.insert("pattern".into(), json!("\\S"));
            }
            "module" | "token" if is("string") => {
                schema.insert("minLength".into(), json!(1));
                schema.insert("pattern".into(), json!("\\S"));
            }
            "rate_per_second" if is("integer") => {
                schema.insert("minimum".into(), json!(1));
                schema.insert("maximum".into(), json!(10_000));
            }
            // A date (days 01 to 28 of 1900 to 2099 match every month)
            // or an RFC 3339 time; the server reads more (docs/api.md).
            "from" | "until" if is("string") => {
                schema.insert(
                    "pattern".into(),
                    json!("^((0[1-9]|1[0-9]|2[0-8])/(0[1-9]|1[0-2])/(19|20)[0-9]{2}|(19|20)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8]))$"),
                );
            }
            _ => {}
        }
    }

    fn error(description: &str) -> Value {
        json!({
            "description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
        })
    }

    fn operate(path: &str, operation: &mut Value) {
        if let Some(parameters) = operation
            .get_mut("parameters")
            .and_then(Value::as_array_mut)
        {
            for parameter in parameters {
                let name = parameter
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned();
                if let Some(schema) = parameter.get_mut("schema") {
                    constrain(&name, schema);
                }
            }
        }
        let keyed = operation
            .get("security")
            .and_then(Value::as_array)
            .is_some_and(|s| s.iter().any(|r| r.get("api_key").is_some()));
        let body = operation.get("requestBody").is_some();
        let streamed = path.contains("/export/") || path == "/api/v1/ws";
        let Some(responses) = operation
            .get_mut("responses")
            .and_then(Value::as_object_mut)
        else {
            return;
        };
        let mut add = |status: &str, description: &str| {
            responses
                .entry(status.to_owned())
                .or_insert_with(|| error(description));
        };
        if keyed {
            add("401", "Missing or wrong API key");
            add(
                "429",
                "Rate limited: too many authentication failures from this address, or too many requests (see Retry-After)",
            );
        }
        if body {
            add("400", "Invalid input");
            add("413", "Body over 64 KiB");
            add("415", "Content-Type other than JSON");
        }
        add("500", "The server's fault (logged)");
        if streamed {
            add("503", "The server is shutting down");
        } else {
            add(
                "503",
                "The request took longer than the request timeout, or the server is shutting down",
            );
        }
    }

    fn ops(summary: &str, id: &str, can_fail: bool) -> Value {
        let mut responses = json!({"200": {
            "description": "OK",
            "content": {"application/json": {"schema": {"type": "object", "required": ["status", "message", "data"], "properties": {
                "status": {"type": "integer"}, "message": {"type": "string"}, "data": {"type": "object"}
            }}}}
        }});
        if can_fail {
            responses["503"] = error("Not ready (the database does not answer) or shutting down");
        }
        json!({"get": {"tags": ["operations"], "operationId": id, "summary": summary, "responses": responses}})
    }

    /// The operation id of `method path`, if documented.
    fn id_of(paths: &serde_json::Map<String, Value>, path: &str, method: &str) -> Option<String> {
        paths
            .get(path)?
            .get(method)?
            .get("operationId")?
            .as_str()
            .map(str::to_owned)
    }

    fn link(paths: &mut serde_json::Map<String, Value>) {
        let register = ("/api/v1/customer/mfi/register", "post");
        let enrol = ("/api/v1/fe/program/customer/add", "post");
        let message = ("/api/v1/message", "post");
        let fetch = ("/api/v1/message/all", "get");
        let (Some(enrol_id), Some(message_id), Some(fetch_id)) = (
            id_of(paths, enrol.0, enrol.1),
            id_of(paths, message.0, message.1),
            id_of(paths, fetch.0, fetch.1),
        ) else {
            return;
        };
        let links = [
            (
                register,
                json!({"Enrol": {
                    "operationId": enrol_id,
                    "description": "Enrol the registered customer in Test Module Updated, programme 49",
                    "requestBody": {
                        "program_identifier": 49,
                        "customer_uuid": "$response.body#/data/uuid",
                        "module": "5f2d773d-479b-5d8a-94e4-ed6e79e040a9"
                    }
                }}),
            ),
            (
                enrol,
                json!({
                    "SendMessage": {
                        "operationId": message_id,
                        "description": "The learner replies in the new session",
                        "requestBody": {
                            "customer_uuid": "$response.body#/data/customer_uuid",
                            "session_uuid": "$response.body#/data/session_uuid",
                            "message": "1"
                        }
                    },
                    "FetchConversation": {
                        "operationId": fetch_id.clone(),
                        "description": "The session's conversation",
                        "parameters": {
                            "customerUuid": "$response.body#/data/customer_uuid",
                            "sessionUuid": "$response.body#/data/session_uuid"
                        }
                    }
                }),
            ),
            (
                message,
                json!({"FetchConversation": {
                    "operationId": fetch_id,
                    "description": "The conversation with this turn",
                    "parameters": {
                        "customerUuid": "$request.body#/customer_uuid",
                        "sessionUuid": "$response.body#/data/session_uuid"
                    }
                }}),
            ),
        ];
        for ((path, method), links) in links {
            if let Some(ok) = paths
                .get_mut(path)
                .and_then(|item| item.get_mut(method))
                .and_then(|op| op.pointer_mut("/responses/200"))
                .and_then(Value::as_object_mut)
            {
                ok.insert("links".into(), links);
            }
        }
    }
}

/// The OpenAPI document of this server (JSON): the one its router serves.
pub fn document() -> serde_json::Value {
    let endpoints = crate::routes::endpoints();
    finish(
        base()
            .merge(endpoints.ordinary)
            .merge(endpoints.streamed)
            .merge(endpoints.live)
            .into_openapi(),
    )
}
