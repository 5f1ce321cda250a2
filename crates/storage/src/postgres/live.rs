//! Live message events on PostgreSQL, announced after the commit, in batches.
//!
//! PostgreSQL commits notifying transactions one at a time (it holds a global
//! lock on its notification queue through the commit's WAL flush), so a
//! `pg_notify` inside every turn caps turn throughput at about one flush per
//! turn. Instead, once a turn (or an enrolment) has committed, its event goes
//!
//! - at once to this process's subscribers, through a broadcast channel, and
//! - to an outbox served by one notifier task per store, which sends every
//!   event that arrived meanwhile with one `SELECT pg_notify(...)` on a
//!   connection of its own. At most one notifying transaction of this store
//!   is in flight, and no turn waits for it.
//!
//! A payload names the store that sent it (`origin`, random per store), so a
//! subscriber skips its own store's notifications: it already had them from
//! the broadcast. Wire format, one JSON object of at most [`MAX_PAYLOAD`]
//! bytes: `{"g": origin, "e": [{"o": org, "s": session, "u": session uuid,
//! "i": [ids]}, ...]}`, plus `"r": true` when other processes' subscribers
//! must re-read (see [`MessageEvent::Lagged`]). A payload of one bare notice
//! (`{"o", "s", "u", "i"}`), as older versions sent inside the transaction, is
//! understood too, so processes can be upgraded one at a time.
//!
//! What this changes, compared with NOTIFY inside the transaction: other
//! processes hear of a commit shortly after it (one notifier round trip)
//! instead of exactly at it, and if this process dies between the COMMIT and
//! the notifier's send, never. Their subscribers then learn of those
//! messages with the next event of that session (they re-read from the last
//! id they delivered, so nothing is lost or reordered, only late) or when they
//! reconnect. Events of one session may also arrive out of commit order (two
//! turns committing back to back in different tasks), which re-reading from
//! the last delivered id makes harmless. What closes the other gaps:
//!
//! - the commit and the announcement run in a task of their own, so a caller
//!   dropped during COMMIT cannot leave a committed turn unannounced;
//! - a COMMIT whose outcome is unknown (the connection failed) announces
//!   [`MessageEvent::Lagged`] everywhere;
//! - the notifier retries a failed send on a new connection (a notification
//!   may then arrive twice: events are hints to re-read, so that is harmless),
//!   and if too many events pile up meanwhile it replaces them with one
//!   `Lagged` for everyone;
//! - a subscription whose LISTEN connection was lost yields `Lagged` as soon
//!   as it listens again.

use std::collections::VecDeque;
use std::time::Duration;

use futures::stream::BoxStream;
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgListener, PgPool};
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::{broadcast, mpsc};
use uuid::Uuid;

use crate::model::{MessageEvent, MessageId, OrgId, SessionId};

/// PostgreSQL refuses NOTIFY payloads of 8000 bytes or more.
const MAX_PAYLOAD: usize = 7_900;
/// Ids per notice: 256 ids of at most 20 characters (and a comma) keep one
/// notice well inside a payload.
const MAX_IDS: usize = 256;
/// Events the notifier holds while it cannot send; more are replaced by one
/// `Lagged` for everyone.
const MAX_PENDING: usize = 100_000;
/// Wait between attempts when the notifier or a listener lost its connection.
const RETRY: Duration = Duration::from_secs(1);
/// A send taking longer than this is abandoned and retried on a new connection.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// One store's live events: the in-process broadcast and the notifier's outbox.
#[derive(Debug)]
pub(super) struct Live {
    origin: Uuid,
    channel: String,
    local: broadcast::Sender<MessageEvent>,
    /// None when the store does not announce to other processes
    /// ([`crate::StoreOptions::postgres_notify`]).
    outbox: Option<mpsc::UnboundedSender<MessageEvent>>,
}

impl Live {
    /// Starts the notifier (when `notify`) on its own connection, opened on
    /// first use with `connect`.
    pub(super) fn new(connect: PgConnectOptions, channel: String, notify: bool) -> Live {
        let origin = Uuid::new_v4();
        let (local, _) = broadcast::channel(4096);
        let outbox = notify.then(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(notifier(rx, connect, channel.clone(), origin));
            tx
        });
        Live {
            origin,
            channel,
            local,
            outbox,
        }
    }

    /// Announce a committed event (or `Lagged`) here and to other processes.
    pub(super) fn announce(&self, event: MessageEvent) {
        // No receiver is fine: nobody subscribed.
        let _ = self.local.send(event.clone());
        if let Some(outbox) = &self.outbox {
            // Closed only if the notifier panicked; the broadcast still went.
            let _ = outbox.send(event);
        }
    }

    /// This process's events, then other processes' as they arrive.
    pub(super) async fn subscribe(
        &self,
        pool: &PgPool,
    ) -> Result<BoxStream<'static, MessageEvent>, sqlx::Error> {
        let local = crate::broadcast_stream(self.local.subscribe());
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen(&self.channel).await?;
        let remote = Remote {
            listener: Some(listener),
            pool: pool.clone(),
            channel: self.channel.clone(),
            origin: self.origin,
            queue: VecDeque::new(),
        };
        let remote = futures::stream::unfold(remote, |mut remote| async move {
            let event = remote.next().await?;
            Some((event, remote))
        });
        Ok(Box::pin(futures::stream::select(local, remote)))
    }
}

/// Other processes' events, from LISTEN.
struct Remote {
    /// None after the connection was lost and could not be restored yet.
    listener: Option<PgListener>,
    pool: PgPool,
    channel: String,
    origin: Uuid,
    /// Events of a payload not yet handed out.
    queue: VecDeque<MessageEvent>,
}

impl Remote {
    /// The next event; None once the pool is closed.
    async fn next(&mut self) -> Option<MessageEvent> {
        loop {
            if let Some(event) = self.queue.pop_front() {
                return Some(event);
            }
            let Some(listener) = &mut self.listener else {
                if self.pool.is_closed() {
                    return None;
                }
                tokio::time::sleep(RETRY).await;
                if let Ok(mut listener) = PgListener::connect_with(&self.pool).await
                    && listener.listen(&self.channel).await.is_ok()
                {
                    self.listener = Some(listener);
                    // Notifications sent while we were away are gone: re-read.
                    return Some(MessageEvent::Lagged);
                }
                continue;
            };
            match listener.try_recv().await {
                Ok(Some(notification)) => {
                    decode(notification.payload(), self.origin, &mut self.queue);
                }
                // The connection was lost and is back (sqlx reconnects before
                // saying so): what was sent meanwhile is gone.
                Ok(None) => return Some(MessageEvent::Lagged),
                Err(error) => {
                    tracing::warn!(%error, "lost the LISTEN connection for message events; reconnecting");
                    self.listener = None;
                }
            }
        }
    }
}

/// A session's new message ids.
#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Notice {
    o: i64,
    s: i64,
    u: Uuid,
    i: Vec<i64>,
}

#[derive(serde::Deserialize)]
#[serde(untagged)]
enum Payload {
    Batch {
        g: Uuid,
        #[serde(default)]
        e: Vec<Notice>,
        #[serde(default)]
        r: bool,
    },
    /// Sent inside the turn's transaction by versions before batching.
    Single(Notice),
}

fn committed(notice: Notice) -> MessageEvent {
    MessageEvent::Committed {
        org: OrgId(notice.o),
        session: SessionId(notice.s),
        session_uuid: notice.u,
        ids: notice.i.into_iter().map(MessageId).collect(),
    }
}

/// The events of a payload, unless `origin` (this store) sent it.
fn decode(payload: &str, origin: Uuid, out: &mut VecDeque<MessageEvent>) {
    match serde_json::from_str::<Payload>(payload) {
        Ok(Payload::Batch { g, .. }) if g == origin => {}
        Ok(Payload::Batch { e, r, .. }) => {
            if r {
                out.push_back(MessageEvent::Lagged);
            }
            out.extend(e.into_iter().map(committed));
        }
        Ok(Payload::Single(notice)) => out.push_back(committed(notice)),
        // Not ours to understand (a newer version?): the subscriber re-reads.
        Err(_) => out.push_back(MessageEvent::Lagged),
    }
}

/// The payloads announcing `events`, each at most [`MAX_PAYLOAD`] bytes;
/// `Lagged` among them sets `"r": true` on the first.
fn encode(origin: Uuid, events: &[MessageEvent]) -> Vec<String> {
    // What the envelope around the notices takes, with room to spare.
    const NOTICES_MAX: usize = MAX_PAYLOAD - 100;
    let resync = events.iter().any(|e| matches!(e, MessageEvent::Lagged));
    let mut groups = Vec::new();
    let mut current = String::new();
    for event in events {
        let MessageEvent::Committed {
            org,
            session,
            session_uuid,
            ids,
        } = event
        else {
            continue;
        };
        for ids in ids.chunks(MAX_IDS) {
            let notice = Notice {
                o: org.0,
                s: session.0,
                u: *session_uuid,
                i: ids.iter().map(|id| id.0).collect(),
            };
            let Ok(json) = serde_json::to_string(&notice) else {
                continue;
            };
            if !current.is_empty() && current.len() + 1 + json.len() > NOTICES_MAX {
                groups.push(std::mem::take(&mut current));
            }
            if !current.is_empty() {
                current.push(',');
            }
            current.push_str(&json);
        }
    }
    if !current.is_empty() || (groups.is_empty() && resync) {
        groups.push(current);
    }
    groups
        .iter()
        .enumerate()
        .map(|(i, group)| {
            let flag = if i == 0 && resync { r#""r":true,"# } else { "" };
            format!(r#"{{"g":"{origin}",{flag}"e":[{group}]}}"#)
        })
        .collect()
}

/// Sends what the outbox receives, in batches, until the store is dropped.
async fn notifier(
    mut outbox: mpsc::UnboundedReceiver<MessageEvent>,
    connect: PgConnectOptions,
    channel: String,
    origin: Uuid,
) {
    let mut conn: Option<PgConnection> = None;
    let mut pending: Vec<MessageEvent> = Vec::new();
    let mut open = true;
    loop {
        // Wait for an event unless a failed batch waits to be sent again.
        if pending.is_empty() && outbox.recv_many(&mut pending, MAX_PENDING).await == 0 {
            break;
        }
        // Everything that arrived meanwhile goes in this batch.
        while open {
            match outbox.try_recv() {
                Ok(event) => pending.push(event),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => open = false,
            }
        }
        if pending.len() > MAX_PENDING {
            pending.clear();
            pending.push(MessageEvent::Lagged);
        }
        let payloads = encode(origin, &pending);
        let sent =
            tokio::time::timeout(SEND_TIMEOUT, send(&mut conn, &connect, &channel, &payloads));
        match sent.await {
            Ok(Ok(())) => pending.clear(),
            failed => {
                let error = match failed {
                    Ok(Err(e)) => e.to_string(),
                    _ => "timed out".to_owned(),
                };
                tracing::warn!(%error, events = pending.len(), "cannot announce committed messages to other processes; retrying");
                conn = None;
                if !open {
                    break;
                }
                tokio::time::sleep(RETRY).await;
            }
        }
    }
    if let Some(conn) = conn {
        let _ = conn.close().await;
    }
}

async fn send(
    conn: &mut Option<PgConnection>,
    connect: &PgConnectOptions,
    channel: &str,
    payloads: &[String],
) -> Result<(), sqlx::Error> {
    let conn = match conn {
        Some(conn) => conn,
        None => {
            let mut new = PgConnection::connect_with(connect).await?;
            // A notification is not durable anyway: its transaction need not
            // wait for the WAL flush (the turns it announces already did).
            sqlx::query("SET synchronous_commit = off")
                .execute(&mut new)
                .await?;
            conn.insert(new)
        }
    };
    // One statement, so one transaction and one commit for the whole batch.
    sqlx::query("SELECT pg_notify($1, payload) FROM unnest($2::text[]) AS payload")
        .bind(channel)
        .bind(payloads)
        .execute(conn)
        .await?;
    Ok(())
}
