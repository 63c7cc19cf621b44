//! CMAF HLS and DASH misses (JIT mode only): the CMAF files of a rendition are
//! made one per miss in its own cache dir under the CMAF prefix (`c/a/b.mp4`),
//! csmil dirs link to them as for TS, and the DASH MPD of a path is written into
//! the CMAF dir of that path and linked from the DASH dir, so both formats read one
//! set of files, and the MPD is evicted with what it describes.

use super::{abandonable, Answer, Dest, Packager};
use crate::entry;
use crate::error::{Failure, SourceError, ToolError, UrlError};
use crate::flight::Attempt;
use crate::mpd::{self, AudioSet, Manifest, Representation};
use crate::playlist::audio::{self, AudioRendition};
use crate::playlist::cmaf::{self as text, Audio};
use crate::playlist::iframes::IFrameStream;
use crate::playlist::Variant;
use crate::source::Source;
use crate::store::EntryKind;
use crate::tool::cmaf::{CmafFile, CmafPlan};
use crate::tool::Mode;
use crate::url::cmaf::{
    iframes_name, init_name, playlist_name, segment_name, Request, Resource, Track,
};
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
        let redirect = Answer::Redirect(request.file_key.clone());
        let file = match (&request.resource, request.rendition()) {
            (Resource::Master, _) => return self.cmaf_master(request).await,
            (Resource::Manifest, _) => return self.dash_manifest(request).await,
            (Resource::MediaPlaylist(track), Some(r)) => {
                self.cmaf_playlist(request, r, Some(*track)).await?;
                return Ok(redirect);
            }
            (Resource::IFramePlaylist, Some(r)) => {
                self.cmaf_playlist(request, r, None).await?;
                return Ok(redirect);
            }
            // A title's own files, as under the TS prefix (a csmil lists them so).
            (Resource::Subtitles { of, segment }, Some(r)) => match &request.media {
                Container::Single(_) => {
                    let source = self.prepare(r, None).await?.source;
                    let mpegts = cmaf_zero(&*self.cmaf_plan(&source, None).await?);
                    let at = (request.file_key.as_str(), Some(mpegts));
                    self.subtitles_file(r, (of, *segment), at, &request.query)
                        .await?;
                    return Ok(redirect);
                }
                Container::Csmil { .. } => return Err(Failure::Url(UrlError::UnknownResource)),
            },
            (Resource::SubtitleText(of), Some(r)) => match &request.media {
                Container::Single(_) => {
                    let source = self.prepare(r, None).await?.source;
                    let shift_ms = period_zero_ms(&*self.cmaf_plan(&source, None).await?);
                    let at = (request.file_key.as_str(), shift_ms);
                    self.subtitles_text(r, of, at, &request.query).await?;
                    return Ok(redirect);
                }
                Container::Csmil { .. } => return Err(Failure::Url(UrlError::UnknownResource)),
            },
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

    /// The `cbcs` key ID of the rendition N of `media`, when it is protected.
    fn kid_at(&self, media: &Container, index: usize) -> Option<[u8; 16]> {
        let r = media.renditions().get(index)?;
        Some(self.config.encryption.sample_keys_for(&r.source)?.kid)
    }

    /// The key URL of a protected title: its TS form's (`<url_prefix>/<path>/key…`),
    /// which answers the one key of the title, absolute so it holds from any dir.
    fn ts_key_uri(&self, r: &Rendition) -> String {
        format!(
            "{}/{}/{}/{}",
            self.config.public_base_url.trim_end_matches('/'),
            self.config.url_prefix.trim_matches('/'),
            encode_path(&r.source),
            crate::url::KEY_FILE
        )
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

    /// The CMAF plan of a source, remembered per source identity: the title's own
    /// (`audio` None), or the one whose audio timeline is of track `audio` (alternate
    /// audio; only for a track the title's own plan lists, else 404, no tool run).
    async fn cmaf_plan(
        &self,
        source: &Source,
        audio: Option<u32>,
    ) -> Result<Arc<CmafPlan>, Failure> {
        if let Some(id) = audio {
            let own = Box::pin(self.cmaf_plan(source, None)).await?;
            if !cmaf_audio_tracks(&own).iter().any(|t| t.id == id) {
                return Err(Failure::Url(UrlError::UnknownResource));
            }
        }
        let key = match audio {
            Some(id) => format!("{}\0a{id}", source.id.path),
            None => source.id.path.clone(),
        };
        let known = {
            let plans = self.cmaf_plans.lock().unwrap_or_else(|e| e.into_inner());
            plans
                .get(&key)
                .filter(|(id, _)| *id == source.id)
                .map(|(_, plan)| plan.clone())
        };
        if let Some(plan) = known {
            return Ok(plan);
        }
        // Remembered for the title's own plan: a track's never answers for the title.
        let own = audio.is_none();
        if let Some(failure) = self
            .failures
            .check(&source.id, Attempt::CmafPlan)
            .filter(|_| own)
        {
            return Err(failure);
        }
        let planned = self
            .tools
            .cmaf_plan(source.file.as_fd(), self.config.segment_duration, audio)
            .await
            .map_err(Failure::from);
        let plan = match planned {
            Ok(plan) => Arc::new(plan),
            Err(failure) => {
                if own {
                    self.failures
                        .remember(&source.id, Attempt::CmafPlan, &failure);
                }
                return Err(failure);
            }
        };
        let mut plans = self.cmaf_plans.lock().unwrap_or_else(|e| e.into_inner());
        if plans.len() >= super::MAX_KNOWN {
            plans.clear();
        }
        plans.insert(key, (source.id.clone(), plan.clone()));
        Ok(plan)
    }

    /// Makes sure the rendition's own CMAF file (N = 0) is in the cache.
    async fn cmaf_file(self: &Arc<Self>, r: &Rendition, file: CmafFile) -> Result<(), Failure> {
        let file_key = format!("{}/{}", r.key, file.name());
        let super::Looked { source, there, .. } = self.prepare(r, Some(&file_key)).await?;
        if there {
            return Ok(());
        }
        let (k, track) = match file {
            CmafFile::Init(track) => (0, track),
            CmafFile::Segment(k, track) => (k, track),
        };
        let attempt = Attempt::CmafFile { k, track };
        for earlier in [Attempt::CmafPlan, attempt] {
            if let Some(failure) = self.failures.check(&source.id, earlier) {
                return Err(failure);
            }
        }
        if let Some(id) = track.audio_track_id() {
            // Only the tracks the title's plan lists are packaged.
            self.cmaf_plan(&source, Some(id)).await?;
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
                    let cbcs = this.config.encryption.sample_keys_for(&r.source);
                    let path = this
                        .tools
                        .package_cmaf(
                            source.file.as_fd(),
                            this.config.segment_duration,
                            (file, cbcs),
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

    /// The media playlist of `track`, or (`None`) the video's I-frame playlist.
    async fn cmaf_playlist(
        self: &Arc<Self>,
        request: &Request,
        r: &Rendition,
        track: Option<Track>,
    ) -> Result<(), Failure> {
        let super::Looked { source, there, .. } = self.prepare(r, Some(&request.file_key)).await?;
        if there {
            return Ok(());
        }
        let (iframes, track) = (track.is_none(), track.unwrap_or(Track::Video));
        let plan = self.cmaf_plan(&source, track.audio_track_id()).await?;
        let timeline = plan
            .track(track)
            .ok_or(Failure::Url(UrlError::UnknownResource))?;
        let index = request.index;
        let (init, segment) = (init_name(index, track), |k| segment_name(k, index, track));
        let durations = timeline.durations();
        let encrypted = self.config.encryption.covers(&r.source);
        let body = if iframes {
            // An I-frame range of a protected segment would need its senc: none.
            (!encrypted)
                .then(|| text::iframes(&durations, &timeline.iframes, &init, segment))
                .flatten()
                .ok_or(Failure::NoIFrames)?
        } else if encrypted {
            let key_uri = self.ts_key_uri(r);
            text::with_sample_aes_key(&text::media(&durations, &init, segment), &key_uri)
        } else {
            text::media(&durations, &init, segment)
        };
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
            let plan = self.cmaf_plan(&source, None).await?;
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
        // CEA-608 in the video's SEI reaches the CMAF segments as it does the TS ones.
        let captions = self.captions_of(&found).await;
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
                closed_captions: None,
            });
            if audio.is_none() {
                audio = info.audio.as_ref().map(|a| Audio {
                    uri: playlist_name(*index, Track::Audio),
                    codec: a.codec.clone(),
                });
            }
        }
        let carried = crate::playlist::captions::apply(&mut variants, &captions);
        // Protected titles have no I-frame playlist (see `cmaf_playlist`).
        let renditions = request.media.renditions();
        let clear = |index: usize| {
            renditions
                .get(index)
                .is_some_and(|r| !self.config.encryption.covers(&r.source))
        };
        let mut iframe_streams = cmaf_iframe_streams(&found, clear);
        if let Some(ranges) = &request.query.bitrate {
            // As the TS master: against BANDWIDTH as written (rounded up); the audio
            // playlist stays, the I-frame streams of the variants left out go.
            let kept = |bandwidth: f64| {
                let bandwidth = bandwidth.max(0.0).ceil() as u64;
                ranges.iter().any(|range| range.holds(bandwidth))
            };
            let had_video = variants.iter().any(|v| v.resolution.is_some());
            let left_out: Vec<String> = variants
                .iter()
                .filter(|v| !kept(v.bandwidth))
                .map(|v| v.uri.replace("index_", "iframes_"))
                .collect();
            variants.retain(|v| kept(v.bandwidth));
            iframe_streams.retain(|s| !left_out.contains(&s.uri));
            if variants.is_empty() || (had_video && variants.iter().all(|v| v.resolution.is_none()))
            {
                return Err(Failure::NoVariantInRange);
            }
        }
        let body = match self.cmaf_alternate_audio(&found) {
            Some(renditions) => {
                // Each video variant once per audio group, its codecs the video's and
                // the group's; the audio renditions listed after the header.
                let grouped: Vec<Variant> = variants
                    .iter()
                    .filter(|v| v.resolution.is_some())
                    .flat_map(|v| {
                        audio::groups(&renditions)
                            .into_iter()
                            .map(move |(group, codec)| Variant {
                                codecs: [v.codecs.clone(), vec![codec]].concat(),
                                audio_group: Some(group),
                                ..v.clone()
                            })
                    })
                    .collect();
                audio::with_renditions(&text::master(&grouped, None), &renditions)
            }
            None => text::master(&variants, audio.as_ref()),
        };
        let mut body = crate::playlist::captions::with_renditions(&body, carried);
        body.push_str(&crate::playlist::iframes::stream_infs(&iframe_streams));
        // Subtitles: the first rendition's, as the TS master lists them, on CMAF's clock.
        if let Some((index, source, _)) = found.first() {
            if let Some(r) = request.media.renditions().get(*index) {
                let info = self
                    .rendition_info(r, source, None, crate::tool::TrackChoice::default())
                    .await?;
                let from_csmil = matches!(request.media, Container::Csmil { .. });
                let where_from = (&request.media, from_csmil);
                let remote = (source.remote.is_some(), &source.id);
                let subtitles = self
                    .master_subtitles(
                        r,
                        &info,
                        remote,
                        where_from,
                        (&request.query, crate::playlist::subtitles::playlist_name),
                    )
                    .await;
                body = crate::playlist::subtitles::with_group(&body, &subtitles);
            }
        }
        if !complete {
            let body = self.disk.for_players(&request.file_key, &body).into_owned();
            return Ok(Answer::Playlist(body));
        }
        let source = &found[0].1;
        self.publish_in(&request.media, source, &request.file_key, body)
            .await?;
        Ok(Answer::Redirect(request.file_key.clone()))
    }

    /// What each planned rendition's video carries of CEA-608 (None: not known),
    /// asked of the tools side by side.
    async fn captions_of(
        &self,
        found: &[(usize, Source, Arc<CmafPlan>)],
    ) -> Vec<Option<crate::tool::output::Cea608>> {
        futures::future::join_all(
            found.iter().map(|(_, source, plan)| {
                self.rendition_captions(source, plan.info.video.is_some())
            }),
        )
        .await
    }

    /// The audio renditions of a CMAF master over `found` whose group rendition (the
    /// first, or the highest bit rate, with video and several audio tracks) offers
    /// alternate audio: its tracks as `index_<N>_a<T>.m3u8`. `None`: one audio.
    fn cmaf_alternate_audio(
        &self,
        found: &[(usize, Source, Arc<CmafPlan>)],
    ) -> Option<Vec<AudioRendition>> {
        let (index, plan) = self.cmaf_group_rendition(found)?;
        let uri = |id: u32| playlist_name(index, Track::AudioTrack(id));
        let preferred = self.config.audio.preferred();
        Some(audio::renditions(&cmaf_audio_tracks(plan), preferred, uri))
    }

    /// The rendition (N, plan) whose audio tracks a CMAF master or MPD offers.
    fn cmaf_group_rendition<'a>(
        &self,
        found: &'a [(usize, Source, Arc<CmafPlan>)],
    ) -> Option<(usize, &'a CmafPlan)> {
        let candidates = found
            .iter()
            .filter(|(_, _, p)| p.info.video.is_some() && cmaf_audio_tracks(p).len() >= 2);
        let (index, _, plan) =
            super::audio::group_source(self.config.audio.group_from, candidates, |(_, _, p)| {
                p.info.stats.max_segment_bitrate
            })?;
        Some((*index, plan))
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
            audio_sets: self.dash_audio_sets(&found, &request.media).await?,
            captions: Default::default(),
            subtitles: self
                .dash_subtitles(&found, &request.media, &request.query)
                .await?,
        };
        let carried = self.captions_of(&found).await;
        for carried in carried.into_iter().map(Option::unwrap_or_default) {
            manifest.captions.field1 |= carried.field1;
            manifest.captions.field2 |= carried.field2;
        }
        for (index, _, plan) in &found {
            let info = &plan.info;
            let bandwidth = info.stats.max_segment_bitrate;
            let kid = self.kid_at(&request.media, *index);
            if let (Some(v), Some(timeline)) = (&info.video, plan.track(Track::Video)) {
                let mut rep =
                    representation(*index, Track::Video, &v.codec, bandwidth, (timeline, kid));
                rep.picture = Some((v.width, v.height, info.stats.frame_rate));
                manifest.video.push(rep);
            }
            let one_audio = manifest.audio.is_empty() && manifest.audio_sets.is_empty();
            if let (true, Some(a), Some(timeline)) =
                (one_audio, &info.audio, plan.track(Track::Audio))
            {
                let mut rep =
                    representation(*index, Track::Audio, &a.codec, bandwidth, (timeline, kid));
                rep.sampling_rate = Some(timeline.timescale);
                manifest.audio.push(rep);
            }
        }
        if let Some(ranges) = &request.query.bitrate {
            let had_video = !manifest.video.is_empty();
            manifest
                .video
                .retain(|rep| ranges.iter().any(|range| range.holds(rep.bandwidth)));
            if had_video && manifest.video.is_empty() {
                return Err(Failure::NoVariantInRange);
            }
        }
        let body = mpd::manifest(&manifest);
        // Beside the CMAF files, in the query's own dir (`~b…`) when it has one.
        let mpd_key = match request.query.tag() {
            Some(tag) => format!("{}/{tag}/{MPD_NAME}", request.media.key()),
            None => format!("{}/{MPD_NAME}", request.media.key()),
        };
        let source = &found[0].1;
        self.publish_in(&request.media, source, &mpd_key, body)
            .await?;
        // The DASH dir links to it: `../` once per component of the link's own dir.
        let depth = request.file_key.split('/').count() - 1;
        let target = format!("{}{mpd_key}", "../".repeat(depth));
        self.link(request.container.key(), &request.file_key, target)
            .await?;
        Ok(Answer::Redirect(request.file_key.clone()))
    }

    /// The subtitles of an MPD: those a CMAF master lists, each named as its whole
    /// WebVTT on the period's timeline; the default first, as players that ignore
    /// `Role` main (dash.js) take the first.
    async fn dash_subtitles(
        self: &Arc<Self>,
        found: &[(usize, Source, Arc<CmafPlan>)],
        media: &Container,
        query: &crate::url::query::Query,
    ) -> Result<Vec<mpd::TextSet>, Failure> {
        let Some((index, source, _)) = found.first() else {
            return Ok(Vec::new());
        };
        let Some(r) = media.renditions().get(*index) else {
            return Ok(Vec::new());
        };
        let info = self
            .rendition_info(r, source, None, crate::tool::TrackChoice::default())
            .await?;
        let from_csmil = matches!(media, Container::Csmil { .. });
        let named = (
            query,
            crate::playlist::subtitles::whole_name as fn(&str) -> String,
        );
        let mut listed = self
            .master_subtitles(
                r,
                &info,
                (source.remote.is_some(), &source.id),
                (media, from_csmil),
                named,
            )
            .await;
        listed.sort_by_key(|s| !s.default);
        Ok(listed
            .into_iter()
            .map(|s| mpd::TextSet {
                language: s.language,
                label: s.name,
                default: s.default,
                forced: s.forced,
                url: s.uri,
            })
            .collect())
    }

    /// Alternate audio in an MPD: each audio track of the group rendition as its own
    /// AdaptationSet (`lang`, `Label`, `Role` main for each group's default), on the
    /// timeline of a plan made for that track. Empty: one audio AdaptationSet.
    async fn dash_audio_sets(
        &self,
        found: &[(usize, Source, Arc<CmafPlan>)],
        media: &Container,
    ) -> Result<Vec<AudioSet>, Failure> {
        let Some((index, plan)) = self.cmaf_group_rendition(found) else {
            return Ok(Vec::new());
        };
        let Some((_, source, _)) = found.iter().find(|(i, _, _)| *i == index) else {
            return Ok(Vec::new());
        };
        let tracks = cmaf_audio_tracks(plan);
        let named = audio::renditions(&tracks, self.config.audio.preferred(), |_| String::new());
        let mut sets = Vec::with_capacity(tracks.len());
        for (track, rendition) in tracks.iter().zip(named) {
            let own = self.cmaf_plan(source, Some(track.id)).await?;
            let kind = Track::AudioTrack(track.id);
            let Some(timeline) = own.track(kind) else {
                continue;
            };
            let bandwidth = own.info.stats.max_segment_bitrate;
            let kid = self.kid_at(media, index);
            let mut rep = representation(index, kind, &track.codec, bandwidth, (timeline, kid));
            rep.sampling_rate = Some(timeline.timescale);
            sets.push(AudioSet {
                language: rendition.language,
                label: rendition.name,
                main: rendition.default,
                representation: rep,
            });
        }
        Ok(sets)
    }
}

/// The audio tracks a plan lists that the CMAF writer can write (`mp4a`: AAC, MP3;
/// `ac-3`, `ec-3`): the alternate audio of CMAF HLS and DASH.
fn cmaf_audio_tracks(plan: &CmafPlan) -> Vec<crate::tool::output::AudioTrack> {
    plan.info
        .audio_tracks
        .iter()
        .filter(|t| t.codec.starts_with("mp4a.") || t.codec == "ac-3" || t.codec == "ec-3")
        .cloned()
        .collect()
}

/// The Representation of rendition `index`'s `track` in an MPD: ids `v0`, `a0`, and
/// `a<T>_<N>` for alternate audio track T.
fn representation(
    index: usize,
    track: Track,
    codec: &str,
    bandwidth: f64,
    (timeline, kid): (&crate::tool::cmaf::Timeline, Option<[u8; 16]>),
) -> Representation {
    let tag = track.tag();
    Representation {
        id: match track {
            Track::AudioTrack(_) => format!("{tag}_{index}"),
            _ => format!("{tag}{index}"),
        },
        bandwidth: bandwidth.ceil() as u64,
        codecs: codec.to_string(),
        initialization: init_name(index, track),
        media: format!(
            "segment$Number$_{index}_{tag}.{}",
            track.segment_extension()
        ),
        timescale: timeline.timescale,
        segments: timeline.segments.clone(),
        picture: None,
        sampling_rate: None,
        kid,
    }
}

/// The I-frame stream of each rendition whose video plan lists an I-frame range for
/// every segment, by bandwidth as the variants are.
fn cmaf_iframe_streams(
    found: &[(usize, Source, Arc<CmafPlan>)],
    clear: impl Fn(usize) -> bool,
) -> Vec<IFrameStream> {
    let mut streams: Vec<IFrameStream> = found
        .iter()
        .filter(|(index, _, _)| clear(*index))
        .filter_map(|(index, _, plan)| {
            let video = plan.info.video.as_ref()?;
            let timeline = plan.track(Track::Video)?;
            let durations = timeline.durations();
            if !text::has_iframes(&durations, &timeline.iframes) {
                return None;
            }
            let (bandwidth, average_bandwidth) =
                text::iframe_bitrates(&durations, &timeline.iframes);
            Some(IFrameStream {
                uri: iframes_name(*index),
                bandwidth,
                average_bandwidth,
                codec: video.codec.clone(),
                resolution: (video.width > 0 && video.height > 0)
                    .then_some((video.width, video.height)),
            })
        })
        .collect();
    streams.sort_by(|a, b| a.bandwidth.total_cmp(&b.bandwidth));
    streams
}

/// Where the title's time 0 (its first presented frame) lies in an MPD's period, in
/// milliseconds: the video's (else the audio's) presentation start after the first
/// segment's start, which each Representation's `presentationTimeOffset` makes the
/// period's start. What a whole WebVTT's cues are moved by.
fn period_zero_ms(plan: &CmafPlan) -> u64 {
    plan.track(Track::Video)
        .or_else(|| plan.track(Track::Audio))
        .and_then(|t| {
            let first = t.segments.first()?.0;
            let start = t.presentation_start.unwrap_or(first);
            let ticks = u128::from(start.saturating_sub(first));
            u64::try_from(ticks * 1000 / u128::from(t.timescale.max(1))).ok()
        })
        .unwrap_or(0)
}

/// Where playlist time 0 lies on the CMAF segments' clock, in 90 kHz ticks (what a
/// WebVTT `X-TIMESTAMP-MAP` names): when the video's first frame is presented (the
/// plan's `presentation_start`, else its first `tfdt`), else the audio's.
fn cmaf_zero(plan: &CmafPlan) -> u64 {
    plan.track(Track::Video)
        .or_else(|| plan.track(Track::Audio))
        .and_then(|t| {
            let start = t.presentation_start.or(t.segments.first().map(|s| s.0))?;
            Some(u128::from(start) * 90_000 / u128::from(t.timescale.max(1)))
        })
        .map_or(0, |ticks| u64::try_from(ticks).unwrap_or(u64::MAX))
}
