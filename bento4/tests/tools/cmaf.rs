//! `mp42hls --cmaf`: every segment decodes in ffmpeg with its init segment and the
//! frames add up to the source's; `moof` sequence numbers increase, `tfdt` is the
//! first segment's plus the durations before, the first video sample is a sync
//! sample, and the plan's I-frame range (styp, moof, first sample) decodes to a
//! keyframe alone; a segment made alone (one-shot or `--serve`) equals the whole run's;
//! runs are deterministic; HEVC goes out as `hvc1` with VPS/SPS/PPS in `hvcC`;
//! the cuts are the TS plan's.

use crate::mp42hls_support::{media, run_ok, serve_jobs, Scratch};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// Boxes at the top of `data` (or of a box body): (type, body).
fn boxes(data: &[u8]) -> Vec<([u8; 4], &[u8])> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 8 <= data.len() {
        let size = u32::from_be_bytes(data[at..at + 4].try_into().unwrap()) as usize;
        assert!(
            size >= 8 && at + size <= data.len(),
            "box size {size} at {at}"
        );
        out.push((
            data[at + 4..at + 8].try_into().unwrap(),
            &data[at + 8..at + size],
        ));
        at += size;
    }
    assert_eq!(at, data.len(), "trailing bytes");
    out
}

fn child<'a>(data: &'a [u8], kind: &[u8; 4]) -> &'a [u8] {
    boxes(data)
        .into_iter()
        .find(|(k, _)| k == kind)
        .unwrap_or_else(|| panic!("no {}", String::from_utf8_lossy(kind)))
        .1
}

fn be32(data: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(data[at..at + 4].try_into().unwrap())
}

/// What one media segment says of itself.
struct Fragment {
    sequence: u32,
    tfdt: u64,
    duration: u64,
    samples: usize,
    first_sync: bool,
    /// Bytes from the file's start to the end of the first sample.
    first_end: u64,
}

fn fragment(data: &[u8]) -> Fragment {
    let top = boxes(data);
    let kinds: Vec<&[u8; 4]> = top.iter().map(|(k, _)| k).collect();
    assert_eq!(kinds, [b"styp", b"moof", b"mdat"]);
    let moof = top[1].1;
    let sequence = be32(child(moof, b"mfhd"), 4);
    let traf = child(moof, b"traf");
    let tfdt = child(traf, b"tfdt");
    let tfdt = match tfdt[0] {
        1 => u64::from_be_bytes(tfdt[4..12].try_into().unwrap()),
        _ => u64::from(be32(tfdt, 4)),
    };
    let trun = child(traf, b"trun");
    let flags = be32(trun, 0) & 0xFF_FFFF;
    assert_eq!(
        flags & 0x701,
        0x701,
        "duration, size and flags per sample, data offset"
    );
    let count = be32(trun, 4) as usize;
    let mut at = 12 + if flags & 0x4 != 0 { 4 } else { 0 };
    let per = 12 + if flags & 0x800 != 0 { 4 } else { 0 };
    let mut duration = 0u64;
    let mut first_sync = false;
    let mut first_size = 0u64;
    let mut payload = 0u64;
    for i in 0..count {
        duration += u64::from(be32(trun, at));
        payload += u64::from(be32(trun, at + 4));
        if i == 0 {
            first_sync = be32(trun, at + 8) & 0x0001_0000 == 0;
            first_size = u64::from(be32(trun, at + 4));
        }
        at += per;
    }
    assert_eq!(at, trun.len());
    assert_eq!(payload as usize, top[2].1.len(), "mdat holds the samples");
    // styp, moof, then the mdat's 8-byte header before its samples.
    let samples_at = (top[0].1.len() + 8 + moof.len() + 8 + 8) as u64;
    Fragment {
        sequence,
        tfdt,
        duration,
        samples: count,
        first_sync,
        first_end: samples_at + first_size,
    }
}

/// (frames decoded, packets read) of the one stream in `path`.
/// Packets of one kind in the source, as ffprobe reads them (no decoding).
fn source_packets(source: &Path, selector: &str) -> u64 {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", selector, "-count_packets"])
        .args(["-show_entries", "stream=nb_read_packets", "-of", "csv=p=0"])
        .arg(source)
        .output()
        .expect("ffprobe runs");
    // Some streams print a trailing empty field ("938,").
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim()
        .split(',')
        .next()
        .unwrap_or_default()
        .parse()
        .unwrap()
}

fn ffprobe_frames(path: &Path) -> (u64, u64) {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "0",
            "-count_frames",
            "-count_packets",
        ])
        .args([
            "-show_entries",
            "stream=nb_read_frames,nb_read_packets",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // An HLS input lists the stream under its program too: the first line says it.
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let numbers: Vec<u64> = line
        .split(',')
        .filter_map(|v| v.trim().parse().ok())
        .collect();
    assert_eq!(numbers.len(), 2, "ffprobe said {text:?}");
    (numbers[0], numbers[1])
}

/// Decodes init + segment with `ffmpeg -v error`: nothing may be said on stderr.
fn decode_alone(scratch: &Scratch, init: &[u8], segment: &[u8], name: &str) {
    let joined = scratch.path(name);
    std::fs::write(&joined, [init, segment].concat()).unwrap();
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&joined)
        .args(["-f", "null", "-"])
        .output()
        .expect("ffmpeg runs");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// ffprobe reads init + an I-frame range: its first video frame is a keyframe.
fn keyframe_alone(scratch: &Scratch, init: &[u8], range: &[u8], name: &str) {
    let joined = scratch.path(&format!("iframe-{name}.mp4"));
    std::fs::write(&joined, [init, range].concat()).unwrap();
    let out = Command::new("ffprobe")
        .args(["-v", "quiet", "-select_streams", "v:0", "-show_frames"])
        .args([
            "-show_entries",
            "frame=key_frame,pict_type",
            "-of",
            "csv=p=0",
        ])
        .arg(&joined)
        .output()
        .expect("ffprobe runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let first = text.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("1,I"),
        "{name}: the I-frame range decodes to {text:?}"
    );
}

fn plan(source: &Path, cmaf: bool) -> Value {
    let dir = Scratch::new("cmaf-plan");
    let mut args = vec!["--plan", "--first-segment-number", "1"];
    if cmaf {
        args.extend(["--cmaf", "video"]);
    }
    let path = source.to_str().unwrap();
    args.push(path);
    serde_json::from_slice(&run_ok(&dir.0, &args).stdout).unwrap()
}

/// A whole run of one track; checks every segment and returns (init, segments).
fn check_track(source: &Path, kind: &str, selector: &str) -> (Vec<u8>, Vec<Vec<u8>>) {
    let scratch = Scratch::new(&format!("cmaf-{kind}"));
    let path = source.to_str().unwrap();
    run_ok(
        &scratch.0,
        &["--cmaf", kind, "--first-segment-number", "1", path],
    );
    let init = scratch.read("init.mp4");
    let playlist = scratch.text("stream.m3u8");
    assert!(
        playlist.contains("#EXT-X-VERSION:7\n")
            && playlist.contains("#EXT-X-MAP:URI=\"init.mp4\"\n")
    );
    let ts_plan = plan(source, false);
    let ts_segments = ts_plan["segments"].as_array().unwrap();
    let cmaf_plan = plan(source, true);
    let timeline = cmaf_plan["cmaf"][kind]["segments"].as_array().unwrap();
    assert_eq!(timeline.len(), ts_segments.len(), "same cuts as TS");
    let mut segments = Vec::new();
    let mut frames = 0;
    let mut expected_tfdt = None;
    for k in 1..=ts_segments.len() {
        let name = format!("segment-{k}.m4s");
        let data = scratch.read(&name);
        let f = fragment(&data);
        assert_eq!(f.sequence as usize, k, "mfhd increases from 1");
        assert!(f.samples > 0);
        if kind == "video" {
            assert!(f.first_sync, "{name} starts with a sync sample");
            // The plan's I-frame range is the file's styp, moof and first sample, and
            // that prefix alone decodes to a keyframe.
            let iframe = &cmaf_plan["cmaf"]["video"]["iframes"][k - 1];
            assert_eq!(iframe, &serde_json::json!([0, f.first_end]), "{name}");
            keyframe_alone(&scratch, &init, &data[..f.first_end as usize], &name);
        }
        let tfdt = *expected_tfdt.get_or_insert(f.tfdt);
        assert_eq!(
            f.tfdt, tfdt,
            "{name}: tfdt = the first's + durations before"
        );
        expected_tfdt = Some(tfdt + f.duration);
        assert_eq!(
            timeline[k - 1],
            serde_json::json!([f.tfdt, f.duration]),
            "{name}"
        );
        if kind == "video" {
            // The TS EXTINF is the video's decode-time distance between the same cuts.
            let timescale = cmaf_plan["cmaf"]["video"]["timescale"].as_f64().unwrap();
            let extinf = ts_segments[k - 1]["duration"].as_f64().unwrap();
            assert!(
                (f.duration as f64 / timescale - extinf).abs() < 1e-6,
                "{name}"
            );
        }
        // Every sample of the source is in exactly one segment (an open-GOP HEVC
        // segment decoded alone drops the leading pictures that refer to the
        // previous GOP, as a TS segment does; the playlist decodes them all).
        frames += f.samples as u64;
        decode_alone(&scratch, &init, &data, &format!("joined-{k}.mp4"));
        segments.push(data);
    }
    assert!(!scratch
        .path(&format!("segment-{}.m4s", ts_segments.len() + 1))
        .exists());
    assert_eq!(
        frames,
        source_packets(source, selector),
        "{kind} samples of every segment"
    );
    // Every sample decodes to a frame (AAC priming too: no edit list trims it, as
    // in the TS segments, where audio starts that frame before video).
    assert_eq!(
        ffprobe_frames(&scratch.path("stream.m3u8")),
        (frames, frames),
        "the playlist decodes every sample"
    );

    // Alone equals whole; a second whole run is the same bytes.
    let alone = Scratch::new(&format!("cmaf-{kind}-alone"));
    for k in [1, ts_segments.len() / 2 + 1, ts_segments.len()] {
        let number = k.to_string();
        run_ok(
            &alone.0,
            &[
                "--cmaf",
                kind,
                "--first-segment-number",
                "1",
                "--segments",
                &number,
                path,
            ],
        );
        assert_eq!(
            alone.read(&format!("segment-{k}.m4s")),
            segments[k - 1],
            "segment {k} alone"
        );
    }
    assert!(
        !alone.path("init.mp4").exists(),
        "--segments writes no init"
    );
    run_ok(
        &alone.0,
        &[
            "--cmaf",
            kind,
            "--init-segment",
            "--init-segment-filename",
            "i.mp4",
            path,
        ],
    );
    assert_eq!(alone.read("i.mp4"), init);
    let again = Scratch::new(&format!("cmaf-{kind}-again"));
    run_ok(
        &again.0,
        &["--cmaf", kind, "--first-segment-number", "1", path],
    );
    assert_eq!(again.read("init.mp4"), init);
    for (k, data) in segments.iter().enumerate() {
        assert_eq!(
            &again.read(&format!("segment-{}.m4s", k + 1)),
            data,
            "deterministic"
        );
    }
    (init, segments)
}

#[test]
fn h264_and_aac_segments_decode_alone_with_the_source_frame_counts() {
    let source = media("clip_low.mp4");
    let (init, _) = check_track(&source, "video", "v:0");
    let stsd = child(
        child(
            child(child(child(&init[..], b"moov"), b"trak"), b"mdia"),
            b"minf",
        ),
        b"stbl",
    );
    assert!(stsd.windows(8).any(|w| w[4..] == *b"avcC"));
    assert!(child(&init, b"moov").windows(4).any(|w| w == b"mvex"));
    let (init, _) = check_track(&source, "audio", "a:0");
    assert!(init.windows(4).any(|w| w == b"esds"));
}

#[test]
fn hevc_is_hvc1_with_parameter_sets_in_hvcc() {
    let source = media("hevc.mp4");
    let (init, _) = check_track(&source, "video", "v:0");
    let at = init
        .windows(4)
        .position(|w| w == b"hvc1")
        .expect("hvc1 sample entry");
    let hvcc_at = init.windows(4).position(|w| w == b"hvcC").expect("hvcC");
    assert!(hvcc_at > at);
    let size = be32(&init, hvcc_at - 4) as usize;
    let hvcc = &init[hvcc_at + 4..hvcc_at - 4 + size];
    let mut types = Vec::new();
    let mut at = 23;
    for _ in 0..hvcc[22] {
        types.push(hvcc[at] & 0x3F);
        let count = u16::from_be_bytes([hvcc[at + 1], hvcc[at + 2]]);
        at += 3;
        for _ in 0..count {
            at += 2 + u16::from_be_bytes([hvcc[at], hvcc[at + 1]]) as usize;
        }
    }
    assert_eq!(at, hvcc.len());
    for kind in [32, 33, 34] {
        assert!(types.contains(&kind), "NAL type {kind} in hvcC: {types:?}");
    }
    let cmaf = plan(&source, true);
    assert!(cmaf["cmaf"]["video"]["codec"]
        .as_str()
        .unwrap()
        .starts_with("hvc1.1."));
}

#[test]
fn serve_jobs_write_the_one_shot_bytes() {
    let source = media("clip_low.mp4");
    let path = source.to_str().unwrap();
    let one_shot = Scratch::new("cmaf-serve-one-shot");
    run_ok(
        &one_shot.0,
        &["--cmaf", "audio", "--first-segment-number", "1", path],
    );
    let served = Scratch::new("cmaf-serve");
    let jobs = [
        serde_json::json!({"id": 1, "op": "init", "cmaf": "audio", "segment_duration": 6.0,
            "input": path, "output": served.path("init.mp4")}),
        serde_json::json!({"id": 2, "op": "segment", "cmaf": "audio", "segment_duration": 6.0,
            "k": 3, "input": path, "output": served.path("segment-3.m4s")}),
        serde_json::json!({"id": 3, "op": "plan", "cmaf": "video", "segment_duration": 6.0,
            "input": path}),
        serde_json::json!({"id": 4, "op": "init", "segment_duration": 6.0, "input": path,
            "output": served.path("x.mp4")}),
    ];
    let answers = serve_jobs(&jobs);
    assert_eq!(answers.len(), 4);
    assert_eq!(answers[0]["ok"], true, "{}", answers[0]);
    assert_eq!(answers[1]["ok"], true, "{}", answers[1]);
    assert_eq!(served.read("init.mp4"), one_shot.read("init.mp4"));
    assert_eq!(served.read("segment-3.m4s"), one_shot.read("segment-3.m4s"));
    assert_eq!(answers[2]["cmaf"]["audio"]["timescale"], 48000);
    assert_eq!(answers[2]["cmaf"]["video"]["timescale"], 12288);
    assert_eq!(answers[3]["code"], 1, "init needs cmaf: {}", answers[3]);
}

#[test]
fn ac3_goes_out_as_ac3_with_the_sources_dac3() {
    // multi_audio.mp4: AAC eng, AAC fra, AC-3 eng; the AC-3 track picked by id.
    let source = media("multi_audio.mp4");
    let path = source.to_str().unwrap();
    let info: Value = serde_json::from_slice(
        &Command::new(env!("CARGO_BIN_EXE_mp4info"))
            .args(["--format", "json", path])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let id = info["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["sample_descriptions"][0]["coding"] == "ac-3")
        .and_then(|t| t["id"].as_u64())
        .expect("an ac-3 track")
        .to_string();
    let scratch = Scratch::new("cmaf-ac3");
    let args = [
        "--cmaf",
        "audio",
        "--audio-track-id",
        &id,
        "--first-segment-number",
        "1",
        path,
    ];
    run_ok(&scratch.0, &args);
    let init = scratch.read("init.mp4");
    assert!(init.windows(4).any(|w| w == b"ac-3"), "ac-3 sample entry");
    assert!(init.windows(4).any(|w| w == b"dac3"), "dac3 box");
    let playlist = scratch.text("stream.m3u8");
    let count = playlist.matches("#EXTINF").count();
    assert!(count > 1, "{playlist}");
    let mut samples = 0;
    for k in 1..=count {
        let data = scratch.read(&format!("segment-{k}.m4s"));
        samples += fragment(&data).samples as u64;
        decode_alone(&scratch, &init, &data, &format!("joined-{k}.mp4"));
    }
    assert_eq!(samples, source_packets(&source, "a:2"), "every AC-3 frame");
    assert_eq!(
        ffprobe_frames(&scratch.path("stream.m3u8")),
        (samples, samples),
        "the playlist decodes every frame"
    );
}
