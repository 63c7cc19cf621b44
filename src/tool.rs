//! The ONLY module that spawns processes: `mp4info` and `mp42hls` runs behind a
//! bounded pool and queue, each in its own process group with a timeout that kills
//! the whole group, an address-space limit, and bounded captured output; and
//! `ffmpeg` remuxing a recording (`ffmpeg`, under the same confinement, no pool).
//!
//! A tool never opens a source by name: it gets the descriptor `source.rs` opened and
//! checked, inherited under its own number, as the input path `/dev/fd/<n>`.

pub mod cmaf;
pub mod ffmpeg;
pub mod output;
pub mod serve;

use crate::config::{Config, PackagingMode};
use crate::error::IoCause;
use crate::error::ToolError;
use crate::metrics::Metrics;
use output::{Plan, Probe, ShowInfo};
use std::ffi::OsString;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};

pub use serve::ServeOptions;

/// A plan for a long title is a few hundred KiB; anything near this is a bug.
const STDOUT_LIMIT: usize = 32 << 20;
const STDERR_LIMIT: usize = 64 << 10;
const CAPABILITIES_TIMEOUT: Duration = Duration::from_secs(10);
/// How long [`Tools::shutdown`] lets running jobs finish before killing them.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// How renditions are packaged, decided once at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Our tools: plan from the index, one segment per miss.
    Jit,
    /// Real Bento4 (or forced): the whole rendition on the first miss.
    Whole,
}

/// Where a segment job writes. Long-lived tools create the file named (in the
/// cache's scratch dir: no dir per fill); one-shot runs write
/// `segment<K>_0_av.ts` into a dir of their own.
#[derive(Debug, Clone, Copy)]
pub enum SegmentOutput<'a> {
    File(&'a Path),
    Dir(&'a Path),
}

/// Limits of one subprocess run.
#[derive(Debug, Clone, Copy)]
pub struct RunLimits {
    pub timeout: Duration,
    /// RLIMIT_AS in bytes; 0 means none.
    pub memory_bytes: u64,
}

/// What a successful run printed.
#[derive(Debug)]
pub struct Output {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Reads at most `limit` bytes, then drains the rest so the child never blocks
/// on a full pipe. Returns the bytes and whether some were dropped.
async fn read_bounded<R: AsyncRead + Unpin>(reader: Option<R>, limit: usize) -> (Vec<u8>, bool) {
    let Some(mut reader) = reader else {
        return (Vec::new(), false);
    };
    let mut kept = Vec::new();
    let mut dropped = false;
    let mut buf = vec![0u8; 64 << 10];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let chunk = buf.get(..n).unwrap_or_default();
                let room = limit.saturating_sub(kept.len());
                if chunk.len() > room {
                    dropped = true;
                }
                kept.extend_from_slice(chunk.get(..room.min(n)).unwrap_or_default());
            }
        }
    }
    (kept, dropped)
}

/// How one segment is made beyond its number: where a clip's first or last segment
/// is cut (seconds on the playlist timeline: from the last keyframe at or before
/// `start`, up to the first at or after `end`), its AES-128 key, if encrypted, and
/// which tracks it carries.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SegmentCut {
    pub start: Option<f64>,
    pub end: Option<f64>,
    pub key: Option<[u8; 16]>,
    pub tracks: TrackChoice,
}

/// Which tracks a plan or segment muxes, as `--video-track-id`/`--audio-track-id`:
/// None is the tool's default (the first of that kind), `Some(0)` none of it. The
/// default is today's muxed stream; alternate audio plans each kind on its own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct TrackChoice {
    pub video: Option<u32>,
    pub audio: Option<u32>,
}

impl TrackChoice {
    /// The video without audio: the variants of a title with alternate audio.
    pub const VIDEO: TrackChoice = TrackChoice {
        video: None,
        audio: Some(0),
    };

    /// Audio track `id` alone.
    pub fn audio(id: u32) -> TrackChoice {
        TrackChoice {
            video: Some(0),
            audio: Some(id),
        }
    }

    /// An audio track alone: cut where the muxed stream is (`--align-to-video`), so
    /// alternate audio's segments end beside the video's instead of on the audio's
    /// own frames (16 ms of drift a segment). A title without video ignores it.
    pub fn aligns_to_video(&self) -> bool {
        self.video == Some(0) && self.audio.is_some_and(|a| a != 0)
    }

    /// The one-shot options that choose these tracks.
    fn args(&self) -> Vec<OsString> {
        let mut args = Vec::new();
        if self.aligns_to_video() {
            args.push("--align-to-video".into());
        }
        for (option, id) in [
            ("--video-track-id", self.video),
            ("--audio-track-id", self.audio),
        ] {
            if let Some(id) = id {
                args.push(option.into());
                args.push(id.to_string().into());
            }
        }
        args
    }
}

/// A one-shot `mp42hls --plan` run's arguments, numbered from 1 as the URLs are;
/// `extra` goes before the input (e.g. `--cmaf video`).
pub fn plan_args<S: AsRef<std::ffi::OsStr>>(
    extra: &[S],
    segment_duration: f64,
    source: BorrowedFd<'_>,
) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec!["--plan".into()];
    args.extend(extra.iter().map(|a| a.as_ref().to_os_string()));
    args.extend([
        "--first-segment-number".into(),
        "1".into(),
        "--segment-duration".into(),
        seconds_arg(segment_duration).into(),
        input_path(source),
    ]);
    args
}

/// The path under which a child reads `input` (see [`run_process`]).
pub fn input_path(input: BorrowedFd<'_>) -> OsString {
    format!("/dev/fd/{}", input.as_raw_fd()).into()
}

/// What every tool child gets, one-shot or long-lived: its own process group (a
/// timeout kills the group), the address-space limit, and SIGKILL when the worker
/// dies, so a killed worker leaves no tool behind. (The kernel sends that signal
/// when the spawning *thread* ends: the worker spawns from the runtime's threads
/// and its main thread, which live as long as the worker, never from the blocking
/// pool, whose threads come and go.)
fn confine(cmd: &mut tokio::process::Command, memory_bytes: u64) {
    cmd.process_group(0);
    let parent = nix::unistd::getpid();
    // SAFETY: runs in the forked child before exec; setrlimit, prctl and getppid
    // are plain async-signal-safe syscalls, and nothing here locks or allocates.
    unsafe {
        cmd.pre_exec(move || {
            if memory_bytes > 0 {
                nix::sys::resource::setrlimit(
                    nix::sys::resource::Resource::RLIMIT_AS,
                    memory_bytes,
                    memory_bytes,
                )
                .map_err(|e| std::io::Error::from_raw_os_error(e as i32))?;
            }
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                .map_err(|e| std::io::Error::from_raw_os_error(e as i32))?;
            // The worker may have died between the fork and the prctl, and then no
            // signal comes: the child has been reparented already, so it gives up.
            if nix::unistd::getppid() != parent {
                return Err(std::io::Error::other("the worker is gone"));
            }
            Ok(())
        });
    }
}

/// How a run that was not killed for its timeout ended.
pub struct Finished {
    pub status: std::process::ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// stdout was longer than the limit: the rest was drained unread.
    pub stdout_dropped: bool,
}

/// A child's process group, killed if the run is dropped (a fill abandoned, a store
/// stopped) before its leader was reaped: while the leader is unreaped its pid names
/// our group and no other process. `kill_on_drop` alone kills only the leader.
struct Group(Option<nix::unistd::Pid>);

impl Group {
    fn reaped(&mut self) {
        self.0 = None;
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if let Some(pid) = self.0.take() {
            let _ = nix::sys::signal::killpg(pid, nix::sys::signal::Signal::SIGKILL);
        }
    }
}

/// Runs `program` once: stdin null, own process group, memory limit, timeout
/// that kills the group. `input`, if any, is inherited under its own number (see
/// [`input_path`]); every other descriptor of ours stays close-on-exec. Maps the
/// exit status per bento4/README.md.
pub async fn run_process(
    program: &Path,
    args: &[OsString],
    cwd: Option<&Path>,
    input: Option<BorrowedFd<'_>>,
    limits: RunLimits,
) -> Result<Output, ToolError> {
    let name = program_name(program);
    let done = run_confined(program, args, cwd, input, limits).await?;
    if !done.status.success() {
        use std::os::unix::process::ExitStatusExt;
        let status = done.status;
        let error = output::exit_error(&name, status.code(), status.signal(), &done.stderr);
        log::warn!(
            "{name} failed ({status}): {}",
            String::from_utf8_lossy(&done.stderr).trim()
        );
        return Err(error);
    }
    if done.stdout_dropped {
        return Err(ToolError::BadOutput(format!(
            "{name} printed more than {STDOUT_LIMIT} bytes"
        )));
    }
    Ok(Output {
        stdout: done.stdout,
        stderr: done.stderr,
    })
}

fn program_name(program: &Path) -> String {
    program
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// [`run_process`] without the exit status mapping, for programs that are not
/// Bento4-style tools (ffmpeg): the errors are only the spawn's, the wait's and the
/// timeout's.
pub async fn run_confined(
    program: &Path,
    args: &[OsString],
    cwd: Option<&Path>,
    input: Option<BorrowedFd<'_>>,
    limits: RunLimits,
) -> Result<Finished, ToolError> {
    let name = program_name(program);
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    confine(&mut cmd, limits.memory_bytes);
    if let Some(fd) = input.map(|fd| fd.as_raw_fd()) {
        // SAFETY: runs in the forked child before exec; fcntl is async-signal-safe
        // and touches only the child's own descriptor table. Keeping the number (no
        // dup2 onto a fixed one) cannot collide with a descriptor std uses for the
        // spawn: `fd` is open in the parent for the whole spawn (`input` is
        // borrowed), and std keeps 0-2 open from the start, so it is not a stdio
        // number either. The parent's copy keeps FD_CLOEXEC: no other child gets it.
        unsafe {
            cmd.pre_exec(move || {
                if nix::libc::fcntl(fd, nix::libc::F_SETFD, 0) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let mut child = cmd.spawn().map_err(|e| {
        log::warn!("cannot start {}: {e}", program.display());
        ToolError::Failed(format!("cannot start {name}: {}", IoCause::of(&e)))
    })?;
    let pid = child.id();
    let mut group = Group(
        pid.and_then(|p| i32::try_from(p).ok())
            .map(nix::unistd::Pid::from_raw),
    );
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let outcome = tokio::time::timeout(limits.timeout, async {
        let wait = async {
            let status = child.wait().await;
            group.reaped();
            status
        };
        let (out, err, status) = tokio::join!(
            read_bounded(stdout, STDOUT_LIMIT),
            read_bounded(stderr, STDERR_LIMIT),
            wait
        );
        (out, err, status)
    })
    .await;
    let ((stdout, stdout_dropped), (stderr, _), status) = match outcome {
        Ok(done) => done,
        Err(_) => {
            // The leader is not reaped yet, so its pid still names our group.
            if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            let _ = child.wait().await;
            group.reaped();
            return Err(ToolError::TimedOut(limits.timeout.as_secs()));
        }
    };
    let status = status.map_err(|e| ToolError::Failed(format!("waiting for {name}: {e}")))?;
    Ok(Finished {
        status,
        stdout,
        stderr,
        stdout_dropped,
    })
}

/// Finds a tool: the configured path, else the binary beside the worker (or
/// beside its parent when running from `target/debug/deps` in tests), else PATH.
pub fn discover(configured: &Path, name: &str) -> Result<PathBuf, String> {
    if !configured.as_os_str().is_empty() {
        return which::which(configured)
            .map_err(|e| format!("tool {} not usable: {e}", configured.display()));
    }
    if let Ok(exe) = std::env::current_exe() {
        let mut dir = exe.parent().map(Path::to_path_buf);
        while let Some(d) = dir {
            let candidate = d.join(name);
            if candidate.is_file() {
                return Ok(candidate);
            }
            dir = (d.file_name() == Some("deps".as_ref()))
                .then(|| d.parent().map(Path::to_path_buf))
                .flatten();
        }
    }
    which::which(name)
        .map_err(|e| format!("tool {name} not found beside the worker or on PATH: {e}"))
}

/// Decrements the waiting count however the wait ends (cancellation included).
struct Waiting<'a> {
    count: &'a AtomicUsize,
    metrics: &'a Metrics,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::SeqCst);
        self.metrics.queue_depth_add(-1);
    }
}

/// The tools and the pool they run in.
pub struct Tools {
    mp4info: PathBuf,
    mp42hls: PathBuf,
    mode: Mode,
    pool: Arc<Semaphore>,
    waiting: AtomicUsize,
    queue_limit: usize,
    limits: RunLimits,
    metrics: Arc<Metrics>,
    /// Long-lived `mp42hls --serve` processes for plans and segments, when the
    /// tool offers them (JIT mode only); otherwise every job is a one-shot run.
    serve: Option<serve::Pool>,
    /// Set by [`Tools::shutdown`]: no job starts any more.
    draining: std::sync::atomic::AtomicBool,
    pool_size: usize,
}

/// `6.0` → "6" (real Bento4 parses whole seconds only), `4.5` → "4.5".
fn seconds_arg(d: f64) -> String {
    if d.fract() == 0.0 {
        format!("{}", d as u64)
    } else {
        format!("{d}")
    }
}

impl Tools {
    /// Finds the tools and decides the packaging mode from `--capabilities`.
    pub async fn start(config: &Config, metrics: Arc<Metrics>) -> Result<Tools, String> {
        let mp4info = discover(&config.tools.mp4info, "mp4info")?;
        let mp42hls = discover(&config.tools.mp42hls, "mp42hls")?;
        let limits = RunLimits {
            timeout: CAPABILITIES_TIMEOUT,
            memory_bytes: config.limits.tool_memory_bytes,
        };
        let caps = run_process(&mp42hls, &["--capabilities".into()], None, None, limits).await;
        let caps = caps.map(|o| o.stdout).unwrap_or_default();
        let jit = output::has_jit_extensions(&caps);
        let mode = match (config.tools.mode, jit) {
            (PackagingMode::Whole, _) | (PackagingMode::Auto, false) => Mode::Whole,
            (PackagingMode::Auto | PackagingMode::Jit, true) => Mode::Jit,
            (PackagingMode::Jit, false) => {
                return Err(format!(
                    "tools.mode = \"jit\" but {} does not report the plan/segments/first_segment_number extensions",
                    mp42hls.display()
                ))
            }
        };
        let serve = mode == Mode::Jit && config.tools.serve && output::has_serve(&caps);
        log::info!(
            "tools: mp4info {}, mp42hls {}, mode {mode:?}, {}",
            mp4info.display(),
            mp42hls.display(),
            if serve {
                "long-lived mp42hls --serve processes"
            } else {
                "one process per run"
            }
        );
        let tools = Tools::with(
            mp4info,
            mp42hls,
            mode,
            config.pool_size(),
            config.limits.queue_limit,
            RunLimits {
                timeout: Duration::from_secs(config.limits.tool_timeout_secs),
                memory_bytes: config.limits.tool_memory_bytes,
            },
            metrics,
        );
        if !serve {
            return Ok(tools);
        }
        let tools = tools.serving(ServeOptions {
            index_cache_entries: config.tools.index_cache_entries,
            index_cache_bytes: config.tools.index_cache_bytes,
        });
        if let Some(pool) = &tools.serve {
            pool.warm_up().await;
        }
        Ok(tools)
    }

    pub fn with(
        mp4info: PathBuf,
        mp42hls: PathBuf,
        mode: Mode,
        pool_size: usize,
        queue_limit: usize,
        limits: RunLimits,
        metrics: Arc<Metrics>,
    ) -> Tools {
        Tools {
            mp4info,
            mp42hls,
            mode,
            pool: Arc::new(Semaphore::new(pool_size.max(1))),
            waiting: AtomicUsize::new(0),
            queue_limit,
            limits,
            metrics,
            serve: None,
            draining: std::sync::atomic::AtomicBool::new(false),
            pool_size: pool_size.max(1),
        }
    }

    /// Sends plans and segments to long-lived `mp42hls --serve` processes (one per
    /// pool slot, started as jobs need them) instead of one run each.
    pub fn serving(self, options: ServeOptions) -> Tools {
        let program = self.mp42hls.clone();
        self.serving_via(program, Vec::new(), options)
    }

    /// [`Tools::serving`] with `program <leading> --serve …` as the process.
    fn serving_via(
        mut self,
        program: PathBuf,
        leading: Vec<OsString>,
        options: ServeOptions,
    ) -> Tools {
        self.serve = Some(serve::Pool::command(
            program,
            leading,
            options,
            self.pool_size,
            self.limits,
            self.metrics.clone(),
        ));
        self
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Whether plans and segments go to long-lived processes.
    pub fn serves(&self) -> bool {
        self.serve.is_some()
    }

    /// The index caches of the long-lived processes that are idle now (each asked
    /// with a `stats` job); empty without them.
    pub async fn index_stats(&self) -> Vec<serve::IndexStats> {
        match &self.serve {
            Some(pool) => pool.index_stats().await,
            None => Vec::new(),
        }
    }

    /// Stops handing out jobs (new ones answer as a full queue does), lets running
    /// jobs finish for up to [`SHUTDOWN_GRACE`], then closes the long-lived
    /// processes' stdin, waits for them, and kills the groups of what is left. A
    /// one-shot run still going then is killed when its task is dropped (and by
    /// its parent-death signal when the worker exits).
    pub async fn shutdown(&self) {
        self.draining.store(true, Ordering::SeqCst);
        let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
        let slots = u32::try_from(self.pool_size).unwrap_or(u32::MAX);
        // Every slot back means no job runs; waiters that get a slot meanwhile see
        // `draining` and give it back at once.
        let idle = tokio::time::timeout_at(deadline, self.pool.acquire_many(slots)).await;
        if idle.is_err() {
            log::warn!("tool jobs still running after {SHUTDOWN_GRACE:?} of shutdown");
        }
        if let Some(pool) = &self.serve {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            pool.shutdown(left.max(Duration::from_secs(1))).await;
        }
        self.pool.close();
    }

    /// Both tools still exist and are executable (readiness).
    pub fn usable(&self) -> bool {
        use std::os::unix::fs::PermissionsExt;
        [&self.mp4info, &self.mp42hls].iter().all(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    }

    async fn acquire(&self) -> Result<OwnedSemaphorePermit, ToolError> {
        let permit = self.acquire_slot().await?;
        if self.draining.load(Ordering::SeqCst) {
            return Err(ToolError::Overloaded);
        }
        Ok(permit)
    }

    async fn acquire_slot(&self) -> Result<OwnedSemaphorePermit, ToolError> {
        if self.draining.load(Ordering::SeqCst) {
            return Err(ToolError::Overloaded);
        }
        match self.pool.clone().try_acquire_owned() {
            Ok(permit) => return Ok(permit),
            Err(TryAcquireError::Closed) => return Err(ToolError::Overloaded),
            Err(TryAcquireError::NoPermits) => {}
        }
        let before = self.waiting.fetch_add(1, Ordering::SeqCst);
        self.metrics.queue_depth_add(1);
        let _waiting = Waiting {
            count: &self.waiting,
            metrics: &self.metrics,
        };
        if before >= self.queue_limit {
            return Err(ToolError::Overloaded);
        }
        self.pool
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ToolError::Overloaded)
    }

    async fn run(
        &self,
        program: &Path,
        kind: &'static str,
        args: Vec<OsString>,
        cwd: Option<&Path>,
        input: Option<BorrowedFd<'_>>,
    ) -> Result<Output, ToolError> {
        let _permit = self.acquire().await?;
        let tool = if program == self.mp4info {
            "mp4info"
        } else {
            "mp42hls"
        };
        self.metrics.inc(
            "casterpak_tool_runs_total",
            &[("tool", tool), ("kind", kind)],
        );
        let started = Instant::now();
        let result = run_process(program, &args, cwd, input, self.limits).await;
        self.metrics
            .observe_tool_seconds(started.elapsed().as_secs_f64());
        result
    }

    /// One job on a long-lived process: the same slot, queue bound and metrics as
    /// a one-shot run; returns the answer line.
    async fn job(
        &self,
        pool: &serve::Pool,
        kind: &'static str,
        job: serve::Job<'_>,
        input: BorrowedFd<'_>,
    ) -> Result<Vec<u8>, ToolError> {
        let _permit = self.acquire().await?;
        self.metrics.inc(
            "casterpak_tool_runs_total",
            &[("tool", "mp42hls"), ("kind", kind)],
        );
        let started = Instant::now();
        let result = pool.run(&job, Some(input)).await;
        self.metrics
            .observe_tool_seconds(started.elapsed().as_secs_f64());
        result
    }

    /// `mp4info --format json`: does the file have media tracks at all?
    pub async fn probe(&self, source: BorrowedFd<'_>) -> Result<Probe, ToolError> {
        let args = vec!["--format".into(), "json".into(), input_path(source)];
        let out = self
            .run(&self.mp4info.clone(), "probe", args, None, Some(source))
            .await?;
        output::parse_json("mp4info", &out.stdout)
    }

    /// `mp42hls --plan`: segment list and master facts from the index alone.
    /// With `key`, segment sizes are given as encrypted.
    pub async fn plan(
        &self,
        source: BorrowedFd<'_>,
        segment_duration: f64,
        key: Option<[u8; 16]>,
        tracks: TrackChoice,
    ) -> Result<Plan, ToolError> {
        self.plan_job(source, segment_duration, key, tracks, false)
            .await
    }

    /// `plan`, and with long-lived processes of ours also what the video carries
    /// of CEA-608 captions (`Plan::cea608`) in the same job: what a master needs.
    pub async fn plan_with_captions(
        &self,
        source: BorrowedFd<'_>,
        segment_duration: f64,
        key: Option<[u8; 16]>,
        tracks: TrackChoice,
    ) -> Result<Plan, ToolError> {
        self.plan_job(source, segment_duration, key, tracks, true)
            .await
    }

    async fn plan_job(
        &self,
        source: BorrowedFd<'_>,
        segment_duration: f64,
        key: Option<[u8; 16]>,
        tracks: TrackChoice,
        captions: bool,
    ) -> Result<Plan, ToolError> {
        if let Some(pool) = &self.serve {
            let job = serve::Job::Plan {
                segment_duration,
                key,
                tracks,
                captions,
            };
            let answer = self.job(pool, "plan", job, source).await?;
            return output::parse_json("mp42hls --serve plan", &answer);
        }
        let key_arg = key.map(|k| crate::token::encode_hex(&k));
        let mut extra = tracks.args();
        if let Some(hex) = key_arg {
            extra.extend(["--encryption-key".into(), hex.into()]);
        }
        let args = plan_args(&extra, segment_duration, source);
        let out = self
            .run(&self.mp42hls.clone(), "plan", args, None, Some(source))
            .await?;
        output::parse_json("mp42hls --plan", &out.stdout)
    }

    /// The cues of timed text track `track_id` as WebVTT (`mp42hls --webvtt`).
    pub async fn webvtt(&self, source: BorrowedFd<'_>, track_id: u32) -> Result<String, ToolError> {
        #[derive(serde::Deserialize)]
        struct Answer {
            webvtt: String,
        }
        if let Some(pool) = &self.serve {
            let job = serve::Job::WebVtt { track_id };
            let answer = self.job(pool, "webvtt", job, source).await?;
            let answer: Answer = output::parse_json("mp42hls --serve webvtt", &answer)?;
            return Ok(answer.webvtt);
        }
        let args = vec![
            "--webvtt".into(),
            track_id.to_string().into(),
            input_path(source),
        ];
        let out = self
            .run(&self.mp42hls.clone(), "webvtt", args, None, Some(source))
            .await?;
        String::from_utf8(out.stdout)
            .map_err(|_| ToolError::BadOutput("mp42hls --webvtt: not UTF-8".into()))
    }

    /// The CEA-608 caption fields in the video's SEI (`mp42hls --captions`).
    pub async fn captions(&self, source: BorrowedFd<'_>) -> Result<output::Cea608, ToolError> {
        #[derive(serde::Deserialize)]
        struct Answer {
            cea608: output::Cea608,
        }
        let answer: Answer = if let Some(pool) = &self.serve {
            let answer = self
                .job(pool, "captions", serve::Job::Captions, source)
                .await?;
            output::parse_json("mp42hls --serve captions", &answer)?
        } else {
            let args = vec!["--captions".into(), input_path(source)];
            let out = self
                .run(&self.mp42hls.clone(), "captions", args, None, Some(source))
                .await?;
            output::parse_json("mp42hls --captions", &out.stdout)?
        };
        Ok(answer.cea608)
    }

    /// Writes segment K as `<dir>/segment<K>_0_av.ts`; returns its path.
    pub async fn package_segment(
        &self,
        source: BorrowedFd<'_>,
        segment_duration: f64,
        k: u64,
        output: SegmentOutput<'_>,
    ) -> Result<PathBuf, ToolError> {
        let untrimmed = SegmentCut::default();
        self.package_trimmed_segment(source, segment_duration, k, untrimmed, output)
            .await
    }

    /// Segment K trimmed to a clip's end (`mp42hls --trim-start/--trim-end`).
    pub async fn package_trimmed_segment(
        &self,
        source: BorrowedFd<'_>,
        segment_duration: f64,
        k: u64,
        trim: SegmentCut,
        output: SegmentOutput<'_>,
    ) -> Result<PathBuf, ToolError> {
        let dir = match (output, &self.serve) {
            (SegmentOutput::File(file), Some(pool)) => {
                // The process has its own working directory: it is given a whole path.
                let path = std::path::absolute(file)
                    .map_err(|e| ToolError::Failed(format!("scratch path: {}", IoCause::of(&e))))?;
                let Some(output) = path.to_str() else {
                    return Err(ToolError::Failed(
                        "a scratch file path that is not UTF-8".into(),
                    ));
                };
                let job = serve::Job::Segment {
                    segment_duration,
                    k,
                    output,
                    trim,
                };
                self.job(pool, "segment", job, source).await?;
                return Ok(path);
            }
            (SegmentOutput::File(_), None) => {
                return Err(ToolError::Failed(
                    "a scratch file for a one-shot tool (it needs a dir)".into(),
                ))
            }
            (SegmentOutput::Dir(dir), _) => dir,
        };
        // Relative template + cwd: a '%' in the cache path cannot break the pattern.
        let mut args: Vec<OsString> = vec![
            "--segments".into(),
            k.to_string().into(),
            "--first-segment-number".into(),
            "1".into(),
            "--segment-duration".into(),
            seconds_arg(segment_duration).into(),
            "--segment-filename-template".into(),
            "segment%d_0_av.ts".into(),
        ];
        for (option, at) in [("--trim-start", trim.start), ("--trim-end", trim.end)] {
            if let Some(seconds) = at {
                args.push(option.into());
                args.push(seconds.to_string().into());
            }
        }
        if let Some(key) = &trim.key {
            args.push("--encryption-key".into());
            args.push(crate::token::encode_hex(key).into());
        }
        args.extend(trim.tracks.args());
        args.push(input_path(source));
        self.run(
            &self.mp42hls.clone(),
            "segment",
            args,
            Some(dir),
            Some(source),
        )
        .await?;
        let path = dir.join(format!("segment{k}_0_av.ts"));
        // On the blocking pool, like every other file-system step of a miss.
        if !tokio::fs::metadata(&path).await.is_ok_and(|m| m.is_file()) {
            return Err(ToolError::BadOutput(format!(
                "mp42hls did not write segment {k}"
            )));
        }
        Ok(path)
    }

    /// Whole rendition into `dir` as Bento4 names it: `stream.m3u8` and
    /// `segment<i>.ts` from 0; returns `--show-info`.
    pub async fn package_whole(
        &self,
        source: BorrowedFd<'_>,
        segment_duration: f64,
        dir: &Path,
    ) -> Result<ShowInfo, ToolError> {
        let args = vec![
            "--show-info".into(),
            "--segment-duration".into(),
            seconds_arg(segment_duration).into(),
            "--index-filename".into(),
            "stream.m3u8".into(),
            "--segment-filename-template".into(),
            "segment%d.ts".into(),
            "--segment-url-template".into(),
            "segment%d.ts".into(),
            input_path(source),
        ];
        let out = self
            .run(
                &self.mp42hls.clone(),
                "whole",
                args,
                Some(dir),
                Some(source),
            )
            .await?;
        output::parse_json("mp42hls --show-info", &out.stdout)
    }
}

#[cfg(test)]
mod tests;
