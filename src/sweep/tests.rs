//! Sweep tests: the summary as a value, then whole sweeps on a real cache
//! directory and sled database, in-process, through the CLI and over the control
//! socket.

use super::*;
use crate::store::EntryKind;
use std::path::PathBuf;
use std::time::SystemTime;

#[test]
fn human_bytes_table() {
    let cases = [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (1536, "1.5 KiB"),
        (12_897_484, "12.3 MiB"),
        (50 << 30, "50.0 GiB"),
        (u64::MAX, "16384.0 PiB"),
    ];
    for (bytes, text) in cases {
        assert_eq!(human_bytes(bytes), text, "{bytes}");
    }
}

#[test]
fn summary_lines() {
    let report = SweepReport {
        stale: 1,
        ttl: 2,
        size: 1,
        evicted_bytes: 12_897_484,
        kept_entries: 5,
        kept_bytes: 42_047_488,
        limit_bytes: 50 << 20,
        ..SweepReport::default()
    };
    assert_eq!(
        report.summary(),
        "sweep: evicted 4 entries (12.3 MiB: 1 stale, 2 ttl, 1 size, 0 dangling masters, 0 orphans), kept 5 entries (40.1 MiB) of limit 50.0 MiB"
    );
    let dry = SweepReport {
        dry_run: true,
        busy_skipped: 1,
        failed: 2,
        adopted: 3,
        ..report
    };
    assert_eq!(
        dry.summary(),
        "sweep: would evict 4 entries (12.3 MiB: 1 stale, 2 ttl, 1 size, 0 dangling masters, 0 orphans), kept 5 entries (40.1 MiB) of limit 50.0 MiB, 1 busy skipped, index: 3 adopted 0 dropped, 2 FAILED (see log)"
    );
    assert_eq!(report_line(&report.summary()), 0);
    assert_eq!(report_line(&dry.summary()), 1);
    assert_eq!(report_line("error: sweep failed: disk on fire"), 1);
}

struct Fixture {
    _dir: tempfile::TempDir,
    config: Config,
    now: u64,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        cache_root: dir.path().join("cache"),
        db_path: dir.path().join("db"),
        control_socket: dir.path().join("control.sock"),
        cache: crate::config::CacheConfig {
            segment_ttl_secs: 100,
            max_cache_bytes: 1000,
            orphan_grace_secs: 50,
            ..Default::default()
        },
        ..Config::default()
    };
    Fixture {
        _dir: dir,
        config,
        now: crate::store::unix_now(),
    }
}

fn set_age(path: &Path, secs_ago: u64) {
    let t = SystemTime::now() - Duration::from_secs(secs_ago);
    std::fs::File::open(path).unwrap().set_modified(t).unwrap();
}

/// Fills the scenario every sweep test starts from; see `expected_summary`.
fn populate(store: &Store, cache: &Cache, now: u64) {
    for (key, bytes, age) in [
        ("i/stale.mp4", 100, 200),
        ("i/old.mp4", 600, 50),
        ("i/new.mp4", 600, 10),
        ("i/busy.mp4", 300, 500),
    ] {
        let file = cache.path_of(key).join("segment1_0_av.ts");
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, vec![0u8; bytes]).unwrap();
        store
            .record_fill(key, EntryKind::Rendition, None, bytes as u64, now - age)
            .unwrap();
    }
    let stray = cache.path_of("i/stray.txt");
    std::fs::write(&stray, [1u8; 10]).unwrap();
    set_age(&stray, 100);
    let fill = cache.tmp_dir().join("fill-old");
    std::fs::create_dir_all(&fill).unwrap();
    std::fs::write(fill.join("segment1_0_av.ts"), [2u8; 64]).unwrap();
    set_age(&fill.join("segment1_0_av.ts"), 100);
    set_age(&fill, 100);
}

/// By hand: stale is past the TTL (100 B); the stray file and the old fill dir
/// are past the grace (10 + 64 B); that leaves old + new + busy = 1500 B over the
/// 1000 B limit, busy is the oldest but being filled, so old goes (600 B).
fn expected_summary(verb: &str) -> String {
    format!(
        "sweep: {verb} 4 entries (774 B: 0 stale, 1 ttl, 1 size, 0 dangling masters, 2 orphans), kept 2 entries (900 B) of limit 1000 B, 1 busy skipped"
    )
}

fn gone_after_sweep(cache: &Cache) -> Vec<PathBuf> {
    vec![
        cache.path_of("i/stale.mp4"),
        cache.path_of("i/old.mp4"),
        cache.path_of("i/stray.txt"),
        cache.tmp_dir().join("fill-old"),
    ]
}

#[test]
fn dry_run_deletes_nothing_then_sweep_evicts() {
    let f = fixture();
    let store = Store::open(&f.config.db_path).unwrap();
    let cache = Cache::new(f.config.cache_root.clone()).unwrap();
    populate(&store, &cache, f.now);
    let _filling = cache.begin_fill("i/busy.mp4");

    let dry = run(&store, &cache, &f.config, true, f.now).unwrap();
    assert_eq!(dry.summary(), expected_summary("would evict"));
    for path in gone_after_sweep(&cache) {
        assert!(path.exists(), "dry run removed {}", path.display());
    }
    assert_eq!(store.entries().unwrap().len(), 4);

    let report = run(&store, &cache, &f.config, false, f.now).unwrap();
    assert_eq!(report.summary(), expected_summary("evicted"));
    for path in gone_after_sweep(&cache) {
        assert!(!path.exists(), "{} survived", path.display());
    }
    let keys: Vec<String> = store.entries().unwrap().into_iter().map(|e| e.0).collect();
    assert_eq!(keys, ["i/busy.mp4", "i/new.mp4"]);
    assert!(cache.path_of("i/busy.mp4/segment1_0_av.ts").exists());
    assert!(cache.path_of("i/new.mp4/segment1_0_av.ts").exists());
}

#[test]
fn an_entry_answered_within_the_grace_stays_and_is_counted() {
    let f = fixture();
    let store = Store::open(&f.config.db_path).unwrap();
    let cache = Cache::new(f.config.cache_root.clone()).unwrap();
    populate(&store, &cache, f.now);
    let _filling = cache.begin_fill("i/busy.mp4");
    // nginx was just redirected to old.mp4: the size pass's choice stays this time.
    cache.mark_answered(&["i/old.mp4"]);
    let report = run(&store, &cache, &f.config, false, f.now).unwrap();
    assert_eq!(
        report.summary(),
        "sweep: evicted 3 entries (174 B: 0 stale, 1 ttl, 0 size, 0 dangling masters, 2 orphans), kept 3 entries (1.5 KiB) of limit 1000 B, 1 busy skipped, 1 just answered skipped"
    );
    assert!(cache.path_of("i/old.mp4/segment1_0_av.ts").exists());
    assert!(!cache.path_of("i/stale.mp4").exists());
    let keys: Vec<String> = store.entries().unwrap().into_iter().map(|e| e.0).collect();
    assert_eq!(keys, ["i/busy.mp4", "i/new.mp4", "i/old.mp4"]);
}

#[test]
fn dangling_master_goes_with_its_last_rendition() {
    let f = fixture();
    let store = Store::open(&f.config.db_path).unwrap();
    let cache = Cache::new(f.config.cache_root.clone()).unwrap();
    let master = "i/p_,a,.mp4.csmil";
    cache
        .publish_bytes(&format!("{master}/master.m3u8"), b"#EXTM3U\n")
        .unwrap();
    cache
        .publish_symlink(
            &format!("{master}/index_0_av.m3u8"),
            Path::new("../p_a.mp4/index_0_av.m3u8"),
        )
        .unwrap();
    cache
        .publish_bytes("i/p_a.mp4/index_0_av.m3u8", b"#EXTM3U\n")
        .unwrap();
    store
        .record_fill(master, EntryKind::Master, None, 0, f.now - 60)
        .unwrap();
    store
        .record_fill("i/p_a.mp4", EntryKind::Rendition, None, 0, f.now - 101)
        .unwrap();
    let report = run(&store, &cache, &f.config, false, f.now).unwrap();
    assert_eq!(
        (report.ttl, report.dangling),
        (1, 1),
        "{}",
        report.summary()
    );
    assert!(!cache.path_of(master).exists());
    assert_eq!(store.entries().unwrap(), vec![]);
}

#[test]
fn changed_and_vanished_sources_evict_renditions_and_their_masters() {
    let mut f = fixture();
    let media = f._dir.path().join("media");
    std::fs::create_dir_all(&media).unwrap();
    f.config.media_root = media.clone();
    let store = Store::open(&f.config.db_path).unwrap();
    let cache = Cache::new(f.config.cache_root.clone()).unwrap();
    let root = MediaRoot::new(&media).unwrap();
    for name in ["p_lo", "p_hi", "gone"] {
        std::fs::write(media.join(format!("{name}.mp4")), name).unwrap();
        let source = root.resolve(&format!("{name}.mp4")).unwrap();
        let key = format!("i/{name}.mp4");
        cache
            .publish_bytes(&format!("{key}/segment1_0_av.ts"), b"12345")
            .unwrap();
        store
            .record_fill(&key, EntryKind::Rendition, Some(&source.id), 5, f.now)
            .unwrap();
    }
    let master = "i/p_,lo,hi,.mp4.csmil";
    cache
        .publish_bytes(&format!("{master}/master.m3u8"), b"#EXTM3U\n")
        .unwrap();
    store
        .record_fill(master, EntryKind::Master, None, 8, f.now)
        .unwrap();

    let report = run(&store, &cache, &f.config, false, f.now).unwrap();
    assert_eq!(report.evicted(), 0, "{}", report.summary());

    std::fs::write(media.join("p_lo.mp4"), "p_lo, but longer").unwrap();
    std::fs::remove_file(media.join("gone.mp4")).unwrap();
    let dry = run(&store, &cache, &f.config, true, f.now).unwrap();
    assert_eq!(dry.stale, 3, "{}", dry.summary());
    assert!(cache.path_of(master).exists());
    let report = run(&store, &cache, &f.config, false, f.now).unwrap();
    assert!(report.summary().contains("3 stale"), "{}", report.summary());
    for gone in ["i/p_lo.mp4", "i/gone.mp4", master] {
        assert!(!cache.path_of(gone).exists(), "{gone} survived");
    }
    let keys: Vec<String> = store.entries().unwrap().into_iter().map(|e| e.0).collect();
    assert_eq!(keys, ["i/p_hi.mp4"]);
}

#[test]
fn cli_sweeps_locally_when_no_worker_runs() {
    let f = fixture();
    {
        let store = Store::open(&f.config.db_path).unwrap();
        let cache = Cache::new(f.config.cache_root.clone()).unwrap();
        populate(&store, &cache, f.now);
        store.flush().unwrap();
    }
    // The Store above is dropped; sled lets go of its lock shortly after.
    let mut code = None;
    for _ in 0..100 {
        std::thread::sleep(Duration::from_millis(50));
        if Store::open(&f.config.db_path).is_ok() {
            std::thread::sleep(Duration::from_millis(100));
            code = Some(run_cli(&f.config, false));
            break;
        }
    }
    assert_eq!(code, Some(0));
    // Cache::new in the CLI emptied the scratch dir; the TTL and size victims went.
    for key in ["i/stale.mp4", "i/old.mp4", "i/busy.mp4"] {
        assert!(!f.config.cache_root.join(key).exists(), "{key}");
    }
    assert!(f.config.cache_root.join("i/new.mp4").exists());
}

#[test]
fn cli_fails_when_the_database_is_held_and_nobody_answers() {
    let f = fixture();
    let _held = Store::open(&f.config.db_path).unwrap();
    assert_eq!(run_cli(&f.config, true), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_asks_the_running_worker_over_the_control_socket() {
    let f = fixture();
    let store = Arc::new(Store::open(&f.config.db_path).unwrap());
    let cache = Cache::new(f.config.cache_root.clone()).unwrap();
    populate(&store, &cache, f.now);
    let _filling = cache.begin_fill("i/busy.mp4");
    let config = Arc::new(f.config.clone());
    let server = control::serve(
        &config.control_socket,
        control_handler(store.clone(), cache.clone(), config.clone()),
    )
    .unwrap();

    let cli_config = f.config.clone();
    let (dry_code, code) = tokio::task::spawn_blocking(move || {
        (run_cli(&cli_config, true), run_cli(&cli_config, false))
    })
    .await
    .unwrap();
    // The store stays open here the whole time: only the control path can work.
    assert_eq!((dry_code, code), (0, 0));
    for path in gone_after_sweep(&cache) {
        assert!(!path.exists(), "{} survived", path.display());
    }
    let pong = tokio::task::spawn_blocking(move || {
        control::request(
            &config.control_socket,
            ControlRequest::Ping,
            Duration::from_secs(5),
        )
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(pong, "pong");
    server.abort();
}

#[tokio::test]
async fn startup_reconcile_adopts_what_a_lost_database_forgot() {
    let f = fixture();
    let store = Arc::new(Store::open(&f.config.db_path).unwrap());
    let cache = Cache::new(f.config.cache_root.clone()).unwrap();
    cache
        .publish_bytes("i/left.mp4/segment1_0_av.ts", &[0; 42])
        .unwrap();
    spawn_startup_reconcile(store.clone(), cache).await.unwrap();
    assert_eq!(store.get("i/left.mp4").unwrap().unwrap().bytes, 42);
}

/// Fills and sweeps at once: a sweep that wants everything gone (1-byte limit)
/// must never take a file from under a fill that still holds its busy mark, and
/// afterwards the index must match the disk.
#[test]
fn sweeps_racing_with_fills_never_take_a_busy_entry() {
    let f = fixture();
    let config = Config {
        cache: crate::config::CacheConfig {
            max_cache_bytes: 1,
            ..f.config.cache.clone()
        },
        ..f.config.clone()
    };
    let store = Arc::new(Store::open(&config.db_path).unwrap());
    // No grace for answered entries: only the busy marks are under test here, and the
    // final sweep must take everything idle.
    let cache =
        Cache::with_answer_grace(config.cache_root.clone(), std::time::Duration::ZERO).unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sweeper = {
        let (store, cache, config, stop) =
            (store.clone(), cache.clone(), config.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut sweeps = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let report = run(&store, &cache, &config, false, crate::store::unix_now()).unwrap();
                assert_eq!(report.failed, 0, "{}", report.summary());
                sweeps += 1;
            }
            sweeps
        })
    };
    for i in 0..300 {
        let key = format!("i/r{}.mp4", i % 5);
        let guard = cache.begin_fill(&key);
        let file = format!("{key}/segment{i}_0_av.ts");
        cache.publish_bytes(&file, &[0; 100]).unwrap();
        store
            .record_fill(
                &key,
                EntryKind::Rendition,
                None,
                100,
                crate::store::unix_now(),
            )
            .unwrap();
        std::thread::yield_now();
        assert!(cache.path_of(&file).exists(), "{file} evicted while busy");
        drop(guard);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let sweeps = sweeper.join().unwrap();
    assert!(sweeps > 0);

    run(&store, &cache, &config, false, crate::store::unix_now()).unwrap();
    for (key, _) in store.entries().unwrap() {
        assert!(cache.path_of(&key).exists(), "index names a missing {key}");
    }
    for n in 0..5 {
        let key = format!("i/r{n}.mp4");
        assert!(
            !cache.path_of(&key).exists(),
            "{key} idle and over the limit"
        );
    }
}
