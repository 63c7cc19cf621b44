//! The origin end to end: real nginx + real worker + our tools, checked with real clients
//! (raw HTTP, ffmpeg). Each behaviour runs with just-in-time packaging (our mp42hls) and,
//! where the product promises the same answers, with whole-rendition packaging (a wrapper
//! that refuses the extensions like real Bento4).

mod common;

use common::*;
use std::process::Command;
use std::sync::{Arc, Barrier};

const CSMIL_DIR: &str = "/i/clip_,low,medium,highdef,.mp4.csmil";

fn clip_stack(packaging: Packaging) -> Stack {
    Stack::builder()
        .media("clip_low.mp4")
        .media("clip_medium.mp4")
        .media("clip_highdef.mp4")
        .packaging(packaging)
        .config("cache", "segment_max_age_secs = 1234")
        .config("cache", "playlist_max_age_secs = 56")
        .start()
}

/// Fetches a media playlist and every segment in it; checks RFC 8216 essentials and
/// that the EXTINFs add up to the source's duration. Returns the segment paths.
fn check_media_playlist(stack: &Stack, path: &str, source: &str) -> Vec<String> {
    let r = stack.get(path);
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    assert_eq!(r.header("content-type"), "application/vnd.apple.mpegurl");
    let text = r.text();
    for tag in [
        "#EXTM3U",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        "#EXT-X-MEDIA-SEQUENCE:1",
        "#EXT-X-ENDLIST",
    ] {
        assert!(
            text.lines().any(|l| l == tag),
            "{path} lacks {tag}:\n{text}"
        );
    }
    assert!(!text.contains('\r'), "{path}: CR in playlist");
    let target: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-TARGETDURATION:"))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{path}: no TARGETDURATION\n{text}"));
    let segs = segments(&text);
    assert!(!segs.is_empty(), "{path}: no segments");
    for (d, _) in &segs {
        assert!(
            d.round() <= target,
            "{path}: EXTINF {d} above TARGETDURATION {target}"
        );
    }
    let total: f64 = segs.iter().map(|(d, _)| d).sum();
    let expected = ffprobe_duration(&stack.media_root.join(source));
    assert!(
        (total - expected).abs() < 0.25,
        "{path}: EXTINFs add to {total}, source lasts {expected}"
    );
    let mut paths = Vec::new();
    for (i, (_, uri)) in segs.iter().enumerate() {
        let seg_path = resolve(path, uri);
        let r = stack.get(&seg_path);
        assert_eq!(r.status, 200, "{seg_path}: {}", r.text());
        assert_eq!(r.header("content-type"), "video/mp2t", "{seg_path}");
        assert_transport_stream(&r.body, &format!("{seg_path} (#{})", i + 1));
        paths.push(seg_path);
    }
    paths
}

fn cold_csmil_master_plays(packaging: Packaging) {
    let stack = clip_stack(packaging);
    let master_path = format!("{CSMIL_DIR}/master.m3u8");
    let r = stack.get(&master_path);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), "application/vnd.apple.mpegurl");
    let master = r.text();
    assert!(master.starts_with("#EXTM3U\n"), "{master}");
    let vs = variants(&master);
    assert_eq!(vs.len(), 3, "{master}");
    let bandwidth = |a: &std::collections::BTreeMap<String, String>, k: &str| -> u64 {
        a.get(k)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{k} missing or not a number in {a:?}"))
    };
    for pair in vs.windows(2) {
        assert!(
            bandwidth(&pair[0].0, "BANDWIDTH") <= bandwidth(&pair[1].0, "BANDWIDTH"),
            "variants not sorted by BANDWIDTH:\n{master}"
        );
    }
    // 400k < 800k < 1500k: bandwidth order is low, medium, highdef.
    let sources = ["clip_low.mp4", "clip_medium.mp4", "clip_highdef.mp4"];
    for ((attrs, uri), source) in vs.iter().zip(sources) {
        for key in ["CODECS", "RESOLUTION", "FRAME-RATE", "AVERAGE-BANDWIDTH"] {
            assert!(
                attrs.contains_key(key),
                "variant {uri} lacks {key}:\n{master}"
            );
        }
        assert!(bandwidth(attrs, "AVERAGE-BANDWIDTH") <= bandwidth(attrs, "BANDWIDTH"));
        let codecs = &attrs["CODECS"];
        assert!(
            codecs.contains("avc1.64") && codecs.contains("mp4a.40.2"),
            "{codecs}"
        );
        let fps: f64 = attrs["FRAME-RATE"].parse().expect("FRAME-RATE number");
        assert!((fps - 24.0).abs() < 0.01, "FRAME-RATE {fps}");
        let resolution = ffprobe_resolution(&stack.media_root.join(source));
        assert_eq!(attrs["RESOLUTION"], resolution, "{source}:\n{master}");
        let playlist = resolve(&master_path, uri);
        assert_eq!(playlist, format!("/i/{source}/index_0_av.m3u8"), "{uri}");
        check_media_playlist(&stack, &playlist, source);
    }
    // A real client decodes every rendition over HTTP without a complaint.
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(stack.url(&master_path))
        .args(["-map", "0", "-f", "null", "-"])
        .output()
        .expect("run ffmpeg");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "ffmpeg: {stderr}"
    );
}

#[test]
fn cold_csmil_master_plays_just_in_time() {
    cold_csmil_master_plays(Packaging::JustInTime);
}

#[test]
fn cold_csmil_master_plays_whole_rendition() {
    cold_csmil_master_plays(Packaging::Whole);
}

#[test]
fn single_rendition_master_and_csmil_relative_forms() {
    let stack = clip_stack(Packaging::JustInTime);
    let r = stack.get("/i/clip_low.mp4/master.m3u8");
    assert_eq!(r.status, 200, "{}", r.text());
    let vs = variants(&r.text());
    assert_eq!(vs.len(), 1, "{}", r.text());
    assert_eq!(
        resolve("/i/clip_low.mp4/master.m3u8", &vs[0].1),
        "/i/clip_low.mp4/index_0_av.m3u8"
    );

    // index_1 of the csmil is clip_medium (URL order, 0-based).
    let relative = check_media_playlist(
        &stack,
        &format!("{CSMIL_DIR}/index_1_av.m3u8"),
        "clip_medium.mp4",
    );
    let direct = check_media_playlist(
        &stack,
        "/i/clip_medium.mp4/index_0_av.m3u8",
        "clip_medium.mp4",
    );
    assert_eq!(relative.len(), direct.len());
    for k in 1..=2 {
        let rel_path = format!("{CSMIL_DIR}/segment{k}_1_av.ts");
        let rel = stack.get(&rel_path);
        let dir = stack.get(&format!("/i/clip_medium.mp4/segment{k}_0_av.ts"));
        assert_eq!((rel.status, dir.status), (200, 200));
        assert!(
            rel.body == dir.body,
            "{rel_path} differs from the rendition's segment {k}"
        );
        let meta = std::fs::symlink_metadata(stack.cache_path(&rel_path))
            .unwrap_or_else(|e| panic!("{rel_path} not in the cache: {e}"));
        assert!(
            meta.file_type().is_symlink(),
            "{rel_path} stored twice, not as a symlink"
        );
    }
}

fn hit_survives_the_worker(packaging: Packaging) {
    let mut stack = clip_stack(packaging);
    let path = "/i/clip_low.mp4/segment2_0_av.ts";
    let filled = stack.get(path);
    assert_eq!(filled.status, 200, "{}", filled.text());
    stack.kill_worker();
    let hit = stack.get(path);
    assert_eq!(hit.status, 200, "nginx alone must serve a filled segment");
    assert!(hit.body == filled.body, "hit differs from the fill");
    assert_eq!(hit.header("x-casterpak-cache"), "HIT");
    // And a miss now cannot be answered: it is an error, not a hang or a half file.
    let miss = stack.get("/i/clip_medium.mp4/segment1_0_av.ts");
    assert!(
        miss.status >= 500,
        "miss without a worker gave {}",
        miss.status
    );
}

#[test]
fn hit_survives_the_worker_just_in_time() {
    hit_survives_the_worker(Packaging::JustInTime);
}

#[test]
fn hit_survives_the_worker_whole_rendition() {
    hit_survives_the_worker(Packaging::Whole);
}

fn concurrent_cold_requests_run_the_tool_once(packaging: Packaging) {
    let stack = clip_stack(packaging);
    let path = "/i/clip_low.mp4/segment3_0_av.ts";
    let barrier = Arc::new(Barrier::new(50));
    let port = stack.port;
    let threads: Vec<_> = (0..50)
        .map(|_| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                request(port, "GET", path.as_bytes(), &[])
            })
        })
        .collect();
    let answers: Vec<Response> = threads
        .into_iter()
        .map(|t| t.join().expect("request thread"))
        .collect();
    for r in &answers {
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(r.body == answers[0].body, "concurrent answers differ");
    }
    assert_transport_stream(&answers[0].body, path);
    let runs = stack.mp42hls_runs();
    let fills: Vec<&String> = match packaging {
        Packaging::JustInTime => runs
            .iter()
            .filter(|r| common::tools::packages_segment(r, 3))
            .collect(),
        Packaging::Whole => runs.iter().filter(|r| r.contains("clip_low.mp4")).collect(),
    };
    assert_eq!(fills.len(), 1, "mp42hls runs: {runs:#?}");
}

#[test]
fn concurrent_cold_requests_run_the_tool_once_just_in_time() {
    concurrent_cold_requests_run_the_tool_once(Packaging::JustInTime);
}

#[test]
fn concurrent_cold_requests_run_the_tool_once_whole_rendition() {
    concurrent_cold_requests_run_the_tool_once(Packaging::Whole);
}

#[test]
fn cache_and_cors_headers_on_miss_and_hit() {
    let stack = clip_stack(Packaging::JustInTime);
    let cases = [
        ("/i/clip_low.mp4/index_0_av.m3u8", "public, max-age=56"),
        (
            "/i/clip_low.mp4/segment1_0_av.ts",
            "public, max-age=1234, immutable",
        ),
        (
            "/i/clip_,low,medium,highdef,.mp4.csmil/master.m3u8",
            "public, max-age=56",
        ),
    ];
    for (path, cache_control) in cases {
        for expected_source in ["MISS", "HIT"] {
            let r = stack.get(path);
            assert_eq!(r.status, 200, "{path}: {}", r.text());
            assert_eq!(
                r.header("cache-control"),
                cache_control,
                "{path} {expected_source}"
            );
            assert_eq!(r.header("access-control-allow-origin"), "*", "{path}");
            assert!(!r.header("access-control-expose-headers").is_empty());
            // MISS proves the worker answered with X-Accel-Redirect, not with the bytes.
            assert_eq!(r.header("x-casterpak-cache"), expected_source, "{path}");
            assert!(
                !r.header("etag").is_empty(),
                "{path}: nginx serves the file"
            );
        }
    }
    let range = "Range: bytes=0-187";
    let r = request(
        stack.port,
        "GET",
        b"/i/clip_low.mp4/segment2_0_av.ts",
        &[range],
    );
    assert_eq!(r.status, 206, "Range on a miss");
    assert_eq!(r.body.len(), 188);
    let r = request(
        stack.port,
        "GET",
        b"/i/clip_low.mp4/segment2_0_av.ts",
        &[range],
    );
    assert_eq!((r.status, r.body.len()), (206, 188), "Range on a hit");

    let preflight = request(
        stack.port,
        "OPTIONS",
        b"/i/clip_low.mp4/segment1_0_av.ts",
        &[
            "Origin: http://example.com",
            "Access-Control-Request-Method: GET",
        ],
    );
    assert_eq!(preflight.status, 204);
    assert_eq!(preflight.header("access-control-allow-origin"), "*");
    assert!(preflight
        .header("access-control-allow-methods")
        .contains("GET"));
}

#[test]
fn internal_location_and_everything_else_is_closed() {
    let stack = clip_stack(Packaging::JustInTime);
    assert_eq!(stack.get("/i/clip_low.mp4/segment1_0_av.ts").status, 200);
    // The file exists, but the redirect target is internal: a direct request is 404, and
    // nothing there falls back to the worker, so a redirect can never loop.
    for path in [
        "/_casterpak_cache/i/clip_low.mp4/segment1_0_av.ts",
        "/_casterpak_cache/i/clip_low.mp4/segment9_0_av.ts",
        "/clip_low.mp4",
        "/_casterpak/other",
    ] {
        assert_eq!(stack.get(path).status, 404, "{path}");
    }
}

#[test]
fn health_and_metrics_from_localhost() {
    let stack = clip_stack(Packaging::JustInTime);
    assert_eq!(stack.get("/i/clip_low.mp4/segment1_0_av.ts").status, 200);
    for path in ["/_casterpak/health", "/_casterpak/ready"] {
        let r = stack.get(path);
        assert_eq!(r.status, 200, "{path}: {}", r.text());
    }
    // From any other address they are refused (127.0.0.2 is another loopback source).
    for path in ["/_casterpak/health", "/_casterpak/metrics"] {
        let out = Command::new("curl")
            .args([
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--interface",
                "127.0.0.2",
            ])
            .arg(stack.url(path))
            .output()
            .expect("run curl");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "403",
            "{path} from 127.0.0.2"
        );
    }
    let metrics = stack.get("/_casterpak/metrics");
    assert_eq!(metrics.status, 200);
    let text = metrics.text();
    assert!(text.contains("# TYPE "), "not Prometheus text:\n{text}");
    // One fill happened: some counter line names fills and is not zero.
    assert!(
        text.lines()
            .filter(|l| !l.starts_with('#') && l.contains("fill"))
            .any(|l| l.split_whitespace().last().is_some_and(|v| v != "0")),
        "no non-zero fill counter:\n{text}"
    );
}

#[test]
fn encoded_and_non_ascii_names_fill_and_hit() {
    let stack = Stack::builder()
        .file_as(&media("clip_low.mp4"), "dir one/my vid\u{e9}o.mp4")
        .start();
    let base = "/i/dir%20one/my%20vid%C3%A9o.mp4";
    check_media_playlist(
        &stack,
        &format!("{base}/index_0_av.m3u8"),
        "dir one/my vid\u{e9}o.mp4",
    );
    let segment = format!("{base}/segment1_0_av.ts");
    let miss = stack.get(&segment);
    assert_eq!(miss.status, 200, "{}", miss.text());
    // The cache mirrors the decoded path, which is where nginx's try_files looks.
    assert!(stack
        .cache_path("/i/dir one/my vid\u{e9}o.mp4/segment1_0_av.ts")
        .is_file());
    for path in [segment.clone(), format!("{segment}?token=abc")] {
        let hit = stack.get(&path);
        assert_eq!(
            (hit.status, hit.header("x-casterpak-cache")),
            (200, "HIT"),
            "{path}"
        );
        assert!(hit.body == miss.body, "{path}");
    }
    // A csmil whose prefix and rendition carry encoded bytes.
    let master_path = "/i/dir%20one/my%20vid,%C3%A9o,.mp4.csmil/master.m3u8";
    let r = stack.get(master_path);
    assert_eq!(r.status, 200, "{}", r.text());
    let vs = variants(&r.text());
    assert_eq!(vs.len(), 1, "{}", r.text());
    let uri = &vs[0].1;
    assert!(
        uri.is_ascii() && !uri.contains(' '),
        "variant URI not encoded: {uri:?}"
    );
    let playlist = resolve(master_path, uri);
    assert_eq!(stack.get(&playlist).status, 200, "{playlist}");
}

#[test]
fn other_kinds_of_media_play() {
    // (file, codecs the master must list, codecs it must not)
    let cases: [(&str, &[&str], &[&str]); 5] = [
        ("audio_only.mp4", &["mp4a.40.2"], &["avc1", "hvc1"]),
        ("video_only.mp4", &["avc1.64"], &["mp4a"]),
        ("hevc.mp4", &["hvc1.", "mp4a.40.2"], &["avc1"]),
        ("irregular_gop.mp4", &["avc1.64", "mp4a.40.2"], &["hvc1"]),
        ("fragmented.mp4", &["avc1.64", "mp4a.40.2"], &["hvc1"]),
    ];
    let mut builder = Stack::builder();
    for (name, _, _) in &cases {
        builder = builder.media(name);
    }
    let stack = builder.start();
    for (name, present, absent) in cases {
        let master_path = format!("/i/{name}/master.m3u8");
        let r = stack.get(&master_path);
        assert_eq!(r.status, 200, "{master_path}: {}", r.text());
        let vs = variants(&r.text());
        assert_eq!(vs.len(), 1, "{}", r.text());
        let codecs = vs[0].0.get("CODECS").cloned().unwrap_or_default();
        for c in present {
            assert!(codecs.contains(c), "{name}: CODECS {codecs:?} lacks {c}");
        }
        for c in absent {
            assert!(!codecs.contains(c), "{name}: CODECS {codecs:?} has {c}");
        }
        check_media_playlist(&stack, &resolve(&master_path, &vs[0].1), name);
        let out = Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-i"])
            .arg(stack.url(&master_path))
            .args(["-map", "0", "-f", "null", "-"])
            .output()
            .expect("run ffmpeg");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stderr.trim().is_empty(),
            "{name}: ffmpeg: {stderr}"
        );
    }
}

#[test]
fn public_base_url_makes_variant_uris_absolute() {
    let stack = Stack::builder()
        .media("clip_low.mp4")
        .media("clip_medium.mp4")
        .config("", "public_base_url = \"https://cdn.example.com\"")
        .start();
    let r = stack.get("/i/clip_,low,medium,.mp4.csmil/master.m3u8");
    assert_eq!(r.status, 200, "{}", r.text());
    let uris: Vec<String> = variants(&r.text()).into_iter().map(|(_, u)| u).collect();
    assert_eq!(
        uris,
        [
            "https://cdn.example.com/i/clip_low.mp4/index_0_av.m3u8",
            "https://cdn.example.com/i/clip_medium.mp4/index_0_av.m3u8"
        ],
        "{}",
        r.text()
    );
}
