//! Freshness: verdicts, hit-key mapping and the recheck clock as tables, then the
//! hit-path checker on a real media root, cache directory and sled database.

use super::*;
use crate::entry::SOURCE_MARKER;
use crate::error::SourceError;
use std::sync::Arc;

fn id(path: &str, size: u64, mtime_ns: i128) -> SourceId {
    SourceId {
        path: path.into(),
        size,
        mtime_ns,
    }
}

fn keys(list: &[&str]) -> Vec<String> {
    list.iter().map(|k| k.to_string()).collect()
}

#[test]
fn judge_table() {
    let recorded = id("a/b.mp4", 100, 5);
    let found = Ok;
    let cases = [
        ("same", found(id("a/b.mp4", 100, 5)), Verdict::Fresh),
        ("size", found(id("a/b.mp4", 101, 5)), Verdict::Changed),
        ("mtime", found(id("a/b.mp4", 100, 6)), Verdict::Changed),
        (
            "gone",
            Err(SourceError::NotFound("a/b.mp4".into())),
            Verdict::Vanished,
        ),
        (
            "eio",
            Err(SourceError::Io(crate::error::IoCause::of_errno(
                nix::errno::Errno::EIO,
            ))),
            Verdict::Unknown,
        ),
    ];
    for (name, fresh, want) in cases {
        assert_eq!(judge(&recorded, &fresh), want, "{name}");
    }
    assert!(Verdict::Changed.is_stale() && Verdict::Vanished.is_stale());
    assert!(!Verdict::Fresh.is_stale() && !Verdict::Unknown.is_stale());
}

#[test]
fn renditions_of_hits_table() {
    let cases: [(&[&str], &[&str]); 4] = [
        (&["i/a.mp4"], &["i/a.mp4"]),
        // A csmil segment hit maps to the master dir and the rendition.
        (
            &["i/p_,lo,hi,.mp4.csmil", "i/p_lo.mp4"],
            &["i/p_lo.mp4", "i/p_hi.mp4"],
        ),
        (&["i/a.mp4", "i/a.mp4"], &["i/a.mp4"]),
        (&["i/nocomma.csmil"], &[]),
    ];
    for (hits, want) in cases {
        assert_eq!(renditions_of_hits(&keys(hits)), keys(want), "{hits:?}");
    }
}

#[test]
fn recheck_clock_waits_and_stays_bounded() {
    let start = Instant::now();
    let every = Duration::from_secs(2);
    let mut clock = RecheckClock::new(every, 3);
    assert!(clock.due("a", start));
    assert!(!clock.due("a", start + Duration::from_secs(1)));
    assert!(clock.due("a", start + every));
    clock.forget("a");
    assert!(clock.due("a", start + every));

    for key in ["b", "c"] {
        assert!(clock.due(key, start + every));
    }
    assert_eq!(clock.len(), 3);
    // Full, all recent: cleared rather than grown.
    assert!(clock.due("d", start + every));
    assert_eq!(clock.len(), 1);
    // Full again: only those whose check is old are forgotten.
    assert!(clock.due("e", start + every * 2));
    assert!(clock.due("f", start + every * 3));
    assert!(clock.due("g", start + every * 3));
    assert_eq!(clock.len(), 2, "d and e were old enough to forget");
    assert!(!clock.due("f", start + every * 3));
}

struct World {
    _dir: tempfile::TempDir,
    media: std::path::PathBuf,
    cache: Cache,
    store: Arc<Store>,
    root: MediaRoot,
}

const MASTER: &str = "i/p_,lo,hi,.mp4.csmil";

/// Two renditions packaged from p_lo.mp4 and p_hi.mp4, a csmil master over both,
/// and an unrelated single rendition.
fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let media = dir.path().join("media");
    std::fs::create_dir_all(&media).unwrap();
    let cache = Cache::new(dir.path().join("cache")).unwrap();
    let store = Arc::new(Store::open(&dir.path().join("db")).unwrap());
    let root_path = media.clone();
    for name in ["p_lo", "p_hi", "x"] {
        std::fs::write(media.join(format!("{name}.mp4")), name.as_bytes()).unwrap();
    }
    let root = MediaRoot::new(&root_path).unwrap();
    for name in ["p_lo", "p_hi", "x"] {
        let key = format!("i/{name}.mp4");
        let source = root.resolve(&format!("{name}.mp4")).unwrap();
        cache
            .publish_bytes(&format!("{key}/segment1_0_av.ts"), b"old")
            .unwrap();
        store
            .record_fill(&key, EntryKind::Rendition, Some(&source.id), 3, 1)
            .unwrap();
    }
    cache
        .publish_bytes(&format!("{MASTER}/master.m3u8"), b"#EXTM3U\n")
        .unwrap();
    store
        .record_fill(MASTER, EntryKind::Master, None, 8, 1)
        .unwrap();
    World {
        _dir: dir,
        media,
        cache,
        store,
        root,
    }
}

fn entry_keys(store: &Store) -> Vec<String> {
    store.entries().unwrap().into_iter().map(|e| e.0).collect()
}

#[test]
fn a_hit_on_a_changed_source_evicts_rendition_and_masters() {
    let w = world();
    let fresh = Freshness::new(w.root.clone(), w.cache.clone(), w.store.clone());
    let hits = keys(&["i/p_lo.mp4", "i/x.mp4"]);
    assert_eq!(fresh.check_hits(&hits), 0, "nothing changed yet");
    std::fs::write(w.media.join("p_lo.mp4"), b"a longer new version").unwrap();
    assert_eq!(fresh.check_hits(&hits), 0, "checked less than 2 s ago");

    let now_checking = Freshness::with_interval(
        w.root.clone(),
        w.cache.clone(),
        w.store.clone(),
        Duration::ZERO,
    );
    assert_eq!(now_checking.check_hits(&hits), 2);
    assert!(!w.cache.path_of("i/p_lo.mp4").exists());
    assert!(!w.cache.path_of(MASTER).exists());
    assert!(w.cache.path_of("i/p_hi.mp4/segment1_0_av.ts").exists());
    assert!(w.cache.path_of("i/x.mp4/segment1_0_av.ts").exists());
    assert_eq!(entry_keys(&w.store), keys(&["i/p_hi.mp4", "i/x.mp4"]));
}

#[test]
fn a_master_hit_checks_its_renditions_and_a_vanished_source_is_stale() {
    let w = world();
    std::fs::remove_file(w.media.join("p_hi.mp4")).unwrap();
    let fresh = Freshness::new(w.root.clone(), w.cache.clone(), w.store.clone());
    assert_eq!(fresh.check_hits(&keys(&[MASTER])), 2);
    assert!(!w.cache.path_of("i/p_hi.mp4").exists());
    assert!(!w.cache.path_of(MASTER).exists());
    assert_eq!(entry_keys(&w.store), keys(&["i/p_lo.mp4", "i/x.mp4"]));
}

#[test]
fn a_busy_rendition_stays_and_is_checked_again() {
    let w = world();
    std::fs::write(w.media.join("x.mp4"), b"changed!").unwrap();
    let fresh = Freshness::new(w.root.clone(), w.cache.clone(), w.store.clone());
    let filling = w.cache.begin_fill("i/x.mp4");
    assert_eq!(fresh.check_hits(&keys(&["i/x.mp4"])), 0);
    assert!(w.cache.path_of("i/x.mp4/segment1_0_av.ts").exists());
    drop(filling);
    assert_eq!(fresh.check_hits(&keys(&["i/x.mp4"])), 1, "not rechecked");
}

#[test]
fn without_a_database_source_the_marker_identifies_the_rendition() {
    let w = world();
    let source = w.root.resolve("x.mp4").unwrap();
    let marker = format!(
        "{}\n{}\n{}\n",
        source.id.size, source.id.mtime_ns, source.id.path
    );
    w.cache
        .publish_bytes(&format!("i/x.mp4/{SOURCE_MARKER}"), marker.as_bytes())
        .unwrap();
    w.store.remove("i/x.mp4").unwrap();
    w.store.touch(&[("i/x.mp4".to_string(), 5)]).unwrap();
    assert_eq!(w.store.get("i/x.mp4").unwrap().unwrap().source, None);
    let fresh = Freshness::with_interval(
        w.root.clone(),
        w.cache.clone(),
        w.store.clone(),
        Duration::ZERO,
    );
    assert_eq!(fresh.check_hits(&keys(&["i/x.mp4"])), 0);
    std::fs::write(w.media.join("x.mp4"), b"changed!").unwrap();
    assert_eq!(fresh.check_hits(&keys(&["i/x.mp4"])), 1);
}

#[test]
fn sweep_lookup_lists_changed_and_vanished_renditions() {
    let w = world();
    std::fs::write(w.media.join("p_lo.mp4"), b"changed").unwrap();
    std::fs::remove_file(w.media.join("x.mp4")).unwrap();
    let entries = w.store.entries().unwrap();
    let mut stale: Vec<String> = stale_renditions(&entries, &w.root, &w.cache)
        .into_iter()
        .collect();
    stale.sort();
    assert_eq!(stale, keys(&["i/p_lo.mp4", "i/x.mp4"]));
}

#[test]
fn an_emptied_media_root_evicts_nothing() {
    let w = world();
    for name in ["p_lo", "p_hi", "x"] {
        std::fs::remove_file(w.media.join(format!("{name}.mp4"))).unwrap();
    }
    let fresh = Freshness::new(w.root.clone(), w.cache.clone(), w.store.clone());
    assert_eq!(fresh.check_hits(&keys(&["i/p_lo.mp4", "i/x.mp4"])), 0);
    let entries = w.store.entries().unwrap();
    assert!(stale_renditions(&entries, &w.root, &w.cache).is_empty());
    assert_eq!(entry_keys(&w.store).len(), 4);
}
