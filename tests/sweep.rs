//! `casterpak --sweep` against a live stack: TTL and size eviction, the hit feed from
//! nginx keeping entries warm, `--dry-run`, sweeping while the worker runs (control
//! socket) and without it, and refilling what was evicted.

mod common;

use common::*;
use std::path::Path;
use std::time::Duration;

fn fill(stack: &Stack, name: &str) {
    for leaf in ["index_0_av.m3u8", "segment1_0_av.ts", "segment2_0_av.ts"] {
        let path = format!("/i/{name}.mp4/{leaf}");
        let r = stack.get(&path);
        assert_eq!(r.status, 200, "{path}: {}", r.text());
    }
}

/// Bytes of the files under one rendition's cache directory.
fn rendition_bytes(stack: &Stack, name: &str) -> u64 {
    stack
        .cached_files()
        .iter()
        .filter(|p| p.starts_with(stack.cache_path(&format!("/i/{name}.mp4"))))
        .map(|p| std::fs::symlink_metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum()
}

fn sweep(stack: &Stack, args: &[&str]) -> String {
    let out = stack.casterpak(args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "casterpak {args:?} failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn exists(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

#[test]
fn ttl_sweep_while_the_worker_runs() {
    let stack = Stack::builder()
        .media("clip_low.mp4")
        .config("cache", "segment_ttl_secs = 2")
        .config("cache", "hit_flush_ms = 100")
        .start();
    fill(&stack, "clip_low");
    let files = stack.cached_files();
    assert!(!files.is_empty());
    std::thread::sleep(Duration::from_millis(3500));

    let dry = sweep(&stack, &["--sweep", "--dry-run"]);
    assert!(!dry.trim().is_empty(), "dry run printed nothing");
    assert!(files.iter().all(|f| exists(f)), "--dry-run deleted files");

    let summary = sweep(&stack, &["--sweep"]);
    assert_eq!(summary.trim().lines().count(), 1, "summary: {summary:?}");
    assert_eq!(
        stack.rendition_files("clip_low"),
        0,
        "expired files left: {summary}"
    );

    let r = stack.get("/i/clip_low.mp4/segment1_0_av.ts");
    assert_eq!(r.status, 200, "refill: {}", r.text());
    assert_eq!(r.header("x-casterpak-cache"), "MISS");
    assert!(exists(
        &stack.cache_path("/i/clip_low.mp4/segment1_0_av.ts")
    ));
}

#[test]
fn size_sweep_keeps_what_nginx_hits_keep_warm() {
    let clip = media("clip_low.mp4");
    let mut stack = Stack::builder()
        .file_as(&clip, "a.mp4")
        .file_as(&clip, "b.mp4")
        .config("cache", "hit_flush_ms = 100")
        .start();
    // a is filled first, so only nginx's hit feed can make it the more recent one.
    fill(&stack, "a");
    std::thread::sleep(Duration::from_millis(1100));
    fill(&stack, "b");
    std::thread::sleep(Duration::from_millis(1100));
    for _ in 0..3 {
        for leaf in ["index_0_av.m3u8", "segment1_0_av.ts", "segment2_0_av.ts"] {
            let r = stack.get(&format!("/i/a.mp4/{leaf}"));
            assert_eq!((r.status, r.header("x-casterpak-cache")), (200, "HIT"));
        }
    }
    // nginx writes its hit log buffer out within a second; the worker reads it.
    stack.wait_for_hits(9);

    let (a, b) = (rendition_bytes(&stack, "a"), rendition_bytes(&stack, "b"));
    assert!(a > 0 && a == b, "a {a} bytes, b {b} bytes");
    // Room for one rendition, not two.
    stack.reconfigure("cache", &format!("max_cache_bytes = {}", a + b / 2));
    stack.stop_worker();
    stack.start_worker();

    let summary = sweep(&stack, &["--sweep"]);
    assert_eq!(
        rendition_bytes(&stack, "a"),
        a,
        "the warm rendition was evicted: {summary}"
    );
    assert_eq!(
        stack.rendition_files("b"),
        0,
        "the cold rendition stayed: {summary}"
    );

    // Without a worker the sweep opens the database itself.
    stack.stop_worker();
    sweep(&stack, &["--sweep", "--dry-run"]);
    sweep(&stack, &["--sweep"]);
    assert_eq!(rendition_bytes(&stack, "a"), a);

    stack.start_worker();
    let r = stack.get("/i/b.mp4/segment1_0_av.ts");
    assert_eq!((r.status, r.header("x-casterpak-cache")), (200, "MISS"));
}

#[test]
fn orphans_go_after_their_grace_period() {
    let stack = Stack::builder().media("clip_low.mp4").start();
    fill(&stack, "clip_low");
    let old = stack.cache_path("/i/leftover-old.bin");
    let new = stack.cache_path("/i/sub/leftover-new.bin");
    std::fs::create_dir_all(new.parent().expect("parent")).expect("mkdir");
    std::fs::write(&old, b"old").expect("write");
    std::fs::write(&new, b"new").expect("write");
    let two_hours_ago = std::time::SystemTime::now() - Duration::from_secs(7200);
    std::fs::File::options()
        .write(true)
        .open(&old)
        .and_then(|f| f.set_modified(two_hours_ago))
        .expect("age the old orphan");
    // Default grace: an hour.
    let summary = sweep(&stack, &["--sweep"]);
    assert!(!exists(&old), "an orphan past its grace stayed: {summary}");
    assert!(exists(&new), "an orphan within its grace went: {summary}");
    assert!(
        stack.rendition_files("clip_low") > 0,
        "a live entry went: {summary}"
    );
}

#[test]
fn a_lost_database_does_not_lose_track_of_the_disk() {
    let clip = media("clip_low.mp4");
    let mut stack = Stack::builder()
        .file_as(&clip, "a.mp4")
        .file_as(&clip, "b.mp4")
        .start();
    fill(&stack, "a");
    fill(&stack, "b");
    let (a, b) = (rendition_bytes(&stack, "a"), rendition_bytes(&stack, "b"));
    stack.stop_worker();
    std::fs::remove_dir_all(stack.dir.path().join("db")).expect("lose the database");
    stack.reconfigure("cache", &format!("max_cache_bytes = {}", a + b / 2));
    stack.start_worker();
    let summary = sweep(&stack, &["--sweep"]);
    let left = rendition_bytes(&stack, "a") + rendition_bytes(&stack, "b");
    assert!(
        left > 0 && left <= a + b / 2,
        "{left} bytes left: {summary}"
    );
}

#[test]
fn sweeps_racing_with_traffic_give_no_5xx_and_no_torn_files() {
    let stack = Stack::builder()
        .media("clip_low.mp4")
        // Room for nothing: every sweep evicts whatever is not being filled.
        .config("cache", "max_cache_bytes = 1")
        .start();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let port = stack.port;
    let clients: Vec<_> = (0..3)
        .map(|t| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                let mut k = t;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    k = k % 5 + 1;
                    let path = format!("/i/clip_low.mp4/segment{k}_0_av.ts");
                    let r = request(port, "GET", path.as_bytes(), &[]);
                    if r.status == 200 {
                        assert_transport_stream(&r.body, &path);
                    }
                    seen.push((path, r.status));
                }
                seen
            })
        })
        .collect();
    let start = std::time::Instant::now();
    let mut sweeps = 0;
    let mut evicting_sweeps = 0;
    while start.elapsed() < Duration::from_secs(5) {
        let summary = sweep(&stack, &["--sweep"]);
        if !summary.contains("evicted 0 ") {
            evicting_sweeps += 1;
        }
        sweeps += 1;
        std::thread::sleep(Duration::from_millis(200));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let seen: Vec<(String, u16)> = clients
        .into_iter()
        .flat_map(|c| c.join().expect("client thread"))
        .collect();
    let server_errors: Vec<&(String, u16)> = seen.iter().filter(|(_, s)| *s >= 500).collect();
    assert!(
        server_errors.is_empty(),
        "5xx during sweeps: {server_errors:?}"
    );
    let ok = seen.iter().filter(|(_, s)| *s == 200).count();
    // A file evicted between its fill and nginx's redirect is a 404 by design (never a
    // loop); it must stay rare.
    assert!(
        ok * 10 >= seen.len() * 9,
        "{ok} of {} answers were 200",
        seen.len()
    );
    eprintln!(
        "{ok} of {} answers were 200 across {sweeps} sweeps ({evicting_sweeps} evicting)",
        seen.len()
    );
    assert!(sweeps >= 5, "only {sweeps} sweeps ran");
    assert!(
        evicting_sweeps >= 2,
        "{evicting_sweeps} of {sweeps} sweeps evicted anything"
    );
}
