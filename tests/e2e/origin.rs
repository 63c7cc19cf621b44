//! The origin end to end: real nginx + real worker + our tools, checked with real clients
//! (raw HTTP, ffmpeg). Each behaviour runs with just-in-time packaging (our mp42hls) and,
//! where the product promises the same answers, with whole-rendition packaging (a wrapper
//! that refuses the extensions like real Bento4).

use crate::common::*;
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
        let resolution = ffprobe_resolution(stack.media_root.join(source));
        assert_eq!(attrs["RESOLUTION"], resolution, "{source}:\n{master}");
        let playlist = resolve(&master_path, uri);
        assert_eq!(playlist, format!("/i/{source}/index_0_av.m3u8"), "{uri}");
        check_media_playlist(&stack, &playlist, source);
    }
    // A real client decodes every rendition over HTTP without a complaint.
    assert_ffmpeg_decodes(&stack, &master_path, "csmil master");
}

#[test]
fn cold_csmil_master_plays_just_in_time() {
    cold_csmil_master_plays(Packaging::JustInTime);
}

#[test]
fn cold_csmil_master_plays_whole_rendition() {
    cold_csmil_master_plays(Packaging::Whole);
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
            .filter(|r| crate::common::tools::packages_segment(r, 3))
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
    assert!(stack.cache_path("i/clip_low.mp4/.source").exists());
    // The file exists, but the redirect target is internal: a direct request is 404, and
    // nothing there falls back to the worker, so a redirect can never loop.
    for path in [
        "/_casterpak_cache/i/clip_low.mp4/segment1_0_av.ts",
        "/_casterpak_cache/i/clip_low.mp4/segment9_0_av.ts",
        "/clip_low.mp4",
        "/_casterpak/other",
        // Marker files the worker keeps beside a rendition are not content.
        "/i/clip_low.mp4/.source",
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
