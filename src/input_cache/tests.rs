use super::blocks::BLOCK;
use super::*;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};

fn object(size: u64) -> Vec<u8> {
    (0..size).map(|i| (i * 31 % 251) as u8).collect()
}

fn mtime(copy: &LocalCopy) -> (i64, i64) {
    let st = nix::sys::stat::fstat(copy.file().as_raw_fd()).unwrap();
    (st.st_mtime, st.st_mtime_nsec)
}

#[test]
fn fills_fetch_only_absent_blocks_and_keep_the_mtime() {
    let dir = tempfile::tempdir().unwrap();
    let cache = InputCache::new(&dir.path().join("in")).unwrap();
    let body = object(10 * BLOCK + 100);
    let copy = cache
        .open("http://h/a.mp4 etag:\"1\"", body.len() as u64)
        .unwrap();
    let pinned = mtime(&copy);
    let calls = AtomicU64::new(0);
    let mut fetch = |s: u64, e: u64| {
        calls.fetch_add(1, Ordering::SeqCst);
        Ok::<_, ()>(body[s as usize..e as usize].to_vec())
    };
    assert_eq!(copy.read(0, 10), None, "nothing present yet");
    assert_eq!(copy.fill(&[(5, 10)], &mut fetch).unwrap(), BLOCK);
    assert_eq!(copy.read(5, 5).unwrap(), &body[5..10]);
    assert_eq!(copy.fill(&[(0, BLOCK)], &mut fetch).unwrap(), 0);
    let tail = (body.len() as u64 - 50, body.len() as u64);
    assert_eq!(copy.fill(&[tail], &mut fetch).unwrap(), 100);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(copy.present_bytes(), BLOCK + 100);
    assert_eq!(mtime(&copy), pinned, "writes do not move the mtime");
    // The record survives a reopen (a restart): the blocks stay present.
    drop(copy);
    let again = cache
        .open("http://h/a.mp4 etag:\"1\"", body.len() as u64)
        .unwrap();
    assert_eq!(again.read(5, 5).unwrap(), &body[5..10]);
    assert_eq!(mtime(&again), pinned);
    // Another version of the object starts empty.
    let other = cache
        .open("http://h/a.mp4 etag:\"2\"", body.len() as u64)
        .unwrap();
    assert_eq!(other.read(5, 5), None);
    assert_ne!(mtime(&other), pinned);
}

#[test]
fn a_failed_or_short_fetch_marks_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cache = InputCache::new(dir.path()).unwrap();
    let copy = cache.open("x", 3 * BLOCK).unwrap();
    let err = copy.fill(&[(0, 3 * BLOCK)], &mut |_, _| Err::<Vec<u8>, _>("down"));
    assert!(matches!(err, Err(FillError::Fetch("down"))));
    let short = copy.fill(&[(0, 10)], &mut |_, _| Ok::<_, ()>(vec![1; 10]));
    assert!(matches!(short, Err(FillError::Disk(_))));
    assert_eq!(copy.present_bytes(), 0);
    assert_eq!(copy.read(0, 1), None);
}

#[test]
fn concurrent_fills_of_one_range_fetch_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let cache = InputCache::new(dir.path()).unwrap();
    let body = object(8 * BLOCK);
    let copy = Arc::new(cache.open("y", body.len() as u64).unwrap());
    let fetched = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (copy, fetched, body) = (copy.clone(), fetched.clone(), body.clone());
            std::thread::spawn(move || {
                copy.fill(&[(0, 8 * BLOCK)], &mut |s, e| {
                    fetched.fetch_add(e - s, Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    Ok::<_, ()>(body[s as usize..e as usize].to_vec())
                })
                .unwrap();
                assert_eq!(copy.read(0, 8 * BLOCK).unwrap(), body);
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(fetched.load(Ordering::SeqCst), 8 * BLOCK);
}

/// Two fills of other bytes of one copy fetch at once: each fetch waits (5 s at most)
/// until both are under way, which never happens if fills are serialised.
#[test]
fn fills_of_other_bytes_of_one_copy_fetch_side_by_side() {
    let dir = tempfile::tempdir().unwrap();
    let cache = InputCache::new(dir.path()).unwrap();
    let body = object(8 * BLOCK);
    let copy = Arc::new(cache.open("w", body.len() as u64).unwrap());
    let under_way = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = [(0, 4 * BLOCK), (4 * BLOCK, 8 * BLOCK)]
        .into_iter()
        .map(|range| {
            let (copy, under_way, body) = (copy.clone(), under_way.clone(), body.clone());
            std::thread::spawn(move || {
                let mut met = false;
                copy.fill(&[range], &mut |s, e| {
                    under_way.fetch_add(1, Ordering::SeqCst);
                    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
                    while !met && std::time::Instant::now() < deadline {
                        met = under_way.load(Ordering::SeqCst) == 2;
                        std::thread::yield_now();
                    }
                    Ok::<_, ()>(body[s as usize..e as usize].to_vec())
                })
                .unwrap();
                met
            })
        })
        .collect();
    for t in threads {
        assert!(
            t.join().unwrap(),
            "the other fill was not fetching meanwhile"
        );
    }
    assert_eq!(copy.read(0, 8 * BLOCK).unwrap(), body);
}

/// Overlapping fills fetch each block once: the second fetches what the first does
/// not, waits for the rest, and one that fails leaves its blocks to the waiter.
#[test]
fn overlapping_fills_fetch_each_block_once_and_a_failed_one_leaves_its_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let cache = InputCache::new(dir.path()).unwrap();
    let body = object(8 * BLOCK);
    let copy = Arc::new(cache.open("v", body.len() as u64).unwrap());
    let fetched = Arc::new(Mutex::new(Vec::new()));
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let first = {
        let (copy, fetched, body) = (copy.clone(), fetched.clone(), body.clone());
        std::thread::spawn(move || {
            copy.fill(&[(0, 5 * BLOCK)], &mut |s, e| {
                fetched.lock().unwrap().push((s, e));
                started_tx.send(()).unwrap();
                std::thread::sleep(std::time::Duration::from_millis(100));
                Ok::<_, ()>(body[s as usize..e as usize].to_vec())
            })
            .unwrap()
        })
    };
    started_rx.recv().unwrap();
    let second = copy
        .fill(&[(3 * BLOCK, 8 * BLOCK)], &mut |s, e| {
            fetched.lock().unwrap().push((s, e));
            Ok::<_, ()>(body[s as usize..e as usize].to_vec())
        })
        .unwrap();
    assert_eq!(first.join().unwrap(), 5 * BLOCK);
    assert_eq!(second, 3 * BLOCK, "only what the first was not fetching");
    assert_eq!(
        *fetched.lock().unwrap(),
        [(0, 5 * BLOCK), (5 * BLOCK, 8 * BLOCK)]
    );
    assert_eq!(copy.read(0, 8 * BLOCK).unwrap(), body);

    let other = Arc::new(cache.open("u", body.len() as u64).unwrap());
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let failing = {
        let other = other.clone();
        std::thread::spawn(move || {
            other.fill(&[(0, 2 * BLOCK)], &mut |_, _| {
                started_tx.send(()).unwrap();
                std::thread::sleep(std::time::Duration::from_millis(100));
                Err::<Vec<u8>, _>("down")
            })
        })
    };
    started_rx.recv().unwrap();
    let waiter = other
        .fill(&[(0, 2 * BLOCK)], &mut |s, e| {
            Ok::<_, &str>(body[s as usize..e as usize].to_vec())
        })
        .unwrap();
    assert!(matches!(
        failing.join().unwrap(),
        Err(FillError::Fetch("down"))
    ));
    assert_eq!(waiter, 2 * BLOCK, "the waiter fetched them itself");
    assert_eq!(
        other.read(0, 2 * BLOCK).unwrap(),
        &body[..2 * BLOCK as usize]
    );
}

#[test]
fn forgetting_all_leaves_no_present_block() {
    let dir = tempfile::tempdir().unwrap();
    let cache = InputCache::new(dir.path()).unwrap();
    let copy = cache.open("z", 2 * BLOCK).unwrap();
    copy.fill(&[(0, 1)], &mut |s, e| {
        Ok::<_, ()>(vec![5; (e - s) as usize])
    })
    .unwrap();
    drop(copy);
    assert_eq!(cache.forget_all(), 1);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    assert_eq!(cache.open("z", 2 * BLOCK).unwrap().present_bytes(), 0);
}

#[test]
fn a_record_of_the_old_block_size_is_not_read_as_present() {
    let dir = tempfile::tempdir().unwrap();
    let cache = InputCache::new(&dir.path().join("in")).unwrap();
    let identity = "http://h/old.mp4 etag:\"1\"";
    let size = 3 * BLOCK;
    let copy = cache.open(identity, size).unwrap();
    drop(copy);
    // What version 1 wrote for the same object, every (16 KiB) block present: one
    // word, as a 4 KiB bitmap of this size also has, so only the magic tells them apart.
    let (_, record) = cache.paths(identity);
    let mut old = format!("casterpak-input-copy 1 {identity}\n").into_bytes();
    old.extend_from_slice(&size.to_le_bytes());
    old.extend_from_slice(&u64::MAX.to_le_bytes());
    std::fs::write(&record, old).unwrap();
    let reopened = cache.open(identity, size).unwrap();
    assert_eq!(reopened.present_bytes(), 0);
    assert_eq!(reopened.read(0, 10), None);
}
