//! Every kind of bad input gets the right 4xx envelope and code; never a
//! 500, never a dropped connection.

use serde_json::json;

use super::harness::{Backend, TestApp, assert_error, both_backends};

both_backends!(
    bad_json_bodies,
    bad_enrolments,
    bad_messages,
    bad_query_parameters,
    bad_routes_and_methods,
    bad_customers,
    mangled_bodies_never_cause_a_5xx,
);

async fn bad_json_bodies(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for path in [
        "/api/v1/customer/mfi/register",
        "/api/v1/fe/program/customer/add",
        "/api/v1/message",
    ] {
        for (body, code) in [
            (&b"{"[..], "malformed_json"),
            (b"{\"full_name\": }", "malformed_json"),
            (b"", "malformed_json"),
            (b"[]", "malformed_json"),
            (b"\"text\"", "malformed_json"),
            (b"{} trailing", "malformed_json"),
            (b"{\"message\": \"\xff\xfe\"}", "invalid_utf8"),
        ] {
            let (status, response) = app.post_raw(path, body.to_vec()).await;
            assert_error(status, &response, 400, code);
        }
        // Oversized body: 413 whatever the content.
        let big = format!("{{\"message\": \"{}\"}}", "a".repeat(100 * 1024));
        let (status, response) = app.post_raw(path, big.into_bytes()).await;
        assert_error(status, &response, 413, "payload_too_large");
        // Not JSON at all.
        let response = app
            .client
            .post(app.url(path))
            .bearer_auth(&app.key)
            .header("content-type", "text/plain")
            .body("hello")
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        let body: serde_json::Value = response.json().await.expect("json");
        assert_error(status, &body, 415, "unsupported_media_type");
    }
}

async fn bad_enrolments(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let customer = app.register_customer().await;
    let module = app.module_uuid("Test Module Updated").await;
    let path = "/api/v1/fe/program/customer/add";

    // Missing field: named.
    let (status, body) = app
        .post(path, &json!({"customer_uuid": customer, "module": module}))
        .await;
    assert_error(status, &body, 400, "malformed_json");
    assert_eq!(body["errors"], json!(["program_identifier: is required"]));

    // Wrong type: named.
    let (status, body) = app
        .post(
            path,
            &json!({"program_identifier": "49", "customer_uuid": customer, "module": module}),
        )
        .await;
    assert_error(status, &body, 400, "malformed_json");
    let error = body["errors"][0].as_str().expect("error");
    assert!(
        error.starts_with("program_identifier: invalid type"),
        "{body}"
    );

    // Not a UUID: validation, every problem at once.
    let (status, body) = app
        .post(
            path,
            &json!({"program_identifier": -1, "customer_uuid": "abc", "module": " "}),
        )
        .await;
    assert_error(status, &body, 400, "validation_failed");
    assert_eq!(
        body["errors"],
        json!([
            "customer_uuid: must be a UUID",
            "program_identifier: must not be negative",
            "module: must not be empty"
        ])
    );

    // Unknown module (a well-formed uuid, and a name).
    for unknown in ["00000000-0000-0000-0000-000000000000", "no-such-module"] {
        let (status, body) = app
            .post(
                path,
                &json!({"program_identifier": 49, "customer_uuid": customer, "module": unknown}),
            )
            .await;
        assert_error(status, &body, 404, "module_not_found");
    }

    // Unknown customer.
    let (status, body) = app
        .post(
            path,
            &json!({"program_identifier": 49, "customer_uuid": uuid::Uuid::new_v4().to_string(), "module": module}),
        )
        .await;
    assert_error(status, &body, 404, "customer_not_found");
}

async fn bad_messages(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (customer, session) = app.enrolled().await;
    let path = "/api/v1/message";
    let limit = chatcourse_api::MAX_MESSAGE_CHARS;

    // At the limit (in characters, not bytes) is fine; one more is not.
    let at_limit = "é".repeat(limit);
    let (status, body) = app
        .post(
            path,
            &json!({"customer_uuid": customer, "session_uuid": session, "message": at_limit}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let over = "a".repeat(limit + 1);
    let (status, body) = app
        .post(
            path,
            &json!({"customer_uuid": customer, "session_uuid": session, "message": over}),
        )
        .await;
    assert_error(status, &body, 400, "message_too_long");
    assert_eq!(
        body["errors"],
        json!([format!("message: must be at most {limit} characters")])
    );

    // NUL characters (PostgreSQL text cannot store them).
    let (status, body) = app
        .post(
            path,
            &json!({"customer_uuid": customer, "session_uuid": session, "message": "1\u{0}", "external_id": "a\u{0}"}),
        )
        .await;
    assert_error(status, &body, 400, "validation_failed");
    assert_eq!(
        body["errors"],
        json!(["external_id: must not contain NUL characters"])
    );
    let (status, body) = app
        .post(
            path,
            &json!({"customer_uuid": customer, "session_uuid": session, "message": "1\u{0}"}),
        )
        .await;
    assert_error(status, &body, 400, "validation_failed");
    assert_eq!(
        body["errors"],
        json!(["message: must not contain NUL characters"])
    );

    // Empty message.
    let (status, body) = app
        .post(
            path,
            &json!({"customer_uuid": customer, "session_uuid": session, "message": "  "}),
        )
        .await;
    assert_error(status, &body, 400, "validation_failed");

    // Wrong types and missing fields.
    let (status, body) = app
        .post(
            path,
            &json!({"customer_uuid": customer, "session_uuid": session, "message": 1}),
        )
        .await;
    assert_error(status, &body, 400, "malformed_json");
    let (status, body) = app.post(path, &json!({"message": "1"})).await;
    assert_error(status, &body, 400, "malformed_json");
    assert_eq!(body["errors"], json!(["customer_uuid: is required"]));

    // Bad uuids, unknown session, session of another customer.
    let (status, body) = app
        .post(
            path,
            &json!({"customer_uuid": "x", "session_uuid": "y", "message": "1"}),
        )
        .await;
    assert_error(status, &body, 400, "validation_failed");
    assert_eq!(
        body["errors"],
        json!([
            "customer_uuid: must be a UUID",
            "session_uuid: must be a UUID"
        ])
    );
    let other = app.register_customer().await;
    for (c, s) in [
        (customer.clone(), uuid::Uuid::new_v4().to_string()),
        (other, session.clone()),
    ] {
        let (status, body) = app
            .post(
                path,
                &json!({"customer_uuid": c, "session_uuid": s, "message": "1"}),
            )
            .await;
        assert_error(status, &body, 404, "session_not_found");
    }
    // None of it reached the conversation (only the one good message).
    let transcript = app.transcript(&customer, &session).await;
    let received = transcript
        .iter()
        .filter(|m| m["message_type"] == "RECEIVED")
        .count();
    assert_eq!(received, 1);
}

async fn bad_query_parameters(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (customer, session) = app.enrolled().await;
    let cases = [
        (
            "/api/v1/message/all".to_owned(),
            vec!["customerUuid: is required", "sessionUuid: is required"],
        ),
        (
            format!("/api/v1/message/all?customerUuid={customer}"),
            vec!["sessionUuid: is required"],
        ),
        (
            format!("/api/v1/message/all?customerUuid=888&sessionUuid={session}"),
            vec!["customerUuid: must be a UUID"],
        ),
        (
            format!(
                "/api/v1/message/all?customerUuid={customer}&sessionUuid={session}&limit=0&afterId=x"
            ),
            vec![
                "afterId: must be an integer from 0 to 9223372036854775807",
                "limit: must be an integer from 1 to 1000",
            ],
        ),
        (
            "/api/v1/fe/customer/summary?customerUuid=nope".to_owned(),
            vec!["customerUuid: must be a UUID"],
        ),
        (
            format!("/api/v1/fe/customer/session/summary?customerUuid={customer}"),
            vec!["sessionUuid: is required"],
        ),
        (
            "/api/v1/fe/program/summary".to_owned(),
            vec!["programIdentifier: is required"],
        ),
        (
            "/api/v1/fe/program/summary?programIdentifier=abc".to_owned(),
            vec!["programIdentifier: must be an integer"],
        ),
        (
            "/api/v1/customer/mfi?customerUuid=".to_owned(),
            vec!["customerUuid: is required"],
        ),
    ];
    for (path, errors) in cases {
        let (status, body) = app.get(&path).await;
        assert_error(status, &body, 400, "validation_failed");
        assert_eq!(
            body["message"],
            "Validation failed for one or more arguments"
        );
        assert_eq!(body["errors"], json!(errors), "{path}");
    }

    // Well-formed but unknown: 404.
    let nobody = uuid::Uuid::new_v4();
    for (path, code) in [
        (
            format!("/api/v1/message/all?customerUuid={customer}&sessionUuid={nobody}"),
            "conversation_not_found",
        ),
        (
            format!("/api/v1/message/all?customerUuid={nobody}&sessionUuid={session}"),
            "conversation_not_found",
        ),
        (
            format!("/api/v1/fe/customer/summary?customerUuid={nobody}"),
            "customer_not_found",
        ),
        (
            format!("/api/v1/customer/mfi?customerUuid={nobody}"),
            "customer_not_found",
        ),
        (
            format!(
                "/api/v1/fe/customer/session/summary?customerUuid={customer}&sessionUuid={nobody}"
            ),
            "session_not_found",
        ),
        (
            "/api/v1/fe/program/summary?programIdentifier=12345".to_owned(),
            "program_not_found",
        ),
    ] {
        let (status, body) = app.get(&path).await;
        assert_error(status, &body, 404, code);
    }
}

async fn bad_routes_and_methods(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (status, body) = app.get("/api/v1/nothing-here").await;
    assert_error(status, &body, 404, "route_not_found");
    let (status, body) = app.post("/api/v1/message/all", &json!({})).await;
    assert_error(status, &body, 405, "method_not_allowed");
    // A WebSocket route without the upgrade headers.
    let (customer, session) = app.enrolled().await;
    let (status, body) = app
        .get(&format!(
            "/api/v1/ws?customerUuid={customer}&sessionUuid={session}"
        ))
        .await;
    assert_error(status, &body, 400, "validation_failed");
}

async fn bad_customers(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (status, body) = app
        .post(
            "/api/v1/customer/mfi/register",
            &json!({
                "full_name": "",
                "national_id": "1",
                "phone": "not a phone",
                "location": "Nairobi",
                "gender": "Female",
                "email": "nope",
                "date_of_birth": "31/02/1990",
            }),
        )
        .await;
    assert_error(status, &body, 400, "validation_failed");
    assert_eq!(
        body["errors"],
        json!([
            "full_name: must not be empty",
            "phone: must be 7 to 15 digits, optionally after a +",
            "email: must be an email address",
            "date_of_birth: must be dd/MM/yyyy or yyyy-MM-dd",
        ])
    );
    let (status, body) = app
        .post(
            "/api/v1/customer/mfi/register",
            &json!({"full_name": "A", "national_id": 5, "phone": "254712345678", "location": "x", "gender": "y"}),
        )
        .await;
    assert_error(status, &body, 400, "malformed_json");
    let (status, body) = app
        .post(
            "/api/v1/customer/mfi/register",
            &json!({"full_name": "A\u{0}", "national_id": "1", "phone": "254712345678", "location": "x", "gender": "y"}),
        )
        .await;
    assert_error(status, &body, 400, "validation_failed");
    assert_eq!(
        body["errors"],
        json!(["full_name: must not contain NUL characters"])
    );
}

/// Valid bodies with bytes changed, cut or duplicated (a fixed pseudo-random
/// sequence): every answer is an envelope below 500.
async fn mangled_bodies_never_cause_a_5xx(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (customer, session) = app.enrolled().await;
    let module = app.module_uuid("Test Module Updated").await;
    let bodies = [
        (
            "/api/v1/customer/mfi/register",
            json!({"full_name": "Jane", "national_id": "1", "phone": "254712345678", "location": "Nairobi", "gender": "F"}),
        ),
        (
            "/api/v1/fe/program/customer/add",
            json!({"program_identifier": 49, "customer_uuid": customer, "module": module}),
        ),
        (
            "/api/v1/message",
            json!({"customer_uuid": customer, "session_uuid": session, "message": "1", "external_id": "x"}),
        ),
    ];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for (path, body) in &bodies {
        let original = body.to_string().into_bytes();
        for _ in 0..60 {
            let mut bytes = original.clone();
            match next() % 3 {
                0 => {
                    let i = (next() as usize) % bytes.len();
                    bytes[i] = (next() % 256) as u8;
                }
                1 => bytes.truncate((next() as usize) % bytes.len()),
                _ => {
                    let i = (next() as usize) % bytes.len();
                    let b = bytes[i];
                    bytes.insert(i, b);
                }
            }
            let (status, response) = app.post_raw(path, bytes.clone()).await;
            assert!(
                status < 500,
                "{path} {:?} -> {status} {response}",
                String::from_utf8_lossy(&bytes)
            );
            assert_eq!(response["status"], status, "{response}");
        }
    }
}
