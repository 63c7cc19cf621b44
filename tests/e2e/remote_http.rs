//! Remote sources over HTTP (issue 10, tests 1 to 4): a real nginx serves the
//! archive; its access log counts the requests and bytes the worker fetched.

use crate::common::archive::{index_bytes, Archive, Logged};
use crate::common::*;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// `(requests, body bytes)` logged since `from`.
fn cost(log: &[Logged], from: usize) -> (usize, u64) {
    let new = &log[from.min(log.len())..];
    (new.len(), new.iter().map(|l| l.bytes).sum())
}

/// Segment byte ranges as our mp42hls plans them for `path` (1-based numbers).
fn plan_ranges(path: &Path) -> Vec<u64> {
    let out = Command::new(bin_dir().join("mp42hls"))
        .args(["--plan", "--first-segment-number", "1"])
        .arg(path)
        .output()
        .expect("mp42hls --plan");
    assert!(out.status.success());
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).expect("plan json");
    plan["segments"]
        .as_array()
        .expect("segments")
        .iter()
        .map(|s| {
            s["ranges"]
                .as_array()
                .expect("ranges")
                .iter()
                .map(|r| r[1].as_u64().unwrap() - r[0].as_u64().unwrap())
                .sum()
        })
        .collect()
}

fn started(archive: &Archive, extra: &[(&str, &str)]) -> Stack {
    // The stack's dir is made by the builder; the input root must be known before:
    // use a dir of the archive's temp dir, which lives as long as the test.
    let input = archive.dir.path().join("input");
    let line = format!("root = {:?}", input.display().to_string());
    let mut all: Vec<(&str, &str)> = vec![("input_cache", line.as_str())];
    all.extend_from_slice(extra);
    let mut b = Stack::builder().config(
        "[sources]",
        &format!(
            "prefix = \"arch\"\nkind = \"http\"\nbase_url = \"{}/vod\"",
            archive.base_url()
        ),
    );
    for (section, l) in all {
        b = b.config(section, l);
    }
    let stack = b.start();
    assert!(input.is_dir(), "the worker creates the input cache root");
    stack
}

#[test]
fn a_csmil_master_over_http_plays_and_decodes() {
    let archive = Archive::start();
    for name in ["clip_low.mp4", "clip_medium.mp4", "clip_highdef.mp4"] {
        archive.put(&media(name), &format!("vod/t/{name}"));
    }
    let stack = started(&archive, &[]);
    let master_path = "/i/arch/t/clip_,low,medium,highdef,.mp4.csmil/master.m3u8";
    let master = stack.get(master_path);
    assert_eq!(master.status, 200, "{}", master.text());
    let variants = variants(&master.text());
    assert_eq!(variants.len(), 3);
    for (attrs, uri) in &variants {
        assert!(attrs.contains_key("CODECS"), "{attrs:?}");
        let playlist_path = resolve(master_path, uri);
        let playlist = stack.get(&playlist_path);
        assert_eq!(playlist.status, 200, "{uri}");
        for (_, segment) in segments(&playlist.text()) {
            let got = stack.get(&resolve(&playlist_path, &segment));
            assert_eq!(got.status, 200, "{segment}: {}", got.text());
            assert_transport_stream(&got.body, &segment);
        }
    }
    assert_ffmpeg_decodes(&stack, master_path, "remote csmil master");
    // A missing object upstream is a 404, like a missing file.
    assert_eq!(
        stack.get("/i/arch/t/nothing.mp4/index_0_av.m3u8").status,
        404
    );
    // The worker's count of upstream requests is the archive's. nginx logs a request
    // after its last byte went out, so the log may lag the answer briefly.
    let asked = stack.metric("casterpak_upstream_requests_total{upstream=\"arch\"}") as usize;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while archive.log().len() < asked && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(asked, archive.log().len());
}

#[test]
fn a_cold_segment_fetches_the_index_and_its_own_bytes_only() {
    // The 10-minute title rewritten with its moov at the end (ffmpeg's default).
    let archive = Archive::start();
    let moov_last = archive.dir.path().join("long_moov_last.mp4");
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-i"])
        .arg(media("long_1080p_10min.mp4"))
        .args(["-map", "0", "-c", "copy"])
        .arg(&moov_last)
        .output()
        .expect("ffmpeg");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    archive.put(&moov_last, "vod/long.mp4");
    let index = index_bytes(&moov_last);
    let samples = plan_ranges(&moov_last);
    let mut stack = started(
        &archive,
        &[
            ("remote", "revalidate_secs = 3600"),
            ("cache", "segment_ttl_secs = 1"),
        ],
    );

    let playlist = stack.get("/i/arch/long.mp4/index_0_av.m3u8");
    assert_eq!(playlist.status, 200, "{}", playlist.text());
    let first = stack.get("/i/arch/long.mp4/segment1_0_av.ts");
    assert_eq!(first.status, 200, "{}", first.text());
    assert_transport_stream(&first.body, "segment 1");
    let log = archive.log();
    let (requests, bytes) = cost(&log, 0);
    let bound = index as f64 + 1.1 * samples[0] as f64;
    println!(
        "playlist + segment 1: {requests} requests, {bytes} bytes (index {index}, samples {}, bound {bound:.0}); file {} bytes",
        samples[0],
        std::fs::metadata(&moov_last).unwrap().len()
    );
    for l in &log {
        println!("  {} {} {} {}", l.uri, l.status, l.bytes, l.range);
    }
    assert!(requests <= 4, "{requests} requests");
    assert!((bytes as f64) <= bound, "{bytes} bytes > {bound}");

    // The neighbour fetches only its own bytes.
    let before = log.len();
    let second = stack.get("/i/arch/long.mp4/segment2_0_av.ts");
    assert_eq!(second.status, 200);
    let (requests, bytes) = cost(&archive.log(), before);
    println!(
        "segment 2: {requests} requests, {bytes} bytes (samples {})",
        samples[1]
    );
    assert!(requests <= 1, "{requests} requests");
    assert!((bytes as f64) <= 1.1 * samples[1] as f64, "{bytes} bytes");

    // Test 3: the packaging evicted, the same segment costs no upstream byte.
    // Past the TTL and the 5 s the worker keeps what it just answered.
    std::thread::sleep(Duration::from_millis(5200));
    let swept = stack.casterpak(&["--sweep"]);
    assert!(
        swept.status.success(),
        "{}",
        String::from_utf8_lossy(&swept.stderr)
    );
    assert!(
        !stack
            .cache_path("/i/arch/long.mp4/segment1_0_av.ts")
            .exists(),
        "the sweep evicted the packaging"
    );
    let before = archive.log().len();
    let again = stack.get("/i/arch/long.mp4/segment1_0_av.ts");
    assert_eq!(again.status, 200);
    assert!(again.body == first.body, "same bytes from the input cache");
    let (requests, bytes) = cost(&archive.log(), before);
    println!("segment 1 again after eviction: {requests} requests, {bytes} bytes");
    assert_eq!(bytes, 0);
    let _ = &mut stack;
}

#[test]
fn a_replaced_object_is_served_new_after_the_revalidation_ttl() {
    let archive = Archive::start();
    archive.put(&media("clip_low.mp4"), "vod/c.mp4");
    let stack = started(
        &archive,
        &[
            ("remote", "revalidate_secs = 1"),
            ("cache", "hit_flush_ms = 100"),
        ],
    );
    let path = "/i/arch/c.mp4/segment1_0_av.ts";
    let old = stack.get(path);
    assert_eq!(old.status, 200);
    archive.put(&media("clip_medium.mp4"), "vod/c.mp4");
    let want = Command::new(bin_dir().join("mp42hls"))
        .args(["--plan", "--first-segment-number", "1"])
        .arg(media("clip_medium.mp4"))
        .output()
        .unwrap();
    let plan: serde_json::Value = serde_json::from_slice(&want.stdout).unwrap();
    let new_size = plan["segments"][0]["size"].as_u64().unwrap();
    // Hits are nginx's until the hit feed's re-check (through the remote source,
    // once the TTL passed) evicts the old packaging.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let got = stack.get(path);
        assert_eq!(got.status, 200);
        if got.body != old.body {
            assert_eq!(got.body.len() as u64, new_size, "the new object's segment");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still the old packaging:\n{}",
            stack.worker_log()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Sidecars beside a remote title are found in the archive as beside a local one: the
/// master lists them, the WebVTT segments carry their cues (SubRip converted), a
/// language the archive lacks is left out; each lookup is a GET of the sidecar.
#[test]
fn sidecars_beside_a_remote_title_are_fetched_from_the_archive() {
    let archive = Archive::start();
    archive.put(&media("clip_low.mp4"), "vod/t/clip_low.mp4");
    let srt = archive.dir.path().join("fr.srt");
    std::fs::write(&srt, "1\n00:00:01,000 --> 00:00:03,000\nBonjour\n").unwrap();
    archive.put(&srt, "vod/t/clip_low_fr.srt");
    let stack = started(&archive, &[("subtitles", r#"languages = ["en", "fr"]"#)]);
    let master = stack.get("/i/arch/t/clip_low.mp4/master.m3u8");
    assert_eq!(master.status, 200, "{}", master.text());
    let listed = subtitle_renditions(&master.text());
    let languages: Vec<&str> = listed.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(languages, ["fr"], "{}", master.text());
    let vtt = stack.get("/i/arch/t/clip_low.mp4/subtitles_fr_1.vtt");
    assert_eq!(vtt.status, 200, "{}", vtt.text());
    assert!(
        vtt.text()
            .contains("00:00:01.000 --> 00:00:03.000\nBonjour\n"),
        "{}",
        vtt.text()
    );
    let asked: Vec<String> = archive.log().into_iter().map(|l| l.uri).collect();
    assert!(
        asked.iter().any(|u| u == "/vod/t/clip_low_fr.srt")
            && asked.iter().any(|u| u == "/vod/t/clip_low_en.vtt"),
        "{asked:?}"
    );
    assert_eq!(
        stack
            .get("/i/arch/t/clip_low.mp4/subtitles_en_1.vtt")
            .status,
        404
    );
    assert_ffmpeg_decodes(
        &stack,
        "/i/arch/t/clip_low.mp4/master.m3u8",
        "remote with subtitles",
    );
}
