//! Movie fragments (ISO/IEC 14496-12 §8.8): `trex` defaults from `mvex`, then each
//! `moof`'s `traf`s (tfhd, tfdt, trun) appended to their track's samples.

use std::collections::HashMap;

use crate::error::Mp4Error;
use crate::media::{Sample, Track};
use crate::mp4::boxes::{children, Reader};
use crate::mp4::sample_table::check_sample_count;

/// Per-track defaults from `trex`, overridden per fragment by `tfhd`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SampleDefaults {
    pub duration: u32,
    pub size: u32,
    pub flags: u32,
}

/// Reads the `trex` boxes of an `mvex` body, by track ID.
pub fn parse_mvex(mvex: &[u8]) -> Result<HashMap<u32, SampleDefaults>, Mp4Error> {
    let mut defaults = HashMap::new();
    for child in children(mvex) {
        let child = child?;
        if &child.fourcc != b"trex" {
            continue;
        }
        let mut reader = Reader::new(child.body, "trex");
        reader.full_box()?;
        let track_id = reader.u32()?;
        reader.u32()?; // default_sample_description_index
        let entry = SampleDefaults {
            duration: reader.u32()?,
            size: reader.u32()?,
            flags: reader.u32()?,
        };
        defaults.insert(track_id, entry);
    }
    Ok(defaults)
}

/// Sample flags (§8.8.3.1): sync unless it depends on others or says non-sync.
pub fn is_sync(flags: u32) -> bool {
    let depends_on = (flags >> 24) & 0x3;
    let non_sync = flags & 0x0001_0000 != 0;
    depends_on != 1 && !non_sync
}

/// Appends the samples of one `moof` (its body, and the file offset of the box
/// start) to `tracks`. `next_dts[i]` carries each track's decode time across
/// fragments that have no `tfdt`.
pub fn apply_moof(
    moof_offset: u64,
    moof: &[u8],
    tracks: &mut [Track],
    defaults: &HashMap<u32, SampleDefaults>,
    next_dts: &mut [u64],
    file_size: u64,
) -> Result<(), Mp4Error> {
    // Without an explicit base, the first traf's data starts at the moof, and each
    // later one right after the previous traf's data.
    let mut implicit_base = moof_offset;
    for child in children(moof) {
        let child = child?;
        if &child.fourcc != b"traf" {
            continue;
        }
        implicit_base = apply_traf(
            child.body,
            moof_offset,
            implicit_base,
            tracks,
            defaults,
            next_dts,
            file_size,
        )?;
    }
    Ok(())
}

struct FragmentHeader {
    track_index: usize,
    base: u64,
    defaults: SampleDefaults,
}

fn parse_tfhd(
    body: &[u8],
    moof_offset: u64,
    implicit_base: u64,
    tracks: &[Track],
    defaults: &HashMap<u32, SampleDefaults>,
) -> Result<FragmentHeader, Mp4Error> {
    let mut reader = Reader::new(body, "tfhd");
    let (_, flags) = reader.full_box()?;
    let track_id = reader.u32()?;
    let track_index = tracks
        .iter()
        .position(|track| track.id == track_id)
        .ok_or_else(|| Mp4Error::Corrupt(format!("fragment for unknown track {track_id}")))?;
    let mut header = FragmentHeader {
        track_index,
        base: if flags & 0x02_0000 != 0 {
            moof_offset
        } else {
            implicit_base
        },
        defaults: defaults.get(&track_id).copied().unwrap_or_default(),
    };
    if flags & 0x01 != 0 {
        header.base = reader.u64()?;
    }
    if flags & 0x02 != 0 {
        reader.u32()?; // sample_description_index
    }
    if flags & 0x08 != 0 {
        header.defaults.duration = reader.u32()?;
    }
    if flags & 0x10 != 0 {
        header.defaults.size = reader.u32()?;
    }
    if flags & 0x20 != 0 {
        header.defaults.flags = reader.u32()?;
    }
    Ok(header)
}

fn parse_tfdt(body: &[u8]) -> Result<u64, Mp4Error> {
    let mut reader = Reader::new(body, "tfdt");
    let (version, _) = reader.full_box()?;
    if version == 1 {
        reader.u64()
    } else {
        Ok(u64::from(reader.u32()?))
    }
}

/// Returns where this traf's sample data ends (the implicit base of the next one).
fn apply_traf(
    traf: &[u8],
    moof_offset: u64,
    implicit_base: u64,
    tracks: &mut [Track],
    defaults: &HashMap<u32, SampleDefaults>,
    next_dts: &mut [u64],
    file_size: u64,
) -> Result<u64, Mp4Error> {
    let mut header = None;
    let mut data_end = implicit_base;
    for child in children(traf) {
        let child = child?;
        match &child.fourcc {
            b"tfhd" => {
                let parsed = parse_tfhd(child.body, moof_offset, implicit_base, tracks, defaults)?;
                data_end = parsed.base;
                header = Some(parsed);
            }
            b"tfdt" => {
                let header = header
                    .as_ref()
                    .ok_or_else(|| Mp4Error::Corrupt("tfdt before tfhd".into()))?;
                if let Some(dts) = next_dts.get_mut(header.track_index) {
                    *dts = parse_tfdt(child.body)?;
                }
            }
            b"trun" => {
                let header = header
                    .as_ref()
                    .ok_or_else(|| Mp4Error::Corrupt("trun before tfhd".into()))?;
                let track = tracks
                    .get_mut(header.track_index)
                    .ok_or_else(|| Mp4Error::Corrupt("fragment track vanished".into()))?;
                let dts = next_dts
                    .get_mut(header.track_index)
                    .ok_or_else(|| Mp4Error::Corrupt("fragment track vanished".into()))?;
                data_end = apply_trun(child.body, header, data_end, track, dts, file_size)?;
            }
            _ => {}
        }
    }
    Ok(data_end)
}

/// Appends one run; returns the offset just past its data.
fn apply_trun(
    body: &[u8],
    header: &FragmentHeader,
    previous_end: u64,
    track: &mut Track,
    dts: &mut u64,
    file_size: u64,
) -> Result<u64, Mp4Error> {
    let mut reader = Reader::new(body, "trun");
    let (version, flags) = reader.full_box()?;
    let count = reader.u32()?;
    let mut offset = if flags & 0x01 != 0 {
        let data_offset = i64::from(reader.i32()?);
        header
            .base
            .checked_add_signed(data_offset)
            .ok_or_else(|| Mp4Error::Corrupt("trun data offset before the file start".into()))?
    } else {
        previous_end
    };
    let first_flags = if flags & 0x04 != 0 {
        Some(reader.u32()?)
    } else {
        None
    };
    let per_sample = [0x100u32, 0x200, 0x400, 0x800]
        .iter()
        .filter(|&&bit| flags & bit != 0)
        .count() as u64
        * 4;
    let count = reader.check_count(u64::from(count), per_sample)?;
    let total = (track.samples.len() as u64).saturating_add(count as u64);
    check_sample_count(total, file_size, "trun")?;
    track.samples.reserve(count);
    for index in 0..count {
        let duration = if flags & 0x100 != 0 {
            reader.u32()?
        } else {
            header.defaults.duration
        };
        let size = if flags & 0x200 != 0 {
            reader.u32()?
        } else {
            header.defaults.size
        };
        let mut sample_flags = if flags & 0x400 != 0 {
            reader.u32()?
        } else {
            header.defaults.flags
        };
        if index == 0 {
            if let Some(first) = first_flags {
                sample_flags = first;
            }
        }
        let cts_offset = if flags & 0x800 != 0 {
            let raw = reader.u32()?;
            // Version 0 is unsigned; values past i32 are not real presentation offsets.
            if version == 0 {
                i32::try_from(raw).map_err(|_| {
                    Mp4Error::Corrupt(format!("trun: composition offset {raw} too large"))
                })?
            } else {
                raw as i32
            }
        } else {
            0
        };
        track.samples.push(Sample {
            offset,
            size,
            dts: *dts,
            cts_offset,
            sync: is_sync(sample_flags),
            duration,
        });
        offset = offset
            .checked_add(u64::from(size))
            .ok_or_else(|| Mp4Error::Corrupt("trun: sample offsets overflow".into()))?;
        *dts = dts
            .checked_add(u64::from(duration))
            .ok_or_else(|| Mp4Error::Corrupt("trun: decode time overflows".into()))?;
    }
    Ok(offset)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::{Codec, EditShift, TrackKind};
    use crate::mp4::test_boxes::boxed;

    fn words(fourcc: &[u8; 4], words: &[u32]) -> Vec<u8> {
        let body: Vec<u8> = words.iter().flat_map(|w| w.to_be_bytes()).collect();
        boxed(fourcc, &body)
    }

    fn track(id: u32) -> Track {
        Track {
            id,
            kind: TrackKind::Video,
            flags: 3,
            timescale: 1000,
            duration: 0,
            movie_duration: 0,
            language: "und".into(),
            name: String::new(),
            display_width: 0.0,
            display_height: 0.0,
            codec: Codec::Unsupported(*b"test"),
            edit: EditShift::default(),
            samples: Default::default(),
        }
    }

    const NON_SYNC: u32 = 0x0101_0000;

    fn run(
        moof_body: Vec<u8>,
        defaults: &[(u32, SampleDefaults)],
    ) -> Result<Vec<Sample>, Mp4Error> {
        let mut tracks = vec![track(1)];
        let defaults: HashMap<u32, SampleDefaults> = defaults.iter().copied().collect();
        let mut next_dts = vec![0u64];
        apply_moof(
            500,
            &moof_body,
            &mut tracks,
            &defaults,
            &mut next_dts,
            1 << 20,
        )?;
        Ok(tracks.remove(0).samples.iter().collect())
    }

    fn sample(
        offset: u64,
        size: u32,
        dts: u64,
        cts_offset: i32,
        sync: bool,
        duration: u32,
    ) -> Sample {
        Sample {
            offset,
            size,
            dts,
            cts_offset,
            sync,
            duration,
        }
    }

    #[test]
    fn fragments() {
        // tfhd: base-data-offset 1000, default duration 10, size 100, flags non-sync.
        let tfhd = words(b"tfhd", &[0x39, 1, 0, 1000, 10, 100, NON_SYNC]);
        let tfdt = words(b"tfdt", &[0, 7000]);
        // trun: data offset 8, first-sample-flags sync, sizes and cts per sample.
        let trun = words(b"trun", &[0xa05, 2, 8, 0x0200_0000, 50, 3, 60, 4]);
        let ffmpeg_like = boxed(b"traf", &[tfhd, tfdt.clone(), trun].concat());
        // default-base-is-moof, trex defaults, no tfdt: offsets count from the moof at 500.
        let moof_based = boxed(
            b"traf",
            &[
                words(b"tfhd", &[0x02_0000, 1]),
                words(b"trun", &[0x001, 2, 16]),
            ]
            .concat(),
        );
        let trex = SampleDefaults {
            duration: 20,
            size: 5,
            flags: 0,
        };
        let huge = boxed(
            b"traf",
            &[
                words(b"tfhd", &[0x02_0000, 1]),
                words(b"trun", &[0x300, u32::MAX]),
            ]
            .concat(),
        );
        let huge_defaults_only = boxed(
            b"traf",
            &[
                words(b"tfhd", &[0x02_0000, 1]),
                words(b"trun", &[0, u32::MAX]),
            ]
            .concat(),
        );
        let unknown_track = boxed(
            b"traf",
            &[words(b"tfhd", &[0, 9]), words(b"trun", &[0, 1])].concat(),
        );
        let trun_first = boxed(b"traf", &words(b"trun", &[0, 1]));
        type Case = (&'static str, Vec<u8>, Result<Vec<Sample>, ()>);
        let cases: Vec<Case> = vec![
            (
                "ffmpeg-like",
                ffmpeg_like,
                Ok(vec![
                    sample(1008, 50, 7000, 3, true, 10),
                    sample(1058, 60, 7010, 4, false, 10),
                ]),
            ),
            (
                "moof-relative with trex defaults",
                moof_based,
                Ok(vec![
                    sample(516, 5, 0, 0, true, 20),
                    sample(521, 5, 20, 0, true, 20),
                ]),
            ),
            ("huge count with per-sample fields", huge, Err(())),
            ("huge count with defaults only", huge_defaults_only, Err(())),
            ("unknown track", unknown_track, Err(())),
            ("trun before tfhd", trun_first, Err(())),
        ];
        for (name, traf, expected) in cases {
            assert_eq!(run(traf, &[(1, trex)]).map_err(|_| ()), expected, "{name}");
        }
    }

    #[test]
    fn sample_flags() {
        let cases = [
            (0, true),
            (0x0200_0000, true),
            (0x0100_0000, false),
            (0x0001_0000, false),
            (NON_SYNC, false),
        ];
        for (flags, sync) in cases {
            assert_eq!(is_sync(flags), sync, "{flags:#x}");
        }
    }
}
