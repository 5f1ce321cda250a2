//! A fake WhatsApp Cloud API to try a `whatsapp` channel locally: it takes
//! chatcourse's sends (checking the bearer token), prints them (text or
//! template), does Meta's verification handshake against the channel's
//! URL, and sends learners' messages typed on standard input, signed with
//! the app secret as Meta signs them.
//!
//! ```sh
//! cargo run -p chatcourse-channels --features fakes --example fake-whatsapp -- \
//!     --phone-number-id 106540352242922 --token EAAG-test --app-secret appsecret \
//!     --url <inbound_url> --verify-token <verify_token> [--port 9300] [--from 254712345678]
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use chatcourse_channels::fakes::FakeWhatsApp;
use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let (mut id, mut token, mut secret, mut url, mut verify) = (None, None, None, None, None);
    let mut port = 9300u16;
    let mut from = "254712345678".to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_default();
        match arg.as_str() {
            "--phone-number-id" => id = Some(value()),
            "--token" => token = Some(value()),
            "--app-secret" => secret = Some(value()),
            "--url" => url = Some(value()),
            "--verify-token" => verify = Some(value()),
            "--port" => port = value().parse().unwrap_or(port),
            "--from" => from = value(),
            other => {
                eprintln!("unknown argument {other:?}");
                std::process::exit(2);
            }
        }
    }
    let (Some(id), Some(token), Some(secret)) = (id, token, secret) else {
        eprintln!(
            "usage: fake-whatsapp --phone-number-id ID --token TOKEN --app-secret SECRET \
             [--url INBOUND_URL] [--verify-token TOKEN] [--port 9300] [--from 2547...]"
        );
        std::process::exit(2);
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let wa = match FakeWhatsApp::start_on(&id, &token, &secret, addr).await {
        Ok(wa) => wa,
        Err(e) => {
            eprintln!("cannot listen on 127.0.0.1:{port}: {e}");
            std::process::exit(1);
        }
    };
    println!(
        "fake WhatsApp Cloud API at {} (base_url); Ctrl-C to stop",
        wa.base_url()
    );
    if let (Some(url), Some(verify)) = (&url, &verify) {
        match wa.verify(url, verify, "challenge-42").await {
            Ok((status, body)) => println!("handshake: {status} {body:?}"),
            Err(e) => println!("handshake: {e}"),
        }
    }
    if url.is_some() {
        println!("type a line to send it as a WhatsApp message from {from}");
    }
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut shown = 0;
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let messages = wa.messages();
                for m in &messages[shown..] {
                    let what = m.template.as_deref().map_or_else(|| "text".to_owned(), |t| format!("template {t}"));
                    println!("<- {} to {} ({what}): {:?} (HTTP {})", m.id, m.to, m.text, m.answered);
                }
                shown = messages.len();
            }
            line = lines.next_line() => {
                let Ok(Some(line)) = line else { break };
                let Some(url) = &url else { continue };
                match wa.inbound(url, &from, &line).await {
                    Ok(r) => println!("-> {line:?}: chatcourse answered {}", r.status()),
                    Err(e) => println!("-> {line:?}: {e}"),
                }
            }
        }
    }
}
