//! The plan and the muxer on synthetic movies: sizes computed from the index equal
//! the bytes written, continuity counters chain, timestamps follow the edit lists.

use super::*;
use crate::media::{
    AacConfig, AudioBasics, AvcConfig, Codec, EditShift, FileInfo, Sample, Track, TrackKind,
};
use crate::mux::{SampleBytes, SegmentWriter};

const VIDEO_SCALE: u32 = 12288;
const FRAME: u32 = 512; // 24 fps

/// Deterministic pseudo-random sizes, so packet boundaries fall everywhere.
fn size_at(i: usize, base: u32, spread: u32) -> u32 {
    base + ((i as u32).wrapping_mul(2_654_435_761) >> 7) % spread
}

fn video_track(frames: usize, gop: usize, nalu_length_size: u8) -> Track {
    let samples = (0..frames)
        .map(|i| Sample {
            offset: 0,
            size: size_at(i, 40, 3000),
            dts: (i as u64) * u64::from(FRAME),
            // I P B B pattern: two frames of reorder delay.
            cts_offset: if i % 3 == 0 {
                2 * FRAME as i32
            } else {
                FRAME as i32
            },
            sync: i % gop == 0,
            duration: FRAME,
        })
        .collect();
    Track {
        id: 1,
        kind: TrackKind::Video,
        flags: 3,
        timescale: VIDEO_SCALE,
        duration: (frames as u64) * u64::from(FRAME),
        movie_duration: 0,
        language: "und".into(),
        name: String::new(),
        display_width: 64.0,
        display_height: 32.0,
        codec: Codec::Avc(AvcConfig {
            fourcc: *b"avc1",
            profile: 100,
            profile_compat: 0,
            level: 31,
            nalu_length_size,
            sps: vec![vec![0x67, 0x64, 0, 0x1F]],
            pps: vec![vec![0x68, 0xEE]],
            width: 64,
            height: 32,
            depth: 24,
        }),
        edit: EditShift {
            empty_duration: 0,
            media_start: u64::from(FRAME),
        },
        samples,
    }
}

fn audio_track(frames: usize) -> Track {
    let samples = (0..frames)
        .map(|i| Sample {
            offset: 0,
            size: size_at(i, 200, 400),
            dts: (i as u64) * 1024,
            cts_offset: 0,
            sync: true,
            duration: 1024,
        })
        .collect();
    Track {
        id: 2,
        kind: TrackKind::Audio,
        flags: 3,
        timescale: 48000,
        duration: (frames as u64) * 1024,
        movie_duration: 0,
        language: "und".into(),
        name: String::new(),
        display_width: 0.0,
        display_height: 0.0,
        codec: Codec::Aac(AacConfig {
            object_type: 2,
            decoder_info: vec![0x11, 0x90],
            sampling_frequency: 48000,
            sampling_frequency_index: 3,
            channel_configuration: 2,
            basics: AudioBasics::default(),
        }),
        edit: EditShift {
            empty_duration: 0,
            media_start: 1024,
        },
        samples,
    }
}

fn movie(tracks: Vec<Track>) -> Movie {
    Movie {
        file: FileInfo::default(),
        time_scale: 1000,
        duration: 20_000,
        fragmented: false,
        tracks,
    }
}

/// Sample bytes made up to match the index: one NAL per video sample.
struct FakeBytes {
    video: Vec<Vec<u8>>,
    audio: Vec<Vec<u8>>,
}

impl FakeBytes {
    fn new(movie: &Movie, nalu_length_size: usize) -> FakeBytes {
        let mut video = Vec::new();
        let mut audio = Vec::new();
        for track in &movie.tracks {
            for (i, s) in track.samples.iter().enumerate() {
                let size = s.size as usize;
                let bytes = match track.kind {
                    TrackKind::Video => {
                        // Several NALs, each as long as its prefix allows, to
                        // exercise the per-NAL growth of short prefixes.
                        let longest = (1usize << (8 * nalu_length_size).min(16)) - 1;
                        let mut b = Vec::with_capacity(size);
                        let mut header = if s.sync { 0x65 } else { 0x41 };
                        let mut left = size;
                        while left > 0 {
                            let mut len = (left - nalu_length_size).min(longest).min(size / 2);
                            let after = left - nalu_length_size - len;
                            if after > 0 && after <= nalu_length_size {
                                len -= nalu_length_size + 1 - after; // room for one more NAL
                            }
                            let prefix = (len as u32).to_be_bytes();
                            b.extend_from_slice(&prefix[4 - nalu_length_size..]);
                            b.push(header);
                            b.resize(b.len() + len - 1, i as u8);
                            header = 0x06;
                            left -= nalu_length_size + len;
                        }
                        b
                    }
                    _ => vec![i as u8; size],
                };
                match track.kind {
                    TrackKind::Video => video.push(bytes),
                    _ => audio.push(bytes),
                }
            }
        }
        FakeBytes { video, audio }
    }
}

impl SampleBytes for FakeBytes {
    fn video(&self, index: usize) -> Option<&[u8]> {
        self.video.get(index).map(Vec::as_slice)
    }
    fn audio(&self, index: usize) -> Option<&[u8]> {
        self.audio.get(index).map(Vec::as_slice)
    }
}

fn build<'m>(movie: &'m Movie, options: PlanOptions, bytes: &FakeBytes) -> Plan<'m> {
    let mut streams = select_streams(movie, &options).unwrap();
    if let Some(video) = streams
        .video
        .as_mut()
        .filter(|v| v.framing.needs_nal_counts())
    {
        let counts = bytes
            .video
            .iter()
            .map(|b| video.framing.nal_count(b).unwrap() as u32)
            .collect();
        video.nal_counts = Some(counts);
    }
    Plan::new(movie, options, streams).unwrap()
}

/// Muxes every segment, checking each against the plan; returns the files.
fn mux_all(plan: &Plan, bytes: &FakeBytes) -> Vec<Vec<u8>> {
    let mut writer = SegmentWriter::new(plan);
    (0..plan.segments.len())
        .map(|k| {
            let mut out = Vec::new();
            writer.write(plan, k, bytes, &mut out).unwrap();
            assert_eq!(out.len() as u64, plan.segments[k].size);
            out
        })
        .collect()
}

#[test]
fn sizes_and_counters_match_what_is_written() {
    for nalu_length_size in [4u8, 2, 1] {
        let movie = movie(vec![
            video_track(480, 48, nalu_length_size),
            audio_track(938),
        ]);
        let bytes = FakeBytes::new(&movie, usize::from(nalu_length_size));
        let plan = build(&movie, PlanOptions::default(), &bytes);
        assert_eq!(plan.segments.len(), 4, "20 s in 6 s segments, GOP 2 s");
        let files = mux_all(&plan, &bytes);
        // Continuity counters chain from file to file on every PID.
        let mut last = std::collections::HashMap::new();
        for file in &files {
            for packet in file.chunks(188) {
                let pid = (u16::from(packet[1] & 0x1F) << 8) | u16::from(packet[2]);
                let cc = packet[3] & 0x0F;
                if let Some(previous) = last.insert(pid, cc) {
                    assert_eq!(cc, (previous + 1) & 0x0F, "PID {pid:#x}");
                }
            }
        }
        // All audio and video samples are placed exactly once.
        let video: usize = plan.segments.iter().map(|s| s.video.len()).sum();
        let audio: usize = plan.segments.iter().map(|s| s.audio.len()).sum();
        assert_eq!((video, audio), (480, 938));
    }
}

#[test]
fn timeline_follows_the_edit_lists() {
    let movie = movie(vec![video_track(480, 48, 4), audio_track(938)]);
    let bytes = FakeBytes::new(&movie, 4);
    let plan = build(&movie, PlanOptions::default(), &bytes);
    // Video: edit skips one frame (512 ticks = 3750 at 90 kHz); audio skips 1024 (1920).
    // The earliest shifted DTS is the video's (−3750), which lands on the PCR offset.
    // The first frame presents two frames (7500) after it decodes.
    assert_eq!(plan.video_times(0), (10_000 + 7500, 10_000));
    assert_eq!(plan.audio_time(0), 10_000 + 3750 - 1920);
    // Segment boundaries on the playlist timeline, keyframes every 2 s.
    let starts: Vec<f64> = plan.segments.iter().map(|s| s.start).collect();
    assert_eq!(starts, vec![0.0, 6.0, 12.0, 18.0]);
    assert_eq!(
        plan.segments[1]
            .keyframes
            .iter()
            .map(|k| k.time)
            .collect::<Vec<_>>(),
        vec![6.0, 8.0, 10.0]
    );
    // Audio follows the keyframe's presentation time into the next segment.
    let boundary = plan.video_times(plan.segments[1].video.start).0;
    let first_audio = plan.segments[1].audio.start;
    assert!(plan.audio_time(first_audio) >= boundary);
    assert!(plan.audio_time(first_audio - 1) < boundary);
}

#[test]
fn audio_only_pes_stay_within_pcr_spacing() {
    let movie = movie(vec![audio_track(938)]);
    let bytes = FakeBytes::new(&movie, 4);
    let plan = build(&movie, PlanOptions::default(), &bytes);
    mux_all(&plan, &bytes);
    for segment in &plan.segments {
        for group in plan.audio_groups(segment.audio.clone()) {
            // Each PES carries a PCR; 100 ms at most between two.
            assert!(group.len() * 1024 <= 4800, "{group:?}");
        }
    }
    let groups = plan.audio_groups(plan.segments[0].audio.clone());
    assert_eq!(groups[0], 0..4, "four 21.3 ms frames fit 100 ms");
}

#[test]
fn first_segment_number_and_lookup() {
    let movie = movie(vec![video_track(480, 48, 4)]);
    let options = PlanOptions {
        first_segment_number: 1,
        segment_duration: 10.0,
        ..PlanOptions::default()
    };
    let bytes = FakeBytes::new(&movie, 4);
    let plan = build(&movie, options, &bytes);
    let numbers: Vec<u64> = plan.segments.iter().map(|s| s.number).collect();
    assert_eq!(numbers, vec![1, 2]);
    assert_eq!(plan.segment_index(0), None);
    assert_eq!(plan.segment_index(2), Some(1));
    assert_eq!(plan.segment_index(3), None);
    assert_eq!(plan.target_duration(), 10);
}

#[test]
fn track_selection_errors() {
    let mut unsupported = video_track(48, 48, 4);
    unsupported.codec = Codec::Unsupported(*b"mp4v");
    let movie_bad = movie(vec![unsupported]);
    let cases: Vec<(&Movie, PlanOptions, &str)> = vec![
        (
            &movie_bad,
            PlanOptions::default(),
            "unsupported codec mp4v in track 1",
        ),
        (
            &movie_bad,
            PlanOptions {
                video_track_id: Some(0),
                ..PlanOptions::default()
            },
            "no audio or video track",
        ),
        (
            &movie_bad,
            PlanOptions {
                audio_track_id: Some(7),
                video_track_id: Some(0),
                ..PlanOptions::default()
            },
            "no track 7",
        ),
    ];
    for (movie, options, expected) in cases {
        match select_streams(movie, &options) {
            Err(PlanError::Unsupported(message)) => {
                assert!(message.contains(expected), "{message} vs {expected}")
            }
            other => panic!("expected unsupported, got {other:?}"),
        }
    }
}

#[test]
fn short_nal_prefixes_need_counts() {
    let movie = movie(vec![video_track(48, 48, 2)]);
    let streams = select_streams(&movie, &PlanOptions::default()).unwrap();
    assert!(streams.video_needs_nal_counts());
    assert!(Plan::new(&movie, PlanOptions::default(), streams).is_err());
}

#[test]
fn corrupt_sample_is_an_error_not_a_panic() {
    let movie = movie(vec![video_track(96, 48, 4)]);
    let mut bytes = FakeBytes::new(&movie, 4);
    bytes.video[5][0] = 0x7F; // NAL length now runs past the sample
    let plan = build(&movie, PlanOptions::default(), &bytes);
    let mut writer = SegmentWriter::new(&plan);
    let mut out = Vec::new();
    assert!(writer.write(&plan, 0, &bytes, &mut out).is_err());
}

#[test]
fn a_plan_rebuilt_from_its_parts_writes_the_same_bytes() {
    // Short prefixes too: the NAL counts travel with the parts.
    for nalu_length_size in [4u8, 2] {
        let movie = movie(vec![
            video_track(480, 48, nalu_length_size),
            audio_track(938),
        ]);
        let bytes = FakeBytes::new(&movie, usize::from(nalu_length_size));
        let options = PlanOptions {
            first_segment_number: 1,
            segment_duration: 4.0,
            ..PlanOptions::default()
        };
        let plan = build(&movie, options, &bytes);
        let files = mux_all(&plan, &bytes);
        let parts = plan.clone().into_parts();
        assert!(parts.heap_bytes() >= plan.segments.len() * std::mem::size_of::<SegmentPlan>());
        let rebuilt = Plan::from_parts(&movie, parts).unwrap();
        assert_eq!(rebuilt.segments, plan.segments);
        assert_eq!(rebuilt.options, plan.options);
        assert_eq!(mux_all(&rebuilt, &bytes), files);
    }
}

/// `align_to_video`: the audio alone cut where the muxed plan cuts, segment by
/// segment the same audio frames; without it, on its own frames (6.016 s each).
#[test]
fn audio_alone_aligned_to_the_video_holds_the_muxed_segments_audio() {
    let title = movie(vec![video_track(480, 48, 4), audio_track(938)]);
    let bytes = FakeBytes::new(&title, 4);
    let muxed = build(&title, PlanOptions::default(), &bytes);
    let alone = |align_to_video| PlanOptions {
        video_track_id: Some(0),
        align_to_video,
        ..PlanOptions::default()
    };
    let aligned = build(&title, alone(true), &bytes);
    let audio = |plan: &Plan| {
        plan.segments
            .iter()
            .map(|s| s.audio.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(audio(&aligned), audio(&muxed));
    assert!(aligned.segments.iter().all(|s| s.video.is_empty()));
    assert_eq!(aligned.audio_time(0), muxed.audio_time(0), "one clock");
    // Each segment's audio starts within a frame after the video segment's keyframe.
    for (a, m) in aligned.segments.iter().zip(&muxed.segments).skip(1) {
        let apart = aligned.audio_time(a.audio.start) - muxed.video_times(m.video.start).0;
        assert!(apart < 1920, "{apart} ticks: {a:?} {m:?}");
    }
    mux_all(&aligned, &bytes);

    let own = build(&title, alone(false), &bytes);
    assert_ne!(audio(&own), audio(&muxed));
    assert!((own.segments[0].duration - 282.0 * 1024.0 / 48000.0).abs() < 1e-9);

    // Nothing to align to: the option changes nothing.
    let audio_only = movie(vec![audio_track(938)]);
    let plain = build(&audio_only, PlanOptions::default(), &bytes);
    let asked = build(
        &audio_only,
        PlanOptions {
            align_to_video: true,
            ..PlanOptions::default()
        },
        &bytes,
    );
    assert_eq!(plain.segments, asked.segments);
}

/// Audio that ends before the video: the aligned plan stops with the audio, and
/// no segment is empty.
#[test]
fn aligned_audio_shorter_than_the_video_leaves_the_last_segments_off() {
    let movie = movie(vec![video_track(480, 48, 4), audio_track(400)]);
    let bytes = FakeBytes::new(&movie, 4);
    let plan = build(
        &movie,
        PlanOptions {
            video_track_id: Some(0),
            align_to_video: true,
            ..PlanOptions::default()
        },
        &bytes,
    );
    // 400 frames = 8.5 s: two of the video's four 6 s segments.
    assert_eq!(plan.segments.len(), 2, "{:?}", plan.segments);
    assert!(plan.segments.iter().all(|s| !s.audio.is_empty()));
    assert_eq!(plan.segments[1].audio.end, 400);
}
