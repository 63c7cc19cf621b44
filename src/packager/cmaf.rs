//! CMAF HLS and DASH misses (JIT mode only): the CMAF files of a rendition are
//! made one per miss in its own cache dir under the CMAF prefix (`c/a/b.mp4`),
//! csmil dirs link to them as for TS, and the DASH MPD of a path is written into
//! the CMAF dir of that path and linked from the DASH dir, so both formats read one
//! set of files, and the MPD is evicted with what it describes.

use super::{abandonable, Answer, Dest, Packager};
use crate::entry;
use crate::error::{Failure, SourceError, ToolError, UrlError};
use crate::flight::Attempt;
use crate::mpd::{self, Manifest, Representation};
use crate::playlist::cmaf::{self as text, Audio};
use crate::playlist::Variant;
use crate::source::Source;
use crate::store::EntryKind;
use crate::tool::cmaf::{CmafFile, CmafPlan};
use crate::tool::Mode;
use crate::url::cmaf::{init_name, playlist_name, segment_name, Request, Resource, Track};
use crate::url::{encode_path, Container, Rendition};
use std::os::fd::AsFd;
use std::path::Path;
use std::sync::Arc;

/// The MPD's name inside the CMAF dir of its path.
const MPD_NAME: &str = "manifest.mpd";

impl Packager {
    /// Fills what a CMAF HLS or DASH request needs and says how to answer.
    pub async fn handle_cmaf(self: &Arc<Self>, request: &Request) -> Result<Answer, Failure> {
        if self.tools.mode() != Mode::Jit {
            return Err(Failure::Tool(ToolError::Unsupported(
                "CMAF HLS and DASH need casterpak's mp42hls; the configured tool packages TS only"
                    .into(),
            )));
        }
        let renditions = match &request.media {
            Container::Single(r) => std::slice::from_ref(r),
            Container::Csmil { renditions, .. } => renditions.as_slice(),
        };
        // AES-128 here is TS's; CMAF would need cbcs: refused rather than served clear.
        if renditions
            .iter()
            .any(|r| self.config.encryption.covers(&r.source))
        {
            return Err(Failure::EncryptedElsewhere);
        }
        let redirect = Answer::Redirect(request.file_key.clone());
        let file = match (&request.resource, request.rendition()) {
            (Resource::Master, _) => return self.cmaf_master(request).await,
            (Resource::Manifest, _) => return self.dash_manifest(request).await,
            (Resource::MediaPlaylist(track), Some(r)) => {
                self.cmaf_playlist(request, r, *track).await?;
                return Ok(redirect);
            }
            (Resource::Init(track), Some(_)) => CmafFile::Init(*track),
            (Resource::Segment(k, track), Some(_)) => CmafFile::Segment(*k, *track),
            (_, None) => {
                return Err(Failure::Internal(
                    "rendition index out of range after parsing".into(),
                ))
            }
        };
        let r = request
            .rendition()
            .ok_or_else(|| Failure::Internal("no rendition".into()))?;
        self.cmaf_file(r, file).await?;
        if let Container::Csmil { key, .. } = &request.media {
            let target = format!("../{}/{}", r.name, file.name());
            self.link(key, &request.file_key, target).await?;
        }
        Ok(redirect)
    }

    /// Publishes a relative symlink at `link` and records its container `key`.
    async fn link(&self, key: &str, link: &str, target: String) -> Result<(), Failure> {
        let _guard = self.cache.begin_fill(key);
        let (key, link) = (key.to_string(), link.to_string());
        self.disk
            .run(move |disk| {
                disk.cache
                    .publish_symlink(&link, Path::new(&target))
                    .map_err(Failure::cache)?;
                disk.record(&key, EntryKind::Master, None, 0);
                Ok::<_, Failure>(())
            })
            .await?
    }

    /// The CMAF plan of a source, remembered per source identity.
    async fn cmaf_plan(&self, source: &Source) -> Result<Arc<CmafPlan>, Failure> {
        let known = {
            let plans = self.cmaf_plans.lock().unwrap_or_else(|e| e.into_inner());
            plans
                .get(&source.id.path)
                .filter(|(id, _)| *id == source.id)
                .map(|(_, plan)| plan.clone())
        };
        if let Some(plan) = known {
            return Ok(plan);
        }
        if let Some(failure) = self.failures.check(&source.id, Attempt::CmafPlan) {
            return Err(failure);
        }
        let planned = self
            .tools
            .cmaf_plan(source.file.as_fd(), self.config.segment_duration)
            .await
            .map_err(Failure::from);
        let plan = match planned {
            Ok(plan) => Arc::new(plan),
            Err(failure) => {
                self.failures
                    .remember(&source.id, Attempt::CmafPlan, &failure);
                return Err(failure);
            }
        };
        let mut plans = self.cmaf_plans.lock().unwrap_or_else(|e| e.into_inner());
        if plans.len() >= super::MAX_KNOWN {
            plans.clear();
        }
        plans.insert(source.id.path.clone(), (source.id.clone(), plan.clone()));
        Ok(plan)
    }

    /// Makes sure the rendition's own CMAF file (N = 0) is in the cache.
    async fn cmaf_file(self: &Arc<Self>, r: &Rendition, file: CmafFile) -> Result<(), Failure> {
        let file_key = format!("{}/{}", r.key, file.name());
        let super::Looked { source, there } = self.prepare(r, Some(&file_key)).await?;
        if there {
            return Ok(());
        }
        let attempt = match file {
            CmafFile::Init(track) => Attempt::CmafFile {
                k: 0,
                audio: track == Track::Audio,
            },
            CmafFile::Segment(k, track) => Attempt::CmafFile {
                k,
                audio: track == Track::Audio,
            },
        };
        for earlier in [Attempt::CmafPlan, attempt] {
            if let Some(failure) = self.failures.check(&source.id, earlier) {
                return Err(failure);
            }
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
                    let path = this
                        .tools
                        .package_cmaf(
                            source.file.as_fd(),
                            this.config.segment_duration,
                            file,
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
            self.failures.remember(&source_id, attempt, failure);
        }
        result
    }

    /// Publishes `body` at `file_key` in `container` (a rendition's dir or a csmil dir).
    async fn publish_in(
        &self,
        container: &Container,
        source: &Source,
        file_key: &str,
        body: String,
    ) -> Result<(), Failure> {
        let _guard = self.cache.begin_fill(container.key());
        let dest = match container {
            Container::Single(r) => Dest::Rendition {
                key: r.key.clone(),
                source: source.id.clone(),
            },
            Container::Csmil { key, .. } => Dest::Master { key: key.clone() },
        };
        let added = self.publish_text(dest, file_key, body).await?;
        if added > 0 {
            self.filled("playlist", added);
        }
        Ok(())
    }

    async fn cmaf_playlist(
        self: &Arc<Self>,
        request: &Request,
        r: &Rendition,
        track: Track,
    ) -> Result<(), Failure> {
        let super::Looked { source, there } = self.prepare(r, Some(&request.file_key)).await?;
        if there {
            return Ok(());
        }
        let plan = self.cmaf_plan(&source).await?;
        let timeline = plan
            .track(track)
            .ok_or(Failure::Url(UrlError::UnknownResource))?;
        let index = request.index;
        let body = text::media(&timeline.durations(), &init_name(index, track), |k| {
            segment_name(k, index, track)
        });
        self.publish_in(&request.media, &source, &request.file_key, body)
            .await
    }

    /// Every rendition's source and CMAF plan, in URL order; a rendition that fails
    /// is left out (logged) unless it is the only one.
    async fn plans(
        self: &Arc<Self>,
        media: &Container,
        what: &str,
    ) -> Result<(Vec<(usize, Source, Arc<CmafPlan>)>, bool), Failure> {
        let renditions = match media {
            Container::Single(r) => vec![r.clone()],
            Container::Csmil { renditions, .. } => renditions.clone(),
        };
        let results = futures::future::join_all(renditions.iter().map(|r| async move {
            let source = self.prepare(r, None).await?.source;
            let plan = self.cmaf_plan(&source).await?;
            Ok::<_, Failure>((source, plan))
        }))
        .await;
        let mut found = Vec::new();
        let mut first_failure = None;
        let csmil = matches!(media, Container::Csmil { .. });
        for (index, (r, result)) in renditions.iter().zip(results).enumerate() {
            match result {
                Ok((source, plan)) => found.push((index, source, plan)),
                Err(failure) => {
                    log::warn!(
                        "{what} {}: rendition {} left out: {failure}",
                        media.key(),
                        r.key
                    );
                    if !csmil || !matches!(failure, Failure::Source(SourceError::NotFound(_))) {
                        first_failure.get_or_insert(failure);
                    }
                }
            }
        }
        if found.is_empty() {
            return Err(first_failure.unwrap_or(Failure::NoRenditions));
        }
        let complete = found.len() == renditions.len();
        Ok((found, complete))
    }

    async fn cmaf_master(self: &Arc<Self>, request: &Request) -> Result<Answer, Failure> {
        let (found, complete) = self.plans(&request.media, "cmaf master").await?;
        let mut variants = Vec::new();
        let mut audio = None;
        for (index, _, plan) in &found {
            let info = &plan.info;
            let video = info.video.as_ref().filter(|v| v.width > 0 && v.height > 0);
            variants.push(Variant {
                uri: playlist_name(*index, Track::Video),
                bandwidth: info.stats.max_segment_bitrate,
                average_bandwidth: info.stats.avg_segment_bitrate,
                codecs: video.map(|v| vec![v.codec.clone()]).unwrap_or_default(),
                resolution: video.map(|v| (v.width, v.height)),
                frame_rate: video.map(|_| info.stats.frame_rate),
                audio_group: None,
            });
            if audio.is_none() {
                audio = info.audio.as_ref().map(|a| Audio {
                    uri: playlist_name(*index, Track::Audio),
                    codec: a.codec.clone(),
                });
            }
        }
        let body = text::master(&variants, audio.as_ref());
        if !complete {
            return Ok(Answer::Playlist(body));
        }
        let source = &found[0].1;
        self.publish_in(&request.media, source, &request.file_key, body)
            .await?;
        Ok(Answer::Redirect(request.file_key.clone()))
    }

    async fn dash_manifest(self: &Arc<Self>, request: &Request) -> Result<Answer, Failure> {
        let (found, complete) = self.plans(&request.media, "dash manifest").await?;
        if !complete {
            // A partial MPD is not served: HLS's partial master is an m3u8 answer.
            return Err(Failure::NoRenditions);
        }
        let base = &self.config.public_base_url;
        let base_url = format!(
            "{}/{}/",
            base.trim_end_matches('/'),
            encode_path(request.media.key())
        );
        let mut manifest = Manifest {
            duration_secs: found[0].2.info.stats.duration,
            base_url,
            video: Vec::new(),
            audio: Vec::new(),
        };
        for (index, _, plan) in &found {
            let info = &plan.info;
            let representation =
                |track: Track, codec: &str, timeline: &crate::tool::cmaf::Timeline| {
                    Representation {
                        id: format!("{}{index}", track.letter()),
                        bandwidth: info.stats.max_segment_bitrate.ceil() as u64,
                        codecs: codec.to_string(),
                        initialization: init_name(*index, track),
                        media: format!(
                            "segment$Number$_{index}_{}.{}",
                            track.letter(),
                            track.segment_extension()
                        ),
                        timescale: timeline.timescale,
                        segments: timeline.segments.clone(),
                        picture: None,
                        sampling_rate: None,
                    }
                };
            if let (Some(v), Some(timeline)) = (&info.video, plan.track(Track::Video)) {
                let mut rep = representation(Track::Video, &v.codec, timeline);
                rep.picture = Some((v.width, v.height, info.stats.frame_rate));
                manifest.video.push(rep);
            }
            if let (true, Some(a), Some(timeline)) = (
                manifest.audio.is_empty(),
                &info.audio,
                plan.track(Track::Audio),
            ) {
                let mut rep = representation(Track::Audio, &a.codec, timeline);
                rep.sampling_rate = Some(timeline.timescale);
                manifest.audio.push(rep);
            }
        }
        let body = mpd::manifest(&manifest);
        let mpd_key = format!("{}/{MPD_NAME}", request.media.key());
        let source = &found[0].1;
        self.publish_in(&request.media, source, &mpd_key, body)
            .await?;
        // The DASH dir links to it: `../` once per component of its own key.
        let depth = request.container.key().split('/').count();
        let target = format!("{}{mpd_key}", "../".repeat(depth));
        self.link(request.container.key(), &request.file_key, target)
            .await?;
        Ok(Answer::Redirect(request.file_key.clone()))
    }
}
