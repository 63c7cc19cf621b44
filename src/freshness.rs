//! A source that changed (size or mtime) or vanished invalidates what was packaged
//! from it, as does a sidecar added, changed or removed where its subtitles were
//! looked for (`entry::sidecars`). The packager notices that on a miss, but nginx
//! serves hits without the worker, so two more places look: every sweep (all
//! renditions), and the hit feed (the renditions nginx just served, each at most once
//! per [`RECHECK_AFTER`]).
//!
//! The verdict (`entry::judge`) and the bookkeeping are pure; [`Freshness`] and
//! [`stale_renditions`] are the I/O edge (stat through `MediaRoot`, the marker and
//! eviction through `entry`).

use crate::cache::{Cache, SweepEviction};
use crate::entry::{self, masters_listing, Spare};
pub use crate::entry::{judge, Verdict};
use crate::source::MediaRoot;
use crate::store::{kind_of_key, Entry, EntryKind, SourceId, Store};
use crate::url::csmil_rendition_keys;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A served rendition's source is stat'ed at most this often: bounds both the
/// staleness nginx can serve and the stat load of a busy hit feed.
pub const RECHECK_AFTER: Duration = Duration::from_secs(2);
/// Renditions whose last check is remembered; beyond, old ones are forgotten.
const MAX_TRACKED_KEYS: usize = 100_000;

/// The rendition keys a batch of hit keys stands for: renditions as they are, a
/// csmil master dir for each rendition it lists (a hit on a csmil master alone
/// names no rendition). Deduplicated, in first-seen order.
pub fn renditions_of_hits(keys: &[String]) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for key in keys {
        let renditions = match kind_of_key(key) {
            EntryKind::Rendition => vec![key.clone()],
            EntryKind::Master => csmil_rendition_keys(key).unwrap_or_default(),
        };
        for r in renditions {
            if seen.insert(r.clone()) {
                out.push(r);
            }
        }
    }
    out
}

/// When each rendition was last checked, bounded.
#[derive(Debug)]
pub struct RecheckClock {
    last: HashMap<String, Instant>,
    every: Duration,
    capacity: usize,
}

impl RecheckClock {
    pub fn new(every: Duration, capacity: usize) -> RecheckClock {
        RecheckClock {
            last: HashMap::new(),
            every,
            capacity,
        }
    }

    /// True (and remembered as checked at `now`) when `key` was never checked or
    /// its last check is at least `every` old.
    pub fn due(&mut self, key: &str, now: Instant) -> bool {
        if let Some(at) = self.last.get_mut(key) {
            if now.saturating_duration_since(*at) < self.every {
                return false;
            }
            *at = now;
            return true;
        }
        if self.last.len() >= self.capacity {
            // Forgetting a key that is due anyway changes nothing; if all are
            // recent, forgetting them only costs one extra stat each.
            let every = self.every;
            self.last
                .retain(|_, at| now.saturating_duration_since(*at) < every);
            if self.last.len() >= self.capacity {
                self.last.clear();
            }
        }
        self.last.insert(key.to_string(), now);
        true
    }

    /// Forgets `key`, so its next hit checks again.
    pub fn forget(&mut self, key: &str) {
        self.last.remove(key);
    }

    pub fn len(&self) -> usize {
        self.last.len()
    }

    pub fn is_empty(&self) -> bool {
        self.last.is_empty()
    }
}

/// The identity a rendition was packaged from: the database's, else the `.source`
/// marker in its directory (an entry the hit feed created before any fill).
fn recorded_source(cache: &Cache, key: &str, entry: Option<&Entry>) -> Option<SourceId> {
    if let Some(source) = entry.and_then(|e| e.source.clone()) {
        return Some(source);
    }
    entry::read_marker(cache, key).ok()?.source()
}

/// Looks at one rendition's source (I/O); None when nothing identifies it.
fn look(media: &MediaRoot, cache: &Cache, key: &str, entry: Option<&Entry>) -> Option<Verdict> {
    let recorded = recorded_source(cache, key, entry)?;
    // Opening the source (and closing it at once) is the stat: beneath the media
    // root, following no link out of it, like a miss.
    let fresh = media.resolve(&recorded.path).map(|source| source.id);
    let mut verdict = judge(&recorded, &fresh);
    if verdict == Verdict::Fresh && sidecars_moved(media, cache, key) {
        log::info!("freshness: a sidecar of {key} was added, changed or removed");
        verdict = Verdict::Changed;
    }
    // An empty or unreadable media root is an unmounted disk more likely than a
    // deleted library: evicting everything served would only hurt.
    if verdict == Verdict::Vanished && !has_entries(media.path()) {
        verdict = Verdict::Unknown;
    }
    if verdict == Verdict::Unknown {
        log::warn!(
            "freshness: cannot stat the source {} of {key}",
            recorded.path
        );
    }
    Some(verdict)
}

/// Whether a sidecar path rendition `key`'s subtitles were looked for at now holds
/// something else (added, changed, removed); an unreadable record or disk changes
/// nothing. Paths a remote prefix claims are never recorded, never stat'ed here.
pub fn sidecars_moved(media: &MediaRoot, cache: &Cache, key: &str) -> bool {
    let stat = |path: &str| match media.resolve(path) {
        Ok(source) => Some(Some((source.id.size, source.id.mtime_ns))),
        Err(crate::error::SourceError::NotFound(_)) => Some(None),
        Err(_) => None,
    };
    entry::sidecars::changed(cache, key, stat).unwrap_or_else(|e| {
        log::warn!("freshness: reading the sidecars of {key}: {e}");
        false
    })
}

/// The sweep's look at every rendition entry: the keys whose source changed or vanished.
pub fn stale_renditions(
    entries: &[(String, Entry)],
    media: &MediaRoot,
    cache: &Cache,
) -> HashSet<String> {
    entries
        .iter()
        .filter(|(_, e)| e.kind == EntryKind::Rendition)
        .filter(|(key, e)| look(media, cache, key, Some(e)).is_some_and(Verdict::is_stale))
        .map(|(key, _)| key.clone())
        .collect()
}

fn has_entries(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|mut items| items.next().is_some())
}

/// The hit feed's checker. Every method blocks: call it from `spawn_blocking`.
pub struct Freshness {
    media: MediaRoot,
    cache: Cache,
    store: std::sync::Arc<Store>,
    clock: Mutex<RecheckClock>,
}

impl Freshness {
    pub fn new(media: MediaRoot, cache: Cache, store: std::sync::Arc<Store>) -> Freshness {
        Self::with_interval(media, cache, store, RECHECK_AFTER)
    }

    pub fn with_interval(
        media: MediaRoot,
        cache: Cache,
        store: std::sync::Arc<Store>,
        every: Duration,
    ) -> Freshness {
        Freshness {
            media,
            cache,
            store,
            clock: Mutex::new(RecheckClock::new(every, MAX_TRACKED_KEYS)),
        }
    }

    /// Checks the renditions behind a flushed batch of hit keys that are due, and
    /// evicts the stale ones with every csmil master listing them. Returns the
    /// number of entries evicted.
    pub fn check_hits(&self, hit_keys: &[String]) -> u64 {
        let now = Instant::now();
        let due: Vec<String> = {
            let mut clock = self.clock.lock().unwrap_or_else(|e| e.into_inner());
            renditions_of_hits(hit_keys)
                .into_iter()
                .filter(|key| clock.due(key, now))
                .collect()
        };
        let mut stale = HashSet::new();
        for key in due {
            let entry = match self.store.get(&key) {
                Ok(entry) => entry,
                Err(e) => {
                    log::warn!("freshness: reading {key}: {e}");
                    continue;
                }
            };
            if look(&self.media, &self.cache, &key, entry.as_ref()).is_some_and(Verdict::is_stale) {
                stale.insert(key);
            }
        }
        if stale.is_empty() {
            return 0;
        }
        let masters = match self.store.entries() {
            Ok(entries) => {
                let keys = entries
                    .iter()
                    .filter(|(_, e)| e.kind == EntryKind::Master)
                    .map(|(k, _)| k.as_str());
                masters_listing(keys, &stale)
            }
            Err(e) => {
                log::warn!("freshness: listing masters: {e}");
                Vec::new()
            }
        };
        let mut evicted = 0;
        for key in stale.iter().chain(masters.iter()) {
            match self.evict(key) {
                Some(true) => evicted += 1,
                Some(false) => {}
                // Busy: being refilled, or a fill that must finish first; look again
                // at the next hit.
                None => self
                    .clock
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .forget(key),
            }
        }
        evicted
    }

    /// Some(true) evicted, Some(false) nothing there, None busy.
    fn evict(&self, key: &str) -> Option<bool> {
        let outcome =
            match entry::evict_and_forget(&self.cache, Some(&self.store), key, Spare::Busy) {
                Ok(outcome) => outcome,
                Err(entry::EvictError::Forget { outcome, error }) => {
                    log::warn!("freshness: removing {key} from the database: {error}");
                    outcome
                }
                Err(e) => {
                    log::warn!("freshness: evicting {key}: {e}");
                    return Some(false);
                }
            };
        match outcome {
            SweepEviction::Evicted(bytes) => {
                log::info!("source of {key} changed: evicted {bytes} bytes");
                Some(true)
            }
            SweepEviction::Absent => Some(false),
            SweepEviction::Busy | SweepEviction::Answered => None,
        }
    }
}

#[cfg(test)]
mod tests;
