//! Building and running the server: modules, store, router, background
//! tasks, graceful shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::error_handling::HandleErrorLayer;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{BoxError, Json, Router};
use chatcourse_storage::{MessageEvent, Store, StoreError};
use futures::StreamExt;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceBuilder;
use tower::timeout::TimeoutLayer;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa_swagger_ui::{Config as SwaggerConfig, SwaggerUi};

use chatcourse_channels::sealing::SealingKey;

use crate::catalogue::{self, Catalogue, LoadError};
use crate::config::Config;
use crate::error::ApiError;
use crate::extract::MAX_BODY_BYTES;
use crate::metrics::Metrics;
use crate::state::{AppState, Shared};
use crate::{openapi, routes};

/// How often the metrics' histogram samples are moved into their buckets.
const METRICS_UPKEEP: Duration = Duration::from_secs(5);

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
    /// The modules folder and how often to look at it again.
    modules_watch: Option<(std::path::PathBuf, Duration)>,
    http: HttpOptions,
    limits: crate::connections::Limits,
    shutdown_timeout: Duration,
    token_sweep_interval: Duration,
}

impl App {
    /// Loads and validates the modules, connects the database named in the
    /// config (applying migrations) and registers every module version.
    pub async fn new(config: &Config) -> Result<App, StartError> {
        // Before the store exists, so that nothing it records is lost.
        crate::metrics::install_global();
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
        crate::metrics::install_global();
        let catalogue = Catalogue::register(store.as_ref(), modules).await?;
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
                live: Arc::default(),
                ws: config.ws,
                page_csp: routes::pages::content_security_policy(&config.frame_ancestors()),
                default_country: config.default_country,
                limiters: crate::limits::Limiters::new(config.rate_limits),
                exports: routes::exports::ExportSlots::new(config.export_limits),
                dispatcher: Some(crate::delivery::Dispatcher::new(
                    config.delivery.clone(),
                    key,
                )),
            })),
            wakeup_interval: config.wakeup_interval,
            modules_watch: config
                .modules_poll
                .map(|every| (config.modules_dir.clone(), every)),
            http: HttpOptions::new(config),
            limits: crate::connections::Limits {
                header_read_timeout: config.header_read_timeout,
                max_connections: config.max_connections,
            },
            shutdown_timeout: config.shutdown_timeout,
            token_sweep_interval: config.token_sweep_interval,
        })
    }

    /// The router (for tests that drive it without a socket).
    pub fn router(&self) -> Router {
        router(self.state.clone(), self.http.clone())
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
        state.tasks.spawn(metrics_upkeep(state.clone()));
        state
            .tasks
            .spawn(crate::wakeup::run(state.clone(), self.wakeup_interval));
        state.tasks.spawn(crate::delivery::run(state.clone()));
        state.tasks.spawn(routes::session_tokens::sweep_expired(
            state.clone(),
            self.token_sweep_interval,
        ));
        if let Some((dir, every)) = self.modules_watch {
            state
                .tasks
                .spawn(catalogue::watch(state.clone(), dir, every));
        }
        let token = state.shutdown.clone();
        tokio::spawn(async move {
            shutdown.await;
            tracing::info!("shutting down: finishing in-flight requests");
            token.cancel();
        });
        // Everything (connections, sockets, tasks) ends by one deadline,
        // set when shutdown starts.
        let bound = self.shutdown_timeout;
        let deadline = Arc::new(std::sync::OnceLock::new());
        let set = Arc::clone(&deadline);
        crate::connections::serve(
            listener,
            router(state.clone(), self.http),
            self.limits,
            state.shutdown.clone(),
            move || *set.get_or_init(|| tokio::time::Instant::now() + bound),
        )
        .await;
        let deadline = *deadline.get_or_init(|| tokio::time::Instant::now() + bound);
        state.tasks.close();
        if tokio::time::timeout_at(deadline, state.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("shutdown: tasks still running after {bound:?}; stopping anyway");
        }
        tracing::info!("stopped");
        Ok(())
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

/// How the router is built: what the config says about HTTP.
#[derive(Debug, Clone)]
struct HttpOptions {
    request_timeout: Duration,
    test_routes: bool,
    cors_origins: Vec<String>,
}

impl HttpOptions {
    fn new(config: &Config) -> HttpOptions {
        HttpOptions {
            request_timeout: config.request_timeout,
            test_routes: config.test_routes,
            cors_origins: config.cors_origins.clone(),
        }
    }
}

/// The path of the interactive API reference (Swagger UI).
pub const DOCS_PATH: &str = "/api/v1/docs";

/// The router: the documented endpoints ([`routes::endpoints`]) and the
/// OpenAPI document made from the same routes, the operations routes, the
/// API reference page, and the layers:
///
/// - for every route (outermost first): a request id (`x-request-id`,
///   generated when absent, echoed in the response), a trace span keyed by
///   the matched route and the request id (never the URI: learner tokens
///   travel in the query), the metrics, a panic answered with the
///   `internal_error` envelope, the body limit;
/// - gzip compression when the client accepts it, except the WebSocket;
/// - a timeout answered with `503 request_timeout`, except the WebSocket
///   and the streamed exports.
fn router(state: AppState, options: HttpOptions) -> Router {
    let endpoints = routes::endpoints();
    let mut ordinary = endpoints
        .ordinary
        .route("/healthz", get(routes::ops::healthz))
        .merge(routes::pages::routes())
        .route("/readyz", get(routes::ops::readyz))
        .route("/metrics", get(routes::ops::metrics));
    if options.test_routes {
        ordinary = ordinary
            .route("/__test/panic", get(test_routes::panic))
            .route("/__test/sleep", get(test_routes::sleep));
    }
    let timeout = ServiceBuilder::new()
        .layer(HandleErrorLayer::new(|_: BoxError| async {
            tracing::warn!("request timed out");
            ApiError::Timeout
        }))
        .layer(TimeoutLayer::new(options.request_timeout));
    let cors = crate::headers::cors(&options.cors_origins);
    let (router, doc) = openapi::base()
        .merge(ordinary.layer(timeout))
        .merge(endpoints.streamed)
        .split_for_parts();
    let (live, live_doc) = endpoints.live.split_for_parts();
    let mut doc = doc;
    doc.merge(live_doc);
    let doc = Arc::new(openapi::finish(doc));
    let docs_page: Router<AppState> = SwaggerUi::new(DOCS_PATH)
        .config(
            SwaggerConfig::new(["/api/v1/openapi.json"])
                .validator_url("none")
                .try_it_out_enabled(false),
        )
        .into();
    let mut router = router
        .route(
            "/api/v1/openapi.json",
            get(move || {
                let doc = Arc::clone(&doc);
                async move { Json(doc) }
            }),
        )
        .merge(docs_page)
        .layer(CompressionLayer::new())
        .merge(live)
        .fallback(routes::ops::not_found)
        .method_not_allowed_fallback(routes::ops::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(middleware::from_fn(crate::headers::security_headers));
    if let Some(cors) = cors {
        router = router.layer(cors);
    }
    router
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_request(())
                .on_response(
                    |response: &Response, took: Duration, _span: &tracing::Span| {
                        tracing::info!(
                            status = response.status().as_u16(),
                            micros = took.as_micros() as u64,
                            "request"
                        );
                    },
                )
                .on_failure(()),
        )
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}

/// The span of a request: method, matched route (or `unmatched`) and
/// request id. Never the URI or its query.
fn request_span(request: &Request) -> tracing::Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(crate::metrics::UNMATCHED, MatchedPath::as_str);
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    tracing::info_span!("request", method = %request.method(), route, request_id)
}

/// A handler panicked: the `internal_error` envelope (the panic is logged).
fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(not a string)".to_owned());
    ApiError::internal(format!("handler panicked: {message}")).into_response()
}

/// Counts every request in the metrics, by matched route.
async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(crate::metrics::UNMATCHED, MatchedPath::as_str)
        .to_owned();
    let response = next.run(request).await;
    state.metrics.request(
        method.as_str(),
        &route,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

/// Routes only tests turn on ([`Config::test_routes`]).
mod test_routes {
    use std::time::Duration;

    use crate::envelope::{Envelope, ok};
    use crate::extract::QueryParams;

    /// Panics, as a buggy handler would.
    pub async fn panic() -> Envelope<()> {
        panic!("test route: a handler that panics")
    }

    /// Answers after `ms` milliseconds.
    pub async fn sleep(query: QueryParams) -> Envelope<()> {
        let ms = query.get("ms").and_then(|ms| ms.parse().ok()).unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        ok("Slept", ())
    }
}

/// Keeps the metrics' memory bounded between scrapes.
async fn metrics_upkeep(state: AppState) {
    let mut tick = tokio::time::interval(METRICS_UPKEEP);
    loop {
        tokio::select! {
            () = state.shutdown.cancelled() => return,
            _ = tick.tick() => {
                state.metrics.upkeep();
                state.limiters.upkeep();
            }
        }
    }
}

/// Wakes the WebSocket connections of each committed session.
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
                Some(MessageEvent::Committed { session, ids, .. }) => {
                    if let Some(latest) = ids.iter().max() {
                        state.live.wake(session, *latest);
                    }
                }
                Some(MessageEvent::Lagged) => state.live.wake_all(),
                None => {
                    state.live.wake_all();
                    tracing::warn!("message event stream ended");
                    return;
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A log sink for one test.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Requests through the server's trace layer, logged into a sink.
    #[test]
    fn the_request_span_has_the_route_and_id_never_the_query() {
        use tower::Service;
        let sink = Sink::default();
        let writer = sink.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let mut router: Router = Router::new()
            .route("/api/v1/ws", get(|| async { tracing::info!("handled") }))
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(request_span)
                    .on_response(|_: &Response, _: Duration, _: &tracing::Span| {
                        tracing::info!("answered")
                    }),
            );
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        tracing::subscriber::with_default(subscriber, || {
            for path in ["/api/v1/ws", "/nowhere"] {
                let request = Request::builder()
                    .uri(format!("{path}?token=cst_secret&customerUuid=c1"))
                    .header("x-request-id", "rid-7")
                    .body(axum::body::Body::empty())
                    .unwrap();
                let response = runtime.block_on(router.call(request)).unwrap();
                let _ = response.status();
            }
        });
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        assert!(text.contains("route=\"/api/v1/ws\""), "{text}");
        assert!(text.contains("route=\"unmatched\""), "{text}");
        assert!(text.contains("request_id=\"rid-7\""), "{text}");
        assert!(text.contains("method=GET"), "{text}");
        assert!(
            !text.contains("cst_secret") && !text.contains("c1"),
            "{text}"
        );
    }
}
