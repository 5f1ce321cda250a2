//! Key roles over HTTP, on both backends: an admin key does everything, an
//! analyst key reads (summaries, exports, conversations) and is refused
//! everything that writes or sends with `403 insufficient_role`, an author
//! key previews modules and nothing else.

use serde_json::{Value, json};

use chatcourse_storage::KeyRole;

use super::harness::{Backend, TestApp, assert_error, both_backends};

both_backends!(
    admin_keys_do_everything,
    analyst_keys_only_read,
    author_keys_only_preview
);

/// Requests of every kind for `key`: (what, status).
async fn attempts(app: &TestApp, key: &str, customer: &str, session: &str) -> Vec<(String, u16)> {
    let module = app.module_uuid("Test Module Updated").await;
    let source =
        std::fs::read_to_string(super::harness::modules_dir().join("test-module-updated.yaml"))
            .expect("module");
    let gets = [
        "/api/v1/fe/modules".to_owned(),
        "/api/v1/fe/program/summary?programIdentifier=49".to_owned(),
        format!("/api/v1/fe/customer/summary?customerUuid={customer}"),
        format!("/api/v1/message/all?customerUuid={customer}&sessionUuid={session}"),
        "/api/v1/fe/program/export/scores?programIdentifier=49".to_owned(),
        "/api/v1/fe/channels".to_owned(),
    ];
    let posts: [(&str, Value); 6] = [
        (
            "/api/v1/customer/mfi/register",
            json!({"full_name": "Role Test", "national_id": "1", "phone": super::harness::next_phone(), "location": "Nairobi", "gender": "Female"}),
        ),
        (
            "/api/v1/fe/program/customer/add",
            json!({"program_identifier": 50, "customer_uuid": customer, "module": module}),
        ),
        (
            "/api/v1/message",
            json!({"customer_uuid": customer, "session_uuid": session, "message": "1", "external_id": key}),
        ),
        (
            "/api/v1/fe/session/token",
            json!({"customer_uuid": customer, "session_uuid": session}),
        ),
        (
            "/api/v1/fe/channels",
            json!({"kind": "webhook", "name": "gw", "url": "http://127.0.0.1:9/hook"}),
        ),
        ("/api/v1/fe/preview/compile", json!({"source": source})),
    ];
    let mut seen = Vec::new();
    for path in gets {
        let (status, body) = app.get_with(&path, key).await;
        if status == 403 {
            assert_error(status, &body, 403, "insufficient_role");
        }
        seen.push((format!("GET {}", path.split('?').next().unwrap()), status));
    }
    for (path, body) in posts {
        let (status, reply) = app.post_with(path, &body, key).await;
        if status == 403 {
            assert_error(status, &reply, 403, "insufficient_role");
        }
        seen.push((format!("POST {path}"), status));
    }
    seen
}

async fn outcomes(backend: Backend, role: KeyRole) -> Vec<(String, u16)> {
    let app = TestApp::spawn(backend).await;
    let (customer, session) = app.enrolled().await;
    let key = app.new_key_with_role("org-a", role).await;
    attempts(&app, &key, &customer, &session).await
}

fn refused(seen: &[(String, u16)]) -> Vec<&str> {
    seen.iter()
        .filter(|(_, status)| *status == 403)
        .map(|(what, _)| what.as_str())
        .collect()
}

async fn admin_keys_do_everything(backend: Backend) {
    let seen = outcomes(backend, KeyRole::Admin).await;
    assert!(refused(&seen).is_empty(), "{seen:?}");
    assert!(seen.iter().all(|(_, s)| *s == 200), "{seen:?}");
}

async fn analyst_keys_only_read(backend: Backend) {
    let seen = outcomes(backend, KeyRole::Analyst).await;
    assert_eq!(
        refused(&seen),
        vec![
            "GET /api/v1/fe/channels",
            "POST /api/v1/customer/mfi/register",
            "POST /api/v1/fe/program/customer/add",
            "POST /api/v1/message",
            "POST /api/v1/fe/session/token",
            "POST /api/v1/fe/channels",
            "POST /api/v1/fe/preview/compile",
        ],
        "{seen:?}"
    );
    // Nor may it open a learner's live chat (it would send as the learner).
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (customer, session) = app.enrolled().await;
    let key = app.new_key_with_role("org-a", KeyRole::Analyst).await;
    let (status, body) = app
        .get_with(
            &format!("/api/v1/ws?customerUuid={customer}&sessionUuid={session}"),
            &key,
        )
        .await;
    assert_error(status, &body, 403, "insufficient_role");
    // Every read works.
    assert!(
        seen.iter()
            .filter(|(what, _)| what.starts_with("GET") && !what.contains("channels"))
            .all(|(_, s)| *s == 200),
        "{seen:?}"
    );
}

async fn author_keys_only_preview(backend: Backend) {
    let seen = outcomes(backend, KeyRole::Author).await;
    let allowed: Vec<&str> = seen
        .iter()
        .filter(|(_, status)| *status == 200)
        .map(|(what, _)| what.as_str())
        .collect();
    assert_eq!(
        allowed,
        vec!["GET /api/v1/fe/modules", "POST /api/v1/fe/preview/compile"],
        "{seen:?}"
    );
    assert_eq!(refused(&seen).len(), seen.len() - 2, "{seen:?}");
}
