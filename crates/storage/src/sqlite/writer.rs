//! The SQLite writer: one connection, and group commit of turns.
//!
//! SQLite has one writer at a time, so every write of the store goes through
//! this one connection, behind a fair (FIFO) async mutex. Turns share
//! transactions: the first turn opens a batch (`BEGIN IMMEDIATE`), later
//! turns join it, and the batch is committed when nobody else is waiting for
//! the connection, when it is full, or by the first of its turns to come back
//! through the queue. A turn's caller returns only after the `COMMIT` of its
//! batch (or its failure, which it reports), so what a caller is told is
//! stored is durable as the `synchronous` setting promises, and one fsync
//! serves many turns.
//!
//! A turn writes only after its engine has decided, so a declined turn
//! leaves the batch untouched. A turn that fails while writing (an I/O
//! error) or whose caller is dropped while it holds the connection may have
//! written part of its rows: the whole batch is then rolled back and all its
//! turns fail (their callers are told; nothing of them is stored). `COMMIT`
//! runs in a task of its own, so it always completes and its outcome always
//! reaches the batch's callers.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use sqlx::SqliteConnection;
use tokio::sync::{Mutex, OwnedMutexGuard, broadcast, watch};

use super::turn::Pending;
use crate::model::MessageEvent;
use crate::{POOL_WAIT, Result, StoreError};

/// Most turns in one transaction.
const MAX_BATCH: usize = 512;

/// Outcome of a batch, as its turns' callers see it.
type BatchResult = Option<std::result::Result<(), String>>;

/// The connection, locked.
pub(super) type Locked = OwnedMutexGuard<WriterState>;

pub(super) struct Writer {
    state: Arc<Mutex<WriterState>>,
    /// Tasks queued for the connection (decides when a batch commits).
    waiting: AtomicUsize,
    events: broadcast::Sender<MessageEvent>,
}

pub(super) struct WriterState {
    pub(super) conn: SqliteConnection,
    /// The open batch's next message id, once its first turn read it.
    pub(super) next_message: Option<i64>,
    /// The open batch's statements not sent yet (its `BEGIN` until its
    /// first read, its turns' writes until the next read or the `COMMIT`).
    pub(super) pending: Pending,
    batch: Option<Batch>,
    /// A transaction may be open that no batch accounts for.
    dirty: bool,
    generation: u64,
}

struct Batch {
    generation: u64,
    turns: usize,
    /// Events of the batch's turns, announced in order after the commit.
    events: Vec<MessageEvent>,
    done: watch::Sender<BatchResult>,
}

/// How a turn ended.
pub(super) enum TurnEnd {
    /// Its writes (if any; a replay has none) stay; announce `event` after
    /// the commit.
    Kept(Option<MessageEvent>),
    /// It failed before writing anything (declined, session not found).
    NothingWritten,
    /// It failed, perhaps halfway through its writes: the batch is rolled
    /// back and every turn in it fails.
    Failed(String),
}

/// A turn's place in a batch: wait for the batch's commit.
pub(super) struct Ticket {
    writer: Arc<Writer>,
    generation: u64,
    done: watch::Receiver<BatchResult>,
    /// Commit the batch from a new task if the caller goes away first, so an
    /// open batch never waits for a caller that is gone.
    armed: bool,
}

impl Writer {
    pub(super) fn new(
        conn: SqliteConnection,
        events: broadcast::Sender<MessageEvent>,
    ) -> Arc<Self> {
        Arc::new(Writer {
            state: Arc::new(Mutex::new(WriterState {
                conn,
                next_message: None,
                pending: Pending::default(),
                batch: None,
                dirty: false,
                generation: 0,
            })),
            waiting: AtomicUsize::new(0),
            events,
        })
    }

    /// The connection, repaired after a cut-off caller; a batch may be open.
    async fn lock(&self) -> Locked {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let started = Instant::now();
        let mut state = self.state.clone().lock_owned().await;
        metrics::histogram!(POOL_WAIT, "pool" => "sqlite_writer")
            .record(started.elapsed().as_secs_f64());
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        if state.dirty {
            abort(&mut state, "a transaction was cut off").await;
        }
        state
    }

    /// The connection with no batch open: for writes outside turns, which
    /// run their own `BEGIN IMMEDIATE` transaction on it.
    pub(super) async fn exclusive(&self) -> Locked {
        let state = self.lock().await;
        self.commit(state).await
    }

    /// Start a turn: the connection, inside the current batch (opening one
    /// if needed). Run the turn on `state.conn`, then call
    /// [`Writer::end_turn`]. Until then the batch is `dirty`: if the caller
    /// is dropped, the next user of the connection rolls the batch back.
    pub(super) async fn begin_turn(&self) -> Result<Locked> {
        let mut state = self.lock().await;
        state.dirty = true;
        if state.batch.is_none() {
            // Sent with the batch's first read (or its COMMIT).
            state.pending.push("BEGIN IMMEDIATE;");
            state.generation += 1;
            state.next_message = None;
            let (done, _) = watch::channel(None);
            state.batch = Some(Batch {
                generation: state.generation,
                turns: 0,
                events: Vec::new(),
                done,
            });
        }
        Ok(state)
    }

    /// Runs `job` on the connection inside the open batch (opening one if
    /// needed), after the batch's held-back writes, and returns once the
    /// batch is committed: the dispatcher's claims and records share the
    /// turns' transactions and fsyncs instead of forcing a commit each (two
    /// per round of sends, which took a turn batch's commit from the turns
    /// every time). The job runs in a savepoint: if it fails, its own
    /// writes are undone and the batch's turns go on. What it returns is
    /// durable when it returns, so nothing is sent on a claim that could
    /// still be rolled back.
    pub(super) async fn in_batch<T>(
        self: &Arc<Self>,
        job: impl AsyncFnOnce(&mut SqliteConnection) -> Result<T>,
    ) -> Result<T> {
        let mut state = self.begin_turn().await?;
        // The savepoint goes out with the batch's held-back writes.
        state.pending.push("SAVEPOINT job;");
        let (sql, args) = state.pending.take();
        if let Err(e) = sqlx::query_with(sqlx::AssertSqlSafe(sql), args)
            .execute(&mut state.conn)
            .await
        {
            // Earlier turns' writes failed: the batch is lost.
            self.end_turn(state, TurnEnd::Failed(e.to_string())).await?;
            return Err(e.into());
        }
        let result = job(&mut state.conn).await;
        let end = match &result {
            Ok(_) => {
                state.pending.push("RELEASE job;");
                TurnEnd::Kept(None)
            }
            Err(_) => match sqlx::raw_sql("ROLLBACK TO job; RELEASE job;")
                .execute(&mut state.conn)
                .await
            {
                Ok(_) => TurnEnd::NothingWritten,
                Err(e) => TurnEnd::Failed(e.to_string()),
            },
        };
        let ticket = self.end_turn(state, end).await?;
        let value = result?;
        if let Some(ticket) = ticket {
            ticket.committed().await?;
        }
        Ok(value)
    }

    /// End a turn begun with [`Writer::begin_turn`]. A kept turn gets a
    /// ticket to wait for its batch's commit.
    pub(super) async fn end_turn(
        self: &Arc<Self>,
        mut state: Locked,
        end: TurnEnd,
    ) -> Result<Option<Ticket>> {
        let ticket = match end {
            TurnEnd::Kept(event) => {
                state.dirty = false;
                match state.batch.as_mut() {
                    Some(batch) => {
                        batch.turns += 1;
                        batch.events.extend(event);
                        Some(Ticket {
                            writer: self.clone(),
                            generation: batch.generation,
                            done: batch.done.subscribe(),
                            armed: true,
                        })
                    }
                    None => return Err(StoreError::Commit("no open transaction".into())),
                }
            }
            TurnEnd::NothingWritten => {
                state.dirty = false;
                None
            }
            TurnEnd::Failed(why) => {
                abort(&mut state, &why).await;
                None
            }
        };
        let full = state.batch.as_ref().is_some_and(|b| b.turns >= MAX_BATCH);
        if full || self.waiting.load(Ordering::SeqCst) == 0 {
            drop(self.commit(state).await);
        }
        Ok(ticket)
    }

    /// Commit the open batch, if any, and tell its turns. The commit runs in
    /// a task of its own: it completes even if our caller is dropped.
    async fn commit(&self, mut state: Locked) -> Locked {
        if state.batch.is_none() {
            return state;
        }
        let events = self.events.clone();
        let task = tokio::spawn(async move {
            if let Some(batch) = state.batch.take() {
                metrics::histogram!("chatcourse_store_commit_batch_size")
                    .record(batch.turns as f64);
                state.dirty = true;
                let (mut sql, args) = state.pending.take();
                sql.push_str("COMMIT;");
                match sqlx::query_with(sqlx::AssertSqlSafe(sql), args)
                    .execute(&mut state.conn)
                    .await
                {
                    Ok(_) => {
                        state.dirty = false;
                        for event in batch.events {
                            // No receivers is fine: nobody listens.
                            let _ = events.send(event);
                        }
                        batch.done.send_replace(Some(Ok(())));
                    }
                    Err(e) => {
                        // `dirty` stays: the next user rolls back.
                        batch.done.send_replace(Some(Err(e.to_string())));
                    }
                }
            }
            state
        });
        match task.await {
            Ok(state) => state,
            // The task panicked and released the lock: take it again.
            Err(_) => Box::pin(self.lock()).await,
        }
    }

    /// Commit batch `generation` if it is still open.
    async fn finish(&self, generation: u64) {
        let state = self.lock().await;
        if state
            .batch
            .as_ref()
            .is_some_and(|b| b.generation == generation)
        {
            drop(self.commit(state).await);
        }
    }
}

/// Roll back whatever is open and fail the open batch's turns.
async fn abort(state: &mut WriterState, why: &str) {
    state.pending = Pending::default();
    // Fails harmlessly when no transaction is open.
    let _ = sqlx::raw_sql("ROLLBACK").execute(&mut state.conn).await;
    state.dirty = false;
    state.next_message = None;
    if let Some(batch) = state.batch.take() {
        batch.done.send_replace(Some(Err(why.to_owned())));
    }
}

impl Ticket {
    /// Wait until the turn's batch is committed (committing it ourselves if
    /// it is still open when our turn in the queue comes).
    pub(super) async fn committed(mut self) -> Result<()> {
        if self.done.borrow().is_none() {
            self.writer.finish(self.generation).await;
        }
        let result = self
            .done
            .wait_for(Option::is_some)
            .await
            .map_err(|_| StoreError::Commit("the writer went away".into()))?
            .clone();
        self.armed = false;
        match result {
            Some(Ok(())) => Ok(()),
            Some(Err(e)) => Err(StoreError::Commit(e)),
            None => Err(StoreError::Commit("no result".into())),
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if self.armed
            && self.done.borrow().is_none()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let (writer, generation) = (self.writer.clone(), self.generation);
            runtime.spawn(async move { writer.finish(generation).await });
        }
    }
}

#[cfg(test)]
mod tests {
    use sqlx::Connection;

    use super::*;

    /// A writer on a table `t`, and a count of its commits.
    async fn writer() -> (Arc<Writer>, Arc<AtomicUsize>) {
        let mut conn = SqliteConnection::connect("sqlite::memory:").await.unwrap();
        sqlx::raw_sql("CREATE TABLE t (x INTEGER)")
            .execute(&mut conn)
            .await
            .unwrap();
        let commits = Arc::new(AtomicUsize::new(0));
        let counted = commits.clone();
        conn.lock_handle().await.unwrap().set_commit_hook(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            true
        });
        (Writer::new(conn, broadcast::channel(1).0), commits)
    }

    async fn rows(writer: &Writer) -> Vec<i64> {
        let mut state = writer.exclusive().await;
        sqlx::query_scalar("SELECT x FROM t ORDER BY x")
            .fetch_all(&mut state.conn)
            .await
            .unwrap()
    }

    /// A turn with `x` held back, and `job` run in batch beside it: the
    /// job joins the turn's batch (it waits for the connection while the
    /// turn holds it, so the turn does not commit alone).
    async fn beside_a_turn(
        writer: &Arc<Writer>,
        x: i64,
        job: impl AsyncFnOnce(&mut SqliteConnection) -> Result<()>,
    ) -> (Result<()>, Result<()>) {
        let mut state = writer.begin_turn().await.unwrap();
        state.pending.push(&format!("INSERT INTO t VALUES ({x});"));
        let generation = state.generation;
        let turn = async {
            while writer.waiting.load(Ordering::SeqCst) == 0 {
                tokio::task::yield_now().await;
            }
            let ticket = writer.end_turn(state, TurnEnd::Kept(None)).await.unwrap();
            ticket.expect("a kept turn has a ticket").committed().await
        };
        let (turn, job) = tokio::join!(turn, writer.in_batch(job));
        // The job ran in the turn's batch.
        assert_eq!(writer.state.lock().await.generation, generation);
        (turn, job)
    }

    #[tokio::test]
    async fn a_job_shares_the_turns_commit() {
        let (writer, commits) = writer().await;
        let (turn, job) = beside_a_turn(&writer, 1, async |conn| {
            sqlx::query("INSERT INTO t VALUES (2)")
                .execute(conn)
                .await?;
            Ok(())
        })
        .await;
        turn.unwrap();
        job.unwrap();
        assert_eq!(commits.load(Ordering::SeqCst), 1, "one commit for both");
        assert_eq!(rows(&writer).await, [1, 2]);
    }

    #[tokio::test]
    async fn a_failed_job_leaves_the_turns_of_its_batch() {
        let (writer, commits) = writer().await;
        let (turn, job) = beside_a_turn(&writer, 1, async |conn| {
            sqlx::query("INSERT INTO t VALUES (2)")
                .execute(&mut *conn)
                .await?;
            sqlx::query("INSERT INTO nowhere VALUES (3)")
                .execute(conn)
                .await?;
            Ok(())
        })
        .await;
        turn.expect("the turn is committed");
        assert!(job.is_err(), "the job's failure is reported");
        assert_eq!(commits.load(Ordering::SeqCst), 1);
        // The job's first write is undone with it; later batches go on.
        writer
            .in_batch(async |conn| {
                sqlx::query("INSERT INTO t VALUES (4)")
                    .execute(conn)
                    .await?;
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!(rows(&writer).await, [1, 4]);
    }
}
