//! The file's top-level boxes, found from their headers alone, and the loading of
//! `moov`/`moof` bodies. Reading goes through a caller-supplied function, so this
//! logic is the same for a file (pread) and for bytes in memory (tests, fuzzing).

use crate::error::Mp4Error;
use crate::mp4::boxes::{fourcc_text, parse_header, FourCc};

/// One top-level box as seen from its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopLevelBox {
    pub fourcc: FourCc,
    /// File offset of the header's first byte.
    pub offset: u64,
    pub header_len: u8,
    /// Header plus body, as the header claims (an `mdat` may claim past the end).
    pub size: u64,
}

impl TopLevelBox {
    pub fn body_offset(&self) -> u64 {
        self.offset + u64::from(self.header_len)
    }
    pub fn body_len(&self) -> u64 {
        self.size - u64::from(self.header_len)
    }
    pub fn end(&self) -> u64 {
        self.offset.saturating_add(self.size)
    }
}

/// More top-level boxes than this is not a media file but an attack on our memory.
const MAX_TOP_LEVEL_BOXES: usize = 1 << 20;
/// Largest `moov` (and total of `moof`s) we load: a 10-hour title's index is ~30 MB.
pub const MAX_INDEX_BYTES: u64 = 1 << 30;

/// Reads exactly `buf.len()` bytes at a file offset.
pub type ReadAt<'a> = dyn FnMut(u64, &mut [u8]) -> Result<(), Mp4Error> + 'a;

/// Walks the top-level boxes by their headers. Stops after an `mdat` that runs past
/// the end (the sample check then says how much is missing); any other box past the
/// end, or bytes that are not a box, make the file corrupt.
pub fn walk_top_level(
    file_size: u64,
    read_at: &mut ReadAt<'_>,
) -> Result<Vec<TopLevelBox>, Mp4Error> {
    if file_size == 0 {
        return Err(Mp4Error::Corrupt("empty file".into()));
    }
    let mut boxes = Vec::new();
    let mut offset = 0u64;
    while offset < file_size {
        let remaining = file_size - offset;
        if remaining < 8 {
            // A few stray bytes after the last box: nothing to index, harmless.
            break;
        }
        let mut header = [0u8; 32];
        let wanted = header
            .len()
            .min(usize::try_from(remaining).unwrap_or(usize::MAX));
        let header = header
            .get_mut(..wanted)
            .ok_or_else(|| Mp4Error::Corrupt("header".into()))?;
        read_at(offset, header)?;
        let parsed = parse_header(header, remaining).map_err(|e| {
            Mp4Error::Corrupt(format!("not an MP4 file: bad box at offset {offset}: {e}"))
        })?;
        if !parsed
            .fourcc
            .iter()
            .all(|b| b.is_ascii_graphic() || *b == b' ')
        {
            return Err(Mp4Error::Corrupt(format!(
                "not an MP4 file: no box at offset {offset} (type '{}')",
                fourcc_text(&parsed.fourcc)
            )));
        }
        let found = TopLevelBox {
            fourcc: parsed.fourcc,
            offset,
            header_len: parsed.header_len,
            size: parsed.size,
        };
        if boxes.len() >= MAX_TOP_LEVEL_BOXES {
            return Err(Mp4Error::Unsupported(format!(
                "more than {MAX_TOP_LEVEL_BOXES} top-level boxes"
            )));
        }
        boxes.push(found);
        if parsed.size > remaining {
            if &parsed.fourcc == b"mdat" {
                break;
            }
            return Err(Mp4Error::Corrupt(format!(
                "file truncated: '{}' box at offset {offset} claims {} bytes, only {remaining} remain",
                fourcc_text(&parsed.fourcc),
                parsed.size
            )));
        }
        offset += parsed.size;
    }
    Ok(boxes)
}

/// The bodies `parse_movie` needs, read from the file.
#[derive(Debug, Default)]
pub struct LoadedBoxes {
    pub ftyp: Option<Vec<u8>>,
    /// The `moov` body without its `trak` boxes: every other child, header included.
    pub moov: Vec<u8>,
    /// Where each `trak` is, in file order: read one at a time, so that a long
    /// title's index is never in memory whole beside the samples built from it.
    pub traks: Vec<TopLevelBox>,
    /// (file offset of the `moof` header, body)
    pub moofs: Vec<(u64, Vec<u8>)>,
}

/// Reads `ftyp`, `moov` and every `moof` body; never touches `mdat`.
pub fn load_index(
    boxes: &[TopLevelBox],
    file_size: u64,
    read_at: &mut ReadAt<'_>,
) -> Result<LoadedBoxes, Mp4Error> {
    let mut moovs = boxes.iter().filter(|b| &b.fourcc == b"moov");
    let moov = moovs.next().ok_or_else(|| missing_moov(boxes, file_size))?;
    if let Some(second) = moovs.next() {
        // Which of two movies is the real one cannot be told from the file.
        return Err(Mp4Error::Corrupt(format!(
            "two 'moov' boxes (at offsets {} and {}): a file holds one movie",
            moov.offset, second.offset
        )));
    }
    if moov.body_len() > MAX_INDEX_BYTES {
        return Err(Mp4Error::Unsupported(format!(
            "'moov' box of {} bytes is larger than the {MAX_INDEX_BYTES} bytes we load",
            moov.body_len()
        )));
    }
    let mut loaded = LoadedBoxes::default();
    for child in walk_children(moov, read_at)? {
        if &child.fourcc == b"trak" {
            loaded.traks.push(child);
        } else {
            let start = loaded.moov.len();
            let len = usize::try_from(child.size)
                .map_err(|_| Mp4Error::Corrupt("box too large".into()))?;
            loaded.moov.resize(start.saturating_add(len), 0);
            if let Some(target) = loaded.moov.get_mut(start..) {
                read_at(child.offset, target)?;
            }
        }
    }
    if let Some(ftyp) = boxes.iter().find(|b| &b.fourcc == b"ftyp") {
        loaded.ftyp = Some(read_body(ftyp, read_at)?);
    }
    let mut total = moov.body_len();
    for moof in boxes.iter().filter(|b| &b.fourcc == b"moof") {
        total = total.saturating_add(moof.body_len());
        if total > MAX_INDEX_BYTES {
            return Err(Mp4Error::Unsupported(format!(
                "index larger than {MAX_INDEX_BYTES} bytes"
            )));
        }
        loaded.moofs.push((moof.offset, read_body(moof, read_at)?));
    }
    Ok(loaded)
}

/// The child boxes of `parent` from their headers, with the rules of
/// `boxes::children`: a child past the parent is corrupt, trailing bytes too short
/// for a header end the walk.
pub fn walk_children(
    parent: &TopLevelBox,
    read_at: &mut ReadAt<'_>,
) -> Result<Vec<TopLevelBox>, Mp4Error> {
    let end = parent.end();
    let mut offset = parent.body_offset();
    let mut found = Vec::new();
    while end.saturating_sub(offset) >= 8 {
        let available = end - offset;
        let mut header = [0u8; 32];
        let wanted = header
            .len()
            .min(usize::try_from(available).unwrap_or(usize::MAX));
        let header = header
            .get_mut(..wanted)
            .ok_or_else(|| Mp4Error::Corrupt("header".into()))?;
        read_at(offset, header)?;
        let parsed = parse_header(header, available)?;
        if parsed.size > available {
            return Err(Mp4Error::Corrupt(format!(
                "box '{}' claims {} bytes, its parent has only {available} left",
                fourcc_text(&parsed.fourcc),
                parsed.size,
            )));
        }
        found.push(TopLevelBox {
            fourcc: parsed.fourcc,
            offset,
            header_len: parsed.header_len,
            size: parsed.size,
        });
        offset += parsed.size;
    }
    Ok(found)
}

/// Reads the body of one box found by its header.
pub fn read_body(found: &TopLevelBox, read_at: &mut ReadAt<'_>) -> Result<Vec<u8>, Mp4Error> {
    let length = found.body_len();
    if length > MAX_INDEX_BYTES {
        return Err(Mp4Error::Unsupported(format!(
            "'{}' box of {length} bytes is larger than the {MAX_INDEX_BYTES} bytes we load",
            fourcc_text(&found.fourcc)
        )));
    }
    let mut body =
        vec![0u8; usize::try_from(length).map_err(|_| Mp4Error::Corrupt("box too large".into()))?];
    read_at(found.body_offset(), &mut body)?;
    Ok(body)
}

fn missing_moov(boxes: &[TopLevelBox], file_size: u64) -> Mp4Error {
    match boxes.iter().find(|b| b.end() > file_size) {
        Some(cut) => Mp4Error::Corrupt(format!(
            "no 'moov' box: file truncated ('{}' at offset {} claims {} bytes, the file ends {} bytes short)",
            fourcc_text(&cut.fourcc),
            cut.offset,
            cut.size,
            cut.end() - file_size
        )),
        None => Mp4Error::Corrupt("no 'moov' box".into()),
    }
}

/// A [`ReadAt`] over bytes in memory; reading past them is a short file (corrupt).
pub fn slice_reader(data: &[u8]) -> impl FnMut(u64, &mut [u8]) -> Result<(), Mp4Error> + '_ {
    move |offset, buf| {
        let start =
            usize::try_from(offset).map_err(|_| Mp4Error::Corrupt("offset too large".into()))?;
        let source = start
            .checked_add(buf.len())
            .and_then(|end| data.get(start..end))
            .ok_or_else(|| Mp4Error::Corrupt(format!("read past the end at offset {offset}")))?;
        buf.copy_from_slice(source);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mp4::test_boxes::boxed;

    fn walk(data: &[u8]) -> Result<Vec<(FourCc, u64)>, Mp4Error> {
        let boxes = walk_top_level(data.len() as u64, &mut slice_reader(data))?;
        Ok(boxes.into_iter().map(|b| (b.fourcc, b.size)).collect())
    }

    #[test]
    fn walking() {
        let ftyp = boxed(b"ftyp", b"isom\0\0\0\0");
        let mdat_cut = [vec![0, 0, 1, 0], b"mdat".to_vec(), vec![0; 10]].concat();
        let moov_cut = [vec![0, 0, 1, 0], b"moov".to_vec(), vec![0; 10]].concat();
        let huge = [
            vec![0, 0, 0, 1],
            b"moov".to_vec(),
            u64::MAX.to_be_bytes().to_vec(),
        ]
        .concat();
        type Case = (&'static str, Vec<u8>, Result<Vec<(FourCc, u64)>, i32>);
        let cases: Vec<Case> = vec![
            (
                "ftyp + free",
                [ftyp.clone(), boxed(b"free", &[])].concat(),
                Ok(vec![(*b"ftyp", 16), (*b"free", 8)]),
            ),
            (
                "size 0 runs to the end",
                [ftyp.clone(), vec![0, 0, 0, 0], b"mdat".to_vec(), vec![1; 5]].concat(),
                Ok(vec![(*b"ftyp", 16), (*b"mdat", 13)]),
            ),
            (
                "truncated mdat stops the walk",
                [ftyp.clone(), mdat_cut].concat(),
                Ok(vec![(*b"ftyp", 16), (*b"mdat", 256)]),
            ),
            (
                "stray tail bytes",
                [ftyp.clone(), vec![0; 5]].concat(),
                Ok(vec![(*b"ftyp", 16)]),
            ),
            ("truncated moov", [ftyp.clone(), moov_cut].concat(), Err(2)),
            ("huge largesize", [ftyp.clone(), huge].concat(), Err(2)),
            ("empty", vec![], Err(2)),
            (
                "garbage",
                vec![0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03, 0x04, 0, 0],
                Err(2),
            ),
            (
                "size below header",
                [vec![0, 0, 0, 3], b"free".to_vec()].concat(),
                Err(2),
            ),
        ];
        for (name, data, expected) in cases {
            assert_eq!(walk(&data).map_err(|e| e.exit_code()), expected, "{name}");
        }
    }

    #[test]
    fn children_by_their_headers() {
        let parent = |body: &[u8]| {
            let data = boxed(b"moov", body);
            let top = walk_top_level(data.len() as u64, &mut slice_reader(&data)).expect("walks");
            let found = walk_children(&top[0], &mut slice_reader(&data));
            found.map(|found| found.iter().map(|b| (b.fourcc, b.size)).collect::<Vec<_>>())
        };
        let two = [boxed(b"trak", b"x"), boxed(b"udta", b"")].concat();
        let past = [boxed(b"trak", b"x"), vec![0, 0, 0, 9], b"udta".to_vec()].concat();
        let zero_size = [
            boxed(b"trak", b""),
            vec![0, 0, 0, 0],
            b"free".to_vec(),
            vec![1],
        ]
        .concat();
        type Case = (&'static str, Vec<u8>, Result<Vec<(FourCc, u64)>, ()>);
        let cases: Vec<Case> = vec![
            ("empty", vec![], Ok(vec![])),
            ("two", two.clone(), Ok(vec![(*b"trak", 9), (*b"udta", 8)])),
            (
                "short tail ignored",
                [two, vec![0; 7]].concat(),
                Ok(vec![(*b"trak", 9), (*b"udta", 8)]),
            ),
            ("child past the parent", past, Err(())),
            (
                "size 0 runs to the end",
                zero_size,
                Ok(vec![(*b"trak", 8), (*b"free", 9)]),
            ),
            (
                "header smaller than itself",
                [vec![0, 0, 0, 4], b"trak".to_vec()].concat(),
                Err(()),
            ),
        ];
        for (name, body, expected) in cases {
            assert_eq!(parent(&body).map_err(|_| ()), expected, "{name}");
        }
    }

    #[test]
    fn loading_needs_a_moov() {
        let data = [
            boxed(b"ftyp", b"isom\0\0\0\0"),
            [vec![0, 0, 1, 0], b"mdat".to_vec()].concat(),
        ]
        .concat();
        let boxes = walk_top_level(data.len() as u64, &mut slice_reader(&data)).expect("walks");
        let error =
            load_index(&boxes, data.len() as u64, &mut slice_reader(&data)).expect_err("no moov");
        assert!(error.to_string().contains("truncated"), "{error}");

        let two = [
            boxed(b"moov", &boxed(b"mvhd", b"a")),
            boxed(b"mdat", b"zz"),
            boxed(b"moov", &boxed(b"mvhd", b"b")),
        ]
        .concat();
        let boxes = walk_top_level(two.len() as u64, &mut slice_reader(&two)).expect("walks");
        let error =
            load_index(&boxes, two.len() as u64, &mut slice_reader(&two)).expect_err("two moovs");
        assert_eq!(error.exit_code(), 2);
        assert!(
            error
                .to_string()
                .contains("two 'moov' boxes (at offsets 0 and 27)"),
            "{error}"
        );

        let mvhd = boxed(b"mvhd", b"m");
        let moov_body = [
            boxed(b"trak", b"t1"),
            mvhd.clone(),
            boxed(b"trak", b"t2"),
            b"abc".to_vec(),
        ]
        .concat();
        let data = [
            boxed(b"moov", &moov_body),
            boxed(b"moof", b"de"),
            boxed(b"mdat", b"zz"),
        ]
        .concat();
        let boxes = walk_top_level(data.len() as u64, &mut slice_reader(&data)).expect("walks");
        let loaded =
            load_index(&boxes, data.len() as u64, &mut slice_reader(&data)).expect("loads");
        // Everything but the traks, whose places are kept (trailing bytes too short
        // for a box are dropped, as `boxes::children` ignores them).
        assert_eq!(loaded.moov, mvhd);
        let traks: Vec<(u64, u64)> = loaded.traks.iter().map(|t| (t.offset, t.size)).collect();
        assert_eq!(traks, vec![(8, 10), (27, 10)]);
        let read = |t: &TopLevelBox| read_body(t, &mut slice_reader(&data)).expect("reads");
        assert_eq!(read(&loaded.traks[1]), b"t2");
        assert_eq!(loaded.moofs, vec![(40, b"de".to_vec())]);
        assert_eq!(loaded.ftyp, None);
    }
}
