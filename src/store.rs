//! Access metadata in sled: the ONLY module that touches sled.
//!
//! One [`Store`] per process for its whole life (sled takes an exclusive file lock;
//! a second process gets [`StoreError::Locked`]). Every call blocks: async callers
//! use `spawn_blocking`. The database is only an index over the cache directory:
//! a corrupt one is moved aside and rebuilt by `sweep::reconcile`.

mod entry;

pub use entry::{DecodeError, Entry, EntryKind, SourceId};

use std::fmt;
use std::path::{Path, PathBuf};

/// sled's default page cache is 1 GiB; our values are tens of bytes.
const CACHE_CAPACITY_BYTES: u64 = 16 << 20;
const ENTRIES_TREE: &str = "entries";

#[derive(Debug)]
pub enum StoreError {
    /// Another process (normally the running worker) holds the database.
    Locked { path: PathBuf },
    /// The database could not be opened for a reason other than corruption.
    Open { path: PathBuf, source: sled::Error },
    /// A corrupt database could not be moved aside.
    Quarantine {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A read or write failed on an open database.
    Db(sled::Error),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Locked { path } => write!(
                f,
                "database {} is locked by another process",
                path.display()
            ),
            StoreError::Open { path, source } => {
                write!(f, "cannot open database {}: {source}", path.display())
            }
            StoreError::Quarantine { path, source } => write!(
                f,
                "database {} is corrupt and cannot be moved aside: {source}",
                path.display()
            ),
            StoreError::Db(e) => write!(f, "database error: {e}"),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Locked { .. } => None,
            StoreError::Open { source, .. } => Some(source),
            StoreError::Quarantine { source, .. } => Some(source),
            StoreError::Db(e) => Some(e),
        }
    }
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Db(e)
    }
}

pub struct Store {
    /// Kept so the database (and its lock) lives as long as the Store.
    _db: sled::Db,
    entries: sled::Tree,
    path: PathBuf,
}

impl Store {
    /// Opens (or creates) the database. A corrupt database is moved to
    /// `<path>.corrupt-<unix secs>` and an empty one takes its place.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        match Store::open_unchecked(path) {
            Err(StoreError::Open { source, .. }) if is_corruption(&source) => {
                let aside = quarantine_path(path, unix_now());
                log::warn!(
                    "database {} is corrupt ({source}); moving it to {} and rebuilding from the cache",
                    path.display(),
                    aside.display()
                );
                std::fs::rename(path, &aside).map_err(|source| StoreError::Quarantine {
                    path: path.to_path_buf(),
                    source,
                })?;
                Store::open_unchecked(path)
            }
            other => other,
        }
    }

    fn open_unchecked(path: &Path) -> Result<Store, StoreError> {
        let open_error = |source: sled::Error| {
            if is_lock_error(&source) {
                StoreError::Locked {
                    path: path.to_path_buf(),
                }
            } else {
                StoreError::Open {
                    path: path.to_path_buf(),
                    source,
                }
            }
        };
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(CACHE_CAPACITY_BYTES)
            .open()
            .map_err(open_error)?;
        let entries = db.open_tree(ENTRIES_TREE).map_err(open_error)?;
        Ok(Store {
            _db: db,
            entries,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A fill wrote `added_bytes` into `key`: creates the entry (created =
    /// last_access = now) or adds the bytes and refreshes last_access. `source`
    /// replaces the stored one when given.
    pub fn record_fill(
        &self,
        key: &str,
        kind: EntryKind,
        source: Option<&SourceId>,
        added_bytes: u64,
        now: u64,
    ) -> Result<(), StoreError> {
        self.entries.update_and_fetch(key, |old| {
            let entry = match old.and_then(decode_or_warn) {
                Some(mut entry) => {
                    entry.kind = kind;
                    entry.bytes = entry.bytes.saturating_add(added_bytes);
                    entry.last_access = entry.last_access.max(now);
                    if let Some(source) = source {
                        entry.source = Some(source.clone());
                    }
                    entry
                }
                None => Entry {
                    kind,
                    source: source.cloned(),
                    bytes: added_bytes,
                    created: now,
                    last_access: now,
                },
            };
            Some(entry.encode())
        })?;
        Ok(())
    }

    /// Records hits (key, unix secs). Access times never move backwards. A key the
    /// database does not know yet (e.g. before reconcile ran) gets an entry with
    /// 0 bytes; reconcile measures it, or drops it if its directory is gone.
    pub fn touch(&self, hits: &[(String, u64)]) -> Result<(), StoreError> {
        for (key, at) in hits {
            self.entries.update_and_fetch(key.as_bytes(), |old| {
                let entry = match old.and_then(decode_or_warn) {
                    Some(mut entry) => {
                        entry.last_access = entry.last_access.max(*at);
                        entry
                    }
                    None => Entry {
                        kind: kind_of_key(key),
                        source: None,
                        bytes: 0,
                        created: *at,
                        last_access: *at,
                    },
                };
                Some(entry.encode())
            })?;
        }
        Ok(())
    }

    /// Inserts `entry` unless the key is already known (reconcile adopting a
    /// directory must not overwrite what a concurrent fill recorded). Returns
    /// whether it was inserted.
    pub fn adopt(&self, key: &str, entry: &Entry) -> Result<bool, StoreError> {
        let swapped = self
            .entries
            .compare_and_swap(key, None::<&[u8]>, Some(entry.encode()))?;
        Ok(swapped.is_ok())
    }

    /// Sets the measured size of a known entry, leaving everything else as is.
    pub fn set_bytes(&self, key: &str, bytes: u64) -> Result<(), StoreError> {
        self.entries.update_and_fetch(key, |old| {
            let mut entry = old.and_then(decode_or_warn)?;
            entry.bytes = bytes;
            Some(entry.encode())
        })?;
        Ok(())
    }

    /// An undecodable value reads as absent (the index heals on the next fill or
    /// reconcile) rather than failing every caller.
    pub fn get(&self, key: &str) -> Result<Option<Entry>, StoreError> {
        Ok(self
            .entries
            .get(key)?
            .and_then(|value| decode_or_warn(&value)))
    }

    pub fn remove(&self, key: &str) -> Result<(), StoreError> {
        self.entries.remove(key)?;
        Ok(())
    }

    /// Every decodable entry, in key order. Undecodable ones are removed.
    pub fn entries(&self) -> Result<Vec<(String, Entry)>, StoreError> {
        let mut out = Vec::new();
        let mut undecodable = Vec::new();
        for item in self.entries.iter() {
            let (key, value) = item?;
            match (std::str::from_utf8(&key), decode_or_warn(&value)) {
                (Ok(key), Some(entry)) => out.push((key.to_string(), entry)),
                _ => undecodable.push(key),
            }
        }
        for key in undecodable {
            self.entries.remove(key)?;
        }
        Ok(out)
    }

    /// Writes everything to disk (sled otherwise flushes every 500 ms).
    pub fn flush(&self) -> Result<(), StoreError> {
        self.entries.flush()?;
        Ok(())
    }
}

fn decode_or_warn(value: &[u8]) -> Option<Entry> {
    match Entry::decode(value) {
        Ok(entry) => Some(entry),
        Err(e) => {
            log::warn!("ignoring undecodable database entry: {e}");
            None
        }
    }
}

/// csmil master directories end in `.csmil`; everything else we key is a rendition.
pub fn kind_of_key(key: &str) -> EntryKind {
    if key.ends_with(".csmil") {
        EntryKind::Master
    } else {
        EntryKind::Rendition
    }
}

/// sled 0.34 reports a held lock as an `Io` error of kind `Other` whose message
/// starts with "could not acquire lock"; the original `WouldBlock` is only in the text.
fn is_lock_error(e: &sled::Error) -> bool {
    matches!(e, sled::Error::Io(io) if io.to_string().contains("could not acquire lock"))
}

/// Errors that mean the files are damaged, as opposed to e.g. permissions: only
/// these justify moving the database aside.
fn is_corruption(e: &sled::Error) -> bool {
    match e {
        sled::Error::Corruption { .. } | sled::Error::ReportableBug(_) => true,
        sled::Error::Unsupported(_) => true,
        sled::Error::Io(io) => matches!(
            io.kind(),
            std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof
        ),
        _ => false,
    }
}

fn quarantine_path(path: &Path, now: u64) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(format!(".corrupt-{now}"));
    PathBuf::from(name)
}

pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests;
