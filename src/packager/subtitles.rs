//! Sidecar WebVTT subtitles of a title: found beside its MP4 (`[subtitles] languages`),
//! checked, and published into the rendition's dir as a one-segment playlist and the
//! text with its `X-TIMESTAMP-MAP`. A missing or broken sidecar only leaves that
//! language out of the master (logged); it never fails the master.

use super::{Dest, Looked, Packager};
use crate::error::Failure;
use crate::playlist::{self, subtitles};
use crate::source::MediaRoot;
use crate::url::Rendition;
use std::io::Read;

impl Packager {
    /// The subtitles a master over `r` lists (`from_csmil`: URIs from the csmil dir).
    pub(super) async fn master_subtitles(
        &self,
        r: &Rendition,
        from_csmil: bool,
    ) -> Vec<subtitles::Subtitle> {
        let config = &self.config.subtitles;
        let mut found = Vec::new();
        for language in &config.languages {
            if self.sidecar(r, language, 0).await.is_err() {
                continue;
            }
            found.push(subtitles::Subtitle {
                language: language.clone(),
                uri: playlist::rendition_file_uri(
                    &self.config.public_base_url,
                    &r.key,
                    &r.name,
                    from_csmil,
                    &subtitles::playlist_name(language),
                ),
                default: *language == config.default_language,
            });
        }
        found
    }

    /// Publishes `subtitles_<language>.m3u8` (`text` false) or `.vtt` of `r`.
    pub(super) async fn subtitles_file(
        self: &std::sync::Arc<Self>,
        r: &Rendition,
        language: &str,
        text: bool,
        file_key: &str,
    ) -> Result<(), Failure> {
        if !self
            .config
            .subtitles
            .languages
            .iter()
            .any(|l| l == language)
        {
            return Err(Failure::NoSubtitles);
        }
        let Looked { source, there } = self.prepare(r, Some(file_key)).await?;
        if there {
            return Ok(());
        }
        let info = self
            .rendition_info(r, &source, None, crate::tool::TrackChoice::default())
            .await?;
        let mpegts = info.pts_zero.unwrap_or(subtitles::MPEGTS_AT_ZERO);
        let sidecar = self.sidecar(r, language, mpegts).await?;
        let body = if text {
            sidecar
        } else {
            subtitles::media_playlist(language, info.durations.iter().sum())
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

    /// The sidecar of `r` in `language`, ready to serve (on the blocking pool).
    async fn sidecar(&self, r: &Rendition, language: &str, mpegts: u64) -> Result<String, Failure> {
        let path = subtitles::sidecar_path(&r.source, language);
        self.disk
            .run(move |disk| read_sidecar(&disk.media, &path, mpegts))
            .await?
    }
}

/// Reads and checks a sidecar beneath the media root (local files only: a remote
/// prefix's sidecars are not looked for).
fn read_sidecar(media: &MediaRoot, path: &str, mpegts: u64) -> Result<String, Failure> {
    if media.remotes().is_some_and(|r| r.claims(path)) {
        return Err(Failure::NoSubtitles);
    }
    let source = match media.resolve(path) {
        Ok(source) => source,
        Err(crate::error::SourceError::NotFound(_)) => return Err(Failure::NoSubtitles),
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
    subtitles::prepare(&bytes, mpegts).map_err(|reason| {
        log::warn!("sidecar {path:?} left out: {reason}");
        Failure::NoSubtitles
    })
}
