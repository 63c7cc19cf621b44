//! Sidecar subtitles of a title (WebVTT, or SubRip served as WebVTT): found beside its
//! MP4 (`[subtitles] languages`),
//! checked, and published into the rendition's dir as a one-segment playlist and the
//! text with its `X-TIMESTAMP-MAP`. A missing or broken sidecar only leaves that
//! language out of the master (logged); it never fails the master.

use super::{Dest, Looked, Packager, RenditionInfo};
use crate::error::Failure;
use crate::playlist::{self, subtitles};
use crate::source::{MediaRoot, Source};
use crate::url::{Rendition, SubtitleSource};
use std::io::Read;
use std::os::fd::AsFd;

impl Packager {
    /// The subtitles a master over `r` lists (`from_csmil`: URIs from the csmil dir):
    /// its sidecars in the configured languages, then the MP4's own timed text tracks
    /// (`info`, its plan; local sources only, like sidecars).
    pub(super) async fn master_subtitles(
        &self,
        r: &Rendition,
        info: &RenditionInfo,
        remote: bool,
        from_csmil: bool,
    ) -> Vec<subtitles::Subtitle> {
        let config = &self.config.subtitles;
        let uri = |of: &SubtitleSource| {
            playlist::rendition_file_uri(
                &self.config.public_base_url,
                &r.key,
                &r.name,
                from_csmil,
                &subtitles::playlist_name(&of.stem()),
            )
        };
        let mut found = Vec::new();
        for language in &config.languages {
            if self.sidecar(r, language, 0).await.is_err() {
                continue;
            }
            let of = SubtitleSource::Sidecar(language.clone());
            found.push(subtitles::subtitle(language, "", uri(&of)));
        }
        if !remote {
            for track in &info.info.text_tracks {
                let of = SubtitleSource::Track(track.id);
                let language = crate::playlist::audio::bcp47(&track.language);
                found.push(subtitles::subtitle(&language, &track.name, uri(&of)));
            }
        }
        subtitles::group(found, &config.default_language, &config.forced_languages)
    }

    /// Publishes `subtitles_<stem>.m3u8` (`segment` None) or its WebVTT segment K of
    /// `r`: a sidecar's cues, or a timed text track's (from the tool).
    pub(super) async fn subtitles_file(
        self: &std::sync::Arc<Self>,
        r: &Rendition,
        of: &SubtitleSource,
        segment: Option<u64>,
        file_key: &str,
    ) -> Result<(), Failure> {
        if let SubtitleSource::Sidecar(language) = of {
            if !self.config.subtitles.languages.contains(language) {
                return Err(Failure::NoSubtitles);
            }
        }
        let Looked { source, there } = self.prepare(r, Some(file_key)).await?;
        if there {
            return Ok(());
        }
        let info = self
            .rendition_info(r, &source, None, crate::tool::TrackChoice::default())
            .await?;
        let mpegts = info.pts_zero.unwrap_or(subtitles::MPEGTS_AT_ZERO);
        // The cues must be servable for the playlist to be made, too.
        let prepared = match of {
            SubtitleSource::Sidecar(language) => self.sidecar(r, language, mpegts).await?,
            SubtitleSource::Track(id) => {
                let webvtt = self.track_text(&info, &source, *id).await?;
                subtitles::prepare(webvtt.as_bytes(), mpegts).map_err(|reason| {
                    log::warn!("timed text track {id} of {} left out: {reason}", r.key);
                    Failure::NoSubtitles
                })?
            }
        };
        let body = match segment {
            None => subtitles::media_playlist(&of.stem(), &info.durations),
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
    /// WebVTT one, else the SubRip one converted.
    async fn sidecar(&self, r: &Rendition, language: &str, mpegts: u64) -> Result<String, Failure> {
        let pattern = self.config.subtitles.file_pattern;
        let vtt = subtitles::sidecar_path(&r.source, language, pattern, "vtt");
        let srt = subtitles::sidecar_path(&r.source, language, pattern, "srt");
        self.disk
            .run(move |disk| {
                let (path, bytes, subrip) = match read_sidecar(&disk.media, &vtt)? {
                    Some(bytes) => (vtt, bytes, false),
                    None => match read_sidecar(&disk.media, &srt)? {
                        Some(bytes) => (srt, bytes, true),
                        None => return Err(Failure::NoSubtitles),
                    },
                };
                let prepared = if subrip {
                    subtitles::prepare_srt(&bytes, mpegts)
                } else {
                    subtitles::prepare(&bytes, mpegts)
                };
                prepared.map_err(|reason| {
                    log::warn!("sidecar {path:?} left out: {reason}");
                    Failure::NoSubtitles
                })
            })
            .await?
    }
}

/// Reads a sidecar beneath the media root, at most one byte past the size served
/// (`None`: there is none; local files only, a remote prefix's are not looked for).
fn read_sidecar(media: &MediaRoot, path: &str) -> Result<Option<Vec<u8>>, Failure> {
    if media.remotes().is_some_and(|r| r.claims(path)) {
        return Ok(None);
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
    Ok(Some(bytes))
}
