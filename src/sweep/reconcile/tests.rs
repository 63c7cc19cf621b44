//! Reconcile tests on a real cache directory and sled database.

use super::*;
use std::time::{Duration, SystemTime};

fn write(path: &Path, bytes: &[u8]) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, bytes).unwrap();
}

/// Sets the mtime of a file or directory to `secs_ago` seconds before now.
fn age(path: &Path, secs_ago: u64) -> u64 {
    let t = SystemTime::now() - Duration::from_secs(secs_ago);
    fs::File::open(path).unwrap().set_modified(t).unwrap();
    t.duration_since(UNIX_EPOCH).unwrap().as_secs()
}

#[test]
fn reconcile_adopts_remeasures_and_drops() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(dir.path().join("cache")).unwrap();
    let store = Store::open(&dir.path().join("db")).unwrap();
    let root = cache.root().to_path_buf();

    // A rendition the database does not know, with its source marker.
    let rendition = root.join("i/a/b.mp4");
    write(&rendition.join("index_0_av.m3u8"), &[b'p'; 100]);
    write(&rendition.join("segment1_0_av.ts"), &[b's'; 1000]);
    write(
        &rendition.join(SOURCE_MARKER),
        b"path=a/b.mp4\nsize=5\nmtime_ns=7\n",
    );
    age(&rendition.join("index_0_av.m3u8"), 300);
    age(&rendition.join(SOURCE_MARKER), 300);
    let newest = age(&rendition.join("segment1_0_av.ts"), 200);
    age(&rendition, 400);
    let marker_len = fs::metadata(rendition.join(SOURCE_MARKER)).unwrap().len();

    // A csmil master holding a playlist and a symlink (not followed).
    let master = root.join("i/p_,b,c,.mp4.csmil");
    write(&master.join("master.m3u8"), &[b'm'; 50]);
    std::os::unix::fs::symlink(
        "../a/b.mp4/segment1_0_av.ts",
        master.join("segment1_0_av.ts"),
    )
    .unwrap();
    let link_len = fs::symlink_metadata(master.join("segment1_0_av.ts"))
        .unwrap()
        .len();

    // A rendition dir without .mp4 in its name, known with the wrong size.
    write(&root.join("i/odd.mov/index_0_av.m3u8"), &[b'x'; 10]);
    store
        .record_fill("i/odd.mov", EntryKind::Rendition, None, 999, 1)
        .unwrap();
    // Known, but its directory is gone.
    store
        .record_fill("i/gone.mp4", EntryKind::Rendition, None, 5, 1)
        .unwrap();
    // Strays: a file among entry dirs, a leftover fill in the scratch dir.
    write(&root.join("i/stray.txt"), b"abc");
    write(&cache.tmp_dir().join("fill-x/segment1_0_av.ts"), &[0; 64]);

    let report = reconcile(&store, &cache, u64::MAX).unwrap();
    assert_eq!(
        (report.adopted, report.remeasured, report.dropped),
        (2, 1, 1)
    );

    let adopted = store.get("i/a/b.mp4").unwrap().unwrap();
    assert_eq!(adopted.kind, EntryKind::Rendition);
    assert_eq!(adopted.bytes, 1100 + marker_len);
    assert_eq!((adopted.created, adopted.last_access), (newest, newest));
    assert_eq!(
        adopted.source,
        Some(SourceId {
            path: "a/b.mp4".into(),
            size: 5,
            mtime_ns: 7
        })
    );
    let master_entry = store.get("i/p_,b,c,.mp4.csmil").unwrap().unwrap();
    assert_eq!(master_entry.kind, EntryKind::Master);
    assert_eq!(master_entry.bytes, 50 + link_len);
    assert_eq!(store.get("i/odd.mov").unwrap().unwrap().bytes, 10);
    assert_eq!(store.get("i/gone.mp4").unwrap(), None);

    let mut orphans: Vec<(String, u64)> = report
        .orphans
        .iter()
        .map(|o| (o.path.display().to_string(), o.bytes))
        .collect();
    orphans.sort();
    assert_eq!(
        orphans,
        [
            (".casterpak-tmp/fill-x".to_string(), 64),
            ("i/stray.txt".to_string(), 3)
        ]
    );

    // A second pass finds nothing to change.
    let again = reconcile(&store, &cache, u64::MAX).unwrap();
    assert_eq!((again.adopted, again.remeasured, again.dropped), (0, 0, 0));
}

#[test]
fn busy_entries_are_not_dropped_or_remeasured() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(dir.path().join("cache")).unwrap();
    let store = Store::open(&dir.path().join("db")).unwrap();
    write(&cache.path_of("i/filling.mp4/segment1_0_av.ts"), &[0; 10]);
    store
        .record_fill("i/filling.mp4", EntryKind::Rendition, None, 3, 1)
        .unwrap();
    store
        .record_fill("i/first_fill.mp4", EntryKind::Rendition, None, 3, 1)
        .unwrap();
    let _a = cache.begin_fill("i/filling.mp4");
    let _b = cache.begin_fill("i/first_fill.mp4");
    let report = reconcile(&store, &cache, 0).unwrap();
    assert_eq!((report.remeasured, report.dropped), (0, 0));
    assert_eq!(store.get("i/filling.mp4").unwrap().unwrap().bytes, 3);
    assert!(store.get("i/first_fill.mp4").unwrap().is_some());
}

#[test]
fn future_mtimes_are_capped_at_now() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(dir.path().join("cache")).unwrap();
    let store = Store::open(&dir.path().join("db")).unwrap();
    let file = cache.path_of("i/future.mp4/index_0_av.m3u8");
    write(&file, b"#EXTM3U\n");
    let later = SystemTime::now() + Duration::from_secs(3600);
    fs::File::open(&file).unwrap().set_modified(later).unwrap();
    let now = crate::store::unix_now();
    reconcile(&store, &cache, now).unwrap();
    assert_eq!(store.get("i/future.mp4").unwrap().unwrap().last_access, now);
}

#[test]
fn nginx_body_dir_is_left_alone() {
    // nginx's temp dir for live uploads: its user's (unreadable to the worker's, though
    // not to root, as these tests run), and its files are uploads in flight.
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(dir.path().join("cache")).unwrap();
    let body = cache.root().join(crate::live::NGINX_BODY_DIR);
    write(&body.join("0000000001"), &[0; 10]);
    write(&cache.path_of("i/a.mp4/index_0_av.m3u8"), &[0; 5]);
    let walk = walk_cache(cache.root()).unwrap();
    assert!(walk.orphans.is_empty(), "{:?}", walk.orphans);
    let keys: Vec<&str> = walk.entries.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["i/a.mp4"]);
}
