//! The end-to-end load benchmark: a real `chatcourse serve` process on
//! 127.0.0.1, learners enrolled through the API and driven over real HTTP
//! and real WebSockets, and the figures printed beside ceilings measured
//! in the same run.
//!
//! ```sh
//! cargo bench -p chatcourse --bench load                       # every scenario, SQLite
//! cargo bench -p chatcourse --bench load -- --scenario http --learners 1,16,128,1000
//! cargo bench -p chatcourse --bench load -- --database postgres://postgres@127.0.0.1:5432/test --servers 2
//! ```
//!
//! Options: `--database URL` (default: a fresh SQLite file), `--scenario
//! http|ws|idle|delivery|all`, `--learners LIST` (closed loop over HTTP), `--rates
//! LIST` (offered WebSocket turns/s, open loop), `--sockets N` (WebSocket
//! learners of the open loop), `--idle N` (mostly idle WebSockets),
//! `--seconds S` (per measurement), `--servers N` (server processes on one
//! database: PostgreSQL), `--pin` (server on core 0, load on core 1, via
//! `taskset`), `--backlog N` (messages queued for the dispatch
//! measurement). `CHATCOURSE_BENCH_BIN=path` runs another build of
//! `chatcourse` as the server (a change's before and after). Every loop is bounded in time and count, and only talks to
//! 127.0.0.1. See docs/performance.md.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message as Frame;

const MODULE_UUID: &str = "5f2d773d-479b-5d8a-94e4-ed6e79e040a9"; // Test Module Updated

struct Options {
    database: Option<String>,
    scenario: String,
    learners: Vec<usize>,
    rates: Vec<u64>,
    sockets: usize,
    idle: usize,
    seconds: u64,
    servers: usize,
    pin: bool,
    backlog: usize,
}

fn parse_list<T: std::str::FromStr>(text: &str) -> Vec<T> {
    text.split(',')
        .filter_map(|s| s.trim().replace('_', "").parse().ok())
        .collect()
}

fn options() -> Options {
    let mut o = Options {
        database: None,
        scenario: "all".to_owned(),
        learners: vec![1, 16, 128],
        rates: vec![500, 1000, 2000],
        sockets: 200,
        idle: 2000,
        seconds: 5,
        servers: 1,
        pin: false,
        backlog: 2000,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_default();
        match arg.as_str() {
            "--database" => o.database = Some(value()),
            "--scenario" => o.scenario = value(),
            "--learners" => o.learners = parse_list(&value()),
            "--rates" => o.rates = parse_list(&value()),
            "--sockets" => o.sockets = value().parse().unwrap_or(o.sockets),
            "--idle" => o.idle = value().parse().unwrap_or(o.idle),
            "--seconds" => o.seconds = value().parse().unwrap_or(o.seconds),
            "--servers" => o.servers = value().parse().unwrap_or(1).max(1),
            "--pin" => o.pin = true,
            "--backlog" => o.backlog = value().parse().unwrap_or(o.backlog),
            // `cargo bench` passes `--bench`; filters are not used.
            _ => {}
        }
    }
    o
}

/// The `chatcourse` binary to run: this build's, or `CHATCOURSE_BENCH_BIN`
/// (another build's, to compare a change's before and after on one machine
/// state).
fn server_binary() -> String {
    std::env::var("CHATCOURSE_BENCH_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_chatcourse").to_owned())
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A running server process.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(database: &str, pin: bool) -> Server {
        let binary = server_binary();
        let mut command = if pin && which("taskset") {
            let mut c = Command::new("taskset");
            c.args(["-c", "0", &binary]);
            c
        } else {
            Command::new(&binary)
        };
        command
            .args(["serve", "--bind", "127.0.0.1:0", "--database", database])
            .arg("--modules")
            .arg(repo().join("modules"))
            // The benchmark is one client address and one key driving many
            // learners: no rate limit, no connection cap in the way.
            .args(["--rate-turns", "0", "--rate-tokens", "0"])
            .args(["--max-connections", "1000000"])
            .env_remove("CHATCOURSE_BIND")
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or("info".into()),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("start chatcourse serve");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // Keep reading so the server never blocks on a full pipe.
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if line.contains("listening")
                    && let Some(start) = line.find("127.0.0.1:")
                {
                    let addr: String = line[start..]
                        .chars()
                        .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
                        .collect();
                    let _ = tx.send(addr);
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the server says where it listens");
        Server {
            child,
            base: format!("http://{addr}"),
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU seconds used so far (user + system).
    fn cpu_seconds(&self) -> f64 {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())) else {
            return 0.0;
        };
        // Fields after the command name (which may hold spaces).
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        (ticks(11) + ticks(12)) / clock_ticks()
    }

    /// (current RSS, peak RSS) in MiB.
    fn rss_mib(&self) -> (f64, f64) {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<f64>().ok())
                .map_or(0.0, |kib| kib / 1024.0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn which(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// A key of an organisation of this run's own: on a database kept between
/// runs (a PostgreSQL URL), an earlier run's customers, phones and live
/// sessions would otherwise be found again instead of enrolled anew.
fn create_key(database: &str) -> String {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let org = format!("bench-{}-{}", std::process::id(), since_epoch.as_millis());
    let output = Command::new(server_binary())
        .args(["keys", "create", "--org", &org, "--database", database])
        .output()
        .expect("keys create");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .last()
        .expect("the key")
        .trim()
        .to_owned()
}

/// One enrolled learner.
#[derive(Clone)]
struct Learner {
    customer: String,
    session: String,
}

struct Api {
    client: reqwest::Client,
    key: String,
}

impl Api {
    async fn delete(&self, base: &str, path: &str) {
        let response = self
            .client
            .delete(format!("{base}{path}"))
            .bearer_auth(&self.key)
            .send()
            .await
            .expect("request");
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
    }

    async fn post(&self, base: &str, path: &str, body: &Value) -> Value {
        let response = self
            .client
            .post(format!("{base}{path}"))
            .bearer_auth(&self.key)
            .json(body)
            .send()
            .await
            .expect("request");
        let status = response.status();
        let body: Value = response.json().await.expect("JSON");
        assert!(status.is_success(), "{path}: {status} {body}");
        body
    }

    async fn enrol(&self, base: &str, n: usize, program: i64) -> Vec<Learner> {
        let mut learners = Vec::with_capacity(n);
        for i in 0..n {
            let customer = self
                .post(
                    base,
                    "/api/v1/customer/mfi/register",
                    &json!({"full_name": format!("Learner {program}-{i}"), "national_id": format!("{program}{i:08}"),
                            "phone": format!("2547{:08}", (program as usize * 100_000 + i) % 100_000_000),
                            "location": "Nairobi", "gender": "Female"}),
                )
                .await["data"]["uuid"]
                .as_str()
                .expect("customer uuid")
                .to_owned();
            let session = self
                .post(
                    base,
                    "/api/v1/fe/program/customer/add",
                    &json!({"program_identifier": program, "customer_uuid": customer, "module": MODULE_UUID}),
                )
                .await["data"]["session_uuid"]
                .as_str()
                .expect("session uuid")
                .to_owned();
            learners.push(Learner { customer, session });
        }
        learners
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds")
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// What one measurement printed.
struct Figures {
    rate: f64,
    latency: Histogram<u64>,
    cpu: f64,
    errors: u64,
}

impl Figures {
    fn line(&self, label: &str) -> String {
        format!(
            "{label:<44} {:>9.0}/s  p50 {:>7.2} ms  p95 {:>7.2} ms  p99 {:>7.2} ms  max {:>8.2} ms  server {:>4.2} cores{}",
            self.rate,
            ms(self.latency.value_at_quantile(0.50)),
            ms(self.latency.value_at_quantile(0.95)),
            ms(self.latency.value_at_quantile(0.99)),
            ms(self.latency.max()),
            self.cpu,
            if self.errors > 0 {
                format!("  ({} errors)", self.errors)
            } else {
                String::new()
            }
        )
    }
}

/// Closed loop: each learner sends its next message as soon as the reply
/// to the previous one arrived, for `seconds`. `learners` empty: GET
/// `/healthz` with `concurrency` clients instead (the HTTP ceiling).
async fn closed_loop(
    servers: &[Server],
    api: &Arc<Api>,
    learners: &[Learner],
    concurrency: usize,
    seconds: u64,
) -> Figures {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let cpu_before: f64 = servers.iter().map(Server::cpu_seconds).sum();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..concurrency {
        let api = Arc::clone(api);
        let base = servers[i % servers.len()].base.clone();
        // Worker i turns for learners i, i + concurrency, ... in turn.
        let mine: Vec<Learner> = learners
            .iter()
            .skip(i)
            .step_by(concurrency)
            .cloned()
            .collect();
        tasks.push(tokio::spawn(async move {
            let mut latency = histogram();
            let mut errors = 0u64;
            let mut n = 0u64;
            while Instant::now() < deadline {
                let sent = Instant::now();
                let learner = (!mine.is_empty()).then(|| &mine[n as usize % mine.len()]);
                let ok = match learner {
                    Some(l) => {
                        let text = ["1", "2", "3", "hello"][(n as usize / mine.len()) % 4];
                        api.client
                            .post(format!("{base}/api/v1/message"))
                            .bearer_auth(&api.key)
                            .json(&json!({"customer_uuid": l.customer, "session_uuid": l.session, "message": text}))
                            .send()
                            .await
                            .map(|r| r.status().is_success())
                    }
                    None => api
                        .client
                        .get(format!("{base}/healthz"))
                        .send()
                        .await
                        .map(|r| r.status().is_success()),
                };
                match ok {
                    Ok(true) => {
                        let _ = latency.record(sent.elapsed().as_micros().max(1) as u64);
                    }
                    _ => errors += 1,
                }
                n += 1;
            }
            (latency, errors)
        }));
    }
    let mut latency = histogram();
    let mut errors = 0;
    for task in tasks {
        let (h, e) = task.await.expect("load task");
        latency.add(h).expect("same bounds");
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu: f64 = servers.iter().map(Server::cpu_seconds).sum::<f64>() - cpu_before;
    Figures {
        rate: latency.len() as f64 / elapsed,
        latency,
        cpu: cpu / elapsed,
        errors,
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open_socket(api: &Api, base: &str, learner: &Learner) -> Socket {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let url = format!(
        "{}/api/v1/ws?customerUuid={}&sessionUuid={}",
        base.replacen("http://", "ws://", 1),
        learner.customer,
        learner.session
    );
    let mut request = url.into_client_request().expect("ws request");
    request.headers_mut().insert(
        "Authorization",
        format!("Bearer {}", api.key).parse().expect("header"),
    );
    let (socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("WebSocket connects");
    socket
}

/// Open loop over WebSockets: `rate` learner messages a second in all,
/// spread evenly over the sockets, each timed from when it was *due* (not
/// when it could be sent) to the first reply after its RECEIVED echo, so
/// a stalled server is not hidden (no coordinated omission). Also the load
/// generator's own lateness: how long after it was due each message was
/// handed to its socket (what of the latency is the generator's).
async fn open_loop_ws(
    servers: &[Server],
    api: &Arc<Api>,
    learners: &[Learner],
    rate: u64,
    seconds: u64,
) -> (Figures, Histogram<u64>) {
    let sockets = learners.len().max(1);
    let per_socket = Duration::from_secs_f64(sockets as f64 / rate.max(1) as f64);
    // Every socket is open before the schedule starts: a socket opened
    // after its first message was due would charge its opening to the
    // server.
    // So are the histograms (zeroing 400 of them at the start of the
    // schedule made the generator itself late).
    let mut sockets_open = Vec::with_capacity(sockets);
    for (i, learner) in learners.iter().enumerate() {
        let socket = open_socket(api, &servers[i % servers.len()].base, learner).await;
        sockets_open.push((socket, histogram(), histogram()));
    }
    let cpu_before: f64 = servers.iter().map(Server::cpu_seconds).sum();
    let started = Instant::now();
    let stop_sending = started + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for (i, (socket, mut lag, mut latency)) in sockets_open.into_iter().enumerate() {
        let (mut sink, mut stream) = socket.split();
        // Offsets spread the sockets' schedules over one period.
        let first = started + per_socket.mul_f64(i as f64 / sockets as f64);
        let due: Arc<Mutex<VecDeque<Instant>>> = Arc::default();
        let done = Arc::new(AtomicBool::new(false));
        let sender = {
            let due = Arc::clone(&due);
            let done = Arc::clone(&done);
            tokio::spawn(async move {
                let mut next = first;
                let mut n = 0u64;
                while next < stop_sending {
                    tokio::time::sleep_until(next.into()).await;
                    let _ = lag.record(next.elapsed().as_micros().max(1) as u64);
                    due.lock().await.push_back(next);
                    let text = ["1", "2", "3", "hello"][(n % 4) as usize];
                    if sink
                        .send(Frame::text(json!({"message": text}).to_string()))
                        .await
                        .is_err()
                    {
                        break;
                    }
                    n += 1;
                    next += per_socket;
                }
                done.store(true, Ordering::Release);
                (sink, lag)
            })
        };
        tasks.push(tokio::spawn(async move {
            let mut waiting: Option<Instant> = None;
            let grace = Duration::from_secs(10);
            let mut replies_seen = false;
            loop {
                let frame = tokio::time::timeout(Duration::from_millis(500), stream.next()).await;
                match frame {
                    Ok(Some(Ok(Frame::Text(text)))) => {
                        let Ok(value) = serde_json::from_str::<Value>(&text) else {
                            continue;
                        };
                        match value["message_type"].as_str() {
                            Some("RECEIVED") => {
                                waiting = due.lock().await.pop_front();
                                replies_seen = true;
                            }
                            Some("SENT") if replies_seen => {
                                if let Some(at) = waiting.take() {
                                    let _ = latency.record(at.elapsed().as_micros().max(1) as u64);
                                }
                            }
                            _ => {}
                        }
                    }
                    Ok(Some(Ok(_))) => {}
                    Ok(_) => break,
                    Err(_) => {
                        let drained = done.load(Ordering::Acquire)
                            && due.lock().await.is_empty()
                            && waiting.is_none();
                        if drained || Instant::now() > stop_sending + grace {
                            break;
                        }
                    }
                }
            }
            let unanswered = due.lock().await.len() as u64 + u64::from(waiting.is_some());
            let mut lag = None;
            if let Ok((sink, sent)) = sender.await {
                lag = Some(sent);
                let mut socket = sink.reunite(stream).ok();
                if let Some(s) = socket.as_mut() {
                    let _ = s.close(None).await;
                }
            }
            (latency, unanswered, lag)
        }));
    }
    let mut latency = histogram();
    let mut lag = histogram();
    let mut errors = 0;
    for task in tasks {
        let (h, e, l) = task.await.expect("socket task");
        latency.add(h).expect("same bounds");
        if let Some(l) = l {
            lag.add(l).expect("same bounds");
        }
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu: f64 = servers.iter().map(Server::cpu_seconds).sum::<f64>() - cpu_before;
    let figures = Figures {
        // Answered turns over the sending window (the drain after it only
        // waits for the last replies).
        rate: latency.len() as f64 / seconds.max(1) as f64,
        latency,
        cpu: cpu / elapsed,
        errors,
    };
    (figures, lag)
}

/// The soft limit of open files of this process.
fn open_file_limit() -> usize {
    std::fs::read_to_string("/proc/self/limits")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|n| n.parse().ok())
        .unwrap_or(1024)
}

fn database_for(options: &Options, dir: &Path) -> String {
    match &options.database {
        Some(url) => url.clone(),
        None => format!("sqlite://{}", dir.join("bench.db").display()),
    }
}

#[tokio::main]
async fn main() {
    let o = options();
    let dir = std::env::temp_dir().join(format!("chatcourse-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let database = database_for(&o, &dir);
    let key = create_key(&database);
    if o.pin && !which("taskset") {
        println!("note: --pin needs taskset (util-linux); running unpinned");
    } else if o.pin {
        // The load generator (every thread of this process) on core 1,
        // the servers on core 0.
        let _ = Command::new("taskset")
            .args(["-a", "-cp", "1", &std::process::id().to_string()])
            .stdout(Stdio::null())
            .status();
    }
    let servers: Vec<Server> = (0..o.servers)
        .map(|_| Server::start(&database, o.pin))
        .collect();
    let api = Arc::new(Api {
        client: reqwest::Client::builder()
            .pool_max_idle_per_host(4096)
            .build()
            .expect("client"),
        key,
    });
    let program = AtomicU64::new(1);
    let next_program = || program.fetch_add(1, Ordering::Relaxed) as i64;
    println!(
        "chatcourse load benchmark: {} server process(es) on {}, {} s per measurement, {} cores here",
        o.servers,
        if database.starts_with("sqlite") {
            "SQLite"
        } else {
            "PostgreSQL"
        },
        o.seconds,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let all = o.scenario == "all";

    if all || o.scenario == "http" {
        println!("\n# HTTP, closed loop: POST /api/v1/message, latency to the reply");
        for &n in &o.learners {
            let learners = api.enrol(&servers[0].base, n, next_program()).await;
            let ceiling = closed_loop(&servers, &api, &[], n, o.seconds).await;
            let turns = closed_loop(&servers, &api, &learners, n, o.seconds).await;
            println!(
                "{}",
                ceiling.line(&format!("ceiling: GET /healthz, {n} clients"))
            );
            println!("{}", turns.line(&format!("turns: {n} learners")));
            println!(
                "{:<44} {:>9.2}",
                "ratio turns / ceiling",
                turns.rate / ceiling.rate.max(1.0)
            );
        }
    }

    if all || o.scenario == "ws" {
        println!(
            "\n# WebSocket, open loop: {} sockets, latency from when a message was due to its first reply",
            o.sockets
        );
        let learners = api.enrol(&servers[0].base, o.sockets, next_program()).await;
        for &rate in &o.rates {
            let (figures, lag) = open_loop_ws(&servers, &api, &learners, rate, o.seconds).await;
            println!(
                "{}",
                figures.line(&format!(
                    "offered {rate} turns/s (unanswered: {})",
                    figures.errors
                ))
            );
            println!(
                "{:<44} p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>8.2} ms (how late the generator sent)",
                "  load generator's lateness",
                ms(lag.value_at_quantile(0.50)),
                ms(lag.value_at_quantile(0.99)),
                ms(lag.max()),
            );
        }
    }

    if all || o.scenario == "idle" {
        let limit = open_file_limit();
        let idle = o.idle.min(limit.saturating_sub(256));
        println!(
            "\n# {idle} mostly idle WebSockets beside 16 HTTP learners (open-file limit {limit}; raise it with `ulimit -n` for more)"
        );
        let busy = api.enrol(&servers[0].base, 16, next_program()).await;
        let before = closed_loop(&servers, &api, &busy, 16, o.seconds).await;
        let (rss_before, _) = servers[0].rss_mib();
        // Idle learners share a few sessions: what is measured is the
        // connections, not enrolment.
        let idle_learners = api.enrol(&servers[0].base, 64, next_program()).await;
        let mut sockets = Vec::with_capacity(idle);
        let opened = Instant::now();
        for i in 0..idle {
            let learner = &idle_learners[i % idle_learners.len()];
            sockets.push(open_socket(&api, &servers[i % servers.len()].base, learner).await);
        }
        let open_time = opened.elapsed();
        let (rss_open, _) = servers[0].rss_mib();
        let health = closed_loop(&servers, &api, &[], 1, 1).await;
        let beside = closed_loop(&servers, &api, &busy, 16, o.seconds).await;
        println!("{}", before.line("16 HTTP learners, no idle sockets"));
        println!(
            "{}",
            beside.line(&format!("16 HTTP learners beside {idle} sockets"))
        );
        println!("{}", health.line("GET /healthz beside them"));
        println!(
            "{:<44} {:>9.2}",
            "ratio turns beside / turns without",
            beside.rate / before.rate.max(1.0)
        );
        println!(
            "{:<44} {:>9.1} MiB ({:.1} KiB per socket; opened in {:.1} s)",
            "server RSS with the sockets open",
            rss_open,
            (rss_open - rss_before).max(0.0) * 1024.0 / idle.max(1) as f64,
            open_time.as_secs_f64()
        );
        drop(sockets);
        tokio::time::sleep(Duration::from_secs(2)).await;
        println!(
            "{:<44} {:>9.1} MiB",
            "server RSS 2 s after they closed",
            servers[0].rss_mib().0
        );
    }

    if all || o.scenario == "delivery" {
        delivery(&servers, &api, &o, &next_program).await;
    }

    for (i, server) in servers.iter().enumerate() {
        let (rss, peak) = server.rss_mib();
        println!(
            "\nserver {i}: RSS {rss:.1} MiB, peak {peak:.1} MiB, CPU {:.1} s in all",
            server.cpu_seconds()
        );
    }
    drop(servers);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A local receiver for the delivery scenario: answers 200 at once and
/// counts, or holds every request while its gate is closed.
struct Receiver {
    url: String,
    received: Arc<AtomicU64>,
    gate: tokio::sync::watch::Sender<bool>,
}

impl Receiver {
    async fn start() -> Receiver {
        let received = Arc::new(AtomicU64::new(0));
        let (gate, open) = tokio::sync::watch::channel(true);
        let counter = Arc::clone(&received);
        let app = axum::Router::new().route(
            "/hooks",
            axum::routing::post(move || {
                let counter = Arc::clone(&counter);
                let mut open = open.clone();
                async move {
                    let _ = open.wait_for(|open| *open).await;
                    counter.fetch_add(1, Ordering::Relaxed);
                    axum::http::StatusCode::OK
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the receiver");
        let url = format!("http://{}/hooks", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver {
            url,
            received,
            gate,
        }
    }

    fn count(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    /// Waits until no request was answered for half a second (the queue
    /// is drained), at most a minute.
    async fn settle(&self) {
        let started = Instant::now();
        let mut last = self.count();
        while started.elapsed() < Duration::from_secs(60) {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let now = self.count();
            if now == last {
                return;
            }
            last = now;
        }
    }

    /// Waits until `n` requests were answered, at most `limit`; the time.
    async fn wait_for(&self, n: u64, limit: Duration) -> Duration {
        let started = Instant::now();
        while self.count() < n && started.elapsed() < limit {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        started.elapsed()
    }
}

/// The outbox's cost per turn (16 workers, closed loop, each cycling
/// through its share of 1,024 learners, as in a programme where many
/// learners turn now and then; three times each
/// with the organisation's `webhook` channel disabled and enabled with its
/// receiver holding its requests, so the turns pay for writing the outbox
/// rows and nothing else: the target's measure, at most 15%, on the
/// medians; and with the receiver answering at once,
/// so the same two cores also dispatch every reply) and the dispatcher's
/// throughput (a backlog queued while the receiver holds its requests,
/// then released: the target is 2,000 messages/s per process).
async fn delivery(
    servers: &[Server],
    api: &Arc<Api>,
    o: &Options,
    next_program: &impl Fn() -> i64,
) {
    println!("\n# Delivery: the outbox's cost per turn, and dispatch to a local receiver");
    let base = &servers[0].base;
    let receiver = Receiver::start().await;
    let open_channel = || async {
        api.post(
            base,
            "/api/v1/fe/channels",
            &json!({"kind": "webhook", "name": "bench", "url": receiver.url, "rate_per_second": 10_000}),
        )
        .await["data"]["uuid"]
        .as_str()
        .expect("channel uuid")
        .to_owned()
    };
    let mut channel = Some(open_channel().await);
    let learners = api.enrol(base, 1024, next_program()).await;
    receiver.settle().await;
    let dispatching = closed_loop(servers, api, &learners, 16, o.seconds).await;
    receiver.settle().await;

    // The same learners with the organisation's channel disabled (no
    // outbox rows) and enabled with its sends held (the rows written and
    // nothing else), in the order W H H W W H: a drift of the machine or of
    // the growing database weighs on both sides alike.
    let _ = receiver.gate.send(false);
    let (mut without, mut held) = (Vec::new(), Vec::new());
    for channel_on in [false, true, true, false, false, true] {
        match (channel_on, channel.take()) {
            (true, None) => channel = Some(open_channel().await),
            (false, Some(uuid)) => {
                api.delete(base, &format!("/api/v1/fe/channels/{uuid}"))
                    .await
            }
            (_, unchanged) => channel = unchanged,
        }
        let figures = closed_loop(servers, api, &learners, 16, o.seconds).await;
        if channel_on {
            println!("{}", figures.line("turns: a webhook channel, sends held"));
            held.push(figures);
        } else {
            println!(
                "{}",
                figures.line("turns: 1,024 learners, channel disabled")
            );
            without.push(figures);
        }
    }
    if channel.is_none() {
        open_channel().await;
    }
    let _ = receiver.gate.send(true);
    receiver.settle().await;
    println!(
        "{}",
        dispatching.line("turns: a webhook channel, sends answered")
    );
    let median = |runs: &mut Vec<Figures>| {
        runs.sort_by(|a, b| a.rate.total_cmp(&b.rate));
        runs[runs.len() / 2].rate
    };
    let (without, held) = (median(&mut without), median(&mut held));
    let ratio = held / without.max(1.0);
    println!(
        "{:<44} {:>9.2} (medians {held:.0} / {without:.0}: writing the outbox rows costs {:.0}% of a turn; target at most 15%: {})",
        "ratio held / without",
        ratio,
        (1.0 - ratio) * 100.0,
        if ratio >= 0.85 { "meets" } else { "MISSES" }
    );
    let ratio = dispatching.rate / without.max(1.0);
    println!(
        "{:<44} {:>9.2} (writing and dispatching every reply on the same cores costs {:.0}%)",
        "ratio answered / without",
        ratio,
        (1.0 - ratio) * 100.0,
    );

    // The sends of the loops above are drained (settled): build a backlog.
    let _ = receiver.gate.send(false);
    let queued_from = receiver.count();
    let started = Instant::now();
    let backlog = api.enrol(base, o.backlog, next_program()).await.len() as u64;
    let enrol_time = started.elapsed();
    let _ = receiver.gate.send(true);
    let drained = receiver
        .wait_for(queued_from + backlog, Duration::from_secs(120))
        .await;
    let delivered = receiver.count().saturating_sub(queued_from);
    let rate = delivered as f64 / drained.as_secs_f64().max(1e-9);
    println!(
        "{:<44} {:>9.0}/s  ({delivered} of {backlog} enrolment messages queued in {:.1} s, drained in {:.2} s)",
        "dispatch: backlog to a local receiver",
        rate,
        enrol_time.as_secs_f64(),
        drained.as_secs_f64()
    );
    println!(
        "{:<44} {:>9.2} (target 2,000 messages/s per process: {})",
        "ratio dispatch / target",
        rate / 2000.0,
        if rate >= 2000.0 { "meets" } else { "MISSES" }
    );
}
