//! One miss, orchestrated: resolve the source, consult the negative cache and
//! the source marker, single-flight, run the tools, publish, record in the store.
//!
//! JIT mode (our tools): a media playlist comes from the plan (index only) and
//! each segment is packaged on its own miss. Whole mode (real Bento4): the first
//! miss on a rendition packages all of it (see `whole.rs`). Playlists are written
//! by `playlist.rs` from durations in both modes, so they are identical.

mod disk;
mod master;
mod whole;

use crate::cache::Cache;
use crate::config::Config;
use crate::entry;
use crate::error::Failure;
use crate::flight::{Attempt, Failures, Flights};
use crate::metrics::Metrics;
use crate::playlist;
use crate::source::{MediaRoot, Source};
use crate::store::{EntryKind, SourceId, Store};
use crate::tool::output::ShowInfo;
use crate::tool::{Mode, Tools};
use crate::url::{Container, Rendition, Request, Resource};
use disk::{Busy, Dest, Disk, Looked, Work};
use std::collections::HashMap;
use std::future::Future;
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
    /// Per segment, the source byte ranges its samples occupy (JIT mode; what a
    /// remote source fetches before packaging it).
    pub ranges: Vec<Vec<(u64, u64)>>,
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
    cache: Cache,
    disk: Disk,
    tools: Arc<Tools>,
    metrics: Arc<Metrics>,
    files: Flights<()>,
    infos: Flights<Arc<RenditionInfo>>,
    failures: Failures,
    /// Source path → (identity, info) of recent plans / whole packagings.
    known: Mutex<HashMap<String, (SourceId, Arc<RenditionInfo>)>>,
    /// True once the worker stops waiting for fills (`abandon_fills`).
    abandon: tokio::sync::watch::Sender<bool>,
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
            disk: Disk {
                media,
                cache: cache.clone(),
                store,
                work: Arc::new(Work::default()),
            },
            cache,
            tools,
            metrics,
            files: Flights::new(),
            infos: Flights::new(),
            failures: Failures::new(ttl),
            known: Mutex::new(HashMap::new()),
            abandon: tokio::sync::watch::Sender::new(false),
        }
    }

    /// At shutdown, past the grace: every fill running or starting from now on
    /// ends at once with `ShuttingDown` (503). Dropping a fill kills its tool
    /// (`kill_on_drop`) and removes its scratch dir.
    pub fn abandon_fills(&self) {
        self.abandon.send_replace(true);
    }

    /// Waits until no fill task and no blocking step of ours runs any more.
    pub async fn idle(&self) {
        while self.disk.work.running() > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// What a fill needs to be counted and abandoned (see `abandonable`).
    fn stoppable(&self) -> (tokio::sync::watch::Receiver<bool>, Busy) {
        (self.abandon.subscribe(), self.disk.work.enter())
    }

    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// Fills and plans running now (for metrics; two map lengths, no I/O).
    pub fn fills_in_flight(&self) -> usize {
        self.files.len() + self.infos.len()
    }

    /// Readiness: tools executable and the cache's scratch dir writable (on the
    /// blocking pool: both touch the disk).
    pub async fn ready(&self) -> Result<(), String> {
        let tools = self.tools.clone();
        let checked = self.disk.run(move |disk| {
            if !tools.usable() {
                return Err("packaging tools are not executable".to_string());
            }
            tempfile::tempfile_in(disk.cache.tmp_dir())
                .map(|_| ())
                .map_err(|e| format!("cache dir not writable: {e}"))
        });
        checked.await.map_err(|e| e.to_string())?
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
                let (key, link) = (key.clone(), request.file_key.clone());
                self.disk
                    .run(move |disk| {
                        disk.cache
                            .publish_symlink(&link, Path::new(&target))
                            .map_err(Failure::cache)?;
                        disk.record(&key, EntryKind::Master, None, 0);
                        Ok::<_, Failure>(())
                    })
                    .await??;
                Ok(redirect())
            }
            (_, Container::Csmil { .. }, None) => Err(Failure::Internal(
                "rendition index out of range after parsing".into(),
            )),
        }
    }

    /// Opens the source, evicts what was packaged from an older version of it, and
    /// says whether `file_key` is there: one trip to the blocking pool. Remembered
    /// failures are answered by what they are about (`rendition_info`, `segment`),
    /// so a bad segment does not fail the rest of the title.
    async fn prepare(&self, r: &Rendition, file_key: Option<&str>) -> Result<Looked, Failure> {
        let (r, file_key) = (r.clone(), file_key.map(str::to_string));
        self.disk
            .run(move |disk| disk.look(&r, file_key.as_deref()))
            .await?
    }

    fn filled(&self, kind: &str, bytes: u64) {
        self.metrics.add("casterpak_fill_bytes_total", &[], bytes);
        self.metrics.inc("casterpak_fills_total", &[("kind", kind)]);
    }

    /// Publishes `text` at `file_key` (unless a fill put it there meanwhile) and
    /// records it, on the blocking pool; returns the bytes added.
    async fn publish_text(&self, dest: Dest, file_key: &str, text: String) -> Result<u64, Failure> {
        let file_key = file_key.to_string();
        self.disk
            .run(move |disk| disk.publish_text(&dest, &file_key, text.as_bytes()))
            .await?
    }

    /// Plan (JIT) or whole packaging (whole mode), single-flighted per rendition
    /// and remembered per source identity.
    async fn rendition_info(
        self: &Arc<Self>,
        r: &Rendition,
        source: &Source,
    ) -> Result<Arc<RenditionInfo>, Failure> {
        let known = {
            let known = self.known.lock().unwrap_or_else(|e| e.into_inner());
            known
                .get(&source.id.path)
                .filter(|(id, _)| *id == source.id)
                .map(|(_, info)| info.clone())
        };
        if let Some(info) = known {
            if self.tools.mode() == Mode::Jit || self.whole_is_there(r).await? {
                return Ok(info);
            }
        }
        if let Some(failure) = self.failures.check(&source.id, Attempt::Plan) {
            return Err(failure);
        }
        let (this, r2, source2) = (self.clone(), r.clone(), source.clone());
        let result = self
            .infos
            .run(&r.key, move || {
                let stop = this.stoppable();
                abandonable(stop, async move {
                    let info = match this.tools.mode() {
                        Mode::Jit => {
                            let plan = this
                                .tools
                                .plan(source2.file.as_fd(), this.config.segment_duration)
                                .await?;
                            RenditionInfo {
                                durations: plan.durations()?,
                                ranges: plan.byte_ranges(),
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
        let Looked { source, there } = self.prepare(r, Some(file_key)).await?;
        if there {
            return Ok(());
        }
        let info = self.rendition_info(r, &source).await?;
        let (this, r, file_key) = (self.clone(), r.clone(), file_key.to_string());
        self.files
            .run(&file_key.clone(), move || {
                let stop = this.stoppable();
                abandonable(stop, async move {
                    let _guard = this.cache.begin_fill(&container_key);
                    let text = playlist::media(&info.durations, index);
                    let dest = if container_key == r.key {
                        Dest::Rendition {
                            key: r.key.clone(),
                            source: source.id.clone(),
                        }
                    } else {
                        Dest::Master { key: container_key }
                    };
                    let added = this.publish_text(dest, &file_key, text).await?;
                    if added > 0 {
                        this.filled("playlist", added);
                    }
                    Ok(())
                })
            })
            .await
    }

    /// Makes sure `<rendition>/segment<K>_0_av.ts` is in the cache.
    async fn segment(self: &Arc<Self>, r: &Rendition, k: u64) -> Result<(), Failure> {
        let file_key = format!("{}/segment{k}_0_av.ts", r.key);
        let Looked { source, there } = self.prepare(r, Some(&file_key)).await?;
        if there {
            return Ok(());
        }
        let info = self.rendition_info(r, &source).await?;
        let count = info.durations.len() as u64;
        if k == 0 || k > count {
            return Err(Failure::SegmentOutOfRange(k));
        }
        if self.tools.mode() == Mode::Whole {
            // ensure_whole published every segment; gone again means an eviction raced us.
            let fk = file_key.clone();
            return if self.disk.run(move |disk| disk.is_file(&fk)).await? {
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
            .run(&file_key, move || {
                let stop = this.stoppable();
                abandonable(stop, async move {
                    let _guard = this.cache.begin_fill(&r.key);
                    let look = fk.clone();
                    let scratch = this
                        .disk
                        .run(move |disk| disk.scratch_unless_there(&look))
                        .await??;
                    let Some(scratch) = scratch else {
                        return Ok(());
                    };
                    if let Some(remote) = source.remote.clone() {
                        let ranges = ranges_of(&info, k);
                        this.disk.run(move |_| remote.ensure(&ranges)).await??;
                    }
                    let path = this
                        .tools
                        .package_segment(
                            source.file.as_fd(),
                            this.config.segment_duration,
                            k,
                            scratch.path(),
                        )
                        .await?;
                    let id = source.id.clone();
                    let added = this
                        .disk
                        .run(move |disk| {
                            let published = entry::publish_file_in_rendition(
                                &disk.cache,
                                &r.key,
                                &id,
                                &path,
                                &fk,
                            );
                            scratch.remove();
                            let added = published.map_err(Failure::cache)?;
                            disk.record(&r.key, EntryKind::Rendition, Some(&id), added);
                            Ok::<_, Failure>(added)
                        })
                        .await??;
                    this.filled("segment", added);
                    Ok(())
                })
            })
            .await;
        if let Err(failure) = &result {
            self.failures
                .remember(&source_id, Attempt::Segment(k), failure);
        }
        result
    }
}

/// Segment `k`'s source ranges; all of the file when the plan did not say (an
/// older tool), so the segment still gets every byte it might read.
fn ranges_of(info: &RenditionInfo, k: u64) -> Vec<(u64, u64)> {
    let listed = usize::try_from(k - 1)
        .ok()
        .and_then(|i| info.ranges.get(i))
        .filter(|r| !r.is_empty());
    listed.cloned().unwrap_or_else(|| vec![(0, u64::MAX)])
}

/// A fill as the flights run it: counted while it runs, and cut short by
/// `Packager::abandon_fills`.
async fn abandonable<T>(
    (mut abandon, busy): (tokio::sync::watch::Receiver<bool>, Busy),
    fill: impl Future<Output = Result<T, Failure>>,
) -> Result<T, Failure> {
    let _busy = busy;
    tokio::select! {
        result = fill => result,
        _ = abandon.wait_for(|stop| *stop) => Err(Failure::ShuttingDown),
    }
}

#[cfg(test)]
mod tests;
