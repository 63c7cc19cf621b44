//! What the tests read from CMAF files themselves, as the spec defines it: enough of
//! ISO BMFF to know when a segment's first frame is presented.

/// The body of the first box of type `kind` anywhere in `data` (a plain scan: the test
/// files hold each of these boxes once).
pub fn box_body<'a>(data: &'a [u8], kind: &[u8; 4]) -> &'a [u8] {
    let at = data
        .windows(4)
        .position(|w| w == kind)
        .unwrap_or_else(|| panic!("no {}", String::from_utf8_lossy(kind)));
    let size = u32::from_be_bytes(data[at - 4..at].try_into().unwrap()) as usize;
    &data[at + 4..at - 4 + size]
}

/// The first sample of a segment: its track's timescale, decode time (`tfdt`) and
/// presentation time (plus its signed `trun` composition offset), in that scale.
pub struct FirstFrame {
    pub timescale: u64,
    pub decode: u64,
    pub start: u64,
}

/// The first frame of a CMAF `segment` whose track `init` describes. ffprobe shifts
/// presentation by the most negative offset and players do not, so it is no reference.
pub fn first_frame(init: &[u8], segment: &[u8]) -> FirstFrame {
    let be32 = |b: &[u8], at: usize| u32::from_be_bytes(b[at..at + 4].try_into().unwrap());
    let mdhd = box_body(init, b"mdhd");
    assert_eq!(mdhd[0], 0, "mdhd version 0");
    let timescale = u64::from(be32(mdhd, 12));
    let tfdt = box_body(segment, b"tfdt");
    let decode = match tfdt[0] {
        1 => u64::from_be_bytes(tfdt[4..12].try_into().unwrap()),
        _ => u64::from(be32(tfdt, 4)),
    };
    let trun = box_body(segment, b"trun");
    let flags = be32(trun, 0) & 0xff_ffff;
    assert_eq!(
        flags & 0xf05,
        0xf01,
        "data offset; duration, size, flags, offset each"
    );
    // Version and flags, count, data offset; then duration, size, flags, offset.
    let offset = be32(trun, 12 + 12);
    let offset = if trun[0] == 1 {
        i64::from(offset as i32)
    } else {
        i64::from(offset)
    };
    let start = (decode as i64 + offset).max(0) as u64;
    FirstFrame {
        timescale,
        decode,
        start,
    }
}
