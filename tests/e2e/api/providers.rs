//! Provider channels in their native formats, against fake providers on
//! 127.0.0.1 (`chatcourse_channels::fakes`): Twilio SMS and WhatsApp.

use chatcourse_channels::fakes::{
    AtReply, FakeAfricasTalking, FakeTwilio, FakeWhatsApp, TwilioMessage, TwilioReply, WaReply,
};
use chatcourse_storage::DeliveryStatus;
use serde_json::{Value, json};

use super::delivery::{WAIT, learner, session_id, settled};
use super::harness::{Backend, TestApp, both_backends};

fn config() -> chatcourse_api::Config {
    super::delivery::config(5)
}

both_backends!(
    twilio_learner_completes_the_course,
    twilio_whatsapp_address_routes_to_the_same_customer,
    twilio_errors_map_to_retries_and_opt_outs,
    africastalking_learner_completes_the_course,
    africastalking_errors_map_to_retries_and_opt_outs,
    whatsapp_learner_completes_the_course,
    whatsapp_reminder_after_a_day_of_silence_is_the_mapped_template,
    whatsapp_without_a_template_fails_with_the_reason,
    whatsapp_choices_as_reply_buttons,
);

const ACCOUNT: &str = "AC00000000000000000000000000000001";
const TOKEN: &str = "twilio-auth-token-for-tests";

/// A fake Twilio and a `twilio` channel sending from `from` through it.
async fn twilio_channel(app: &TestApp, from: &str) -> (FakeTwilio, Value) {
    let twilio = FakeTwilio::start(ACCOUNT, TOKEN)
        .await
        .expect("fake twilio");
    let (status, body) = app
        .post(
            "/api/v1/fe/channels",
            &json!({
                "kind": "twilio",
                "name": "twilio",
                "settings": {
                    "account_sid": ACCOUNT,
                    "from": from,
                    "base_url": twilio.base_url(),
                    "public_url": format!("http://{}", app.addr),
                },
                "credential": TOKEN,
            }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let data = body["data"].clone();
    assert!(data.get("secret").is_none(), "{data}");
    assert!(
        !data.to_string().contains(TOKEN),
        "the auth token is never shown"
    );
    (twilio, data)
}

fn sent_texts(transcript: &[Value]) -> Vec<String> {
    transcript
        .iter()
        .filter(|m| m["message_type"] == "SENT")
        .map(|m| m["message"].as_str().unwrap().to_owned())
        .collect()
}

fn bodies(messages: &[TwilioMessage]) -> Vec<String> {
    messages.iter().map(|m| m.body.clone()).collect()
}

async fn twilio_learner_completes_the_course(backend: Backend) {
    let app = TestApp::spawn_with(backend, config()).await;
    let (twilio, channel) = twilio_channel(&app, "+14155550100").await;
    let inbound_url = channel["inbound_url"].as_str().unwrap().to_owned();
    let status_url = channel["status_url"].as_str().unwrap().to_owned();
    assert_eq!(
        inbound_url,
        format!(
            "http://{}/api/v1/channels/{}/inbound",
            app.addr,
            channel["uuid"].as_str().unwrap()
        )
    );
    let (customer, session, phone) = learner(&app).await;
    let first = twilio.wait_for_accepted(1, WAIT).await;
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].to, phone);
    assert_eq!(first[0].from, "+14155550100");
    assert_eq!(
        first[0].status_callback.as_deref(),
        Some(status_url.as_str())
    );

    // The learner answers by SMS, through Twilio's signed form posts.
    for reply in ["1", "2", "3", "1", "2", "1"] {
        let response = twilio
            .inbound(&inbound_url, &phone, "+14155550100", reply)
            .await
            .expect("inbound");
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "text/xml"
        );
        assert!(response.text().await.unwrap().contains("<Response>"));
    }
    let transcript = app.transcript(&customer, &session).await;
    let sent = sent_texts(&transcript);
    assert!(
        sent.last()
            .unwrap()
            .starts_with("Congratulations, you have completed"),
        "{sent:?}"
    );
    let got = twilio.wait_for_accepted(sent.len(), WAIT).await;
    assert_eq!(bodies(&got), sent, "every SENT message, in order, once");
    assert!(got.iter().all(|m| m.to == phone));
    let rows = settled(&app, session_id(&app, "", &session).await).await;
    for (row, message) in rows.iter().zip(&got) {
        assert_eq!(row.status, DeliveryStatus::Sent);
        assert_eq!(
            row.provider_message_id.as_deref(),
            Some(message.sid.as_str())
        );
    }

    // Delivery reports: Twilio's status callbacks update the items.
    for m in &got[..got.len() - 1] {
        for status in ["sent", "delivered"] {
            let r = twilio
                .report(&status_url, &m.sid, status, None)
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
        }
    }
    let last = &got[got.len() - 1];
    let r = twilio
        .report(&status_url, &last.sid, "undelivered", Some(30003))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let transcript = app.transcript(&customer, &session).await;
    let items: Vec<&Value> = transcript
        .iter()
        .filter(|m| m["message_type"] == "SENT")
        .collect();
    for item in &items[..items.len() - 1] {
        assert_eq!(item["delivery_status"], "delivered", "{item}");
        assert!(item["sms_segments"].as_u64().unwrap() >= 1, "{item}");
    }
    let failed = items.last().unwrap();
    assert_eq!(failed["delivery_status"], "failed", "{failed}");
    assert_eq!(
        failed["delivery_error"],
        "Twilio error 30003: unreachable destination handset"
    );
    assert_eq!(failed["provider_message_id"], last.sid.as_str());
    let (_, summary) = app
        .get(&format!(
            "/api/v1/fe/customer/session/summary?customerUuid={customer}&sessionUuid={session}"
        ))
        .await;
    assert_eq!(summary["data"]["status"], "Completed", "{summary}");
    assert_eq!(summary["data"]["delivery"]["failed"], 1, "{summary}");
    assert_eq!(
        summary["data"]["delivery"]["delivered"],
        items.len() - 1,
        "{summary}"
    );

    // Forged signatures: 401, nothing applied.
    let params = twilio.inbound_params("SMforged", &phone, "+14155550100", "1");
    let forged = chatcourse_channels::twilio::signature("not-the-token", &inbound_url, &params);
    let r = twilio
        .post_form(&inbound_url, &params, Some(forged))
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "invalid_signature");
    // Signed for another URL (a proxy's public URL not configured): 401.
    let elsewhere = chatcourse_channels::twilio::signature(
        TOKEN,
        "https://elsewhere.example/api/v1/channels/x/inbound",
        &params,
    );
    let r = twilio
        .post_form(&inbound_url, &params, Some(elsewhere))
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = twilio
        .post_form(&status_url, &params, Some("AAAA".to_owned()))
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        app.transcript(&customer, &session).await.len(),
        transcript.len()
    );
}

async fn twilio_whatsapp_address_routes_to_the_same_customer(backend: Backend) {
    let app = TestApp::spawn_with(backend, config()).await;
    let (twilio, channel) = twilio_channel(&app, "whatsapp:+14155238886").await;
    let inbound_url = channel["inbound_url"].as_str().unwrap().to_owned();
    let (customer, session, phone) = learner(&app).await;
    let got = twilio.wait_for_accepted(1, WAIT).await;
    assert_eq!(got[0].to, format!("whatsapp:{phone}"));
    assert_eq!(got[0].from, "whatsapp:+14155238886");
    let response = twilio
        .inbound(
            &inbound_url,
            &format!("whatsapp:{phone}"),
            "whatsapp:+14155238886",
            "1",
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let transcript = app.transcript(&customer, &session).await;
    assert_eq!(transcript[1]["message"], "1");
    assert_eq!(transcript[1]["message_type"], "RECEIVED");
    let sent = sent_texts(&transcript);
    let got = twilio.wait_for_accepted(sent.len(), WAIT).await;
    assert_eq!(bodies(&got), sent);
    let rows = settled(&app, session_id(&app, "", &session).await).await;
    assert!(
        rows.iter().all(|r| r.status == DeliveryStatus::Sent),
        "{rows:?}"
    );
    // WhatsApp has no SMS segments.
    let transcript = app.transcript(&customer, &session).await;
    assert!(
        transcript[0].get("sms_segments").is_none(),
        "{:?}",
        transcript[0]
    );
    // A media-only message (no Body) is acknowledged and not a turn.
    let response = twilio
        .inbound(
            &inbound_url,
            &format!("whatsapp:{phone}"),
            "whatsapp:+14155238886",
            "",
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        app.transcript(&customer, &session).await.len(),
        transcript.len()
    );
}

async fn twilio_errors_map_to_retries_and_opt_outs(backend: Backend) {
    let app = TestApp::spawn_with(backend, config()).await;
    let (twilio, _) = twilio_channel(&app, "+14155550100").await;
    // Rate limited, then Twilio's trouble: retried, then sent once.
    twilio.script([
        TwilioReply::Error {
            status: 429,
            code: 20429,
        },
        TwilioReply::Error {
            status: 503,
            code: 20500,
        },
    ]);
    let (_, session, _) = learner(&app).await;
    let rows = settled(&app, session_id(&app, "", &session).await).await;
    assert_eq!(rows[0].status, DeliveryStatus::Sent, "{rows:?}");
    assert_eq!(rows[0].attempts, 3);
    assert_eq!(twilio.accepted().len(), 1);
    assert_eq!(twilio.messages().len(), 3);
    // An invalid number: failed at once, the contact stays opted in.
    twilio.script([TwilioReply::Error {
        status: 400,
        code: 21211,
    }]);
    let (_, session, phone) = learner(&app).await;
    let rows = settled(&app, session_id(&app, "", &session).await).await;
    assert_eq!(rows[0].status, DeliveryStatus::Failed);
    assert_eq!(rows[0].attempts, 1);
    assert_eq!(
        rows[0].error.as_deref(),
        Some("Twilio error 21211: invalid 'To' phone number")
    );
    let org = app.store.find_org("org-a").await.unwrap().unwrap().id;
    assert!(!app.store.opted_out(org, &phone).await.unwrap());
    // The recipient unsubscribed (21610): failed, and the contact opted out.
    twilio.script([TwilioReply::Error {
        status: 400,
        code: 21610,
    }]);
    let (customer, session, phone) = learner(&app).await;
    let rows = settled(&app, session_id(&app, "", &session).await).await;
    assert_eq!(rows[0].status, DeliveryStatus::Failed);
    assert!(app.store.opted_out(org, &phone).await.unwrap());
    let module = app.module_uuid("Test Module Updated").await;
    let (status, body) = app
        .post(
            "/api/v1/fe/program/customer/add",
            &json!({"program_identifier": 50, "customer_uuid": customer, "module": module}),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "customer_opted_out");
}

const AT_USER: &str = "sandbox";
const AT_KEY: &str = "atsk_test_api_key";

/// A fake Africa's Talking and an `africastalking` channel through it.
async fn at_channel(app: &TestApp) -> (FakeAfricasTalking, Value) {
    let at = FakeAfricasTalking::start(AT_USER, AT_KEY)
        .await
        .expect("fake");
    let (status, body) = app
        .post(
            "/api/v1/fe/channels",
            &json!({
                "kind": "africastalking",
                "name": "AT Kenya",
                "settings": {
                    "username": AT_USER,
                    "from": "JIFUNZE",
                    "base_url": at.base_url(),
                    "public_url": format!("http://{}", app.addr),
                },
                "credential": AT_KEY,
            }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let data = body["data"].clone();
    let token = data["path_token"].as_str().expect("token shown once");
    assert!(token.len() >= 32, "{token}");
    assert!(data["inbound_url"].as_str().unwrap().contains(token));
    assert!(!data.to_string().contains(AT_KEY));
    // Not shown again.
    let uuid = data["uuid"].as_str().unwrap();
    let (_, again) = app.get(&format!("/api/v1/fe/channels/{uuid}")).await;
    assert!(again["data"].get("path_token").is_none(), "{again}");
    assert!(!again.to_string().contains(token), "{again}");
    (at, data)
}

async fn africastalking_learner_completes_the_course(backend: Backend) {
    let app = TestApp::spawn_with(backend, config()).await;
    let (at, channel) = at_channel(&app).await;
    let inbound_url = channel["inbound_url"].as_str().unwrap().to_owned();
    let status_url = channel["status_url"].as_str().unwrap().to_owned();
    let (customer, session, phone) = learner(&app).await;
    let first = at.wait_for_accepted(1, WAIT).await;
    assert_eq!(first.len(), 1);
    assert_eq!(
        (
            first[0].username.as_str(),
            first[0].to.as_str(),
            first[0].from.as_deref()
        ),
        (AT_USER, phone.as_str(), Some("JIFUNZE"))
    );
    // The learner answers by SMS, in the national form.
    let national = format!("0{}", &phone[4..]);
    for reply in ["1", "2", "3", "1", "2", "1"] {
        let response = at
            .inbound(&inbound_url, &national, "12345", reply)
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    let transcript = app.transcript(&customer, &session).await;
    let sent = sent_texts(&transcript);
    assert!(
        sent.last()
            .unwrap()
            .starts_with("Congratulations, you have completed"),
        "{sent:?}"
    );
    let got = at.wait_for_accepted(sent.len(), WAIT).await;
    let texts: Vec<String> = got.iter().map(|m| m.message.clone()).collect();
    assert_eq!(texts, sent, "every SENT message, in order, once");
    let rows = settled(&app, session_id(&app, "", &session).await).await;
    for (row, m) in rows.iter().zip(&got) {
        assert_eq!(row.provider_message_id.as_deref(), Some(m.id.as_str()));
    }
    // Delivery reports.
    for m in &got[1..] {
        let r = at
            .report(&status_url, &m.id, "Success", None)
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let r = at
        .report(&status_url, &got[0].id, "Failed", Some("AbsentSubscriber"))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let transcript = app.transcript(&customer, &session).await;
    let items: Vec<&Value> = transcript
        .iter()
        .filter(|m| m["message_type"] == "SENT")
        .collect();
    assert_eq!(items[0]["delivery_status"], "failed", "{}", items[0]);
    assert_eq!(
        items[0]["delivery_error"],
        "Africa's Talking: Failed (AbsentSubscriber)"
    );
    for item in &items[1..] {
        assert_eq!(item["delivery_status"], "delivered", "{item}");
        assert!(item["sms_segments"].as_u64().unwrap() >= 1);
    }
    // Without the token, or with a wrong one: refused, nothing applied.
    let uuid = channel["uuid"].as_str().unwrap();
    let token = channel["path_token"].as_str().unwrap();
    let wrong = inbound_url.replace(token, &"0".repeat(token.len()));
    let r = at.inbound(&wrong, &national, "12345", "1").await.unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "invalid_signature");
    let bare = format!("http://{}/api/v1/channels/{uuid}/inbound", app.addr);
    let r = at.inbound(&bare, &national, "12345", "1").await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        app.transcript(&customer, &session).await.len(),
        transcript.len()
    );
}

async fn africastalking_errors_map_to_retries_and_opt_outs(backend: Backend) {
    let app = TestApp::spawn_with(backend, config()).await;
    let (at, _) = at_channel(&app).await;
    let org = app.store.find_org("org-a").await.unwrap().unwrap().id;
    // HTTP 503, then a gateway error: retried, then sent.
    at.script([AtReply::Http(503), AtReply::Recipient(501)]);
    let (_, session, _) = learner(&app).await;
    let rows = settled(&app, session_id(&app, "", &session).await).await;
    assert_eq!(rows[0].status, DeliveryStatus::Sent, "{rows:?}");
    assert_eq!(rows[0].attempts, 3);
    // An invalid number fails at once; a blacklisted one opts out.
    at.script([AtReply::Recipient(403)]);
    let (_, session, phone) = learner(&app).await;
    let rows = settled(&app, session_id(&app, "", &session).await).await;
    assert_eq!(rows[0].status, DeliveryStatus::Failed);
    assert_eq!(
        rows[0].error.as_deref(),
        Some("Africa's Talking: InvalidPhoneNumber (403)")
    );
    assert!(!app.store.opted_out(org, &phone).await.unwrap());
    at.script([AtReply::Recipient(406)]);
    let (_, session, phone) = learner(&app).await;
    let rows = settled(&app, session_id(&app, "", &session).await).await;
    assert_eq!(rows[0].status, DeliveryStatus::Failed);
    assert!(app.store.opted_out(org, &phone).await.unwrap());
    // A wrong API key (the provider's 401) is permanent.
    at.script([AtReply::Http(401)]);
    let (_, session, _) = learner(&app).await;
    let rows = settled(&app, session_id(&app, "", &session).await).await;
    assert_eq!(rows[0].error.as_deref(), Some("HTTP 401"));
}

const WA_PHONE_ID: &str = "106540352242922";
const WA_TOKEN: &str = "EAAG-fake-access-token";
const WA_APP_SECRET: &str = "meta-app-secret";

/// A fake WhatsApp Cloud API and a `whatsapp` channel through it, with
/// these templates.
async fn wa_channel(app: &TestApp, templates: Value) -> (FakeWhatsApp, Value) {
    wa_channel_with(app, json!({"templates": templates})).await
}

/// [`wa_channel`] with these settings besides the ids and URLs.
async fn wa_channel_with(app: &TestApp, extra: Value) -> (FakeWhatsApp, Value) {
    let wa = FakeWhatsApp::start(WA_PHONE_ID, WA_TOKEN, WA_APP_SECRET)
        .await
        .expect("fake");
    let (status, body) = app
        .post(
            "/api/v1/fe/channels",
            &json!({
                "kind": "whatsapp",
                "name": "WhatsApp",
                "settings": {
                    "phone_number_id": WA_PHONE_ID,
                    "base_url": wa.base_url(),
                    "public_url": format!("http://{}", app.addr),
                    "templates": extra["templates"],
                    "interactive": extra["interactive"],
                },
                "credential": WA_TOKEN,
                "app_secret": WA_APP_SECRET,
            }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let data = body["data"].clone();
    assert!(data["verify_token"].as_str().is_some(), "{data}");
    let shown = data.to_string();
    assert!(!shown.contains(WA_TOKEN) && !shown.contains(WA_APP_SECRET));
    (wa, data)
}

fn course_templates() -> Value {
    json!({
        "enrolment": {"name": "course_enrolment", "language": "en"},
        "reminder": {"name": "course_reminder", "language": "en"},
        "expiry": {"name": "course_expiry", "language": "en", "text": false},
    })
}

async fn whatsapp_learner_completes_the_course(backend: Backend) {
    let app = TestApp::spawn_with(backend, config()).await;
    let (wa, channel) = wa_channel(&app, course_templates()).await;
    let url = channel["inbound_url"].as_str().unwrap().to_owned();
    let token = channel["verify_token"].as_str().unwrap();
    // Meta's handshake.
    assert_eq!(
        wa.verify(&url, token, "1158201444").await.unwrap(),
        (200, "1158201444".to_owned())
    );
    assert_eq!(wa.verify(&url, "guess", "1158201444").await.unwrap().0, 401);

    let (customer, session, phone) = learner(&app).await;
    // The learner never wrote: the enrolment goes as its template.
    let first = wa.wait_for_accepted(1, WAIT).await;
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].to, phone.trim_start_matches('+'));
    assert_eq!(first[0].kind, "template");
    assert_eq!(first[0].template.as_deref(), Some("course_enrolment"));
    assert!(
        first[0]
            .text
            .as_deref()
            .unwrap()
            .starts_with("Congratulations! You have successfully been enrolled"),
        "{first:?}"
    );
    for reply in ["1", "2", "3", "1", "2", "1"] {
        let r = wa.inbound(&url, &phone, reply).await.unwrap();
        assert_eq!(r.status(), 200);
    }
    let transcript = app.transcript(&customer, &session).await;
    let sent = sent_texts(&transcript);
    assert!(
        sent.last()
            .unwrap()
            .starts_with("Congratulations, you have completed"),
        "{sent:?}"
    );
    let got = wa.wait_for_accepted(sent.len(), WAIT).await;
    assert_eq!(got.len(), sent.len());
    // Inside the window: plain text, as the course wrote it.
    for (m, text) in got[1..].iter().zip(&sent[1..]) {
        assert_eq!(
            (m.kind.as_str(), m.text.as_deref()),
            ("text", Some(text.as_str()))
        );
    }
    let rows = settled(&app, session_id(&app, "", &session).await).await;
    for (row, m) in rows.iter().zip(&got) {
        assert_eq!(row.provider_message_id.as_deref(), Some(m.id.as_str()));
    }
    // Statuses arrive on the same URL.
    for m in &got[1..] {
        let r = wa.report(&url, &m.id, "read", &phone, None).await.unwrap();
        assert_eq!(r.status(), 200);
    }
    let r = wa
        .report(
            &url,
            &got[0].id,
            "failed",
            &phone,
            Some((131_026, "Message undeliverable")),
        )
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let transcript = app.transcript(&customer, &session).await;
    let items: Vec<&Value> = transcript
        .iter()
        .filter(|m| m["message_type"] == "SENT")
        .collect();
    assert_eq!(items[0]["delivery_status"], "failed");
    assert_eq!(
        items[0]["delivery_error"],
        "WhatsApp error 131026: Message undeliverable"
    );
    assert!(
        items[1..]
            .iter()
            .all(|i| i["delivery_status"] == "delivered")
    );
    // A forged signature: 401, nothing applied.
    let forged =
        chatcourse_channels::whatsapp::text_notification(WA_PHONE_ID, &phone[1..], "wamid.F", "1");
    let r = wa
        .notify(
            &url,
            &forged,
            Some(chatcourse_channels::whatsapp::signature("wrong", b"{}")),
        )
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "invalid_signature");
    assert_eq!(
        app.transcript(&customer, &session).await.len(),
        transcript.len()
    );
}

async fn whatsapp_reminder_after_a_day_of_silence_is_the_mapped_template(backend: Backend) {
    let clock = std::sync::Arc::new(chatcourse_storage::ManualClock::new(chrono::Utc::now()));
    let app = TestApp::spawn_with_clock(backend, config(), clock.clone()).await;
    let (wa, channel) = wa_channel(&app, course_templates()).await;
    let url = channel["inbound_url"].as_str().unwrap().to_owned();
    let (customer, session, phone) = learner(&app).await;
    wa.wait_for_accepted(1, WAIT).await;
    let r = wa.inbound(&url, &phone, "1").await.unwrap();
    assert_eq!(r.status(), 200);
    let replies = sent_texts(&app.transcript(&customer, &session).await).len();
    let got = wa.wait_for_accepted(replies, WAIT).await;
    assert_eq!(got.last().unwrap().kind, "text", "inside the window");
    // A day and an hour of silence: the reminder goes as its template.
    clock.advance(std::time::Duration::from_secs(25 * 3600));
    let got = wa.wait_for_accepted(replies + 1, WAIT).await;
    assert_eq!(got.len(), replies + 1, "the reminder was sent");
    let reminder = got.last().unwrap();
    assert_eq!(reminder.kind, "template");
    assert_eq!(reminder.template.as_deref(), Some("course_reminder"));
    assert_eq!(reminder.language.as_deref(), Some("en"));
    assert!(
        reminder.text.as_deref().unwrap().starts_with("Hello "),
        "{reminder:?}"
    );
    let transcript = app.transcript(&customer, &session).await;
    assert_eq!(
        transcript.last().unwrap()["message"].as_str(),
        reminder.text.as_deref(),
        "the template carries the reminder's text"
    );
    let rows = settled(&app, session_id(&app, "", &session).await).await;
    assert_eq!(rows.last().unwrap().purpose, "reminder");
    assert_eq!(rows.last().unwrap().status, DeliveryStatus::Sent);
    // A week on, the session expires: the notice goes as the expiry
    // template (without parameters, as mapped).
    clock.advance(std::time::Duration::from_secs(8 * 24 * 3600));
    let deadline = tokio::time::Instant::now() + WAIT;
    let expiry = loop {
        let found = wa
            .accepted()
            .into_iter()
            .find(|m| m.template.as_deref() == Some("course_expiry"));
        if let Some(m) = found {
            break m;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            wa.messages()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(
        (expiry.kind.as_str(), expiry.text.as_deref()),
        ("template", None)
    );
    let rows = settled(&app, session_id(&app, "", &session).await).await;
    assert_eq!(rows.last().unwrap().purpose, "expiry");
}

async fn whatsapp_without_a_template_fails_with_the_reason(backend: Backend) {
    let app = TestApp::spawn_with(backend, config()).await;
    let (wa, _) = wa_channel(&app, json!({})).await;
    wa.script([WaReply::Error {
        status: 400,
        code: 131_047,
    }]);
    let (_, session, _) = learner(&app).await;
    let rows = settled(&app, session_id(&app, "", &session).await).await;
    assert_eq!(rows[0].status, DeliveryStatus::Failed);
    let error = rows[0].error.as_deref().unwrap();
    assert!(
        error.starts_with("outside WhatsApp's 24-hour window (the learner last wrote never)")
            && error.contains("settings.templates.enrolment"),
        "{error}"
    );
    assert!(wa.messages().is_empty(), "nothing was sent to be rejected");
}

async fn whatsapp_choices_as_reply_buttons(backend: Backend) {
    let app = TestApp::spawn_with(backend, config()).await;
    let (wa, channel) = wa_channel_with(
        &app,
        json!({"templates": course_templates(), "interactive": true}),
    )
    .await;
    assert_eq!(channel["settings"]["interactive"], true);
    let url = channel["inbound_url"].as_str().unwrap().to_owned();
    let (customer, session, phone) = learner(&app).await;
    wa.wait_for_accepted(1, WAIT).await;
    wa.inbound(&url, &phone, "1").await.unwrap();
    let transcript = app.transcript(&customer, &session).await;
    let sent = sent_texts(&transcript);
    let got = wa.wait_for_accepted(sent.len(), WAIT).await;
    // The question with three choices goes as three reply buttons whose
    // ids are the choices' numbers.
    let question = got.last().unwrap();
    assert_eq!(question.kind, "interactive", "{question:?}");
    assert_eq!(question.text.as_deref(), sent.last().map(String::as_str));
    let ids: Vec<&str> = question.choices.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["1", "2", "3"]);
    assert_eq!(question.choices[0].1, "1. Taking a big loan");
    // The learner taps the second button: recorded as choice 2.
    let (id, title) = question.choices[1].clone();
    let r = wa.tap(&url, &phone, &id, &title).await.unwrap();
    assert_eq!(r.status(), 200);
    let transcript = app.transcript(&customer, &session).await;
    let received: Vec<&str> = transcript
        .iter()
        .filter(|m| m["message_type"] == "RECEIVED")
        .map(|m| m["message"].as_str().unwrap())
        .collect();
    assert_eq!(received, ["1", "2"]);
    let after_tap: Vec<String> = sent_texts(&transcript)[sent.len()..].to_vec();
    assert_eq!(
        after_tap.first().map(String::as_str),
        Some("Correct!"),
        "{after_tap:?}"
    );
}
