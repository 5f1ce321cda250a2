//! What every handler shares, and the API-key extractor.

use std::sync::Arc;

use axum::extract::{FromRequestParts, MatchedPath};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method};
use chatcourse_storage::{Clock, MessageEvent, OrgId, Store};
use chrono_tz::Tz;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::catalogue::Catalogue;
use crate::error::ApiError;
use crate::metrics::Metrics;

/// Shared server state (cheap to clone).
#[derive(Clone)]
pub(crate) struct AppState(pub(crate) Arc<Shared>);

pub(crate) struct Shared {
    pub store: Arc<dyn Store>,
    /// The store's clock ([`Store::clock`]): the time of turns, enrolments
    /// and wake-up rounds.
    pub clock: Arc<dyn Clock>,
    pub catalogue: Catalogue,
    pub timezone: Tz,
    pub metrics: Metrics,
    /// Cancelled when the server starts shutting down.
    pub shutdown: CancellationToken,
    /// WebSocket connections and background loops, awaited at shutdown.
    pub tasks: TaskTracker,
    /// Committed-message events, fanned out to WebSocket connections.
    pub events: broadcast::Sender<MessageEvent>,
    /// The Content-Security-Policy of the web pages (with the configured
    /// `frame-ancestors`).
    pub page_csp: String,
    /// Country of phones written without a country code.
    pub default_country: chatcourse_channels::Country,
    /// The running exports, bounded per organisation and in total.
    pub exports: crate::routes::exports::ExportSlots,
    /// The outbox dispatcher (and the key of channel secrets).
    pub dispatcher: Option<crate::delivery::Dispatcher>,
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The organisation of the request's API key. Extracting it authenticates
/// the request (a missing key is `401 missing_api_key`, a wrong or revoked
/// one `401 invalid_api_key`) and authorizes it: the key's role must allow
/// the matched route and method ([`crate::roles::allows`]), else `403
/// insufficient_role`.
#[derive(Debug, Clone, Copy)]
pub struct Org(pub OrgId);

impl FromRequestParts<AppState> for Org {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Org, ApiError> {
        // Outside a matched route only an admin key passes.
        let route = parts
            .extensions
            .get::<MatchedPath>()
            .map_or("", MatchedPath::as_str);
        authenticate(&parts.headers, &parts.method, route, state)
            .await
            .map(Org)
    }
}

/// The organisation of the API key in `headers`, if its role may send
/// `method` to `route` (see [`Org`]).
pub(crate) async fn authenticate(
    headers: &HeaderMap,
    method: &Method,
    route: &str,
    state: &AppState,
) -> Result<OrgId, ApiError> {
    let key = api_key(headers)?;
    let hash = chatcourse_storage::hash_api_key(key);
    let (org, role) = match state.store.find_key_grant(&hash).await {
        Ok(Some(grant)) => grant,
        Ok(None) => return Err(ApiError::InvalidApiKey),
        Err(e) => return Err(ApiError::internal(e)),
    };
    if crate::roles::allows(role, method, route) {
        Ok(org.id)
    } else {
        Err(ApiError::InsufficientRole {
            role: role.as_str(),
        })
    }
}

/// The key of `Authorization: Bearer <key>`, `Authentication: <key>` or
/// `Authentication: Bearer <key>` (the reference names both headers).
/// A Bearer `Authorization` wins; an `Authorization` of another scheme
/// (say, a proxy's Basic credentials) gives way to `Authentication`, and is
/// an invalid key when it is alone.
pub fn api_key(headers: &HeaderMap) -> Result<&str, ApiError> {
    let authorization = headers.get("authorization").map(parse_header);
    let authentication = headers.get("authentication").map(parse_header);
    match (authorization, authentication) {
        (Some(Ok(Credentials::Bearer(key))), _) => non_empty(key),
        (_, Some(Ok(Credentials::Bearer(key) | Credentials::Bare(key)))) => non_empty(key),
        (Some(Ok(Credentials::Bare(""))), None) => Err(ApiError::MissingApiKey),
        (Some(_), _) | (None, Some(Err(_))) => Err(ApiError::InvalidApiKey),
        (None, None) => Err(ApiError::MissingApiKey),
    }
}

enum Credentials<'a> {
    /// `Bearer <key>`
    Bearer(&'a str),
    /// Anything else, trimmed.
    Bare(&'a str),
}

fn parse_header(value: &axum::http::HeaderValue) -> Result<Credentials<'_>, ()> {
    let value = value.to_str().map_err(|_| ())?.trim();
    if value.eq_ignore_ascii_case("bearer") {
        return Ok(Credentials::Bearer(""));
    }
    Ok(match value.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => {
            Credentials::Bearer(rest.trim())
        }
        _ => Credentials::Bare(value),
    })
}

fn non_empty(key: &str) -> Result<&str, ApiError> {
    if key.is_empty() {
        Err(ApiError::MissingApiKey)
    } else {
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.insert(*name, value.parse().unwrap());
        }
        h
    }

    #[test]
    fn accepts_both_header_names() {
        for (name, value) in [
            ("authorization", "Bearer k1"),
            ("authorization", "bearer   k1 "),
            ("authentication", "k1"),
            ("authentication", "Bearer k1"),
        ] {
            assert_eq!(
                api_key(&headers(&[(name, value)])).unwrap(),
                "k1",
                "{name}: {value}"
            );
        }
    }

    #[test]
    fn authorization_needs_the_bearer_scheme() {
        let e = api_key(&headers(&[("authorization", "Basic abc")])).unwrap_err();
        assert_eq!(e.code(), "invalid_api_key");
        let e = api_key(&headers(&[("authorization", "k1")])).unwrap_err();
        assert_eq!(e.code(), "invalid_api_key");
    }

    #[test]
    fn authentication_is_used_when_authorization_is_not_bearer() {
        let h = headers(&[("authorization", "Basic abc"), ("authentication", "k2")]);
        assert_eq!(api_key(&h).unwrap(), "k2");
        let h = headers(&[("authorization", "Bearer k1"), ("authentication", "k2")]);
        assert_eq!(api_key(&h).unwrap(), "k1");
    }

    #[test]
    fn missing_or_empty_keys() {
        assert_eq!(
            api_key(&HeaderMap::new()).unwrap_err().code(),
            "missing_api_key"
        );
        let e = api_key(&headers(&[("authorization", "Bearer ")])).unwrap_err();
        assert_eq!(e.code(), "missing_api_key");
        let e = api_key(&headers(&[("authentication", "  ")])).unwrap_err();
        assert_eq!(e.code(), "missing_api_key");
    }
}
