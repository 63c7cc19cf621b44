//! The top-level box walk that finds which bytes of an MP4 are its index (pure):
//! everything but the payload of `mdat` (and `free`/`skip` padding). A remote
//! copy fetches those before the tool parses it; the tool itself checks the boxes.

/// What the walk needs next, given the bytes present so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Walk {
    /// These `[start, end)` ranges must be present to go on.
    Need(Vec<(u64, u64)>),
    /// Every index byte is present.
    Done,
    /// The boxes do not describe a file of this size (the tool will say more).
    Broken(String),
}

/// Longest box header: size, type, 64-bit size.
pub const HEADER: u64 = 16;

/// Walks the top-level boxes of an object of `size` bytes. `read(start, len)`
/// gives present bytes, or None when any of them is absent.
pub fn walk(size: u64, read: &dyn Fn(u64, u64) -> Option<Vec<u8>>) -> Walk {
    let mut at = 0u64;
    let mut need = Vec::new();
    while at < size {
        let len = HEADER.min(size - at);
        let Some(header) = read(at, len) else {
            need.push((at, at + len));
            return Walk::Need(need);
        };
        let Some((kind, box_size)) = parse_header(&header, size - at) else {
            return Walk::Broken(format!("bad box header at {at}"));
        };
        let end = at.saturating_add(box_size);
        if end > size {
            return Walk::Broken(format!("box at {at} runs past the end"));
        }
        if !matches!(&kind, b"mdat" | b"free" | b"skip") && read(at, box_size).is_none() {
            need.push((at, end));
        }
        at = end;
    }
    if need.is_empty() {
        Walk::Done
    } else {
        Walk::Need(need)
    }
}

/// (type, size) of the box whose header starts `bytes`; `rest` is what remains of
/// the file from there (size 0 means "to the end").
fn parse_header(bytes: &[u8], rest: u64) -> Option<([u8; 4], u64)> {
    let small: [u8; 4] = bytes.get(0..4)?.try_into().ok()?;
    let kind: [u8; 4] = bytes.get(4..8)?.try_into().ok()?;
    let size = match u32::from_be_bytes(small) {
        0 => rest,
        1 => u64::from_be_bytes(bytes.get(8..16)?.try_into().ok()?),
        n => u64::from(n),
    };
    let header = if u32::from_be_bytes(small) == 1 {
        16
    } else {
        8
    };
    (size >= header).then_some((kind, size))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    fn boxed(kind: &[u8; 4], size: u32) -> Vec<u8> {
        let mut b = size.to_be_bytes().to_vec();
        b.extend_from_slice(kind);
        b.resize(size as usize, 7);
        b
    }

    /// Walks `file` with only `present` ranges readable, fetching what each step
    /// needs; returns the ranges fetched, in order.
    fn fetches(file: &[u8], present: Vec<(u64, u64)>) -> Result<Vec<(u64, u64)>, String> {
        let present = RefCell::new(present);
        let mut fetched = Vec::new();
        for _ in 0..100 {
            let read = |start: u64, len: u64| {
                let end = start + len;
                let ok = present
                    .borrow()
                    .iter()
                    .any(|&(a, b)| a <= start && end <= b);
                ok.then(|| file[start as usize..end as usize].to_vec())
            };
            match walk(file.len() as u64, &read) {
                Walk::Done => return Ok(fetched),
                Walk::Broken(why) => return Err(why),
                Walk::Need(ranges) => {
                    fetched.extend(ranges.iter().copied());
                    present.borrow_mut().extend(ranges);
                }
            }
        }
        Err("no end".into())
    }

    #[test]
    fn moov_at_the_end_needs_its_header_then_itself() {
        let mut file = boxed(b"ftyp", 24);
        file.extend(boxed(b"mdat", 1000));
        file.extend(boxed(b"moov", 200));
        assert_eq!(
            fetches(&file, vec![(0, 64)]),
            Ok(vec![(1024, 1040), (1024, 1224)])
        );
        assert_eq!(fetches(&file, vec![(0, 64), (1000, 1224)]), Ok(vec![]));
    }

    #[test]
    fn moov_first_and_fragments_need_every_box_but_media() {
        let mut file = boxed(b"ftyp", 24);
        file.extend(boxed(b"moov", 100));
        file.extend(boxed(b"moof", 50));
        file.extend(boxed(b"mdat", 500));
        file.extend(boxed(b"free", 30));
        file.extend(boxed(b"moof", 50));
        file.extend(boxed(b"mdat", 500));
        let got = fetches(&file, vec![(0, 200)]).unwrap();
        // Both moofs are fetched; no mdat or free payload is.
        assert_eq!(got, vec![(674, 690), (704, 720), (704, 754), (754, 770)]);
    }

    #[test]
    fn large_sizes_and_to_the_end_sizes_are_followed() {
        let mut file = boxed(b"ftyp", 16);
        let mut mdat = 1u32.to_be_bytes().to_vec();
        mdat.extend_from_slice(b"mdat");
        mdat.extend_from_slice(&100u64.to_be_bytes());
        mdat.resize(100, 0);
        file.extend(mdat);
        file.extend(0u32.to_be_bytes());
        file.extend_from_slice(b"moov");
        file.resize(150, 1);
        assert_eq!(
            fetches(&file, vec![(0, 32)]),
            Ok(vec![(116, 132), (116, 150)])
        );
    }

    #[test]
    fn boxes_that_do_not_fit_the_file_are_broken() {
        let mut file = boxed(b"ftyp", 24);
        file.extend(boxed(b"mdat", 1000));
        file.truncate(500);
        assert!(fetches(&file, vec![(0, 500)]).is_err());
        let tiny = 4u32
            .to_be_bytes()
            .iter()
            .chain(b"moov")
            .copied()
            .collect::<Vec<u8>>();
        assert!(fetches(&tiny, vec![(0, 8)]).is_err());
    }
}
