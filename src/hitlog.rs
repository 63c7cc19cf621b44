//! The hit feed: nginx serves cache hits without the worker, so it logs each one
//! to a unix datagram socket (`access_log syslog:server=unix:<hit_log_socket>,
//! nohostname,tag=casterpak casterpak_hits;` with
//! `log_format casterpak_hits '$status $request_uri';`). This module reads those
//! datagrams, keeps the newest access time per cache key in memory and writes the
//! batch to the store every `flush_every`.
//!
//! Never slows nginx down: datagrams are fire-and-forget (nginx drops a log line
//! rather than block when the socket buffer is full) and the in-memory batch is
//! bounded; what does not fit is dropped and counted. When the task stops (abort
//! at shutdown) the pending batch is written before it is dropped.
//!
//! After each write the batch's keys go to an optional [`BatchCheck`] (the worker's
//! source freshness check), on the same blocking thread, never the receiver's.

pub mod datagram;

use crate::store::Store;
use std::collections::HashMap;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::UnixDatagram;
use tokio::task::JoinHandle;

/// Maps a raw request URI (no query) to the cache keys it touches; supplied by the
/// worker from its URL parser. Empty for URIs that name no cache entry.
pub type UriMapper = Arc<dyn Fn(&[u8]) -> Vec<String> + Send + Sync>;

/// Runs (blocking) on the keys of each flushed batch; returns how many cache
/// entries it evicted because their source changed.
pub type BatchCheck = Arc<dyn Fn(&[String]) -> u64 + Send + Sync>;

/// Distinct keys held between flushes; beyond this hits are dropped (counted).
const MAX_PENDING_KEYS: usize = 100_000;
/// Larger than any syslog line nginx sends; a datagram filling it is treated as
/// truncated.
const DATAGRAM_BUFFER_BYTES: usize = 16 * 1024;

/// Counters for the worker's metrics endpoint.
#[derive(Debug, Default)]
pub struct HitCounters {
    /// Datagrams received.
    pub seen: AtomicU64,
    /// Hits that counted as an access of at least one key.
    pub recorded: AtomicU64,
    /// Well-formed lines that were not accesses (status, or no cache key).
    pub ignored: AtomicU64,
    /// Datagrams that did not parse.
    pub malformed: AtomicU64,
    /// Accesses dropped because the pending batch was full.
    pub dropped: AtomicU64,
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

/// Binds `socket` and starts the feed; see [`spawn_with_counters`].
pub fn spawn(
    socket: &Path,
    store: Arc<Store>,
    map_uri: UriMapper,
    flush_every: Duration,
) -> io::Result<JoinHandle<()>> {
    spawn_with_counters(
        socket,
        store,
        map_uri,
        flush_every,
        Arc::new(HitCounters::default()),
    )
}

/// [`spawn_with_check`] without a batch check.
pub fn spawn_with_counters(
    socket: &Path,
    store: Arc<Store>,
    map_uri: UriMapper,
    flush_every: Duration,
    counters: Arc<HitCounters>,
) -> io::Result<JoinHandle<()>> {
    spawn_with_check(socket, store, map_uri, flush_every, counters, None)
}

/// Binds `socket` (replacing a stale socket file, mode 0666 so nginx's user can
/// send) and spawns the receive-and-flush task on the current tokio runtime.
pub fn spawn_with_check(
    socket: &Path,
    store: Arc<Store>,
    map_uri: UriMapper,
    flush_every: Duration,
    counters: Arc<HitCounters>,
    check: Option<BatchCheck>,
) -> io::Result<JoinHandle<()>> {
    let sock = bind_datagram(socket)?;
    let batch = Arc::new(Mutex::new(HitBatch::default()));
    let last_flush = FlushOnDrop {
        batch: batch.clone(),
        store: store.clone(),
    };
    let receiving = receive_loop(sock, batch.clone(), map_uri, counters.clone());
    let flushing = flush_loop(batch, store, flush_every, counters, check);
    Ok(tokio::spawn(async move {
        let _last_flush = last_flush;
        // The flush loop never ends; the receive loop ends only on a socket error.
        tokio::select! {
            () = receiving => {}
            () = flushing => {}
        }
    }))
}

/// Writes what is still pending when the task ends (aborted at shutdown, or the
/// socket failed). Blocking, once: awaiting the aborted JoinHandle before the
/// final `Store::flush` makes shutdown lose no access times.
struct FlushOnDrop {
    batch: Arc<Mutex<HitBatch>>,
    store: Arc<Store>,
}

impl Drop for FlushOnDrop {
    fn drop(&mut self) {
        let hits = self.batch.lock().unwrap_or_else(|e| e.into_inner()).take();
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

fn bind_datagram(path: &Path) -> io::Result<UnixDatagram> {
    crate::control::remove_stale_socket(path)?;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let sock = UnixDatagram::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))?;
    Ok(sock)
}

async fn receive_loop(
    sock: UnixDatagram,
    batch: Arc<Mutex<HitBatch>>,
    map_uri: UriMapper,
    counters: Arc<HitCounters>,
) {
    let mut buf = vec![0u8; DATAGRAM_BUFFER_BYTES];
    loop {
        let n = match sock.recv(&mut buf).await {
            Ok(n) => n,
            Err(e) => {
                log::error!("hit log socket failed, access times stop updating: {e}");
                return;
            }
        };
        counters.seen.fetch_add(1, Ordering::Relaxed);
        let Some(datagram) = buf.get(..n).filter(|_| n < buf.len()) else {
            counters.malformed.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        let hit = match datagram::parse(datagram) {
            Ok(hit) => hit,
            Err(e) => {
                counters.malformed.fetch_add(1, Ordering::Relaxed);
                log::debug!("ignoring hit log datagram: {e}");
                continue;
            }
        };
        let keys = if hit.counts_as_access() {
            map_uri(&hit.uri)
        } else {
            Vec::new()
        };
        if keys.is_empty() {
            counters.ignored.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let now = crate::store::unix_now();
        let mut pending = batch.lock().unwrap_or_else(|e| e.into_inner());
        let mut all_fit = true;
        for key in keys {
            all_fit &= pending.add(key, now);
        }
        drop(pending);
        let counter = if all_fit {
            &counters.recorded
        } else {
            &counters.dropped
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

async fn flush_loop(
    batch: Arc<Mutex<HitBatch>>,
    store: Arc<Store>,
    flush_every: Duration,
    counters: Arc<HitCounters>,
    check: Option<BatchCheck>,
) {
    let mut ticks = tokio::time::interval(flush_every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let hits = batch.lock().unwrap_or_else(|e| e.into_inner()).take();
        if hits.is_empty() {
            continue;
        }
        let store = store.clone();
        let count = hits.len() as u64;
        let (check, counters2) = (check.clone(), counters.clone());
        // Touch first: an entry the check evicts must not be re-created by the touch.
        let flushed = tokio::task::spawn_blocking(move || {
            let touched = store.touch(&hits);
            if let Some(check) = check {
                let keys: Vec<String> = hits.into_iter().map(|(key, _)| key).collect();
                let evicted = check(&keys);
                counters2
                    .stale_evicted
                    .fetch_add(evicted, Ordering::Relaxed);
            }
            touched
        });
        match flushed.await {
            Ok(Ok(())) => {
                counters.flushed.fetch_add(count, Ordering::Relaxed);
            }
            Ok(Err(e)) => {
                counters.flush_errors.fetch_add(1, Ordering::Relaxed);
                log::error!("writing {count} access times failed: {e}");
            }
            Err(e) => {
                counters.flush_errors.fetch_add(1, Ordering::Relaxed);
                log::error!("access time flush task failed: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests;
