//! Several `serve` processes on one PostgreSQL database share the outbox:
//! each row is sent by one of them, each learner's in order.

use std::time::Duration;

use serde_json::json;

use super::delivery::{channel, config, learner};
use super::harness::{Backend, TestApp, modules_dir};

/// The `sent` deliveries a server counted, from its `/metrics`.
fn sent_count(metrics: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("chatcourse_deliveries_total{") && l.contains("outcome=\"sent\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// Two servers on one database, both dispatching: every message reaches
/// the receiver exactly once (no row is sent by both), each learner's in
/// order, and both servers took a share of the sends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(postgres_tests),
    ignore = "PostgreSQL: set TEST_DATABASE_URL to run"
)]
async fn two_processes_never_send_a_row_twice_postgres() {
    let mut config = config(5);
    // One sealing key for both, as every server of one database must share.
    config.secret_key = Some("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".to_owned());
    // Small claims, so that both processes find rows to take.
    config.delivery.batch = 4;
    config.modules_dir = modules_dir();
    let app = TestApp::spawn_with(Backend::postgres(), config.clone()).await;
    let other = app.second_server(&config).await;

    let (receiver, _, _) = channel(&app).await;
    let mut learners = Vec::new();
    for _ in 0..24 {
        learners.push(learner(&app).await);
    }
    // Each learner's turns alternate between the two servers.
    for (n, (customer, session, _)) in learners.iter().enumerate() {
        for (turn, text) in ["1", "2"].iter().enumerate() {
            let base = if (n + turn) % 2 == 0 {
                app.url("")
            } else {
                other.url("")
            };
            let response = app
                .client
                .post(format!("{base}/api/v1/message"))
                .bearer_auth(&app.key)
                .json(&json!({"customer_uuid": customer, "session_uuid": session, "message": text}))
                .send()
                .await
                .expect("request");
            assert_eq!(response.status().as_u16(), 200);
        }
    }
    let mut expected: Vec<(String, Vec<String>)> = Vec::new();
    for (customer, session, _) in &learners {
        let sent = app
            .transcript(customer, session)
            .await
            .iter()
            .filter(|m| m["message_type"] == "SENT")
            .map(|m| m["message"].as_str().expect("text").to_owned())
            .collect();
        expected.push((session.clone(), sent));
    }
    let total: usize = expected.iter().map(|(_, sent)| sent.len()).sum();
    let got = receiver
        .wait_for_accepted(total, Duration::from_secs(60))
        .await;
    assert_eq!(got.len(), total, "every message arrived");
    // Nothing more comes: no row was sent twice.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let all = receiver.deliveries();
    assert_eq!(all.len(), total, "no message sent twice");
    for (session, sent) in &expected {
        let texts: Vec<&str> = all
            .iter()
            .filter(|d| d.body["session_uuid"] == session.as_str())
            .map(|d| d.body["message"]["message"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(&texts, sent, "in order, once each");
    }
    let ours = sent_count(&app.get_text(&app.url("/metrics")).await);
    let theirs = sent_count(&app.get_text(&other.url("/metrics")).await);
    assert_eq!(ours + theirs, total as u64);
    assert!(ours > 0 && theirs > 0, "both sent: {ours} and {theirs}");

    other.stop().await;
}
