//! Hit feed tests: the batch as a value, the feed from a real log file into sled.

use super::*;
use std::io::Write;
use std::path::PathBuf;

/// Appends lines as nginx does (O_APPEND, one write per flushed buffer).
fn nginx_writes(log: &Path, lines: &[&[u8]]) {
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(log)
        .expect("the feed created the log");
    let mut buffer = Vec::new();
    for line in lines {
        buffer.extend_from_slice(line);
        buffer.push(b'\n');
    }
    file.write_all(&buffer).unwrap();
}

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

/// A database in a temp dir and a hit log path beside it, for one feed.
struct Feed {
    _dir: tempfile::TempDir,
    store: Arc<Store>,
    log: PathBuf,
    counters: Arc<HitCounters>,
}

impl Feed {
    fn new(log_name: &str) -> Feed {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("db")).unwrap());
        let log = dir.path().join(log_name);
        Feed {
            _dir: dir,
            store,
            log,
            counters: Arc::new(HitCounters::default()),
        }
    }

    /// Starts the feed, with `check` after each flushed batch if given.
    fn start(&self, flush_every: Duration, check: Option<BatchCheck>) -> JoinHandle<()> {
        spawn_with_check(
            &self.log,
            self.store.clone(),
            Arc::new(rendition_key),
            flush_every,
            self.counters.clone(),
            check,
        )
        .unwrap()
    }
}

#[tokio::test]
async fn log_lines_become_access_times() {
    let feed = Feed::new("run/hits.log");
    let (store, log, counters) = (&feed.store, &feed.log, &feed.counters);
    let task = feed.start(Duration::from_millis(50), None);
    assert!(log.is_file(), "the feed creates the log nginx appends to");

    let before = crate::store::unix_now();
    let lines: [&[u8]; 6] = [
        b"200 /i/a/b.mp4/segment3_0_av.ts",
        b"304 /i/c.mp4/index_0_av.m3u8?x=1",
        b"404 /i/missing.mp4/index_0_av.m3u8",
        b"200 /favicon.ico",
        b"\xff\xfe garbage",
        b"",
    ];
    nginx_writes(log, &lines);
    wait_for("two flushed keys", || {
        counters.flushed.load(Ordering::Relaxed) >= 2
    })
    .await;
    assert_eq!(counters.seen.load(Ordering::Relaxed), 6);
    assert_eq!(counters.recorded.load(Ordering::Relaxed), 2);
    assert_eq!(counters.ignored.load(Ordering::Relaxed), 2);
    assert_eq!(counters.malformed.load(Ordering::Relaxed), 2);
    assert_eq!(counters.dropped.load(Ordering::Relaxed), 0);
    assert_eq!(counters.read_errors.load(Ordering::Relaxed), 0);

    for key in ["i/a/b.mp4", "i/c.mp4"] {
        let entry = store.get(key).unwrap().unwrap_or_else(|| panic!("{key}"));
        assert!(entry.last_access >= before, "{key}: {entry:?}");
    }
    assert_eq!(store.get("i/missing.mp4").unwrap(), None);
    task.abort();
}

#[tokio::test]
async fn lines_from_before_the_start_are_not_accesses() {
    let feed = Feed::new("hits.log");
    let (store, log, counters) = (&feed.store, &feed.log, &feed.counters);
    std::fs::write(log, b"200 /i/old.mp4/segment1_0_av.ts\n").unwrap();
    let task = feed.start(Duration::from_millis(50), None);
    nginx_writes(log, &[b"200 /i/new.mp4/segment1_0_av.ts"]);
    wait_for("the new line", || {
        counters.flushed.load(Ordering::Relaxed) >= 1
    })
    .await;
    assert_eq!(counters.seen.load(Ordering::Relaxed), 1);
    assert!(store.get("i/new.mp4").unwrap().is_some());
    assert_eq!(store.get("i/old.mp4").unwrap(), None);
    task.abort();
}

#[tokio::test]
async fn a_directory_in_the_logs_place_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("db")).unwrap());
    let not_a_file = dir.path().join("hits.log");
    std::fs::create_dir(&not_a_file).unwrap();
    let err = spawn_with_counters(
        &not_a_file,
        store,
        Arc::new(rendition_key),
        Duration::from_secs(1),
        Arc::default(),
    )
    .expect_err("a directory cannot be the hit log");
    assert!(!err.to_string().is_empty());
    assert!(not_a_file.is_dir());
}

#[tokio::test]
async fn unread_lines_are_written_when_the_task_is_aborted() {
    let feed = Feed::new("hits.log");
    let (store, log, counters) = (&feed.store, &feed.log, &feed.counters);
    // A flush interval far longer than the test: only the abort can read and write.
    let task = feed.start(Duration::from_secs(3600), None);
    // The interval's first tick fires at once; let it pass with nothing written.
    tokio::time::sleep(Duration::from_millis(100)).await;
    nginx_writes(log, &[b"200 /i/late.mp4/segment1_0_av.ts"]);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(store.get("i/late.mp4").unwrap(), None, "flushed too early");
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    assert!(store.get("i/late.mp4").unwrap().is_some());
    assert_eq!(counters.recorded.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn each_flushed_batch_goes_to_the_check_after_the_touch() {
    let feed = Feed::new("hits.log");
    let (store, log, counters) = (&feed.store, &feed.log, &feed.counters);
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
    let task = feed.start(Duration::from_millis(50), Some(check));
    nginx_writes(
        log,
        &[
            b"200 /i/a.mp4/segment1_0_av.ts",
            b"200 /i/a.mp4/index_0_av.m3u8",
        ],
    );
    wait_for("the check to run", || {
        counters.stale_evicted.load(Ordering::Relaxed) >= 1
    })
    .await;
    task.abort();
    // A check already on its blocking thread finishes despite the abort.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let seen = seen.lock().unwrap().clone();
    // Both lines usually share one batch, where the key appears once.
    assert!(
        !seen.is_empty() && seen.iter().all(|s| s == "i/a.mp4 touched=true"),
        "{seen:?}"
    );
    assert_eq!(
        counters.stale_evicted.load(Ordering::Relaxed),
        seen.len() as u64
    );
}
