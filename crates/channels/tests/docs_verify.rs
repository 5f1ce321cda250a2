//! The Python verification snippet of docs/channels.md accepts
//! chatcourse's signatures and refuses forged ones (skipped, saying so,
//! without python3).

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use chatcourse_channels::signing::WebhookSecret;

fn snippet() -> String {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/channels.md"
    ))
    .expect("docs/channels.md");
    let start = doc.find("```python\n").expect("a python block") + "```python\n".len();
    let end = start + doc[start..].find("```").expect("end of the block");
    doc[start..end].to_owned()
}

#[test]
fn python_snippet_verifies_signatures() {
    if Command::new("python3").arg("--version").output().is_err() {
        eprintln!("SKIPPED: python3 not found");
        return;
    }
    let secret = WebhookSecret::generate().unwrap();
    let body = r#"{"type":"message","message":{"message":"Karibu! Jibu 1."}}"#;
    let id = "msg_0f6c_42";
    let ts = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let signature = secret.sign(id, ts, body.as_bytes());
    let forged = WebhookSecret::generate()
        .unwrap()
        .sign(id, ts, body.as_bytes());
    let script = format!(
        "{}\nimport sys\nsecret, sig, ts, body = sys.argv[1:5]\n\
         ok = verify(secret, {{'webhook-id': '{id}', 'webhook-timestamp': ts, 'webhook-signature': sig}}, body.encode())\n\
         print('valid' if ok else 'invalid')\n",
        snippet()
    );
    let run = |sig: &str, ts: i64| {
        let out = Command::new("python3")
            .arg("-c")
            .arg(&script)
            .args([&secret.expose(), sig, &ts.to_string(), body])
            .output()
            .expect("python3");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    assert_eq!(run(&signature, ts), "valid");
    assert_eq!(run(&forged, ts), "invalid");
    assert_eq!(
        run(&format!("v1,bad {signature}"), ts),
        "valid",
        "any listed signature"
    );
    let old = ts - 3600;
    let stale = secret.sign(id, old, body.as_bytes());
    assert_eq!(run(&stale, old), "invalid", "stale timestamp");
}
