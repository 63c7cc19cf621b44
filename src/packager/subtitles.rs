//! Sidecar subtitles of a title (WebVTT; SubRip and DFXP/TTML served as WebVTT): found beside its
//! MP4 (`[subtitles] languages`; a csmil's also by its MSOD identifier; the request's
//! `subtitle_*` query overrides naming and dir), checked, and published into the
//! rendition's dir as a segmented playlist and WebVTT segments with their
//! `X-TIMESTAMP-MAP`. A missing or broken sidecar only leaves that language out of the
//! master (logged); it never fails the master.

use super::{Dest, Looked, Packager, RenditionInfo};
use crate::entry::sidecars::{self, Identity, Tried};
use crate::error::Failure;
use crate::playlist::{self, subtitles};
use crate::source::{MediaRoot, Source};
use crate::store::{EntryKind, SourceId};
use crate::url::query::sidecar::{SidecarExt, SidecarQuery};
use crate::url::query::Query;
use crate::url::{Container, Rendition, SubtitleSource};
use std::io::Read;
use std::os::fd::AsFd;

impl Packager {
    /// The subtitles a master of `container` lists, `r` being its first rendition
    /// (`from_csmil`: URIs from the csmil dir): its sidecars in the configured
    /// languages, then the MP4's own timed text tracks (`info`, its plan; local sources
    /// only, like sidecars). Each URI names `file_name(stem)` (a playlist, or an MPD's
    /// whole WebVTT); a sidecar's carries the overrides it was found with, and every
    /// URI a clipped master's clip (its playlist lists the clip's segments).
    pub(super) async fn master_subtitles(
        &self,
        r: &Rendition,
        info: &RenditionInfo,
        (remote, source): (bool, &SourceId),
        (container, from_csmil): (&Container, bool),
        (query, file_name): (&Query, fn(&str) -> String),
    ) -> Vec<subtitles::Subtitle> {
        let (overrides, clip) = (&query.sidecar, query.clip_query());
        let config = &self.config.subtitles;
        let uri = |of: &SubtitleSource, sidecar_query: String| {
            let path = playlist::rendition_file_uri(
                &self.config.public_base_url,
                &r.key,
                &r.name,
                from_csmil,
                &file_name(&of.stem()),
            );
            let parts: Vec<&str> = [clip.as_str(), sidecar_query.as_str()]
                .into_iter()
                .filter(|p| !p.is_empty())
                .collect();
            match parts.as_slice() {
                [] => path,
                parts => format!("{path}?{}", parts.join("&")),
            }
        };
        // MSOD names a csmil's sidecars after its common prefix; the first rendition's
        // own name, casterpak's naming before, is still looked for after it.
        let (_, title) = subtitles::title_dir_and_name(&r.source);
        let identifiers: Vec<Option<&str>> = match container.csmil_identifier() {
            _ if overrides.identifier.is_some() => vec![None],
            Some(csmil) if csmil != title => vec![Some(csmil), None],
            _ => vec![None],
        };
        let mut found = Vec::new();
        for language in &config.languages {
            for identifier in &identifiers {
                let mut naming = overrides.clone();
                if let Some(identifier) = identifier {
                    naming.identifier = Some(identifier.to_string());
                }
                if self
                    .sidecar(r, source, language, (0, &naming))
                    .await
                    .is_err()
                {
                    continue;
                }
                let of = SubtitleSource::Sidecar(language.clone());
                found.push(subtitles::subtitle(language, "", uri(&of, naming.text())));
                break;
            }
        }
        if !remote {
            for track in &info.info.text_tracks {
                let of = SubtitleSource::Track(track.id);
                let language = crate::playlist::audio::bcp47(&track.language);
                found.push(subtitles::subtitle(
                    &language,
                    &track.name,
                    uri(&of, String::new()),
                ));
            }
        }
        subtitles::group(found, &config.default_language, &config.forced_languages)
    }

    /// Publishes `subtitles_<stem>.m3u8` (`segment` None) or its WebVTT segment K of
    /// `r`: a sidecar's cues (found with the request's `overrides`), or a timed text
    /// track's (from the tool). `mpegts`: where playlist time 0 lies on the segments'
    /// clock when it is not the TS plan's (CMAF's timeline).
    pub(super) async fn subtitles_file(
        self: &std::sync::Arc<Self>,
        r: &Rendition,
        (of, segment): (&SubtitleSource, Option<u64>),
        (file_key, mpegts): (&str, Option<u64>),
        query: &Query,
    ) -> Result<(), Failure> {
        let overrides = &query.sidecar;
        let Some((source, info)) = self.subtitle_inputs(r, of, file_key).await? else {
            return Ok(());
        };
        let mpegts = mpegts.unwrap_or(info.pts_zero.unwrap_or(subtitles::MPEGTS_AT_ZERO));
        // The cues must be servable for the playlist to be made, too.
        let prepared = self
            .prepared_cues(r, (&info, &source), of, mpegts, overrides)
            .await?;
        let body = match segment {
            None => {
                // A clip's window, cut where its video playlist is cut.
                let window = query
                    .clip
                    .map(|clip| {
                        playlist::clip::window_at_keyframes(&info.durations, &info.keyframes, &clip)
                    })
                    .transpose()
                    .map_err(|e| Failure::Url(crate::error::UrlError::BadQuery(e)))?;
                let stem = of.stem();
                subtitles::media_playlist(
                    &stem,
                    &info.durations,
                    window.as_ref(),
                    &overrides.text(),
                )
            }
            Some(k) => usize::try_from(k)
                .ok()
                .and_then(|k| subtitles::segment(&prepared, &info.durations, k))
                .ok_or(Failure::SegmentOutOfRange(k))?,
        };
        let dest = Dest::Rendition {
            key: r.key.clone(),
            source: source.id.clone(),
        };
        let added = self.publish_text(dest, file_key, body).await?;
        if added > 0 {
            self.filled("subtitles", added);
        }
        Ok(())
    }

    /// Publishes `subtitles_<stem>.vtt` of `r`: its whole WebVTT, cues moved by
    /// `shift_ms` onto the timeline of the MPD that names it.
    pub(super) async fn subtitles_text(
        self: &std::sync::Arc<Self>,
        r: &Rendition,
        of: &SubtitleSource,
        (file_key, shift_ms): (&str, u64),
        query: &Query,
    ) -> Result<(), Failure> {
        let Some((source, info)) = self.subtitle_inputs(r, of, file_key).await? else {
            return Ok(());
        };
        let prepared = self
            .prepared_cues(r, (&info, &source), of, 0, &query.sidecar)
            .await?;
        let dest = Dest::Rendition {
            key: r.key.clone(),
            source: source.id.clone(),
        };
        let body = subtitles::whole_text(&prepared, shift_ms);
        let added = self.publish_text(dest, file_key, body).await?;
        if added > 0 {
            self.filled("subtitles", added);
        }
        Ok(())
    }

    /// The source and plan a subtitle file of `r` is made from; `None` when the file
    /// is in the cache already. A sidecar's language must be one the config offers.
    async fn subtitle_inputs(
        self: &std::sync::Arc<Self>,
        r: &Rendition,
        of: &SubtitleSource,
        file_key: &str,
    ) -> Result<Option<(Source, std::sync::Arc<RenditionInfo>)>, Failure> {
        if let SubtitleSource::Sidecar(language) = of {
            if !self.config.subtitles.languages.contains(language) {
                return Err(Failure::NoSubtitles);
            }
        }
        let Looked { source, there, .. } = self.prepare(r, Some(file_key)).await?;
        if there {
            return Ok(None);
        }
        let info = self
            .rendition_info(r, &source, None, crate::tool::TrackChoice::default())
            .await?;
        Ok(Some((source, info)))
    }

    /// The cues of a sidecar or timed text track, prepared ([`subtitles::prepare`])
    /// with `mpegts` as the PTS of time 0; a broken text is logged and not served.
    async fn prepared_cues(
        &self,
        r: &Rendition,
        (info, source): (&RenditionInfo, &Source),
        of: &SubtitleSource,
        mpegts: u64,
        overrides: &SidecarQuery,
    ) -> Result<String, Failure> {
        match of {
            SubtitleSource::Sidecar(language) => {
                self.sidecar(r, &source.id, language, (mpegts, overrides))
                    .await
            }
            SubtitleSource::Track(id) => {
                let webvtt = self.track_text(info, source, *id).await?;
                subtitles::prepare(webvtt.as_bytes(), mpegts).map_err(|reason| {
                    log::warn!("timed text track {id} of {} left out: {reason}", r.key);
                    Failure::NoSubtitles
                })
            }
        }
    }

    /// The WebVTT of a timed text track the plan lists, from the tool (local sources).
    async fn track_text(
        &self,
        info: &RenditionInfo,
        source: &Source,
        id: u32,
    ) -> Result<String, Failure> {
        let listed = info.info.text_tracks.iter().any(|t| t.id == id);
        if !listed || source.remote.is_some() {
            return Err(Failure::NoSubtitles);
        }
        self.tools
            .webvtt(source.file.as_fd(), id)
            .await
            .map_err(Failure::Tool)
    }

    /// The sidecar of `r` in `language`, ready to serve (on the blocking pool): the
    /// first of WebVTT, SubRip, DFXP, TTML there is (or the one format `overrides`
    /// names), converted to WebVTT, named by the config unless `overrides` say otherwise.
    /// Every path tried is recorded in the rendition (packaged from `source`), so
    /// freshness notices when one changes.
    async fn sidecar(
        &self,
        r: &Rendition,
        source: &SourceId,
        language: &str,
        (mpegts, overrides): (u64, &SidecarQuery),
    ) -> Result<String, Failure> {
        let (title_dir, title) = subtitles::title_dir_and_name(&r.source);
        let (pattern, ext) = overrides
            .pattern
            .unwrap_or((self.config.subtitles.file_pattern, None));
        let naming = subtitles::SidecarNaming {
            dir: overrides.location.as_deref().unwrap_or(title_dir),
            identifier: overrides.identifier.as_deref().unwrap_or(title),
            pattern,
        };
        let exts = match ext {
            Some(ext) => vec![ext],
            None => SidecarExt::SEARCHED.to_vec(),
        };
        let candidates: Vec<(String, SidecarExt)> = exts
            .into_iter()
            .map(|ext| {
                (
                    subtitles::sidecar_path(&naming, language, ext.as_str()),
                    ext,
                )
            })
            .collect();
        let (key, source) = (r.key.clone(), source.clone());
        self.disk
            .run(move |disk| {
                let mut read = None;
                let mut looked = Vec::new();
                for (path, ext) in candidates {
                    // A remote sidecar's path is not recorded: freshness stats local
                    // files only (a remote one is read again on every use anyway).
                    let local = !disk.media.remotes().is_some_and(|r| r.claims(&path));
                    match read_sidecar(&disk.media, &path)? {
                        Some((bytes, identity)) => {
                            if let (true, Some(identity)) = (local, identity) {
                                looked.push(Tried {
                                    path: path.clone(),
                                    found: Some(identity),
                                });
                            }
                            read = Some((path, bytes, ext));
                            break;
                        }
                        None if local => looked.push(Tried { path, found: None }),
                        None => {}
                    }
                }
                match sidecars::record(&disk.cache, &key, &source, &looked) {
                    Ok(0) => {}
                    Ok(added) => disk.record(&key, EntryKind::Rendition, Some(&source), added),
                    // Unrecorded, a change to it goes unnoticed until the next lookup.
                    Err(e) => log::warn!("recording the sidecars of {key}: {e}"),
                }
                let Some((path, bytes, format)) = read else {
                    return Err(Failure::NoSubtitles);
                };
                subtitles::prepare_sidecar(format, &bytes, mpegts).map_err(|reason| {
                    log::warn!("sidecar {path:?} left out: {reason}");
                    Failure::NoSubtitles
                })
            })
            .await?
    }
}

/// A sidecar's bytes, and its (size, mtime) when it is a local file.
type SidecarRead = (Vec<u8>, Option<Identity>);

/// Reads a sidecar beneath the media root, at most one byte past the size served
/// (`None`: there is none). A remote prefix's is fetched whole from its upstream.
fn read_sidecar(media: &MediaRoot, path: &str) -> Result<Option<SidecarRead>, Failure> {
    let max = subtitles::MAX_SIDECAR_BYTES as u64;
    if let Some(fetched) = media.remotes().and_then(|r| r.small_object(path, max)) {
        return Ok(fetched?.map(|bytes| (bytes, None)));
    }
    let source = match media.resolve(path) {
        Ok(source) => source,
        Err(crate::error::SourceError::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let file = source
        .file
        .try_clone()
        .map_err(|e| Failure::Internal(format!("dup of a sidecar: {e}")))?;
    let mut bytes = Vec::new();
    std::fs::File::from(file)
        .take(subtitles::MAX_SIDECAR_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| {
            Failure::Source(crate::error::SourceError::Io(crate::error::IoCause::of(&e)))
        })?;
    Ok(Some((bytes, Some((source.id.size, source.id.mtime_ns)))))
}
