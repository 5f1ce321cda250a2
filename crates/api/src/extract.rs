//! Request extractors whose every rejection is an [`ApiError`] envelope:
//! bad input is always a 4xx with a stable code, never a 500 or a panic.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::error::ApiError;

/// Largest accepted request body. Bigger bodies get `413 payload_too_large`.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A JSON request body. Unlike `axum::Json`, every failure is an envelope:
/// wrong content type (415), oversized (413), invalid UTF-8, malformed JSON,
/// wrong types and missing fields (400, naming the field).
pub struct JsonBody<T>(pub T);

impl<T, S> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        check_content_type(req.headers())?;
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge {
                    limit_bytes: MAX_BODY_BYTES,
                }
            } else {
                ApiError::MalformedJson(vec![format!("body: {}", rejection.body_text())])
            }
        })?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// A missing content type is accepted (many gateways omit it); any other
/// than JSON is not.
fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get(CONTENT_TYPE) else {
        return Ok(());
    };
    let mime = value
        .to_str()
        .ok()
        .and_then(|v| v.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .ok_or(ApiError::UnsupportedMediaType)?;
    let is_json =
        mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"));
    if is_json {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType)
    }
}

/// Parses a JSON object body, naming the offending field in every error.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let text = std::str::from_utf8(bytes).map_err(|_| ApiError::InvalidUtf8)?;
    if !text.trim_start().starts_with('{') {
        return Err(ApiError::MalformedJson(vec![
            "body: must be a JSON object".to_owned(),
        ]));
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let value: T = match serde_path_to_error::deserialize(&mut de) {
        Ok(value) => value,
        Err(e) if e.inner().classify() == serde_json::error::Category::Data => {
            return whole_numbers_as_integers(text).ok_or_else(|| json_error(e));
        }
        Err(e) => return Err(json_error(e)),
    };
    de.end()
        .map_err(|e| ApiError::MalformedJson(vec![format!("body: {}", strip_position(&e))]))?;
    Ok(value)
}

/// `text` read again with every number that has no fractional part
/// (`564.0`, `1e3`) as an integer: JSON and JSON Schema do not tell `564`
/// from `564.0`, so neither does an integer field. `None` if there was no
/// such number or the body is still not a `T`.
fn whole_numbers_as_integers<T: DeserializeOwned>(text: &str) -> Option<T> {
    fn fix(value: &mut serde_json::Value) -> bool {
        match value {
            serde_json::Value::Number(n) if n.is_f64() => {
                let Some(f) = n.as_f64().filter(|f| f.fract() == 0.0) else {
                    return false;
                };
                // Exactly representable, then in range of i64 or u64.
                let whole = if (-9.0e18..9.0e18).contains(&f) {
                    serde_json::Number::from(f as i64)
                } else if (0.0..1.8e19).contains(&f) {
                    serde_json::Number::from(f as u64)
                } else {
                    return false;
                };
                *n = whole;
                true
            }
            serde_json::Value::Array(items) => items.iter_mut().fold(false, |c, v| fix(v) | c),
            serde_json::Value::Object(map) => map.values_mut().fold(false, |c, v| fix(v) | c),
            _ => false,
        }
    }
    let mut value: serde_json::Value = serde_json::from_str(text).ok()?;
    if !fix(&mut value) {
        return None;
    }
    serde_json::from_value(value).ok()
}

fn json_error(err: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = err.path().to_string();
    let inner = err.inner();
    let reason = strip_position(inner);
    let entry = match inner.classify() {
        serde_json::error::Category::Data => {
            // serde reports a missing field at its parent: name the field.
            if let Some(field) = reason
                .strip_prefix("missing field `")
                .and_then(|r| r.strip_suffix('`'))
            {
                let field = if path == "." {
                    field.to_owned()
                } else {
                    format!("{path}.{field}")
                };
                format!("{field}: is required")
            } else if path == "." {
                format!("body: {reason}")
            } else {
                format!("{path}: {reason}")
            }
        }
        _ => format!("body: {reason}"),
    };
    ApiError::MalformedJson(vec![entry])
}

/// serde_json appends " at line L column C"; the field name says more.
fn strip_position(err: &serde_json::Error) -> String {
    let text = err.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// Raw query parameters, validated by the handler so that every problem is
/// reported at once in the `errors` array.
pub struct QueryParams(HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Query(map) = Query::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::Validation(vec![format!("query: {}", e.body_text())]))?;
        Ok(QueryParams(map))
    }
}

impl QueryParams {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A required UUID parameter; records a `name: reason` on failure.
    pub fn uuid(&self, name: &str, errors: &mut Vec<String>) -> Option<Uuid> {
        match self.get(name).map(str::trim) {
            None | Some("") => {
                errors.push(format!("{name}: is required"));
                None
            }
            Some(raw) => parse_uuid(name, raw, errors),
        }
    }

    /// An optional UUID parameter (absent or empty: `None`); records a
    /// `name: reason` when it is not a UUID.
    pub fn opt_uuid(&self, name: &str, errors: &mut Vec<String>) -> Option<Uuid> {
        match self.get(name).map(str::trim) {
            None | Some("") => None,
            Some(raw) => parse_uuid(name, raw, errors),
        }
    }

    /// An optional unsigned integer parameter within `range`.
    pub fn opt_u64(
        &self,
        name: &str,
        range: std::ops::RangeInclusive<u64>,
        errors: &mut Vec<String>,
    ) -> Option<u64> {
        let raw = self.get(name)?.trim();
        match raw.parse::<u64>() {
            Ok(n) if range.contains(&n) => Some(n),
            _ => {
                errors.push(format!(
                    "{name}: must be an integer from {} to {}",
                    range.start(),
                    range.end()
                ));
                None
            }
        }
    }
}

/// Parses a UUID field or parameter; records `name: must be a UUID`.
pub fn parse_uuid(name: &str, raw: &str, errors: &mut Vec<String>) -> Option<Uuid> {
    match Uuid::try_parse(raw.trim()) {
        Ok(id) => Some(id),
        Err(_) => {
            errors.push(format!("{name}: must be a UUID"));
            None
        }
    }
}

/// Turns collected validation problems into a result.
pub fn check(errors: Vec<String>) -> Result<(), ApiError> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        count: i64,
        inner: Option<Inner>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        flag: bool,
    }

    fn errors(bytes: &[u8]) -> (&'static str, Vec<String>) {
        let e = parse_json::<Body>(bytes).unwrap_err();
        (e.code(), e.details())
    }

    /// JSON Schema's `integer` is any number without a fractional part:
    /// `564.0` and `5.64e2` are integers, `564.5` is not.
    #[test]
    fn whole_numbers_are_integers() {
        for text in [
            r#"{"name": "a", "count": 564.0}"#,
            r#"{"name": "a", "count": 5.64e2}"#,
        ] {
            let body = parse_json::<Body>(text.as_bytes()).unwrap();
            assert_eq!(body.count, 564, "{text}");
        }
        assert_eq!(
            errors(br#"{"name": "a", "count": 564.5}"#).0,
            "malformed_json"
        );
        let (code, details) = errors(br#"{"name": 1.0, "count": 564.0}"#);
        assert_eq!(code, "malformed_json");
        assert!(details[0].starts_with("name: "), "{details:?}");
    }

    #[test]
    fn names_the_missing_field() {
        assert_eq!(
            errors(br#"{"name": "a"}"#),
            ("malformed_json", vec!["count: is required".to_owned()])
        );
        assert_eq!(
            errors(br#"{"name": "a", "count": 1, "inner": {}}"#),
            ("malformed_json", vec!["inner.flag: is required".to_owned()])
        );
    }

    #[test]
    fn names_the_field_of_the_wrong_type() {
        let (code, errs) = errors(br#"{"name": "a", "count": "49"}"#);
        assert_eq!(code, "malformed_json");
        assert_eq!(errs.len(), 1);
        assert!(
            errs[0].starts_with("count: invalid type: string"),
            "{errs:?}"
        );
    }

    #[test]
    fn syntax_errors_and_trailing_garbage_and_empty_bodies() {
        for bad in [
            &b"{"[..],
            b"{\"name\": }",
            b"",
            b"  ",
            b"{\"name\": \"a\", \"count\": 1} {}",
            b"[1]",
            b"null",
        ] {
            let (code, errs) = errors(bad);
            assert_eq!(code, "malformed_json", "{bad:?}");
            assert!(errs[0].starts_with("body: "), "{bad:?}: {errs:?}");
        }
    }

    #[test]
    fn invalid_utf8_is_its_own_error() {
        assert_eq!(errors(b"{\"name\": \"\xff\xfe\"}").0, "invalid_utf8");
    }

    #[test]
    fn content_types() {
        let mut h = HeaderMap::new();
        assert!(check_content_type(&h).is_ok());
        h.insert(
            CONTENT_TYPE,
            "application/json; charset=utf-8".parse().unwrap(),
        );
        assert!(check_content_type(&h).is_ok());
        h.insert(CONTENT_TYPE, "text/plain".parse().unwrap());
        assert_eq!(
            check_content_type(&h).unwrap_err().code(),
            "unsupported_media_type"
        );
    }

    #[test]
    fn uuid_parameters() {
        let q = QueryParams(HashMap::from([
            (
                "a".to_owned(),
                "ea922437-0364-456d-a454-1ed530419292".to_owned(),
            ),
            ("b".to_owned(), "888".to_owned()),
        ]));
        let mut errs = Vec::new();
        assert!(q.uuid("a", &mut errs).is_some());
        assert!(q.uuid("b", &mut errs).is_none());
        assert!(q.uuid("c", &mut errs).is_none());
        assert_eq!(errs, ["b: must be a UUID", "c: is required"]);
    }
}
