//! API keys: both header names, missing and wrong keys, revoked keys, and
//! isolation between organisations.

use serde_json::json;

use super::harness::{Backend, TestApp, assert_error, both_backends};

both_backends!(
    header_forms,
    missing_and_wrong_keys,
    revoked_keys_stop_working,
    other_organisations_ids_do_not_exist,
);

async fn header_forms(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let key = &app.key;
    for (name, value) in [
        ("Authorization", format!("Bearer {key}")),
        ("Authorization", format!("bearer {key}")),
        ("Authentication", key.clone()),
        ("Authentication", format!("Bearer {key}")),
    ] {
        let response = app
            .client
            .get(app.url("/api/v1/fe/modules"))
            .header(name, value.as_str())
            .send()
            .await
            .expect("request");
        assert_eq!(response.status().as_u16(), 200, "{name}: {value}");
    }
    // A proxy's Basic credentials do not hide the Authentication key.
    let response = app
        .client
        .get(app.url("/api/v1/fe/modules"))
        .header("Authorization", "Basic dXNlcjpwYXNz")
        .header("Authentication", key.as_str())
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 200);
}

async fn missing_and_wrong_keys(backend: Backend) {
    // Many wrong keys from one address: without the limit on
    // authentication failures (tested in `hardening`), every one is a 401.
    let config = chatcourse_api::Config {
        rate_limits: chatcourse_api::limits::RateLimits {
            auth_failures_per_minute: 0,
            ..Default::default()
        },
        ..chatcourse_api::Config::default()
    };
    let app = TestApp::spawn_with(backend, config).await;
    let (customer, session) = app.enrolled().await;
    let gets = [
        "/api/v1/fe/modules".to_owned(),
        format!("/api/v1/message/all?customerUuid={customer}&sessionUuid={session}"),
        format!("/api/v1/fe/customer/summary?customerUuid={customer}"),
        format!("/api/v1/customer/mfi?customerUuid={customer}"),
        format!(
            "/api/v1/fe/customer/session/summary?customerUuid={customer}&sessionUuid={session}"
        ),
        "/api/v1/fe/program/summary?programIdentifier=49".to_owned(),
        format!("/api/v1/ws?customerUuid={customer}&sessionUuid={session}"),
    ];
    let posts = [
        "/api/v1/customer/mfi/register",
        "/api/v1/fe/program/customer/add",
        "/api/v1/message",
    ];
    for path in &gets {
        let response = app.client.get(app.url(path)).send().await.expect("request");
        let status = response.status().as_u16();
        let body = response.json().await.expect("json");
        assert_error(status, &body, 401, "missing_api_key");
        for (name, value) in [
            ("Authorization", "Bearer cck_wrong".to_owned()),
            ("Authorization", app.key.clone()), // no scheme
            ("Authorization", format!("Basic {}", app.key)),
            ("Authentication", "cck_wrong".to_owned()),
            ("Authentication", "Bearer cck_wrong".to_owned()),
        ] {
            let response = app
                .client
                .get(app.url(path))
                .header(name, value.as_str())
                .send()
                .await
                .expect("request");
            let status = response.status().as_u16();
            let body = response.json().await.expect("json");
            assert_error(status, &body, 401, "invalid_api_key");
        }
    }
    for path in posts {
        // Even a bad body is not looked at without a key.
        let response = app
            .client
            .post(app.url(path))
            .header("content-type", "application/json")
            .body("{")
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        let body = response.json().await.expect("json");
        assert_error(status, &body, 401, "missing_api_key");
        let (status, body) = app.post_with(path, &json!({}), "cck_wrong").await;
        assert_error(status, &body, 401, "invalid_api_key");
    }
    // Nothing was registered or sent by the refused requests.
    assert_eq!(app.transcript(&customer, &session).await.len(), 1);
    // Health, readiness, metrics and the OpenAPI document need no key.
    for path in ["/healthz", "/readyz", "/metrics", "/api/v1/openapi.json"] {
        let response = app.client.get(app.url(path)).send().await.expect("request");
        assert_eq!(response.status().as_u16(), 200, "{path}");
    }
}

async fn revoked_keys_stop_working(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let key = app.new_key("org-r").await;
    let (status, _) = app.get_with("/api/v1/fe/modules", &key).await;
    assert_eq!(status, 200);
    let now = chrono::Utc::now();
    let org = app
        .store
        .create_org_if_missing("org-r", now)
        .await
        .expect("org");
    let keys = app.store.list_keys(org.id).await.expect("keys");
    let hash = chatcourse_storage::hash_api_key(&key);
    let stored = keys.iter().find(|k| k.key_hash == hash).expect("stored");
    assert!(
        app.store
            .revoke_key(org.id, stored.id, now)
            .await
            .expect("revoke")
    );
    let (status, body) = app.get_with("/api/v1/fe/modules", &key).await;
    assert_error(status, &body, 401, "invalid_api_key");
}

async fn other_organisations_ids_do_not_exist(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (customer, session) = app.enrolled().await;
    let other = app.new_key("org-b").await;
    let module = app.module_uuid("Test Module Updated").await;

    for (path, code) in [
        (
            format!("/api/v1/message/all?customerUuid={customer}&sessionUuid={session}"),
            "conversation_not_found",
        ),
        (
            format!("/api/v1/fe/customer/summary?customerUuid={customer}"),
            "customer_not_found",
        ),
        (
            format!("/api/v1/customer/mfi?customerUuid={customer}"),
            "customer_not_found",
        ),
        (
            format!(
                "/api/v1/fe/customer/session/summary?customerUuid={customer}&sessionUuid={session}"
            ),
            "session_not_found",
        ),
        (
            "/api/v1/fe/program/summary?programIdentifier=49".to_owned(),
            "program_not_found",
        ),
        (
            format!("/api/v1/ws?customerUuid={customer}&sessionUuid={session}"),
            "session_not_found",
        ),
    ] {
        let (status, body) = app.get_with(&path, &other).await;
        assert_error(status, &body, 404, code);
    }
    let (status, body) = app
        .post_with(
            "/api/v1/message",
            &json!({"customer_uuid": customer, "session_uuid": session, "message": "1"}),
            &other,
        )
        .await;
    assert_error(status, &body, 404, "session_not_found");
    let (status, body) = app
        .post_with(
            "/api/v1/fe/program/customer/add",
            &json!({"program_identifier": 49, "customer_uuid": customer, "module": module}),
            &other,
        )
        .await;
    assert_error(status, &body, 404, "customer_not_found");

    // Organisation B's own programme 49 is not A's.
    let b_customer = app.register_customer_with(&other, "Otieno Omondi").await;
    let b_customer = b_customer["uuid"].as_str().expect("uuid");
    let b_session = app.enrol_with(&other, b_customer, &module, 49).await;
    assert_ne!(b_session, session);
    let (_, body) = app
        .get_with("/api/v1/fe/program/summary?programIdentifier=49", &other)
        .await;
    assert_eq!(body["data"]["enrolled"], 1, "{body}");
    let (_, body) = app
        .get("/api/v1/fe/program/summary?programIdentifier=49")
        .await;
    assert_eq!(body["data"]["enrolled"], 1, "{body}");
    // And A cannot see B's.
    let (status, body) = app
        .get(&format!("/api/v1/customer/mfi?customerUuid={b_customer}"))
        .await;
    assert_error(status, &body, 404, "customer_not_found");
    // A's conversation is untouched.
    assert_eq!(app.transcript(&customer, &session).await.len(), 1);
}
