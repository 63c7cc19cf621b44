//! Hit feed tests: the batch as a value, the feed over a real socket and sled.

use super::*;
use std::os::unix::net::UnixDatagram as StdDatagram;

#[test]
fn batch_keeps_newest_time_and_is_bounded() {
    let mut batch = HitBatch::default();
    assert!(batch.add("a".into(), 10));
    assert!(batch.add("a".into(), 5));
    assert!(batch.add("b".into(), 7));
    let mut taken = batch.take();
    taken.sort();
    assert_eq!(taken, [("a".to_string(), 10), ("b".to_string(), 7)]);
    assert!(batch.is_empty());

    for i in 0..MAX_PENDING_KEYS {
        assert!(batch.add(format!("k{i}"), 1));
    }
    assert!(!batch.add("one too many".into(), 1));
    assert!(
        batch.add("k0".into(), 2),
        "known keys still update when full"
    );
    assert_eq!(batch.len(), MAX_PENDING_KEYS);
}

/// Stand-in for the worker's URL parser: `/i/<path>.mp4/<file>` → `i/<path>.mp4`.
fn rendition_key(uri: &[u8]) -> Vec<String> {
    let Ok(uri) = std::str::from_utf8(uri) else {
        return Vec::new();
    };
    match uri.find(".mp4/") {
        Some(end) if uri.starts_with("/i/") => vec![uri[1..end + 4].to_string()],
        _ => Vec::new(),
    }
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..200 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn datagrams_become_access_times() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("db")).unwrap());
    let socket = dir.path().join("run/hits.sock");
    // A stale socket from a previous run is replaced.
    std::fs::create_dir_all(socket.parent().unwrap()).unwrap();
    drop(StdDatagram::bind(&socket).unwrap());

    let counters = Arc::new(HitCounters::default());
    let task = spawn_with_counters(
        &socket,
        store.clone(),
        Arc::new(rendition_key),
        Duration::from_millis(50),
        counters.clone(),
    )
    .unwrap();
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o666);

    let before = crate::store::unix_now();
    let client = StdDatagram::unbound().unwrap();
    let datagrams: [&[u8]; 6] = [
        b"<190>Nov 21 04:40:01 casterpak: 200 /i/a/b.mp4/segment3_0_av.ts",
        b"<190>Nov 21 04:40:01 casterpak: 304 /i/c.mp4/index_0_av.m3u8?x=1",
        b"<190>Nov 21 04:40:01 casterpak: 404 /i/missing.mp4/index_0_av.m3u8",
        b"<190>Nov 21 04:40:01 casterpak: 200 /favicon.ico",
        b"\xff\xfe garbage",
        b"",
    ];
    for d in datagrams {
        client.send_to(d, &socket).unwrap();
    }
    wait_for("two flushed keys", || {
        counters.flushed.load(Ordering::Relaxed) >= 2
    })
    .await;
    assert_eq!(counters.seen.load(Ordering::Relaxed), 6);
    assert_eq!(counters.recorded.load(Ordering::Relaxed), 2);
    assert_eq!(counters.ignored.load(Ordering::Relaxed), 2);
    assert_eq!(counters.malformed.load(Ordering::Relaxed), 2);
    assert_eq!(counters.dropped.load(Ordering::Relaxed), 0);

    for key in ["i/a/b.mp4", "i/c.mp4"] {
        let entry = store.get(key).unwrap().unwrap_or_else(|| panic!("{key}"));
        assert!(entry.last_access >= before, "{key}: {entry:?}");
    }
    assert_eq!(store.get("i/missing.mp4").unwrap(), None);
    task.abort();
}

#[tokio::test]
async fn refuses_to_replace_a_regular_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("db")).unwrap());
    let not_a_socket = dir.path().join("hits.sock");
    std::fs::write(&not_a_socket, b"keep me").unwrap();
    let err = spawn(
        &not_a_socket,
        store,
        Arc::new(rendition_key),
        Duration::from_secs(1),
    )
    .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
    assert_eq!(std::fs::read(&not_a_socket).unwrap(), b"keep me");
}

#[tokio::test]
async fn pending_hits_are_written_when_the_task_is_aborted() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("db")).unwrap());
    let socket = dir.path().join("hits.sock");
    let counters = Arc::new(HitCounters::default());
    // A flush interval far longer than the test: only the abort can write.
    let task = spawn_with_counters(
        &socket,
        store.clone(),
        Arc::new(rendition_key),
        Duration::from_secs(3600),
        counters.clone(),
    )
    .unwrap();
    // The interval's first tick fires at once; let it pass with nothing pending.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let client = StdDatagram::unbound().unwrap();
    client
        .send_to(
            b"<190>Nov 21 04:40:01 casterpak: 200 /i/late.mp4/segment1_0_av.ts",
            &socket,
        )
        .unwrap();
    wait_for("the hit to be received", || {
        counters.recorded.load(Ordering::Relaxed) == 1
    })
    .await;
    assert_eq!(store.get("i/late.mp4").unwrap(), None, "flushed too early");
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    assert!(store.get("i/late.mp4").unwrap().is_some());
}

#[tokio::test]
async fn each_flushed_batch_goes_to_the_check_after_the_touch() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("db")).unwrap());
    let socket = dir.path().join("hits.sock");
    let counters = Arc::new(HitCounters::default());
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let (seen2, store2) = (seen.clone(), store.clone());
    let check: BatchCheck = Arc::new(move |keys: &[String]| {
        // The touch already happened: the check sees the access times.
        let touched = keys
            .iter()
            .filter(|k| store2.get(k).ok().flatten().is_some())
            .count();
        seen2.lock().unwrap().extend(
            keys.iter()
                .map(|k| format!("{k} touched={}", touched == keys.len())),
        );
        keys.len() as u64
    });
    let task = spawn_with_check(
        &socket,
        store.clone(),
        Arc::new(rendition_key),
        Duration::from_millis(50),
        counters.clone(),
        Some(check),
    )
    .unwrap();
    let client = StdDatagram::unbound().unwrap();
    for uri in ["/i/a.mp4/segment1_0_av.ts", "/i/a.mp4/index_0_av.m3u8"] {
        let line = format!("<190>Nov 21 04:40:01 casterpak: 200 {uri}");
        client.send_to(line.as_bytes(), &socket).unwrap();
    }
    wait_for("the check to run", || {
        counters.stale_evicted.load(Ordering::Relaxed) >= 1
    })
    .await;
    task.abort();
    // A check already on its blocking thread finishes despite the abort.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let seen = seen.lock().unwrap().clone();
    // Both datagrams usually share one batch, where the key appears once.
    assert!(
        !seen.is_empty() && seen.iter().all(|s| s == "i/a.mp4 touched=true"),
        "{seen:?}"
    );
    assert_eq!(
        counters.stale_evicted.load(Ordering::Relaxed),
        seen.len() as u64
    );
}
