//! Building and running the server: modules, store, router, background
//! tasks, graceful shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use chatcourse_storage::{MessageEvent, Store, StoreError};
use futures::StreamExt;
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use chatcourse_channels::sealing::SealingKey;

use crate::catalogue::{self, Catalogue, LoadError};
use crate::config::Config;
use crate::extract::MAX_BODY_BYTES;
use crate::metrics::Metrics;
use crate::routes;
use crate::state::{AppState, Shared};

/// How long shutdown waits for WebSocket connections and background tasks
/// after the listener has stopped and in-flight requests have finished.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the server cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Some module is invalid: the report holds every diagnostic.
    #[error("{0}")]
    Modules(#[from] LoadError),
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// A server ready to accept connections.
pub struct App {
    state: AppState,
    wakeup_interval: Duration,
}

impl App {
    /// Loads and validates the modules, connects the database named in the
    /// config (applying migrations) and registers every module version.
    pub async fn new(config: &Config) -> Result<App, StartError> {
        let modules = catalogue::load_dir(&config.modules_dir)?;
        let store = chatcourse_storage::connect(&config.database_url).await?;
        App::build(config, store, modules).await
    }

    /// As [`App::new`], on a store the caller opened.
    pub async fn with_store(config: &Config, store: Arc<dyn Store>) -> Result<App, StartError> {
        let modules = catalogue::load_dir(&config.modules_dir)?;
        App::build(config, store, modules).await
    }

    async fn build(
        config: &Config,
        store: Arc<dyn Store>,
        modules: Vec<catalogue::LoadedModule>,
    ) -> Result<App, StartError> {
        let catalogue = Catalogue::register(store.as_ref(), modules).await?;
        let (events, _) = broadcast::channel(1024);
        let key = match &config.secret_key {
            Some(text) => SealingKey::from_base64(text)
                .map_err(|e| std::io::Error::other(format!("secret key: {e}")))?,
            None => SealingKey::generate()
                .map_err(|e| std::io::Error::other(format!("secret key: {e}")))?,
        };
        Ok(App {
            state: AppState(Arc::new(Shared {
                clock: store.clock(),
                store,
                catalogue,
                timezone: config.timezone,
                metrics: Metrics::default(),
                shutdown: CancellationToken::new(),
                tasks: TaskTracker::new(),
                events,
                default_country: config.default_country,
                dispatcher: Some(crate::delivery::Dispatcher::new(
                    config.delivery.clone(),
                    key,
                )),
            })),
            wakeup_interval: config.wakeup_interval,
        })
    }

    /// The router (for tests that drive it without a socket).
    pub fn router(&self) -> Router {
        router(self.state.clone())
    }

    /// Serves on `listener` until `shutdown` completes; then stops
    /// accepting, lets in-flight requests and turns finish, closes
    /// WebSocket connections (after their turn in progress) and stops the
    /// background tasks.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let state = self.state;
        state.tasks.spawn(fan_out_events(state.clone()));
        state
            .tasks
            .spawn(crate::wakeup::run(state.clone(), self.wakeup_interval));
        state.tasks.spawn(crate::delivery::run(state.clone()));
        let token = state.shutdown.clone();
        let result = axum::serve(listener, router(state.clone()))
            .with_graceful_shutdown(async move {
                shutdown.await;
                tracing::info!("shutting down: finishing in-flight requests");
                token.cancel();
            })
            .await;
        // If serving failed, stop the tasks too.
        state.shutdown.cancel();
        state.tasks.close();
        if tokio::time::timeout(DRAIN_TIMEOUT, state.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("shutdown: tasks still running after {DRAIN_TIMEOUT:?}");
        }
        tracing::info!("stopped");
        result
    }
}

/// Builds the app from `config` and serves on `listener` until `shutdown`.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let app = App::new(&config).await?;
    tracing::info!(addr = %listener.local_addr()?, "listening");
    app.serve(listener, shutdown).await?;
    Ok(())
}

fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(routes::ops::healthz))
        .route("/readyz", get(routes::ops::readyz))
        .route("/metrics", get(routes::ops::metrics))
        .route("/api/v1/openapi.json", get(routes::ops::openapi))
        .route(
            "/api/v1/customer/mfi/register",
            post(routes::customers::register),
        )
        .route("/api/v1/customer/mfi", get(routes::customers::fetch))
        .route(
            "/api/v1/fe/program/customer/add",
            post(routes::enrolment::add),
        )
        .route("/api/v1/message/all", get(routes::messages::all))
        .route("/api/v1/message", post(routes::messages::post))
        .route("/api/v1/ws", get(routes::ws::connect))
        .route(
            "/api/v1/fe/session/token",
            post(routes::session_tokens::create),
        )
        .route("/api/v1/fe/modules", get(routes::modules::list))
        .route(
            "/api/v1/fe/customer/summary",
            get(routes::summaries::customer),
        )
        .route(
            "/api/v1/fe/customer/session/summary",
            get(routes::summaries::session),
        )
        .route(
            "/api/v1/fe/program/summary",
            get(routes::summaries::program),
        )
        .route(
            "/api/v1/fe/program/export/messages",
            get(routes::exports::messages),
        )
        .route(
            "/api/v1/fe/program/export/scores",
            get(routes::exports::scores),
        )
        .route(
            "/api/v1/fe/channels",
            post(routes::channels::create).get(routes::channels::list),
        )
        .route(
            "/api/v1/fe/channels/{uuid}",
            get(routes::channels::fetch).delete(routes::channels::disable),
        )
        .route(
            "/api/v1/channels/{uuid}/inbound",
            post(routes::channels::inbound),
        )
        .fallback(routes::ops::not_found)
        .method_not_allowed_fallback(routes::ops::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// Logs every request and counts it in the metrics, by matched route.
async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let response = next.run(request).await;
    let took = started.elapsed();
    let status = response.status().as_u16();
    state.metrics.request(method.as_str(), &route, status, took);
    tracing::info!(
        %method,
        %route,
        status,
        micros = took.as_micros() as u64,
        "request"
    );
    response
}

/// Forwards the store's committed-message events to WebSocket connections.
async fn fan_out_events(state: AppState) {
    let mut stream = match state.store.subscribe().await {
        Ok(stream) => stream,
        Err(e) => {
            tracing::error!(error = %e, "cannot subscribe to message events; live delivery only covers this connection's own turns");
            return;
        }
    };
    loop {
        tokio::select! {
            () = state.shutdown.cancelled() => return,
            event = stream.next() => match event {
                // No receivers is fine: nobody is connected.
                Some(event) => { let _ = state.events.send(event); }
                None => {
                    let _ = state.events.send(MessageEvent::Lagged);
                    tracing::warn!("message event stream ended");
                    return;
                }
            },
        }
    }
}
