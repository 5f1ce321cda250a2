//! Delivery over a webhook channel, to a real receiver on 127.0.0.1
//! (`FakeReceiver`): signed, in order, once each; retried; failed with the
//! reason; inbound by phone; consent.

use std::net::SocketAddr;
use std::time::Duration;

use chatcourse_api::Config;
use chatcourse_api::delivery::DeliveryConfig;
use chatcourse_channels::fakes::{Delivery, FakeReceiver, Reply};
use chatcourse_channels::retry::RetryPolicy;
use chatcourse_channels::signing::WebhookSecret;
use serde_json::{Value, json};

use super::harness::{Backend, TestApp, both_backends, is_display_time, next_phone};

both_backends!(
    messages_arrive_signed_in_order_once,
    failures_are_retried_and_delivered_once,
    a_receiver_that_keeps_failing_ends_failed,
    inbound_by_phone_reaches_the_session,
    opted_out_phone_receives_nothing_more,
    webhook_status_reports_update_message_items,
    integrator_events_follow_the_session,
    replies_follow_the_learners_channel,
    a_keyword_enrols_a_new_learner,
);

pub(super) const WAIT: Duration = Duration::from_secs(20);

/// Short waits, so retries happen within a test.
pub(super) fn config(max_attempts: u32) -> Config {
    Config {
        delivery: DeliveryConfig {
            retry: RetryPolicy {
                max_attempts,
                base: Duration::from_millis(50),
                cap: Duration::from_millis(200),
                max_retry_after: Duration::from_secs(2),
            },
            interval: Duration::from_millis(20),
            lease: Duration::from_secs(30),
            timeout: Duration::from_secs(5),
            batch: 100,
        },
        ..Config::default()
    }
}

/// A free port of 127.0.0.1 (the receiver listens on it once the channel,
/// and so its secret, exists).
fn free_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr")
}

/// Creates a webhook channel pointing at a new receiver; returns both and
/// the channel's data.
pub(super) async fn channel(app: &TestApp) -> (FakeReceiver, Value, WebhookSecret) {
    channel_with(app, json!({})).await
}

/// [`channel`] with these settings (`events`, `messages`).
async fn channel_with(app: &TestApp, settings: Value) -> (FakeReceiver, Value, WebhookSecret) {
    let addr = free_addr();
    let (status, body) = app
        .post(
            "/api/v1/fe/channels",
            &json!({"kind": "webhook", "name": "gateway", "url": format!("http://{addr}/hooks"),
                    "settings": settings}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let data = body["data"].clone();
    let secret = WebhookSecret::parse(data["secret"].as_str().expect("secret shown")).unwrap();
    let receiver = FakeReceiver::start_on(secret.clone(), addr, true)
        .await
        .expect("receiver");
    (receiver, data, secret)
}

/// Registers a customer with a fresh phone and enrols them; returns
/// (customer uuid, session uuid, phone in E.164).
pub(super) async fn learner(app: &TestApp) -> (String, String, String) {
    let phone = next_phone();
    let customer = app
        .register_customer_by_phone(&app.key, "Jane Wanjiku", &phone)
        .await["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    let module = app.module_uuid("Test Module Updated").await;
    let session = app.enrol(&customer, &module, 49).await;
    (customer, session, format!("+{phone}"))
}

fn texts(deliveries: &[Delivery]) -> Vec<String> {
    deliveries
        .iter()
        .map(|d| {
            d.body["message"]["message"]
                .as_str()
                .unwrap_or("")
                .to_owned()
        })
        .collect()
}

async fn messages_arrive_signed_in_order_once(backend: Backend) {
    let app = TestApp::spawn_with(backend, config(5)).await;
    let (receiver, channel, _) = channel(&app).await;
    // Listed and fetched without the secret.
    let (_, list) = app.get("/api/v1/fe/channels").await;
    assert_eq!(list["data"][0]["uuid"], channel["uuid"], "{list}");
    assert!(list["data"][0].get("secret").is_none(), "{list}");

    let (customer, session, phone) = learner(&app).await;
    app.say(&customer, &session, "1").await;
    app.say(&customer, &session, "2").await;
    let transcript = app.transcript(&customer, &session).await;
    let sent: Vec<String> = transcript
        .iter()
        .filter(|m| m["message_type"] == "SENT")
        .map(|m| m["message"].as_str().unwrap().to_owned())
        .collect();
    let got = receiver.wait_for_accepted(sent.len(), WAIT).await;
    assert_eq!(texts(&got), sent, "every SENT message, in order");
    // Once each, signed, with the payload's fields.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let all = receiver.deliveries();
    assert_eq!(all.len(), sent.len(), "no duplicates");
    for d in &all {
        assert!(d.signature_valid);
        assert_eq!(d.body["type"], "message");
        assert_eq!(d.body["idempotency_key"], d.id.as_str());
        assert_eq!(d.body["channel"], channel["uuid"]);
        assert_eq!(d.body["customer"]["uuid"], customer.as_str());
        assert_eq!(d.body["customer"]["phone"], phone.as_str());
        assert_eq!(d.body["session_uuid"], session.as_str());
        assert_eq!(d.body["message"]["message_type"], "SENT");
    }
    assert_eq!(all[0].body["purpose"], "enrolment");
    assert_eq!(all.last().unwrap().body["purpose"], "reply");
}

async fn failures_are_retried_and_delivered_once(backend: Backend) {
    let app = TestApp::spawn_with(backend, config(6)).await;
    let (receiver, _, _) = channel(&app).await;
    receiver.script([Reply::Status(500), Reply::RetryAfter(1), Reply::Status(503)]);
    let (customer, session, _) = learner(&app).await;
    app.say(&customer, &session, "1").await;
    let sent = app
        .transcript(&customer, &session)
        .await
        .iter()
        .filter(|m| m["message_type"] == "SENT")
        .count();
    let got = receiver.wait_for_accepted(sent, WAIT).await;
    assert_eq!(got.len(), sent);
    let keys: Vec<&str> = got.iter().map(|d| d.id.as_str()).collect();
    let distinct: std::collections::HashSet<_> = keys.iter().collect();
    assert_eq!(distinct.len(), sent, "each message accepted once");
    let all = receiver.deliveries();
    assert_eq!(all.len(), sent + 3, "three failed attempts, then each once");
    // The failed attempts were of the first message, with its key.
    assert!(all[..4].iter().all(|d| d.id == all[0].id));
    assert_eq!(all[1].answered, 429);
}

async fn a_receiver_that_keeps_failing_ends_failed(backend: Backend) {
    let app = TestApp::spawn_with(backend, config(3)).await;
    let (receiver, _, _) = channel(&app).await;
    receiver.script(vec![Reply::Status(500); 3]);
    receiver.script([Reply::Status(404)]);
    let (customer, session, _) = learner(&app).await;
    let session_id = session_id(&app, &customer, &session).await;
    let rows = settled(&app, session_id).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, chatcourse_storage::DeliveryStatus::Failed);
    assert_eq!(rows[0].attempts, 3);
    assert_eq!(
        rows[0].error.as_deref(),
        Some("HTTP 500 (after 3 attempts)")
    );
    assert_eq!(receiver.deliveries().len(), 3);
    // A permanent answer (404) fails at once, without retries; the
    // learner's next messages are sent after it.
    let replies = app.say(&customer, &session, "1").await["replies"]
        .as_array()
        .unwrap()
        .len();
    assert!(replies >= 1);
    let rows = settled(&app, session_id).await;
    assert_eq!(receiver.accepted().len(), replies - 1);
    assert_eq!(rows[1].status, chatcourse_storage::DeliveryStatus::Failed);
    assert_eq!(rows[1].attempts, 1);
    assert_eq!(rows[1].error.as_deref(), Some("HTTP 404"));
    app.say(&customer, &session, "2").await;
    let got = receiver.wait_for_accepted(replies, WAIT).await;
    assert_eq!(got.len(), replies, "the next reply arrives");
}

/// The session's outbox rows once none is queued.
pub(super) async fn settled(
    app: &TestApp,
    session: chatcourse_storage::SessionId,
) -> Vec<chatcourse_storage::OutboxItem> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let rows = app.store.session_outbox(session).await.unwrap();
        if rows
            .iter()
            .all(|r| r.status != chatcourse_storage::DeliveryStatus::Queued)
        {
            return rows;
        }
        assert!(tokio::time::Instant::now() < deadline, "{rows:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(super) async fn session_id(
    app: &TestApp,
    customer: &str,
    session: &str,
) -> chatcourse_storage::SessionId {
    let org = app.store.find_org("org-a").await.unwrap().unwrap().id;
    let _ = customer;
    app.store
        .get_session(org, session.parse().unwrap())
        .await
        .unwrap()
        .unwrap()
        .id
}

/// Posts an inbound message signed with `secret`.
async fn inbound(
    app: &TestApp,
    channel: &str,
    secret: &WebhookSecret,
    body: &Value,
) -> (u16, Value) {
    signed_post(app, channel, "inbound", secret, body).await
}

/// Posts `body` to the channel's `inbound` or `status` endpoint, signed
/// with `secret`.
async fn signed_post(
    app: &TestApp,
    channel: &str,
    endpoint: &str,
    secret: &WebhookSecret,
    body: &Value,
) -> (u16, Value) {
    let body = body.to_string();
    let id = format!("in_{}", super::harness::unique());
    let ts = chrono::Utc::now().timestamp();
    let signature = secret.sign(&id, ts, body.as_bytes());
    let response = app
        .client
        .post(format!(
            "http://{}/api/v1/channels/{channel}/{endpoint}",
            app.addr
        ))
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

async fn inbound_by_phone_reaches_the_session(backend: Backend) {
    let app = TestApp::spawn_with(backend, config(5)).await;
    let (receiver, channel, secret) = channel(&app).await;
    let uuid = channel["uuid"].as_str().unwrap();
    let (customer, session, phone) = learner(&app).await;
    let (_other_customer, other_session, _) = learner(&app).await;
    // The national form, read with the channel's default country (KE).
    let national = format!("0{}", &phone[4..]);
    let body = json!({"from": national, "text": "1", "id": "gw-1"});
    let (status, answer) = inbound(&app, uuid, &secret, &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["data"]["routed"], true);
    assert_eq!(answer["data"]["session_uuid"], session.as_str());
    // A gateway retry applies once.
    let (status, _) = inbound(&app, uuid, &secret, &body).await;
    assert_eq!(status, 200);
    let transcript = app.transcript(&customer, &session).await;
    let received: Vec<_> = transcript
        .iter()
        .filter(|m| m["message_type"] == "RECEIVED")
        .collect();
    assert_eq!(received.len(), 1, "{transcript:?}");
    // The replies went out through the channel, to this learner only.
    let sent = transcript
        .iter()
        .filter(|m| m["message_type"] == "SENT")
        .count();
    let got = receiver.wait_for_accepted(sent + 1, WAIT).await;
    let to_learner = got
        .iter()
        .filter(|d| d.body["session_uuid"] == session.as_str())
        .count();
    assert_eq!(to_learner, sent);
    assert!(
        got.iter()
            .any(|d| d.body["session_uuid"] == other_session.as_str())
    );
    // Unknown phone: not routed.
    let (status, answer) = inbound(
        &app,
        uuid,
        &secret,
        &json!({"from": "+254799999999", "text": "hi", "id": "gw-2"}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["data"]["routed"], false);
    // Forged signature: 401.
    let forged = WebhookSecret::generate().unwrap();
    let (status, answer) = inbound(&app, uuid, &forged, &body).await;
    assert_eq!(status, 401, "{answer}");
    assert_eq!(answer["code"], "invalid_signature");
    // A bad phone: 400.
    let (status, answer) = inbound(
        &app,
        uuid,
        &secret,
        &json!({"from": "12", "text": "hi", "id": "gw-3"}),
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["code"], "validation_failed");
}

async fn opted_out_phone_receives_nothing_more(backend: Backend) {
    let app = TestApp::spawn_with(backend, config(5)).await;
    let (receiver, channel, secret) = channel(&app).await;
    let uuid = channel["uuid"].as_str().unwrap();
    let (customer, session, phone) = learner(&app).await;
    let stop = app.say(&customer, &session, "stop").await;
    assert_eq!(stop["status"], "OptedOut", "{stop}");
    // The enrolment message and the STOP confirmation arrive.
    let got = receiver.wait_for_accepted(2, WAIT).await;
    assert_eq!(got.len(), 2);
    let module = app.module_uuid("Test Module Updated").await;
    let (status, body) = app
        .post(
            "/api/v1/fe/program/customer/add",
            &json!({"program_identifier": 50, "customer_uuid": customer, "module": module}),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "customer_opted_out");
    // The customer's views say so: when, and the message that did it.
    let (_, fetched) = app
        .get(&format!("/api/v1/customer/mfi?customerUuid={customer}"))
        .await;
    let consent = &fetched["data"]["consent"];
    assert_eq!(consent["opted_out"], true, "{fetched}");
    assert_eq!(consent["opted_out_message"], "stop", "{fetched}");
    assert!(
        is_display_time(consent["opted_out_at"].as_str().unwrap()),
        "{fetched}"
    );
    assert_eq!(consent["opted_in_at"], "", "{fetched}");
    assert_eq!(fetched["data"]["phone_e164"], phone.as_str());
    let (_, summary) = app
        .get(&format!(
            "/api/v1/fe/customer/summary?customerUuid={customer}"
        ))
        .await;
    assert_eq!(summary["data"][0]["contact_opted_out"], true, "{summary}");
    // START opts back in; then enrolment works and is delivered.
    let (status, answer) = inbound(
        &app,
        uuid,
        &secret,
        &json!({"from": phone, "text": "start", "id": "gw-start"}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["data"]["opted_in"], true);
    let (_, fetched) = app
        .get(&format!("/api/v1/customer/mfi?customerUuid={customer}"))
        .await;
    let consent = &fetched["data"]["consent"];
    assert_eq!(consent["opted_out"], false, "{fetched}");
    assert_eq!(consent["opted_out_message"], "", "{fetched}");
    assert!(
        is_display_time(consent["opted_in_at"].as_str().unwrap()),
        "{fetched}"
    );
    let (_, summary) = app
        .get(&format!(
            "/api/v1/fe/customer/session/summary?customerUuid={customer}&sessionUuid={session}"
        ))
        .await;
    assert_eq!(summary["data"]["contact_opted_out"], false, "{summary}");
    let again = app.enrol(&customer, &module, 50).await;
    let got = receiver.wait_for_accepted(3, WAIT).await;
    assert_eq!(got.len(), 3);
    assert_eq!(got[2].body["session_uuid"], again.as_str());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.deliveries().len(), 3, "nothing else was sent");
}

async fn webhook_status_reports_update_message_items(backend: Backend) {
    let app = TestApp::spawn_with(backend, config(5)).await;
    let (receiver, channel, secret) = channel(&app).await;
    let uuid = channel["uuid"].as_str().unwrap();
    let (customer, session, _) = learner(&app).await;
    let got = receiver.wait_for_accepted(1, WAIT).await;
    assert_eq!(got.len(), 1);
    let session_id = session_id(&app, &customer, &session).await;
    let rows = settled(&app, session_id).await;
    // The receiver answered no id: the message is known by its key.
    assert_eq!(
        rows[0].provider_message_id.as_deref(),
        Some(got[0].id.as_str())
    );
    let transcript = app.transcript(&customer, &session).await;
    assert_eq!(
        transcript[0]["delivery_status"], "sent",
        "{:?}",
        transcript[0]
    );
    assert_eq!(transcript[0]["provider_message_id"], got[0].id.as_str());
    assert!(super::harness::is_display_time(
        transcript[0]["sent_at"].as_str().unwrap()
    ));
    assert_eq!(transcript[0]["delivered_at"], "");

    let report = json!({"id": got[0].id, "status": "delivered"});
    let (status, answer) = signed_post(&app, uuid, "status", &secret, &report).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["data"]["matched"], true);
    assert_eq!(answer["data"]["delivery_status"], "delivered");
    let transcript = app.transcript(&customer, &session).await;
    assert_eq!(transcript[0]["delivery_status"], "delivered");
    assert!(super::harness::is_display_time(
        transcript[0]["delivered_at"].as_str().unwrap()
    ));
    // A learner's message has no delivery record.
    app.say(&customer, &session, "1").await;
    let transcript = app.transcript(&customer, &session).await;
    assert!(
        transcript[1].get("delivery_status").is_none(),
        "{:?}",
        transcript[1]
    );
    let (_, summary) = app
        .get(&format!(
            "/api/v1/fe/customer/session/summary?customerUuid={customer}&sessionUuid={session}"
        ))
        .await;
    assert_eq!(summary["data"]["delivery"]["delivered"], 1, "{summary}");

    // Unknown id: not matched; a bad status: 400; forged: 401.
    let (status, answer) = signed_post(
        &app,
        uuid,
        "status",
        &secret,
        &json!({"id": "nope", "status": "failed", "reason": "x"}),
    )
    .await;
    assert_eq!(
        (status, &answer["data"]["matched"]),
        (200, &json!(false)),
        "{answer}"
    );
    let (status, answer) = signed_post(
        &app,
        uuid,
        "status",
        &secret,
        &json!({"id": got[0].id, "status": "read"}),
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["code"], "validation_failed");
    let forged = WebhookSecret::generate().unwrap();
    let (status, answer) = signed_post(&app, uuid, "status", &forged, &report).await;
    assert_eq!(status, 401, "{answer}");
    assert_eq!(answer["code"], "invalid_signature");
}

/// A webhook channel subscribed to events gets `delivery.failed` when a
/// message could not be delivered and `session.completed` (with both
/// scores) when the learner finishes, signed like messages; an unknown
/// event is refused at creation.
async fn integrator_events_follow_the_session(backend: Backend) {
    let app = TestApp::spawn_with(backend, config(5)).await;
    let (status, body) = app
        .post(
            "/api/v1/fe/channels",
            &json!({"kind": "webhook", "name": "backend", "url": "http://127.0.0.1:9/hooks",
                    "settings": {"events": ["session.completed", "nope"]}}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let error = body["errors"][0].as_str().unwrap_or("");
    assert!(error.contains("unknown event \"nope\""), "{body}");

    let addr = free_addr();
    let (status, body) = app
        .post(
            "/api/v1/fe/channels",
            &json!({"kind": "webhook", "name": "backend", "url": format!("http://{addr}/hooks"),
                    "settings": {"events": ["session.completed", "delivery.failed"]}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let channel = body["data"]["uuid"].as_str().unwrap().to_owned();
    assert_eq!(
        body["data"]["settings"]["events"],
        json!(["session.completed", "delivery.failed"])
    );
    let secret = WebhookSecret::parse(body["data"]["secret"].as_str().unwrap()).unwrap();
    let receiver = FakeReceiver::start_on(secret, addr, true)
        .await
        .expect("receiver");
    // The enrolment message is refused for good.
    receiver.script([Reply::Status(400)]);
    let (customer, session, _) = learner(&app).await;
    // Its failure is recorded and announced before the learner goes on
    // (otherwise the two events race: they are independent).
    let first = receiver.wait_for_accepted(1, WAIT).await;
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(first[0].body["type"], "delivery.failed", "{first:?}");
    for reply in ["1", "2", "3", "1", "2", "1"] {
        app.say(&customer, &session, reply).await;
    }
    let transcript = app.transcript(&customer, &session).await;
    let sent = transcript
        .iter()
        .filter(|m| m["message_type"] == "SENT")
        .count();
    // Every message but the refused one, and the two events.
    let got = receiver.wait_for_accepted(sent - 1 + 2, WAIT).await;
    let events: Vec<&Delivery> = got.iter().filter(|d| d.body["type"] != "message").collect();
    let types: Vec<&str> = events
        .iter()
        .map(|d| d.body["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["delivery.failed", "session.completed"], "{got:?}");
    let refused = &receiver.deliveries()[0];
    assert_eq!(refused.answered, 400);
    let failed = &events[0].body;
    assert_eq!(failed["message_idempotency_key"], refused.id.as_str());
    assert_eq!(failed["purpose"], "enrolment");
    assert!(
        failed["error"].as_str().unwrap().contains("400"),
        "{failed}"
    );
    assert_eq!(failed["session_uuid"], session.as_str());

    let (_, summary) = app
        .get(&format!(
            "/api/v1/fe/customer/session/summary?customerUuid={customer}&sessionUuid={session}"
        ))
        .await;
    let completed = &events[1].body;
    for (quiz, score) in [
        ("pre_quiz", "pre_quiz_score"),
        ("post_quiz", "post_quiz_score"),
    ] {
        let shown = format!(
            "{}/{}",
            completed[quiz]["correct"], completed[quiz]["total"]
        );
        assert_eq!(summary["data"][score], shown.as_str(), "{completed}");
    }
    assert_eq!(completed["status"], "Completed");
    assert_eq!(completed["customer_uuid"], customer.as_str());
    assert_eq!(completed["channel"], channel.as_str());
    for event in &events {
        assert!(event.signature_valid);
        assert_eq!(event.body["idempotency_key"], event.id.as_str());
    }
    // Nothing else: one event of each.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.deliveries().len(), sent + 2);
}

/// Messages go out through the channel the learner last wrote through; a
/// learner who never wrote is reached on the oldest channel that carries
/// messages; an events-only channel (`messages: false`) gets none.
async fn replies_follow_the_learners_channel(backend: Backend) {
    let app = TestApp::spawn_with(backend, config(5)).await;
    let (events_only, _, _) = channel_with(
        &app,
        json!({"messages": false, "events": ["session.completed"]}),
    )
    .await;
    let (sms, _, _) = channel(&app).await;
    let (whatsapp, whatsapp_data, whatsapp_secret) = channel(&app).await;
    let (status, body) = app
        .post(
            "/api/v1/fe/channels",
            &json!({"kind": "webhook", "name": "x", "url": "http://127.0.0.1:9/", "settings": {"messages": "no"}}),
        )
        .await;
    assert_eq!(status, 400, "{body}");

    let (customer, session, phone) = learner(&app).await;
    // Never wrote: the oldest channel that carries messages.
    assert_eq!(sms.wait_for_accepted(1, WAIT).await.len(), 1);
    let (status, answer) = inbound(
        &app,
        whatsapp_data["uuid"].as_str().unwrap(),
        &whatsapp_secret,
        &json!({"from": phone, "text": "1", "id": "wa-1"}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let transcript = app.transcript(&customer, &session).await;
    let replies = transcript
        .iter()
        .filter(|m| m["message_type"] == "SENT")
        .count()
        - 1;
    assert!(replies >= 1);
    // The replies go back the way the learner wrote.
    let got = whatsapp.wait_for_accepted(replies, WAIT).await;
    assert_eq!(got.len(), replies);
    assert!(got.iter().all(|d| d.body["purpose"] == "reply"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        sms.deliveries().len(),
        1,
        "nothing more on the first channel"
    );
    assert!(
        events_only.deliveries().is_empty(),
        "no message on an events-only channel"
    );
    // A message by the integrator's API goes the same way now.
    app.say(&customer, &session, "2").await;
    let got = whatsapp.wait_for_accepted(replies + 1, WAIT).await;
    assert!(got.len() > replies);
    assert_eq!(sms.deliveries().len(), 1);
}

/// A learner unknown to chatcourse texts a channel's keyword: registered
/// by phone, enrolled in the keyword's module and programme, and the
/// course starts on that channel; other words from unknown phones are not
/// routed; bad keyword settings are refused.
async fn a_keyword_enrols_a_new_learner(backend: Backend) {
    let app = TestApp::spawn_with(backend, config(5)).await;
    let (status, body) = app
        .post(
            "/api/v1/fe/channels",
            &json!({"kind": "webhook", "name": "x", "url": "http://127.0.0.1:9/",
                    "settings": {"keywords": {"two words": {"module": "m", "program_identifier": 1},
                                              "JIFUNZE": {"program_identifier": 1}}}}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["errors"].as_array().map(Vec::len), Some(2), "{body}");

    let (receiver, data, secret) = channel_with(
        &app,
        json!({"keywords": {"jifunze": {"module": "test-module-updated", "program_identifier": 77, "language": "en"}}}),
    )
    .await;
    assert_eq!(
        data["settings"]["keywords"]["JIFUNZE"]["program_identifier"],
        77
    );
    let uuid = data["uuid"].as_str().unwrap();
    let phone = format!("+{}", next_phone());
    let (status, answer) = inbound(
        &app,
        uuid,
        &secret,
        &json!({"from": phone, "text": "hello", "id": "kw-0"}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["data"]["routed"], false, "{answer}");

    let (status, answer) = inbound(
        &app,
        uuid,
        &secret,
        &json!({"from": phone, "text": " Jifunze ", "id": "kw-1"}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["data"]["routed"], true, "{answer}");
    let session = answer["data"]["session_uuid"].as_str().unwrap().to_owned();
    let org = app
        .store
        .find_org_by_key_hash(&chatcourse_storage::hash_api_key(&app.key))
        .await
        .unwrap()
        .unwrap()
        .id;
    let customer = app
        .store
        .customer_by_phone(org, &phone)
        .await
        .unwrap()
        .expect("registered by phone")
        .uuid
        .to_string();
    let got = receiver.wait_for_accepted(1, WAIT).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body["purpose"], "enrolment");
    assert_eq!(got[0].body["session_uuid"], session.as_str());
    // The course goes on by text.
    let (_, answer) = inbound(
        &app,
        uuid,
        &secret,
        &json!({"from": phone, "text": "1", "id": "kw-2"}),
    )
    .await;
    assert_eq!(answer["data"]["session_uuid"], session.as_str());
    let (_, summary) = app
        .get(&format!(
            "/api/v1/fe/customer/summary?customerUuid={customer}"
        ))
        .await;
    assert_eq!(summary["data"][0]["program_identifier"], 77, "{summary}");
    assert_eq!(summary["data"][0]["status"], "InProgress", "{summary}");
}
