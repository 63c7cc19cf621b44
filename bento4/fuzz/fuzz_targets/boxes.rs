//! Every box-level parser on arbitrary bytes: the recursive child walk, and each
//! leaf parser on whatever body a box of its type holds. None may panic.
#![no_main]

use bento4::mp4::audio_config::{parse_audio_specific_config, parse_esds};
use bento4::mp4::boxes::children;
use bento4::mp4::sample_entry::parse_stsd;
use bento4::mp4::sample_table::build_samples;
use bento4::mp4::track::{parse_elst, parse_trak};
use libfuzzer_sys::fuzz_target;

const CONTAINERS: [&[u8; 4]; 9] = [
    b"moov", b"trak", b"mdia", b"minf", b"edts", b"mvex", b"moof", b"traf", b"dinf",
];

fn walk(data: &[u8], depth: u32) {
    if depth > 8 {
        return;
    }
    for child in children(data) {
        let Ok(child) = child else { return };
        let body = child.body;
        match &child.fourcc {
            b"stsd" => drop(parse_stsd(body)),
            b"stbl" => drop(build_samples(body, data.len() as u64)),
            b"trak" => drop(parse_trak(body, 1000, data.len() as u64)),
            b"elst" => drop(parse_elst(body, 1000, 48000, 1)),
            b"esds" => drop(parse_esds(body)),
            _ => {}
        }
        if CONTAINERS.contains(&&child.fourcc) {
            walk(body, depth + 1);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    walk(data, 0);
    // The first bytes as a bare AudioSpecificConfig and as a bare stsd body too.
    drop(parse_audio_specific_config(data));
    drop(parse_stsd(data));
});
