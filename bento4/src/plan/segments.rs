//! Cutting the driving track into segments and laying each segment out: which
//! samples it holds, its exact size, continuity counters and keyframe byte ranges.

use super::{streams, Continuity, KeyframeSpan, PacketCounts, Plan, PlanError, SegmentPlan, Unit};
use crate::segmenter::{self, CutRule};
use crate::ts::packet::PACKET_SIZE;

impl Plan<'_> {
    /// Cut points and durations, then the audio that goes with each video segment.
    pub(super) fn cut(&mut self) -> Result<Vec<SegmentPlan>, PlanError> {
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
        let aligned = match self.streams.video {
            None if self.options.align_to_video => self.audio_cuts_at_video(),
            _ => None,
        };
        let cuts =
            aligned.unwrap_or_else(|| segmenter::cut_points(&track.samples, track.timescale, rule));
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

    /// For an audio-alone plan: the audio sample starting each segment of the muxed
    /// plan's cut (by presentation time against each video segment's first
    /// keyframe, as `cut` places the audio of a muxed segment). Segments past the
    /// audio's end are left off. None (cut on the audio's own frames) without a
    /// video track, or when a segment inside would hold no audio (a gap in it).
    fn audio_cuts_at_video(&self) -> Option<Vec<usize>> {
        let (video, shift) = streams::default_video(self.movie)?;
        let audio_len = self.streams.audio.as_ref()?.track.samples.len();
        let rule = CutRule::video(
            self.options.segment_duration,
            self.options.threshold_seconds,
        );
        let mut starts = vec![0];
        for &cut in segmenter::cut_points(&video.samples, video.timescale, rule).get(1..)? {
            let pts = streams::shifted(video.samples.dts(cut)?, shift)
                .saturating_add(i64::from(video.samples.cts_offset(cut)));
            let boundary = self.output_time(pts, video.timescale);
            starts.push(partition(audio_len, |j| self.audio_time(j) < boundary));
        }
        while starts.len() > 1 && starts.last() == Some(&audio_len) {
            starts.pop();
        }
        starts.windows(2).all(|w| w[0] < w[1]).then_some(starts)
    }

    /// Sizes, packet counts, continuity counters and keyframe spans of every segment.
    pub(super) fn lay_out(&mut self) -> Result<(), PlanError> {
        let mut totals = PacketCounts::default();
        let mut laid = Vec::with_capacity(self.segments.len());
        for segment in &self.segments {
            let (size, counts, keyframes) = self.lay_out_one(segment);
            let continuity = Continuity {
                pat: (totals.tables % 16) as u8,
                pmt: (totals.tables % 16) as u8,
                video: (totals.video % 16) as u8,
                audio: (totals.audio % 16) as u8,
            };
            totals.tables += counts.tables;
            totals.video += counts.video;
            totals.audio += counts.audio;
            laid.push((size, counts, continuity, keyframes));
        }
        for (segment, (size, counts, continuity, keyframes)) in self.segments.iter_mut().zip(laid) {
            segment.size = size;
            segment.counts = counts;
            segment.continuity = continuity;
            segment.keyframes = keyframes;
        }
        Ok(())
    }

    /// Size, packet counts and keyframe spans of one segment's units.
    pub(super) fn lay_out_one(
        &self,
        segment: &SegmentPlan,
    ) -> (u64, PacketCounts, Vec<KeyframeSpan>) {
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
        (offset, counts, keyframes)
    }
}

/// First index in 0..len for which `before` is false (`before` must be monotonic).
pub(super) fn partition(len: usize, before: impl Fn(usize) -> bool) -> usize {
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
