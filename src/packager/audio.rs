//! The audio side of a master: alternate audio renditions (a title with several audio
//! tracks) and MSOD's audio-only variant, both from the plans the master has made.

use super::{Packager, RenditionInfo, Source};
use crate::config::GroupFrom;
use crate::error::Failure;
use crate::playlist::audio::{self, AudioRendition};
use crate::playlist::{self, Variant};
use crate::tool::Mode;
use crate::url::query::Query;
use crate::url::{Rendition, Stream};
use std::sync::Arc;

type Planned = Result<(Source, Arc<RenditionInfo>), Failure>;

impl Packager {
    /// The audio renditions of a master whose title has several audio tracks: those
    /// of one rendition, the first or the highest bit rate among those with several
    /// (`[audio] group_from`), so players fetch one audio stream whichever variant
    /// plays. Their URIs carry the master's clip and `sd` as its variants do (each
    /// stream is cut where the muxed one is at that duration). `None`: muxed.
    pub(super) fn alternate_audio(
        &self,
        renditions: &[Rendition],
        results: &[Planned],
        from_csmil: bool,
        query: &Query,
    ) -> Option<Vec<AudioRendition>> {
        let candidates = renditions
            .iter()
            .zip(results)
            .filter_map(|(r, result)| Some((r, &result.as_ref().ok()?.1)))
            .filter(|(_, info)| self.offers_alternate_audio(info));
        let (r, info) = group_source(self.config.audio.group_from, candidates, |(_, info)| {
            info.info.stats.max_segment_bitrate
        })?;
        let base = &self.config.public_base_url;
        let carried = query.variant_query();
        let uri_of = |id: u32| {
            let file = format!("index_0_a{id}.m3u8");
            let uri = playlist::rendition_file_uri(base, &r.key, &r.name, from_csmil, &file);
            match carried.as_str() {
                "" => uri,
                carried => format!("{uri}?{carried}"),
            }
        };
        let preferred = self.config.audio.preferred();
        Some(audio::renditions(
            &info.info.audio_tracks,
            preferred,
            uri_of,
        ))
    }

    /// MSOD's audio-only variant (`[audio] audio_only_variant`, Apple's cellular rule):
    /// the audio alone of the rendition with the lowest bit rate, its first audio
    /// track's playlist (`index_0_a<T>.m3u8`), at that stream's own bit rates; in a
    /// master with alternate audio it names its codec's group. Unclipped masters at
    /// the title's own cut only; a failure leaves it out (logged), never the master.
    pub(super) async fn audio_only_variant(
        self: &Arc<Self>,
        renditions: &[Rendition],
        results: &[Planned],
        from_csmil: bool,
        query: &Query,
        alternate: Option<&[AudioRendition]>,
    ) -> Option<Variant> {
        // Real Bento4 packages muxed renditions only.
        if !self.config.audio.audio_only_variant
            || self.tools.mode() != Mode::Jit
            || query.clip.is_some()
            || query.segment_ms.is_some()
        {
            return None;
        }
        let rate = |info: &RenditionInfo| info.info.stats.max_segment_bitrate;
        let (r, source, track) = renditions
            .iter()
            .zip(results)
            .filter_map(|(r, result)| {
                let (source, info) = result.as_ref().ok()?;
                let track = info.info.audio_tracks.first()?;
                Some((r, source, track, rate(info)))
            })
            .min_by(|a, b| a.3.total_cmp(&b.3))
            .map(|(r, source, track, _)| (r, source, track.clone()))?;
        let stream = Stream::Audio(track.id);
        let plan = match self.stream_info(r, source, &Query::default(), stream).await {
            Ok(plan) => plan,
            Err(failure) => {
                log::warn!(
                    "master: audio-only variant of {} left out: {failure}",
                    r.key
                );
                return None;
            }
        };
        let file = format!("index_0_{}.m3u8", stream.suffix());
        let group = audio::group_id(&track.codec);
        let grouped = alternate.is_some_and(|a| a.iter().any(|x| x.group == group));
        Some(Variant {
            uri: playlist::rendition_file_uri(
                &self.config.public_base_url,
                &r.key,
                &r.name,
                from_csmil,
                &file,
            ),
            bandwidth: plan.info.stats.max_segment_bitrate,
            average_bandwidth: plan.info.stats.avg_segment_bitrate,
            codecs: vec![track.codec],
            resolution: None,
            frame_rate: None,
            audio_group: grouped.then_some(group),
            closed_captions: None,
        })
    }
}

/// The rendition a master's audio renditions come from (`[audio] group_from`): the
/// first candidate, or the one with the highest bit rate (`rate`).
pub(super) fn group_source<T>(
    from: GroupFrom,
    mut candidates: impl Iterator<Item = T>,
    rate: impl Fn(&T) -> f64,
) -> Option<T> {
    match from {
        GroupFrom::First => candidates.next(),
        GroupFrom::Highest => candidates.max_by(|a, b| rate(a).total_cmp(&rate(b))),
    }
}
