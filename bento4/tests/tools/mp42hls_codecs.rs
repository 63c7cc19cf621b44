//! Audio codecs beyond AAC, in MP4s made here with ffmpeg: MP3 (both MPEG-1 and
//! MPEG-2 rates), AC-3 and E-AC-3 go into TS with the right stream type, decode
//! cleanly, and the plan still gives the exact sizes.

use crate::mp42hls_support::*;
use std::process::Command;

/// Makes an 8 s H.264 + `codec` MP4 at `rate` Hz in `dir`.
fn make(dir: &Scratch, codec: &str, rate: u32) -> String {
    let path = dir.path(&format!("{codec}-{rate}.mp4"));
    let sine = format!("sine=frequency=440:sample_rate={rate}");
    let status = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=160x120:rate=24",
        ])
        .args([
            "-f", "lavfi", "-i", &sine, "-t", "8", "-c:v", "libx264", "-g", "48", "-c:a", codec,
        ])
        .arg(&path)
        .status()
        .expect("ffmpeg must be installed");
    assert!(status.success(), "ffmpeg could not make a {codec} MP4");
    path.to_string_lossy().into_owned()
}

fn check(codec: &str, rate: u32, stream_type: u8, probe_name: &str) {
    let sources = Scratch::new(&format!("codec-src-{codec}"));
    let input = make(&sources, codec, rate);
    let out = Scratch::new(&format!("codec-{codec}"));
    run_ok(&out.0, &["--segment-duration", "4", &input]);
    let (_, _, uris) = playlist_entries(&out.text("stream.m3u8"));
    assert_eq!(uris.len(), 2, "{codec}: 8 s in 4 s segments");

    let first = packets(&out.read(&uris[0]));
    let pmt = &first[1].payload;
    // Second stream entry (after the video's 5 bytes at 13..18).
    assert_eq!(pmt[18], stream_type, "{codec}: PMT stream type");

    let playlist = out.path("stream.m3u8");
    assert_ffmpeg_decodes(&playlist, codec);
    let names = ffprobe(&[
        "-v",
        "error",
        "-show_entries",
        "stream=codec_name",
        "-of",
        "csv=p=0",
        playlist.to_str().unwrap(),
    ]);
    assert!(
        names.lines().any(|l| l == probe_name),
        "{codec}: ffprobe saw {names}"
    );

    let plan = run_ok(&out.0, &["--segment-duration", "4", "--plan", &input]);
    let plan: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    for (k, uri) in uris.iter().enumerate() {
        assert_eq!(
            plan["segments"][k]["size"].as_u64(),
            Some(out.read(uri).len() as u64)
        );
    }
}

#[test]
fn mp3_mpeg1_and_mpeg2_rates() {
    check("libmp3lame", 48000, 0x03, "mp3");
    check("libmp3lame", 22050, 0x04, "mp3");
}

#[test]
fn ac3_and_eac3() {
    check("ac3", 48000, 0x81, "ac3");
    check("eac3", 48000, 0x87, "eac3");
}
