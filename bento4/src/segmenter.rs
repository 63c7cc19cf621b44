//! The cut rule: where segments start, from sample decode times alone.
//!
//! Video: a segment ends at the first sync sample whose decode time is at least
//! segment start + target − threshold (Bento4's rule; EXTINF is the decode-time
//! distance between cuts, the last segment takes what remains).
//!
//! Audio only: every frame is a candidate and the threshold is not applied (a
//! segment ends at the first frame boundary at or after start + target), which is
//! what Bento4's audio-only cuts show (6.016 s segments of 282 AAC frames at 48 kHz
//! for a 6 s target).
//!
//! Unlike Bento4 we never end on a sliver: when the last segment would be shorter
//! than `min(0.5 s, target / 2)`, its cut is dropped and the previous segment takes
//! it (Bento4 ends a 30 s audio file cut at 10 s with a 5 ms segment).

use crate::media::SampleTable;

/// The longest final piece that is merged into the segment before it, in seconds.
const SLIVER_SECONDS: f64 = 0.5;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CutRule {
    pub target_seconds: f64,
    pub threshold_seconds: f64,
    /// Video: only sync samples may start a segment.
    pub sync_only: bool,
}

impl CutRule {
    pub fn video(target_seconds: f64, threshold_seconds: f64) -> CutRule {
        CutRule {
            target_seconds,
            threshold_seconds,
            sync_only: true,
        }
    }

    pub fn audio_only(target_seconds: f64) -> CutRule {
        CutRule {
            target_seconds,
            threshold_seconds: 0.0,
            sync_only: false,
        }
    }
}

/// Indices of the samples that start each segment; the first is always 0.
/// Empty when there are no samples.
pub fn cut_points(samples: &SampleTable, timescale: u32, rule: CutRule) -> Vec<usize> {
    let Some(first_dts) = samples.dts(0) else {
        return Vec::new();
    };
    let scale = f64::from(timescale.max(1));
    // A hair of tolerance so that a boundary exactly on target is not lost to rounding.
    let needed = (rule.target_seconds - rule.threshold_seconds) * scale - 1e-6;
    let mut cuts = vec![0usize];
    let mut start = first_dts;
    for index in 1..samples.len() {
        if rule.sync_only && !samples.is_sync(index) {
            continue;
        }
        let dts = samples.dts(index).unwrap_or(start);
        if dts.saturating_sub(start) as f64 >= needed {
            cuts.push(index);
            start = dts;
        }
    }
    let sliver_ticks = SLIVER_SECONDS.min(rule.target_seconds / 2.0) * scale;
    if let (true, Some(&last_cut)) = (cuts.len() > 1, cuts.last()) {
        let last_start = samples.dts(last_cut).unwrap_or(0);
        if (end_time(samples).saturating_sub(last_start) as f64) < sliver_ticks {
            cuts.pop();
        }
    }
    cuts
}

/// Decode time at which the track ends: last sample's decode time plus its duration.
pub fn end_time(samples: &SampleTable) -> u64 {
    samples
        .last()
        .map_or(0, |s| s.dts.saturating_add(u64::from(s.duration)))
}

/// EXTINF of each segment in seconds: the decode-time distance between cuts, the
/// last one taking what remains of the track.
pub fn durations(samples: &SampleTable, timescale: u32, cuts: &[usize]) -> Vec<f64> {
    let scale = f64::from(timescale.max(1));
    let end = end_time(samples);
    cuts.iter()
        .enumerate()
        .map(|(k, &cut)| {
            let start = samples.dts(cut).unwrap_or(0);
            let stop = cuts
                .get(k + 1)
                .and_then(|&next| samples.dts(next))
                .unwrap_or(end);
            stop.saturating_sub(start) as f64 / scale
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::Sample;

    /// Samples of `duration` ticks with sync flags from `pattern` ('K' = sync).
    fn track(duration: u32, pattern: &str) -> SampleTable {
        pattern
            .chars()
            .enumerate()
            .map(|(i, c)| Sample {
                offset: 0,
                size: 1,
                dts: i as u64 * u64::from(duration),
                cts_offset: 0,
                sync: c == 'K',
                duration,
            })
            .collect()
    }

    fn gop(keys_every: usize, frames: usize) -> String {
        (0..frames)
            .map(|i| if i % keys_every == 0 { 'K' } else { '.' })
            .collect()
    }

    #[test]
    fn video_cut_table() {
        // (pattern at 1 tick = 1 s, target, threshold, expected cuts, expected durations)
        // (pattern, target, threshold, cuts, durations)
        type Case = (String, f64, f64, Vec<usize>, Vec<f64>);
        let cases: Vec<Case> = vec![
            (gop(2, 30), 6.0, 0.015, vec![0, 6, 12, 18, 24], vec![6.0; 5]),
            (gop(2, 30), 10.0, 0.015, vec![0, 10, 20], vec![10.0; 3]),
            // Keyframes at 0, 7, 12, 18: irregular GOPs like irregular_gop.mp4.
            (
                "K......K....K.....K........".to_string(),
                6.0,
                0.015,
                vec![0, 7, 18],
                vec![7.0, 11.0, 9.0],
            ),
            // A keyframe within the threshold before target counts.
            (gop(3, 12), 6.5, 0.6, vec![0, 6], vec![6.0, 6.0]),
            // No keyframe after the first: one segment.
            ("K.........".to_string(), 2.0, 0.015, vec![0], vec![10.0]),
            // A one-second last piece is kept.
            (gop(1, 13), 6.0, 0.0, vec![0, 6, 12], vec![6.0, 6.0, 1.0]),
        ];
        for (pattern, target, threshold, cuts, durs) in cases {
            let samples = track(1, &pattern);
            let got = cut_points(&samples, 1, CutRule::video(target, threshold));
            assert_eq!(got, cuts, "{pattern} target {target}");
            assert_eq!(durations(&samples, 1, &got), durs, "{pattern}");
        }
    }

    #[test]
    fn audio_only_matches_bento4_frame_counts() {
        // 1407 AAC frames of 1024 at 48 kHz plus a 256-sample last frame (audio_only.mp4).
        let mut samples: Vec<Sample> = track(1024, &"K".repeat(1408)).iter().collect();
        if let Some(last) = samples.last_mut() {
            last.duration = 256;
        }
        let samples = SampleTable::from(samples);
        let cuts = cut_points(&samples, 48000, CutRule::audio_only(6.0));
        let durs = durations(&samples, 48000, &cuts);
        let expected = [6.016, 6.016, 6.016, 6.016, 5.957333];
        assert_eq!(durs.len(), expected.len());
        for (got, want) in durs.iter().zip(expected) {
            assert!((got - want).abs() < 1e-6, "{durs:?}");
        }
        // At 10 s Bento4 ends with a 5 ms sliver; we merge it into the third segment.
        let cuts = cut_points(&samples, 48000, CutRule::audio_only(10.0));
        let durs = durations(&samples, 48000, &cuts);
        assert_eq!(cuts, vec![0, 469, 938]);
        assert!((durs[2] - 10.010667).abs() < 1e-6, "{durs:?}");
    }

    #[test]
    fn last_piece_under_half_a_second_is_merged() {
        // 63 frames of 0.1 s, every one a keyframe, 3 s target: the 0.3 s tail merges.
        let samples = track(1, &gop(1, 63));
        let cuts = cut_points(&samples, 10, CutRule::video(3.0, 0.0));
        assert_eq!(cuts, vec![0, 30]);
        let durs = durations(&samples, 10, &cuts);
        assert!((durs[1] - 3.3).abs() < 1e-9, "{durs:?}");
        // With a 0.4 s target the cap is target / 2 = 0.2 s: a 0.3 s tail stays.
        let cuts = cut_points(&samples, 10, CutRule::video(0.4, 0.0));
        assert_eq!(cuts.last(), Some(&60));
    }

    #[test]
    fn empty_track_has_no_cuts() {
        let none = SampleTable::new();
        assert!(cut_points(&none, 1000, CutRule::video(6.0, 0.015)).is_empty());
        assert!(durations(&none, 1000, &[]).is_empty());
    }
}
