//! Live streams on disk (`<cache_root>/live/<stream>/`, written by nginx's dav module
//! for publishers): marking streams that stopped as ended, sweeping them, counting
//! them, and recording them (`record`). All of it is blocking file-system work:
//! callers run it on the blocking pool.
//!
//! The live dir is inside the cache root on purpose: recordings hard-link segments
//! (one file system), nginx's dav rename needs its body temp dir on the same file
//! system, and the free-space floor covers live bytes too.

pub mod playlist;
pub mod record;
pub mod store;

use crate::config::Config;
use crate::hitlog::tail::LogTail;
use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The live dir's name under the cache root, and the URL prefix nginx serves it at
/// (`root` is the cache root, so the two are one name).
pub const LIVE_DIR: &str = "live";
pub const LIVE_PREFIX: &str = "/live";
/// A file that tells the cache sweep's walk a directory is not cache entries.
pub const NOT_CACHE_MARK: &str = ".casterpak-not-cache";
/// nginx's temp dir for ingest bodies, under the cache root (dav's rename into the live
/// dir must stay on one file system). nginx's own: its user's, unreadable to the worker,
/// and what is in it is uploads in flight, so the sweep leaves it alone.
pub const NGINX_BODY_DIR: &str = ".casterpak-live-body";
/// The worker truncates the ingest feed past this (it reads it every second).
const INGEST_LOG_MAX_BYTES: u64 = 16 << 20;
/// How often the worker looks at live streams and recordings.
pub const TICK: Duration = Duration::from_secs(1);

/// What the last tick counted, for the metrics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveStats {
    pub streams_live: u64,
    pub streams_ended: u64,
    /// Segment files on disk per stream.
    pub segments: BTreeMap<String, u64>,
    /// Request bytes of the writes nginx accepted (its ingest feed), since the worker
    /// started.
    pub ingest_bytes: u64,
    /// Accepted writes (2xx) in the ingest feed, since the worker started.
    pub ingest_requests: u64,
    pub recordings_active: u64,
    pub recordings_done: u64,
}

/// What one live sweep removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LiveSweep {
    pub streams: usize,
    pub segments: usize,
}

pub struct Live {
    root: PathBuf,
    recordings: PathBuf,
    config: crate::config::LiveConfig,
    stats: Mutex<LiveStats>,
    /// nginx's ingest feed (`live.ingest_log`); None when it cannot be opened.
    ingest: Mutex<Option<LogTail>>,
    /// Recording commands and ticks one at a time (all on blocking threads).
    recorder: Mutex<()>,
    store: store::Settings,
    /// Recordings a `record store` is working on (one store each; no delete meanwhile).
    storing: Mutex<HashSet<String>>,
    /// Set when the worker stops: running stores end, new ones are refused.
    stopping: AtomicBool,
    stop_notify: tokio::sync::Notify,
}

impl Live {
    /// Creates the live and recordings dirs with their not-cache marks.
    pub fn new(config: &Config) -> io::Result<Live> {
        let live = Live {
            root: live_root(config),
            recordings: recordings_root(config),
            config: config.live.clone(),
            stats: Mutex::new(LiveStats::default()),
            ingest: Mutex::new(
                LogTail::open_at_end(&config.live.ingest_log, INGEST_LOG_MAX_BYTES)
                    .map_err(|e| log::warn!("live: ingest log: {e} (no ingest metrics)"))
                    .ok(),
            ),
            recorder: Mutex::new(()),
            store: store::Settings::new(config),
            storing: Mutex::new(HashSet::new()),
            stopping: AtomicBool::new(false),
            stop_notify: tokio::sync::Notify::new(),
        };
        for dir in [&live.root, &live.recordings] {
            fs::create_dir_all(dir)?;
        }
        // nginx (another user, in one group with the worker) makes the stream dirs:
        // group-writable, and setgid so they and their files keep the live dir's group.
        // Not fatal: nginx may have made the dir first (then it is its own to set).
        if let Err(e) = fs::set_permissions(&live.root, fs::Permissions::from_mode(0o2775)) {
            log::warn!("live: making {} group-writable: {e}", live.root.display());
        }
        for dir in [&live.root, &live.recordings] {
            let mark = dir.join(NOT_CACHE_MARK);
            if !mark.exists() {
                fs::write(
                    mark,
                    b"live streams and recordings: not swept as cache entries\n",
                )?;
            }
        }
        Ok(live)
    }

    pub fn stats(&self) -> LiveStats {
        self.stats.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// One look at every stream and recording: marks stopped streams ended, lets
    /// active recordings take new segments, counts.
    pub fn tick(&self, now: SystemTime) {
        let mut stats = LiveStats::default();
        let ended_after = Duration::from_secs(self.config.ended_after_secs);
        for (name, dir) in stream_dirs(&self.root) {
            let stream = match Stream::read(&dir) {
                Ok(s) => s,
                Err(e) => {
                    log::warn!("live: reading stream {name}: {e}");
                    continue;
                }
            };
            for media in stream.media.iter().filter(|m| !m.list.ended) {
                if now.duration_since(media.mtime).unwrap_or_default() >= ended_after {
                    match mark_ended(&dir, &media.file) {
                        Ok(()) => log::info!("live: stream {name} ({}) ended", media.file),
                        Err(e) => log::warn!("live: marking {name}/{} ended: {e}", media.file),
                    }
                }
            }
            // Counted before this tick's marking: a stream ended now counts next time.
            if stream.ended() {
                stats.streams_ended += 1;
            } else if !stream.media.is_empty() {
                stats.streams_live += 1;
            }
            stats
                .segments
                .insert(name.clone(), stream.segment_files.len() as u64);
        }
        let (mut new_bytes, mut new_requests) = (0u64, 0u64);
        if let Some(tail) = self
            .ingest
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
        {
            let read = tail.read_new(&mut |line| {
                if let Some(bytes) = accepted_write_bytes(line) {
                    new_bytes = new_bytes.saturating_add(bytes);
                    new_requests += 1;
                }
            });
            if let Err(e) = read {
                log::warn!("live: reading the ingest log: {e}");
            }
        }
        {
            let _turn = self.recorder.lock().unwrap_or_else(|e| e.into_inner());
            let (active, done) = record::tick(&self.root, &self.recordings, now);
            stats.recordings_active = active;
            stats.recordings_done = done;
        }
        let mut last = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        stats.ingest_bytes = last.ingest_bytes.saturating_add(new_bytes);
        stats.ingest_requests = last.ingest_requests.saturating_add(new_requests);
        *last = stats;
    }

    /// A recording command (`casterpak record …`): one answer line. `store` is
    /// `store::store`'s, on the runtime.
    pub fn record(&self, command: &record::Command, now: SystemTime) -> String {
        let _turn = self.recorder.lock().unwrap_or_else(|e| e.into_inner());
        if let record::Command::Delete { id } = command {
            if lock(&self.storing).contains(id) {
                return format!("error: recording {id} is being stored: delete it after");
            }
        }
        record::run(command, &self.root, &self.recordings, now)
    }

    pub(crate) fn store_settings(&self) -> &store::Settings {
        &self.store
    }

    /// Claims recording `id` for a store and returns what it remuxes (blocking).
    fn begin_store(&self, id: &str) -> Result<(Vec<Vec<PathBuf>>, f64), store::StoreError> {
        let _turn = self.recorder.lock().unwrap_or_else(|e| e.into_inner());
        if self.stopping() {
            return Err(store::StoreError::Stopping);
        }
        let inputs =
            record::store_inputs(&self.recordings, id).map_err(store::StoreError::Recording)?;
        if !lock(&self.storing).insert(id.to_string()) {
            return Err(store::StoreError::Busy(id.to_string()));
        }
        Ok(inputs)
    }

    fn end_store(&self, id: &str) {
        lock(&self.storing).remove(id);
    }

    /// Writes a finished store into the recording's state (blocking).
    fn record_stored(&self, id: &str, stored: record::Stored) -> io::Result<()> {
        let _turn = self.recorder.lock().unwrap_or_else(|e| e.into_inner());
        record::add_stored(&self.recordings, id, stored)
    }

    /// Ends the stores running (ffmpeg killed, uploads stopped) and refuses new ones.
    pub fn stop_stores(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.stop_notify.notify_waiters();
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Completes once [`Live::stop_stores`] was called.
    async fn stores_stopped(&self) {
        loop {
            let notified = self.stop_notify.notified();
            tokio::pin!(notified);
            // Registered before the check, so a stop between the two is not missed.
            notified.as_mut().enable();
            if self.stopping() {
                return;
            }
            notified.await;
        }
    }

    /// Stores still running (each holds its claim until its scratch files are gone).
    pub fn stores_running(&self) -> usize {
        lock(&self.storing).len()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// An ingest feed line (`$request_method $status $request_length $uri`, nginx's
/// `casterpak_ingest` format) → the request's bytes when the write was accepted (pure).
pub fn accepted_write_bytes(line: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(line).ok()?;
    let mut fields = text.splitn(4, ' ');
    let (_method, status, bytes) = (fields.next()?, fields.next()?, fields.next()?);
    fields.next().filter(|uri| uri.starts_with(LIVE_PREFIX))?;
    (status.len() == 3 && status.starts_with('2')).then_some(())?;
    bytes.parse().ok()
}

/// `<cache_root>/live`.
pub fn live_root(config: &Config) -> PathBuf {
    config.cache_root.join(LIVE_DIR)
}

/// `<cache_root>/<url_prefix>/recordings`: served by nginx like any cached title.
pub fn recordings_root(config: &Config) -> PathBuf {
    config
        .cache_root
        .join(config.url_prefix.trim_start_matches('/'))
        .join(record::RECORDINGS)
}

/// Removes the segments that left every playlist of their stream more than
/// `live_ttl_secs` ago and streams that ended more than `ended_ttl_secs` ago.
/// Recordings hold their own links, so removing a live name loses nothing of them.
pub fn sweep(config: &Config, now: SystemTime, dry_run: bool) -> io::Result<LiveSweep> {
    let live = &config.live;
    let mut out = LiveSweep::default();
    let root = live_root(config);
    if !root.is_dir() {
        return Ok(out);
    }
    let older = |mtime: SystemTime, secs: u64| {
        now.duration_since(mtime).unwrap_or_default() >= Duration::from_secs(secs)
    };
    for (name, dir) in stream_dirs(&root) {
        let stream = Stream::read(&dir)?;
        let gone = if stream.media.is_empty() {
            // Nothing to play (a publisher that never sent a playlist): by its files.
            stream
                .segment_files
                .iter()
                .all(|f| older(f.mtime, live.ended_ttl_secs))
        } else {
            stream.ended()
                && stream
                    .media
                    .iter()
                    .all(|m| older(m.mtime, live.ended_ttl_secs))
        };
        if gone {
            log::info!("live sweep: removing ended stream {name}");
            if !dry_run {
                fs::remove_dir_all(&dir)?;
            }
            out.streams += 1;
            continue;
        }
        let listed: HashSet<&str> = stream
            .media
            .iter()
            .flat_map(|m| m.list.segments.iter().map(|s| s.uri.as_str()))
            .collect();
        for file in &stream.segment_files {
            if !listed.contains(file.name.as_str()) && older(file.mtime, live.live_ttl_secs) {
                if !dry_run {
                    match fs::remove_file(dir.join(&file.name)) {
                        Ok(()) => {}
                        // The publisher's own DELETE came first.
                        Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                        Err(e) => return Err(e),
                    }
                }
                out.segments += 1;
            }
        }
    }
    Ok(out)
}

/// The stream dirs under the live root (names nginx accepts; anything else is not ours).
fn stream_dirs(root: &Path) -> Vec<(String, PathBuf)> {
    let Ok(items) = fs::read_dir(root) else {
        return Vec::new();
    };
    let mut out: Vec<(String, PathBuf)> = items
        .filter_map(Result::ok)
        .filter(|i| i.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|i| {
            let name = i.file_name().into_string().ok()?;
            playlist::valid_stream(&name).then(|| (name, i.path()))
        })
        .collect();
    out.sort();
    out
}

/// A media playlist of a stream as it is on disk.
struct Media {
    file: String,
    mtime: SystemTime,
    list: playlist::LivePlaylist,
}

/// A segment (any file that is not a playlist) of a stream.
struct SegmentFile {
    name: String,
    mtime: SystemTime,
}

struct Stream {
    /// Media playlists (masters are left out: they never change and never end).
    media: Vec<Media>,
    segment_files: Vec<SegmentFile>,
}

impl Stream {
    fn read(dir: &Path) -> io::Result<Stream> {
        let mut stream = Stream {
            media: Vec::new(),
            segment_files: Vec::new(),
        };
        for item in fs::read_dir(dir)? {
            let item = item?;
            let Ok(name) = item.file_name().into_string() else {
                continue;
            };
            if !playlist::plain_file_name(&name) {
                continue;
            }
            let meta = match item.metadata() {
                Ok(m) if m.is_file() => m,
                Ok(_) => continue,
                // Deleted by the publisher between the listing and the stat.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            let mtime = meta.modified()?;
            if name.ends_with(".m3u8") {
                let text = match fs::read_to_string(item.path()) {
                    Ok(t) => t,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                };
                if let Some(list) = playlist::parse(&text).filter(|l| !l.master) {
                    stream.media.push(Media {
                        file: name,
                        mtime,
                        list,
                    });
                }
            } else {
                stream.segment_files.push(SegmentFile { name, mtime });
            }
        }
        Ok(stream)
    }

    fn ended(&self) -> bool {
        !self.media.is_empty() && self.media.iter().all(|m| m.list.ended)
    }
}

/// Appends ENDLIST to a live playlist: written beside it under a dot name (nginx
/// serves no such name) and renamed over it, so a viewer reads the old or the new.
fn mark_ended(dir: &Path, file: &str) -> io::Result<()> {
    let path = dir.join(file);
    let text = fs::read_to_string(&path)?;
    write_atomically(&path, playlist::with_endlist(&text).as_bytes())
}

/// Writes `bytes` to `path` through a temp file in the same dir and a rename.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let tmp = dir.join(format!(".tmp-{}-{name}", std::process::id()));
    let mut file = fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    drop(file);
    fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(0o644))?;
    fs::rename(&tmp, path)
}

/// Unix time in seconds with fractions.
pub(crate) fn unix_secs(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::accepted_write_bytes;

    #[test]
    fn ingest_lines_count_accepted_writes() {
        assert_eq!(
            accepted_write_bytes(b"PUT 201 184512 /live/s1/index3.ts"),
            Some(184512)
        );
        assert_eq!(
            accepted_write_bytes(b"POST 204 410 /live/s1/index.m3u8"),
            Some(410)
        );
        for refused in [
            &b"PUT 413 70000 /live/s1/index3.ts"[..],
            b"PUT 400 12 /live/s 1/x",
            b"PUT 201 x /live/s1/a.ts",
            b"PUT 201 12 /i/a.ts",
            b"PUT 201",
            b"\xff 201 1 /live/a/b",
        ] {
            assert_eq!(accepted_write_bytes(refused), None, "{refused:?}");
        }
    }
}
