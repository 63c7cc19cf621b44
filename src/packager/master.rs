//! Master playlists: one variant per rendition that exists, sorted by bandwidth;
//! complete ones are published, incomplete ones answered but not cached.

use super::{Answer, Dest, Packager};
use crate::error::{Failure, SourceError, UrlError};
use crate::playlist::audio;
use crate::playlist::iframes::IFrameStream;
use crate::playlist::{self, Variant};
use crate::store::SourceId;
use crate::tool::output::Cea608;
use crate::tool::output::ShowInfo;
use crate::tool::TrackChoice;
use crate::url::query::{Query, QueryError};
use crate::url::{Container, Rendition};
use std::sync::Arc;

impl Packager {
    /// Single or csmil master over the renditions that exist; with a query, its
    /// variants filtered by `b=` (none left: 404) and their URIs carrying the clip
    /// and `sd=`.
    pub(super) async fn master(
        self: &Arc<Self>,
        container: &Container,
        file_key: &str,
        query: &Query,
    ) -> Result<Answer, Failure> {
        let (renditions, from_csmil) = match container {
            Container::Single(r) => (vec![r.clone()], false),
            Container::Csmil { renditions, .. } => (renditions.clone(), true),
        };
        let results = futures::future::join_all(renditions.iter().map(|r| async move {
            let source = self.prepare(r, None).await?.source;
            let info = self
                .rendition_info_asking(r, &source, (query.segment_ms, TrackChoice::default()), true)
                .await?;
            Ok::<_, Failure>((source, info))
        }))
        .await;
        let mut variants = Vec::new();
        // (the URI of the variant it belongs to, its I-frame stream)
        let mut iframe_streams: Vec<(String, IFrameStream)> = Vec::new();
        let mut first_failure = None;
        let mut single_source = None;
        let mut longest = 0.0f64;
        // Sidecar subtitles are looked for beside the first rendition that exists.
        type Subtitled<'a> = (&'a Rendition, Arc<super::RenditionInfo>, (bool, SourceId));
        let mut subtitled: Option<Subtitled> = None;
        let variant_query = query.variant_query();
        let alternate = self.alternate_audio(&renditions, &results, from_csmil, query);
        let audio_only = self
            .audio_only_variant(
                &renditions,
                &results,
                from_csmil,
                query,
                alternate.as_deref(),
            )
            .await;
        // What each rendition's video carries of CEA-608 captions (None: not known),
        // asked of the tools side by side as the plans were.
        let carried_by_rendition =
            futures::future::join_all(results.iter().map(|result| async move {
                match result {
                    Ok((_, info)) if info.cea608.is_some() => info.cea608,
                    Ok((source, info)) => {
                        self.rendition_captions(source, info.info.video.is_some())
                            .await
                    }
                    Err(_) => None,
                }
            }))
            .await;
        // ... and each variant's.
        let mut captions: Vec<Option<Cea608>> = Vec::new();
        let mut planned = 0;
        for ((r, result), carried) in renditions.iter().zip(results).zip(carried_by_rendition) {
            match result {
                Ok((source, info)) => {
                    planned += 1;
                    longest = longest.max(info.durations.iter().sum());
                    let base = &self.config.public_base_url;
                    let mut v = variant(base, r, &info.info, from_csmil);
                    if let (Some(audio), Some(video)) = (&alternate, &info.info.video) {
                        // The video alone, once per audio group it plays with.
                        v.uri = playlist::rendition_file_uri(
                            base,
                            &r.key,
                            &r.name,
                            from_csmil,
                            "index_0_v.m3u8",
                        );
                        if !variant_query.is_empty() {
                            v.uri = format!("{}?{variant_query}", v.uri);
                        }
                        for (group, codec) in audio::groups(audio) {
                            variants.push(Variant {
                                codecs: vec![video.codec.clone(), codec],
                                audio_group: Some(group),
                                ..v.clone()
                            });
                            captions.push(carried);
                        }
                        // A clip's I-frames would need its trimmed ends' layouts.
                        let iframes = query
                            .clip
                            .is_none()
                            .then(|| iframe_stream(base, r, &info.info, from_csmil));
                        if let Some(stream) = iframes.flatten() {
                            iframe_streams.push((v.uri.clone(), stream));
                        }
                        subtitled.get_or_insert((
                            r,
                            info.clone(),
                            (source.remote.is_some(), source.id.clone()),
                        ));
                        single_source = Some(source);
                        continue;
                    }
                    // A clip's I-frames would need its trimmed ends' layouts.
                    let iframes = if query.clip.is_none() && !info.iframes.is_empty() {
                        iframe_stream(base, r, &info.info, from_csmil)
                    } else {
                        None
                    };
                    if !variant_query.is_empty() {
                        v.uri = format!("{}?{variant_query}", v.uri);
                    }
                    if let Some(mut stream) = iframes {
                        if !variant_query.is_empty() {
                            stream.uri = format!("{}?{variant_query}", stream.uri);
                        }
                        iframe_streams.push((v.uri.clone(), stream));
                    }
                    variants.push(v);
                    captions.push(carried);
                    subtitled.get_or_insert((
                        r,
                        info.clone(),
                        (source.remote.is_some(), source.id.clone()),
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
        if let Some(v) = audio_only {
            variants.push(v);
            captions.push(Some(Cea608::default()));
        }
        let carried = crate::playlist::captions::apply(&mut variants, &captions);
        if query.clip.is_some_and(|clip| clip.start() >= longest) {
            return Err(Failure::Url(UrlError::BadQuery(QueryError::StartBeyondEnd)));
        }
        // Every rendition planned (variants may be more: audio groups, audio-only).
        let complete = planned == renditions.len();
        if let Some(ranges) = &query.bitrate {
            // Against BANDWIDTH as the master writes it (rounded up).
            variants.retain(|v| {
                let bandwidth = v.bandwidth.max(0.0).ceil() as u64;
                ranges.iter().any(|range| range.holds(bandwidth))
            });
            if variants.is_empty() {
                return Err(Failure::NoVariantInRange);
            }
        }
        // I-frame streams of the variants kept, in the variants' order.
        let mut kept: Vec<IFrameStream> = Vec::new();
        for v in playlist::sorted_by_bandwidth(&variants) {
            if let Some((_, stream)) = iframe_streams.iter().find(|(uri, _)| *uri == v.uri) {
                // A video plays with each audio group: its I-frames are listed once.
                if !kept.contains(stream) {
                    kept.push(stream.clone());
                }
            }
        }
        let mut text = playlist::master(&variants);
        if let Some(audio) = &alternate {
            text = audio::with_renditions(&text, audio);
        }
        text = playlist::captions::with_renditions(&text, carried);
        text.push_str(&playlist::iframes::stream_infs(&kept));
        if let Some((r, info, (remote, source))) = subtitled {
            let subtitles = self
                .master_subtitles(
                    r,
                    &info,
                    (remote, &source),
                    (container, from_csmil),
                    (query, playlist::subtitles::playlist_name),
                )
                .await;
            text = playlist::subtitles::with_group(&text, &subtitles);
        }
        if !complete {
            let text = self.disk.for_players(file_key, &text).into_owned();
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
        audio_group: None,
        closed_captions: None,
    }
}

/// The I-frame stream of a rendition with video: its keyframes over the same segments.
fn iframe_stream(
    base: &str,
    r: &Rendition,
    info: &ShowInfo,
    from_csmil: bool,
) -> Option<IFrameStream> {
    let video = info.video.as_ref()?;
    Some(IFrameStream {
        uri: playlist::rendition_file_uri(base, &r.key, &r.name, from_csmil, "iframes_0_av.m3u8"),
        bandwidth: info.stats.max_iframe_bitrate,
        average_bandwidth: info.stats.avg_iframe_bitrate,
        codec: video.codec.clone(),
        resolution: Some((video.width, video.height)).filter(|&(w, h)| w > 0 && h > 0),
    })
}
