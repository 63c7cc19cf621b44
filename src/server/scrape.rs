//! `/_casterpak/metrics`: copies what other parts count into the metrics and
//! renders them. Everything is a counter or length read in memory, except the
//! cache totals, which come from the index (a scan of sled, not of the disk) at
//! most every [`TOTALS_MAX_AGE`] on the blocking pool.

use crate::disk_space::DiskSpace;
use crate::hitlog::HitCounters;
use crate::metrics::Metrics;
use crate::packager::Packager;
use crate::server::connections::Connections;
use crate::store::Store;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A scrape flood scans the index at most this often.
pub const TOTALS_MAX_AGE: Duration = Duration::from_secs(2);

/// Bytes and entries in the index.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub bytes: u64,
    pub entries: u64,
}

/// What the scrape reads from.
pub struct Sources {
    pub metrics: Arc<Metrics>,
    pub hits: Arc<HitCounters>,
    pub disk: Arc<DiskSpace>,
    pub connections: Arc<Connections>,
    pub packager: Arc<Packager>,
    pub store: Arc<Store>,
    /// Live streams and recordings, when `[live]` is enabled.
    live: Option<Arc<crate::live::Live>>,
    /// The last totals and when they were taken; held across a scan so concurrent
    /// scrapes wait for one scan instead of starting their own.
    totals: tokio::sync::Mutex<Option<(Instant, Totals)>>,
}

impl Sources {
    pub fn new(
        metrics: Arc<Metrics>,
        hits: Arc<HitCounters>,
        disk: Arc<DiskSpace>,
        connections: Arc<Connections>,
        packager: Arc<Packager>,
        store: Arc<Store>,
    ) -> Sources {
        Sources {
            metrics,
            hits,
            disk,
            connections,
            packager,
            store,
            live: None,
            totals: tokio::sync::Mutex::new(None),
        }
    }

    pub fn with_live(mut self, live: Option<Arc<crate::live::Live>>) -> Sources {
        self.live = live;
        self
    }

    /// Updates every copied series and renders the text.
    pub async fn render(&self) -> String {
        let m = &self.metrics;
        let h = &self.hits;
        for (name, counter) in [
            ("casterpak_hits_total", &h.recorded),
            ("casterpak_stale_evictions_total", &h.stale_evicted),
            ("casterpak_hit_log_lines_total", &h.seen),
            ("casterpak_hit_log_ignored_total", &h.ignored),
            ("casterpak_hit_log_malformed_total", &h.malformed),
            ("casterpak_hit_log_dropped_total", &h.dropped),
            ("casterpak_hit_log_read_errors_total", &h.read_errors),
            ("casterpak_hit_log_flush_errors_total", &h.flush_errors),
        ] {
            m.set(name, &[], counter.load(Ordering::Relaxed));
        }
        let c = &self.connections;
        for (name, counter) in [
            ("casterpak_scgi_connections_shed_total", &c.shed),
            ("casterpak_scgi_connections_displaced_total", &c.displaced),
            ("casterpak_scgi_header_timeouts_total", &c.timed_out),
        ] {
            m.set(name, &[], counter.load(Ordering::Relaxed));
        }
        m.set_gauge("casterpak_scgi_connections", c.open() as u64);
        m.set_gauge("casterpak_scgi_connections_limit", c.limit() as u64);
        m.set_gauge(
            "casterpak_fills_in_flight",
            self.packager.fills_in_flight() as u64,
        );
        if let Some((sample, floor)) = self.disk.latest() {
            m.set_gauge("casterpak_cache_fs_available_bytes", sample.available);
            m.set_gauge("casterpak_cache_fs_size_bytes", sample.size);
            m.set_gauge("casterpak_cache_fs_floor_bytes", floor);
        }
        if let Some(totals) = self.totals().await {
            m.set_gauge("casterpak_cache_bytes", totals.bytes);
            m.set_gauge("casterpak_cache_entries", totals.entries);
        }
        let mut text = m.render();
        if let Some(live) = &self.live {
            text.push_str(&crate::metrics::live_text(&live.stats()));
        }
        text
    }

    /// The index totals, scanned again when older than [`TOTALS_MAX_AGE`]; None
    /// when the scan fails and none was ever taken.
    async fn totals(&self) -> Option<Totals> {
        let mut last = self.totals.lock().await;
        if let Some((at, totals)) = *last {
            if at.elapsed() < TOTALS_MAX_AGE {
                return Some(totals);
            }
        }
        let store = self.store.clone();
        let scanned = tokio::task::spawn_blocking(move || store.entries()).await;
        match scanned {
            Ok(Ok(entries)) => {
                let totals = Totals {
                    bytes: entries.iter().map(|(_, e)| e.bytes).sum(),
                    entries: entries.len() as u64,
                };
                *last = Some((Instant::now(), totals));
                Some(totals)
            }
            Ok(Err(e)) => {
                log::warn!("metrics: reading the index totals: {e}");
                last.map(|(_, t)| t)
            }
            Err(e) => {
                log::warn!("metrics: index totals task: {e}");
                last.map(|(_, t)| t)
            }
        }
    }
}
