//! CMAF output (ISO/IEC 23000-19 over ISO/IEC 14496-12): an init segment (`ftyp` +
//! `moov` with `mvex`) and media segments (`styp` + `moof` + `mdat`), one track per
//! file, cut exactly where the TS segments of the same [`Plan`] are cut (the plan's
//! video and audio sample ranges per segment). Pure: bytes in, bytes out.
//!
//! Timeline: `tfdt` is the track's own decode time of the segment's first sample
//! (track time scale), so segment K's `tfdt` is the first segment's plus the sum of
//! the durations before K, whether K is made alone or in a whole run. Video
//! composition offsets carry the edit list's shift (`trun` version 1, signed), so
//! no `elst` is needed and the first keyframe presents at its decode time; audio
//! presents at its decode time.

mod boxes;
mod entry;
mod fragment;
mod init;
pub mod playlist;
pub mod protect;

pub use entry::EntryError;
pub use fragment::{keyframe_range, write_fragment};
pub use init::init_segment;

use crate::media::Track;
use crate::plan::{Plan, SegmentPlan};
use std::ops::Range;

/// The one track a CMAF file carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmafTrack {
    Video,
    Audio,
}

impl CmafTrack {
    pub fn parse(text: &str) -> Option<CmafTrack> {
        match text {
            "video" => Some(CmafTrack::Video),
            "audio" => Some(CmafTrack::Audio),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            CmafTrack::Video => "video",
            CmafTrack::Audio => "audio",
        }
    }
}

/// The plan's track of that kind and the shift added to its composition offsets.
pub fn track<'p>(plan: &'p Plan, kind: CmafTrack) -> Option<(&'p Track, i64)> {
    match kind {
        CmafTrack::Video => plan.streams.video.as_ref().map(|v| (v.track, v.shift)),
        CmafTrack::Audio => plan.streams.audio.as_ref().map(|a| (a.track, 0)),
    }
}

/// The samples of `segment` in that track.
pub fn sample_range(segment: &SegmentPlan, kind: CmafTrack) -> Range<usize> {
    match kind {
        CmafTrack::Video => segment.video.clone(),
        CmafTrack::Audio => segment.audio.clone(),
    }
}

/// Duration of sample `index` in track ticks: the distance to the next sample's
/// decode time; the last sample keeps its own, or its predecessor's when that is 0
/// (a muxer's "unknown"), so no sample lasts 0 ticks.
pub fn sample_duration(track: &Track, index: usize) -> u32 {
    let samples = &track.samples;
    let dts = samples.dts(index).unwrap_or(0);
    if let Some(next) = samples.dts(index + 1) {
        return u32::try_from(next.saturating_sub(dts)).unwrap_or(u32::MAX);
    }
    match samples.timing(index) {
        Some((_, duration)) if duration > 0 => duration,
        _ => index
            .checked_sub(1)
            .and_then(|prev| Some(dts.saturating_sub(samples.dts(prev)?)))
            .and_then(|d| u32::try_from(d).ok())
            .filter(|d| *d > 0)
            .unwrap_or(1),
    }
}

/// One segment on a track's own timeline (what DASH's SegmentTimeline lists).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentTime {
    /// `tfdt`: decode time of the first sample, track ticks.
    pub start: u64,
    pub duration: u64,
}

/// The track's time scale and every segment's time on it, from the index alone.
pub fn timeline(plan: &Plan, kind: CmafTrack) -> Option<(u32, Vec<SegmentTime>)> {
    let (track, _) = track(plan, kind)?;
    let times = plan
        .segments
        .iter()
        .map(|segment| {
            let range = sample_range(segment, kind);
            let start = track
                .samples
                .dts(range.start)
                .or_else(|| track.samples.last().map(|s| s.dts))
                .unwrap_or(0);
            let duration = range.map(|i| u64::from(sample_duration(track, i))).sum();
            SegmentTime { start, duration }
        })
        .collect();
    Some((track.timescale, times))
}

/// When the track's first sample is presented, in its ticks: its decode time plus its
/// composition offset (video's with the edit list's shift, as the fragments write it;
/// a B-frame delay is in it). What a subtitle timestamp map on this timeline names.
pub fn presentation_start(plan: &Plan, kind: CmafTrack) -> Option<u64> {
    let (track, shift) = track(plan, kind)?;
    let first = plan
        .segments
        .first()
        .map(|segment| sample_range(segment, kind).start)?;
    let dts = i64::try_from(track.samples.dts(first)?).ok()?;
    let offset = match kind {
        CmafTrack::Video => i64::from(track.samples.cts_offset(first)).saturating_add(shift),
        CmafTrack::Audio => 0,
    };
    u64::try_from(dts.saturating_add(offset).max(0)).ok()
}
