//! The segment plan, computed from the MP4 index alone: where segments are cut,
//! which samples each holds, in what order its PES packets go, and so the exact
//! byte size of every TS file, its continuity counters and its keyframe byte ranges.
//!
//! The muxer (`ts::mux`) writes exactly the units this module lists, so the sizes
//! here are the sizes written; tests compare the two.
//!
//! Layout of a segment: PAT + PMT, the keyframe, then video and audio PES in decode
//! order (video first on a tie). Every later keyframe in the segment is preceded by
//! PAT + PMT too, so each keyframe's byte range stands alone in an I-frame playlist.

mod layout;
pub mod stats;
mod streams;

pub use layout::Unit;
pub use streams::{select_streams, to_90k, AudioStream, Streams, VideoStream};

use crate::media::Movie;
use crate::segmenter::{self, CutRule};
use crate::ts::packet::PACKET_SIZE;
use std::ops::Range;

#[derive(Debug, Clone, PartialEq)]
pub struct PlanOptions {
    pub segment_duration: f64,
    pub threshold_seconds: f64,
    /// First DTS on the 90 kHz output timeline; PCR = DTS − this.
    pub pcr_offset: u64,
    pub pmt_pid: u16,
    pub video_pid: u16,
    pub audio_pid: u16,
    pub first_segment_number: u64,
    /// None = first track of that kind, Some(0) = none, Some(id) = that track.
    pub video_track_id: Option<u32>,
    pub audio_track_id: Option<u32>,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            segment_duration: 6.0,
            threshold_seconds: 0.015,
            pcr_offset: 10_000,
            pmt_pid: 0x100,
            video_pid: 0x102,
            audio_pid: 0x101,
            first_segment_number: 0,
            video_track_id: None,
            audio_track_id: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanError {
    Unsupported(String),
    Corrupt(String),
}

/// Packets per PID role in one segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PacketCounts {
    /// PAT packets; the PMT has as many.
    pub tables: u64,
    pub video: u64,
    pub audio: u64,
}

/// Continuity counters at the start of a segment, continuing across files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Continuity {
    pub pat: u8,
    pub pmt: u8,
    pub video: u8,
    pub audio: u8,
}

/// A keyframe's bytes in its segment: PAT + PMT + the keyframe's PES.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KeyframeSpan {
    /// Seconds on the playlist timeline (0 = first segment's start).
    pub time: f64,
    pub offset: u64,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SegmentPlan {
    pub number: u64,
    /// Seconds on the playlist timeline: the sum of the EXTINFs before it.
    pub start: f64,
    /// EXTINF in seconds.
    pub duration: f64,
    pub video: Range<usize>,
    pub audio: Range<usize>,
    /// Exact TS byte size (before any encryption).
    pub size: u64,
    pub counts: PacketCounts,
    pub continuity: Continuity,
    pub keyframes: Vec<KeyframeSpan>,
}

#[derive(Debug, Clone)]
pub struct Plan<'m> {
    pub options: PlanOptions,
    pub movie: &'m Movie,
    pub streams: Streams<'m>,
    pub segments: Vec<SegmentPlan>,
    /// Subtracted from every 90 kHz time so the earliest DTS lands on `pcr_offset`.
    base: i64,
    /// Presentation time (track ticks, shifted) of the first segment's first sample,
    /// the zero of the playlist timeline; and that track's time scale.
    origin: (i64, u32),
}

impl<'m> Plan<'m> {
    /// Builds the plan. `streams` comes from [`select_streams`]; when it reports
    /// `video_needs_nal_counts`, fill `nal_counts` first.
    pub fn new(
        movie: &'m Movie,
        options: PlanOptions,
        streams: Streams<'m>,
    ) -> Result<Plan<'m>, PlanError> {
        if !(options.segment_duration > 0.0 && options.segment_duration.is_finite()) {
            return Err(PlanError::Unsupported(
                "segment duration must be above 0".into(),
            ));
        }
        if streams.video_needs_nal_counts() {
            return Err(PlanError::Unsupported(
                "NAL unit counts missing for short NAL length prefixes".into(),
            ));
        }
        let base = [
            streams.video.as_ref().map(|v| first_time(v.track, v.shift)),
            streams.audio.as_ref().map(|a| first_time(a.track, a.shift)),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(0);
        let mut plan = Plan {
            options,
            movie,
            streams,
            segments: Vec::new(),
            base,
            origin: (0, 1),
        };
        plan.check_sample_sizes()?;
        plan.segments = plan.cut()?;
        plan.lay_out()?;
        Ok(plan)
    }

    /// EXT-X-TARGETDURATION: the largest EXTINF rounded to the nearest integer (RFC 8216).
    pub fn target_duration(&self) -> u64 {
        let max = self.segments.iter().map(|s| s.duration).fold(0.0, f64::max);
        max.round() as u64
    }

    /// Index into `segments` of segment `number`, if it exists.
    pub fn segment_index(&self, number: u64) -> Option<usize> {
        let index = usize::try_from(number.checked_sub(self.options.first_segment_number)?).ok()?;
        (index < self.segments.len()).then_some(index)
    }

    /// (PTS, DTS) of video sample `index` on the output timeline.
    pub fn video_times(&self, index: usize) -> (u64, u64) {
        match self
            .streams
            .video
            .as_ref()
            .and_then(|v| Some((v, v.track.samples.get(index)?)))
        {
            Some((video, sample)) => {
                let dts = streams::shifted(sample.dts, video.shift);
                let pts = dts.saturating_add(i64::from(sample.cts_offset));
                (
                    self.output_time(pts, video.track.timescale),
                    self.output_time(dts, video.track.timescale),
                )
            }
            None => (0, 0),
        }
    }

    /// PTS (= DTS) of audio sample `index` on the output timeline.
    pub fn audio_time(&self, index: usize) -> u64 {
        match self
            .streams
            .audio
            .as_ref()
            .and_then(|a| Some((a, a.track.samples.get(index)?)))
        {
            Some((audio, sample)) => self.output_time(
                streams::shifted(sample.dts, audio.shift),
                audio.track.timescale,
            ),
            None => 0,
        }
    }

    fn output_time(&self, ticks: i64, timescale: u32) -> u64 {
        let time = to_90k(ticks, timescale)
            .saturating_sub(self.base)
            .saturating_add(i64::try_from(self.options.pcr_offset).unwrap_or(i64::MAX));
        u64::try_from(time).unwrap_or(0)
    }

    /// Seconds on the playlist timeline of a shifted presentation time.
    fn playlist_seconds(&self, ticks: i64, timescale: u32) -> f64 {
        let (origin, origin_scale) = self.origin;
        if timescale == origin_scale {
            // One division of an exact difference: keyframes land on round values.
            return ticks.saturating_sub(origin) as f64 / f64::from(timescale.max(1));
        }
        ticks as f64 / f64::from(timescale.max(1)) - origin as f64 / f64::from(origin_scale.max(1))
    }

    fn check_sample_sizes(&self) -> Result<(), PlanError> {
        if let Some(audio) = &self.streams.audio {
            if let Some(sample) = audio.track.samples.iter().max_by_key(|s| s.size) {
                audio
                    .framing
                    .check_frame_size(sample.size as usize)
                    .map_err(|e| {
                        PlanError::Unsupported(format!("track {}: {}", audio.track.id, e.0))
                    })?;
            }
        }
        Ok(())
    }

    /// Cut points and durations, then the audio that goes with each video segment.
    fn cut(&mut self) -> Result<Vec<SegmentPlan>, PlanError> {
        let target = self.options.segment_duration;
        let (driver, rule) = match (&self.streams.video, &self.streams.audio) {
            (Some(video), _) => (
                (video.track, video.shift),
                CutRule::video(target, self.options.threshold_seconds),
            ),
            (None, Some(audio)) => ((audio.track, audio.shift), CutRule::audio_only(target)),
            (None, None) => return Err(PlanError::Unsupported("nothing to package".into())),
        };
        let (track, shift) = driver;
        let cuts = segmenter::cut_points(&track.samples, track.timescale, rule);
        let durations = segmenter::durations(&track.samples, track.timescale, &cuts);
        let first = track.samples.first().map_or(0, |s| {
            streams::shifted(s.dts, shift).saturating_add(i64::from(s.cts_offset))
        });
        self.origin = (first, track.timescale);
        let driver_len = track.samples.len();
        let has_video = self.streams.video.is_some();
        let audio_len = self
            .streams
            .audio
            .as_ref()
            .map_or(0, |a| a.track.samples.len());
        // Audio sample that starts each segment: by presentation time against the
        // segment's first keyframe when there is video.
        // Kept non-decreasing, so odd composition offsets cannot make ranges overlap.
        let mut floor = 0;
        let audio_starts: Vec<usize> = cuts
            .iter()
            .enumerate()
            .map(|(k, &cut)| {
                let start = if !has_video {
                    cut
                } else if k == 0 {
                    0
                } else {
                    let (boundary, _) = self.video_times(cut);
                    partition(audio_len, |j| self.audio_time(j) < boundary)
                };
                floor = floor.max(start);
                floor
            })
            .collect();
        let mut start = 0.0;
        let mut segments = Vec::with_capacity(cuts.len());
        for (k, (&cut, &duration)) in cuts.iter().zip(&durations).enumerate() {
            let next_cut = cuts.get(k + 1).copied().unwrap_or(driver_len);
            let audio_start = audio_starts.get(k).copied().unwrap_or(audio_len);
            let audio_end = audio_starts.get(k + 1).copied().unwrap_or(audio_len);
            let (video, audio) = if has_video {
                (cut..next_cut, audio_start..audio_end)
            } else {
                (0..0, cut..next_cut)
            };
            segments.push(SegmentPlan {
                number: self.options.first_segment_number.saturating_add(k as u64),
                start,
                duration,
                video,
                audio,
                size: 0,
                counts: PacketCounts::default(),
                continuity: Continuity::default(),
                keyframes: Vec::new(),
            });
            start += duration;
        }
        Ok(segments)
    }

    /// Sizes, packet counts, continuity counters and keyframe spans of every segment.
    fn lay_out(&mut self) -> Result<(), PlanError> {
        let mut totals = PacketCounts::default();
        let mut laid = Vec::with_capacity(self.segments.len());
        for segment in &self.segments {
            let mut counts = PacketCounts::default();
            let mut keyframes = Vec::new();
            let mut offset = 0u64;
            let mut tables_at = None;
            for unit in self.units(segment) {
                let packets = self.unit_packets(&unit) as u64;
                match &unit {
                    Unit::Tables => {
                        counts.tables += 1;
                        tables_at = Some(offset);
                    }
                    Unit::Video(index) => {
                        counts.video += packets;
                        if let (Some(at), true) = (tables_at.take(), self.is_sync(*index)) {
                            keyframes.push(KeyframeSpan {
                                time: self.keyframe_seconds(*index),
                                offset: at,
                                size: offset + packets * PACKET_SIZE as u64 - at,
                            });
                        }
                    }
                    Unit::Audio(_) => counts.audio += packets,
                }
                offset += packets * PACKET_SIZE as u64;
            }
            let continuity = Continuity {
                pat: (totals.tables % 16) as u8,
                pmt: (totals.tables % 16) as u8,
                video: (totals.video % 16) as u8,
                audio: (totals.audio % 16) as u8,
            };
            totals.tables += counts.tables;
            totals.video += counts.video;
            totals.audio += counts.audio;
            laid.push((offset, counts, continuity, keyframes));
        }
        for (segment, (size, counts, continuity, keyframes)) in self.segments.iter_mut().zip(laid) {
            segment.size = size;
            segment.counts = counts;
            segment.continuity = continuity;
            segment.keyframes = keyframes;
        }
        Ok(())
    }

    pub fn is_sync(&self, index: usize) -> bool {
        self.streams
            .video
            .as_ref()
            .and_then(|v| v.track.samples.get(index))
            .is_some_and(|s| s.sync)
    }

    fn keyframe_seconds(&self, index: usize) -> f64 {
        match self
            .streams
            .video
            .as_ref()
            .and_then(|v| Some((v, v.track.samples.get(index)?)))
        {
            Some((video, sample)) => {
                let pts = streams::shifted(sample.dts, video.shift)
                    .saturating_add(i64::from(sample.cts_offset));
                self.playlist_seconds(pts, video.track.timescale)
            }
            None => 0.0,
        }
    }
}

/// First index in 0..len for which `before` is false (`before` must be monotonic).
fn partition(len: usize, before: impl Fn(usize) -> bool) -> usize {
    let (mut low, mut high) = (0, len);
    while low < high {
        let mid = low + (high - low) / 2;
        if before(mid) {
            low = mid + 1;
        } else {
            high = mid;
        }
    }
    low
}

/// Shifted decode time of a track's first sample, in 90 kHz.
fn first_time(track: &crate::media::Track, shift: i64) -> i64 {
    track.samples.first().map_or(0, |s| {
        to_90k(streams::shifted(s.dts, shift), track.timescale)
    })
}

#[cfg(test)]
mod tests;
