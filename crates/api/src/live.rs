//! Who is waiting for which session's commits: one `watch` channel per
//! session with at least one open WebSocket, so a commit wakes only the
//! sockets of its session and an idle socket costs nothing per turn.
//!
//! A watch never overflows: a socket busy delivering sees one change for
//! any number of commits, and then reads everything after its last id.
//! Some events may have been missed (the store's event stream lagged):
//! every session is woken ([`Subscriptions::wake_all`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chatcourse_storage::SessionId;
use tokio::sync::watch;

#[derive(Default)]
pub(crate) struct Subscriptions {
    sessions: Mutex<HashMap<SessionId, watch::Sender<u64>>>,
}

/// A socket's subscription to one session; unsubscribes when dropped.
pub(crate) struct Subscription {
    owner: Arc<Subscriptions>,
    session: SessionId,
    receiver: Option<watch::Receiver<u64>>,
}

impl Subscriptions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SessionId, watch::Sender<u64>>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Follows `session`'s commits from now on.
    pub(crate) fn subscribe(self: &Arc<Self>, session: SessionId) -> Subscription {
        let receiver = self
            .lock()
            .entry(session)
            .or_insert_with(|| watch::channel(0).0)
            .subscribe();
        Subscription {
            owner: Arc::clone(self),
            session,
            receiver: Some(receiver),
        }
    }

    /// `session` committed messages: wake its sockets (only them).
    pub(crate) fn wake(&self, session: SessionId) {
        if let Some(sender) = self.lock().get(&session) {
            sender.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    /// Events may have been missed: every socket re-reads its session.
    pub(crate) fn wake_all(&self) {
        for sender in self.lock().values() {
            sender.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    /// Sessions with at least one socket.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

impl Subscription {
    /// Completes when the session has committed since the last call.
    pub(crate) async fn changed(&mut self) {
        match &mut self.receiver {
            Some(receiver) => {
                if receiver.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
            None => std::future::pending().await,
        }
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

    async fn woken(s: &mut Subscription) -> bool {
        tokio::time::timeout(Duration::from_millis(50), s.changed())
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn a_commit_wakes_only_its_sessions_sockets() {
        let subs = Arc::new(Subscriptions::default());
        let mut a1 = subs.subscribe(SessionId(1));
        let mut a2 = subs.subscribe(SessionId(1));
        let mut b = subs.subscribe(SessionId(2));
        assert_eq!(subs.len(), 2);
        subs.wake(SessionId(1));
        subs.wake(SessionId(1));
        assert!(woken(&mut a1).await && woken(&mut a2).await);
        assert!(!woken(&mut a1).await, "two commits, one wake-up");
        assert!(!woken(&mut b).await, "another session's socket sleeps");
        subs.wake(SessionId(3));
        subs.wake_all();
        assert!(woken(&mut b).await && woken(&mut a1).await);
        drop(a1);
        assert_eq!(subs.len(), 2);
        drop(a2);
        drop(b);
        assert_eq!(subs.len(), 0, "no socket, no entry");
    }
}
