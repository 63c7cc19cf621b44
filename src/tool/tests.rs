//! Real processes (small shell scripts as tools), no mocks. Scripts run through
//! `/bin/sh <file>` so a test thread writing one never races another's exec
//! (ETXTBSY).

use super::*;

fn limits(secs: u64) -> RunLimits {
    RunLimits {
        timeout: Duration::from_secs(secs),
        memory_bytes: 0,
    }
}

fn script(dir: &Path, name: &str, body: &str) -> Vec<OsString> {
    let path = dir.join(name);
    std::fs::write(&path, format!("{body}\n")).unwrap();
    vec![path.into()]
}

async fn sh(dir: &Path, body: &str, l: RunLimits) -> Result<Output, ToolError> {
    let args = script(dir, "tool.sh", body);
    run_process(Path::new("/bin/sh"), &args, None, None, l).await
}

#[tokio::test]
async fn exit_codes_and_stderr_reason() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, ToolError)> = vec![
        (
            "echo 'sh: moov missing' >&2; exit 2",
            ToolError::Corrupt("moov missing".into()),
        ),
        (
            "echo 'sh: unsupported codec vp09 in track 1' >&2; exit 3",
            ToolError::Unsupported("unsupported codec vp09 in track 1".into()),
        ),
        (
            "echo 'sh: segment 99 out of range' >&2; exit 5",
            ToolError::OutOfRange("segment 99 out of range".into()),
        ),
    ];
    for (body, expected) in cases {
        assert_eq!(
            sh(dir.path(), body, limits(10)).await.unwrap_err(),
            expected,
            "{body}"
        );
    }
    let crashed = sh(dir.path(), "kill -SEGV $$", limits(10))
        .await
        .unwrap_err();
    assert!(
        matches!(&crashed, ToolError::Crashed(r) if r.contains("signal 11")),
        "{crashed:?}"
    );
    let usage = sh(dir.path(), "exit 1", limits(10)).await.unwrap_err();
    assert!(matches!(usage, ToolError::Failed(_)), "{usage:?}");
    let ok = sh(dir.path(), "echo '{\"a\":1}'; echo note >&2", limits(10))
        .await
        .unwrap();
    assert_eq!(ok.stdout, b"{\"a\":1}\n");
    assert_eq!(ok.stderr, b"note\n");
}

fn process_gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // A zombie waiting for its new parent to reap it is dead too.
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|s| s.trim_start().starts_with('Z')),
    }
}

#[tokio::test]
async fn timeout_kills_the_whole_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("child.pid");
    let body = format!("sleep 60 & echo $! > {}\nsleep 60", pidfile.display());
    let started = Instant::now();
    let err = sh(dir.path(), &body, limits(1)).await.unwrap_err();
    assert_eq!(err, ToolError::TimedOut(1));
    assert!(started.elapsed() < Duration::from_secs(10));
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !process_gone(pid) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(process_gone(pid), "grandchild {pid} survived the timeout");
}

#[tokio::test]
async fn a_dropped_run_kills_the_whole_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("child.pid");
    let body = format!("sleep 60 & echo $! > {}\nsleep 60", pidfile.display());
    // The caller gives up long before the run's own timeout: the future is dropped.
    let run = sh(dir.path(), &body, limits(60));
    assert!(tokio::time::timeout(Duration::from_millis(500), run)
        .await
        .is_err());
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !process_gone(pid) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        process_gone(pid),
        "grandchild {pid} outlived its dropped run"
    );
}

#[tokio::test]
async fn memory_limit_applies_to_the_tool() {
    let dir = tempfile::tempdir().unwrap();
    // 256 MiB: fine without a limit, impossible under a 128 MiB address space.
    let body = "exec python3 -c 'b = bytearray(256 << 20); print(len(b))'";
    let free = sh(dir.path(), body, limits(30)).await;
    assert!(free.is_ok(), "without a limit: {free:?}");
    let limited = RunLimits {
        timeout: Duration::from_secs(30),
        memory_bytes: 128 << 20,
    };
    let err = sh(dir.path(), body, limited).await.unwrap_err();
    assert!(
        matches!(&err, ToolError::Failed(r) if r.contains("MemoryError")),
        "{err:?}"
    );
}

#[tokio::test]
async fn queue_bound_answers_overloaded() {
    let dir = tempfile::tempdir().unwrap();
    let args = script(dir.path(), "slow.sh", "sleep 1");
    let metrics = Arc::new(Metrics::new());
    let sh = PathBuf::from("/bin/sh");
    let tools = Arc::new(Tools::with(
        sh.clone(),
        sh.clone(),
        Mode::Jit,
        1,
        1,
        limits(10),
        metrics.clone(),
    ));
    let run = |t: Arc<Tools>, a: Vec<OsString>| {
        let sh = sh.clone();
        tokio::spawn(async move { t.run(&sh, "plan", a, None, None).await.map(|_| ()) })
    };
    let first = run(tools.clone(), args.clone());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let second = run(tools.clone(), args.clone());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let third = run(tools.clone(), args.clone()).await.unwrap();
    assert_eq!(third, Err(ToolError::Overloaded));
    assert_eq!(first.await.unwrap(), Ok(()));
    assert_eq!(second.await.unwrap(), Ok(()));
    assert_eq!(tools.waiting.load(Ordering::SeqCst), 0);
    assert_eq!(
        metrics.counter(
            "casterpak_tool_runs_total",
            &[("tool", "mp4info"), ("kind", "plan")]
        ),
        2
    );
    assert!(metrics.render().contains("casterpak_queue_depth 0"));
}

#[tokio::test]
async fn bounded_reader_keeps_limit_and_drains() {
    let data = vec![b'x'; 10_000];
    let (kept, dropped) = read_bounded(Some(&data[..]), 4096).await;
    assert_eq!((kept.len(), dropped), (4096, true));
    let (kept, dropped) = read_bounded(Some(&data[..100]), 4096).await;
    assert_eq!((kept.len(), dropped), (100, false));
}

#[test]
fn discover_prefers_configured_path_and_reports_missing() {
    assert_eq!(
        discover(Path::new("/bin/sh"), "mp4info").unwrap(),
        PathBuf::from("/bin/sh")
    );
    assert!(discover(Path::new("/nonexistent/mp4info"), "mp4info").is_err());
    assert!(discover(Path::new(""), "casterpak-no-such-tool").is_err());
}

#[test]
fn seconds_args() {
    assert_eq!(seconds_arg(6.0), "6");
    assert_eq!(seconds_arg(4.5), "4.5");
}

/// The child reads the very file the parent opened, under `/dev/fd/<n>`, even after
/// its name was swapped for a symlink to something else; a child not handed the
/// descriptor does not have it.
#[tokio::test]
async fn the_input_descriptor_is_inherited_by_that_child_only() {
    use std::os::fd::AsFd;
    let dir = tempfile::tempdir().unwrap();
    let name = dir.path().join("in.mp4");
    std::fs::write(&name, b"inside bytes").unwrap();
    std::fs::write(dir.path().join("other"), b"outside bytes").unwrap();
    let file = std::fs::File::open(&name).unwrap();
    std::os::unix::fs::symlink(dir.path().join("other"), dir.path().join("swap")).unwrap();
    std::fs::rename(dir.path().join("swap"), &name).unwrap();

    let input = input_path(file.as_fd());
    let mut args = script(dir.path(), "cat.sh", "cat \"$1\"");
    args.push(input.clone());
    let out = run_process(
        Path::new("/bin/sh"),
        &args,
        None,
        Some(file.as_fd()),
        limits(10),
    )
    .await
    .unwrap();
    assert_eq!(out.stdout, b"inside bytes");

    // The number may be some other open file of the shell's: only not ours.
    let mut args = script(dir.path(), "probe.sh", "readlink \"$1\"; echo end");
    args.push(input);
    let out = run_process(Path::new("/bin/sh"), &args, None, None, limits(10))
        .await
        .unwrap();
    let seen = String::from_utf8_lossy(&out.stdout);
    assert!(seen.ends_with("end\n"), "{seen}");
    assert!(
        !seen.contains("in.mp4"),
        "another child inherited the source: {seen}"
    );
}
