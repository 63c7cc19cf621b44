//! A sidecar added, changed or removed after a title was packaged is noticed as a
//! changed MP4 is (the hit feed's recheck): the title's packaging is evicted and the
//! next request lists and serves what the sidecars say now. Every path the lookups
//! tried is recorded in the rendition's `.sidecars`.

use crate::common::*;
use std::time::{Duration, Instant};

/// The languages of the master's subtitles.
fn languages(stack: &Stack) -> Vec<String> {
    let master = stack.get("/i/clip_low.mp4/master.m3u8");
    assert_eq!(master.status, 200, "{}", master.text());
    subtitle_renditions(&master.text())
        .into_iter()
        .map(|(language, _)| language)
        .collect()
}

/// Asks `probe` again (each ask a hit nginx logs, which the worker rechecks) until it
/// says yes; 20 s at most.
fn eventually(what: &str, mut probe: impl FnMut() -> bool) {
    let started = Instant::now();
    while !probe() {
        assert!(started.elapsed() < Duration::from_secs(20), "never: {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
    println!("{what}: after {:.1} s", started.elapsed().as_secs_f64());
}

#[test]
fn sidecars_added_changed_and_removed_are_noticed() {
    let dir = tempfile::tempdir().unwrap();
    let en = dir.path().join("en.vtt");
    std::fs::write(&en, "WEBVTT\n\n00:00:01.000 --> 00:00:03.000\nHello\n").unwrap();
    let stack = Stack::builder()
        .media("clip_low.mp4")
        .file_as(&en, "clip_low_en.vtt")
        .config("subtitles", r#"languages = ["en", "fr"]"#)
        .start();
    assert_eq!(languages(&stack), ["en"]);
    let first = stack.get("/i/clip_low.mp4/subtitles_en_1.vtt").text();
    assert!(first.contains("\nHello\n"), "{first}");
    let tried = std::fs::read_to_string(stack.cache_root.join("i/clip_low.mp4/.sidecars"))
        .expect("the lookups' record");
    assert!(
        tried.contains("clip_low_en.vtt") && tried.contains("clip_low_fr.dfxp"),
        "{tried}"
    );

    let media = &stack.media_root;
    std::fs::write(
        media.join("clip_low_fr.srt"),
        "1\n00:00:01,000 --> 00:00:03,000\nBonjour\n",
    )
    .unwrap();
    eventually("a French sidecar added is listed", || {
        languages(&stack) == ["en", "fr"]
    });
    let french = stack.get("/i/clip_low.mp4/subtitles_fr_1.vtt").text();
    assert!(french.contains("\nBonjour\n"), "{french}");

    // Cached again, then rewritten in place (as `cp` does), longer: the cues served
    // follow, noticed from the hits on the cached file.
    let cached = |path: &str| {
        let first = stack.get(path);
        assert_eq!(first.status, 200, "{path}");
        assert_eq!(stack.get(path).header("x-casterpak-cache"), "HIT", "{path}");
        first.text()
    };
    assert!(cached("/i/clip_low.mp4/subtitles_en_1.vtt").contains("\nHello\n"));
    std::fs::write(
        media.join("clip_low_en.vtt"),
        "WEBVTT\n\n00:00:01.000 --> 00:00:03.000\nHello again\n",
    )
    .unwrap();
    eventually("the English sidecar's new text is served", || {
        stack
            .get("/i/clip_low.mp4/subtitles_en_1.vtt")
            .text()
            .contains("\nHello again\n")
    });

    assert!(cached("/i/clip_low.mp4/master.m3u8").contains("LANGUAGE=\"fr\""));
    std::fs::remove_file(media.join("clip_low_fr.srt")).unwrap();
    eventually("the French sidecar removed is no longer listed", || {
        languages(&stack) == ["en"]
    });
    // The MP4 itself never changed, and a sidecar's change is no bad media.
    assert_eq!(stack.get("/i/clip_low.mp4/index_0_av.m3u8").status, 200);
}
