//! Fakes of the outside world for tests and for trying chatcourse
//! locally (feature `fakes`): small HTTP servers on 127.0.0.1 that speak a
//! receiver's or a gateway's real wire format, record what they get, and
//! fail on command. Never used by the server itself.

pub mod receiver;
pub mod twilio;

pub use receiver::{Delivery, FakeReceiver, Reply};
pub use twilio::{FakeTwilio, TwilioMessage, TwilioReply};

use std::time::Duration;

use tokio::sync::{Notify, oneshot};

/// Serves `app` on `listener` in a task until the returned sender fires
/// or is dropped.
pub(crate) fn serve(listener: tokio::net::TcpListener, app: axum::Router) -> oneshot::Sender<()> {
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await;
    });
    stop
}

/// Waits until `read` gives `n` items (re-read each time `arrived` is
/// notified) or `timeout` has passed; returns the last read.
pub(crate) async fn wait_for<T>(
    arrived: &Notify,
    n: usize,
    timeout: Duration,
    read: impl Fn() -> Vec<T>,
) -> Vec<T> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let notified = arrived.notified();
        let got = read();
        if got.len() >= n || tokio::time::Instant::now() >= deadline {
            return got;
        }
        let _ = tokio::time::timeout_at(deadline, notified).await;
    }
}
