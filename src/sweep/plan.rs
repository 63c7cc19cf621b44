//! Deciding what a sweep evicts. Pure code: no I/O, so every rule is a table test.
//!
//! Order: renditions whose source changed or vanished (the caller stats them and
//! passes the keys in) with every csmil master listing one; entries not accessed
//! within `segment_ttl_secs`; orphans (files the
//! database does not know) older than `orphan_grace_secs`; csmil masters none of
//! whose renditions is cached any more (once older than the grace, since a fresh
//! master is written before its renditions are packaged); then least recently
//! accessed first until what stays fits in `max_cache_bytes`. Nothing busy goes.

use crate::config::CacheConfig;
use crate::entry::masters_listing;
use crate::store::{Entry, EntryKind};
use crate::url::csmil_rendition_keys;
use std::collections::HashSet;
use std::path::PathBuf;

/// Something on disk that the database does not know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Orphan {
    /// Relative to the cache root.
    pub path: PathBuf,
    pub bytes: u64,
    /// Newest modification time inside, unix seconds.
    pub mtime: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Packaged from a source that changed or vanished, or a csmil master listing one.
    Stale,
    Ttl,
    /// A csmil master whose renditions are all gone.
    Dangling,
    Size,
    Orphan,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A database entry, by key.
    Entry(String),
    Orphan(PathBuf),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Eviction {
    pub target: Target,
    pub reason: Reason,
    pub bytes: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub evictions: Vec<Eviction>,
    pub kept_entries: usize,
    /// Bytes that stay: kept entries plus orphans still within their grace.
    pub kept_bytes: u64,
    /// Entries that qualified for eviction but are being filled.
    pub busy_skipped: usize,
}

pub fn plan(
    entries: &[(String, Entry)],
    orphans: &[Orphan],
    stale: &HashSet<String>,
    config: &CacheConfig,
    now: u64,
    is_busy: &dyn Fn(&str) -> bool,
) -> Plan {
    let mut out = Plan::default();
    let mut evicted: HashSet<&str> = HashSet::new();
    // A set: an entry can be skipped by both the TTL and the size pass.
    let mut busy_skipped: HashSet<&str> = HashSet::new();
    let evict = |out: &mut Plan, key: &str, entry: &Entry, reason: Reason| {
        out.evictions.push(Eviction {
            target: Target::Entry(key.to_string()),
            reason,
            bytes: entry.bytes,
        });
    };

    let stale_masters: HashSet<String> = masters_listing(
        entries
            .iter()
            .filter(|(_, e)| e.kind == EntryKind::Master)
            .map(|(k, _)| k.as_str()),
        stale,
    )
    .into_iter()
    .collect();
    for (key, entry) in entries {
        let is_stale = match entry.kind {
            EntryKind::Rendition => stale.contains(key),
            EntryKind::Master => stale_masters.contains(key),
        };
        if !is_stale {
            continue;
        }
        if is_busy(key) {
            busy_skipped.insert(key.as_str());
        } else {
            evict(&mut out, key, entry, Reason::Stale);
            evicted.insert(key);
        }
    }

    for (key, entry) in entries {
        if evicted.contains(key.as_str()) {
            continue;
        }
        if now.saturating_sub(entry.last_access) > config.segment_ttl_secs {
            if is_busy(key) {
                busy_skipped.insert(key.as_str());
            } else {
                evict(&mut out, key, entry, Reason::Ttl);
                evicted.insert(key);
            }
        }
    }

    let mut orphan_bytes_kept = 0u64;
    for orphan in orphans {
        if now.saturating_sub(orphan.mtime) > config.orphan_grace_secs {
            out.evictions.push(Eviction {
                target: Target::Orphan(orphan.path.clone()),
                reason: Reason::Orphan,
                bytes: orphan.bytes,
            });
        } else {
            orphan_bytes_kept = orphan_bytes_kept.saturating_add(orphan.bytes);
        }
    }

    let cached_renditions: HashSet<&str> = entries
        .iter()
        .filter(|(key, e)| e.kind == EntryKind::Rendition && !evicted.contains(key.as_str()))
        .map(|(key, _)| key.as_str())
        .collect();
    for (key, entry) in entries {
        let old_enough = now.saturating_sub(entry.last_access) > config.orphan_grace_secs;
        if entry.kind != EntryKind::Master || evicted.contains(key.as_str()) || !old_enough {
            continue;
        }
        let Some(renditions) = csmil_rendition_keys(key) else {
            continue;
        };
        if renditions
            .iter()
            .all(|r| !cached_renditions.contains(r.as_str()))
            && !is_busy(key)
        {
            evict(&mut out, key, entry, Reason::Dangling);
            evicted.insert(key);
        }
    }

    let mut remaining: Vec<&(String, Entry)> = entries
        .iter()
        .filter(|(key, _)| !evicted.contains(key.as_str()))
        .collect();
    let mut total = remaining
        .iter()
        .fold(orphan_bytes_kept, |sum, (_, e)| sum.saturating_add(e.bytes));
    // Least recently accessed first; the key breaks ties so plans are stable.
    remaining.sort_by(|(ka, a), (kb, b)| (a.last_access, ka).cmp(&(b.last_access, kb)));
    let mut kept = Vec::with_capacity(remaining.len());
    for item in remaining {
        let (key, entry) = item;
        if total <= config.max_cache_bytes {
            kept.push(item);
        } else if is_busy(key) {
            busy_skipped.insert(key.as_str());
            kept.push(item);
        } else {
            evict(&mut out, key, entry, Reason::Size);
            total = total.saturating_sub(entry.bytes);
        }
    }
    out.busy_skipped = busy_skipped.len();
    out.kept_entries = kept.len();
    out.kept_bytes = total;
    out
}

#[cfg(test)]
mod tests;
