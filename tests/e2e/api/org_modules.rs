//! Modules per organisation: `POST /api/v1/fe/modules` uploads a module the
//! caller's organisation owns (refused with every diagnostic when it has
//! errors); Fetch Modules lists the shared modules and the caller's own;
//! another organisation's modules do not exist for it; enrolment by
//! `module:` id finds the organisation's own module first. Stored in the
//! database: they survive a restart and another server process sees them.

use serde_json::{Value, json};

use super::harness::{Backend, TestApp, assert_error, both_backends, modules_dir};

both_backends!(organisations_upload_their_own_modules);

const MINE: &str = "module: my-course\nname: My Course\ngoal: try uploads\nversion: \"1\"\nlanguage: en\nsteps:\n  - id: q\n    ask: Mine, version one. Ready?\n    choices: [Yes]\n  - id: done\n    end: Bye.\n";

async fn listed(app: &TestApp, key: &str) -> Vec<Value> {
    let (status, body) = app.get_with("/api/v1/fe/modules", key).await;
    assert_eq!(status, 200, "{body}");
    body["data"].as_array().expect("modules").clone()
}

fn named<'a>(list: &'a [Value], name: &str) -> Option<&'a Value> {
    list.iter().find(|m| m["module_name"] == name)
}

/// Enrols a new customer of `key`'s organisation in `module`; returns the
/// first prompt after replying `1`... or the error.
async fn enrol(app: &TestApp, key: &str, module: &str) -> Result<(String, String), Value> {
    let customer = app.register_customer_with(key, "Amina Otieno").await["uuid"]
        .as_str()
        .expect("uuid")
        .to_owned();
    let (status, body) = app
        .post_with(
            "/api/v1/fe/program/customer/add",
            &json!({"program_identifier": 3, "customer_uuid": customer, "module": module}),
            key,
        )
        .await;
    if status != 200 {
        return Err(json!({"status": status, "body": body}));
    }
    let session = body["data"]["session_uuid"].as_str().unwrap().to_owned();
    Ok((customer, session))
}

async fn first_message(app: &TestApp, customer: &str, session: &str) -> String {
    app.transcript(customer, session).await[0]["message"]
        .as_str()
        .expect("text")
        .to_owned()
}

async fn organisations_upload_their_own_modules(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let a = app.key.clone();
    let b = app.new_key("org-b").await;
    let upload = |source: String, key: String| {
        let app = &app;
        async move {
            app.post_with("/api/v1/fe/modules", &json!({ "source": source }), &key)
                .await
        }
    };

    // A module with errors: 422 with every diagnostic, nothing registered.
    let broken = MINE.replace("choices: [Yes]", "chioces: [Yes]\n    next: nowhere");
    let (status, body) = upload(broken, a.clone()).await;
    assert_error(status, &body, 422, "module_invalid");
    let diagnostics = body["diagnostics"].as_array().expect("diagnostics");
    let codes: Vec<&str> = diagnostics
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["unknown-field", "unknown-step"], "{body}");
    assert_eq!(diagnostics[0]["line"], 9);
    assert_eq!(diagnostics[0]["column"], 5);
    assert!(
        diagnostics[0]["hint"].as_str().unwrap().contains("choices"),
        "{body}"
    );
    assert_eq!(body["errors"].as_array().unwrap().len(), 2, "{body}");
    assert!(named(&listed(&app, &a).await, "My Course").is_none());
    let (status, body) = app.post("/api/v1/fe/modules", &json!({"yaml": MINE})).await;
    assert_error(status, &body, 400, "malformed_json");

    // A valid module: registered, owned by org-a, listed for it alone.
    let (status, body) = upload(MINE.to_owned(), a.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["owner"], "organisation");
    assert_eq!(body["data"]["module_id"], "my-course");
    assert_eq!(body["data"]["warnings"], json!([]));
    let mine = body["data"]["module_uuid"].as_str().unwrap().to_owned();
    let for_a = listed(&app, &a).await;
    assert_eq!(
        named(&for_a, "My Course").unwrap()["module_uuid"],
        mine.as_str()
    );
    assert_eq!(
        named(&for_a, "Test Module Updated").unwrap()["owner"],
        "shared"
    );
    let for_b = listed(&app, &b).await;
    assert!(named(&for_b, "My Course").is_none(), "{for_b:?}");
    assert_eq!(for_b.len() + 1, for_a.len());

    // Enrolment: by uuid or id for its owner; not found for another.
    let (customer, session) = enrol(&app, &a, &mine).await.unwrap();
    assert!(
        first_message(&app, &customer, &session)
            .await
            .starts_with("Mine, version one.")
    );
    let (c2, s2) = enrol(&app, &a, "my-course").await.unwrap();
    assert!(
        first_message(&app, &c2, &s2)
            .await
            .starts_with("Mine, version one.")
    );
    for name in [mine.as_str(), "my-course"] {
        let err = enrol(&app, &b, name).await.unwrap_err();
        assert_error(
            err["status"].as_u64().unwrap() as u16,
            &err["body"],
            404,
            "module_not_found",
        );
    }

    // An owned module with a shared module's id comes first for its owner.
    let shared_source =
        std::fs::read_to_string(modules_dir().join("test-module-updated.yaml")).unwrap();
    let old_question = "What is the first step to climbing the financial ladder?";
    let own_question = "Our own first question, where does the ladder start?";
    let (status, body) = upload(
        shared_source.replacen(old_question, own_question, 1),
        a.clone(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (c, s) = enrol(&app, &a, "test-module-updated").await.unwrap();
    app.say(&c, &s, "1").await;
    assert!(
        app.transcript(&c, &s).await[2]["message"]
            .as_str()
            .unwrap()
            .starts_with(own_question)
    );
    let (c, s) = enrol(&app, &b, "test-module-updated").await.unwrap();
    let (status, turn) = app
        .post_with(
            "/api/v1/message",
            &json!({"customer_uuid": c, "session_uuid": s, "message": "1"}),
            &b,
        )
        .await;
    assert_eq!(status, 200, "{turn}");
    assert!(
        turn["data"]["replies"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with(old_question),
        "{turn}"
    );

    // A new version whose question keeps its id but not its answer: a
    // warning, since results before and after do not compare.
    let changed = shared_source
        .replacen(old_question, own_question, 1)
        .replacen("    correct: 2", "    correct: 1", 1);
    let (status, body) = upload(changed, a.clone()).await;
    assert_eq!(status, 200, "{body}");
    let warnings = body["data"]["warnings"].as_array().unwrap();
    assert!(
        warnings.iter().any(|w| w["code"] == "correct-changed"
            && w["message"].as_str().unwrap().contains("`pre_q1`")),
        "{body}"
    );

    // A new version: same uuid, new hash; the live session stays on its own.
    let before = named(&listed(&app, &a).await, "My Course").unwrap().clone();
    let (status, body) = upload(MINE.replace("version one", "version two"), a.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["module_uuid"], mine.as_str());
    assert_ne!(body["data"]["version_hash"], before["version_hash"]);
    let (c3, s3) = enrol(&app, &a, "my-course").await.unwrap();
    assert!(
        first_message(&app, &c3, &s3)
            .await
            .starts_with("Mine, version two.")
    );
    let turn = app.say(&customer, &session, "1").await;
    assert_eq!(turn["status"], "Completed", "{turn}");

    // Stored: a restarted server, and another process on PostgreSQL, see it.
    app.restart(&chatcourse_api::Config {
        modules_dir: modules_dir(),
        ..chatcourse_api::Config::default()
    })
    .await;
    let after = named(&listed(&app, &a).await, "My Course").unwrap().clone();
    assert_ne!(after["version_hash"], before["version_hash"]);
    if let Some(store) = app.second_store().await {
        let config = chatcourse_api::Config {
            modules_dir: modules_dir(),
            ..chatcourse_api::Config::default()
        };
        let other = chatcourse_api::App::with_store(&config, store)
            .await
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(other.serve(listener, async move {
            let _ = rx.await;
        }));
        let body: Value = app
            .client
            .get(format!("http://{addr}/api/v1/fe/modules"))
            .bearer_auth(&a)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let list = body["data"].as_array().unwrap();
        assert_eq!(
            named(list, "My Course").unwrap()["version_hash"],
            after["version_hash"]
        );
        let _ = tx.send(());
        server.await.unwrap().unwrap();
    }
}
