//! Committed turns per second: through the Store API versus two raw
//! ceilings (the same rows written with plain sqlx and no engine: one
//! transaction per turn; and, on SQLite, one transaction per batch of one
//! turn per session, sent as one query), with 1, 16 and 128 sessions
//! receiving turns concurrently.
//!
//! `cargo bench -p chatcourse-storage --bench turns` runs SQLite (a temp
//! file, WAL, synchronous=FULL); with `TEST_DATABASE_URL` set, PostgreSQL too
//! (in a schema of its own, dropped afterwards), with and without NOTIFY. `BENCH_SECONDS` sets each measurement's
//! length (default 2).
//!
//! Then, on each backend, the outbox's cost per turn: 16 sessions whose
//! learners have phones and a channel (each reply queued in the outbox),
//! once with nothing sent and once with a stand-in dispatcher sending
//! beside the turns, against 16 whose learners have none, alternating,
//! medians of three (the delivery issue's target: at most 15%).
//!
//! `BENCH_ONLY=turns|outbox|claims` runs one of the three parts.
//!
//! And what a claim of the outbox costs when learners'
//! heads wait for a retry (a receiver that is down) with a backlog queued
//! behind them (`BENCH_BACKLOG` rows, default 50,000), against the same
//! claim before the backlog was queued.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chatcourse_storage::*;
use chrono::{DateTime, Utc};

const CONCURRENCY: [usize; 3] = [1, 16, 128];

/// The counter engine of the tests: trivial, so the store is what is measured.
fn counter(session: &Session, at: DateTime<Utc>) -> Result<TurnPlan, TurnRejected> {
    let n: u64 = session
        .state
        .parse()
        .map_err(|_| TurnRejected::new("bad state"))?;
    Ok(TurnPlan {
        state: (n + 1).to_string(),
        state_format: 1,
        status: SessionStatus::InProgress,
        replies: vec![format!("reply {}", n + 1)],
        answers: vec![],
        progress: QuizProgress::default(),
        wake_at: None,
        last_activity: Some(at),
        position: None,
    })
}

/// The raw ceiling: what one turn writes, with plain sqlx.
#[derive(Clone)]
enum Raw {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Raw {
    async fn turn(&self, session: &Session, n: i64) -> Result<(), sqlx::Error> {
        let now = Utc::now();
        match self {
            Raw::Sqlite(pool) => {
                let micros = now.timestamp_micros();
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                for (direction, text) in [("RECEIVED", "hello"), ("SENT", "reply")] {
                    sqlx::query(
                        "INSERT INTO messages (session_id, customer_id, direction, text, created_at, turn) \
                         VALUES (?, ?, ?, ?, ?, ?)",
                    )
                    .bind(session.id.0)
                    .bind(session.customer.0)
                    .bind(direction)
                    .bind(text)
                    .bind(micros)
                    .bind(n)
                    .execute(&mut *tx)
                    .await?;
                }
                sqlx::query(
                    "UPDATE sessions SET state = ?, turns = ?, last_activity = ? WHERE id = ?",
                )
                .bind(n.to_string())
                .bind(n)
                .bind(micros)
                .bind(session.id.0)
                .execute(&mut *tx)
                .await?;
                tx.commit().await
            }
            Raw::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                for (direction, text) in [("RECEIVED", "hello"), ("SENT", "reply")] {
                    sqlx::query(
                        "INSERT INTO messages (session_id, customer_id, direction, text, created_at, turn) \
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(session.id.0)
                    .bind(session.customer.0)
                    .bind(direction)
                    .bind(text)
                    .bind(now)
                    .bind(n)
                    .execute(&mut *tx)
                    .await?;
                }
                sqlx::query(
                    "UPDATE sessions SET state = $1, turns = $2, last_activity = $3 WHERE id = $4",
                )
                .bind(n.to_string())
                .bind(n)
                .bind(now)
                .bind(session.id.0)
                .execute(&mut *tx)
                .await?;
                tx.commit().await
            }
        }
    }
}

impl Raw {
    /// The batched ceiling (SQLite): one turn of every session in one
    /// transaction, as the store's group commit batches them, and all of a
    /// batch's rows sent to SQLite as one multi-statement query (the fewest
    /// hand-offs to sqlx's worker thread there can be); turns/s.
    /// `None` on PostgreSQL, where the store commits each turn on its own.
    async fn batched(&self, sessions: &[Session], length: Duration) -> Option<f64> {
        use sqlx::Arguments;
        let Raw::Sqlite(pool) = self else {
            return None;
        };
        let turn = "INSERT INTO messages (session_id, customer_id, direction, text, created_at, turn) \
                    VALUES (?, ?, 'RECEIVED', 'hello', ?, ?); \
                    INSERT INTO messages (session_id, customer_id, direction, text, created_at, turn) \
                    VALUES (?, ?, 'SENT', 'reply', ?, ?); \
                    UPDATE sessions SET state = ?, turns = ?, last_activity = ? WHERE id = ?;";
        let sql = turn.repeat(sessions.len());
        let start = Instant::now();
        let mut done = 0u64;
        let mut n = 2_000_000i64;
        while start.elapsed() < length {
            n += 1;
            let micros = Utc::now().timestamp_micros();
            let mut args = sqlx::sqlite::SqliteArguments::default();
            for session in sessions {
                for _ in 0..2 {
                    args.add(session.id.0).unwrap();
                    args.add(session.customer.0).unwrap();
                    args.add(micros).unwrap();
                    args.add(n).unwrap();
                }
                args.add(n.to_string()).unwrap();
                args.add(n).unwrap();
                args.add(micros).unwrap();
                args.add(session.id.0).unwrap();
            }
            let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.unwrap();
            sqlx::query_with(sqlx::AssertSqlSafe(sql.clone()), args)
                .execute(&mut *tx)
                .await
                .unwrap();
            tx.commit().await.unwrap();
            done += sessions.len() as u64;
        }
        Some(done as f64 / start.elapsed().as_secs_f64())
    }
}

async fn sessions(store: &Arc<dyn Store>, org: OrgId, count: usize, tag: &str) -> Vec<Session> {
    learners(store, org, count, tag, false).await
}

/// `count` customers (with phones if `phones`), each enrolled once.
async fn learners(
    store: &Arc<dyn Store>,
    org: OrgId,
    count: usize,
    tag: &str,
    phones: bool,
) -> Vec<Session> {
    let programme = store.ensure_programme(org, 1, Utc::now()).await.unwrap();
    let module = store
        .register_module_version(&NewModuleVersion {
            module_id: "bench".to_owned(),
            module_uuid: uuid::Uuid::new_v4(),
            name: "Bench".to_owned(),
            goal: String::new(),
            content_hash: "h".to_owned(),
            source: String::new(),
            languages: vec!["en".to_owned()],
            pre_quiz_total: 0,
            post_quiz_total: 0,
            registered_at: Utc::now(),
            org: None,
        })
        .await
        .unwrap();
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let customer = store
            .register_customer(
                org,
                &NewCustomer {
                    full_name: format!("{tag} {i}"),
                    national_id: String::new(),
                    phone: String::new(),
                    phone_e164: phones.then(|| format!("+2547{i:08}")),
                    location: String::new(),
                    gender: String::new(),
                    email: None,
                    date_of_birth: None,
                    registered_at: Utc::now(),
                },
            )
            .await
            .unwrap();
        let created = store
            .create_session(
                org,
                &NewSession {
                    customer: customer.id,
                    programme: programme.id,
                    module_version: module.id,
                    status: SessionStatus::Pending,
                    state: "0".to_owned(),
                    state_format: 1,
                    messages: vec!["Welcome".to_owned()],
                    wake_at: None,
                    at: Utc::now(),
                    position: None,
                },
            )
            .await
            .unwrap();
        out.push(created.session);
    }
    out
}

/// Runs `turn` in one task per session until `length` is over; turns/s.
async fn measure<F, Fut>(sessions: &[Session], length: Duration, turn: F) -> f64
where
    F: Fn(Session, i64) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + length;
    let tasks: Vec<_> = sessions
        .iter()
        .cloned()
        .map(|session| {
            let (done, turn) = (done.clone(), turn.clone());
            tokio::spawn(async move {
                let mut n = 1_000_000;
                while Instant::now() < deadline {
                    n += 1;
                    turn(session.clone(), n).await;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

/// Turns/s through the store, one task per session.
async fn turns(store: &Arc<dyn Store>, sessions: &[Session], length: Duration) -> f64 {
    let store = store.clone();
    measure(sessions, length, move |session, _| {
        let store = store.clone();
        async move {
            store
                .apply_turn(session.id, Inbound::message("hello", None), &mut counter)
                .await
                .unwrap();
        }
    })
    .await
}

async fn bench(name: &str, store: Arc<dyn Store>, raw: Raw, length: Duration) {
    let org = store
        .create_org_if_missing("bench", Utc::now())
        .await
        .unwrap()
        .id;
    println!("{name}:");
    println!("  sessions  store turns/s  raw turns/s  ratio  raw batched turns/s  ratio");
    for concurrency in CONCURRENCY {
        let api_sessions = sessions(&store, org, concurrency, &format!("api{concurrency}")).await;
        let raw_sessions = sessions(&store, org, concurrency, &format!("raw{concurrency}")).await;
        let api = turns(&store, &api_sessions, length).await;
        let ceiling = {
            let raw = raw.clone();
            measure(&raw_sessions, length, move |session, n| {
                let raw = raw.clone();
                async move { raw.turn(&session, n).await.unwrap() }
            })
            .await
        };
        // Fresh sessions, so the batched ceiling writes rows like the others.
        let batch_sessions =
            sessions(&store, org, concurrency, &format!("batch{concurrency}")).await;
        let batched = raw.batched(&batch_sessions, length).await;
        let (batched, batched_ratio) = match batched {
            Some(b) => (format!("{b:.0}"), format!("{:.2}", api / b)),
            None => ("-".to_owned(), "-".to_owned()),
        };
        println!(
            "  {concurrency:>8}  {api:>13.0}  {ceiling:>11.0}  {:>5.2}  {batched:>19}  {batched_ratio:>5}",
            api / ceiling,
        );
    }
}

/// An organisation `name` with a webhook channel whose receiver never
/// answers (nothing in these benchmarks is sent).
async fn org_with_webhook(store: &Arc<dyn Store>, name: &str) -> OrgId {
    let org = store
        .create_org_if_missing(name, Utc::now())
        .await
        .unwrap()
        .id;
    store
        .create_channel(&NewChannel {
            uuid: uuid::Uuid::new_v4(),
            org,
            kind: "webhook".to_owned(),
            name: name.to_owned(),
            settings: r#"{"url":"http://127.0.0.1:9/"}"#.to_owned(),
            secrets: String::new(),
            default_country: "KE".to_owned(),
            rate_per_second: 80,
            created_at: Utc::now(),
        })
        .await
        .unwrap();
    org
}

/// The outbox's cost per turn, with many learners each turning now and
/// then (as in a programme), not a few turning all the time: 16 workers,
/// each cycling through its share of 1,024 sessions, whose learners have
/// no phone (W); whose replies are queued for a channel with nothing sent
/// (H: every queue grows, as behind a receiver that is down); and of
/// another organisation whose rows a stand-in dispatcher claims and
/// records as sent beside the turns (D: a receiver that answers at once,
/// each queue a row or two long; the dispatcher's store work counts
/// against the turns). Three runs each, in the order W H D D H W W D H, so
/// a drift weighs on every side alike; medians.
async fn outbox_cost(name: &str, store: Arc<dyn Store>, length: Duration) {
    const LEARNERS: usize = 1024;
    const WORKERS: usize = 16;
    let org = org_with_webhook(&store, "outbox-cost").await;
    let held = learners(&store, org, LEARNERS, "held", true).await;
    let phoneless = learners(&store, org, LEARNERS, "phoneless", false).await;
    let drained_org = org_with_webhook(&store, "outbox-drained").await;
    let drained = learners(&store, drained_org, LEARNERS, "drained", true).await;
    let drained_channel = store.list_channels(drained_org).await.unwrap()[0].id;
    // The enrolment messages: the held learners' heads stay claimed (an
    // hour's lease), the drained learners' are sent.
    while drain_once(&store, drained_channel).await.0 > 0 {}
    let (mut without, mut queued, mut sent) = (Vec::new(), Vec::new(), Vec::new());
    let mut most_queued = 0;
    for side in "WHDDHWWDH".chars() {
        match side {
            'W' => without.push(turns_among(&store, &phoneless, WORKERS, length).await),
            'H' => queued.push(turns_among(&store, &held, WORKERS, length).await),
            _ => {
                let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
                let dispatcher =
                    tokio::spawn(dispatch(store.clone(), drained_channel, stop.clone()));
                sent.push(turns_among(&store, &drained, WORKERS, length).await);
                stop.store(true, Ordering::Relaxed);
                dispatcher.await.unwrap();
                let depth = store.outbox_depth().await.unwrap();
                let left = depth.iter().find(|d| d.channel == drained_channel);
                most_queued = most_queued.max(left.map_or(0, |d| d.queued));
            }
        }
    }
    let median = |runs: &mut Vec<f64>| {
        runs.sort_by(f64::total_cmp);
        runs[runs.len() / 2]
    };
    let (without, queued, sent) = (median(&mut without), median(&mut queued), median(&mut sent));
    println!(
        "{name} outbox cost, {WORKERS} workers over {LEARNERS} sessions: {without:.0} turns/s without a phone;\n  \
         {queued:.0} queueing each reply, nothing sent: ratio {:.2}, the outbox rows cost {:.0}% of a turn (target at most 15%);\n  \
         {sent:.0} queueing each reply, a dispatcher sending beside them: ratio {:.2}, writing and sending cost {:.0}% \
         (at most {most_queued} rows left queued after a run)",
        queued / without,
        (1.0 - queued / without) * 100.0,
        sent / without,
        (1.0 - sent / without) * 100.0,
    );
}

/// Turns/s through the store: `workers` tasks, each cycling through its
/// share of `sessions`.
async fn turns_among(
    store: &Arc<dyn Store>,
    sessions: &[Session],
    workers: usize,
    length: Duration,
) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + length;
    let tasks: Vec<_> = (0..workers)
        .map(|w| {
            let mine: Vec<SessionId> = sessions
                .iter()
                .skip(w)
                .step_by(workers)
                .map(|s| s.id)
                .collect();
            let (store, done) = (store.clone(), done.clone());
            tokio::spawn(async move {
                for session in mine.iter().cycle() {
                    if Instant::now() >= deadline {
                        break;
                    }
                    store
                        .apply_turn(*session, Inbound::message("hello", None), &mut counter)
                        .await
                        .unwrap();
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

/// One round of a dispatcher whose receiver answers at once: claims the
/// due rows, records `channel`'s as sent and leaves the others claimed.
/// How many it claimed and how many it sent.
async fn drain_once(store: &Arc<dyn Store>, channel: ChannelId) -> (usize, usize) {
    let due = store
        .claim_outbox(Utc::now(), Duration::from_secs(3600), 200)
        .await
        .unwrap();
    let outcomes: Vec<_> = due
        .iter()
        .filter(|row| row.channel == channel)
        .map(|row| {
            let sent = OutboxOutcome::Sent {
                provider_message_id: None,
                segments: None,
            };
            (row.id, sent)
        })
        .collect();
    if !outcomes.is_empty() {
        store
            .finish_outbox_many(&outcomes, Utc::now())
            .await
            .unwrap();
    }
    (due.len(), outcomes.len())
}

/// Rounds of [`drain_once`] until `stop`, resting 5 ms when nothing was
/// due (the real dispatcher rests longer: its rounds follow a timer).
async fn dispatch(
    store: Arc<dyn Store>,
    channel: ChannelId,
    stop: Arc<std::sync::atomic::AtomicBool>,
) {
    while !stop.load(Ordering::Relaxed) {
        if drain_once(&store, channel).await.1 == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// A claim of the outbox while 16 learners' heads wait for a retry: its
/// time before and after `backlog` rows are queued behind those heads.
async fn claims(name: &str, store: Arc<dyn Store>, backlog: usize) {
    const LEARNERS: usize = 16;
    const PER_TURN: usize = 50;
    const CLAIMS: u32 = 100;
    let lease = Duration::from_secs(60);
    let org = org_with_webhook(&store, "claims").await;
    let sessions = learners(&store, org, LEARNERS, "claims", true).await;
    // The receiver is down: each enrolment message (each learner's head)
    // waits for a retry an hour from now.
    let heads = store.claim_outbox(Utc::now(), lease, 100).await.unwrap();
    assert_eq!(heads.len(), LEARNERS);
    for head in &heads {
        let retry = OutboxOutcome::Retry {
            at: Utc::now() + chrono::Duration::hours(1),
            error: "HTTP 503".to_owned(),
        };
        store
            .finish_outbox(head.id, &retry, Utc::now())
            .await
            .unwrap();
    }
    let time_claims = || {
        let store = store.clone();
        async move {
            // Up to CLAIMS claims, stopping after two seconds.
            let start = Instant::now();
            let mut claims = 0;
            while claims < CLAIMS && (claims == 0 || start.elapsed() < Duration::from_secs(2)) {
                let got = store.claim_outbox(Utc::now(), lease, 100).await.unwrap();
                assert!(got.is_empty(), "every head waits");
                claims += 1;
            }
            start.elapsed().as_secs_f64() * 1e3 / f64::from(claims)
        }
    };
    let before = time_claims().await;
    // The backlog: turns of 50 replies each, spread over the learners.
    let mut many = |session: &Session, at: DateTime<Utc>| {
        let mut plan = counter(session, at)?;
        plan.replies = vec!["more".to_owned(); PER_TURN];
        Ok(plan)
    };
    for turn in 0..backlog.div_ceil(PER_TURN) {
        let session = &sessions[turn % LEARNERS];
        store
            .apply_turn(session.id, Inbound::wake_up(), &mut many)
            .await
            .unwrap();
    }
    let after = time_claims().await;
    println!(
        "{name}: claim while {LEARNERS} learners' heads wait for a retry: {before:.2} ms; \
         with {backlog} rows queued behind them: {after:.2} ms ({:.2}x)",
        after / before
    );
}

fn main() {
    let seconds: f64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0);
    let length = Duration::from_secs_f64(seconds);
    let backlog: usize = std::env::var("BENCH_BACKLOG")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(50_000);
    let only = std::env::var("BENCH_ONLY").ok();
    let runs = |part: &str| only.as_deref().is_none_or(|only| only == part);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let path = std::env::temp_dir().join(format!("chatcourse-bench-{}.db", std::process::id()));
        let store =
            SqliteStore::connect(&StoreOptions::new(format!("sqlite://{}", path.display())))
                .await
                .unwrap();
        // The raw ceiling writes through one connection with the store's
        // settings (SQLite has one writer at a time anyway).
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(store.connect_options().clone())
            .await
            .unwrap();
        let raw = Raw::Sqlite(pool);
        let store: Arc<dyn Store> = Arc::new(store);
        if runs("turns") {
            bench("SQLite (file, WAL)", store.clone(), raw, length).await;
        }
        if runs("outbox") {
            outbox_cost("SQLite", store.clone(), length).await;
        }
        if runs("claims") {
            claims("SQLite", store, backlog).await;
        }
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }

        match std::env::var("TEST_DATABASE_URL") {
            Ok(url) if !url.is_empty() => {
                let schema = format!("chatcourse_bench_{}", std::process::id());
                let options = StoreOptions {
                    postgres_schema: Some(schema.clone()),
                    ..StoreOptions::new(url.clone())
                };
                if runs("turns") {
                    let store = PostgresStore::connect(&options).await.unwrap();
                    let raw = Raw::Postgres(store.pool().clone());
                    bench(
                        "PostgreSQL (NOTIFY batched after commit)",
                        Arc::new(store),
                        raw.clone(),
                        length,
                    )
                    .await;
                    // What announcing to other processes costs.
                    let quiet = StoreOptions {
                        postgres_notify: false,
                        ..options.clone()
                    };
                    let store = PostgresStore::connect(&quiet).await.unwrap();
                    bench(
                        "PostgreSQL (postgres_notify: false)",
                        Arc::new(store),
                        raw,
                        length,
                    )
                    .await;
                }
                if runs("outbox") {
                    let store = PostgresStore::connect(&options).await.unwrap();
                    outbox_cost("PostgreSQL", Arc::new(store), length).await;
                }
                if runs("claims") {
                    let store = PostgresStore::connect(&StoreOptions {
                        postgres_schema: Some(format!("{schema}_claims")),
                        ..StoreOptions::new(url.clone())
                    })
                    .await
                    .unwrap();
                    claims("PostgreSQL", Arc::new(store), backlog).await;
                }
                PostgresStore::drop_schema(&url, &schema).await.unwrap();
                PostgresStore::drop_schema(&url, &format!("{schema}_claims"))
                    .await
                    .unwrap();
            }
            _ => println!("PostgreSQL: skipped (set TEST_DATABASE_URL)"),
        }
    });
}
