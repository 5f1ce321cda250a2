//! The analysts' benchmark: a programme's messages exported by the real
//! `chatcourse export` command (its rows/s and its peak memory above an
//! idle export of the same binary), beside the store's own stream of the
//! same rows read in this process (the ceiling: no encoding, no file);
//! and `chatcourse report` on a programme of many sessions.
//!
//! ```sh
//! cargo bench -p chatcourse --bench analytics                 # SQLite, 1,000,000 messages, 100,000 sessions
//! cargo bench -p chatcourse --bench analytics -- --database postgres://postgres@127.0.0.1:5432/test
//! cargo bench -p chatcourse --bench analytics -- --messages 100000 --sessions 10000
//! ```
//!
//! The data is written through the `Store` (as turns and enrolments are),
//! into a fresh SQLite file, or into the PostgreSQL database given, under
//! an organisation of its own (use a scratch database: the rows stay).
//! Targets (docs/performance.md):
//! 200,000 rows/s from SQLite with peak RSS within 50 MiB of an idle
//! export, and a report of 100,000 sessions within seconds.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chatcourse_storage::*;
use chrono::Utc;
use futures::StreamExt;

/// The exported programme, and the reported one.
const EXPORTED: i64 = 1;
const REPORTED: i64 = 2;
/// An idle export's programme: one session, no turn.
const IDLE: i64 = 3;
/// Messages of one turn: the learner's and nine replies.
const PER_TURN: usize = 10;
/// Sessions written to at once.
const WRITERS: usize = 64;

struct Options {
    database: Option<String>,
    messages: usize,
    sessions: usize,
}

fn options() -> Options {
    let mut o = Options {
        database: None,
        messages: 1_000_000,
        sessions: 100_000,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_default();
        // Counts may be written 1_000_000.
        let mut count = || value().replace('_', "");
        match arg.as_str() {
            "--database" => o.database = Some(value()),
            "--messages" => o.messages = count().parse().unwrap_or(o.messages),
            "--sessions" => o.sessions = count().parse().unwrap_or(o.sessions),
            // `cargo bench` passes --bench.
            _ => {}
        }
    }
    o
}

/// A reply of a realistic length (a lesson line).
fn reply(n: usize) -> String {
    format!(
        "Lesson {n}: save a small amount every week until you have enough to cover one month of needs."
    )
}

struct Seeded {
    store: Arc<dyn Store>,
    org: OrgId,
    /// The organisation's name, for the command's `--org`.
    name: String,
}

async fn seed_programme(
    store: &Arc<dyn Store>,
    org: OrgId,
    identifier: i64,
    sessions: usize,
    turns: usize,
    label: &str,
) {
    let programme = store
        .ensure_programme(org, identifier, Utc::now())
        .await
        .expect("programme");
    let module = store
        .register_module_version(&NewModuleVersion {
            module_id: "bench-course".to_owned(),
            module_uuid: uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, b"bench-course"),
            name: "Bench course".to_owned(),
            goal: "measure".to_owned(),
            content_hash: "bench-v1".to_owned(),
            source: String::new(),
            languages: vec!["en".to_owned(), "sw".to_owned()],
            pre_quiz_total: 2,
            post_quiz_total: 2,
            registered_at: Utc::now(),
            org: None,
        })
        .await
        .expect("module");
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..WRITERS.min(sessions.max(1)))
        .map(|_| {
            let (store, next) = (store.clone(), next.clone());
            let (programme, module) = (programme.id, module.id);
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= sessions {
                        break;
                    }
                    learner(&store, org, (programme, module), i, turns).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("seeding task");
    }
    eprintln!(
        "  seeded {label}: {sessions} sessions, {turns} turns each, in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// One learner: registered, enrolled, then `turns` turns through the quiz
/// steps (answers, positions, one in five completes).
async fn learner(
    store: &Arc<dyn Store>,
    org: OrgId,
    (programme, module): (ProgrammeId, ModuleVersionId),
    i: usize,
    turns: usize,
) {
    let language = if i.is_multiple_of(3) { "sw" } else { "en" };
    let customer = store
        .register_customer(
            org,
            &NewCustomer {
                full_name: format!("Learner {i}"),
                national_id: format!("{i:08}"),
                phone: format!("2547{i:08}"),
                phone_e164: None,
                location: ["Nairobi", "Mombasa", "Kisumu"][i % 3].to_owned(),
                gender: ["Female", "Male"][i % 2].to_owned(),
                email: None,
                date_of_birth: None,
                registered_at: Utc::now(),
            },
        )
        .await
        .expect("customer");
    let session = store
        .create_session(
            org,
            &NewSession {
                customer: customer.id,
                programme,
                module_version: module,
                status: SessionStatus::Pending,
                state: "{}".to_owned(),
                state_format: 1,
                messages: vec!["Welcome! Reply with 1 to start.".to_owned()],
                wake_at: None,
                at: Utc::now(),
                position: Some(Position {
                    step: "enrolment".to_owned(),
                    language: language.to_owned(),
                }),
            },
        )
        .await
        .expect("session")
        .session;
    const STEPS: [&str; 5] = ["pre_q1", "pre_q2", "lesson", "post_q1", "post_q2"];
    for t in 0..turns {
        let step = STEPS[t % STEPS.len()];
        let quiz = match step {
            "pre_q1" | "pre_q2" => Some(QuizKind::Pre),
            "post_q1" | "post_q2" => Some(QuizKind::Post),
            _ => None,
        };
        let done = i.is_multiple_of(5) && t + 1 == turns;
        let mut plan = Some(TurnPlan {
            state: "{}".to_owned(),
            state_format: 1,
            status: if done {
                SessionStatus::Completed
            } else {
                SessionStatus::InProgress
            },
            replies: (0..PER_TURN - 1).map(reply).collect(),
            answers: quiz
                .map(|quiz| NewQuizAnswer {
                    quiz,
                    question_id: step.to_owned(),
                    question: format!("Question {step}?"),
                    answer: "2".to_owned(),
                    correct: !(i + t).is_multiple_of(3),
                    attempt: 1,
                    matched_by: "choice".to_owned(),
                    choice: Some(2),
                })
                .into_iter()
                .collect(),
            progress: QuizProgress::default(),
            wake_at: None,
            last_activity: Some(Utc::now()),
            position: Some(Position {
                step: if done { "completion" } else { step }.to_owned(),
                language: language.to_owned(),
            }),
        });
        store
            .apply_turn(
                session.id,
                Inbound::message("2", None),
                &mut |_: &Session, _| Ok(plan.take().expect("decide runs once")),
            )
            .await
            .expect("turn");
    }
}

/// Runs `chatcourse` with `args` to completion: (wall time, peak RSS in
/// bytes as the kernel counted it, stdout).
fn run(args: &[&str]) -> (Duration, u64, String) {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_chatcourse"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run chatcourse");
    let status_file = format!("/proc/{}/status", child.id());
    let stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap_or_default());
    // VmHWM only grows: its last reading before the exit is the peak.
    let mut peak = 0;
    loop {
        if let Ok(status) = std::fs::read_to_string(&status_file)
            && let Some(kib) = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            peak = peak.max(kib * 1024);
        }
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let elapsed = started.elapsed();
    let output = child.wait_with_output().expect("output");
    assert!(
        output.status.success(),
        "chatcourse {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    (elapsed, peak, reader.join().unwrap_or_default())
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

async fn export(seeded: &Seeded, url: &str, expected: usize) {
    // The ceiling: the store's own stream of the same rows, in process.
    let started = Instant::now();
    let mut rows = seeded.store.export_transcripts(
        seeded.org,
        ExportFilter {
            programme: Some(EXPORTED),
            ..ExportFilter::default()
        },
    );
    let mut streamed = 0usize;
    let mut first_row = None;
    while let Some(row) = rows.next().await {
        row.expect("row");
        first_row.get_or_insert_with(|| started.elapsed());
        streamed += 1;
    }
    let stream_rate = streamed as f64 / started.elapsed().as_secs_f64();
    let first_row = first_row.unwrap_or_default();
    assert_eq!(streamed, expected, "every message streamed");

    let out = std::env::temp_dir().join(format!("chatcourse-bench-export-{}", std::process::id()));
    let out_path = out.to_str().expect("path");
    let program = EXPORTED.to_string();
    let idle_program = IDLE.to_string();
    let mut figures = Vec::new();
    for format in ["csv", "ndjson"] {
        let args = |program: &str| -> Vec<String> {
            [
                "export",
                "messages",
                "--database",
                url,
                "--org",
                &seeded.name,
                "--program",
                program,
                "--format",
                format,
                "-o",
                out_path,
            ]
            .map(str::to_owned)
            .to_vec()
        };
        let (_, idle_peak, _) = run(&args(&idle_program)
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>());
        let (time, peak, _) = run(&args(&program)
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>());
        let written = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
        let rate = streamed as f64 / time.as_secs_f64();
        figures.push((format, rate, peak, idle_peak, written));
    }
    let _ = std::fs::remove_file(&out);
    println!("Export of {streamed} messages (`chatcourse export messages`, a separate process):");
    println!("  the store's stream in process (ceiling): {stream_rate:>9.0} rows/s");
    println!(
        "  its first row after {:.1} ms (target 50 ms: {})",
        first_row.as_secs_f64() * 1000.0,
        if first_row <= Duration::from_millis(50) {
            "met"
        } else {
            "MISSED"
        }
    );
    for (format, rate, peak, idle_peak, written) in figures {
        println!(
            "  {format:<6} {rate:>9.0} rows/s ({:.2} of the ceiling, {:.2} of the 200,000 target); \
             peak RSS {:.1} MiB, idle export {:.1} MiB: +{:.1} MiB (target +50); file {:.0} MiB",
            rate / stream_rate,
            rate / 200_000.0,
            mib(peak),
            mib(idle_peak),
            mib(peak.saturating_sub(idle_peak)),
            mib(written),
        );
    }
}

fn report(url: &str, org: &str, sessions: usize) {
    let program = REPORTED.to_string();
    let args = [
        "report",
        "--database",
        url,
        "--org",
        org,
        "--program",
        &program,
        "--format",
        "json",
    ];
    // The first run warms the database's cache; the second is measured.
    let _ = run(&args);
    let (time, peak, stdout) = run(&args);
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("report JSON");
    assert_eq!(
        report["summary"]["enrolled"].as_u64(),
        Some(sessions as u64),
        "every session reported"
    );
    let (idle_time, _, _) = run(&[
        "report",
        "--database",
        url,
        "--org",
        org,
        "--program",
        &IDLE.to_string(),
        "--format",
        "json",
    ]);
    println!(
        "Report of {sessions} sessions (`chatcourse report --format json`, a separate process):"
    );
    println!(
        "  {:.2} s (a one-session programme: {:.2} s); peak RSS {:.1} MiB; {} funnel steps, {} questions",
        time.as_secs_f64(),
        idle_time.as_secs_f64(),
        mib(peak),
        report["funnel"].as_array().map_or(0, Vec::len),
        report["questions"].as_array().map_or(0, Vec::len),
    );
}

fn main() {
    let o = options();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir =
        std::env::temp_dir().join(format!("chatcourse-analytics-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let url = match &o.database {
        Some(url) => url.clone(),
        None => format!("sqlite://{}", dir.join("bench.db").display()),
    };
    // CHATCOURSE_BENCH_KEEP=1 keeps the database, to run commands on it by hand.
    let keep = std::env::var_os("CHATCOURSE_BENCH_KEEP").is_some();
    runtime.block_on(async {
        let store = connect(&url).await.expect("connect");
        store.migrate().await.expect("migrate");
        let name = format!("analytics-bench-{}", std::process::id());
        let org = store
            .create_org_if_missing(&name, Utc::now())
            .await
            .expect("org")
            .id;
        let seeded = Seeded { store, org, name };
        println!("Database: {:?}", seeded.store.backend());
        let turns = 100;
        let sessions = o.messages.div_ceil(turns * PER_TURN + 1).max(1);
        seed_programme(&seeded.store, org, EXPORTED, sessions, turns, "export").await;
        seed_programme(&seeded.store, org, IDLE, 1, 0, "idle").await;
        seed_programme(&seeded.store, org, REPORTED, o.sessions, 3, "report").await;
        let expected = sessions * (turns * PER_TURN + 1);
        export(&seeded, &url, expected).await;
        report(&url, &seeded.name, o.sessions);
        if keep {
            println!("kept: {url} (org {})", seeded.name);
        }
    });
    if !keep {
        let _ = std::fs::remove_dir_all(&dir);
    }
}
