//! One cache entry's on-disk contract, in one place: the `.source` marker (written
//! and read), the staleness verdict, publishing into a rendition (marker first),
//! evicting an entry together with its index row, (`check`) whether the files of
//! an entry are whole after an unclean stop, and (`sidecars`) the sidecar paths its
//! subtitles were looked for at.
//!
//! An entry is a directory under the cache root named by its key: a rendition
//! (`<dir>/<name>.mp4/`: marker, playlists, segments) or a csmil master
//! (`<dir>/<list>.csmil/`: master, media playlists, links into renditions).
//! The packager, freshness, the sweep and reconcile call this module; it calls only
//! `cache` (the directory) and `store` (the index). Every function here blocks: async
//! callers run it on the blocking pool.

pub mod check;
pub mod sidecars;

use crate::cache::{Cache, SweepEviction};
use crate::error::SourceError;
use crate::store::{SourceId, Store, StoreError};
use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::Path;

/// Name of the per-rendition file saying which source it was packaged from, so a
/// change is noticed even when the database is lost.
pub const SOURCE_MARKER: &str = ".source";

/// How the files of a rendition are cut and named, the marker's `layout=` line:
/// raised when the tool would write an entry's files differently, so that a cache
/// never mixes files of two cuts (a playlist of one, segments of the other). An
/// entry of another layout is stale on its next miss and refilled whole.
/// 1 (no line): until 2026-12. 2: alternate audio cut where the video is
/// (`mp42hls --align-to-video`), not on its own frames.
pub const LAYOUT: u32 = 2;

/// The marker's text: three bare lines, size, mtime_ns, path, then `layout=N`.
pub fn marker_text(id: &SourceId) -> String {
    format!(
        "{}\n{}\n{}\nlayout={LAYOUT}\n",
        id.size, id.mtime_ns, id.path
    )
}

/// The layout a marker's text records (1 when it has no `layout=` line).
fn layout_of(text: &str) -> Option<u32> {
    match text.lines().find_map(|l| l.strip_prefix("layout=")) {
        Some(v) => v.trim().parse().ok(),
        None => Some(1),
    }
}

/// Parses a marker: the three bare lines `marker_text` writes, or `path=…`,
/// `size=…`, `mtime_ns=…` lines in any order (an older format). None unless all
/// three are present and valid (a partial marker identifies nothing).
pub fn parse_marker(text: &str) -> Option<SourceId> {
    parse_keyed(text).or_else(|| parse_positional(text))
}

fn parse_keyed(text: &str) -> Option<SourceId> {
    let (mut path, mut size, mut mtime_ns) = (None, None, None);
    for line in text.lines() {
        match line.split_once('=') {
            Some(("path", v)) => path = Some(v.to_string()),
            Some(("size", v)) => size = v.trim().parse::<u64>().ok(),
            Some(("mtime_ns", v)) => mtime_ns = v.trim().parse::<i128>().ok(),
            _ => {}
        }
    }
    Some(SourceId {
        path: path.filter(|p| !p.is_empty())?,
        size: size?,
        mtime_ns: mtime_ns?,
    })
}

fn parse_positional(text: &str) -> Option<SourceId> {
    let mut lines = text.lines();
    let size = lines.next()?.trim().parse::<u64>().ok()?;
    let mtime_ns = lines.next()?.trim().parse::<i128>().ok()?;
    let path = lines.next().filter(|p| !p.is_empty())?.to_string();
    Some(SourceId {
        path,
        size,
        mtime_ns,
    })
}

/// What a rendition directory's marker says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Marker {
    /// No marker file (no directory, a first fill under way, or not ours).
    Missing,
    /// A marker that names no identity.
    Unparseable,
    /// Files packaged from this source, in this [`LAYOUT`].
    Names(SourceId),
    /// Files packaged from this source in another layout than [`LAYOUT`].
    Outdated(SourceId),
}

impl Marker {
    pub fn source(self) -> Option<SourceId> {
        match self {
            Marker::Names(id) | Marker::Outdated(id) => Some(id),
            Marker::Missing | Marker::Unparseable => None,
        }
    }

    fn of_text(text: &str) -> Marker {
        match (parse_marker(text), layout_of(text)) {
            (None, _) => Marker::Unparseable,
            (Some(id), Some(LAYOUT)) => Marker::Names(id),
            (Some(id), _) => Marker::Outdated(id),
        }
    }
}

/// Reads the marker of the entry directory `dir`.
pub fn read_marker_in(dir: &Path) -> io::Result<Marker> {
    match fs::read_to_string(dir.join(SOURCE_MARKER)) {
        Ok(text) => Ok(Marker::of_text(&text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Marker::Missing),
        Err(e) => Err(e),
    }
}

pub fn read_marker(cache: &Cache, key: &str) -> io::Result<Marker> {
    read_marker_in(&cache.path_of(key))
}

/// What a fresh look at a rendition's source says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Fresh,
    Changed,
    Vanished,
    /// The disk answered with an error: keep what is cached rather than evict on
    /// a transient failure.
    Unknown,
}

impl Verdict {
    pub fn is_stale(self) -> bool {
        matches!(self, Verdict::Changed | Verdict::Vanished)
    }
}

/// Compares the identity recorded at packaging with a fresh resolution.
pub fn judge(recorded: &SourceId, fresh: &Result<SourceId, SourceError>) -> Verdict {
    match fresh {
        Ok(id) if id == recorded => Verdict::Fresh,
        Ok(_) => Verdict::Changed,
        Err(SourceError::NotFound(_)) => Verdict::Vanished,
        Err(SourceError::Io(_) | SourceError::Upstream(_)) => Verdict::Unknown,
    }
}

/// What the miss path finds of a rendition's entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnMiss {
    /// No directory: nothing packaged yet (the fill makes the marker).
    Absent,
    /// Marked as packaged from the source just opened.
    Fresh,
    /// Packaging of anything but the source just opened. A directory without a
    /// marker is mid-first-fill (busy, so an eviction keeps it) or not ours: stale too.
    Stale,
}

/// The miss path's verdict on rendition `key` against the source just opened.
pub fn on_miss(cache: &Cache, key: &str, opened: &SourceId) -> io::Result<OnMiss> {
    Ok(match read_marker(cache, key)? {
        Marker::Names(recorded) if !judge(&recorded, &Ok(opened.clone())).is_stale() => {
            OnMiss::Fresh
        }
        Marker::Names(_) | Marker::Outdated(_) | Marker::Unparseable => OnMiss::Stale,
        Marker::Missing if cache.path_of(key).is_dir() => OnMiss::Stale,
        Marker::Missing => OnMiss::Absent,
    })
}

/// Writes the rendition's marker unless it is there; returns the bytes added. It
/// goes in before any packaged file, so what the files were made from can be told
/// without the database.
pub fn publish_marker(cache: &Cache, key: &str, id: &SourceId) -> io::Result<u64> {
    let marker_key = format!("{key}/{SOURCE_MARKER}");
    if cache.path_of(&marker_key).exists() {
        return Ok(0);
    }
    cache.publish_bytes(&marker_key, marker_text(id).as_bytes())
}

/// Publishes `bytes` at `file_key` inside rendition `key`, marker first; bytes added.
pub fn publish_bytes_in_rendition(
    cache: &Cache,
    key: &str,
    id: &SourceId,
    file_key: &str,
    bytes: &[u8],
) -> io::Result<u64> {
    let added = publish_marker(cache, key, id)?;
    Ok(added + cache.publish_bytes(file_key, bytes)?)
}

/// Moves a tool's finished file to `file_key` inside rendition `key`, marker first.
pub fn publish_file_in_rendition(
    cache: &Cache,
    key: &str,
    id: &SourceId,
    file: &Path,
    file_key: &str,
) -> io::Result<u64> {
    let added = publish_marker(cache, key, id)?;
    Ok(added + cache.publish_file(file, file_key)?)
}

/// Writes the marker into a scratch directory that becomes a whole rendition.
pub fn write_marker_into(dir: &Path, id: &SourceId) -> io::Result<()> {
    fs::write(dir.join(SOURCE_MARKER), marker_text(id))
}

/// Whom an eviction spares besides entries being filled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Spare {
    /// Nothing else: the bytes are wrong (a changed source, a damaged file).
    Busy,
    /// Also entries answered for within `cache::ANSWER_GRACE` (the sweep's TTL and
    /// size evictions: nginx may be about to open them).
    Answered,
}

#[derive(Debug)]
pub enum EvictError {
    Cache(io::Error),
    /// The entry went (or was not there) but its index row could not be dropped.
    Forget {
        outcome: SweepEviction,
        error: StoreError,
    },
}

impl std::fmt::Display for EvictError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EvictError::Cache(e) => write!(f, "cache: {e}"),
            EvictError::Forget { error, .. } => write!(f, "dropping the index row: {error}"),
        }
    }
}

impl std::error::Error for EvictError {}

/// Evicts the entry (renamed away, then deleted) and drops its index row, unless
/// the entry is spared. The row goes only if nothing is at the key afterwards: a fill
/// that published it again meanwhile keeps its row.
pub fn evict_and_forget(
    cache: &Cache,
    store: Option<&Store>,
    key: &str,
    spare: Spare,
) -> Result<SweepEviction, EvictError> {
    let outcome = match spare {
        Spare::Busy => cache.evict_stale(key),
        Spare::Answered => cache.sweep_evict(key),
    }
    .map_err(EvictError::Cache)?;
    let gone = matches!(outcome, SweepEviction::Evicted(_) | SweepEviction::Absent)
        && fs::symlink_metadata(cache.path_of(key)).is_err();
    if let (true, Some(store)) = (gone, store) {
        store
            .remove(key)
            .map_err(|error| EvictError::Forget { outcome, error })?;
    }
    Ok(outcome)
}

/// The csmil master keys among `masters` that list any of `renditions`: what goes
/// with a stale rendition.
pub fn masters_listing<'a>(
    masters: impl IntoIterator<Item = &'a str>,
    renditions: &HashSet<String>,
) -> Vec<String> {
    masters
        .into_iter()
        .filter(|m| {
            crate::url::csmil_rendition_keys(m)
                .is_some_and(|rs| rs.iter().any(|r| renditions.contains(r)))
        })
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests;
