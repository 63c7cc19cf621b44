//! Remote sources: URL prefixes whose MP4s live on an HTTP origin or in an S3
//! bucket (`[[sources]]`). Opening one gives the same `Source` a local file does,
//! its descriptor being the object's local copy in the input cache, so the tools
//! are unchanged (blocking code: it runs on tokio's blocking pool, inside
//! `MediaRoot::resolve`).
//!
//! Opening reads the index only: a head read (which also gives the identity and
//! size), then the top-level boxes that are not media (`input_cache::index`),
//! with the tail read in one request when the moov is at the end. A segment then
//! needs just the byte ranges its samples occupy (`RemoteSource::ensure`, from the
//! plan); a whole-rendition packaging the whole object (`ensure_all`).
//!
//! Identity = `ETag`, else `Last-Modified`, and the size; it becomes the
//! `SourceId`'s `mtime_ns`, so a changed object is stale packaging like a changed
//! local file. It is trusted for `remote.revalidate_secs`, then checked with a
//! conditional request; every range read checks it too.

mod fetch;
pub mod upload;

pub use fetch::{encode_path, Identity, Upstream};

use crate::config::{Config, SourceKind};
use crate::error::{IoCause, SourceError, UpstreamCause, UpstreamError};
use crate::input_cache::index::{walk, Walk, HEADER};
use crate::input_cache::{blocks::BLOCK, stable_hash, FillError, InputCache, LocalCopy};
use crate::metrics::Metrics;
use crate::source::Source;
use crate::store::SourceId;
use fetch::Answer;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The first read of an object: its identity, size and top-level boxes (a whole
/// number of blocks).
const HEAD_READ: u64 = 16 * BLOCK;

/// A moov at most this far from the end is fetched with the rest of the file in
/// one request, rather than its header first.
const TAIL_READ: u64 = 4 << 20;

/// Whole-object downloads go in pieces of this size (each verified, each kept).
const WHOLE_PIECE: u64 = 8 << 20;

/// Boxes walked at most (a fragmented file needs one round per fragment).
const MAX_WALK_ROUNDS: usize = 100_000;

/// Objects remembered; beyond this the map is cleared.
const MAX_KNOWN: usize = 4096;

pub struct Remotes {
    upstreams: HashMap<String, Arc<Upstream>>,
    cache: InputCache,
    revalidate: Duration,
    known: Mutex<HashMap<String, Known>>,
    /// One open at a time per source path: concurrent first misses make one head
    /// read and one copy, not a race over the same files.
    opening: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    metrics: Arc<Metrics>,
}

struct Known {
    identity: Identity,
    copy: Arc<LocalCopy>,
    checked: Instant,
    /// Set when a range read found another version: revalidate at the next open.
    changed: Arc<AtomicBool>,
}

/// A source opened from an upstream: what its segments still need is fetched
/// through this.
pub struct RemoteSource {
    upstream: Arc<Upstream>,
    rest: String,
    identity: Identity,
    copy: Arc<LocalCopy>,
    metrics: Arc<Metrics>,
    changed: Arc<AtomicBool>,
    /// Held while the source is in use, so the sweep leaves the copy alone.
    _reading: nix::fcntl::Flock<std::fs::File>,
}

impl std::fmt::Debug for RemoteSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteSource")
            .field("upstream", &self.upstream.name)
            .field("rest", &self.rest)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Remotes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&String> = self.upstreams.keys().collect();
        names.sort();
        f.debug_struct("Remotes")
            .field("upstreams", &names)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn disk_error(e: std::io::Error) -> SourceError {
    log::warn!("input cache: {e}");
    SourceError::Io(IoCause::of(&e))
}

impl Remotes {
    /// None when no `[[sources]]` entry is remote (nothing to set up).
    pub fn from_config(config: &Config, metrics: Arc<Metrics>) -> Result<Option<Remotes>, String> {
        let env = |name: &str| std::env::var(name).ok();
        let mut upstreams = HashMap::new();
        for source in &config.sources {
            if source.kind == SourceKind::Local {
                continue;
            }
            let upstream = Upstream::new(source, source.credentials(&env), &config.remote)
                .map_err(|e| format!("sources prefix {}: {e}", source.prefix))?;
            upstreams.insert(source.prefix.clone(), Arc::new(upstream));
        }
        if upstreams.is_empty() {
            return Ok(None);
        }
        let cache = InputCache::new(&config.input_cache.root).map_err(|e| {
            format!(
                "input_cache.root {}: {e}",
                config.input_cache.root.display()
            )
        })?;
        Ok(Some(Remotes {
            upstreams,
            cache,
            revalidate: Duration::from_secs(config.remote.revalidate_secs),
            known: Mutex::new(HashMap::new()),
            opening: Mutex::new(HashMap::new()),
            metrics,
        }))
    }

    pub fn input_cache(&self) -> &InputCache {
        &self.cache
    }

    /// The upstream `rel` (`<prefix>/<rest>`) is on, if its prefix is remote.
    pub fn claims(&self, rel: &str) -> bool {
        rel.split_once('/')
            .is_some_and(|(prefix, _)| self.upstreams.contains_key(prefix))
    }

    /// A small object of a remote prefix (a sidecar) read whole: at most `max + 1`
    /// bytes (one more than is served tells it is larger), `None` inside when the
    /// upstream has no such object; `None` outright when `rel`'s prefix is not remote.
    /// Not kept in the input cache: one GET per use, as a local sidecar is one read.
    pub fn small_object(
        &self,
        rel: &str,
        max: u64,
    ) -> Option<Result<Option<Vec<u8>>, SourceError>> {
        let (prefix, rest) = rel.split_once('/')?;
        let upstream = self.upstreams.get(prefix)?;
        let answer = count(&self.metrics, upstream, || {
            upstream.get_range(rest, 0, max.saturating_add(1), None)
        });
        Some(match answer {
            Ok(Answer::Bytes { body, .. }) => Ok(Some(body)),
            Ok(Answer::NotFound) => Ok(None),
            Ok(Answer::NotModified) => Err(SourceError::Upstream(UpstreamError {
                upstream: upstream.name.clone(),
                cause: UpstreamCause::BadAnswer("304 to an unconditional request".into()),
            })),
            Err(e) => Err(e),
        })
    }

    /// Opens `rel` if its prefix is remote: identity (revalidated when due) and
    /// the index present in the local copy.
    pub fn open(&self, rel: &str) -> Option<Result<Source, SourceError>> {
        let (prefix, rest) = rel.split_once('/')?;
        let upstream = self.upstreams.get(prefix)?.clone();
        Some(self.open_on(upstream, rel, rest))
    }

    fn open_on(
        &self,
        upstream: Arc<Upstream>,
        rel: &str,
        rest: &str,
    ) -> Result<Source, SourceError> {
        let turn = {
            let mut opening = lock(&self.opening);
            if opening.len() >= MAX_KNOWN {
                opening.retain(|_, turn| Arc::strong_count(turn) > 1);
            }
            opening.entry(rel.to_string()).or_default().clone()
        };
        let _turn = lock(&turn);
        let (mut identity, mut copy) = self.current(&upstream, rel, rest)?;
        let mut reading = copy.reading().map_err(disk_error)?;
        if reading.is_none() {
            // Swept since we last used it: start a new copy.
            lock(&self.known).remove(rel);
            (identity, copy) = self.current(&upstream, rel, rest)?;
            reading = copy.reading().map_err(disk_error)?;
        }
        let Some(reading) = reading else {
            return Err(disk_error(std::io::Error::other(
                "input copy removed while opening it",
            )));
        };
        let remote = RemoteSource {
            upstream,
            rest: rest.to_string(),
            identity: identity.clone(),
            copy: copy.clone(),
            metrics: self.metrics.clone(),
            changed: self.changed_flag(rel),
            _reading: reading,
        };
        remote.ensure_index()?;
        copy.touch();
        Ok(Source {
            id: SourceId {
                path: rel.to_string(),
                size: identity.size,
                mtime_ns: i128::from(stable_hash(&identity.version)),
            },
            file: copy.file(),
            remote: Some(Arc::new(remote)),
        })
    }

    /// The object's identity and copy: remembered while fresh, else asked for with
    /// a head read (conditional when an identity is known).
    fn current(
        &self,
        upstream: &Upstream,
        rel: &str,
        rest: &str,
    ) -> Result<(Identity, Arc<LocalCopy>), SourceError> {
        let remembered = lock(&self.known).get(rel).map(|k| {
            (
                k.identity.clone(),
                k.copy.clone(),
                k.checked,
                k.changed.load(Ordering::SeqCst),
            )
        });
        let remembered = remembered.map(|(identity, copy, checked, changed)| {
            (identity, copy, if changed { None } else { Some(checked) })
        });
        if let Some((identity, copy, Some(checked))) = &remembered {
            if checked.elapsed() < self.revalidate {
                self.metrics
                    .inc("casterpak_input_cache_total", &[("result", "hit")]);
                return Ok((identity.clone(), copy.clone()));
            }
        }
        let tag = remembered
            .as_ref()
            .and_then(|(id, _, _)| id.version.strip_prefix("etag:"));
        let answer = count(&self.metrics, upstream, || {
            upstream.get_range(rest, 0, HEAD_READ, tag)
        })?;
        let (identity, head) = match answer {
            Answer::NotFound => {
                self.forget(rel);
                return Err(SourceError::NotFound(rel.to_string()));
            }
            Answer::NotModified => match remembered {
                Some((identity, copy, _)) => {
                    self.remember(rel, &identity, &copy);
                    self.metrics
                        .inc("casterpak_input_cache_total", &[("result", "hit")]);
                    return Ok((identity, copy));
                }
                None => {
                    return Err(SourceError::Upstream(UpstreamError {
                        upstream: upstream.name.clone(),
                        cause: UpstreamCause::BadAnswer("304 to an unconditional request".into()),
                    }))
                }
            },
            Answer::Bytes { identity, body } => (identity, body),
        };
        if let Some((old, copy, _)) = &remembered {
            if *old == identity {
                self.remember(rel, &identity, copy);
                return Ok((identity, copy.clone()));
            }
            log::info!(
                "remote {rel} changed upstream ({} → {}): dropping its copy",
                old.version,
                identity.version
            );
            copy.remove();
        }
        self.metrics
            .inc("casterpak_input_cache_total", &[("result", "miss")]);
        let name = format!(
            "{}/{} {} {}",
            upstream.name, rest, identity.version, identity.size
        );
        let copy = Arc::new(self.cache.open(&name, identity.size).map_err(disk_error)?);
        let head_len = head.len() as u64;
        let mut given = Some(head);
        copy.fill(&[(0, head_len)], &mut |start, end| match given.take() {
            Some(bytes) if start == 0 && end == head_len => Ok(bytes),
            _ => Err(()),
        })
        .map_err(|e| match e {
            FillError::Disk(e) => disk_error(e),
            FillError::Fetch(()) => SourceError::Io(IoCause::of(&std::io::Error::other("head"))),
        })?;
        self.remember(rel, &identity, &copy);
        Ok((identity, copy))
    }

    fn changed_flag(&self, rel: &str) -> Arc<AtomicBool> {
        lock(&self.known)
            .get(rel)
            .map_or_else(|| Arc::new(AtomicBool::new(false)), |k| k.changed.clone())
    }

    fn remember(&self, rel: &str, identity: &Identity, copy: &Arc<LocalCopy>) {
        let mut known = lock(&self.known);
        if known.len() >= MAX_KNOWN {
            known.clear();
        }
        known.insert(
            rel.to_string(),
            Known {
                identity: identity.clone(),
                copy: copy.clone(),
                checked: Instant::now(),
                changed: Arc::new(AtomicBool::new(false)),
            },
        );
    }

    fn forget(&self, rel: &str) {
        if let Some(k) = lock(&self.known).remove(rel) {
            k.copy.remove();
        }
    }
}

/// Runs one upstream request and counts it (requests, bytes, errors by kind).
fn count(
    metrics: &Metrics,
    upstream: &Upstream,
    get: impl FnOnce() -> Result<Answer, UpstreamError>,
) -> Result<Answer, SourceError> {
    let name = upstream.name.as_str();
    metrics.inc("casterpak_upstream_requests_total", &[("upstream", name)]);
    match get() {
        Ok(answer) => {
            if let Answer::Bytes { body, .. } = &answer {
                metrics.add(
                    "casterpak_upstream_bytes_total",
                    &[("upstream", name)],
                    body.len() as u64,
                );
            }
            Ok(answer)
        }
        Err(e) => {
            let kind = match e.cause {
                UpstreamCause::Status(_) => "status",
                UpstreamCause::Unreachable(_) => "unreachable",
                UpstreamCause::TimedOut => "timeout",
                UpstreamCause::Truncated => "truncated",
                UpstreamCause::BadAnswer(_) => "bad_answer",
                UpstreamCause::Changed => "changed",
            };
            metrics.inc(
                "casterpak_upstream_errors_total",
                &[("upstream", name), ("kind", kind)],
            );
            Err(SourceError::Upstream(e))
        }
    }
}

impl RemoteSource {
    /// Fetches what of `ranges` is absent (runs of blocks, each checked to come
    /// from the same object version).
    pub fn ensure(&self, ranges: &[(u64, u64)]) -> Result<u64, SourceError> {
        let mut fetch = |start: u64, end: u64| -> Result<Vec<u8>, SourceError> {
            let answer = count(&self.metrics, &self.upstream, || {
                self.upstream.get_range(&self.rest, start, end, None)
            })?;
            match answer {
                Answer::Bytes { identity, body } if identity == self.identity => Ok(body),
                Answer::Bytes { .. } | Answer::NotModified => {
                    self.changed.store(true, Ordering::SeqCst);
                    Err(SourceError::Upstream(UpstreamError {
                        upstream: self.upstream.name.clone(),
                        cause: UpstreamCause::Changed,
                    }))
                }
                Answer::NotFound => Err(SourceError::NotFound(self.rest.clone())),
            }
        };
        let fetched = self.copy.fill(ranges, &mut fetch).map_err(|e| match e {
            FillError::Fetch(e) => e,
            FillError::Disk(e) => disk_error(e),
        })?;
        if fetched > 0 {
            self.metrics
                .add("casterpak_input_cache_fill_bytes_total", &[], fetched);
        }
        Ok(fetched)
    }

    /// The whole object, in verified pieces (resumable: pieces kept survive a failure).
    pub fn ensure_all(&self) -> Result<u64, SourceError> {
        let size = self.identity.size;
        let mut total = 0;
        let mut at = 0;
        while at < size {
            let end = (at + WHOLE_PIECE).min(size);
            total += self.ensure(&[(at, end)])?;
            at = end;
        }
        Ok(total)
    }

    /// Walks the top-level boxes, fetching each index box not present yet.
    fn ensure_index(&self) -> Result<(), SourceError> {
        let size = self.identity.size;
        for _ in 0..MAX_WALK_ROUNDS {
            let read = |start: u64, len: u64| self.copy.read(start, len);
            match walk(size, &read) {
                Walk::Done => return Ok(()),
                // The tool says what is wrong with the file; fetch nothing more.
                Walk::Broken(why) => {
                    log::info!("remote {}: {why}", self.rest);
                    return Ok(());
                }
                Walk::Need(ranges) => {
                    let ranges: Vec<(u64, u64)> = ranges
                        .into_iter()
                        .map(|(start, end)| {
                            // A header near the end: the moov after the media, in one read.
                            if end - start <= HEADER && size - start <= TAIL_READ {
                                (start, size)
                            } else {
                                (start, end)
                            }
                        })
                        .collect();
                    self.ensure(&ranges)?;
                }
            }
        }
        Ok(())
    }
}
