//! Trimming one segment to a clip's end (`--trim-start` / `--trim-end`): a clip
//! `start=S&end=E` lists the title's segments, but its first begins at the keyframe
//! at or before S and its last ends at the first keyframe at or after E, so those two
//! are segments of their own, cut from the title's.
//!
//! The trimmed segment keeps its number, its timestamps and, when its front is cut,
//! continuity counters chosen so that it ends where the untrimmed one ends: the next
//! (untrimmed, shared) segment of the title then continues it without a jump.

use super::segments::partition;
use super::{streams, Continuity, Plan, PlanError, SegmentPlan};
use crate::segmenter;

/// Which segment to trim and where, in seconds on the playlist timeline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trim {
    pub number: u64,
    /// Start at the last keyframe at or before this (the segment's first at least).
    pub start: Option<f64>,
    /// End before the first keyframe at or after this (the segment's end at most).
    pub end: Option<f64>,
}

/// Tolerance for a time given in milliseconds against a keyframe's exact time.
const EPSILON: f64 = 0.0005;

impl Plan<'_> {
    /// Playlist seconds of the driving track's sample `index` (video: its PTS).
    fn driver_seconds(&self, index: usize) -> f64 {
        if self.streams.video.is_some() {
            return self.keyframe_seconds(index);
        }
        match self
            .streams
            .audio
            .as_ref()
            .and_then(|a| Some((a, a.track.samples.dts(index)?)))
        {
            Some((audio, dts)) => {
                self.playlist_seconds(streams::shifted(dts, audio.shift), audio.track.timescale)
            }
            None => 0.0,
        }
    }

    /// Applies `trim` to its segment (none when the number is out of range: the
    /// segment range check answers that).
    pub(super) fn trim(&mut self, trim: Trim) -> Result<(), PlanError> {
        let Some(index) = self.segment_index(trim.number) else {
            return Ok(());
        };
        let Some(plain) = self.segments.get(index).cloned() else {
            return Ok(());
        };
        let has_video = self.streams.video.is_some();
        let (track, driver) = match (&self.streams.video, &self.streams.audio) {
            (Some(v), _) => (v.track, plain.video.clone()),
            (None, Some(a)) => (a.track, plain.audio.clone()),
            (None, None) => return Ok(()),
        };
        let candidate = |i: usize| !has_video || self.is_sync(i);
        let from = match trim.start {
            Some(s) => driver
                .clone()
                .rev()
                .find(|&i| candidate(i) && self.driver_seconds(i) <= s + EPSILON)
                .unwrap_or(driver.start),
            None => driver.start,
        };
        let to = match trim.end {
            Some(e) => driver
                .clone()
                .find(|&i| i > from && candidate(i) && self.driver_seconds(i) >= e - EPSILON)
                .unwrap_or(driver.end),
            None => driver.end,
        };
        if from == driver.start && to == driver.end {
            return Ok(());
        }
        let scale = f64::from(track.timescale.max(1));
        let dts = |i: usize| track.samples.dts(i).unwrap_or(0);
        let segment_end = if driver.end < track.samples.len() {
            dts(driver.end)
        } else {
            segmenter::end_time(&track.samples)
        };
        let front = dts(from).saturating_sub(dts(driver.start)) as f64 / scale;
        let back = if to < driver.end {
            segment_end.saturating_sub(dts(to)) as f64 / scale
        } else {
            0.0
        };
        let mut trimmed = SegmentPlan {
            start: plain.start + front,
            duration: plain.duration - front - back,
            ..plain.clone()
        };
        if has_video {
            trimmed.video = from..to;
            let audio = plain.audio.clone();
            // The audio that plays from the new first keyframe to the new end, by the
            // rule `cut` uses between segments.
            let audio_from = |boundary: u64| {
                audio.start
                    + partition(audio.len(), |j| self.audio_time(audio.start + j) < boundary)
            };
            let start = if from > driver.start {
                audio_from(self.video_times(from).0)
            } else {
                audio.start
            };
            let end = if to < driver.end {
                audio_from(self.video_times(to).0)
            } else {
                audio.end
            };
            trimmed.audio = start..end.max(start);
        } else {
            trimmed.audio = from..to;
        }
        let (size, counts, keyframes) = self.lay_out_one(&trimmed);
        trimmed.size = size;
        trimmed.keyframes = keyframes;
        if from > driver.start && to == driver.end {
            // End on the counters the untrimmed segment ends on.
            let end_of = |start: u8, n: u64| (u64::from(start) + n) % 16;
            let back_by = |end: u64, n: u64| ((end + 16 - n % 16) % 16) as u8;
            let c = plain.continuity;
            let pat_end = end_of(c.pat, plain.counts.tables);
            trimmed.continuity = Continuity {
                pat: back_by(pat_end, counts.tables),
                pmt: back_by(end_of(c.pmt, plain.counts.tables), counts.tables),
                video: back_by(end_of(c.video, plain.counts.video), counts.video),
                audio: back_by(end_of(c.audio, plain.counts.audio), counts.audio),
            };
        }
        trimmed.counts = counts;
        if let Some(slot) = self.segments.get_mut(index) {
            *slot = trimmed;
        }
        Ok(())
    }
}
