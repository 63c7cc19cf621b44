//! Box surgery for tests: real test media rewritten into the corrupt shapes an
//! adversarial probe found (issue 8, defects 5 and 6). Used by the bento4 tests
//! and, through `#[path]`, by the worker's `tests/crafted.rs`, so both refuse the
//! very same bytes. Written from ISO/IEC 14496-12/-15; only what the cases need.
#![allow(dead_code)]

use std::path::Path;

/// Boxes we descend into, and how many bytes of their own come before the children.
fn container_prefix(fourcc: &[u8; 4]) -> Option<usize> {
    match fourcc {
        b"moov" | b"trak" | b"mdia" | b"minf" | b"stbl" | b"edts" | b"dinf" | b"mvex" => Some(0),
        // version/flags and the entry count
        b"stsd" => Some(8),
        // VisualSampleEntry fields before its boxes
        b"avc1" | b"avc3" | b"hvc1" | b"hev1" => Some(78),
        _ => None,
    }
}

#[derive(Debug, Clone)]
pub struct Node {
    pub fourcc: [u8; 4],
    /// A leaf's body, or a container's bytes before its children.
    pub data: Vec<u8>,
    pub children: Vec<Node>,
    pub container: bool,
}

impl Node {
    fn parse(fourcc: [u8; 4], body: &[u8]) -> Node {
        match container_prefix(&fourcc) {
            Some(prefix) if body.len() >= prefix => Node {
                fourcc,
                data: body[..prefix].to_vec(),
                children: parse_boxes(&body[prefix..]),
                container: true,
            },
            _ => Node {
                fourcc,
                data: body.to_vec(),
                children: Vec::new(),
                container: false,
            },
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&self.fourcc);
        out.extend_from_slice(&self.data);
        for child in &self.children {
            child.write(out);
        }
        let size = u32::try_from(out.len() - start).expect("box fits a 32-bit size");
        out[start..start + 4].copy_from_slice(&size.to_be_bytes());
    }

    pub fn size(&self) -> usize {
        let mut out = Vec::new();
        self.write(&mut out);
        out.len()
    }

    pub fn child_mut(&mut self, fourcc: &[u8; 4]) -> &mut Node {
        self.children
            .iter_mut()
            .find(|c| &c.fourcc == fourcc)
            .unwrap_or_else(|| panic!("no '{}' box", String::from_utf8_lossy(fourcc)))
    }

    pub fn child(&self, fourcc: &[u8; 4]) -> &Node {
        self.children
            .iter()
            .find(|c| &c.fourcc == fourcc)
            .unwrap_or_else(|| panic!("no '{}' box", String::from_utf8_lossy(fourcc)))
    }

    /// Follows `path` down from this box.
    pub fn at_mut(&mut self, path: &[&[u8; 4]]) -> &mut Node {
        path.iter()
            .fold(self, |node, fourcc| node.child_mut(fourcc))
    }

    /// Every box below this one with this type (depth first).
    fn each_mut(&mut self, fourcc: &[u8; 4], visit: &mut dyn FnMut(&mut Node)) {
        for child in &mut self.children {
            if &child.fourcc == fourcc {
                visit(child);
            }
            child.each_mut(fourcc, visit);
        }
    }
}

fn parse_boxes(mut data: &[u8]) -> Vec<Node> {
    let mut nodes = Vec::new();
    while data.len() >= 8 {
        let size = u32::from_be_bytes(data[..4].try_into().unwrap()) as usize;
        assert!(
            size >= 8 && size <= data.len(),
            "box size {size} (64-bit and to-the-end sizes are not needed here)"
        );
        let fourcc: [u8; 4] = data[4..8].try_into().unwrap();
        nodes.push(Node::parse(fourcc, &data[8..size]));
        data = &data[size..];
    }
    nodes
}

/// A whole file as a list of top-level boxes.
#[derive(Debug, Clone)]
pub struct Mp4 {
    pub boxes: Vec<Node>,
    /// File offset of the (single) `mdat` body as read, for patching chunk offsets.
    mdat_body_offset: u64,
}

impl Mp4 {
    pub fn read(path: &Path) -> Mp4 {
        let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let boxes = parse_boxes(&data);
        let mut mp4 = Mp4 {
            boxes,
            mdat_body_offset: 0,
        };
        mp4.mdat_body_offset = mp4.mdat_offset();
        mp4
    }

    fn mdat_offset(&self) -> u64 {
        let mut offset = 0;
        let mut found = None;
        for node in &self.boxes {
            if &node.fourcc == b"mdat" {
                assert!(found.is_none(), "one mdat expected");
                found = Some(offset + 8);
            }
            offset += node.size() as u64;
        }
        found.expect("an mdat")
    }

    pub fn index_of(&self, fourcc: &[u8; 4]) -> usize {
        self.boxes
            .iter()
            .position(|b| &b.fourcc == fourcc)
            .unwrap_or_else(|| panic!("no top-level '{}'", String::from_utf8_lossy(fourcc)))
    }

    pub fn top_mut(&mut self, fourcc: &[u8; 4]) -> &mut Node {
        let at = self.index_of(fourcc);
        &mut self.boxes[at]
    }

    /// The `trak` whose handler is `handler` (`vide`, `soun`).
    pub fn track_mut(&mut self, handler: &[u8; 4]) -> &mut Node {
        self.top_mut(b"moov")
            .children
            .iter_mut()
            .find(|t| {
                &t.fourcc == b"trak"
                    && t.child(b"mdia").child(b"hdlr").data.get(8..12) == Some(&handler[..])
            })
            .unwrap_or_else(|| panic!("no {} track", String::from_utf8_lossy(handler)))
    }

    /// The sample table of the `handler` track.
    pub fn stbl_mut(&mut self, handler: &[u8; 4]) -> &mut Node {
        self.track_mut(handler).at_mut(&[b"mdia", b"minf", b"stbl"])
    }

    /// The bytes, with every chunk offset moved by as much as the `mdat` moved, so
    /// that the index still describes the file (`patch` false leaves them stale).
    pub fn bytes(&self, patch: bool) -> Vec<u8> {
        let mut copy = self.clone();
        if patch {
            let delta = copy.mdat_offset() as i64 - self.mdat_body_offset as i64;
            for node in &mut copy.boxes {
                node.each_mut(b"stco", &mut |stco| shift_offsets(stco, delta));
            }
        }
        let mut out = Vec::new();
        for node in &copy.boxes {
            node.write(&mut out);
        }
        out
    }

    pub fn write(&self, path: &Path, patch: bool) {
        std::fs::write(path, self.bytes(patch)).unwrap();
    }
}

fn shift_offsets(stco: &mut Node, delta: i64) {
    let count = u32::from_be_bytes(stco.data[4..8].try_into().unwrap()) as usize;
    for k in 0..count {
        let at = 8 + 4 * k;
        let old = u32::from_be_bytes(stco.data[at..at + 4].try_into().unwrap());
        let new = u32::try_from(i64::from(old) + delta).expect("offset fits");
        stco.data[at..at + 4].copy_from_slice(&new.to_be_bytes());
    }
}

/// A full box's body: version/flags 0, then these 32-bit words.
pub fn words(values: &[u32]) -> Vec<u8> {
    [0u32]
        .iter()
        .chain(values)
        .flat_map(|w| w.to_be_bytes())
        .collect()
}

/// The (count, delta) entries of an `stts` body.
pub fn stts_entries(stts: &Node) -> Vec<(u32, u32)> {
    let word = |at: usize| u32::from_be_bytes(stts.data[at..at + 4].try_into().unwrap());
    (0..word(4) as usize)
        .map(|k| (word(8 + 8 * k), word(12 + 8 * k)))
        .collect()
}

pub fn set_stts(stts: &mut Node, entries: &[(u32, u32)]) {
    let mut values = vec![entries.len() as u32];
    for &(count, delta) in entries {
        values.extend([count, delta]);
    }
    stts.data = words(&values);
}

/// Sample `index`'s size in an `stsz` with a table (not a constant size).
pub fn set_sample_size(stsz: &mut Node, index: usize, size: u32) {
    assert_eq!(&stsz.data[4..8], &[0; 4], "stsz with a size per sample");
    let at = 12 + 4 * index;
    stsz.data[at..at + 4].copy_from_slice(&size.to_be_bytes());
}

pub fn sample_size(stsz: &Node, index: usize) -> u32 {
    let at = 12 + 4 * index;
    u32::from_be_bytes(stsz.data[at..at + 4].try_into().unwrap())
}

pub fn sample_count(stsz: &Node) -> usize {
    u32::from_be_bytes(stsz.data[8..12].try_into().unwrap()) as usize
}

/// Every sample's file offset, from `stsc`, `stco` and `stsz` of one `stbl`.
pub fn sample_offsets(stbl: &Node) -> Vec<u64> {
    let word =
        |node: &Node, at: usize| u32::from_be_bytes(node.data[at..at + 4].try_into().unwrap());
    let (stsc, stco, stsz) = (
        stbl.child(b"stsc"),
        stbl.child(b"stco"),
        stbl.child(b"stsz"),
    );
    let chunks = word(stco, 4) as usize;
    let runs: Vec<(usize, usize)> = (0..word(stsc, 4) as usize)
        .map(|k| {
            (
                word(stsc, 8 + 12 * k) as usize,
                word(stsc, 12 + 12 * k) as usize,
            )
        })
        .collect();
    let mut offsets = Vec::new();
    let mut sample = 0;
    for chunk in 1..=chunks {
        let per_chunk = runs
            .iter()
            .rev()
            .find(|(first, _)| *first <= chunk)
            .map_or(0, |r| r.1);
        let mut at = u64::from(word(stco, 8 + 4 * (chunk - 1)));
        for _ in 0..per_chunk {
            offsets.push(at);
            at += u64::from(sample_size(stsz, sample));
            sample += 1;
        }
    }
    assert_eq!(
        offsets.len(),
        sample_count(stsz),
        "stsc covers every sample"
    );
    offsets
}

/// avcC without its SPS (`sps` false) or its PPS (`pps` false).
pub fn strip_avcc(avcc: &mut Node, keep_sps: bool, keep_pps: bool) {
    let data = &avcc.data;
    let mut out = data[..5].to_vec();
    let mut at = 5;
    let take_list = |out: &mut Vec<u8>, at: &mut usize, mask: u8, keep: bool| {
        let count = (data[*at] & !mask) as usize;
        let mut units = Vec::new();
        *at += 1;
        for _ in 0..count {
            let len = u16::from_be_bytes([data[*at], data[*at + 1]]) as usize;
            units.push(data[*at..*at + 2 + len].to_vec());
            *at += 2 + len;
        }
        let kept = if keep { units } else { Vec::new() };
        out.push(mask | kept.len() as u8);
        out.extend(kept.concat());
    };
    take_list(&mut out, &mut at, 0xE0, keep_sps);
    take_list(&mut out, &mut at, 0x00, keep_pps);
    out.extend_from_slice(&data[at..]); // high-profile extension bytes
    avcc.data = out;
}

/// hvcC without the parameter set array of `nal_type` (32 VPS, 33 SPS, 34 PPS).
pub fn strip_hvcc(hvcc: &mut Node, nal_type: u8) {
    let data = &hvcc.data;
    let mut out = data[..22].to_vec();
    let arrays = data[22] as usize;
    let mut at = 23;
    let mut kept = Vec::new();
    for _ in 0..arrays {
        let start = at;
        let kind = data[at] & 0x3F;
        let count = u16::from_be_bytes([data[at + 1], data[at + 2]]) as usize;
        at += 3;
        for _ in 0..count {
            let len = u16::from_be_bytes([data[at], data[at + 1]]) as usize;
            at += 2 + len;
        }
        if kind != nal_type {
            kept.push(data[start..at].to_vec());
        }
    }
    assert_eq!(
        kept.len() + 1,
        arrays,
        "hvcC had one array of type {nal_type}"
    );
    out.push(kept.len() as u8);
    out.extend(kept.concat());
    out.extend_from_slice(&data[at..]);
    hvcc.data = out;
}

/// The sample entry's configuration box of the video track (`avcC` or `hvcC`).
pub fn video_config_mut<'a>(mp4: &'a mut Mp4, entry: &[u8; 4], config: &[u8; 4]) -> &'a mut Node {
    mp4.stbl_mut(b"vide").at_mut(&[b"stsd", entry, config])
}

/// One crafted title: its file name, and what every mode must say about it.
pub struct Crafted {
    pub name: &'static str,
    /// Words the one-line reason holds.
    pub reason: &'static str,
    pub bytes: Vec<u8>,
}

/// The corrupt titles, built from `clip_low.mp4` (H.264 + AAC, moov after mdat)
/// and `hevc.mp4` of the test media in `media_dir`.
pub fn corrupt_titles(media_dir: &Path) -> Vec<Crafted> {
    let clip = Mp4::read(&media_dir.join("clip_low.mp4"));
    let hevc = Mp4::read(&media_dir.join("hevc.mp4"));
    let mut out = Vec::new();

    // Defect 5a: every video delta 0.
    let mut m = clip.clone();
    let stts = m.stbl_mut(b"vide").child_mut(b"stts");
    let samples: u32 = stts_entries(stts).iter().map(|e| e.0).sum();
    set_stts(stts, &[(samples, 0)]);
    out.push(Crafted {
        name: "zero_durations",
        reason: "sample 1 lasts 0 ticks",
        bytes: m.bytes(true),
    });

    // Defect 5b: one video delta of 0xFFFFFFFF in the middle.
    let mut m = clip.clone();
    let stts = m.stbl_mut(b"vide").child_mut(b"stts");
    let entries = stts_entries(stts);
    assert_eq!(entries.len(), 1, "clip_low has a constant frame duration");
    let (count, delta) = entries[0];
    set_stts(stts, &[(100, delta), (1, u32::MAX), (count - 101, delta)]);
    out.push(Crafted {
        name: "absurd_duration",
        reason: "sample 101 lasts 4294967295 ticks",
        bytes: m.bytes(true),
    });

    // Defect 5c: parameter sets missing from the sample entry.
    for (name, keep_sps, keep_pps, reason) in [
        ("no_sps", false, true, "avcC has no SPS"),
        ("no_pps", true, false, "avcC has no PPS"),
    ] {
        let mut m = clip.clone();
        strip_avcc(
            video_config_mut(&mut m, b"avc1", b"avcC"),
            keep_sps,
            keep_pps,
        );
        out.push(Crafted {
            name,
            reason,
            bytes: m.bytes(true),
        });
    }
    for (name, nal_type, reason) in [
        ("hevc_no_vps", 32, "hvcC has no VPS"),
        ("hevc_no_sps", 33, "hvcC has no SPS"),
        ("hevc_no_pps", 34, "hvcC has no PPS"),
    ] {
        let mut m = hevc.clone();
        strip_hvcc(video_config_mut(&mut m, b"hvc1", b"hvcC"), nal_type);
        out.push(Crafted {
            name,
            reason,
            bytes: m.bytes(true),
        });
    }

    // Defect 6: the index no longer describes the file.
    // mdat first, no ftyp: ftyp and free dropped, chunk offsets left as they were.
    let mut m = clip.clone();
    m.boxes
        .retain(|b| &b.fourcc != b"ftyp" && &b.fourcc != b"free");
    assert_eq!(m.index_of(b"mdat"), 0);
    out.push(Crafted {
        name: "mdat_first_no_ftyp",
        reason: "is not inside an 'mdat' box",
        bytes: m.bytes(false),
    });

    // Two moovs: a copy of the movie put in front of the mdat, offsets stale.
    let mut m = clip.clone();
    let moov = m.boxes[m.index_of(b"moov")].clone();
    let at = m.index_of(b"mdat");
    m.boxes.insert(at, moov);
    out.push(Crafted {
        name: "two_moovs",
        reason: "two 'moov' boxes",
        bytes: m.bytes(false),
    });

    // The last video sample (the last of its chunk) grown to end 100 bytes into the
    // moov after the mdat, or 1000 bytes past the end of the file.
    let mdat_at = clip.index_of(b"mdat");
    let mdat_end: u64 = clip.boxes[..=mdat_at].iter().map(|b| b.size() as u64).sum();
    let file_len: u64 = clip.boxes.iter().map(|b| b.size() as u64).sum();
    assert!(
        file_len - mdat_end > 100,
        "clip_low's moov follows its mdat"
    );
    for (name, end, reason) in [
        (
            "size_past_mdat",
            mdat_end + 100,
            "is not inside an 'mdat' box",
        ),
        ("size_past_file", file_len + 1000, "mdat truncated"),
    ] {
        let mut m = clip.clone();
        let stbl = m.stbl_mut(b"vide");
        let last = sample_count(stbl.child(b"stsz")) - 1;
        let offset = sample_offsets(stbl)[last];
        let size = u32::try_from(end - offset).unwrap();
        set_sample_size(stbl.child_mut(b"stsz"), last, size);
        out.push(Crafted {
            name,
            reason,
            bytes: m.bytes(true),
        });
    }
    out
}

/// The same layout change as `mdat_first_no_ftyp`, with the chunk offsets patched:
/// an old-QuickTime shape that is not corrupt and must keep working.
pub fn mdat_first_patched(media_dir: &Path) -> Vec<u8> {
    let mut m = Mp4::read(&media_dir.join("clip_low.mp4"));
    m.boxes
        .retain(|b| &b.fourcc != b"ftyp" && &b.fourcc != b"free");
    m.bytes(true)
}
