//! One media segment: `styp`, `moof` (`mfhd` with the segment's sequence number,
//! `traf` with `tfhd`, `tfdt`, `trun`), then `mdat` with the track's samples.

use super::boxes::{boxed, full, patch_u32, u32_be, u64_be};
use super::init::TRACK_ID;
use super::{sample_duration, sample_range, track, CmafTrack};
use crate::mux::{MuxError, SampleBytes};
use crate::plan::Plan;

const SYNC: u32 = 0x0200_0000; // depends on no other sample
const NON_SYNC: u32 = 0x0101_0000; // depends on others, not a sync sample

/// Appends segment `index` (into `plan.segments`) of the track of that kind.
pub fn write_fragment(
    plan: &Plan,
    index: usize,
    kind: CmafTrack,
    bytes: &dyn SampleBytes,
    out: &mut Vec<u8>,
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
    let segment_start = out.len();
    boxed(out, b"styp", |out| {
        out.extend_from_slice(b"msdh");
        u32_be(out, 0);
        out.extend_from_slice(b"msdh");
        out.extend_from_slice(b"msix");
    });
    let moof_at = out.len();
    let mut data_offset_at = 0;
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
        });
    });
    // Samples start right after the mdat header, counted from the moof's first byte.
    let data_offset = (out.len() - moof_at + 8) as u32;
    debug_assert_eq!(
        (out.len() - segment_start + 8) as u64,
        header_len(range.len(), video),
        "header_len must describe what is written"
    );
    patch_u32(out, data_offset_at, data_offset);
    u32_be(out, mdat_size);
    out.extend_from_slice(b"mdat");
    let before = out.len();
    for i in range {
        let data = sample(i)
            .ok_or_else(|| MuxError(format!("{} sample {i} was not read", kind.name())))?;
        out.extend_from_slice(data);
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
