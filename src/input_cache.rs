//! The input cache: local copies of remote objects, so the tools keep reading a
//! local file descriptor (I/O edge).
//!
//! A copy is a sparse file created at the object's full size, plus a record of
//! which 4 KiB blocks hold the object's bytes (`blocks::Presence`). A fill
//! fetches runs of absent blocks, checks each answer is whole, writes it, and only
//! then marks the blocks present and rewrites the record (a temp file renamed over
//! it), so no reader is ever pointed at a block whose bytes did not arrive whole.
//! Single flight per block: a fill claims the absent blocks nobody is fetching,
//! fetches them, and waits for the ones another fill claimed, so concurrent misses
//! needing the same bytes fetch them once while fills of other bytes of the same
//! object run side by side (several segments of one title over a slow link).
//!
//! The serve-mode tools cache parsed indexes by `fstat` identity (dev, ino, size,
//! mtime). Writing blocks would move the mtime on every fill and make every job a
//! miss, so the copy's mtime is pinned to a value derived from the object's
//! identity and set back after each write.
//!
//! Files: `<root>/<hash>.data` (the copy) and `<root>/<hash>.blocks` (the record:
//! a line naming the object's identity, then the bitmap); the record's mtime is the
//! copy's last use, which the sweep orders by.

pub mod blocks;
pub mod index;
pub mod sweep;

use blocks::{Presence, BLOCK};
use nix::sys::stat::futimens;
use nix::sys::time::TimeSpec;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::ops::Range;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};

/// Version 2: 4 KiB blocks (version 1's bitmaps counted 16 KiB ones, so a copy
/// recorded by it is not read as present: it is fetched again).
const RECORD_MAGIC: &str = "casterpak-input-copy 2";

/// FNV-1a, 64 bits: a stable name for an identity (collisions are caught by the
/// identity line in the record).
pub fn stable_hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[derive(Debug, Clone)]
pub struct InputCache {
    root: PathBuf,
}

/// One object's local copy.
pub struct LocalCopy {
    identity: String,
    data_path: PathBuf,
    record_path: PathBuf,
    file: Arc<OwnedFd>,
    mtime: TimeSpec,
    presence: Mutex<Presence>,
    /// Block runs some fill is fetching now; `released` wakes who waits for one.
    in_flight: Mutex<Vec<Range<u64>>>,
    released: Condvar,
    /// Record rewrites one at a time (each from the presence of its moment).
    record: Mutex<()>,
}

impl std::fmt::Debug for LocalCopy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalCopy")
            .field("data_path", &self.data_path)
            .finish_non_exhaustive()
    }
}

/// Why a fill failed: the fetch's own error, or the local disk.
#[derive(Debug)]
pub enum FillError<E> {
    Fetch(E),
    Disk(io::Error),
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl InputCache {
    /// Creates the root when missing.
    pub fn new(root: &Path) -> io::Result<InputCache> {
        std::fs::create_dir_all(root)?;
        Ok(InputCache {
            root: root.to_path_buf(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Removes every copy's record (their blocks count as absent from now on) and
    /// data; returns how many copies there were.
    pub fn forget_all(&self) -> usize {
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return 0;
        };
        let mut forgotten = 0;
        for path in entries.flatten().map(|e| e.path()) {
            match path.extension().and_then(|e| e.to_str()) {
                Some("blocks") => {
                    forgotten += 1;
                    let _ = std::fs::remove_file(&path);
                }
                Some("data") | Some("tmp") => {
                    let _ = std::fs::remove_file(&path);
                }
                _ if path
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(".record")) =>
                {
                    let _ = std::fs::remove_file(&path);
                }
                _ => {}
            }
        }
        forgotten
    }

    fn paths(&self, identity: &str) -> (PathBuf, PathBuf) {
        let name = format!("{:016x}", stable_hash(identity));
        (
            self.root.join(format!("{name}.data")),
            self.root.join(format!("{name}.blocks")),
        )
    }

    /// The copy of the object `identity` (its URL and version) of `size` bytes:
    /// the one on disk if its record names this identity, else a new empty one.
    pub fn open(&self, identity: &str, size: u64) -> io::Result<LocalCopy> {
        let identity = identity.replace('\n', " ");
        let (data_path, record_path) = self.paths(&identity);
        let hash = stable_hash(&identity);
        // Seconds from 2001 on, nanoseconds from the hash: another object in a
        // reused inode of the same size still gets another fstat identity.
        let mtime = TimeSpec::new(
            1_000_000_000 + (hash % 1_000_000_000) as i64,
            ((hash >> 32) % 1_000_000_000) as i64,
        );
        let kept = std::fs::read(&record_path)
            .ok()
            .and_then(|bytes| parse_record(&bytes, &identity, size));
        let existing = OpenOptions::new().read(true).write(true).open(&data_path);
        let (file, presence) = match (kept, existing) {
            (Some(presence), Ok(file)) if file.metadata()?.len() == size => (file, presence),
            _ => {
                let _ = std::fs::remove_file(&record_path);
                let file = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .open(&data_path)?;
                file.set_len(size)?;
                (file, Presence::new(size))
            }
        };
        futimens(file.as_raw_fd(), &mtime, &mtime)?;
        let copy = LocalCopy {
            identity,
            data_path,
            record_path,
            file: Arc::new(OwnedFd::from(file)),
            mtime,
            presence: Mutex::new(presence),
            in_flight: Mutex::new(Vec::new()),
            released: Condvar::new(),
            record: Mutex::new(()),
        };
        copy.write_record()?;
        Ok(copy)
    }
}

fn parse_record(bytes: &[u8], identity: &str, size: u64) -> Option<Presence> {
    let newline = bytes.iter().position(|&b| b == b'\n')?;
    let head = std::str::from_utf8(&bytes[..newline]).ok()?;
    let named = head.strip_prefix(RECORD_MAGIC)?.strip_prefix(' ')?;
    if named != identity {
        return None;
    }
    Presence::from_bytes(&bytes[newline + 1..], size)
}

impl LocalCopy {
    /// The copy's descriptor (read by the tools as `/dev/fd/<n>`).
    pub fn file(&self) -> Arc<OwnedFd> {
        self.file.clone()
    }

    pub fn size(&self) -> u64 {
        lock(&self.presence).size()
    }

    pub fn present_bytes(&self) -> u64 {
        lock(&self.presence).present_bytes()
    }

    pub fn covers(&self, start: u64, end: u64) -> bool {
        lock(&self.presence).covers(start, end)
    }

    /// `len` bytes at `start` if all are present.
    pub fn read(&self, start: u64, len: u64) -> Option<Vec<u8>> {
        let end = start.checked_add(len)?;
        if end > self.size() || !self.covers(start, end) {
            return None;
        }
        let mut buf = vec![0; usize::try_from(len).ok()?];
        let file = File::from(self.file.try_clone().ok()?);
        file.read_exact_at(&mut buf, start).ok()?;
        Some(buf)
    }

    /// Makes every byte of `ranges` present, fetching absent blocks in runs with
    /// `fetch(start, end)`, which must return exactly `end - start` bytes; blocks
    /// another fill is fetching are waited for (and fetched here if that fill
    /// failed). Returns the bytes this call fetched (0: all were there).
    pub fn fill<E>(
        &self,
        ranges: &[(u64, u64)],
        fetch: &mut dyn FnMut(u64, u64) -> Result<Vec<u8>, E>,
    ) -> Result<u64, FillError<E>> {
        let mut fetched = 0;
        loop {
            let (mine, others) = self.claim(ranges);
            let result = self.fetch_runs(&mine, fetch);
            // Released whatever happened, so waiters try the blocks themselves.
            lock(&self.in_flight).retain(|run| !mine.contains(run));
            self.released.notify_all();
            fetched += result?;
            if !others {
                break;
            }
            self.wait_for(ranges);
        }
        if fetched > 0 {
            self.write_record().map_err(FillError::Disk)?;
        }
        Ok(fetched)
    }

    /// The runs of absent blocks of `ranges` nobody fetches, now claimed by the
    /// caller, and whether some absent block is another fill's.
    fn claim(&self, ranges: &[(u64, u64)]) -> (Vec<Range<u64>>, bool) {
        let presence = lock(&self.presence);
        let mut in_flight = lock(&self.in_flight);
        let (mut mine, mut others) = (Vec::new(), false);
        for run in presence.missing_runs(ranges) {
            let mut start = None;
            for block in run.clone() {
                if in_flight.iter().any(|r| r.contains(&block)) {
                    others = true;
                    if let Some(s) = start.take() {
                        mine.push(s..block);
                    }
                } else if start.is_none() {
                    start = Some(block);
                }
            }
            if let Some(s) = start {
                mine.push(s..run.end);
            }
        }
        in_flight.extend(mine.iter().cloned());
        (mine, others)
    }

    /// Fetches, stores and marks present each claimed run; the bytes fetched.
    fn fetch_runs<E>(
        &self,
        runs: &[Range<u64>],
        fetch: &mut dyn FnMut(u64, u64) -> Result<Vec<u8>, E>,
    ) -> Result<u64, FillError<E>> {
        let mut fetched = 0;
        for run in runs {
            let (start, end) = {
                let p = lock(&self.presence);
                (p.block_range(run.start).0, p.block_range(run.end - 1).1)
            };
            let bytes = fetch(start, end).map_err(FillError::Fetch)?;
            if bytes.len() as u64 != end - start {
                return Err(FillError::Disk(io::Error::other(
                    "a fetch returned the wrong number of bytes",
                )));
            }
            self.store(start, &bytes).map_err(FillError::Disk)?;
            lock(&self.presence).mark(run.clone());
            fetched += bytes.len() as u64;
        }
        Ok(fetched)
    }

    /// Returns once no fill is fetching a block of `ranges`.
    fn wait_for(&self, ranges: &[(u64, u64)]) {
        let blocks: Vec<Range<u64>> = ranges
            .iter()
            .map(|&(start, end)| start / BLOCK..end.div_ceil(BLOCK))
            .collect();
        let busy = |in_flight: &Vec<Range<u64>>| {
            in_flight
                .iter()
                .any(|r| blocks.iter().any(|b| r.start < b.end && b.start < r.end))
        };
        let mut in_flight = lock(&self.in_flight);
        while busy(&in_flight) {
            in_flight = self
                .released
                .wait(in_flight)
                .unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Writes whole fetched blocks, then pins the mtime back.
    fn store(&self, start: u64, bytes: &[u8]) -> io::Result<()> {
        debug_assert_eq!(start % BLOCK, 0);
        let file = File::from(self.file.try_clone()?);
        file.write_all_at(bytes, start)?;
        futimens(file.as_raw_fd(), &self.mtime, &self.mtime)?;
        Ok(())
    }

    /// Rewrites the record (temp file, rename); its mtime is now the last use.
    fn write_record(&self) -> io::Result<()> {
        let _one = lock(&self.record);
        let bytes = lock(&self.presence).to_bytes();
        let dir = self.record_path.parent().unwrap_or(Path::new("."));
        let mut tmp = tempfile::Builder::new()
            .prefix(".record")
            .tempfile_in(dir)?;
        writeln!(tmp, "{RECORD_MAGIC} {}", self.identity)?;
        tmp.write_all(&bytes)?;
        tmp.persist(&self.record_path).map_err(|e| e.error)?;
        Ok(())
    }

    /// A shared lock on the data file, held while a request reads the copy: the
    /// sweep removes only copies it can lock exclusively. None when the copy was
    /// swept meanwhile (its files are gone).
    pub fn reading(&self) -> io::Result<Option<nix::fcntl::Flock<File>>> {
        let file = match File::open(&self.data_path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            other => other?,
        };
        let locked = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockShared)
            .map_err(|(_, e)| io::Error::from(e))?;
        // Locked after a sweep removed it: the name is gone (or is a new copy).
        if !self.record_path.exists() || !self.data_path.exists() {
            return Ok(None);
        }
        Ok(Some(locked))
    }

    /// Records a use (for the sweep's least-recently-used order).
    pub fn touch(&self) {
        let now = TimeSpec::from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default(),
        );
        if let Ok(f) = File::open(&self.record_path) {
            let _ = futimens(f.as_raw_fd(), &now, &now);
        }
    }

    /// Removes the copy's files (an object that changed upstream). Open
    /// descriptors keep reading the old bytes until closed.
    pub fn remove(&self) {
        for path in [&self.record_path, &self.data_path] {
            if let Err(e) = std::fs::remove_file(path) {
                if e.kind() != io::ErrorKind::NotFound {
                    log::warn!("input cache: removing {}: {e}", path.display());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
