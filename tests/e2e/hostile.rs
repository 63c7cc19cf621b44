//! Bad media and hostile URLs through the whole stack: a clear 4xx with a one-line
//! reason, nothing written to the cache, nothing read outside the roots, worker alive.

use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

/// A small MPEG-4 Part 2 video in MP4: a codec casterpak does not package.
fn make_mpeg4_part2(dir: &Path) -> PathBuf {
    let path = dir.join("mpeg4_part2.mp4");
    let out = Command::new("ffmpeg")
        .args([
            "-nostdin",
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
        ])
        .args([
            "-i",
            "testsrc2=size=320x240:rate=24",
            "-t",
            "2",
            "-c:v",
            "mpeg4",
        ])
        .arg(&path)
        .output()
        .expect("run ffmpeg");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    path
}

fn assert_one_line_reason(r: &Response, what: &str) {
    let text = r.text();
    let reason = text.trim_end_matches('\n');
    assert!(
        !reason.trim().is_empty() && !reason.contains('\n'),
        "{what}: reason is not one line: {text:?}"
    );
}

#[test]
fn bad_media_is_refused_with_a_reason_and_never_cached() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let mpeg4 = make_mpeg4_part2(scratch.path());
    let stack = Stack::builder()
        .media("empty.mp4")
        .media("garbage.mp4")
        .media("truncated.mp4")
        .media("truncated_faststart.mp4")
        .file_as(&mpeg4, "mpeg4_part2.mp4")
        .media("clip_low.mp4")
        .start();
    let cases = [
        ("empty", 422),
        ("garbage", 422),
        ("truncated", 422),           // moov missing
        ("truncated_faststart", 422), // mdat cut short, moov intact
        ("mpeg4_part2", 415),
    ];
    for (name, status) in cases {
        for leaf in ["master.m3u8", "index_0_av.m3u8", "segment1_0_av.ts"] {
            let path = format!("/i/{name}.mp4/{leaf}");
            let r = stack.get(&path);
            assert_eq!(r.status, status, "{path}: {}", r.text());
            assert_one_line_reason(&r, &path);
        }
    }
    assert_eq!(
        stack.cached_files(),
        Vec::<PathBuf>::new(),
        "bad media left files"
    );
    // Failures are remembered briefly: asking again does not run the tools again.
    let before = (stack.mp4info_runs().len(), stack.mp42hls_runs().len());
    for (name, status) in cases {
        let r = stack.get(&format!("/i/{name}.mp4/segment1_0_av.ts"));
        assert_eq!(r.status, status, "{name} again");
    }
    let after = (stack.mp4info_runs().len(), stack.mp42hls_runs().len());
    assert_eq!(before, after, "tools ran again for remembered failures");
    // The worker is alive and well.
    let r = stack.get("/i/clip_low.mp4/segment1_0_av.ts");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_transport_stream(&r.body, "good segment after bad media");
}

/// Sets atime and mtime to one past moment: on relatime mounts any read then moves atime.
fn age(path: &Path) -> SystemTime {
    let past = SystemTime::now() - Duration::from_secs(3 * 24 * 3600);
    let file = std::fs::File::options()
        .write(true)
        .open(path)
        .expect("open canary");
    file.set_times(
        std::fs::FileTimes::new()
            .set_accessed(past)
            .set_modified(past),
    )
    .expect("set canary times");
    std::fs::metadata(path)
        .expect("stat")
        .accessed()
        .expect("atime")
}

#[test]
fn hostile_urls_are_refused_and_touch_nothing_outside_the_roots() {
    let stack = Stack::builder().media("clip_low.mp4").start();
    // A real MP4 outside every root, reachable only through symlinks in the media root.
    let outside = stack.dir.path().join("outside");
    std::fs::create_dir_all(&outside).expect("outside dir");
    let canary = outside.join("canary.mp4");
    std::fs::copy(media("clip_low.mp4"), &canary).expect("canary");
    let canary_bytes = std::fs::read(&canary).expect("read canary");
    std::os::unix::fs::symlink(&canary, stack.media_root.join("link.mp4")).expect("file link");
    std::os::unix::fs::symlink(&outside, stack.media_root.join("dirlink")).expect("dir link");
    let atime = age(&canary);

    let overlong = format!("/i/{}.mp4/master.m3u8", "a".repeat(5000));
    let way_overlong = format!("/i/{}.mp4/master.m3u8", "a".repeat(20000));
    let cases: Vec<Vec<u8>> = [
        "/i/../x",
        "/i/../outside/canary.mp4/master.m3u8",
        "/i/%2e%2e/outside/canary.mp4/master.m3u8",
        "/i/x/%2e%2e/link.mp4/master.m3u8",
        "/i/x/%2E%2E/%2e%2e/outside/canary.mp4/master.m3u8",
        "/i/a%2fb.mp4/master.m3u8",
        "/i/..%2foutside%2fcanary.mp4/master.m3u8",
        "/i/..%5coutside%5ccanary.mp4/master.m3u8",
        "/i/clip_low.mp4%00/master.m3u8",
        "/i/clip_low.mp4/master.m3u8%00",
        "/i/%ff%fe.mp4/master.m3u8",
        "/i//etc/passwd",
        "/i/link.mp4/master.m3u8",
        "/i/link.mp4/index_0_av.m3u8",
        "/i/link.mp4/segment1_0_av.ts",
        "/i/dirlink/canary.mp4/master.m3u8",
        "/i/dirlink/canary.mp4/segment1_0_av.ts",
        "/i/,link,dirlink/canary,.mp4.csmil/master.m3u8",
        "/i/,link,dirlink/canary,.mp4.csmil/segment1_0_av.ts",
        overlong.as_str(),
        way_overlong.as_str(),
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .chain([b"/i/\xff.mp4/master.m3u8".to_vec()])
    .collect();
    for path in &cases {
        let r = stack.get_raw(path);
        let shown = String::from_utf8_lossy(&path[..path.len().min(80)]).into_owned();
        assert!(
            [400, 404, 414].contains(&r.status),
            "{shown}: {} {}",
            r.status,
            r.text()
        );
    }
    // A csmil list mixing a good rendition with the symlink leaves the symlink out.
    let r = stack.get("/i/,clip_low,link,.mp4.csmil/master.m3u8");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(variants(&r.text()).len(), 1, "{}", r.text());
    assert!(!r.text().contains("link"), "{}", r.text());

    let runs = [stack.mp4info_runs(), stack.mp42hls_runs()].concat();
    for run in &runs {
        assert!(
            !run.contains("canary") && !run.contains("link"),
            "a tool ran on the canary: {run}"
        );
    }
    // atime first: reading the content for the comparison moves it.
    let atime_after = std::fs::metadata(&canary)
        .expect("stat")
        .accessed()
        .expect("atime");
    assert_eq!(atime_after, atime, "the canary was read");
    assert_eq!(std::fs::read(&canary).expect("canary"), canary_bytes);
    for file in stack.cached_files() {
        let name = file.to_string_lossy();
        assert!(
            !name.contains("canary") && !name.contains("link.mp4/"),
            "cached: {name}"
        );
    }
    assert_eq!(stack.get("/i/clip_low.mp4/segment1_0_av.ts").status, 200);
}

#[test]
fn malformed_scgi_input_leaves_the_worker_alive() {
    use std::io::{Read, Write};
    let stack = Stack::builder().media("clip_low.mp4").start();
    let huge = [b"70000:".to_vec(), vec![b'a'; 70000]].concat();
    let cases: Vec<Vec<u8>> = vec![
        b"garbage".to_vec(),
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        b"99999999999:".to_vec(),
        b"10:abc".to_vec(),                                 // closes early
        b"9:REQUEST_U,".to_vec(),                           // no NUL pairs
        b"25:CONTENT_LENGTH\x000\x00REQUEST_URI;".to_vec(), // no comma
        // Well-formed, with a URI that is not UTF-8 once decoded: an answer, a 400.
        b"40:CONTENT_LENGTH\x000\x00REQUEST_URI\x00/i/%ff.mp4\x00,".to_vec(),
        huge,
        Vec::new(),
    ];
    let mut answers = Vec::new();
    for case in &cases {
        let shown = String::from_utf8_lossy(&case[..case.len().min(40)]).into_owned();
        let mut conn =
            std::os::unix::net::UnixStream::connect(&stack.worker_socket).expect("connect worker");
        conn.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .expect("timeout");
        // The worker may close before reading everything: a write error is an answer too.
        let _ = conn.write_all(case);
        let _ = conn.shutdown(std::net::Shutdown::Write);
        let mut answer = Vec::new();
        if let Err(e) = conn.read_to_end(&mut answer) {
            assert!(
                e.kind() != std::io::ErrorKind::WouldBlock
                    && e.kind() != std::io::ErrorKind::TimedOut,
                "{shown:?}: the worker kept the connection open"
            );
        }
        answers.push(String::from_utf8_lossy(&answer).into_owned());
    }
    let well_formed = &answers[6];
    assert!(well_formed.starts_with("Status: 400"), "{well_formed:?}");
    let r = stack.get("/i/clip_low.mp4/segment1_0_av.ts");
    assert_eq!(r.status, 200, "worker after malformed SCGI: {}", r.text());
}

/// Runs one of the workspace's real tools and returns its JSON output.
fn tool_json(tool: &str, args: &[&str], file: &Path) -> serde_json::Value {
    let out = Command::new(bin_dir().join(tool))
        .args(args)
        .arg(file)
        .output()
        .expect("run tool");
    assert!(
        out.status.success(),
        "{tool}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("tool JSON")
}

/// A copy of clip_low.mp4 whose video sample in the middle of segment 3 (6 s
/// segments) has a NAL length past the sample: the index is intact, so `--plan`
/// succeeds, and only `--segments 3` finds the damage.
fn make_bad_segment_3(dir: &Path) -> PathBuf {
    let path = dir.join("bad_segment_3.mp4");
    std::fs::copy(media("clip_low.mp4"), &path).expect("copy clip");
    let plan = tool_json("mp42hls", &["--plan", "--first-segment-number", "1"], &path);
    let segment = &plan["segments"][2];
    assert_eq!(segment["number"], 3, "{plan}");
    let middle = segment["start"].as_f64().expect("start")
        + segment["duration"].as_f64().expect("duration") / 2.0;
    let info = tool_json("mp4info", &["--format", "json", "--show-samples"], &path);
    let video = info["tracks"]
        .as_array()
        .expect("tracks")
        .iter()
        .find(|t| t["type"] == "Video")
        .expect("a video track");
    let timescale = video["media"]["timescale"].as_f64().expect("timescale");
    let sample = video["samples"]
        .as_array()
        .expect("samples")
        .iter()
        .find(|s| {
            s["dts"]
                .as_f64()
                .is_some_and(|dts| dts / timescale >= middle)
        })
        .expect("a video sample in segment 3");
    let offset = sample["offset"].as_u64().expect("offset");
    let mut bytes = std::fs::read(&path).expect("read copy");
    let at = usize::try_from(offset).expect("offset fits");
    bytes[at..at + 4].copy_from_slice(&[0x7f, 0xff, 0xff, 0xff]);
    std::fs::write(&path, bytes).expect("write corrupt copy");
    path
}

#[test]
fn one_bad_segment_fails_only_itself() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let bad = make_bad_segment_3(scratch.path());
    let stack = Stack::builder().file_as(&bad, "bad3.mp4").start();
    let path = |leaf: &str| format!("/i/bad3.mp4/{leaf}");
    let r = stack.get(&path("segment3_0_av.ts"));
    assert_eq!(r.status, 422, "{}", r.text());
    assert_one_line_reason(&r, "segment 3");
    // Within the failure TTL (30 s by default), again and again: segment 3 stays
    // remembered, the rest of the title is served.
    for attempt in 0..3 {
        let runs = stack.mp42hls_runs().len();
        let r = stack.get(&path("segment3_0_av.ts"));
        assert_eq!(r.status, 422, "attempt {attempt}: {}", r.text());
        assert_eq!(
            stack.mp42hls_runs().len(),
            runs,
            "segment 3's failure is remembered"
        );
        for leaf in ["master.m3u8", "index_0_av.m3u8"] {
            let r = stack.get(&path(leaf));
            assert_eq!(r.status, 200, "attempt {attempt} {leaf}: {}", r.text());
        }
        for k in [1, 2, 4, 5] {
            let leaf = format!("segment{k}_0_av.ts");
            let r = stack.get(&path(&leaf));
            assert_eq!(r.status, 200, "attempt {attempt} {leaf}: {}", r.text());
            assert_transport_stream(&r.body, &leaf);
        }
    }
    assert!(std::fs::symlink_metadata(stack.cache_path(&path("segment3_0_av.ts"))).is_err());
}

/// `chattr +i` on a directory, undone on drop (also when the test fails).
struct Immutable(PathBuf);

impl Immutable {
    fn set(dir: &Path) -> Immutable {
        let out = Command::new("chattr")
            .arg("+i")
            .arg(dir)
            .output()
            .expect("run chattr");
        assert!(
            out.status.success(),
            "chattr +i {} (the test runs as root on a file system with attributes): {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        Immutable(dir.to_path_buf())
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = Command::new("chattr").arg("-i").arg(&self.0).status();
    }
}

/// A cache write that fails answers 500 saying what failed, in terms of the request;
/// the paths of this machine are in the worker's log only.
#[test]
fn a_failed_cache_write_names_no_server_path() {
    let stack = Stack::builder().media("clip_low.mp4").start();
    // Every fill writes under the cache's scratch dir first; immutable, even root
    // cannot create anything there.
    let scratch = stack.cache_root.join(".casterpak-tmp");
    assert!(scratch.is_dir(), "{}", scratch.display());
    let guard = Immutable::set(&scratch);
    let root = stack.dir.path().display().to_string();
    for leaf in ["master.m3u8", "index_0_av.m3u8", "segment1_0_av.ts"] {
        let r = stack.get(&format!("/i/clip_low.mp4/{leaf}"));
        let body = r.text();
        assert_eq!(r.status, 500, "{leaf}: {body}");
        assert_eq!(
            body, "cache write failed: operation not permitted\n",
            "{leaf}"
        );
        assert!(!body.contains(&root), "{leaf}: {body}");
        assert!(
            !body
                .split([' ', '"', '(', '[', '=', ':'])
                .any(|w| w.starts_with('/')),
            "{leaf}: {body}"
        );
    }
    assert!(
        stack.worker_log().contains(&scratch.display().to_string()),
        "the log keeps the path: {}",
        stack.worker_log()
    );
    drop(guard);
    let r = stack.get("/i/clip_low.mp4/segment1_0_av.ts");
    assert_eq!(
        r.status,
        200,
        "after the disk is writable again: {}",
        r.text()
    );
}
