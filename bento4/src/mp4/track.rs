//! One `trak` box (ISO/IEC 14496-12 §8.3-8.4): header, media header, handler, edit
//! list and sample table, turned into a [`Track`].

use crate::error::Mp4Error;
use crate::media::{Codec, EditShift, Track, TrackKind};
use crate::mp4::boxes::{children, find, require, Reader};
use crate::mp4::sample_entry::{parse_stsd, EntryDetails};
use crate::mp4::sample_table::build_samples;

/// `movie_time_scale` converts the edit list's durations (movie scale) to the track's.
pub fn parse_trak(
    trak: &[u8],
    movie_time_scale: u32,
    file_size: u64,
) -> Result<(Track, EntryDetails), Mp4Error> {
    let tkhd = parse_tkhd(require(trak, b"tkhd", "trak")?)?;
    let mdia = require(trak, b"mdia", "trak")?;
    let (timescale, duration, language) = parse_mdhd(require(mdia, b"mdhd", "mdia")?)?;
    let (handler, name) = parse_hdlr(require(mdia, b"hdlr", "mdia")?)?;
    let minf = require(mdia, b"minf", "mdia")?;
    let stbl = require(minf, b"stbl", "minf")?;
    let (codec, mut details) = parse_stsd(require(stbl, b"stsd", "stbl")?)?;
    let samples = build_samples(stbl, file_size)?;
    details.moov_sample_count = samples.len();
    let edit = match find(trak, b"edts")?
        .map(|edts| find(edts, b"elst"))
        .transpose()?
        .flatten()
    {
        Some(elst) => parse_elst(elst, movie_time_scale, timescale, tkhd.id)?,
        None => EditShift::default(),
    };
    let kind = match &handler {
        b"vide" => TrackKind::Video,
        b"soun" => TrackKind::Audio,
        other => TrackKind::Other(*other),
    };
    let track = Track {
        id: tkhd.id,
        kind,
        flags: tkhd.flags,
        timescale,
        duration,
        movie_duration: tkhd.duration,
        language,
        name,
        display_width: tkhd.width,
        display_height: tkhd.height,
        codec: if kind == TrackKind::Video || kind == TrackKind::Audio {
            codec
        } else {
            Codec::Unsupported(details.fourcc)
        },
        edit,
        samples,
    };
    Ok((track, details))
}

struct TrackHeader {
    id: u32,
    flags: u32,
    duration: u64,
    width: f64,
    height: f64,
}

fn parse_tkhd(body: &[u8]) -> Result<TrackHeader, Mp4Error> {
    let mut reader = Reader::new(body, "tkhd");
    let (version, flags) = reader.full_box()?;
    let (id, duration) = if version == 1 {
        reader.skip(16)?;
        let id = reader.u32()?;
        reader.skip(4)?;
        (id, reader.u64()?)
    } else {
        reader.skip(8)?;
        let id = reader.u32()?;
        reader.skip(4)?;
        (id, u64::from(reader.u32()?))
    };
    reader.skip(8 + 2 + 2 + 2 + 2 + 36)?; // reserved, layer, group, volume, reserved, matrix
    let width = f64::from(reader.u32()?) / 65536.0;
    let height = f64::from(reader.u32()?) / 65536.0;
    Ok(TrackHeader {
        id,
        flags,
        duration,
        width,
        height,
    })
}

fn parse_mdhd(body: &[u8]) -> Result<(u32, u64, String), Mp4Error> {
    let mut reader = Reader::new(body, "mdhd");
    let (version, _) = reader.full_box()?;
    let (timescale, duration) = if version == 1 {
        reader.skip(16)?;
        (reader.u32()?, reader.u64()?)
    } else {
        reader.skip(8)?;
        (reader.u32()?, u64::from(reader.u32()?))
    };
    let packed = reader.u16()?;
    // Three 5-bit letters offset from 0x60 (ISO 639-2/T).
    let language: String = [10u16, 5, 0]
        .iter()
        .map(|shift| char::from((((packed >> shift) & 0x1f) as u8).wrapping_add(0x60)))
        .collect();
    let language = if language.chars().all(|c| c.is_ascii_lowercase()) {
        language
    } else {
        "und".to_string()
    };
    Ok((timescale, duration, language))
}

/// The handler type and name. The name is a NUL-terminated UTF-8 string (ISO BMFF);
/// QuickTime files write a counted string instead, told apart by its length byte.
fn parse_hdlr(body: &[u8]) -> Result<([u8; 4], String), Mp4Error> {
    let mut reader = Reader::new(body, "hdlr");
    reader.full_box()?;
    reader.u32()?; // pre_defined
    let handler = reader.fourcc()?;
    // 12 reserved bytes, then the name to the end of the box.
    let name = body.get(4 + 4 + 4 + 12..).unwrap_or_default();
    let name = match name.first() {
        Some(&n) if usize::from(n) + 1 == name.len() && n > 0 => &name[1..],
        _ => name,
    };
    let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
    let name = String::from_utf8_lossy(&name[..end]).trim().to_string();
    Ok((handler, name))
}

/// Reduces an edit list to one shift: an optional leading empty edit and one media
/// edit at normal rate. Anything richer changes the timeline in ways TS cannot carry.
pub fn parse_elst(
    body: &[u8],
    movie_time_scale: u32,
    timescale: u32,
    track_id: u32,
) -> Result<EditShift, Mp4Error> {
    let mut reader = Reader::new(body, "elst");
    let (version, _) = reader.full_box()?;
    let count = reader.u32()?;
    let count = reader.check_count(u64::from(count), if version == 1 { 20 } else { 12 })?;
    let mut shift = EditShift::default();
    let mut media_edits = 0;
    for index in 0..count {
        let (segment_duration, media_time) = if version == 1 {
            (reader.u64()?, reader.u64()? as i64)
        } else {
            (u64::from(reader.u32()?), i64::from(reader.i32()?))
        };
        let rate = reader.u32()?;
        if media_time == -1 {
            if index != 0 {
                return Err(unsupported_edits(track_id, "an empty edit after the first"));
            }
            // Empty edits are in the movie time scale; the model keeps track units.
            let scaled = u128::from(segment_duration) * u128::from(timescale)
                / u128::from(movie_time_scale.max(1));
            shift.empty_duration = u64::try_from(scaled)
                .map_err(|_| unsupported_edits(track_id, "a huge empty edit"))?;
            continue;
        }
        if rate != 0x0001_0000 {
            return Err(unsupported_edits(
                track_id,
                "an edit with a rate other than 1",
            ));
        }
        media_edits += 1;
        if media_edits > 1 {
            return Err(unsupported_edits(track_id, "more than one media edit"));
        }
        shift.media_start = u64::try_from(media_time)
            .map_err(|_| unsupported_edits(track_id, "a negative media time"))?;
    }
    Ok(shift)
}

fn unsupported_edits(track_id: u32, what: &str) -> Mp4Error {
    Mp4Error::Unsupported(format!("edit list of track {track_id} has {what}"))
}

/// The track IDs in a `moov`, for fragments to find their track.
pub fn track_ids(moov: &[u8]) -> Result<Vec<u32>, Mp4Error> {
    let mut ids = Vec::new();
    for child in children(moov) {
        let child = child?;
        if &child.fourcc == b"trak" {
            ids.push(parse_tkhd(require(child.body, b"tkhd", "trak")?)?.id);
        }
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn elst(version: u8, entries: &[(u64, i64, u32)]) -> Vec<u8> {
        let mut body = vec![version, 0, 0, 0];
        body.extend_from_slice(&(entries.len() as u32).to_be_bytes());
        for &(duration, media_time, rate) in entries {
            if version == 1 {
                body.extend_from_slice(&duration.to_be_bytes());
                body.extend_from_slice(&media_time.to_be_bytes());
            } else {
                body.extend_from_slice(&(duration as u32).to_be_bytes());
                body.extend_from_slice(&(media_time as i32).to_be_bytes());
            }
            body.extend_from_slice(&rate.to_be_bytes());
        }
        body
    }

    #[test]
    fn edit_lists() {
        const ONE: u32 = 0x1_0000;
        let cases: Vec<(&str, Vec<u8>, Result<EditShift, i32>)> = vec![
            ("none", elst(0, &[]), Ok(EditShift::default())),
            (
                "ffmpeg B-frame delay",
                elst(0, &[(60000, 1024, ONE)]),
                Ok(EditShift {
                    empty_duration: 0,
                    media_start: 1024,
                }),
            ),
            (
                "empty then media, scaled 1000 -> 12288",
                elst(1, &[(500, -1, ONE), (60000, 0, ONE)]),
                Ok(EditShift {
                    empty_duration: 6144,
                    media_start: 0,
                }),
            ),
            (
                "two media edits",
                elst(0, &[(10, 0, ONE), (10, 100, ONE)]),
                Err(3),
            ),
            ("slow motion", elst(0, &[(10, 0, ONE / 2)]), Err(3)),
            (
                "empty edit last",
                elst(0, &[(10, 0, ONE), (10, -1, ONE)]),
                Err(3),
            ),
            (
                "count past the box",
                {
                    let mut b = elst(0, &[(1, 0, ONE)]);
                    b[7] = 9;
                    b
                },
                Err(2),
            ),
        ];
        for (name, body, expected) in cases {
            let got = parse_elst(&body, 1000, 12288, 1).map_err(|e| e.exit_code());
            assert_eq!(got, expected, "{name}");
        }
    }

    #[test]
    fn mdhd_language() {
        let mut body = vec![0u8; 4 + 16];
        body[12..16].copy_from_slice(&48000u32.to_be_bytes());
        body[16..20].copy_from_slice(&96000u32.to_be_bytes());
        // "eng": e=5, n=14, g=7
        let packed: u16 = (5 << 10) | (14 << 5) | 7;
        body.extend_from_slice(&packed.to_be_bytes());
        assert_eq!(
            parse_mdhd(&body).ok(),
            Some((48000, 96000, "eng".to_string()))
        );
        assert!(parse_mdhd(&body[..10]).is_err());
    }

    #[test]
    fn hdlr_names_in_both_spellings() {
        let hdlr = |name: &[u8]| {
            let mut body = vec![0u8; 8];
            body.extend_from_slice(b"soun");
            body.extend_from_slice(&[0; 12]);
            body.extend_from_slice(name);
            parse_hdlr(&body).ok()
        };
        let named = |n: &str| Some((*b"soun", n.to_string()));
        assert_eq!(hdlr("Français\0".as_bytes()), named("Français"));
        assert_eq!(
            hdlr(b"English"),
            named("English"),
            "no NUL: to the box's end"
        );
        assert_eq!(
            hdlr(b"\x07English"),
            named("English"),
            "QuickTime's counted form"
        );
        assert_eq!(hdlr(b""), named(""));
        assert_eq!(hdlr(b"\0"), named(""));
        assert!(parse_hdlr(&[0u8; 10]).is_err());
    }
}
