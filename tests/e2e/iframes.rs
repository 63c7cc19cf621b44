//! I-frame playlists through the whole stack: a master with video lists one
//! `EXT-X-I-FRAME-STREAM-INF` per variant, and each entry's byte range, fetched from
//! the cached segment as a player would (a Range request nginx answers), is a
//! transport stream of its own that decodes to exactly one picture.

use crate::common::*;
use std::process::Command;

const CSMIL: &str = "/i/clip_,low,medium,.mp4.csmil/master.m3u8";

/// (EXTINF, length, offset, URI) of each entry of an I-frame playlist.
fn entries(text: &str) -> Vec<(f64, u64, u64, String)> {
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let Some(rest) = line.strip_prefix("#EXTINF:") else {
            continue;
        };
        let duration: f64 = rest.trim_end_matches(',').parse().expect("EXTINF");
        let range = lines.next().unwrap_or_default();
        let (length, offset) = range
            .strip_prefix("#EXT-X-BYTERANGE:")
            .and_then(|r| r.split_once('@'))
            .unwrap_or_else(|| panic!("no byte range after EXTINF: {range:?}"));
        let uri = lines.next().unwrap_or_default().to_string();
        out.push((
            duration,
            length.parse().expect("length"),
            offset.parse().expect("offset"),
            uri,
        ));
    }
    out
}

fn iframe_lines(master: &str) -> Vec<std::collections::BTreeMap<String, String>> {
    master
        .lines()
        .filter_map(|l| l.strip_prefix("#EXT-X-I-FRAME-STREAM-INF:"))
        .map(attributes)
        .collect()
}

/// Pictures ffprobe decodes from what `path` leads to over HTTP.
fn decoded_pictures(stack: &Stack, path: &str) -> u64 {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-count_frames"])
        .args(["-show_entries", "stream=nb_read_frames", "-of", "csv=p=0"])
        .arg(stack.url(path))
        .output()
        .expect("run ffprobe");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "{path}: ffprobe: {stderr}"
    );
    // The HLS demuxer lists the stream under each program: the first count is it.
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{path}: ffprobe said {text:?}"))
}

#[test]
fn every_variant_has_an_iframe_stream_whose_ranges_are_keyframes() {
    let stack = Stack::builder()
        .media("clip_low.mp4")
        .media("clip_medium.mp4")
        .start();
    let master = stack.get(CSMIL);
    assert_eq!(master.status, 200, "{}", master.text());
    let text = master.text();
    let streams = iframe_lines(&text);
    assert_eq!(streams.len(), variants(&text).len(), "{text}");
    for (stream, source) in streams.iter().zip(["clip_low.mp4", "clip_medium.mp4"]) {
        let codecs = &stream["CODECS"];
        assert!(
            codecs.starts_with("avc1.") && !codecs.contains(','),
            "{codecs}"
        );
        assert!(stream["BANDWIDTH"].parse::<u64>().expect("BANDWIDTH") > 0);
        assert!(stream.contains_key("RESOLUTION"), "{stream:?}");
        let path = resolve(CSMIL, &stream["URI"]);
        assert_eq!(path, format!("/i/{source}/iframes_0_av.m3u8"));
        let r = stack.get(&path);
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        let playlist = r.text();
        for tag in ["#EXT-X-VERSION:4", "#EXT-X-I-FRAMES-ONLY", "#EXT-X-ENDLIST"] {
            assert!(playlist.lines().any(|l| l == tag), "{path} lacks {tag}");
        }
        let list = entries(&playlist);
        let segments = segments(&stack.get(&resolve(&path, "index_0_av.m3u8")).text()).len();
        assert!(list.len() >= segments, "{path}: {} entries", list.len());
        let total: f64 = list.iter().map(|e| e.0).sum();
        let expected = ffprobe_duration(&stack.media_root.join(source));
        assert!(
            (total - expected).abs() < 0.25,
            "{path}: {total} s of {expected}"
        );
        for (_, length, offset, uri) in &list {
            let segment = resolve(&path, uri);
            let range = format!("Range: bytes={offset}-{}", offset + length - 1);
            let r = request(stack.port, "GET", segment.as_bytes(), &[&range]);
            assert_eq!(r.status, 206, "{segment} {range}");
            assert_eq!(r.body.len() as u64, *length, "{segment} {range}");
            assert_transport_stream(&r.body, &format!("{segment} {range}"));
        }
        // One picture per entry: each range holds a whole keyframe and the tables.
        assert_eq!(decoded_pictures(&stack, &path), list.len() as u64, "{path}");
    }
}

#[test]
fn no_iframe_stream_without_video_with_real_bento4_or_for_a_clip() {
    let stack = Stack::builder()
        .media("audio_only.mp4")
        .media("clip_low.mp4")
        .start();
    let audio = stack.get("/i/audio_only.mp4/master.m3u8");
    assert_eq!(audio.status, 200);
    assert!(iframe_lines(&audio.text()).is_empty(), "{}", audio.text());
    assert_eq!(stack.get("/i/audio_only.mp4/iframes_0_av.m3u8").status, 404);

    let clipped = stack.get("/i/clip_low.mp4/master.m3u8?start=2&end=8");
    assert_eq!(clipped.status, 200, "{}", clipped.text());
    assert!(
        iframe_lines(&clipped.text()).is_empty(),
        "{}",
        clipped.text()
    );
    let r = stack.get("/i/clip_low.mp4/iframes_0_av.m3u8?start=2&end=8");
    assert_eq!(r.status, 404, "{}", r.text());

    // sd= keeps them: the same layout, cut elsewhere.
    let sd = stack.get("/i/clip_low.mp4/master.m3u8?sd=4s");
    let streams = iframe_lines(&sd.text());
    assert_eq!(streams.len(), 1, "{}", sd.text());
    let path = resolve("/i/clip_low.mp4/master.m3u8", &streams[0]["URI"]);
    assert_eq!(stack.get(&path).status, 200, "{path}");

    let whole = Stack::builder()
        .media("clip_low.mp4")
        .packaging(Packaging::Whole)
        .start();
    let master = whole.get("/i/clip_low.mp4/master.m3u8");
    assert_eq!(master.status, 200);
    assert!(iframe_lines(&master.text()).is_empty(), "{}", master.text());
    assert_eq!(whole.get("/i/clip_low.mp4/iframes_0_av.m3u8").status, 404);
}

/// The first video frame ffprobe reads from `bytes` (an init segment and an I-frame
/// range, as a player joins them): `key_frame,pict_type[,side data]`.
fn first_frame(bytes: &[u8], what: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("iframe.mp4");
    std::fs::write(&file, bytes).unwrap();
    let out = Command::new("ffprobe")
        .args(["-v", "quiet", "-select_streams", "v:0", "-show_frames"])
        .args([
            "-show_entries",
            "frame=key_frame,pict_type",
            "-of",
            "csv=p=0",
        ])
        .arg(&file)
        .output()
        .expect("run ffprobe");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let first = text.lines().next().unwrap_or_default().trim().to_string();
    assert!(!first.is_empty(), "{what}: ffprobe read no frame");
    first
}

/// CMAF HLS masters list an I-frame stream per video variant: one entry per segment,
/// its range (fetched as a player would, a Range request nginx answers) the segment's
/// `styp`, `moof` and keyframe, which decodes to a keyframe after the init segment;
/// as many entries as the video playlist has segments, lasting as long.
#[test]
fn cmaf_masters_list_iframe_streams_whose_ranges_are_keyframes() {
    let stack = Stack::builder()
        .media("clip_low.mp4")
        .media("clip_medium.mp4")
        .media("audio_only.mp4")
        .start();
    let master_path = "/c/clip_,low,medium,.mp4.csmil/master.m3u8";
    let master = stack.get(master_path);
    assert_eq!(master.status, 200, "{}", master.text());
    let text = master.text();
    let streams = iframe_lines(&text);
    assert_eq!(streams.len(), 2, "{text}");
    let uris: Vec<&str> = streams.iter().map(|s| s["URI"].as_str()).collect();
    assert_eq!(uris, ["iframes_0_v.m3u8", "iframes_1_v.m3u8"], "{text}");
    for (n, stream) in streams.iter().enumerate() {
        let codecs = &stream["CODECS"];
        assert!(
            codecs.starts_with("avc1.") && !codecs.contains(','),
            "{codecs}"
        );
        assert!(stream["BANDWIDTH"].parse::<u64>().expect("BANDWIDTH") > 0);
        assert!(stream.contains_key("RESOLUTION"), "{stream:?}");
        let path = resolve(master_path, &stream["URI"]);
        let r = stack.get(&path);
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        let playlist = r.text();
        for tag in ["#EXT-X-VERSION:7", "#EXT-X-I-FRAMES-ONLY", "#EXT-X-ENDLIST"] {
            assert!(playlist.lines().any(|l| l == tag), "{path} lacks {tag}");
        }
        let init_uri = format!("init_{n}_v.mp4");
        assert!(
            playlist.contains(&format!("#EXT-X-MAP:URI=\"{init_uri}\"\n")),
            "{playlist}"
        );
        let init = stack.get(&resolve(&path, &init_uri));
        assert_eq!(init.status, 200);
        let list = entries(&playlist);
        let media = segments(
            &stack
                .get(&resolve(&path, &format!("index_{n}_v.m3u8")))
                .text(),
        );
        assert_eq!(list.len(), media.len(), "{path}: one entry per segment");
        for ((extinf, length, offset, uri), (duration, segment_uri)) in list.iter().zip(&media) {
            assert_eq!((uri, *offset), (segment_uri, 0), "{path}");
            assert!((extinf - duration).abs() < 1e-6, "{path}: {uri}");
            let segment = resolve(&path, uri);
            let range = format!("Range: bytes=0-{}", length - 1);
            let r = request(stack.port, "GET", segment.as_bytes(), &[&range]);
            assert_eq!(r.status, 206, "{segment} {range}");
            assert_eq!(r.body.len() as u64, *length, "{segment} {range}");
            let what = format!("{segment} {range}");
            let joined = [init.body.as_slice(), r.body.as_slice()].concat();
            let frame = first_frame(&joined, &what);
            assert!(frame.starts_with("1,I"), "{what}: {frame}");
        }
    }
    // Audio alone has no I-frame stream, and its I-frame URL is a 404.
    let audio = stack.get("/c/audio_only.mp4/master.m3u8");
    assert_eq!(audio.status, 200, "{}", audio.text());
    assert!(iframe_lines(&audio.text()).is_empty(), "{}", audio.text());
    assert_eq!(stack.get("/c/audio_only.mp4/iframes_0_v.m3u8").status, 404);
    assert_ffmpeg_decodes(&stack, master_path, "CMAF master with I-frame streams");
}
