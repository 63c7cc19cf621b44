//! Stopping the worker: SIGTERM or SIGINT stops accepting, lets fills in progress
//! finish within `limits.shutdown_grace_secs`, abandons the rest cleanly (503, tool
//! stopped, scratch files removed), syncs the cache, marks it clean, removes its
//! sockets and exits 0; the next start serves.

use crate::common::*;
use nix::sys::signal::Signal;
use std::path::Path;
use std::time::{Duration, Instant};

const PLAYLIST: &str = "/i/clip_low.mp4/index_0_av.m3u8";
const SEGMENT: &str = "/i/clip_low.mp4/segment2_0_av.ts";

fn wait_until(what: &str, secs: u64, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn scratch_files(stack: &Stack) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(stack.cache_root.join(".casterpak-tmp"))
        .expect("the scratch dir is there")
        .map(|e| e.expect("scratch entry").path())
        .collect()
}

/// Requests SEGMENT with the mp42hls wrapper sleeping `slow_secs`, and returns once
/// the tool has started (the thread answers with what the client got).
fn slow_fill(stack: &Stack, slow_secs: u32) -> std::thread::JoinHandle<Response> {
    assert_eq!(stack.get(PLAYLIST).status, 200);
    stack.set_slow(Some(slow_secs));
    let port = stack.port;
    let request = std::thread::spawn(move || request(port, "GET", SEGMENT.as_bytes(), &[]));
    let log = stack.tools.mp42hls_log.clone();
    wait_until("the slow fill to start", 30, || {
        tools::started(&log)
            .iter()
            .any(|(_, a)| a.contains("--segments"))
    });
    request
}

/// A process that is gone (or a zombie nobody reaped yet) runs no more.
fn gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

fn assert_stopped_cleanly(stack: &Stack) {
    assert!(
        scratch_files(stack).is_empty(),
        "files left in the scratch dir: {:?}",
        scratch_files(stack)
    );
    assert!(
        stack.cache_root.join(".casterpak-clean").is_file(),
        "no clean mark:\n{}",
        stack.worker_log()
    );
    for socket in [
        stack.worker_socket.as_path(),
        &stack.dir.path().join("control.sock"),
    ] {
        assert!(!socket.exists(), "{} left behind", socket.display());
    }
}

#[test]
fn sigterm_lets_a_fill_in_progress_finish() {
    let mut stack = Stack::builder().media("clip_low.mp4").start();
    let answer = slow_fill(&stack, 2);
    let (status, _) = stack.signal_worker(Signal::SIGTERM, Duration::from_secs(60));
    assert_eq!(status.code(), Some(0), "{status}:\n{}", stack.worker_log());
    let r = answer.join().expect("request thread");
    assert_eq!(r.status, 200, "the fill in progress: {}", r.text());
    assert_transport_stream(&r.body, SEGMENT);
    assert_stopped_cleanly(&stack);

    stack.set_slow(None);
    stack.start_worker();
    assert!(
        stack
            .worker_log()
            .contains("the previous run stopped cleanly"),
        "{}",
        stack.worker_log()
    );
    let again = stack.get(SEGMENT);
    assert_eq!(again.status, 200);
    assert_eq!(again.body, r.body, "the finished fill is served as it was");
}

#[test]
fn sigterm_past_the_grace_abandons_the_fill_cleanly() {
    let mut stack = Stack::builder()
        .media("clip_low.mp4")
        .config("limits", "shutdown_grace_secs = 1")
        .start();
    let slow = 60;
    let answer = slow_fill(&stack, slow);
    let (status, took) = stack.signal_worker(Signal::SIGTERM, Duration::from_secs(50));
    assert_eq!(status.code(), Some(0), "{status}:\n{}", stack.worker_log());
    assert!(
        took < Duration::from_secs(u64::from(slow)),
        "the stop waited for the tool ({took:?})"
    );
    let r = answer.join().expect("request thread");
    assert_eq!(r.status, 503, "the abandoned fill: {}", r.text());
    assert!(
        r.header("retry-after").parse::<u32>().is_ok(),
        "no Retry-After"
    );
    assert!(
        std::fs::symlink_metadata(stack.cache_path(SEGMENT)).is_err(),
        "the abandoned segment is in the cache"
    );
    assert_stopped_cleanly(&stack);
    for (pid, _) in tools::started(&stack.tools.mp42hls_log) {
        wait_until("the abandoned tool to be gone", 10, || gone(pid));
    }

    stack.set_slow(None);
    stack.start_worker();
    let r = stack.get(SEGMENT);
    assert_eq!(r.status, 200, "after restart: {}", r.text());
    assert_transport_stream(&r.body, SEGMENT);
}

#[test]
fn sigint_stops_the_worker_like_sigterm() {
    let mut stack = Stack::builder().media("clip_low.mp4").start();
    assert_eq!(stack.get(PLAYLIST).status, 200);
    let (status, _) = stack.signal_worker(Signal::SIGINT, Duration::from_secs(60));
    assert_eq!(status.code(), Some(0), "{status}:\n{}", stack.worker_log());
    assert_stopped_cleanly(&stack);
    assert!(Path::new(&stack.cache_path(PLAYLIST)).is_file());
    stack.start_worker();
    assert_eq!(stack.get(SEGMENT).status, 200);
}
