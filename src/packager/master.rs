//! Master playlists: one variant per rendition that exists, sorted by bandwidth;
//! complete ones are published, incomplete ones answered but not cached.

use super::{Answer, Dest, Packager};
use crate::error::{Failure, SourceError};
use crate::playlist::{self, Variant};
use crate::tool::output::ShowInfo;
use crate::url::{Container, Rendition};
use std::sync::Arc;

impl Packager {
    /// Single or csmil master over the renditions that exist.
    pub(super) async fn master(
        self: &Arc<Self>,
        container: &Container,
        file_key: &str,
    ) -> Result<Answer, Failure> {
        let (renditions, from_csmil) = match container {
            Container::Single(r) => (vec![r.clone()], false),
            Container::Csmil { renditions, .. } => (renditions.clone(), true),
        };
        let results = futures::future::join_all(renditions.iter().map(|r| async move {
            let source = self.prepare(r, None).await?.source;
            let info = self.rendition_info(r, &source).await?;
            Ok::<_, Failure>((source, info))
        }))
        .await;
        let mut variants = Vec::new();
        let mut first_failure = None;
        let mut single_source = None;
        for (r, result) in renditions.iter().zip(results) {
            match result {
                Ok((source, info)) => {
                    variants.push(variant(
                        &self.config.public_base_url,
                        r,
                        &info.info,
                        from_csmil,
                    ));
                    single_source = Some(source);
                }
                Err(failure) => {
                    log::warn!("master {file_key}: rendition {} left out: {failure}", r.key);
                    // A single master answers its one rendition's failure as is.
                    if !from_csmil || !matches!(failure, Failure::Source(SourceError::NotFound(_)))
                    {
                        first_failure.get_or_insert(failure);
                    }
                }
            }
        }
        if variants.is_empty() {
            return Err(first_failure.unwrap_or(Failure::NoRenditions));
        }
        let text = playlist::master(&variants);
        if variants.len() < renditions.len() {
            return Ok(Answer::Playlist(text));
        }
        let _guard = self.cache.begin_fill(container.key());
        let dest = match (container, single_source) {
            (Container::Single(r), Some(source)) => Dest::Rendition {
                key: r.key.clone(),
                source: source.id,
            },
            _ => Dest::Master {
                key: container.key().to_string(),
            },
        };
        let added = self.publish_text(dest, file_key, text).await?;
        if added > 0 {
            self.filled("master", added);
        }
        Ok(Answer::Redirect(file_key.to_string()))
    }
}

fn variant(base: &str, r: &Rendition, info: &ShowInfo, from_csmil: bool) -> Variant {
    let mut codecs = Vec::new();
    if let Some(v) = &info.video {
        codecs.push(v.codec.clone());
    }
    if let Some(a) = &info.audio {
        codecs.push(a.codec.clone());
    }
    let video = info.video.as_ref();
    Variant {
        uri: playlist::variant_uri(base, &r.key, &r.name, from_csmil),
        bandwidth: info.stats.max_segment_bitrate,
        average_bandwidth: info.stats.avg_segment_bitrate,
        codecs,
        resolution: video
            .filter(|v| v.width > 0 && v.height > 0)
            .map(|v| (v.width, v.height)),
        frame_rate: video.map(|_| info.stats.frame_rate),
    }
}
