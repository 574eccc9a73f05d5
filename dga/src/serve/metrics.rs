//! Request counters and a latency histogram in Prometheus' text format. Hand-written: four
//! metrics do not justify a metrics framework and its registry.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds: sub-millisecond single names up to
/// multi-second 100k-name batches.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Default)]
pub struct Metrics {
    /// Requests by (endpoint, status code).
    requests: Mutex<BTreeMap<(&'static str, u16), u64>>,
    /// Per endpoint: counts per bucket (cumulative at render time), sum of seconds, count.
    latency: Mutex<BTreeMap<&'static str, Histogram>>,
    names: AtomicU64,
}

#[derive(Default)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

/// The endpoint a path belongs to: a fixed set, so that metric labels stay few whatever
/// clients request.
pub fn endpoint_of(path: &str) -> &'static str {
    match path {
        "/healthz" => "healthz",
        "/metrics" => "metrics",
        "/v1/score" => "score",
        "/get_predictions" => "get_predictions",
        p if p.starts_with("/get_prediction/") => "get_prediction",
        p if p.starts_with("/v1/models/") && p.contains(':') => "tf_predict",
        p if p.starts_with("/v1/models/") => "tf_status",
        _ => "other",
    }
}

impl Metrics {
    pub fn record(&self, endpoint: &'static str, status: u16, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        if let Ok(mut requests) = self.requests.lock() {
            *requests.entry((endpoint, status)).or_default() += 1;
        }
        if let Ok(mut latency) = self.latency.lock() {
            let histogram = latency.entry(endpoint).or_default();
            if let Some(i) = BUCKETS.iter().position(|&b| seconds <= b) {
                histogram.buckets[i] += 1;
            }
            histogram.sum += seconds;
            histogram.count += 1;
        }
    }

    pub fn scored(&self, names: usize) {
        self.names.fetch_add(names as u64, Ordering::Relaxed);
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP dga_requests_total HTTP requests by endpoint and status code.\n");
        out.push_str("# TYPE dga_requests_total counter\n");
        if let Ok(requests) = self.requests.lock() {
            for ((endpoint, code), n) in requests.iter() {
                let _ = writeln!(
                    out,
                    "dga_requests_total{{endpoint=\"{endpoint}\",code=\"{code}\"}} {n}"
                );
            }
        }
        out.push_str("# HELP dga_names_scored_total Names scored (or reported unscorable).\n");
        out.push_str("# TYPE dga_names_scored_total counter\n");
        let _ = writeln!(
            out,
            "dga_names_scored_total {}",
            self.names.load(Ordering::Relaxed)
        );
        out.push_str("# HELP dga_request_duration_seconds Time to answer a request.\n");
        out.push_str("# TYPE dga_request_duration_seconds histogram\n");
        if let Ok(latency) = self.latency.lock() {
            for (endpoint, h) in latency.iter() {
                let mut cumulative = 0;
                for (bound, n) in BUCKETS.iter().zip(h.buckets) {
                    cumulative += n;
                    let _ = writeln!(
                        out,
                        "dga_request_duration_seconds_bucket{{endpoint=\"{endpoint}\",le=\"{bound}\"}} {cumulative}"
                    );
                }
                let _ = writeln!(
                    out,
                    "dga_request_duration_seconds_bucket{{endpoint=\"{endpoint}\",le=\"+Inf\"}} {}",
                    h.count
                );
                let _ = writeln!(
                    out,
                    "dga_request_duration_seconds_sum{{endpoint=\"{endpoint}\"}} {}",
                    h.sum
                );
                let _ = writeln!(
                    out,
                    "dga_request_duration_seconds_count{{endpoint=\"{endpoint}\"}} {}",
                    h.count
                );
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_and_cumulative_buckets() {
        let m = Metrics::default();
        m.record("score", 200, Duration::from_micros(300));
        m.record("score", 200, Duration::from_millis(30));
        m.record("score", 413, Duration::from_millis(1));
        m.scored(1000);
        let text = m.render();
        assert!(
            text.contains("dga_requests_total{endpoint=\"score\",code=\"200\"} 2"),
            "{text}"
        );
        assert!(text.contains("dga_requests_total{endpoint=\"score\",code=\"413\"} 1"));
        assert!(text.contains("dga_names_scored_total 1000"));
        assert!(
            text.contains(
                "dga_request_duration_seconds_bucket{endpoint=\"score\",le=\"0.0005\"} 1"
            )
        );
        assert!(
            text.contains("dga_request_duration_seconds_bucket{endpoint=\"score\",le=\"0.05\"} 3")
        );
        assert!(text.contains("dga_request_duration_seconds_count{endpoint=\"score\"} 3"));
    }

    #[test]
    fn endpoints_are_a_fixed_set() {
        assert_eq!(endpoint_of("/v1/models/dga:predict"), "tf_predict");
        assert_eq!(endpoint_of("/v1/models/dga/metadata"), "tf_status");
        assert_eq!(endpoint_of("/get_prediction/a.com"), "get_prediction");
        assert_eq!(endpoint_of("/random/junk"), "other");
    }
}
