//! Wrapper scripts the test config points `[tools]` at. Each wrapper appends one line
//! per run of the real tool to a log (so tests can count runs and see their arguments),
//! can sleep first (to catch a fill in the act), and can refuse the casterpak extensions
//! the way real Bento4 does (to force whole-rendition packaging). A long-lived
//! `mp42hls --serve` runs behind `serve_proxy.py`, which logs (and slows) each job as
//! the one-shot run it stands for, so the same logs count jobs in both ways.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// How the `mp42hls` wrapper behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packaging {
    /// Our tool as built: the worker uses the just-in-time extensions.
    JustInTime,
    /// Refuses `--capabilities`, `--plan`, `--segments`, `--first-segment-number`
    /// with usage and exit 1, like real Bento4: the worker packages whole renditions.
    Whole,
}

/// Paths of the wrappers and their logs inside one test stack.
#[derive(Debug, Clone)]
pub struct Wrappers {
    pub mp4info: PathBuf,
    pub mp42hls: PathBuf,
    /// One line per run of the real mp4info: its arguments.
    pub mp4info_log: PathBuf,
    /// One line per run of the real mp42hls: its arguments.
    pub mp42hls_log: PathBuf,
    /// While this file exists, the mp42hls wrapper logs `started <pid> <args>` to
    /// `mp42hls_log` and sleeps this many seconds (the file's content) before running.
    /// A background child in its process group logs `straggler <pid>` after the same
    /// time, unless the whole group was killed.
    pub slow_flag: PathBuf,
    /// The proxy in front of each `mp42hls --serve` (see `serve_proxy.py`).
    pub serve_proxy: PathBuf,
}

const SERVE_PROXY: &str = include_str!("serve_proxy.py");

/// Sets `$args` to the arguments with each inherited `/dev/fd/<n>` (the worker hands
/// the tools the source it opened) shown as the file it is, so the logs name the
/// file a run really read.
const ARGS_LINE: &str = "args=\n\
    for a in \"$@\"; do\n\
    \x20 case \"$a\" in /dev/fd/*) a=$(readlink \"$a\" || echo \"$a\") ;; esac\n\
    \x20 args=\"${args:+$args }$a\"\n\
    done\n";

pub fn write(dir: &Path, real_bin_dir: &Path, packaging: Packaging) -> Wrappers {
    std::fs::create_dir_all(dir).expect("wrapper dir");
    let w = Wrappers {
        mp4info: dir.join("mp4info"),
        mp42hls: dir.join("mp42hls"),
        mp4info_log: dir.join("mp4info.runs"),
        mp42hls_log: dir.join("mp42hls.runs"),
        slow_flag: dir.join("slow"),
        serve_proxy: dir.join("serve_proxy.py"),
    };
    std::fs::write(&w.serve_proxy, SERVE_PROXY).expect("write serve proxy");
    let real_mp4info = real_bin_dir.join("mp4info");
    let real_mp42hls = real_bin_dir.join("mp42hls");
    for real in [&real_mp4info, &real_mp42hls] {
        assert!(
            real.is_file(),
            "{} is missing: build the workspace (`cargo test --workspace` or `cargo build -p bento4`)",
            real.display()
        );
    }
    let refuse = match packaging {
        Packaging::JustInTime => "",
        Packaging::Whole => {
            "for a in \"$@\"; do\n  case \"$a\" in\n    --capabilities|--plan|--segments|--first-segment-number)\n      echo \"usage: mp42hls [options] <input> (refused $a like Bento4)\"; exit 1 ;;\n  esac\ndone\n"
        }
    };
    // A serve process logs `serve <pid>` (not a run) and its jobs through the proxy.
    let serve = format!(
        "case \" $* \" in *' --serve '*)\n\
         \x20 echo \"serve $$\" >> '{log}'\n\
         \x20 exec python3 '{proxy}' '{real}' '{log}' '{slow}' \"$@\" ;;\n\
         esac\n",
        log = w.mp42hls_log.display(),
        proxy = w.serve_proxy.display(),
        real = real_mp42hls.display(),
        slow = w.slow_flag.display(),
    );
    let mp42hls = format!(
        "#!/bin/sh\n{refuse}{serve}{args_line}\
         if [ -f '{slow}' ]; then\n\
         \x20 echo \"started $$ $args\" >> '{log}'\n\
         \x20 ( sleep \"$(cat '{slow}')\"; echo \"straggler $$\" >> '{log}' ) </dev/null >/dev/null 2>&1 &\n\
         \x20 sleep \"$(cat '{slow}')\"\n\
         fi\n\
         echo \"$args\" >> '{log}'\n\
         exec '{real}' \"$@\"\n",
        args_line = ARGS_LINE,
        slow = w.slow_flag.display(),
        log = w.mp42hls_log.display(),
        real = real_mp42hls.display(),
    );
    let mp4info = format!(
        "#!/bin/sh\n{ARGS_LINE}echo \"$args\" >> '{log}'\nexec '{real}' \"$@\"\n",
        log = w.mp4info_log.display(),
        real = real_mp4info.display(),
    );
    for (path, text) in [(&w.mp42hls, mp42hls), (&w.mp4info, mp4info)] {
        std::fs::write(path, text).expect("write wrapper");
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    w
}

/// The logged runs (one argument line each, a serve job's as its one-shot run),
/// `started …`/`straggler …`/`serve …` lines excluded.
pub fn runs(log: &Path) -> Vec<String> {
    match std::fs::read_to_string(log) {
        Ok(text) => text
            .lines()
            .filter(|l| {
                !l.starts_with("started ")
                    && !l.starts_with("straggler ")
                    && !l.starts_with("serve ")
            })
            .map(String::from)
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => panic!("read {}: {e}", log.display()),
    }
}

/// Stragglers that outlived their run (see `Wrappers::slow_flag`): their wrapper pids.
pub fn stragglers(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.strip_prefix("straggler "))
        .map(String::from)
        .collect()
}

/// Runs logged as started (slow mode), finished or not: (pid, arguments). The pid
/// stays the tool's after the wrapper's `exec`.
pub fn started(log: &Path) -> Vec<(i32, String)> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.strip_prefix("started "))
        .filter_map(|l| l.split_once(' '))
        .filter_map(|(pid, args)| Some((pid.parse().ok()?, args.to_string())))
        .collect()
}

/// The `mp42hls --serve` processes started (their pids, which name their process
/// groups), in order.
pub fn serve_processes(log: &Path) -> Vec<i32> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.strip_prefix("serve ")?.trim().parse().ok())
        .collect()
}

/// Whether a logged mp42hls run wrote segment `k` with `--segments K` or `K-M`.
pub fn packages_segment(run: &str, k: u64) -> bool {
    let args: Vec<&str> = run.split_whitespace().collect();
    args.windows(2).any(|w| {
        w[0] == "--segments"
            && match w[1].split_once('-') {
                Some((a, b)) => matches!((a.parse::<u64>(), b.parse::<u64>()), (Ok(a), Ok(b)) if a <= k && k <= b),
                None => w[1].parse::<u64>() == Ok(k),
            }
    })
}

#[test]
fn packages_segment_reads_single_numbers_and_ranges() {
    let cases = [
        ("--segments 3 --first-segment-number 1 x.mp4", 3, true),
        ("--segments 3 x.mp4", 4, false),
        ("--segments 2-5 x.mp4", 4, true),
        ("--segments 2-5 x.mp4", 6, false),
        ("--plan x.mp4", 3, false),
    ];
    for (run, k, expected) in cases {
        assert_eq!(packages_segment(run, k), expected, "{run} / {k}");
    }
}
