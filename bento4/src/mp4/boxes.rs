//! Bounded reading of ISO BMFF boxes (ISO/IEC 14496-12 §4.2) over a byte slice.
//!
//! Every read is checked against what is left of the current box, so a parser can
//! never look past its box, and a child box can never extend past its parent.

use crate::error::Mp4Error;

pub type FourCc = [u8; 4];

/// A cursor over the body of one box. Reads fail with `Corrupt` naming the box.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    /// The box being read, for error messages.
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8], what: &'static str) -> Self {
        Reader { data, pos: 0, what }
    }

    pub fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    pub fn truncated(&self, needed: u64) -> Mp4Error {
        Mp4Error::Corrupt(format!(
            "{}: needs {} more bytes, only {} left in the box",
            self.what,
            needed,
            self.remaining()
        ))
    }

    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], Mp4Error> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.data.len())
            .ok_or_else(|| self.truncated(n as u64))?;
        let out = self
            .data
            .get(self.pos..end)
            .ok_or_else(|| self.truncated(n as u64))?;
        self.pos = end;
        Ok(out)
    }

    /// The rest of the box, consumed.
    pub fn rest(&mut self) -> &'a [u8] {
        let out = self.data.get(self.pos..).unwrap_or(&[]);
        self.pos = self.data.len();
        out
    }

    pub fn skip(&mut self, n: usize) -> Result<(), Mp4Error> {
        self.bytes(n).map(|_| ())
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Mp4Error> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N)?);
        Ok(out)
    }

    pub fn u8(&mut self) -> Result<u8, Mp4Error> {
        Ok(self.array::<1>()?[0])
    }
    pub fn u16(&mut self) -> Result<u16, Mp4Error> {
        Ok(u16::from_be_bytes(self.array()?))
    }
    pub fn u24(&mut self) -> Result<u32, Mp4Error> {
        let [a, b, c] = self.array::<3>()?;
        Ok(u32::from_be_bytes([0, a, b, c]))
    }
    pub fn u32(&mut self) -> Result<u32, Mp4Error> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    pub fn i32(&mut self) -> Result<i32, Mp4Error> {
        Ok(i32::from_be_bytes(self.array()?))
    }
    pub fn u64(&mut self) -> Result<u64, Mp4Error> {
        Ok(u64::from_be_bytes(self.array()?))
    }
    pub fn fourcc(&mut self) -> Result<FourCc, Mp4Error> {
        self.array()
    }

    /// Reads a FullBox header: (version, flags).
    pub fn full_box(&mut self) -> Result<(u8, u32), Mp4Error> {
        let word = self.u32()?;
        Ok(((word >> 24) as u8, word & 0x00ff_ffff))
    }

    /// Checks that `count` entries of `entry_size` bytes fit in what is left, before
    /// anything is allocated from `count`.
    pub fn check_count(&self, count: u64, entry_size: u64) -> Result<usize, Mp4Error> {
        let needed = count
            .checked_mul(entry_size)
            .ok_or_else(|| self.truncated(u64::MAX))?;
        if needed > self.remaining() as u64 {
            return Err(Mp4Error::Corrupt(format!(
                "{}: {} entries need {} bytes, only {} left in the box",
                self.what,
                count,
                needed,
                self.remaining()
            )));
        }
        usize::try_from(count).map_err(|_| self.truncated(needed))
    }
}

/// The header of one box: its type, header length and total size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoxHeader {
    pub fourcc: FourCc,
    /// 8, 16 (largesize), +16 for `uuid`.
    pub header_len: u8,
    /// Header plus body; a size-0 box ("to the end") is resolved to `available`.
    pub size: u64,
}

/// Parses a box header from `bytes` (which need hold only the header), where
/// `available` is how many bytes the enclosing container has from this box on.
/// The box may claim more than `available`; callers decide (the top level reports
/// a truncated file, `children` rejects it).
pub fn parse_header(bytes: &[u8], available: u64) -> Result<BoxHeader, Mp4Error> {
    let mut reader = Reader::new(bytes, "box header");
    let size32 = reader.u32()?;
    let fourcc = reader.fourcc()?;
    let (mut header_len, size) = match size32 {
        0 => (8u8, available),
        1 => (16u8, reader.u64()?),
        n => (8u8, u64::from(n)),
    };
    if &fourcc == b"uuid" {
        reader.skip(16)?;
        header_len += 16;
    }
    if size < u64::from(header_len) {
        return Err(Mp4Error::Corrupt(format!(
            "box '{}' claims {} bytes, less than its {}-byte header",
            fourcc_text(&fourcc),
            size,
            header_len
        )));
    }
    Ok(BoxHeader {
        fourcc,
        header_len,
        size,
    })
}

/// One child box: its type and body, both inside the parent's bytes.
#[derive(Debug, Clone, Copy)]
pub struct Mp4Box<'a> {
    pub fourcc: FourCc,
    pub body: &'a [u8],
    /// Offset of the box's first header byte within the parent's bytes.
    pub offset: usize,
}

/// Iterates the child boxes packed in `data`. A child reaching past `data` is an
/// error; trailing bytes too short for a header (some muxers pad with zeros) end
/// the iteration quietly.
pub struct Children<'a> {
    data: &'a [u8],
    pos: usize,
    failed: bool,
}

pub fn children(data: &[u8]) -> Children<'_> {
    Children {
        data,
        pos: 0,
        failed: false,
    }
}

impl<'a> Iterator for Children<'a> {
    type Item = Result<Mp4Box<'a>, Mp4Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let rest = self.data.get(self.pos..)?;
        if rest.len() < 8 {
            return None;
        }
        let result = parse_header(rest, rest.len() as u64).and_then(|header| {
            let end = usize::try_from(header.size)
                .ok()
                .filter(|&size| size <= rest.len())
                .ok_or_else(|| {
                    Mp4Error::Corrupt(format!(
                        "box '{}' claims {} bytes, its parent has only {} left",
                        fourcc_text(&header.fourcc),
                        header.size,
                        rest.len()
                    ))
                })?;
            let body = rest
                .get(usize::from(header.header_len)..end)
                .ok_or_else(|| Mp4Error::Corrupt("box header past its parent".into()))?;
            let item = Mp4Box {
                fourcc: header.fourcc,
                body,
                offset: self.pos,
            };
            self.pos += end;
            Ok(item)
        });
        if result.is_err() {
            self.failed = true;
        }
        Some(result)
    }
}

/// The first child of type `fourcc`, if any.
pub fn find<'a>(data: &'a [u8], fourcc: &FourCc) -> Result<Option<&'a [u8]>, Mp4Error> {
    for child in children(data) {
        let child = child?;
        if &child.fourcc == fourcc {
            return Ok(Some(child.body));
        }
    }
    Ok(None)
}

/// Like [`find`], but the box must be there.
pub fn require<'a>(data: &'a [u8], fourcc: &FourCc, parent: &str) -> Result<&'a [u8], Mp4Error> {
    find(data, fourcc)?.ok_or_else(|| {
        Mp4Error::Corrupt(format!(
            "'{}' box missing in '{}'",
            fourcc_text(fourcc),
            parent
        ))
    })
}

/// A fourcc for messages: printable ASCII as is, anything else escaped.
pub fn fourcc_text(fourcc: &FourCc) -> String {
    fourcc
        .iter()
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                char::from(b).to_string()
            } else {
                format!("\\x{b:02x}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mp4::test_boxes::boxed;

    #[test]
    fn headers() {
        let large = [&[0, 0, 0, 1][..], b"mdat", &20u64.to_be_bytes()].concat();
        let uuid = [&[0, 0, 0, 24][..], b"uuid", &[7u8; 16]].concat();
        type Case = (&'static str, Vec<u8>, u64, Result<BoxHeader, ()>);
        let cases: Vec<Case> = vec![
            (
                "plain",
                boxed(b"free", &[1, 2]),
                100,
                Ok(BoxHeader {
                    fourcc: *b"free",
                    header_len: 8,
                    size: 10,
                }),
            ),
            (
                "size 0 runs to the end",
                [&[0, 0, 0, 0][..], b"mdat"].concat(),
                77,
                Ok(BoxHeader {
                    fourcc: *b"mdat",
                    header_len: 8,
                    size: 77,
                }),
            ),
            (
                "largesize",
                large,
                100,
                Ok(BoxHeader {
                    fourcc: *b"mdat",
                    header_len: 16,
                    size: 20,
                }),
            ),
            (
                "uuid",
                uuid,
                100,
                Ok(BoxHeader {
                    fourcc: *b"uuid",
                    header_len: 24,
                    size: 24,
                }),
            ),
            (
                "size below header",
                [&[0, 0, 0, 4][..], b"free"].concat(),
                100,
                Err(()),
            ),
            (
                "largesize below header",
                [&[0, 0, 0, 1][..], b"free", &[0u8; 8]].concat(),
                100,
                Err(()),
            ),
            ("short header", vec![0, 0, 0], 100, Err(())),
            (
                "short largesize",
                [&[0, 0, 0, 1][..], b"free", &[0u8; 3]].concat(),
                100,
                Err(()),
            ),
        ];
        for (name, bytes, available, expected) in cases {
            let got = parse_header(&bytes, available).map_err(|_| ());
            assert_eq!(got, expected, "{name}");
        }
    }

    #[test]
    fn children_stay_inside_the_parent() {
        let good = [boxed(b"aaaa", &[1]), boxed(b"bbbb", &[])].concat();
        let past = [boxed(b"aaaa", &[1]), vec![0, 0, 0, 200], b"bbbb".to_vec()].concat();
        let huge = [
            vec![0, 0, 0, 1],
            b"bbbb".to_vec(),
            u64::MAX.to_be_bytes().to_vec(),
        ]
        .concat();
        let padded = [boxed(b"aaaa", &[]), vec![0, 0, 0]].concat();
        type Case = (&'static str, Vec<u8>, Vec<&'static [u8; 4]>, bool);
        let cases: Vec<Case> = vec![
            ("two boxes", good, vec![b"aaaa", b"bbbb"], false),
            ("second past parent", past, vec![b"aaaa"], true),
            ("huge largesize", huge, vec![], true),
            ("short padding ignored", padded, vec![b"aaaa"], false),
            ("empty", vec![], vec![], false),
        ];
        for (name, data, expected, fails) in cases {
            let mut seen = Vec::new();
            let mut failed = false;
            for child in children(&data) {
                match child {
                    Ok(child) => seen.push(child.fourcc),
                    Err(_) => failed = true,
                }
            }
            let expected: Vec<FourCc> = expected.into_iter().copied().collect();
            assert_eq!(seen, expected, "{name}");
            assert_eq!(failed, fails, "{name}");
        }
    }

    #[test]
    fn reader_never_reads_past_the_box() {
        let mut reader = Reader::new(&[1, 2, 3], "test");
        assert_eq!(reader.u16().ok(), Some(0x0102));
        assert!(reader.u16().is_err());
        assert_eq!(reader.u8().ok(), Some(3));
        assert!(reader.u8().is_err());
        assert!(Reader::new(&[], "t").bytes(usize::MAX).is_err());
    }

    #[test]
    fn counts_are_checked_before_allocating() {
        let reader = Reader::new(&[0; 16], "test");
        assert_eq!(reader.check_count(2, 8).ok(), Some(2));
        assert!(reader.check_count(3, 8).is_err());
        assert!(reader.check_count(u64::from(u32::MAX), 8).is_err());
        assert!(reader.check_count(u64::MAX, u64::MAX).is_err());
        assert_eq!(
            reader.check_count(u64::from(u32::MAX), 0).ok(),
            Some(u32::MAX as usize)
        );
    }

    #[test]
    fn fourcc_text_escapes_binary() {
        assert_eq!(fourcc_text(b"avc1"), "avc1");
        assert_eq!(fourcc_text(&[0, b'a', b'b', 0xff]), "\\x00ab\\xff");
    }
}
