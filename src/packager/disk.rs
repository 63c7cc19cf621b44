//! The file-system and index steps of a miss. Each is plain blocking code, run as
//! one call on tokio's blocking pool (`Disk::run`), so a slow disk (a stat, an open,
//! a marker read, a rename, a tree removal, a sled write) holds up only the request
//! that needs it, never the runtime's threads and every other request on them.
//! Steps are batched: a miss makes about three hops (look, make scratch, publish and
//! record), not one per syscall.

use crate::cache::{Cache, SweepEviction};
use crate::config::TokenAuthConfig;
use crate::entry::{self, OnMiss, Spare};
use crate::error::Failure;
use crate::playlist;
use crate::source::{MediaRoot, Source};
use crate::store::{EntryKind, SourceId, Store};
use crate::tool::SegmentOutput;
use crate::url::Rendition;
use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// What the blocking steps need; cheap to clone (shared handles).
#[derive(Clone)]
pub(super) struct Disk {
    pub media: MediaRoot,
    pub cache: Cache,
    pub store: Option<Arc<Store>>,
    pub work: Arc<Work>,
    /// Which playlists carry the access token as a variable (`propagation = "define"`).
    pub token_auth: Arc<TokenAuthConfig>,
}

/// Fill tasks and blocking steps running, so a stop can wait until none is (a
/// blocking step cannot be cancelled; a fill task outlives its waiters).
#[derive(Debug, Default)]
pub(super) struct Work(AtomicUsize);

/// One unit of work, counted until dropped.
pub(super) struct Busy(Arc<Work>);

impl Work {
    pub fn enter(self: &Arc<Self>) -> Busy {
        self.0.fetch_add(1, Ordering::SeqCst);
        Busy(self.clone())
    }

    pub fn running(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0 .0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The source of a rendition, opened, and whether the file asked for is there.
pub(super) struct Looked {
    pub source: Source,
    pub there: bool,
    /// The rendition's marker names this source (else the fill writes it first).
    pub marked: bool,
}

/// What goes into the cache for one playlist or master.
pub(super) enum Dest {
    /// A file of a rendition dir: its marker goes first, the index row names the source.
    Rendition { key: String, source: SourceId },
    /// A file of a csmil master dir.
    Master { key: String },
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Disk {
    /// Runs `step` on the blocking pool.
    pub async fn run<T: Send + 'static>(
        &self,
        step: impl FnOnce(&Disk) -> T + Send + 'static,
    ) -> Result<T, Failure> {
        let (disk, busy) = (self.clone(), self.work.enter());
        tokio::task::spawn_blocking(move || {
            let _busy = busy;
            step(&disk)
        })
        .await
        .map_err(|e| Failure::Internal(format!("blocking task failed: {e}")))
    }

    pub fn is_file(&self, key: &str) -> bool {
        self.cache.path_of(key).is_file()
    }

    /// Opens the rendition's source, evicts what was packaged from an older version
    /// of it, and looks whether `file_key` is in the cache already.
    pub fn look(&self, r: &Rendition, file_key: Option<&str>) -> Result<Looked, Failure> {
        let source = self.media.resolve(&r.source)?;
        // Sidecars matter to the files that list or carry subtitles, not to segments
        // (whose misses then pay no stat of them).
        let lists =
            file_key.is_some_and(|k| [".m3u8", ".vtt", ".mpd"].iter().any(|e| k.ends_with(e)));
        let entry = entry::on_miss(&self.cache, &r.key, &source.id).map_err(Failure::cache)?;
        let stale = entry == OnMiss::Stale
            || (lists && crate::freshness::sidecars_moved(&self.media, &self.cache, &r.key));
        if stale {
            let store = self.store.as_deref();
            match entry::evict_and_forget(&self.cache, store, &r.key, Spare::Busy) {
                Ok(SweepEviction::Evicted(bytes)) => {
                    log::info!("source of {} changed: evicted {bytes} bytes", r.key)
                }
                Ok(_) => {}
                Err(e) => log::warn!("evicting stale {}: {e}", r.key),
            }
        }
        let there = file_key.is_some_and(|k| self.is_file(k));
        Ok(Looked {
            source,
            there,
            marked: entry == OnMiss::Fresh && !stale,
        })
    }

    /// Writes a fill into the index; a failure is logged (reconcile heals the index).
    pub fn record(&self, key: &str, kind: EntryKind, source: Option<&SourceId>, bytes: u64) {
        if let Some(store) = &self.store {
            if let Err(e) = store.record_fill(key, kind, source, bytes, now()) {
                log::warn!("store: recording a fill: {e}");
            }
        }
    }

    /// HLS playlist `file_key`'s text as players get it: declaring the access token
    /// as a variable that every URI references where `[token_auth]` says so, so that
    /// nginx serves it as a plain file (`playlist::token_variable`); else as it is.
    pub fn for_players<'t>(&self, file_key: &str, text: &'t str) -> Cow<'t, str> {
        let path = format!("/{file_key}");
        match self.token_auth.substituted_at(&path) {
            Some(name) if file_key.ends_with(".m3u8") => {
                Cow::Owned(playlist::token_variable::with_query_variable(text, name))
            }
            _ => Cow::Borrowed(text),
        }
    }

    /// Publishes `text` at `file_key` unless it is there (a fill that ran meanwhile)
    /// and records it; returns the bytes added. An HLS playlist goes in as
    /// [`Disk::for_players`] makes it.
    pub fn publish_text(&self, into: &Dest, file_key: &str, text: &str) -> Result<u64, Failure> {
        if self.is_file(file_key) {
            return Ok(0);
        }
        let text = self.for_players(file_key, text);
        let text = text.as_bytes();
        let added = match into {
            Dest::Rendition { key, source } => {
                entry::publish_bytes_in_rendition(&self.cache, key, source, file_key, text)
            }
            Dest::Master { .. } => self.cache.publish_bytes(file_key, text),
        }
        .map_err(Failure::cache)?;
        match into {
            Dest::Rendition { key, source } => {
                self.record(key, EntryKind::Rendition, Some(source), added)
            }
            Dest::Master { key } => self.record(key, EntryKind::Master, None, added),
        }
        Ok(added)
    }

    /// A scratch dir for a one-shot tool's output, unless `file_key` appeared
    /// meanwhile.
    pub fn scratch_unless_there(&self, file_key: &str) -> Result<Option<Scratch>, Failure> {
        if self.is_file(file_key) {
            return Ok(None);
        }
        let dir = self.cache.scratch_dir().map_err(Failure::cache)?;
        Ok(Some(Scratch::new(dir, &self.work)))
    }
}

/// What a fill's scratch is: a dir a one-shot tool writes into, or the name of
/// one file a long-lived tool creates.
enum Place {
    Dir(tempfile::TempDir),
    File(PathBuf),
}

impl Place {
    /// Removes what is left (blocking); a file published meanwhile is gone already.
    fn remove(self) {
        let removed = match self {
            Place::Dir(dir) => dir.close(),
            Place::File(path) => std::fs::remove_file(path),
        };
        match removed {
            // Published whole (renamed into the cache): nothing left to remove.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => log::warn!("removing a fill's scratch: {e}"),
            Ok(()) => {}
        }
    }
}

/// A fill's scratch. Deleting it is disk work too: dropped on an async thread
/// (a failed or abandoned fill), it is removed on the blocking pool.
/// Counted as work until removed, so a stop waits for it.
pub(super) struct Scratch {
    place: Option<Place>,
    work: Arc<Work>,
}

impl Scratch {
    pub fn new(dir: tempfile::TempDir, work: &Arc<Work>) -> Scratch {
        Scratch {
            place: Some(Place::Dir(dir)),
            work: work.clone(),
        }
    }

    /// A file name in the cache's scratch dir, for a tool to create (no I/O).
    pub fn file(cache: &Cache, work: &Arc<Work>) -> Scratch {
        Scratch {
            place: Some(Place::File(cache.scratch_file_name(".ts"))),
            work: work.clone(),
        }
    }

    pub fn path(&self) -> &Path {
        match &self.place {
            Some(Place::Dir(dir)) => dir.path(),
            Some(Place::File(path)) => path,
            None => Path::new(""),
        }
    }

    /// Where a segment job writes.
    pub fn output(&self) -> SegmentOutput<'_> {
        match &self.place {
            Some(Place::File(path)) => SegmentOutput::File(path),
            _ => SegmentOutput::Dir(self.path()),
        }
    }

    /// The tool's file was moved into the cache: nothing is left to remove (a
    /// one-shot tool's dir is still removed).
    pub fn published(mut self) {
        if let Some(Place::Dir(dir)) = self.place.take() {
            Place::Dir(dir).remove();
        }
    }

    /// Removes the scratch now (call it on the blocking pool).
    pub fn remove(mut self) {
        if let Some(place) = self.place.take() {
            place.remove();
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let Some(place) = self.place.take() else {
            return;
        };
        let busy = self.work.enter();
        match tokio::runtime::Handle::try_current() {
            // Not run if the runtime is shutting down; dropping the closure then
            // removes the scratch all the same.
            Ok(runtime) => drop(runtime.spawn_blocking(move || {
                place.remove();
                drop(busy)
            })),
            Err(_) => {
                place.remove();
                drop(busy)
            }
        }
    }
}
