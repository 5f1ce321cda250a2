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
            for (owner, schema) in schemas.iter_mut() {
                if let Some(properties) =
                    schema.get_mut("properties").and_then(Value::as_object_mut)
                {
                    for (name, property) in properties.iter_mut() {
                        constrain(name, property);
                        constrain_in(owner, name, property);
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
                // A visible character, and no NUL anywhere.
                schema.insert(
                    "pattern".into(),
                    json!(format!("^[^\\u0000]*[^\\u0000{BLANK}][^\\u0000]*$")),
                );
            }
            "module" | "token" if is("string") => {
                schema.insert("minLength".into(), json!(1));
                // Not blank once trimmed.
                schema.insert("pattern".into(), json!(format!("[^{BLANK}]")));
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

    /// Unicode `White_Space` (what Rust's `trim` removes), as the inside of
    /// a regex character class: a text made only of these is blank to the
    /// server. Named one by one: `\s` differs between regex dialects
    /// (U+0085, U+FEFF), and the same rule also describes the texts the
    /// server answers with.
    const BLANK: &str = "\\u0009-\\u000d\\u0020\\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";

    /// White space, control characters and the invisible format
    /// characters of `customers::visible` in the BMP (those beyond it, musical symbol
    /// formatting and tags, a character class without the `u` flag
    /// cannot name).
    const INVISIBLE: &str = "\\u0000-\\u0020\\u007f-\\u00a0\\u00ad\\u034f\\u061c\\u115f\\u1160\\u1680\\u17b4\\u17b5\\u180b-\\u180f\\u2000-\\u200f\\u2028-\\u202f\\u205f-\\u206f\\u2800\\u3000\\u3164\\ufe00-\\ufe0f\\ufeff\\uffa0\\ufff0-\\ufff8";

    /// A year of birth the server takes whatever the day (1900 to 2025:
    /// none is in the future), then a month and a day every month has.
    const DATE_OF_BIRTH: &str = "^((0[1-9]|1[0-9]|2[0-8])/(0[1-9]|1[0-2])/(19[0-9]{2}|20[01][0-9]|202[0-5])|(19[0-9]{2}|20[01][0-9]|202[0-5])-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8]))?$";

    /// No control character (`char::is_control`: C0, DEL, C1).
    const PRINTABLE: &str = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$";

    /// An `HH:MM` time of day (24-hour clock), as `quiet::parse_time` reads.
    const TIME_OF_DAY: &str = "^([01][0-9]|2[0-3]):[0-5][0-9]$";

    /// The rules of a field that depend on where it is (`owner`: a
    /// component schema's name, or an operation's path), beyond its name.
    fn constrain_in(owner: &str, name: &str, schema: &mut Value) {
        let Some(schema) = schema.as_object_mut() else {
            return;
        };
        let mut set = |rules: Value| {
            if let Value::Object(rules) = rules {
                schema.remove("minLength");
                schema.extend(rules);
            }
        };
        let report = matches!(
            owner,
            "/api/v1/fe/program/report" | "/api/v1/fe/program/dashboard"
        );
        match (owner, name) {
            // The report's scope (`summaries::report_scope`): trimmed,
            // empty is no filter, no control character.
            (_, "module" | "version") if report => {
                set(json!({"maxLength": 200, "pattern": PRINTABLE}));
            }
            (_, "language") if report => {
                set(json!({"maxLength": 35, "pattern": PRINTABLE}));
            }
            // `engine::is_language_tag`, or empty (the module's language).
            ("Enrol", "language") => set(json!({
                "maxLength": 35,
                "pattern": "^([A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*)?$"
            })),
            ("Enrol", "timezone") | ("QuietHoursData", "timezone") => {
                let mut names = vec![Value::Null, json!("")];
                names.extend(chrono_tz::TZ_VARIANTS.iter().map(|tz| json!(tz.name())));
                set(json!({ "enum": names }));
            }
            ("Enrol", "program_name") => set(json!({
                "maxLength": 200,
                "pattern": "^[^\\u0000]*$"
            })),
            ("QuietHoursData", "start" | "end") => set(json!({ "pattern": TIME_OF_DAY })),
            // `customers::validate`: at most 200 characters, no NUL; the
            // required texts with a visible character. The phone must also
            // be a number of its country's numbering plan, which no schema
            // states (.ci/schemathesis.toml).
            ("RegisterCustomer", "full_name" | "national_id") => set(json!({
                "maxLength": 200,
                "pattern": format!("^[^\\u0000]*[^{INVISIBLE}][^\\u0000]*$")
            })),
            ("RegisterCustomer", "location" | "gender") => set(json!({
                "maxLength": 200,
                "pattern": "^[^\\u0000]*$"
            })),
            ("RegisterCustomer", "email") => set(json!({
                "maxLength": 200,
                "pattern": "^([^\\u0000]*@[^\\u0000]*)?$"
            })),
            ("RegisterCustomer", "phone") => set(json!({
                "pattern": "^\\+?[0-9]( ?[0-9]){6,14}$"
            })),
            ("RegisterCustomer", "date_of_birth") => set(json!({ "pattern": DATE_OF_BIRTH })),
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
                    constrain_in(path, &name, schema);
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
