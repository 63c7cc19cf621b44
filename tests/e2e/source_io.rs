//! A source whose disk fails while it is read: answered 502 "source unreadable",
//! never 422 (it is not bad media) and never remembered, so the next request runs
//! the tool again and the title serves once the disk reads again. The failing disk
//! is real: a FUSE file system (`common/failing_disk.py`, mounted with mount(2),
//! so the test runs as root) whose reads answer EIO while a control file says so,
//! mounted inside the media root. Both ways of running the tool: `--serve` jobs
//! and one-shot runs.

use crate::common::*;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const FAILING_DISK: &str = include_str!("../common/failing_disk.py");

/// The mounted failing disk; unmounted (lazily, so a stuck reader cannot keep it)
/// when dropped.
struct FailingDisk {
    mountpoint: PathBuf,
    control: PathBuf,
    server: Child,
}

impl FailingDisk {
    /// Mounts a disk at `mountpoint` holding `name` with the bytes of `backing`.
    fn mount(scratch: &Path, mountpoint: &Path, name: &str, backing: &Path) -> FailingDisk {
        let script = scratch.join("failing_disk.py");
        std::fs::write(&script, FAILING_DISK).unwrap();
        std::fs::create_dir_all(mountpoint).unwrap();
        let control = scratch.join("fail-from");
        let mut server = Command::new("python3")
            .arg(&script)
            .arg(mountpoint)
            .arg(name)
            .arg(backing)
            .arg(&control)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3");
        let mut line = String::new();
        BufReader::new(server.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(
            line.trim(),
            "mounted",
            "the failing disk needs root and /dev/fuse"
        );
        FailingDisk {
            mountpoint: mountpoint.to_path_buf(),
            control,
            server,
        }
    }

    /// Every read from now on fails with EIO.
    fn fail(&self) {
        std::fs::write(&self.control, "0").unwrap();
    }

    fn heal(&self) {
        std::fs::remove_file(&self.control).unwrap();
    }
}

impl Drop for FailingDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(&self.mountpoint)
            .status();
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

fn runs(stack: &Stack) -> usize {
    stack.mp42hls_runs().len() + stack.mp4info_runs().len()
}

/// `path` fails twice with 502 "source unreadable", each time running a tool (so
/// nothing was remembered), and nothing is cached.
fn unreadable_twice(stack: &Stack, path: &str) {
    for attempt in 1..=2 {
        let before = runs(stack);
        let r = stack.get(path);
        assert_eq!(r.status, 502, "{path} (attempt {attempt}): {}", r.text());
        assert!(
            r.text()
                .starts_with("source unreadable: cannot read input: "),
            "{path}: {}",
            r.text()
        );
        assert!(
            runs(stack) > before,
            "{path} (attempt {attempt}): the failure was remembered, no tool ran"
        );
    }
    assert!(!stack.cache_path(path).exists(), "{path} cached");
}

fn check(serve: bool) {
    let scratch = tempfile::tempdir().unwrap();
    let stack = Stack::builder()
        .config("tools", &format!("serve = {serve}"))
        .start();
    let disk = FailingDisk::mount(
        scratch.path(),
        &stack.media_root.join("disk"),
        "clip.mp4",
        &media("clip_low.mp4"),
    );
    let playlist = "/i/disk/clip.mp4/index_0_av.m3u8";
    let segment = "/i/disk/clip.mp4/segment2_0_av.ts";

    // The index cannot be read: the playlist.
    disk.fail();
    unreadable_twice(&stack, playlist);
    disk.heal();
    let r = stack.get(playlist);
    assert_eq!(r.status, 200, "healed playlist: {}", r.text());

    // The index was read (and is kept in a serve process), the samples cannot be.
    disk.fail();
    unreadable_twice(&stack, segment);
    disk.heal();
    let r = stack.get(segment);
    assert_eq!(r.status, 200, "healed segment: {}", r.text());
    assert!(r.body.len() > 10_000 && r.body[0] == 0x47, "a TS segment");
    let log = stack.worker_log();
    assert!(log.contains("Input/output error"), "{log}");
}

#[test]
fn a_failing_disk_is_502_and_not_remembered_with_serve_processes() {
    check(true);
}

#[test]
fn a_failing_disk_is_502_and_not_remembered_with_one_shot_runs() {
    check(false);
}
