//! The transport stream itself: 188-byte packets, PAT then PMT then the keyframe
//! (AUD + parameter sets), continuity counters across files, PCR on the video PID,
//! ffprobe/ffmpeg read everything without complaint, every video frame decodes, and
//! the first PTS of each stream lines up with the source's start times.

use crate::mp42hls_support::*;
use std::collections::HashMap;

const PMT_PID: u16 = 0x100;
const AUDIO_PID: u16 = 0x101;
const VIDEO_PID: u16 = 0x102;

struct Packaged {
    scratch: Scratch,
    segments: Vec<String>,
}

fn package(name: &str) -> Packaged {
    let scratch = Scratch::new(&format!("stream-{name}"));
    let input = media(&format!("{name}.mp4"));
    run_ok(&scratch.0, &[input.to_str().unwrap()]);
    let (_, _, segments) = playlist_entries(&scratch.text("stream.m3u8"));
    Packaged { scratch, segments }
}

/// NAL unit types after the PES header, in order, from Annex B with 4-byte start codes.
fn leading_nal_types(es: &[u8], hevc: bool, count: usize) -> Vec<u8> {
    let mut types = Vec::new();
    let mut i = 0;
    while i + 4 < es.len() && types.len() < count {
        if es[i..i + 4] == [0, 0, 0, 1] {
            let header = es[i + 4];
            types.push(if hevc {
                (header >> 1) & 0x3F
            } else {
                header & 0x1F
            });
            i += 4;
        } else {
            i += 1;
        }
    }
    types
}

fn check_structure(name: &str, has_video: bool, has_audio: bool, hevc: bool) {
    let packaged = package(name);
    let mut last_cc: HashMap<u16, u8> = HashMap::new();
    for segment in &packaged.segments {
        let data = packaged.scratch.read(segment);
        let packets = packets(&data);
        assert_eq!(packets[0].pid, 0, "{name} {segment}: PAT first");
        assert_eq!(packets[1].pid, PMT_PID, "{name} {segment}: PMT second");
        // The PMT lists exactly the streams we expect.
        let pmt = &packets[1].payload;
        let section_len = (((pmt[2] & 0x0F) as usize) << 8) | pmt[3] as usize;
        let pcr_pid = (((pmt[9] & 0x1F) as u16) << 8) | pmt[10] as u16;
        let mut listed = Vec::new();
        // Stream entries run from byte 13 (no program descriptors) to the CRC.
        let streams_end = 1 + 3 + section_len - 4;
        let mut at = 13;
        while at + 5 <= streams_end {
            let pid = (((pmt[at + 1] & 0x1F) as u16) << 8) | pmt[at + 2] as u16;
            listed.push((pmt[at], pid));
            at += 5 + ((((pmt[at + 3] & 0x0F) as usize) << 8) | pmt[at + 4] as usize);
        }
        let mut expected = Vec::new();
        if has_video {
            expected.push((if hevc { 0x24 } else { 0x1B }, VIDEO_PID));
        }
        if has_audio {
            expected.push((0x0F, AUDIO_PID));
        }
        assert_eq!(listed, expected, "{name} {segment}: PMT streams");
        assert_eq!(pcr_pid, if has_video { VIDEO_PID } else { AUDIO_PID });

        let first = &packets[2];
        assert!(
            first.unit_start,
            "{name} {segment}: a PES starts after the PMT"
        );
        assert!(
            first.pcr.is_some(),
            "{name} {segment}: PCR in the first PES packet"
        );
        assert!(
            first.random_access,
            "{name} {segment}: random access indicator"
        );
        if has_video {
            assert_eq!(
                first.pid, VIDEO_PID,
                "{name} {segment}: the keyframe comes first"
            );
            let es = first_pes_payload(&packets[2..], VIDEO_PID);
            let types = leading_nal_types(&es, hevc, 4);
            let expected: &[u8] = if hevc { &[35, 32, 33, 34] } else { &[9, 7, 8] };
            assert_eq!(
                &types[..expected.len()],
                expected,
                "{name} {segment}: AUD + parameter sets"
            );
        } else {
            assert_eq!(first.pid, AUDIO_PID);
            let es = first_pes_payload(&packets[2..], AUDIO_PID);
            assert_eq!(&es[..2], &[0xFF, 0xF1], "{name} {segment}: ADTS sync");
        }
        // Continuity counters run on from the previous file, per PID.
        for p in &packets {
            if let Some(previous) = last_cc.insert(p.pid, p.continuity) {
                assert_eq!(
                    p.continuity,
                    (previous + 1) & 0x0F,
                    "{name} {segment}: CC on PID {:#x}",
                    p.pid
                );
            }
            if p.pid == VIDEO_PID && p.unit_start {
                assert!(p.pcr.is_some(), "{name} {segment}: PCR on every video PES");
            }
        }
        // ffprobe reads the segment on its own, finding the expected streams.
        let path = packaged.scratch.path(segment);
        let kinds: Vec<String> = probe_streams(
            path.to_str().unwrap(),
            &["-show_entries", "stream=codec_type"],
        )
        .iter()
        .map(|s| s["codec_type"].as_str().unwrap_or("").to_string())
        .collect();
        let mut want = Vec::new();
        if has_video {
            want.push("video");
        }
        if has_audio {
            want.push("audio");
        }
        assert_eq!(kinds, want, "{name} {segment}: ffprobe streams");
    }
}

/// `ffmpeg -v error` decodes the whole playlist silently.
fn decodes_cleanly(name: &str) -> Packaged {
    let packaged = package(name);
    let playlist = packaged.scratch.path("stream.m3u8");
    assert_ffmpeg_decodes(&playlist, name);
    packaged
}

/// ffprobe's `streams` array (JSON) for `path` with extra arguments.
fn probe_streams(path: &str, extra: &[&str]) -> Vec<serde_json::Value> {
    let mut args = vec!["-v", "error", "-of", "json"];
    args.extend_from_slice(extra);
    args.push(path);
    let doc: serde_json::Value = serde_json::from_str(&ffprobe(&args)).unwrap();
    doc["streams"].as_array().cloned().unwrap_or_default()
}

fn video_frames(path: &str) -> u64 {
    let streams = probe_streams(
        path,
        &[
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=nb_read_frames",
        ],
    );
    streams[0]["nb_read_frames"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// (codec_type, start_time) per stream.
fn start_times(path: &str) -> Vec<(String, f64)> {
    probe_streams(path, &["-show_entries", "stream=codec_type,start_time"])
        .iter()
        .map(|s| {
            let kind = s["codec_type"].as_str().unwrap().to_string();
            (kind, s["start_time"].as_str().unwrap().parse().unwrap())
        })
        .collect()
}

fn check_decoding(name: &str) {
    let packaged = decodes_cleanly(name);
    let source = media(&format!("{name}.mp4"));
    let source = source.to_str().unwrap();
    let playlist = packaged.scratch.path("stream.m3u8");
    let playlist = playlist.to_str().unwrap();
    assert_eq!(
        video_frames(playlist),
        video_frames(source),
        "{name}: decoded video frames"
    );
    // Start times relative to the earliest stream: HLS against the source.
    let ours = start_times(playlist);
    let theirs = start_times(source);
    let earliest = |v: &[(String, f64)]| v.iter().map(|(_, t)| *t).fold(f64::MAX, f64::min);
    let (our_zero, their_zero) = (earliest(&ours), earliest(&theirs));
    let frame = 1.0 / 24.0;
    for (kind, time) in &theirs {
        let (_, our_time) = ours
            .iter()
            .find(|(k, _)| k == kind)
            .unwrap_or_else(|| panic!("{name}: no {kind} in HLS"));
        let (a, b) = (our_time - our_zero, time - their_zero);
        assert!(
            (a - b).abs() <= frame + 1e-6,
            "{name} {kind}: starts at {a:.4} s, source {b:.4} s"
        );
    }
    // And the first DTS sits at the PCR offset.
    let first = packaged.scratch.read(&packaged.segments[0]);
    let packets = packets(&first);
    let (_, dts) = pes_times(&packets[2].payload);
    assert_eq!(dts, 10_000, "{name}: first DTS at --pcr-offset");
}

#[test]
fn structure_avc_with_audio() {
    check_structure("clip_low", true, true, false);
    check_structure("irregular_gop", true, true, false);
}

#[test]
fn structure_hevc() {
    check_structure("hevc", true, true, true);
}

#[test]
fn structure_audio_only_and_video_only() {
    check_structure("audio_only", false, true, false);
    check_structure("video_only", true, false, false);
}

#[test]
fn structure_fragmented_input() {
    check_structure("fragmented", true, true, false);
}

#[test]
fn decoding_avc_with_edit_lists() {
    check_decoding("a_720p_60s");
    check_decoding("clip_low");
}

#[test]
fn decoding_hevc_and_irregular() {
    check_decoding("hevc");
    check_decoding("irregular_gop");
}

#[test]
fn decoding_single_kind_and_fragmented() {
    check_decoding("video_only");
    check_decoding("fragmented");
    decodes_cleanly("audio_only");
}
