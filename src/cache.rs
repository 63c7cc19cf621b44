//! The cache directory: atomic publication, busy marks and eviction.
//!
//! nginx serves anything that exists under the root, so nothing may appear there
//! half-written: every file is written under `<root>/.casterpak-tmp` (same file
//! system), made world-readable and renamed into place. Files are not fsynced: a
//! cache may lose a fill, and what a power cut can leave short is found by the
//! check after an unclean stop (`entry::check`, the clean mark below). An eviction renames
//! the whole entry into `<root>/.casterpak-trash` first, so it disappears at once.
//! Entries being filled are marked busy; eviction skips them under the same lock.
//! Entries the worker just answered for are marked too: nginx opens the file after the
//! worker's redirect, so a sweep keeps them for `ANSWER_GRACE` (`sweep_evict`).

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

const TMP_DIR: &str = ".casterpak-tmp";
const TRASH_DIR: &str = ".casterpak-trash";
/// Written at a clean stop after the file system was synced; its absence at start
/// means published files may be short (a crash or power cut before their data
/// reached the disk).
const CLEAN_MARK: &str = ".casterpak-clean";
/// The `[encryption]` fingerprint the cache's files were made under.
const ENCRYPTION_MARK: &str = ".casterpak-encryption";
/// Which protected prefixes the cached HLS playlists hand the token on under as a
/// variable (`[token_auth] propagation = "define"`, `define_prefixes`).
pub const TOKEN_VARIABLE_MARK: &str = ".casterpak-token-variable";
/// nginx runs as another user: published files and dirs must be world-readable.
const FILE_MODE: u32 = 0o644;
const DIR_MODE: u32 = 0o755;

/// How long a sweep keeps an entry the worker answered for. nginx opens the file it is
/// redirected to as soon as it reads the answer, milliseconds later (and an open file
/// survives its eviction); seconds leave a wide margin for an overloaded nginx, and
/// only delay an eviction by as much.
pub const ANSWER_GRACE: Duration = Duration::from_secs(5);
/// Marks older than the grace are dropped once the map holds more than this many.
const MARKS_PRUNED_ABOVE: usize = 1024;

/// Handle on the cache directory; clones share the busy marks.
#[derive(Clone, Debug)]
pub struct Cache {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    root: PathBuf,
    tmp: PathBuf,
    trash: PathBuf,
    /// Entry key → number of fills in progress under it.
    busy: Mutex<HashMap<String, usize>>,
    /// Entry key → when the worker last answered a request reading it, or last
    /// finished a fill of it. Taken after `busy` when both are held.
    answered: Mutex<Marks>,
    grace: Duration,
    trash_counter: AtomicU64,
    scratch_counter: AtomicU64,
}

/// Ordered, so a sweep of many entries finds the marks in and around each by lookups
/// and one range, not by a scan.
#[derive(Debug, Default)]
struct Marks {
    at: BTreeMap<String, Instant>,
    /// Prune when the map grows past this (doubles with what stays: amortised O(1)).
    prune_above: usize,
}

impl Marks {
    fn mark(&mut self, key: &str, now: Instant, grace: Duration) {
        self.at.insert(key.to_string(), now);
        if self.at.len() > self.prune_above.max(MARKS_PRUNED_ABOVE) {
            self.at.retain(|_, at| now.duration_since(*at) < grace);
            self.prune_above = self.at.len().saturating_mul(2);
        }
    }

    fn within(&self, key: &str, now: Instant, grace: Duration) -> bool {
        let fresh = |at: &Instant| now.duration_since(*at) < grace;
        // The key itself and its ancestors: `i/a/b.mp4`, `i/a`, `i`.
        let mut ancestors = std::iter::successors(Some(key), |k| k.rsplit_once('/').map(|p| p.0));
        if ancestors.any(|k| self.at.get(k).is_some_and(fresh)) {
            return true;
        }
        // Inside it: `key/…` sorts between `key/` and `key0` ('0' follows '/').
        self.at
            .range(format!("{key}/")..format!("{key}0"))
            .any(|(_, at)| fresh(at))
    }
}

/// What `Cache::sweep_evict` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SweepEviction {
    /// Renamed away and deleted: this many bytes.
    Evicted(u64),
    /// Being filled.
    Busy,
    /// Answered for within `ANSWER_GRACE`: nginx may not have opened it yet.
    Answered,
    /// Not there.
    Absent,
}

/// Marks an entry busy until dropped (see [`Cache::begin_fill`]).
#[derive(Debug)]
pub struct FillGuard {
    inner: Arc<Inner>,
    key: String,
}

impl Drop for FillGuard {
    fn drop(&mut self) {
        // Marked before it stops being busy: the redirect to what was just filled
        // follows, and no sweep may slip in between.
        self.inner.mark_answered(&self.key);
        let mut busy = lock(&self.inner.busy);
        if let Some(count) = busy.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                busy.remove(&self.key);
            }
        }
    }
}

/// A poisoned lock only means another thread panicked while holding it; the maps
/// are still consistent, so keep going rather than spreading the panic.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Inner {
    fn mark_answered(&self, key: &str) {
        lock(&self.answered).mark(key, Instant::now(), self.grace);
    }
}

/// True when `a` equals `b` or one is a directory ancestor of the other.
fn overlaps(a: &str, b: &str) -> bool {
    let nested = |outer: &str, inner: &str| {
        inner.len() > outer.len()
            && inner.starts_with(outer)
            && inner.as_bytes().get(outer.len()) == Some(&b'/')
    };
    a == b || nested(a, b) || nested(b, a)
}

/// Keys come from our URL parser or the store; refuse anything that could leave
/// the root or name the scratch dirs, whatever its origin.
fn check_key(key: &str) -> io::Result<()> {
    let bad = key.is_empty()
        || key.starts_with('/')
        || key.contains('\0')
        || key
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
        || key == TMP_DIR
        || key == TRASH_DIR
        || key.starts_with(".casterpak-");
    if bad {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid cache key {key:?}"),
        ))
    } else {
        Ok(())
    }
}

/// The scratch dir of the cache at `root` (what `Cache::tmp_dir` is), for work that
/// has no `Cache` at hand (`record store`'s MP4s).
pub fn scratch_dir_of(root: &Path) -> PathBuf {
    root.join(TMP_DIR)
}

fn make_dirs(path: &Path) -> io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(path)
}

/// Removes everything inside `dir` (what a SIGKILL left behind), keeping `dir`.
fn empty_dir(dir: &Path) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let removed = if entry.file_type()?.is_dir() {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        };
        match removed {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

/// Apparent size of a file tree; symlinks count as their own size, never followed.
fn tree_size(path: &Path) -> io::Result<u64> {
    let meta = fs::symlink_metadata(path)?;
    if !meta.is_dir() {
        return Ok(meta.len());
    }
    let mut total = 0u64;
    for entry in fs::read_dir(path)? {
        total = total.saturating_add(tree_size(&entry?.path())?);
    }
    Ok(total)
}

fn open_up(path: &Path) -> io::Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(FILE_MODE))
}

impl Cache {
    /// Opens (creating) the cache root and its scratch dirs, emptying those.
    pub fn new(root: PathBuf) -> io::Result<Cache> {
        Cache::with_answer_grace(root, ANSWER_GRACE)
    }

    /// `new` with another grace for answered entries (tests).
    pub fn with_answer_grace(root: PathBuf, grace: Duration) -> io::Result<Cache> {
        make_dirs(&root)?;
        let tmp = root.join(TMP_DIR);
        let trash = root.join(TRASH_DIR);
        for dir in [&tmp, &trash] {
            make_dirs(dir)?;
            empty_dir(dir)?;
        }
        Ok(Cache {
            inner: Arc::new(Inner {
                root,
                tmp,
                trash,
                busy: Mutex::new(HashMap::new()),
                answered: Mutex::new(Marks::default()),
                grace,
                trash_counter: AtomicU64::new(0),
                scratch_counter: AtomicU64::new(0),
            }),
        })
    }

    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// Whether the previous worker stopped cleanly (everything it published was
    /// synced to disk). Removes the mark, durably, before this run publishes
    /// anything unsynced, so a crash of this run is noticed by the next.
    pub fn take_clean_mark(&self) -> io::Result<bool> {
        let clean = match fs::remove_file(self.inner.root.join(CLEAN_MARK)) {
            Ok(()) => true,
            Err(e) if e.kind() == io::ErrorKind::NotFound => false,
            Err(e) => return Err(e),
        };
        fs::File::open(&self.inner.root)?.sync_all()?;
        Ok(clean)
    }

    /// At a clean stop, after the last fill: syncs the cache's file system (one
    /// `syncfs` instead of an fsync per file), then writes the clean mark.
    pub fn mark_clean(&self) -> io::Result<()> {
        let root = fs::File::open(&self.inner.root)?;
        nix::unistd::syncfs(std::os::fd::AsRawFd::as_raw_fd(&root))?;
        fs::File::create(self.inner.root.join(CLEAN_MARK))?.sync_all()?;
        root.sync_all()
    }

    /// The encryption fingerprint recorded by the last run ("" when none was).
    pub fn encryption_mark(&self) -> io::Result<String> {
        self.mark(ENCRYPTION_MARK)
    }

    /// Records the encryption fingerprint (see [`Cache::set_mark`]).
    pub fn set_encryption_mark(&self, fingerprint: &str) -> io::Result<()> {
        self.set_mark(ENCRYPTION_MARK, fingerprint)
    }

    /// The text of the settings mark `name` at the root ("" when there is none).
    pub fn mark(&self, name: &str) -> io::Result<String> {
        match fs::read_to_string(self.inner.root.join(name)) {
            Ok(text) => Ok(text.trim_end_matches('\n').to_string()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(String::new()),
            Err(e) => Err(e),
        }
    }

    /// Records `fingerprint` as mark `name` durably (written aside, synced, renamed),
    /// so the next start compares against what this run's files were made under.
    pub fn set_mark(&self, name: &str, fingerprint: &str) -> io::Result<()> {
        let mut tmp = tempfile::Builder::new()
            .prefix("mark-")
            .tempfile_in(&self.inner.tmp)?;
        tmp.write_all(format!("{fingerprint}\n").as_bytes())?;
        tmp.as_file().sync_all()?;
        tmp.persist(self.inner.root.join(name))
            .map_err(|e| e.error)?;
        fs::File::open(&self.inner.root)?.sync_all()
    }

    /// Removes whatever is in the scratch dir (at shutdown, once no fill and no
    /// tool runs: what an abandoned fill's tool may have left).
    pub fn clear_scratch(&self) -> io::Result<()> {
        empty_dir(&self.inner.tmp)
    }

    pub fn tmp_dir(&self) -> &Path {
        &self.inner.tmp
    }

    /// `"i/a/b.mp4"` → `<root>/i/a/b.mp4`.
    pub fn path_of(&self, key: &str) -> PathBuf {
        self.inner.root.join(key)
    }

    /// Marks `key` busy until the guard drops; eviction of it (or of anything
    /// containing it or inside it) is refused meanwhile.
    pub fn begin_fill(&self, key: &str) -> FillGuard {
        *lock(&self.inner.busy).entry(key.to_string()).or_insert(0) += 1;
        FillGuard {
            inner: self.inner.clone(),
            key: key.to_string(),
        }
    }

    pub fn is_busy(&self, key: &str) -> bool {
        lock(&self.inner.busy).keys().any(|k| overlaps(k, key))
    }

    /// Records that the worker is answering a request that reads these entries
    /// (call it before looking at the files: a sweep after the mark keeps them, one
    /// before it evicted them already, and the request refills).
    pub fn mark_answered<S: AsRef<str>>(&self, keys: &[S]) {
        let now = Instant::now();
        let mut marks = lock(&self.inner.answered);
        for key in keys {
            marks.mark(key.as_ref(), now, self.inner.grace);
        }
    }

    /// Whether the entry (or one inside or around it) was answered for within the grace.
    pub fn recently_answered(&self, key: &str) -> bool {
        lock(&self.inner.answered).within(key, Instant::now(), self.inner.grace)
    }

    /// Atomically w.r.t. `begin_fill`: if not busy, renames the entry into the
    /// trash, then deletes it. `Ok(None)` when busy or absent. For a stale source:
    /// answered-for entries go too (their bytes are wrong).
    pub fn evict_if_idle(&self, key: &str) -> io::Result<Option<u64>> {
        match self.evict(key, false)? {
            SweepEviction::Evicted(bytes) => Ok(Some(bytes)),
            _ => Ok(None),
        }
    }

    /// The sweep's eviction: like `evict_if_idle`, and keeps entries answered for
    /// within the grace (checked under the same lock as the rename).
    pub fn sweep_evict(&self, key: &str) -> io::Result<SweepEviction> {
        self.evict(key, true)
    }

    /// The sweep's eviction of an entry packaged from a changed source: busy ones
    /// stay, answered ones go (a request racing it gets nginx's 503 and retries).
    pub fn evict_stale(&self, key: &str) -> io::Result<SweepEviction> {
        self.evict(key, false)
    }

    fn evict(&self, key: &str, keep_answered: bool) -> io::Result<SweepEviction> {
        check_key(key)?;
        let n = self.inner.trash_counter.fetch_add(1, Ordering::Relaxed);
        let doomed = self.inner.trash.join(format!("{}-{n}", std::process::id()));
        {
            let busy = lock(&self.inner.busy);
            if busy.keys().any(|k| overlaps(k, key)) {
                return Ok(SweepEviction::Busy);
            }
            let answered = lock(&self.inner.answered);
            if keep_answered && answered.within(key, Instant::now(), self.inner.grace) {
                return Ok(SweepEviction::Answered);
            }
            match fs::rename(self.path_of(key), &doomed) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(SweepEviction::Absent),
                Err(e) => return Err(e),
            }
        }
        // Outside the lock: deleting a big tree must not hold up new fills.
        let bytes = tree_size(&doomed)?;
        if fs::symlink_metadata(&doomed)?.is_dir() {
            fs::remove_dir_all(&doomed)?;
        } else {
            fs::remove_file(&doomed)?;
        }
        Ok(SweepEviction::Evicted(bytes))
    }

    /// Bytes under the entry (0 when absent).
    pub fn disk_usage(&self, key: &str) -> io::Result<u64> {
        check_key(key)?;
        match tree_size(&self.path_of(key)) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
            other => other,
        }
    }

    /// A fresh scratch dir on the cache's file system; deleted when dropped.
    pub fn scratch_dir(&self) -> io::Result<tempfile::TempDir> {
        tempfile::Builder::new()
            .prefix("fill-")
            .tempdir_in(&self.inner.tmp)
    }

    /// A fresh name in the scratch dir for one file a tool creates itself
    /// (`O_EXCL`): no I/O here, and none to remove a dir afterwards (a dir's
    /// mkdir and rmdir cost an inode and, on a file system mounted with
    /// `discard`, a synchronous discard per fill). Unique within this worker's
    /// life; the scratch dir is emptied at start.
    pub fn scratch_file_name(&self, suffix: &str) -> PathBuf {
        let n = self.inner.scratch_counter.fetch_add(1, Ordering::Relaxed);
        self.inner
            .tmp
            .join(format!("fill-{}-{n}{suffix}", std::process::id()))
    }

    /// Publishes `bytes` at `<root>/<rel>`; returns the bytes written.
    pub fn publish_bytes(&self, rel: &str, bytes: &[u8]) -> io::Result<u64> {
        check_key(rel)?;
        let mut tmp = tempfile::Builder::new()
            .prefix("file-")
            .tempfile_in(&self.inner.tmp)?;
        tmp.write_all(bytes)?;
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(FILE_MODE))?;
        let dest = self.path_of(rel);
        if let Some(parent) = dest.parent() {
            make_dirs(parent)?;
        }
        tmp.persist(&dest).map_err(|e| e.error)?;
        Ok(bytes.len() as u64)
    }

    /// Moves a finished file (written by a tool into a scratch dir) to
    /// `<root>/<rel>`; returns its size.
    pub fn publish_file(&self, file: &Path, rel: &str) -> io::Result<u64> {
        check_key(rel)?;
        open_up(file)?;
        let size = fs::metadata(file)?.len();
        let dest = self.path_of(rel);
        // The dir is there on almost every publish (its marker went first): the
        // dirs are made only when the rename says they are not.
        match fs::rename(file, &dest) {
            Err(e) if e.kind() == io::ErrorKind::NotFound && file.exists() => {
                if let Some(parent) = dest.parent() {
                    make_dirs(parent)?;
                }
                fs::rename(file, &dest)?;
            }
            renamed => renamed?,
        }
        Ok(size)
    }

    /// Publishes a whole directory of finished files as `<root>/<rel>`. If the
    /// entry does not exist the directory is renamed into place in one step;
    /// otherwise each missing file is moved in, `last` (the playlist) last, so a
    /// playlist never names a segment that is not there yet. Returns bytes added.
    pub fn publish_dir(&self, dir: &Path, rel: &str, last: &str) -> io::Result<u64> {
        check_key(rel)?;
        let mut names = Vec::new();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                names.push(entry.file_name());
            }
        }
        // `last` goes at the end of the order.
        names.sort_by_key(|n| n == last);
        let mut added = 0u64;
        for name in &names {
            let path = dir.join(name);
            open_up(&path)?;
            added = added.saturating_add(fs::metadata(&path)?.len());
        }
        let dest = self.path_of(rel);
        if let Some(parent) = dest.parent() {
            make_dirs(parent)?;
        }
        fs::set_permissions(dir, fs::Permissions::from_mode(DIR_MODE))?;
        match fs::rename(dir, &dest) {
            Ok(()) => return Ok(added),
            // Exists (non-empty dir): fall through and merge file by file.
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(nix::libc::ENOTEMPTY) | Some(nix::libc::EEXIST)
                ) => {}
            Err(e) => return Err(e),
        }
        added = 0;
        for name in &names {
            let target = dest.join(name);
            if name != last && target.exists() {
                continue;
            }
            let path = dir.join(name);
            added = added.saturating_add(fs::metadata(&path)?.len());
            fs::rename(&path, &target)?;
        }
        Ok(added)
    }

    /// Publishes a symlink at `<root>/<rel>` pointing at `target` (relative),
    /// replacing a dangling one atomically.
    pub fn publish_symlink(&self, rel: &str, target: &Path) -> io::Result<()> {
        check_key(rel)?;
        let n = self.inner.trash_counter.fetch_add(1, Ordering::Relaxed);
        let tmp = self
            .inner
            .tmp
            .join(format!("link-{}-{n}", std::process::id()));
        std::os::unix::fs::symlink(target, &tmp)?;
        let dest = self.path_of(rel);
        let result = dest
            .parent()
            .map_or(Ok(()), make_dirs)
            .and_then(|()| fs::rename(&tmp, &dest));
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache() -> (tempfile::TempDir, Cache) {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path().join("cache")).unwrap();
        (dir, cache)
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn new_empties_leftover_scratch() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("c");
        fs::create_dir_all(root.join(TMP_DIR).join("half")).unwrap();
        fs::create_dir_all(root.join(TRASH_DIR)).unwrap();
        fs::write(root.join(TRASH_DIR).join("old"), b"x").unwrap();
        let cache = Cache::new(root.clone()).unwrap();
        assert_eq!(fs::read_dir(cache.tmp_dir()).unwrap().count(), 0);
        assert_eq!(fs::read_dir(root.join(TRASH_DIR)).unwrap().count(), 0);
    }

    #[test]
    fn publish_bytes_is_world_readable_with_dirs() {
        let (_d, cache) = cache();
        let n = cache
            .publish_bytes("i/a/b.mp4/index_0_av.m3u8", b"#EXTM3U\n")
            .unwrap();
        assert_eq!(n, 8);
        let path = cache.path_of("i/a/b.mp4/index_0_av.m3u8");
        assert_eq!(fs::read(&path).unwrap(), b"#EXTM3U\n");
        assert_eq!(mode(&path), 0o644);
        assert_eq!(mode(path.parent().unwrap()) & 0o055, 0o055);
        assert_eq!(fs::read_dir(cache.tmp_dir()).unwrap().count(), 0);
    }

    #[test]
    fn publish_dir_renames_then_merges_missing_files() {
        let (_d, cache) = cache();
        let s1 = cache.scratch_dir().unwrap();
        fs::write(s1.path().join("segment1_0_av.ts"), b"AAAA").unwrap();
        fs::write(s1.path().join("index_0_av.m3u8"), b"P1").unwrap();
        let added = cache
            .publish_dir(s1.path(), "i/x.mp4", "index_0_av.m3u8")
            .unwrap();
        assert_eq!(added, 6);
        assert_eq!(mode(&cache.path_of("i/x.mp4")), 0o755);
        assert_eq!(mode(&cache.path_of("i/x.mp4/segment1_0_av.ts")), 0o644);

        let s2 = cache.scratch_dir().unwrap();
        fs::write(s2.path().join("segment1_0_av.ts"), b"BBBB").unwrap();
        fs::write(s2.path().join("segment2_0_av.ts"), b"CC").unwrap();
        fs::write(s2.path().join("index_0_av.m3u8"), b"P2").unwrap();
        let added = cache
            .publish_dir(s2.path(), "i/x.mp4", "index_0_av.m3u8")
            .unwrap();
        assert_eq!(added, 4);
        // An existing segment is kept (it may be being served), the playlist replaced.
        assert_eq!(
            fs::read(cache.path_of("i/x.mp4/segment1_0_av.ts")).unwrap(),
            b"AAAA"
        );
        assert_eq!(
            fs::read(cache.path_of("i/x.mp4/segment2_0_av.ts")).unwrap(),
            b"CC"
        );
        assert_eq!(
            fs::read(cache.path_of("i/x.mp4/index_0_av.m3u8")).unwrap(),
            b"P2"
        );
    }

    #[test]
    fn busy_entry_is_not_evicted_until_guard_drops() {
        let (_d, cache) = cache();
        cache
            .publish_bytes("i/a.mp4/segment1_0_av.ts", &[7u8; 100])
            .unwrap();
        let guard = cache.begin_fill("i/a.mp4");
        assert!(cache.is_busy("i/a.mp4"));
        assert!(cache.is_busy("i"), "an ancestor of a busy entry is busy");
        assert!(!cache.is_busy("i/a.mp"), "a name prefix is not an ancestor");
        assert_eq!(cache.evict_if_idle("i/a.mp4").unwrap(), None);
        assert!(cache.path_of("i/a.mp4/segment1_0_av.ts").exists());
        let second = cache.begin_fill("i/a.mp4");
        drop(guard);
        assert!(cache.is_busy("i/a.mp4"), "second fill still running");
        drop(second);
        assert!(!cache.is_busy("i/a.mp4"));
        assert_eq!(cache.disk_usage("i/a.mp4").unwrap(), 100);
        assert_eq!(cache.evict_if_idle("i/a.mp4").unwrap(), Some(100));
        assert!(!cache.path_of("i/a.mp4").exists());
        assert_eq!(cache.evict_if_idle("i/a.mp4").unwrap(), None);
        assert_eq!(
            fs::read_dir(cache.root().join(TRASH_DIR)).unwrap().count(),
            0
        );
    }

    #[test]
    fn answered_entries_are_kept_by_sweeps_for_the_grace() {
        let dir = tempfile::tempdir().unwrap();
        let grace = Duration::from_millis(300);
        let cache = Cache::with_answer_grace(dir.path().join("c"), grace).unwrap();
        for key in ["i/a.mp4", "i/b.mp4", "i/p_,a,.mp4.csmil"] {
            cache
                .publish_bytes(&format!("{key}/index_0_av.m3u8"), b"P")
                .unwrap();
        }
        cache.mark_answered(&["i/a.mp4"]);
        assert!(cache.recently_answered("i/a.mp4"));
        assert!(
            cache.recently_answered("i"),
            "an ancestor of an answered entry"
        );
        assert!(!cache.recently_answered("i/b.mp4"));
        assert_eq!(
            cache.sweep_evict("i/a.mp4").unwrap(),
            SweepEviction::Answered
        );
        assert_eq!(
            cache.sweep_evict("i/b.mp4").unwrap(),
            SweepEviction::Evicted(1)
        );
        assert_eq!(cache.sweep_evict("i/b.mp4").unwrap(), SweepEviction::Absent);
        // A finished fill marks its entry before it stops being busy.
        let fill = cache.begin_fill("i/p_,a,.mp4.csmil");
        assert_eq!(
            cache.sweep_evict("i/p_,a,.mp4.csmil").unwrap(),
            SweepEviction::Busy
        );
        drop(fill);
        assert_eq!(
            cache.sweep_evict("i/p_,a,.mp4.csmil").unwrap(),
            SweepEviction::Answered
        );
        // A stale source's eviction does not wait.
        assert_eq!(cache.evict_if_idle("i/p_,a,.mp4.csmil").unwrap(), Some(1));
        // Marks pass: poll (a loaded machine may be slower than the grace, never faster).
        let start = Instant::now();
        while cache.recently_answered("i/a.mp4") {
            assert!(start.elapsed() < grace * 100, "the mark never expired");
            std::thread::sleep(grace / 10);
        }
        assert_eq!(
            cache.sweep_evict("i/a.mp4").unwrap(),
            SweepEviction::Evicted(1)
        );
    }

    #[test]
    fn expired_marks_are_pruned() {
        let mut marks = Marks::default();
        let t0 = Instant::now();
        let grace = Duration::from_secs(5);
        for i in 0..MARKS_PRUNED_ABOVE {
            marks.mark(&format!("i/{i}.mp4"), t0, grace);
        }
        let later = t0 + grace * 2;
        marks.mark("i/new.mp4", later, grace);
        assert_eq!(marks.at.len(), 1, "expired marks stayed");
        assert!(marks.within("i/new.mp4", later, grace));
        assert!(!marks.within("i/0.mp4", later, grace));
    }

    #[test]
    fn marks_cover_ancestors_and_descendants_only() {
        let mut marks = Marks::default();
        let now = Instant::now();
        let grace = Duration::from_secs(5);
        marks.mark("i/a/b.mp4", now, grace);
        for (key, covered) in [
            ("i/a/b.mp4", true),
            ("i/a", true),
            ("i", true),
            ("i/a/b.mp4/segment1_0_av.ts", true),
            ("i/a/b.mp", false),
            ("i/a/b.mp4x", false),
            ("i/a/b.mp4.csmil", false),
            ("i/a/c.mp4", false),
            ("j", false),
        ] {
            assert_eq!(marks.within(key, now, grace), covered, "{key}");
        }
    }

    #[test]
    fn symlink_replaces_dangling_link() {
        let (_d, cache) = cache();
        let link = "i/p_,a,.mp4.csmil/segment1_0_av.ts";
        cache
            .publish_symlink(link, Path::new("../p_a.mp4/segment1_0_av.ts"))
            .unwrap();
        assert!(cache.path_of(link).symlink_metadata().is_ok());
        assert!(
            !cache.path_of(link).exists(),
            "dangling until the rendition is there"
        );
        cache
            .publish_bytes("i/p_a.mp4/segment1_0_av.ts", b"TS")
            .unwrap();
        assert_eq!(fs::read(cache.path_of(link)).unwrap(), b"TS");
        cache
            .publish_symlink(link, Path::new("../p_a.mp4/segment1_0_av.ts"))
            .unwrap();
        assert_eq!(fs::read(cache.path_of(link)).unwrap(), b"TS");
    }

    #[test]
    fn hostile_keys_are_refused() {
        let (_d, cache) = cache();
        for key in [
            "",
            "/etc",
            "../x",
            "i/../../x",
            "i//a",
            "i/./a",
            ".casterpak-tmp",
            "a\0b",
        ] {
            assert!(cache.evict_if_idle(key).is_err(), "{key:?}");
            assert!(cache.disk_usage(key).is_err(), "{key:?}");
            assert!(cache.publish_bytes(key, b"x").is_err(), "{key:?}");
        }
    }
}
