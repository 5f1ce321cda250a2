//! What each key role may do: the one table of it, read by every
//! authenticated request ([`crate::state::Org`]). By route and method, so a
//! new endpoint is admin-only until it is named here.
//!
//! - `admin`: everything (keys made before roles existed are admin).
//! - `analyst`: read only: every `GET` of the API (summaries, the
//!   programme report (`/api/v1/fe/program/report`), other reports,
//!   exports, conversations, modules: what the dashboard reads), except the
//!   channels (their settings are the operator's) and the live chat (it
//!   sends). No enrolment, no message, no learner token.
//! - `author`: the module preview (`/api/v1/fe/preview/...`) and the
//!   modules (`GET` the list, `POST` an upload).

use axum::http::Method;
use chatcourse_storage::KeyRole;

/// Whether a key of `role` may send `method` to `route` (the matched route
/// template, e.g. `/api/v1/fe/channels/{uuid}`).
pub fn allows(role: KeyRole, method: &Method, route: &str) -> bool {
    match role {
        KeyRole::Admin => true,
        KeyRole::Analyst => {
            method == Method::GET
                && route.starts_with("/api/v1/")
                && route != "/api/v1/ws"
                && !route.starts_with("/api/v1/fe/channels")
        }
        KeyRole::Author => {
            route.starts_with("/api/v1/fe/preview/") || route == "/api/v1/fe/modules"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_role_may_do_what_it_is_for() {
        let get = Method::GET;
        let post = Method::POST;
        for (role, method, route, allowed) in [
            (
                KeyRole::Admin,
                &post,
                "/api/v1/fe/program/customer/add",
                true,
            ),
            (KeyRole::Admin, &get, "", true),
            (KeyRole::Analyst, &get, "/api/v1/fe/program/summary", true),
            (KeyRole::Analyst, &get, "/api/v1/fe/program/report", true),
            (KeyRole::Author, &get, "/api/v1/fe/program/report", false),
            (
                KeyRole::Analyst,
                &get,
                "/api/v1/fe/program/export/scores",
                true,
            ),
            (KeyRole::Analyst, &get, "/api/v1/message/all", true),
            (
                KeyRole::Analyst,
                &post,
                "/api/v1/fe/program/customer/add",
                false,
            ),
            (KeyRole::Analyst, &post, "/api/v1/message", false),
            (KeyRole::Analyst, &post, "/api/v1/fe/session/token", false),
            (KeyRole::Analyst, &get, "/api/v1/fe/channels", false),
            (KeyRole::Analyst, &get, "/api/v1/ws", false),
            (KeyRole::Analyst, &post, "/api/v1/fe/preview/compile", false),
            (KeyRole::Analyst, &get, "", false),
            (KeyRole::Author, &post, "/api/v1/fe/preview/compile", true),
            (KeyRole::Author, &post, "/api/v1/fe/preview/step", true),
            (KeyRole::Author, &get, "/api/v1/fe/modules", true),
            (KeyRole::Author, &post, "/api/v1/fe/modules", true),
            (KeyRole::Author, &get, "/api/v1/fe/program/summary", false),
            (
                KeyRole::Author,
                &post,
                "/api/v1/customer/mfi/register",
                false,
            ),
        ] {
            assert_eq!(
                allows(role, method, route),
                allowed,
                "{} {method} {route}",
                role.as_str()
            );
        }
    }
}
