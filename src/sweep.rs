//! Eviction: `casterpak --sweep` (from cron or the systemd timer) and the control
//! socket's `sweep`. A sweep reconciles the database with the disk, plans what goes
//! (`plan`, pure) and evicts through `entry::evict_and_forget`, which renames an
//! entry away atomically, refuses entries being filled or just answered for (nginx
//! may not have opened the file it was redirected to yet) and drops the index row.
//! `evict_damaged` is the check of published files after an unclean stop.
//!
//! sled allows one process per database, so the CLI first asks a running worker
//! over its control socket and opens the database itself only when none answers.

pub mod plan;
pub mod reconcile;

use crate::cache::{Cache, SweepEviction};
use crate::config::Config;
use crate::control::{self, ControlClientError, ControlHandler, ControlRequest};
use crate::entry::{self, Spare};
use crate::source::MediaRoot;
use crate::store::{Entry, Store, StoreError};
use plan::{Reason, Target};
use std::collections::HashSet;
use std::fmt;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// How long `--sweep` waits for the worker's answer; a sweep of a huge cache walks
/// the whole tree.
const CONTROL_ANSWER_TIMEOUT: Duration = Duration::from_secs(3600);

/// What one sweep did (or, dry, would do).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub dry_run: bool,
    /// Renditions whose source changed or vanished, and csmil masters listing one.
    pub stale: usize,
    pub ttl: usize,
    pub size: usize,
    pub dangling: usize,
    pub orphans: usize,
    pub evicted_bytes: u64,
    pub kept_entries: usize,
    pub kept_bytes: u64,
    pub limit_bytes: u64,
    pub busy_skipped: usize,
    /// Entries kept because the worker answered for them within `cache::ANSWER_GRACE`.
    pub answered_skipped: usize,
    pub failed: usize,
    /// Database entries added from / dropped for the disk by reconcile.
    pub adopted: usize,
    pub dropped: usize,
}

impl SweepReport {
    pub fn evicted(&self) -> usize {
        self.stale + self.ttl + self.size + self.dangling + self.orphans
    }

    /// The one summary line.
    pub fn summary(&self) -> String {
        let verb = if self.dry_run {
            "would evict"
        } else {
            "evicted"
        };
        let mut line = format!(
            "sweep: {verb} {} entries ({}: {} stale, {} ttl, {} size, {} dangling masters, {} orphans), kept {} entries ({}) of limit {}",
            self.evicted(),
            human_bytes(self.evicted_bytes),
            self.stale,
            self.ttl,
            self.size,
            self.dangling,
            self.orphans,
            self.kept_entries,
            human_bytes(self.kept_bytes),
            human_bytes(self.limit_bytes),
        );
        if self.busy_skipped > 0 {
            line.push_str(&format!(", {} busy skipped", self.busy_skipped));
        }
        if self.answered_skipped > 0 {
            line.push_str(&format!(
                ", {} just answered skipped",
                self.answered_skipped
            ));
        }
        if self.adopted > 0 || self.dropped > 0 {
            line.push_str(&format!(
                ", index: {} adopted {} dropped",
                self.adopted, self.dropped
            ));
        }
        if self.failed > 0 {
            line.push_str(&format!(", {} FAILED (see log)", self.failed));
        }
        line
    }
}

/// `1536` → `1.5 KiB`; one decimal, binary units.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[derive(Debug)]
pub enum SweepError {
    Store(StoreError),
    Reconcile(reconcile::ReconcileError),
    Cache(io::Error),
}

impl fmt::Display for SweepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SweepError::Store(e) => e.fmt(f),
            SweepError::Reconcile(e) => e.fmt(f),
            SweepError::Cache(e) => write!(f, "cache: {e}"),
        }
    }
}

impl std::error::Error for SweepError {}

impl From<StoreError> for SweepError {
    fn from(e: StoreError) -> Self {
        SweepError::Store(e)
    }
}

impl From<entry::EvictError> for SweepError {
    fn from(e: entry::EvictError) -> Self {
        match e {
            entry::EvictError::Cache(e) => SweepError::Cache(e),
            entry::EvictError::Forget { error, .. } => SweepError::Store(error),
        }
    }
}

impl From<reconcile::ReconcileError> for SweepError {
    fn from(e: reconcile::ReconcileError) -> Self {
        SweepError::Reconcile(e)
    }
}

/// One sweep with an open store and cache. A dry run deletes nothing (reconcile
/// still updates the index from the disk, which loses nothing).
pub fn run(
    store: &Store,
    cache: &Cache,
    config: &Config,
    dry_run: bool,
    now: u64,
) -> Result<SweepReport, SweepError> {
    let index = reconcile::reconcile(store, cache, now)?;
    let entries = store.entries()?;
    let stale = stale_sources(&entries, cache, config);
    let plan = plan::plan(
        &entries,
        &index.orphans,
        &stale,
        &config.cache,
        now,
        &|key| cache.is_busy(key),
    );
    let mut report = SweepReport {
        dry_run,
        kept_entries: plan.kept_entries,
        kept_bytes: plan.kept_bytes,
        limit_bytes: config.cache.max_cache_bytes,
        busy_skipped: plan.busy_skipped,
        adopted: index.adopted,
        dropped: index.dropped,
        ..SweepReport::default()
    };
    for eviction in &plan.evictions {
        let outcome = if dry_run {
            Ok(Evicted::Bytes(eviction.bytes))
        } else {
            execute(store, cache, &eviction.target, eviction.reason)
        };
        match outcome {
            Ok(Evicted::Bytes(bytes)) => {
                report.evicted_bytes = report.evicted_bytes.saturating_add(bytes);
                *match eviction.reason {
                    Reason::Stale => &mut report.stale,
                    Reason::Ttl => &mut report.ttl,
                    Reason::Size => &mut report.size,
                    Reason::Dangling => &mut report.dangling,
                    Reason::Orphan => &mut report.orphans,
                } += 1;
            }
            // Became busy after planning, or nginx is about to open it: it stays.
            Ok(kept) => {
                match kept {
                    Evicted::Answered => report.answered_skipped += 1,
                    _ => report.busy_skipped += 1,
                }
                report.kept_entries += usize::from(matches!(eviction.target, Target::Entry(_)));
                report.kept_bytes = report.kept_bytes.saturating_add(eviction.bytes);
            }
            Err(e) => {
                log::error!("sweep: evicting {:?} failed: {e}", eviction.target);
                report.failed += 1;
            }
        }
    }
    if !dry_run {
        store.flush()?;
    }
    if config.live.enabled {
        // The clock itself, not `now` in whole seconds: live TTLs are a few seconds.
        match crate::live::sweep(config, std::time::SystemTime::now(), dry_run) {
            Ok(l) => log::info!(
                "sweep: live: removed {} ended streams and {} segments out of their window",
                l.streams,
                l.segments
            ),
            Err(e) => log::error!("sweep: live: {e}"),
        }
    }
    if config
        .sources
        .iter()
        .any(|s| s.kind != crate::config::SourceKind::Local)
    {
        let ic = &config.input_cache;
        match crate::input_cache::sweep::sweep(&ic.root, ic.ttl_secs, ic.max_bytes, now, dry_run) {
            Ok(s) => log::info!(
                "sweep: input cache: removed {} copies ({} B), {} in use kept, {} kept ({} B) of limit {} B",
                s.removed, s.freed, s.in_use, s.kept, s.kept_bytes, ic.max_bytes
            ),
            Err(e) => log::error!("sweep: input cache {}: {e}", ic.root.display()),
        }
    }
    Ok(report)
}

/// Renditions whose source changed or vanished. A media root that cannot be opened
/// at all is an unmounted disk more likely than a deleted library: evict nothing.
fn stale_sources(entries: &[(String, Entry)], cache: &Cache, config: &Config) -> HashSet<String> {
    // Remote sources are checked by misses and the hit feed (bounded by
    // `remote.revalidate_secs`), not by a sweep that may run without the worker.
    let local: Vec<(String, Entry)> = entries
        .iter()
        .filter(|(key, _)| !config.is_remote_key(key))
        .cloned()
        .collect();
    match MediaRoot::new(&config.media_root) {
        Ok(media) => crate::freshness::stale_renditions(&local, &media, cache),
        Err(e) => {
            log::warn!(
                "sweep: media root {}: {e}; not checking sources",
                config.media_root.display()
            );
            HashSet::new()
        }
    }
}

/// What became of one planned eviction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Evicted {
    Bytes(u64),
    /// Being filled: stays.
    Busy,
    /// Answered for within the grace: stays.
    Answered,
}

/// Evicts one target, unless it is busy or (but for a stale one, whose bytes are
/// wrong anyway) was just answered for.
fn execute(
    store: &Store,
    cache: &Cache,
    target: &Target,
    reason: Reason,
) -> Result<Evicted, SweepError> {
    let spare = match reason {
        Reason::Stale => Spare::Busy,
        _ => Spare::Answered,
    };
    let outcome = match target {
        Target::Entry(key) => entry::evict_and_forget(cache, Some(store), key, spare)?,
        Target::Orphan(rel) => match rel.to_str().filter(|k| !k.starts_with(".casterpak-")) {
            // Inside the served tree: rename away atomically like any entry.
            Some(key) => entry::evict_and_forget(cache, None, key, spare)?,
            None => {
                return remove_tree(&cache.root().join(rel))
                    .map(Evicted::Bytes)
                    .map_err(SweepError::Cache)
            }
        },
    };
    Ok(match outcome {
        SweepEviction::Evicted(bytes) => Evicted::Bytes(bytes),
        SweepEviction::Absent => Evicted::Bytes(0),
        SweepEviction::Busy => Evicted::Busy,
        SweepEviction::Answered => Evicted::Answered,
    })
}

/// Deletes a scratch leftover; nginx never serves those, so no rename is needed.
fn remove_tree(path: &Path) -> io::Result<u64> {
    let gone = |e: &io::Error| e.kind() == io::ErrorKind::NotFound;
    let (bytes, _) = match reconcile::measure(path) {
        Ok(measured) => measured,
        Err(e) if gone(&e) => return Ok(0),
        Err(e) => return Err(e),
    };
    let result = match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(bytes),
        Err(e) if gone(&e) => Ok(0),
        Err(e) => Err(e),
    }
}

/// Reconciles the index with the disk on a blocking thread, for worker start:
/// adopts what a previous run (or a lost database) left on disk. Logs the outcome.
pub fn spawn_startup_reconcile(store: Arc<Store>, cache: Cache) -> tokio::task::JoinHandle<()> {
    tokio::task::spawn_blocking(move || {
        match reconcile::reconcile(&store, &cache, crate::store::unix_now()) {
            Ok(report) => log::info!(
                "index reconciled with the cache: {} adopted, {} dropped, {} re-measured, {} entry bytes on disk",
                report.adopted,
                report.dropped,
                report.remeasured,
                report.entry_bytes
            ),
            Err(e) => log::error!("reconciling the index with the cache failed: {e}"),
        }
    })
}

/// After an unclean stop (no clean mark: a crash or a power cut may have left
/// published files short, fills do not fsync): evicts, with its index row, every
/// entry holding a file that is not whole (`entry::check`). Blocking; the worker runs
/// it before it listens. Returns (entries checked, entries evicted).
pub fn evict_damaged(store: &Store, cache: &Cache) -> Result<(usize, usize), SweepError> {
    let walk = reconcile::walk_cache(cache.root())?;
    let mut evicted = 0;
    for disk in &walk.entries {
        let why = match entry::check::damage(cache, &disk.key, disk.kind) {
            Ok(None) => continue,
            Ok(Some(why)) => why,
            // Unreadable is not servable either.
            Err(e) => e.to_string(),
        };
        log::warn!(
            "startup check: {} is damaged ({why}): evicting it",
            disk.key
        );
        match entry::evict_and_forget(cache, Some(store), &disk.key, Spare::Busy)? {
            SweepEviction::Evicted(_) => evicted += 1,
            other => log::warn!("startup check: {} not evicted: {other:?}", disk.key),
        }
    }
    Ok((walk.entries.len(), evicted))
}

/// The worker's control-socket handler: `sweep [--dry-run]` runs one sweep at a
/// time on a blocking thread; `ping` answers `pong`.
pub fn control_handler(store: Arc<Store>, cache: Cache, config: Arc<Config>) -> ControlHandler {
    let one_at_a_time = Arc::new(tokio::sync::Mutex::new(()));
    Arc::new(move |request| {
        let (store, cache, config) = (store.clone(), cache.clone(), config.clone());
        let one_at_a_time = one_at_a_time.clone();
        Box::pin(async move {
            let dry_run = match request {
                ControlRequest::Ping => return "pong".to_string(),
                ControlRequest::Purge { path } => {
                    return crate::purge::control_answer(store, cache, path).await
                }
                ControlRequest::Sweep { dry_run } => dry_run,
                // The server routes these to the live recorder when live is enabled.
                ControlRequest::Record(_) => return "error: live is not enabled".to_string(),
            };
            let _turn = one_at_a_time.lock().await;
            let now = crate::store::unix_now();
            let result =
                tokio::task::spawn_blocking(move || run(&store, &cache, &config, dry_run, now))
                    .await;
            match result {
                Ok(Ok(report)) => {
                    log::info!("{}", report.summary());
                    report.summary()
                }
                Ok(Err(e)) => format!("error: sweep failed: {e}"),
                Err(e) => format!("error: sweep task failed: {e}"),
            }
        })
    })
}

/// `casterpak --sweep [--dry-run]`: prints one line, returns the exit code.
pub fn run_cli(config: &Config, dry_run: bool) -> i32 {
    let request = ControlRequest::Sweep { dry_run };
    match control::request(&config.control_socket, request, CONTROL_ANSWER_TIMEOUT) {
        Ok(answer) => report_line(&answer),
        Err(ControlClientError::NotListening) => run_locally(config, dry_run),
        Err(e) => {
            eprintln!("sweep: {e} ({})", config.control_socket.display());
            1
        }
    }
}

/// Prints a summary line; an answer that is not one (e.g. `error: …`) or that
/// reports failed evictions fails the run.
fn report_line(answer: &str) -> i32 {
    if !answer.starts_with("sweep:") {
        eprintln!("{answer}");
        return 1;
    }
    println!("{answer}");
    i32::from(answer.contains(" FAILED"))
}

fn run_locally(config: &Config, dry_run: bool) -> i32 {
    // The store first: holding its lock proves no worker uses this cache, and only
    // then may `Cache::new` clear the scratch dirs.
    let store = match Store::open(&config.db_path) {
        Ok(store) => store,
        Err(e @ StoreError::Locked { .. }) => {
            eprintln!(
                "sweep: {e}, but nothing answers on the control socket {}; is the worker configured with another control_socket?",
                config.control_socket.display()
            );
            return 1;
        }
        Err(e) => {
            eprintln!("sweep: {e}");
            return 1;
        }
    };
    let cache = match Cache::new(config.cache_root.clone()) {
        Ok(cache) => cache,
        Err(e) => {
            eprintln!("sweep: cache {}: {e}", config.cache_root.display());
            return 1;
        }
    };
    match run(&store, &cache, config, dry_run, crate::store::unix_now()) {
        Ok(report) => report_line(&report.summary()),
        Err(e) => {
            eprintln!("sweep: {e}");
            1
        }
    }
}

#[cfg(test)]
mod tests;
