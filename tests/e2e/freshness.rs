//! A source replaced under a live stack: what nginx serves as cache hits from the
//! old version is evicted by the hit feed's freshness check within seconds (the
//! next request is a miss packaged from the new file), and `casterpak --sweep`
//! evicts a stale rendition nobody requests, with reason "stale".

use crate::common::*;
use std::time::{Duration, Instant};

const CSMIL: &str = "/i/p_,lo,hi,.mp4.csmil";

/// p_lo starts as clip_low (640x360), p_hi is clip_highdef; both real copies.
fn stack() -> Stack {
    Stack::builder()
        .file_as(&media("clip_low.mp4"), "p_lo.mp4")
        .file_as(&media("clip_highdef.mp4"), "p_hi.mp4")
        .config("cache", "hit_flush_ms = 100")
        .start()
}

/// Replaces p_lo.mp4 with clip_medium (960x540) in one rename, as a deploy would.
fn replace_p_lo(stack: &Stack) {
    let tmp = stack.media_root.join(".p_lo.mp4.new");
    std::fs::copy(media("clip_medium.mp4"), &tmp).expect("copy clip_medium");
    std::fs::rename(&tmp, stack.media_root.join("p_lo.mp4")).expect("replace p_lo.mp4");
}

fn get_ok(stack: &Stack, path: &str) -> Response {
    let r = stack.get(path);
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    r
}

/// Requests `path` until it is served as a HIT (a master missing a rendition is
/// served uncached at first), then returns that hit.
fn until_hit(stack: &Stack, path: &str) -> Response {
    for _ in 0..20 {
        let r = get_ok(stack, path);
        if r.header("x-casterpak-cache") == "HIT" {
            return r;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{path} never became a cache hit");
}

/// Requests `path` until it is not served as a HIT, which must happen within
/// nginx's `open_file_cache_valid` (2 s) of its file being evicted: until then nginx
/// may answer from the descriptor it holds.
fn until_miss(stack: &Stack, path: &str) -> Response {
    let deadline = Instant::now() + Duration::from_secs(4);
    loop {
        let r = get_ok(stack, path);
        if r.header("x-casterpak-cache") != "HIT" {
            return r;
        }
        assert!(
            Instant::now() < deadline,
            "{path} still served from an evicted file"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn resolutions(master: &str) -> Vec<String> {
    variants(master)
        .into_iter()
        .filter_map(|(attrs, _)| attrs.get("RESOLUTION").cloned())
        .collect()
}

/// The count before `label` in the sweep summary, e.g. "2 stale" → 2.
fn summary_count(summary: &str, label: &str) -> u64 {
    let at = summary
        .find(&format!(" {label}"))
        .unwrap_or_else(|| panic!("no {label:?} in {summary:?}"));
    let digits: String = summary[..at]
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.chars().rev().collect::<String>().parse().unwrap()
}

#[test]
fn hits_on_a_replaced_source_turn_into_a_miss_from_the_new_file() {
    let mut stack = stack();
    let csmil_master = format!("{CSMIL}/master.m3u8");
    let single_master = "/i/p_lo.mp4/master.m3u8";
    let segment = "/i/p_lo.mp4/segment1_0_av.ts";
    get_ok(&stack, &csmil_master);
    get_ok(&stack, single_master);
    let old_segment = get_ok(&stack, segment).body;
    let old_master = until_hit(&stack, &csmil_master).text();
    assert!(
        resolutions(&old_master).contains(&"640x360".to_string()),
        "{old_master}"
    );
    until_hit(&stack, single_master);
    until_hit(&stack, segment);
    // Let those hits be read and checked while the source is still the old one, so
    // the replacement is seen only by a later re-check (the check follows the read).
    stack.wait_for_hits(3);
    std::thread::sleep(Duration::from_millis(300));

    replace_p_lo(&stack);
    // nginx keeps answering from the cache; its hit log reaches the worker, which
    // re-stats a served rendition's source at most every 2 s.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut hits_after_replace = 0;
    let new_master = loop {
        let r = get_ok(&stack, &csmil_master);
        if r.header("x-casterpak-cache") != "HIT" {
            break r.text();
        }
        hits_after_replace += 1;
        assert!(
            Instant::now() < deadline,
            "the csmil master was still served from the old source after {hits_after_replace} hits"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        hits_after_replace >= 1,
        "the cache was not hit after the replacement"
    );
    let new_resolutions = resolutions(&new_master);
    assert!(
        new_resolutions.contains(&"960x540".to_string())
            && !new_resolutions.contains(&"640x360".to_string()),
        "{new_master}"
    );

    let r = until_miss(&stack, single_master);
    assert_eq!(r.header("x-casterpak-cache"), "MISS", "single master");
    assert_eq!(resolutions(&r.text()), ["960x540"], "{}", r.text());
    let r = until_miss(&stack, segment);
    assert_eq!(r.header("x-casterpak-cache"), "MISS", "segment");
    assert!(r.body != old_segment, "segment 1 still the old source's");
    assert_transport_stream(&r.body, segment);

    let metrics = get_ok(&stack, "/_casterpak/metrics").text();
    let evictions = metrics
        .lines()
        .find_map(|l| l.strip_prefix("casterpak_stale_evictions_total "))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no stale eviction counter: {metrics}"));
    // p_lo.mp4 and the csmil master over it.
    assert!(evictions >= 2, "{evictions} stale evictions");
}

#[test]
fn sweep_evicts_a_rendition_whose_source_changed_with_its_masters() {
    let stack = stack();
    let csmil_master = format!("{CSMIL}/master.m3u8");
    get_ok(&stack, &csmil_master);
    for leaf in ["index_0_av.m3u8", "segment1_0_av.ts"] {
        get_ok(&stack, &format!("/i/p_lo.mp4/{leaf}"));
        get_ok(&stack, &format!("/i/p_hi.mp4/{leaf}"));
    }
    until_hit(&stack, &csmil_master);

    let out = stack.casterpak(&["--sweep"]);
    let summary = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{summary}");
    assert_eq!(summary_count(&summary, "stale"), 0, "{summary}");

    // Nothing is requested after this: only the sweep can notice.
    replace_p_lo(&stack);
    let out = stack.casterpak(&["--sweep"]);
    let summary = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{summary}");
    assert_eq!(
        summary_count(&summary, "stale"),
        2,
        "p_lo.mp4 and the csmil master: {summary}"
    );
    assert_eq!(stack.rendition_files("p_lo"), 0, "{summary}");
    assert!(!stack.cache_path(CSMIL).exists(), "{summary}");
    assert!(
        stack.rendition_files("p_hi") > 0,
        "p_hi went too: {summary}"
    );

    let r = until_miss(&stack, &csmil_master);
    assert_eq!(r.header("x-casterpak-cache"), "MISS");
    assert!(
        resolutions(&r.text()).contains(&"960x540".to_string()),
        "{}",
        r.text()
    );
}

/// An entry packaged before the marker's `layout=` line (a cache filled by an older
/// release, whose alternate audio was cut differently) is served by nginx as it is,
/// and refilled whole on its next miss: every file of it made again, the marker now
/// of this layout, in both packaging modes.
#[test]
fn an_entry_of_an_older_layout_is_refilled_whole_on_its_next_miss() {
    for packaging in [Packaging::JustInTime, Packaging::Whole] {
        let stack = Stack::builder()
            .media("clip_low.mp4")
            .packaging(packaging)
            .start();
        let playlist = "/i/clip_low.mp4/index_0_av.m3u8";
        get_ok(&stack, playlist);
        let first = get_ok(&stack, "/i/clip_low.mp4/segment1_0_av.ts");
        let marker = stack.cache_path("/i/clip_low.mp4/.source");
        let text = std::fs::read_to_string(&marker).expect("marker");
        let (older, _) = text.split_once("layout=").expect("a layout line");
        std::fs::write(&marker, older).expect("an older marker");
        let segment1 = stack.cache_path("/i/clip_low.mp4/segment1_0_av.ts");
        let inode = |p: &std::path::Path| {
            std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(p).unwrap())
        };
        let before = inode(&segment1);
        // A hit is nginx's alone: the old files stay what it serves until a miss.
        assert_eq!(stack.get(playlist).header("x-casterpak-cache"), "HIT");
        // Not asked for yet in either mode (whole mode packaged every segment).
        let miss = get_ok(&stack, "/i/clip_low.mp4/master.m3u8");
        assert_eq!(miss.header("x-casterpak-cache"), "MISS", "{packaging:?}");
        let text = std::fs::read_to_string(&marker).expect("marker");
        assert!(text.ends_with("layout=2\n"), "{packaging:?}: {text:?}");
        let again = get_ok(&stack, "/i/clip_low.mp4/segment1_0_av.ts");
        assert!(again.body == first.body, "{packaging:?}: the same bytes");
        assert_ne!(
            inode(&segment1),
            before,
            "{packaging:?}: segment 1 made again"
        );
    }
}
