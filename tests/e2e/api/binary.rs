//! The `chatcourse` binary itself: `migrate`, `keys create/list/revoke` and
//! `serve` (start, refuse invalid modules, SIGTERM), on SQLite and
//! PostgreSQL.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::harness::{Backend, TestDatabase, both_backends, modules_dir, unique};

fn chatcourse() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_chatcourse"));
    // The tests' own environment must not leak into the binary's flags.
    for var in [
        "CHATCOURSE_DATABASE",
        "CHATCOURSE_MODULES",
        "CHATCOURSE_BIND",
        "CHATCOURSE_TIMEZONE",
        "CHATCOURSE_LOG_FORMAT",
        "CHATCOURSE_DEFAULT_COUNTRY",
        "CHATCOURSE_SECRET_KEY_FILE",
        "CHATCOURSE_MODULES_POLL",
        "CHATCOURSE_DELIVERY_LEASE",
        "CHATCOURSE_DELIVERY_TIMEOUT",
    ] {
        command.env_remove(var);
    }
    // A fixed sealing key: no key file is written beside the tests.
    command.env(
        "CHATCOURSE_SECRET_KEY",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    );
    command.env("RUST_LOG", "info");
    command
}

/// A temp folder, removed at the end.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let dir = std::env::temp_dir().join(format!("chatcourse-e2e-bin-{}", unique()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    fn database(&self) -> String {
        format!("sqlite://{}", self.0.join("chatcourse.db").display())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run(command: &mut Command) -> Output {
    command.output().expect("run chatcourse")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `keys create`; returns the key (the last line of stdout).
fn create_key(database: &str, org: &str) -> String {
    let output = run(chatcourse().args(["keys", "create", "--org", org, "--database", database]));
    assert!(output.status.success(), "{output:?}");
    let out = stdout(&output);
    let key = out.lines().last().expect("a last line").trim().to_owned();
    assert!(key.starts_with("cck_"), "{out}");
    key
}

/// A running `chatcourse serve` on a random port.
struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start(database: &str, modules: &Path) -> Server {
        Server::start_with(database, modules, &[])
    }

    /// `serve` with these flags besides the database, modules and address.
    fn start_with(database: &str, modules: &Path, flags: &[&str]) -> Server {
        let mut child = serve_command(database, modules)
            .args(flags)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn serve");
        let lines = stderr_lines(&mut child);
        let addr = std::iter::from_fn(|| lines.recv_timeout(Duration::from_secs(30)).ok())
            .find_map(|line| listening_addr(&line))
            .expect("server says where it listens");
        Server { child, addr }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// SIGTERM, then wait (at most 20 s) for the exit status.
    fn terminate(mut self) -> std::process::ExitStatus {
        // The shell's built-in kill: no signal crate needed.
        let status = Command::new("sh")
            .args(["-c", &format!("kill -TERM {}", self.child.id())])
            .status()
            .expect("kill");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "server did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The lines the child writes on its (piped) stderr, read by a thread
/// until the child closes it.
fn stderr_lines(child: &mut Child) -> std::sync::mpsc::Receiver<String> {
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            // Read on when nobody listens, so the child never blocks on a
            // full pipe.
            let _ = tx.send(line);
        }
    });
    rx
}

/// `serve` on a random port of 127.0.0.1.
fn serve_command(database: &str, modules: &Path) -> Command {
    let mut command = chatcourse();
    command
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--database",
            database,
            "--modules",
        ])
        .arg(modules);
    command
}

/// `serve` expected to refuse to start: its output.
fn serve_once(database: &str, modules: &Path) -> Output {
    run(&mut serve_command(database, modules))
}

/// The address in the "listening addr=127.0.0.1:PORT" log line.
fn listening_addr(line: &str) -> Option<String> {
    if !line.contains("listening") {
        return None;
    }
    let start = line.find("127.0.0.1:")?;
    let addr: String = line[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
        .collect();
    Some(addr)
}

both_backends!(
    migrate_applies_once,
    keys_and_serve,
    channels_add_list_remove,
    kill_9_mid_dispatch_loses_nothing,
    migrate_fills_in_old_phones,
);

/// `migrate` applies every migration on an empty database, then says it
/// is up to date; a server started afterwards finds nothing to do.
async fn migrate_applies_once(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let first = run(chatcourse().args(["migrate", "--database", &db.url]));
    assert!(first.status.success(), "{first:?}");
    let first = stdout(&first);
    let applied: Vec<&str> = first
        .lines()
        .filter(|l| l.starts_with("applied "))
        .collect();
    assert!(applied.len() >= 3, "{first}");
    assert!(applied[0].contains("init"), "{first}");

    let second = run(chatcourse().args(["migrate", "--database", &db.url]));
    assert!(second.status.success(), "{second:?}");
    assert!(
        stdout(&second).contains("database is up to date"),
        "{}",
        stdout(&second)
    );
    assert!(!stdout(&second).contains("applied"), "{}", stdout(&second));
}

async fn keys_and_serve(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let database = db.url.clone();
    let key = create_key(&database, "acme");
    let second = create_key(&database, "acme");
    assert_ne!(key, second);

    // The key is not stored anywhere in clear.
    if let Some(file) = &db.file {
        let raw = std::fs::read(file).expect("database file");
        let needle = key.as_bytes();
        assert!(
            !raw.windows(needle.len()).any(|w| w == needle),
            "the key is stored in clear"
        );
    }

    let listed = run(chatcourse().args(["keys", "list", "--org", "acme", "--database", &database]));
    assert!(listed.status.success(), "{listed:?}");
    let listed = stdout(&listed);
    assert_eq!(listed.lines().count(), 2, "{listed}");
    assert!(!listed.contains(&key), "keys list shows a key: {listed}");
    let first_id = listed
        .lines()
        .find(|l| l.contains(&key[..12]))
        .and_then(|l| l.split('\t').next())
        .expect("the first key's row")
        .to_owned();

    // A mistyped organisation is an error and creates nothing.
    for _ in 0..2 {
        let unknown =
            run(chatcourse().args(["keys", "list", "--org", "acme2", "--database", &database]));
        assert_eq!(unknown.status.code(), Some(1), "{unknown:?}");
        let stderr = String::from_utf8_lossy(&unknown.stderr);
        assert!(
            stderr.contains(
                "no organisation named \"acme2\"; organisations are created by `keys create`"
            ),
            "{stderr}"
        );
        assert!(unknown.stdout.is_empty(), "{unknown:?}");
    }
    let wrong_org = run(chatcourse().args([
        "keys",
        "revoke",
        "--org",
        "acme2",
        "--id",
        &first_id,
        "--database",
        &database,
    ]));
    assert_eq!(wrong_org.status.code(), Some(1), "{wrong_org:?}");
    assert!(
        String::from_utf8_lossy(&wrong_org.stderr).contains("no organisation named \"acme2\""),
        "{wrong_org:?}"
    );

    let server = Server::start(&database, &modules_dir());
    let client = reqwest::Client::new();
    let modules = |key: String| {
        let client = client.clone();
        let url = server.url("/api/v1/fe/modules");
        async move {
            client
                .get(url)
                .header("Authentication", key)
                .send()
                .await
                .expect("request")
                .status()
                .as_u16()
        }
    };
    assert_eq!(modules(key.clone()).await, 200);
    assert_eq!(modules(second.clone()).await, 200);
    assert_eq!(modules("cck_nope".to_owned()).await, 401);

    // An analyst key reads but may not register a customer.
    let created = run(chatcourse().args([
        "keys",
        "create",
        "--org",
        "acme",
        "--role",
        "analyst",
        "--database",
        &database,
    ]));
    assert!(created.status.success(), "{created:?}");
    assert!(stdout(&created).contains("role: analyst"), "{created:?}");
    let analyst = stdout(&created).lines().last().unwrap().trim().to_owned();
    assert_eq!(modules(analyst.clone()).await, 200);
    let register = client
        .post(server.url("/api/v1/customer/mfi/register"))
        .header("Authentication", &analyst)
        .json(&serde_json::json!({"full_name": "A", "national_id": "1", "phone": "254700000001", "location": "X", "gender": "Female"}))
        .send()
        .await
        .expect("request");
    assert_eq!(register.status().as_u16(), 403);
    let listed = run(chatcourse().args(["keys", "list", "--org", "acme", "--database", &database]));
    assert!(
        stdout(&listed).lines().any(|l| l.contains("\tanalyst\t")),
        "{listed:?}"
    );
    let bad = run(chatcourse().args([
        "keys",
        "create",
        "--org",
        "acme",
        "--role",
        "owner",
        "--database",
        &database,
    ]));
    assert!(!bad.status.success(), "{bad:?}");
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("expected admin, analyst or author"),
        "{bad:?}"
    );

    // Revoke the first key: refused from then on; the second still works.
    let revoked = run(chatcourse().args([
        "keys",
        "revoke",
        "--org",
        "acme",
        "--id",
        &first_id,
        "--database",
        &database,
    ]));
    assert!(revoked.status.success(), "{revoked:?}");
    assert_eq!(modules(key.clone()).await, 401);
    assert_eq!(modules(second.clone()).await, 200);
    let again = run(chatcourse().args([
        "keys",
        "revoke",
        "--org",
        "acme",
        "--id",
        &first_id,
        "--database",
        &database,
    ]));
    assert!(!again.status.success(), "revoking twice should fail");

    let status = server.terminate();
    assert!(
        status.success(),
        "serve exits cleanly on SIGTERM: {status:?}"
    );
}

/// A running `serve` refuses a module file broken after start, with its
/// diagnostics in the log, and keeps serving the version it had; a fixed
/// file that changes a question's answer is served with a warning.
#[test]
fn serve_logs_the_diagnostics_of_a_module_file_broken_while_running() {
    let dir = TempDir::new();
    let modules = dir.0.join("modules");
    std::fs::create_dir_all(&modules).expect("modules dir");
    let good = std::fs::read_to_string(modules_dir().join("test-module-updated.yaml"))
        .expect("read a good module");
    std::fs::write(modules.join("course.yaml"), &good).expect("write");
    let mut child = serve_command(&dir.database(), &modules)
        .args(["--modules-poll", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn serve");
    let rx = stderr_lines(&mut child);
    let mut log = String::new();
    let mut wait_for = |what: &str| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !log.contains(what) {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    log.push_str(&line);
                    log.push('\n');
                }
                Err(_) => panic!("no {what:?} in the log:\n{log}"),
            }
        }
    };
    wait_for("listening");
    std::fs::write(
        modules.join("course.yaml"),
        good.replacen("- id:", "- id: broken\n    nxt: nowhere\n  - id:", 1),
    )
    .expect("break the module");
    wait_for("module file refused");
    wait_for("`nxt`");
    wait_for("course.yaml");
    // Fixed, with a question whose right answer changed: served, with a
    // warning that its results will not compare.
    std::fs::write(
        modules.join("course.yaml"),
        good.replacen("    correct: 2", "    correct: 1", 1),
    )
    .expect("change an answer");
    wait_for("question `pre_q1` was right with");
    wait_for("module registered");
    let _ = child.kill();
    let _ = child.wait();
}

/// On start, `serve` prints on stdout the address of each of its pages,
/// and each answers there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_prints_the_addresses_of_its_pages() {
    let dir = TempDir::new();
    let mut child = serve_command(&dir.database(), &modules_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn serve");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    let first = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("serve prints where it serves");
    let base = first
        .strip_prefix("chatcourse is serving on ")
        .expect("the first line names the address")
        .to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "{first}");
    let mut lines = Vec::new();
    for _ in chatcourse_api::PAGES {
        lines.push(
            rx.recv_timeout(Duration::from_secs(5))
                .expect("a page line"),
        );
    }
    let client = reqwest::Client::new();
    for ((path, what), line) in chatcourse_api::PAGES.iter().zip(&lines) {
        let url = format!("{base}{path}");
        assert!(
            line.trim_start().starts_with(&url) && line.trim_end().ends_with(what),
            "{line}"
        );
        let url = url.replace("TOKEN", "not-a-token");
        let page = client.get(&url).send().await.expect("page");
        assert_eq!(page.status(), 200, "{url}");
        assert!(
            page.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html"),
            "{url}"
        );
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn serve_refuses_invalid_modules() {
    let dir = TempDir::new();
    let modules = dir.0.join("modules");
    std::fs::create_dir_all(&modules).expect("modules dir");
    std::fs::copy(
        modules_dir().join("test-module-updated.yaml"),
        modules.join("good.yaml"),
    )
    .expect("copy a good module");
    std::fs::write(
        modules.join("broken.yaml"),
        "module: broken\nname: Broken\ngoal: g\nversion: \"1\"\nlanguage: en\nsteps:\n  - id: a\n    say: hi\n    next: nowhere\n",
    )
    .expect("write a broken module");
    let output = serve_once(&dir.database(), &modules);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("broken.yaml"), "{stderr}");
    assert!(stderr.contains("nowhere"), "{stderr}");
    assert!(
        !dir.0.join("chatcourse.db").exists(),
        "no database is created"
    );
}

#[test]
fn serve_rejects_bad_flags() {
    let output = run(chatcourse().args(["serve", "--timezone", "Mars/Olympus"]));
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown time zone"));
}

/// `validate` and `serve` read the same files from a modules folder: its
/// sub-folders too, hidden entries (`.drafts/`) in neither.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_and_serve_read_the_same_module_files() {
    let dir = TempDir::new();
    let modules = dir.0.join("modules");
    let nested = modules.join("programme-49");
    let hidden = modules.join(".drafts");
    for folder in [&nested, &hidden] {
        std::fs::create_dir_all(folder).expect("modules folders");
    }
    std::fs::copy(
        modules_dir().join("test-module-updated.yaml"),
        modules.join("good.yaml"),
    )
    .expect("copy a good module");
    let broken = "module: broken\nname: Broken\ngoal: g\nversion: \"1\"\nlanguage: en\nsteps:\n  - id: a\n    say: hi\n    next: nowhere\n";
    std::fs::write(nested.join("broken.yaml"), broken).expect("write a broken module");
    std::fs::write(hidden.join("draft.yaml"), broken).expect("write a hidden draft");

    let validate = || run(chatcourse().arg("validate").arg(&modules));
    let checked = validate();
    assert_eq!(checked.status.code(), Some(1), "{checked:?}");
    assert!(
        stdout(&checked).contains("programme-49/broken.yaml"),
        "{checked:?}"
    );
    assert!(!stdout(&checked).contains("draft.yaml"), "{checked:?}");
    let served = serve_once(&dir.database(), &modules);
    assert_eq!(served.status.code(), Some(1), "{served:?}");
    let stderr = String::from_utf8_lossy(&served.stderr);
    assert!(stderr.contains("programme-49/broken.yaml"), "{stderr}");
    assert!(!stderr.contains("draft.yaml"), "{stderr}");

    // Fixed (another course in its place): both accept the same two files.
    std::fs::copy(
        modules_dir().join("budgeting.yaml"),
        nested.join("broken.yaml"),
    )
    .expect("copy a second good module");
    let checked = validate();
    assert!(checked.status.success(), "{checked:?}");
    assert!(
        stdout(&checked).contains("checked 2 modules: 0 errors"),
        "{checked:?}"
    );

    let key = create_key(&dir.database(), "acme");
    let server = Server::start(&dir.database(), &modules);
    let listed: serde_json::Value = reqwest::Client::new()
        .get(server.url("/api/v1/fe/modules"))
        .header("Authentication", key)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    let names: Vec<&str> = listed["data"]
        .as_array()
        .expect("a list of modules")
        .iter()
        .filter_map(|m| m["module_name"].as_str())
        .collect();
    assert_eq!(names.len(), 2, "{listed}");
    let status = server.terminate();
    assert!(status.success(), "{status:?}");
}

/// Start-up failures say what to do, and touch nothing: a port in use
/// fails before the database is opened; a missing modules folder names
/// `--modules`.
#[test]
fn serve_start_up_errors_say_what_to_do() {
    let dir = TempDir::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port");
    let addr = taken.local_addr().expect("addr").to_string();
    let output = run(chatcourse()
        .args([
            "serve",
            "--bind",
            &addr,
            "--database",
            &dir.database(),
            "--modules",
        ])
        .arg(modules_dir()));
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("cannot listen on {addr}")),
        "{stderr}"
    );
    assert!(stderr.contains("--bind"), "{stderr}");
    assert!(
        !dir.0.join("chatcourse.db").exists(),
        "nothing is migrated when the port is taken"
    );

    let output = serve_once(&dir.database(), &dir.0.join("no-such-folder"));
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no-such-folder"), "{stderr}");
    assert!(stderr.contains("--modules"), "{stderr}");
    assert!(!dir.0.join("chatcourse.db").exists());
}

/// `channels add` prints the secret once (last line); `list` shows the
/// channel without it; `remove` disables it, once; a server with the same
/// key serves it (the channels API lists it).
async fn channels_add_list_remove(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let key = create_key(&db.url, "acme");
    let added = run(chatcourse().args([
        "channels",
        "add",
        "--org",
        "acme",
        "--name",
        "gateway",
        "--url",
        "http://127.0.0.1:9/hooks",
        "--database",
        &db.url,
    ]));
    assert!(added.status.success(), "{added:?}");
    let out = stdout(&added);
    let secret = out.lines().last().expect("a last line").trim().to_owned();
    assert!(secret.starts_with("whsec_"), "{out}");
    let uuid = out
        .split_whitespace()
        .nth(1)
        .expect("the channel's uuid")
        .to_owned();
    let list = || {
        stdout(&run(chatcourse().args([
            "channels",
            "list",
            "--org",
            "acme",
            "--database",
            &db.url,
        ])))
    };
    let listed = list();
    assert!(
        listed.contains(&uuid) && listed.contains("enabled"),
        "{listed}"
    );
    assert!(!listed.contains("whsec_"), "{listed}");
    let bad = run(chatcourse().args([
        "channels",
        "add",
        "--org",
        "acme",
        "--name",
        "x",
        "--url",
        "ftp://x",
        "--database",
        &db.url,
    ]));
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("url: must be an http:// or https:// URL")
    );
    // A provider: its settings and credential; Africa's Talking's path
    // token is printed once, last.
    let at = run(chatcourse().args([
        "channels",
        "add",
        "--org",
        "acme",
        "--name",
        "AT",
        "--kind",
        "africastalking",
        "--setting",
        "username=sandbox",
        "--credential",
        "atsk_secret_key",
        "--database",
        &db.url,
    ]));
    assert!(at.status.success(), "{at:?}");
    let at_out = stdout(&at);
    let token = at_out.lines().last().unwrap().trim();
    assert_eq!(token.len(), 48, "{at_out}");
    assert!(at_out.contains(&format!("/{token}/inbound")), "{at_out}");
    let missing = run(chatcourse().args([
        "channels",
        "add",
        "--org",
        "acme",
        "--name",
        "T",
        "--kind",
        "twilio",
        "--database",
        &db.url,
    ]));
    assert!(!missing.status.success());
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr.contains("settings.account_sid: required")
            && stderr.contains("credential: required"),
        "{stderr}"
    );
    let listed = list();
    assert!(
        listed.contains("africastalking") && !listed.contains("atsk_secret_key"),
        "{listed}"
    );
    let server = Server::start(&db.url, &modules_dir());
    let response = reqwest::Client::new()
        .get(server.url("/api/v1/fe/channels"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("request");
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["data"][0]["uuid"], uuid.as_str(), "{body}");
    drop(server);
    let remove = || {
        run(chatcourse().args([
            "channels",
            "remove",
            "--org",
            "acme",
            "--uuid",
            &uuid,
            "--database",
            &db.url,
        ]))
    };
    let removed = remove();
    assert!(removed.status.success(), "{removed:?}");
    let again = remove();
    assert!(!again.status.success());
}

/// A JSON request with the key; the status and body.
async fn call(
    client: &reqwest::Client,
    key: &str,
    method: reqwest::Method,
    url: String,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut request = client.request(method, url).bearer_auth(key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON body"))
}

/// `kill -9` of `serve` while it is sending: nothing is lost. The rows it
/// had claimed are sent again by the next process once their lease
/// (`--delivery-lease`) runs out; the receiver sees every message at least
/// once, each learner's in order, all signed.
async fn kill_9_mid_dispatch_loses_nothing(backend: Backend) {
    use chatcourse_channels::fakes::{FakeReceiver, Reply};
    use chatcourse_channels::signing::WebhookSecret;
    use reqwest::Method;
    use serde_json::json;

    let db = TestDatabase::new(backend).await;
    let key = create_key(&db.url, "acme");
    let flags = ["--delivery-lease", "3", "--delivery-timeout", "2"];
    let modules = modules_dir();
    let server = Server::start_with(&db.url, &modules, &flags);
    let client = reqwest::Client::new();

    // The receiver listens once the channel, and so its secret, exists.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let (status, body) = call(
        &client,
        &key,
        Method::POST,
        server.url("/api/v1/fe/channels"),
        Some(json!({"kind": "webhook", "name": "gateway", "url": format!("http://{addr}/hooks")})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let secret = WebhookSecret::parse(body["data"]["secret"].as_str().expect("secret")).unwrap();
    let receiver = FakeReceiver::start_on(secret, addr, true)
        .await
        .expect("receiver");
    // The first sends hang past the sender's timeout: the process is
    // killed while they are in flight.
    receiver.script(std::iter::repeat_n(Reply::Slow(Duration::from_secs(4)), 4));

    let (_, modules_list) = call(
        &client,
        &key,
        Method::GET,
        server.url("/api/v1/fe/modules"),
        None,
    )
    .await;
    let module = modules_list["data"]
        .as_array()
        .expect("modules")
        .iter()
        .find(|m| m["module_name"] == "Test Module Updated")
        .expect("the example module")["module_uuid"]
        .as_str()
        .expect("uuid")
        .to_owned();
    let mut learners = Vec::new();
    for n in 0..3 {
        let (status, body) = call(
            &client,
            &key,
            Method::POST,
            server.url("/api/v1/customer/mfi/register"),
            Some(json!({
                "full_name": format!("Learner {n}"),
                "national_id": "12345678",
                "phone": format!("25472200000{n}"),
                "location": "Nairobi",
                "gender": "Female",
            })),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let customer = body["data"]["uuid"].as_str().expect("uuid").to_owned();
        let (status, body) = call(
            &client,
            &key,
            Method::POST,
            server.url("/api/v1/fe/program/customer/add"),
            Some(json!({"program_identifier": 49, "customer_uuid": customer, "module": module})),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let session = body["data"]["session_uuid"]
            .as_str()
            .expect("session")
            .to_owned();
        learners.push((customer, session));
    }
    // The dispatcher has claimed the three enrolment messages and is
    // waiting on the slow receiver: kill it now.
    let deadline = Instant::now() + Duration::from_secs(20);
    while receiver.started() < 3 {
        assert!(Instant::now() < deadline, "the sends never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(receiver.deliveries().is_empty(), "none answered yet");
    let mut server = server;
    server.child.kill().expect("kill -9");
    server.child.wait().expect("reaped");
    drop(server);

    let server = Server::start_with(&db.url, &modules, &flags);
    for (customer, session) in &learners {
        let (status, body) = call(
            &client,
            &key,
            Method::POST,
            server.url("/api/v1/message"),
            Some(json!({"customer_uuid": customer, "session_uuid": session, "message": "1"})),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    let mut expected = 0;
    let mut sent_by_session = std::collections::HashMap::new();
    for (customer, session) in &learners {
        let (status, body) = call(
            &client,
            &key,
            Method::GET,
            server.url(&format!(
                "/api/v1/message/all?customerUuid={customer}&sessionUuid={session}"
            )),
            None,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let sent: Vec<String> = body["data"]
            .as_array()
            .expect("transcript")
            .iter()
            .filter(|m| m["message_type"] == "SENT")
            .map(|m| m["message"].as_str().expect("text").to_owned())
            .collect();
        assert!(sent.len() >= 2, "{body}");
        expected += sent.len();
        sent_by_session.insert(session.clone(), sent);
    }
    // Every message arrives; duplicates (a send the killed process never
    // saw answered) are allowed, so wait for the distinct keys.
    let deadline = Instant::now() + Duration::from_secs(60);
    let firsts = loop {
        let mut seen = std::collections::HashSet::new();
        let firsts: Vec<_> = receiver
            .accepted()
            .into_iter()
            .filter(|d| seen.insert(d.id.clone()))
            .collect();
        if firsts.len() >= expected || Instant::now() > deadline {
            break firsts;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(firsts.len(), expected, "every message arrived");
    assert!(receiver.deliveries().iter().all(|d| d.signature_valid));
    for (session, sent) in &sent_by_session {
        let got: Vec<String> = firsts
            .iter()
            .filter(|d| d.body["session_uuid"] == session.as_str())
            .map(|d| {
                d.body["message"]["message"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned()
            })
            .collect();
        assert_eq!(&got, sent, "each learner's messages once each, in order");
    }
    drop(server);
}

/// Customers registered before phones were normalised (no E.164 phone):
/// `migrate` fills theirs in with `--default-country`, and reports, without
/// merging, one whose phone another customer has and one that is no phone.
async fn migrate_fills_in_old_phones(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let first = run(chatcourse().args(["migrate", "--database", &db.url]));
    assert!(first.status.success(), "{first:?}");
    let store = chatcourse_storage::connect(&db.url).await.expect("store");
    let org = store
        .create_org_if_missing("acme", chrono::Utc::now())
        .await
        .expect("org")
        .id;
    let register = async |name: &str, phone: &str| {
        store
            .register_customer(
                org,
                &chatcourse_storage::NewCustomer {
                    full_name: name.to_owned(),
                    national_id: "1".to_owned(),
                    phone: phone.to_owned(),
                    phone_e164: None,
                    location: String::new(),
                    gender: String::new(),
                    email: None,
                    date_of_birth: None,
                    registered_at: chrono::Utc::now(),
                },
            )
            .await
            .expect("an old customer")
    };
    let first_customer = register("First", "0712 000 111").await;
    let same_phone = register("Second", "254712000111").await;
    let no_phone = register("Third", "12345").await;

    let out = run(chatcourse().args(["migrate", "--database", &db.url, "--default-country", "KE"]));
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    assert!(text.contains("phones: 1 customer(s)"), "{text}");
    assert!(text.contains("2 customer(s) left without"), "{text}");
    let duplicate = format!(
        "customer {}: phone \"254712000111\" is +254712000111, which customer {} has",
        same_phone.uuid, first_customer.uuid
    );
    assert!(text.contains(&duplicate), "{text}");
    assert!(
        text.contains(&format!("customer {}: phone \"12345\"", no_phone.uuid)),
        "{text}"
    );
    let found = store
        .customer_by_phone(org, "+254712000111")
        .await
        .expect("read")
        .expect("found by phone");
    assert_eq!(found.uuid, first_customer.uuid);
    // Run again: nothing more to fill, the same two reported.
    let again = stdout(&run(chatcourse().args(["migrate", "--database", &db.url])));
    assert!(!again.contains("now have"), "{again}");
    assert!(again.contains("2 customer(s) left without"), "{again}");
}
