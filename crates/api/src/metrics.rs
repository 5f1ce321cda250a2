//! Prometheus metrics through the `metrics` facade, rendered by
//! `metrics-exporter-prometheus` at `/metrics` (its own HTTP listener and
//! push gateway are not built).
//!
//! Two recorders:
//!
//! - **Per server** ([`Metrics`]): HTTP requests, turns, WebSockets, the
//!   wake-up backlog and the process metrics. The server records into its
//!   own recorder (`metrics::with_local_recorder`, only around synchronous
//!   updates), so several servers in one process (the end-to-end tests)
//!   count separately.
//! - **Process-wide** ([`install_global`]): installed once as the global
//!   `metrics` recorder, for what other crates emit through the facade
//!   (the store's `chatcourse_store_commit_batch_size` and
//!   `chatcourse_store_pool_wait_seconds`). `/metrics` renders both.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{
    Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram,
};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

/// Upper bounds (seconds) of the latency histograms' buckets.
const SECONDS_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// Upper bounds of the store's group-commit batch sizes (turns per commit).
const BATCH_BUCKETS: [f64; 10] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

/// The HTTP methods that are labels of their own; any other is `other`.
const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// The label of a request that matched no route.
pub const UNMATCHED: &str = "unmatched";

fn builder() -> PrometheusBuilder {
    PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full("chatcourse_store_commit_batch_size".to_owned()),
            &BATCH_BUCKETS,
        )
        .and_then(|b| b.set_buckets(&SECONDS_BUCKETS))
        .unwrap_or_else(|_| PrometheusBuilder::new())
}

static GLOBAL: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide recorder (once; later calls return the same
/// handle). `None` when another global recorder was installed first: then
/// the facade's metrics go to that one and `/metrics` shows only the
/// server's own.
pub fn install_global() -> Option<&'static PrometheusHandle> {
    GLOBAL
        .get_or_init(|| {
            let recorder = builder().build_recorder();
            let handle = recorder.handle();
            match metrics::set_global_recorder(recorder) {
                Ok(()) => {
                    describe_histogram!(
                        "chatcourse_store_commit_batch_size",
                        Unit::Count,
                        "Turns committed together by one SQLite group commit."
                    );
                    describe_histogram!(
                        "chatcourse_store_pool_wait_seconds",
                        Unit::Seconds,
                        "Time spent waiting for a database connection."
                    );
                    Some(handle)
                }
                Err(_) => {
                    tracing::warn!(
                        "another global metrics recorder is installed: /metrics shows only the server's own metrics"
                    );
                    None
                }
            }
        })
        .as_ref()
}

/// The server's metrics. Cheap to update from any task.
pub struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    process: metrics_process::Collector,
    /// Channels whose outbox gauges were set, so a drained one reads 0.
    outbox_channels: std::sync::Mutex<std::collections::BTreeSet<i64>>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        let recorder = builder().build_recorder();
        let handle = recorder.handle();
        let metrics = Metrics {
            recorder,
            handle,
            process: metrics_process::Collector::default(),
            outbox_channels: std::sync::Mutex::default(),
        };
        metrics.with(|| {
            describe_counter!(
                "chatcourse_http_requests_total",
                "HTTP requests by method, route and status."
            );
            describe_histogram!(
                "chatcourse_http_request_duration_seconds",
                Unit::Seconds,
                "HTTP request latency by route."
            );
            describe_counter!(
                "chatcourse_turns_total",
                "Learner turns by kind and outcome."
            );
            describe_histogram!(
                "chatcourse_turn_duration_seconds",
                Unit::Seconds,
                "Turn latency (engine and commit) by kind."
            );
            describe_gauge!(
                "chatcourse_websocket_connections",
                "Open WebSocket connections."
            );
            describe_gauge!(
                "chatcourse_wakeup_backlog",
                "Sessions found due by the last wake-up round (a round claims at most 100)."
            );
            describe_counter!(
                "chatcourse_deliveries_total",
                "Delivery attempts by channel id and outcome (sent, retry, failed)."
            );
            describe_gauge!(
                "chatcourse_outbox_queued",
                "Queued outbox rows by channel id, as last read by the dispatcher."
            );
            describe_gauge!(
                "chatcourse_outbox_oldest_queued_seconds",
                Unit::Seconds,
                "Age of the oldest queued outbox row by channel id."
            );
            gauge!("chatcourse_websocket_connections").set(0.0);
            gauge!("chatcourse_wakeup_backlog").set(0.0);
            metrics.process.describe();
        });
        metrics
    }
}

impl Metrics {
    fn with<T>(&self, update: impl FnOnce() -> T) -> T {
        metrics::with_local_recorder(&self.recorder, update)
    }

    /// One HTTP request, by matched route (never the raw path: ids in paths
    /// would explode the label set; `route` is [`UNMATCHED`] when no route
    /// matched). Methods outside a fixed set count as `other`.
    pub fn request(&self, method: &str, route: &str, status: u16, took: Duration) {
        let method = METHODS
            .iter()
            .find(|m| **m == method)
            .copied()
            .unwrap_or("other");
        let route = route.to_owned();
        self.with(|| {
            counter!(
                "chatcourse_http_requests_total",
                "method" => method,
                "route" => route.clone(),
                "status" => status.to_string()
            )
            .increment(1);
            histogram!("chatcourse_http_request_duration_seconds", "route" => route)
                .record(took.as_secs_f64());
        });
    }

    /// One engine turn. `kind`: enrol, message, websocket, wake.
    /// `outcome`: applied, duplicate, existing, error.
    pub fn turn(&self, kind: &'static str, outcome: &'static str, took: Duration) {
        self.with(|| {
            counter!("chatcourse_turns_total", "kind" => kind, "outcome" => outcome).increment(1);
            histogram!("chatcourse_turn_duration_seconds", "kind" => kind)
                .record(took.as_secs_f64());
        });
    }

    pub fn websocket_opened(&self) {
        self.with(|| gauge!("chatcourse_websocket_connections").increment(1.0));
    }

    pub fn websocket_closed(&self) {
        self.with(|| gauge!("chatcourse_websocket_connections").decrement(1.0));
    }

    /// One delivery attempt on a channel: `sent`, `retry` or `failed`.
    pub fn delivery(&self, channel: i64, outcome: &'static str) {
        let channel = channel.to_string();
        self.with(|| {
            counter!("chatcourse_deliveries_total", "channel" => channel, "outcome" => outcome)
                .increment(1);
        });
    }

    /// The outbox as last read: per channel, queued rows and the age of
    /// the oldest (seconds). Channels left out have none.
    pub fn outbox(&self, depth: impl IntoIterator<Item = (i64, i64, f64)>) {
        let Ok(mut known) = self.outbox_channels.lock() else {
            return;
        };
        let depth: Vec<(i64, i64, f64)> = depth.into_iter().collect();
        let now: std::collections::BTreeSet<i64> = depth.iter().map(|d| d.0).collect();
        self.with(|| {
            for gone in known.difference(&now) {
                let channel = gone.to_string();
                gauge!("chatcourse_outbox_queued", "channel" => channel.clone()).set(0.0);
                gauge!("chatcourse_outbox_oldest_queued_seconds", "channel" => channel).set(0.0);
            }
            for (channel, queued, age) in &depth {
                let channel = channel.to_string();
                gauge!("chatcourse_outbox_queued", "channel" => channel.clone())
                    .set(*queued as f64);
                gauge!("chatcourse_outbox_oldest_queued_seconds", "channel" => channel).set(*age);
            }
        });
        *known = now;
    }

    /// The wake-up loop found `due` sessions due in its last round.
    pub fn wakeup_backlog(&self, due: usize) {
        self.with(|| gauge!("chatcourse_wakeup_backlog").set(due as f64));
    }

    /// Moves recorded histogram samples into their buckets (rendering does
    /// it too): run every few seconds, so that memory stays bounded when
    /// nobody scrapes `/metrics`.
    pub fn upkeep(&self) {
        self.handle.run_upkeep();
        if let Some(global) = GLOBAL.get().and_then(Option::as_ref) {
            global.run_upkeep();
        }
    }

    /// The Prometheus text exposition format: this server's metrics, the
    /// process metrics, and the process-wide recorder's.
    pub fn render(&self) -> String {
        self.with(|| self.process.collect());
        let mut out = self.handle.render();
        if let Some(global) = GLOBAL.get().and_then(Option::as_ref) {
            out.push_str(&global.render());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_buckets() {
        let m = Metrics::default();
        m.request("GET", "/healthz", 200, Duration::from_millis(2));
        m.request("GET", "/healthz", 200, Duration::from_millis(200));
        m.turn("message", "applied", Duration::from_millis(3));
        let text = m.render();
        let has = |line: &str| assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
        has("chatcourse_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 2");
        has("chatcourse_http_request_duration_seconds_bucket{route=\"/healthz\",le=\"0.0025\"} 1");
        has("chatcourse_http_request_duration_seconds_bucket{route=\"/healthz\",le=\"0.25\"} 2");
        has("chatcourse_http_request_duration_seconds_count{route=\"/healthz\"} 2");
        has("chatcourse_turns_total{kind=\"message\",outcome=\"applied\"} 1");
        has("chatcourse_websocket_connections 0");
        has("chatcourse_wakeup_backlog 0");
        assert!(text.contains("process_resident_memory_bytes "), "{text}");
        assert!(text.contains("process_open_fds "), "{text}");
        assert!(text.contains("process_cpu_seconds_total "), "{text}");
    }

    #[test]
    fn delivery_counts_and_outbox_gauges() {
        let m = Metrics::default();
        m.delivery(7, "sent");
        m.delivery(7, "sent");
        m.delivery(7, "retry");
        m.outbox([(7, 12, 3.5), (8, 1, 0.5)]);
        let text = m.render();
        let has = |line: &str| assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
        has("chatcourse_deliveries_total{channel=\"7\",outcome=\"sent\"} 2");
        has("chatcourse_deliveries_total{channel=\"7\",outcome=\"retry\"} 1");
        has("chatcourse_outbox_queued{channel=\"7\"} 12");
        has("chatcourse_outbox_oldest_queued_seconds{channel=\"7\"} 3.5");
        // A channel whose queue drained reads 0, not its last depth.
        m.outbox([(7, 2, 1.0)]);
        let text = m.render();
        assert!(
            text.lines()
                .any(|l| l == "chatcourse_outbox_queued{channel=\"8\"} 0"),
            "{text}"
        );
        assert!(
            text.lines()
                .any(|l| l == "chatcourse_outbox_queued{channel=\"7\"} 2"),
            "{text}"
        );
    }

    #[test]
    fn upkeep_keeps_the_samples() {
        let m = Metrics::default();
        m.turn("enrol", "applied", Duration::from_millis(3));
        m.upkeep();
        m.turn("enrol", "applied", Duration::from_millis(3));
        let text = m.render();
        assert!(
            text.contains("chatcourse_turn_duration_seconds_count{kind=\"enrol\"} 2"),
            "{text}"
        );
    }

    #[test]
    fn methods_are_bounded() {
        let m = Metrics::default();
        m.request("BREW", "unmatched", 405, Duration::from_millis(1));
        m.request("POST", "/x", 200, Duration::from_millis(1));
        let text = m.render();
        assert!(text.contains("method=\"other\""), "{text}");
        assert!(!text.contains("BREW"), "{text}");
    }

    #[test]
    fn servers_count_separately_and_the_facade_reaches_the_global_recorder() {
        let a = Metrics::default();
        let b = Metrics::default();
        install_global().expect("no other global recorder in these tests");
        a.turn("wake", "applied", Duration::from_millis(1));
        histogram!("chatcourse_store_pool_wait_seconds").record(0.002);
        let (a, b) = (a.render(), b.render());
        assert!(a.contains("chatcourse_turns_total{kind=\"wake\",outcome=\"applied\"} 1"));
        assert!(!b.contains("kind=\"wake\""), "{b}");
        for text in [a, b] {
            assert!(
                text.contains("chatcourse_store_pool_wait_seconds_bucket{le=\"0.0025\"}"),
                "{text}"
            );
        }
    }
}
