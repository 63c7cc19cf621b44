//! The order of PES packets in a segment and how many transport packets each takes.
//! Shared by the size computation and the muxer, so the two cannot disagree.

use super::{Plan, SegmentPlan};
use crate::ts::packet::{packet_count, FirstPacketFlags};
use crate::ts::pes;
use std::ops::Range;

/// Longest audio PES, in seconds of audio, when the audio PID carries the PCR
/// (audio only): keeps PCRs within the standard's 100 ms.
const AUDIO_PES_SECONDS_WITH_PCR: f64 = 0.1;
/// Longest audio PES beside video: fewer PES headers and less stuffing.
const AUDIO_PES_SECONDS: f64 = 0.2;

/// One thing written into a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unit {
    /// PAT then PMT.
    Tables,
    /// One video sample as one PES.
    Video(usize),
    /// These audio samples as one PES.
    Audio(Range<usize>),
}

impl Plan<'_> {
    /// The units of a segment in file order.
    pub fn units(&self, segment: &SegmentPlan) -> Vec<Unit> {
        let groups = self.audio_groups(segment.audio.clone());
        let mut units = Vec::with_capacity(segment.video.len() + groups.len() + 4);
        let mut video = segment.video.clone();
        let mut audio = groups.into_iter();
        // The segment opens with its keyframe, whatever audio came earlier.
        units.push(Unit::Tables);
        if let Some(first) = video.next() {
            units.push(Unit::Video(first));
        }
        // The next unit of each stream with its decode time, each computed once.
        let video_dts = |index: usize| (index, self.video_times(index).1);
        let audio_dts = |group: Range<usize>| (self.audio_time(group.start), group);
        let mut next_video = video.next().map(video_dts);
        let mut next_audio = audio.next().map(audio_dts);
        loop {
            match (next_video, &next_audio) {
                (Some((index, dts)), audio_next)
                    if audio_next.as_ref().is_none_or(|(a, _)| dts <= *a) =>
                {
                    if self.is_sync(index) {
                        units.push(Unit::Tables);
                    }
                    units.push(Unit::Video(index));
                    next_video = video.next().map(video_dts);
                }
                (_, Some(_)) => {
                    if let Some((_, group)) = next_audio.take() {
                        units.push(Unit::Audio(group));
                    }
                    next_audio = audio.next().map(audio_dts);
                }
                (None, None) => break,
                // Unreachable: the first arm takes video when audio is absent.
                (Some(_), None) => break,
            }
        }
        units
    }

    /// Transport packets a unit takes.
    pub fn unit_packets(&self, unit: &Unit) -> usize {
        match unit {
            Unit::Tables => 2,
            Unit::Video(index) => {
                // video_pes_len and video_flags, sharing one time computation.
                let (pts, dts) = self.video_times(*index);
                packet_count(
                    self.video_pes_len_at(*index, pts != dts),
                    self.video_flags_at(*index, dts),
                )
            }
            Unit::Audio(range) => {
                packet_count(self.audio_pes_len(range.clone()), self.audio_flags())
            }
        }
    }

    /// Header + Annex B access unit of video sample `index`.
    pub fn video_pes_len(&self, index: usize) -> usize {
        let (pts, dts) = self.video_times(index);
        self.video_pes_len_at(index, pts != dts)
    }

    /// [`Plan::video_pes_len`] when the caller knows whether the PES carries a DTS.
    fn video_pes_len_at(&self, index: usize, with_dts: bool) -> usize {
        let Some(video) = &self.streams.video else {
            return 0;
        };
        let samples = &video.track.samples;
        let Some(size) = samples.size(index) else {
            return 0;
        };
        let nal_count = video
            .nal_counts
            .as_ref()
            .and_then(|counts| counts.get(index))
            .map_or(0, |&n| n as usize);
        pes::header_size(with_dts)
            + video
                .framing
                .access_unit_len(size as usize, samples.is_sync(index), nal_count)
    }

    /// Header + framed audio of `range`.
    pub fn audio_pes_len(&self, range: Range<usize>) -> usize {
        pes::header_size(false) + self.audio_payload_len(range)
    }

    pub fn audio_payload_len(&self, range: Range<usize>) -> usize {
        let Some(audio) = &self.streams.audio else {
            return 0;
        };
        audio
            .track
            .samples
            .sizes()
            .skip(range.start)
            .take(range.len())
            .map(|size| audio.framing.frame_len(size as usize))
            .sum()
    }

    pub fn video_flags(&self, index: usize) -> FirstPacketFlags {
        let (_, dts) = self.video_times(index);
        self.video_flags_at(index, dts)
    }

    fn video_flags_at(&self, index: usize, dts: u64) -> FirstPacketFlags {
        FirstPacketFlags {
            pcr: Some(dts.saturating_sub(self.options.pcr_offset)),
            random_access: self.is_sync(index),
        }
    }

    /// The PCR rides on audio only when there is no video.
    pub fn audio_flags_at(&self, first: usize) -> FirstPacketFlags {
        if self.streams.video.is_some() {
            FirstPacketFlags::default()
        } else {
            FirstPacketFlags {
                pcr: Some(
                    self.audio_time(first)
                        .saturating_sub(self.options.pcr_offset),
                ),
                random_access: true,
            }
        }
    }

    fn audio_flags(&self) -> FirstPacketFlags {
        // Only the adaptation field's size matters for counting packets.
        self.audio_flags_at(0)
    }

    /// Splits a segment's audio into PES groups: consecutive frames while the group
    /// lasts at most the PES duration limit and fits a bounded PES length.
    pub fn audio_groups(&self, range: Range<usize>) -> Vec<Range<usize>> {
        let Some(audio) = &self.streams.audio else {
            return Vec::new();
        };
        let samples = &audio.track.samples;
        let seconds = if self.streams.video.is_some() {
            AUDIO_PES_SECONDS
        } else {
            AUDIO_PES_SECONDS_WITH_PCR
        };
        let max_ticks = (seconds * f64::from(audio.track.timescale)) as u64;
        let max_payload = pes::max_bounded_payload(false);
        let mut groups = Vec::new();
        let mut start = range.start;
        while start < range.end {
            let (Some(first_size), Some(first_dts)) = (samples.size(start), samples.dts(start))
            else {
                break;
            };
            let mut end = start + 1;
            let mut payload = audio.framing.frame_len(first_size as usize);
            while let (true, Some(size), Some((dts, duration))) =
                (end < range.end, samples.size(end), samples.timing(end))
            {
                let span = dts
                    .saturating_add(u64::from(duration))
                    .saturating_sub(first_dts);
                let grown = payload + audio.framing.frame_len(size as usize);
                if span > max_ticks || grown > max_payload {
                    break;
                }
                payload = grown;
                end += 1;
            }
            groups.push(start..end);
            start = end;
        }
        groups
    }
}
