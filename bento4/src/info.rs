//! `mp4info`'s output: a pure rendering of a parsed [`Movie`] as JSON (the fields
//! and values of Bento4's `--format json`) or as a readable text summary.

mod json;
mod names;
mod text;

use crate::error::Mp4Error;
use crate::media::{Movie, Sample, Track};
use crate::mp4::EntryDetails;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Options {
    pub format: Format,
    /// Adds edit list, sync sample count and file size.
    pub verbose: bool,
    /// Lists how samples lie in the file (runs of adjacent samples of one track).
    pub show_layout: bool,
    pub show_samples: bool,
    /// With `show_samples`: each sample's bytes in hex.
    pub show_sample_data: bool,
}

/// Reads one sample's bytes; supplied by the binary (the only I/O `--show-sample-data` needs).
pub type SampleBytes<'a> = dyn FnMut(&Sample) -> Result<Vec<u8>, Mp4Error> + 'a;

/// Renders the whole report, ending with a newline.
pub fn render(
    movie: &Movie,
    details: &[EntryDetails],
    options: &Options,
    sample_bytes: &mut SampleBytes<'_>,
) -> Result<String, Mp4Error> {
    match options.format {
        Format::Json => json::render(movie, details, options, sample_bytes),
        Format::Text => text::render(movie, details, options, sample_bytes),
    }
}

/// Figures derived from a track's samples, shared by both formats.
#[derive(Debug, Clone, Copy, PartialEq)]
struct TrackStats {
    sample_count: usize,
    /// Sum of sample durations, in the track's time scale (a fragmented file's
    /// `mdhd` says 0).
    sample_duration: u64,
    total_bytes: u64,
    sync_count: usize,
    /// kbit/s over the media duration (`mdhd`, or the samples' when that is 0).
    bitrate_kbps: f64,
    frame_rate: f64,
}

fn track_stats(track: &Track) -> TrackStats {
    let sample_duration = track
        .samples
        .iter()
        .fold(0u64, |sum, s| sum.saturating_add(u64::from(s.duration)));
    let total_bytes = track
        .samples
        .iter()
        .fold(0u64, |sum, s| sum.saturating_add(u64::from(s.size)));
    let duration = if track.duration > 0 {
        track.duration
    } else {
        sample_duration
    };
    let seconds = if track.timescale == 0 {
        0.0
    } else {
        duration as f64 / f64::from(track.timescale)
    };
    let per_second = |value: f64| if seconds > 0.0 { value / seconds } else { 0.0 };
    TrackStats {
        sample_count: track.samples.len(),
        sample_duration,
        total_bytes,
        sync_count: track.samples.iter().filter(|s| s.sync).count(),
        bitrate_kbps: round3(per_second(total_bytes as f64 * 8.0) / 1000.0),
        frame_rate: round3(per_second(track.samples.len() as f64)),
    }
}

fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

/// `value` ticks of `scale` in whole milliseconds (truncated, as Bento4 does).
fn to_ms(value: u64, scale: u32) -> u64 {
    if scale == 0 {
        return 0;
    }
    u64::try_from(u128::from(value) * 1000 / u128::from(scale)).unwrap_or(u64::MAX)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn fourcc(code: &[u8; 4]) -> String {
    crate::mp4::boxes::fourcc_text(code)
}

/// Runs of samples adjacent in the file, in file order: (track id, first offset,
/// sample count, bytes). Shows how the muxer interleaved the tracks.
fn layout(movie: &Movie) -> Vec<(u32, u64, usize, u64)> {
    let mut all: Vec<(u64, u32, u32)> = movie
        .tracks
        .iter()
        .flat_map(|t| t.samples.iter().map(move |s| (s.offset, s.size, t.id)))
        .collect();
    all.sort_unstable();
    let mut runs: Vec<(u32, u64, usize, u64)> = Vec::new();
    for (offset, size, track_id) in all {
        match runs.last_mut() {
            Some(run) if run.0 == track_id && run.1.saturating_add(run.3) == offset => {
                run.2 += 1;
                run.3 += u64::from(size);
            }
            _ => runs.push((track_id, offset, 1, u64::from(size))),
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::{Codec, EditShift, TrackKind};

    fn track(samples: Vec<Sample>, duration: u64) -> Track {
        Track {
            id: 1,
            kind: TrackKind::Video,
            flags: 3,
            timescale: 1000,
            duration,
            movie_duration: duration,
            language: "und".into(),
            name: String::new(),
            display_width: 0.0,
            display_height: 0.0,
            codec: Codec::Unsupported(*b"test"),
            edit: EditShift::default(),
            samples: samples.into(),
        }
    }

    fn sample(offset: u64, size: u32, sync: bool) -> Sample {
        Sample {
            offset,
            size,
            dts: 0,
            cts_offset: 0,
            sync,
            duration: 500,
        }
    }

    #[test]
    fn stats() {
        let samples = vec![sample(0, 1000, true), sample(1000, 3000, false)];
        let cases = [
            // 4000 bytes over 1 s (mdhd) = 32 kbit/s, 2 frames/s.
            ("mdhd duration", track(samples.clone(), 1000), 32.0, 2.0),
            // Fragmented: mdhd says 0, the samples say 1 s.
            ("sample durations", track(samples.clone(), 0), 32.0, 2.0),
            ("no samples", track(vec![], 0), 0.0, 0.0),
        ];
        for (name, track, bitrate, frame_rate) in cases {
            let stats = track_stats(&track);
            assert_eq!(
                (stats.bitrate_kbps, stats.frame_rate),
                (bitrate, frame_rate),
                "{name}"
            );
        }
        assert_eq!(track_stats(&track(samples, 1000)).sync_count, 1);
    }

    #[test]
    fn milliseconds() {
        assert_eq!(to_ms(2881024, 48000), 60021);
        assert_eq!(to_ms(5, 0), 0);
        assert_eq!(to_ms(u64::MAX, 1), u64::MAX);
    }
}
