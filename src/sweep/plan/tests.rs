//! Table tests of the sweep plan.

use super::*;

const NOW: u64 = 1_000_000;
const TTL: u64 = 100;
const GRACE: u64 = 50;
const LIMIT: u64 = 1000;

fn config() -> CacheConfig {
    CacheConfig {
        segment_ttl_secs: TTL,
        max_cache_bytes: LIMIT,
        orphan_grace_secs: GRACE,
        ..CacheConfig::default()
    }
}

/// An entry `age` seconds since its last access.
fn e(key: &str, bytes: u64, age: u64) -> (String, Entry) {
    let kind = if key.ends_with(".csmil") {
        EntryKind::Master
    } else {
        EntryKind::Rendition
    };
    (
        key.to_string(),
        Entry {
            kind,
            source: None,
            bytes,
            created: NOW - age - 10,
            last_access: NOW - age,
        },
    )
}

fn orphan(path: &str, bytes: u64, age: u64) -> Orphan {
    Orphan {
        path: PathBuf::from(path),
        bytes,
        mtime: NOW - age,
    }
}

struct Case {
    name: &'static str,
    entries: Vec<(String, Entry)>,
    orphans: Vec<Orphan>,
    busy: &'static [&'static str],
    /// (target, reason) in plan order; orphans are written with a leading "orphan:".
    evicted: Vec<(&'static str, Reason)>,
    kept_entries: usize,
    kept_bytes: u64,
    busy_skipped: usize,
}

fn describe(eviction: &Eviction) -> (String, Reason) {
    let target = match &eviction.target {
        Target::Entry(key) => key.clone(),
        Target::Orphan(path) => format!("orphan:{}", path.display()),
    };
    (target, eviction.reason)
}

#[test]
fn plan_table() {
    use Reason::*;
    let cases = vec![
        Case {
            name: "fresh and under the limit: nothing goes",
            entries: vec![e("i/a.mp4", 300, 5), e("i/b.mp4", 300, 99)],
            orphans: vec![],
            busy: &[],
            evicted: vec![],
            kept_entries: 2,
            kept_bytes: 600,
            busy_skipped: 0,
        },
        Case {
            name: "ttl: older than the ttl goes, exactly the ttl stays",
            entries: vec![e("i/old.mp4", 10, TTL + 1), e("i/edge.mp4", 20, TTL)],
            orphans: vec![],
            busy: &[],
            evicted: vec![("i/old.mp4", Ttl)],
            kept_entries: 1,
            kept_bytes: 20,
            busy_skipped: 0,
        },
        Case {
            name: "size: oldest access first until under the limit",
            entries: vec![
                e("i/newest.mp4", 400, 1),
                e("i/oldest.mp4", 400, 30),
                e("i/middle.mp4", 400, 20),
                e("i/newer.mp4", 400, 10),
            ],
            orphans: vec![],
            busy: &[],
            evicted: vec![("i/oldest.mp4", Size), ("i/middle.mp4", Size)],
            kept_entries: 2,
            kept_bytes: 800,
            busy_skipped: 0,
        },
        Case {
            name: "ttl evictions count toward the limit; ties break by key",
            entries: vec![
                e("i/stale.mp4", 5000, TTL + 5),
                e("i/b.mp4", 600, 7),
                e("i/a.mp4", 600, 7),
            ],
            orphans: vec![],
            busy: &[],
            evicted: vec![("i/stale.mp4", Ttl), ("i/a.mp4", Size)],
            kept_entries: 1,
            kept_bytes: 600,
            busy_skipped: 0,
        },
        Case {
            name: "busy entries are never evicted, by ttl or size",
            entries: vec![
                e("i/stale_busy.mp4", 100, TTL + 1),
                e("i/oldest_busy.mp4", 800, 50),
                e("i/next.mp4", 800, 40),
            ],
            orphans: vec![],
            busy: &["i/stale_busy.mp4", "i/oldest_busy.mp4"],
            evicted: vec![("i/next.mp4", Size)],
            kept_entries: 2,
            kept_bytes: 900,
            busy_skipped: 2,
        },
        Case {
            name: "masters go by ttl and size like renditions",
            entries: vec![
                e("i/p_,a,.mp4.csmil", 10, TTL + 1),
                e("i/q_,a,.mp4.csmil", 10, 40),
                e("i/q_a.mp4", 995, 1),
            ],
            orphans: vec![],
            busy: &[],
            evicted: vec![("i/p_,a,.mp4.csmil", Ttl), ("i/q_,a,.mp4.csmil", Size)],
            kept_entries: 1,
            kept_bytes: 995,
            busy_skipped: 0,
        },
        Case {
            name: "a master whose renditions are all gone goes once past the grace",
            entries: vec![
                e("i/gone_,lo,hi,.mp4.csmil", 10, GRACE + 1),
                e("i/fresh_,lo,.mp4.csmil", 10, GRACE),
                e("i/half_,lo,hi,.mp4.csmil", 10, GRACE + 1),
                e("i/half_hi.mp4", 100, 1),
                e("i/stale_,x,.mp4.csmil", 10, GRACE + 1),
                e("i/stale_x.mp4", 100, TTL + 1),
            ],
            orphans: vec![],
            busy: &[],
            evicted: vec![
                ("i/stale_x.mp4", Ttl),
                ("i/gone_,lo,hi,.mp4.csmil", Dangling),
                ("i/stale_,x,.mp4.csmil", Dangling),
            ],
            kept_entries: 3,
            kept_bytes: 120,
            busy_skipped: 0,
        },
        Case {
            name: "orphans go after the grace; young ones count toward the limit",
            entries: vec![e("i/a.mp4", 500, 3), e("i/b.mp4", 500, 2)],
            orphans: vec![
                orphan(".casterpak-tmp/fill-old", 7000, GRACE + 1),
                orphan("i/stray.txt", 300, GRACE),
            ],
            busy: &[],
            evicted: vec![
                ("orphan:.casterpak-tmp/fill-old", Orphan),
                ("i/a.mp4", Size),
            ],
            kept_entries: 1,
            kept_bytes: 800,
            busy_skipped: 0,
        },
    ];
    for case in cases {
        let busy = case.busy;
        let plan = plan(
            &case.entries,
            &case.orphans,
            &HashSet::new(),
            &config(),
            NOW,
            &|k| busy.contains(&k),
        );
        let got: Vec<(String, Reason)> = plan.evictions.iter().map(describe).collect();
        let want: Vec<(String, Reason)> = case
            .evicted
            .iter()
            .map(|(t, r)| (t.to_string(), *r))
            .collect();
        assert_eq!(got, want, "{}", case.name);
        assert_eq!(
            (plan.kept_entries, plan.kept_bytes, plan.busy_skipped),
            (case.kept_entries, case.kept_bytes, case.busy_skipped),
            "{}",
            case.name
        );
    }
}

#[test]
fn eviction_bytes_come_from_the_entries() {
    let entries = vec![e("i/a.mp4", 1234, TTL + 1)];
    let orphans = vec![orphan("x", 99, GRACE + 1)];
    let plan = plan(&entries, &orphans, &HashSet::new(), &config(), NOW, &|_| {
        false
    });
    let bytes: Vec<u64> = plan.evictions.iter().map(|e| e.bytes).collect();
    assert_eq!(bytes, [1234, 99]);
}

#[test]
fn stale_renditions_go_first_with_the_masters_listing_them() {
    use Reason::*;
    let entries = vec![
        e("i/p_,hi,.mp4.csmil", 10, 0),
        e("i/p_,lo,hi,.mp4.csmil", 10, 0),
        e("i/p_hi.mp4", 400, 0),
        e("i/p_lo.mp4", 400, 0),
        e("i/old.mp4", 100, TTL + 1),
        e("i/q_,lo,.mp4.csmil", 10, 0),
        e("i/q_lo.mp4", 300, 0),
    ];
    let stale = HashSet::from(["i/p_lo.mp4".to_string(), "i/q_lo.mp4".to_string()]);
    let busy = ["i/q_lo.mp4"];
    let plan = plan(&entries, &[], &stale, &config(), NOW, &|k| {
        busy.contains(&k)
    });
    let got: Vec<(String, Reason)> = plan.evictions.iter().map(describe).collect();
    let want = [
        ("i/p_,lo,hi,.mp4.csmil", Stale),
        ("i/p_lo.mp4", Stale),
        ("i/q_,lo,.mp4.csmil", Stale),
        ("i/old.mp4", Ttl),
    ];
    let want: Vec<(String, Reason)> = want.iter().map(|(k, r)| (k.to_string(), *r)).collect();
    assert_eq!(got, want);
    // The busy stale rendition stays (its fill finishes first) and is counted once.
    assert_eq!(
        (plan.kept_entries, plan.kept_bytes, plan.busy_skipped),
        (3, 710, 1)
    );
}
