//! The real server on 127.0.0.1 (random port), a fresh database per test
//! (a temp SQLite file, or a PostgreSQL schema when `TEST_DATABASE_URL` is
//! set), the repository's modules, and a real HTTP client.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use chatcourse_api::{App, Config};
use chatcourse_storage::{Clock, PostgresStore, Store, StoreOptions, SystemClock};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Which database a test runs on.
#[derive(Debug, Clone)]
pub enum Backend {
    Sqlite,
    Postgres(String),
}

impl Backend {
    /// PostgreSQL at `TEST_DATABASE_URL`. Only tests compiled with
    /// `cfg(postgres_tests)` call this (the build script sets it when the
    /// variable is set); the others are reported as ignored.
    pub fn postgres() -> Backend {
        match std::env::var("TEST_DATABASE_URL") {
            Ok(url) if !url.is_empty() => Backend::Postgres(url),
            _ => panic!(
                "built for PostgreSQL but TEST_DATABASE_URL is not set now: \
                 set it, or rebuild without it to skip the PostgreSQL tests"
            ),
        }
    }
}

/// Runs each named scenario `async fn name(backend: Backend)` as two tests:
/// `name::sqlite` and `name::postgres` (ignored, with the reason, when the
/// tests were built without `TEST_DATABASE_URL`).
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(crate::api::harness::Backend::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[cfg_attr(
                not(postgres_tests),
                ignore = "PostgreSQL: set TEST_DATABASE_URL to run"
            )]
            async fn postgres() {
                super::$name(crate::api::harness::Backend::postgres()).await;
            }
        }
    )*};
}
pub(crate) use both_backends;

static COUNTER: AtomicU32 = AtomicU32::new(0);

pub fn unique() -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{}_{n}_{nanos}", std::process::id())
}

/// The repository's modules folder.
pub fn modules_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../modules")
}

/// What to remove when the test ends (also when it panics).
enum Cleanup {
    File(PathBuf),
    Schema { url: String, schema: String },
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        match self {
            Cleanup::File(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut file = path.clone().into_os_string();
                    file.push(suffix);
                    let _ = std::fs::remove_file(file);
                }
            }
            Cleanup::Schema { url, schema } => {
                let (url, schema) = (url.clone(), schema.clone());
                // Drop may run inside the test's runtime: use a thread of our own.
                let _ = std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build();
                    if let Ok(runtime) = runtime {
                        let _ = runtime.block_on(PostgresStore::drop_schema(&url, &schema));
                    }
                })
                .join();
            }
        }
    }
}

/// A fresh, empty database for a `chatcourse` process: a temp SQLite file,
/// or a new PostgreSQL schema named in the URL (`options[search_path]=`),
/// removed at the end. Nothing is migrated yet.
pub struct TestDatabase {
    pub url: String,
    /// The SQLite file, to look into; `None` on PostgreSQL.
    pub file: Option<PathBuf>,
    _cleanup: Cleanup,
}

impl TestDatabase {
    pub async fn new(backend: Backend) -> TestDatabase {
        match backend {
            Backend::Sqlite => {
                let path = std::env::temp_dir().join(format!("chatcourse-bin-{}.db", unique()));
                TestDatabase {
                    url: format!("sqlite://{}", path.display()),
                    file: Some(path.clone()),
                    _cleanup: Cleanup::File(path),
                }
            }
            Backend::Postgres(base) => {
                let schema = format!("chatcourse_bin_{}", unique());
                let options = StoreOptions {
                    postgres_schema: Some(schema.clone()),
                    max_connections: 1,
                    migrate: false,
                    postgres_notify: false,
                    ..StoreOptions::new(base.clone())
                };
                // Creates the schema, nothing in it.
                drop(
                    chatcourse_storage::connect_with(options)
                        .await
                        .expect("create the test's PostgreSQL schema"),
                );
                let separator = if base.contains('?') { '&' } else { '?' };
                TestDatabase {
                    url: format!("{base}{separator}options[search_path]={schema}"),
                    file: None,
                    _cleanup: Cleanup::Schema { url: base, schema },
                }
            }
        }
    }
}

/// A running server and a client for it.
/// A fresh valid Kenyan phone number, in the national form without the
/// leading 0 (`254712345678`, `254712345679`, ...).
pub fn next_phone() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("2547{}", 12_345_678 + n)
}

/// A second server of a test's database ([`TestApp::second_server`]).
pub struct OtherServer {
    pub addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl OtherServer {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Stops it as on SIGTERM and waits for it.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.expect("join").expect("second server stops");
    }
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    /// A key of the organisation "org-a".
    pub key: String,
    pub store: Arc<dyn Store>,
    /// The database's URL for another process (the binary): on PostgreSQL
    /// with the test's schema as its search path.
    pub database_url: String,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
    // Declared last: dropped after the server has stopped.
    _cleanup: Cleanup,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        TestApp::spawn_with(backend, Config::default()).await
    }

    /// Starts the server with `config` (its database and bind address are
    /// replaced by the test's own).
    pub async fn spawn_with(backend: Backend, config: Config) -> TestApp {
        TestApp::spawn_with_clock(backend, config, Arc::new(SystemClock)).await
    }

    /// [`TestApp::spawn_with`], the store and the server reading the time
    /// from `clock` (a `ManualClock` moves time without sleeping).
    pub async fn spawn_with_clock(
        backend: Backend,
        mut config: Config,
        clock: Arc<dyn Clock>,
    ) -> TestApp {
        if config.modules_dir == Config::default().modules_dir {
            config.modules_dir = modules_dir();
        }
        let (store, cleanup, database_url) = match backend {
            Backend::Sqlite => {
                let path = std::env::temp_dir().join(format!("chatcourse-e2e-{}.db", unique()));
                let url = format!("sqlite://{}", path.display());
                config.database_url = url.clone();
                let options = StoreOptions {
                    clock,
                    ..StoreOptions::new(url)
                };
                let store = chatcourse_storage::connect_with(options)
                    .await
                    .expect("open SQLite store");
                (store, Cleanup::File(path), config.database_url.clone())
            }
            Backend::Postgres(url) => {
                let schema = format!("chatcourse_e2e_{}", unique());
                config.database_url = url.clone();
                let options = StoreOptions {
                    postgres_schema: Some(schema.clone()),
                    max_connections: 8,
                    clock,
                    ..StoreOptions::new(url.clone())
                };
                let store = chatcourse_storage::connect_with(options)
                    .await
                    .expect("open PostgreSQL store");
                let separator = if url.contains('?') { '&' } else { '?' };
                let outside = format!("{url}{separator}options[search_path]={schema}");
                (store, Cleanup::Schema { url, schema }, outside)
            }
        };
        let mut app = TestApp {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            client: reqwest::Client::new(),
            key: String::new(),
            store,
            database_url,
            shutdown: None,
            server: None,
            _cleanup: cleanup,
        };
        app.start(&config).await;
        app.key = app.new_key("org-a").await;
        app
    }

    /// Starts a server on the test's store, on a new random port.
    async fn start(&mut self, config: &Config) {
        self.start_on(config, SocketAddr::from(([127, 0, 0, 1], 0)))
            .await;
    }

    async fn start_on(&mut self, config: &Config, addr: SocketAddr) {
        let app = App::with_store(config, Arc::clone(&self.store))
            .await
            .expect("server starts");
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .expect("bind 127.0.0.1");
        self.addr = listener.local_addr().expect("local addr");
        let (tx, rx) = oneshot::channel::<()>();
        self.server = Some(tokio::spawn(app.serve(listener, async move {
            let _ = rx.await;
        })));
        self.shutdown = Some(tx);
    }

    /// PostgreSQL only: another connection pool to the test's schema, as
    /// another server process would have. `None` on SQLite.
    pub async fn second_store(&self) -> Option<Arc<dyn Store>> {
        let Cleanup::Schema { url, schema } = &self._cleanup else {
            return None;
        };
        let options = StoreOptions {
            postgres_schema: Some(schema.clone()),
            max_connections: 4,
            ..StoreOptions::new(url.clone())
        };
        Some(
            chatcourse_storage::connect_with(options)
                .await
                .expect("open a second PostgreSQL store"),
        )
    }

    /// PostgreSQL only: a second server on the test's schema with its own
    /// connection pool, as another `serve` process of the same database.
    pub async fn second_server(&self, config: &Config) -> OtherServer {
        let store = self.second_store().await.expect("PostgreSQL");
        let app = App::with_store(config, store)
            .await
            .expect("second server starts");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(app.serve(listener, async move {
            let _ = stopped.await;
        }));
        OtherServer { addr, stop, task }
    }

    /// The body of a GET to `url` (any server), as text.
    pub async fn get_text(&self, url: &str) -> String {
        let response = self.client.get(url).send().await.expect("request");
        response.text().await.expect("text")
    }

    /// Stops the server and starts a new one on the same database with
    /// `config` (as an operator restarting with changed modules).
    pub async fn restart(&mut self, config: &Config) {
        self.stop().await.expect("clean stop");
        self.start(config).await;
    }

    /// Stops the server and starts it again on the same address, as a
    /// redeployed server behind the same URL.
    pub async fn restart_same_address(&mut self, config: &Config) {
        let addr = self.addr;
        self.stop().await.expect("clean stop");
        self.start_on(config, addr).await;
    }

    /// A new API key of organisation `org` (created if needed).
    pub async fn new_key(&self, org: &str) -> String {
        self.new_key_with_role(org, chatcourse_storage::KeyRole::Admin)
            .await
    }

    /// A new API key of `role` of organisation `org` (created if needed).
    pub async fn new_key_with_role(&self, org: &str, role: chatcourse_storage::KeyRole) -> String {
        let now = chrono::Utc::now();
        let org = self
            .store
            .create_org_if_missing(org, now)
            .await
            .expect("create org");
        let key = chatcourse_api::keys::generate();
        self.store
            .add_api_key_with_role(
                org.id,
                &chatcourse_storage::hash_api_key(&key),
                "test",
                role,
                now,
            )
            .await
            .expect("add key");
        key
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{}", self.addr, path)
    }

    /// GET with the default key; returns the status and the JSON body.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.get_with(path, &self.key).await
    }

    pub async fn get_with(&self, path: &str, key: &str) -> (u16, Value) {
        let response = self
            .client
            .get(self.url(path))
            .bearer_auth(key)
            .send()
            .await
            .expect("request");
        read(response).await
    }

    /// POST a JSON body with the default key.
    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.post_with(path, body, &self.key).await
    }

    pub async fn post_with(&self, path: &str, body: &Value, key: &str) -> (u16, Value) {
        let response = self
            .client
            .post(self.url(path))
            .bearer_auth(key)
            .json(body)
            .send()
            .await
            .expect("request");
        read(response).await
    }

    /// POST raw bytes as `application/json` with the default key.
    pub async fn post_raw(&self, path: &str, body: Vec<u8>) -> (u16, Value) {
        let response = self
            .client
            .post(self.url(path))
            .bearer_auth(&self.key)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request");
        read(response).await
    }

    /// Registers a customer with a phone of its own (a phone is unique in
    /// its organisation); returns its `data`.
    pub async fn register_customer_with(&self, key: &str, name: &str) -> Value {
        self.register_customer_by_phone(key, name, &next_phone())
            .await
    }

    /// Registers a customer with this phone; returns its `data`.
    pub async fn register_customer_by_phone(&self, key: &str, name: &str, phone: &str) -> Value {
        let (status, body) = self
            .post_with(
                "/api/v1/customer/mfi/register",
                &json!({
                    "full_name": name,
                    "national_id": "12345678",
                    "phone": phone,
                    "location": "Nairobi",
                    "gender": "Female",
                }),
                key,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["data"].clone()
    }

    pub async fn register_customer(&self) -> String {
        self.register_customer_with(&self.key, "Jane Wanjiku").await["uuid"]
            .as_str()
            .expect("uuid")
            .to_owned()
    }

    /// The `module_uuid` of the module named `name` (Fetch Modules).
    pub async fn module_uuid(&self, name: &str) -> String {
        let (status, body) = self.get("/api/v1/fe/modules").await;
        assert_eq!(status, 200, "{body}");
        body["data"]
            .as_array()
            .expect("modules")
            .iter()
            .find(|m| m["module_name"] == name)
            .unwrap_or_else(|| panic!("no module named {name}: {body}"))["module_uuid"]
            .as_str()
            .expect("module_uuid")
            .to_owned()
    }

    /// Enrols; returns the session uuid.
    pub async fn enrol_with(
        &self,
        key: &str,
        customer: &str,
        module: &str,
        program: i64,
    ) -> String {
        let (status, body) = self
            .post_with(
                "/api/v1/fe/program/customer/add",
                &json!({"program_identifier": program, "customer_uuid": customer, "module": module}),
                key,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["message"], "Session created successfully");
        assert_eq!(body["data"]["customer_uuid"], customer);
        body["data"]["session_uuid"]
            .as_str()
            .expect("session_uuid")
            .to_owned()
    }

    pub async fn enrol(&self, customer: &str, module: &str, program: i64) -> String {
        self.enrol_with(&self.key, customer, module, program).await
    }

    /// A registered customer enrolled in "Test Module Updated" (programme
    /// 49): (customer uuid, session uuid).
    pub async fn enrolled(&self) -> (String, String) {
        let customer = self.register_customer().await;
        let module = self.module_uuid("Test Module Updated").await;
        let session = self.enrol(&customer, &module, 49).await;
        (customer, session)
    }

    /// The whole conversation (`data` of `/api/v1/message/all`).
    pub async fn transcript(&self, customer: &str, session: &str) -> Vec<Value> {
        let (status, body) = self
            .get(&format!(
                "/api/v1/message/all?customerUuid={customer}&sessionUuid={session}"
            ))
            .await;
        assert_eq!(status, 200, "{body}");
        body["data"].as_array().expect("array").clone()
    }

    /// Sends a learner message; returns `data` (received, replies...).
    pub async fn say(&self, customer: &str, session: &str, text: &str) -> Value {
        let (status, body) = self
            .post(
                "/api/v1/message",
                &json!({"customer_uuid": customer, "session_uuid": session, "message": text}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["data"].clone()
    }

    /// Stops the server (as on SIGTERM) and waits for it.
    pub async fn stop(&mut self) -> std::io::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.server.take() {
            Some(server) => server.await.expect("server task"),
            None => Ok(()),
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

async fn read(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("status {status}: body is not JSON ({e}): {text:?}"));
    (status, value)
}

/// Asserts `body` is the error envelope with `status` and `code`.
pub fn assert_error(status: u16, body: &Value, want_status: u16, code: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["status"], want_status, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(body["errors"].is_array(), "{body}");
    assert!(body.get("data").is_none(), "{body}");
}

/// True when `s` looks like `15/04/2020 16:52`.
pub fn is_display_time(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 16
        && b.iter().enumerate().all(|(i, c)| match i {
            2 | 5 => *c == b'/',
            10 => *c == b' ',
            13 => *c == b':',
            _ => c.is_ascii_digit(),
        })
}
