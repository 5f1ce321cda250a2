//! Fakes of the outside world for tests and for trying chatcourse
//! locally (feature `fakes`): small HTTP servers on 127.0.0.1 that speak a
//! receiver's or a gateway's real wire format, record what they get, and
//! fail on command. Never used by the server itself.

pub mod africastalking;
pub mod receiver;
pub mod twilio;
pub mod whatsapp;

pub use africastalking::{AtMessage, AtReply, FakeAfricasTalking};
pub use receiver::{Delivery, FakeReceiver, Reply};
pub use twilio::{FakeTwilio, TwilioMessage, TwilioReply};
pub use whatsapp::{FakeWhatsApp, WaMessage, WaReply};

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::{Notify, oneshot};

/// Stops a fake's server when told, or when dropped.
pub(crate) struct Stopper(Option<oneshot::Sender<()>>);

impl Stopper {
    pub(crate) fn stop(&mut self) {
        if let Some(stop) = self.0.take() {
            let _ = stop.send(());
        }
    }
}

impl Drop for Stopper {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Serves `app` on `listener` in a task until the returned stopper
/// stops it.
pub(crate) fn serve(listener: tokio::net::TcpListener, app: axum::Router) -> Stopper {
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await;
    });
    Stopper(Some(stop))
}

/// A fake's script of replies (`R`) and its record of requests (`T`).
pub(crate) struct Log<R, T> {
    script: Mutex<VecDeque<R>>,
    records: Mutex<Vec<T>>,
    arrived: Notify,
}

impl<R, T: Clone> Log<R, T> {
    pub(crate) fn new() -> Log<R, T> {
        Log {
            script: Mutex::default(),
            records: Mutex::default(),
            arrived: Notify::new(),
        }
    }

    /// Appends replies to the script.
    pub(crate) fn script(&self, replies: impl IntoIterator<Item = R>) {
        if let Ok(mut script) = self.script.lock() {
            script.extend(replies);
        }
    }

    /// The next scripted reply, if any.
    pub(crate) fn next_reply(&self) -> Option<R> {
        self.script.lock().ok().and_then(|mut s| s.pop_front())
    }

    pub(crate) fn record(&self, record: T) {
        if let Ok(mut records) = self.records.lock() {
            records.push(record);
        }
        self.arrived.notify_waiters();
    }

    /// Every record, in arrival order.
    pub(crate) fn all(&self) -> Vec<T> {
        self.records.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Waits until `n` records pass `keep` (or `timeout` passed); returns
    /// those.
    pub(crate) async fn wait_for(
        &self,
        n: usize,
        timeout: Duration,
        keep: impl Fn(&T) -> bool,
    ) -> Vec<T> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.arrived.notified();
            let got: Vec<T> = self.all().into_iter().filter(|r| keep(r)).collect();
            if got.len() >= n || tokio::time::Instant::now() >= deadline {
                return got;
            }
            let _ = tokio::time::timeout_at(deadline, notified).await;
        }
    }
}
