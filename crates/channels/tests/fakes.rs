//! The fake receiver speaks the real protocol: signed requests are taken,
//! forged ones refused, scripted failures answered as told.
#![cfg(feature = "fakes")]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chatcourse_channels::fakes::{FakeReceiver, Reply};
use chatcourse_channels::signing::WebhookSecret;

async fn send(
    client: &reqwest::Client,
    url: &str,
    secret: &WebhookSecret,
    id: &str,
    body: &str,
) -> reqwest::Response {
    let ts = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    client
        .post(url)
        .header("webhook-id", id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", secret.sign(id, ts, body.as_bytes()))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn receiver_checks_signatures_and_follows_its_script() {
    let secret = WebhookSecret::generate().unwrap();
    let receiver = FakeReceiver::start(secret.clone()).await.unwrap();
    let client = reqwest::Client::new();
    receiver.script([Reply::Status(500), Reply::RetryAfter(7)]);

    let first = send(&client, &receiver.url(), &secret, "m1", r#"{"n":1}"#).await;
    assert_eq!(first.status().as_u16(), 500);
    let second = send(&client, &receiver.url(), &secret, "m1", r#"{"n":1}"#).await;
    assert_eq!(second.status().as_u16(), 429);
    assert_eq!(second.headers()["retry-after"], "7");
    let third = send(&client, &receiver.url(), &secret, "m1", r#"{"n":1}"#).await;
    assert_eq!(third.status().as_u16(), 200);

    let forged = WebhookSecret::generate().unwrap();
    let refused = send(&client, &receiver.url(), &forged, "m2", r#"{"n":2}"#).await;
    assert_eq!(refused.status().as_u16(), 401);

    let accepted = receiver.wait_for_accepted(1, Duration::from_secs(5)).await;
    assert_eq!(accepted.len(), 1);
    assert_eq!(accepted[0].id, "m1");
    assert_eq!(accepted[0].body["n"], 1);
    let all = receiver.deliveries();
    assert_eq!(
        all.iter().map(|d| d.answered).collect::<Vec<_>>(),
        [500, 429, 200, 401]
    );
    assert!(!all[3].signature_valid && all[0].signature_valid);
}

/// The fake Twilio takes Twilio's request format only, answers as Twilio
/// does, and signs its callbacks so that `twilio::verify` accepts them.
#[tokio::test]
async fn fake_twilio_speaks_twilios_api() {
    use axum::body::Bytes;
    use axum::http::HeaderMap;
    use chatcourse_channels::fakes::{FakeTwilio, TwilioReply};
    use chatcourse_channels::twilio;

    let twilio = FakeTwilio::start("ACtest", "token").await.unwrap();
    let client = reqwest::Client::new();
    let url = format!("{}{}", twilio.base_url(), twilio::messages_path("ACtest"));
    let form = twilio::encode_form([
        ("To", "+254712345678"),
        ("From", "+14155550100"),
        ("Body", "Habari"),
    ]);
    let post = |user: &'static str, pass: &'static str| {
        client
            .post(&url)
            .basic_auth(user, Some(pass))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.clone())
            .send()
    };
    let refused = post("ACtest", "wrong").await.unwrap();
    assert_eq!(refused.status(), 401);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["code"], 20003);
    twilio.script([TwilioReply::Error {
        status: 400,
        code: 21211,
    }]);
    let scripted = post("ACtest", "token").await.unwrap();
    assert_eq!(scripted.status(), 400);
    let body: serde_json::Value = scripted.json().await.unwrap();
    assert_eq!(body["code"], 21211);
    let created = post("ACtest", "token").await.unwrap();
    assert_eq!(created.status(), 201);
    let body: serde_json::Value = created.json().await.unwrap();
    let sid = body["sid"].as_str().unwrap().to_owned();
    assert!(sid.starts_with("SM") && sid.len() == 34, "{sid}");
    assert_eq!(body["num_segments"], "1");
    let accepted = twilio.accepted();
    assert_eq!(accepted.len(), 1);
    assert_eq!(
        (accepted[0].to.as_str(), accepted[0].body.as_str()),
        ("+254712345678", "Habari")
    );

    // Its callbacks carry a signature that verifies over URL + params.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(HeaderMap, Bytes)>();
    let app = axum::Router::new().route(
        "/cb",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let tx = tx.clone();
            async move {
                let _ = tx.send((headers, body));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let cb = format!("http://{}/cb", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    twilio
        .report(&cb, &sid, "undelivered", Some(30003))
        .await
        .unwrap();
    let (headers, body) = rx.recv().await.unwrap();
    let params = twilio::parse_form(&body);
    assert_eq!(twilio::param(&params, "MessageStatus"), Some("undelivered"));
    assert_eq!(twilio::param(&params, "ErrorCode"), Some("30003"));
    let signature = headers[twilio::SIGNATURE_HEADER].to_str().unwrap();
    assert!(twilio::verify("token", &cb, &params, signature));
    assert!(!twilio::verify("other", &cb, &params, signature));
}

/// The fake Africa's Talking takes their request format only and answers
/// with their JSON and recipient status codes.
#[tokio::test]
async fn fake_africastalking_speaks_their_api() {
    use chatcourse_channels::africastalking::{self as at, RecipientVerdict};
    use chatcourse_channels::fakes::{AtReply, FakeAfricasTalking};
    use chatcourse_channels::form::encode_form;

    let fake = FakeAfricasTalking::start("sandbox", "key").await.unwrap();
    let client = reqwest::Client::new();
    let url = format!("{}{}", fake.base_url(), at::MESSAGING_PATH);
    let send = |key: &'static str| {
        client
            .post(&url)
            .header(at::API_KEY_HEADER, key)
            .header("accept", "application/json")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(encode_form([
                ("username", "sandbox"),
                ("to", "+254712345678"),
                ("message", "Habari"),
            ]))
            .send()
    };
    assert_eq!(send("wrong").await.unwrap().status(), 401);
    fake.script([AtReply::Recipient(406)]);
    let blocked: serde_json::Value = send("key").await.unwrap().json().await.unwrap();
    let r = at::first_recipient(&blocked).unwrap();
    assert_eq!(r.message_id, None);
    assert_eq!(
        at::recipient_verdict(r.status_code),
        RecipientVerdict::Permanent { opt_out: true }
    );
    let created = send("key").await.unwrap();
    assert_eq!(created.status(), 201);
    let body: serde_json::Value = created.json().await.unwrap();
    let r = at::first_recipient(&body).unwrap();
    assert_eq!((r.status_code, r.status.as_str()), (101, "Success"));
    let accepted = fake.accepted();
    assert_eq!(accepted.len(), 1);
    assert_eq!(Some(accepted[0].id.as_str()), r.message_id.as_deref());
    assert_eq!(accepted[0].message, "Habari");
}

/// The fake WhatsApp Cloud API takes Meta's request format only, and signs
/// its notifications so that `whatsapp::verify` accepts them.
#[tokio::test]
async fn fake_whatsapp_speaks_the_cloud_api() {
    use chatcourse_channels::fakes::{FakeWhatsApp, WaReply};
    use chatcourse_channels::whatsapp;

    let wa = FakeWhatsApp::start("123", "token", "secret").await.unwrap();
    let client = reqwest::Client::new();
    let url = format!(
        "{}{}",
        wa.base_url(),
        whatsapp::messages_path("v21.0", "123")
    );
    let text = whatsapp::text_message("+254712345678", "Habari");
    let refused = client
        .post(&url)
        .bearer_auth("wrong")
        .json(&text)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    wa.script([WaReply::Error {
        status: 400,
        code: 131_047,
    }]);
    let scripted: serde_json::Value = client
        .post(&url)
        .bearer_auth("token")
        .json(&text)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(whatsapp::error_of(&scripted).map(|e| e.0), Some(131_047));
    let template =
        whatsapp::template_message("+254712345678", "course_reminder", "sw", Some("Karibu"));
    let sent: serde_json::Value = client
        .post(&url)
        .bearer_auth("token")
        .json(&template)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = whatsapp::sent_id(&sent).unwrap();
    let accepted = wa.accepted();
    assert_eq!(accepted.len(), 1);
    assert_eq!(accepted[0].id, id);
    assert_eq!(
        (
            accepted[0].template.as_deref(),
            accepted[0].language.as_deref(),
            accepted[0].text.as_deref()
        ),
        (Some("course_reminder"), Some("sw"), Some("Karibu"))
    );
    assert_eq!(accepted[0].to, "254712345678");
}
