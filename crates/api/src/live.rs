//! Who is waiting for which session's commits: one `watch` channel per
//! session with at least one open WebSocket, so a commit wakes only the
//! sockets of its session and an idle socket costs nothing per turn.
//!
//! A watch never overflows: a socket busy delivering sees one change for
//! any number of commits, and then reads everything after its last id.
//! The watch holds the session's latest committed message id, so a socket
//! that has delivered it already (its own turn's replies, read right after
//! the turn) does not read again. Some events may have been missed (the
//! store's event stream lagged): every session is woken and told to read
//! ([`Subscriptions::wake_all`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chatcourse_storage::{MessageId, SessionId};
use tokio::sync::watch;

/// What a session's watch holds.
#[derive(Clone, Copy, Default)]
struct Commits {
    /// The latest message id committed (0: none seen yet).
    latest: i64,
    /// Bumped when events may have been missed.
    missed: u64,
}

/// Why a socket woke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Woken {
    /// Messages up to this id were committed.
    Through(MessageId),
    /// Events may have been missed: read whatever is new.
    Unknown,
}

impl Woken {
    /// Whether a socket that has delivered up to `last` has anything to
    /// read.
    pub(crate) fn is_news_after(self, last: Option<MessageId>) -> bool {
        match (self, last) {
            (Woken::Through(latest), Some(last)) => latest > last,
            _ => true,
        }
    }
}

#[derive(Default)]
pub(crate) struct Subscriptions {
    sessions: Mutex<HashMap<SessionId, watch::Sender<Commits>>>,
}

/// A socket's subscription to one session; unsubscribes when dropped.
pub(crate) struct Subscription {
    owner: Arc<Subscriptions>,
    session: SessionId,
    receiver: Option<watch::Receiver<Commits>>,
    /// The `missed` count this socket has acted on.
    missed: u64,
}

impl Subscriptions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SessionId, watch::Sender<Commits>>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Follows `session`'s commits from now on.
    pub(crate) fn subscribe(self: &Arc<Self>, session: SessionId) -> Subscription {
        let receiver = self
            .lock()
            .entry(session)
            .or_insert_with(|| watch::channel(Commits::default()).0)
            .subscribe();
        let missed = receiver.borrow().missed;
        Subscription {
            owner: Arc::clone(self),
            session,
            receiver: Some(receiver),
            missed,
        }
    }

    /// `session` committed messages up to `latest`: wake its sockets (only
    /// them).
    pub(crate) fn wake(&self, session: SessionId, latest: MessageId) {
        if let Some(sender) = self.lock().get(&session) {
            sender.send_if_modified(|c| {
                let newer = latest.0 > c.latest;
                c.latest = c.latest.max(latest.0);
                newer
            });
        }
    }

    /// Events may have been missed: every socket re-reads its session.
    pub(crate) fn wake_all(&self) {
        for sender in self.lock().values() {
            sender.send_modify(|c| c.missed = c.missed.wrapping_add(1));
        }
    }

    /// Sessions with at least one socket.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

impl Subscription {
    /// Completes when the session has committed since the last call: with
    /// the latest message id, or `Unknown` if events may have been missed.
    pub(crate) async fn changed(&mut self) -> Woken {
        let Some(receiver) = &mut self.receiver else {
            return std::future::pending().await;
        };
        if receiver.changed().await.is_err() {
            return std::future::pending().await;
        }
        let now = *receiver.borrow_and_update();
        if now.missed != self.missed {
            self.missed = now.missed;
            return Woken::Unknown;
        }
        Woken::Through(MessageId(now.latest))
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        drop(self.receiver.take());
        let mut sessions = self.owner.lock();
        if sessions
            .get(&self.session)
            .is_some_and(|sender| sender.receiver_count() == 0)
        {
            sessions.remove(&self.session);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    async fn woken(s: &mut Subscription) -> Option<Woken> {
        tokio::time::timeout(Duration::from_millis(50), s.changed())
            .await
            .ok()
    }

    #[tokio::test]
    async fn a_commit_wakes_only_its_sessions_sockets() {
        let subs = Arc::new(Subscriptions::default());
        let mut a1 = subs.subscribe(SessionId(1));
        let mut a2 = subs.subscribe(SessionId(1));
        let mut b = subs.subscribe(SessionId(2));
        assert_eq!(subs.len(), 2);
        subs.wake(SessionId(1), MessageId(4));
        subs.wake(SessionId(1), MessageId(6));
        let through = Some(Woken::Through(MessageId(6)));
        assert_eq!(woken(&mut a1).await, through);
        assert_eq!(woken(&mut a2).await, through);
        assert_eq!(woken(&mut a1).await, None, "two commits, one wake-up");
        assert_eq!(woken(&mut b).await, None, "another session's socket sleeps");
        subs.wake(SessionId(3), MessageId(7));
        subs.wake_all();
        assert_eq!(woken(&mut b).await, Some(Woken::Unknown));
        assert_eq!(woken(&mut a1).await, Some(Woken::Unknown));
        drop(a1);
        assert_eq!(subs.len(), 2);
        drop(a2);
        drop(b);
        assert_eq!(subs.len(), 0, "no socket, no entry");
    }

    #[tokio::test]
    async fn an_older_commit_wakes_nobody() {
        let subs = Arc::new(Subscriptions::default());
        let mut a = subs.subscribe(SessionId(1));
        subs.wake(SessionId(1), MessageId(9));
        assert_eq!(woken(&mut a).await, Some(Woken::Through(MessageId(9))));
        // Another process's commit announced late: ids older than the
        // latest seen are delivered already or read with it.
        subs.wake(SessionId(1), MessageId(8));
        assert_eq!(woken(&mut a).await, None);
    }

    #[test]
    fn news_is_what_was_not_delivered() {
        let through = Woken::Through(MessageId(5));
        assert!(through.is_news_after(None));
        assert!(through.is_news_after(Some(MessageId(4))));
        assert!(!through.is_news_after(Some(MessageId(5))));
        assert!(Woken::Unknown.is_news_after(Some(MessageId(9))));
    }
}
