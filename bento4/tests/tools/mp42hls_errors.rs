//! Failures: bad inputs and bad options exit non-zero with one line of reason on
//! stderr and leave no playlist, segment or temporary file behind.

use crate::mp42hls_support::*;
use std::process::Command;

/// Runs with `args` in a fresh directory; checks the exit code, the one-line reason
/// and that nothing was left behind. Returns the reason.
fn fails(label: &str, args: &[&str], code: i32) -> String {
    let scratch = Scratch::new(label);
    let out = run_in(&scratch.0, args);
    assert_eq!(
        out.status.code(),
        Some(code),
        "{label}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        stderr.lines().count(),
        1,
        "{label}: one line on stderr, got {stderr:?}"
    );
    assert!(stderr.starts_with("mp42hls: "), "{label}: {stderr}");
    assert!(
        scratch.files().is_empty(),
        "{label}: left {:?}",
        scratch.files()
    );
    stderr
}

#[test]
fn broken_inputs_exit_2() {
    for name in [
        "empty.mp4",
        "garbage.mp4",
        "truncated.mp4",
        "truncated_faststart.mp4",
    ] {
        let input = media(name);
        let reason = fails(name, &[input.to_str().unwrap()], 2);
        assert!(
            reason.contains("corrupt") || reason.contains("truncated"),
            "{name}: {reason}"
        );
        // The same for the extensions.
        fails(name, &["--plan", input.to_str().unwrap()], 2);
        fails(name, &["--segments", "0", input.to_str().unwrap()], 2);
    }
}

/// An input that cannot be read is not corrupt media: exit 4 and "cannot read
/// input", so the worker neither answers 422 nor remembers it. A directory opens
/// (`open(2)` on a directory with `O_RDONLY` succeeds) but cannot be read as a file.
#[test]
fn unreadable_inputs_exit_4_not_2() {
    let dir = Scratch::new("input-dir");
    let as_dir = dir.0.to_str().unwrap();
    for (label, input) in [("missing", "/nonexistent/input.mp4"), ("dir", as_dir)] {
        for mode in [&[][..], &["--plan"][..], &["--segments", "1"][..]] {
            let args: Vec<&str> = mode.iter().copied().chain([input]).collect();
            let reason = fails(label, &args, 4);
            assert!(
                reason.starts_with("mp42hls: cannot read input: "),
                "{label}: {reason}"
            );
        }
    }
}

#[test]
fn zero_segment_duration_is_refused() {
    let input = media("clip_low.mp4");
    let reason = fails(
        "d0",
        &["--segment-duration", "0", input.to_str().unwrap()],
        1,
    );
    assert!(reason.contains("segment-duration"), "{reason}");
    fails(
        "dneg",
        &["--segment-duration", "-2", input.to_str().unwrap()],
        1,
    );
}

#[test]
fn unsupported_codec_exits_3() {
    // MPEG-4 Part 2 video: a real MP4 with a codec TS/HLS packaging does not take.
    let scratch = Scratch::new("mpeg4-src");
    let source = scratch.path("mpeg4.mp4");
    let made = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=64x64:rate=10",
            "-t",
            "1",
            "-c:v",
            "mpeg4",
        ])
        .arg(&source)
        .status()
        .expect("ffmpeg must be installed");
    assert!(made.success());
    let reason = fails("mpeg4", &[source.to_str().unwrap()], 3);
    assert!(
        reason.contains("unsupported codec mp4v in track 1"),
        "{reason}"
    );
}

#[test]
fn usage_errors_exit_1() {
    let out = run_in(&std::env::temp_dir(), &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage: mp42hls"));
    let out = run_in(&std::env::temp_dir(), &["--no-such-option", "x.mp4"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("mp42hls: unknown option --no-such-option\n"),
        "{stderr}"
    );
    assert!(stderr.contains("usage: mp42hls"));
    let input = media("clip_low.mp4");
    fails(
        "sample-aes",
        &[
            "--encryption-key",
            "00112233445566778899aabbccddeeff",
            "--encryption-mode",
            "SAMPLE-AES",
            input.to_str().unwrap(),
        ],
        1,
    );
}

#[test]
fn help_marks_extensions_and_capabilities_answer() {
    let out = run_in(&std::env::temp_dir(), &["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    let extensions = help
        .split("Extensions")
        .nth(1)
        .expect("an Extensions section");
    for option in [
        "--capabilities",
        "--first-segment-number",
        "--plan",
        "--segments",
    ] {
        assert!(
            extensions.contains(option),
            "{option} listed as an extension"
        );
    }
    let out = run_in(&std::env::temp_dir(), &["--capabilities"]);
    assert!(out.status.success());
    let caps: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(caps["casterpak_extensions"], 1);
    assert_eq!(caps["plan"], true);
    assert_eq!(caps["segments"], true);
    assert_eq!(caps["first_segment_number"], true);
}

#[test]
fn unwritable_output_exits_4_and_cleans_up() {
    let input = media("clip_low.mp4");
    let scratch = Scratch::new("unwritable");
    // Segments go to a directory that exists; the playlist to one that does not:
    // the failure comes last, after every segment was written, and must undo them.
    let out = run_in(
        &scratch.0,
        &[
            "--index-filename",
            "missing-dir/stream.m3u8",
            input.to_str().unwrap(),
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 1);
    assert!(scratch.files().is_empty(), "left {:?}", scratch.files());
}

#[test]
fn closed_stdout_is_an_output_error_not_a_panic() {
    // A reader that went away (`mp42hls --plan x.mp4 | head -c0`): the write fails
    // with EPIPE, which must be exit 4 with one line, as any other output error.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_mp42hls"))
        .args(["--plan"])
        .arg(media("clip_low.mp4"))
        .stdout(writer)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("mp42hls: writing to standard output"),
        "{stderr}"
    );
}
