//! Keeping the database true to the cache directory, which is the truth: the
//! database is an index that a crash, a lost file or a corrupt store may leave
//! behind. Walks the cache tree, adopts entry directories the database does not
//! know, re-measures known ones, drops entries whose directory vanished, and
//! reports everything else on disk as an orphan candidate.

use super::plan::Orphan;
use crate::cache::Cache;
use crate::entry::{self, SOURCE_MARKER};
use crate::store::{Entry, EntryKind, SourceId, Store, StoreError};
use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

/// Scratch dirs of `Cache` at the top of the root: their children are orphan
/// candidates, never entries.
const SCRATCH_PREFIX: &str = ".casterpak-";
/// Files whose presence makes a directory a rendition even without `.mp4` in its name.
const RENDITION_FILES: [&str; 3] = [SOURCE_MARKER, "index_0_av.m3u8", "master.m3u8"];
/// Deeper trees are not ours; stop rather than recurse without bound.
const MAX_DEPTH: usize = 64;

/// An entry directory found on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskEntry {
    pub key: String,
    pub kind: EntryKind,
    pub bytes: u64,
    /// Newest modification time inside (the directory included), unix seconds.
    pub newest_mtime: u64,
    pub source: Option<SourceId>,
}

#[derive(Debug, Default)]
pub struct Walk {
    pub entries: Vec<DiskEntry>,
    pub orphans: Vec<Orphan>,
}

#[derive(Debug, Default)]
pub struct ReconcileReport {
    pub adopted: usize,
    pub dropped: usize,
    pub remeasured: usize,
    pub orphans: Vec<Orphan>,
    /// Total bytes of the entries found on disk.
    pub entry_bytes: u64,
}

#[derive(Debug)]
pub enum ReconcileError {
    Walk { path: PathBuf, source: io::Error },
    Store(StoreError),
}

impl std::fmt::Display for ReconcileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReconcileError::Walk { path, source } => {
                write!(f, "cannot read cache dir {}: {source}", path.display())
            }
            ReconcileError::Store(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ReconcileError {}

impl From<StoreError> for ReconcileError {
    fn from(e: StoreError) -> Self {
        ReconcileError::Store(e)
    }
}

/// Brings the database in line with the disk. Adopted entries count as accessed
/// when their newest file was written (capped at `now`: a future mtime from a
/// skewed clock must not make an entry immortal).
pub fn reconcile(
    store: &Store,
    cache: &Cache,
    now: u64,
) -> Result<ReconcileReport, ReconcileError> {
    let walk = walk_cache(cache.root())?;
    let mut known: HashMap<String, Entry> = store.entries()?.into_iter().collect();
    let mut report = ReconcileReport::default();
    for disk in walk.entries {
        report.entry_bytes = report.entry_bytes.saturating_add(disk.bytes);
        match known.remove(&disk.key) {
            Some(entry) => {
                // A fill in progress will add its own bytes when it finishes.
                if entry.bytes != disk.bytes && !cache.is_busy(&disk.key) {
                    store.set_bytes(&disk.key, disk.bytes)?;
                    report.remeasured += 1;
                }
            }
            None => {
                let stamp = disk.newest_mtime.min(now);
                let entry = Entry {
                    kind: disk.kind,
                    source: disk.source,
                    bytes: disk.bytes,
                    created: stamp,
                    last_access: stamp,
                };
                if store.adopt(&disk.key, &entry)? {
                    report.adopted += 1;
                }
            }
        }
    }
    // What is left is known but was not on disk during the walk. Look again: a
    // fill may have published it since.
    for key in known.into_keys() {
        let gone = matches!(
            fs::symlink_metadata(cache.path_of(&key)),
            Err(e) if e.kind() == io::ErrorKind::NotFound
        );
        if gone && !cache.is_busy(&key) {
            store.remove(&key)?;
            report.dropped += 1;
        }
    }
    report.orphans = walk.orphans;
    Ok(report)
}

/// Classifies everything under `root` without following symlinks.
pub fn walk_cache(root: &Path) -> Result<Walk, ReconcileError> {
    let mut walk = Walk::default();
    walk_dir(root, Path::new(""), 0, &mut walk)?;
    Ok(walk)
}

fn walk_err(path: &Path) -> impl FnOnce(io::Error) -> ReconcileError + '_ {
    move |source| ReconcileError::Walk {
        path: path.to_path_buf(),
        source,
    }
}

fn walk_dir(root: &Path, rel: &Path, depth: usize, walk: &mut Walk) -> Result<(), ReconcileError> {
    if depth > MAX_DEPTH {
        log::warn!("sweep: not descending below {}", rel.display());
        return Ok(());
    }
    let dir = root.join(rel);
    for item in fs::read_dir(&dir).map_err(walk_err(&dir))? {
        let item = item.map_err(walk_err(&dir))?;
        let name = item.file_name();
        let child_rel = rel.join(&name);
        let path = item.path();
        let file_type = item.file_type().map_err(walk_err(&path))?;
        let name_str = name.to_str();
        if depth == 0 && name_str == Some(crate::live::NGINX_BODY_DIR) {
            continue;
        }
        if depth == 0 && name_str.is_some_and(|n| n.starts_with(SCRATCH_PREFIX)) {
            if file_type.is_dir() {
                scratch_orphans(root, &child_rel, walk)?;
            }
            continue;
        }
        if !file_type.is_dir() {
            let (bytes, mtime) = measure(&path).map_err(walk_err(&path))?;
            walk.orphans.push(Orphan {
                path: child_rel,
                bytes,
                mtime,
            });
            continue;
        }
        let kind = match name_str {
            Some(n) if n.ends_with(".csmil") => Some(EntryKind::Master),
            Some(n) if n.to_ascii_lowercase().ends_with(".mp4") => Some(EntryKind::Rendition),
            _ if RENDITION_FILES.iter().any(|f| path.join(f).exists()) => {
                Some(EntryKind::Rendition)
            }
            _ => None,
        };
        // Keys are strings; a directory whose path is not UTF-8 cannot be one of ours.
        match (kind, child_rel.to_str()) {
            (Some(kind), Some(key)) => {
                let (bytes, newest_mtime) = measure(&path).map_err(walk_err(&path))?;
                let source = entry::read_marker_in(&path)
                    .ok()
                    .and_then(entry::Marker::source);
                walk.entries.push(DiskEntry {
                    key: key.to_string(),
                    kind,
                    bytes,
                    newest_mtime,
                    source,
                });
            }
            (Some(_), None) => {
                let (bytes, mtime) = measure(&path).map_err(walk_err(&path))?;
                walk.orphans.push(Orphan {
                    path: child_rel,
                    bytes,
                    mtime,
                });
            }
            // Live streams and recordings keep their own rules (crate::live).
            (None, _) if path.join(crate::live::NOT_CACHE_MARK).exists() => {}
            (None, _) => walk_dir(root, &child_rel, depth + 1, walk)?,
        }
    }
    Ok(())
}

/// Each child of a scratch dir is one orphan candidate (a fill dir, a trashed entry).
fn scratch_orphans(root: &Path, rel: &Path, walk: &mut Walk) -> Result<(), ReconcileError> {
    let dir = root.join(rel);
    for item in fs::read_dir(&dir).map_err(walk_err(&dir))? {
        let item = item.map_err(walk_err(&dir))?;
        let path = item.path();
        match measure(&path) {
            Ok((bytes, mtime)) => walk.orphans.push(Orphan {
                path: rel.join(item.file_name()),
                bytes,
                mtime,
            }),
            // Scratch files come and go while fills run.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(walk_err(&path)(e)),
        }
    }
    Ok(())
}

/// (apparent size, newest mtime in unix secs) of a tree, symlinks not followed:
/// the same measure as `Cache::disk_usage`.
pub(super) fn measure(path: &Path) -> io::Result<(u64, u64)> {
    let meta = fs::symlink_metadata(path)?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    if !meta.is_dir() {
        return Ok((meta.len(), mtime));
    }
    let (mut bytes, mut newest) = (0u64, mtime);
    for item in fs::read_dir(path)? {
        match measure(&item?.path()) {
            Ok((b, m)) => {
                bytes = bytes.saturating_add(b);
                newest = newest.max(m);
            }
            // Removed while we looked (an eviction or a publish's rename).
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok((bytes, newest))
}

#[cfg(test)]
mod tests;
