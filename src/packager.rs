//! One miss, orchestrated: resolve the source, consult the negative cache and
//! the source marker, single-flight, run the tools, publish, record in the store.
//!
//! JIT mode (our tools): a media playlist comes from the plan (index only) and
//! each segment is packaged on its own miss. Whole mode (real Bento4): the first
//! miss on a rendition packages all of it (see `whole.rs`). Playlists are written
//! by `playlist.rs` from durations in both modes, so they are identical.

mod master;
mod whole;

use crate::cache::{Cache, SweepEviction};
use crate::config::Config;
use crate::entry::{self, Spare};
use crate::error::Failure;
use crate::flight::{Attempt, Failures, Flights};
use crate::metrics::Metrics;
use crate::playlist;
use crate::source::{MediaRoot, Source};
use crate::store::{EntryKind, SourceId, Store};
use crate::tool::output::ShowInfo;
use crate::tool::{Mode, Tools};
use crate::url::{Container, Rendition, Request, Resource};
use std::collections::HashMap;
use std::os::fd::AsFd;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Plans and infos remembered in memory; beyond this the map is cleared.
const MAX_KNOWN: usize = 4096;

/// What a rendition's playlists and master variant need.
#[derive(Debug, Clone, PartialEq)]
pub struct RenditionInfo {
    pub durations: Vec<f64>,
    pub info: ShowInfo,
}

/// How the server answers a request that went well.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// The file is in the cache at this key: X-Accel-Redirect to it.
    Redirect(String),
    /// A master missing some renditions: served, not cached (it heals later).
    Playlist(String),
}

pub struct Packager {
    config: Arc<Config>,
    media: MediaRoot,
    cache: Cache,
    tools: Arc<Tools>,
    store: Option<Arc<Store>>,
    metrics: Arc<Metrics>,
    files: Flights<()>,
    infos: Flights<Arc<RenditionInfo>>,
    failures: Failures,
    /// Source path → (identity, info) of recent plans / whole packagings.
    known: Mutex<HashMap<String, (SourceId, Arc<RenditionInfo>)>>,
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Packager {
    pub fn new(
        config: Arc<Config>,
        media: MediaRoot,
        cache: Cache,
        tools: Arc<Tools>,
        store: Option<Arc<Store>>,
        metrics: Arc<Metrics>,
    ) -> Packager {
        let ttl = Duration::from_secs(config.limits.failure_ttl_secs);
        Packager {
            config,
            media,
            cache,
            tools,
            store,
            metrics,
            files: Flights::new(),
            infos: Flights::new(),
            failures: Failures::new(ttl),
            known: Mutex::new(HashMap::new()),
        }
    }

    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// Fills and plans running now (for metrics; two map lengths, no I/O).
    pub fn fills_in_flight(&self) -> usize {
        self.files.len() + self.infos.len()
    }

    /// Readiness: tools executable and the cache's scratch dir writable.
    pub fn ready(&self) -> Result<(), String> {
        if !self.tools.usable() {
            return Err("packaging tools are not executable".into());
        }
        tempfile::tempfile_in(self.cache.tmp_dir())
            .map(|_| ())
            .map_err(|e| format!("cache dir not writable: {e}"))
    }

    /// Fills what `request` needs and says how to answer.
    pub async fn handle(self: &Arc<Self>, request: &Request) -> Result<Answer, Failure> {
        let redirect = || Answer::Redirect(request.file_key.clone());
        let rendition = request.rendition();
        match (&request.resource, &request.container, rendition) {
            (Resource::Master, container, _) => self.master(container, &request.file_key).await,
            (Resource::MediaPlaylist, Container::Single(r), _) => self
                .media_playlist(r, 0, r.key.clone(), &request.file_key)
                .await
                .map(|()| redirect()),
            (Resource::MediaPlaylist, Container::Csmil { key, .. }, Some(r)) => self
                .media_playlist(r, request.index, key.clone(), &request.file_key)
                .await
                .map(|()| redirect()),
            (Resource::Segment(k), Container::Single(r), _) => {
                self.segment(r, *k).await.map(|()| redirect())
            }
            (Resource::Segment(k), Container::Csmil { key, .. }, Some(r)) => {
                self.segment(r, *k).await?;
                let _guard = self.cache.begin_fill(key);
                let target = format!("../{}/segment{k}_0_av.ts", r.name);
                self.cache
                    .publish_symlink(&request.file_key, Path::new(&target))
                    .map_err(Failure::cache)?;
                self.record(key, EntryKind::Master, None, 0).await;
                Ok(redirect())
            }
            (_, Container::Csmil { .. }, None) => Err(Failure::Internal(
                "rendition index out of range after parsing".into(),
            )),
        }
    }

    /// Opens the source and evicts what was packaged from an older version of it.
    /// Remembered failures are answered by what they are about (`rendition_info`,
    /// `segment`), so a bad segment does not fail the rest of the title.
    fn prepare(&self, r: &Rendition) -> Result<Source, Failure> {
        let source = self.media.resolve(&r.source)?;
        let stale =
            entry::stale_on_miss(&self.cache, &r.key, &source.id).map_err(Failure::cache)?;
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
        Ok(source)
    }

    async fn record(&self, key: &str, kind: EntryKind, source: Option<SourceId>, bytes: u64) {
        self.metrics.add("casterpak_fill_bytes_total", &[], bytes);
        let Some(store) = self.store.clone() else {
            return;
        };
        let key = key.to_string();
        let result = tokio::task::spawn_blocking(move || {
            store.record_fill(&key, kind, source.as_ref(), bytes, now())
        })
        .await;
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => log::warn!("store: recording a fill: {e}"),
            Err(e) => log::warn!("store task failed: {e}"),
        }
    }

    /// Publishes one file into a rendition dir, writing its source marker first.
    async fn publish_in_rendition(
        &self,
        r: &Rendition,
        source: &Source,
        file_key: &str,
        bytes: &[u8],
    ) -> Result<(), Failure> {
        let added =
            entry::publish_bytes_in_rendition(&self.cache, &r.key, &source.id, file_key, bytes)
                .map_err(Failure::cache)?;
        self.record(&r.key, EntryKind::Rendition, Some(source.id.clone()), added)
            .await;
        Ok(())
    }

    /// Plan (JIT) or whole packaging (whole mode), single-flighted per rendition
    /// and remembered per source identity.
    async fn rendition_info(
        self: &Arc<Self>,
        r: &Rendition,
        source: &Source,
    ) -> Result<Arc<RenditionInfo>, Failure> {
        {
            let known = self.known.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((id, info)) = known.get(&source.id.path) {
                if *id == source.id && (self.tools.mode() == Mode::Jit || self.whole_is_there(r)) {
                    return Ok(info.clone());
                }
            }
        }
        if let Some(failure) = self.failures.check(&source.id, Attempt::Plan) {
            return Err(failure);
        }
        let (this, r2, source2) = (self.clone(), r.clone(), source.clone());
        let result = self
            .infos
            .run(&r.key, move || async move {
                let info = match this.tools.mode() {
                    Mode::Jit => {
                        let plan = this
                            .tools
                            .plan(source2.file.as_fd(), this.config.segment_duration)
                            .await?;
                        RenditionInfo {
                            durations: plan.durations()?,
                            info: plan.info,
                        }
                    }
                    Mode::Whole => this.ensure_whole(&r2, &source2).await?,
                };
                let info = Arc::new(info);
                let mut known = this.known.lock().unwrap_or_else(|e| e.into_inner());
                if known.len() >= MAX_KNOWN {
                    known.clear();
                }
                known.insert(source2.id.path.clone(), (source2.id.clone(), info.clone()));
                Ok(info)
            })
            .await;
        if let Err(failure) = &result {
            self.failures.remember(&source.id, Attempt::Plan, failure);
        }
        result
    }

    async fn media_playlist(
        self: &Arc<Self>,
        r: &Rendition,
        index: usize,
        container_key: String,
        file_key: &str,
    ) -> Result<(), Failure> {
        let source = self.prepare(r)?;
        if self.cache.path_of(file_key).is_file() {
            return Ok(());
        }
        let info = self.rendition_info(r, &source).await?;
        let (this, r, file_key) = (self.clone(), r.clone(), file_key.to_string());
        self.files
            .run(&file_key.clone(), move || async move {
                let _guard = this.cache.begin_fill(&container_key);
                if this.cache.path_of(&file_key).is_file() {
                    return Ok(());
                }
                let text = playlist::media(&info.durations, index);
                if container_key == r.key {
                    this.publish_in_rendition(&r, &source, &file_key, text.as_bytes())
                        .await?;
                } else {
                    let bytes = this
                        .cache
                        .publish_bytes(&file_key, text.as_bytes())
                        .map_err(Failure::cache)?;
                    this.record(&container_key, EntryKind::Master, None, bytes)
                        .await;
                }
                this.metrics
                    .inc("casterpak_fills_total", &[("kind", "playlist")]);
                Ok(())
            })
            .await
    }

    /// Makes sure `<rendition>/segment<K>_0_av.ts` is in the cache.
    async fn segment(self: &Arc<Self>, r: &Rendition, k: u64) -> Result<(), Failure> {
        let source = self.prepare(r)?;
        let file_key = format!("{}/segment{k}_0_av.ts", r.key);
        if self.cache.path_of(&file_key).is_file() {
            return Ok(());
        }
        let info = self.rendition_info(r, &source).await?;
        let count = info.durations.len() as u64;
        if k == 0 || k > count {
            return Err(Failure::SegmentOutOfRange(k));
        }
        if self.tools.mode() == Mode::Whole {
            // ensure_whole published every segment; gone again means an eviction raced us.
            return if self.cache.path_of(&file_key).is_file() {
                Ok(())
            } else {
                Err(Failure::Internal(format!(
                    "{file_key} vanished after packaging"
                )))
            };
        }
        if let Some(failure) = self.failures.check(&source.id, Attempt::Segment(k)) {
            return Err(failure);
        }
        let source_id = source.id.clone();
        let (this, r, fk) = (self.clone(), r.clone(), file_key.clone());
        let result = self
            .files
            .run(&file_key, move || async move {
                let _guard = this.cache.begin_fill(&r.key);
                if this.cache.path_of(&fk).is_file() {
                    return Ok(());
                }
                let scratch = this.cache.scratch_dir().map_err(Failure::cache)?;
                let path = this
                    .tools
                    .package_segment(
                        source.file.as_fd(),
                        this.config.segment_duration,
                        k,
                        scratch.path(),
                    )
                    .await?;
                let added =
                    entry::publish_file_in_rendition(&this.cache, &r.key, &source.id, &path, &fk)
                        .map_err(Failure::cache)?;
                this.record(&r.key, EntryKind::Rendition, Some(source.id.clone()), added)
                    .await;
                this.metrics
                    .inc("casterpak_fills_total", &[("kind", "segment")]);
                Ok(())
            })
            .await;
        if let Err(failure) = &result {
            self.failures
                .remember(&source_id, Attempt::Segment(k), failure);
        }
        result
    }
}

#[cfg(test)]
mod tests;
