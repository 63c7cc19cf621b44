//! Killing the worker (SIGKILL) in the middle of a fill leaves nothing that nginx would
//! serve half-written, the tool dies with it, and a restarted worker fills the same
//! request.

use crate::common::*;
use std::time::{Duration, Instant};

/// Gone, or a zombie that its new parent has not reaped yet.
fn process_gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|s| s.trim_start().starts_with('Z')),
    }
}

fn wait_until(what: &str, secs: u64, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Requests `path` with a slow mp42hls, kills the worker once the tool has started,
/// lets the orphaned tool finish, and checks nothing appeared at `path`.
fn killed_fill(packaging: Packaging, warm_up: &[&str], path: &str, tool_args: &str) {
    let mut stack = Stack::builder()
        .media("clip_low.mp4")
        .packaging(packaging)
        .start();
    for warm in warm_up {
        assert_eq!(stack.get(warm).status, 200, "{warm}");
    }
    let runs_before = stack.mp42hls_runs().len();
    stack.set_slow(Some(2));
    let port = stack.port;
    let owned_path = path.to_string();
    let request_thread =
        std::thread::spawn(move || request(port, "GET", owned_path.as_bytes(), &[]));
    let log = stack.tools.mp42hls_log.clone();
    wait_until("the slow fill to start", 30, || {
        crate::common::tools::started(&log)
            .iter()
            .any(|(_, a)| a.contains(tool_args))
    });
    let (tool, _) = crate::common::tools::started(&log)
        .into_iter()
        .find(|(_, a)| a.contains(tool_args))
        .expect("the slow run");
    stack.kill_worker();
    let answer = request_thread.join().expect("request thread");
    assert!(
        answer.status >= 500,
        "answer after the kill: {}",
        answer.status
    );
    assert!(
        std::fs::symlink_metadata(stack.cache_path(path)).is_err(),
        "{path} is in the cache after the kill"
    );
    // The tool dies with the worker (its parent-death signal): it never runs on to
    // write its output. Past the wrapper's sleep, no run was logged.
    wait_until("the tool to die with the worker", 30, || process_gone(tool));
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        stack.mp42hls_runs().len(),
        runs_before,
        "the tool ran on after the worker was killed"
    );
    assert!(
        std::fs::symlink_metadata(stack.cache_path(path)).is_err(),
        "{path} appeared in the cache after the orphaned tool finished"
    );
    assert_ne!(stack.get(path).status, 200, "nginx served {path}");

    stack.set_slow(None);
    stack.start_worker();
    let r = stack.get(path);
    assert_eq!(r.status, 200, "after restart: {}", r.text());
    if path.ends_with(".ts") {
        assert_transport_stream(&r.body, path);
    } else {
        assert!(r.text().contains("#EXT-X-ENDLIST"), "{}", r.text());
    }
}

#[test]
fn sigkill_during_a_segment_fill() {
    killed_fill(
        Packaging::JustInTime,
        &["/i/clip_low.mp4/index_0_av.m3u8"],
        "/i/clip_low.mp4/segment2_0_av.ts",
        "--segments",
    );
}

#[test]
fn sigkill_during_a_whole_rendition_fill() {
    killed_fill(
        Packaging::Whole,
        &[],
        "/i/clip_low.mp4/index_0_av.m3u8",
        "clip_low.mp4",
    );
}

/// Fills do not fsync, so a power cut may leave a published file short. A worker that
/// did not stop cleanly checks every entry before it answers: a segment truncated
/// while it was down (standing in for the lost tail) gets its rendition evicted, and
/// the next request refills it whole rather than nginx serving it short.
#[test]
fn a_file_left_short_by_a_crash_is_not_served_short() {
    let mut stack = Stack::builder().media("clip_low.mp4").start();
    let playlist = "/i/clip_low.mp4/index_0_av.m3u8";
    let segment = "/i/clip_low.mp4/segment1_0_av.ts";
    assert_eq!(stack.get(playlist).status, 200);
    let whole = stack.get(segment);
    assert_eq!(whole.status, 200);
    assert_transport_stream(&whole.body, segment);
    stack.kill_worker();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(stack.cache_path(segment))
        .expect("open the published segment");
    let short = whole.body.len() as u64 - 100;
    file.set_len(short).expect("truncate it");
    drop(file);

    // A power cut restarts nginx too; a running nginx may still hold the old file
    // open (open_file_cache) for a second or two after the eviction.
    stack.restart_nginx();
    stack.start_worker();
    let r = stack.get(segment);
    assert_eq!(r.status, 200, "after restart: {}", r.text());
    assert_eq!(r.body.len(), whole.body.len(), "served short");
    assert_eq!(r.body, whole.body, "refilled with other bytes");
    let log = stack.worker_log();
    assert!(log.contains("did not stop cleanly"), "{log}");
    assert!(log.contains("damaged"), "{log}");
    assert!(stack.get(playlist).text().contains("#EXT-X-ENDLIST"));
}
