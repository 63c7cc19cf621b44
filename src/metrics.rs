//! Counters, gauges and one histogram, rendered as Prometheus text (pure; no crate
//! needed for this little). Shared via `Arc<Metrics>`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;

/// Every counter family: name and help text. Only these names are accepted.
const COUNTERS: &[(&str, &str)] = &[
    (
        "casterpak_upstream_requests_total",
        "Requests to remote sources' upstreams",
    ),
    (
        "casterpak_upstream_bytes_total",
        "Body bytes received from remote sources' upstreams",
    ),
    (
        "casterpak_upstream_errors_total",
        "Failed upstream requests by kind (status, unreachable, timeout, truncated, bad_answer, changed)",
    ),
    (
        "casterpak_input_cache_total",
        "Remote source opens answered from the input cache's known copy (hit) or needing a new one (miss)",
    ),
    (
        "casterpak_input_cache_fill_bytes_total",
        "Bytes written into the input cache",
    ),
    (
        "casterpak_requests_total",
        "SCGI requests seen by the worker (cache misses and endpoints)",
    ),
    ("casterpak_misses_total", "Cache misses by resource kind"),
    (
        "casterpak_fills_total",
        "Files published into the cache by kind",
    ),
    (
        "casterpak_fill_bytes_total",
        "Bytes published into the cache",
    ),
    (
        "casterpak_failures_total",
        "Failed requests by HTTP status and resource kind",
    ),
    (
        "casterpak_tool_runs_total",
        "Tool subprocess runs by tool and kind",
    ),
    (
        "casterpak_tool_process_restarts_total",
        "Long-lived tool processes given up, by reason (the next job starts a fresh one)",
    ),
    (
        "casterpak_hits_total",
        "Cache hits reported by nginx's hit log",
    ),
    (
        "casterpak_stale_evictions_total",
        "Cache entries evicted by the hit feed because their source changed",
    ),
    (
        "casterpak_hit_log_lines_total",
        "Lines read from nginx's hit log, malformed ones included",
    ),
    (
        "casterpak_hit_log_ignored_total",
        "Hit log lines that named no cache entry or had a status that is no access",
    ),
    (
        "casterpak_hit_log_malformed_total",
        "Hit log lines that did not parse or were too long",
    ),
    (
        "casterpak_hit_log_dropped_total",
        "Hits not recorded because the pending batch was full",
    ),
    (
        "casterpak_hit_log_read_errors_total",
        "Reads of the hit log that failed (access times stop updating)",
    ),
    (
        "casterpak_hit_log_flush_errors_total",
        "Batches of access times that could not be written to the database (lost)",
    ),
    (
        "casterpak_scgi_connections_shed_total",
        "SCGI connections answered 503 or closed because every place was busy",
    ),
    (
        "casterpak_scgi_connections_displaced_total",
        "Idle SCGI connections closed to make room for a new one",
    ),
    (
        "casterpak_scgi_header_timeouts_total",
        "SCGI connections closed because their header did not arrive in time",
    ),
];

/// Every gauge family set from outside (by the scrape): name and help text.
const GAUGES: &[(&str, &str)] = &[
    (
        "casterpak_cache_bytes",
        "Bytes in the cache as the index counts them (refreshed at most every few seconds)",
    ),
    (
        "casterpak_cache_entries",
        "Renditions and csmil masters in the cache index",
    ),
    (
        "casterpak_cache_fs_available_bytes",
        "Bytes the worker may still write on the cache file system",
    ),
    (
        "casterpak_cache_fs_size_bytes",
        "Size of the cache file system",
    ),
    (
        "casterpak_cache_fs_floor_bytes",
        "Free-space floor: below it misses answer 503 and ready says no",
    ),
    ("casterpak_fills_in_flight", "Fills (and plans) running now"),
    (
        "casterpak_tool_processes",
        "Long-lived mp42hls --serve processes running now",
    ),
    (
        "casterpak_tool_index_entries",
        "Parsed indexes the serve processes keep, summed (as last asked)",
    ),
    (
        "casterpak_tool_index_entries_max",
        "Parsed indexes the fullest serve process keeps (as last asked)",
    ),
    (
        "casterpak_tool_index_bytes",
        "Bytes of parsed indexes the serve processes keep, summed (as last asked)",
    ),
    (
        "casterpak_scgi_connections",
        "SCGI connections the worker holds now",
    ),
    (
        "casterpak_scgi_connections_limit",
        "Most SCGI connections the worker holds at once",
    ),
];

/// Upper bounds (seconds) of the tool run histogram.
const BUCKETS: &[f64] = &[
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0,
];

#[derive(Default)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

#[derive(Default)]
pub struct Metrics {
    /// (family, rendered label set) → value.
    counters: Mutex<BTreeMap<(&'static str, String), u64>>,
    tool_seconds: Mutex<Histogram>,
    queue_depth: AtomicI64,
    in_flight: AtomicI64,
    /// Gauges of [`GAUGES`] by name; a gauge never set renders no sample.
    gauges: Mutex<BTreeMap<&'static str, u64>>,
}

fn labels(pairs: &[(&str, &str)]) -> String {
    let body: Vec<String> = pairs
        .iter()
        .map(|(k, v)| {
            let v = v
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{k}=\"{v}\"")
        })
        .collect();
    if body.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", body.join(","))
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics::default()
    }

    /// Adds `n` to a counter; `name` must be one of [`COUNTERS`].
    pub fn add(&self, name: &'static str, label_pairs: &[(&str, &str)], n: u64) {
        debug_assert!(COUNTERS.iter().any(|(c, _)| *c == name), "{name}");
        let mut map = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        let value = map.entry((name, labels(label_pairs))).or_insert(0);
        *value = value.saturating_add(n);
    }

    /// Sets a counter that is counted elsewhere (e.g. the hit log's own counters).
    pub fn set(&self, name: &'static str, label_pairs: &[(&str, &str)], n: u64) {
        let mut map = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        map.insert((name, labels(label_pairs)), n);
    }

    /// Sets a gauge; `name` must be one of [`GAUGES`].
    pub fn set_gauge(&self, name: &'static str, value: u64) {
        debug_assert!(GAUGES.iter().any(|(g, _)| *g == name), "{name}");
        let mut map = self.gauges.lock().unwrap_or_else(|e| e.into_inner());
        map.insert(name, value);
    }

    pub fn inc(&self, name: &'static str, label_pairs: &[(&str, &str)]) {
        self.add(name, label_pairs, 1);
    }

    pub fn queue_depth_add(&self, delta: i64) {
        self.queue_depth.fetch_add(delta, Ordering::Relaxed);
    }

    pub fn in_flight_add(&self, delta: i64) {
        self.in_flight.fetch_add(delta, Ordering::Relaxed);
    }

    pub fn observe_tool_seconds(&self, secs: f64) {
        let mut h = self.tool_seconds.lock().unwrap_or_else(|e| e.into_inner());
        if h.counts.len() != BUCKETS.len() {
            h.counts = vec![0; BUCKETS.len()];
        }
        for (bound, count) in BUCKETS.iter().zip(h.counts.iter_mut()) {
            if secs <= *bound {
                *count += 1;
            }
        }
        h.sum += secs;
        h.count += 1;
    }

    /// Value of one counter series (for tests and the single-flight check).
    pub fn counter(&self, name: &'static str, label_pairs: &[(&str, &str)]) -> u64 {
        let map = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&(name, labels(label_pairs))).copied().unwrap_or(0)
    }

    /// Prometheus text exposition format 0.0.4.
    pub fn render(&self) -> String {
        let mut out = String::new();
        {
            let map = self.counters.lock().unwrap_or_else(|e| e.into_inner());
            for (name, help) in COUNTERS {
                let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
                for ((_, l), v) in map
                    .range((*name, String::new())..)
                    .take_while(|((n, _), _)| n == name)
                {
                    let _ = writeln!(out, "{name}{l} {v}");
                }
            }
        }
        for (name, help, gauge) in [
            (
                "casterpak_queue_depth",
                "Tool runs waiting for a pool slot",
                &self.queue_depth,
            ),
            (
                "casterpak_in_flight",
                "Requests being handled",
                &self.in_flight,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {}",
                gauge.load(Ordering::Relaxed)
            );
        }
        {
            let map = self.gauges.lock().unwrap_or_else(|e| e.into_inner());
            for (name, help) in GAUGES {
                let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
                if let Some(value) = map.get(name) {
                    let _ = writeln!(out, "{name} {value}");
                }
            }
        }
        let h = self.tool_seconds.lock().unwrap_or_else(|e| e.into_inner());
        let name = "casterpak_tool_run_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Wall time of tool runs\n# TYPE {name} histogram"
        );
        for (i, bound) in BUCKETS.iter().enumerate() {
            let c = h.counts.get(i).copied().unwrap_or(0);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {c}");
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", h.count);
        let _ = writeln!(out, "{name}_sum {}\n{name}_count {}", h.sum, h.count);
        out
    }
}

/// The live series (`[live]`), from what the last live tick counted.
pub fn live_text(stats: &crate::live::LiveStats) -> String {
    let mut out = String::new();
    for (name, help, kind, value) in [
        (
            "casterpak_live_streams",
            "Live streams publishing now",
            "gauge",
            stats.streams_live,
        ),
        (
            "casterpak_live_streams_ended",
            "Ended live streams not swept yet",
            "gauge",
            stats.streams_ended,
        ),
        (
            "casterpak_live_ingest_bytes_total",
            "Request bytes of the live writes nginx accepted (its ingest feed)",
            "counter",
            stats.ingest_bytes,
        ),
        (
            "casterpak_live_ingest_requests_total",
            "Live writes nginx accepted (PUT, POST, DELETE answered 2xx)",
            "counter",
            stats.ingest_requests,
        ),
        (
            "casterpak_recordings_active",
            "Recordings taking segments now",
            "gauge",
            stats.recordings_active,
        ),
        (
            "casterpak_recordings",
            "Stopped recordings kept",
            "gauge",
            stats.recordings_done,
        ),
    ] {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    }
    let name = "casterpak_live_segments";
    let _ = writeln!(
        out,
        "# HELP {name} Segment files on disk per live stream\n# TYPE {name} gauge"
    );
    for (stream, n) in &stats.segments {
        let _ = writeln!(out, "{name}{} {n}", labels(&[("stream", stream)]));
    }
    out
}

#[cfg(test)]
mod tests {

    #[test]
    fn renders_live_series() {
        let mut stats = crate::live::LiveStats {
            streams_live: 2,
            ingest_bytes: 1234,
            recordings_done: 1,
            ..Default::default()
        };
        stats.segments.insert("s1".into(), 5);
        let text = live_text(&stats);
        for line in [
            "casterpak_live_streams 2\n",
            "casterpak_live_ingest_bytes_total 1234\n",
            "casterpak_recordings 1\n",
            "casterpak_live_segments{stream=\"s1\"} 5\n",
            "# TYPE casterpak_live_ingest_bytes_total counter\n",
        ] {
            assert!(text.contains(line), "{line:?} missing from {text}");
        }
    }
    use super::*;

    #[test]
    fn renders_counters_gauges_and_histogram() {
        let m = Metrics::new();
        m.inc("casterpak_misses_total", &[("kind", "segment")]);
        m.add("casterpak_misses_total", &[("kind", "segment")], 2);
        m.inc(
            "casterpak_failures_total",
            &[("status", "422"), ("kind", "master")],
        );
        m.queue_depth_add(3);
        m.queue_depth_add(-1);
        m.observe_tool_seconds(0.02);
        m.observe_tool_seconds(3.0);
        let text = m.render();
        for line in [
            "# TYPE casterpak_misses_total counter",
            "casterpak_misses_total{kind=\"segment\"} 3",
            "casterpak_failures_total{status=\"422\",kind=\"master\"} 1",
            "casterpak_queue_depth 2",
            "casterpak_in_flight 0",
            "casterpak_tool_run_seconds_bucket{le=\"0.01\"} 0",
            "casterpak_tool_run_seconds_bucket{le=\"0.025\"} 1",
            "casterpak_tool_run_seconds_bucket{le=\"5\"} 2",
            "casterpak_tool_run_seconds_bucket{le=\"+Inf\"} 2",
            "casterpak_tool_run_seconds_count 2",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        assert_eq!(
            m.counter("casterpak_misses_total", &[("kind", "segment")]),
            3
        );
        assert_eq!(
            m.counter("casterpak_misses_total", &[("kind", "master")]),
            0
        );
    }

    #[test]
    fn renders_operator_series_with_help_and_type() {
        let m = Metrics::new();
        m.set("casterpak_hit_log_malformed_total", &[], 4);
        m.set("casterpak_hit_log_dropped_total", &[], 0);
        m.set_gauge("casterpak_cache_bytes", 123_456);
        m.set_gauge("casterpak_cache_entries", 3);
        m.set_gauge("casterpak_cache_fs_available_bytes", 5 << 30);
        m.set_gauge("casterpak_fills_in_flight", 2);
        m.set_gauge("casterpak_scgi_connections", 7);
        let text = m.render();
        for line in [
            "# HELP casterpak_hit_log_malformed_total Hit log lines that did not parse or were too long",
            "# TYPE casterpak_hit_log_malformed_total counter",
            "casterpak_hit_log_malformed_total 4",
            "casterpak_hit_log_dropped_total 0",
            "# TYPE casterpak_hit_log_read_errors_total counter",
            "# TYPE casterpak_hit_log_flush_errors_total counter",
            "# TYPE casterpak_cache_bytes gauge",
            "casterpak_cache_bytes 123456",
            "casterpak_cache_entries 3",
            "casterpak_cache_fs_available_bytes 5368709120",
            "# TYPE casterpak_cache_fs_floor_bytes gauge",
            "casterpak_fills_in_flight 2",
            "# HELP casterpak_scgi_connections SCGI connections the worker holds now",
            "casterpak_scgi_connections 7",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        // A gauge never set has HELP and TYPE but no sample.
        assert!(text.contains("# TYPE casterpak_cache_fs_size_bytes gauge\n"));
        assert!(!text
            .lines()
            .any(|l| l.starts_with("casterpak_cache_fs_size_bytes ")));
        // Every family is announced once, and every sample belongs to an announced one.
        let families: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split(' ').next())
            .collect();
        let mut unique = families.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), families.len(), "{families:?}");
        for sample in text.lines().filter(|l| !l.starts_with('#')) {
            let name = sample.split(['{', ' ']).next().unwrap_or_default();
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .filter(|f| families.contains(f))
                .unwrap_or(name);
            assert!(families.contains(&family), "{sample:?} has no TYPE line");
        }
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(labels(&[("k", "a\"b\\c\nd")]), "{k=\"a\\\"b\\\\c\\nd\"}");
    }
}
