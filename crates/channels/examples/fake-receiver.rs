//! A `webhook` channel receiver to try chatcourse's delivery locally: it
//! listens on 127.0.0.1, checks each request's signature and prints it.
//!
//! ```sh
//! cargo run -p chatcourse-channels --features fakes --example fake-receiver -- \
//!     --secret whsec_... [--port 9000] [--fail 3]
//! ```
//!
//! `--fail N` answers the first N requests with 503, to watch retries.

use std::net::SocketAddr;
use std::time::Duration;

use chatcourse_channels::fakes::{FakeReceiver, Reply};
use chatcourse_channels::signing::WebhookSecret;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut secret = None;
    let mut port = 9000u16;
    let mut fail = 0usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--secret" => secret = args.next(),
            "--port" => port = args.next().and_then(|p| p.parse().ok()).unwrap_or(port),
            "--fail" => fail = args.next().and_then(|n| n.parse().ok()).unwrap_or(0),
            other => {
                eprintln!("unknown argument {other:?}");
                std::process::exit(2);
            }
        }
    }
    let Some(secret) = secret else {
        eprintln!("usage: fake-receiver --secret whsec_... [--port 9000] [--fail N]");
        std::process::exit(2);
    };
    let secret = match WebhookSecret::parse(&secret) {
        Ok(secret) => secret,
        Err(e) => {
            eprintln!("--secret: {e}");
            std::process::exit(2);
        }
    };
    let receiver = match FakeReceiver::start_on(
        secret,
        SocketAddr::from(([127, 0, 0, 1], port)),
        true,
    )
    .await
    {
        Ok(receiver) => receiver,
        Err(e) => {
            eprintln!("cannot listen on 127.0.0.1:{port}: {e}");
            std::process::exit(1);
        }
    };
    receiver.script(std::iter::repeat_n(Reply::Status(503), fail));
    println!("receiving at {} (Ctrl-C to stop)", receiver.url());
    let mut shown = 0;
    loop {
        let all = receiver.deliveries();
        for d in &all[shown..] {
            println!(
                "{} id={} signature={} -> {}",
                d.timestamp,
                d.id,
                if d.signature_valid {
                    "valid"
                } else {
                    "INVALID"
                },
                d.answered
            );
            println!("  {}", d.body);
        }
        shown = all.len();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            () = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
    }
}
