//! Long-lived `mp42hls --serve` processes (bento4/README.md, "Serve mode").
//!
//! The pool keeps at most `size` processes and lends each to one job at a time: a
//! lent process belongs to that job until it answers, so no process ever has two
//! jobs. A job is one SOCK_SEQPACKET message on the process's stdin (the JSON, and
//! the source's descriptor as SCM_RIGHTS); its answer is one line on stdout. A job
//! over the timeout kills the process's group (504), a process that ends mid-job
//! fails that job (502); either way the process is gone and the next job starts a
//! fresh one. Every process is confined like a one-shot run (`super::confine`).

use super::{confine, output, RunLimits, STDERR_LIMIT, STDOUT_LIMIT};
use crate::config::SampleKeys;
use crate::error::{IoCause, ToolError};
use crate::metrics::Metrics;
use nix::sys::socket::{
    sendmsg, socketpair, AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType,
};
use serde::Deserialize;
use std::collections::HashMap;
use std::ffi::OsString;
use std::io::IoSlice;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::io::{AsyncBufReadExt, AsyncReadExt};
use tokio::process::{Child, ChildStderr, ChildStdout};
use tokio::sync::Notify;
use tokio::time::Instant;

/// A process is asked for its index cache's size when it starts and then after
/// every this many jobs, so the gauges follow the load without a timer.
const STATS_EVERY: u64 = 32;
/// How long a process that ended mid-job is given to be reaped for its status.
const REAP_WAIT: Duration = Duration::from_millis(500);
/// Longest stderr line logged; the rest of the line is dropped.
const STDERR_LINE: usize = 1000;

/// What `--serve` keeps of parsed indexes (its `--index-cache-*` options).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeOptions {
    pub index_cache_entries: usize,
    pub index_cache_bytes: u64,
}

/// One job as the worker sends it.
#[derive(Debug, Clone, Copy)]
pub enum Job<'a> {
    Plan {
        segment_duration: f64,
        /// Sizes as encrypted with this key.
        key: Option<[u8; 16]>,
        tracks: super::TrackChoice,
        /// Also the captions job's answer (`cea608`), for a master.
        captions: bool,
    },
    /// Segment `k` (1-based) into `output`, an absolute path that does not exist yet.
    Segment {
        segment_duration: f64,
        k: u64,
        output: &'a str,
        /// A clip's first or last segment (none: the title's own), and the key.
        trim: super::SegmentCut,
    },
    Stats,
    /// The WebVTT of timed text track `track_id`.
    WebVtt {
        track_id: u32,
    },
    /// The CEA-608 caption fields the video carries.
    Captions,
    /// `mp42hls --serve` CMAF jobs (bento4/README.md, "CMAF output"): the plan with
    /// timelines (`k` and `output` None), an init segment (`k` None) or segment `k`
    /// of `track` ("video" or "audio") into `output`.
    Cmaf {
        segment_duration: f64,
        track: &'a str,
        k: Option<u64>,
        output: Option<&'a str>,
        /// The audio track, when not the first (alternate audio).
        audio_track_id: Option<u32>,
        /// `cbcs` protection of an init or segment job.
        cbcs: Option<SampleKeys>,
    },
}

/// Adds a job's track choice (absent fields: the tool's defaults).
fn with_tracks(job: &mut serde_json::Value, tracks: super::TrackChoice) {
    let Some(object) = job.as_object_mut() else {
        return;
    };
    for (field, id) in [
        ("video_track_id", tracks.video),
        ("audio_track_id", tracks.audio),
    ] {
        if let Some(id) = id {
            object.insert(field.into(), id.into());
        }
    }
    if tracks.aligns_to_video() {
        object.insert("align_to_video".into(), true.into());
    }
}

impl Job<'_> {
    fn message(&self, id: u64) -> Vec<u8> {
        let value = match *self {
            Job::Plan {
                segment_duration,
                key,
                tracks,
                captions,
            } => {
                let mut job = serde_json::json!({
                    "id": id, "op": "plan", "segment_duration": segment_duration,
                    "first_segment_number": 1,
                });
                if let (true, Some(object)) = (captions, job.as_object_mut()) {
                    object.insert("captions".into(), true.into());
                }
                if let (Some(key), Some(object)) = (key, job.as_object_mut()) {
                    object.insert(
                        "encryption_key".into(),
                        crate::token::encode_hex(&key).into(),
                    );
                }
                with_tracks(&mut job, tracks);
                job
            }
            Job::Segment {
                segment_duration,
                k,
                output,
                trim,
            } => {
                let mut job = serde_json::json!({
                    "id": id, "op": "segment", "segment_duration": segment_duration,
                    "first_segment_number": 1, "k": k, "output": output,
                });
                for (field, at) in [("trim_start", trim.start), ("trim_end", trim.end)] {
                    if let (Some(at), Some(object)) = (at, job.as_object_mut()) {
                        object.insert(field.into(), serde_json::Value::from(at));
                    }
                }
                if let (Some(key), Some(object)) = (trim.key, job.as_object_mut()) {
                    object.insert(
                        "encryption_key".into(),
                        crate::token::encode_hex(&key).into(),
                    );
                }
                with_tracks(&mut job, trim.tracks);
                job
            }
            Job::Stats => serde_json::json!({"id": id, "op": "stats"}),
            Job::WebVtt { track_id } => {
                serde_json::json!({"id": id, "op": "webvtt", "track_id": track_id})
            }
            Job::Captions => serde_json::json!({"id": id, "op": "captions"}),
            Job::Cmaf {
                segment_duration,
                track,
                k,
                output,
                audio_track_id,
                cbcs,
            } => {
                let op = match (k, output) {
                    (_, None) => "plan",
                    (None, Some(_)) => "init",
                    (Some(_), Some(_)) => "segment",
                };
                let mut job = serde_json::json!({
                    "id": id, "op": op, "segment_duration": segment_duration,
                    "first_segment_number": 1, "cmaf": track,
                });
                if let Some(map) = job.as_object_mut() {
                    if let Some(k) = k {
                        map.insert("k".into(), k.into());
                    }
                    if let Some(output) = output {
                        map.insert("output".into(), output.into());
                    }
                    if let Some(keys) = cbcs {
                        let hex = crate::token::encode_hex;
                        map.insert(
                            "cbcs".into(),
                            serde_json::json!({
                                "key": hex(&keys.key), "kid": hex(&keys.kid), "iv": hex(&keys.iv),
                            }),
                        );
                    }
                }
                with_tracks(
                    &mut job,
                    super::TrackChoice {
                        video: None,
                        audio: audio_track_id,
                    },
                );
                job
            }
        };
        value.to_string().into_bytes()
    }
}

/// The fields every answer has; the rest is the op's.
#[derive(Deserialize)]
struct Header {
    id: Option<u64>,
    ok: bool,
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    reason: String,
}

/// A `stats` answer: one process's index cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct IndexStats {
    pub entries: u64,
    pub bytes: u64,
}

/// Why an exchange with a process did not produce an answer.
enum Broken {
    /// The job never reached the process (it had ended already): safe to retry.
    NotSent(std::io::Error),
    /// The process stopped answering mid-job: its stdout ended or failed.
    Ended(String),
    /// It answered something that is not an answer to this job.
    BadAnswer(String),
}

/// Reads answer lines from a process's stdout, each at most `STDOUT_LIMIT` bytes.
struct Answers {
    stdout: ChildStdout,
    buf: Vec<u8>,
    /// Bytes of `buf` already known to hold no newline.
    searched: usize,
}

impl Answers {
    async fn line(&mut self) -> Result<Vec<u8>, Broken> {
        loop {
            let fresh = self.buf.get(self.searched..).unwrap_or_default();
            if let Some(i) = fresh.iter().position(|&b| b == b'\n') {
                let end = self.searched + i;
                let rest = self.buf.split_off(end + 1);
                let mut line = std::mem::replace(&mut self.buf, rest);
                line.truncate(end);
                self.searched = 0;
                return Ok(line);
            }
            self.searched = self.buf.len();
            if self.buf.len() > STDOUT_LIMIT {
                return Err(Broken::BadAnswer(format!(
                    "an answer longer than {STDOUT_LIMIT} bytes"
                )));
            }
            if self.buf.capacity() - self.buf.len() < 16 << 10 {
                self.buf.reserve(64 << 10);
            }
            match self.stdout.read_buf(&mut self.buf).await {
                Ok(0) => return Err(Broken::Ended("its output ended".into())),
                Ok(_) => {}
                Err(e) => return Err(Broken::Ended(format!("reading its output: {e}"))),
            }
        }
    }
}

/// One `--serve` process. Dropping it kills its process group unless it was reaped.
struct Process {
    child: Child,
    /// Its pid, which is also its process group's id.
    pid: i32,
    /// Our end of its stdin; dropping it is the process's end of input.
    socket: Option<AsyncFd<OwnedFd>>,
    answers: Answers,
    /// The last line it wrote on stderr (for the reason of a crash).
    last_stderr: Arc<Mutex<String>>,
    next_id: u64,
    jobs: u64,
    reaped: bool,
}

impl Process {
    fn spawn(program: &Path, args: &[OsString], limits: RunLimits) -> Result<Process, ToolError> {
        let failed = |what: &str, e: std::io::Error| {
            log::warn!("cannot start {} --serve: {what}: {e}", program.display());
            ToolError::Failed(format!("cannot start mp42hls --serve: {}", IoCause::of(&e)))
        };
        let (ours, theirs) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .map_err(|e| failed("socketpair", e.into()))?;
        // Ours only: the process reads its end with blocking calls.
        set_nonblocking(&ours).map_err(|e| failed("O_NONBLOCK", e))?;
        // SAFETY: an OwnedFd keeps its one descriptor open and unchanged until the
        // AsyncFd drops it. Only sends: answers come on stdout.
        let socket = unsafe { AsyncFd::register_with_interest(ours, Interest::WRITABLE) }
            .map_err(|e| failed("registering the socket", e.into()))?;
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(args)
            .stdin(Stdio::from(theirs))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        confine(&mut cmd, limits.memory_bytes);
        let spawned = cmd.spawn();
        // The command holds the process's end of the socket: close our copy now, so
        // the process's death is seen as the end of its socket.
        drop(cmd);
        let mut child = spawned.map_err(|e| failed("spawn", e))?;
        let pid = child
            .id()
            .and_then(|p| i32::try_from(p).ok())
            .ok_or_else(|| failed("pid", std::io::Error::other("no pid")))?;
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            return Err(failed("pipes", std::io::Error::other("no pipes")));
        };
        let last_stderr = Arc::new(Mutex::new(String::new()));
        tokio::spawn(log_stderr(stderr, pid, last_stderr.clone()));
        log::info!("started mp42hls --serve, pid {pid}");
        Ok(Process {
            child,
            pid,
            socket: Some(socket),
            answers: Answers {
                stdout,
                buf: Vec::new(),
                searched: 0,
            },
            last_stderr,
            next_id: 1,
            jobs: 0,
            reaped: false,
        })
    }

    fn exited(&mut self) -> bool {
        match self.child.try_wait() {
            Ok(None) => false,
            Ok(Some(_)) => {
                self.reaped = true;
                true
            }
            Err(_) => true,
        }
    }

    async fn send(&self, message: &[u8], input: Option<BorrowedFd<'_>>) -> std::io::Result<()> {
        let Some(socket) = self.socket.as_ref() else {
            return Err(std::io::ErrorKind::BrokenPipe.into());
        };
        let fds: Vec<RawFd> = input.map(|fd| fd.as_raw_fd()).into_iter().collect();
        loop {
            let mut ready = socket.writable().await?;
            let sent = ready.try_io(|socket| {
                let rights = [ControlMessage::ScmRights(&fds)];
                let cmsgs: &[ControlMessage] = if fds.is_empty() { &[] } else { &rights };
                sendmsg::<()>(
                    socket.as_raw_fd(),
                    &[IoSlice::new(message)],
                    cmsgs,
                    MsgFlags::MSG_NOSIGNAL,
                    None,
                )
                .map_err(std::io::Error::from)
            });
            match sent {
                Ok(Ok(n)) if n == message.len() => return Ok(()),
                Ok(Ok(n)) => {
                    return Err(std::io::Error::other(format!(
                        "sent {n} of {} bytes",
                        message.len()
                    )))
                }
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
    }

    /// Sends `job` and reads its answer line.
    async fn exchange(
        &mut self,
        job: &Job<'_>,
        input: Option<BorrowedFd<'_>>,
    ) -> Result<Vec<u8>, Broken> {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&job.message(id), input)
            .await
            .map_err(Broken::NotSent)?;
        let line = self.answers.line().await?;
        let header: Header = serde_json::from_slice(&line).map_err(|e| {
            let start = String::from_utf8_lossy(line.get(..200).unwrap_or(&line)).into_owned();
            Broken::BadAnswer(format!("an answer that is not JSON ({e}): {start}"))
        })?;
        if header.id != Some(id) {
            return Err(Broken::BadAnswer(format!(
                "the answer to job {:?} while job {id} ran",
                header.id
            )));
        }
        Ok(line)
    }

    /// How the process ended, after its output did. One that exits promptly is
    /// reaped and its group left alone, as a one-shot run's would be; one that
    /// lives on without output has its group killed.
    async fn end(&mut self) -> String {
        let status = tokio::time::timeout(REAP_WAIT, self.child.wait()).await;
        let how = match status {
            Ok(Ok(status)) => {
                self.reaped = true;
                use std::os::unix::process::ExitStatusExt;
                match (status.code(), status.signal()) {
                    (_, Some(signal)) => format!("was killed by signal {signal}"),
                    (Some(code), _) => format!("exited with {code}"),
                    _ => "ended".to_string(),
                }
            }
            // Not reaped, so its pid still names its group.
            _ => {
                kill_group(self.pid);
                "stopped answering".to_string()
            }
        };
        let last = lock(&self.last_stderr).clone();
        if last.is_empty() {
            how
        } else {
            format!("{how}: {last}")
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if !self.reaped {
            kill_group(self.pid);
        }
        // `kill_on_drop` and tokio's orphan reaping take care of the zombie.
    }
}

fn kill_group(pid: i32) {
    let _ = nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );
}

fn set_nonblocking(fd: &OwnedFd) -> std::io::Result<()> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let flags = fcntl(fd.as_raw_fd(), FcntlArg::F_GETFL)?;
    let flags = OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK;
    fcntl(fd.as_raw_fd(), FcntlArg::F_SETFL(flags))?;
    Ok(())
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Copies a process's stderr into the worker's log, line by line, at most
/// `STDERR_LIMIT` bytes over its life; the rest is read and dropped so the process
/// never blocks on a full pipe.
async fn log_stderr(stderr: ChildStderr, pid: i32, last: Arc<Mutex<String>>) {
    let mut reader = tokio::io::BufReader::new(stderr);
    let mut logged = 0usize;
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = (&mut reader)
            .take(STDERR_LINE as u64 * 4)
            .read_until(b'\n', &mut line)
            .await;
        match read {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let text = String::from_utf8_lossy(&line);
        let text: String = text.trim().chars().take(STDERR_LINE).collect();
        if text.is_empty() {
            continue;
        }
        if logged < STDERR_LIMIT {
            logged += text.len();
            log::warn!("mp42hls --serve [{pid}]: {text}");
            if logged >= STDERR_LIMIT {
                log::warn!("mp42hls --serve [{pid}]: further stderr is not logged");
            }
        }
        *lock(&last) = text;
    }
}

struct State {
    idle: Vec<Process>,
    /// Processes that exist, idle or lent.
    live: usize,
    /// Group ids of every live process, for the last kill at shutdown.
    groups: HashMap<i32, IndexStats>,
    closed: bool,
}

struct Inner {
    program: PathBuf,
    args: Vec<OsString>,
    limits: RunLimits,
    size: usize,
    state: Mutex<State>,
    /// Signalled when a process is returned or retired.
    changed: Notify,
    metrics: Arc<Metrics>,
}

/// The pool of `--serve` processes. Cheap to clone.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
}

/// A process lent to one job. Dropped without [`Lease::give_back`] (a failure, a
/// cancelled job), the process is killed and forgotten.
struct Lease {
    inner: Arc<Inner>,
    process: Option<Process>,
}

impl Lease {
    fn process(&mut self) -> Result<&mut Process, ToolError> {
        self.process
            .as_mut()
            .ok_or_else(|| ToolError::Failed("the tool process was already returned".into()))
    }

    fn give_back(mut self) {
        if let Some(process) = self.process.take() {
            self.inner.check_in(process);
        }
    }

    /// Kills the process and counts why it goes.
    fn retire(mut self, reason: &'static str) {
        if let Some(process) = self.process.take() {
            self.inner.metrics.inc(
                "casterpak_tool_process_restarts_total",
                &[("reason", reason)],
            );
            self.inner.forget(process);
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(process) = self.process.take() {
            self.inner.metrics.inc(
                "casterpak_tool_process_restarts_total",
                &[("reason", "abandoned")],
            );
            self.inner.forget(process);
        }
    }
}

impl Inner {
    fn check_in(self: &Arc<Self>, mut process: Process) {
        let mut state = lock(&self.state);
        if state.closed {
            drop(state);
            // Shutting down: the end of its input lets it exit by itself.
            process.socket = None;
            let inner = self.clone();
            tokio::spawn(async move {
                if let Ok(Ok(_)) = tokio::time::timeout(REAP_WAIT, process.child.wait()).await {
                    process.reaped = true;
                }
                inner.forget(process);
            });
            return;
        }
        state.idle.push(process);
        drop(state);
        self.changed.notify_waiters();
    }

    /// Drops `process` (killing its group unless it was reaped) and makes room.
    fn forget(&self, process: Process) {
        let pid = process.pid;
        drop(process);
        self.release(Some(pid));
    }

    /// One process fewer: gone (`pid`) or never started (None).
    fn release(&self, pid: Option<i32>) {
        let mut state = lock(&self.state);
        state.live = state.live.saturating_sub(1);
        if let Some(pid) = pid {
            state.groups.remove(&pid);
        }
        self.set_gauges(&state);
        drop(state);
        self.changed.notify_waiters();
    }

    fn set_gauges(&self, state: &State) {
        let m = &self.metrics;
        m.set_gauge("casterpak_tool_processes", state.live as u64);
        let stats = state.groups.values();
        m.set_gauge(
            "casterpak_tool_index_entries",
            stats.clone().map(|s| s.entries).sum(),
        );
        m.set_gauge(
            "casterpak_tool_index_entries_max",
            stats.clone().map(|s| s.entries).max().unwrap_or(0),
        );
        m.set_gauge("casterpak_tool_index_bytes", stats.map(|s| s.bytes).sum());
    }
}

impl Pool {
    pub fn new(
        program: PathBuf,
        options: ServeOptions,
        size: usize,
        limits: RunLimits,
        metrics: Arc<Metrics>,
    ) -> Pool {
        Pool::command(program, Vec::new(), options, size, limits, metrics)
    }

    /// `program <leading> --serve …` (tests run scripts as `/bin/sh <script>`).
    pub(super) fn command(
        program: PathBuf,
        leading: Vec<OsString>,
        options: ServeOptions,
        size: usize,
        limits: RunLimits,
        metrics: Arc<Metrics>,
    ) -> Pool {
        let mut args = leading;
        args.extend([
            "--serve".into(),
            "--index-cache-entries".into(),
            options.index_cache_entries.to_string().into(),
            "--index-cache-bytes".into(),
            options.index_cache_bytes.to_string().into(),
        ]);
        Pool {
            inner: Arc::new(Inner {
                program,
                args,
                limits,
                size: size.max(1),
                state: Mutex::new(State {
                    idle: Vec::new(),
                    live: 0,
                    groups: HashMap::new(),
                    closed: false,
                }),
                changed: Notify::new(),
                metrics,
            }),
        }
    }

    /// The process groups (= pids) of the live processes.
    #[cfg(test)]
    pub(super) fn groups(&self) -> Vec<i32> {
        lock(&self.inner.state).groups.keys().copied().collect()
    }

    /// Starts every process now rather than on the first jobs; a failure is
    /// logged and left to those jobs.
    pub async fn warm_up(&self) {
        let inner = &self.inner;
        let mut starting = Vec::new();
        {
            let mut state = lock(&inner.state);
            while !state.closed && state.live < inner.size {
                state.live += 1;
                starting.push(self.start_process());
            }
        }
        for started in futures::future::join_all(starting).await {
            match started {
                Ok(process) => inner.check_in(process),
                Err(_) => inner.release(None),
            }
        }
    }

    /// Spawns a process and waits for its answer to a first `stats` job, so a
    /// process is only lent once it is up (its start-up is no job's time).
    async fn start_process(&self) -> Result<Process, ToolError> {
        let inner = &self.inner;
        let mut process = Process::spawn(&inner.program, &inner.args, inner.limits)?;
        let pid = process.pid;
        let greeting =
            tokio::time::timeout(inner.limits.timeout, process.exchange(&Job::Stats, None));
        let stats = match greeting.await {
            Ok(Ok(line)) => serde_json::from_slice::<IndexStats>(&line).map_err(|e| e.to_string()),
            Ok(Err(Broken::NotSent(e))) => Err(format!("it took no job: {e}")),
            Ok(Err(Broken::Ended(what) | Broken::BadAnswer(what))) => Err(what),
            Err(_) => Err(format!("no answer within {:?}", inner.limits.timeout)),
        };
        match stats {
            Ok(stats) => {
                let mut state = lock(&inner.state);
                state.groups.insert(pid, stats);
                inner.set_gauges(&state);
                Ok(process)
            }
            Err(why) => {
                let how = process.end().await;
                log::warn!("mp42hls --serve [{pid}] did not start: {why}; it {how}");
                drop(process);
                Err(ToolError::Failed(format!(
                    "mp42hls --serve did not start: it {how}"
                )))
            }
        }
    }

    /// An idle process, or a new one while fewer than `size` exist, else waits.
    async fn checkout(&self) -> Result<Lease, ToolError> {
        let inner = &self.inner;
        loop {
            let changed = inner.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let spawn = {
                let mut state = lock(&inner.state);
                if state.closed {
                    return Err(ToolError::Overloaded);
                }
                let mut found = None;
                while let Some(mut process) = state.idle.pop() {
                    if process.exited() {
                        state.live = state.live.saturating_sub(1);
                        state.groups.remove(&process.pid);
                        inner.metrics.inc(
                            "casterpak_tool_process_restarts_total",
                            &[("reason", "exited")],
                        );
                        log::warn!("mp42hls --serve [{}] ended while idle", process.pid);
                        continue;
                    }
                    found = Some(process);
                    break;
                }
                if let Some(process) = found {
                    return Ok(Lease {
                        inner: inner.clone(),
                        process: Some(process),
                    });
                }
                let room = state.live < inner.size;
                if room {
                    state.live += 1;
                }
                inner.set_gauges(&state);
                room
            };
            if spawn {
                return match self.start_process().await {
                    Ok(process) => Ok(Lease {
                        inner: inner.clone(),
                        process: Some(process),
                    }),
                    Err(e) => {
                        inner.release(None);
                        Err(e)
                    }
                };
            }
            changed.await;
        }
    }

    /// Runs one job on one process and returns its successful answer line; a
    /// failed job is its one-shot exit code's error.
    pub async fn run(
        &self,
        job: &Job<'_>,
        input: Option<BorrowedFd<'_>>,
    ) -> Result<Vec<u8>, ToolError> {
        let timeout = self.inner.limits.timeout;
        // A process found dead only when the job could not be sent gets one retry
        // on a fresh process: the job never started.
        let mut attempts = 0;
        loop {
            attempts += 1;
            let mut lease = self.checkout().await?;
            let process = lease.process()?;
            let pid = process.pid;
            let exchanged = tokio::time::timeout(timeout, process.exchange(job, input)).await;
            let line = match exchanged {
                Err(_) => {
                    log::warn!("mp42hls --serve [{pid}]: a job took over {timeout:?}; killed");
                    lease.retire("timeout");
                    return Err(ToolError::TimedOut(timeout.as_secs()));
                }
                Ok(Err(Broken::NotSent(e))) => {
                    log::warn!("mp42hls --serve [{pid}]: cannot send a job: {e}");
                    lease.retire("died");
                    if attempts < 2 {
                        continue;
                    }
                    return Err(ToolError::Crashed(format!(
                        "mp42hls --serve took no job: {}",
                        IoCause::of(&e)
                    )));
                }
                Ok(Err(Broken::Ended(what))) => {
                    let how = lease.process()?.end().await;
                    log::warn!("mp42hls --serve [{pid}] {how} during a job ({what})");
                    lease.retire("died");
                    return Err(ToolError::Crashed(format!(
                        "mp42hls --serve {how} during a job"
                    )));
                }
                Ok(Err(Broken::BadAnswer(what))) => {
                    log::warn!("mp42hls --serve [{pid}] answered {what}");
                    lease.retire("bad_answer");
                    return Err(ToolError::BadOutput(format!("mp42hls --serve gave {what}")));
                }
                Ok(Ok(line)) => line,
            };
            return self.judge(lease, job, line);
        }
    }

    /// Maps a received answer to the job's result and decides the process's fate.
    fn judge(&self, mut lease: Lease, job: &Job<'_>, line: Vec<u8>) -> Result<Vec<u8>, ToolError> {
        let header: Header = match serde_json::from_slice(&line) {
            Ok(h) => h,
            Err(e) => {
                lease.retire("bad_answer");
                return Err(ToolError::BadOutput(format!("mp42hls --serve: {e}")));
            }
        };
        if header.ok {
            self.after_success(lease, job);
            return Ok(line);
        }
        let code = header.code.and_then(|c| i32::try_from(c).ok());
        let error = output::exit_error("mp42hls", code, None, header.reason.as_bytes());
        let pid = lease.process()?.pid;
        log::warn!(
            "mp42hls --serve [{pid}] failed a job (code {code:?}): {}",
            header.reason
        );
        if matches!(code, Some(1..=5)) {
            lease.give_back();
        } else {
            // A panic or an unknown code: do not trust what the process holds.
            lease.retire("panicked");
        }
        Err(error)
    }

    /// Returns the process; now and then first asks it for its index cache's
    /// size, on a task of its own so the job's caller does not wait for that.
    fn after_success(&self, mut lease: Lease, job: &Job<'_>) {
        let Some(process) = lease.process.as_mut() else {
            return;
        };
        process.jobs += 1;
        let due = matches!(job, Job::Plan { .. } | Job::Segment { .. })
            && process.jobs % STATS_EVERY == 0;
        if !due {
            lease.give_back();
            return;
        }
        let pool = self.clone();
        tokio::spawn(async move {
            let _ = pool.stats_on(lease).await;
        });
    }

    async fn stats_on(&self, mut lease: Lease) -> Result<IndexStats, ToolError> {
        let process = lease.process()?;
        let pid = process.pid;
        let limit = self.inner.limits.timeout;
        match tokio::time::timeout(limit, process.exchange(&Job::Stats, None)).await {
            Ok(Ok(line)) => match serde_json::from_slice::<IndexStats>(&line) {
                Ok(stats) => {
                    {
                        let mut state = lock(&self.inner.state);
                        state.groups.insert(pid, stats);
                        self.inner.set_gauges(&state);
                    }
                    lease.give_back();
                    Ok(stats)
                }
                Err(e) => {
                    lease.retire("bad_answer");
                    Err(ToolError::BadOutput(format!("mp42hls --serve stats: {e}")))
                }
            },
            _ => {
                lease.retire("died");
                Err(ToolError::Crashed("mp42hls --serve gave no stats".into()))
            }
        }
    }

    /// Asks every process that is idle now for its index cache's size.
    pub async fn index_stats(&self) -> Vec<IndexStats> {
        let idle: Vec<Process> = std::mem::take(&mut lock(&self.inner.state).idle);
        let mut out = Vec::new();
        for process in idle {
            let lease = Lease {
                inner: self.inner.clone(),
                process: Some(process),
            };
            if let Ok(stats) = self.stats_on(lease).await {
                out.push(stats);
            }
        }
        out
    }

    /// Takes no more jobs; closes the stdin of every idle process (and of each lent
    /// one when its job is done) so it exits, waits up to `grace` for all of them,
    /// and kills the group of whatever is left then.
    pub async fn shutdown(&self, grace: Duration) {
        let inner = &self.inner;
        let deadline = Instant::now() + grace;
        let idle = {
            let mut state = lock(&inner.state);
            state.closed = true;
            std::mem::take(&mut state.idle)
        };
        let closing = idle.into_iter().map(|mut process| async move {
            process.socket = None;
            if let Ok(Ok(_)) = tokio::time::timeout_at(deadline, process.child.wait()).await {
                process.reaped = true;
            }
            inner.forget(process);
        });
        futures::future::join_all(closing).await;
        loop {
            let changed = inner.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if lock(&inner.state).live == 0 {
                return;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                break;
            }
        }
        let groups: Vec<i32> = lock(&inner.state).groups.keys().copied().collect();
        log::warn!("tool processes still running at shutdown: killing {groups:?}");
        for pid in groups {
            kill_group(pid);
        }
    }
}

#[cfg(test)]
mod tests;
