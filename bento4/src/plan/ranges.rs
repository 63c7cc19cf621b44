//! The byte ranges of the source file a segment's samples occupy, merged where
//! they touch or overlap. A worker reading a remote source fetches just these
//! before it asks for the segment (the `ranges` of each `--plan` segment).

use super::{Plan, SegmentPlan};
use crate::media::Track;
use std::ops::Range;

impl Plan<'_> {
    /// Sorted, disjoint `[start, end)` ranges holding every sample of `segment`.
    pub fn byte_ranges(&self, segment: &SegmentPlan) -> Vec<(u64, u64)> {
        let mut spans = Vec::new();
        if let Some(video) = &self.streams.video {
            push_spans(&mut spans, video.track, segment.video.clone());
        }
        if let Some(audio) = &self.streams.audio {
            push_spans(&mut spans, audio.track, segment.audio.clone());
        }
        merge(spans)
    }
}

fn push_spans(spans: &mut Vec<(u64, u64)>, track: &Track, samples: Range<usize>) {
    for index in samples {
        if let Some(sample) = track.samples.get(index) {
            if sample.size > 0 {
                let start = sample.offset;
                spans.push((start, start.saturating_add(u64::from(sample.size))));
            }
        }
    }
}

/// Sorts and joins ranges that overlap or touch.
pub fn merge(mut spans: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    spans.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::with_capacity(spans.len().min(64));
    for (start, end) in spans {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::merge;

    #[test]
    fn touching_and_overlapping_ranges_join() {
        assert_eq!(
            merge(vec![(30, 40), (0, 10), (10, 20), (35, 50), (60, 61)]),
            vec![(0, 20), (30, 50), (60, 61)]
        );
        assert_eq!(merge(vec![]), vec![]);
    }
}
