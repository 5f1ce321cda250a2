//! A fake Twilio to try a `twilio` channel locally: it takes chatcourse's
//! sends (checking basic auth), prints them, reports each `sent` then
//! `delivered` to its StatusCallback a second later, and sends learners'
//! messages typed on standard input to chatcourse, signed as Twilio signs.
//!
//! ```sh
//! cargo run -p chatcourse-channels --features fakes --example fake-twilio -- \
//!     --account ACtest --token secret-token --inbound http://127.0.0.1:8080/api/v1/channels/<uuid>/inbound \
//!     [--port 9100] [--from +254712345678] [--to +14155550100] [--fail 3]
//! ```
//!
//! Each line typed is one message from `--from` to `--to`. `--fail N`
//! answers the first N sends with 503, to watch retries.

use std::net::SocketAddr;
use std::time::Duration;

use chatcourse_channels::fakes::{FakeTwilio, TwilioReply};
use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut account = None;
    let mut token = None;
    let mut inbound = None;
    let mut port = 9100u16;
    let mut from = "+254712345678".to_owned();
    let mut to = "+14155550100".to_owned();
    let mut fail = 0usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_default();
        match arg.as_str() {
            "--account" => account = Some(value()),
            "--token" => token = Some(value()),
            "--inbound" => inbound = Some(value()),
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
    let (Some(account), Some(token)) = (account, token) else {
        eprintln!(
            "usage: fake-twilio --account AC... --token TOKEN [--inbound URL] [--port 9100] \
             [--from +254...] [--to +1...] [--fail N]"
        );
        std::process::exit(2);
    };
    let twilio = match FakeTwilio::start_on(
        &account,
        &token,
        SocketAddr::from(([127, 0, 0, 1], port)),
        Some(Duration::from_secs(1)),
    )
    .await
    {
        Ok(twilio) => twilio,
        Err(e) => {
            eprintln!("cannot listen on 127.0.0.1:{port}: {e}");
            std::process::exit(1);
        }
    };
    twilio.script(std::iter::repeat_n(
        TwilioReply::Error {
            status: 503,
            code: 20500,
        },
        fail,
    ));
    println!(
        "fake Twilio at {} (base_url); Ctrl-C to stop",
        twilio.base_url()
    );
    if inbound.is_some() {
        println!("type a line to send it as {from} -> {to}");
    }
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut shown = 0;
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let messages = twilio.messages();
                for m in &messages[shown..] {
                    println!("<- {} {} -> {}: {:?} (answered {})", m.sid, m.from, m.to, m.body, m.answered);
                }
                shown = messages.len();
            }
            line = lines.next_line() => {
                let Ok(Some(line)) = line else { break };
                let Some(url) = &inbound else { continue };
                match twilio.inbound(url, &from, &to, &line).await {
                    Ok(r) => println!("-> {line:?}: chatcourse answered {}", r.status()),
                    Err(e) => println!("-> {line:?}: {e}"),
                }
            }
        }
    }
}
