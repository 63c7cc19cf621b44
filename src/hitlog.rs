//! The hit feed: nginx serves cache hits without the worker, so it logs each one to
//! a file with a buffered access log (`access_log <hit_log> casterpak_hits buffer=64k
//! flush=…s if=$casterpak_logged_hit;` with `log_format casterpak_hits '$status
//! $request_uri';`). Every `flush_every` this module reads the lines appended since
//! the last read ([`tail`]), keeps the newest access time per cache key and writes
//! them to the store.
//!
//! A file rather than a socket because a hit must cost nginx what a static file
//! costs: a buffered log is a memcpy per hit and one `write` per 64 KB, and nothing
//! wakes the worker per hit (a syslog datagram per hit halved a playlist's req/s,
//! docs/benchmarks.md). Access times lag by up to nginx's flush plus `flush_every`;
//! the sweep works in hours. The in-memory batch is bounded; what does not fit is
//! dropped and counted. When the task stops (abort at shutdown) what is in the file
//! is read once more and written before the task is gone.
//!
//! After each write the batch's keys go to an optional [`BatchCheck`] (the worker's
//! source freshness check), on the same blocking thread.

pub mod line;
pub mod tail;

use crate::store::Store;
use std::collections::HashMap;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tail::LogTail;
use tokio::task::JoinHandle;

/// Maps a raw request URI (no query) to the cache keys it touches; supplied by the
/// worker from its URL parser. Empty for URIs that name no cache entry.
pub type UriMapper = Arc<dyn Fn(&[u8]) -> Vec<String> + Send + Sync>;

/// Runs (blocking) on the keys of each flushed batch; returns how many cache
/// entries it evicted because their source changed.
pub type BatchCheck = Arc<dyn Fn(&[String]) -> u64 + Send + Sync>;

/// Distinct keys held between flushes; beyond this hits are dropped (counted).
const MAX_PENDING_KEYS: usize = 100_000;
/// The log is truncated after a read once it is this large (about 300,000 hits), so
/// it needs no rotation when the worker may write it.
const TRUNCATE_ABOVE_BYTES: u64 = 16 << 20;

/// Counters for the worker's metrics endpoint.
#[derive(Debug, Default)]
pub struct HitCounters {
    /// Lines read from the log (including malformed ones).
    pub seen: AtomicU64,
    /// Hits that counted as an access of at least one key.
    pub recorded: AtomicU64,
    /// Well-formed lines that were not accesses (status, or no cache key).
    pub ignored: AtomicU64,
    /// Lines that did not parse, or were too long to hold.
    pub malformed: AtomicU64,
    /// Accesses dropped because the pending batch was full.
    pub dropped: AtomicU64,
    /// Reads of the log that failed.
    pub read_errors: AtomicU64,
    /// Key updates written to the store.
    pub flushed: AtomicU64,
    /// Flushes that failed (their batch is lost).
    pub flush_errors: AtomicU64,
    /// Entries the batch check evicted (packaged from a source that changed).
    pub stale_evicted: AtomicU64,
}

/// Newest access time per key, bounded.
#[derive(Debug, Default)]
pub struct HitBatch {
    newest: HashMap<String, u64>,
}

impl HitBatch {
    /// Records an access; false when the batch is full and the key is new.
    pub fn add(&mut self, key: String, at: u64) -> bool {
        if let Some(t) = self.newest.get_mut(&key) {
            *t = (*t).max(at);
            return true;
        }
        if self.newest.len() >= MAX_PENDING_KEYS {
            return false;
        }
        self.newest.insert(key, at);
        true
    }

    pub fn take(&mut self) -> Vec<(String, u64)> {
        std::mem::take(&mut self.newest).into_iter().collect()
    }

    pub fn len(&self) -> usize {
        self.newest.len()
    }

    pub fn is_empty(&self) -> bool {
        self.newest.is_empty()
    }
}

/// [`spawn_with_check`] without a batch check.
pub fn spawn_with_counters(
    log: &Path,
    store: Arc<Store>,
    map_uri: UriMapper,
    flush_every: Duration,
    counters: Arc<HitCounters>,
) -> io::Result<JoinHandle<()>> {
    spawn_with_check(log, store, map_uri, flush_every, counters, None)
}

/// Opens (creating it when missing) the hit log at `log`, follows it from its
/// current end and spawns the read-and-flush task on the current tokio runtime.
pub fn spawn_with_check(
    log: &Path,
    store: Arc<Store>,
    map_uri: UriMapper,
    flush_every: Duration,
    counters: Arc<HitCounters>,
    check: Option<BatchCheck>,
) -> io::Result<JoinHandle<()>> {
    let reader = Arc::new(Mutex::new(Reader {
        tail: LogTail::open_at_end(log, TRUNCATE_ABOVE_BYTES)?,
        map_uri,
        counters: counters.clone(),
        batch: HitBatch::default(),
        failing: false,
    }));
    let last_flush = FlushOnDrop {
        reader: reader.clone(),
        store: store.clone(),
    };
    Ok(tokio::spawn(async move {
        let _last_flush = last_flush;
        let mut ticks = tokio::time::interval(flush_every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let (reader, store) = (reader.clone(), store.clone());
            let (check, counters2) = (check.clone(), counters.clone());
            let done = tokio::task::spawn_blocking(move || {
                read_and_flush(&reader, &store, check.as_ref(), &counters2)
            });
            if let Err(e) = done.await {
                counters.flush_errors.fetch_add(1, Ordering::Relaxed);
                log::error!("hit log task failed: {e}");
            }
        }
    }))
}

/// The followed log and what its lines have added since the last flush.
struct Reader {
    tail: LogTail,
    map_uri: UriMapper,
    counters: Arc<HitCounters>,
    batch: HitBatch,
    /// A read failed last time: the next failure is not logged again.
    failing: bool,
}

impl Reader {
    /// Reads the new lines into the batch and takes the batch.
    fn read(&mut self) -> Vec<(String, u64)> {
        let now = crate::store::unix_now();
        let Reader {
            tail,
            map_uri,
            counters,
            batch,
            failing,
        } = self;
        let read = tail.read_new(&mut |line: &[u8]| {
            record_line(line, now, map_uri, batch, counters);
        });
        match read {
            Ok(summary) => {
                counters
                    .malformed
                    .fetch_add(summary.overlong, Ordering::Relaxed);
                counters.seen.fetch_add(summary.overlong, Ordering::Relaxed);
                *failing = false;
            }
            Err(e) => {
                counters.read_errors.fetch_add(1, Ordering::Relaxed);
                if !std::mem::replace(failing, true) {
                    log::error!("reading the hit log failed, access times stop updating: {e}");
                }
            }
        }
        batch.take()
    }
}

fn record_line(
    line: &[u8],
    now: u64,
    map_uri: &UriMapper,
    batch: &mut HitBatch,
    counters: &HitCounters,
) {
    counters.seen.fetch_add(1, Ordering::Relaxed);
    let hit = match line::parse(line) {
        Ok(hit) => hit,
        Err(e) => {
            counters.malformed.fetch_add(1, Ordering::Relaxed);
            log::debug!("ignoring hit log line: {e}");
            return;
        }
    };
    let keys = if hit.counts_as_access() {
        map_uri(&hit.uri)
    } else {
        Vec::new()
    };
    if keys.is_empty() {
        counters.ignored.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let mut all_fit = true;
    for key in keys {
        all_fit &= batch.add(key, now);
    }
    let counter = if all_fit {
        &counters.recorded
    } else {
        &counters.dropped
    };
    counter.fetch_add(1, Ordering::Relaxed);
}

/// One tick, blocking: read the new lines, write their access times, then check.
fn read_and_flush(
    reader: &Mutex<Reader>,
    store: &Store,
    check: Option<&BatchCheck>,
    counters: &HitCounters,
) {
    let hits = reader.lock().unwrap_or_else(|e| e.into_inner()).read();
    if hits.is_empty() {
        return;
    }
    let count = hits.len() as u64;
    // Touch first: an entry the check evicts must not be re-created by the touch.
    match store.touch(&hits) {
        Ok(()) => {
            counters.flushed.fetch_add(count, Ordering::Relaxed);
        }
        Err(e) => {
            counters.flush_errors.fetch_add(1, Ordering::Relaxed);
            log::error!("writing {count} access times failed: {e}");
        }
    }
    if let Some(check) = check {
        let keys: Vec<String> = hits.into_iter().map(|(key, _)| key).collect();
        let evicted = check(&keys);
        counters.stale_evicted.fetch_add(evicted, Ordering::Relaxed);
    }
}

/// Reads and writes what is still in the log when the task ends (aborted at
/// shutdown). Blocking, once: awaiting the aborted JoinHandle before the final
/// `Store::flush` makes shutdown lose no access time that nginx had written out.
struct FlushOnDrop {
    reader: Arc<Mutex<Reader>>,
    store: Arc<Store>,
}

impl Drop for FlushOnDrop {
    fn drop(&mut self) {
        let hits = self.reader.lock().unwrap_or_else(|e| e.into_inner()).read();
        if hits.is_empty() {
            return;
        }
        if let Err(e) = self.store.touch(&hits) {
            log::error!(
                "writing {} access times at shutdown failed: {e}",
                hits.len()
            );
        }
    }
}

#[cfg(test)]
mod tests;
