//! The marker format as a table, the masters that go with a rendition, and
//! evict-and-forget on a real cache directory and sled database.

use super::*;

#[test]
fn source_marker_table() {
    let full = Some(SourceId {
        path: "/srv/media/a b=c.mp4".into(),
        size: 16_000_000,
        mtime_ns: 1_700_000_000_123_456_789,
    });
    let cases: [(&str, &str, Option<SourceId>); 10] = [
        (
            "complete",
            "path=/srv/media/a b=c.mp4\nsize=16000000\nmtime_ns=1700000000123456789\n",
            full.clone(),
        ),
        (
            "any order, unknown keys and junk ignored",
            "junk\nmtime_ns=1700000000123456789\nversion=2\nsize=16000000\npath=/srv/media/a b=c.mp4",
            full.clone(),
        ),
        (
            "the packager's bare lines: size, mtime_ns, path",
            "16000000\n1700000000123456789\n/srv/media/a b=c.mp4\n",
            full.clone(),
        ),
        ("bare lines, path missing", "16000000\n1700000000123456789\n", None),
        ("bare lines, size not a number", "x\n1\n/a.mp4\n", None),
        ("empty", "", None),
        ("size missing", "path=/a.mp4\nmtime_ns=1\n", None),
        ("size not a number", "path=/a.mp4\nsize=-1\nmtime_ns=1\n", None),
        ("empty path", "path=\nsize=1\nmtime_ns=1\n", None),
        (
            "negative mtime is valid",
            "path=/a.mp4\nsize=0\nmtime_ns=-5\n",
            Some(SourceId {
                path: "/a.mp4".into(),
                size: 0,
                mtime_ns: -5,
            }),
        ),
    ];
    for (name, text, expected) in cases {
        assert_eq!(parse_marker(text), expected, "{name}");
    }
}

#[test]
fn masters_listing_picks_masters_over_stale_renditions() {
    let stale: HashSet<String> = HashSet::from(["i/p_lo.mp4".to_string()]);
    let masters = [
        "i/p_,lo,hi,.mp4.csmil",
        "i/p_,hi,.mp4.csmil",
        "i/q_,lo,.mp4.csmil",
        "j/p_,lo,.mp4.csmil",
    ];
    assert_eq!(masters_listing(masters, &stale), ["i/p_,lo,hi,.mp4.csmil"]);
}

#[test]
fn evict_and_forget_drops_the_row_only_when_the_entry_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(dir.path().join("c")).unwrap();
    let store = Store::open(&dir.path().join("db")).unwrap();
    let kind = crate::store::EntryKind::Rendition;
    for key in ["i/a.mp4", "i/b.mp4"] {
        cache
            .publish_bytes(&format!("{key}/segment1_0_av.ts"), b"TS")
            .unwrap();
        store.record_fill(key, kind, None, 2, 1).unwrap();
    }
    let outcome = evict_and_forget(&cache, Some(&store), "i/a.mp4", Spare::Busy).unwrap();
    assert_eq!(outcome, SweepEviction::Evicted(2));
    assert_eq!(store.get("i/a.mp4").unwrap(), None);
    // Busy: stays, and so does its row.
    let fill = cache.begin_fill("i/b.mp4");
    let outcome = evict_and_forget(&cache, Some(&store), "i/b.mp4", Spare::Busy).unwrap();
    assert_eq!(outcome, SweepEviction::Busy);
    assert!(store.get("i/b.mp4").unwrap().is_some());
    drop(fill);
    // Just answered for (the fill's end marks it): the sweep's kind spares it.
    let outcome = evict_and_forget(&cache, Some(&store), "i/b.mp4", Spare::Answered).unwrap();
    assert_eq!(outcome, SweepEviction::Answered);
    assert!(store.get("i/b.mp4").unwrap().is_some());
    // Absent: the row of a vanished entry goes.
    store.record_fill("i/c.mp4", kind, None, 2, 1).unwrap();
    let outcome = evict_and_forget(&cache, Some(&store), "i/c.mp4", Spare::Busy).unwrap();
    assert_eq!(outcome, SweepEviction::Absent);
    assert_eq!(store.get("i/c.mp4").unwrap(), None);
}

/// A cache in a temp dir and the identity of a source `a.mp4`.
fn cache_and_source() -> (tempfile::TempDir, Cache, SourceId) {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(dir.path().join("c")).unwrap();
    let id = SourceId {
        path: "a.mp4".into(),
        size: 5,
        mtime_ns: 7,
    };
    (dir, cache, id)
}

#[test]
fn a_marker_other_than_the_opened_source_is_stale() {
    let (_dir, cache, id) = cache_and_source();
    let other = SourceId {
        size: 6,
        ..id.clone()
    };
    assert_eq!(on_miss(&cache, "i/a.mp4", &id).unwrap(), OnMiss::Absent);
    std::fs::create_dir_all(cache.path_of("i/a.mp4")).unwrap();
    assert_eq!(
        on_miss(&cache, "i/a.mp4", &id).unwrap(),
        OnMiss::Stale,
        "dir, no marker"
    );
    publish_marker(&cache, "i/a.mp4", &id).unwrap();
    assert_eq!(publish_marker(&cache, "i/a.mp4", &other).unwrap(), 0);
    assert_eq!(
        read_marker(&cache, "i/a.mp4").unwrap(),
        Marker::Names(id.clone())
    );
    assert_eq!(on_miss(&cache, "i/a.mp4", &id).unwrap(), OnMiss::Fresh);
    assert_eq!(on_miss(&cache, "i/a.mp4", &other).unwrap(), OnMiss::Stale);
}

/// A marker of another layout (the three lines before `layout=` existed, or a
/// future number) still names its source, for the sweep's accounting, but its
/// files are stale on the next miss: a cache never mixes files of two cuts.
#[test]
fn a_marker_of_another_layout_names_its_source_and_is_stale() {
    let (_dir, cache, id) = cache_and_source();
    assert_eq!(marker_text(&id), format!("5\n7\na.mp4\nlayout={LAYOUT}\n"));
    std::fs::create_dir_all(cache.path_of("i/a.mp4")).unwrap();
    let marker = cache.path_of("i/a.mp4").join(SOURCE_MARKER);
    for (text, fresh) in [
        ("5\n7\na.mp4\n".to_string(), false),
        (format!("5\n7\na.mp4\nlayout={}\n", LAYOUT + 1), false),
        ("5\n7\na.mp4\nlayout=x\n".to_string(), false),
        (marker_text(&id), true),
    ] {
        std::fs::write(&marker, &text).unwrap();
        let read = read_marker(&cache, "i/a.mp4").unwrap();
        assert_eq!(read.clone().source(), Some(id.clone()), "{text:?}");
        assert_eq!(read == Marker::Names(id.clone()), fresh, "{text:?}");
        let verdict = on_miss(&cache, "i/a.mp4", &id).unwrap();
        assert_eq!(verdict == OnMiss::Fresh, fresh, "{text:?}: {verdict:?}");
    }
}
