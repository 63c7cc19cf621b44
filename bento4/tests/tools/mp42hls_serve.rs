//! `mp42hls --serve` against the real binary: jobs over a SOCK_SEQPACKET socketpair
//! with the source's descriptor attached (what the worker does), and over a pipe
//! with paths. Every answer is checked against a one-shot run of the same binary:
//! plans equal `--plan`, segments byte-equal `--segments K`, failures carry the
//! one-shot exit code and reason.

use crate::mp42hls_support::*;
use nix::sys::socket::{
    sendmsg, socketpair, AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType,
};
use serde_json::{json, Value};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, IoSlice, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};

/// A `--serve` process fed through a socketpair.
struct Server {
    child: Child,
    socket: Option<OwnedFd>,
    answers: BufReader<ChildStdout>,
    next_id: u64,
}

impl Server {
    fn start(extra: &[&str]) -> Server {
        Server::start_on(SockType::SeqPacket, extra)
    }

    fn start_on(kind: SockType, extra: &[&str]) -> Server {
        let (ours, theirs) =
            socketpair(AddressFamily::Unix, kind, None, SockFlag::SOCK_CLOEXEC).unwrap();
        let mut child = Command::new(TOOL)
            .arg("--serve")
            .args(extra)
            .stdin(Stdio::from(theirs))
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let answers = BufReader::new(child.stdout.take().unwrap());
        Server {
            child,
            socket: Some(ours),
            answers,
            next_id: 1,
        }
    }

    /// Sends `job` (an `id` added) with these descriptors attached; returns its answer.
    fn ask_with(&mut self, mut job: Value, fds: &[&File]) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        job["id"] = json!(id);
        let answer = self.send_raw(job.to_string().as_bytes(), fds);
        assert_eq!(answer["id"], json!(id), "{answer}");
        answer
    }

    fn ask(&mut self, job: Value, source: &Path) -> Value {
        let file = File::open(source).unwrap();
        self.ask_with(job, &[&file])
    }

    fn send_raw(&mut self, bytes: &[u8], fds: &[&File]) -> Value {
        let raw: Vec<i32> = fds.iter().map(|f| f.as_raw_fd()).collect();
        let rights = [ControlMessage::ScmRights(&raw)];
        let cmsgs: &[ControlMessage] = if raw.is_empty() { &[] } else { &rights };
        let socket = self.socket.as_ref().unwrap().as_raw_fd();
        sendmsg::<()>(
            socket,
            &[IoSlice::new(bytes)],
            cmsgs,
            MsgFlags::empty(),
            None,
        )
        .unwrap();
        self.read_answer()
    }

    fn read_answer(&mut self) -> Value {
        let mut line = String::new();
        self.answers.read_line(&mut line).unwrap();
        assert!(line.ends_with('\n'), "answer {line:?}");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("answer {line:?}: {e}"))
    }

    fn stats(&mut self) -> (u64, u64) {
        let answer = self.ask_with(json!({"op": "stats"}), &[]);
        assert_eq!(answer["ok"], true, "{answer}");
        (
            answer["entries"].as_u64().unwrap(),
            answer["bytes"].as_u64().unwrap(),
        )
    }

    fn open_fds(&self) -> Vec<String> {
        let dir = format!("/proc/{}/fd", self.child.id());
        let mut targets: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let target = std::fs::read_link(e.path()).map(|p| p.display().to_string());
                format!(
                    "{} -> {}",
                    e.file_name().to_string_lossy(),
                    target.unwrap_or_default()
                )
            })
            .collect();
        targets.sort();
        targets
    }

    /// Closes the socket: the process ends with exit 0.
    fn finish(mut self) {
        drop(self.socket.take());
        let status = self.child.wait().unwrap();
        assert_eq!(status.code(), Some(0));
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // A failed test must not leave the process behind.
        if self.socket.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn plan_job(duration: f64) -> Value {
    json!({"op": "plan", "segment_duration": duration, "first_segment_number": 1})
}

fn segment_job(duration: f64, k: u64, output: &Path) -> Value {
    json!({"op": "segment", "segment_duration": duration, "k": k,
           "output": output.to_str().unwrap()})
}

/// The answer without `id` and `ok`: what `--plan` would have printed.
fn plan_of(mut answer: Value) -> Value {
    assert_eq!(answer["ok"], true, "{answer}");
    let map = answer.as_object_mut().unwrap();
    map.remove("id");
    map.remove("ok");
    answer
}

fn one_shot_plan(input: &Path, duration: f64) -> Value {
    let out = run_ok(
        &std::env::temp_dir(),
        &[
            "--plan",
            "--first-segment-number",
            "1",
            "--segment-duration",
            &duration.to_string(),
            input.to_str().unwrap(),
        ],
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn one_shot_segment(input: &Path, duration: f64, k: u64) -> Vec<u8> {
    let scratch = Scratch::new("one-shot");
    run_ok(
        &scratch.0,
        &[
            "--segments",
            &k.to_string(),
            "--first-segment-number",
            "1",
            "--segment-duration",
            &duration.to_string(),
            "--segment-filename-template",
            "s%d.ts",
            input.to_str().unwrap(),
        ],
    );
    scratch.read(&format!("s{k}.ts"))
}

/// One-shot exit code and reason (stderr without the `mp42hls: ` prefix).
fn one_shot_failure(args: &[&str]) -> (i32, String) {
    let out = run_in(&std::env::temp_dir(), args);
    let stderr = String::from_utf8(out.stderr).unwrap();
    let reason = stderr
        .trim_end()
        .strip_prefix("mp42hls: ")
        .unwrap()
        .to_string();
    (out.status.code().unwrap(), reason)
}

fn failure_of(answer: &Value) -> (i32, String) {
    assert_eq!(answer["ok"], false, "{answer}");
    (
        answer["code"].as_i64().unwrap() as i32,
        answer["reason"].as_str().unwrap().to_string(),
    )
}

#[test]
fn plans_equal_one_shot_plans_cold_and_warm() {
    let mut server = Server::start(&[]);
    for name in [
        "clip_low.mp4",
        "hevc.mp4",
        "audio_only.mp4",
        "fragmented.mp4",
        "long_1080p_10min.mp4",
    ] {
        let input = media(name);
        for duration in [6.0, 10.0] {
            let expected = one_shot_plan(&input, duration);
            assert!(expected["segments"].as_array().unwrap().len() > 1, "{name}");
            // Cold (parsed), then warm (the same index and plan from the cache).
            for _ in 0..2 {
                let answer = server.ask(plan_job(duration), &input);
                assert_eq!(plan_of(answer), expected, "{name} at {duration} s");
            }
        }
    }
    // One index per file, each with its two plans.
    assert_eq!(server.stats().0, 5);
    server.finish();
}

#[test]
fn a_plan_job_with_captions_answers_the_plan_and_the_captions_job_in_one() {
    let mut server = Server::start(&[]);
    for name in ["captioned.mp4", "clip_low.mp4", "audio_only.mp4"] {
        let input = media(name);
        let expected_plan = one_shot_plan(&input, 6.0);
        let captions = server.ask(json!({"op": "captions"}), &input);
        assert_eq!(captions["ok"], true, "{captions}");
        // Cold (a fresh process's index) and warm (the kept answers).
        for _ in 0..2 {
            let mut job = plan_job(6.0);
            job["captions"] = json!(true);
            let mut answer = server.ask(job, &input);
            assert_eq!(answer["cea608"], captions["cea608"], "{name}");
            answer.as_object_mut().unwrap().remove("cea608");
            assert_eq!(plan_of(answer), expected_plan, "{name}");
        }
    }
    let mut found = |name: &str| {
        let mut job = plan_job(6.0);
        job["captions"] = json!(true);
        server.ask(job, &media(name))["cea608"]["field1"].clone()
    };
    assert_eq!(found("captioned.mp4"), json!(true));
    assert_eq!(found("clip_low.mp4"), json!(false));
    // Only a plan job takes it.
    let mut job = segment_job(6.0, 1, Path::new("/tmp/never-written.ts"));
    job["captions"] = json!(true);
    let (code, reason) = failure_of(&server.ask(job, &media("clip_low.mp4")));
    assert_eq!(code, 1, "{reason}");
    assert!(reason.contains("captions"), "{reason}");
    server.finish();
}

#[test]
fn segments_equal_one_shot_segments() {
    let scratch = Scratch::new("serve-segments");
    let mut server = Server::start(&[]);
    let clip = media("clip_low.mp4");
    let count = one_shot_plan(&clip, 6.0)["segments"]
        .as_array()
        .unwrap()
        .len() as u64;
    assert_eq!(count, 5);
    let long = media("long_1080p_10min.mp4");
    let long_count = one_shot_plan(&long, 6.0)["segments"]
        .as_array()
        .unwrap()
        .len() as u64;
    let cases: Vec<(&Path, u64)> = (1..=count)
        .map(|k| (clip.as_path(), k))
        .chain([1, 2, 40, 77, long_count].map(|k| (long.as_path(), k)))
        .collect();
    for (input, k) in cases {
        let output = scratch.path(&format!(
            "{}-{k}.ts",
            input.file_stem().unwrap().to_str().unwrap()
        ));
        let answer = server.ask(segment_job(6.0, k, &output), input);
        assert_eq!(answer["ok"], true, "{answer}");
        let written = std::fs::read(&output).unwrap();
        let expected = one_shot_segment(input, 6.0, k);
        assert_eq!(answer["bytes"], json!(written.len()));
        assert!(
            written == expected,
            "{} segment {k} differs",
            input.display()
        );
        // The interleaved test media need one read per segment (two at most where
        // a segment's bytes straddle a chunk of the other track's next segment).
        let reads = answer["reads"].as_u64().unwrap();
        assert!(
            (1..=2).contains(&reads),
            "{} segment {k}: {reads} reads",
            input.display()
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&output).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & !0o644, 0, "mode {mode:o}");
    }
    // The output is created, never overwritten: an existing file is an I/O error
    // (code 4) and stays as it was.
    let taken = scratch.path("taken.ts");
    std::fs::write(&taken, b"mine").unwrap();
    let answer = server.ask(segment_job(6.0, 1, &taken), &clip);
    assert_eq!(failure_of(&answer).0, 4, "{answer}");
    assert_eq!(std::fs::read(&taken).unwrap(), b"mine");
    server.finish();
}

#[test]
fn out_of_range_segments_answer_code_5_like_one_shot() {
    let scratch = Scratch::new("serve-range");
    let mut server = Server::start(&[]);
    let clip = media("clip_low.mp4");
    for k in [0, 6, 1000] {
        let output = scratch.path(&format!("s{k}.ts"));
        let answer = server.ask(segment_job(6.0, k, &output), &clip);
        let expected = one_shot_failure(&[
            "--segments",
            &k.to_string(),
            "--first-segment-number",
            "1",
            "--segment-duration",
            "6",
            "--segment-filename-template",
            scratch.path("x%d.ts").to_str().unwrap(),
            clip.to_str().unwrap(),
        ]);
        assert_eq!(expected.0, 5);
        assert_eq!(failure_of(&answer), expected, "k {k}");
        assert!(!output.exists());
    }
    assert_eq!(scratch.files(), Vec::<String>::new());
    server.finish();
}

#[test]
fn corrupt_titles_answer_like_one_shot_and_the_process_goes_on() {
    let scratch = Scratch::new("serve-corrupt");
    let mut server = Server::start(&[]);
    let clip = media("clip_low.mp4");
    let good = one_shot_plan(&clip, 6.0);
    let titles = crate::crafted_media::corrupt_titles(&media_dir());
    assert_eq!(titles.len(), 11);
    for title in titles {
        let input = scratch.path(&format!("{}.mp4", title.name));
        std::fs::write(&input, &title.bytes).unwrap();
        let expected = one_shot_failure(&["--plan", input.to_str().unwrap()]);
        assert_eq!(expected.0, 2, "{}", title.name);
        assert!(
            expected.1.contains(title.reason),
            "{}: {}",
            title.name,
            expected.1
        );
        let answer = server.ask(plan_job(6.0), &input);
        assert_eq!(failure_of(&answer), expected, "{} plan", title.name);
        // A segment job says the same and writes nothing.
        let output = scratch.path(&format!("{}.ts", title.name));
        let answer = server.ask(segment_job(6.0, 1, &output), &input);
        assert_eq!(failure_of(&answer), expected, "{} segment", title.name);
        assert!(!output.exists(), "{}", title.name);
        // The next job succeeds.
        assert_eq!(plan_of(server.ask(plan_job(6.0), &clip)), good);
    }
    // Truncated media data found only when reading samples: the segment fails like
    // the one-shot run, and nothing is left behind.
    let truncated = media("truncated_faststart.mp4");
    let expected = one_shot_failure(&["--plan", truncated.to_str().unwrap()]);
    let answer = server.ask(plan_job(6.0), &truncated);
    assert_eq!(failure_of(&answer), expected);
    server.finish();
}

#[test]
fn a_replaced_source_is_not_served_from_its_old_index() {
    let scratch = Scratch::new("serve-replaced");
    let mut server = Server::start(&[]);
    let path = scratch.path("title.mp4");
    let versions = ["clip_low.mp4", "hevc.mp4", "clip_medium.mp4"].map(media);
    std::fs::copy(&versions[0], &path).unwrap();
    let first = server.ask(plan_job(6.0), &path);
    assert_eq!(plan_of(first), one_shot_plan(&versions[0], 6.0));
    let segment = |server: &mut Server, name: &str| {
        let output = scratch.path(name);
        let answer = server.ask(segment_job(6.0, 1, &output), &path);
        assert_eq!(answer["ok"], true, "{answer}");
        std::fs::read(output).unwrap()
    };
    assert!(segment(&mut server, "a.ts") == one_shot_segment(&versions[0], 6.0, 1));
    // Rewritten in place: same inode, other size and modification time.
    {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        file.write_all(&std::fs::read(&versions[1]).unwrap())
            .unwrap();
    }
    assert_eq!(
        plan_of(server.ask(plan_job(6.0), &path)),
        one_shot_plan(&versions[1], 6.0)
    );
    assert!(segment(&mut server, "b.ts") == one_shot_segment(&versions[1], 6.0, 1));
    // Replaced by rename: a new inode.
    let next = scratch.path("next.mp4");
    std::fs::copy(&versions[2], &next).unwrap();
    std::fs::rename(&next, &path).unwrap();
    assert_eq!(
        plan_of(server.ask(plan_job(6.0), &path)),
        one_shot_plan(&versions[2], 6.0)
    );
    assert!(segment(&mut server, "c.ts") == one_shot_segment(&versions[2], 6.0, 1));
    server.finish();
}

#[test]
fn the_index_cache_stays_within_its_bounds() {
    let names = [
        "clip_low.mp4",
        "clip_medium.mp4",
        "hevc.mp4",
        "audio_only.mp4",
        "video_only.mp4",
    ];
    let expected: Vec<Value> = names
        .iter()
        .map(|n| one_shot_plan(&media(n), 6.0))
        .collect();
    let mut server = Server::start(&["--index-cache-entries", "2"]);
    for round in 0..3 {
        for (name, plan) in names.iter().zip(&expected) {
            let answer = server.ask(plan_job(6.0), &media(name));
            assert_eq!(&plan_of(answer), plan, "{name}, round {round}");
            let (entries, bytes) = server.stats();
            assert!((1..=2).contains(&entries), "{entries} entries");
            assert!(bytes > 0);
        }
    }
    server.finish();
    // A byte bound smaller than the long title's index: that index is used for its
    // job and not kept; small ones still are.
    let long = media("long_1080p_10min.mp4");
    let mut server = Server::start(&["--index-cache-bytes", "200000"]);
    let clip = media("clip_low.mp4");
    assert_eq!(plan_of(server.ask(plan_job(6.0), &clip)), expected[0]);
    let (entries, small) = server.stats();
    assert_eq!(entries, 1);
    assert!(small > 0 && small <= 200_000, "{small}");
    assert_eq!(
        plan_of(server.ask(plan_job(6.0), &long)),
        one_shot_plan(&long, 6.0)
    );
    assert_eq!(
        server.stats(),
        (1, small),
        "the long title's index was kept"
    );
    server.finish();
}

#[test]
fn no_descriptor_leaks_after_200_jobs() {
    let scratch = Scratch::new("serve-fds");
    let mut server = Server::start(&[]);
    let clip = media("clip_low.mp4");
    let corrupt = scratch.path("corrupt.mp4");
    std::fs::write(
        &corrupt,
        &crate::crafted_media::corrupt_titles(&media_dir())[0].bytes,
    )
    .unwrap();
    let sources = [File::open(&clip).unwrap(), File::open(&corrupt).unwrap()];
    // Warm up, then count what the process holds open.
    assert_eq!(server.ask(plan_job(6.0), &clip)["ok"], true);
    let before = server.open_fds();
    for i in 0..200u64 {
        let answer = match i % 8 {
            0 => server.ask_with(plan_job(6.0), &[&sources[0]]),
            1 => server.ask_with(
                segment_job(6.0, 1 + i % 5, &scratch.path(&format!("{i}.ts"))),
                &[&sources[0]],
            ),
            2 => server.ask_with(plan_job(6.0), &[&sources[1]]),
            3 => server.ask_with(segment_job(6.0, 99, &scratch.path("x.ts")), &[&sources[0]]),
            // Two descriptors, one too many: both are closed.
            4 => server.ask_with(plan_job(6.0), &[&sources[0], &sources[1]]),
            // A descriptor with a bad job, and with a stats job.
            5 => server.ask_with(json!({"op": "plan"}), &[&sources[0]]),
            6 => server.ask_with(json!({"op": "stats"}), &[&sources[0]]),
            _ => server.send_raw(b"not json", &[&sources[1]]),
        };
        let ok = answer["ok"].as_bool().unwrap();
        assert_eq!(ok, i % 8 <= 1, "job {i}: {answer}");
    }
    assert_eq!(server.open_fds(), before);
    assert!(
        !before
            .iter()
            .any(|fd| fd.contains("clip_low") || fd.contains("corrupt")),
        "{before:?}"
    );
    server.finish();
}

#[test]
fn bad_jobs_answer_code_1_and_end_of_input_ends_the_process() {
    let mut server = Server::start(&[]);
    let clip = media("clip_low.mp4");
    let file = File::open(&clip).unwrap();
    let cases: [(Value, bool, &str); 3] = [
        (plan_job(6.0), false, "neither"),
        (
            json!({"op": "plan", "segment_duration": 6, "input": clip.to_str().unwrap()}),
            true,
            "both",
        ),
        (
            json!({"op": "segment", "segment_duration": 6, "k": 1, "output": "rel.ts"}),
            true,
            "absolute",
        ),
    ];
    for (job, with_fd, needle) in cases {
        let fds: &[&File] = if with_fd { &[&file] } else { &[] };
        let answer = server.ask_with(job, fds);
        let (code, reason) = failure_of(&answer);
        assert_eq!(code, 1, "{answer}");
        assert!(reason.contains(needle), "{reason}");
    }
    // Unreadable id: null.
    let answer = server.send_raw(b"{\"op\":\"plan\"", &[]);
    assert_eq!(answer["id"], Value::Null);
    assert_eq!(failure_of(&answer).0, 1);
    // The process still works, then ends on end of input with exit 0.
    assert_eq!(server.ask(plan_job(6.0), &clip)["ok"], true);
    server.finish();
}

/// A real read error (not a short file): a descriptor opened write-only `fstat`s
/// as the regular file it is, and every `pread` through it fails with EBADF. Cold
/// (parsing the index) and warm (the index cached, a segment's samples read) the
/// job answers code 4 "cannot read input", like a disk's EIO would, never 2; the
/// process goes on, and the same file through a readable descriptor serves.
#[test]
fn a_source_that_cannot_be_read_answers_code_4_not_corrupt() {
    let scratch = Scratch::new("serve-unreadable");
    let clip = scratch.path("clip.mp4");
    std::fs::copy(media("clip_low.mp4"), &clip).unwrap();
    let write_only = || OpenOptions::new().write(true).open(&clip).unwrap();
    let mut server = Server::start(&[]);
    let cannot_read = |answer: &Value| {
        let (code, reason) = failure_of(answer);
        assert_eq!(code, 4, "{answer}");
        assert!(reason.starts_with("cannot read input: "), "{answer}");
        assert!(reason.contains("Bad file descriptor"), "{answer}");
    };
    cannot_read(&server.ask_with(plan_job(6.0), &[&write_only()]));
    assert_eq!(server.stats().0, 0, "a failed open is not cached");
    let plan = server.ask(plan_job(6.0), &clip);
    assert_eq!(plan_of(plan), one_shot_plan(&clip, 6.0));
    let output = scratch.path("s2.ts");
    cannot_read(&server.ask_with(segment_job(6.0, 2, &output), &[&write_only()]));
    assert!(!output.exists(), "a failed segment leaves no file");
    let answer = server.ask(segment_job(6.0, 2, &output), &clip);
    assert_eq!(answer["ok"], true, "{answer}");
    assert!(std::fs::read(&output).unwrap() == one_shot_segment(&clip, 6.0, 2));
    server.finish();
}

#[test]
fn the_pipe_form_takes_paths() {
    let scratch = Scratch::new("serve-pipe");
    let clip = media("clip_low.mp4");
    let output = scratch.path("s3.ts");
    let jobs = [
        json!({"id": 1, "op": "plan", "segment_duration": 6, "input": clip.to_str().unwrap()}),
        json!({"id": 2, "op": "segment", "segment_duration": 6, "k": 3,
               "output": output.to_str().unwrap(), "input": clip.to_str().unwrap()}),
        json!({"id": 3, "op": "plan", "segment_duration": 6, "input": "/nonexistent/x.mp4"}),
        json!({"id": 4, "op": "stats"}),
    ];
    let mut text: String = jobs.iter().map(|j| format!("{j}\n")).collect();
    text.push_str("\n{\"id\":5,\"op\":\"plan\",\"segment_duration\":6}\n");
    let answers = serve_pipe(&text);
    assert_eq!(
        answers.len(),
        5,
        "one answer per job, none for the blank line"
    );
    let ids: Vec<u64> = answers.iter().map(|a| a["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, [1, 2, 3, 4, 5]);
    assert_eq!(plan_of(answers[0].clone()), one_shot_plan(&clip, 6.0));
    assert!(std::fs::read(&output).unwrap() == one_shot_segment(&clip, 6.0, 3));
    let missing = one_shot_failure(&["--plan", "/nonexistent/x.mp4"]);
    assert_eq!(failure_of(&answers[2]), missing);
    assert_eq!(answers[3]["entries"], 1);
    assert!(failure_of(&answers[4]).1.contains("neither"));
}

#[test]
fn datagram_sockets_work_too_and_an_empty_message_ends_them() {
    let scratch = Scratch::new("serve-dgram");
    let clip = media("clip_low.mp4");
    let mut server = Server::start_on(SockType::Datagram, &[]);
    assert_eq!(
        plan_of(server.ask(plan_job(6.0), &clip)),
        one_shot_plan(&clip, 6.0)
    );
    let output = scratch.path("s1.ts");
    assert_eq!(server.ask(segment_job(6.0, 1, &output), &clip)["ok"], true);
    assert!(std::fs::read(&output).unwrap() == one_shot_segment(&clip, 6.0, 1));
    // A datagram socket has no end of stream: the worker sends an empty message.
    let socket = server.socket.as_ref().unwrap().as_raw_fd();
    sendmsg::<()>(socket, &[IoSlice::new(b"")], &[], MsgFlags::empty(), None).unwrap();
    let status = server.child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    drop(server.socket.take());
}

#[test]
fn help_and_capabilities_announce_serve_mode() {
    let out = run_ok(&std::env::temp_dir(), &["--help"]);
    let help = String::from_utf8(out.stdout).unwrap();
    let extensions = help
        .split("Extensions")
        .nth(1)
        .expect("an Extensions section");
    for option in [
        "--serve",
        "--index-cache-entries",
        "--index-cache-bytes",
        "SCM_RIGHTS",
    ] {
        assert!(extensions.contains(option), "{option} in the extensions");
    }
    let out = run_ok(&std::env::temp_dir(), &["--capabilities"]);
    let caps: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(caps["serve"], true);
    // --serve refuses one-shot options and inputs (exit 1).
    for args in [&["--serve", "in.mp4"][..], &["--serve", "--plan"]] {
        assert_eq!(
            run_in(&std::env::temp_dir(), args).status.code(),
            Some(1),
            "{args:?}"
        );
    }
}
