//! Operator risks end to end: the cache file system's free-space floor, the bound on
//! SCGI connections and their header timeout, the open-files limit, and the metrics an
//! operator scrapes (through nginx, after real hits and misses).

mod common;

use common::*;
use nix::sys::resource::{getrlimit, setrlimit, Resource};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const SEGMENT: &str = "/i/clip_low.mp4/segment1_0_av.ts";

/// One test lowers this process's open-files soft limit while its stack starts, so
/// that the worker inherits it; every start holds this lock so that no other test's
/// worker or nginx inherits the lowered limit.
static STARTING: Mutex<()> = Mutex::new(());

fn start(builder: StackBuilder) -> Stack {
    let _turn = STARTING.lock().unwrap_or_else(|e| e.into_inner());
    builder.start()
}

fn restart_worker(stack: &mut Stack) {
    let _turn = STARTING.lock().unwrap_or_else(|e| e.into_inner());
    stack.stop_worker();
    stack.start_worker();
}

/// The value of an unlabelled series in one scrape through nginx; None when absent.
fn scrape(stack: &Stack) -> String {
    let r = stack.get("/_casterpak/metrics");
    assert_eq!(r.status, 200, "metrics: {}", r.text());
    r.text()
}

fn value(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

fn series(text: &str, name: &str) -> u64 {
    value(text, name).unwrap_or_else(|| panic!("no sample of {name} in\n{text}"))
}

/// Polls the scrape until `ok` holds for it (at most 30 s); returns that scrape.
fn wait_for_scrape(stack: &Stack, what: &str, ok: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = scrape(stack);
        if ok(&text) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn connect_idle(stack: &Stack, n: usize) -> Vec<UnixStream> {
    (0..n)
        .map(|i| {
            let mut s = UnixStream::connect(&stack.worker_socket)
                .unwrap_or_else(|e| panic!("idle connection {i}: {e}"));
            // A header that never completes, like a slow or hostile client's.
            s.write_all(b"70:").expect("partial header");
            s
        })
        .collect()
}

/// How many of `streams` the worker has closed (EOF), without waiting.
fn closed(streams: &mut [UnixStream]) -> usize {
    let mut n = 0;
    for s in streams.iter_mut() {
        s.set_nonblocking(true).expect("nonblocking");
        let mut byte = [0u8; 1];
        if matches!(s.read(&mut byte), Ok(0)) || matches!(s.read(&mut byte), Ok(0)) {
            n += 1;
        }
    }
    n
}

#[test]
fn below_the_free_space_floor_nothing_fills_and_ready_says_why() {
    // A floor no file system reaches: "below" without filling a disk.
    let mut stack = start(
        Stack::builder()
            .media("clip_low.mp4")
            .config("cache", "min_free_bytes = 4611686018427387904"),
    );
    let ready = stack.get("/_casterpak/ready");
    assert_eq!(ready.status, 503, "{}", ready.text());
    assert!(
        ready.text().contains("below its free-space floor"),
        "{}",
        ready.text()
    );
    for path in [SEGMENT, "/i/clip_low.mp4/master.m3u8", SEGMENT] {
        let r = stack.get(path);
        assert_eq!(r.status, 503, "{path}: {}", r.text());
        assert_eq!(r.header("retry-after"), "2", "{path}");
        assert_eq!(r.text(), "cache disk is nearly full, retry later\n");
    }
    assert_eq!(stack.cached_files(), Vec::<std::path::PathBuf>::new());
    let runs = stack.mp42hls_runs();
    assert!(runs.iter().all(|r| r == "--capabilities"), "{runs:?}");
    assert!(
        stack.mp4info_runs().is_empty(),
        "{:?}",
        stack.mp4info_runs()
    );
    let text = scrape(&stack);
    assert_eq!(series(&text, "casterpak_cache_fs_floor_bytes"), 1 << 62);
    assert!(
        text.lines()
            .any(|l| l == "casterpak_failures_total{status=\"503\",kind=\"segment\"} 2"),
        "{text}"
    );

    stack.reconfigure("cache", "min_free_bytes = 0");
    stack.reconfigure("cache", "min_free_percent = 0.0");
    restart_worker(&mut stack);
    let ready = stack.get("/_casterpak/ready");
    assert_eq!(ready.status, 200, "{}", ready.text());
    let r = stack.get(SEGMENT);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(stack.cache_path(SEGMENT).is_file());
    assert_eq!(series(&scrape(&stack), "casterpak_cache_fs_floor_bytes"), 0);
}

#[test]
fn worker_raises_its_open_files_limit() {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
    let idle = 1000;
    assert!(
        hard >= 2 * idle as u64 + 512,
        "the hard open-files limit ({hard}) is too small for this test"
    );
    // The worker starts with a soft limit far below what the idle connections need.
    let stack = {
        let _turn = STARTING.lock().unwrap_or_else(|e| e.into_inner());
        setrlimit(Resource::RLIMIT_NOFILE, 256, hard).expect("lower the soft limit");
        let stack = std::panic::catch_unwind(|| {
            Stack::builder()
                .media("clip_low.mp4")
                .config("limits", "scgi_header_timeout_secs = 120")
                .start()
        });
        setrlimit(Resource::RLIMIT_NOFILE, soft, hard).expect("restore the soft limit");
        stack.unwrap_or_else(|e| std::panic::resume_unwind(e))
    };
    let line = format!("open-files limit: soft {hard} (was 256), hard {hard}");
    assert!(stack.worker_log().contains(&line), "{}", stack.worker_log());
    let _idle = connect_idle(&stack, idle);
    // Held, not refused: the worker had the descriptors for all of them.
    wait_for_scrape(&stack, "the idle connections to be held", |t| {
        value(t, "casterpak_scgi_connections").is_some_and(|n| n > idle as u64)
    });
    // A real request is answered at once, not after idle connections time out (120 s
    // here): a worker left at 256 descriptors answered it after 39 s, in batches of
    // its old 10 s header timeout.
    let started = Instant::now();
    let r = stack.get(SEGMENT);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn idle_connections_past_the_bound_make_room_for_requests() {
    let stack = start(
        Stack::builder()
            .media("clip_low.mp4")
            .config("limits", "max_connections = 32")
            .config("limits", "scgi_header_timeout_secs = 120"),
    );
    let mut idle = connect_idle(&stack, 200);
    // Each newer connection displaced the oldest idle one: 32 are held, the rest closed.
    let deadline = Instant::now() + Duration::from_secs(30);
    while closed(&mut idle) < 200 - 32 {
        assert!(
            Instant::now() < deadline,
            "idle connections were not closed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let started = Instant::now();
    let r = stack.get(SEGMENT);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
    // The request displaced one more idle connection; the scrape took its place back.
    let text = scrape(&stack);
    assert_eq!(series(&text, "casterpak_scgi_connections_limit"), 32);
    assert_eq!(series(&text, "casterpak_scgi_connections"), 32, "{text}");
    assert_eq!(
        series(&text, "casterpak_scgi_connections_displaced_total"),
        200 - 32 + 1,
        "{text}"
    );
    assert_eq!(series(&text, "casterpak_scgi_connections_shed_total"), 0);
}

#[test]
fn connections_past_the_bound_are_shed_with_503_when_all_are_busy() {
    let stack = start(
        Stack::builder()
            .media("clip_low.mp4")
            .media("clip_medium.mp4")
            .config("limits", "max_connections = 2"),
    );
    stack.set_slow(Some(5));
    let port = stack.port;
    let busy: Vec<_> = ["clip_low", "clip_medium"]
        .into_iter()
        .map(|name| {
            std::thread::spawn(move || {
                request(
                    port,
                    "GET",
                    format!("/i/{name}.mp4/segment1_0_av.ts").as_bytes(),
                    &[],
                )
            })
        })
        .collect();
    // Two plans started (one per source): both places hold a request being packaged.
    let deadline = Instant::now() + Duration::from_secs(30);
    while tools::started(&stack.tools.mp42hls_log).len() < 2 {
        assert!(Instant::now() < deadline, "the two fills did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    for path in ["/i/clip_low.mp4/segment2_0_av.ts", "/_casterpak/health"] {
        let shed = stack.get(path);
        assert_eq!(shed.status, 503, "{path}: {}", shed.text());
        assert_eq!(shed.header("retry-after"), "2");
        assert_eq!(shed.text(), "too many connections, retry later\n");
    }
    for t in busy {
        let r = t.join().expect("request thread");
        assert_eq!(r.status, 200, "{}", r.text());
    }
    stack.set_slow(None);
    assert!(series(&scrape(&stack), "casterpak_scgi_connections_shed_total") >= 1);
}

#[test]
fn a_connection_without_its_header_is_closed_after_the_timeout() {
    let stack = start(
        Stack::builder()
            .media("clip_low.mp4")
            .config("limits", "scgi_header_timeout_secs = 1"),
    );
    let mut idle = connect_idle(&stack, 1).remove(0);
    idle.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("read timeout");
    let mut buf = [0u8; 64];
    assert_eq!(idle.read(&mut buf).expect("closed, not timed out"), 0);
    assert!(series(&scrape(&stack), "casterpak_scgi_header_timeouts_total") >= 1);
}

#[test]
fn metrics_follow_misses_hits_fills_and_the_hit_log() {
    let stack = start(Stack::builder().media("clip_low.mp4"));
    let text = scrape(&stack);
    for name in [
        "casterpak_cache_entries",
        "casterpak_cache_bytes",
        "casterpak_fills_in_flight",
        "casterpak_hit_log_lines_total",
        "casterpak_hit_log_malformed_total",
        "casterpak_hit_log_dropped_total",
        "casterpak_hit_log_read_errors_total",
        "casterpak_hit_log_flush_errors_total",
    ] {
        assert_eq!(series(&text, name), 0, "{name}");
        assert!(text.contains(&format!("# HELP {name} ")), "{name}");
    }
    let available = series(&text, "casterpak_cache_fs_available_bytes");
    let size = series(&text, "casterpak_cache_fs_size_bytes");
    assert!(available > 0 && available <= size, "{text}");
    let floor = (size as f64 * 0.02).ceil() as u64;
    assert_eq!(
        series(&text, "casterpak_cache_fs_floor_bytes"),
        floor.max(1 << 30)
    );
    // The scrape is the one connection held (once the harness's probe is gone).
    wait_for_scrape(&stack, "one held connection", |t| {
        value(t, "casterpak_scgi_connections") == Some(1)
    });

    // Misses fill the cache; the index totals follow.
    for path in [
        "/i/clip_low.mp4/master.m3u8",
        "/i/clip_low.mp4/index_0_av.m3u8",
        SEGMENT,
        "/i/clip_low.mp4/segment2_0_av.ts",
    ] {
        assert_eq!(stack.get(path).status, 200, "{path}");
    }
    let on_disk: u64 = stack
        .cached_files()
        .iter()
        .filter_map(|p| std::fs::symlink_metadata(p).ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum();
    let text = wait_for_scrape(&stack, "the cache totals", |t| {
        value(t, "casterpak_cache_entries") == Some(1)
    });
    assert_eq!(series(&text, "casterpak_cache_bytes"), on_disk, "{text}");

    // Hits are nginx's; their log lines are counted, and a garbage line is malformed.
    assert_eq!(stack.get(SEGMENT).status, 200);
    assert_eq!(stack.get(SEGMENT).status, 200);
    let hit_log = stack.dir.path().join("hits.log");
    std::fs::OpenOptions::new()
        .append(true)
        .open(&hit_log)
        .and_then(|mut f| f.write_all(b"this is not a hit line\n"))
        .expect("append to the hit log");
    let text = wait_for_scrape(&stack, "hits and a malformed line", |t| {
        value(t, "casterpak_hits_total").is_some_and(|n| n >= 2)
            && value(t, "casterpak_hit_log_malformed_total") == Some(1)
    });
    assert!(
        series(&text, "casterpak_hit_log_lines_total") >= 3,
        "{text}"
    );
    assert_eq!(series(&text, "casterpak_hit_log_read_errors_total"), 0);

    // A fill in the act shows as in flight, and as a second held connection.
    stack.set_slow(Some(3));
    let port = stack.port;
    let slow =
        std::thread::spawn(move || request(port, "GET", b"/i/clip_low.mp4/segment3_0_av.ts", &[]));
    wait_for_scrape(&stack, "a fill in flight", |t| {
        value(t, "casterpak_fills_in_flight").is_some_and(|n| n >= 1)
            && value(t, "casterpak_scgi_connections").is_some_and(|n| n >= 2)
    });
    assert_eq!(slow.join().expect("slow request").status, 200);
    stack.set_slow(None);
    let text = scrape(&stack);
    assert_eq!(series(&text, "casterpak_fills_in_flight"), 0, "{text}");
    assert_eq!(series(&text, "casterpak_cache_entries"), 1, "{text}");
}
