//! The SQLite writer: one connection, and group commit of turns.
//!
//! SQLite has one writer at a time, so every write of the store goes through
//! this one connection, behind a fair (FIFO) async mutex. Turns share
//! transactions: the first turn opens a batch (`BEGIN IMMEDIATE`), each turn
//! runs inside its own `SAVEPOINT` (so a failing turn is rolled back alone),
//! and the batch is committed when nobody else is waiting for the
//! connection, when it is full, or by the first of its turns to come back
//! through the queue. A turn's caller returns only after the `COMMIT` of its
//! batch (or its failure, which it reports), so what a caller is told is
//! stored is durable as the `synchronous` setting promises. One fsync then
//! serves many turns.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use sqlx::SqliteConnection;
use tokio::sync::{Mutex, MutexGuard, broadcast, watch};

use crate::model::MessageEvent;
use crate::{Result, StoreError};

/// Most turns in one transaction.
const MAX_BATCH: usize = 512;

/// Outcome of a batch, as its turns' callers see it.
type BatchResult = Option<std::result::Result<(), String>>;

pub(super) struct Writer {
    state: Mutex<WriterState>,
    /// Tasks queued for the connection (decides when a batch commits).
    waiting: AtomicUsize,
    events: broadcast::Sender<MessageEvent>,
}

pub(super) struct WriterState {
    pub(super) conn: SqliteConnection,
    batch: Option<Batch>,
    /// A turn was cut off (its future dropped) inside its savepoint.
    torn: bool,
    generation: u64,
}

struct Batch {
    generation: u64,
    turns: usize,
    /// Events of the batch's turns, announced in order after the commit.
    events: Vec<MessageEvent>,
    done: watch::Sender<BatchResult>,
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
            state: Mutex::new(WriterState {
                conn,
                batch: None,
                torn: false,
                generation: 0,
            }),
            waiting: AtomicUsize::new(0),
            events,
        })
    }

    /// The connection, repaired after a cut-off turn; a batch may be open.
    async fn lock(&self) -> MutexGuard<'_, WriterState> {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let mut state = self.state.lock().await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        if state.torn {
            state.torn = false;
            let undone = sqlx::raw_sql("ROLLBACK TO turn; RELEASE turn")
                .execute(&mut state.conn)
                .await;
            if let Err(e) = undone {
                self.abort(&mut state, &e.to_string()).await;
            }
        }
        state
    }

    /// The connection with no batch open: for writes outside turns, which
    /// run their own `BEGIN IMMEDIATE` transaction on it.
    pub(super) async fn exclusive(&self) -> MutexGuard<'_, WriterState> {
        let mut state = self.lock().await;
        self.commit(&mut state).await;
        state
    }

    /// Start a turn: the connection, inside a savepoint of the current batch
    /// (opening one if needed). Run the turn on `state.conn`, then call
    /// [`Writer::end_turn`]. If the caller is dropped in between, the next
    /// user of the connection rolls the savepoint back.
    pub(super) async fn begin_turn(&self) -> Result<MutexGuard<'_, WriterState>> {
        let mut state = self.lock().await;
        if state.batch.is_none() {
            sqlx::raw_sql("BEGIN IMMEDIATE")
                .execute(&mut state.conn)
                .await?;
            state.generation += 1;
            let (done, _) = watch::channel(None);
            state.batch = Some(Batch {
                generation: state.generation,
                turns: 0,
                events: Vec::new(),
                done,
            });
        }
        if let Err(e) = sqlx::raw_sql("SAVEPOINT turn")
            .execute(&mut state.conn)
            .await
        {
            self.abort(&mut state, &e.to_string()).await;
            return Err(e.into());
        }
        state.torn = true;
        Ok(state)
    }

    /// End a turn begun with [`Writer::begin_turn`]: `Some(event)` keeps its
    /// writes (and returns a ticket to wait for the batch's commit), `None`
    /// rolls them back.
    pub(super) async fn end_turn(
        self: &Arc<Self>,
        mut state: MutexGuard<'_, WriterState>,
        kept: Option<Option<MessageEvent>>,
    ) -> Result<Option<Ticket>> {
        let closed = match kept {
            Some(_) => sqlx::raw_sql("RELEASE turn").execute(&mut state.conn).await,
            None => {
                sqlx::raw_sql("ROLLBACK TO turn; RELEASE turn")
                    .execute(&mut state.conn)
                    .await
            }
        };
        state.torn = false;
        if let Err(e) = closed {
            self.abort(&mut state, &e.to_string()).await;
            return Err(e.into());
        }
        let ticket = match (kept, state.batch.as_mut()) {
            (Some(event), Some(batch)) => {
                batch.turns += 1;
                batch.events.extend(event);
                Some(Ticket {
                    writer: self.clone(),
                    generation: batch.generation,
                    done: batch.done.subscribe(),
                    armed: true,
                })
            }
            _ => None,
        };
        let full = state.batch.as_ref().is_some_and(|b| b.turns >= MAX_BATCH);
        if full || self.waiting.load(Ordering::SeqCst) == 0 {
            self.commit(&mut state).await;
        }
        Ok(ticket)
    }

    /// Commit the open batch, if any, and tell its turns.
    async fn commit(&self, state: &mut WriterState) {
        let Some(batch) = state.batch.take() else {
            return;
        };
        match sqlx::raw_sql("COMMIT").execute(&mut state.conn).await {
            Ok(_) => {
                for event in batch.events {
                    // No receivers is fine: nobody listens.
                    let _ = self.events.send(event);
                }
                batch.done.send_replace(Some(Ok(())));
            }
            Err(e) => {
                let _ = sqlx::raw_sql("ROLLBACK").execute(&mut state.conn).await;
                batch.done.send_replace(Some(Err(e.to_string())));
            }
        }
    }

    /// Roll the open batch back (the connection is in an unknown state).
    async fn abort(&self, state: &mut WriterState, why: &str) {
        let _ = sqlx::raw_sql("ROLLBACK").execute(&mut state.conn).await;
        if let Some(batch) = state.batch.take() {
            batch.done.send_replace(Some(Err(why.to_owned())));
        }
    }

    /// Commit batch `generation` if it is still open.
    async fn finish(&self, generation: u64) {
        let mut state = self.lock().await;
        if state
            .batch
            .as_ref()
            .is_some_and(|b| b.generation == generation)
        {
            self.commit(&mut state).await;
        }
    }
}

impl Ticket {
    /// Wait until the turn's batch is committed (committing it ourselves if
    /// it is still open when our turn in the queue comes).
    pub(super) async fn committed(mut self) -> Result<()> {
        if self.done.borrow().is_none() {
            self.writer.finish(self.generation).await;
        }
        self.armed = false;
        let result = self
            .done
            .wait_for(Option::is_some)
            .await
            .map_err(|_| StoreError::Commit("the writer went away".into()))?
            .clone();
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
