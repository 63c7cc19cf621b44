//! Store tests on real sled databases in temp dirs.

use super::*;

fn source() -> SourceId {
    SourceId {
        path: "a/b.mp4".into(),
        size: 100,
        mtime_ns: 5,
    }
}

#[test]
fn record_touch_get_remove() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db")).unwrap();
    assert_eq!(store.get("i/a/b.mp4").unwrap(), None);

    store
        .record_fill("i/a/b.mp4", EntryKind::Rendition, Some(&source()), 10, 1000)
        .unwrap();
    store
        .record_fill("i/a/b.mp4", EntryKind::Rendition, None, 5, 1010)
        .unwrap();
    let expected = Entry {
        kind: EntryKind::Rendition,
        source: Some(source()),
        bytes: 15,
        created: 1000,
        last_access: 1010,
    };
    assert_eq!(store.get("i/a/b.mp4").unwrap(), Some(expected.clone()));

    // Touch keeps the newest time; an older hit arriving late changes nothing.
    store
        .touch(&[("i/a/b.mp4".into(), 2000), ("i/a/b.mp4".into(), 1500)])
        .unwrap();
    let touched = store.get("i/a/b.mp4").unwrap().unwrap();
    assert_eq!(touched.last_access, 2000);
    assert_eq!(touched.bytes, 15);

    // A hit on an unknown key creates a measurable placeholder.
    store
        .touch(&[("i/p_,a,b,.mp4.csmil".into(), 3000)])
        .unwrap();
    let master = store.get("i/p_,a,b,.mp4.csmil").unwrap().unwrap();
    assert_eq!(master.kind, EntryKind::Master);
    assert_eq!((master.bytes, master.created), (0, 3000));

    let keys: Vec<String> = store.entries().unwrap().into_iter().map(|e| e.0).collect();
    assert_eq!(keys, ["i/a/b.mp4", "i/p_,a,b,.mp4.csmil"]);

    store.remove("i/a/b.mp4").unwrap();
    assert_eq!(store.get("i/a/b.mp4").unwrap(), None);
    store.flush().unwrap();
}

#[test]
fn adopt_never_overwrites_and_set_bytes_keeps_times() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db")).unwrap();
    store
        .record_fill("k.mp4", EntryKind::Rendition, None, 1, 50)
        .unwrap();
    let disk = Entry {
        kind: EntryKind::Rendition,
        source: None,
        bytes: 999,
        created: 1,
        last_access: 1,
    };
    assert!(!store.adopt("k.mp4", &disk).unwrap());
    assert!(store.adopt("other.mp4", &disk).unwrap());
    assert_eq!(store.get("other.mp4").unwrap(), Some(disk));
    store.set_bytes("k.mp4", 77).unwrap();
    let entry = store.get("k.mp4").unwrap().unwrap();
    assert_eq!((entry.bytes, entry.last_access), (77, 50));
    // set_bytes on an unknown key does not invent one.
    store.set_bytes("nothing.mp4", 1).unwrap();
    assert_eq!(store.get("nothing.mp4").unwrap(), None);
}

#[test]
fn data_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    {
        let store = Store::open(&path).unwrap();
        store
            .record_fill("x.mp4", EntryKind::Rendition, Some(&source()), 42, 7)
            .unwrap();
        store.flush().unwrap();
    }
    // sled releases its lock when its background threads let go of the Db.
    let store = retry_open(&path);
    assert_eq!(store.get("x.mp4").unwrap().unwrap().bytes, 42);
}

fn retry_open(path: &Path) -> Store {
    for _ in 0..100 {
        match Store::open(path) {
            Ok(store) => return store,
            Err(StoreError::Locked { .. }) => {
                std::thread::sleep(std::time::Duration::from_millis(50))
            }
            Err(e) => panic!("reopen failed: {e}"),
        }
    }
    panic!("database stayed locked after drop");
}

#[test]
fn corrupt_database_is_moved_aside_and_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    {
        let store = Store::open(&path).unwrap();
        store
            .record_fill("x.mp4", EntryKind::Rendition, None, 42, 7)
            .unwrap();
        store.flush().unwrap();
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    for name in ["conf", "db"] {
        std::fs::write(path.join(name), b"this is not a sled file at all").unwrap();
    }
    let store = retry_open(&path);
    assert_eq!(store.entries().unwrap(), vec![]);
    let aside: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("db.corrupt-"))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
}

#[test]
fn undecodable_values_are_skipped_and_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db")).unwrap();
    store
        .entries
        .insert("bad.mp4", &b"\x09garbage"[..])
        .unwrap();
    store
        .record_fill("good.mp4", EntryKind::Rendition, None, 1, 1)
        .unwrap();
    assert_eq!(store.get("bad.mp4").unwrap(), None);
    let keys: Vec<String> = store.entries().unwrap().into_iter().map(|e| e.0).collect();
    assert_eq!(keys, ["good.mp4"]);
    assert!(store.entries.get("bad.mp4").unwrap().is_none());
}

/// Set in the re-invoked test binary: the path of a database the parent holds.
const PROBE_ENV: &str = "CASTERPAK_STORE_LOCK_PROBE";

/// The parent opens a database and runs this same test in a second process,
/// which must get `Locked` (a thread in one process would not exercise the
/// file lock the way a cron `--sweep` meets it).
#[test]
fn second_process_gets_locked() {
    if let Some(path) = std::env::var_os(PROBE_ENV) {
        match Store::open(Path::new(&path)) {
            Err(StoreError::Locked { .. }) => println!("probe: locked as expected"),
            Err(e) => panic!("expected Locked, got {e}"),
            Ok(_) => panic!("second process opened a held database"),
        }
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let _held = Store::open(&path).unwrap();
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "store::tests::second_process_gets_locked",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(PROBE_ENV, &path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "probe failed: {stdout}");
    assert!(stdout.contains("probe: locked as expected"), "{stdout}");
    assert!(stdout.contains("1 passed"), "{stdout}");
}
