//! The serve pool with the real `mp42hls --serve`, every answer checked against a
//! one-shot run, and small shell scripts (run as `/bin/sh <script>`) standing in
//! for a process that dies, hangs or answers the wrong job. A script reads each
//! job message with one `dd` read, so the test knows the job arrived.

use super::*;
use crate::tool::{discover, Mode, SegmentOutput, Tools, TrackChoice};
use std::fs::File;
use std::os::fd::AsFd;

const SECONDS: f64 = 6.0;

fn media(name: &str) -> PathBuf {
    let dir = std::env::var_os("CASTERPAK_TEST_MEDIA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/media"));
    let path = dir.join(name);
    assert!(path.is_file(), "test media {} is missing", path.display());
    path
}

fn real(name: &str) -> PathBuf {
    discover(Path::new(""), name)
        .unwrap_or_else(|e| panic!("{e}: build the workspace (cargo build -p bento4)"))
}

fn options() -> ServeOptions {
    ServeOptions {
        index_cache_entries: 4,
        index_cache_bytes: 64 << 20,
    }
}

fn one_shot(size: usize, timeout_secs: u64, metrics: &Arc<Metrics>) -> Tools {
    Tools::with(
        real("mp4info"),
        real("mp42hls"),
        Mode::Jit,
        size,
        64,
        RunLimits {
            timeout: Duration::from_secs(timeout_secs),
            memory_bytes: 0,
        },
        metrics.clone(),
    )
}

fn serving(size: usize, metrics: &Arc<Metrics>) -> Tools {
    one_shot(size, 60, metrics).serving(options())
}

/// A pool whose processes run `body` (with `$REAL` the real tool, and `$DIR` the
/// test's directory), as `/bin/sh script --serve …`.
fn scripted(dir: &Path, body: &str, timeout_secs: u64, metrics: &Arc<Metrics>) -> Tools {
    let script = dir.join("serve.sh");
    let text = format!(
        "REAL='{}'\nDIR='{}'\n{body}\n",
        real("mp42hls").display(),
        dir.display()
    );
    std::fs::write(&script, text).unwrap();
    one_shot(1, timeout_secs, metrics).serving_via("/bin/sh".into(), vec![script.into()], options())
}

/// Answers the start-up `stats` job (id 1) and reads the next job; then `rest`.
/// Once `$DIR/real` exists, a new process is the real tool.
fn after_one_job(rest: &str) -> String {
    format!(
        "if [ -f \"$DIR/real\" ]; then exec \"$REAL\" \"$@\"; fi\n\
         dd bs=65536 count=1 of=/dev/null 2>/dev/null\n\
         echo '{{\"id\":1,\"ok\":true,\"entries\":0,\"bytes\":0}}'\n\
         dd bs=65536 count=1 of=\"$DIR/job\" 2>/dev/null\n\
         {rest}"
    )
}

fn pool(tools: &Tools) -> &Pool {
    tools.serve.as_ref().expect("a serving pool")
}

fn gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|s| s.trim_start().starts_with('Z')),
    }
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn read_pid(path: &Path) -> i32 {
    wait_for("the script's pid", || {
        std::fs::read_to_string(path).is_ok_and(|t| t.ends_with('\n'))
    })
    .await;
    std::fs::read_to_string(path)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn restarts(metrics: &Metrics, reason: &str) -> u64 {
    metrics.counter(
        "casterpak_tool_process_restarts_total",
        &[("reason", reason)],
    )
}

/// `mp42hls --segments k` of `source` run once, as the one-shot path runs it.
async fn one_shot_segment(tools: &Tools, source: &File, k: u64) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = tools
        .package_segment(source.as_fd(), SECONDS, k, SegmentOutput::Dir(dir.path()))
        .await
        .unwrap();
    std::fs::read(path).unwrap()
}

/// An encrypted segment of `source`, by `tools` (served: into a file; one-shot: a dir).
async fn encrypted_segment(tools: &Tools, source: &File, k: u64, key: [u8; 16]) -> Vec<u8> {
    let cut = crate::tool::SegmentCut {
        key: Some(key),
        ..Default::default()
    };
    cut_segment(tools, source, k, cut).await
}

/// Segment `k` of `source` made as `cut` says, by `tools`.
async fn cut_segment(
    tools: &Tools,
    source: &File,
    k: u64,
    cut: crate::tool::SegmentCut,
) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(format!("segment{k}_0_av.ts"));
    let output = if tools.serves() {
        SegmentOutput::File(&file)
    } else {
        SegmentOutput::Dir(dir.path())
    };
    let path = tools
        .package_trimmed_segment(source.as_fd(), SECONDS, k, cut, output)
        .await
        .unwrap();
    std::fs::read(path).unwrap()
}

#[tokio::test]
async fn encrypted_jobs_answer_what_one_shot_runs_write() {
    let metrics = Arc::new(Metrics::new());
    let once = one_shot(1, 60, &metrics);
    let served = serving(1, &metrics);
    let source = File::open(media("clip_low.mp4")).unwrap();
    let key = [7u8; 16];
    let plain = served
        .plan(source.as_fd(), SECONDS, None, TrackChoice::default())
        .await
        .unwrap();
    let plan = served
        .plan(source.as_fd(), SECONDS, Some(key), TrackChoice::default())
        .await
        .unwrap();
    assert_eq!(
        plan,
        once.plan(source.as_fd(), SECONDS, Some(key), TrackChoice::default())
            .await
            .unwrap()
    );
    for (k, (padded, size)) in (1..).zip(plan.segments.iter().zip(&plain.segments)) {
        // CBC with PKCS#7: one to 16 bytes of padding.
        assert_eq!(padded.size, (size.size / 16 + 1) * 16, "segment {k}");
        let bytes = encrypted_segment(&served, &source, k, key).await;
        assert_eq!(bytes.len() as u64, padded.size, "segment {k}");
        assert_eq!(bytes, encrypted_segment(&once, &source, k, key).await);
        assert_ne!(
            bytes.get(..188),
            one_shot_segment(&once, &source, k).await.get(..188)
        );
    }
}

#[tokio::test]
async fn track_choices_answer_what_one_shot_runs_write() {
    let metrics = Arc::new(Metrics::new());
    let once = one_shot(1, 60, &metrics);
    let served = serving(1, &metrics);
    let source = File::open(media("multi_audio.mp4")).unwrap();
    let muxed = served
        .plan(source.as_fd(), SECONDS, None, TrackChoice::default())
        .await
        .unwrap();
    let ids: Vec<u32> = muxed.info.audio_tracks.iter().map(|t| t.id).collect();
    assert_eq!(ids, [2, 3, 4]);
    for tracks in [
        TrackChoice::VIDEO,
        TrackChoice::audio(3),
        TrackChoice::audio(4),
    ] {
        let plan = served
            .plan(source.as_fd(), SECONDS, None, tracks)
            .await
            .unwrap();
        assert_eq!(
            plan,
            once.plan(source.as_fd(), SECONDS, None, tracks)
                .await
                .unwrap()
        );
        assert_eq!(plan.info.video.is_some(), tracks == TrackChoice::VIDEO);
        assert_eq!(plan.info.audio.is_some(), tracks != TrackChoice::VIDEO);
        let cut = crate::tool::SegmentCut {
            tracks,
            ..Default::default()
        };
        let bytes = cut_segment(&served, &source, 2, cut).await;
        assert_eq!(bytes.len() as u64, plan.segments[1].size, "{tracks:?}");
        assert_eq!(
            bytes,
            cut_segment(&once, &source, 2, cut).await,
            "{tracks:?}"
        );
    }
}

#[tokio::test]
async fn webvtt_jobs_answer_what_one_shot_runs_print() {
    let metrics = Arc::new(Metrics::new());
    let once = one_shot(1, 60, &metrics);
    let served = serving(1, &metrics);
    let source = File::open(media("subtitled.mp4")).unwrap();
    let plan = served
        .plan(source.as_fd(), SECONDS, None, TrackChoice::default())
        .await
        .unwrap();
    let ids: Vec<u32> = plan.info.text_tracks.iter().map(|t| t.id).collect();
    assert_eq!(ids, [3], "the tx3g track, not the chapters' text track");
    let text = served.webvtt(source.as_fd(), 3).await.unwrap();
    assert!(
        text.starts_with("WEBVTT\n\n00:00:01.000 --> 00:00:04.000\n"),
        "{text}"
    );
    assert_eq!(text, once.webvtt(source.as_fd(), 3).await.unwrap());
    for tools in [&served, &once] {
        let err = tools.webvtt(source.as_fd(), 4).await.unwrap_err();
        assert!(format!("{err:?}").contains("not tx3g"), "{err:?}");
    }
}

#[tokio::test]
async fn jobs_answer_what_one_shot_runs_print() {
    let metrics = Arc::new(Metrics::new());
    let once = one_shot(1, 60, &metrics);
    let served = serving(2, &metrics);
    let source = File::open(media("clip_low.mp4")).unwrap();
    let plan = served
        .plan(source.as_fd(), SECONDS, None, TrackChoice::default())
        .await
        .unwrap();
    assert_eq!(
        plan,
        once.plan(source.as_fd(), SECONDS, None, TrackChoice::default())
            .await
            .unwrap()
    );
    let count = plan.durations().unwrap().len() as u64;
    assert_eq!(count, 5);
    for k in 1..=count {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(format!("segment{k}_0_av.ts"));
        let path = served
            .package_segment(source.as_fd(), SECONDS, k, SegmentOutput::File(&file))
            .await
            .unwrap();
        assert_eq!(path, file);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(
            bytes,
            one_shot_segment(&once, &source, k).await,
            "segment {k}"
        );
    }
    let groups = pool(&served).groups();
    // Failures are answers with the one-shot exit code's error; the process stays.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("segment99_0_av.ts");
    let past = served
        .package_segment(source.as_fd(), SECONDS, 99, SegmentOutput::File(&file))
        .await
        .unwrap_err();
    assert!(matches!(past, ToolError::OutOfRange(_)), "{past:?}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    let garbage = File::open(media("garbage.mp4")).unwrap();
    let corrupt = served
        .plan(garbage.as_fd(), SECONDS, None, TrackChoice::default())
        .await
        .unwrap_err();
    assert_eq!(
        corrupt,
        once.plan(garbage.as_fd(), SECONDS, None, TrackChoice::default())
            .await
            .unwrap_err()
    );
    assert!(matches!(corrupt, ToolError::Corrupt(_)), "{corrupt:?}");
    let mut after = pool(&served).groups();
    after.sort();
    let mut before = groups;
    before.sort();
    assert_eq!(after, before, "a failed job ended a process");
    assert_eq!(
        before.len(),
        1,
        "one process was enough for one job at a time"
    );
    let runs = |kind| {
        metrics.counter(
            "casterpak_tool_runs_total",
            &[("tool", "mp42hls"), ("kind", kind)],
        )
    };
    // The one-shot tools counted theirs too: both ran every segment and plan.
    assert_eq!((runs("segment"), runs("plan")), (2 * count + 1, 4));
    let stats = served.index_stats().await;
    assert_eq!(
        stats.iter().map(|s| s.entries).collect::<Vec<_>>(),
        vec![1],
        "{stats:?}"
    );
}

#[tokio::test]
async fn concurrent_jobs_share_the_pool_one_job_per_process() {
    let metrics = Arc::new(Metrics::new());
    let served = Arc::new(serving(2, &metrics));
    let once = one_shot(1, 60, &metrics);
    let source = Arc::new(File::open(media("clip_low.mp4")).unwrap());
    let mut expected = Vec::new();
    for k in 1..=5 {
        expected.push(one_shot_segment(&once, &source, k).await);
    }
    let jobs: Vec<_> = (0..20u64)
        .map(|i| {
            let (served, source) = (served.clone(), source.clone());
            tokio::spawn(async move {
                let k = i % 5 + 1;
                let dir = tempfile::tempdir().unwrap();
                let file = dir.path().join("segment.ts");
                let path = served
                    .package_segment(source.as_fd(), SECONDS, k, SegmentOutput::File(&file))
                    .await
                    .unwrap();
                (k, std::fs::read(path).unwrap())
            })
        })
        .collect();
    for job in jobs {
        let (k, bytes) = job.await.unwrap();
        assert!(bytes == expected[k as usize - 1], "segment {k} differs");
    }
    assert!(pool(&served).groups().len() <= 2);
    assert_eq!(
        metrics
            .render()
            .lines()
            .find(|l| l.starts_with("casterpak_tool_processes ")),
        Some("casterpak_tool_processes 2")
    );
}

#[tokio::test]
async fn a_process_killed_mid_job_fails_that_job_and_a_fresh_one_takes_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = Arc::new(Metrics::new());
    let body = after_one_job("echo $$ > \"$DIR/pid\"\nexec sleep 600");
    let tools = Arc::new(scripted(dir.path(), &body, 60, &metrics));
    let source = File::open(media("clip_low.mp4")).unwrap();
    let job = {
        let (tools, source) = (tools.clone(), source.try_clone().unwrap());
        tokio::spawn(async move {
            tools
                .plan(source.as_fd(), SECONDS, None, TrackChoice::default())
                .await
        })
    };
    let pid = read_pid(&dir.path().join("pid")).await;
    std::fs::write(dir.path().join("real"), b"").unwrap();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL).unwrap();
    let err = job.await.unwrap().unwrap_err();
    assert!(
        matches!(&err, ToolError::Crashed(r) if r.contains("signal 9")),
        "{err:?}"
    );
    assert!(std::fs::read(dir.path().join("job"))
        .unwrap()
        .starts_with(b"{"));
    assert_eq!(restarts(&metrics, "died"), 1);
    let plan = tools
        .plan(source.as_fd(), SECONDS, None, TrackChoice::default())
        .await
        .unwrap();
    assert_eq!(plan.durations().unwrap().len(), 5);
    let groups = pool(&tools).groups();
    assert_eq!(groups.len(), 1);
    assert_ne!(groups[0], pid, "the dead process was lent again");
}

#[tokio::test]
async fn a_job_over_the_timeout_kills_the_group_and_the_process_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = Arc::new(Metrics::new());
    let body = after_one_job(
        "sleep 600 & echo $! > \"$DIR/child\"\necho $$ > \"$DIR/pid\"\nexec sleep 600",
    );
    let tools = scripted(dir.path(), &body, 1, &metrics);
    let source = File::open(media("clip_low.mp4")).unwrap();
    let started = Instant::now();
    let err = tools
        .plan(source.as_fd(), SECONDS, None, TrackChoice::default())
        .await
        .unwrap_err();
    assert_eq!(err, ToolError::TimedOut(1));
    assert!(started.elapsed() < Duration::from_secs(10));
    let pid = read_pid(&dir.path().join("pid")).await;
    let child = read_pid(&dir.path().join("child")).await;
    wait_for("the hung process and its child to die", || {
        gone(pid) && gone(child)
    })
    .await;
    assert_eq!(restarts(&metrics, "timeout"), 1);
    std::fs::write(dir.path().join("real"), b"").unwrap();
    assert!(tools
        .plan(source.as_fd(), SECONDS, None, TrackChoice::default())
        .await
        .is_ok());
    assert!(!pool(&tools).groups().contains(&pid));
}

#[tokio::test]
async fn an_answer_to_another_job_is_bad_output_and_ends_the_process() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = Arc::new(Metrics::new());
    let body =
        after_one_job("echo $$ > \"$DIR/pid\"\necho '{\"id\":7,\"ok\":true}'\nexec sleep 600");
    let tools = scripted(dir.path(), &body, 60, &metrics);
    let source = File::open(media("clip_low.mp4")).unwrap();
    let err = tools
        .plan(source.as_fd(), SECONDS, None, TrackChoice::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ToolError::BadOutput(r) if r.contains("job Some(7)")),
        "{err:?}"
    );
    let pid = read_pid(&dir.path().join("pid")).await;
    wait_for("the lying process to be killed", || gone(pid)).await;
    assert_eq!(restarts(&metrics, "bad_answer"), 1);
}

#[tokio::test]
async fn a_cancelled_job_kills_its_process() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = Arc::new(Metrics::new());
    let body = after_one_job("echo $$ > \"$DIR/pid\"\nexec sleep 600");
    let tools = scripted(dir.path(), &body, 60, &metrics);
    let source = File::open(media("clip_low.mp4")).unwrap();
    let pidfile = dir.path().join("pid");
    let job = tools.plan(source.as_fd(), SECONDS, None, TrackChoice::default());
    let cancelled = tokio::time::timeout(Duration::from_secs(20), async {
        tokio::select! {
            _ = job => panic!("the script answered"),
            pid = read_pid(&pidfile) => pid,
        }
    })
    .await
    .unwrap();
    wait_for("the abandoned process to be killed", || gone(cancelled)).await;
    assert_eq!(restarts(&metrics, "abandoned"), 1);
    assert!(pool(&tools).groups().is_empty());
}

#[tokio::test]
async fn a_process_that_ended_while_idle_is_replaced_before_the_job() {
    let metrics = Arc::new(Metrics::new());
    let tools = serving(1, &metrics);
    pool(&tools).warm_up().await;
    let pid = pool(&tools).groups()[0];
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL).unwrap();
    wait_for("the idle process to die", || gone(pid)).await;
    let source = File::open(media("clip_low.mp4")).unwrap();
    assert!(tools
        .plan(source.as_fd(), SECONDS, None, TrackChoice::default())
        .await
        .is_ok());
    assert!(restarts(&metrics, "exited") + restarts(&metrics, "died") == 1);
    assert!(!pool(&tools).groups().contains(&pid));
}

#[tokio::test]
async fn shutdown_ends_every_process_and_refuses_new_jobs() {
    let metrics = Arc::new(Metrics::new());
    let tools = serving(2, &metrics);
    pool(&tools).warm_up().await;
    let groups = pool(&tools).groups();
    assert_eq!(groups.len(), 2);
    let started = Instant::now();
    tools.shutdown().await;
    // Closing stdin ends them: no waiting for the grace period.
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    wait_for("every process to exit", || groups.iter().all(|&p| gone(p))).await;
    let source = File::open(media("clip_low.mp4")).unwrap();
    assert_eq!(
        tools
            .plan(source.as_fd(), SECONDS, None, TrackChoice::default())
            .await
            .unwrap_err(),
        ToolError::Overloaded
    );
}

#[tokio::test]
async fn a_serve_process_has_the_memory_limit_and_its_own_group() {
    let metrics = Arc::new(Metrics::new());
    let limited = RunLimits {
        timeout: Duration::from_secs(60),
        memory_bytes: 1 << 30,
    };
    let tools = Tools::with(
        real("mp4info"),
        real("mp42hls"),
        Mode::Jit,
        1,
        64,
        limited,
        metrics.clone(),
    )
    .serving(options());
    pool(&tools).warm_up().await;
    let pid = pool(&tools).groups()[0];
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max address space"))
        .unwrap();
    assert!(line.contains(&(1u64 << 30).to_string()), "{line}");
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    // state, ppid, pgrp: the process leads its own group.
    assert_eq!(fields[2], pid.to_string(), "{stat}");
    tools.shutdown().await;
}

#[tokio::test]
async fn an_answer_past_the_output_bound_is_bad_output_and_ends_the_process() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = Arc::new(Metrics::new());
    let past = STDOUT_LIMIT + (2 << 20);
    let body = after_one_job(&format!(
        "echo $$ > \"$DIR/pid\"\nhead -c {past} /dev/zero | tr '\\0' x\nexec sleep 600"
    ));
    let tools = scripted(dir.path(), &body, 60, &metrics);
    let source = File::open(media("clip_low.mp4")).unwrap();
    let err = tools
        .plan(source.as_fd(), SECONDS, None, TrackChoice::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ToolError::BadOutput(r) if r.contains("longer than")),
        "{err:?}"
    );
    let pid = read_pid(&dir.path().join("pid")).await;
    wait_for("the process to be killed", || gone(pid)).await;
    assert_eq!(restarts(&metrics, "bad_answer"), 1);
}
