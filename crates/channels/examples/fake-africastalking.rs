//! A fake Africa's Talking to try an `africastalking` channel locally: it
//! takes chatcourse's sends (checking the `apiKey` header and username),
//! prints them, reports each `Success` to the delivery reports URL a
//! second later, and sends learners' SMS typed on standard input to the
//! channel's inbound URL.
//!
//! ```sh
//! cargo run -p chatcourse-channels --features fakes --example fake-africastalking -- \
//!     --username sandbox --api-key atsk_test --inbound <inbound_url> --status <status_url> \
//!     [--port 9200] [--from 0712345678] [--to 12345] [--fail 3]
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use chatcourse_channels::fakes::{AtReply, FakeAfricasTalking};
use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let (mut username, mut api_key, mut inbound, mut status) = (None, None, None, None);
    let mut port = 9200u16;
    let mut from = "0712345678".to_owned();
    let mut to = "12345".to_owned();
    let mut fail = 0usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_default();
        match arg.as_str() {
            "--username" => username = Some(value()),
            "--api-key" => api_key = Some(value()),
            "--inbound" => inbound = Some(value()),
            "--status" => status = Some(value()),
            "--port" => port = value().parse().unwrap_or(port),
            "--from" => from = value(),
            "--to" => to = value(),
            "--fail" => fail = value().parse().unwrap_or(0),
            other => {
                eprintln!("unknown argument {other:?}");
                std::process::exit(2);
            }
        }
    }
    let (Some(username), Some(api_key)) = (username, api_key) else {
        eprintln!(
            "usage: fake-africastalking --username NAME --api-key KEY [--inbound URL] \
             [--status URL] [--port 9200] [--from 07...] [--to 12345] [--fail N]"
        );
        std::process::exit(2);
    };
    let at = match FakeAfricasTalking::start_on(
        &username,
        &api_key,
        SocketAddr::from(([127, 0, 0, 1], port)),
    )
    .await
    {
        Ok(at) => at,
        Err(e) => {
            eprintln!("cannot listen on 127.0.0.1:{port}: {e}");
            std::process::exit(1);
        }
    };
    if let Some(url) = &status {
        at.auto_report(Duration::from_secs(1), url);
    }
    at.script(std::iter::repeat_n(AtReply::Http(503), fail));
    println!(
        "fake Africa's Talking at {} (base_url); Ctrl-C to stop",
        at.base_url()
    );
    if inbound.is_some() {
        println!("type a line to send it as an SMS from {from} to {to}");
    }
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut shown = 0;
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let messages = at.messages();
                for m in &messages[shown..] {
                    println!("<- {} to {}: {:?} (HTTP {}, statusCode {})", m.id, m.to, m.message, m.answered, m.status_code);
                }
                shown = messages.len();
            }
            line = lines.next_line() => {
                let Ok(Some(line)) = line else { break };
                let Some(url) = &inbound else { continue };
                match at.inbound(url, &from, &to, &line).await {
                    Ok(r) => println!("-> {line:?}: chatcourse answered {}", r.status()),
                    Err(e) => println!("-> {line:?}: {e}"),
                }
            }
        }
    }
}
