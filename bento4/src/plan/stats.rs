//! What `--show-info` prints and the `--plan` JSON: bit rates measured on the TS
//! bytes the plan says will be written.
//!
//! Bento4's reference values show `avg_segment_bitrate` = total bytes × 8 / total
//! EXTINF and `max_segment_bitrate` = the largest per-segment bytes × 8 / EXTINF.
//! I-frame rates use each keyframe's byte range (PAT + PMT + keyframe PES) over the
//! time to the next keyframe; Bento4 prints 0 for the maximum, we compute it.

use super::{Plan, SegmentPlan};
use crate::media::Codec;
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Stats {
    pub duration: f64,
    pub avg_segment_bitrate: f64,
    pub max_segment_bitrate: f64,
    pub avg_iframe_bitrate: f64,
    pub max_iframe_bitrate: f64,
    pub frame_rate: f64,
}

/// One entry of the I-frame playlist.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IFrame {
    /// Index into `plan.segments`.
    pub segment: usize,
    pub offset: u64,
    pub size: u64,
    pub duration: f64,
}

/// RFC 6381 codec strings, given by the caller (the demuxer knows them).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CodecNames {
    pub audio: Option<String>,
    pub video: Option<String>,
}

impl Plan<'_> {
    /// Total playlist duration: the sum of the EXTINFs.
    pub fn total_duration(&self) -> f64 {
        self.segments.iter().map(|s| s.duration).sum()
    }

    /// True when every segment starts with a keyframe (always, for audio only):
    /// what `EXT-X-INDEPENDENT-SEGMENTS` promises.
    pub fn independent_segments(&self) -> bool {
        self.streams.video.is_none()
            || self
                .segments
                .iter()
                .all(|s| s.video.is_empty() || self.is_sync(s.video.start))
    }

    /// Every keyframe with its byte range and the time to the next keyframe.
    pub fn iframes(&self) -> Vec<IFrame> {
        let total = self.total_duration();
        let spans: Vec<(usize, &super::KeyframeSpan)> = self
            .segments
            .iter()
            .enumerate()
            .flat_map(|(k, s)| s.keyframes.iter().map(move |span| (k, span)))
            .collect();
        spans
            .iter()
            .enumerate()
            .map(|(j, &(segment, span))| {
                let next = spans.get(j + 1).map_or(total, |(_, next)| next.time);
                IFrame {
                    segment,
                    offset: span.offset,
                    size: span.size,
                    duration: (next - span.time).max(0.0),
                }
            })
            .collect()
    }

    /// Statistics over the files as written; `size_on_disk` maps a segment's TS
    /// size to what lands on disk (encryption pads).
    pub fn stats(&self, size_on_disk: impl Fn(&SegmentPlan) -> u64) -> Stats {
        let total_duration = self.total_duration();
        let total_bytes: u64 = self.segments.iter().map(&size_on_disk).sum();
        let rate = |bytes: u64, seconds: f64| {
            if seconds > 0.0 {
                bytes as f64 * 8.0 / seconds
            } else {
                0.0
            }
        };
        let max_segment_bitrate = self
            .segments
            .iter()
            .map(|s| rate(size_on_disk(s), s.duration))
            .fold(0.0, f64::max);
        let iframes = self.iframes();
        let iframe_bytes: u64 = iframes.iter().map(|i| i.size).sum();
        let max_iframe_bitrate = iframes
            .iter()
            .map(|i| rate(i.size, i.duration))
            .fold(0.0, f64::max);
        let movie_duration = if self.movie.time_scale > 0 {
            self.movie.duration as f64 / f64::from(self.movie.time_scale)
        } else {
            total_duration
        };
        Stats {
            duration: movie_duration,
            avg_segment_bitrate: rate(total_bytes, total_duration),
            max_segment_bitrate,
            avg_iframe_bitrate: rate(iframe_bytes, total_duration),
            max_iframe_bitrate,
            frame_rate: self.frame_rate(),
        }
    }

    /// Video samples per second of video decode time; 0 without video.
    pub fn frame_rate(&self) -> f64 {
        let Some(video) = &self.streams.video else {
            return 0.0;
        };
        let samples = &video.track.samples;
        let first = samples.first().map_or(0, |s| s.dts);
        let span = crate::segmenter::end_time(samples).saturating_sub(first);
        if span == 0 {
            return 0.0;
        }
        samples.len() as f64 * f64::from(video.track.timescale) / span as f64
    }

    /// Width and height of the muxed video, from its decoder configuration.
    pub fn video_size(&self) -> Option<(u32, u32)> {
        let video = self.streams.video.as_ref()?;
        let track = video.track;
        let (w, h) = match &track.codec {
            Codec::Avc(c) => (u32::from(c.width), u32::from(c.height)),
            Codec::Hevc(c) => (u32::from(c.width), u32::from(c.height)),
            _ => (0, 0),
        };
        if w > 0 && h > 0 {
            Some((w, h))
        } else {
            Some((track.display_width as u32, track.display_height as u32))
        }
    }

    /// The `--show-info` document, laid out like Bento4's (two-space indent, %f numbers).
    pub fn show_info_text(&self, stats: &Stats, codecs: &CodecNames) -> String {
        let mut out = String::from("{\n  \"stats\": {\n");
        let fields = [
            ("duration", stats.duration),
            ("avg_segment_bitrate", stats.avg_segment_bitrate),
            ("max_segment_bitrate", stats.max_segment_bitrate),
            ("avg_iframe_bitrate", stats.avg_iframe_bitrate),
            ("max_iframe_bitrate", stats.max_iframe_bitrate),
            ("frame_rate", stats.frame_rate),
        ];
        let lines: Vec<String> = fields
            .iter()
            .map(|(name, value)| format!("    \"{name}\": {value:.6}"))
            .collect();
        out.push_str(&lines.join(",\n"));
        out.push_str("\n  }");
        if self.streams.audio.is_some() {
            let codec = codecs.audio.clone().unwrap_or_default();
            out.push_str(&format!(
                ",\n  \"audio\": {{\n    \"codec\": {}\n  }}",
                Value::from(codec)
            ));
        }
        if let Some((width, height)) = self.video_size() {
            let codec = codecs.video.clone().unwrap_or_default();
            out.push_str(&format!(
                ",\n  \"video\": {{\n    \"codec\": {},\n    \"width\": {width},\n    \"height\": {height}\n  }}",
                Value::from(codec)
            ));
        }
        out.push_str("\n}\n");
        out
    }

    /// The `--plan` document (see bento4/README.md).
    pub fn plan_json(
        &self,
        stats: &Stats,
        codecs: &CodecNames,
        size_on_disk: impl Fn(&SegmentPlan) -> u64,
    ) -> Value {
        let segments: Vec<Value> = self
            .segments
            .iter()
            .map(|s| {
                json!({
                    "number": s.number,
                    "start": s.start,
                    "duration": s.duration,
                    "size": size_on_disk(s),
                    "keyframes": s.keyframes.iter().map(|k| k.time).collect::<Vec<f64>>(),
                    // Each keyframe's [offset, size] in the segment file (PAT + PMT +
                    // its PES): the byte ranges of an I-frame playlist.
                    "iframes": s.keyframes.iter().map(|k| [k.offset, k.size]).collect::<Vec<[u64; 2]>>(),
                    "ranges": self.byte_ranges(s).iter().map(|&(a, b)| [a, b]).collect::<Vec<[u64; 2]>>(),
                })
            })
            .collect();
        let mut doc = json!({
            "segment_duration": self.options.segment_duration,
            "target_duration": self.target_duration(),
            "first_segment_number": self.options.first_segment_number,
            "pts_zero": self.pts_zero(),
            "segments": segments,
            "stats": {
                "duration": stats.duration,
                "avg_segment_bitrate": stats.avg_segment_bitrate,
                "max_segment_bitrate": stats.max_segment_bitrate,
                "avg_iframe_bitrate": stats.avg_iframe_bitrate,
                "max_iframe_bitrate": stats.max_iframe_bitrate,
                "frame_rate": stats.frame_rate,
            },
        });
        if let Some(map) = doc.as_object_mut() {
            map.insert("audio_tracks".into(), audio_tracks(self.movie));
            map.insert("text_tracks".into(), text_tracks(self.movie));
            if self.streams.audio.is_some() {
                map.insert("audio".into(), json!({ "codec": codecs.audio }));
            }
            if let Some((width, height)) = self.video_size() {
                map.insert(
                    "video".into(),
                    json!({ "codec": codecs.video, "width": width, "height": height }),
                );
            }
        }
        doc
    }
}

/// Every audio track the tool can mux, whichever the plan picked: what an origin
/// needs to offer alternate audio (`--audio-track-id` of each), in file order.
pub fn audio_tracks(movie: &crate::media::Movie) -> Value {
    use crate::media::TrackKind;
    let tracks: Vec<Value> = movie
        .tracks
        .iter()
        .filter(|t| t.kind == TrackKind::Audio)
        .filter_map(|t| {
            let codec = crate::mp4::codecs_string(&t.codec)?;
            let channels = match &t.codec {
                Codec::Aac(aac) if aac.channel_configuration > 0 => {
                    u16::from(aac.channel_configuration)
                }
                Codec::Aac(aac) => aac.basics.channels,
                Codec::Mp3(b) | Codec::Ac3(b) | Codec::Eac3(b) if b.coded_channels > 0 => {
                    b.coded_channels
                }
                Codec::Mp3(b) | Codec::Ac3(b) | Codec::Eac3(b) => b.channels,
                _ => return None,
            };
            Some(json!({
                "id": t.id,
                "codec": codec,
                "language": t.language,
                "name": t.name,
                "channels": channels,
            }))
        })
        .collect();
    Value::from(tracks)
}

/// The timed text (`tx3g`) tracks, which `--webvtt <id>` turns into WebVTT.
pub fn text_tracks(movie: &crate::media::Movie) -> Value {
    let tracks: Vec<Value> = movie
        .tracks
        .iter()
        .filter(|t| crate::text::is_timed_text(t) && !t.samples.is_empty())
        .map(|t| {
            json!({
                "id": t.id,
                "codec": "tx3g",
                "language": t.language,
                "name": t.name,
            })
        })
        .collect();
    Value::from(tracks)
}
