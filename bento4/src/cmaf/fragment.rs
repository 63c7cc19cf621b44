//! One media segment: `styp`, `moof` (`mfhd` with the segment's sequence number,
//! `traf` with `tfhd`, `tfdt`, `trun`, and when protected the samples' `cbcs`
//! subsamples in `senc` with `saiz`/`saio` pointing at them), then `mdat` with the
//! track's samples.

use super::boxes::{boxed, full, patch_u32, u16_be, u32_be, u64_be};
use super::init::TRACK_ID;
use super::protect::{self, Cbcs, Subsample};
use super::{sample_duration, sample_range, track, CmafTrack};
use crate::media::{Codec, Track};
use crate::mux::{MuxError, SampleBytes};
use crate::plan::Plan;
use std::ops::Range;

/// Subsamples one `saiz` entry (a byte: 2 + 6 each) can describe.
const MAX_SUBSAMPLES: usize = 42;
const SYNC: u32 = 0x0200_0000; // depends on no other sample
const NON_SYNC: u32 = 0x0101_0000; // depends on others, not a sync sample

/// Appends segment `index` (into `plan.segments`) of the track of that kind,
/// `cbcs`-protected when `protection` is given.
pub fn write_fragment(
    plan: &Plan,
    index: usize,
    kind: CmafTrack,
    bytes: &dyn SampleBytes,
    out: &mut Vec<u8>,
    protection: Option<&Cbcs>,
) -> Result<(), MuxError> {
    let segment = plan
        .segments
        .get(index)
        .ok_or_else(|| MuxError(format!("no segment at index {index}")))?;
    let (track, shift) =
        track(plan, kind).ok_or_else(|| MuxError(format!("no {} track", kind.name())))?;
    let range = sample_range(segment, kind);
    let sample = |i: usize| match kind {
        CmafTrack::Video => bytes.video(i),
        CmafTrack::Audio => bytes.audio(i),
    };
    let start = track
        .samples
        .dts(range.start)
        .or_else(|| track.samples.last().map(|s| s.dts))
        .unwrap_or(0);
    let video = kind == CmafTrack::Video;
    let payload: u64 = range
        .clone()
        .map(|i| u64::from(track.samples.size(i).unwrap_or(0)))
        .sum();
    let mdat_size = u32::try_from(payload + 8)
        .map_err(|_| MuxError(format!("segment {} is over 4 GiB", segment.number)))?;
    // Protected samples are encrypted first: the moof lists their subsamples.
    let protected = match protection {
        Some(cbcs) => Some(encrypted(track, kind, range.clone(), &sample, cbcs)?),
        None => None,
    };
    let segment_start = out.len();
    boxed(out, b"styp", |out| {
        out.extend_from_slice(b"msdh");
        u32_be(out, 0);
        out.extend_from_slice(b"msdh");
        out.extend_from_slice(b"msix");
    });
    let moof_at = out.len();
    let mut data_offset_at = 0;
    let (mut saio_at, mut senc_at) = (0, 0);
    boxed(out, b"moof", |out| {
        full(out, b"mfhd", 0, 0, |out| {
            // Counts from 1 in plan order, whatever the file numbering.
            u32_be(out, u32::try_from(index + 1).unwrap_or(u32::MAX));
        });
        boxed(out, b"traf", |out| {
            full(out, b"tfhd", 0, 0x02_0000, |out| u32_be(out, TRACK_ID));
            full(out, b"tfdt", 1, 0, |out| u64_be(out, start));
            let flags = 0x01 | 0x100 | 0x200 | 0x400 | if video { 0x800 } else { 0 };
            full(out, b"trun", 1, flags, |out| {
                u32_be(out, range.len() as u32);
                data_offset_at = out.len();
                u32_be(out, 0);
                for i in range.clone() {
                    u32_be(out, sample_duration(track, i));
                    u32_be(out, track.samples.size(i).unwrap_or(0));
                    let sync = !video || track.samples.is_sync(i);
                    u32_be(out, if sync { SYNC } else { NON_SYNC });
                    if video {
                        let offset = i64::from(track.samples.cts_offset(i)).saturating_add(shift);
                        let offset = offset.clamp(i64::from(i32::MIN), i64::from(i32::MAX));
                        out.extend_from_slice(&(offset as i32).to_be_bytes());
                    }
                }
            });
            if let Some((_, subsamples)) = &protected {
                (saio_at, senc_at) = sample_encryption(out, video, subsamples);
            }
        });
    });
    // Samples start right after the mdat header, counted from the moof's first byte.
    let data_offset = (out.len() - moof_at + 8) as u32;
    debug_assert!(
        protected.is_some()
            || (out.len() - segment_start + 8) as u64 == header_len(range.len(), video),
        "header_len must describe what is written"
    );
    patch_u32(out, data_offset_at, data_offset);
    if protected.is_some() {
        // The first sample's auxiliary data: after senc's header, version, flags, count.
        patch_u32(out, saio_at, (senc_at - moof_at + 16) as u32);
    }
    u32_be(out, mdat_size);
    out.extend_from_slice(b"mdat");
    let before = out.len();
    match &protected {
        Some((data, _)) => out.extend_from_slice(data),
        None => {
            for i in range {
                let data = sample(i)
                    .ok_or_else(|| MuxError(format!("{} sample {i} was not read", kind.name())))?;
                out.extend_from_slice(data);
            }
        }
    }
    if (out.len() - before) as u64 != payload {
        return Err(MuxError(format!(
            "{} samples of segment {} differ in size from the index",
            kind.name(),
            segment.number
        )));
    }
    Ok(())
}

/// The samples of `range`, encrypted, and each one's subsamples (none for audio).
fn encrypted<'s>(
    track: &Track,
    kind: CmafTrack,
    range: Range<usize>,
    sample: &dyn Fn(usize) -> Option<&'s [u8]>,
    cbcs: &Cbcs,
) -> Result<(Vec<u8>, Vec<Vec<Subsample>>), MuxError> {
    let nal = match (&track.codec, kind) {
        (Codec::Avc(c), CmafTrack::Video) => Some((c.nalu_length_size, false)),
        (Codec::Hevc(c), CmafTrack::Video) => Some((c.nalu_length_size, true)),
        (_, CmafTrack::Video) => {
            return Err(MuxError("cbcs video must be H.264 or HEVC".into()));
        }
        _ => None,
    };
    let mut data = Vec::new();
    let mut subsamples = Vec::with_capacity(range.len());
    for i in range {
        let bytes = sample(i)
            .ok_or_else(|| MuxError(format!("{} sample {i} was not read", kind.name())))?;
        let at = data.len();
        data.extend_from_slice(bytes);
        let own = &mut data[at..];
        match nal {
            Some((length_size, hevc)) => {
                let own = protect::encrypt_video_sample(own, length_size, hevc, cbcs)
                    .map_err(|e| MuxError(format!("video sample {i}: {e}")))?;
                // saiz sizes are one byte: 2 + 6 per subsample.
                if own.len() > MAX_SUBSAMPLES {
                    return Err(MuxError(format!(
                        "video sample {i} has {} NAL runs, more than cbcs can list",
                        own.len()
                    )));
                }
                subsamples.push(own);
            }
            None => {
                protect::encrypt_audio_sample(own, cbcs);
                subsamples.push(Vec::new());
            }
        }
    }
    Ok((data, subsamples))
}

/// `saiz`, `saio` (its offset patched by the caller) and `senc` for the samples'
/// subsamples (video; audio has none: the constant IV alone). Returns where the
/// `saio` offset and the `senc` box are in `out`.
fn sample_encryption(
    out: &mut Vec<u8>,
    video: bool,
    subsamples: &[Vec<Subsample>],
) -> (usize, usize) {
    let info_size = |s: &Vec<Subsample>| if video { 2 + 6 * s.len() } else { 0 };
    full(out, b"saiz", 0, 0, |out| {
        out.push(0); // sizes differ: one per sample
        u32_be(out, subsamples.len() as u32);
        for s in subsamples {
            out.push(u8::try_from(info_size(s)).unwrap_or(u8::MAX)); // at most 254
        }
    });
    let mut saio_at = 0;
    full(out, b"saio", 0, 0, |out| {
        u32_be(out, 1);
        saio_at = out.len();
        u32_be(out, 0);
    });
    let senc_at = out.len();
    full(out, b"senc", 0, if video { 0x2 } else { 0 }, |out| {
        u32_be(out, subsamples.len() as u32);
        if video {
            for s in subsamples {
                u16_be(out, s.len() as u16);
                for sub in s {
                    u16_be(out, sub.clear);
                    u32_be(out, sub.protected);
                }
            }
        }
    });
    (saio_at, senc_at)
}

/// Bytes of a media segment before its first sample: `styp` (24), `moof` (88 and a
/// `trun` entry per sample: 12 bytes, 16 with a video composition offset) and the
/// `mdat` header (8). What [`write_fragment`] writes, checked there.
fn header_len(samples: usize, video: bool) -> u64 {
    let entry = if video { 16 } else { 12 };
    24 + 88 + samples as u64 * entry + 8
}

/// The I-frame of video segment `index` as a byte range of its file from offset 0:
/// the `styp`, the `moof` and the first sample (a sync sample, which a plan puts
/// first), so a player can decode it alone with the init segment (HLS I-frame
/// playlists over fMP4). `None` when that sample is not a sync sample or the plan has
/// no such segment or no video.
pub fn keyframe_range(plan: &Plan, index: usize) -> Option<u64> {
    let segment = plan.segments.get(index)?;
    let (track, _) = track(plan, CmafTrack::Video)?;
    let range = sample_range(segment, CmafTrack::Video);
    if range.is_empty() || !track.samples.is_sync(range.start) {
        return None;
    }
    let first = u64::from(track.samples.size(range.start)?);
    Some(header_len(range.len(), true) + first)
}
