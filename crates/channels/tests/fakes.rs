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
