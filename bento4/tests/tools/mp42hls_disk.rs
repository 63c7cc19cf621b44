//! Reads that fail on a real (FUSE) disk: EIO is the I/O code 4 ("cannot read
//! input"), a read that ends early (the file is shorter than it says) stays corrupt
//! media, code 2. The disk is the repository's `tests/common/failing_disk.py`
//! (mount(2) on /dev/fuse: root); the file on it has the bytes of `clip_low.mp4`.

use crate::mp42hls_support::*;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

const FAILING_DISK: &str = include_str!("../../../tests/common/failing_disk.py");

struct FailingDisk {
    scratch: Scratch,
    server: Child,
}

impl FailingDisk {
    fn mount(label: &str) -> FailingDisk {
        let scratch = Scratch::new(label);
        std::fs::write(scratch.path("failing_disk.py"), FAILING_DISK).unwrap();
        std::fs::create_dir(scratch.path("mnt")).unwrap();
        let mut server = Command::new("python3")
            .arg(scratch.path("failing_disk.py"))
            .arg(scratch.path("mnt"))
            .arg("clip.mp4")
            .arg(media("clip_low.mp4"))
            .arg(scratch.path("control"))
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3");
        let mut line = String::new();
        BufReader::new(server.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "mounted", "needs root and /dev/fuse");
        FailingDisk { scratch, server }
    }

    fn file(&self) -> PathBuf {
        self.scratch.path("mnt/clip.mp4")
    }

    /// What reads do from now on: `"0"` all fail with EIO, `"0 short"` all end
    /// at once (end of file), `None` succeed.
    fn set(&self, control: Option<&str>) {
        match control {
            Some(text) => std::fs::write(self.scratch.path("control"), text).unwrap(),
            None => std::fs::remove_file(self.scratch.path("control")).unwrap(),
        }
    }
}

impl Drop for FailingDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.scratch.path("mnt"))
            .status();
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

/// The exit code and the one line of stderr.
fn code_and_reason(out: &Output) -> (Option<i32>, String) {
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr:?}");
    (out.status.code(), stderr)
}

fn mp4info(input: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mp4info"))
        .arg(input)
        .output()
        .unwrap()
}

#[test]
fn eio_is_the_io_code_and_a_short_read_stays_corrupt() {
    let disk = FailingDisk::mount("failing-disk");
    let input = disk.file();
    let input = input.to_str().unwrap();
    let out = Scratch::new("failing-disk-out");
    let modes: [&[&str]; 3] = [&["--plan"], &["--segments", "2"], &[]];

    disk.set(Some("0"));
    for mode in modes {
        let args: Vec<&str> = mode.iter().copied().chain([input]).collect();
        let (code, reason) = code_and_reason(&run_in(&out.0, &args));
        assert_eq!(code, Some(4), "{args:?}: {reason}");
        assert!(
            reason.starts_with("mp42hls: cannot read input: ")
                && reason.contains("Input/output error"),
            "{args:?}: {reason}"
        );
        assert!(out.files().is_empty(), "{args:?} left {:?}", out.files());
    }
    let (code, reason) = code_and_reason(&mp4info(Path::new(input)));
    assert_eq!(code, Some(4), "mp4info: {reason}");
    assert!(
        reason.starts_with("mp4info: cannot read input: "),
        "{reason}"
    );

    disk.set(Some("0 short"));
    for mode in modes {
        let args: Vec<&str> = mode.iter().copied().chain([input]).collect();
        let (code, reason) = code_and_reason(&run_in(&out.0, &args));
        assert_eq!(code, Some(2), "{args:?}: {reason}");
        assert!(
            reason.starts_with("mp42hls: corrupt input: ") && reason.contains("ends before"),
            "{args:?}: {reason}"
        );
    }
    assert_eq!(mp4info(Path::new(input)).status.code(), Some(2));

    // The same file reads again: it was the disk.
    disk.set(None);
    let plan = run_in(&out.0, &["--plan", input]);
    assert_eq!(plan.status.code(), Some(0), "{plan:?}");
}
