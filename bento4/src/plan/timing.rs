//! Decode times a muxed track must have before it is planned (bento4/README.md,
//! "Corrupt input"): each sample decodes after the one before it and lasts at most
//! an hour, the track lasts more than nothing, and its times fit the 90 kHz
//! timeline. Walks the timing runs, not the samples, so it costs what `stts` holds.

use super::PlanError;
use crate::media::Track;

/// The longest a single sample may last. A still image or a slideshow slide may
/// stay on screen for minutes; an hour of one frame is a broken `stts`, and would
/// be published as an EXTINF of that length.
pub const MAX_SAMPLE_SECONDS: u64 = 3600;

/// Checks the decode timeline of `track`, shifted by its edit list (`shift`).
pub fn check_timing(track: &Track, shift: i64) -> Result<(), PlanError> {
    let limit = u64::from(track.timescale).saturating_mul(MAX_SAMPLE_SECONDS);
    // (index, decode time) of the last sample of the run before.
    let mut previous: Option<(usize, u64)> = None;
    for run in track.samples.timing_runs() {
        if let Some((index, dts)) = previous {
            check_step(track, index, run.dts.checked_sub(dts), limit)?;
        }
        if run.len > 1 {
            check_step(track, run.first, Some(u64::from(run.duration)), limit)?;
        }
        previous = Some((run.first + run.len.saturating_sub(1), run.last_dts()));
    }
    let (Some(first), Some(last)) = (track.samples.first(), track.samples.last()) else {
        return Ok(());
    };
    // The last sample's duration only says where the track ends; 0 is how some
    // muxers write "unknown", but not an hour.
    if u64::from(last.duration) > limit {
        return Err(too_long(
            track,
            track.samples.len() - 1,
            last.duration.into(),
        ));
    }
    let end = last.dts.saturating_add(u64::from(last.duration));
    if end <= first.dts {
        return Err(corrupt(
            track,
            "no duration: every sample decodes at one time",
        ));
    }
    let fits = i64::try_from(end)
        .ok()
        .and_then(|end| end.checked_add(shift))
        .is_some_and(|end| fits_90k(end, track.timescale));
    if !fits {
        return Err(corrupt(
            track,
            &format!("ends at decode time {end}, past what the 90 kHz timeline holds"),
        ));
    }
    Ok(())
}

/// `step`: how far sample `index + 1` decodes after sample `index` (None: before it).
fn check_step(track: &Track, index: usize, step: Option<u64>, limit: u64) -> Result<(), PlanError> {
    match step {
        None => Err(corrupt(
            track,
            &format!("decode time goes backwards after sample {}", index + 1),
        )),
        Some(0) => Err(corrupt(
            track,
            &format!(
                "sample {} lasts 0 ticks: the next sample decodes at the same time",
                index + 1
            ),
        )),
        Some(ticks) if ticks > limit => Err(too_long(track, index, ticks)),
        Some(_) => Ok(()),
    }
}

/// True when `ticks` converts to 90 kHz without leaving i64 (`to_90k` would clamp).
fn fits_90k(ticks: i64, timescale: u32) -> bool {
    i64::try_from(i128::from(ticks) * 90_000 / i128::from(timescale.max(1))).is_ok()
}

fn too_long(track: &Track, index: usize, ticks: u64) -> PlanError {
    let seconds = ticks as f64 / f64::from(track.timescale.max(1));
    corrupt(
        track,
        &format!(
            "sample {} lasts {ticks} ticks ({seconds:.0} s), more than the {MAX_SAMPLE_SECONDS} s a sample may last",
            index + 1
        ),
    )
}

fn corrupt(track: &Track, what: &str) -> PlanError {
    PlanError::Corrupt(format!("track {}: {what}", track.id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::{Codec, EditShift, Sample, TrackKind};

    /// A track at 12288 ticks/s whose samples last `durations` (decode times follow).
    fn track(durations: &[u32]) -> Track {
        let mut dts = 0u64;
        let samples = durations
            .iter()
            .map(|&duration| {
                let sample = Sample {
                    offset: 0,
                    size: 1,
                    dts,
                    cts_offset: 0,
                    sync: true,
                    duration,
                };
                dts += u64::from(duration);
                sample
            })
            .collect();
        Track {
            id: 3,
            kind: TrackKind::Video,
            flags: 3,
            timescale: 12288,
            duration: dts,
            movie_duration: 0,
            language: "und".into(),
            name: String::new(),
            display_width: 0.0,
            display_height: 0.0,
            codec: Codec::Unsupported(*b"test"),
            edit: EditShift::default(),
            samples,
        }
    }

    fn verdict(track: &Track, shift: i64) -> Result<(), String> {
        check_timing(track, shift).map_err(|e| match e {
            PlanError::Corrupt(reason) => reason,
            PlanError::Unsupported(reason) => panic!("not corrupt: {reason}"),
        })
    }

    #[test]
    fn decode_times_must_step_forward_by_at_most_an_hour() {
        let hour = 12288 * 3600;
        let mut jump_back = track(&[512; 6]);
        // A fragment whose tfdt goes back before the samples already seen.
        jump_back.samples = jump_back
            .samples
            .iter()
            .map(|mut s| {
                if s.dts >= 2048 {
                    s.dts -= 1024;
                }
                s
            })
            .collect();
        let cases: Vec<(&str, Track, i64, Result<(), &str>)> = vec![
            ("regular", track(&[512; 100]), -1024, Ok(())),
            ("one sample", track(&[512]), 0, Ok(())),
            (
                "last sample of 0 (unknown)",
                track(&[512, 512, 0]),
                0,
                Ok(()),
            ),
            ("a slide of an hour", track(&[hour, 512]), 0, Ok(())),
            ("a last slide of an hour", track(&[512, hour]), 0, Ok(())),
            (
                "every delta 0",
                track(&[0; 50]),
                0,
                Err("track 3: sample 1 lasts 0 ticks"),
            ),
            (
                "one delta 0 inside",
                track(&[512, 512, 0, 512]),
                0,
                Err("track 3: sample 3 lasts 0 ticks"),
            ),
            (
                "a lone sample of 0",
                track(&[0]),
                0,
                Err("track 3: no duration"),
            ),
            (
                "delta 0xFFFFFFFF",
                track(&[512, u32::MAX, 512]),
                0,
                Err("track 3: sample 2 lasts 4294967295 ticks (349525 s), more than the 3600 s"),
            ),
            (
                "a last sample of 0xFFFFFFFF",
                track(&[512, u32::MAX]),
                0,
                Err("track 3: sample 2 lasts 4294967295 ticks"),
            ),
            (
                "an hour and a tick",
                track(&[hour + 1, 512]),
                0,
                Err("sample 1 lasts 44236801 ticks (3600 s), more than"),
            ),
            (
                "backwards",
                jump_back,
                0,
                Err("decode time goes backwards after sample 4"),
            ),
            (
                "edit list past the 90 kHz timeline",
                track(&[512; 4]),
                i64::MAX - 1000,
                Err("past what the 90 kHz timeline holds"),
            ),
        ];
        for (name, track, shift, expected) in cases {
            match (verdict(&track, shift), expected) {
                (Ok(()), Ok(())) => {}
                (Err(reason), Err(needle)) => assert!(reason.contains(needle), "{name}: {reason}"),
                (got, _) => panic!("{name}: {got:?}"),
            }
        }
    }
}
