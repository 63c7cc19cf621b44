//! The MP4 demuxer: pure parsing of the index (`moov`, `moof`) into a [`Movie`].
//! No I/O here: [`top_level`] reads through a function the caller supplies, and
//! `crate::source` is the edge that reads files.

pub mod audio_config;
pub mod boxes;
pub mod codecs;
pub mod fragments;
pub mod sample_entry;
pub mod sample_table;
#[cfg(test)]
pub(crate) mod test_boxes;
pub mod top_level;
pub mod track;

pub use codecs::codecs_string;
pub use sample_entry::EntryDetails;
pub use top_level::{
    load_index, read_body, walk_children, walk_top_level, LoadedBoxes, ReadAt, TopLevelBox,
};

use crate::error::Mp4Error;
use crate::media::{FileInfo, Movie};
use boxes::{children, require, Reader};
use std::ops::Range;

/// The index of a file as read from it: what [`parse_movie`] works on.
#[derive(Debug, Clone, Copy)]
pub struct FileBoxes<'a> {
    pub top_level: &'a [TopLevelBox],
    /// `ftyp` body, when the file has one.
    pub ftyp: Option<&'a [u8]>,
    /// `moov` body.
    pub moov: &'a [u8],
    /// Each `moof`: file offset of its header, and its body.
    pub moofs: &'a [(u64, Vec<u8>)],
    pub file_size: u64,
}

/// A movie plus the sample-entry facts only `mp4info` prints (one per track).
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedMovie {
    pub movie: Movie,
    pub details: Vec<EntryDetails>,
}

/// Parses the index into a [`Movie`].
pub fn parse_movie(boxes: &FileBoxes<'_>) -> Result<Movie, Mp4Error> {
    parse_movie_with_details(boxes).map(|parsed| parsed.movie)
}

/// Parses the index; checks that every sample lies inside the file.
pub fn parse_movie_with_details(boxes: &FileBoxes<'_>) -> Result<ParsedMovie, Mp4Error> {
    parse_movie_parts(boxes, &mut std::iter::empty())
}

/// Parses the index, where `more_traks` gives the bodies of `trak` boxes that are
/// not in `boxes.moov` (in order, after any that are), one at a time.
fn parse_movie_parts(
    boxes: &FileBoxes<'_>,
    more_traks: &mut dyn Iterator<Item = Result<Vec<u8>, Mp4Error>>,
) -> Result<ParsedMovie, Mp4Error> {
    let mut file = match boxes.ftyp {
        Some(ftyp) => parse_ftyp(ftyp)?,
        None => FileInfo::default(),
    };
    file.file_size = boxes.file_size;
    let moov_offset = boxes
        .top_level
        .iter()
        .find(|b| &b.fourcc == b"moov")
        .map(|b| b.offset);
    let mdat_offset = boxes
        .top_level
        .iter()
        .find(|b| &b.fourcc == b"mdat")
        .map(|b| b.offset);
    file.fast_start = match (moov_offset, mdat_offset) {
        (Some(moov), Some(mdat)) => moov < mdat,
        _ => true,
    };
    let (time_scale, duration) = parse_mvhd(require(boxes.moov, b"mvhd", "moov")?)?;
    let mut tracks = Vec::new();
    let mut details = Vec::new();
    let mut mvex = None;
    for child in children(boxes.moov) {
        let child = child?;
        match &child.fourcc {
            b"trak" => {
                let (track, detail) = track::parse_trak(child.body, time_scale, boxes.file_size)?;
                tracks.push(track);
                details.push(detail);
            }
            b"mvex" => mvex = Some(child.body),
            _ => {}
        }
    }
    for trak in more_traks {
        let (track, detail) = track::parse_trak(&trak?, time_scale, boxes.file_size)?;
        tracks.push(track);
        details.push(detail);
    }
    let fragmented = mvex.is_some();
    if let Some(mvex) = mvex {
        let defaults = fragments::parse_mvex(mvex)?;
        let mut next_dts: Vec<u64> = tracks
            .iter()
            .map(|track| {
                track
                    .samples
                    .last()
                    .map_or(0, |s| s.dts.saturating_add(u64::from(s.duration)))
            })
            .collect();
        for (offset, moof) in boxes.moofs {
            fragments::apply_moof(
                *offset,
                moof,
                &mut tracks,
                &defaults,
                &mut next_dts,
                boxes.file_size,
            )?;
        }
    }
    let movie = Movie {
        file,
        time_scale,
        duration,
        fragmented,
        tracks,
    };
    check_sample_ranges(&movie)?;
    check_samples_in_media_data(&movie, &media_data_ranges(boxes.top_level))?;
    Ok(ParsedMovie { movie, details })
}

/// Parses a whole file held in memory (tests and fuzzing; files go through `source`).
pub fn parse_file(data: &[u8]) -> Result<ParsedMovie, Mp4Error> {
    load_movie(data.len() as u64, &mut top_level::slice_reader(data))
}

/// Walks the top level, loads the index boxes through `read_at`, and parses them,
/// reading each `trak` only when its turn comes.
pub fn load_movie(file_size: u64, read_at: &mut ReadAt<'_>) -> Result<ParsedMovie, Mp4Error> {
    let top_level = walk_top_level(file_size, read_at)?;
    let loaded = load_index(&top_level, file_size, read_at)?;
    let mut traks = loaded.traks.iter().map(|trak| read_body(trak, read_at));
    parse_movie_parts(
        &FileBoxes {
            top_level: &top_level,
            ftyp: loaded.ftyp.as_deref(),
            moov: &loaded.moov,
            moofs: &loaded.moofs,
            file_size,
        },
        &mut traks,
    )
}

fn parse_ftyp(body: &[u8]) -> Result<FileInfo, Mp4Error> {
    let mut reader = Reader::new(body, "ftyp");
    let major_brand = reader.fourcc()?;
    let minor_version = reader.u32()?;
    let count = reader.remaining() / 4;
    let mut compatible_brands = Vec::with_capacity(count);
    for _ in 0..count {
        compatible_brands.push(reader.fourcc()?);
    }
    Ok(FileInfo {
        major_brand,
        minor_version,
        compatible_brands,
        ..Default::default()
    })
}

fn parse_mvhd(body: &[u8]) -> Result<(u32, u64), Mp4Error> {
    let mut reader = Reader::new(body, "mvhd");
    let (version, _) = reader.full_box()?;
    if version == 1 {
        reader.skip(16)?;
        Ok((reader.u32()?, reader.u64()?))
    } else {
        reader.skip(8)?;
        Ok((reader.u32()?, u64::from(reader.u32()?)))
    }
}

/// A sample past the end of the file means a truncated `mdat`: refuse the file
/// before anything is written, saying how much is missing.
fn check_sample_ranges(movie: &Movie) -> Result<(), Mp4Error> {
    let file_size = movie.file.file_size;
    let mut worst: Option<(u32, usize, u64)> = None;
    let mut beyond = 0usize;
    for track in &movie.tracks {
        for (index, (offset, size)) in track.samples.spans().enumerate() {
            let end = offset.saturating_add(u64::from(size));
            if end > file_size {
                beyond += 1;
                if worst.is_none_or(|(_, _, worst_end)| end > worst_end) {
                    worst = Some((track.id, index, end));
                }
            }
        }
    }
    match worst {
        None => Ok(()),
        Some((track_id, index, end)) => Err(Mp4Error::Corrupt(format!(
            "mdat truncated: {} bytes missing ({beyond} samples lie past the end of the {file_size}-byte file; sample {} of track {track_id} ends at byte {end})",
            end - file_size,
            index + 1
        ))),
    }
}

/// The bodies of the top-level `mdat` boxes, in file order (an `mdat` that claims
/// past the end is cut at the end; the range check has refused its samples there).
fn media_data_ranges(top_level: &[TopLevelBox]) -> Vec<Range<u64>> {
    top_level
        .iter()
        .filter(|b| &b.fourcc == b"mdat")
        .map(|b| b.body_offset()..b.end())
        .collect()
}

/// Every sample's bytes lie inside one `mdat` body. A sample table pointing at the
/// `moov`, the `ftyp` or between boxes is an index that does not describe this file
/// (boxes moved without their chunk offsets patched, sizes grown): every segment
/// would fail while reading it, so the file is refused before anything is planned.
/// One binary search per sample over the few `mdat`s; no sample byte is read.
fn check_samples_in_media_data(movie: &Movie, media_data: &[Range<u64>]) -> Result<(), Mp4Error> {
    for track in &movie.tracks {
        for (index, (offset, size)) in track.samples.spans().enumerate() {
            if size == 0 {
                continue; // no bytes to read, wherever it points
            }
            let end = offset.saturating_add(u64::from(size));
            let holder = media_data
                .partition_point(|range| range.start <= offset)
                .checked_sub(1)
                .and_then(|at| media_data.get(at));
            if holder.is_none_or(|range| end > range.end) {
                return Err(Mp4Error::Corrupt(format!(
                    "sample {} of track {} (bytes {offset}-{end}) is not inside an 'mdat' box: the index does not describe this file",
                    index + 1,
                    track.id
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ftyp_brands() {
        let body = b"isom\0\0\x02\0isomiso2avc1mp41xx";
        let info = parse_ftyp(body).expect("valid ftyp");
        assert_eq!(info.major_brand, *b"isom");
        assert_eq!(info.minor_version, 512);
        assert_eq!(
            info.compatible_brands,
            vec![*b"isom", *b"iso2", *b"avc1", *b"mp41"]
        );
        assert!(parse_ftyp(b"iso").is_err());
    }

    use crate::media::{Codec, EditShift, Sample, Track, TrackKind};

    fn sample(offset: u64, size: u32) -> Sample {
        Sample {
            offset,
            size,
            dts: 0,
            cts_offset: 0,
            sync: true,
            duration: 1,
        }
    }

    /// A 1000-byte file with one track of these samples.
    fn movie(samples: Vec<Sample>) -> Movie {
        Movie {
            file: FileInfo {
                file_size: 1000,
                ..Default::default()
            },
            time_scale: 1000,
            duration: 0,
            fragmented: false,
            tracks: vec![Track {
                id: 7,
                kind: TrackKind::Audio,
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
                samples: samples.into(),
            }],
        }
    }

    #[test]
    fn samples_past_the_end_name_the_missing_bytes() {
        assert!(check_sample_ranges(&movie(vec![sample(0, 500), sample(500, 500)])).is_ok());
        let error = check_sample_ranges(&movie(vec![
            sample(0, 500),
            sample(900, 200),
            sample(u64::MAX, 10),
        ]))
        .expect_err("past the end");
        let text = error.to_string();
        assert!(
            text.contains("mdat truncated") && text.contains("2 samples"),
            "{text}"
        );
        assert_eq!(error.exit_code(), 2);
    }

    #[test]
    fn samples_must_lie_inside_an_mdat() {
        // Two mdat bodies: 100..400 and 600..900 (a moov, say, between them).
        let media_data = [100..400, 600..900];
        let cases: Vec<(&str, Vec<Sample>, Result<(), &str>)> = vec![
            (
                "inside both",
                vec![sample(100, 300), sample(600, 300)],
                Ok(()),
            ),
            (
                "empty samples anywhere",
                vec![sample(0, 0), sample(999, 0)],
                Ok(()),
            ),
            (
                "before the first",
                vec![sample(100, 10), sample(40, 10)],
                Err("sample 2 of track 7 (bytes 40-50) is not inside an 'mdat'"),
            ),
            (
                "in the moov between",
                vec![sample(450, 10)],
                Err("bytes 450-460"),
            ),
            (
                "running out of one",
                vec![sample(390, 20)],
                Err("bytes 390-410"),
            ),
            (
                "spanning both",
                vec![sample(300, 400)],
                Err("bytes 300-700"),
            ),
            ("after the last", vec![sample(900, 1)], Err("bytes 900-901")),
        ];
        for (name, samples, expected) in cases {
            let got = check_samples_in_media_data(&movie(samples), &media_data);
            match (got, expected) {
                (Ok(()), Ok(())) => {}
                (Err(error), Err(needle)) => {
                    assert_eq!(error.exit_code(), 2, "{name}");
                    assert!(error.to_string().contains(needle), "{name}: {error}");
                }
                (got, _) => panic!("{name}: {got:?}"),
            }
        }
        assert!(check_samples_in_media_data(&movie(vec![sample(0, 1)]), &[]).is_err());
    }

    #[test]
    fn broken_files_are_errors_not_panics() {
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("empty", vec![]),
            ("zeros", vec![0; 64]),
            (
                "moov without mvhd",
                [vec![0, 0, 0, 8], b"moov".to_vec()].concat(),
            ),
            (
                "short mvhd",
                [
                    vec![0, 0, 0, 20],
                    b"moov".to_vec(),
                    vec![0, 0, 0, 12],
                    b"mvhd".to_vec(),
                    vec![0; 4],
                ]
                .concat(),
            ),
        ];
        for (name, data) in cases {
            assert!(parse_file(&data).is_err(), "{name}");
        }
    }
}
