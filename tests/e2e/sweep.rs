//! `casterpak --sweep` against a live stack: TTL and size eviction, the hit feed from
//! nginx keeping entries warm, `--dry-run`, sweeping while the worker runs (control
//! socket) and without it, and refilling what was evicted.

use crate::common::*;
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
    // Past the TTL, and past the grace in which sweeps keep what the worker answered.
    let expired = Duration::from_millis(3500)
        .max(casterpak::cache::ANSWER_GRACE + Duration::from_millis(500));
    std::thread::sleep(expired);

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

/// What the racing clients saw.
#[derive(Default)]
struct Tally {
    ok: usize,
    not_found: Vec<String>,
    other: Vec<(String, u16)>,
}

#[test]
fn sweeps_racing_with_traffic_lose_no_valid_request() {
    let stack = Stack::builder()
        .media("clip_low.mp4")
        .media("clip_medium.mp4")
        // Room for nothing and the shortest TTL: every sweep evicts whatever it may.
        .config("cache", "max_cache_bytes = 1")
        .config("cache", "segment_ttl_secs = 1")
        .start();
    // Single renditions, csmil masters, playlists and csmil segments (links into the
    // renditions): every kind of entry a sweep can take from under a redirect.
    let mut paths = Vec::new();
    for k in 1..=4 {
        paths.push(format!("/i/clip_low.mp4/segment{k}_0_av.ts"));
        paths.push(format!("/i/clip_,low,medium,.mp4.csmil/segment{k}_1_av.ts"));
    }
    paths.push("/i/clip_low.mp4/index_0_av.m3u8".into());
    paths.push("/i/clip_,low,medium,.mp4.csmil/master.m3u8".into());
    paths.push("/i/clip_,low,medium,.mp4.csmil/index_0_av.m3u8".into());
    let paths = std::sync::Arc::new(paths);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let port = stack.port;
    let clients: Vec<_> = (0..6)
        .map(|t| {
            let (stop, paths) = (stop.clone(), paths.clone());
            std::thread::spawn(move || {
                let mut tally = Tally::default();
                let mut i = t;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    i = (i + 1) % paths.len();
                    let path = &paths[i];
                    let r = request(port, "GET", path.as_bytes(), &[]);
                    match r.status {
                        200 => {
                            if path.ends_with(".ts") {
                                assert_transport_stream(&r.body, path);
                            }
                            tally.ok += 1;
                        }
                        404 => tally.not_found.push(path.clone()),
                        status => tally.other.push((path.clone(), status)),
                    }
                }
                tally
            })
        })
        .collect();
    // Sweeps back to back; entries answered within the grace survive them, so evicting
    // sweeps come in waves a few seconds apart.
    let start = std::time::Instant::now();
    let (mut sweeps, mut evicting_sweeps, mut kept_answered) = (0, 0, 0);
    while start.elapsed() < Duration::from_secs(12) || evicting_sweeps < 3 {
        assert!(
            start.elapsed() < Duration::from_secs(180),
            "{evicting_sweeps} of {sweeps} sweeps evicted anything"
        );
        let summary = sweep(&stack, &["--sweep"]);
        if !summary.contains("evicted 0 ") {
            evicting_sweeps += 1;
        }
        if summary.contains(" just answered skipped") {
            kept_answered += 1;
        }
        sweeps += 1;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut total = Tally::default();
    for client in clients {
        let tally = client.join().expect("client thread");
        total.ok += tally.ok;
        total.not_found.extend(tally.not_found);
        total.other.extend(tally.other);
    }
    let answers = total.ok + total.not_found.len() + total.other.len();
    eprintln!(
        "sweep race: {answers} requests: {} 200, {} 404, {} other; {sweeps} sweeps, \
         {evicting_sweeps} evicting, {kept_answered} keeping just-answered entries",
        total.ok,
        total.not_found.len(),
        total.other.len()
    );
    assert!(
        total.not_found.is_empty(),
        "valid requests got 404: {:?}",
        total.not_found
    );
    assert!(total.other.is_empty(), "not 200: {:?}", total.other);
    assert!(answers >= 200, "only {answers} requests ran");
    assert!(
        kept_answered >= 1,
        "no sweep kept a just-answered entry: the race was not exercised"
    );
}

/// Sits between nginx and the worker for `connections` requests: forwards each, and
/// before passing the worker's first answer back deletes the file it redirects nginx
/// to, which is what a sweep winning the race does. Later requests pass untouched.
/// Returns the files it deleted.
fn evicting_proxy(
    listen: &Path,
    worker: std::path::PathBuf,
    cache_root: std::path::PathBuf,
    connections: usize,
) -> std::thread::JoinHandle<Vec<std::path::PathBuf>> {
    use std::io::{Read, Write};
    let listener = std::os::unix::net::UnixListener::bind(listen).expect("bind proxy");
    std::thread::spawn(move || {
        let mut deleted = Vec::new();
        for stream in listener.incoming().take(connections) {
            let Ok(mut nginx) = stream else { break };
            let mut request = Vec::new();
            let mut chunk = [0u8; 4096];
            // nginx sends the header netstring (and no body for GET) and waits.
            while !netstring_complete(&request) {
                match nginx.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&chunk[..n]),
                }
            }
            let mut upstream =
                std::os::unix::net::UnixStream::connect(&worker).expect("connect worker");
            upstream.write_all(&request).expect("forward request");
            let mut answer = Vec::new();
            upstream.read_to_end(&mut answer).expect("worker answer");
            if deleted.is_empty() {
                let text = String::from_utf8_lossy(&answer).into_owned();
                let target = text
                    .lines()
                    .find_map(|l| l.strip_prefix("X-Accel-Redirect: /_casterpak_cache/"))
                    .map(|t| t.trim().to_string());
                if let Some(target) = target {
                    let file = cache_root.join(target);
                    std::fs::remove_file(&file).expect("evict the redirect target");
                    deleted.push(file);
                }
            }
            let _ = nginx.write_all(&answer);
        }
        deleted
    })
}

/// Whether `buf` holds a whole `<len>:<bytes>,` netstring.
fn netstring_complete(buf: &[u8]) -> bool {
    let Some(colon) = buf.iter().position(|&b| b == b':') else {
        return false;
    };
    let len: usize = match std::str::from_utf8(&buf[..colon])
        .ok()
        .and_then(|s| s.parse().ok())
    {
        Some(len) => len,
        None => return true,
    };
    buf.len() > colon + len + 1
}

#[test]
fn a_redirect_target_gone_before_nginx_opens_it_is_a_503_to_retry() {
    let stack = Stack::builder().media("clip_low.mp4").start();
    // nginx connects to the worker's socket path for each request: move the worker's
    // socket aside and put the proxy at its path.
    let real = stack.dir.path().join("worker-real.sock");
    std::fs::rename(&stack.worker_socket, &real).expect("move the worker socket");
    // Two requests reach the worker: the one answered into an eviction and its retry.
    let proxy = evicting_proxy(&stack.worker_socket, real, stack.cache_root.clone(), 2);

    let path = "/i/clip_low.mp4/segment1_0_av.ts";
    let r = stack.get(path);
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.header("retry-after"), "1");
    assert_eq!(r.header("cache-control"), "no-store");
    assert_eq!(r.header("access-control-allow-origin"), "*");
    assert!(r.text().contains("retry"), "{}", r.text());
    assert!(
        !stack.cache_path(path).exists(),
        "the proxy did not evict the file"
    );
    // The retry is a miss that refills, then a hit.
    let retry = stack.get(path);
    assert_eq!(
        (retry.status, retry.header("x-casterpak-cache")),
        (200, "MISS"),
        "{}",
        retry.text()
    );
    assert_transport_stream(&retry.body, path);
    let hit = stack.get(path);
    assert_eq!((hit.status, hit.header("x-casterpak-cache")), (200, "HIT"));
    // A direct request for the internal prefix is still nginx's plain 404.
    let direct = stack.get("/_casterpak_cache/i/clip_low.mp4/segment1_0_av.ts");
    assert_eq!(direct.status, 404);
    assert!(direct.headers_named("retry-after").is_empty());
    let errors = stack.nginx_error_log();
    assert!(!errors.contains("cycle"), "redirect loop: {errors}");
    let deleted = proxy.join().expect("proxy thread");
    assert_eq!(deleted.len(), 1, "{deleted:?}");
}
