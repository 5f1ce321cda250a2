//! The accept loop: HTTP/1.1 connections served by hyper with the limits
//! that keep one client from holding the server (docs/api.md, "Limits"):
//!
//! - a **header-read timeout**: a request head must arrive whole within
//!   it, counted from the first moment the server waits for one, so it is
//!   also the **idle keep-alive timeout** (hyper runs the same timer while
//!   a kept-alive connection waits for its next request);
//! - a **cap on concurrent connections**: beyond it, new connections wait
//!   in the kernel's accept queue until one ends;
//! - a **bounded shutdown**: once shutdown starts, no connection is
//!   accepted, idle connections close at once, requests in flight may
//!   finish until the deadline, and whatever is left then is dropped.
//!
//! Each request carries the client's address (`ConnectInfo<SocketAddr>`),
//! which the rate limits key on, and the connection's [`ConnectionSlot`]:
//! hyper's connection task ends when a WebSocket upgrade takes its socket,
//! so the WebSocket's own task keeps the slot until the socket closes.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// A connection's place under the cap: held by the connection's task and
/// by each of its requests; a WebSocket's task keeps it once upgraded. The
/// place is free when the last holder drops it.
#[derive(Clone)]
pub struct ConnectionSlot(#[allow(dead_code)] Arc<OwnedSemaphorePermit>);

/// The limits of [`serve`].
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub max_connections: usize,
}

/// Serves `router` on `listener` until `stop` is cancelled, then drains the
/// connections until `deadline()` (called when `stop` fires) and drops the
/// rest.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    stop: CancellationToken,
    deadline: impl FnOnce() -> Instant,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    let mut connections = JoinSet::new();
    loop {
        // Reap the connections that ended.
        while connections.try_join_next().is_some() {}
        let permit = tokio::select! {
            () = stop.cancelled() => break,
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let (stream, remote) = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, a connection reset before
                    // it was accepted...: wait a little, go on.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let slot = ConnectionSlot(Arc::new(permit));
        let request_slot = slot.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(remote));
            request.extensions_mut().insert(request_slot.clone());
            let router = router.clone();
            async move {
                let response = router
                    .oneshot(request.map(Body::new))
                    .await
                    .unwrap_or_else(|e: Infallible| match e {});
                Ok::<_, Infallible>(response)
            }
        });
        let connection = builder
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades();
        let stop = stop.clone();
        connections.spawn(async move {
            let _slot = slot;
            let mut connection = std::pin::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                () = stop.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(e) = result {
                tracing::debug!(%remote, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    let deadline = deadline();
    let drained = tokio::time::timeout_at(deadline, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            left = connections.len(),
            "shutdown: closing the connections still open at the deadline"
        );
        connections.shutdown().await;
    }
}
