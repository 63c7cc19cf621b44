//! The segment plan, computed from the MP4 index alone: where segments are cut,
//! which samples each holds, in what order its PES packets go, and so the exact
//! byte size of every TS file, its continuity counters and its keyframe byte ranges.
//!
//! The muxer (`mux`) writes exactly the units this module lists, so the sizes
//! here are the sizes written; tests compare the two.
//!
//! Layout of a segment: PAT + PMT, the keyframe, then video and audio PES in decode
//! order (video first on a tie). Every later keyframe in the segment is preceded by
//! PAT + PMT too, so each keyframe's byte range stands alone in an I-frame playlist.

mod layout;
mod parameter_sets;
pub mod ranges;
mod segments;
pub mod stats;
mod streams;
pub mod timing;
mod trim;

pub use layout::Unit;
pub use streams::{select_streams, to_90k, AudioStream, Streams, VideoStream};
pub use trim::Trim;

use crate::media::Movie;
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
    /// One segment trimmed to a clip's end (`--trim-start`/`--trim-end`).
    pub trim: Option<Trim>,
    /// An audio-alone plan of a title with video (`--video-track-id 0`) cut where
    /// the muxed plan cuts (`--align-to-video`), not on its own frames: each segment
    /// holds the audio that plays beside that video segment, so alternate audio's
    /// boundaries stay within a frame of the video's instead of drifting.
    pub align_to_video: bool,
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
            trim: None,
            align_to_video: false,
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

/// A [`Plan`] without its borrow of the movie: see [`Plan::into_parts`].
#[derive(Debug, Clone)]
pub struct PlanParts {
    pub options: PlanOptions,
    nal_counts: Option<Vec<u32>>,
    segments: Vec<SegmentPlan>,
    base: i64,
    origin: (i64, u32),
}

impl PlanParts {
    /// Bytes held on the heap, for a cache's memory bound.
    pub fn heap_bytes(&self) -> usize {
        let keyframes: usize = self.segments.iter().map(|s| s.keyframes.capacity()).sum();
        self.segments.capacity() * std::mem::size_of::<SegmentPlan>()
            + keyframes * std::mem::size_of::<KeyframeSpan>()
            + self.nal_counts.as_ref().map_or(0, |c| c.capacity() * 4)
    }
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
        .chain(streams::left_out_first_times(movie, &options))
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
        if let Some(trim) = plan.options.trim {
            plan.trim(trim)?;
        }
        Ok(plan)
    }

    /// Detaches what this plan computed from the movie it borrows, so a long-lived
    /// process (`mp42hls --serve`) can keep it beside the movie and rebuild the plan
    /// with [`Plan::from_parts`] without cutting and laying out the title again.
    pub fn into_parts(self) -> PlanParts {
        PlanParts {
            options: self.options,
            nal_counts: self.streams.video.and_then(|v| v.nal_counts),
            segments: self.segments,
            base: self.base,
            origin: self.origin,
        }
    }

    /// The plan `parts` came from, on the same `movie` (the one [`Plan::into_parts`]
    /// was called on: the caller keeps the two together). Selects the streams again
    /// (cheap: codec checks and one pass over the timing runs) since they borrow
    /// the movie's tracks.
    pub fn from_parts(movie: &'m Movie, parts: PlanParts) -> Result<Plan<'m>, PlanError> {
        let mut streams = select_streams(movie, &parts.options)?;
        if let Some(video) = streams.video.as_mut() {
            video.nal_counts = parts.nal_counts;
        }
        Ok(Plan {
            options: parts.options,
            movie,
            streams,
            segments: parts.segments,
            base: parts.base,
            origin: parts.origin,
        })
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
            .and_then(|v| Some((v, v.track.samples.dts(index)?)))
        {
            Some((video, dts)) => {
                let dts = streams::shifted(dts, video.shift);
                let pts = dts.saturating_add(i64::from(video.track.samples.cts_offset(index)));
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
            .and_then(|a| Some((a, a.track.samples.dts(index)?)))
        {
            Some((audio, dts)) => {
                self.output_time(streams::shifted(dts, audio.shift), audio.track.timescale)
            }
            None => 0,
        }
    }

    /// The PTS (90 kHz) of playlist time 0: where a WebVTT `X-TIMESTAMP-MAP` puts
    /// `LOCAL:00:00:00.000` so cues line up with these segments.
    pub fn pts_zero(&self) -> u64 {
        let (origin, timescale) = self.origin;
        self.output_time(origin, timescale)
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
            if let Some(size) = audio.track.samples.sizes().max() {
                audio.framing.check_frame_size(size as usize).map_err(|e| {
                    PlanError::Unsupported(format!("track {}: {}", audio.track.id, e.0))
                })?;
            }
        }
        Ok(())
    }

    pub fn is_sync(&self, index: usize) -> bool {
        self.streams
            .video
            .as_ref()
            .is_some_and(|v| v.track.samples.is_sync(index))
    }

    fn keyframe_seconds(&self, index: usize) -> f64 {
        match self
            .streams
            .video
            .as_ref()
            .and_then(|v| Some((v, v.track.samples.dts(index)?)))
        {
            Some((video, dts)) => {
                let pts = streams::shifted(dts, video.shift)
                    .saturating_add(i64::from(video.track.samples.cts_offset(index)));
                self.playlist_seconds(pts, video.track.timescale)
            }
            None => 0.0,
        }
    }
}

/// Shifted decode time of a track's first sample, in 90 kHz.
fn first_time(track: &crate::media::Track, shift: i64) -> i64 {
    track.samples.first().map_or(0, |s| {
        to_90k(streams::shifted(s.dts, shift), track.timescale)
    })
}

#[cfg(test)]
mod tests;
