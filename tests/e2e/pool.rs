//! Long-lived `mp42hls --serve` processes through the whole stack (real nginx, the
//! real worker, the real tool): a process killed mid-job, a hung job, a source
//! replaced on disk, 1,000 cold requests over 50 titles checked byte for byte
//! against one-shot runs, and a SIGKILLed worker leaving no tool behind. The slow
//! and killed jobs go through the test proxy (`common/serve_proxy.py`), which logs
//! each job and can hold it; the others talk to the real tool directly.

use crate::common::*;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn wait_until(what: &str, secs: u64, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every segment of `source` as one one-shot `mp42hls --segments` run writes them.
fn one_shot_segments(source: &Path, seconds: &str) -> Vec<Vec<u8>> {
    let tool = bin_dir().join("mp42hls");
    let plan = Command::new(&tool)
        .args([
            "--plan",
            "--first-segment-number",
            "1",
            "--segment-duration",
            seconds,
        ])
        .arg(source)
        .output()
        .expect("run mp42hls --plan");
    assert!(
        plan.status.success(),
        "{}",
        String::from_utf8_lossy(&plan.stderr)
    );
    let plan: serde_json::Value = serde_json::from_slice(&plan.stdout).expect("plan JSON");
    let count = plan["segments"].as_array().expect("segments").len();
    assert!(count > 1, "{plan}");
    let dir = tempfile::tempdir().expect("tempdir");
    let run = Command::new(&tool)
        .arg("--segments")
        .arg(format!("1-{count}"))
        .args(["--first-segment-number", "1", "--segment-duration", seconds])
        .arg("--segment-filename-template")
        .arg(dir.path().join("s%d.ts"))
        .arg(source)
        .output()
        .expect("run mp42hls --segments");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    (1..=count)
        .map(|k| std::fs::read(dir.path().join(format!("s{k}.ts"))).expect("segment file"))
        .collect()
}

/// One process of /proc: pid, parent, process group, command line.
#[derive(Debug, Clone)]
struct Proc {
    pid: i32,
    ppid: i32,
    pgrp: i32,
    zombie: bool,
    cmdline: String,
}

fn processes() -> Vec<Proc> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let fields: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        let (Some(state), Some(ppid), Some(pgrp)) = (fields.first(), fields.get(1), fields.get(2))
        else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline"))
            .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
            .unwrap_or_default();
        out.push(Proc {
            pid,
            ppid: ppid.parse().unwrap_or(0),
            pgrp: pgrp.parse().unwrap_or(0),
            zombie: *state == "Z",
            cmdline,
        });
    }
    out
}

/// The running worker of `stack` (found by its config path).
fn worker_pid(stack: &Stack) -> i32 {
    let config = stack.config_path.display().to_string();
    let workers: Vec<Proc> = processes()
        .into_iter()
        .filter(|p| !p.zombie && p.cmdline.contains(" serve ") && p.cmdline.contains(&config))
        .collect();
    assert_eq!(workers.len(), 1, "{workers:?}");
    workers[0].pid
}

/// Living processes in any of these process groups.
fn alive_in(groups: &HashSet<i32>) -> Vec<Proc> {
    processes()
        .into_iter()
        .filter(|p| !p.zombie && groups.contains(&p.pgrp))
        .collect()
}

fn restarts(stack: &Stack, reason: &str) -> u64 {
    stack.metric(&format!(
        "casterpak_tool_process_restarts_total{{reason=\"{reason}\"}}"
    ))
}

/// Points the worker at the real mp42hls (no proxy) and restarts it.
fn use_the_real_tool(stack: &mut Stack) {
    let real = bin_dir().join("mp42hls");
    stack.reconfigure(
        "tools",
        &format!("mp42hls = {:?}", real.display().to_string()),
    );
    stack.kill_worker();
    stack.start_worker();
}

fn wait_for_started(stack: &Stack) -> (i32, String) {
    let log = stack.tools.mp42hls_log.clone();
    wait_until("the held job to start", 30, || {
        !tools::started(&log).is_empty()
    });
    tools::started(&log)[0].clone()
}

const PLAYLIST: &str = "/i/clip_low.mp4/index_0_av.m3u8";

#[test]
fn a_process_killed_mid_job_is_a_502_and_the_next_request_gets_a_fresh_process() {
    let stack = Stack::builder()
        .media("clip_low.mp4")
        .config("limits", "pool_size = 1")
        .start();
    let expected = one_shot_segments(&stack.media_root.join("clip_low.mp4"), "6");
    assert_eq!(stack.get(PLAYLIST).status, 200);
    let log = stack.tools.mp42hls_log.clone();
    let first = tools::serve_processes(&log);
    assert_eq!(first.len(), 1, "{first:?}");
    stack.set_slow(Some(30));
    let port = stack.port;
    let held =
        std::thread::spawn(move || request(port, "GET", b"/i/clip_low.mp4/segment2_0_av.ts", &[]));
    let (pid, args) = wait_for_started(&stack);
    assert_eq!(pid, first[0], "the job ran on another process");
    assert!(tools::packages_segment(&args, 2), "{args}");
    // The whole process: proxy, the real tool behind it, the held job's sleeper.
    killpg(Pid::from_raw(pid), Signal::SIGKILL).expect("kill the serve process");
    let r = held.join().expect("request thread");
    assert_eq!(r.status, 502, "{}", r.text());
    assert!(
        std::fs::symlink_metadata(stack.cache_path("/i/clip_low.mp4/segment2_0_av.ts")).is_err()
    );

    stack.set_slow(None);
    let r = stack.get("/i/clip_low.mp4/segment3_0_av.ts");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.body == expected[2],
        "segment 3 differs from the one-shot run"
    );
    let now = tools::serve_processes(&log);
    assert_eq!(now.len(), 2, "{now:?}");
    assert_ne!(now[1], pid);
    assert_eq!(restarts(&stack, "died"), 1);
    assert_eq!(stack.metric("casterpak_tool_processes"), 1);
}

#[test]
fn a_hung_job_is_a_504_and_its_process_is_replaced() {
    let stack = Stack::builder()
        .media("clip_low.mp4")
        .config("limits", "pool_size = 1")
        .config("limits", "tool_timeout_secs = 2")
        .start();
    let expected = one_shot_segments(&stack.media_root.join("clip_low.mp4"), "6");
    assert_eq!(stack.get(PLAYLIST).status, 200);
    let log = stack.tools.mp42hls_log.clone();
    stack.set_slow(Some(120));
    let start = Instant::now();
    let r = stack.get("/i/clip_low.mp4/segment2_0_av.ts");
    assert_eq!(r.status, 504, "{}", r.text());
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "{:?}",
        start.elapsed()
    );
    let (pid, _) = wait_for_started(&stack);
    // The whole group went: the proxy, the real tool, the held job's sleeper.
    let group = HashSet::from([pid]);
    wait_until("the hung process group to die", 20, || {
        alive_in(&group).is_empty()
    });
    assert_eq!(restarts(&stack, "timeout"), 1);

    stack.set_slow(None);
    let r = stack.get("/i/clip_low.mp4/segment4_0_av.ts");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.body == expected[3],
        "segment 4 differs from the one-shot run"
    );
    let now = tools::serve_processes(&log);
    assert_eq!(now.len(), 2, "{now:?}");
    assert_ne!(now[1], pid);
}

#[test]
fn a_cold_local_segment_is_one_job_and_past_the_end_is_a_404() {
    let stack = Stack::builder().media("clip_low.mp4").start();
    let runs = |kind: &str| {
        stack.metric(&format!(
            "casterpak_tool_runs_total{{tool=\"mp42hls\",kind=\"{kind}\"}}"
        ))
    };
    let expected = one_shot_segments(&stack.media_root.join("clip_low.mp4"), "6");
    // A segment asked before its playlist: the process cuts it from the plan it
    // keeps, so the worker asks for no plan.
    let second = stack.get("/i/clip_low.mp4/segment2_0_av.ts");
    assert_eq!(second.status, 200, "{}", second.text());
    assert!(
        second.body == expected[1],
        "segment 2 differs from a one-shot run"
    );
    assert_eq!((runs("plan"), runs("segment")), (0, 1));
    let marker = stack.cache_root.join("i/clip_low.mp4/.source");
    let marker = std::fs::read_to_string(&marker).expect("the rendition's marker");
    assert!(marker.contains("clip_low.mp4"), "{marker}");
    // Past the end: the tool's plan says so, a 404 like any segment out of range,
    // and not remembered as bad media (the next real segment is packaged).
    let past = format!("/i/clip_low.mp4/segment{}_0_av.ts", expected.len() + 1);
    let r = stack.get(&past);
    assert_eq!(r.status, 404, "{}", r.text());
    assert!(r.text().contains("out of range"), "{}", r.text());
    assert_eq!(stack.get("/i/clip_low.mp4/segment0_0_av.ts").status, 404);
    let last = format!("/i/clip_low.mp4/segment{}_0_av.ts", expected.len());
    let r = stack.get(&last);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.body == expected[expected.len() - 1]);
    // The playlist lists exactly those segments.
    let playlist = stack.get("/i/clip_low.mp4/index_0_av.m3u8");
    assert_eq!(playlist.status, 200);
    assert_eq!(segments(&playlist.text()).len(), expected.len());
    assert_eq!(runs("plan"), 1);
}

#[test]
fn a_source_replaced_on_disk_is_parsed_again() {
    let mut stack = Stack::builder()
        .media("clip_low.mp4")
        .config("limits", "pool_size = 1")
        .start();
    use_the_real_tool(&mut stack);
    let title = stack.media_root.join("clip_low.mp4");
    let low = one_shot_segments(&title, "6");
    let medium = one_shot_segments(&media("clip_medium.mp4"), "6");
    let high = one_shot_segments(&media("clip_highdef.mp4"), "6");
    let segment = |k: usize| {
        let path = format!("/i/clip_low.mp4/segment{k}_0_av.ts");
        let r = stack.get(&path);
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        r.body
    };
    assert!(segment(1) == low[0]);
    assert!(segment(2) == low[1]);

    // Replaced by rename: another inode. Segment 3 is a miss (not cached yet).
    let staged = stack.media_root.join(".staged.mp4");
    std::fs::copy(media("clip_medium.mp4"), &staged).expect("copy");
    std::fs::rename(&staged, &title).expect("rename");
    assert!(
        segment(3) == medium[2],
        "served from the old index after a rename"
    );

    // Rewritten in place: the same inode, other bytes, size and time.
    std::fs::write(
        &title,
        std::fs::read(media("clip_highdef.mp4")).expect("read"),
    )
    .expect("rewrite");
    assert!(
        segment(4) == high[3],
        "served from the old index after a rewrite"
    );
    assert!(segment(5) == high[4]);
    // One process did it all: the identity in its index key told the files apart.
    assert_eq!(stack.metric("casterpak_tool_processes"), 1);
    assert!(!metrics_text(&stack).contains("casterpak_tool_process_restarts_total{"));
}

/// The medium title `t<i>` is a copy of (three kinds, so bytes differ by title).
fn media_of(i: usize) -> &'static str {
    match i % 10 {
        3 => "clip_medium.mp4",
        7 => "clip_highdef.mp4",
        _ => "clip_low.mp4",
    }
}

/// Every fifth title is a hard link to the one before (same file, same index).
fn linked(i: usize) -> bool {
    i % 5 == 4
}

fn source_of(i: usize) -> &'static str {
    if linked(i) {
        media_of(i - 1)
    } else {
        media_of(i)
    }
}

fn metrics_text(stack: &Stack) -> String {
    let r = stack.get("/_casterpak/metrics");
    assert_eq!(r.status, 200, "{}", r.text());
    r.text()
}

#[test]
fn a_thousand_cold_requests_over_fifty_titles_through_one_pool() {
    const TITLES: usize = 50;
    const REQUESTS: usize = 1000;
    const INDEXES_KEPT: u64 = 8;
    let mut builder = Stack::builder()
        .config("", "segment_duration = 2")
        .config("limits", "pool_size = 2")
        .config("tools", &format!("index_cache_entries = {INDEXES_KEPT}"));
    for i in (0..TITLES).filter(|&i| !linked(i)) {
        builder = builder.file_as(&media(media_of(i)), &format!("t{i:02}.mp4"));
    }
    let mut stack = builder.start();
    for i in (0..TITLES).filter(|&i| linked(i)) {
        let root = &stack.media_root;
        std::fs::hard_link(
            root.join(format!("t{:02}.mp4", i - 1)),
            root.join(format!("t{i:02}.mp4")),
        )
        .expect("hard link");
    }
    use_the_real_tool(&mut stack);
    let expected: BTreeMap<&str, Vec<Vec<u8>>> =
        ["clip_low.mp4", "clip_medium.mp4", "clip_highdef.mp4"]
            .into_iter()
            .map(|name| (name, one_shot_segments(&media(name), "2")))
            .collect();
    // Title-major interleaving (segment 1 of every title, then 2, …), again from the
    // start once every segment was asked for, after emptying the cache.
    let most = expected.values().map(Vec::len).max().unwrap_or(0);
    let round: Vec<(usize, usize)> = (1..=most)
        .flat_map(|k| (0..TITLES).map(move |i| (i, k)))
        .filter(|&(i, k)| k <= expected[source_of(i)].len())
        .collect();
    assert!(
        round.len() >= REQUESTS / 2,
        "{} segments per round",
        round.len()
    );
    let mut work: Vec<Vec<(usize, usize)>> = Vec::new();
    let mut left = REQUESTS;
    while left > 0 {
        let n = left.min(round.len());
        work.push(round[..n].to_vec());
        left -= n;
    }
    let runs_before = stack.metric("casterpak_tool_runs_total{tool=\"mp42hls\",kind=\"segment\"}");
    let wrong = Arc::new(Mutex::new(Vec::new()));
    let expected = Arc::new(expected);
    for (n, batch) in work.into_iter().enumerate() {
        if n > 0 {
            // Cold again: nothing of the last round stays in the cache.
            for i in 0..TITLES {
                let _ = std::fs::remove_dir_all(stack.cache_path(&format!("/i/t{i:02}.mp4")));
            }
        }
        let batch = Arc::new(batch);
        let next = Arc::new(AtomicUsize::new(0));
        let clients: Vec<_> = (0..8)
            .map(|_| {
                let (batch, next, wrong, expected) =
                    (batch.clone(), next.clone(), wrong.clone(), expected.clone());
                let port = stack.port;
                std::thread::spawn(move || loop {
                    let at = next.fetch_add(1, Ordering::SeqCst);
                    let Some(&(i, k)) = batch.get(at) else { return };
                    let path = format!("/i/t{i:02}.mp4/segment{k}_0_av.ts");
                    let r = request(port, "GET", path.as_bytes(), &[]);
                    let want = &expected[source_of(i)][k - 1];
                    if r.status != 200 || r.body != *want {
                        wrong
                            .lock()
                            .expect("wrong")
                            .push(format!("{path}: {}", r.status));
                    }
                })
            })
            .collect();
        for c in clients {
            c.join().expect("client");
        }
    }
    let wrong = wrong.lock().expect("wrong");
    assert!(
        wrong.is_empty(),
        "{} wrong answers, e.g. {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(5)]
    );
    let runs =
        stack.metric("casterpak_tool_runs_total{tool=\"mp42hls\",kind=\"segment\"}") - runs_before;
    let text = metrics_text(&stack);
    println!(
        "pool: {REQUESTS} cold segments over {TITLES} titles, {runs} segment jobs; {}",
        text.lines()
            .filter(|l| l.starts_with("casterpak_tool_") && !l.contains("seconds"))
            .collect::<Vec<_>>()
            .join("; ")
    );
    assert_eq!(
        runs, REQUESTS as u64,
        "every request was a cold miss with one job"
    );
    // Each process kept exactly as many indexes as allowed (there were more titles).
    assert_eq!(
        stack.metric("casterpak_tool_index_entries_max"),
        INDEXES_KEPT
    );
    assert!(stack.metric("casterpak_tool_index_entries") <= 2 * INDEXES_KEPT);
    assert_eq!(stack.metric("casterpak_tool_processes"), 2);
    assert!(
        !text.contains("casterpak_tool_process_restarts_total{"),
        "a process was restarted"
    );
}

#[test]
fn a_sigkilled_worker_leaves_no_tool_process_behind() {
    let mut stack = Stack::builder()
        .media("clip_low.mp4")
        .config("limits", "pool_size = 2")
        .start();
    for real in [false, true] {
        if real {
            use_the_real_tool(&mut stack);
        }
        assert_eq!(stack.get("/i/clip_low.mp4/segment1_0_av.ts").status, 200);
        let worker = worker_pid(&stack);
        let serving: Vec<Proc> = processes()
            .into_iter()
            .filter(|p| p.ppid == worker && p.cmdline.contains("--serve"))
            .collect();
        assert_eq!(serving.len(), 2, "{serving:?}");
        let groups: HashSet<i32> = serving.iter().map(|p| p.pgrp).collect();
        assert_eq!(
            groups,
            serving.iter().map(|p| p.pid).collect(),
            "own groups"
        );
        // Behind the proxy, each group holds the real tool too.
        let members = alive_in(&groups).len();
        assert_eq!(members, if real { 2 } else { 4 }, "{:?}", alive_in(&groups));
        stack.kill_worker();
        wait_until("the tool processes to die with the worker", 20, || {
            alive_in(&groups).is_empty()
        });
        stack.start_worker();
    }
}

/// A process busy with a job reads no end of input: only its parent-death signal
/// ends it when the worker dies.
#[test]
fn a_sigkilled_worker_leaves_no_busy_tool_process_behind() {
    let mut stack = Stack::builder()
        .media("clip_low.mp4")
        .config("limits", "pool_size = 1")
        .start();
    assert_eq!(stack.get(PLAYLIST).status, 200);
    stack.set_slow(Some(120));
    let port = stack.port;
    let held =
        std::thread::spawn(move || request(port, "GET", b"/i/clip_low.mp4/segment2_0_av.ts", &[]));
    let (pid, _) = wait_for_started(&stack);
    let groups = HashSet::from([pid]);
    stack.kill_worker();
    assert!(held.join().expect("request thread").status >= 500);
    // The proxy's sleeper that would log a straggler (a shell and its `sleep`) is
    // the test's, not a tool.
    let tools_alive = || {
        let alive = alive_in(&groups);
        let sleepers: HashSet<i32> = alive
            .iter()
            .filter(|p| p.cmdline.contains("straggler"))
            .map(|p| p.pid)
            .collect();
        alive
            .into_iter()
            .filter(|p| !sleepers.contains(&p.pid) && !sleepers.contains(&p.ppid))
            .collect::<Vec<_>>()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !tools_alive().is_empty() {
        assert!(
            Instant::now() < deadline,
            "tool processes outlived the worker: {:?}",
            tools_alive()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    stack.set_slow(None);
}
