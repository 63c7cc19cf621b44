//! The symlink swap race: while clients ask for a title, its name in the media root is
//! swapped again and again (atomic renames) between a hard link to a real medium inside
//! the root and symlinks out of it, to another MP4 and to a text canary. The worker
//! checks the file and hands the tool that very descriptor, so no answer may ever hold
//! outside bytes: every 200 is byte for byte the inside medium's packaging, nothing is
//! 422 (a tool that read the canary), no body quotes the canary. Both packaging modes.
//!
//! Each round uses a fresh name, so its playlists and segments are cold misses that
//! reach the worker while the name is being swapped; a round's cache entry is removed
//! after it, to keep the disk small.

use crate::common::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

const INSIDE: &str = "inside.mp4";
/// A line no medium holds; the canary file is made of it.
const CANARY: &str = "CASTERPAK-RACE-CANARY-5e1d outside text, must never be served";
const CLIENTS: usize = 4;
/// Each client asks for each path of a round this often (later ones are mostly hits).
const TRIES: usize = 2;
const RUN_FOR: Duration = Duration::from_secs(5);
const MIN_ROUNDS: usize = 5;
const MAX_ROUNDS: usize = 400;

/// A short, small medium (1 s keyframe interval), so tool runs are quick and a round
/// has several segments: `pattern` is an ffmpeg test source, which makes the bytes.
fn make_medium(path: &Path, pattern: &str, frequency: u32) {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y"])
        .args([
            "-f",
            "lavfi",
            "-i",
            &format!("{pattern}=size=160x90:rate=24"),
        ])
        .args([
            "-f",
            "lavfi",
            "-i",
            &format!("sine=frequency={frequency}:sample_rate=48000"),
        ])
        .args(["-t", "4", "-map", "0:v", "-map", "1:a"])
        .args([
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-g",
            "24",
            "-keyint_min",
            "24",
        ])
        .args(["-sc_threshold", "0", "-c:a", "aac", "-b:a", "32k"])
        .arg(path)
        .output()
        .expect("run ffmpeg");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn name_of(round: usize) -> String {
    format!("r{round}.mp4")
}

/// Swaps `media/<name of the current round>` among its three states until `stop`.
struct Swapper {
    media: PathBuf,
    inside: PathBuf,
    outside_mp4: PathBuf,
    canary: PathBuf,
    round: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    swaps: Arc<AtomicU64>,
}

impl Swapper {
    fn place(&self, state: u64, name: &str) {
        let tmp = self.media.join(format!(".swap-{state}"));
        let _ = std::fs::remove_file(&tmp);
        match state % 3 {
            0 => std::fs::hard_link(&self.inside, &tmp).expect("hard link"),
            1 => std::os::unix::fs::symlink(&self.outside_mp4, &tmp).expect("symlink"),
            _ => std::os::unix::fs::symlink(&self.canary, &tmp).expect("symlink"),
        }
        std::fs::rename(&tmp, self.media.join(name)).expect("rename over the name");
    }

    fn run(self) {
        let mut state = 0u64;
        while !self.stop.load(Ordering::SeqCst) {
            let name = name_of(self.round.load(Ordering::SeqCst));
            state += 1;
            self.place(state, &name);
            self.swaps.fetch_add(1, Ordering::Relaxed);
            // Far more often than a miss takes to reach its tool, without taking a core.
            std::thread::sleep(Duration::from_micros(100));
        }
    }
}

/// What one client saw.
#[derive(Default)]
struct Tally {
    statuses: BTreeMap<u16, u64>,
    transport_errors: u64,
    /// Descriptions of answers that held something not from the inside medium.
    outside: Vec<String>,
}

/// Every answer must be the inside medium's or a refusal; anything else is a finding.
fn check(tally: &mut Tally, expected: &BTreeMap<String, Vec<u8>>, leaf: &str, r: &Response) {
    *tally.statuses.entry(r.status).or_default() += 1;
    let what = |why: &str| format!("{leaf}: {} {why}: {:.120}", r.status, r.text());
    if String::from_utf8_lossy(&r.body).contains("CASTERPAK-RACE-CANARY") {
        tally.outside.push(what("quotes the canary"));
    } else if r.status == 200 && expected.get(leaf) != Some(&r.body) {
        tally.outside.push(what("differs from the inside medium"));
    } else if matches!(r.status, 415 | 422) {
        tally
            .outside
            .push(what("a tool read something that is not the medium"));
    }
}

fn race(packaging: Packaging, mode: &str) {
    let scratch = tempfile::tempdir().expect("tempdir");
    let inside = scratch.path().join(INSIDE);
    make_medium(&inside, "testsrc2", 440);
    let stack = Stack::builder()
        .file_as(&inside, INSIDE)
        .packaging(packaging)
        .config("", "segment_duration = 1.0")
        .config("limits", "failure_ttl_secs = 0")
        .start();
    let outside = stack.dir.path().join("outside");
    std::fs::create_dir_all(&outside).expect("outside dir");
    let outside_mp4 = outside.join("other.mp4");
    make_medium(&outside_mp4, "smptebars", 880);
    let canary = outside.join("canary.txt");
    std::fs::write(&canary, format!("{CANARY}\n").repeat(2000)).expect("canary");

    // One-shot packaging of the inside medium: what every 200 must be.
    let mut leaves = vec!["master.m3u8".to_string(), "index_0_av.m3u8".to_string()];
    let playlist = stack.get(&format!("/i/{INSIDE}/index_0_av.m3u8"));
    assert_eq!(playlist.status, 200, "{}", playlist.text());
    leaves.extend(segments(&playlist.text()).into_iter().map(|(_, uri)| uri));
    assert!(leaves.len() >= 5, "{leaves:?}");
    let expected: BTreeMap<String, Vec<u8>> = leaves
        .iter()
        .map(|leaf| {
            let r = stack.get(&format!("/i/{INSIDE}/{leaf}"));
            assert_eq!(r.status, 200, "{leaf}: {}", r.text());
            (leaf.clone(), r.body)
        })
        .collect();
    let outside_segment = {
        std::fs::copy(&outside_mp4, stack.media_root.join("probe_other.mp4")).expect("copy");
        stack.get("/i/probe_other.mp4/segment1_0_av.ts").body
    };
    assert_ne!(
        outside_segment, expected["segment1_0_av.ts"],
        "the outside medium must package to other bytes"
    );
    let runs_before = stack.mp42hls_runs().len();

    let round = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let swaps = Arc::new(AtomicU64::new(0));
    let swapper = Swapper {
        media: stack.media_root.clone(),
        inside: stack.media_root.join(INSIDE),
        outside_mp4,
        canary,
        round: round.clone(),
        stop: stop.clone(),
        swaps: swaps.clone(),
    };
    swapper.place(0, &name_of(0));
    let swapper = std::thread::spawn(move || swapper.run());

    // Rounds in lockstep: all clients ask for round i's paths, then the next round.
    let start = Barrier::new(CLIENTS + 1);
    let done = Barrier::new(CLIENTS + 1);
    let (start, done) = (Arc::new(start), Arc::new(done));
    let finished = Arc::new(AtomicBool::new(false));
    let tallies = Arc::new(Mutex::new(Vec::new()));
    let expected = Arc::new(expected);
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (start, done, finished) = (start.clone(), done.clone(), finished.clone());
            let (round, tallies, expected) = (round.clone(), tallies.clone(), expected.clone());
            let leaves = leaves.clone();
            let port = stack.port;
            std::thread::spawn(move || {
                let mut tally = Tally::default();
                loop {
                    start.wait();
                    if finished.load(Ordering::SeqCst) {
                        break;
                    }
                    let name = name_of(round.load(Ordering::SeqCst));
                    // Each client walks the paths from its own offset, so misses overlap.
                    for i in 0..leaves.len() * TRIES {
                        let leaf = &leaves[(i + c * 3) % leaves.len()];
                        let path = format!("/i/{name}/{leaf}");
                        match http::try_request(port, "GET", path.as_bytes(), &[]) {
                            Ok(r) => check(&mut tally, &expected, leaf, &r),
                            Err(_) => tally.transport_errors += 1,
                        }
                    }
                    done.wait();
                }
                tallies.lock().expect("tallies").push(tally);
            })
        })
        .collect();

    let began = Instant::now();
    let mut rounds = 0;
    while rounds < MAX_ROUNDS && (rounds < MIN_ROUNDS || began.elapsed() < RUN_FOR) {
        start.wait();
        done.wait();
        // Nothing asks for this name any more: drop its cache entry and move on.
        let finished_name = name_of(rounds);
        rounds += 1;
        round.store(rounds, Ordering::SeqCst);
        let _ = std::fs::remove_dir_all(stack.cache_path(&format!("/i/{finished_name}")));
        let _ = std::fs::remove_file(stack.media_root.join(&finished_name));
    }
    let elapsed = began.elapsed();
    finished.store(true, Ordering::SeqCst);
    start.wait();
    for client in clients {
        client.join().expect("client thread");
    }
    stop.store(true, Ordering::SeqCst);
    swapper.join().expect("swapper thread");

    let mut total = Tally::default();
    for tally in tallies.lock().expect("tallies").drain(..) {
        for (status, n) in tally.statuses {
            *total.statuses.entry(status).or_default() += n;
        }
        total.transport_errors += tally.transport_errors;
        total.outside.extend(tally.outside);
    }
    let answers: u64 = total.statuses.values().sum();
    let count = |s: u16| total.statuses.get(&s).copied().unwrap_or(0);
    let four_xx: u64 = (400..500).map(count).sum();
    let tool_runs = stack.mp42hls_runs().len() - runs_before;
    println!(
        "race ({mode}): {:.1} s, {rounds} rounds, {} swaps, {answers} answers: {} 200, \
         {four_xx} 4xx ({} 404), statuses {:?}, {} transport errors, {tool_runs} mp42hls runs, \
         {} with outside bytes",
        elapsed.as_secs_f64(),
        swaps.load(Ordering::Relaxed),
        count(200),
        count(404),
        total.statuses,
        total.transport_errors,
        total.outside.len()
    );
    assert!(
        total.outside.is_empty(),
        "{} answers held outside bytes, e.g.:\n{}",
        total.outside.len(),
        total.outside[..total.outside.len().min(10)].join("\n")
    );
    // The race ran both ways: names caught as the inside file and as a link out.
    assert!(count(200) > 0 && count(404) > 0, "{:?}", total.statuses);
    assert!(tool_runs > 0, "no miss reached the tools");
    // The wrappers log the file behind each inherited /dev/fd: never an outside one.
    for run in [stack.mp4info_runs(), stack.mp42hls_runs()].concat() {
        assert!(!run.contains("/outside/"), "a tool read outside: {run}");
    }
    // The worker is fine afterwards.
    assert_eq!(
        stack.get(&format!("/i/{INSIDE}/segment2_0_av.ts")).body,
        expected["segment2_0_av.ts"]
    );
}

#[test]
fn the_swap_race_never_serves_outside_bytes_just_in_time() {
    race(Packaging::JustInTime, "jit");
}

#[test]
fn the_swap_race_never_serves_outside_bytes_whole() {
    race(Packaging::Whole, "whole");
}
