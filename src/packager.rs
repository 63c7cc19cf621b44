//! One miss, orchestrated: resolve the source, consult the negative cache and
//! the source marker, single-flight, run the tools, publish, record in the store.
//!
//! JIT mode (our tools): a media playlist comes from the plan (index only) and
//! each segment is packaged on its own miss. Whole mode (real Bento4): the first
//! miss on a rendition packages all of it (see `whole.rs`). Playlists are written
//! by `playlist.rs` from durations in both modes, so they are identical.

mod audio;
mod captions;
mod cmaf;
mod disk;
mod master;
mod subtitles;
mod whole;

use crate::cache::Cache;
use crate::config::Config;
use crate::entry;
use crate::error::{Failure, ToolError, UrlError};
use crate::flight::{Attempt, Failures, Flights};
use crate::metrics::Metrics;
use crate::playlist;
use crate::source::{MediaRoot, Source};
use crate::store::{EntryKind, SourceId, Store};
use crate::tool::output::ShowInfo;
use crate::tool::{Mode, SegmentCut, Tools, TrackChoice};
use crate::url::query::{self, Query, QueryError};
use crate::url::{Container, Rendition, Request, Resource, Stream};
use disk::{Busy, Dest, Disk, Looked, Scratch, Work};
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
    /// Keyframe times per segment (JIT plans; empty in whole mode, where a clip
    /// is cut at segment boundaries).
    pub keyframes: Vec<Vec<f64>>,
    pub info: ShowInfo,
    /// Per segment, the source byte ranges its samples occupy (JIT mode; what a
    /// remote source fetches before packaging it).
    pub ranges: Vec<Vec<(u64, u64)>>,
    /// Per segment, its keyframes' (time, offset, size) in the TS file: the I-frame
    /// playlist (JIT mode with our tool; empty otherwise, and no I-frame playlist).
    pub iframes: Vec<Vec<(f64, u64, u64)>>,
    /// The PTS of playlist time 0, when the plan said (a subtitle's timestamp map).
    pub pts_zero: Option<u64>,
    /// What the video carries of CEA-608, when the plan was asked (a master's).
    pub cea608: Option<crate::tool::output::Cea608>,
}

/// Which playlist of a rendition's segments a media playlist request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Listing {
    Media(Stream),
    IFrames,
}

/// How the server answers a request that went well.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// The file is in the cache at this key: X-Accel-Redirect to it.
    Redirect(String),
    /// A master missing some renditions: served, not cached (it heals later).
    Playlist(String),
    /// An encrypted title's AES-128 key: answered by the worker, never cached.
    Key([u8; 16]),
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
    /// Source path → (identity, CMAF plan), as `known` (CMAF HLS and DASH).
    cmaf_plans: Mutex<HashMap<String, (SourceId, Arc<crate::tool::cmaf::CmafPlan>)>>,
    /// Source path → (identity, CEA-608 fields its video carries), for masters.
    captions: Mutex<HashMap<String, (SourceId, crate::tool::output::Cea608)>>,
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
        let token_auth = Arc::new(config.token_auth.clone());
        Packager {
            config,
            disk: Disk {
                media,
                cache: cache.clone(),
                store,
                work: Arc::new(Work::default()),
                token_auth,
            },
            cache,
            tools,
            metrics,
            files: Flights::new(),
            infos: Flights::new(),
            failures: Failures::new(ttl),
            known: Mutex::new(HashMap::new()),
            cmaf_plans: Mutex::new(HashMap::new()),
            captions: Mutex::new(HashMap::new()),
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
        let query = &request.query;
        let msod = &self.config.msod;
        query::check_segment_range(
            query,
            msod.min_segment_duration_ms,
            msod.max_segment_duration_ms,
        )
        .map_err(|e| Failure::Url(UrlError::BadQuery(e)))?;
        match (&request.resource, &request.container, rendition) {
            (Resource::Master, container, _) => {
                self.master(container, &request.file_key, query).await
            }
            (Resource::MediaPlaylist, Container::Single(r), _) => self
                .media_playlist(
                    r,
                    0,
                    r.key.clone(),
                    &request.file_key,
                    query,
                    Listing::Media(request.stream),
                )
                .await
                .map(|()| redirect()),
            (Resource::MediaPlaylist, Container::Csmil { key, .. }, Some(r)) => self
                .media_playlist(
                    r,
                    request.index,
                    key.clone(),
                    &request.file_key,
                    query,
                    Listing::Media(request.stream),
                )
                .await
                .map(|()| redirect()),
            (Resource::IFramePlaylist, Container::Single(r), _) => self
                .media_playlist(
                    r,
                    0,
                    r.key.clone(),
                    &request.file_key,
                    query,
                    Listing::IFrames,
                )
                .await
                .map(|()| redirect()),
            (Resource::IFramePlaylist, Container::Csmil { key, .. }, Some(r)) => self
                .media_playlist(
                    r,
                    request.index,
                    key.clone(),
                    &request.file_key,
                    query,
                    Listing::IFrames,
                )
                .await
                .map(|()| redirect()),
            (Resource::Key, Container::Single(r), _) => self.key(r).await,
            (Resource::Subtitles { of, segment }, Container::Single(r), _) => self
                .subtitles_file(r, (of, *segment), (&request.file_key, None), query)
                .await
                .map(|()| redirect()),
            (Resource::Key | Resource::Subtitles { .. }, Container::Csmil { .. }, _) => {
                Err(Failure::Url(UrlError::UnknownResource))
            }
            (Resource::Segment(k), Container::Single(r), _) => self
                .segment(r, *k, query, request.stream)
                .await
                .map(|()| redirect()),
            (Resource::Segment(k), Container::Csmil { key, .. }, Some(r)) => {
                self.segment(r, *k, query, request.stream).await?;
                let _guard = self.cache.begin_fill(key);
                // The link sits as deep in the csmil dir as its target in the rendition's.
                let stream = request.stream.suffix();
                let target = match query.tag() {
                    Some(tag) => format!("../../{}/{tag}/segment{k}_0_{stream}.ts", r.name),
                    None => format!("../{}/segment{k}_0_{stream}.ts", r.name),
                };
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

    /// An encrypted title's key, once its source is known to exist (so a key is
    /// never handed out for a title that is not there).
    async fn key(&self, r: &Rendition) -> Result<Answer, Failure> {
        let key = self
            .config
            .encryption
            .key_for(&r.source)
            .ok_or(Failure::NotEncrypted)?;
        self.prepare(r, None).await?;
        Ok(Answer::Key(key))
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
            .run(move |disk| disk.publish_text(&dest, &file_key, &text))
            .await?
    }

    /// Plan (JIT) or whole packaging (whole mode), single-flighted per rendition
    /// and remembered per source identity.
    /// `sd`: a segment duration (ms) other than the configured one (`?sd=`).
    async fn rendition_info(
        self: &Arc<Self>,
        r: &Rendition,
        source: &Source,
        sd: Option<u64>,
        tracks: TrackChoice,
    ) -> Result<Arc<RenditionInfo>, Failure> {
        self.rendition_info_asking(r, source, (sd, tracks), false)
            .await
    }

    /// `rendition_info`; a plan made now with `captions` (a master's) also says
    /// what the video carries of CEA-608, in the same tool job. A local source
    /// only: a remote one's sample bytes are not all here.
    async fn rendition_info_asking(
        self: &Arc<Self>,
        r: &Rendition,
        source: &Source,
        (sd, tracks): (Option<u64>, TrackChoice),
        captions: bool,
    ) -> Result<Arc<RenditionInfo>, Failure> {
        let captions = captions && source.remote.is_none();
        if sd.is_some() && self.tools.mode() == Mode::Whole {
            return Err(Failure::Url(UrlError::BadQuery(
                QueryError::SegmentDurationNeedsJit,
            )));
        }
        let key = self.config.encryption.key_for(&r.source);
        if key.is_some() && self.tools.mode() == Mode::Whole {
            return Err(Failure::EncryptedElsewhere);
        }
        let segment_duration = sd.map_or(self.config.segment_duration, |ms| ms as f64 / 1000.0);
        // Plans at another duration or of other tracks are other plans of the source.
        let mut known_key = known_key(&source.id, sd);
        let mut flight_key = match sd {
            Some(ms) => format!("{}/~sd{ms}", r.key),
            None => r.key.clone(),
        };
        let muxed = tracks == TrackChoice::default();
        if !muxed {
            let (video, audio) = (tracks.video, tracks.audio);
            known_key.push_str(&format!("\0v{video:?}a{audio:?}"));
            flight_key.push_str(&format!("/~v{video:?}a{audio:?}"));
        }
        if let Some(info) = self.known_info(&known_key, &source.id) {
            if self.tools.mode() == Mode::Jit || self.whole_is_there(r).await? {
                return Ok(info);
            }
        }
        // Failures are remembered for the title's own (muxed) plan: a request for a
        // track choice never answers for, or poisons, the title.
        if let Some(failure) = self
            .failures
            .check(&source.id, Attempt::Plan)
            .filter(|_| muxed)
        {
            return Err(failure);
        }
        let (this, r2, source2) = (self.clone(), r.clone(), source.clone());
        let result = self
            .infos
            .run(&flight_key, move || {
                let stop = this.stoppable();
                abandonable(stop, async move {
                    let info = match this.tools.mode() {
                        Mode::Jit => {
                            let fd = source2.file.as_fd();
                            let plan = if captions {
                                this.tools
                                    .plan_with_captions(fd, segment_duration, key, tracks)
                                    .await?
                            } else {
                                this.tools.plan(fd, segment_duration, key, tracks).await?
                            };
                            RenditionInfo {
                                durations: plan.durations()?,
                                keyframes: plan.keyframes(),
                                ranges: plan.byte_ranges(),
                                // Byte ranges into CBC-encrypted segments do not
                                // decrypt on their own: no I-frame playlist.
                                iframes: if key.is_some() {
                                    Vec::new()
                                } else {
                                    plan.iframes()
                                },
                                pts_zero: plan.pts_zero,
                                cea608: plan.cea608,
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
                    known.insert(known_key, (source2.id.clone(), info.clone()));
                    Ok(info)
                })
            })
            .await;
        if let (Err(failure), true) = (&result, muxed) {
            self.failures.remember(&source.id, Attempt::Plan, failure);
        }
        result
    }

    /// The info remembered under `known_key` for this version of the source.
    fn known_info(&self, known_key: &str, id: &SourceId) -> Option<Arc<RenditionInfo>> {
        let known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        known
            .get(known_key)
            .filter(|(known_id, _)| known_id == id)
            .map(|(_, info)| info.clone())
    }

    /// Whether a segment miss can go to the tool without the worker holding the
    /// plan: a long-lived process of ours cuts the segment from the plan it keeps
    /// with the index and answers exit 5 past the end, so a cold segment of a local
    /// title is one job, not a plan job and then a segment job. A remote source
    /// needs the plan first (its byte ranges), and so does a separate stream (the
    /// muxed plan says which tracks exist).
    fn plan_can_wait(&self, source: &Source, stream: Stream) -> bool {
        self.tools.serves()
            && self.tools.mode() == Mode::Jit
            && source.remote.is_none()
            && stream == Stream::Muxed
    }

    /// The plan of `stream` of a rendition: the muxed plan, or (alternate audio,
    /// with our tools, at the title's own cut) the plan of its video alone or of one
    /// of the audio tracks its plan lists. Anything else is a 404, not a tool run.
    pub(super) async fn stream_info(
        self: &Arc<Self>,
        r: &Rendition,
        source: &Source,
        query: &Query,
        stream: Stream,
    ) -> Result<Arc<RenditionInfo>, Failure> {
        let muxed = self
            .rendition_info(r, source, query.segment_ms, TrackChoice::default())
            .await?;
        // Any rendition of a csmil whose master has alternate audio plays its video
        // alone, whatever audio it has itself.
        let listed = match stream {
            Stream::Muxed => return Ok(muxed),
            Stream::Audio(id) => muxed.info.audio_tracks.iter().any(|t| t.id == id),
            Stream::Video => muxed.info.video.is_some(),
        };
        // A clip of a separate stream is cut as the muxed one (trimmed ends at its
        // keyframes), and so is another segment duration (its plan at that duration).
        if !listed || self.tools.mode() != Mode::Jit {
            return Err(Failure::Url(UrlError::UnknownResource));
        }
        self.rendition_info(r, source, query.segment_ms, tracks_of(stream))
            .await
    }

    /// A title gets alternate audio when it has video and several audio tracks,
    /// with our tools (a plan lists the tracks; real Bento4 stays muxed).
    pub(super) fn offers_alternate_audio(&self, muxed: &RenditionInfo) -> bool {
        self.tools.mode() == Mode::Jit
            && muxed.info.video.is_some()
            && muxed.info.audio_tracks.len() >= 2
    }

    async fn media_playlist(
        self: &Arc<Self>,
        r: &Rendition,
        index: usize,
        container_key: String,
        file_key: &str,
        query: &Query,
        listing: Listing,
    ) -> Result<(), Failure> {
        // As for segments: a burst waits for the fill running, no disk step each.
        if let Some(running) = self.files.running(file_key) {
            return running.await;
        }
        let Looked { source, there, .. } = self.prepare(r, Some(file_key)).await?;
        if there {
            return Ok(());
        }
        let stream = match listing {
            Listing::Media(stream) => stream,
            Listing::IFrames => Stream::Muxed,
        };
        let info = self.stream_info(r, &source, query, stream).await?;
        // A clip's trimmed ends have their own layouts, which no plan lists.
        if listing == Listing::IFrames && (info.iframes.is_empty() || query.clip.is_some()) {
            return Err(Failure::NoIFrames);
        }
        // A separate stream is cut where the muxed title is (one clock): its window comes
        // from the muxed plan's keyframes, whatever its own plan calls a keyframe.
        let cut_by = match (stream, query.clip) {
            (Stream::Muxed, _) | (_, None) => info.clone(),
            _ => {
                self.rendition_info(r, &source, None, TrackChoice::default())
                    .await?
            }
        };
        let window = query
            .clip
            .map(|clip| {
                playlist::clip::window_at_keyframes(&cut_by.durations, &cut_by.keyframes, &clip)
            })
            .transpose()
            .map_err(|e| Failure::Url(UrlError::BadQuery(e)))?;
        let sd = query.segment_ms;
        let key_uri = self.config.encryption.covers(&r.source).then(|| {
            playlist::rendition_file_uri(
                &self.config.public_base_url,
                &r.key,
                &r.name,
                container_key != r.key,
                crate::url::KEY_FILE,
            )
        });
        let (this, r, file_key) = (self.clone(), r.clone(), file_key.to_string());
        self.files
            .run(&file_key.clone(), move || {
                let stop = this.stoppable();
                abandonable(stop, async move {
                    let _guard = this.cache.begin_fill(&container_key);
                    let text = match (window, sd) {
                        _ if listing == Listing::IFrames => {
                            playlist::iframes::media(&info.durations, &info.iframes, index)
                        }
                        (None, None) => {
                            playlist::media_of_stream(&info.durations, index, &stream.suffix())
                        }
                        (window, sd) => {
                            let count = info.durations.len();
                            let window = window.unwrap_or(playlist::clip::Window::whole(count));
                            let suffix = stream.suffix();
                            playlist::clip::media(&info.durations, &window, (index, &suffix), sd)
                        }
                    };
                    let text = match &key_uri {
                        Some(uri) => playlist::with_key(&text, uri),
                        None => text,
                    };
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

    /// Makes sure `<rendition>/segment<K>_0_av.ts` is in the cache (with a query tag:
    /// `<rendition>/<tag>/segment<K>_0_av.ts`, trimmed to a clip's end or cut at
    /// `sd`). The whole miss (look, plan, fill) is the file's one flight, so a burst
    /// for one segment makes the disk steps of one request, not one look per waiter,
    /// and the look, made once the flight is the file's only one, sees whatever an
    /// earlier fill published: no second look before the tool runs.
    async fn segment(
        self: &Arc<Self>,
        r: &Rendition,
        k: u64,
        query: &Query,
        stream: Stream,
    ) -> Result<(), Failure> {
        if query.clip.is_some() && self.tools.mode() == Mode::Whole {
            return Err(Failure::Url(UrlError::BadQuery(QueryError::TrimNeedsJit)));
        }
        let name = format!("segment{k}_0_{}.ts", stream.suffix());
        let file_key = match query.tag() {
            Some(tag) => format!("{}/{tag}/{name}", r.key),
            None => format!("{}/{name}", r.key),
        };
        let (this, r, query) = (self.clone(), r.clone(), query.clone());
        self.files
            .run(&file_key.clone(), move || {
                let stop = this.stoppable();
                abandonable(stop, async move {
                    this.fill_segment(&r, (k, stream), &query, file_key).await
                })
            })
            .await
    }

    /// One segment's miss, inside its flight.
    async fn fill_segment(
        self: &Arc<Self>,
        r: &Rendition,
        (k, stream): (u64, Stream),
        query: &Query,
        file_key: String,
    ) -> Result<(), Failure> {
        let sd = query.segment_ms;
        // A clip's first or last segment: trimmed at the keyframes its URI names.
        let trim = SegmentCut {
            start: query
                .clip
                .and_then(|clip| Some(clip.start()).filter(|_| clip.start_ms > 0)),
            end: query.clip.and_then(|clip| clip.end()),
            key: self.config.encryption.key_for(&r.source),
            tracks: tracks_of(stream),
        };
        let segment_duration = sd.map_or(self.config.segment_duration, |ms| ms as f64 / 1000.0);
        let Looked {
            source,
            there,
            marked,
        } = self.prepare(r, Some(&file_key)).await?;
        if there {
            return Ok(());
        }
        let info = if self.plan_can_wait(&source, stream) {
            if let Some(failure) = self.failures.check(&source.id, Attempt::Plan) {
                return Err(failure);
            }
            self.known_info(&known_key(&source.id, sd), &source.id)
        } else {
            Some(self.stream_info(r, &source, query, stream).await?)
        };
        let count = info
            .as_ref()
            .map_or(u64::MAX, |info| info.durations.len() as u64);
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
        // Failures are remembered per segment number of the title's own cut; a trimmed
        // or `sd=` segment is another file, so it neither answers nor fills that entry.
        let own_cut = query.tag().is_none() && stream == Stream::Muxed;
        if let Some(failure) = self
            .failures
            .check(&source.id, Attempt::Segment(k))
            .filter(|_| own_cut)
        {
            return Err(failure);
        }
        if let (Some(remote), Some(info)) = (source.remote.clone(), &info) {
            // A remote source: its samples' bytes into the input cache first.
            let ranges = ranges_of(info, k);
            self.disk.run(move |_| remote.ensure(&ranges)).await??;
        }
        let cut = (segment_duration, trim);
        let packaged = self.package_segment(r, k, cut, (&source, marked), file_key);
        let result = match packaged.await {
            // Past the end, as the tool's own plan says (the plan was not asked).
            Err(Failure::Tool(ToolError::OutOfRange(_))) => Err(Failure::SegmentOutOfRange(k)),
            result => result,
        };
        if let (Err(failure), true) = (&result, own_cut) {
            self.failures
                .remember(&source.id, Attempt::Segment(k), failure);
        }
        result
    }

    /// Runs the tool for segment `k` and publishes what it wrote.
    async fn package_segment(
        &self,
        r: &Rendition,
        k: u64,
        (segment_duration, trim): (f64, SegmentCut),
        (source, marked): (&Source, bool),
        file_key: String,
    ) -> Result<(), Failure> {
        let _guard = self.cache.begin_fill(&r.key);
        let Some(scratch) = self.segment_scratch(&file_key).await? else {
            return Ok(());
        };
        let packaging = self.tools.package_trimmed_segment(
            source.file.as_fd(),
            segment_duration,
            k,
            trim,
            scratch.output(),
        );
        // A new rendition's dirs and marker are made while the tool runs (on another
        // core), not after it. Best effort: the publish below writes the marker
        // itself if this did not, so its failure is the publish's to report.
        let (packaged, marker_bytes) = if marked || !self.tools.serves() {
            (packaging.await, 0)
        } else {
            let (key, id) = (r.key.clone(), source.id.clone());
            let marker = self
                .disk
                .run(move |disk| entry::publish_marker(&disk.cache, &key, &id));
            match tokio::join!(packaging, marker) {
                (packaged, Ok(Ok(bytes))) => (packaged, bytes),
                (packaged, _) => (packaged, 0),
            }
        };
        let path = match packaged {
            Ok(path) => path,
            Err(e) => return Err(self.segment_failure(e, scratch).await),
        };
        let (key, id) = (r.key.clone(), source.id.clone());
        let added = self
            .disk
            .run(move |disk| {
                let published =
                    entry::publish_file_in_rendition(&disk.cache, &key, &id, &path, &file_key);
                match published {
                    Ok(_) => scratch.published(),
                    Err(_) => scratch.remove(),
                }
                let added = marker_bytes + published.map_err(Failure::cache)?;
                disk.record(&key, EntryKind::Rendition, Some(&id), added);
                Ok::<_, Failure>(added)
            })
            .await??;
        self.filled("segment", added);
        Ok(())
    }

    /// What a failed segment job means. A long-lived tool creates its output in
    /// the cache's scratch dir itself, so an I/O failure (exit code 4) may be
    /// the cache's: then the worker's own try at creating that file says so, as
    /// a cache write failure (500, never remembered), the same answer as when
    /// the worker makes the scratch. Only on this failure path: no disk step
    /// when the job went well.
    async fn segment_failure(&self, error: ToolError, scratch: Scratch) -> Failure {
        if !matches!(error, ToolError::Failed(_)) || !self.tools.serves() {
            return Failure::Tool(error);
        }
        let tried = self.disk.run(move |_| {
            let created = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(scratch.path());
            // Removed with the scratch (the tool's file, if any, is gone already).
            scratch.remove();
            created.err()
        });
        match tried.await {
            Ok(Some(e)) => Failure::cache(e),
            Ok(None) => Failure::Tool(error),
            Err(failure) => failure,
        }
    }

    /// Where a segment fill's tool writes. Long-lived tools create one file in
    /// the scratch dir: a name, no disk step. One-shot runs get a dir of their
    /// own, made on the blocking pool (`None` if the file appeared meanwhile).
    async fn segment_scratch(&self, file_key: &str) -> Result<Option<Scratch>, Failure> {
        if self.tools.serves() {
            return Ok(Some(Scratch::file(&self.cache, &self.disk.work)));
        }
        let look = file_key.to_string();
        self.disk
            .run(move |disk| disk.scratch_unless_there(&look))
            .await?
    }
}

/// Where the muxed plan of a source at segment duration `sd` (ms, `?sd=`) is
/// remembered; a track choice appends its own suffix.
fn known_key(id: &SourceId, sd: Option<u64>) -> String {
    match sd {
        Some(ms) => format!("{}\0sd{ms}", id.path),
        None => id.path.clone(),
    }
}

/// The tracks a stream's plan and segments mux.
fn tracks_of(stream: Stream) -> TrackChoice {
    match stream {
        Stream::Muxed => TrackChoice::default(),
        Stream::Video => TrackChoice::VIDEO,
        Stream::Audio(id) => TrackChoice::audio(id),
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
