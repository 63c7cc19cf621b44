//! `casterpak purge` (issue 13 test 4): a title, a csmil and a prefix purged while eight
//! clients fetch them: no 5xx, no torn or changed file, the next request refills; and
//! what a purge takes is gone from the disk and from the database, with the worker
//! running (control socket, or `/_casterpak/purge` over HTTP) or not (the CLI opens the
//! database itself).

use crate::common::*;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

const CSMIL: &str = "/i/clip_,low,medium,highdef,.mp4.csmil";

fn clip_stack() -> Stack {
    Stack::builder()
        .media("clip_low.mp4")
        .media("clip_medium.mp4")
        .media("clip_highdef.mp4")
        .start()
}

/// Every path of the csmil master's tree with its bytes: master, csmil-relative and
/// direct media playlists, and their segments.
fn warm(stack: &Stack) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let master_path = format!("{CSMIL}/master.m3u8");
    let master = stack.get(&master_path);
    assert_eq!(master.status, 200, "{}", master.text());
    let mut playlists: Vec<String> = variants(&master.text())
        .into_iter()
        .map(|(_, uri)| resolve(&master_path, &uri))
        .collect();
    playlists.extend((0..3).map(|n| format!("{CSMIL}/index_{n}_av.m3u8")));
    files.insert(master_path, master.body);
    for playlist_path in playlists {
        let playlist = stack.get(&playlist_path);
        assert_eq!(playlist.status, 200, "{playlist_path}");
        for (_, uri) in segments(&playlist.text()) {
            let path = resolve(&playlist_path, &uri);
            let segment = stack.get(&path);
            assert_eq!(segment.status, 200, "{path}");
            assert_transport_stream(&segment.body, &path);
            files.insert(path, segment.body);
        }
        files.insert(playlist_path, playlist.body);
    }
    files
}

/// Fetches one file of each entry a purge is about to name until it is back in the
/// cache, so the purge finds it whatever the clients happened to refill since the last
/// purge. nginx keeps serving a purged file from its open-file cache until it checks
/// the path again (`open_file_cache_valid`, 2 s), so the first fetches may be hits of
/// what went; the bytes are the same either way.
fn refill(stack: &Stack, files: &BTreeMap<String, Vec<u8>>) {
    for path in [
        format!("{CSMIL}/master.m3u8"),
        "/i/clip_low.mp4/index_0_av.m3u8".to_string(),
        "/i/clip_medium.mp4/index_0_av.m3u8".to_string(),
        "/i/clip_highdef.mp4/index_0_av.m3u8".to_string(),
    ] {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let r = stack.get(&path);
            assert_eq!(r.status, 200, "{path}: {}", r.text());
            assert!(files.get(&path) == Some(&r.body), "{path}: body differs");
            if stack.cache_path(&path).is_file() {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{path} never refilled"
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }
}

fn purge(stack: &Stack, path: &str) -> String {
    let out = stack.casterpak(&["purge", path]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "purge {path}: {text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.starts_with("purge: "), "{text}");
    text
}

#[test]
fn purges_while_eight_clients_fetch_tear_nothing_and_refill() {
    let stack = clip_stack();
    let files = Arc::new(warm(&stack));
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Mutex::new(BTreeMap::<(u16, String), u64>::new()));
    let port = stack.port;
    let clients: Vec<_> = (0..8)
        .map(|c| {
            let (files, stop, tally) = (files.clone(), stop.clone(), tally.clone());
            std::thread::spawn(move || {
                let paths: Vec<&String> = files.keys().collect();
                let mut i = c * 7;
                while !stop.load(Ordering::Relaxed) {
                    let path = paths[i % paths.len()];
                    i += 1;
                    let r = request(port, "GET", path.as_bytes(), &[]);
                    let cache = r.headers_named("x-casterpak-cache").join("");
                    *tally.lock().unwrap().entry((r.status, cache)).or_insert(0) += 1;
                    assert!(r.status < 500, "{path}: {} {}", r.status, r.text());
                    assert_eq!(r.status, 200, "{path}: {}", r.text());
                    // Packaging is deterministic: a refill gives the same bytes, so any
                    // difference is a torn or half-published file.
                    assert!(r.body == files[path], "{path}: body differs");
                }
            })
        })
        .collect();
    let pause = || std::thread::sleep(std::time::Duration::from_millis(700));
    pause();
    let title = purge(&stack, "/i/clip_low.mp4");
    assert!(title.contains(" /i/clip_low.mp4"), "{title}");
    assert!(
        title.contains(&format!(" {CSMIL}")),
        "masters listing it go too: {title}"
    );
    pause();
    refill(&stack, &files);
    let csmil = purge(&stack, &format!("{CSMIL}/master.m3u8"));
    assert!(csmil.contains(&format!(" {CSMIL}")), "{csmil}");
    assert!(!csmil.contains(".mp4 "), "only the csmil: {csmil}");
    pause();
    refill(&stack, &files);
    let prefix = purge(&stack, "/i/clip_*");
    for key in [
        "/i/clip_low.mp4",
        "/i/clip_medium.mp4",
        "/i/clip_highdef.mp4",
    ] {
        assert!(prefix.contains(key), "{key} not in {prefix}");
    }
    pause();
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().expect("a client saw a bad answer");
    }
    let tally = tally.lock().unwrap();
    println!("purges: {title}\n{csmil}\n{prefix}\nanswers (status, cache): {tally:?}");
    let misses: u64 = tally
        .iter()
        .filter(|((s, c), _)| *s == 200 && c == "MISS")
        .map(|(_, n)| n)
        .sum();
    assert!(
        misses as usize > files.len(),
        "refills after the purges: {misses}"
    );
}

#[test]
fn a_purge_forgets_rows_and_files_with_or_without_the_worker() {
    let mut stack = clip_stack();
    warm(&stack);
    let low = stack.cache_path("/i/clip_low.mp4");
    let csmil = stack.cache_path(CSMIL);
    assert!(low.is_dir() && csmil.is_dir());
    let answer = purge(&stack, "/i/clip_low.mp4/index_0_av.m3u8");
    assert!(answer.starts_with("purge: 2 entries evicted"), "{answer}");
    assert!(!low.exists() && !csmil.exists(), "{answer}");
    assert!(stack.cache_path("/i/clip_medium.mp4").is_dir());

    // Without the worker the CLI opens the database itself.
    stack.stop_worker();
    let answer = purge(&stack, "/i/clip_medium.mp4");
    assert!(answer.starts_with("purge: 1 entries evicted"), "{answer}");
    assert!(!stack.cache_path("/i/clip_medium.mp4").exists());
    let store = casterpak::store::Store::open(&stack.dir.path().join("db")).expect("open db");
    let keys: Vec<String> = store
        .entries()
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(keys, ["i/clip_highdef.mp4"], "rows left");
    drop(store);

    stack.start_worker();
    for path in [
        format!("{CSMIL}/master.m3u8"),
        "/i/clip_low.mp4/segment2_0_av.ts".into(),
    ] {
        let r = stack.get(&path);
        assert_eq!(
            (r.status, r.header("x-casterpak-cache")),
            (200, "MISS"),
            "{path}"
        );
    }
    let bad = stack.casterpak(&["purge", "/i/../etc"]);
    assert!(!bad.status.success());

    // Over HTTP, from this host (nginx allows localhost only).
    let r = stack.get("/_casterpak/purge?path=%2Fi%2Fclip_highdef.mp4");
    assert_eq!(r.status, 200, "{}", r.text());
    // The csmil master refilled above lists it: it goes too.
    assert!(
        r.text().starts_with("purge: 2 entries evicted"),
        "{}",
        r.text()
    );
    assert!(!stack.cache_path("/i/clip_highdef.mp4").exists());
    assert_eq!(stack.get("/_casterpak/purge").status, 400);
    assert_eq!(
        stack.get("/_casterpak/purge?path=%2Fi%2F..%2Fx").status,
        400
    );
}
