//! Prometheus metrics, hand-written: a few counters, one gauge and two
//! histograms, rendered in the text exposition format at `/metrics`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the latency histograms' buckets.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                self.counts[i] += 1;
            }
        }
        self.count += 1;
        self.sum += seconds;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (bound, n) in BUCKETS.iter().zip(self.counts) {
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

#[derive(Default)]
struct Inner {
    /// (method, route, status) -> count
    requests: BTreeMap<(String, String, u16), u64>,
    /// route -> latency
    request_seconds: BTreeMap<String, Histogram>,
    /// (kind, outcome) -> count
    turns: BTreeMap<(&'static str, &'static str), u64>,
    /// kind -> latency
    turn_seconds: BTreeMap<&'static str, Histogram>,
    /// (channel id, outcome: sent, retry, failed) -> count
    deliveries: BTreeMap<(i64, &'static str), u64>,
    /// channel id -> (queued rows, age of the oldest in seconds), as last
    /// read by the dispatcher
    outbox: BTreeMap<i64, (i64, f64)>,
}

/// The server's metrics. Cheap to update from any task.
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
    websockets: AtomicI64,
}

impl Metrics {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave the maps invalid.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One HTTP request, by matched route (never the raw path: ids in paths
    /// would explode the label set).
    pub fn request(&self, method: &str, route: &str, status: u16, took: Duration) {
        let mut inner = self.lock();
        *inner
            .requests
            .entry((method.to_owned(), route.to_owned(), status))
            .or_default() += 1;
        inner
            .request_seconds
            .entry(route.to_owned())
            .or_default()
            .observe(took.as_secs_f64());
    }

    /// One engine turn. `kind`: enrol, message, websocket, wake.
    /// `outcome`: applied, duplicate, error.
    pub fn turn(&self, kind: &'static str, outcome: &'static str, took: Duration) {
        let mut inner = self.lock();
        *inner.turns.entry((kind, outcome)).or_default() += 1;
        inner
            .turn_seconds
            .entry(kind)
            .or_default()
            .observe(took.as_secs_f64());
    }

    /// One delivery attempt on a channel: `sent`, `retry` or `failed`.
    pub fn delivery(&self, channel: i64, outcome: &'static str) {
        *self
            .lock()
            .deliveries
            .entry((channel, outcome))
            .or_default() += 1;
    }

    /// The outbox as last read: per channel, queued rows and the age of
    /// the oldest (seconds). Channels left out have none.
    pub fn outbox(&self, depth: impl IntoIterator<Item = (i64, i64, f64)>) {
        self.lock().outbox = depth
            .into_iter()
            .map(|(channel, queued, age)| (channel, (queued, age)))
            .collect();
    }

    pub fn websocket_opened(&self) {
        self.websockets.fetch_add(1, Ordering::Relaxed);
    }

    pub fn websocket_closed(&self) {
        self.websockets.fetch_sub(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition format.
    pub fn render(&self) -> String {
        let inner = self.lock();
        let mut out = String::new();
        out.push_str(
            "# HELP chatcourse_http_requests_total HTTP requests by method, route and status.\n",
        );
        out.push_str("# TYPE chatcourse_http_requests_total counter\n");
        for ((method, route, status), n) in &inner.requests {
            let _ = writeln!(
                out,
                "chatcourse_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{status}\"}} {n}",
                escape(method),
                escape(route)
            );
        }
        out.push_str(
            "# HELP chatcourse_http_request_duration_seconds HTTP request latency by route.\n",
        );
        out.push_str("# TYPE chatcourse_http_request_duration_seconds histogram\n");
        for (route, h) in &inner.request_seconds {
            h.render(
                &mut out,
                "chatcourse_http_request_duration_seconds",
                &format!("route=\"{}\"", escape(route)),
            );
        }
        out.push_str("# HELP chatcourse_turns_total Learner turns by kind and outcome.\n");
        out.push_str("# TYPE chatcourse_turns_total counter\n");
        for ((kind, outcome), n) in &inner.turns {
            let _ = writeln!(
                out,
                "chatcourse_turns_total{{kind=\"{kind}\",outcome=\"{outcome}\"}} {n}"
            );
        }
        out.push_str(
            "# HELP chatcourse_turn_duration_seconds Turn latency (engine and commit) by kind.\n",
        );
        out.push_str("# TYPE chatcourse_turn_duration_seconds histogram\n");
        for (kind, h) in &inner.turn_seconds {
            h.render(
                &mut out,
                "chatcourse_turn_duration_seconds",
                &format!("kind=\"{kind}\""),
            );
        }
        out.push_str(
            "# HELP chatcourse_deliveries_total Delivery attempts by channel id and outcome (sent, retry, failed).\n",
        );
        out.push_str("# TYPE chatcourse_deliveries_total counter\n");
        for ((channel, outcome), n) in &inner.deliveries {
            let _ = writeln!(
                out,
                "chatcourse_deliveries_total{{channel=\"{channel}\",outcome=\"{outcome}\"}} {n}"
            );
        }
        out.push_str("# HELP chatcourse_outbox_queued Queued outbox rows by channel id.\n");
        out.push_str("# TYPE chatcourse_outbox_queued gauge\n");
        for (channel, (queued, _)) in &inner.outbox {
            let _ = writeln!(
                out,
                "chatcourse_outbox_queued{{channel=\"{channel}\"}} {queued}"
            );
        }
        out.push_str(
            "# HELP chatcourse_outbox_oldest_queued_seconds Age of the oldest queued row by channel id.\n",
        );
        out.push_str("# TYPE chatcourse_outbox_oldest_queued_seconds gauge\n");
        for (channel, (_, age)) in &inner.outbox {
            let _ = writeln!(
                out,
                "chatcourse_outbox_oldest_queued_seconds{{channel=\"{channel}\"}} {age}"
            );
        }
        out.push_str("# HELP chatcourse_websocket_connections Open WebSocket connections.\n");
        out.push_str("# TYPE chatcourse_websocket_connections gauge\n");
        let _ = writeln!(
            out,
            "chatcourse_websocket_connections {}",
            self.websockets.load(Ordering::Relaxed)
        );
        out
    }
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
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
        m.delivery(7, "sent");
        m.delivery(7, "sent");
        m.outbox([(7, 12, 3.5)]);
        let text = m.render();
        assert!(text.contains("chatcourse_deliveries_total{channel=\"7\",outcome=\"sent\"} 2"));
        assert!(text.contains("chatcourse_outbox_queued{channel=\"7\"} 12"));
        assert!(text.contains("chatcourse_outbox_oldest_queued_seconds{channel=\"7\"} 3.5"));
        assert!(text.contains(
            "chatcourse_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 2"
        ));
        assert!(text.contains(
            "chatcourse_http_request_duration_seconds_bucket{route=\"/healthz\",le=\"0.0025\"} 1"
        ));
        assert!(text.contains(
            "chatcourse_http_request_duration_seconds_bucket{route=\"/healthz\",le=\"0.25\"} 2"
        ));
        assert!(
            text.contains("chatcourse_http_request_duration_seconds_count{route=\"/healthz\"} 2")
        );
        assert!(text.contains("chatcourse_turns_total{kind=\"message\",outcome=\"applied\"} 1"));
        assert!(text.contains("chatcourse_websocket_connections 0"));
    }
}
